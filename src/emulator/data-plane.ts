/**
 * What the local KVS's data plane (PutMedia, GetMedia, ListFragments, GetMediaForFragmentList; kvs-api.md §6–§9)
 * shares: its configuration, the media store, open connections per stream, and the per-stream limits of §10.
 *
 * Limits (kvs-api.md §10, their values in KvsLimits; [EMU] choices):
 * - always on: one PutMedia connection per stream whose body is still being sent (a connection that ended its
 *   body and only waits for its last acks does not count, so make-before-break rotation works as with the real
 *   service); the concurrent GetMedia and GetMediaForFragmentList connections per stream
 *   (ConnectionLimitExceededException);
 * - `strict` only: the PutMedia and GetMedia calls per second per stream (ClientLimitExceededException), and the
 *   PutMedia throughput limits, bytes and fragments per second per stream, enforced by **throttling**: the server
 *   stops reading the body until the stream is back under the rate (TCP backpressure slows the producer), rather
 *   than failing the session; a producer that paces itself never notices, one that does not sees its upload take
 *   as long as the service would let it.
 */
import { KvsLimits } from '../fragment/kvs-limits.js';
import type { Clock } from '../util/clock.js';
import type { FaultInjector } from './fault-injector.js';
import type { MediaStore } from './media-store.js';
import type { StreamStore } from './stream-store.js';

/** The data plane's settings (resolved from `LocalKvsOptions`). */
export type DataPlaneConfig = {
  /** Turn on every rate limit (see the module doc). */
  isStrict: boolean;
  /** Send an IDLE ack this often while a PutMedia body is quiet. */
  idleAckIntervalMs: number;
  /** Close a PutMedia connection whose body has been quiet this long. */
  idleTimeoutMs: number;
  /** ERROR MaxConnectionDurationReached and close once a PutMedia connection is this old. */
  maxConnectionDurationMs: number;
  /** End a GetMedia response after this long without a new fragment. */
  getMediaIdleTimeoutMs: number;
  /** ERROR MaxFragmentDurationReached above this fragment duration. */
  maxFragmentDurationMs: number;
  /** ERROR MaxFragmentSizeReached above this fragment size. */
  maxFragmentBytes: number;
  /** ERROR InvalidProducerTimestamp for producer timestamps further than this into the future. */
  futureToleranceMs: number;
  /** PutMedia stops reading its body while more than this many bytes wait to be written to disk. */
  maxPendingWriteBytes: number;
  /**
   * After answering early (an ERROR ack, an idle close) while the client is still sending, the socket keeps
   * reading and discarding the body this long before it is destroyed, so the client reads the last ack before
   * the connection goes.
   */
  lingerMs: number;
};

/**
 * Defaults of {@link DataPlaneConfig}: the service's values where it has one (KvsLimits), else the local KVS's
 * choices. The service does not document how far into the future a producer timestamp may be (kvs-api.md §6.3,
 * 4007): the tolerance here is wide enough to refuse only a producer clock that is plainly wrong.
 */
export const DEFAULT_DATA_PLANE_CONFIG: DataPlaneConfig = {
  isStrict: false,
  idleAckIntervalMs: 3_000,
  idleTimeoutMs: KvsLimits.idleCloseMs,
  maxConnectionDurationMs: KvsLimits.maxConnectionDurationMs,
  getMediaIdleTimeoutMs: 3_000,
  maxFragmentDurationMs: KvsLimits.maxFragmentDurationMs,
  maxFragmentBytes: KvsLimits.maxFragmentBytes,
  futureToleranceMs: 10 * 60_000,
  maxPendingWriteBytes: 16 * 1024 * 1024,
  lingerMs: 2_000,
};

/** A PutMedia connection as the connection rules see it. */
export type PutMediaConnectionSlot = {
  /** Still sending its body (counts for the one-connection rule). */
  readonly isSending: boolean;
  /** The stream is being deleted: ERROR StreamDeleted and close. */
  onStreamDeleting: () => void;
  /**
   * The body broke in a way that leaves the answer writable (the client closed its side mid-body): ERROR
   * StreamReadError and close. Returns false when the session cannot answer any more.
   */
  onBodyBroken: () => boolean;
};

/** Counters since the server started (for `GET /__emulator/stats` and benchmarks). */
export type IngestCounters = {
  putMediaConnections: number;
  bodyBytesReceived: number;
  fragmentsReceived: number;
  acksSent: number;
  errorAcksSent: number;
  /** The latest PutMedia bodies that ended (at most 100), oldest first: how fast producers upload, seen here. */
  recentBodies: PutMediaBodyRecord[];
};

/** One PutMedia body as the service saw it. */
export type PutMediaBodyRecord = {
  streamName: string;
  bytes: number;
  /** From the request's arrival (its headers) to the end of its body. */
  milliseconds: number;
};

const MAX_BODY_RECORDS = 100;

/** The data plane's shared state: configuration, media, open connections, limits and counters. */
export class DataPlane {
  public readonly counters: IngestCounters = {
    putMediaConnections: 0,
    bodyBytesReceived: 0,
    fragmentsReceived: 0,
    acksSent: 0,
    errorAcksSent: 0,
    recentBodies: [],
  };

  private readonly putMediaSlots = new Map<string, Set<PutMediaConnectionSlot>>();
  private readonly slotsBySocket = new WeakMap<object, PutMediaConnectionSlot>();
  private readonly readers = new Map<string, number>();
  private readonly callTimes = new Map<string, number[]>();
  private readonly byteBuckets = new Map<string, TokenBucket>();
  private readonly fragmentBuckets = new Map<string, TokenBucket>();

  /** Notes a PutMedia body that ended. */
  public recordBody(record: PutMediaBodyRecord): void {
    const records = this.counters.recentBodies;
    records.push(record);
    if (records.length > MAX_BODY_RECORDS) {
      records.shift();
    }
  }

  public constructor(
    public readonly config: DataPlaneConfig,
    public readonly media: MediaStore,
    public readonly streams: StreamStore,
    public readonly faults: FaultInjector,
    /** The service clock: timestamps, and every timer and rate of the data plane. */
    public readonly clock: Clock,
  ) {
    streams.subscribe((event) => {
      if (event.type === 'deleting') {
        for (const slot of this.putMediaSlots.get(event.stream.streamArn) ?? []) {
          slot.onStreamDeleting();
        }
      } else if (event.type === 'deleted') {
        this.media.drop(event.stream.streamArn).catch(() => undefined);
      }
    });
  }

  /** Whether a stream has a PutMedia connection still sending its body. */
  public hasSendingPutMedia(streamArn: string): boolean {
    for (const slot of this.putMediaSlots.get(streamArn) ?? []) {
      if (slot.isSending) {
        return true;
      }
    }
    return false;
  }

  /**
   * A client error on a socket (Node's `clientError`: a truncated or malformed request): a PutMedia session on it
   * answers ERROR StreamReadError when it can. Returns whether it took care of the socket.
   */
  public onClientError(socket: object): boolean {
    return this.slotsBySocket.get(socket)?.onBodyBroken() ?? false;
  }

  /** Ties a socket to its PutMedia session (for `onClientError`). */
  public bindSocket(socket: object, slot: PutMediaConnectionSlot): void {
    this.slotsBySocket.set(socket, slot);
  }

  public addPutMedia(streamArn: string, slot: PutMediaConnectionSlot): void {
    let slots = this.putMediaSlots.get(streamArn);
    if (slots === undefined) {
      slots = new Set();
      this.putMediaSlots.set(streamArn, slots);
    }
    slots.add(slot);
    this.counters.putMediaConnections++;
  }

  public removePutMedia(streamArn: string, slot: PutMediaConnectionSlot): void {
    const slots = this.putMediaSlots.get(streamArn);
    slots?.delete(slot);
    if (slots?.size === 0) {
      this.putMediaSlots.delete(streamArn);
    }
  }

  /** Takes a reader slot (GetMedia or GetMediaForFragmentList) if fewer than `max` are taken; returns its release. */
  public acquireReader(kind: string, streamArn: string, max: number): (() => void) | undefined {
    const key = `${kind}:${streamArn}`;
    const count = this.readers.get(key) ?? 0;
    if (count >= max) {
      return undefined;
    }
    this.readers.set(key, count + 1);
    let isReleased = false;
    return () => {
      if (!isReleased) {
        isReleased = true;
        const left = (this.readers.get(key) ?? 1) - 1;
        if (left <= 0) {
          this.readers.delete(key);
        } else {
          this.readers.set(key, left);
        }
      }
    };
  }

  /**
   * Records a call and tells whether it is over `maxPerSecond` calls in the last second (strict mode only:
   * always false otherwise).
   */
  public isCallRateExceeded(operation: string, streamArn: string, maxPerSecond: number): boolean {
    if (!this.config.isStrict) {
      return false;
    }
    const nowMs = this.clock.monotonicMs();
    const key = `${operation}:${streamArn}`;
    const times = (this.callTimes.get(key) ?? []).filter((time) => time > nowMs - 1000);
    times.push(nowMs);
    this.callTimes.set(key, times);
    return times.length > maxPerSecond;
  }

  /**
   * Accounts PutMedia body bytes against the stream's throughput (strict mode); returns how long to stop
   * reading, in ms (0: go on).
   */
  public throttleBytes(streamArn: string, bytes: number): number {
    if (!this.config.isStrict) {
      return 0;
    }
    return this.bucketFor(this.byteBuckets, streamArn, KvsLimits.maxBytesPerSecond).take(bytes);
  }

  /** Accounts one new fragment against the stream's fragment rate (strict mode); ms to stop reading. */
  public throttleFragments(streamArn: string): number {
    if (!this.config.isStrict) {
      return 0;
    }
    return this.bucketFor(this.fragmentBuckets, streamArn, KvsLimits.maxFragmentsPerSecond).take(1);
  }

  private bucketFor(buckets: Map<string, TokenBucket>, key: string, ratePerSecond: number): TokenBucket {
    let bucket = buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(ratePerSecond, this.clock);
      buckets.set(key, bucket);
    }
    return bucket;
  }
}

/** A token bucket refilled at `ratePerSecond`, holding at most one second's worth. */
class TokenBucket {
  private tokens: number;
  private updatedAtMs: number;

  public constructor(
    private readonly ratePerSecond: number,
    private readonly clock: Clock,
  ) {
    this.tokens = ratePerSecond;
    this.updatedAtMs = clock.monotonicMs();
  }

  /** Takes `amount` tokens (going into debt if needed); returns how long until the debt is repaid, in ms. */
  public take(amount: number): number {
    const nowMs = this.clock.monotonicMs();
    this.tokens = Math.min(
      this.ratePerSecond,
      this.tokens + ((nowMs - this.updatedAtMs) / 1000) * this.ratePerSecond,
    );
    this.updatedAtMs = nowMs;
    this.tokens -= amount;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.ratePerSecond) * 1000);
  }
}
