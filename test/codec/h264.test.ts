import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { addEmulationPrevention, BitReader, removeEmulationPrevention } from '../../src/codec/bit-reader.js';
import { CodecError } from '../../src/codec/codec-errors.js';
import {
  annexBToAvcc,
  avccFromAnnexBCodecPrivate,
  avccNalUnits,
  avccToAnnexB,
  buildAvcDecoderConfigurationRecord,
  H264NalType,
  h264NalType,
  isH264Keyframe,
  normalizeH264CodecPrivate,
  parseAvcDecoderConfigurationRecord,
  parseH264Sps,
  parseH264SpsFromCodecPrivate,
} from '../../src/codec/h264.js';
import { annexBFromNalUnits, lengthPrefixNalUnits, splitAnnexB } from '../../src/codec/nal-units.js';
import {
  concatBytes,
  fromHex,
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

// SPS and PPS of fixtures/mkv/h264.mkv (x264, High profile, level 1.3, 320x240); the SPS has two
// emulation-prevention bytes.
const FIXTURE_SPS = fromHex('6764000dacb40a0fd808800000030080000019078a1550');
const FIXTURE_PPS = fromHex('68ef0fcbfdf8f8' + '00').subarray(0, 4);
const FIXTURE_AVCC = fromHex(
  '0164000dffe10017' + '6764000dacb40a0fd808800000030080000019078a1550' + '01000468ef0fcb' + 'fdf8f800',
);

/** An 8-entry "scaling list" in the test's own notation: explicit values, 'default', or omitted. */
type ScalingListSpec = number[] | 'default' | undefined;

type SpsFields = {
  profileIdc: number;
  constraintFlags?: number;
  levelIdc?: number;
  seqParameterSetId?: number;
  chromaFormatIdc?: number;
  separateColourPlane?: boolean;
  bitDepthLumaMinus8?: number;
  bitDepthChromaMinus8?: number;
  scalingLists?: ScalingListSpec[];
  picOrderCntType?: 0 | 1 | 2;
  widthInMbs: number;
  heightInMapUnits: number;
  frameMbsOnly?: boolean;
  crop?: [left: number, right: number, top: number, bottom: number];
};

/**
 * Writes scaling_list() syntax for explicit values: each value as a delta from the previous one (mod 256),
 * and, when fewer values than the list size are given, a final delta to 0 ("repeat the last value").
 */
const writeScalingList = (writer: TestBitWriter, spec: number[] | 'default', listSize: number): void => {
  if (spec === 'default') {
    writer.se(-8); // nextScale 0 on the first entry: use the default matrix
    return;
  }
  let lastScale = 8;
  for (const value of spec) {
    writer.se(((value - lastScale + 128 + 256) % 256) - 128);
    lastScale = value;
  }
  if (spec.length < listSize) {
    writer.se(((0 - lastScale + 128 + 256) % 256) - 128);
  }
};

const writeScalingLists = (writer: TestBitWriter, lists: readonly ScalingListSpec[]): void => {
  lists.forEach((spec, i) => {
    writer.flag(spec !== undefined);
    if (spec !== undefined) {
      writeScalingList(writer, spec, i < 6 ? 16 : 64);
    }
  });
};

/** Hand-builds an SPS NAL unit (header byte, escaped RBSP) from the fields the parser reads. */
const buildSps = (fields: SpsFields): Uint8Array => {
  const writer = new TestBitWriter()
    .u(8, fields.profileIdc)
    .u(8, fields.constraintFlags ?? 0)
    .u(8, fields.levelIdc ?? 40)
    .ue(fields.seqParameterSetId ?? 0);
  if ([100, 110, 122, 244, 44].includes(fields.profileIdc)) {
    const chromaFormatIdc = fields.chromaFormatIdc ?? 1;
    writer.ue(chromaFormatIdc);
    if (chromaFormatIdc === 3) {
      writer.flag(fields.separateColourPlane ?? false);
    }
    writer
      .ue(fields.bitDepthLumaMinus8 ?? 0)
      .ue(fields.bitDepthChromaMinus8 ?? 0)
      .flag(false);
    writer.flag(fields.scalingLists !== undefined);
    if (fields.scalingLists !== undefined) {
      writeScalingLists(writer, fields.scalingLists);
    }
  }
  writer.ue(0); // log2_max_frame_num_minus4
  const picOrderCntType = fields.picOrderCntType ?? 0;
  writer.ue(picOrderCntType);
  if (picOrderCntType === 0) {
    writer.ue(2);
  } else if (picOrderCntType === 1) {
    writer.flag(false).se(-3).se(5).ue(3).se(7).se(-100).se(1000);
  }
  writer
    .ue(4)
    .flag(false)
    .ue(fields.widthInMbs - 1)
    .ue(fields.heightInMapUnits - 1);
  const frameMbsOnly = fields.frameMbsOnly ?? true;
  writer.flag(frameMbsOnly);
  if (!frameMbsOnly) {
    writer.flag(true);
  }
  writer.flag(true).flag(fields.crop !== undefined);
  fields.crop?.forEach((offset) => writer.ue(offset));
  writer.flag(false).trailingBits(); // no VUI
  return concatBytes([0x67], addEmulationPrevention(writer.toBytes()));
};

describe('H.264 NAL unit types and keyframes', () => {
  it('reads nal_unit_type from the low 5 bits', () => {
    expect(h264NalType(bytes(0x65, 0x88))).toBe(H264NalType.Idr);
    expect(h264NalType(bytes(0x41))).toBe(H264NalType.NonIdrSlice);
    expect(h264NalType(bytes(0x67))).toBe(H264NalType.Sps);
    expect(h264NalType(bytes(0x68))).toBe(H264NalType.Pps);
    expect(h264NalType(bytes(0x09))).toBe(H264NalType.Aud);
    expect(h264NalType(bytes(0x06))).toBe(H264NalType.Sei);
    expect(() => h264NalType(new Uint8Array(0))).toThrow(CodecError);
  });

  it('finds an IDR slice anywhere in an AVCC frame, for 1-, 2- and 4-byte lengths', () => {
    const keyframe = [
      bytes(0x09, 0xf0),
      bytes(0x67, 0x42),
      bytes(0x68, 0xce),
      bytes(0x06, 0x05),
      bytes(0x65, 0x88),
    ];
    const deltaFrame = [bytes(0x09, 0xf0), bytes(0x41, 0x9a), bytes(0x01, 0x9e)];
    for (const lengthSize of [1, 2, 4] as const) {
      expect(isH264Keyframe(lengthPrefixNalUnits(keyframe, lengthSize), lengthSize)).toBe(true);
      expect(isH264Keyframe(lengthPrefixNalUnits(deltaFrame, lengthSize), lengthSize)).toBe(false);
    }
    expect(isH264Keyframe(new Uint8Array(0))).toBe(false);
  });

  it('does not mistake a 0x65 inside a payload for an IDR header', () => {
    expect(isH264Keyframe(bytes(0, 0, 0, 3, 0x41, 0x65, 0x65))).toBe(false);
  });

  it('throws a CodecError for a frame whose length prefix overruns it', () => {
    expect(() => isH264Keyframe(bytes(0, 0, 0, 8, 0x41, 0x9a))).toThrow(CodecError);
  });

  it('converts Annex-B ↔ AVCC and iterates AVCC NAL units', () => {
    const annexB = bytes(0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65, 0x88, 0, 0, 3, 1);
    const avcc = annexBToAvcc(annexB);
    expect(hex(avcc)).toBe('000000026742' + '0000000268ce' + '000000066588000003' + '01');
    expect([...avccNalUnits(avcc)].map(hex)).toEqual(['6742', '68ce', '658800000301']);
    expect(hex(avccToAnnexB(avcc))).toBe('000000016742' + '0000000168ce' + '00000001658800000301');
    expect(hex(annexBToAvcc(annexB, 2))).toBe('00026742' + '000268ce' + '0006658800000301');
  });
});

describe('parseH264Sps', () => {
  it('parses the fixture SPS (High, with emulation-prevention bytes) to 320x240', () => {
    expect(parseH264Sps(FIXTURE_SPS)).toEqual({
      profileIdc: 100,
      constraintFlags: 0,
      levelIdc: 13,
      seqParameterSetId: 0,
      chromaFormatIdc: 1,
      separateColourPlane: false,
      bitDepthLuma: 8,
      bitDepthChroma: 8,
      frameMbsOnly: true,
      codedWidthPx: 320,
      codedHeightPx: 240,
      widthPx: 320,
      heightPx: 240,
    });
  });

  it('applies 4:2:0 frame cropping (1920x1080 from 1920x1088)', () => {
    const sps = parseH264Sps(
      buildSps({ profileIdc: 66, widthInMbs: 120, heightInMapUnits: 68, crop: [0, 0, 0, 4] }),
    );
    expect([sps.codedWidthPx, sps.codedHeightPx, sps.widthPx, sps.heightPx]).toEqual([
      1920, 1088, 1920, 1080,
    ]);
    expect(sps.chromaFormatIdc).toBe(1);
  });

  it('counts field pairs and doubles the vertical crop unit when frame_mbs_only_flag is 0', () => {
    const sps = parseH264Sps(
      buildSps({
        profileIdc: 77,
        widthInMbs: 120,
        heightInMapUnits: 34,
        frameMbsOnly: false,
        crop: [0, 0, 0, 2],
      }),
    );
    expect([sps.codedHeightPx, sps.heightPx, sps.frameMbsOnly]).toEqual([1088, 1080, false]);
  });

  it('uses SubWidthC 2, SubHeightC 1 for 4:2:2 and reads bit depths', () => {
    const sps = parseH264Sps(
      buildSps({
        profileIdc: 122,
        chromaFormatIdc: 2,
        bitDepthLumaMinus8: 2,
        bitDepthChromaMinus8: 2,
        widthInMbs: 21,
        heightInMapUnits: 12,
        crop: [1, 6, 3, 7],
      }),
    );
    expect([sps.widthPx, sps.heightPx, sps.bitDepthLuma, sps.bitDepthChroma]).toEqual([
      336 - 14,
      192 - 10,
      10,
      10,
    ]);
  });

  it('crops in luma samples for 4:4:4, separate colour planes and monochrome', () => {
    const cases: [Pick<SpsFields, 'profileIdc'> & Partial<SpsFields>, number, number][] = [
      [{ profileIdc: 244, chromaFormatIdc: 3 }, 336 - 3, 192 - 5],
      [{ profileIdc: 244, chromaFormatIdc: 3, separateColourPlane: true }, 336 - 3, 192 - 5],
      [{ profileIdc: 100, chromaFormatIdc: 0 }, 336 - 3, 192 - 5],
      [{ profileIdc: 100, chromaFormatIdc: 0, frameMbsOnly: false, heightInMapUnits: 6 }, 336 - 3, 192 - 10],
    ];
    for (const [fields, widthPx, heightPx] of cases) {
      const sps = parseH264Sps(
        buildSps({ widthInMbs: 21, heightInMapUnits: 12, crop: [1, 2, 2, 3], ...fields }),
      );
      expect([sps.widthPx, sps.heightPx]).toEqual([widthPx, heightPx]);
    }
  });

  it('walks scaling lists: explicit, default, "repeat last" and absent, 8 lists or 12 for 4:4:4', () => {
    const ramp16 = Array.from({ length: 16 }, (_, i) => 6 + i * 7);
    const ramp64 = Array.from({ length: 64 }, (_, i) => 255 - i * 3);
    const lists8: ScalingListSpec[] = [
      ramp16,
      'default',
      undefined,
      [16, 20, 1],
      ramp16,
      undefined,
      ramp64,
      'default',
    ];
    const lists12: ScalingListSpec[] = [...lists8, [4, 255, 1, 200], undefined, ramp64, 'default'];
    for (const [profileIdc, chromaFormatIdc, lists] of [
      [100, 1, lists8],
      [244, 3, lists12],
    ] as const) {
      const sps = parseH264Sps(
        buildSps({
          profileIdc,
          chromaFormatIdc,
          scalingLists: [...lists],
          widthInMbs: 80,
          heightInMapUnits: 45,
        }),
      );
      expect([sps.widthPx, sps.heightPx, sps.chromaFormatIdc]).toEqual([1280, 720, chromaFormatIdc]);
    }
  });

  it('survives random scaling lists (property): the size never depends on their content', () => {
    const listArbitrary = fc.oneof(
      fc.constant<ScalingListSpec>(undefined),
      fc.constant<ScalingListSpec>('default'),
      fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: 16 }),
    );
    fc.assert(
      fc.property(fc.array(listArbitrary, { minLength: 12, maxLength: 12 }), fc.boolean(), (lists, is444) => {
        const sps = parseH264Sps(
          buildSps({
            profileIdc: is444 ? 244 : 100,
            chromaFormatIdc: is444 ? 3 : 1,
            scalingLists: lists.slice(0, is444 ? 12 : 8),
            widthInMbs: 40,
            heightInMapUnits: 23,
            crop: [0, 0, 0, is444 ? 8 : 4],
          }),
        );
        expect([sps.widthPx, sps.heightPx]).toEqual([640, 360]);
      }),
    );
  });

  it('skips pic_order_cnt_type 1 cycles', () => {
    const sps = parseH264Sps(
      buildSps({ profileIdc: 77, picOrderCntType: 1, widthInMbs: 20, heightInMapUnits: 15 }),
    );
    expect([sps.widthPx, sps.heightPx]).toEqual([320, 240]);
  });

  it('removes emulation-prevention bytes before reading', () => {
    // A width of 2^k macroblocks is coded as k zero bits, a one, then k zeros: for some k the bytes around
    // the one read 00 00 0x (x ≤ 3) and must be escaped.
    const widthsInMbs = Array.from({ length: 14 }, (_, i) => 2 ** (16 + i) + 1);
    const widthInMbs = widthsInMbs.find((candidate) => {
      const nalUnit = buildSps({ profileIdc: 66, widthInMbs: candidate, heightInMapUnits: 1 });
      return removeEmulationPrevention(nalUnit).length < nalUnit.length;
    })!;
    expect(widthInMbs).toBeDefined();
    const nalUnit = buildSps({ profileIdc: 66, widthInMbs, heightInMapUnits: 1 });
    expect(hex(nalUnit)).toMatch(/^(..)*000003/);
    expect(parseH264Sps(nalUnit).widthPx).toBe(widthInMbs * 16);
  });

  it('rejects non-SPS, truncated and out-of-range SPS data with CodecErrors', () => {
    expect(() => parseH264Sps(bytes(0x68, 0xce, 0x38, 0x80))).toThrow(
      'Invalid H.264 SPS: got a 4-byte NAL unit of type 8, expected an SPS',
    );
    expect(() => parseH264Sps(bytes(0x67, 0x42))).toThrow(CodecError);
    // The fields the parser reads end in byte 9; everything after is VUI, which it does not need.
    for (let length = 4; length < 9; length++) {
      expect(() => parseH264Sps(FIXTURE_SPS.subarray(0, length))).toThrow(CodecError);
    }
    const badChroma = new TestBitWriter().u(24, 0x64001f).ue(0).ue(4).trailingBits().toBytes();
    expect(() => parseH264Sps(concatBytes([0x67], badChroma))).toThrow(
      'Invalid H.264 SPS: chroma_format_idc is 4, the maximum is 3',
    );
    expect(() =>
      parseH264Sps(buildSps({ profileIdc: 66, widthInMbs: 1, heightInMapUnits: 1, crop: [0, 0, 0, 8] })),
    ).toThrow('frame cropping removes the whole 16x16 picture');
  });

  it('never throws anything but a CodecError on random bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => {
        try {
          parseH264Sps(concatBytes([0x67], tail));
        } catch (error) {
          expect(error).toBeInstanceOf(CodecError);
        }
      }),
    );
  });
});

describe('AVCDecoderConfigurationRecord', () => {
  it('builds the same avcC as ffmpeg wrote for the fixture (High profile: with the chroma/bit-depth tail)', () => {
    expect(hex(buildAvcDecoderConfigurationRecord({ sps: [FIXTURE_SPS], pps: [FIXTURE_PPS] }))).toBe(
      hex(FIXTURE_AVCC),
    );
  });

  it('builds a Baseline avcC without the high-profile tail, with the requested length size', () => {
    const sps = buildSps({
      profileIdc: 66,
      constraintFlags: 0xc0,
      levelIdc: 30,
      widthInMbs: 20,
      heightInMapUnits: 15,
    });
    const pps = bytes(0x68, 0xce, 0x3c, 0x80);
    const avcC = buildAvcDecoderConfigurationRecord({ sps: [sps], pps: [pps], nalLengthSize: 2 });
    expect(hex(avcC)).toBe(`0142c01efde1${hex(bytes(0, sps.length))}${hex(sps)}01000468ce3c80`);
  });

  it('writes chroma_format and bit depths from the SPS for High 4:2:2 10-bit', () => {
    const sps = buildSps({
      profileIdc: 122,
      chromaFormatIdc: 2,
      bitDepthLumaMinus8: 2,
      bitDepthChromaMinus8: 2,
      widthInMbs: 20,
      heightInMapUnits: 15,
    });
    const spsExt = bytes(0x6d, 0x01, 0x80);
    const avcC = buildAvcDecoderConfigurationRecord({ sps: [sps], pps: [FIXTURE_PPS], spsExt: [spsExt] });
    // chroma_format 2, both depths 10 (0xf8 | 2), one SPS extension of 3 bytes
    expect(hex(avcC.subarray(-9))).toBe('fefafa01' + '0003' + '6d0180');
    const parsed = parseAvcDecoderConfigurationRecord(avcC);
    expect(parsed.highProfileFields).toEqual({
      chromaFormatIdc: 2,
      bitDepthLuma: 10,
      bitDepthChroma: 10,
      spsExt: [spsExt],
    });
  });

  it('parses profile, compatibility, level, length size and the NAL lists as views', () => {
    const parsed = parseAvcDecoderConfigurationRecord(FIXTURE_AVCC);
    expect(parsed).toMatchObject({ profile: 100, compat: 0, level: 13, nalLengthSize: 4 });
    expect(parsed.sps.map(hex)).toEqual([hex(FIXTURE_SPS)]);
    expect(parsed.pps.map(hex)).toEqual([hex(FIXTURE_PPS)]);
    expect(parsed.sps[0]!.buffer).toBe(FIXTURE_AVCC.buffer);
    expect(parsed.highProfileFields).toMatchObject({ chromaFormatIdc: 1, bitDepthLuma: 8, spsExt: [] });
  });

  it('round-trips several SPS and PPS (property)', () => {
    const nalArbitrary = (header: number): fc.Arbitrary<Uint8Array> =>
      fc.uint8Array({ minLength: 3, maxLength: 40 }).map((body) => concatBytes([header], body));
    fc.assert(
      fc.property(
        fc.array(nalArbitrary(0x67), { minLength: 1, maxLength: 31 }),
        fc.array(nalArbitrary(0x68), { minLength: 1, maxLength: 40 }),
        fc.constantFrom<1 | 2 | 4>(1, 2, 4),
        (sps, pps, nalLengthSize) => {
          sps[0] = concatBytes([0x67, 0x42, 0xc0, 0x1f], sps[0]!.subarray(4)); // Baseline: no SPS parse needed
          const parsed = parseAvcDecoderConfigurationRecord(
            buildAvcDecoderConfigurationRecord({ sps, pps, nalLengthSize }),
          );
          expect(parsed.sps.map(hex)).toEqual(sps.map(hex));
          expect(parsed.pps.map(hex)).toEqual(pps.map(hex));
          expect(parsed.nalLengthSize).toBe(nalLengthSize);
          expect([parsed.profile, parsed.compat, parsed.level]).toEqual([0x42, 0xc0, 0x1f]);
        },
      ),
    );
  });

  it('rejects malformed records and bad inputs with CodecErrors', () => {
    expect(() => parseAvcDecoderConfigurationRecord(bytes(0, 0x64, 0, 0x1f, 0xff, 0xe1))).toThrow(
      'Invalid avcC: configurationVersion is 0, expected 1',
    );
    expect(() => parseAvcDecoderConfigurationRecord(bytes(1, 0x42, 0, 0x1f, 0xfe, 0xe0, 0))).toThrow(
      'lengthSizeMinusOne is 2',
    );
    for (let length = 0; length < FIXTURE_AVCC.length - 4; length++) {
      expect(() => parseAvcDecoderConfigurationRecord(FIXTURE_AVCC.subarray(0, length))).toThrow(CodecError);
    }
    expect(() => buildAvcDecoderConfigurationRecord({ sps: [], pps: [FIXTURE_PPS] })).toThrow(
      'Invalid avcC: 0 SPS NAL units given, allowed 1..31',
    );
    expect(() => buildAvcDecoderConfigurationRecord({ sps: [FIXTURE_PPS], pps: [FIXTURE_PPS] })).toThrow(
      'SPS list holds a 4-byte NAL unit of type 8, expected type 7',
    );
  });

  it('tolerates a High-profile record without the tail (written by older muxers)', () => {
    const parsed = parseAvcDecoderConfigurationRecord(FIXTURE_AVCC.subarray(0, FIXTURE_AVCC.length - 4));
    expect(parsed.highProfileFields).toBeUndefined();
    expect(parsed.pps.length).toBe(1);
  });
});

describe('Annex-B CodecPrivate → avcC', () => {
  const annexBCpd = concatBytes(
    [0, 0, 0, 1, 0x09, 0xf0],
    [0, 0, 0, 1],
    FIXTURE_SPS,
    [0, 0, 1],
    FIXTURE_PPS,
    [0, 0, 1, 0x06, 0x05, 0x01, 0x80, 0x00],
  );

  it('keeps only SPS and PPS and builds the avcC ffmpeg would', () => {
    expect(hex(avccFromAnnexBCodecPrivate(annexBCpd))).toBe(hex(FIXTURE_AVCC));
    expect(hex(normalizeH264CodecPrivate(annexBCpd))).toBe(hex(FIXTURE_AVCC));
  });

  it('passes a valid avcC through and reads the SPS from either form', () => {
    expect(normalizeH264CodecPrivate(FIXTURE_AVCC)).toBe(FIXTURE_AVCC);
    expect(parseH264SpsFromCodecPrivate(FIXTURE_AVCC).widthPx).toBe(320);
    expect(parseH264SpsFromCodecPrivate(annexBCpd).heightPx).toBe(240);
  });

  it('rejects input that is not Annex-B or lacks a PPS', () => {
    expect(() => avccFromAnnexBCodecPrivate(FIXTURE_AVCC)).toThrow(
      'Invalid Annex-B H.264 CodecPrivate: it does not start with a start code',
    );
    expect(() => avccFromAnnexBCodecPrivate(concatBytes([0, 0, 1], FIXTURE_SPS))).toThrow(
      'Invalid avcC: 0 PPS NAL units given, allowed 1..255',
    );
    expect(() => parseH264SpsFromCodecPrivate(concatBytes([0, 0, 1], FIXTURE_PPS))).toThrow(
      'it contains no SPS',
    );
  });
});

describe('repo fixtures', () => {
  it.each(['h264.mkv', 'h264-aac.mkv'])(
    '%s: avcC parses, its SPS is 320x240, and rebuilding it is lossless',
    (name) => {
      const avcC = mkvCodecPrivate(readBytes(join('fixtures/mkv', name)), 'V_MPEG4/ISO/AVC');
      const parsed = parseAvcDecoderConfigurationRecord(avcC);
      expect(parsed).toMatchObject({ profile: 100, level: 13, nalLengthSize: 4 });
      const sps = parseH264Sps(parsed.sps[0]!);
      expect([sps.widthPx, sps.heightPx]).toEqual([320, 240]);
      expect(hex(buildAvcDecoderConfigurationRecord({ sps: parsed.sps, pps: parsed.pps }))).toBe(hex(avcC));
    },
  );
});

/** Rewrites a High-profile SPS so that it carries the given scaling lists; every other field is copied. */
const withSpsScalingLists = (spsNalUnit: Uint8Array, lists: readonly ScalingListSpec[]): Uint8Array => {
  const rbsp = removeEmulationPrevention(spsNalUnit.subarray(1));
  const reader = new BitReader(rbsp, 'test SPS');
  const writer = new TestBitWriter();
  const copyBits = (bitCount: number): number => {
    const value = reader.readBits(bitCount);
    writer.u(bitCount, value);
    return value;
  };
  const copyUe = (): number => {
    const value = reader.readUe();
    writer.ue(value);
    return value;
  };
  copyBits(24);
  copyUe(); // seq_parameter_set_id
  const chromaFormatIdc = copyUe();
  if (chromaFormatIdc === 3) {
    copyBits(1);
  }
  copyUe();
  copyUe();
  copyBits(1);
  expect(reader.readBit()).toBe(0); // x264 puts its matrices in the PPS, never in the SPS
  writer.flag(true);
  writeScalingLists(writer, lists.slice(0, chromaFormatIdc === 3 ? 12 : 8));
  let lastNonZero = rbsp.length - 1;
  while (rbsp[lastNonZero] === 0) {
    lastNonZero--;
  }
  const stopBitPosition = lastNonZero * 8 + 7 - Math.log2(rbsp[lastNonZero]! & -rbsp[lastNonZero]!);
  while (reader.bitPosition < stopBitPosition) {
    copyBits(Math.min(32, stopBitPosition - reader.bitPosition));
  }
  writer.trailingBits();
  return concatBytes([spsNalUnit[0]!], addEmulationPrevention(writer.toBytes()));
};

type X264Variant = {
  name: string;
  size: [widthPx: number, heightPx: number];
  args: string[];
  profileIdc: number;
  chromaFormatIdc: number;
  bitDepthLuma: number;
  frameMbsOnly?: boolean;
};

const X264_VARIANTS: X264Variant[] = [
  {
    name: 'baseline',
    size: [1278, 718],
    args: ['-profile:v', 'baseline'],
    profileIdc: 66,
    chromaFormatIdc: 1,
    bitDepthLuma: 8,
  },
  {
    name: 'main',
    size: [640, 360],
    args: ['-profile:v', 'main'],
    profileIdc: 77,
    chromaFormatIdc: 1,
    bitDepthLuma: 8,
  },
  {
    name: 'high',
    size: [1278, 718],
    args: ['-profile:v', 'high'],
    profileIdc: 100,
    chromaFormatIdc: 1,
    bitDepthLuma: 8,
  },
  {
    name: 'high10',
    size: [322, 182],
    args: ['-profile:v', 'high10', '-pix_fmt', 'yuv420p10le'],
    profileIdc: 110,
    chromaFormatIdc: 1,
    bitDepthLuma: 10,
  },
  {
    name: 'high422',
    size: [322, 182],
    args: ['-profile:v', 'high422', '-pix_fmt', 'yuv422p'],
    profileIdc: 122,
    chromaFormatIdc: 2,
    bitDepthLuma: 8,
  },
  {
    name: 'high444',
    size: [330, 178],
    args: ['-profile:v', 'high444', '-pix_fmt', 'yuv444p'],
    profileIdc: 244,
    chromaFormatIdc: 3,
    bitDepthLuma: 8,
  },
  {
    name: 'interlaced',
    size: [320, 236],
    args: ['-profile:v', 'main', '-x264-params', 'interlaced=1'],
    profileIdc: 77,
    chromaFormatIdc: 1,
    bitDepthLuma: 8,
    frameMbsOnly: false,
  },
];

/** Groups an Annex-B stream into AVCC access units: non-VCL NAL units travel with the next slice. */
const accessUnits = (annexB: Uint8Array): Uint8Array[] => {
  const frames: Uint8Array[] = [];
  let pending: Uint8Array[] = [];
  for (const nalUnit of splitAnnexB(annexB)) {
    pending.push(nalUnit);
    const nalType = h264NalType(nalUnit);
    if (nalType >= 1 && nalType <= 5) {
      frames.push(lengthPrefixNalUnits(pending));
      pending = [];
    }
  }
  return frames;
};

describe.skipIf(!HAS_FFMPEG)('real x264 output (ffmpeg)', () => {
  let tempDir: ReturnType<typeof makeTempDir>;
  const encoded = new Map<string, { annexB: Uint8Array; mkv: Uint8Array; path: string }>();

  beforeAll(() => {
    tempDir = makeTempDir();
    for (const variant of X264_VARIANTS) {
      const path = join(tempDir.path, `${variant.name}.h264`);
      const [widthPx, heightPx] = variant.size;
      runFfmpeg([
        '-f',
        'lavfi',
        '-i',
        `testsrc2=size=${widthPx}x${heightPx}:rate=25`,
        '-t',
        '0.2',
        '-c:v',
        'libx264',
        '-preset',
        'veryfast',
        '-g',
        '2',
        '-keyint_min',
        '2',
        '-sc_threshold',
        '0',
        '-bf',
        '0',
        ...variant.args,
        '-f',
        'h264',
        path,
      ]);
      const mkvPath = join(tempDir.path, `${variant.name}.mkv`);
      runFfmpeg(['-i', path, '-c', 'copy', '-f', 'matroska', mkvPath]);
      encoded.set(variant.name, { annexB: readBytes(path), mkv: readBytes(mkvPath), path });
    }
  });

  afterAll(() => tempDir?.dispose());

  it.each(X264_VARIANTS)(
    '$name: SPS gives the encoded size, profile, chroma format and bit depth',
    (variant) => {
      const { annexB, path } = encoded.get(variant.name)!;
      const spsNal = splitAnnexB(annexB).find((nalUnit) => h264NalType(nalUnit) === H264NalType.Sps)!;
      const sps = parseH264Sps(spsNal);
      expect(sps).toMatchObject({
        widthPx: variant.size[0],
        heightPx: variant.size[1],
        profileIdc: variant.profileIdc,
        chromaFormatIdc: variant.chromaFormatIdc,
        bitDepthLuma: variant.bitDepthLuma,
        frameMbsOnly: variant.frameMbsOnly ?? true,
      });
      if (HAS_FFPROBE) {
        const probed = probeVideo(path);
        expect([sps.widthPx, sps.heightPx]).toEqual([probed.width, probed.height]);
      }
    },
  );

  it.each(X264_VARIANTS)('$name: the avcC we build equals the one ffmpeg wrote into Matroska', (variant) => {
    const { annexB, mkv } = encoded.get(variant.name)!;
    const ffmpegAvcC = mkvCodecPrivate(mkv, 'V_MPEG4/ISO/AVC');
    // Every parameter set of the stream (x264 repeats them at each IDR): duplicates must collapse.
    const cpd = annexBFromNalUnits(
      splitAnnexB(annexB).filter((nalUnit) => h264NalType(nalUnit) === 7 || h264NalType(nalUnit) === 8),
    );
    expect(hex(avccFromAnnexBCodecPrivate(cpd))).toBe(hex(ffmpegAvcC));
    const parsed = parseAvcDecoderConfigurationRecord(ffmpegAvcC);
    expect(parsed.profile).toBe(variant.profileIdc);
    expect(parseH264Sps(parsed.sps[0]!).widthPx).toBe(variant.size[0]);
  });

  it.each(X264_VARIANTS)('$name: keyframes are exactly the IDR access units (keyint 2)', (variant) => {
    const frames = accessUnits(encoded.get(variant.name)!.annexB);
    const keyframes = frames.map((frame) => isH264Keyframe(frame));
    expect(keyframes.length).toBeGreaterThanOrEqual(5);
    expect(keyframes.slice(0, 5)).toEqual([true, false, true, false, true]);
    for (const frame of frames) {
      expect(hex(annexBToAvcc(avccToAnnexB(frame)))).toBe(hex(frame));
    }
  });

  it.each(['high', 'high444'])(
    '%s: an SPS rewritten with scaling lists parses to the same size, and ffmpeg decodes it',
    (name) => {
      const { annexB } = encoded.get(name)!;
      const random = fc.sample(
        fc.array(
          fc.oneof(
            fc.constant<ScalingListSpec>(undefined),
            fc.constant<ScalingListSpec>('default'),
            fc.array(fc.integer({ min: 4, max: 64 }), { minLength: 1, maxLength: 64 }),
          ),
          { minLength: 12, maxLength: 12 },
        ),
        { numRuns: 1, seed: 20240607 },
      )[0]!;
      const original = splitAnnexB(annexB);
      const rewritten = original.map((nalUnit) =>
        h264NalType(nalUnit) === H264NalType.Sps ? withSpsScalingLists(nalUnit, random) : nalUnit,
      );
      const oldSps = parseH264Sps(original.find((nalUnit) => h264NalType(nalUnit) === H264NalType.Sps)!);
      const newSpsNal = rewritten.find((nalUnit) => h264NalType(nalUnit) === H264NalType.Sps)!;
      expect(newSpsNal.length).toBeGreaterThan(20);
      expect(parseH264Sps(newSpsNal)).toEqual(oldSps);
      if (HAS_FFPROBE) {
        const path = join(tempDir.path, `${name}-scaling.h264`);
        writeFileSync(path, annexBFromNalUnits(rewritten));
        runFfmpeg(['-xerror', '-i', path, '-f', 'null', '-']);
        const probed = probeVideo(path);
        expect([probed.width, probed.height]).toEqual([oldSps.widthPx, oldSps.heightPx]);
      }
    },
  );
});
