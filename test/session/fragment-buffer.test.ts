import { describe, expect, it } from 'vitest';
import type { Fragment } from '../../src/fragment/fragmenter.js';
import type { BufferEntry, FragmentBufferConfig } from '../../src/session/fragment-buffer.js';
import { FragmentBuffer, releaseIfUnused } from '../../src/session/fragment-buffer.js';
import { HEADER, makeFragment } from './session-test-helpers.js';

/** A buffer of 100-byte fragments, with what it drops and releases recorded. */
const setup = (overrides: Partial<FragmentBufferConfig> = {}) => {
  const dropped: BufferEntry[] = [];
  const released: string[] = [];
  const buffer = new FragmentBuffer(
    {
      maxBufferBytes: 1_000_000,
      maxBufferDurationMs: 120_000,
      maxReadAheadBytes: 1_000_000,
      onBufferFull: 'drop-oldest',
      isPersistedAckExpected: true,
      ...overrides,
    },
    (entry) => dropped.push(entry),
  );
  /** Adds fragment `sequence` (or, with `part`, a continuation part of it) and applies the policy. */
  const add = (sequence: number, part?: number, extra: Partial<Fragment> = {}): BufferEntry => {
    const name = part === undefined ? `${sequence}` : `${sequence}.${part}`;
    const entry = buffer.add(
      makeFragment(sequence, {
        byteLength: 100,
        ...(part === undefined ? {} : { isContinuation: true }),
        release: () => released.push(name),
        ...extra,
      }),
      HEADER,
      0,
    );
    if (overrides.onBufferFull !== 'block') {
      // drop-oldest acts at once; a `block` wait is the test's to observe.
      void buffer.makeRoom(() => false);
    }
    return entry;
  };
  return { buffer, dropped, released, add };
};

/** Whether a promise settled within a few turns of the event loop. */
const isSettled = async (promise: Promise<unknown> | undefined): Promise<boolean> => {
  let settled = promise === undefined;
  void promise?.then(() => (settled = true));
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  return settled;
};

describe('FragmentBuffer: drop-oldest', () => {
  it('drops the oldest unsent fragment once over maxBufferBytes, and releases its memory', () => {
    const { buffer, dropped, released, add } = setup({ maxBufferBytes: 250 });
    add(0);
    add(1);
    expect(dropped).toEqual([]);
    add(2);
    expect(dropped.map((entry) => entry.fragment.sequence)).toEqual([0]);
    expect(dropped[0]!.stats).toMatchObject({ state: 'skipped', skipReason: 'dropped: buffer full' });
    expect(released).toEqual(['0']);
    expect(buffer.firstUnsent()?.fragment.sequence).toBe(1);
  });

  it('drops by media duration too (maxBufferDurationMs)', () => {
    const { dropped, add } = setup({ maxBufferDurationMs: 1000 });
    // 400 ms fragments: three span 1200 ms.
    add(0);
    add(1);
    add(2);
    expect(dropped.map((entry) => entry.fragment.sequence)).toEqual([0]);
  });

  it('never drops the fragment still growing: its parts keep coming, and it goes whole once complete', () => {
    const { dropped, released, add } = setup({ maxBufferBytes: 250 });
    add(0);
    add(0, 1);
    add(0, 2);
    add(0, 3);
    // 400 bytes, over the limit, but all of it is the fragment the source is still writing.
    expect(dropped).toEqual([]);
    add(1);
    expect(dropped.map((entry) => entry.fragment.sequence)).toEqual([0]);
    expect(released).toEqual(['0.3', '0.2', '0.1', '0']);
  });

  it('never drops a fragment in flight; one queued again after a broken connection may go', () => {
    const { buffer, dropped, add } = setup({ maxBufferBytes: 350 });
    const inFlight = add(0);
    buffer.markSent(inFlight);
    const requeued = add(1);
    buffer.markSent(requeued);
    requeued.stats.sentAtMs = 0;
    requeued.stats.state = 'queued';
    add(2);
    add(3);
    expect(dropped.map((entry) => entry.fragment.sequence)).toEqual([1]);
    // The session reports it as possibly stored (`wasSent`): it went out before.
    expect(dropped[0]!.stats.sentAtMs).toBeDefined();
    expect(inFlight.stats.state).toBe('sent');
  });
});

describe('FragmentBuffer: block', () => {
  it('makes the source wait while the buffer is full, until acknowledged fragments leave it', async () => {
    const { buffer, add } = setup({ onBufferFull: 'block', maxBufferBytes: 150 });
    const first = add(0);
    add(1);
    const room = buffer.makeRoom(() => false);
    expect(room).toBeInstanceOf(Promise);
    buffer.markSent(first);
    expect(await isSettled(room)).toBe(false);
    buffer.setState(first, 'persisted');
    buffer.prune();
    expect(await isSettled(room)).toBe(true);
  });

  it('read-ahead: waits while more than maxReadAheadBytes are queued unsent, and goes on as they are sent', async () => {
    const { buffer, add } = setup({ onBufferFull: 'block', maxReadAheadBytes: 150 });
    const first = add(0);
    expect(buffer.makeRoom(() => false)).toBeUndefined();
    add(1);
    const room = buffer.makeRoom(() => false);
    expect(await isSettled(room)).toBe(false);
    buffer.markSent(first);
    expect(await isSettled(room)).toBe(true);
  });

  it('a stopping session never makes the source wait', () => {
    const { buffer, add } = setup({ onBufferFull: 'block', maxBufferBytes: 150 });
    add(0);
    add(1);
    expect(buffer.makeRoom(() => true)).toBeUndefined();
    expect(buffer.makeRoom(() => false)).toBeInstanceOf(Promise);
  });
});

describe('FragmentBuffer: entries', () => {
  it("continuation parts count in their cluster's stats and share its fate", () => {
    const { buffer, add } = setup();
    const start = add(0);
    const sentPart = add(0, 1);
    const queuedPart = add(0, 2);
    expect(start.stats).toMatchObject({ frames: 30, bytes: 300 });
    expect(sentPart.start).toBe(start);
    buffer.markSent(start);
    buffer.markSent(sentPart);
    // BUFFERING reaches only the parts already sent; a final state reaches them all.
    buffer.setState(start, 'buffering');
    expect([start, sentPart, queuedPart].map((entry) => entry.stats.state)).toEqual([
      'buffering',
      'buffering',
      'queued',
    ]);
    buffer.setState(start, 'skipped');
    expect([start, sentPart, queuedPart].map((entry) => entry.stats.state)).toEqual([
      'skipped',
      'skipped',
      'skipped',
    ]);
    // A part arriving after its cluster was refused is refused with it.
    expect(add(0, 3).stats.state).toBe('skipped');
  });

  it("a fragment's memory is released once it left the buffer and no socket holds its bytes", () => {
    const { buffer, released, add } = setup();
    const entry = add(0);
    buffer.markSent(entry);
    entry.unflushedWrites++;
    buffer.setState(entry, 'persisted');
    buffer.prune();
    expect(entry.isRemoved).toBe(true);
    expect(released).toEqual([]);
    entry.unflushedWrites--;
    releaseIfUnused(entry);
    expect(released).toEqual(['0']);
  });

  it('prunes only from the front: resume order is kept', () => {
    const { buffer, released, add } = setup();
    const first = add(0);
    const second = add(1);
    buffer.markSent(first);
    buffer.markSent(second);
    buffer.setState(second, 'persisted');
    buffer.prune();
    expect(released).toEqual([]);
    buffer.setState(first, 'persisted');
    buffer.prune();
    expect(released).toEqual(['0', '1']);
  });

  it('a fragment put back in the queue is found again after rewind(); sending it again counts a retry', () => {
    const { buffer, add } = setup();
    const first = add(0);
    add(1);
    buffer.markSent(first);
    first.stats.sentAtMs = 0;
    expect(buffer.firstUnsent()?.fragment.sequence).toBe(1);
    first.stats.state = 'queued';
    buffer.rewind();
    expect(buffer.firstUnsent()).toBe(first);
    buffer.markSent(first);
    expect(first.stats.retries).toBe(1);
  });

  it('is finished once the source ended and every fragment reached a final state', () => {
    const { buffer, add } = setup({ isPersistedAckExpected: false });
    const entry = add(0);
    buffer.markSent(entry);
    expect(buffer.hasInFlight()).toBe(true);
    buffer.setState(entry, 'received');
    expect(buffer.isFinished()).toBe(false);
    buffer.endSource();
    expect(buffer.isFinished()).toBe(true);
    expect(buffer.hasInFlight()).toBe(false);
  });
});
