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
 *   listed by ListFragments. One ingested with retention 0 goes to the stream's *buffer*: the newest 5 min / 200 MB
 *   (configurable), readable by GetMedia only, in memory only.
 * - **Storage**: in memory by default. With a `dataDir`, archived fragments are written to append-only files per
 *   stream, `<dataDir>/media/<stream>-<creationMs>-<hash>/{fragments.bin,headers.bin,index.ndjson}`, and only their
 *   metadata stays in memory (so a 1 GB upload costs a few hundred KB of heap). `index.ndjson` is written after the
 *   bytes it points to, so a crash never leaves an entry without its data; a torn last line is ignored. Space held
 *   by expired fragments is given back when the stream is deleted, or at the next start when none is left.
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, KvsPutError } from '../errors.js';
import type { MkvSimpleTag } from '../mkv/mkv-types.js';
import { Notifier } from '../util/notifier.js';
import type { EmulatorClock } from './emulator-clock.js';
import type { StreamRecord } from './stream-store.js';

/** Digits of every fragment number (the real service's width [OBS]). */
export const FRAGMENT_NUMBER_DIGITS = 47;
/** The leading digits of the local KVS's fragment numbers (those of the captures' numbers); the rest counts. */
const FRAGMENT_NUMBER_PREFIX = '91343852333';
const COUNTER_DIGITS = FRAGMENT_NUMBER_DIGITS - FRAGMENT_NUMBER_PREFIX.length;

/** How long the retention-0 buffer keeps fragments (kvs-api.md §10). */
export const DEFAULT_BUFFER_DURATION_MS = 5 * 60_000;
/** How many bytes of fragments the retention-0 buffer keeps per stream (kvs-api.md §10). */
export const DEFAULT_BUFFER_BYTES = 200 * 1024 * 1024;

const MEDIA_DIR_NAME = 'media';
const INDEX_FILE = 'index.ndjson';
const FRAGMENTS_FILE = 'fragments.bin';
const HEADERS_FILE = 'headers.bin';
const INDEX_FORMAT = 'kvs-put-local/media';
const INDEX_FORMAT_VERSION = 1;
/** Reads of stored fragments go to the socket in pieces of this size. */
const READ_PIECE_BYTES = 1024 * 1024;
const HOUR_MS = 3_600_000;

/** A fragment as stored: its facts, and where its bytes are. */
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
  clock: EmulatorClock;
  /** Keep archived fragments on disk under `<dataDir>/media`. In memory when absent. */
  dataDir?: string;
  /** @default DEFAULT_BUFFER_DURATION_MS */
  bufferDurationMs?: number;
  /** @default DEFAULT_BUFFER_BYTES */
  bufferBytes?: number;
};

/** Totals since the store opened (for benchmarks and introspection). */
export type MediaStoreStats = {
  fragmentsStored: number;
  bytesStored: number;
  /** Fragment bytes accepted but not yet on disk. */
  pendingWriteBytes: number;
};

type InternalFragment = StoredFragment & {
  /** In memory: the bytes. On disk: undefined, and `fileOffset` says where. */
  bytes: readonly Uint8Array[] | undefined;
  fileOffset: number;
};

type DiskFiles = {
  dir: string;
  fragments: FileHandle | undefined;
  headers: FileHandle | undefined;
  index: FileHandle | undefined;
  fragmentsSize: number;
  headersSize: number;
};

type StreamMedia = {
  streamArn: string;
  /** In fragment-number order. */
  fragments: InternalFragment[];
  headers: Map<number, Uint8Array>;
  /** Session headers already given an id (by identity: one array per PutMedia session). */
  headerIds: WeakMap<Uint8Array, number>;
  /** Header ids written to headers.bin. */
  persistedHeaders: Set<number>;
  nextHeaderId: number;
  bufferedBytes: number;
  disk: DiskFiles | undefined;
  writeChain: Promise<void>;
  notifier: Notifier;
  isDropped: boolean;
};

type IndexLine =
  | { t: 'stream'; format: string; formatVersion: number; streamArn: string }
  | { t: 'header'; id: number; offset: number; length: number }
  | {
      t: 'fragment';
      n: string;
      tc: number;
      pts: number;
      sts: number;
      dur: number;
      off: number;
      len: number;
      frames: number;
      perTrack: Record<string, number>;
      key: boolean;
      tags: { name: string; value?: string; binary?: string }[];
      h: number;
    };

/** The fragments of every stream. */
export class MediaStore {
  /** Opens a store; with a `dataDir`, loads what earlier runs stored there. */
  public static async open(options: MediaStoreOptions): Promise<MediaStore> {
    const store = new MediaStore(options);
    if (options.dataDir !== undefined) {
      await store.load(join(options.dataDir, MEDIA_DIR_NAME));
    }
    return store;
  }

  private readonly clock: EmulatorClock;
  private readonly mediaDir: string | undefined;
  private readonly bufferDurationMs: number;
  private readonly bufferBytes: number;
  private readonly streams = new Map<string, StreamMedia>();
  private counter: bigint;
  private readonly totals: MediaStoreStats = { fragmentsStored: 0, bytesStored: 0, pendingWriteBytes: 0 };
  private readonly drained = new Notifier();

  private constructor(options: MediaStoreOptions) {
    this.clock = options.clock;
    this.mediaDir = options.dataDir === undefined ? undefined : join(options.dataDir, MEDIA_DIR_NAME);
    this.bufferDurationMs = options.bufferDurationMs ?? DEFAULT_BUFFER_DURATION_MS;
    this.bufferBytes = options.bufferBytes ?? DEFAULT_BUFFER_BYTES;
    this.counter = BigInt(Math.floor(options.clock.now())) * 1_000_000n;
  }

  /** A new fragment number, larger than every one handed out before (by this store or on its disk). */
  public allocateFragmentNumber(): string {
    this.counter++;
    return FRAGMENT_NUMBER_PREFIX + this.counter.toString().padStart(COUNTER_DIGITS, '0');
  }

  public get stats(): Readonly<MediaStoreStats> {
    return { ...this.totals };
  }

  /** Bytes accepted by `append` that are not on disk yet (PutMedia pauses its body above a bound). */
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
   * stored: readable, and on disk when the store has a `dataDir`. Fragments of a stream are stored in call order.
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
    const stored: InternalFragment = {
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
      bytes: undefined,
      fileOffset: -1,
    };
    if (!isArchived || this.mediaDir === undefined) {
      // In memory: stored at once (after the writes queued before it, so order holds).
      stored.bytes = compact(fragment.clusterChunks);
      const done = media.writeChain.then(() => this.insert(media, stored));
      media.writeChain = done.then(
        () => undefined,
        () => undefined,
      );
      return done.then(() => stored);
    }
    const size = stored.sizeBytes;
    this.totals.pendingWriteBytes += size;
    const done = media.writeChain.then(async () => {
      try {
        await this.writeToDisk(media, stored, fragment.clusterChunks, fragment.headerBytes);
      } finally {
        this.totals.pendingWriteBytes -= size;
        this.drained.notify();
      }
      this.insert(media, stored);
    });
    media.writeChain = done.then(
      () => undefined,
      () => undefined,
    );
    return done.then(() => stored);
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

  /** The fragment's bytes, in pieces of at most 1 MiB (read from disk as they are asked for). */
  public async *readFragment(stream: StreamRecord, fragment: StoredFragment): AsyncGenerator<Uint8Array> {
    const internal = fragment as InternalFragment;
    if (internal.bytes !== undefined) {
      yield* internal.bytes;
      return;
    }
    const media = this.mediaFor(stream.streamArn, false);
    if (media?.disk === undefined) {
      return;
    }
    const handle = await open(join(media.disk.dir, FRAGMENTS_FILE), 'r');
    try {
      let position = internal.fileOffset;
      let remaining = internal.sizeBytes;
      while (remaining > 0) {
        const piece = new Uint8Array(Math.min(READ_PIECE_BYTES, remaining));
        const { bytesRead } = await handle.read(piece, 0, piece.length, position);
        if (bytesRead <= 0) {
          throw new Error(`fragment ${fragment.fragmentNumber} is cut short on disk`);
        }
        position += bytesRead;
        remaining -= bytesRead;
        yield bytesRead === piece.length ? piece : piece.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
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
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        media.notifier.wait(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, Math.max(0, timeoutMs));
        }),
        new Promise<void>((resolve) => {
          onAbort = resolve;
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) {
        signal?.removeEventListener('abort', onAbort);
      }
    }
  }

  /** Forgets a deleted stream's media and removes its files. */
  public async drop(streamArn: string): Promise<void> {
    const media = this.streams.get(streamArn);
    if (media === undefined) {
      return;
    }
    this.streams.delete(streamArn);
    media.isDropped = true;
    media.notifier.notify();
    await media.writeChain;
    await closeFiles(media.disk);
    if (media.disk !== undefined) {
      await rm(media.disk.dir, { recursive: true, force: true });
    }
  }

  /**
   * Drops the media of streams that no longer exist and reclaims the files of streams whose fragments have all
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
      if (media.fragments.length === 0 && media.disk !== undefined) {
        this.streams.delete(streamArn);
        await rm(media.disk.dir, { recursive: true, force: true });
      }
    }
  }

  /** Waits for pending writes and closes the files. */
  public async close(): Promise<void> {
    for (const media of this.streams.values()) {
      await media.writeChain;
      await closeFiles(media.disk);
      if (media.disk !== undefined) {
        media.disk.fragments = undefined;
        media.disk.headers = undefined;
        media.disk.index = undefined;
      }
    }
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

  private async writeToDisk(
    media: StreamMedia,
    fragment: InternalFragment,
    chunks: readonly Uint8Array[],
    headerBytes: Uint8Array,
  ): Promise<void> {
    const disk = await this.openDisk(media);
    const lines: string[] = [];
    if (!media.persistedHeaders.has(fragment.headerId)) {
      const headers = disk.headers ?? (disk.headers = await open(join(disk.dir, HEADERS_FILE), 'a'));
      await writeAll(headers, [headerBytes]);
      lines.push(
        JSON.stringify({
          t: 'header',
          id: fragment.headerId,
          offset: disk.headersSize,
          length: headerBytes.length,
        } satisfies IndexLine),
      );
      disk.headersSize += headerBytes.length;
      media.persistedHeaders.add(fragment.headerId);
    }
    const fragments = disk.fragments ?? (disk.fragments = await open(join(disk.dir, FRAGMENTS_FILE), 'a'));
    await writeAll(fragments, chunks);
    fragment.fileOffset = disk.fragmentsSize;
    disk.fragmentsSize += fragment.sizeBytes;
    lines.push(JSON.stringify(toIndexLine(fragment)));
    const index = disk.index ?? (disk.index = await open(join(disk.dir, INDEX_FILE), 'a'));
    await index.write(`${lines.join('\n')}\n`);
  }

  private async openDisk(media: StreamMedia): Promise<DiskFiles> {
    if (media.disk !== undefined) {
      return media.disk;
    }
    const dir = join(this.mediaDir!, streamDirName(media.streamArn));
    await mkdir(dir, { recursive: true });
    const index = await open(join(dir, INDEX_FILE), 'a');
    const first: IndexLine = {
      t: 'stream',
      format: INDEX_FORMAT,
      formatVersion: INDEX_FORMAT_VERSION,
      streamArn: media.streamArn,
    };
    await index.write(`${JSON.stringify(first)}\n`);
    media.disk = { dir, fragments: undefined, headers: undefined, index, fragmentsSize: 0, headersSize: 0 };
    return media.disk;
  }

  /** Reads every stream directory under `mediaDir` back into memory (metadata and headers). */
  private async load(mediaDir: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(mediaDir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return; // nothing stored yet: the directory is made with the first fragment
      }
      throw new KvsPutError(ErrorCode.Io, `Cannot read ${mediaDir}: ${describeFsError(error)}`, {
        context: { mediaDir },
        cause: error,
      });
    }
    for (const entry of entries) {
      if (entry.isDirectory()) {
        await this.loadStream(join(mediaDir, entry.name));
      }
    }
  }

  private async loadStream(dir: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(join(dir, INDEX_FILE), 'utf8');
    } catch {
      return;
    }
    const fragmentsSize = await fileSize(join(dir, FRAGMENTS_FILE));
    const headersSize = await fileSize(join(dir, HEADERS_FILE));
    const headersBytes =
      headersSize > 0 ? new Uint8Array(await readFile(join(dir, HEADERS_FILE))) : undefined;
    let media: StreamMedia | undefined;
    for (const line of text.split('\n')) {
      let entry: IndexLine;
      try {
        entry = JSON.parse(line) as IndexLine;
      } catch {
        continue; // an empty or torn line
      }
      if (entry.t === 'stream') {
        if (entry.format !== INDEX_FORMAT || entry.formatVersion !== INDEX_FORMAT_VERSION) {
          throw new KvsPutError(
            ErrorCode.Config,
            `The local KVS media index ${join(dir, INDEX_FILE)} has an unknown format`,
            { context: { dir }, suggestion: 'Point --data-dir at another directory, or remove this one.' },
          );
        }
        media = this.streams.get(entry.streamArn) ?? newStreamMedia(entry.streamArn);
        this.streams.set(entry.streamArn, media);
        media.disk = {
          dir,
          fragments: undefined,
          headers: undefined,
          index: undefined,
          fragmentsSize,
          headersSize,
        };
      } else if (media === undefined) {
        continue;
      } else if (entry.t === 'header') {
        if (headersBytes !== undefined && entry.offset + entry.length <= headersBytes.length) {
          media.headers.set(entry.id, headersBytes.slice(entry.offset, entry.offset + entry.length));
          media.persistedHeaders.add(entry.id);
          media.nextHeaderId = Math.max(media.nextHeaderId, entry.id + 1);
        }
      } else if (entry.t === 'fragment' && entry.off + entry.len <= fragmentsSize) {
        const fragment = fromIndexLine(entry);
        media.fragments.push(fragment);
        const counter = BigInt(entry.n.slice(FRAGMENT_NUMBER_PREFIX.length));
        if (counter > this.counter) {
          this.counter = counter;
        }
      }
    }
    if (media !== undefined) {
      media.fragments.sort((a, b) => (a.fragmentNumber < b.fragmentNumber ? -1 : 1));
    }
  }
}

const newStreamMedia = (streamArn: string): StreamMedia => ({
  streamArn,
  fragments: [],
  headers: new Map(),
  headerIds: new WeakMap(),
  persistedHeaders: new Set(),
  nextHeaderId: 1,
  bufferedBytes: 0,
  disk: undefined,
  writeChain: Promise.resolve(),
  notifier: new Notifier(),
  isDropped: false,
});

/** `<name>-<creationMs>-<8 hex of the ARN>`: readable, and unique per stream incarnation. */
const streamDirName = (streamArn: string): string => {
  const parts = /stream\/([^/]+)\/(\d+)$/.exec(streamArn);
  const hash = createHash('sha256').update(streamArn).digest('hex').slice(0, 8);
  return parts === null ? hash : `${parts[1]}-${parts[2]}-${hash}`;
};

/** Appends every chunk (one writev per batch; a short write goes on where it stopped). */
const writeAll = async (handle: FileHandle, chunks: readonly Uint8Array[]): Promise<void> => {
  let pending = chunks.filter((chunk) => chunk.length > 0);
  while (pending.length > 0) {
    // writev takes at most IOV_MAX (1024) buffers at once.
    const batch = pending.slice(0, 1024);
    let { bytesWritten } = await handle.writev(batch);
    const rest: Uint8Array[] = [];
    for (const chunk of batch) {
      if (bytesWritten >= chunk.length) {
        bytesWritten -= chunk.length;
      } else {
        rest.push(chunk.subarray(bytesWritten));
        bytesWritten = 0;
      }
    }
    pending = [...rest, ...pending.slice(batch.length)];
  }
};

/**
 * Kept as they came unless they came in many small pieces (a body sent a few bytes at a time): those are joined,
 * so a fragment never costs more than its bytes plus a few views.
 */
const compact = (chunks: readonly Uint8Array[]): readonly Uint8Array[] => {
  const total = byteLength(chunks);
  if (chunks.length <= 16 || total / chunks.length >= 4096) {
    return chunks;
  }
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.length;
  }
  return [joined];
};

const byteLength = (chunks: readonly Uint8Array[]): number => {
  let total = 0;
  for (const chunk of chunks) {
    total += chunk.length;
  }
  return total;
};

const closeFiles = async (disk: DiskFiles | undefined): Promise<void> => {
  await Promise.all([disk?.fragments?.close(), disk?.headers?.close(), disk?.index?.close()]);
};

const fileSize = async (path: string): Promise<number> => {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
};

const describeFsError = (error: unknown): string => (error as NodeJS.ErrnoException).code ?? String(error);

const toIndexLine = (fragment: InternalFragment): IndexLine => ({
  t: 'fragment',
  n: fragment.fragmentNumber,
  tc: fragment.timecode,
  pts: fragment.producerTimestampMs,
  sts: fragment.serverTimestampMs,
  dur: fragment.durationMs,
  off: fragment.fileOffset,
  len: fragment.sizeBytes,
  frames: fragment.frameCount,
  perTrack: Object.fromEntries(Object.entries(fragment.framesPerTrack).map(([k, v]) => [k, v])),
  key: fragment.startsWithKeyframe,
  tags: fragment.tags.map((tag) => ({
    name: tag.name,
    ...(tag.value === undefined ? {} : { value: tag.value }),
    ...(tag.binary === undefined ? {} : { binary: Buffer.from(tag.binary).toString('base64') }),
  })),
  h: fragment.headerId,
});

const fromIndexLine = (line: Extract<IndexLine, { t: 'fragment' }>): InternalFragment => ({
  fragmentNumber: line.n,
  timecode: line.tc,
  producerTimestampMs: line.pts,
  serverTimestampMs: line.sts,
  durationMs: line.dur,
  sizeBytes: line.len,
  frameCount: line.frames,
  framesPerTrack: Object.fromEntries(Object.entries(line.perTrack).map(([k, v]) => [Number(k), v])),
  startsWithKeyframe: line.key,
  tags: line.tags.map((tag) => ({
    name: tag.name,
    ...(tag.value === undefined ? {} : { value: tag.value }),
    ...(tag.binary === undefined ? {} : { binary: new Uint8Array(Buffer.from(tag.binary, 'base64')) }),
  })),
  isArchived: true,
  headerId: line.h,
  bytes: undefined,
  fileOffset: line.off,
});
