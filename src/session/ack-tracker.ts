/**
 * The acks of one PutMedia connection (kvs-api.md §6.2–6.3, producer-sdk.md §2.4): which fragments went out
 * on it, what BUFFERING, RECEIVED, PERSISTED and ERROR acks did to them, and what goes back to the queue
 * once the connection ends.
 */
import type { Ack } from '../kvs/ack.js';
import { AckEventType, ErrorId, errorIdInfo } from '../kvs/ack.js';
import { AckError } from '../kvs/kvs-errors.js';
import type { BufferEntry, FragmentBuffer } from './fragment-buffer.js';

/** What an ERROR ack did beyond the connection's state. */
export type ErrorAckOutcome = {
  /** The fragment it refused for good (a non-retriable ErrorId): skipped, never resent. */
  skipped: { entry: BufferEntry; errorId: number; reason: string } | undefined;
  /** The stream is gone or inactive: nothing later can succeed, the connection and the session must end. */
  streamGone: AckError | undefined;
};

/** ErrorIds after which no fragment of the stream can be stored, on any connection. */
export const isStreamGoneErrorId = (errorId: number): boolean =>
  errorId === ErrorId.StreamNotActive || errorId === ErrorId.StreamDeleted;

/**
 * What one connection sent and heard back. Acks name a fragment by its Cluster timecode, so only the
 * connection that sent it can apply them; a new connection starts with an empty tracker.
 */
export class AckTracker {
  /** Fragments (parts) sent on this connection and not final yet, in the order they went out. */
  public readonly sent: BufferEntry[] = [];
  /** Whether a session header went out (the end marker needs one before it). */
  public hasSent = false;
  /** When the last ack (of any kind) came, on the monotonic clock. */
  public lastAckAtMs: number;
  /** The service reported an error it survived (ERROR ack with a host-alive ErrorId). */
  public isHostAlive = false;
  private readonly buffer: FragmentBuffer;
  private readonly isPersistedAckExpected: boolean;
  /** The start entries of `sent`, by the timecode their acks carry. */
  private readonly byTimecode = new Map<number, BufferEntry>();

  /** `openedAtMs` (monotonic) counts as the last ack until one comes. */
  public constructor(buffer: FragmentBuffer, isPersistedAckExpected: boolean, openedAtMs: number) {
    this.buffer = buffer;
    this.isPersistedAckExpected = isPersistedAckExpected;
    this.lastAckAtMs = openedAtMs;
  }

  /** Records a fragment (part) written to this connection. */
  public track(entry: BufferEntry): void {
    if (!entry.fragment.isContinuation) {
      // Acks name the cluster by its timecode: they belong to the start entry.
      this.byTimecode.set(entry.fragment.timecode, entry);
    }
    this.sent.push(entry);
    this.hasSent = true;
  }

  /** Whether a continuation part's cluster opened on this connection: only then can the part follow it. */
  public holdsClusterOf(part: BufferEntry): boolean {
    return part.start !== undefined && this.byTimecode.has(part.start.fragment.timecode);
  }

  /** The fragment an ack names, if it went out on this connection and is not final yet. */
  public entryFor(ack: Ack): BufferEntry | undefined {
    return ack.FragmentTimecode === undefined ? undefined : this.byTimecode.get(ack.FragmentTimecode);
  }

  /**
   * Applies an ack to the fragment it names (`entry`, from {@link entryFor}); `nowMs` is epoch time for the
   * stats, `monotonicMs` the staleness clock. Returns what an ERROR ack did, undefined for the others.
   */
  public apply(
    ack: Ack,
    entry: BufferEntry | undefined,
    nowMs: number,
    monotonicMs: number,
  ): ErrorAckOutcome | undefined {
    this.lastAckAtMs = monotonicMs;
    let outcome: ErrorAckOutcome | undefined;
    switch (ack.EventType) {
      case AckEventType.Buffering:
        if (entry !== undefined && entry.stats.state === 'sent') {
          this.buffer.setState(entry, 'buffering');
          entry.stats.bufferingAtMs = nowMs;
          if (ack.FragmentNumber !== undefined) {
            entry.stats.fragmentNumber = ack.FragmentNumber;
          }
        }
        break;
      case AckEventType.Received:
        if (entry !== undefined && entry.stats.state !== 'persisted' && entry.stats.state !== 'skipped') {
          this.buffer.setState(entry, 'received');
          entry.stats.receivedAtMs = nowMs;
          entry.stats.fragmentNumber ??= ack.FragmentNumber;
        }
        break;
      case AckEventType.Persisted:
        if (entry !== undefined && entry.stats.state !== 'skipped') {
          this.buffer.setState(entry, 'persisted');
          entry.stats.persistedAtMs = nowMs;
          entry.stats.fragmentNumber ??= ack.FragmentNumber;
        }
        break;
      case AckEventType.Error:
        outcome = this.applyError(ack, entry);
        break;
      case AckEventType.Idle:
        break;
    }
    this.forgetSettled();
    return outcome;
  }

  /** A fragment sent on this connection needs nothing more from it. */
  public isSettled(entry: BufferEntry): boolean {
    return (
      this.buffer.isDone(entry) ||
      entry.stats.state === 'queued' ||
      (this.isHostAlive && entry.stats.state === 'received')
    );
  }

  /** Whether a fragment (part) sent on this connection still waits for an ack from it. */
  public hasUnsettled(): boolean {
    return this.sent.some((entry) => !this.isSettled(entry));
  }

  /** How many fragments (parts) sent on this connection still wait for an ack from it. */
  public unsettledCount(): number {
    let count = 0;
    for (const entry of this.sent) {
      if (!this.isSettled(entry)) {
        count++;
      }
    }
    return count;
  }

  /**
   * How long the connection has been silent, when that is longer than `stalenessMs` while a fragment sent
   * longer ago than that still has no ack; else undefined. `nowMs` is monotonic.
   */
  public staleForMs(nowMs: number, stalenessMs: number): number | undefined {
    const silentMs = nowMs - this.lastAckAtMs;
    if (silentMs <= stalenessMs) {
      return undefined;
    }
    const isWaiting = this.sent.some(
      (entry) =>
        !entry.fragment.isContinuation &&
        entry.stats.state === 'sent' &&
        entry.sentAtMonotonicMs !== undefined &&
        nowMs - entry.sentAtMonotonicMs > stalenessMs,
    );
    return isWaiting ? silentMs : undefined;
  }

  /**
   * After the connection ended: fragments it did not settle go back to the queue. When the service was alive
   * it holds what it RECEIVED; when the connection was lost, only PERSISTED counts and the rest is replayed.
   */
  public requeue(): void {
    this.buffer.rewind();
    for (const entry of this.sent) {
      const state = entry.stats.state;
      if (state === 'sent' || state === 'buffering') {
        entry.stats.state = 'queued';
      } else if (state === 'received' && this.isPersistedAckExpected) {
        // With a live host the service holds it and only its PERSISTED ack is lost: count it as stored.
        entry.stats.state = this.isHostAlive ? 'persisted' : 'queued';
      }
    }
    this.buffer.prune();
    this.buffer.changed.notify();
  }

  private applyError(ack: Ack, entry: BufferEntry | undefined): ErrorAckOutcome {
    const errorId = ack.ErrorId ?? 0;
    const info = errorIdInfo(errorId);
    this.isHostAlive = info.isHostAlive;
    // Without fragment context the error is about the fragment being sent: the last one not yet received.
    const target =
      entry ??
      this.sent.find(
        (candidate) =>
          !candidate.fragment.isContinuation &&
          (candidate.stats.state === 'sent' || candidate.stats.state === 'buffering'),
      );
    let skipped: ErrorAckOutcome['skipped'];
    if (!info.isRetriable && target !== undefined) {
      const reason = new AckError(errorId, target.fragment.timecode, ack.ErrorCode).message;
      this.buffer.setState(target, 'skipped');
      target.stats.skipErrorId = errorId;
      target.stats.skipReason = reason;
      skipped = { entry: target, errorId, reason };
    }
    return {
      skipped,
      streamGone: isStreamGoneErrorId(errorId)
        ? new AckError(errorId, ack.FragmentTimecode, ack.ErrorCode)
        : undefined,
    };
  }

  /**
   * Forgets the fragments this connection no longer needs to hear about, from the front: a long session
   * must not keep every fragment it ever sent (their payloads pin the input's memory).
   */
  private forgetSettled(): void {
    const sent = this.sent;
    let count = 0;
    while (count < sent.length && this.buffer.isDone(sent[count]!)) {
      this.byTimecode.delete(sent[count]!.fragment.timecode);
      count++;
    }
    if (count > 0) {
      sent.splice(0, count);
    }
  }
}
