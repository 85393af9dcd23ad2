/**
 * The local KVS's storage contract: where the stream table and the fragments' bytes are kept. The stream store
 * and the media store hold the service's rules (lifecycle, retention, numbering) and work through this contract
 * only, so neither they nor the routes above them know whether they have a `MemoryStorage` (for the life of
 * the process) or a `DiskStorage` (under `--data-dir`, across restarts).
 */
import type { StoredFragment } from './media-store.js';
import type { StreamRecord } from './stream-store.js';

/** The stream table as it is saved: every stream, in creation order, and the next creation order to hand out. */
export type StreamTable = {
  readonly nextSequence: number;
  readonly streams: readonly StreamRecord[];
};

/** Where the stream table is kept between changes. */
export interface StreamStorage {
  /** The table as last saved (empty, with `nextSequence` 1, when nothing was saved yet). */
  loadStreams(): Promise<StreamTable>;
  /**
   * Saves the whole table. Saves land in call order; since each holds the whole table, a failed one is made good
   * by the next.
   */
  saveStreams(table: StreamTable): Promise<void>;
  /** Resolves once every save has landed; rejects when the last one failed. */
  flushStreams(): Promise<void>;
}

/** A stored fragment's bytes, however its storage keeps them. */
export type FragmentBytes = {
  /** The fragment's bytes as sent, in pieces: at hand, or read from the device as they are asked for. */
  read: () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
};

/** One fragment an earlier run stored, with its bytes. */
export type LoadedFragment = StoredFragment & { readonly bytes: FragmentBytes };

/** One stream's media as an earlier run stored it. */
export type LoadedStreamMedia = {
  readonly streamArn: string;
  /** The session headers, by id. */
  readonly headers: ReadonlyMap<number, Uint8Array>;
  /** In no particular order. */
  readonly fragments: readonly LoadedFragment[];
};

/** Where the fragments' bytes are kept. */
export interface MediaStorage {
  /**
   * Whether what it stores outlives the process. Such writes take time, so the media store counts their bytes
   * until they land, and PutMedia stops reading its body while too many are pending.
   */
  readonly isPersistent: boolean;
  /** What earlier runs stored, stream by stream (nothing for a storage that does not persist). */
  loadMedia(): Promise<LoadedStreamMedia[]>;
  /**
   * Stores one fragment's bytes and, the first time the stream's fragments name its `headerId`, the session header
   * they are served with; resolves once both are stored. The media store hands over one stream's writes one at a
   * time, in the order its fragments arrived, and does not reuse `chunks` afterwards.
   */
  writeFragment(
    streamArn: string,
    fragment: StoredFragment,
    chunks: readonly Uint8Array[],
    headerBytes: Uint8Array,
  ): Promise<FragmentBytes>;
  /** Forgets a stream's media and gives its space back (once its writes are done). */
  dropMedia(streamArn: string): Promise<void>;
  /** Releases what is held open (files); a later write opens them again. */
  closeMedia(): Promise<void>;
}
