import { join } from 'node:path';

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { addEmulationPrevention } from '../../src/codec/bit-reader.js';
import { CodecError } from '../../src/codec/codec-errors.js';
import {
  buildHevcDecoderConfigurationRecord,
  HevcNalType,
  hevcNalType,
  hvccFromAnnexBCodecPrivate,
  isHevcIrapNalType,
  isHevcKeyframe,
  normalizeHevcCodecPrivate,
  parseHevcDecoderConfigurationRecord,
  parseHevcSps,
  parseHevcSpsFromCodecPrivate,
} from '../../src/codec/hevc.js';
import {
  annexBFromNalUnits,
  annexBToLengthPrefixed,
  lengthPrefixedToAnnexB,
  lengthPrefixNalUnits,
  splitAnnexB,
} from '../../src/codec/nal-units.js';
import {
  concatBytes,
  HAS_FFMPEG,
  HAS_FFPROBE,
  hex,
  makeTempDir,
  mkvCodecPrivate,
  probeVideo,
  readBytes,
  runFfmpeg,
  TestBitWriter,
} from './codec-test-helpers.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

/** A 2-byte H.265 NAL header for `nalType` (layer 0, TemporalId 0), followed by `payload`. */
const hevcNal = (nalType: number, ...payload: number[]): Uint8Array => bytes(nalType << 1, 0x01, ...payload);

type HevcSpsFields = {
  maxSubLayersMinus1?: number;
  subLayers?: { profilePresent: boolean; levelPresent: boolean }[];
  tier?: boolean;
  profileIdc?: number;
  levelIdc?: number;
  chromaFormatIdc?: number;
  separateColourPlane?: boolean;
  widthPx: number;
  heightPx: number;
  window?: [left: number, right: number, top: number, bottom: number];
  bitDepthLumaMinus8?: number;
  bitDepthChromaMinus8?: number;
};

/** Hand-builds an H.265 SPS NAL unit up to the bit depths (the rest of the SPS is not parsed). */
const buildHevcSps = (fields: HevcSpsFields): Uint8Array => {
  const maxSubLayersMinus1 = fields.maxSubLayersMinus1 ?? 0;
  const subLayers = fields.subLayers ?? [];
  const writer = new TestBitWriter().u(4, 0).u(3, maxSubLayersMinus1).flag(true);
  writer
    .u(2, 0)
    .flag(fields.tier ?? false)
    .u(5, fields.profileIdc ?? 1)
    .u(32, 0x60000000) // compatible with profiles 1 and 2
    .u(4, 0b1001) // progressive, not interlaced, not non-packed, frame only
    .u(32, 0)
    .u(12, 0)
    .u(8, fields.levelIdc ?? 93);
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    writer.flag(subLayers[i]?.profilePresent ?? false).flag(subLayers[i]?.levelPresent ?? false);
  }
  if (maxSubLayersMinus1 > 0) {
    writer.u(2 * (8 - maxSubLayersMinus1), 0);
  }
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    if (subLayers[i]?.profilePresent === true) {
      writer.u(8, 0x01).u(32, 0xffffffff).u(32, 0xffffffff).u(16, 0xffff); // 88 bits of noise
    }
    if (subLayers[i]?.levelPresent === true) {
      writer.u(8, 0xff);
    }
  }
  const chromaFormatIdc = fields.chromaFormatIdc ?? 1;
  writer.ue(0).ue(chromaFormatIdc);
  if (chromaFormatIdc === 3) {
    writer.flag(fields.separateColourPlane ?? false);
  }
  writer
    .ue(fields.widthPx)
    .ue(fields.heightPx)
    .flag(fields.window !== undefined);
  fields.window?.forEach((offset) => writer.ue(offset));
  writer
    .ue(fields.bitDepthLumaMinus8 ?? 0)
    .ue(fields.bitDepthChromaMinus8 ?? 0)
    .ue(4)
    .trailingBits();
  return concatBytes([0x42, 0x01], addEmulationPrevention(writer.toBytes()));
};

describe('H.265 NAL unit types and keyframes', () => {
  it('reads nal_unit_type from bits 1..6 of the first header byte', () => {
    expect(hevcNalType(bytes(0x40, 0x01))).toBe(HevcNalType.Vps);
    expect(hevcNalType(bytes(0x42, 0x01))).toBe(HevcNalType.Sps);
    expect(hevcNalType(bytes(0x44, 0x01))).toBe(HevcNalType.Pps);
    expect(hevcNalType(bytes(0x26, 0x01))).toBe(HevcNalType.IdrWRadl);
    expect(hevcNalType(bytes(0x2a, 0x01))).toBe(HevcNalType.CraNut);
    expect(hevcNalType(bytes(0x4e, 0x01))).toBe(HevcNalType.PrefixSei);
    expect(hevcNalType(bytes(0x02, 0x01))).toBe(1); // TRAIL_R
    expect(() => hevcNalType(bytes(0x40))).toThrow(CodecError);
  });

  it('treats BLA, IDR and CRA (16–21) as IRAP, and nothing else', () => {
    const irapTypes = Array.from({ length: 64 }, (_, nalType) => nalType).filter(isHevcIrapNalType);
    expect(irapTypes).toEqual([16, 17, 18, 19, 20, 21]);
  });

  it('finds an IRAP slice anywhere in a length-prefixed frame', () => {
    const keyframe = [
      hevcNal(35, 0x50),
      hevcNal(32, 0x0c),
      hevcNal(33, 0x01),
      hevcNal(34, 0xc1),
      hevcNal(21, 0xaf),
    ];
    const deltaFrame = [hevcNal(35, 0x50), hevcNal(1, 0xd0), hevcNal(40, 0x05)];
    for (const lengthSize of [1, 2, 4] as const) {
      expect(isHevcKeyframe(lengthPrefixNalUnits(keyframe, lengthSize), lengthSize)).toBe(true);
      expect(isHevcKeyframe(lengthPrefixNalUnits(deltaFrame, lengthSize), lengthSize)).toBe(false);
    }
    expect(isHevcKeyframe(lengthPrefixNalUnits([hevcNal(19, 0xaf)]))).toBe(true);
    expect(() => isHevcKeyframe(bytes(0, 0, 0, 5, 0x26, 0x01))).toThrow(CodecError);
  });

  it('converts Annex-B ↔ length-prefixed through the shared helpers', () => {
    const annexB = concatBytes(
      [0, 0, 0, 1],
      hevcNal(32, 0x0c),
      [0, 0, 1],
      hevcNal(19, 0xaf, 0x00, 0x00, 0x03, 0x01),
    );
    const hvcc = annexBToLengthPrefixed(annexB);
    expect(hex(hvcc)).toBe('0000000340010c' + '00000007' + '2601af00000301');
    expect(hex(lengthPrefixedToAnnexB(hvcc))).toBe('0000000140010c' + '0000000126' + '01af00000301');
  });
});

describe('parseHevcSps', () => {
  it('applies the 4:2:0 conformance window (1920x1080 from 1920x1088)', () => {
    expect(parseHevcSps(buildHevcSps({ widthPx: 1920, heightPx: 1088, window: [0, 0, 0, 4] }))).toEqual({
      generalProfileSpace: 0,
      generalTierFlag: false,
      generalProfileIdc: 1,
      generalProfileCompatibilityFlags: 0x60000000,
      generalConstraintIndicatorFlags: bytes(0x90, 0, 0, 0, 0, 0),
      generalLevelIdc: 93,
      maxSubLayers: 1,
      temporalIdNesting: true,
      seqParameterSetId: 0,
      chromaFormatIdc: 1,
      separateColourPlane: false,
      bitDepthLuma: 8,
      bitDepthChroma: 8,
      codedWidthPx: 1920,
      codedHeightPx: 1088,
      widthPx: 1920,
      heightPx: 1080,
    });
  });

  it('skips sub-layer profile/level entries of profile_tier_level', () => {
    for (const maxSubLayersMinus1 of [1, 2, 6]) {
      const subLayers = Array.from({ length: maxSubLayersMinus1 }, (_, i) => ({
        profilePresent: i % 2 === 0,
        levelPresent: i % 3 !== 1,
      }));
      const sps = parseHevcSps(
        buildHevcSps({ maxSubLayersMinus1, subLayers, widthPx: 640, heightPx: 368, window: [0, 0, 0, 4] }),
      );
      expect([sps.maxSubLayers, sps.widthPx, sps.heightPx, sps.generalLevelIdc]).toEqual([
        maxSubLayersMinus1 + 1,
        640,
        360,
        93,
      ]);
    }
  });

  it('scales the window by SubWidthC/SubHeightC for 4:2:2, 4:4:4, separate planes and monochrome', () => {
    const cases: [Partial<HevcSpsFields>, number, number][] = [
      [{ chromaFormatIdc: 2 }, 336 - 2 * 3, 192 - 1 * 5],
      [{ chromaFormatIdc: 3 }, 336 - 3, 192 - 5],
      [{ chromaFormatIdc: 3, separateColourPlane: true }, 336 - 3, 192 - 5],
      [{ chromaFormatIdc: 0 }, 336 - 3, 192 - 5],
    ];
    for (const [fields, widthPx, heightPx] of cases) {
      const sps = parseHevcSps(
        buildHevcSps({ widthPx: 336, heightPx: 192, window: [1, 2, 2, 3], ...fields }),
      );
      expect([sps.widthPx, sps.heightPx]).toEqual([widthPx, heightPx]);
    }
  });

  it('reads the tier, profile, level and bit depths', () => {
    const sps = parseHevcSps(
      buildHevcSps({
        tier: true,
        profileIdc: 2,
        levelIdc: 153,
        bitDepthLumaMinus8: 2,
        bitDepthChromaMinus8: 2,
        widthPx: 3840,
        heightPx: 2160,
      }),
    );
    expect(sps).toMatchObject({
      generalTierFlag: true,
      generalProfileIdc: 2,
      generalLevelIdc: 153,
      bitDepthLuma: 10,
      bitDepthChroma: 10,
      widthPx: 3840,
      heightPx: 2160,
    });
  });

  it('rejects non-SPS, truncated and out-of-range data with CodecErrors', () => {
    expect(() => parseHevcSps(hevcNal(34, 0xc1))).toThrow(
      'Invalid H.265 SPS: got NAL unit type 34, expected 33 (SPS)',
    );
    const sps = buildHevcSps({ widthPx: 320, heightPx: 240 });
    for (let length = 2; length < 17; length++) {
      expect(() => parseHevcSps(sps.subarray(0, length))).toThrow(CodecError);
    }
    expect(() => parseHevcSps(buildHevcSps({ chromaFormatIdc: 5, widthPx: 320, heightPx: 240 }))).toThrow(
      'chroma_format_idc is 5, the maximum is 3',
    );
    expect(() => parseHevcSps(buildHevcSps({ widthPx: 16, heightPx: 16, window: [4, 4, 0, 0] }))).toThrow(
      'conformance window leaves no picture',
    );
  });

  it('never throws anything but a CodecError on random bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => {
        try {
          parseHevcSps(concatBytes([0x42, 0x01], tail));
        } catch (error) {
          expect(error).toBeInstanceOf(CodecError);
        }
      }),
    );
  });
});

describe('HEVCDecoderConfigurationRecord', () => {
  const vps = hevcNal(32, 0x0c, 0x01, 0xff, 0xff);
  const sps = buildHevcSps({ widthPx: 1920, heightPx: 1088, window: [0, 0, 0, 4], levelIdc: 123 });
  const pps = hevcNal(34, 0xc1, 0x72, 0xb4, 0x62, 0x40);

  it('builds a record whose header copies the SPS profile_tier_level bytes', () => {
    const hvcC = buildHevcDecoderConfigurationRecord({ vps: [vps], sps: [sps], pps: [pps] });
    expect(hex(hvcC.subarray(0, 23))).toBe(
      '01' + '01' + '60000000' + '900000000000' + '7b' + 'f000fcfdf8f80000' + '0f' + '03',
    );
    expect(hex(hvcC.subarray(23, 23 + 3 + 2 + vps.length))).toBe('200001' + '0006' + hex(vps));
  });

  it('round-trips the arrays and the header fields', () => {
    const hvcC = buildHevcDecoderConfigurationRecord({
      vps: [vps],
      sps: [sps, sps],
      pps: [pps],
      nalLengthSize: 2,
    });
    const parsed = parseHevcDecoderConfigurationRecord(hvcC);
    expect(parsed).toMatchObject({
      profileSpace: 0,
      tierFlag: false,
      profile: 1,
      compatibilityFlags: 0x60000000,
      level: 123,
      chromaFormatIdc: 1,
      bitDepthLuma: 8,
      bitDepthChroma: 8,
      numTemporalLayers: 1,
      temporalIdNested: true,
      nalLengthSize: 2,
      minSpatialSegmentationIdc: 0,
      parallelismType: 0,
    });
    expect(hex(parsed.constraintFlags)).toBe('900000000000');
    expect(parsed.arrays.map((array) => [array.nalType, array.isComplete, array.nalus.map(hex)])).toEqual([
      [32, false, [hex(vps)]],
      [33, false, [hex(sps), hex(sps)]],
      [34, false, [hex(pps)]],
    ]);
  });

  it('converts an Annex-B CodecPrivate, dropping AUD/SEI and repeats, and passes hvcC through', () => {
    const annexB = annexBFromNalUnits([hevcNal(35, 0x50), vps, sps, pps, hevcNal(39, 0x05, 0x80), vps]);
    const hvcC = hvccFromAnnexBCodecPrivate(annexB);
    expect(hex(hvcC)).toBe(hex(buildHevcDecoderConfigurationRecord({ vps: [vps], sps: [sps], pps: [pps] })));
    expect(hex(normalizeHevcCodecPrivate(annexB))).toBe(hex(hvcC));
    expect(normalizeHevcCodecPrivate(hvcC)).toBe(hvcC);
    expect(parseHevcSpsFromCodecPrivate(hvcC).heightPx).toBe(1080);
    expect(parseHevcSpsFromCodecPrivate(annexB).widthPx).toBe(1920);
  });

  it('rejects malformed records and incomplete inputs with CodecErrors', () => {
    const hvcC = buildHevcDecoderConfigurationRecord({ vps: [vps], sps: [sps], pps: [pps] });
    for (let length = 0; length < hvcC.length; length++) {
      expect(() => parseHevcDecoderConfigurationRecord(hvcC.subarray(0, length))).toThrow(CodecError);
    }
    const badVersion = hvcC.slice();
    badVersion[0] = 0;
    expect(() => parseHevcDecoderConfigurationRecord(badVersion)).toThrow(
      'configurationVersion is 0, expected 1',
    );
    const threeByteLengths = hvcC.slice();
    threeByteLengths[21] = 0x0e;
    expect(() => parseHevcDecoderConfigurationRecord(threeByteLengths)).toThrow('lengthSizeMinusOne is 2');
    expect(() => buildHevcDecoderConfigurationRecord({ vps: [], sps: [sps], pps: [pps] })).toThrow(
      'Invalid hvcC: 0 NAL units of type 32 given, allowed 1..65535',
    );
    expect(() => buildHevcDecoderConfigurationRecord({ vps: [vps], sps: [pps], pps: [pps] })).toThrow(
      'the type 33 list holds',
    );
    expect(() => hvccFromAnnexBCodecPrivate(annexBFromNalUnits([sps, pps]))).toThrow(
      '0 NAL units of type 32',
    );
    expect(() => hvccFromAnnexBCodecPrivate(hvcC)).toThrow('it does not start with a start code');
  });
});

describe('repo fixture hevc.mkv', () => {
  const hvcC = mkvCodecPrivate(readBytes('fixtures/mkv/hevc.mkv'), 'V_MPEGH/ISO/HEVC');

  it('parses: Main, level 2, 4-byte lengths, VPS/SPS/PPS/SEI arrays, SPS 320x240', () => {
    const parsed = parseHevcDecoderConfigurationRecord(hvcC);
    expect(parsed).toMatchObject({
      profile: 1,
      level: 60,
      nalLengthSize: 4,
      chromaFormatIdc: 1,
      bitDepthLuma: 8,
    });
    expect(parsed.arrays.map((array) => array.nalType)).toEqual([32, 33, 34, 39]);
    const sps = parseHevcSpsFromCodecPrivate(hvcC);
    expect([sps.widthPx, sps.heightPx]).toEqual([320, 240]);
  });

  it('rebuilding from its VPS/SPS/PPS reproduces the header and parameter set arrays byte for byte', () => {
    const parsed = parseHevcDecoderConfigurationRecord(hvcC);
    const nalusOf = (nalType: number): Uint8Array[] =>
      parsed.arrays.filter((array) => array.nalType === nalType).flatMap((array) => array.nalus);
    const rebuilt = buildHevcDecoderConfigurationRecord({
      vps: nalusOf(HevcNalType.Vps),
      sps: nalusOf(HevcNalType.Sps),
      pps: nalusOf(HevcNalType.Pps),
    });
    expect(hex(rebuilt.subarray(0, 22))).toBe(hex(hvcC.subarray(0, 22)));
    // ffmpeg also carries the prefix SEI as a 4th array after these three; we leave SEI out.
    expect(hvcC[22]).toBe(4);
    expect(rebuilt[22]).toBe(3);
    expect(hex(rebuilt.subarray(23))).toBe(hex(hvcC.subarray(23, rebuilt.length)));
  });
});

type X265Variant = {
  name: string;
  size: [widthPx: number, heightPx: number];
  args: string[];
  profileIdc: number;
  chromaFormatIdc: number;
  bitDepthLuma: number;
};

const X265_VARIANTS: X265Variant[] = [
  {
    name: 'main',
    size: [318, 178],
    args: ['-pix_fmt', 'yuv420p'],
    profileIdc: 1,
    chromaFormatIdc: 1,
    bitDepthLuma: 8,
  },
  {
    name: 'main10',
    size: [322, 182],
    args: ['-pix_fmt', 'yuv420p10le', '-profile:v', 'main10'],
    profileIdc: 2,
    chromaFormatIdc: 1,
    bitDepthLuma: 10,
  },
  {
    name: 'main422-10',
    size: [330, 180],
    args: ['-pix_fmt', 'yuv422p10le', '-profile:v', 'main422-10'],
    profileIdc: 4,
    chromaFormatIdc: 2,
    bitDepthLuma: 10,
  },
  {
    name: 'main444-8',
    size: [330, 178],
    args: ['-pix_fmt', 'yuv444p', '-profile:v', 'main444-8'],
    profileIdc: 4,
    chromaFormatIdc: 3,
    bitDepthLuma: 8,
  },
];

describe.skipIf(!HAS_FFMPEG)('real x265 output (ffmpeg)', () => {
  let tempDir: ReturnType<typeof makeTempDir>;
  const encoded = new Map<string, { annexB: Uint8Array; mkv: Uint8Array; path: string }>();

  beforeAll(() => {
    tempDir = makeTempDir();
    for (const variant of X265_VARIANTS) {
      const path = join(tempDir.path, `${variant.name}.hevc`);
      const mkvPath = join(tempDir.path, `${variant.name}.mkv`);
      const [widthPx, heightPx] = variant.size;
      runFfmpeg([
        '-f',
        'lavfi',
        '-i',
        `testsrc2=size=${widthPx}x${heightPx}:rate=25`,
        '-t',
        '0.2',
        '-c:v',
        'libx265',
        '-preset',
        'ultrafast',
        '-x265-params',
        'keyint=2:min-keyint=2:bframes=0:scenecut=0:log-level=error',
        ...variant.args,
        '-f',
        'hevc',
        path,
      ]);
      runFfmpeg(['-i', path, '-c', 'copy', '-f', 'matroska', mkvPath]);
      encoded.set(variant.name, { annexB: readBytes(path), mkv: readBytes(mkvPath), path });
    }
  });

  afterAll(() => tempDir?.dispose());

  it.each(X265_VARIANTS)(
    '$name: SPS gives the encoded size, profile, chroma format and bit depth',
    (variant) => {
      const { annexB, path } = encoded.get(variant.name)!;
      const sps = parseHevcSps(
        splitAnnexB(annexB).find((nalUnit) => hevcNalType(nalUnit) === HevcNalType.Sps)!,
      );
      expect(sps).toMatchObject({
        widthPx: variant.size[0],
        heightPx: variant.size[1],
        generalProfileIdc: variant.profileIdc,
        chromaFormatIdc: variant.chromaFormatIdc,
        bitDepthLuma: variant.bitDepthLuma,
      });
      if (HAS_FFPROBE) {
        const probed = probeVideo(path);
        expect([sps.widthPx, sps.heightPx]).toEqual([probed.width, probed.height]);
      }
    },
  );

  it.each(X265_VARIANTS)('$name: the hvcC we build matches the one ffmpeg wrote into Matroska', (variant) => {
    const { annexB, mkv } = encoded.get(variant.name)!;
    const ffmpegHvcC = mkvCodecPrivate(mkv, 'V_MPEGH/ISO/HEVC');
    // The whole stream as "CodecPrivate": x265 repeats VPS/SPS/PPS (and an SEI) before every IRAP.
    const ours = hvccFromAnnexBCodecPrivate(annexB);
    const theirs = parseHevcDecoderConfigurationRecord(ffmpegHvcC);
    // Header: everything up to numOfArrays is ours to reproduce exactly.
    expect(hex(ours.subarray(0, 22))).toBe(hex(ffmpegHvcC.subarray(0, 22)));
    const parameterSetArrays = theirs.arrays
      .filter((array) => array.nalType >= HevcNalType.Vps && array.nalType <= HevcNalType.Pps)
      .map((array) => [array.nalType, array.nalus.map(hex)]);
    expect(
      parseHevcDecoderConfigurationRecord(ours).arrays.map((array) => [array.nalType, array.nalus.map(hex)]),
    ).toEqual(parameterSetArrays);
    expect(theirs.profile).toBe(variant.profileIdc);
  });

  it.each(X265_VARIANTS)(
    '$name: IRAP access units (IDR, then CRA with open GOP) are the keyframes',
    (variant) => {
      const frames: Uint8Array[] = [];
      let pending: Uint8Array[] = [];
      for (const nalUnit of splitAnnexB(encoded.get(variant.name)!.annexB)) {
        pending.push(nalUnit);
        if (hevcNalType(nalUnit) < 32) {
          frames.push(lengthPrefixNalUnits(pending));
          pending = [];
        }
      }
      expect(frames.slice(0, 5).map((frame) => isHevcKeyframe(frame))).toEqual([
        true,
        false,
        true,
        false,
        true,
      ]);
    },
  );
});
