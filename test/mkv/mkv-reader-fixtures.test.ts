/**
 * The reader against real files: the project fixtures (made by ffmpeg) checked against ffprobe's packet
 * list, the GetMedia captures and the C producer's PutMedia body from ../shared/fixtures, and the `ebml`
 * package's Decoder as an independent oracle.
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { EbmlId } from '../../src/mkv/ebml-ids.js';
import { HeaderStatus, createElementHeader, readElementHeader } from '../../src/mkv/ebml-reader.js';
import { MkvParseError } from '../../src/mkv/mkv-errors.js';
import type { MkvEvent, MkvHeader, MkvSimpleTag } from '../../src/mkv/mkv-types.js';
import {
  chunksOf,
  ffprobePackets,
  ffprobeStreams,
  fixture,
  frames,
  hasSharedFixtures,
  hasTool,
  readAll,
  readAllSettled,
  readBytes,
  sha1,
  sharedFixture,
} from './mkv-test-helpers.js';

const hasFfprobe = hasTool('ffprobe');
const hasMkvinfo = hasTool('mkvinfo', '--version');
if (!hasSharedFixtures) {
  console.warn('[mkv tests] ../shared/fixtures is missing: the GetMedia/PutMedia capture tests are skipped.');
}

const headers = (events: readonly MkvEvent[]): (MkvEvent & { type: 'header' })[] =>
  events.filter((event): event is MkvEvent & { type: 'header' } => event.type === 'header');
const allTags = (events: readonly MkvEvent[]): MkvSimpleTag[] =>
  events.flatMap((event) => (event.type === 'tags' ? event.tags : []));
const countOf = (events: readonly MkvEvent[], type: MkvEvent['type']): number =>
  events.filter((event) => event.type === type).length;

/** The element header at `offset` of `bytes`. */
const elementAt = (bytes: Uint8Array, offset: number) => {
  const header = createElementHeader();
  expect(readElementHeader(bytes, offset, bytes.length, header)).toBe(HeaderStatus.Ok);
  return header;
};

/** headerBytes is the file's bytes from the EBML header to the first Cluster or Tags, and reads back alone. */
const checkHeaderBytes = (file: Uint8Array, event: MkvEvent & { type: 'header' }): void => {
  const headerBytes = event.headerBytes!;
  expect(headerBytes).toBeDefined();
  expect(sha1(headerBytes)).toBe(
    sha1(file.subarray(event.byteOffset, event.byteOffset + headerBytes.length)),
  );
  expect([...headerBytes.subarray(0, 4)]).toEqual([0x1a, 0x45, 0xdf, 0xa3]);
  const boundary = event.byteOffset + headerBytes.length;
  if (boundary < file.length) {
    expect([EbmlId.Cluster, EbmlId.Tags]).toContain(elementAt(file, boundary).id);
  }
  // Alone, the header of an unknown-size Segment (KVS, GetMedia) parses to the same media header; one
  // of a known-size Segment (ffmpeg files) is reported as a truncated Segment.
  const again = readAllSettled([headerBytes]);
  if (again.error === undefined) {
    expect(headers(again.events)).toHaveLength(1);
    expect(headers(again.events)[0]!.header).toEqual(event.header);
  } else {
    expect(again.error).toBeInstanceOf(MkvParseError);
    expect((again.error as MkvParseError).elementId).toBe(EbmlId.Segment);
  }
};

const CODEC_NAMES: Record<string, string> = {
  'V_MPEG4/ISO/AVC': 'h264',
  'V_MPEGH/ISO/HEVC': 'hevc',
  V_VP8: 'vp8',
  A_AAC: 'aac',
};

describe('project fixtures (fixtures/mkv) against ffprobe', () => {
  const files = [
    'h264.mkv',
    'h264-aac.mkv',
    'long-gop.mkv',
    'bframes.mkv',
    'nonkey-start.mkv',
    'vp8.mkv',
    'hevc.mkv',
  ];

  it.each(files)('%s: track info equals ffprobe streams', (name) => {
    if (!hasFfprobe) {
      return;
    }
    const events = readAll([readBytes(fixture(name))]);
    const [header] = headers(events);
    expect(headers(events)).toHaveLength(1);
    const streams = ffprobeStreams(fixture(name));
    expect(header!.header.tracks).toHaveLength(streams.length);
    header!.header.tracks.forEach((track, index) => {
      const stream = streams[index]!;
      expect(CODEC_NAMES[track.codecId]).toBe(stream.codec_name);
      if (stream.width !== undefined) {
        expect(track.video).toEqual({ widthPx: stream.width, heightPx: stream.height });
      }
      if (stream.sample_rate !== undefined) {
        expect(track.audio?.samplingFrequencyHz).toBe(Number(stream.sample_rate));
        expect(track.audio?.channels).toBe(stream.channels);
      }
      // H.264, HEVC and AAC carry CodecPrivate; VP8 needs none.
      expect(track.codecPrivate !== undefined).toBe(track.codecId !== 'V_VP8');
    });
  });

  it.each(files)('%s: frames, timestamps and keyframes equal ffprobe packets', (name) => {
    if (!hasFfprobe) {
      return;
    }
    const bytes = readBytes(fixture(name));
    const events = readAll([bytes]);
    const tracks = headers(events)[0]!.header.tracks;
    const packets = ffprobePackets(fixture(name));
    const ours = frames(events);
    expect(ours).toHaveLength(packets.length);
    ours.forEach((frame, index) => {
      const packet = packets[index]!;
      expect(tracks.findIndex((track) => track.number === frame.trackNumber)).toBe(packet.stream_index);
      expect(frame.timestampMs).toBeCloseTo(Number(packet.pts_time) * 1000, 3);
      expect(frame.isKeyframe).toBe(packet.flags.includes('K'));
      if (frame.durationMs !== undefined) {
        expect(frame.durationMs).toBeCloseTo(Number(packet.duration_time) * 1000, 3);
      }
    });
    expect(events.at(-1)).toEqual({ type: 'segment-end', byteOffset: bytes.length });
    checkHeaderBytes(bytes, headers(events)[0]!);
  });

  it('nonkey-start.mkv really starts with non-key frames, bframes.mkv has out-of-order timestamps', () => {
    const nonKey = frames(readAll([readBytes(fixture('nonkey-start.mkv'))]));
    expect(nonKey[0]!.isKeyframe).toBe(false);
    const bframes = frames(readAll([readBytes(fixture('bframes.mkv'))])).map((frame) => frame.timecode);
    expect(bframes.some((timecode, index) => index > 0 && timecode < bframes[index - 1]!)).toBe(true);
  });

  it('mkvinfo counts the same SimpleBlocks', () => {
    if (!hasMkvinfo) {
      return;
    }
    for (const name of files) {
      const output = spawnSync('mkvinfo', ['-v', fixture(name)], {
        encoding: 'utf8',
        maxBuffer: 64 << 20,
      }).stdout;
      const blocks = output.split('\n').filter((line) => line.includes('Simple block')).length;
      expect(frames(readAll([readBytes(fixture(name))])), name).toHaveLength(blocks);
    }
  });

  it('truncated.mkv: an MkvParseError at the SimpleBlock that runs past the end of the file', () => {
    const bytes = readBytes(fixture('truncated.mkv'));
    const { events, error } = readAllSettled(chunksOf(bytes, 4096));
    expect(error).toBeInstanceOf(MkvParseError);
    const parseError = error as MkvParseError;
    expect(parseError.elementId).toBe(EbmlId.SimpleBlock);
    expect(parseError.message).toMatch(/input ended/);
    // Independently: the element at that offset is a SimpleBlock whose declared end is past EOF.
    const element = elementAt(bytes, parseError.byteOffset);
    expect(element.id).toBe(EbmlId.SimpleBlock);
    expect(parseError.byteOffset + element.headerBytes + element.size).toBeGreaterThan(bytes.length);
    // Every complete frame before it was delivered; ffprobe sees the same ones.
    if (hasFfprobe) {
      const packets = ffprobePackets(fixture('truncated.mkv'));
      expect(frames(events).map((frame) => frame.timestampMs / 1000)).toEqual(
        packets.map((packet) => Number(packet.pts_time)),
      );
    }
    expect(events.some((event) => event.type === 'segment-end')).toBe(false);
  });
});

type GetMediaCase = {
  file: string;
  /** EBML headers, from the fixtures README. */
  chunks: number;
  /** Complete SimpleBlocks, as ffprobe -count_packets reports. */
  frames: number;
  /** The capture ends inside a SimpleBlock. */
  isTruncated: boolean;
};

const GET_MEDIA: GetMediaCase[] = [
  { file: 'output_get_media.mkv', chunks: 5, frames: 300, isTruncated: false },
  { file: 'output_get_media_sparse_fragments.mkv', chunks: 3, frames: 180, isTruncated: false },
  { file: 'output-get-media-equal-timecode.mkv', chunks: 2, frames: 239, isTruncated: true },
  { file: 'output-get-media-non-increasing-timecode.mkv', chunks: 12, frames: 358, isTruncated: true },
  { file: 'test_mixed_tags.mkv', chunks: 10, frames: 100, isTruncated: false },
  { file: 'empty-mkv-with-tags.mkv', chunks: 1, frames: 0, isTruncated: false },
];

describe.skipIf(!hasSharedFixtures)('KVS GetMedia captures (../shared/fixtures/kvs-getmedia)', () => {
  it.each(GET_MEDIA)(
    '$file: $chunks headers, $frames frames',
    ({ file, chunks, frames: frameCount, isTruncated }) => {
      const path = sharedFixture(`kvs-getmedia/${file}`);
      const bytes = readBytes(path);
      const { events, error } = readAllSettled(chunksOf(bytes, 65_536));
      if (isTruncated) {
        // These captures stop mid-block (ffprobe: "File ended prematurely"): the reader says where.
        expect(error).toBeInstanceOf(MkvParseError);
        const parseError = error as MkvParseError;
        expect(parseError.elementId).toBe(EbmlId.SimpleBlock);
        const element = elementAt(bytes, parseError.byteOffset);
        expect(parseError.byteOffset + element.headerBytes + element.size).toBeGreaterThan(bytes.length);
        expect(countOf(events, 'segment-end')).toBe(chunks - 1);
      } else {
        expect(error).toBeUndefined();
        expect(countOf(events, 'segment-end')).toBe(chunks);
        expect(events.at(-1)).toEqual({ type: 'segment-end', byteOffset: bytes.length });
      }
      expect(headers(events)).toHaveLength(chunks);
      expect(frames(events)).toHaveLength(frameCount);
      expect(countOf(events, 'cluster')).toBe(frameCount === 0 ? 0 : chunks);
      if (hasFfprobe) {
        const streams = ffprobeStreams(path);
        expect(frames(events)).toHaveLength(Number(streams[0]?.nb_read_packets ?? 0));
      }

      // Each chunk carries the service's tags, with "seconds.millis" timestamps.
      const tags = allTags(events);
      for (const name of [
        'AWS_KINESISVIDEO_FRAGMENT_NUMBER',
        'AWS_KINESISVIDEO_SERVER_TIMESTAMP',
        'AWS_KINESISVIDEO_PRODUCER_TIMESTAMP',
      ]) {
        expect(
          tags.filter((tag) => tag.name === name),
          name,
        ).toHaveLength(chunks);
      }
      for (const tag of tags.filter((t) => t.name.endsWith('_TIMESTAMP'))) {
        expect(tag.value).toMatch(/^\d+\.\d{3}$/);
      }

      for (const header of headers(events)) {
        expect(header.header.tracks.length).toBeGreaterThan(0);
        expect(header.header.timecodeScaleNs).toBe(1_000_000);
        checkHeaderBytes(bytes, header);
      }
      // Frames follow their chunk's header: each cluster starts with a keyframe in these captures.
      let isClusterStart = false;
      for (const event of events) {
        if (event.type === 'cluster') {
          isClusterStart = true;
        } else if (event.type === 'frame') {
          if (isClusterStart) {
            expect(event.frame.isKeyframe).toBe(true);
          }
          isClusterStart = false;
        }
      }
    },
  );

  it('output_get_media.mkv: the continuation tags and per-chunk header offsets', () => {
    const bytes = readBytes(sharedFixture('kvs-getmedia/output_get_media.mkv'));
    const events = readAll([bytes]);
    const names = new Set(allTags(events).map((tag) => tag.name));
    expect(names).toContain('AWS_KINESISVIDEO_MILLIS_BEHIND_NOW');
    expect(names).toContain('AWS_KINESISVIDEO_CONTINUATION_TOKEN');
    // Each header starts at an EBML header, right where the previous Segment ended.
    const segmentEnds = events
      .filter((event) => event.type === 'segment-end')
      .map((event) => event.byteOffset);
    expect(headers(events).map((event) => event.byteOffset)).toEqual([0, ...segmentEnds.slice(0, -1)]);
  });

  it('empty-mkv-with-tags.mkv: a header without clusters still yields its tags', () => {
    const bytes = readBytes(sharedFixture('kvs-getmedia/empty-mkv-with-tags.mkv'));
    const events = readAll([bytes]);
    expect(events.map((event) => event.type)).toEqual(['header', 'tags', 'segment-end']);
    expect(allTags(events).map((tag) => tag.name)).toEqual([
      'AWS_KINESISVIDEO_FRAGMENT_NUMBER',
      'AWS_KINESISVIDEO_SERVER_TIMESTAMP',
      'AWS_KINESISVIDEO_PRODUCER_TIMESTAMP',
    ]);
  });
});

describe.skipIf(!hasSharedFixtures)('the C producer PutMedia body (../shared/fixtures/kvs-putmedia)', () => {
  const path = sharedFixture('kvs-putmedia/official-c-producer-session.mkv');

  it('reads to the end without error: it ends right after an end-of-fragment Tags, not mid-cluster', () => {
    const bytes = readBytes(path);
    const events = readAll(chunksOf(bytes, 65_536));
    expect(events.at(-1)).toEqual({ type: 'segment-end', byteOffset: bytes.length });
    const lastTags = events.at(-2)!;
    expect(lastTags).toMatchObject({
      type: 'tags',
      tags: [{ name: 'AWS_KINESISVIDEO_END_OF_FRAGMENT', value: '' }],
    });
  });

  it('has the producer layout: one header, 4 clusters of 45 frames, each starting on a keyframe', () => {
    const bytes = readBytes(path);
    const events = readAll([bytes]);
    const [header] = headers(events);
    expect(headers(events)).toHaveLength(1);
    expect(header!.header).toMatchObject({
      docType: 'matroska',
      docTypeVersion: 2,
      timecodeScaleNs: 1_000_000,
      title: 'Kinesis Video SDK',
      muxingApp: 'Kinesis Video SDK 1.1.0',
      tracks: [
        {
          number: 1,
          uid: 1n,
          type: 1,
          name: 'kvs_video_track',
          codecId: 'V_MPEG4/ISO/AVC',
          video: { widthPx: 640, heightPx: 480 },
        },
      ],
    } satisfies Partial<MkvHeader>);
    expect(header!.header.segmentUid).toHaveLength(16);
    expect(header!.header.tracks[0]!.codecPrivate).toHaveLength(45);
    // The media header is everything before the first Cluster.
    expect(header!.headerBytes!.length).toBe(0x118);
    checkHeaderBytes(bytes, header!);

    const clusters = events.filter((event) => event.type === 'cluster');
    expect(clusters).toHaveLength(4);
    const perCluster: number[] = [];
    let firstIsKey: boolean[] = [];
    for (const event of events) {
      if (event.type === 'cluster') {
        perCluster.push(0);
      } else if (event.type === 'frame') {
        if (perCluster.at(-1) === 0) {
          firstIsKey = [...firstIsKey, event.frame.isKeyframe];
        }
        perCluster[perCluster.length - 1]! += 1;
      }
    }
    expect(perCluster).toEqual([45, 45, 45, 45]);
    expect(firstIsKey).toEqual([true, true, true, true]);
    // Absolute epoch-millisecond cluster timecodes, 25 fps frames.
    expect(clusters[0]!.type === 'cluster' && clusters[0]!.timestampMs).toBeGreaterThan(1.5e12);
    const frameTimes = frames(events).map((frame) => frame.timestampMs);
    expect(frameTimes[1]! - frameTimes[0]!).toBe(40);
    if (hasFfprobe) {
      expect(frames(events)).toHaveLength(Number(ffprobeStreams(path)[0]!.nb_read_packets));
    }
    const names = new Set(allTags(events).map((tag) => tag.name));
    expect(names).toContain('AWS_KINESISVIDEO_END_OF_FRAGMENT');
  });
});

type DecodedBlock = { start: number; track: number; keyframe: boolean; value: number; payload: Uint8Array };
type DecoderStream = {
  on(event: 'data', listener: (chunk: [string, { name: string } & DecodedBlock]) => void): void;
  on(event: 'end' | 'error', listener: (error?: Error) => void): void;
  write(chunk: Uint8Array): void;
  end(): void;
};

/** Every SimpleBlock and EBML header as the `ebml` package's Decoder sees them. */
const decodeWithEbmlPackage = async (
  bytes: Uint8Array,
): Promise<{ blocks: DecodedBlock[]; ebmlHeaders: number }> => {
  const require = createRequire(import.meta.url);
  const { Decoder } = require('ebml') as { Decoder: new () => DecoderStream };
  const decoder = new Decoder();
  const blocks: DecodedBlock[] = [];
  let ebmlHeaders = 0;
  const done = new Promise<void>((resolve, reject) => {
    decoder.on('end', () => resolve());
    decoder.on('error', (error) => reject(error ?? new Error('ebml decoder failed')));
  });
  decoder.on('data', ([kind, element]) => {
    if (kind === 'tag' && element.name === 'SimpleBlock') {
      blocks.push(element);
    } else if (kind === 'start' && element.name === 'EBML') {
      ebmlHeaders++;
    }
  });
  decoder.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  decoder.end();
  await done;
  return { blocks, ebmlHeaders };
};

describe('the ebml package as an independent oracle', () => {
  const cases = [fixture('h264-aac.mkv'), fixture('bframes.mkv')];
  if (hasSharedFixtures) {
    cases.push(
      sharedFixture('kvs-getmedia/output_get_media.mkv'),
      sharedFixture('kvs-getmedia/test_mixed_tags.mkv'),
    );
  }

  it.each(cases)('%s: same blocks (offset, track, keyframe, relative timecode, payload)', async (path) => {
    const bytes = readBytes(path);
    const { blocks, ebmlHeaders } = await decodeWithEbmlPackage(bytes);
    const events = readAll(chunksOf(bytes, 10_000));
    expect(headers(events)).toHaveLength(ebmlHeaders);
    let clusterTimecode = 0;
    const ours: string[] = [];
    for (const event of events) {
      if (event.type === 'cluster') {
        clusterTimecode = event.timecode;
      } else if (event.type === 'frame') {
        const { frame } = event;
        ours.push(
          `${event.byteOffset} ${frame.trackNumber} ${frame.isKeyframe} ${frame.timecode - clusterTimecode} ${sha1(frame.data)}`,
        );
      }
    }
    const theirs = blocks.map(
      (block) => `${block.start} ${block.track} ${block.keyframe} ${block.value} ${sha1(block.payload)}`,
    );
    expect(ours).toEqual(theirs);
    expect(ours.length).toBeGreaterThan(0);
  });
});

describe('file sizes are what the fixtures README says', () => {
  it.skipIf(!hasSharedFixtures)('GetMedia and PutMedia captures are present and intact', () => {
    expect(statSync(sharedFixture('kvs-getmedia/output_get_media.mkv')).size).toBe(2503485);
    expect(statSync(sharedFixture('kvs-putmedia/official-c-producer-session.mkv')).size).toBe(3682433);
  });
});
