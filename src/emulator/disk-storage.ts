/**
 * The local KVS's storage under `--data-dir` (the layout is in disk-format.ts). The stream table is rewritten
 * atomically on every change: a temporary file, then a rename. Fragments are appended to their stream's files and
 * only their facts stay in memory, so the heap grows with the number of fragments, never with their bytes. An
 * index line is written after the bytes it points to, so a crash never leaves an entry without its data. Space
 * held by expired fragments is given back when the stream is deleted, or at the next start when none of its
 * fragments is left.
 */
import type { FileHandle } from 'node:fs/promises';
import { makeDirectory } from '../util/make-directory.js';
import { fileErrorReason, fileSystemError } from '../util/media-file.js';
import { open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, KvsPutError } from '../errors.js';
import {
  FRAGMENTS_FILE_NAME,
  HEADERS_FILE_NAME,
  INDEX_FILE_NAME,
  MEDIA_DIR_NAME,
  STREAMS_FILE_NAME,
  fragmentIndexLine,
  headerIndexLine,
  parseIndex,
  parseStreamTable,
  serializeStreamTable,
  streamDirName,
  streamIndexLine,
} from './disk-format.js';
import type { StoredFragment } from './media-store.js';
import type {
  FragmentBytes,
  LoadedFragment,
  LoadedStreamMedia,
  MediaStorage,
  StreamStorage,
  StreamTable,
} from './storage.js';

/** Reads of stored fragments go to the socket in pieces of this size. */
const READ_PIECE_BYTES = 1024 * 1024;
/** writev takes at most IOV_MAX buffers at once. */
const MAX_WRITEV_BUFFERS = 1024;

/** One stream's files, opened for appending when first written to. */
type StreamFiles = {
  dir: string;
  fragments: FileHandle | undefined;
  headers: FileHandle | undefined;
  index: FileHandle | undefined;
  fragmentsSize: number;
  headersSize: number;
  /** Header ids already in headers.bin. */
  persistedHeaders: Set<number>;
  /** The index ends in a line torn by a crash: the next line written must not be glued to it. */
  isIndexTorn: boolean;
};

export class DiskStorage implements StreamStorage, MediaStorage {
  /** Opens (creating it when missing) the data directory. */
  public static async open(dataDir: string): Promise<DiskStorage> {
    try {
      await makeDirectory(dataDir);
    } catch (error) {
      throw fileSystemError(error, `--data-dir ${dataDir}`) ?? error;
    }
    return new DiskStorage(dataDir);
  }

  public readonly isPersistent = true;

  private readonly streamsPath: string;
  private readonly mediaDir: string;
  private readonly files = new Map<string, StreamFiles>();
  private streamWrites: Promise<void> = Promise.resolve();

  private constructor(dataDir: string) {
    this.streamsPath = join(dataDir, STREAMS_FILE_NAME);
    this.mediaDir = join(dataDir, MEDIA_DIR_NAME);
  }

  // ---- the stream table ----------------------------------------------------------------------------------

  public async loadStreams(): Promise<StreamTable> {
    let text: string;
    try {
      text = await readFile(this.streamsPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return { nextSequence: 1, streams: [] };
      }
      throw new KvsPutError(ErrorCode.Io, `cannot read ${this.streamsPath}: ${describeFsError(error)}`, {
        context: { path: this.streamsPath },
        cause: error,
      });
    }
    return parseStreamTable(text, this.streamsPath);
  }

  public saveStreams(table: StreamTable): Promise<void> {
    const text = serializeStreamTable(table);
    const path = this.streamsPath;
    const temporaryPath = `${path}.${process.pid}.tmp`;
    const write = async (): Promise<void> => {
      await writeFile(temporaryPath, text, 'utf8');
      await rename(temporaryPath, path);
    };
    this.streamWrites = this.streamWrites.then(write, write);
    return this.streamWrites;
  }

  public flushStreams(): Promise<void> {
    return this.streamWrites;
  }

  // ---- media ---------------------------------------------------------------------------------------------

  /** Reads every stream directory back: fragment facts and headers (the fragment bytes stay on disk). */
  public async loadMedia(): Promise<LoadedStreamMedia[]> {
    let entries;
    try {
      entries = await readdir(this.mediaDir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return []; // nothing stored yet: the directory is made with the first fragment
      }
      throw new KvsPutError(ErrorCode.Io, `cannot read ${this.mediaDir}: ${describeFsError(error)}`, {
        context: { mediaDir: this.mediaDir },
        cause: error,
      });
    }
    const loaded: LoadedStreamMedia[] = [];
    for (const entry of entries) {
      if (entry.isDirectory()) {
        const media = await this.loadStreamDir(join(this.mediaDir, entry.name));
        if (media !== undefined) {
          loaded.push(media);
        }
      }
    }
    return loaded;
  }

  public async writeFragment(
    streamArn: string,
    fragment: StoredFragment,
    chunks: readonly Uint8Array[],
    headerBytes: Uint8Array,
  ): Promise<FragmentBytes> {
    const files = await this.openStream(streamArn);
    const lines: string[] = [];
    if (!files.persistedHeaders.has(fragment.headerId)) {
      files.headers ??= await open(join(files.dir, HEADERS_FILE_NAME), 'a');
      await writeAll(files.headers, [headerBytes]);
      lines.push(headerIndexLine(fragment.headerId, files.headersSize, headerBytes.length));
      files.headersSize += headerBytes.length;
      files.persistedHeaders.add(fragment.headerId);
    }
    files.fragments ??= await open(join(files.dir, FRAGMENTS_FILE_NAME), 'a');
    await writeAll(files.fragments, chunks);
    const offset = files.fragmentsSize;
    files.fragmentsSize += fragment.sizeBytes;
    lines.push(fragmentIndexLine(fragment, offset));
    files.index ??= await open(join(files.dir, INDEX_FILE_NAME), 'a');
    await files.index.write(`${files.isIndexTorn ? '\n' : ''}${lines.join('\n')}\n`);
    files.isIndexTorn = false;
    return this.bytesOf(streamArn, files, fragment, offset);
  }

  public async dropMedia(streamArn: string): Promise<void> {
    const files = this.files.get(streamArn);
    if (files === undefined) {
      return;
    }
    this.files.delete(streamArn);
    await closeFiles(files);
    await rm(files.dir, { recursive: true, force: true });
  }

  public async closeMedia(): Promise<void> {
    for (const files of this.files.values()) {
      await closeFiles(files);
    }
  }

  // ---- internals -----------------------------------------------------------------------------------------

  private async openStream(streamArn: string): Promise<StreamFiles> {
    const known = this.files.get(streamArn);
    if (known !== undefined) {
      return known;
    }
    const dir = join(this.mediaDir, streamDirName(streamArn));
    await makeDirectory(dir);
    const index = await open(join(dir, INDEX_FILE_NAME), 'a');
    await index.write(`${streamIndexLine(streamArn)}\n`);
    const files: StreamFiles = {
      dir,
      fragments: undefined,
      headers: undefined,
      index,
      fragmentsSize: 0,
      headersSize: 0,
      persistedHeaders: new Set(),
      isIndexTorn: false,
    };
    this.files.set(streamArn, files);
    return files;
  }

  private async loadStreamDir(dir: string): Promise<LoadedStreamMedia | undefined> {
    let text: string;
    try {
      text = await readFile(join(dir, INDEX_FILE_NAME), 'utf8');
    } catch {
      return undefined;
    }
    const index = parseIndex(text, join(dir, INDEX_FILE_NAME));
    const streamArn = index.streamArn;
    if (streamArn === undefined) {
      return undefined;
    }
    const fragmentsSize = await fileSize(join(dir, FRAGMENTS_FILE_NAME));
    const headersSize = await fileSize(join(dir, HEADERS_FILE_NAME));
    const headersBytes =
      headersSize > 0 ? new Uint8Array(await readFile(join(dir, HEADERS_FILE_NAME))) : undefined;
    const files: StreamFiles = {
      dir,
      fragments: undefined,
      headers: undefined,
      index: undefined,
      fragmentsSize,
      headersSize,
      persistedHeaders: new Set(),
      isIndexTorn: text.length > 0 && !text.endsWith('\n'),
    };
    this.files.set(streamArn, files);
    const headers = new Map<number, Uint8Array>();
    for (const header of index.headers) {
      // A header whose bytes did not all reach the disk is as good as absent.
      if (headersBytes !== undefined && header.offset + header.length <= headersBytes.length) {
        headers.set(header.id, headersBytes.slice(header.offset, header.offset + header.length));
        files.persistedHeaders.add(header.id);
      }
    }
    const fragments: LoadedFragment[] = index.fragments
      .filter(({ fragment, offset }) => offset + fragment.sizeBytes <= fragmentsSize)
      .map(({ fragment, offset }) => ({
        ...fragment,
        bytes: this.bytesOf(streamArn, files, fragment, offset),
      }));
    return { streamArn, headers, fragments };
  }

  /**
   * A fragment's bytes in `fragments.bin`, read in pieces of at most 1 MiB as they are asked for. Once the stream's
   * media is dropped they read as nothing, as a deleted stream's would.
   */
  private bytesOf(
    streamArn: string,
    files: StreamFiles,
    fragment: StoredFragment,
    offset: number,
  ): FragmentBytes {
    const isCurrent = (): boolean => this.files.get(streamArn) === files;
    return { read: () => readFileRange(join(files.dir, FRAGMENTS_FILE_NAME), fragment, offset, isCurrent) };
  }
}

const readFileRange = async function* (
  path: string,
  fragment: StoredFragment,
  offset: number,
  isCurrent: () => boolean,
): AsyncGenerator<Uint8Array> {
  if (!isCurrent()) {
    return;
  }
  const handle = await open(path, 'r');
  try {
    let position = offset;
    let remaining = fragment.sizeBytes;
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
};

/** Appends every chunk (one writev per batch; a short write goes on where it stopped). */
const writeAll = async (handle: FileHandle, chunks: readonly Uint8Array[]): Promise<void> => {
  let pending = chunks.filter((chunk) => chunk.length > 0);
  while (pending.length > 0) {
    const batch = pending.slice(0, MAX_WRITEV_BUFFERS);
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

/** Closes a stream's files; the next write opens them again. */
const closeFiles = async (files: StreamFiles): Promise<void> => {
  const handles = [files.fragments, files.headers, files.index];
  files.fragments = undefined;
  files.headers = undefined;
  files.index = undefined;
  await Promise.all(handles.flatMap((handle) => (handle === undefined ? [] : [handle.close()])));
};

const fileSize = async (path: string): Promise<number> => {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
};

const describeFsError = (error: unknown): string => fileErrorReason((error as NodeJS.ErrnoException).code);
