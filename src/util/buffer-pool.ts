/**
 * Reusable read buffers, counted by reference. A file is read into pool buffers; the frames parsed from one
 * are views of it (src/mkv never copies a payload), and they live until the service has acknowledged their
 * fragment. Each view handed on is retained, each is released when its fragment is done, and a buffer with
 * no references left is read into again. Without the pool every read allocates a new buffer that only the
 * garbage collector frees, only full collections free them, and peak memory depends on when they run.
 *
 * Counting is by the view's backing memory, so a view of memory that is not a pool buffer (a copy the MKV
 * reader made of a frame spanning two reads, a chunk from stdin) is ignored. A buffer whose count never
 * reaches zero (a view retained but dropped unreleased, say a frame the fragmenter skipped) is simply left
 * to the garbage collector: a missed release wastes memory, it never corrupts data.
 */
type PoolBuffer = { bytes: Uint8Array; refs: number };

export class BufferPool {
  private readonly idle: Uint8Array[] = [];
  private readonly byMemory = new WeakMap<ArrayBufferLike, PoolBuffer>();
  private allocated = 0;

  /**
   * @param bufferBytes size of every buffer
   * @param maxIdle buffers kept for reuse when free; more are left to the garbage collector
   */
  public constructor(
    public readonly bufferBytes: number,
    private readonly maxIdle = Infinity,
  ) {}

  /** Buffers created so far (a measure of reuse: reading a long file should not grow it). */
  public get allocatedCount(): number {
    return this.allocated;
  }

  /** A free buffer, whole; the caller holds the one reference to it. */
  public acquire(): Uint8Array {
    const bytes = this.idle.pop() ?? this.allocate();
    this.byMemory.get(bytes.buffer)!.refs = 1;
    return bytes;
  }

  /** One more reference to the pool buffer `view` looks into (nothing for other memory). */
  public retain(view: Uint8Array): void {
    const entry = this.byMemory.get(view.buffer);
    if (entry !== undefined) {
      entry.refs++;
    }
  }

  /** Drops one reference to the pool buffer `view` looks into; at zero the buffer is free again. */
  public release(view: Uint8Array): void {
    const entry = this.byMemory.get(view.buffer);
    if (entry === undefined) {
      return;
    }
    if (entry.refs <= 0) {
      throw new Error('BufferPool.release(): the buffer has no reference left (released twice)');
    }
    if (--entry.refs === 0 && this.idle.length < this.maxIdle) {
      this.idle.push(entry.bytes);
    }
  }

  private allocate(): Uint8Array {
    // Its own memory (not a slice of Node's shared pool), so the memory identifies the buffer.
    const bytes = new Uint8Array(new ArrayBuffer(this.bufferBytes));
    this.byMemory.set(bytes.buffer, { bytes, refs: 0 });
    this.allocated++;
    return bytes;
  }
}

/** A function that releases the pool memory `frames` view, once however often it is called. */
export const onceReleasing = (pool: BufferPool, frames: readonly { data: Uint8Array }[]): (() => void) => {
  let isReleased = false;
  return () => {
    if (!isReleased) {
      isReleased = true;
      for (const frame of frames) {
        pool.release(frame.data);
      }
    }
  };
};

/**
 * Copies reads back to back into pool buffers, for a source whose reads are not pool buffers (a pipe from
 * ffmpeg: Node allocates a new buffer for every read). Frames parsed from the copies view pool memory that
 * is counted and used again, instead of keeping Node's read buffers alive until their fragments are
 * acknowledged (where the garbage collector then has to find them: megabytes a minute on a camera, for
 * days); and reads that follow each other lie back to back, so a frame spanning two of them is still one
 * view (see MkvReaderOptions.keepsChunkViews).
 */
export class ChunkArena {
  private current: Uint8Array | undefined;
  private used = 0;

  public constructor(public readonly pool: BufferPool) {}

  /**
   * A copy of `bytes` in pool memory, holding one reference to it until {@link BufferPool.release}d. A read
   * larger than a pool buffer gets memory of its own (not counted).
   */
  public copy(bytes: Uint8Array): Uint8Array {
    const pool = this.pool;
    if (bytes.length > pool.bufferBytes) {
      return bytes.slice();
    }
    let current = this.current;
    if (current === undefined || current.length - this.used < bytes.length) {
      if (current !== undefined) {
        pool.release(current);
      }
      current = pool.acquire();
      this.current = current;
      this.used = 0;
    }
    const view = current.subarray(this.used, this.used + bytes.length);
    view.set(bytes);
    this.used += bytes.length;
    pool.retain(view);
    return view;
  }

  /** Gives up the arena's own hold on the buffer it fills; the next copy starts a new one. */
  public close(): void {
    if (this.current !== undefined) {
      this.pool.release(this.current);
      this.current = undefined;
    }
  }
}
