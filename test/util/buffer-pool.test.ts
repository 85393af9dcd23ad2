/**
 * BufferPool: reference counting by backing memory. A buffer comes back only when every view of it handed
 * on has been released; memory that is not a pool buffer is ignored; a release too many throws; and maxIdle
 * bounds how many free buffers are kept.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BufferPool, ChunkArena, onceReleasing } from '../../src/util/buffer-pool.js';

describe('BufferPool', () => {
  it('hands out whole buffers of the configured size, each with its own memory', () => {
    const pool = new BufferPool(64);
    const a = pool.acquire();
    const b = pool.acquire();
    expect(a.length).toBe(64);
    expect(a.byteOffset).toBe(0);
    expect(a.buffer.byteLength).toBe(64);
    expect(b.buffer).not.toBe(a.buffer);
    expect(pool.allocatedCount).toBe(2);
  });

  it('a released buffer is handed out again: the same memory, no new allocation', () => {
    const pool = new BufferPool(64);
    const a = pool.acquire();
    a.fill(7);
    pool.release(a.subarray(0, 10));
    const b = pool.acquire();
    expect(b.buffer).toBe(a.buffer);
    expect(b.length).toBe(64);
    expect(pool.allocatedCount).toBe(1);
  });

  it('a buffer with a live retained view is not handed out; it is once that view is released', () => {
    const pool = new BufferPool(64);
    const read = pool.acquire();
    const frame = read.subarray(8, 24);
    pool.retain(frame);
    pool.release(read); // the reader's own hold ends; the frame still views the buffer
    const other = pool.acquire();
    expect(other.buffer).not.toBe(read.buffer);
    expect(pool.allocatedCount).toBe(2);
    pool.release(frame);
    const again = pool.acquire();
    expect(again.buffer).toBe(read.buffer);
    expect(pool.allocatedCount).toBe(2);
  });

  it('several retained views: the buffer is free only after the last of them is released', () => {
    const pool = new BufferPool(32);
    const read = pool.acquire();
    const views = [read.subarray(0, 4), read.subarray(4, 8), read.subarray(8, 32)];
    for (const view of views) {
      pool.retain(view);
    }
    pool.release(read);
    for (const view of views.slice(0, -1)) {
      pool.release(view);
      expect(pool.acquire().buffer).not.toBe(read.buffer);
    }
    pool.release(views.at(-1)!);
    expect(pool.acquire().buffer).toBe(read.buffer);
  });

  it('retain and release of a plain Uint8Array (foreign memory) do nothing', () => {
    const pool = new BufferPool(64);
    const foreign = new Uint8Array(64);
    expect(() => {
      pool.retain(foreign);
      pool.release(foreign);
      pool.release(foreign);
      pool.release(foreign.subarray(3, 9));
    }).not.toThrow();
    expect(pool.allocatedCount).toBe(0);
    // The foreign memory never becomes a pool buffer.
    expect(pool.acquire().buffer).not.toBe(foreign.buffer);
  });

  it('retain and release of a Node Buffer (foreign, maybe a slice of Node’s shared pool) do nothing', () => {
    const pool = new BufferPool(64);
    const small = Buffer.from('shared slab'); // from Node's internal pool
    const large = Buffer.alloc(128);
    expect(() => {
      for (const buffer of [small, large]) {
        pool.retain(buffer);
        pool.release(buffer);
        pool.release(buffer);
      }
    }).not.toThrow();
    const got = pool.acquire();
    expect(got.buffer).not.toBe(small.buffer);
    expect(got.buffer).not.toBe(large.buffer);
    expect(pool.allocatedCount).toBe(1);
  });

  it('a pool buffer wrapped as a Node Buffer is counted like the pool buffer itself', () => {
    const pool = new BufferPool(64);
    const read = pool.acquire();
    const asBuffer = Buffer.from(read.buffer, 4, 8);
    pool.retain(asBuffer);
    pool.release(read);
    expect(pool.acquire().buffer).not.toBe(read.buffer);
    pool.release(asBuffer);
    expect(pool.acquire().buffer).toBe(read.buffer);
  });

  it('releasing twice throws', () => {
    const pool = new BufferPool(64);
    const a = pool.acquire();
    pool.release(a);
    expect(() => pool.release(a)).toThrow(/released twice/);
  });

  it('releasing a retained view once too often throws', () => {
    const pool = new BufferPool(64);
    const read = pool.acquire();
    const frame = read.subarray(0, 8);
    pool.retain(frame);
    pool.release(frame);
    pool.release(read);
    expect(() => pool.release(frame)).toThrow(/released twice/);
  });

  it('a throwing release does not corrupt the pool: the buffer is idle once, not twice', () => {
    const pool = new BufferPool(64);
    const a = pool.acquire();
    pool.release(a);
    expect(() => pool.release(a)).toThrow();
    const first = pool.acquire();
    const second = pool.acquire();
    expect(first.buffer).toBe(a.buffer);
    expect(second.buffer).not.toBe(a.buffer);
  });

  it('maxIdle bounds the idle list: buffers freed beyond it are not reused, so allocatedCount grows', () => {
    const pool = new BufferPool(16, 2);
    const held = [pool.acquire(), pool.acquire(), pool.acquire(), pool.acquire()];
    expect(pool.allocatedCount).toBe(4);
    for (const buffer of held) {
      pool.release(buffer);
    }
    // Only two are kept: two acquires reuse, the third allocates.
    const reused = [pool.acquire(), pool.acquire()];
    const memories = new Set(held.map((buffer) => buffer.buffer));
    expect(reused.every((buffer) => memories.has(buffer.buffer))).toBe(true);
    expect(pool.allocatedCount).toBe(4);
    const fresh = pool.acquire();
    expect(memories.has(fresh.buffer)).toBe(false);
    expect(pool.allocatedCount).toBe(5);
  });

  it('maxIdle 0 keeps nothing: every acquire allocates', () => {
    const pool = new BufferPool(16, 0);
    for (let i = 1; i <= 3; i++) {
      pool.release(pool.acquire());
      expect(pool.allocatedCount).toBe(i);
    }
  });

  it('without maxIdle, a steady acquire/release cycle never allocates more than the peak in use', () => {
    const pool = new BufferPool(16);
    const live: Uint8Array[] = [];
    for (let i = 0; i < 1000; i++) {
      live.push(pool.acquire());
      if (live.length > 3) {
        pool.release(live.shift()!);
      }
    }
    expect(pool.allocatedCount).toBe(4);
  });

  it('property: under any sequence of acquire/retain/release, a buffer with a live reference is never handed out', () => {
    const action = fc.oneof(
      fc.record({ kind: fc.constant('acquire' as const) }),
      fc.record({ kind: fc.constant('retain' as const), pick: fc.nat(), from: fc.nat(31), to: fc.nat(32) }),
      fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.array(action, { maxLength: 80 }),
        fc.option(fc.nat(4), { nil: undefined }),
        (actions, maxIdle) => {
          const pool = new BufferPool(32, maxIdle);
          // The references held, one entry per acquire or retain; each a view of its buffer.
          const held: Uint8Array[] = [];
          const memories = new Set<ArrayBufferLike>();
          for (const step of actions) {
            if (step.kind === 'acquire') {
              const bytes = pool.acquire();
              expect(held.some((view) => view.buffer === bytes.buffer)).toBe(false);
              expect(bytes.length).toBe(32);
              memories.add(bytes.buffer);
              held.push(bytes);
            } else if (held.length > 0) {
              const index = step.pick % held.length;
              if (step.kind === 'retain') {
                const base = new Uint8Array(held[index]!.buffer);
                const view = base.subarray(Math.min(step.from, step.to), Math.max(step.from, step.to));
                pool.retain(view);
                held.push(view);
              } else {
                pool.release(held[index]!);
                held.splice(index, 1);
              }
            }
            expect(pool.allocatedCount).toBe(memories.size);
          }
          // Everything released: the idle buffers (at most maxIdle of them) are what the next acquires reuse.
          for (const view of held.splice(0)) {
            pool.release(view);
          }
          const before = pool.allocatedCount;
          const idle = Math.min(maxIdle ?? Infinity, before);
          for (let i = 0; i < idle; i++) {
            expect(memories.has(pool.acquire().buffer)).toBe(true);
          }
          expect(pool.allocatedCount).toBe(before);
          // The idle list is empty now: the next buffer is new.
          expect(memories.has(pool.acquire().buffer)).toBe(false);
          expect(pool.allocatedCount).toBe(before + 1);
        },
      ),
      { numRuns: Number(process.env['FC_NUM_RUNS'] ?? 200) },
    );
  });
});

describe('ChunkArena', () => {
  it('copies reads back to back into one pool buffer, each copy holding it', () => {
    const pool = new BufferPool(16);
    const arena = new ChunkArena(pool);
    const a = arena.copy(Uint8Array.of(1, 2, 3));
    const b = arena.copy(Uint8Array.of(4, 5));
    expect([...a, ...b]).toEqual([1, 2, 3, 4, 5]);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset).toBe(a.byteOffset + a.length);
    expect(pool.allocatedCount).toBe(1);
    // A read that does not fit starts the next buffer; the first is free once its copies are released.
    const c = arena.copy(new Uint8Array(12).fill(9));
    expect(c.buffer).not.toBe(a.buffer);
    pool.release(a);
    expect(pool.acquire().buffer).not.toBe(a.buffer);
    pool.release(b);
    expect(pool.acquire().buffer).toBe(a.buffer);
  });

  it('the buffer it is filling stays its own until close()', () => {
    const pool = new BufferPool(16);
    const arena = new ChunkArena(pool);
    const a = arena.copy(Uint8Array.of(1));
    pool.release(a);
    expect(pool.acquire().buffer).not.toBe(a.buffer);
    arena.close();
    expect(pool.acquire().buffer).toBe(a.buffer);
  });

  it('a read larger than a pool buffer gets memory of its own, which the pool ignores', () => {
    const pool = new BufferPool(8);
    const arena = new ChunkArena(pool);
    const big = arena.copy(new Uint8Array(20).fill(3));
    expect(big.length).toBe(20);
    expect(pool.allocatedCount).toBe(0);
    expect(() => pool.release(big)).not.toThrow();
  });

  it('onceReleasing releases the frames of a fragment once, however often it is called', () => {
    const pool = new BufferPool(16);
    const arena = new ChunkArena(pool);
    const frames = [{ data: arena.copy(Uint8Array.of(1, 2)) }, { data: arena.copy(Uint8Array.of(3)) }];
    arena.close();
    const release = onceReleasing(pool, frames);
    release();
    release();
    expect(pool.acquire().buffer).toBe(frames[0]!.data.buffer);
  });
});
