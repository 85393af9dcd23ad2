/**
 * What a caller passes to an upload session ({@link UploadOptions}), what it hears back ({@link UploadEvent}),
 * and the resolved, defaulted {@link UploadConfig} the session's parts read.
 */
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { SessionItem, TimecodeMode } from '../fragment/fragmenter.js';
import type { Ack } from '../kvs/ack.js';
import { DEFAULT_BACKOFF } from '../kvs/retry-policy.js';
import type { BackoffPolicy } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { BufferPolicy } from './fragment-buffer.js';
import { MAX_KEPT_STATS } from './session-stats.js';

/** What the session tells `onEvent` as it goes (connections, acks, retries, skips, drops, rotations). */
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

/** What the caller of `new UploadSession(options)` passes. */
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
  /**
   * Where every wait and timestamp of the session comes from: staleness, rotation, backoff, pacing, the
   * final-ack wait and the stats. @default systemClock
   */
  clock?: Clock;
  /** The backoff's jitter, uniform in [0, 1). @default Math.random */
  random?: () => number;
};

/** {@link UploadOptions} with every default applied: what the session's parts read. */
export type UploadConfig = {
  readonly timecodeMode: TimecodeMode;
  readonly maxBufferBytes: number;
  readonly maxBufferDurationMs: number;
  readonly maxKeptStats: number;
  /** Never above maxBufferBytes. */
  readonly maxReadAheadBytes: number;
  readonly isConnectedBeforeData: boolean;
  readonly onBufferFull: BufferPolicy;
  readonly backoff: BackoffPolicy;
  readonly maxAttempts: number;
  readonly stalenessMs: number;
  readonly rotateAfterMs: number;
  readonly credentialsRefreshMarginMs: number;
  readonly finalAckTimeoutMs: number;
  readonly stopTimeoutMs: number;
  /** 0 = unpaced. */
  readonly maxBytesPerSecond: number;
  /** 0 = unpaced. */
  readonly maxFragmentsPerSecond: number;
  readonly userAgent: string;
  readonly onAbort: 'drop-unsent' | 'flush';
  readonly clock: Clock;
  readonly random: () => number;
};

/** Applies the defaults documented on {@link UploadOptions}. */
export const resolveUploadConfig = (options: UploadOptions): UploadConfig => {
  const maxBufferBytes = options.maxBufferBytes ?? 64 * 1024 * 1024;
  return {
    timecodeMode: options.timecodeMode ?? 'absolute',
    maxBufferBytes,
    maxBufferDurationMs: options.maxBufferDurationMs ?? 120_000,
    maxKeptStats: options.maxKeptStats ?? MAX_KEPT_STATS,
    maxReadAheadBytes: Math.min(maxBufferBytes, options.maxReadAheadBytes ?? 4 * 1024 * 1024),
    isConnectedBeforeData: options.connectBeforeData === true,
    onBufferFull: options.onBufferFull ?? 'block',
    backoff: options.backoff ?? DEFAULT_BACKOFF,
    maxAttempts: options.maxAttempts ?? 8,
    stalenessMs: options.stalenessMs ?? 20_000,
    rotateAfterMs: options.rotateAfterMs ?? 40 * 60_000,
    credentialsRefreshMarginMs: options.credentialsRefreshMarginMs ?? 60_000,
    finalAckTimeoutMs: options.finalAckTimeoutMs ?? 30_000,
    stopTimeoutMs: options.stopTimeoutMs ?? 10_000,
    maxBytesPerSecond: options.maxBytesPerSecond ?? 0,
    maxFragmentsPerSecond: options.maxFragmentsPerSecond ?? 0,
    userAgent: options.userAgent ?? 'kvs-put',
    onAbort: options.onAbort ?? 'drop-unsent',
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
  };
};

/**
 * What the source may yield: items one by one, or lists of what it has ready at once. Each fragment goes
 * under the latest {@link SessionHeader} before it, so a source begins with one.
 */
export type FragmentSource = AsyncIterable<SessionItem | readonly SessionItem[]>;
