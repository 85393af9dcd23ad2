/**
 * The local KVS's storage for the life of the process: the default, and the retention-0 buffer's always. The stream
 * table needs nothing here (the stream store holds it), and a fragment's bytes live in the handle the media store
 * keeps, so they go when the fragment expires.
 */
import type { StoredFragment } from './media-store.js';
import type {
  FragmentBytes,
  LoadedStreamMedia,
  MediaStorage,
  StreamStorage,
  StreamTable,
} from './storage.js';

/** Chunks smaller than this on average are joined (see `compact`). */
const SMALL_CHUNK_BYTES = 4096;
/** A fragment in at most this many chunks is kept as it came, whatever their size. */
const MAX_KEPT_CHUNKS = 16;

export class MemoryStorage implements StreamStorage, MediaStorage {
  public readonly isPersistent = false;

  public loadStreams(): Promise<StreamTable> {
    return Promise.resolve({ nextSequence: 1, streams: [] });
  }

  public saveStreams(_table: StreamTable): Promise<void> {
    return Promise.resolve();
  }

  public flushStreams(): Promise<void> {
    return Promise.resolve();
  }

  public loadMedia(): Promise<LoadedStreamMedia[]> {
    return Promise.resolve([]);
  }

  public writeFragment(
    _streamArn: string,
    _fragment: StoredFragment,
    chunks: readonly Uint8Array[],
  ): Promise<FragmentBytes> {
    const pieces = compact(chunks);
    return Promise.resolve({ read: () => pieces });
  }

  public dropMedia(_streamArn: string): Promise<void> {
    return Promise.resolve();
  }

  public closeMedia(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Kept as they came unless they came in many small pieces (a body sent a few bytes at a time): those are joined,
 * so a fragment never costs more than its bytes plus a few views.
 */
const compact = (chunks: readonly Uint8Array[]): readonly Uint8Array[] => {
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  if (chunks.length <= MAX_KEPT_CHUNKS || total / chunks.length >= SMALL_CHUNK_BYTES) {
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
