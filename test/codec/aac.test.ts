import { join } from 'node:path';

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  AAC_SAMPLING_FREQUENCIES_HZ,
  aacChannelCount,
  audioSpecificConfigFromAdts,
  buildAudioSpecificConfig,
  isAdtsFrame,
  parseAdtsHeader,
  parseAudioSpecificConfig,
  stripAdts,
} from '../../src/codec/aac.js';
import { CodecError } from '../../src/codec/codec-errors.js';
import {
  concatBytes,
  fromHex,
  HAS_FFMPEG,
  hex,
  makeTempDir,
  mkvCodecPrivate,
  readBytes,
  runFfmpeg,
  TestBitWriter,
} from './codec-test-helpers.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

type AdtsFields = {
  objectType: number;
  frequencyIndex: number;
  channels: number;
  payloadBytes: number;
  hasCrc?: boolean;
  rawDataBlocks?: number;
};

/** Writes an ADTS header (ISO/IEC 14496-3 §1.A.2.2) followed by a dummy payload. */
const buildAdtsFrame = (fields: AdtsFields): Uint8Array => {
  const hasCrc = fields.hasCrc ?? false;
  const frameBytes = (hasCrc ? 9 : 7) + fields.payloadBytes;
  const writer = new TestBitWriter()
    .u(12, 0xfff)
    .u(1, 0) // ID: MPEG-4
    .u(2, 0) // layer
    .u(1, hasCrc ? 0 : 1) // protection_absent
    .u(2, fields.objectType - 1)
    .u(4, fields.frequencyIndex)
    .u(1, 0)
    .u(3, fields.channels)
    .u(4, 0)
    .u(13, frameBytes)
    .u(11, 0x7ff)
    .u(2, (fields.rawDataBlocks ?? 1) - 1);
  if (hasCrc) {
    writer.u(16, 0xbeef);
  }
  return concatBytes(writer.toBytes(), new Uint8Array(fields.payloadBytes).fill(0x21));
};

describe('AudioSpecificConfig', () => {
  it('builds the two-byte configs of the common cases', () => {
    expect(hex(buildAudioSpecificConfig({ objectType: 2, samplingFrequencyHz: 48000, channels: 1 }))).toBe(
      '1188',
    );
    expect(hex(buildAudioSpecificConfig({ objectType: 2, samplingFrequencyHz: 44100, channels: 2 }))).toBe(
      '1210',
    );
    expect(hex(buildAudioSpecificConfig({ objectType: 2, samplingFrequencyHz: 8000, channels: 1 }))).toBe(
      '1588',
    );
    expect(hex(buildAudioSpecificConfig({ objectType: 1, samplingFrequencyHz: 96000, channels: 7 }))).toBe(
      '0838',
    );
  });

  it('writes index 15 and an explicit 24-bit frequency when the rate is not in the table', () => {
    const asc = buildAudioSpecificConfig({ objectType: 2, samplingFrequencyHz: 12345, channels: 2 });
    expect(hex(asc)).toBe('1780181c90');
    expect(parseAudioSpecificConfig(asc)).toEqual({ objectType: 2, samplingFrequencyHz: 12345, channels: 2 });
  });

  it('parses the 5-bit object type escape (31 → 32 + 6 bits)', () => {
    // 11111 001010 | 0011 | 0010: object type 42 (USAC), 48 kHz, 2 channels
    expect(parseAudioSpecificConfig(bytes(0xf9, 0x46, 0x40))).toEqual({
      objectType: 42,
      samplingFrequencyHz: 48000,
      channels: 2,
    });
  });

  it('parses explicit HE-AAC signalling (object type 5 with extension frequency and core type)', () => {
    // 00101 | 0110 | 0010 | 0011 | 00010: SBR, 24 kHz core, stereo, 48 kHz output, AAC-LC core
    expect(parseAudioSpecificConfig(bytes(0x2b, 0x11, 0x88))).toEqual({
      objectType: 5,
      samplingFrequencyHz: 24000,
      channels: 2,
      extensionSamplingFrequencyHz: 48000,
      coreObjectType: 2,
    });
  });

  it("reads ffmpeg's 5-byte config with the backward-compatible SBR sync extension", () => {
    expect(parseAudioSpecificConfig(fromHex('118856e500'))).toEqual({
      objectType: 2,
      samplingFrequencyHz: 48000,
      channels: 1,
    });
  });

  it('round-trips every table frequency, channels 1–7 and the GA object types (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...AAC_SAMPLING_FREQUENCIES_HZ),
        fc.integer({ min: 1, max: 7 }),
        fc.constantFrom(1, 2, 3, 4, 6, 7),
        (samplingFrequencyHz, channels, objectType) => {
          const config = { objectType, samplingFrequencyHz, channels };
          const asc = buildAudioSpecificConfig(config);
          expect(asc.length).toBe(2);
          expect(parseAudioSpecificConfig(asc)).toEqual(config);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('round-trips any explicit 24-bit frequency (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0xffffff }),
        fc.integer({ min: 1, max: 7 }),
        (samplingFrequencyHz, channels) => {
          const config = { objectType: 2, samplingFrequencyHz, channels };
          const asc = buildAudioSpecificConfig(config);
          expect(asc.length).toBe(AAC_SAMPLING_FREQUENCIES_HZ.includes(samplingFrequencyHz) ? 2 : 5);
          expect(parseAudioSpecificConfig(asc)).toEqual(config);
        },
      ),
    );
  });

  it('rejects what it cannot write, and malformed configs, with CodecErrors', () => {
    expect(() =>
      buildAudioSpecificConfig({ objectType: 5, samplingFrequencyHz: 48000, channels: 2 }),
    ).toThrow('Invalid AudioSpecificConfig: object type 5 is not supported; use 2 (AAC-LC)');
    expect(() => buildAudioSpecificConfig({ objectType: 2, samplingFrequencyHz: 0, channels: 2 })).toThrow(
      CodecError,
    );
    expect(() =>
      buildAudioSpecificConfig({ objectType: 2, samplingFrequencyHz: 2 ** 24, channels: 2 }),
    ).toThrow(CodecError);
    expect(() =>
      buildAudioSpecificConfig({ objectType: 2, samplingFrequencyHz: 44100.5, channels: 2 }),
    ).toThrow(CodecError);
    expect(() =>
      buildAudioSpecificConfig({ objectType: 2, samplingFrequencyHz: 48000, channels: 8 }),
    ).toThrow('channel configuration 8 is not in 1..7');
    expect(() => parseAudioSpecificConfig(bytes(0x12))).toThrow('Invalid AudioSpecificConfig: truncated');
    expect(() => parseAudioSpecificConfig(new Uint8Array(0))).toThrow(CodecError);
    // 00010 | 1101: reserved frequency index 13
    expect(() => parseAudioSpecificConfig(bytes(0x16, 0x90))).toThrow(
      'samplingFrequencyIndex 13 is reserved',
    );
  });

  it('maps channel configurations to channel counts', () => {
    expect([1, 2, 6, 7, 0, 8].map(aacChannelCount)).toEqual([1, 2, 6, 8, undefined, undefined]);
  });
});

describe('ADTS', () => {
  const frame = fromHex('fff150 80 017ffc 21004990'.replace(/ /g, ''));

  it('detects, parses and strips a 7-byte header, returning a view', () => {
    expect(isAdtsFrame(frame)).toBe(true);
    expect(parseAdtsHeader(frame)).toEqual({
      objectType: 2,
      samplingFrequencyHz: 44100,
      channels: 2,
      headerBytes: 7,
      frameBytes: 11,
      hasCrc: false,
    });
    const raw = stripAdts(frame);
    expect(hex(raw)).toBe('21004990');
    expect(raw.buffer).toBe(frame.buffer);
    expect(hex(audioSpecificConfigFromAdts(frame))).toBe('1210');
  });

  it('strips the 2 CRC bytes when protection_absent is 0', () => {
    const withCrc = buildAdtsFrame({
      objectType: 2,
      frequencyIndex: 3,
      channels: 1,
      payloadBytes: 5,
      hasCrc: true,
    });
    expect(parseAdtsHeader(withCrc)).toMatchObject({ headerBytes: 9, frameBytes: 14, hasCrc: true });
    expect(hex(stripAdts(withCrc))).toBe('2121212121');
  });

  it('returns raw frames unchanged', () => {
    const raw = bytes(0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c);
    expect(isAdtsFrame(raw)).toBe(false);
    expect(stripAdts(raw)).toBe(raw);
    expect(isAdtsFrame(bytes(0xff, 0xf1, 0x50))).toBe(false); // too short to hold a header
    expect(isAdtsFrame(bytes(0xff, 0xf3, 0x50, 0x80, 0x01, 0x7f, 0xfc))).toBe(false); // layer 1: MP3-style
  });

  it('round-trips random header fields (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.boolean(),
        (objectType, frequencyIndex, channels, payloadBytes, hasCrc) => {
          const adts = buildAdtsFrame({ objectType, frequencyIndex, channels, payloadBytes, hasCrc });
          expect(parseAdtsHeader(adts)).toEqual({
            objectType,
            samplingFrequencyHz: AAC_SAMPLING_FREQUENCIES_HZ[frequencyIndex],
            channels,
            headerBytes: hasCrc ? 9 : 7,
            frameBytes: adts.length,
            hasCrc,
          });
          expect(stripAdts(adts).length).toBe(payloadBytes);
          const asc = parseAudioSpecificConfig(audioSpecificConfigFromAdts(adts));
          expect(asc).toEqual({
            objectType,
            samplingFrequencyHz: AAC_SAMPLING_FREQUENCIES_HZ[frequencyIndex],
            channels,
          });
        },
      ),
    );
  });

  it('rejects inconsistent or unsupported headers with CodecErrors', () => {
    expect(() => stripAdts(concatBytes(frame, [0]))).toThrow(
      'Invalid ADTS frame: aac_frame_length is 11 but the frame has 12 bytes; pass one ADTS frame at a time',
    );
    expect(() => stripAdts(frame.subarray(0, 9))).toThrow(CodecError);
    expect(() => parseAdtsHeader(bytes(0x21, 0x10))).toThrow('Invalid ADTS header: no ADTS syncword');
    expect(() =>
      parseAdtsHeader(
        buildAdtsFrame({ objectType: 2, frequencyIndex: 3, channels: 2, payloadBytes: 8, rawDataBlocks: 2 }),
      ),
    ).toThrow('2 raw data blocks in one ADTS frame are not supported');
    expect(() =>
      parseAdtsHeader(buildAdtsFrame({ objectType: 2, frequencyIndex: 13, channels: 2, payloadBytes: 1 })),
    ).toThrow('samplingFrequencyIndex 13 is reserved');
    const shortLength = frame.slice();
    shortLength[4] = 0;
    shortLength[5] = 0x1f; // aac_frame_length 0
    expect(() => parseAdtsHeader(shortLength)).toThrow(
      'aac_frame_length 0 is shorter than the 7-byte header',
    );
    expect(() =>
      audioSpecificConfigFromAdts(
        buildAdtsFrame({ objectType: 2, frequencyIndex: 3, channels: 0, payloadBytes: 4 }),
      ),
    ).toThrow('channel_configuration 0');
  });
});

describe('repo fixture h264-aac.mkv', () => {
  it('has an AAC-LC, 48 kHz, mono AudioSpecificConfig', () => {
    const asc = mkvCodecPrivate(readBytes('fixtures/mkv/h264-aac.mkv'), 'A_AAC');
    expect(parseAudioSpecificConfig(asc)).toEqual({ objectType: 2, samplingFrequencyHz: 48000, channels: 1 });
  });
});

const AAC_VARIANTS = [
  { sampleRateHz: 44100, channels: 2 },
  { sampleRateHz: 48000, channels: 1 },
  { sampleRateHz: 22050, channels: 6 },
  { sampleRateHz: 8000, channels: 1 },
];

describe.skipIf(!HAS_FFMPEG)('real AAC from ffmpeg (ADTS and Matroska)', () => {
  let tempDir: ReturnType<typeof makeTempDir>;

  beforeAll(() => {
    tempDir = makeTempDir();
  });

  afterAll(() => tempDir?.dispose());

  it.each(AAC_VARIANTS)(
    '$sampleRateHz Hz × $channels: every ADTS frame strips to a raw frame, and the ASC matches the MKV one',
    ({ sampleRateHz, channels }) => {
      const adtsPath = join(tempDir.path, `${sampleRateHz}-${channels}.aac`);
      const mkvPath = join(tempDir.path, `${sampleRateHz}-${channels}.mkv`);
      runFfmpeg([
        '-f',
        'lavfi',
        '-i',
        `sine=frequency=440:sample_rate=${sampleRateHz}`,
        '-t',
        '0.5',
        '-ac',
        String(channels),
        '-c:a',
        'aac',
        '-f',
        'adts',
        adtsPath,
      ]);
      runFfmpeg(['-i', adtsPath, '-c', 'copy', '-f', 'matroska', mkvPath]);
      const stream = readBytes(adtsPath);
      let offset = 0;
      let frameCount = 0;
      let firstFrame: Uint8Array | undefined;
      while (offset < stream.length) {
        const header = parseAdtsHeader(stream.subarray(offset));
        const adtsFrame = stream.subarray(offset, offset + header.frameBytes);
        firstFrame ??= adtsFrame;
        const raw = stripAdts(adtsFrame);
        expect(raw.length).toBe(header.frameBytes - header.headerBytes);
        expect(isAdtsFrame(raw)).toBe(false);
        offset += header.frameBytes;
        frameCount++;
      }
      expect(offset).toBe(stream.length);
      expect(frameCount).toBeGreaterThan(3);
      const expected = { objectType: 2, samplingFrequencyHz: sampleRateHz, channels };
      expect(parseAudioSpecificConfig(audioSpecificConfigFromAdts(firstFrame!))).toEqual(expected);
      expect(parseAudioSpecificConfig(mkvCodecPrivate(readBytes(mkvPath), 'A_AAC'))).toEqual(expected);
    },
  );
});
