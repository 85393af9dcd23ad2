/**
 * An MkvReader for reads that are not pool memory (ffmpeg's stdout: Node allocates a new buffer for every
 * read). Each read is copied into a {@link ChunkArena}, back to back with the one before, so the frames parsed
 * from it view counted pool memory and a frame spanning reads is still one view, with no copy of its own.
 * Frames are returned retained: each holds its pool buffer until `pool.release(frame.data)` (when its
 * fragment is acknowledged). The reader's own hold on a read lasts until no element in progress views it.
 */
import type { BufferPool, ChunkArena } from '../util/buffer-pool.js';
import { MkvReader } from './mkv-reader.js';
import type { MkvReaderOptions } from './mkv-reader.js';
import type { MkvEvent } from './mkv-types.js';

export class ArenaMkvReader {
  private readonly reader: MkvReader;
  private readonly pool: BufferPool;
  /** Copies of reads an element in progress may still view. */
  private held: Uint8Array[] = [];

  public constructor(
    private readonly arena: ChunkArena,
    options: Omit<MkvReaderOptions, 'keepsChunkViews'> = {},
  ) {
    this.reader = new MkvReader({ ...options, keepsChunkViews: true });
    this.pool = arena.pool;
  }

  /**
   * Parses the next read; frames come back retained.
   * @throws MkvParseError as MkvReader.push does (the reader is then done: call {@link close}).
   */
  public push(read: Uint8Array): MkvEvent[] {
    const chunk = this.arena.copy(read);
    this.held.push(chunk);
    const events = this.retainFrames(this.reader.push(chunk));
    if (!this.reader.isHoldingChunkViews) {
      this.releaseHeld();
    }
    return events;
  }

  /** The last events at the end of the input; frames come back retained. */
  public end(): MkvEvent[] {
    try {
      return this.retainFrames(this.reader.end());
    } finally {
      this.releaseHeld();
    }
  }

  /** Gives up the reader's holds (after a failure, or when its run is dropped); frames keep theirs. */
  public close(): void {
    this.releaseHeld();
  }

  private retainFrames(events: MkvEvent[]): MkvEvent[] {
    for (const event of events) {
      if (event.type === 'frame') {
        this.pool.retain(event.frame.data);
      }
    }
    return events;
  }

  private releaseHeld(): void {
    for (const chunk of this.held) {
      this.pool.release(chunk);
    }
    this.held = [];
  }
}
