/**
 * The PutMedia session logic (producer-sdk.md §2–3): a bounded buffer of fragments with per-fragment state,
 * one live connection at a time (plus a draining one during rotation), ErrorId-aware retry that resumes at
 * the first fragment the service does not hold, staleness detection, make-before-break rotation, and a
 * bounded wait for the last acks at the end.
 */
import { LatencySamples, percentilesOf } from '../util/latency-samples.js';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { ErrorCode, KvsPutError } from '../errors.js';
import type { Fragment, TimecodeMode } from '../fragment/fragmenter.js';
import { SessionWriter } from '../fragment/session-writer.js';
import { END_OF_FRAGMENT_BYTES } from '../mkv/mkv-writer.js';
import { Notifier } from '../util/notifier.js';
import { toError } from '../util/to-error.js';
import type { Ack } from './ack.js';
import { AckEventType, errorIdInfo } from './ack.js';
import { AckError, PutMediaHttpError } from './kvs-errors.js';
import { PutMediaConnection } from './put-media-connection.js';
import type { BackoffPolicy } from '../util/backoff.js';
import { DEFAULT_BACKOFF } from './retry-policy.js';
import { backoffDelayMs } from '../util/backoff.js';
import { sleep, systemClock } from '../util/clock.js';

export type FragmentState = 'queued' | 'sent' | 'buffering' | 'received' | 'persisted' | 'skipped';

/** Per-fragment timings and outcome, in the style of hls.js LoadStats. Times are epoch ms. */
export type FragmentStats = {
  sequence: number;
  timecode: number;
  bytes: number;
  frames: number;
  state: FragmentState;
  queuedAtMs: number;
  sentAtMs?: number;
  bufferingAtMs?: number;
  receivedAtMs?: number;
  persistedAtMs?: number;
  fragmentNumber?: string;
  /** Times the fragment was sent again after a failed connection. */
  retries: number;
  skipErrorId?: number;
  skipReason?: string;
};

export type UploadEvent =
  | { type: 'connect'; connection: number; endpoint: string; resumeSequence: number; requestId?: string }
  | { type: 'ack'; connection: number; ack: Ack; sequence?: number }
  | { type: 'retry'; attempt: number; delayMs: number; reason: string; fatal: false }
  | {
      type: 'skip';
      sequence: number;
      timecode: number;
      producerTimestampMs: number;
      errorId: number;
      reason: string;
    }
  | {
      type: 'drop';
      sequence: number;
      timecode: number;
      reason: string;
      /**
       * It went out on a connection that broke before its ack came: the service may have stored it. A
       * dropped fragment that was never sent is certainly lost.
       */
      wasSent: boolean;
    }
  | { type: 'rotate'; connection: number; reason: string }
  | { type: 'stale'; connection: number; silentMs: number };

export type BufferPolicy = 'block' | 'drop-oldest';

export type UploadOptions = {
  streamName?: string;
  streamArn?: string;
  region: string;
  /** Resolved again for every new connection: long sessions outlive STS credentials. */
  credentials: AwsCredentialIdentityProvider;
  /** The PUT_MEDIA data endpoint (the caller caches it). */
  endpoint: () => Promise<string>;
  /** Called when a connection failed in a way that may mean a stale endpoint. */
  onEndpointFailure?: () => void;
  /** @default 'absolute' */
  timecodeMode?: TimecodeMode;
  /** x-amzn-producer-start-timestamp; with RELATIVE timecodes, cluster timecodes count from it. */
  producerStartTimestampMs: number;
  /** Wait for PERSISTED acks (stream retention > 0); else RECEIVED is final. */
  isPersistedAckExpected: boolean;
  /** Bytes of fragments held (unsent + unacknowledged). @default 64 MiB */
  maxBufferBytes?: number;
  /** Media duration held. @default 120 000 */
  maxBufferDurationMs?: number;
  /** Per-fragment stats kept in full before the oldest settled ones are folded into totals. @default 4096 */
  maxKeptStats?: number;
  /** With `block`, the source also waits while this many bytes are queued unsent. @default 4 MiB */
  maxReadAheadBytes?: number;
  /**
   * Open the first connection at once rather than when the first fragment is ready: a live source's first
   * frames then find it open instead of queueing behind its set-up. @default false
   */
  connectBeforeData?: boolean;
  /** `block` for files (reading waits), `drop-oldest` for live sources. @default 'block' */
  onBufferFull?: BufferPolicy;
  backoff?: BackoffPolicy;
  /** Consecutive failed connections (without an ack in between) before giving up. @default 8 */
  maxAttempts?: number;
  /** No ack for this long while fragments are in flight → reconnect. @default 20 000 */
  stalenessMs?: number;
  /** Start a new connection (make-before-break) after this long. @default 40 min */
  rotateAfterMs?: number;
  /** Rotate this long before the credentials expire. @default 60 000 */
  credentialsRefreshMarginMs?: number;
  /** Bound on the wait for the last acks once everything is sent. @default 30 000 */
  finalAckTimeoutMs?: number;
  /** After an interruption (signal), the bound on the wait for the acks of what was sent. @default 10 000 */
  stopTimeoutMs?: number;
  /** Upload pacing (per-stream limits); undefined or 0 = unpaced. */
  maxBytesPerSecond?: number;
  maxFragmentsPerSecond?: number;
  userAgent?: string;
  onEvent?: (event: UploadEvent) => void;
  /** Every batch of bytes written to a connection (for --dump-dir and progress). */
  onWrite?: (connection: number, chunks: readonly Uint8Array[]) => void;
  /**
   * Interrupts the upload: no more reconnects, and the wait for the last acks is bounded by stopTimeoutMs.
   * With `onAbort: 'drop-unsent'` (the default) fragments not yet sent are abandoned.
   */
  signal?: AbortSignal;
  /** @default 'drop-unsent' */
  onAbort?: 'drop-unsent' | 'flush';
};

export type UploadSummary = {
  fragments: number;
  /** Frames in the fragments that reached a final ack. */
  framesStored: number;
  persisted: number;
  /** RECEIVED but no PERSISTED seen (retention 0, or the connection ended after RECEIVED). */
  received: number;
  skipped: FragmentStats[];
  dropped: number;
  unacknowledged: number;
  connections: number;
  retries: number;
  bytesSent: number;
  isInterrupted: boolean;
  /** Milliseconds from sending a fragment's last byte to its final ack. */
  ackLatencyMs: { p50: number; p99: number } | undefined;
  /** Milliseconds from a frame's bytes leaving the source (ffmpeg) to their hand-over to the socket. */
  sourceToSocketMs: { p50: number; p99: number } | undefined;
  /** … to the socket having written their last byte to the kernel (a big key frame waits for the peer). */
  sourceToKernelMs: { p50: number; p99: number } | undefined;
  /** Per-fragment stats: every fragment of a short session, the latest ones of a long one (maxKeptStats). */
  stats: FragmentStats[];
  /** The source failed (e.g. corrupt media) after yielding what it could: everything before was uploaded. */
  sourceError: Error | undefined;
};

/**
 * {@link UploadSession.interval}: the summary's counters so far (skipped as a count), with the latencies of
 * the interval only.
 */
export type UploadInterval = Omit<UploadSummary, 'stats' | 'skipped' | 'sourceError'> & {
  skipped: number;
  /** Milliseconds since the previous interval (or the session's start). */
  intervalMs: number;
};

/**
 * One fragment in the buffer. A live fragment sent as it grows is a start entry (its Cluster header) plus
 * continuation entries (its later frames): they share the start's fate, since acks name only the cluster.
 */
type Entry = {
  fragment: Fragment;
  stats: FragmentStats;
  /** A start entry's continuation parts. */
  parts: Entry[] | undefined;
  /** A continuation part's start entry. */
  start: Entry | undefined;
  /** Writes of its bytes a socket still holds; its memory is released only when none is left. */
  unflushedWrites: number;
  /** Left the buffer (final state, or dropped). */
  isRemoved: boolean;
};

/** Hands a fragment's memory back to its source once it left the buffer and no socket holds its bytes. */
const releaseIfUnused = (entry: Entry): void => {
  if (entry.isRemoved && entry.unflushedWrites === 0) {
    entry.fragment.release?.();
  }
};

const remove = (entry: Entry): void => {
  entry.isRemoved = true;
  releaseIfUnused(entry);
};

type Connection = {
  id: number;
  conn: PutMediaConnection;
  /** Fragments sent on this connection and not final yet, by the timecode their acks carry. */
  byTimecode: Map<number, Entry>;
  /** Whether a session header went out (the end marker needs one before it). */
  hasSent: boolean;
  lastAckAtMs: number;
  /** The service reported an error it survived (ERROR ack with a host-alive ErrorId). */
  isHostAlive: boolean;
  sent: Entry[];
};

class ConnectionEndedError extends Error {}

const isFinal = (state: FragmentState, isPersistedAckExpected: boolean): boolean =>
  state === 'persisted' || state === 'skipped' || (state === 'received' && !isPersistedAckExpected);

export class UploadSession {
  private readonly options: UploadOptions;
  private readonly entries: Entry[] = [];
  /**
   * No entry before this index is queued: the search for the next one to send starts here. A live
   * fragment's 60 parts wait in `entries` for their acks, and the search runs for every frame.
   */
  private unsentFrom = 0;
  /** All stats, also of entries pruned from the buffer. */
  private readonly allStats: FragmentStats[] = [];
  /** Stats of settled fragments folded out of allStats, so a session running for days stays bounded. */
  private readonly folded = {
    fragments: 0,
    framesStored: 0,
    persisted: 0,
    received: 0,
    skipped: [] as FragmentStats[],
    ackLatenciesMs: new LatencySamples(),
  };
  private readonly changed = new Notifier();
  private isSourceDone = false;
  private sourceError: unknown;
  private connections = 0;
  private retries = 0;
  private dropped = 0;
  private bytesSent = 0;
  private bufferedBytes = 0;
  private readonly draining = new Set<Promise<unknown>>();
  /** Source bytes in → bytes handed to the socket, per fragment part (live sources). */
  private readonly sourceToSocketMs = new LatencySamples();
  /** Source bytes in → the socket's last byte of them written to the kernel. */
  private readonly sourceToKernelMs = new LatencySamples();
  /** The same since the last {@link interval} call. */
  private readonly window = {
    startedAtMs: performance.now(),
    sourceToSocketMs: new LatencySamples(WINDOW_SAMPLE_CAPACITY),
    sourceToKernelMs: new LatencySamples(WINDOW_SAMPLE_CAPACITY),
  };
  /** The latest start entry, which continuation parts attach to. */
  private lastStart: Entry | undefined;
  private nextByteAtMs = 0;
  /** The source yields lists of fragments (see {@link run}). */
  private isSourceListing = false;
  private nextFragmentAtMs = 0;

  public constructor(options: UploadOptions) {
    this.options = options;
  }

  /**
   * Uploads every fragment of `source`; resolves with the summary once each is acknowledged, skipped or lost.
   * A source may yield fragments one by one or in lists (a live source yields what one read completed).
   */
  public async run(source: AsyncIterable<Fragment | readonly Fragment[]>): Promise<UploadSummary> {
    const pump = this.pump(source);
    let attempt = 0;
    const maxAttempts = this.options.maxAttempts ?? 8;
    const backoff = this.options.backoff ?? DEFAULT_BACKOFF;
    try {
      while (!this.isFinished()) {
        if (this.isStopping() && this.draining.size === 0 && !this.hasInFlight()) {
          // Interrupted: what was in flight is settled; unsent fragments stay unsent.
          break;
        }
        const isEarly = this.options.connectBeforeData === true && this.connections === 0;
        if ((this.firstUnsent() === undefined && !isEarly) || this.isStopping()) {
          // Nothing to send yet: wait for the source, or for a draining connection to settle its fragments.
          await Promise.race([this.changed.wait(), ...this.draining]);
          continue;
        }
        const startedAt = Date.now();
        let progressed = false;
        try {
          progressed = await this.runConnection(() => {
            progressed = true;
          });
          attempt = 0;
          continue;
        } catch (error) {
          if (isFatal(error)) {
            throw error;
          }
          if (progressed || Date.now() - startedAt > backoff.resetAfterMs) {
            attempt = 0;
          }
          attempt++;
          if (this.isAborted()) {
            break;
          }
          if (attempt > maxAttempts) {
            throw new KvsPutError(
              ErrorCode.Upload,
              `upload failed after ${attempt} failed connection attempt(s): ${errorMessage(error)}`,
              {
                cause: error,
                suggestion: 'check the endpoint and the network; --max-retries raises the limit',
              },
            );
          }
          const delayMs = backoffDelayMs(backoff, attempt);
          this.retries++;
          this.emit({ type: 'retry', attempt, delayMs, reason: errorMessage(error), fatal: false });
          await sleep(systemClock, delayMs, this.options.signal);
        }
      }
      await Promise.allSettled([...this.draining]);
    } finally {
      this.isSourceDone = true;
      this.changed.notify();
    }
    await pump;
    return this.summary();
  }

  // ---- the fragment buffer ----

  private async pump(source: AsyncIterable<Fragment | readonly Fragment[]>): Promise<void> {
    const maxBytes = this.options.maxBufferBytes ?? 64 * 1024 * 1024;
    const maxDurationMs = this.options.maxBufferDurationMs ?? 120_000;
    const policy = this.options.onBufferFull ?? 'block';
    const maxReadAheadBytes = Math.min(maxBytes, this.options.maxReadAheadBytes ?? 4 * 1024 * 1024);
    try {
      reading: for await (const item of source) {
        // A list is all the source has ready now: the connection need not wait for more before writing.
        const isList = isFragmentList(item);
        this.isSourceListing = isList;
        for (const fragment of isList ? item : [item]) {
          if (this.isStopping()) {
            break reading;
          }
          this.enqueue(fragment);
          if (policy === 'drop-oldest') {
            while (this.isOverfull(maxBytes, maxDurationMs) && !this.isFinished()) {
              if (!this.dropOldestUnsent()) {
                break;
              }
            }
          } else {
            // A file waits: while the buffer is full, or while enough is queued to keep the socket busy
            // (reading further ahead would only cost memory).
            while (
              (this.isOverfull(maxBytes, maxDurationMs) || this.unsentBytes() > maxReadAheadBytes) &&
              !this.isFinished() &&
              !this.isStopping()
            ) {
              await this.changed.wait();
            }
          }
          if (this.isFinished()) {
            break reading;
          }
        }
      }
    } catch (error) {
      this.sourceError = error;
    } finally {
      this.isSourceDone = true;
      this.changed.notify();
    }
  }

  /** Puts a fragment from the source in the buffer (a continuation part joins its cluster's stats). */
  private enqueue(fragment: Fragment): void {
    // Every field from the start: objects made alike share one shape, which keeps the code that reads them
    // from being compiled again for each shape a field added later would make.
    const stats: FragmentStats = {
      sequence: fragment.sequence,
      timecode: fragment.timecode,
      bytes: fragment.byteLength,
      frames: fragment.frames.length,
      state: 'queued',
      queuedAtMs: Date.now(),
      sentAtMs: undefined,
      bufferingAtMs: undefined,
      receivedAtMs: undefined,
      persistedAtMs: undefined,
      fragmentNumber: undefined,
      retries: 0,
      skipErrorId: undefined,
      skipReason: undefined,
    };
    const entry: Entry = {
      fragment,
      stats,
      parts: undefined,
      start: undefined,
      unflushedWrites: 0,
      isRemoved: false,
    };
    const start = this.lastStart;
    if (fragment.isContinuation === true && start !== undefined) {
      // Counted in its cluster's stats; not a fragment of its own.
      entry.start = start;
      (start.parts ??= []).push(entry);
      if (start.stats.state === 'skipped') {
        entry.stats.state = 'skipped';
      }
      start.stats.frames += stats.frames;
      start.stats.bytes += stats.bytes;
    } else {
      this.allStats.push(stats);
      this.lastStart = entry;
      this.foldSettledStats();
    }
    this.entries.push(entry);
    this.bufferedBytes += fragment.byteLength;
    this.changed.notify();
  }

  private isOverfull(maxBytes: number, maxDurationMs: number): boolean {
    this.prune();
    if (this.entries.length <= 1) {
      return false;
    }
    const first = this.entries[0]!.fragment;
    const last = this.entries.at(-1)!.fragment;
    const durationMs = last.producerTimestampMs + last.durationMs - first.producerTimestampMs;
    return this.bufferedBytes > maxBytes || durationMs > maxDurationMs;
  }

  /** Drops the oldest unsent complete fragment (with its parts); never the one still growing. */
  private dropOldestUnsent(): boolean {
    const index = this.entries.findIndex(
      (entry) =>
        entry.fragment.isContinuation !== true &&
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
    this.dropped++;
    this.emit({
      type: 'drop',
      sequence: entry.fragment.sequence,
      timecode: entry.fragment.timecode,
      reason: 'buffer full',
      wasSent: entry.stats.sentAtMs !== undefined,
    });
    return true;
  }

  /**
   * A fragment's state, and that of its continuation parts: BUFFERING only reaches the parts already sent
   * (the rest still has to go); a final state reaches them all.
   */
  private setState(entry: Entry, state: FragmentState): void {
    entry.stats.state = state;
    for (const part of entry.parts ?? []) {
      if (state !== 'buffering' || part.stats.state === 'sent') {
        part.stats.state = state;
      }
    }
  }

  /** Frees fragments that reached a final state, from the front (their order matters for resume). */
  private prune(): void {
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

  /** Bytes of fragments not sent yet. */
  private unsentBytes(): number {
    let bytes = 0;
    for (let i = this.unsentFrom; i < this.entries.length; i++) {
      const entry = this.entries[i]!;
      if (entry.stats.state === 'queued') {
        bytes += entry.fragment.byteLength;
      }
    }
    return bytes;
  }

  /** Fragments sent but not settled (awaiting acks). */
  private hasInFlight(): boolean {
    return this.entries.some((entry) => entry.stats.state === 'sent' || entry.stats.state === 'buffering');
  }

  /**
   * Whether unsent fragments are abandoned: on abort with `onAbort: 'drop-unsent'` (files: exit now). With
   * 'flush' (live sources, whose capture ends on the same signal) everything the source yields is sent.
   */
  private isStopping(): boolean {
    return this.isAborted() && (this.options.onAbort ?? 'drop-unsent') === 'drop-unsent';
  }

  private isAborted(): boolean {
    return this.options.signal?.aborted === true;
  }

  private isDone(entry: Entry): boolean {
    return isFinal(entry.stats.state, this.options.isPersistedAckExpected);
  }

  private isFinished(): boolean {
    return this.isSourceDone && this.entries.every((entry) => this.isDone(entry));
  }

  private firstUnsent(): Entry | undefined {
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

  // ---- one connection ----

  /**
   * Streams fragments on one new connection until the source ends and every fragment sent on it is
   * acknowledged (returns true), or rotation is due (returns true after handing over), or it fails (throws).
   */
  private async runConnection(onProgress: () => void): Promise<boolean> {
    const options = this.options;
    const credentials = await options.credentials();
    const endpoint = await options.endpoint();
    const id = ++this.connections;
    // Acks can only arrive once the connection exists; the holder lets the handler reach it.
    const holder: { connection?: Connection } = {};
    const conn = await PutMediaConnection.open(
      {
        endpoint,
        ...(options.streamArn === undefined ? {} : { streamArn: options.streamArn }),
        ...(options.streamName === undefined ? {} : { streamName: options.streamName }),
        region: options.region,
        credentials,
        timecodeMode: options.timecodeMode ?? 'absolute',
        producerStartTimestampMs: options.producerStartTimestampMs,
        userAgent: options.userAgent ?? 'kvs-put',
      },
      {
        onAck: (ack) => {
          if (holder.connection !== undefined) {
            this.onAck(holder.connection, ack);
            onProgress();
          }
        },
      },
    ).catch((error: unknown) => {
      if (!(error instanceof PutMediaHttpError) || error.statusCode >= 500) {
        options.onEndpointFailure?.();
      }
      throw error;
    });
    const connection: Connection = {
      id,
      conn,
      byTimecode: new Map(),
      hasSent: false,
      lastAckAtMs: Date.now(),
      isHostAlive: false,
      sent: [],
    };
    holder.connection = connection;
    void conn.closed.then(() => this.changed.notify());
    const first = this.firstUnsent();
    this.emit({
      type: 'connect',
      connection: id,
      endpoint,
      resumeSequence: first?.fragment.sequence ?? (this.allStats.length === 0 ? 0 : -1),
      ...(conn.requestId === undefined ? {} : { requestId: conn.requestId }),
    });
    const staleness = this.watchStaleness(connection);
    try {
      const outcome = await this.stream(connection, credentials);
      if (outcome === 'rotate') {
        // Make before break: the old connection drains its acks while the next one starts.
        const drain = this.finishConnection(connection).catch(() => undefined);
        this.draining.add(drain);
        void drain.finally(() => this.draining.delete(drain));
        return true;
      }
      await this.finishConnection(connection);
      return true;
    } catch (error) {
      conn.abort(error instanceof Error ? error : new Error(String(error)));
      this.requeue(connection);
      throw error;
    } finally {
      clearInterval(staleness);
    }
  }

  /**
   * Writes fragments on the connection; resolves 'end' when the source is exhausted, 'rotate' when due.
   * Fragments (parts) that are ready together go out in one write: a burst a live source delivers at once
   * (several frames in one read) costs one system call, and none of it waits behind the others' writes.
   */
  private async stream(
    connection: Connection,
    credentials: AwsCredentialIdentity,
  ): Promise<'end' | 'rotate'> {
    const options = this.options;
    const writer = new SessionWriter();
    const rotateAtMs = Math.min(
      connection.conn.openedAtMs + (options.rotateAfterMs ?? 40 * 60_000),
      credentials.expiration === undefined
        ? Infinity
        : credentials.expiration.getTime() - (options.credentialsRefreshMarginMs ?? 60_000),
    );
    const batch: Batch = { entries: [], chunks: [], bytes: 0 };
    let tracks: Fragment['tracks'] | undefined;
    for (;;) {
      let entry = this.readyToSend(connection);
      if (entry === undefined && batch.entries.length > 0) {
        if (!this.isSourceListing) {
          // The rest of a burst may still be on its way from a source that yields fragments one by one.
          await yieldToSource();
          entry = this.readyToSend(connection);
        }
        if (entry === undefined) {
          await this.flush(connection, batch);
          continue;
        }
      }
      entry ??= await this.nextToSend(connection);
      if (entry === undefined) {
        await this.flush(connection, batch);
        return 'end';
      }
      // A session can only change at a fragment boundary: continuation parts go where their cluster went.
      const isStart = entry.fragment.isContinuation !== true;
      if (
        !isStart &&
        (entry.start === undefined || !connection.byTimecode.has(entry.start.fragment.timecode))
      ) {
        // Its cluster did not open on this connection (it was refused, or went out on another): the part
        // cannot follow it.
        entry.stats.state = 'skipped';
        this.prune();
        continue;
      }
      if (isStart && tracks !== undefined && entry.fragment.tracks !== tracks) {
        // A new track set needs a new session header, which needs a new session.
        await this.flush(connection, batch);
        return 'rotate';
      }
      if (isStart && tracks !== undefined && Date.now() >= rotateAtMs) {
        await this.flush(connection, batch);
        this.emit({
          type: 'rotate',
          connection: connection.id,
          reason: 'connection age or credential expiry',
        });
        return 'rotate';
      }
      tracks = entry.fragment.tracks;
      const waitMs = this.paceWaitMs(entry.fragment);
      if (waitMs > 0) {
        await this.flush(connection, batch);
        await sleep(systemClock, waitMs, options.signal);
      }
      this.chargePace(entry.fragment);
      const stats = entry.stats;
      if (stats.sentAtMs !== undefined) {
        stats.retries++;
      }
      stats.state = 'sent';
      // A source waiting for the queue to shrink (see maxReadAheadBytes) may go on.
      this.changed.notify();
      if (isStart) {
        // Acks name the cluster by its timecode: they belong to the start entry.
        connection.byTimecode.set(entry.fragment.timecode, entry);
      }
      connection.sent.push(entry);
      connection.hasSent = true;
      batch.entries.push(entry);
      for (const chunk of writer.write(entry.fragment)) {
        batch.chunks.push(chunk);
        batch.bytes += chunk.length;
      }
      if (batch.bytes >= MAX_BATCH_BYTES) {
        await this.flush(connection, batch);
      }
    }
  }

  /**
   * Writes the batch in one call; the promise resolves once the socket can take more. Not async: the
   * bookkeeping is done by the time the bytes are on the socket, and the common case (the kernel took them
   * at once) returns a settled promise.
   */
  private flush(connection: Connection, batch: Batch): Promise<void> {
    if (batch.entries.length === 0) {
      return NOTHING_TO_WAIT_FOR;
    }
    const entries = batch.entries;
    const chunks = batch.chunks;
    batch.entries = [];
    batch.chunks = [];
    batch.bytes = 0;
    const isOpen = connection.conn.isOpen;
    for (const entry of entries) {
      entry.unflushedWrites++;
    }
    const written = connection.conn.write(chunks, (error) => {
      const now = performance.now();
      for (const entry of entries) {
        entry.unflushedWrites--;
        if (entry.fragment.arrivedAtMs !== undefined && error === undefined) {
          const latencyMs = now - entry.fragment.arrivedAtMs;
          this.sourceToKernelMs.add(latencyMs);
          this.window.sourceToKernelMs.add(latencyMs);
        }
        releaseIfUnused(entry);
      }
    });
    if (!isOpen) {
      // Nothing was written: the promise rejects with the reason.
      return written;
    }
    // The bytes are on the socket now (the write is synchronous up to its wait for drain).
    const now = performance.now();
    const sentAtMs = Date.now();
    for (const entry of entries) {
      if (entry.fragment.arrivedAtMs !== undefined) {
        const latencyMs = now - entry.fragment.arrivedAtMs;
        this.sourceToSocketMs.add(latencyMs);
        this.window.sourceToSocketMs.add(latencyMs);
      }
      entry.stats.sentAtMs = sentAtMs;
    }
    for (const chunk of chunks) {
      this.bytesSent += chunk.length;
    }
    this.options.onWrite?.(connection.id, chunks);
    return written;
  }

  /** The next fragment to send if one is queued now (undefined: none yet, or stopping); throws if closed. */
  private readyToSend(connection: Connection): Entry | undefined {
    if (!connection.conn.isOpen || this.isStopping()) {
      return undefined;
    }
    return this.firstUnsent();
  }

  /** The next fragment to send on this connection, waiting for the source; undefined at its end. */
  private async nextToSend(connection: Connection): Promise<Entry | undefined> {
    for (;;) {
      const entry = this.readyToSend(connection);
      if (entry !== undefined) {
        return entry;
      }
      if (!connection.conn.isOpen) {
        throw new ConnectionEndedError(
          (await connection.conn.closed)?.message ?? 'the service ended the PutMedia response',
        );
      }
      if (this.isStopping() || this.isSourceDone) {
        return undefined;
      }
      // The connection's close also notifies `changed` (see runConnection): racing `closed` here would add a
      // reaction to it per wait, kept until the connection ends — per frame, for up to 40 minutes.
      await this.changed.wait();
    }
  }

  /** Ends the body with the end-of-fragment marker, then waits (bounded) for the acks of what was sent. */
  private async finishConnection(connection: Connection): Promise<void> {
    const { conn } = connection;
    // The last fragment needs its end marker (a header must have gone out before it).
    if (conn.isOpen && connection.hasSent) {
      await conn.write([END_OF_FRAGMENT_BYTES]);
      this.options.onWrite?.(connection.id, [END_OF_FRAGMENT_BYTES]);
      conn.end();
    }
    const timeoutMs = this.isAborted()
      ? Math.min(this.options.stopTimeoutMs ?? 10_000, this.options.finalAckTimeoutMs ?? 30_000)
      : (this.options.finalAckTimeoutMs ?? 30_000);
    const deadline = Date.now() + timeoutMs;
    while (connection.sent.some((entry) => !this.isSettledOn(connection, entry))) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        conn.abort(new Error(`no final ack within ${timeoutMs} ms`));
        break;
      }
      const timer = new AbortController();
      const closed = await Promise.race([
        conn.closed.then(() => true),
        this.changed.wait().then(() => false),
        sleep(systemClock, remaining, timer.signal).then(() => false),
      ]);
      // A pending timer would keep the process alive after the upload is done.
      timer.abort();
      if (closed) {
        break;
      }
    }
    conn.abort(new Error('session finished'));
    const pending = connection.sent.filter((entry) => !this.isSettledOn(connection, entry));
    this.requeue(connection);
    if (pending.length > 0) {
      throw new ConnectionEndedError(
        `${pending.length} fragments were not acknowledged before the connection ended`,
      );
    }
  }

  /** A fragment sent on this connection needs nothing more from it. */
  private isSettledOn(connection: Connection, entry: Entry): boolean {
    return (
      this.isDone(entry) ||
      entry.stats.state === 'queued' ||
      (connection.isHostAlive && entry.stats.state === 'received')
    );
  }

  /**
   * After a connection ended: fragments it did not settle go back to the queue. When the service was alive
   * it holds what it RECEIVED; when the connection was lost, only PERSISTED counts and the rest is replayed.
   */
  private requeue(connection: Connection): void {
    this.unsentFrom = 0;
    for (const entry of connection.sent) {
      const state = entry.stats.state;
      if (state === 'sent' || state === 'buffering') {
        entry.stats.state = 'queued';
      } else if (state === 'received' && this.options.isPersistedAckExpected) {
        if (connection.isHostAlive) {
          // The service holds it; its PERSISTED ack is lost with the connection. Count it as stored.
          entry.stats.state = 'persisted';
        } else {
          entry.stats.state = 'queued';
        }
      }
    }
    this.prune();
    this.changed.notify();
  }

  private onAck(connection: Connection, ack: Ack): void {
    connection.lastAckAtMs = Date.now();
    const entry =
      ack.FragmentTimecode === undefined ? undefined : connection.byTimecode.get(ack.FragmentTimecode);
    this.emit({
      type: 'ack',
      connection: connection.id,
      ack,
      ...(entry === undefined ? {} : { sequence: entry.fragment.sequence }),
    });
    const now = Date.now();
    switch (ack.EventType) {
      case AckEventType.Buffering:
        if (entry !== undefined && entry.stats.state === 'sent') {
          this.setState(entry, 'buffering');
          entry.stats.bufferingAtMs = now;
          if (ack.FragmentNumber !== undefined) {
            entry.stats.fragmentNumber = ack.FragmentNumber;
          }
        }
        break;
      case AckEventType.Received:
        if (entry !== undefined && entry.stats.state !== 'persisted' && entry.stats.state !== 'skipped') {
          this.setState(entry, 'received');
          entry.stats.receivedAtMs = now;
          entry.stats.fragmentNumber ??= ack.FragmentNumber;
        }
        break;
      case AckEventType.Persisted:
        if (entry !== undefined && entry.stats.state !== 'skipped') {
          this.setState(entry, 'persisted');
          entry.stats.persistedAtMs = now;
          entry.stats.fragmentNumber ??= ack.FragmentNumber;
        }
        break;
      case AckEventType.Error:
        this.onErrorAck(connection, ack, entry);
        break;
      case AckEventType.Idle:
        break;
    }
    this.pruneConnection(connection);
    this.prune();
    this.changed.notify();
  }

  /**
   * Forgets the fragments this connection no longer needs to hear about, from the front: a long session
   * must not keep every fragment it ever sent (their payloads pin the input's memory).
   */
  private pruneConnection(connection: Connection): void {
    const sent = connection.sent;
    let count = 0;
    while (count < sent.length && this.isDone(sent[count]!)) {
      connection.byTimecode.delete(sent[count]!.fragment.timecode);
      count++;
    }
    if (count > 0) {
      sent.splice(0, count);
    }
  }

  private onErrorAck(connection: Connection, ack: Ack, entry: Entry | undefined): void {
    const errorId = ack.ErrorId ?? 0;
    const info = errorIdInfo(errorId);
    connection.isHostAlive = info.isHostAlive;
    // Without fragment context the error is about the fragment being sent: the last one not yet received.
    const target =
      entry ??
      connection.sent.find(
        (candidate) =>
          candidate.fragment.isContinuation !== true &&
          (candidate.stats.state === 'sent' || candidate.stats.state === 'buffering'),
      );
    if (!info.isRetriable && target !== undefined) {
      this.setState(target, 'skipped');
      target.stats.skipErrorId = errorId;
      target.stats.skipReason = new AckError(errorId, target.fragment.timecode, ack.ErrorCode).message;
      this.emit({
        type: 'skip',
        sequence: target.fragment.sequence,
        timecode: target.fragment.timecode,
        producerTimestampMs: target.fragment.producerTimestampMs,
        errorId,
        reason: target.stats.skipReason,
      });
    }
    if (errorId === 4008 || errorId === 4507) {
      // The stream is gone or inactive: nothing later can succeed either.
      connection.conn.abort(new AckError(errorId, ack.FragmentTimecode, ack.ErrorCode));
    }
  }

  private watchStaleness(connection: Connection): NodeJS.Timeout {
    const stalenessMs = this.options.stalenessMs ?? 20_000;
    const timer = setInterval(
      () => {
        const now = Date.now();
        const waiting = connection.sent.some(
          (entry) =>
            entry.fragment.isContinuation !== true &&
            entry.stats.state === 'sent' &&
            entry.stats.sentAtMs !== undefined &&
            now - entry.stats.sentAtMs > stalenessMs,
        );
        if (waiting && now - connection.lastAckAtMs > stalenessMs) {
          this.emit({ type: 'stale', connection: connection.id, silentMs: now - connection.lastAckAtMs });
          connection.conn.abort(
            new Error(
              `no ack for ${Math.round((now - connection.lastAckAtMs) / 1000)} s: the connection is stale`,
            ),
          );
        }
      },
      Math.min(1000, stalenessMs),
    );
    timer.unref();
    return timer;
  }

  /**
   * How long a fragment must wait for the per-stream limits (a file can go faster than real time, but not
   * faster than these). Two clocks: bytes for everything sent; fragments only for fragment starts (a live
   * fragment's later parts are bytes of the same fragment, and must not wait for the fragment clock). The byte
   * clock is a token bucket holding one second: the average stays within the limit while the bursts a live
   * source delivers (a muxer writes several frames at once) go out without waiting.
   */
  private paceWaitMs(fragment: Fragment): number {
    const maxBytesPerSecond = this.options.maxBytesPerSecond ?? 0;
    const maxFragmentsPerSecond = this.options.maxFragmentsPerSecond ?? 0;
    const waitUntilMs = Math.max(
      maxBytesPerSecond > 0 ? this.nextByteAtMs - BYTE_BURST_MS : 0,
      maxFragmentsPerSecond > 0 && fragment.isContinuation !== true ? this.nextFragmentAtMs : 0,
    );
    return waitUntilMs - Date.now();
  }

  /** Counts a fragment being sent against the pacing clocks. */
  private chargePace(fragment: Fragment): void {
    const maxBytesPerSecond = this.options.maxBytesPerSecond ?? 0;
    const maxFragmentsPerSecond = this.options.maxFragmentsPerSecond ?? 0;
    const now = Date.now();
    if (maxBytesPerSecond > 0) {
      // An idle bucket refills to at most one burst: time not used is not banked beyond that.
      this.nextByteAtMs =
        Math.max(now - BYTE_BURST_MS, this.nextByteAtMs) + (fragment.byteLength / maxBytesPerSecond) * 1000;
    }
    if (maxFragmentsPerSecond > 0 && fragment.isContinuation !== true) {
      this.nextFragmentAtMs = Math.max(now, this.nextFragmentAtMs) + 1000 / maxFragmentsPerSecond;
    }
  }

  private emit(event: UploadEvent): void {
    this.options.onEvent?.(event);
  }

  /**
   * Folds the oldest settled fragments' stats into totals once many are kept (a live session makes 43 200
   * fragments a day): counts, stored frames, skips and ack-latency samples survive, the rest is let go.
   */
  private foldSettledStats(): void {
    const stats = this.allStats;
    const maxKept = this.options.maxKeptStats ?? MAX_KEPT_STATS;
    if (stats.length <= maxKept) {
      return;
    }
    const isPersistedAckExpected = this.options.isPersistedAckExpected;
    let count = 0;
    const limit = stats.length - Math.ceil(maxKept / 2);
    while (count < limit && isFinal(stats[count]!.state, isPersistedAckExpected)) {
      const settled = stats[count]!;
      const folded = this.folded;
      folded.fragments++;
      if (settled.state === 'persisted' || settled.state === 'received') {
        folded.framesStored += settled.frames;
        folded[settled.state]++;
      } else if (settled.skipErrorId !== undefined) {
        folded.skipped.push(settled);
      }
      const latency = ackLatencyMs(settled);
      if (latency !== undefined) {
        folded.ackLatenciesMs.add(latency);
      }
      count++;
    }
    stats.splice(0, count);
  }

  /**
   * The session so far (the summary's counters) and the source → socket latency since the last call: what
   * a live run reports every so often, since its summary comes only at the end.
   */
  public interval(): UploadInterval {
    const now = performance.now();
    const { stats: _stats, skipped, sourceError: _error, ...totals } = this.summary();
    const window = this.window;
    const interval: UploadInterval = {
      ...totals,
      skipped: skipped.length,
      intervalMs: Math.round(now - window.startedAtMs),
      sourceToSocketMs: window.sourceToSocketMs.percentiles(),
      sourceToKernelMs: window.sourceToKernelMs.percentiles(),
    };
    window.startedAtMs = now;
    window.sourceToSocketMs.clear();
    window.sourceToKernelMs.clear();
    return interval;
  }

  private summary(): UploadSummary {
    const stats = this.allStats;
    const folded = this.folded;
    const latencies = [
      ...folded.ackLatenciesMs.values(),
      ...stats.map(ackLatencyMs).filter((value): value is number => value !== undefined),
    ];
    const isPersistedAckExpected = this.options.isPersistedAckExpected;
    return {
      fragments: folded.fragments + stats.length,
      framesStored:
        folded.framesStored +
        stats
          .filter((s) => s.state === 'persisted' || s.state === 'received')
          .reduce((sum, s) => sum + s.frames, 0),
      persisted: folded.persisted + stats.filter((s) => s.state === 'persisted').length,
      received: folded.received + stats.filter((s) => s.state === 'received').length,
      skipped: [
        ...folded.skipped,
        ...stats.filter((s) => s.state === 'skipped' && s.skipErrorId !== undefined),
      ],
      dropped: this.dropped,
      unacknowledged: stats.filter((s) => !isFinal(s.state, isPersistedAckExpected)).length,
      connections: this.connections,
      retries: this.retries,
      bytesSent: this.bytesSent,
      isInterrupted: this.options.signal?.aborted === true,
      ackLatencyMs: percentilesOf(latencies),
      sourceToSocketMs: this.sourceToSocketMs.percentiles(),
      sourceToKernelMs: this.sourceToKernelMs.percentiles(),
      stats,
      sourceError: this.sourceError === undefined ? undefined : toError(this.sourceError),
    };
  }
}

/** Milliseconds from sending a fragment's last byte to its final ack. */
const ackLatencyMs = (stats: FragmentStats): number | undefined => {
  const final = stats.persistedAtMs ?? stats.receivedAtMs;
  return final === undefined || stats.sentAtMs === undefined ? undefined : final - stats.sentAtMs;
};

/** Per-fragment stats kept in full; older settled ones are folded into totals (see foldSettledStats). */
const MAX_KEPT_STATS = 4096;

/** How far ahead of the byte clock sending may run (a burst of up to one second's worth of bytes). */
const BYTE_BURST_MS = 1000;

/** Latency samples kept per {@link UploadSession.interval} (a minute of live video has ~60 per second). */
const WINDOW_SAMPLE_CAPACITY = 20_000;

/** Fragments ready together are written in one call, up to this many bytes (a burst goes out as it is parsed). */
const MAX_BATCH_BYTES = 64 * 1024;

const NOTHING_TO_WAIT_FOR: Promise<void> = Promise.resolve();

/** Fragments marked sent and their bytes, not written yet. */
type Batch = { entries: Entry[]; chunks: Uint8Array[]; bytes: number };

/** Lets pending source work (promise callbacks) run before going on: one turn of the event loop. */
const yieldToSource = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Errors no reconnect can fix. */
const isFatal = (error: unknown): boolean => {
  if (error instanceof PutMediaHttpError) {
    // 403/401 may be expired credentials: a new connection resolves them again, so retry a few times.
    return (
      error.statusCode === 404 || (error.statusCode === 400 && error.errorType === 'InvalidArgumentException')
    );
  }
  if (error instanceof AckError) {
    return error.errorId === 4008 || error.errorId === 4507;
  }
  return error instanceof KvsPutError && error.code !== ErrorCode.Upload;
};

const isFragmentList = (item: Fragment | readonly Fragment[]): item is readonly Fragment[] =>
  Array.isArray(item);

const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));
