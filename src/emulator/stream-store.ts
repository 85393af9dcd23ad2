/**
 * The local KVS's streams, per account and region (shared/docs/kvs-api.md §11 item 2). The table is kept here and
 * saved whole to a {@link StreamStorage} on every change (in memory, or `<dataDir>/streams.json`).
 *
 * Transitional statuses are evaluated lazily against the injected clock: a stream created with a delay is
 * `CREATING` until `statusUntilMs`, then `ACTIVE`; a `DELETING` stream disappears once its delay has passed. No
 * timers, so tests can move time by moving the clock.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../util/clock.js';
import type { StreamStorage } from './storage.js';

export const STREAM_STATUSES = ['CREATING', 'ACTIVE', 'UPDATING', 'DELETING'] as const;
export type StreamStatus = (typeof STREAM_STATUSES)[number];

export const STORAGE_TIERS = ['HOT', 'WARM'] as const;
export type StorageTier = (typeof STORAGE_TIERS)[number];

/** Quota: streams per account (soft limit on the current quota page). */
export const DEFAULT_MAX_STREAMS_PER_ACCOUNT = 10_000;
/** Length of a stream Version: 20 random alphanumerics, like the real service's `cWNvNr5iIQ1AA8LBuDFE` [OBS]. */
export const STREAM_VERSION_LENGTH = 20;
const VERSION_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Where a stream lives: the service keeps streams per account and region. */
export type StreamScope = { readonly accountId: string; readonly region: string };

/** One stream's metadata, as the control plane reports it. */
export type StreamRecord = {
  readonly accountId: string;
  readonly region: string;
  readonly streamName: string;
  readonly streamArn: string;
  /** Creation time, epoch milliseconds (also the ARN's last component). */
  readonly creationTimeMs: number;
  /** Creation order within the store; ListStreams pages by it. */
  readonly sequence: number;
  readonly deviceName: string | undefined;
  readonly mediaType: string | undefined;
  readonly kmsKeyId: string;
  readonly version: string;
  readonly dataRetentionInHours: number;
  readonly storageTier: StorageTier;
  readonly tags: Readonly<Record<string, string>>;
  readonly status: StreamStatus;
  /** When the current transitional status ends (CREATING/UPDATING → ACTIVE, DELETING → removed), epoch ms. */
  readonly statusUntilMs: number | undefined;
};

/** What a change to a stream may touch. Every metadata change also assigns a new Version. */
export type StreamChanges = {
  deviceName?: string;
  mediaType?: string;
  dataRetentionInHours?: number;
  storageTier?: StorageTier;
  tags?: Readonly<Record<string, string>>;
  /** Enter a transitional status for this long (0 = stay/become ACTIVE at once). */
  transition?: { status: 'UPDATING'; durationMs: number };
  /** Whether the change assigns a new Version. @default true */
  isVersioned?: boolean;
};

/** Stream lifecycle notifications, for the data plane (e.g. ERROR StreamDeleted to an open PutMedia on
 * delete). */
export type StreamEvent =
  | { type: 'created'; stream: StreamRecord }
  | { type: 'updated'; stream: StreamRecord; previous: StreamRecord }
  | { type: 'deleting'; stream: StreamRecord }
  | { type: 'deleted'; stream: StreamRecord };

export type StreamStoreOptions = {
  /** Creation times and the ends of transitional statuses are read from it. */
  clock: Pick<Clock, 'now'>;
  /** Where the table is loaded from and saved to. */
  storage: StreamStorage;
  /** How long a new stream stays CREATING. @default 0 */
  creatingDelayMs?: number;
  /** How long a deleted stream stays DELETING before it disappears. @default 0 */
  deletingDelayMs?: number;
  /** AccountStreamLimitExceededException above this many streams per account. @default 10000 */
  maxStreamsPerAccount?: number;
};

export type NewStream = {
  streamName: string;
  deviceName: string | undefined;
  mediaType: string | undefined;
  kmsKeyId: string;
  dataRetentionInHours: number;
  storageTier: StorageTier;
  tags: Readonly<Record<string, string>>;
};

/** The local KVS's stream table. */
export class StreamStore {
  /** Opens a store with the table its storage last saved. */
  public static async open(options: StreamStoreOptions): Promise<StreamStore> {
    const store = new StreamStore(options);
    const table = await options.storage.loadStreams();
    for (const stream of table.streams) {
      store.streams.set(streamKey(stream, stream.streamName), stream);
    }
    store.nextSequence = Math.max(table.nextSequence, ...table.streams.map((stream) => stream.sequence + 1));
    return store;
  }

  public readonly maxStreamsPerAccount: number;

  private readonly clock: Pick<Clock, 'now'>;
  private readonly storage: StreamStorage;
  private readonly creatingDelayMs: number;
  private readonly deletingDelayMs: number;
  private readonly streams = new Map<string, StreamRecord>();
  private readonly listeners = new Set<(event: StreamEvent) => void>();
  private nextSequence = 1;

  private constructor(options: StreamStoreOptions) {
    this.clock = options.clock;
    this.storage = options.storage;
    this.creatingDelayMs = options.creatingDelayMs ?? 0;
    this.deletingDelayMs = options.deletingDelayMs ?? 0;
    this.maxStreamsPerAccount = options.maxStreamsPerAccount ?? DEFAULT_MAX_STREAMS_PER_ACCOUNT;
  }

  /** Streams of one account+region in creation order (DELETING ones included). */
  public list(scope: StreamScope): StreamRecord[] {
    this.settle();
    return [...this.streams.values()]
      .filter((stream) => stream.accountId === scope.accountId && stream.region === scope.region)
      .sort((a, b) => a.sequence - b.sequence);
  }

  /** Number of streams an account has, across regions. */
  public countForAccount(accountId: string): number {
    this.settle();
    let count = 0;
    for (const stream of this.streams.values()) {
      if (stream.accountId === accountId) {
        count++;
      }
    }
    return count;
  }

  public findByName(scope: StreamScope, streamName: string): StreamRecord | undefined {
    this.settle();
    return this.streams.get(streamKey(scope, streamName));
  }

  public findByArn(streamArn: string): StreamRecord | undefined {
    this.settle();
    for (const stream of this.streams.values()) {
      if (stream.streamArn === streamArn) {
        return stream;
      }
    }
    return undefined;
  }

  /** Adds a stream (the caller has checked the name is free and the quota). */
  public async create(scope: StreamScope, input: NewStream): Promise<StreamRecord> {
    this.settle();
    const nowMs = this.clock.now();
    const stream: StreamRecord = {
      accountId: scope.accountId,
      region: scope.region,
      streamName: input.streamName,
      streamArn: streamArnFor(scope, input.streamName, nowMs),
      creationTimeMs: nowMs,
      sequence: this.nextSequence++,
      deviceName: input.deviceName,
      mediaType: input.mediaType,
      kmsKeyId: input.kmsKeyId,
      version: newStreamVersion(),
      dataRetentionInHours: input.dataRetentionInHours,
      storageTier: input.storageTier,
      tags: { ...input.tags },
      status: this.creatingDelayMs > 0 ? 'CREATING' : 'ACTIVE',
      statusUntilMs: this.creatingDelayMs > 0 ? nowMs + this.creatingDelayMs : undefined,
    };
    this.streams.set(streamKey(scope, stream.streamName), stream);
    this.emit({ type: 'created', stream });
    await this.persist();
    return stream;
  }

  /** Applies metadata changes to a stream and returns the new record. */
  public async update(stream: StreamRecord, changes: StreamChanges): Promise<StreamRecord> {
    const nowMs = this.clock.now();
    const transitionMs = changes.transition?.durationMs ?? 0;
    const next: StreamRecord = {
      ...stream,
      deviceName: changes.deviceName ?? stream.deviceName,
      mediaType: changes.mediaType ?? stream.mediaType,
      dataRetentionInHours: changes.dataRetentionInHours ?? stream.dataRetentionInHours,
      storageTier: changes.storageTier ?? stream.storageTier,
      tags: changes.tags === undefined ? stream.tags : { ...changes.tags },
      version: changes.isVersioned === false ? stream.version : newStreamVersion(),
      ...(changes.transition !== undefined && transitionMs > 0
        ? { status: changes.transition.status, statusUntilMs: nowMs + transitionMs }
        : {}),
    };
    this.streams.set(streamKey(stream, stream.streamName), next);
    this.emit({ type: 'updated', stream: next, previous: stream });
    await this.persist();
    return next;
  }

  /** Starts deleting a stream: DELETING for the configured delay, then gone. */
  public async delete(stream: StreamRecord): Promise<void> {
    const key = streamKey(stream, stream.streamName);
    const deleting: StreamRecord = {
      ...stream,
      status: 'DELETING',
      statusUntilMs: this.clock.now() + this.deletingDelayMs,
    };
    this.streams.set(key, deleting);
    this.emit({ type: 'deleting', stream: deleting });
    if (this.deletingDelayMs <= 0) {
      this.streams.delete(key);
      this.emit({ type: 'deleted', stream: deleting });
    }
    await this.persist();
  }

  /** Subscribes to lifecycle events; returns the unsubscribe function. */
  public subscribe(listener: (event: StreamEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Waits for pending saves of the table (rejects when the last one failed). */
  public async flush(): Promise<void> {
    await this.storage.flushStreams();
  }

  /** Applies the transitions whose time has come. */
  private settle(): void {
    const nowMs = this.clock.now();
    let hasChanged = false;
    for (const [key, stream] of this.streams) {
      if (stream.statusUntilMs === undefined || nowMs < stream.statusUntilMs) {
        continue;
      }
      hasChanged = true;
      if (stream.status === 'DELETING') {
        this.streams.delete(key);
        this.emit({ type: 'deleted', stream });
      } else {
        this.streams.set(key, { ...stream, status: 'ACTIVE', statusUntilMs: undefined });
      }
    }
    if (hasChanged) {
      // A failed write is retried by the next one (each write holds the whole state); flush() reports it.
      this.persist().catch(() => undefined);
    }
  }

  private emit(event: StreamEvent): void {
    for (const listener of this.listeners) {
      listener(event);
    }
  }

  /** Saves the whole table, in creation order. */
  private persist(): Promise<void> {
    return this.storage.saveStreams({
      nextSequence: this.nextSequence,
      streams: [...this.streams.values()].sort((a, b) => a.sequence - b.sequence),
    });
  }
}

/** The stream ARN format the service uses: `arn:<partition>:kinesisvideo:<region>:<acct>:stream/<name>/<creationMs>`. */
export const streamArnFor = (scope: StreamScope, streamName: string, creationTimeMs: number): string =>
  `arn:${partitionFor(scope.region)}:kinesisvideo:${scope.region}:${scope.accountId}:stream/${streamName}/${creationTimeMs}`;

/** The AWS partition a region belongs to. */
export const partitionFor = (region: string): string =>
  region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';

/** The default KmsKeyId the service reports: the AWS-managed key alias of the account and region [OBS]. */
export const defaultKmsKeyIdFor = (scope: StreamScope): string =>
  `arn:${partitionFor(scope.region)}:kms:${scope.region}:${scope.accountId}:alias/aws/kinesisvideo`;

/** A fresh random stream Version. */
export const newStreamVersion = (): string => {
  const bytes = randomBytes(STREAM_VERSION_LENGTH);
  let version = '';
  for (const byte of bytes) {
    version += VERSION_ALPHABET[byte % VERSION_ALPHABET.length];
  }
  return version;
};

const streamKey = (scope: StreamScope, streamName: string): string =>
  `${scope.accountId}/${scope.region}/${streamName}`;
