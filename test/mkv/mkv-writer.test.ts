import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CodecId, TrackType } from '../../src/mkv/ebml-ids.js';
import {
  END_OF_FRAGMENT_BYTES,
  concatChunks,
  writeCluster,
  writeKvsHeader,
  writeTags,
} from '../../src/mkv/mkv-writer.js';
import { SHARED_FIXTURES } from '../helpers/paths.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const official = readFileSync(join(SHARED_FIXTURES, 'kvs-putmedia', 'official-c-producer-session.mkv'));

describe('writeKvsHeader', () => {
  it('writes the same bytes as AWS C producer for the same stream settings', () => {
    // The C producer's session header ends where its first Cluster starts.
    const clusterAt = official.indexOf(Buffer.from('1f43b675', 'hex'));
    const expected = official.subarray(0, clusterAt);
    const uidAt = expected.indexOf(Buffer.from('73a490', 'hex')) + 3;
    const segmentUid = expected.subarray(uidAt, uidAt + 16);
    const cpdAt = expected.indexOf(Buffer.from('63a2', 'hex'));
    const codecPrivate = expected.subarray(cpdAt + 3, cpdAt + 3 + expected[cpdAt + 2]! - 0x80);
    expect(codecPrivate.length).toBe(45);
    const header = writeKvsHeader({
      segmentUid,
      title: 'Kinesis Video SDK',
      applicationName: 'Kinesis Video SDK 1.1.0',
      tracks: [
        {
          number: 1,
          uid: 1n,
          type: TrackType.Video,
          name: 'kvs_video_track',
          codecId: CodecId.H264,
          codecPrivate,
          video: { widthPx: 640, heightPx: 480 },
        },
      ],
    });
    expect(hex(header)).toBe(hex(expected));
  });

  it('writes audio tracks with a float64 sampling frequency', () => {
    const header = writeKvsHeader({
      segmentUid: new Uint8Array(16).fill(7),
      tracks: [
        {
          number: 2,
          uid: 2n,
          type: TrackType.Audio,
          codecId: CodecId.Aac,
          codecPrivate: Uint8Array.of(0x11, 0x90),
          audio: { samplingFrequencyHz: 48000, channels: 2 },
        },
      ],
    });
    // Audio (E1, 4-byte size) > SamplingFrequency B5 88 <48000 as float64> > Channels 9F 81 02
    expect(hex(header)).toContain('e11000000db58840e77000000000009f8102');
    expect(hex(header)).toContain('63a2821190');
  });

  it('rejects a header without tracks or with a bad SegmentUID', () => {
    expect(() => writeKvsHeader({ tracks: [] })).toThrow('options.tracks must list at least one track.');
    expect(() =>
      writeKvsHeader({
        segmentUid: new Uint8Array(8),
        tracks: [{ number: 1, uid: 1n, type: 1, codecId: CodecId.H264 }],
      }),
    ).toThrow('options.segmentUid, when provided, must be 16 bytes.');
  });
});

describe('writeCluster', () => {
  it('writes the C producer cluster layout: unknown size, 8-byte Timecode, Position 0, 8-byte block sizes', () => {
    const payload = Uint8Array.of(0, 0, 0, 2, 0x09, 0x10);
    const chunks = writeCluster(1_795_593_929_607, [
      { trackNumber: 1, relativeTimecode: 0, isKeyframe: true, data: payload },
      { trackNumber: 1, relativeTimecode: 40, isKeyframe: false, data: payload },
    ]);
    expect(chunks).toHaveLength(5);
    // Payloads pass through as the same objects: nothing copied.
    expect(chunks[2]).toBe(payload);
    expect(chunks[4]).toBe(payload);
    expect(hex(chunks[0]!)).toBe('1f43b675ff' + 'e788' + '000001a211bd0387' + 'a78100');
    expect(hex(chunks[1]!)).toBe('a3' + '010000000000000a' + '81' + '0000' + '80');
    expect(hex(chunks[3]!)).toBe('a3' + '010000000000000a' + '81' + '0028' + '00');
    // The C producer's first cluster starts with the same bytes (its timecode and first block size differ).
    const clusterAt = official.indexOf(Buffer.from('1f43b675', 'hex'));
    expect(hex(official.subarray(clusterAt, clusterAt + 7))).toBe('1f43b675ffe788');
    expect(hex(official.subarray(clusterAt + 15, clusterAt + 19))).toBe('a78100a3');
  });

  it('writes negative offsets and flags, and refuses offsets beyond int16', () => {
    const data = new Uint8Array(1);
    const chunks = writeCluster(5, [
      {
        trackNumber: 2,
        relativeTimecode: -2,
        isKeyframe: false,
        isInvisible: true,
        isDiscardable: true,
        data,
      },
    ]);
    expect(hex(chunks[1]!)).toBe('a3' + '0100000000000005' + '82' + 'fffe' + '09');
    expect(() =>
      writeCluster(0, [{ trackNumber: 1, relativeTimecode: 32_768, isKeyframe: true, data }]),
    ).toThrow('Block offset 32768 does not fit the signed 16-bit SimpleBlock timecode.');
    expect(() => writeCluster(-1, [])).toThrow(RangeError);
  });
});

describe('writeTags', () => {
  it('writes Tags > Tag > SimpleTag with 8-byte sizes, byte for byte as the C producer does', () => {
    const tags = writeTags([{ name: 'TEST_KEY_1', value: 'TEST_VALUE_1' }]);
    const at = official.indexOf(Buffer.from('1254c367', 'hex'));
    expect(hex(tags)).toBe(hex(official.subarray(at, at + tags.length)));
  });

  it('has an end-of-fragment marker with an empty value', () => {
    expect(Buffer.from(END_OF_FRAGMENT_BYTES).toString('latin1')).toContain(
      'AWS_KINESISVIDEO_END_OF_FRAGMENT',
    );
    expect(hex(END_OF_FRAGMENT_BYTES).endsWith('44870100000000000000')).toBe(true);
  });

  it('concatenates chunk lists', () => {
    expect(hex(concatChunks([Uint8Array.of(1), Uint8Array.of(2, 3)]))).toBe('010203');
  });
});
