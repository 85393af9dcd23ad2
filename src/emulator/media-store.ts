/**
 * The local KVS's media: the fragments PutMedia stored, per stream, and what GetMedia, ListFragments and
 * GetMediaForFragmentList read back (kvs-api.md §7–§9, §11 items 2–4).
 *
 * - **Fragment numbers** are 47-digit decimal strings from one server-wide counter, fixed width, so string order
 *   is numeric order and every new fragment of any stream gets a larger number than every earlier one. The counter
 *   starts above the wall clock in µs-ish units and above every number already on disk, so numbers keep growing
 *   across restarts on the same `dataDir`.
 * - **Session headers** (the producer's media metadata, EBML header to the first Cluster) are stored once per
 *   PutMedia session and referenced by its fragments.
 * - **Retention**: a fragment ingested while the stream's DataRetentionInHours > 0 is *archived*: kept for the
 *   stream's current retention (measured from its server timestamp; a decrease drops older fragments at once),
 *   listed by ListFragments. One ingested with retention 0 goes to the stream's *buffer*: the newest fragments
 *   within the service's time and size bounds (configurable), readable by GetMedia only, in memory only.
 * - **Storage**: the fragments' bytes go to a {@link MediaStorage}: archived ones to the store's archive (in memory,
 *   or on disk under `dataDir`), buffered ones always to memory. Only their facts stay here.
 */
import { KvsLimits } from '../fragment/kvs-limits.js';
import type { MkvSimpleTag } from '../mkv/mkv-types.js';
import type { Clock, ClockTimer } from '../util/clock.js';
import { Notifier } from '../util/notifier.js';
import type { FragmentBytes, LoadedStreamMedia, MediaStorage } from './storage.js';
import type { StreamRecord } from './stream-store.js';

/** Digits of every fragment number (the real service's width [OBS]). */
export const FRAGMENT_NUMBER_DIGITS = 47;
/** The leading digits of the local KVS's fragment numbers (those of the captures' numbers); the rest counts. */
const FRAGMENT_NUMBER_PREFIX = '91343852333';
const COUNTER_DIGITS = FRAGMENT_NUMBER_DIGITS - FRAGMENT_NUMBER_PREFIX.length;

const HOUR_MS = 3_600_000;

/** A fragment as stored: its facts (its bytes are with its storage). */
export type StoredFragment = {
  readonly fragmentNumber: string;
  /** The Cluster Timecode as sent (TimecodeScale units). */
  readonly timecode: number;
  readonly producerTimestampMs: number;
  readonly serverTimestampMs: number;
  readonly durationMs: number;
  /** Bytes of the fragment as sent (its Cluster and the producer Tags around it). */
  readonly sizeBytes: number;
  readonly frameCount: number;
  readonly framesPerTrack: Readonly<Record<number, number>>;
  readonly startsWithKeyframe: boolean;
  /** The producer's fragment metadata. */
  readonly tags: readonly MkvSimpleTag[];
  /** Ingested with retention > 0: kept for the retention period and listed by ListFragments. */
  readonly isArchived: boolean;
  /** The session header it is served with. */
  readonly headerId: number;
};

/** What PutMedia hands over for one fragment. */
export type NewFragment = {
  fragmentNumber: string;
  timecode: number;
  producerTimestampMs: number;
  serverTimestampMs: number;
  durationMs: number;
  /** The session's media header; pass the same array for every fragment of a session (it is stored once). */
  headerBytes: Uint8Array;
  /** The fragment's bytes, in pieces (kept as they are: the caller must not reuse them). */
  clusterChunks: readonly Uint8Array[];
  frameCount: number;
  framesPerTrack: Readonly<Record<number, number>>;
  startsWithKeyframe: boolean;
  tags: readonly MkvSimpleTag[];
};

/** Options of {@link MediaStore.open}. */
export type MediaStoreOptions = {
  /** Retention is measured on it (`now`), and readers' waits time out on it. */
  clock: Clock;
  /** Where archived fragments (ingested with retention > 0) are kept; what earlier runs stored there is loaded. */
  archive: MediaStorage;
  /** Where buffered fragments (ingested with retention 0) are kept: never persisted, as the service's buffer. */
  buffer: MediaStorage;
  /** @default KvsLimits.retentionZeroBufferMs */
  bufferDurationMs?: number;
  /** @default KvsLimits.retentionZeroBufferBytes */
  bufferBytes?: number;
};

/** Totals since the store opened (for benchmarks and introspection). */
export type MediaStoreStats = {
  fragmentsStored: number;
  bytesStored: number;
  /** Fragment bytes accepted but not yet on disk. */
  pendingWriteBytes: number;
};

/** A stored fragment with the handle its storage gave for its bytes. */
type InternalFragment = StoredFragment & { bytes: FragmentBytes };

type StreamMedia = {
  streamArn: string;
  /** In fragment-number order. */
  fragments: InternalFragment[];
  headers: Map<number, Uint8Array>;
  /** Session headers already given an id (by identity: one array per PutMedia session). */
  headerIds: WeakMap<Uint8Array, number>;
  nextHeaderId: number;
  bufferedBytes: number;
  /** The stream's writes, one at a time in arrival order, so fragments are stored in call order. */
  writeChain: Promise<void>;
  notifier: Notifier;
  isDropped: boolean;
};

/** The fragments of every stream: their numbers, order, retention and readers, over two storages. */
export class MediaStore {
  /** Opens a store and loads what earlier runs left in its archive. */
  public static async open(options: MediaStoreOptions): Promise<MediaStore> {
    const store = new MediaStore(options);
    store.restore(await options.archive.loadMedia());
    return store;
  }

  private readonly clock: Clock;
  private readonly archive: MediaStorage;
  private readonly buffer: MediaStorage;
  private readonly bufferDurationMs: number;
  private readonly bufferBytes: number;
  private readonly streams = new Map<string, StreamMedia>();
  private counter: bigint;
  private readonly totals: MediaStoreStats = { fragmentsStored: 0, bytesStored: 0, pendingWriteBytes: 0 };
  private readonly drained = new Notifier();

  private constructor(options: MediaStoreOptions) {
    this.clock = options.clock;
    this.archive = options.archive;
    this.buffer = options.buffer;
    this.bufferDurationMs = options.bufferDurationMs ?? KvsLimits.retentionZeroBufferMs;
    this.bufferBytes = options.bufferBytes ?? KvsLimits.retentionZeroBufferBytes;
    this.counter = BigInt(Math.floor(options.clock.now())) * 1_000_000n;
  }

  /** A new fragment number, larger than every one handed out before (by this store or by earlier runs). */
  public allocateFragmentNumber(): string {
    this.counter++;
    return FRAGMENT_NUMBER_PREFIX + this.counter.toString().padStart(COUNTER_DIGITS, '0');
  }

  public get stats(): Readonly<MediaStoreStats> {
    return { ...this.totals };
  }

  /** Bytes accepted by `append` that are not stored yet (PutMedia pauses its body above a bound). */
  public get pendingWriteBytes(): number {
    return this.totals.pendingWriteBytes;
  }

  /** Resolves once the pending writes are at or below `bytes`. */
  public async waitForPendingWritesBelow(bytes: number): Promise<void> {
    while (this.totals.pendingWriteBytes > bytes) {
      await this.drained.wait();
    }
  }

  /**
   * Stores a fragment of `stream` (archived when its retention is > 0, else in the buffer) and resolves once it is
   * stored: readable, and on disk when the archive persists. Fragments of a stream are stored in call order.
   */
  public append(stream: StreamRecord, fragment: NewFragment): Promise<StoredFragment> {
    const media = this.mediaFor(stream.streamArn, true);
    const isArchived = stream.dataRetentionInHours > 0;
    let headerId = media.headerIds.get(fragment.headerBytes);
    if (headerId === undefined) {
      headerId = media.nextHeaderId++;
      media.headerIds.set(fragment.headerBytes, headerId);
      media.headers.set(headerId, fragment.headerBytes);
    }
    const facts: StoredFragment = {
      fragmentNumber: fragment.fragmentNumber,
      timecode: fragment.timecode,
      producerTimestampMs: fragment.producerTimestampMs,
      serverTimestampMs: fragment.serverTimestampMs,
      durationMs: fragment.durationMs,
      sizeBytes: byteLength(fragment.clusterChunks),
      frameCount: fragment.frameCount,
      framesPerTrack: { ...fragment.framesPerTrack },
      startsWithKeyframe: fragment.startsWithKeyframe,
      tags: fragment.tags.map((tag) => ({ ...tag })),
      isArchived,
      headerId,
    };
    const storage = isArchived ? this.archive : this.buffer;
    // Only writes that reach a device lag; they count as pending until they land.
    const pendingBytes = storage.isPersistent ? facts.sizeBytes : 0;
    this.totals.pendingWriteBytes += pendingBytes;
    const done = media.writeChain.then(async () => {
      let bytes: FragmentBytes;
      try {
        bytes = await storage.writeFragment(
          stream.streamArn,
          facts,
          fragment.clusterChunks,
          fragment.headerBytes,
        );
      } finally {
        if (pendingBytes > 0) {
          this.totals.pendingWriteBytes -= pendingBytes;
          this.drained.notify();
        }
      }
      const stored: InternalFragment = { ...facts, bytes };
      this.insert(media, stored);
      return stored;
    });
    media.writeChain = done.then(
      () => undefined,
      () => undefined,
    );
    return done;
  }

  /**
   * The stream's readable fragments in fragment-number order (expired ones dropped first). With
   * `archivedOnly`, what ListFragments and GetMediaForFragmentList see.
   */
  public list(stream: StreamRecord, options: { archivedOnly?: boolean } = {}): readonly StoredFragment[] {
    const media = this.mediaFor(stream.streamArn, false);
    if (media === undefined) {
      return [];
    }
    this.expire(media, stream);
    return options.archivedOnly === true ? media.fragments.filter((f) => f.isArchived) : media.fragments;
  }

  /** The session header a fragment is served with. */
  public header(stream: StreamRecord, fragment: StoredFragment): Uint8Array {
    return this.mediaFor(stream.streamArn, false)?.headers.get(fragment.headerId) ?? new Uint8Array(0);
  }

  /** The fragment's bytes, in pieces (read from disk as they are asked for). */
  public async *readFragment(_stream: StreamRecord, fragment: StoredFragment): AsyncGenerator<Uint8Array> {
    yield* (fragment as InternalFragment).bytes.read();
  }

  /**
   * Resolves when the stream gets a new fragment or is dropped, or after `timeoutMs`, or on abort; whichever
   * comes first. Callers re-read `list()` afterwards.
   */
  public async waitForChange(streamArn: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const media = this.mediaFor(streamArn, true);
    if (media.isDropped || signal?.aborted === true) {
      return;
    }
    let timer: ClockTimer | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        media.notifier.wait(),
        new Promise<void>((resolve) => {
          timer = this.clock.setTimeout(resolve, Math.max(0, timeoutMs));
        }),
        new Promise<void>((resolve) => {
          onAbort = resolve;
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      timer?.cancel();
      if (onAbort !== undefined) {
        signal?.removeEventListener('abort', onAbort);
      }
    }
  }

  /** Forgets a deleted stream's media and gives its space back. */
  public async drop(streamArn: string): Promise<void> {
    const media = this.streams.get(streamArn);
    if (media === undefined) {
      return;
    }
    this.streams.delete(streamArn);
    media.isDropped = true;
    media.notifier.notify();
    await media.writeChain;
    await this.archive.dropMedia(streamArn);
    await this.buffer.dropMedia(streamArn);
  }

  /**
   * Drops the media of streams that no longer exist and gives back the space of streams whose fragments have all
   * expired (called once the stream table is loaded).
   */
  public async reconcile(findStream: (streamArn: string) => StreamRecord | undefined): Promise<void> {
    for (const [streamArn, media] of [...this.streams]) {
      const stream = findStream(streamArn);
      if (stream === undefined) {
        await this.drop(streamArn);
        continue;
      }
      this.expire(media, stream);
      if (media.fragments.length === 0) {
        this.streams.delete(streamArn);
        await this.archive.dropMedia(streamArn);
      }
    }
  }

  /** Waits for pending writes and releases the storages' files. */
  public async close(): Promise<void> {
    for (const media of this.streams.values()) {
      await media.writeChain;
    }
    await this.archive.closeMedia();
    await this.buffer.closeMedia();
  }

  // ---- internals -------------------------------------------------------------------------------------------

  private mediaFor(streamArn: string, create: true): StreamMedia;
  private mediaFor(streamArn: string, create: false): StreamMedia | undefined;
  private mediaFor(streamArn: string, create: boolean): StreamMedia | undefined {
    let media = this.streams.get(streamArn);
    if (media === undefined && create) {
      media = newStreamMedia(streamArn);
      this.streams.set(streamArn, media);
    }
    return media;
  }

  /** Takes in what earlier runs stored: fragments in number order, header ids and numbers continuing above theirs. */
  private restore(loaded: readonly LoadedStreamMedia[]): void {
    for (const stored of loaded) {
      const media = this.mediaFor(stored.streamArn, true);
      for (const [id, bytes] of stored.headers) {
        media.headers.set(id, bytes);
        media.nextHeaderId = Math.max(media.nextHeaderId, id + 1);
      }
      for (const fragment of stored.fragments) {
        media.fragments.push(fragment);
        const counter = BigInt(fragment.fragmentNumber.slice(FRAGMENT_NUMBER_PREFIX.length));
        if (counter > this.counter) {
          this.counter = counter;
        }
      }
      media.fragments.sort((a, b) => (a.fragmentNumber < b.fragmentNumber ? -1 : 1));
    }
  }

  private insert(media: StreamMedia, fragment: InternalFragment): void {
    if (media.isDropped) {
      return;
    }
    const list = media.fragments;
    // Almost always an append; a binary search keeps number order whatever the completion order.
    let index = list.length;
    if (index > 0 && list[index - 1]!.fragmentNumber > fragment.fragmentNumber) {
      let low = 0;
      let high = list.length;
      while (low < high) {
        const mid = (low + high) >>> 1;
        if (list[mid]!.fragmentNumber < fragment.fragmentNumber) {
          low = mid + 1;
        } else {
          high = mid;
        }
      }
      index = low;
    }
    list.splice(index, 0, fragment);
    if (!fragment.isArchived) {
      media.bufferedBytes += fragment.sizeBytes;
    }
    this.totals.fragmentsStored++;
    this.totals.bytesStored += fragment.sizeBytes;
    media.notifier.notify();
  }

  /** Drops archived fragments past the stream's retention and buffered ones past the buffer's bounds. */
  private expire(media: StreamMedia, stream: StreamRecord): void {
    const nowMs = this.clock.now();
    const archiveFromMs = nowMs - stream.dataRetentionInHours * HOUR_MS;
    const bufferFromMs = nowMs - this.bufferDurationMs;
    let bufferedBytes = media.bufferedBytes;
    const isExpired = (fragment: InternalFragment): boolean =>
      fragment.isArchived
        ? stream.dataRetentionInHours === 0 || fragment.serverTimestampMs < archiveFromMs
        : fragment.serverTimestampMs < bufferFromMs || bufferedBytes > this.bufferBytes;
    if (!media.fragments.some(isExpired)) {
      return;
    }
    const kept: InternalFragment[] = [];
    for (const fragment of media.fragments) {
      if (isExpired(fragment)) {
        if (!fragment.isArchived) {
          bufferedBytes -= fragment.sizeBytes;
        }
        continue;
      }
      kept.push(fragment);
    }
    media.fragments = kept;
    media.bufferedBytes = bufferedBytes;
  }
}

const newStreamMedia = (streamArn: string): StreamMedia => ({
  streamArn,
  fragments: [],
  headers: new Map(),
  headerIds: new WeakMap(),
  nextHeaderId: 1,
  bufferedBytes: 0,
  writeChain: Promise.resolve(),
  notifier: new Notifier(),
  isDropped: false,
});

const byteLength = (chunks: readonly Uint8Array[]): number => {
  let total = 0;
  for (const chunk of chunks) {
    total += chunk.length;
  }
  return total;
};
