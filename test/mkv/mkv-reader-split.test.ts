/**
 * Split invariance and robustness, property-tested with fast-check: however the input is cut into chunks
 * (1-byte chunks included), the reader yields the same events and the same error; corrupt input only ever
 * fails with an MkvParseError that is not an internal error. `npm run test:fuzz` raises the run count.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArenaMkvReader } from '../../src/mkv/arena-mkv-reader.js';
import { MkvParseError } from '../../src/mkv/mkv-errors.js';
import { MkvReader } from '../../src/mkv/mkv-reader.js';
import type { MkvEvent } from '../../src/mkv/mkv-types.js';
import { BufferPool, ChunkArena } from '../../src/util/buffer-pool.js';
import {
  chunksOf,
  fixture,
  hasSharedFixtures,
  readAllSettled,
  readBytes,
  frames,
  readScribbled,
  serializeEvent,
  serializeEvents,
  sha1,
  sharedFixture,
  splitAt,
} from './mkv-test-helpers.js';

const NUM_RUNS = Number(process.env['FC_NUM_RUNS'] ?? 40);

type Outcome = { events: string[]; error: string | undefined };

const outcome = (chunks: readonly Uint8Array[]): Outcome => {
  const { events, error } = readAllSettled(chunks);
  if (error !== undefined && !(error instanceof MkvParseError)) {
    throw new Error(
      `reader failed with a non-MkvParseError: ${error instanceof Error ? error.stack : typeof error}`,
    );
  }
  return { events: serializeEvents(events), error: error === undefined ? undefined : error.message };
};

const FILES = [
  fixture('h264-aac.mkv'),
  fixture('long-gop.mkv'),
  fixture('vp8.mkv'),
  fixture('truncated.mkv'),
  ...(hasSharedFixtures
    ? [
        sharedFixture('kvs-getmedia/test_mixed_tags.mkv'),
        sharedFixture('kvs-getmedia/empty-mkv-with-tags.mkv'),
        sharedFixture('kvs-getmedia/output-get-media-equal-timecode.mkv'),
        sharedFixture('kvs-putmedia/official-c-producer-session.mkv'),
      ]
    : []),
];

describe('split invariance', () => {
  it.each(FILES)('%s: random cut points give the events of a single chunk', (path) => {
    const bytes = readBytes(path);
    const expected = outcome([bytes]);
    expect(expected.events.length).toBeGreaterThan(0);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 60 }), (cuts) => {
        expect(outcome(splitAt(bytes, cuts))).toEqual(expected);
      }),
      { numRuns: Math.max(5, Math.floor(NUM_RUNS / 4)) },
    );
  });

  it.each(FILES.filter((path) => !path.includes('output-get-media')))('%s: 1-byte chunks', (path) => {
    const bytes = readBytes(path);
    expect(outcome(chunksOf(bytes, 1))).toEqual(outcome([bytes]));
  });

  it('runs of small chunk sizes (1 to 16 bytes) on a GetMedia stream', () => {
    const path = hasSharedFixtures
      ? sharedFixture('kvs-getmedia/test_mixed_tags.mkv')
      : fixture('long-gop.mkv');
    const bytes = readBytes(path);
    const expected = outcome([bytes]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 16 }), { minLength: 1, maxLength: 64 }), (sizes) => {
        const cuts: number[] = [];
        let at = 0;
        for (let k = 0; at < bytes.length; k++) {
          at += sizes[k % sizes.length]!;
          cuts.push(at);
        }
        expect(outcome(splitAt(bytes, cuts))).toEqual(expected);
      }),
      { numRuns: Math.max(5, Math.floor(NUM_RUNS / 4)) },
    );
  });
});

describe('no view of a chunk outlives its push', () => {
  // The contract a buffer pool relies on: once push() returns, only the frames it returned view the chunk.
  const scribbled = (chunks: readonly Uint8Array[]): Outcome => {
    const { events, error } = readScribbled(chunks);
    return { events, error: error === undefined ? undefined : (error as Error).message };
  };

  it.each(FILES)('%s: chunks overwritten after their push', (path) => {
    const bytes = readBytes(path);
    const expected = outcome([bytes]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 60 }), (cuts) => {
        expect(scribbled(splitAt(bytes, cuts))).toEqual(expected);
      }),
      { numRuns: Math.max(5, Math.floor(NUM_RUNS / 4)) },
    );
    expect(scribbled(chunksOf(bytes, 7))).toEqual(expected);
  });
});

describe('reads copied into pooled memory (ArenaMkvReader, live captures)', () => {
  /**
   * Reads `chunks` as a live capture does: each copy of a read is overwritten in the caller's hands, frames
   * are read and released at once (as if acknowledged at once), so pool memory is reused as early as the
   * reader's holds allow. A hold released too early shows as a frame whose bytes changed.
   */
  const pooled = (chunks: readonly Uint8Array[], bufferBytes: number) => {
    const pool = new BufferPool(bufferBytes);
    const arena = new ChunkArena(pool);
    const reader = new ArenaMkvReader(arena);
    const events: (string | MkvEvent)[] = [];
    let error: string | undefined;
    const take = (batch: MkvEvent[]): void => {
      for (const event of batch) {
        events.push(event.type === 'frame' ? serializeEvent(event) : event);
        if (event.type === 'frame') {
          pool.release(event.frame.data);
        }
      }
    };
    try {
      for (const original of chunks) {
        const read = original.slice();
        take(reader.push(read));
        read.fill(0xee);
      }
      take(reader.end());
    } catch (caught) {
      error = (caught as Error).message;
      reader.close();
    }
    arena.close();
    // Every buffer is free again: as many can be taken without allocating.
    const allocated = pool.allocatedCount;
    for (let i = 0; i < allocated; i++) {
      pool.acquire();
    }
    return {
      outcome: {
        events: events.map((event) => (typeof event === 'string' ? event : serializeEvent(event))),
        error,
      },
      isAllFree: pool.allocatedCount === allocated,
    };
  };

  it.each(FILES)('%s: the events of a single chunk, and every buffer free at the end', (path) => {
    const bytes = readBytes(path);
    const expected = outcome([bytes]);
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 60 }),
        fc.integer({ min: 64, max: 64 * 1024 }),
        (cuts, bufferBytes) => {
          expect(pooled(splitAt(bytes, cuts), bufferBytes)).toEqual({ outcome: expected, isAllFree: true });
        },
      ),
      { numRuns: Math.max(5, Math.floor(NUM_RUNS / 4)) },
    );
  });

  it('a frame spanning reads that lie back to back in memory is one view of it, not a copy', () => {
    const bytes = readBytes(fixture('h264-aac.mkv'));
    const whole = frames(new MkvReader().push(bytes));
    const reader = new MkvReader({ keepsChunkViews: true });
    const events: MkvEvent[] = [];
    for (const chunk of chunksOf(bytes, 1000)) {
      events.push(...reader.push(chunk));
    }
    events.push(...reader.end());
    const read = frames(events);
    expect(read.map((frame) => sha1(frame.data))).toEqual(whole.map((frame) => sha1(frame.data)));
    const spanning = read.filter((frame) => frame.data.length > 1000);
    expect(spanning.length).toBeGreaterThan(0);
    for (const frame of read) {
      expect(frame.data.buffer).toBe(bytes.buffer);
    }
    // Without the option, a frame spanning chunks is a copy.
    const copied = frames(readAllSettled(chunksOf(bytes, 1000)).events).filter((f) => f.data.length > 1000);
    expect(copied.every((frame) => frame.data.buffer !== bytes.buffer)).toBe(true);
  });
});

describe('robustness on corrupt input', () => {
  const sources = [
    readBytes(fixture('long-gop.mkv')),
    ...(hasSharedFixtures ? [readBytes(sharedFixture('kvs-getmedia/test_mixed_tags.mkv'))] : []),
  ];

  it('mutated and truncated input fails only with a MkvParseError, identically for any split', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: sources.length - 1 }),
        fc.array(
          fc.tuple(
            fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
            fc.integer({ min: 0, max: 255 }),
          ),
          {
            minLength: 1,
            maxLength: 8,
          },
        ),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(fc.integer({ min: 1, max: 100_000 }), { maxLength: 20 }),
        (sourceIndex, mutations, keepFraction, cuts) => {
          const source = sources[sourceIndex]!;
          const bytes = source.slice(0, Math.max(1, Math.ceil(source.length * keepFraction)));
          for (const [where, value] of mutations) {
            bytes[Math.floor(where * bytes.length)] = value;
          }
          const whole = outcome([bytes]);
          if (whole.error !== undefined) {
            expect(whole.error).not.toMatch(/internal reader error/);
          }
          expect(outcome(splitAt(bytes, cuts))).toEqual(whole);
        },
      ),
      { numRuns: NUM_RUNS * 5 },
    );
  });

  it('random bytes after a valid header fail cleanly', () => {
    const header = readBytes(fixture('h264.mkv')).subarray(0, 400);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 2000 }), (noise) => {
        const bytes = new Uint8Array(header.length + noise.length);
        bytes.set(header);
        bytes.set(noise, header.length);
        const result = outcome([bytes]);
        if (result.error !== undefined) {
          expect(result.error).not.toMatch(/internal reader error/);
        }
        expect(outcome(chunksOf(bytes, 7))).toEqual(result);
      }),
      { numRuns: NUM_RUNS * 5 },
    );
  });
});
