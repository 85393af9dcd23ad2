import { describe, expect, it } from 'vitest';
import type { Ack, AckEventType } from '../../src/kvs/ack.js';
import { ErrorId } from '../../src/kvs/ack.js';
import { AckError } from '../../src/kvs/kvs-errors.js';
import { AckTracker, isStreamGoneErrorId } from '../../src/session/ack-tracker.js';
import type { BufferEntry } from '../../src/session/fragment-buffer.js';
import { FragmentBuffer } from '../../src/session/fragment-buffer.js';
import { HEADER, makeFragment } from './session-test-helpers.js';

/** One connection's tracker over a buffer, and the moves a connection makes on it. */
const setup = (isPersistedAckExpected = true) => {
  const buffer = new FragmentBuffer(
    {
      maxBufferBytes: 1_000_000,
      maxBufferDurationMs: 120_000,
      maxReadAheadBytes: 1_000_000,
      onBufferFull: 'block',
      isPersistedAckExpected,
    },
    () => undefined,
  );
  const tracker = new AckTracker(buffer, isPersistedAckExpected, 0);
  /** Sends fragment `sequence` (a continuation part of it, with `isPart`) at monotonic `atMs`. */
  const send = (sequence: number, atMs = 0, isPart = false): BufferEntry => {
    const entry = buffer.add(makeFragment(sequence, isPart ? { isContinuation: true } : {}), HEADER, 0);
    buffer.markSent(entry);
    entry.stats.sentAtMs = atMs;
    entry.sentAtMonotonicMs = atMs;
    tracker.track(entry);
    return entry;
  };
  /** Applies an ack naming `entry` (none: an ack without fragment context) at time `atMs`. */
  const ack = (eventType: AckEventType, entry?: BufferEntry, extra: Partial<Ack> = {}, atMs = 0) => {
    const message: Ack = {
      EventType: eventType,
      ...(entry === undefined ? {} : { FragmentTimecode: entry.fragment.timecode }),
      FragmentNumber: `9134385233${entry?.fragment.sequence ?? 0}`,
      ...extra,
    };
    return tracker.apply(message, tracker.entryFor(message), 1_000_000 + atMs, atMs);
  };
  return { buffer, tracker, send, ack };
};

describe('AckTracker: BUFFERING, RECEIVED, PERSISTED', () => {
  it('with retention: RECEIVED is not final, PERSISTED is, and the fragment leaves the connection', () => {
    const { tracker, send, ack } = setup(true);
    const entry = send(0);
    ack('BUFFERING', entry, {}, 10);
    expect(entry.stats).toMatchObject({
      state: 'buffering',
      bufferingAtMs: 1_000_010,
      fragmentNumber: '91343852330',
    });
    ack('RECEIVED', entry, {}, 20);
    expect(entry.stats).toMatchObject({ state: 'received', receivedAtMs: 1_000_020 });
    expect(tracker.sent).toEqual([entry]);
    expect(tracker.hasUnsettled()).toBe(true);
    ack('PERSISTED', entry, {}, 30);
    expect(entry.stats).toMatchObject({ state: 'persisted', persistedAtMs: 1_000_030 });
    expect(tracker.sent).toEqual([]);
    expect(tracker.hasUnsettled()).toBe(false);
    expect(tracker.lastAckAtMs).toBe(30);
  });

  it('without retention: RECEIVED is final; a later ack no longer finds the fragment', () => {
    const { tracker, send, ack } = setup(false);
    const entry = send(0);
    ack('RECEIVED', entry);
    expect(entry.stats.state).toBe('received');
    expect(tracker.sent).toEqual([]);
    expect(tracker.entryFor({ EventType: 'PERSISTED', FragmentTimecode: entry.fragment.timecode })).toBe(
      undefined,
    );
  });

  it('acks never move a fragment back: BUFFERING after RECEIVED, RECEIVED after PERSISTED', () => {
    const { send, ack } = setup(true);
    const first = send(0);
    const second = send(1);
    ack('RECEIVED', first);
    ack('BUFFERING', first);
    expect(first.stats.state).toBe('received');
    ack('PERSISTED', second);
    ack('RECEIVED', second);
    expect(second.stats.state).toBe('persisted');
  });

  it('acks name the cluster: they reach its continuation parts, which never have acks of their own', () => {
    const { tracker, send, ack } = setup(true);
    const start = send(0);
    const part = send(0, 0, true);
    expect(tracker.holdsClusterOf(part)).toBe(true);
    ack('PERSISTED', start);
    expect(part.stats.state).toBe('persisted');
    expect(tracker.sent).toEqual([]);
  });
});

describe('AckTracker: ERROR acks', () => {
  it('a retriable host-alive ERROR: the service holds what it RECEIVED, the rest is replayed', () => {
    const { tracker, send, ack } = setup(true);
    const received = send(0);
    const inFlight = send(1);
    ack('RECEIVED', received);
    ack('BUFFERING', inFlight);
    const outcome = ack('ERROR', inFlight, { ErrorId: ErrorId.InternalError, ErrorCode: 'INTERNAL_ERROR' });
    expect(outcome).toEqual({ skipped: undefined, streamGone: undefined });
    expect(tracker.isHostAlive).toBe(true);
    expect(tracker.isSettled(received)).toBe(true);
    expect(tracker.isSettled(inFlight)).toBe(false);
    tracker.requeue();
    // Its PERSISTED ack is lost with the connection: the fragment counts as stored, not sent again.
    expect(received.stats.state).toBe('persisted');
    expect(inFlight.stats.state).toBe('queued');
  });

  it('a lost connection (no ERROR): with retention only PERSISTED counts, RECEIVED is sent again', () => {
    const { tracker, send, ack } = setup(true);
    const received = send(0);
    const sent = send(1);
    ack('RECEIVED', received);
    expect(tracker.isHostAlive).toBe(false);
    expect(tracker.isSettled(received)).toBe(false);
    tracker.requeue();
    expect([received.stats.state, sent.stats.state]).toEqual(['queued', 'queued']);
  });

  it('a non-retriable ERROR skips the fragment it names, with its parts, for good', () => {
    const { tracker, send, ack } = setup(true);
    const first = send(0);
    const refused = send(1);
    const part = send(1, 0, true);
    const outcome = ack('ERROR', refused, {
      ErrorId: ErrorId.FragmentTimecodeLesserThanPrevious,
      ErrorCode: 'FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS',
    });
    const reason = new AckError(
      ErrorId.FragmentTimecodeLesserThanPrevious,
      refused.fragment.timecode,
      'FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS',
    ).message;
    expect(outcome).toEqual({
      skipped: { entry: refused, errorId: ErrorId.FragmentTimecodeLesserThanPrevious, reason },
      streamGone: undefined,
    });
    expect(refused.stats).toMatchObject({
      state: 'skipped',
      skipErrorId: ErrorId.FragmentTimecodeLesserThanPrevious,
      skipReason: reason,
    });
    expect(part.stats.state).toBe('skipped');
    expect(first.stats.state).toBe('sent');
    tracker.requeue();
    expect(refused.stats.state).toBe('skipped');
  });

  it('an ERROR without fragment context is about the fragment being sent: the first not yet received', () => {
    const { send, ack } = setup(true);
    const received = send(0);
    const sending = send(1);
    ack('RECEIVED', received);
    const outcome = ack('ERROR', undefined, { ErrorId: ErrorId.MaxFragmentDurationReached });
    expect(outcome?.skipped?.entry).toBe(sending);
    expect(received.stats.state).toBe('received');
  });

  it('STREAM_NOT_ACTIVE and STREAM_DELETED end the session: nothing later can succeed', () => {
    for (const errorId of [ErrorId.StreamNotActive, ErrorId.StreamDeleted]) {
      const { tracker, send, ack } = setup(true);
      const entry = send(0);
      const outcome = ack('ERROR', entry, { ErrorId: errorId });
      expect(outcome?.streamGone).toBeInstanceOf(AckError);
      expect(outcome?.streamGone?.errorId).toBe(errorId);
      expect(tracker.isHostAlive).toBe(true);
      expect(isStreamGoneErrorId(errorId)).toBe(true);
    }
    expect(isStreamGoneErrorId(ErrorId.InternalError)).toBe(false);
  });
});

describe('AckTracker: staleness', () => {
  it('stale once silent for longer than stalenessMs while a fragment sent as long ago has no ack', () => {
    const { tracker, send, ack } = setup(true);
    expect(tracker.staleForMs(10_000, 5000)).toBeUndefined();
    send(0, 1000);
    expect(tracker.staleForMs(6000, 5000)).toBeUndefined();
    expect(tracker.staleForMs(6001, 5000)).toBe(6001);
    // Any ack is a sign of life.
    ack('IDLE', undefined, {}, 6001);
    expect(tracker.staleForMs(11_001, 5000)).toBeUndefined();
    expect(tracker.staleForMs(11_002, 5000)).toBe(5001);
  });

  it('a fragment the service acknowledged as arriving (BUFFERING) does not make the connection stale', () => {
    const { tracker, send, ack } = setup(true);
    const entry = send(0, 0);
    ack('BUFFERING', entry, {}, 0);
    expect(tracker.staleForMs(60_000, 5000)).toBeUndefined();
  });
});
