/**
 * The session's bounded buffer (house style §6.3): every fragment the source yielded that the service does
 * not hold yet, in source order, with its state. It decouples capture from upload — a full buffer drops the
 * oldest unsent fragment (live) or makes the source wait (files) — and keeps sent fragments until their
 * final ack, since a retry replays from the first one the service does not hold.
 */
import type { Fragment, SessionHeader } from '../fragment/fragmenter.js';
import { Notifier } from '../util/notifier.js';
import type { FragmentState, FragmentStats } from './session-stats.js';
import { isFinalState, newFragmentStats } from './session-stats.js';

/** What a full buffer does: make the source wait (files), or drop the oldest unsent fragment (live). */
export type BufferPolicy = 'block' | 'drop-oldest';

/**
 * One fragment in the buffer. A live fragment sent as it grows is a start entry (its Cluster header) plus
 * continuation entries (its later frames): they share the start's fate, since acks name only the cluster.
 */
export type BufferEntry = {
  readonly fragment: Fragment;
  /**
   * The header the fragment goes under: a connection begins with its first fragment's, and a fragment under
   * another one needs a new connection (see SessionConnection.stream).
   */
  readonly header: SessionHeader;
  stats: FragmentStats;
  /** A start entry's continuation parts. */
  parts: BufferEntry[] | undefined;
  /** A continuation part's start entry. */
  start: BufferEntry | undefined;
  /** Writes of its bytes a socket still holds; its memory is released only when none is left. */
  unflushedWrites: number;
  /** Left the buffer (final state, or dropped). */
  isRemoved: boolean;
  /** When it last went out, on the monotonic clock (staleness is measured from it). */
  sentAtMonotonicMs: number | undefined;
};

export type FragmentBufferConfig = {
  /** Bytes of fragments held (unsent + unacknowledged). */
  readonly maxBufferBytes: number;
  /** Media duration held. */
  readonly maxBufferDurationMs: number;
  /** With `block`, the source also waits while this many bytes are queued unsent. */
  readonly maxReadAheadBytes: number;
  readonly onBufferFull: BufferPolicy;
  readonly isPersistedAckExpected: boolean;
};

/** Hands a fragment's memory back to its source once it left the buffer and no socket holds its bytes. */
export const releaseIfUnused = (entry: BufferEntry): void => {
  if (entry.isRemoved && entry.unflushedWrites === 0) {
    entry.fragment.release?.();
  }
};

const remove = (entry: BufferEntry): void => {
  entry.isRemoved = true;
  releaseIfUnused(entry);
};

/** The fragments in source order, the policy that bounds them, and where the next one to send is. */
export class FragmentBuffer {
  /** Wakes whoever waits for the buffer to change: the sender, the source, the final-ack wait. */
  public readonly changed = new Notifier();
  private readonly config: FragmentBufferConfig;
  private readonly onDrop: (entry: BufferEntry) => void;
  private readonly entries: BufferEntry[] = [];
  private bufferedBytes = 0;
  /**
   * No entry before this index is queued: the search for the next one to send starts here. A live
   * fragment's 60 parts wait in `entries` for their acks, and the search runs for every frame.
   */
  private unsentFrom = 0;
  /** The latest start entry, which continuation parts attach to. */
  private lastStart: BufferEntry | undefined;
  private isSourceDone = false;

  /** `onDrop` is told of each fragment the `drop-oldest` policy drops (its state is `skipped` by then). */
  public constructor(config: FragmentBufferConfig, onDrop: (entry: BufferEntry) => void) {
    this.config = config;
    this.onDrop = onDrop;
  }

  /**
   * Puts a fragment from the source at the end of the buffer, under the session header the source gave
   * last. A continuation part joins its cluster's stats; any other entry is a fragment of its own
   * (`entry.start` undefined), whose stats the caller counts.
   */
  public add(fragment: Fragment, header: SessionHeader, queuedAtMs: number): BufferEntry {
    const entry: BufferEntry = {
      fragment,
      header,
      stats: newFragmentStats(fragment, queuedAtMs),
      parts: undefined,
      start: undefined,
      unflushedWrites: 0,
      isRemoved: false,
      sentAtMonotonicMs: undefined,
    };
    const start = this.lastStart;
    if (fragment.isContinuation && start !== undefined) {
      entry.start = start;
      (start.parts ??= []).push(entry);
      if (start.stats.state === 'skipped') {
        entry.stats.state = 'skipped';
      }
      start.stats.frames += entry.stats.frames;
      start.stats.bytes += entry.stats.bytes;
    } else {
      this.lastStart = entry;
    }
    this.entries.push(entry);
    this.bufferedBytes += fragment.byteLength;
    this.changed.notify();
    return entry;
  }

  /**
   * Applies the buffer-full policy after {@link add}: `drop-oldest` drops at once (a live capture cannot
   * wait); `block` returns a wait for room, undefined when there is room already (no turn of the loop).
   */
  public makeRoom(isStopping: () => boolean): Promise<void> | undefined {
    if (this.config.onBufferFull === 'drop-oldest') {
      while (this.isOverfull() && !this.isFinished()) {
        if (!this.dropOldestUnsent()) {
          break;
        }
      }
      return undefined;
    }
    return this.isWaitingForRoom(isStopping) ? this.waitForRoom(isStopping) : undefined;
  }

  /** The source is over: no fragment will be added. */
  public endSource(): void {
    this.isSourceDone = true;
    this.changed.notify();
  }

  /** Every fragment the source will yield is in, and each reached a final state. */
  public isFinished(): boolean {
    return this.isSourceDone && this.entries.every((entry) => this.isDone(entry));
  }

  public get hasSourceEnded(): boolean {
    return this.isSourceDone;
  }

  public isDone(entry: BufferEntry): boolean {
    return isFinalState(entry.stats.state, this.config.isPersistedAckExpected);
  }

  /**
   * A fragment's state, and that of its continuation parts: BUFFERING only reaches the parts already sent
   * (the rest still has to go); a final state reaches them all.
   */
  public setState(entry: BufferEntry, state: FragmentState): void {
    entry.stats.state = state;
    for (const part of entry.parts ?? []) {
      if (state !== 'buffering' || part.stats.state === 'sent') {
        part.stats.state = state;
      }
    }
  }

  /** Marks a fragment as going out now (again, after a failed connection: counted as a retry). */
  public markSent(entry: BufferEntry): void {
    const stats = entry.stats;
    if (stats.sentAtMs !== undefined) {
      stats.retries++;
    }
    stats.state = 'sent';
    // A source waiting for the queue to shrink (see maxReadAheadBytes) may go on.
    this.changed.notify();
  }

  /** The oldest queued fragment (part), if any. */
  public firstUnsent(): BufferEntry | undefined {
    for (let i = this.unsentFrom; i < this.entries.length; i++) {
      const entry = this.entries[i]!;
      if (entry.stats.state === 'queued') {
        this.unsentFrom = i;
        return entry;
      }
    }
    this.unsentFrom = this.entries.length;
    return undefined;
  }

  /** Some fragments went back to the queue: the search for the next one to send starts over. */
  public rewind(): void {
    this.unsentFrom = 0;
  }

  /** Fragments sent but not settled (awaiting acks). */
  public hasInFlight(): boolean {
    return this.entries.some((entry) => entry.stats.state === 'sent' || entry.stats.state === 'buffering');
  }

  /** Frees fragments that reached a final state, from the front (their order matters for resume). */
  public prune(): void {
    let count = 0;
    while (count < this.entries.length && this.isDone(this.entries[count]!)) {
      this.bufferedBytes -= this.entries[count]!.fragment.byteLength;
      remove(this.entries[count]!);
      count++;
    }
    if (count > 0) {
      this.entries.splice(0, count);
      this.unsentFrom = Math.max(0, this.unsentFrom - count);
      this.changed.notify();
    }
  }

  /** Bytes of fragments held (unsent + unacknowledged): what `maxBufferBytes` bounds. */
  public get heldBytes(): number {
    return this.bufferedBytes;
  }

  /** Bytes of fragments not sent yet. */
  public unsentBytes(): number {
    let bytes = 0;
    for (let i = this.unsentFrom; i < this.entries.length; i++) {
      const entry = this.entries[i]!;
      if (entry.stats.state === 'queued') {
        bytes += entry.fragment.byteLength;
      }
    }
    return bytes;
  }

  /** Whether the buffer holds more than its bytes or duration allow (a single entry never is). */
  public isOverfull(): boolean {
    this.prune();
    if (this.entries.length <= 1) {
      return false;
    }
    const first = this.entries[0]!.fragment;
    const last = this.entries.at(-1)!.fragment;
    const durationMs = last.producerTimestampMs + last.durationMs - first.producerTimestampMs;
    return this.bufferedBytes > this.config.maxBufferBytes || durationMs > this.config.maxBufferDurationMs;
  }

  /** Drops the oldest unsent complete fragment (with its parts); never the one still growing. */
  private dropOldestUnsent(): boolean {
    const index = this.entries.findIndex(
      (entry) =>
        !entry.fragment.isContinuation &&
        entry !== this.lastStart &&
        entry.stats.state === 'queued' &&
        entry.stats.retries === 0,
    );
    // Never drop the newest fragment: it is the one that just arrived.
    if (index < 0 || index === this.entries.length - 1) {
      return false;
    }
    const entry = this.entries[index]!;
    const parts = new Set(entry.parts ?? []);
    for (let i = this.entries.length - 1; i >= index; i--) {
      const candidate = this.entries[i]!;
      if (candidate === entry || parts.has(candidate)) {
        this.bufferedBytes -= candidate.fragment.byteLength;
        this.entries.splice(i, 1);
        remove(candidate);
        this.unsentFrom = Math.min(this.unsentFrom, i);
      }
    }
    this.setState(entry, 'skipped');
    entry.stats.skipReason = 'dropped: buffer full';
    this.onDrop(entry);
    return true;
  }

  /**
   * A file waits while the buffer is full, or while enough is queued to keep the socket busy (reading
   * further ahead would only cost memory).
   */
  private isWaitingForRoom(isStopping: () => boolean): boolean {
    return (
      (this.isOverfull() || this.unsentBytes() > this.config.maxReadAheadBytes) &&
      !this.isFinished() &&
      !isStopping()
    );
  }

  private async waitForRoom(isStopping: () => boolean): Promise<void> {
    while (this.isWaitingForRoom(isStopping)) {
      await this.changed.wait();
    }
  }
}
