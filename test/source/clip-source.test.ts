/**
 * clipFragments over pooled reads. A consumer holds a sliding window of unreleased fragments, as the upload
 * session does while it waits for acks: every frame must keep its bytes until its fragment is released,
 * however the pool reuses the reads behind it, and the released reads must be read into again.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Clip, ClipSourceReport } from '../../src/source/clip-source.js';
import { clipFragments } from '../../src/source/clip-source.js';
import type { Fragment, SessionItem } from '../../src/fragment/fragmenter.js';
import { BufferPool } from '../../src/util/buffer-pool.js';
import { expectedFrames } from '../helpers/read-back.js';
import type { FrameFact } from '../helpers/read-back.js';
import { chunksOf, fixture, hasSharedFixtures, sharedFixture } from '../mkv/mkv-test-helpers.js';

const START_MS = Date.parse('2026-01-02T03:04:05Z');
/** Clips of one file laid 10 min apart: more fragments than any window holds, one pool for all. */
const CLIP_SPACING_MS = 600_000;

const sha1 = (bytes: Uint8Array): string => createHash('sha1').update(bytes).digest('hex');

type Case = { name: string; path: string; clips: number };

const CASES: Case[] = [
  { name: 'h264-aac.mkv', path: fixture('h264-aac.mkv'), clips: 4 },
  { name: 'bframes.mkv', path: fixture('bframes.mkv'), clips: 4 },
  ...(hasSharedFixtures
    ? [
        {
          name: 'official-c-producer-session.mkv',
          path: sharedFixture('kvs-putmedia/official-c-producer-session.mkv'),
          clips: 1,
        },
      ]
    : []),
];

const clipsOf = (path: string, count: number): Clip[] =>
  Array.from({ length: count }, (_, i) => ({ path, startTimeMs: START_MS + i * CLIP_SPACING_MS }));

const expectedOf = (clips: readonly Clip[]): FrameFact[] =>
  clips.flatMap((clip) => expectedFrames(clip.path, clip.startTimeMs));

/** File reads the clips take with buffers of `bufferBytes` (the pool would allocate this many without reuse). */
const readsOf = (clips: readonly Clip[], bufferBytes: number): number =>
  clips.reduce((sum, clip) => sum + Math.ceil(statSync(clip.path).size / bufferBytes), 0);

const newReport = (): ClipSourceReport => ({ onRefused: () => undefined, stats: [] });

const itemsOf = (
  clips: readonly Clip[],
  pool: BufferPool | undefined,
  report = newReport(),
  stdin: Readable = process.stdin,
): AsyncGenerator<SessionItem> =>
  clipFragments(
    clips,
    {},
    {
      stdin,
      cwd: process.cwd(),
      openFfmpeg: () => {
        throw new Error('no ffmpeg');
      },
      ...(pool === undefined ? {} : { pool }),
    },
    report,
  );

/** The clips' fragments, without the session header each clip's begin with. */
async function* fragmentsOf(...args: Parameters<typeof itemsOf>): AsyncGenerator<Fragment> {
  for await (const item of itemsOf(...args)) {
    if (item.type === 'fragment') {
      yield item;
    }
  }
}

/** A fragment as it arrived: its frames' facts, with the hashes taken then. */
type Held = { fragment: Fragment; facts: FrameFact[] };

const arrive = (fragment: Fragment): Held => ({
  fragment,
  facts: fragment.frames.map((frame) => ({
    track: frame.trackNumber,
    ms: fragment.timecode + frame.relativeTimecode,
    key: frame.isKeyframe,
    sha1: sha1(frame.data),
  })),
});

/** Frames whose bytes changed since the fragment arrived. */
const changedFrames = (held: Held): string[] =>
  held.fragment.frames.flatMap((frame, i) =>
    sha1(frame.data) === held.facts[i]!.sha1
      ? []
      : [
          `fragment #${held.fragment.sequence} frame ${i} (track ${frame.trackNumber}, ${held.facts[i]!.ms} ms)`,
        ],
  );

type Consumed = { frames: FrameFact[]; changed: string[]; fragments: number };

/**
 * Consumes the source holding the last `window` fragments unreleased; each is checked just before its
 * release (and everything still held at the end). `releases` calls of release() per fragment.
 */
const consume = async (
  source: AsyncIterable<Fragment>,
  window: number,
  { releases = 1 }: { releases?: number } = {},
): Promise<Consumed> => {
  const held: Held[] = [];
  const out: Consumed = { frames: [], changed: [], fragments: 0 };
  const retire = (entry: Held): void => {
    out.changed.push(...changedFrames(entry));
    for (let i = 0; i < releases; i++) {
      entry.fragment.release!();
    }
  };
  for await (const fragment of source) {
    out.fragments++;
    expect(fragment.release).toBeTypeOf('function');
    const entry = arrive(fragment);
    out.frames.push(...entry.facts);
    held.push(entry);
    while (held.length > window) {
      retire(held.shift()!);
    }
  }
  for (const entry of held.splice(0)) {
    retire(entry);
  }
  return out;
};

describe.each(CASES)('clipFragments with a tiny pool: $name', ({ path, clips: clipCount }) => {
  const clips = clipsOf(path, clipCount);

  it.each([
    [4096, 0],
    [4096, 1],
    [4096, 3],
    [1000, 1],
    [1000, 3],
  ])(
    '%i-byte reads, a window of %i unreleased fragments: every frame intact until released, reads reused',
    async (bufferBytes, window) => {
      const pool = new BufferPool(bufferBytes);
      const report = newReport();
      const result = await consume(fragmentsOf(clips, pool, report), window);
      expect(result.changed).toEqual([]);
      expect(result.frames).toEqual(expectedOf(clips));
      expect(report.stats).toHaveLength(clipCount);
      expect(report.stats.reduce((sum, stats) => sum + stats.fragments, 0)).toBe(result.fragments);
      // Without reuse every read would take a new buffer.
      const reads = readsOf(clips, bufferBytes);
      expect(pool.allocatedCount).toBeGreaterThan(0);
      expect(pool.allocatedCount).toBeLessThan(reads / 2);
    },
  );

  it('release() called twice (and again at the end) is harmless: nothing is freed early', async () => {
    const pool = new BufferPool(4096);
    const result = await consume(fragmentsOf(clips, pool), 1, { releases: 3 });
    expect(result.changed).toEqual([]);
    expect(result.frames).toEqual(expectedOf(clips));
    expect(pool.allocatedCount).toBeLessThan(readsOf(clips, 4096) / 2);
  });

  it('a consumer that never releases still gets every frame right', async () => {
    const pool = new BufferPool(1000);
    const kept: Held[] = [];
    for await (const fragment of fragmentsOf(clips, pool)) {
      kept.push(arrive(fragment));
    }
    expect(kept.flatMap(changedFrames)).toEqual([]);
    expect(kept.flatMap((entry) => entry.facts)).toEqual(expectedOf(clips));
    expect(pool.allocatedCount).toBeLessThanOrEqual(readsOf(clips, 1000) + 1);
  });
});

describe('clipFragments with pooled reads: edges', () => {
  const path = fixture('h264-aac.mkv');
  const clips = clipsOf(path, 2);

  it('control: a fragment read after its release does see its memory reused (the checks above can fail)', async () => {
    const pool = new BufferPool(4096);
    const released: Held[] = [];
    for await (const fragment of fragmentsOf(clips, pool)) {
      const entry = arrive(fragment);
      fragment.release!();
      released.push(entry);
    }
    expect(released.flatMap(changedFrames).length).toBeGreaterThan(0);
  });

  it('the default pool (256 KiB reads) gives the same frames', async () => {
    const result = await consume(fragmentsOf(clips, undefined), 2);
    expect(result.changed).toEqual([]);
    expect(result.frames).toEqual(expectedOf(clips));
  });

  it('stdin chunks (memory the pool does not own) are ignored by retain/release: same frames, no allocation', async () => {
    const pool = new BufferPool(4096);
    // Node Buffers, so some of them share one slab, as a pipe's chunks may.
    const stdin = Readable.from(chunksOf(readFileSync(path), 3000).map((chunk) => Buffer.from(chunk)));
    const result = await consume(
      fragmentsOf([{ path: '-', startTimeMs: START_MS }], pool, newReport(), stdin),
      1,
    );
    expect(result.changed).toEqual([]);
    expect(result.frames).toEqual(expectedFrames(path, START_MS));
    expect(pool.allocatedCount).toBe(0);
  });

  it('a consumer that stops after the first fragment: that fragment stays intact and releases cleanly', async () => {
    const pool = new BufferPool(4096);
    let first: Held | undefined;
    for await (const fragment of fragmentsOf(clips, pool)) {
      first = arrive(fragment);
      break;
    }
    expect(first).toBeDefined();
    expect(changedFrames(first!)).toEqual([]);
    expect(first!.facts).toEqual(expectedFrames(path, START_MS).slice(0, first!.facts.length));
    expect(() => {
      first!.fragment.release!();
      first!.fragment.release!();
    }).not.toThrow();
  });

  it('two sources sharing one pool, interleaved, each with a window of 2: no frame of either is disturbed', async () => {
    const pool = new BufferPool(2048);
    const sources = [
      fragmentsOf(clipsOf(path, 2), pool),
      fragmentsOf(clipsOf(fixture('bframes.mkv'), 2), pool),
    ];
    const held: Held[][] = [[], []];
    const frames: FrameFact[][] = [[], []];
    const changed: string[] = [];
    const done = [false, false];
    while (!done[0] || !done[1]) {
      for (const i of [0, 1]) {
        if (done[i]) {
          continue;
        }
        const next = await sources[i]!.next();
        if (next.done === true) {
          done[i] = true;
          continue;
        }
        const entry = arrive(next.value);
        frames[i]!.push(...entry.facts);
        held[i]!.push(entry);
        while (held[i]!.length > 2) {
          const old = held[i]!.shift()!;
          changed.push(...changedFrames(old));
          old.fragment.release!();
        }
      }
    }
    for (const entry of held.flat()) {
      changed.push(...changedFrames(entry));
      entry.fragment.release!();
    }
    expect(changed).toEqual([]);
    expect(frames[0]).toEqual(expectedOf(clipsOf(path, 2)));
    expect(frames[1]).toEqual(expectedOf(clipsOf(fixture('bframes.mkv'), 2)));
  });
});

describe('clipFragments: the items it yields', () => {
  it('a session header before each clip, fragments numbered across clips, refused ones reported and not numbered', async () => {
    const refused: [number, string][] = [];
    const report: ClipSourceReport = {
      onRefused: (fragment, reason) => refused.push([fragment.timecode, reason]),
      stats: [],
    };
    const clips = clipsOf(fixture('long-gop.mkv'), 2);
    const items: SessionItem[] = [];
    for await (const item of itemsOf(clips, new BufferPool(4096), report)) {
      items.push(item);
      if (item.type === 'fragment') {
        item.release!();
      }
    }
    // long-gop.mkv: a first fragment of 25 s (4002, not sent) and a second one.
    expect(items.map((item) => (item.type === 'session-header' ? 'header' : item.sequence))).toEqual([
      'header',
      0,
      'header',
      1,
    ]);
    expect(refused.map(([timecode]) => timecode)).toEqual(clips.map((clip) => clip.startTimeMs));
    expect(refused[0]![1]).toMatch(/key frame interval/);
  });
});
