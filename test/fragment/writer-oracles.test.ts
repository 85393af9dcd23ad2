/**
 * Independent oracles on the bytes kvs-put sends: the session written for h264.mkv, h264-aac.mkv, hevc.mkv
 * and bframes.mkv (with a fragment-metadata tag, so Tags sit between clusters) is parsed by the `ebml`
 * package's Decoder, listed by `mkvinfo`, decoded frame by frame by `ffprobe -count_frames` and `ffmpeg -f
 * null`, and its element layout is compared with the PutMedia body of AWS's own C producer.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fragment, SessionHeader } from '../../src/fragment/fragmenter.js';
import { CodecId } from '../../src/mkv/ebml-ids.js';
import { END_OF_FRAGMENT_TAG } from '../../src/mkv/mkv-writer.js';
import { FIXTURES, hasTool } from '../helpers/paths.js';
import {
  START_MS,
  hasSharedFixtures,
  ffprobeCountFrames,
  readBytes,
  runPipeline,
  runTool,
  sha1,
  sharedCapture,
} from './fragment-test-helpers.js';

const hasFfprobe = hasTool('ffprobe');
const hasFfmpeg = hasTool('ffmpeg');
const hasMkvinfo = hasTool('mkvinfo', ['--version']);

const FRAGMENT_TAG = { name: 'KVS_PUT_ORACLE', value: 'fragment' };
const NAMES = ['h264.mkv', 'h264-aac.mkv', 'hevc.mkv', 'bframes.mkv'] as const;
type Name = (typeof NAMES)[number];

type Session = { path: string; bytes: Uint8Array; fragments: Fragment[]; headers: SessionHeader[] };
const sessions = new Map<Name, Session>();
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kvs-put-oracles-'));
  for (const name of NAMES) {
    const result = runPipeline([readBytes(join(FIXTURES, name))], { fragmentTags: [FRAGMENT_TAG] });
    expect(result.error).toBeUndefined();
    const path = join(dir, name.replace('.mkv', '.session.mkv'));
    writeFileSync(path, result.bytes);
    sessions.set(name, { path, bytes: result.bytes, fragments: result.fragments, headers: result.headers });
  }
});

afterAll(() => {
  if (dir !== '') {
    rmSync(dir, { recursive: true, force: true });
  }
});

const session = (name: Name): Session => sessions.get(name)!;
const framesOf = (name: Name) => session(name).fragments.flatMap((fragment) => fragment.frames);
const framesOfTrack = (name: Name, track: number): number =>
  framesOf(name).filter((frame) => frame.trackNumber === track).length;

// ---- the ebml package ------------------------------------------------------------------------------------

type DecodedElement = {
  name: string;
  dataSize: number;
  track?: number;
  keyframe?: boolean;
  /** A number (SimpleBlock relative timecode, uints) or a string (TagName). */
  value?: number | string;
  payload?: Uint8Array;
};
type DecoderStream = {
  on(event: 'data', listener: (chunk: [string, DecodedElement]) => void): void;
  on(event: 'end' | 'error', listener: (error?: Error) => void): void;
  write(chunk: Uint8Array): void;
  end(): void;
};

/** Every element the `ebml` Decoder reports, as [kind, element]. */
const decodeWithEbmlPackage = async (bytes: Uint8Array): Promise<[string, DecodedElement][]> => {
  const require = createRequire(import.meta.url);
  const { Decoder } = require('ebml') as { Decoder: new () => DecoderStream };
  const decoder = new Decoder();
  const seen: [string, DecodedElement][] = [];
  const done = new Promise<void>((resolve, reject) => {
    decoder.on('end', () => resolve());
    decoder.on('error', (error) => reject(error ?? new Error('ebml decoder failed')));
  });
  decoder.on('data', (chunk) => seen.push(chunk));
  decoder.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  decoder.end();
  await done;
  return seen;
};

describe('the ebml package Decoder reads the session', () => {
  // ebml@3 reads an 8-byte size vint ≥ 64 KiB as "unknown", so it cannot follow bodies with blocks that
  // large (the C producer's 640x480 key frames); every block of these four fixtures is smaller.
  it.each(NAMES)(
    '%s: no error, one EBML header, the same SimpleBlocks (track, key, offset, payload)',
    async (name) => {
      const decoded = await decodeWithEbmlPackage(session(name).bytes);
      expect(decoded.filter(([kind, element]) => kind === 'start' && element.name === 'EBML')).toHaveLength(
        1,
      );
      const blocks = decoded
        .filter(([kind, element]) => kind === 'tag' && element.name === 'SimpleBlock')
        .map(
          ([, block]) =>
            `${block.track} ${block.keyframe} ${block.value} ${block.dataSize - 4} ${sha1(block.payload!)}`,
        );
      const written = framesOf(name).map(
        (frame) =>
          `${frame.trackNumber} ${frame.isKeyframe} ${frame.relativeTimecode} ${frame.data.length} ${sha1(frame.data)}`,
      );
      expect(blocks).toEqual(written);
      const tagNames = decoded
        .filter(([kind, element]) => kind === 'tag' && element.name === 'TagName')
        .map(([, element]) => element.value);
      expect(tagNames).toEqual([
        ...session(name).fragments.map(() => FRAGMENT_TAG.name),
        END_OF_FRAGMENT_TAG,
      ]);
    },
  );
});

// ---- mkvinfo ------------------------------------------------------------------------------------------

type MkvinfoSummary = {
  tracks: string[];
  clusterTimecodesMs: number[];
  blocksPerTrack: Record<string, number>;
  tagNames: string[];
};

/** `hh:mm:ss.nnnnnnnnn` → ms. */
const mkvinfoTimeMs = (text: string): number => {
  const match = /^(\d+):(\d\d):(\d\d)\.(\d{9})$/.exec(text);
  expect(match, text).not.toBeNull();
  const [, h, m, s, ns] = match!;
  return ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1000 + Number(ns) / 1e6;
};

const parseMkvinfo = (text: string): MkvinfoSummary => {
  const summary: MkvinfoSummary = { tracks: [], clusterTimecodesMs: [], blocksPerTrack: {}, tagNames: [] };
  let trackNumber = '';
  for (const line of text.split('\n')) {
    let match: RegExpExecArray | null;
    if ((match = /^\|  \+ Track number: (\d+)/.exec(line)) !== null) {
      trackNumber = match[1]!;
    } else if ((match = /^\|  \+ Codec ID: (.+)$/.exec(line)) !== null) {
      summary.tracks.push(`${trackNumber} ${match[1]}`);
    } else if ((match = /^\| \+ Cluster timestamp: (\S+)$/.exec(line)) !== null) {
      summary.clusterTimecodesMs.push(mkvinfoTimeMs(match[1]!));
    } else if ((match = /^\| \+ Simple block: .*track number (\d+)/.exec(line)) !== null) {
      summary.blocksPerTrack[match[1]!] = (summary.blocksPerTrack[match[1]!] ?? 0) + 1;
    } else if ((match = /^\|   \+ Name: (.+)$/.exec(line)) !== null) {
      summary.tagNames.push(match[1]!);
    }
  }
  return summary;
};

const EXPECTED_CODECS: Record<Name, string[]> = {
  'h264.mkv': [`1 ${CodecId.H264}`],
  'h264-aac.mkv': [`1 ${CodecId.H264}`, `2 ${CodecId.Aac}`],
  'hevc.mkv': [`1 ${CodecId.H265}`],
  'bframes.mkv': [`1 ${CodecId.H264}`],
};

describe.skipIf(!hasMkvinfo)('mkvinfo lists the session', () => {
  it.each(NAMES)(
    '%s: exit 0, the tracks, one cluster per fragment at its timecode, every block, the tags',
    (name) => {
      const run = runTool('mkvinfo', ['-a', session(name).path]);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.stdout).not.toMatch(/^\s*\(?(error|warning)/im);
      const summary = parseMkvinfo(run.stdout);
      const { fragments } = session(name);
      expect(summary.tracks).toEqual(EXPECTED_CODECS[name]);
      expect(summary.clusterTimecodesMs).toEqual(fragments.map((fragment) => fragment.timecode));
      expect(summary.clusterTimecodesMs[0]).toBe(START_MS);
      const expectedBlocks: Record<string, number> = {};
      for (const frame of framesOf(name)) {
        expectedBlocks[frame.trackNumber] = (expectedBlocks[frame.trackNumber] ?? 0) + 1;
      }
      expect(summary.blocksPerTrack).toEqual(expectedBlocks);
      expect(summary.tagNames).toEqual([...fragments.map(() => FRAGMENT_TAG.name), END_OF_FRAGMENT_TAG]);
    },
  );
});

// ---- ffprobe and ffmpeg decode every frame ------------------------------------------------------------

describe.skipIf(!hasFfprobe)('ffprobe -v error -count_frames decodes every frame', () => {
  const CODEC_NAMES: Record<string, string> = {
    [CodecId.H264]: 'h264',
    [CodecId.H265]: 'hevc',
    [CodecId.Aac]: 'aac',
  };

  // bframes.mkv included: the B-frame stream (presentation times kept) decodes frame for frame.
  it.each(NAMES)('%s: nb_read_frames = frames written, nothing on stderr', (name) => {
    const probe = ffprobeCountFrames(session(name).path);
    expect(probe.stderr).toBe('');
    expect(probe.status).toBe(0);
    const tracks = session(name).headers[0]!.tracks;
    expect(probe.streams.map((stream) => [stream.codec_name, Number(stream.nb_read_frames)])).toEqual(
      tracks.map((track) => [CODEC_NAMES[track.codecId], framesOfTrack(name, track.number)]),
    );
  });
});

describe.skipIf(!hasFfmpeg)('ffmpeg -v error -i session.mkv -f null - prints nothing', () => {
  const decode = (name: Name) =>
    runTool('ffmpeg', [
      '-hide_banner',
      '-nostdin',
      '-v',
      'error',
      '-i',
      session(name).path,
      '-f',
      'null',
      '-',
    ]);

  // bframes.mkv included: B-frames keep their presentation times, so the decoded frames come out in order.
  it.each(NAMES)('%s', (name) => {
    const run = decode(name);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});

// ---- layout: the same shape as AWS's C producer -----------------------------------------------------------

const ID_NAMES: Record<number, string> = {
  0x1a45dfa3: 'EBML',
  0x18538067: 'Segment',
  0x1549a966: 'Info',
  0x1654ae6b: 'Tracks',
  0x1f43b675: 'Cluster',
  0x1254c367: 'Tags',
  0x114d9b74: 'SeekHead',
  0x1c53bb6b: 'Cues',
  0xec: 'Void',
  0xe7: 'Timecode',
  0xa7: 'Position',
  0xa3: 'SimpleBlock',
  0xa0: 'BlockGroup',
};
const LEVEL_1 = new Set(['Info', 'Tracks', 'Cluster', 'Tags', 'SeekHead', 'Cues', 'Void']);

type Element = {
  level: number;
  name: string;
  sizeWidth: number;
  size: number;
  isUnknownSize: boolean;
  body: Uint8Array;
};

/**
 * A deliberately small EBML walker, written apart from src/mkv: it descends only into Segment and Cluster
 * (both of unknown size in a PutMedia body; a Cluster ends at the next level-1 element) and lists the rest.
 */
const walk = (bytes: Uint8Array): Element[] => {
  const elements: Element[] = [];
  let p = 0;
  let inSegment = false;
  let inCluster = false;
  while (p < bytes.length) {
    const first = bytes[p]!;
    const idWidth = first >= 0x80 ? 1 : first >= 0x40 ? 2 : first >= 0x20 ? 3 : 4;
    let id = 0;
    for (let i = 0; i < idWidth; i++) {
      id = id * 256 + bytes[p + i]!;
    }
    const sizeByte = bytes[p + idWidth]!;
    let sizeWidth = 1;
    while (sizeWidth <= 8 && (sizeByte & (0x80 >> (sizeWidth - 1))) === 0) {
      sizeWidth++;
    }
    const mask = (0x80 >> (sizeWidth - 1)) - 1;
    let size = sizeByte & mask;
    let isUnknownSize = size === mask;
    for (let i = 1; i < sizeWidth; i++) {
      const byte = bytes[p + idWidth + i]!;
      size = size * 256 + byte;
      isUnknownSize &&= byte === 0xff;
    }
    const name = ID_NAMES[id] ?? `0x${id.toString(16)}`;
    const bodyStart = p + idWidth + sizeWidth;
    let level = 0;
    if (name === 'EBML') {
      inSegment = false;
      inCluster = false;
    } else if (name !== 'Segment' && inSegment) {
      level = inCluster && !LEVEL_1.has(name) ? 2 : 1;
      inCluster = inCluster && level === 2;
    }
    const isDescended = name === 'Segment' || name === 'Cluster';
    const bodyEnd = isDescended || isUnknownSize ? bodyStart : bodyStart + size;
    elements.push({ level, name, sizeWidth, size, isUnknownSize, body: bytes.subarray(bodyStart, bodyEnd) });
    if (name === 'Segment') {
      inSegment = true;
    } else if (name === 'Cluster') {
      inCluster = true;
    }
    p = bodyEnd;
  }
  return elements;
};

/** The layout facts of a PutMedia body that the C producer and kvs-put must share. */
const layoutOf = (bytes: Uint8Array) => {
  const elements = walk(bytes);
  const describe = (element: Element): string =>
    element.isUnknownSize ? `${element.name}(unknown)` : `${element.name}(w${element.sizeWidth})`;
  const level0 = elements.filter((element) => element.level === 0).map(describe);
  // Level 1 in order, runs of Tags collapsed: the C producer writes 10 Tags elements after each cluster.
  const level1 = elements
    .filter((element) => element.level === 1)
    .map((element) => element.name)
    .filter((name, i, all) => !(name === 'Tags' && all[i - 1] === 'Tags'))
    .join(' ');
  // Each cluster's children, as one string per cluster with the SimpleBlock run collapsed.
  const clusters: string[] = [];
  for (const element of elements) {
    if (element.name === 'Cluster') {
      clusters.push(describe(element));
    } else if (element.level === 2) {
      let text = element.name;
      if (element.name === 'Timecode') {
        text = `Timecode(${element.size} bytes)`;
      } else if (element.name === 'Position') {
        text = `Position(=${element.body.reduce((value, byte) => value * 256 + byte, 0)})`;
      } else if (element.name === 'SimpleBlock') {
        text = `SimpleBlock(w${element.sizeWidth})`;
      }
      const last = clusters.length - 1;
      if (!clusters[last]!.endsWith(` ${text}+`)) {
        clusters[last] = clusters[last]!.endsWith(` ${text}`)
          ? `${clusters[last]}+`
          : `${clusters[last]} ${text}`;
      }
    }
  }
  const tagsSizeWidths = [
    ...new Set(elements.filter((element) => element.name === 'Tags').map((element) => element.sizeWidth)),
  ];
  const info = elements.find((element) => element.name === 'Info')!;
  const tracks = elements.find((element) => element.name === 'Tracks')!;
  return {
    level0,
    level1Grammar: /^Info Tracks (Tags )?Cluster( Tags Cluster)*( Tags)?$/.test(level1),
    level1Start: level1.split(' ').slice(0, 2).join(' '),
    clusterShapes: [...new Set(clusters)],
    tagsSizeWidths,
    infoSizeWidth: info.sizeWidth,
    tracksSizeWidth: tracks.sizeWidth,
    hasTagsBetweenClusters: / Cluster Tags Cluster/.test(level1),
  };
};

describe.skipIf(!hasSharedFixtures)("the session has the layout of AWS's C producer", () => {
  // Read when a test runs: a skipped describe still runs its body, where a missing capture would throw.
  const official = (): Uint8Array => readBytes(sharedCapture('official-c-producer-session.mkv'));

  it('the walker reads the C producer capture as documented', () => {
    const layout = layoutOf(official());
    expect(layout).toEqual({
      level0: ['EBML(w1)', 'Segment(unknown)'],
      level1Grammar: true,
      level1Start: 'Info Tracks',
      clusterShapes: ['Cluster(unknown) Timecode(8 bytes) Position(=0) SimpleBlock(w8)+'],
      tagsSizeWidths: [8],
      infoSizeWidth: 2,
      tracksSizeWidth: 4,
      hasTagsBetweenClusters: true,
    });
  });

  it.each(NAMES)(
    '%s: EBML, Segment(unknown), Info, Tracks, Cluster(unknown){Timecode 8 B, Position 0, SimpleBlock w8}, Tags between',
    (name) => {
      expect(layoutOf(session(name).bytes)).toEqual(layoutOf(official()));
      expect(basename(session(name).path)).toMatch(/\.session\.mkv$/);
    },
  );
});
