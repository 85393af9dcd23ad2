import type { KvsHeaderOptions } from '../mkv/mkv-writer.js';
import { END_OF_FRAGMENT_BYTES, writeCluster, writeKvsHeader, writeTags } from '../mkv/mkv-writer.js';
import type { MkvTrack } from '../mkv/mkv-types.js';
import type { Fragment } from './fragmenter.js';

export type SessionWriterOptions = Omit<KvsHeaderOptions, 'tracks'>;

/**
 * Turns fragments into the bytes of one PutMedia body: the session header before the first fragment (and
 * again whenever the track set changes), each fragment's metadata Tags, then its Cluster. The output of
 * every call is a chunk list whose frame payloads are the fragment's own bytes (no copy).
 */
export class SessionWriter {
  private tracks: readonly MkvTrack[] | undefined;
  private readonly options: SessionWriterOptions;

  public constructor(options: SessionWriterOptions = {}) {
    this.options = options;
  }

  /** True once a header has been written: a new session must start with one. */
  public get hasHeader(): boolean {
    return this.tracks !== undefined;
  }

  public write(fragment: Fragment): Uint8Array[] {
    const chunks: Uint8Array[] = [];
    if (this.tracks !== fragment.tracks) {
      this.tracks = fragment.tracks;
      chunks.push(writeKvsHeader({ ...this.options, tracks: fragment.tracks }));
    }
    if (fragment.tags.length > 0) {
      chunks.push(writeTags(fragment.tags));
    }
    for (const chunk of writeCluster(fragment.timecode, fragment.frames, fragment.isContinuation === true)) {
      chunks.push(chunk);
    }
    return chunks;
  }

  /** The end-of-fragment marker that closes the last fragment of a session. */
  public end(): Uint8Array[] {
    return this.tracks === undefined ? [] : [END_OF_FRAGMENT_BYTES];
  }
}
