import type { KvsHeaderOptions } from '../mkv/mkv-writer.js';
import { END_OF_FRAGMENT_BYTES, writeCluster, writeKvsHeader, writeTags } from '../mkv/mkv-writer.js';
import { assert } from '../util/assert.js';
import type { SessionHeader, SessionItem } from './fragmenter.js';

export type SessionWriterOptions = Omit<KvsHeaderOptions, 'tracks'>;

/**
 * Turns a stream of session items into the bytes of one PutMedia body: each {@link SessionHeader} (EBML
 * header, Segment, Info, Tracks) before the fragment after it, each fragment's metadata Tags, then its
 * Cluster. The output of every call is a chunk list whose frame payloads are the fragment's own bytes (no
 * copy).
 */
export class SessionWriter {
  /** A header item not written yet: it goes out with the next fragment. */
  private pending: SessionHeader | undefined;
  private hasHeader = false;
  private readonly options: SessionWriterOptions;

  public constructor(options: SessionWriterOptions = {}) {
    this.options = options;
  }

  /**
   * The chunks of one item. A session header is written with the fragment that follows it, so a header no
   * fragment follows (a track change at the very end) leaves no empty session in the body.
   */
  public write(item: SessionItem): Uint8Array[] {
    if (item.type === 'session-header') {
      this.pending = item;
      return [];
    }
    const chunks: Uint8Array[] = [];
    if (this.pending !== undefined) {
      chunks.push(writeKvsHeader({ ...this.options, tracks: this.pending.tracks }));
      this.pending = undefined;
      this.hasHeader = true;
    }
    assert(this.hasHeader, 'a session header must come before the first fragment');
    if (item.tags.length > 0) {
      chunks.push(writeTags(item.tags));
    }
    for (const chunk of writeCluster(item.timecode, item.frames, item.isContinuation)) {
      chunks.push(chunk);
    }
    return chunks;
  }

  /** The end-of-fragment marker that closes the last fragment of a session. */
  public end(): Uint8Array[] {
    return this.hasHeader ? [END_OF_FRAGMENT_BYTES] : [];
  }
}
