/**
 * ffmpeg's stdout for a pull consumer, such as a file remuxed through ffmpeg and uploaded as fast as the
 * connection goes: the push path's reads queued for an async iterator. The queue is the only buffer, and
 * while it holds {@link STDOUT_HIGH_WATER_BYTES} ffmpeg's stdout is paused, so ffmpeg waits for its reader
 * instead of filling memory. Live sources never come here: they take each read as it arrives.
 */
import type { StdoutFlow } from './ffmpeg-process.js';

/** Bytes queued before ffmpeg's stdout is paused. */
export const STDOUT_HIGH_WATER_BYTES = 1024 * 1024;

export type StdoutQueueOptions = {
  /** The reader left before the end: stop what feeds the queue. Awaited by return(). */
  onReturn: () => unknown;
  /** @default STDOUT_HIGH_WATER_BYTES */
  highWaterBytes?: number;
};

export class StdoutQueue implements AsyncIterableIterator<Uint8Array> {
  readonly #chunks: Uint8Array[] = [];
  #queuedBytes = 0;
  readonly #highWaterBytes: number;
  /** The flow this queue paused, to resume once the reader has caught up. */
  #paused: StdoutFlow | undefined;
  #end: { error?: unknown } | undefined;
  #isDone = false;
  #wake: (() => void) | undefined;
  readonly #onReturn: () => unknown;

  public constructor(options: StdoutQueueOptions) {
    this.#onReturn = options.onReturn;
    this.#highWaterBytes = options.highWaterBytes ?? STDOUT_HIGH_WATER_BYTES;
  }

  /** One read of ffmpeg's stdout; `flow` is what to pause when the queue is full. */
  public push(chunk: Uint8Array, flow: StdoutFlow): void {
    if (this.#isDone || this.#end !== undefined) {
      return;
    }
    this.#chunks.push(chunk);
    this.#queuedBytes += chunk.length;
    if (this.#paused === undefined && this.#queuedBytes >= this.#highWaterBytes) {
      this.#paused = flow;
      flow.pauseStdout();
    }
    this.#notify();
  }

  /** No more reads: the iteration ends once the queue is read. */
  public end(): void {
    this.#finish({});
  }

  /** No more reads: the iteration throws `error` once the queue is read. */
  public fail(error: unknown): void {
    this.#finish({ error });
  }

  public async next(): Promise<IteratorResult<Uint8Array, undefined>> {
    for (;;) {
      if (this.#isDone) {
        return { value: undefined, done: true };
      }
      const chunk = this.#chunks.shift();
      if (chunk !== undefined) {
        this.#queuedBytes -= chunk.length;
        if (this.#queuedBytes < this.#highWaterBytes) {
          this.#resume();
        }
        return { value: chunk, done: false };
      }
      if (this.#end !== undefined) {
        this.#isDone = true;
        if ('error' in this.#end) {
          throw this.#end.error;
        }
        return { value: undefined, done: true };
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /** The reader leaves: what is queued is dropped, ffmpeg may write on (nobody keeps it), and onReturn runs. */
  public async return(): Promise<IteratorResult<Uint8Array, undefined>> {
    if (!this.#isDone) {
      this.#isDone = true;
      this.#chunks.length = 0;
      this.#queuedBytes = 0;
      this.#resume();
      await this.#onReturn();
    }
    return { value: undefined, done: true };
  }

  public [Symbol.asyncIterator](): this {
    return this;
  }

  #finish(end: { error?: unknown }): void {
    if (this.#end === undefined) {
      this.#end = end;
      this.#notify();
    }
  }

  #resume(): void {
    const flow = this.#paused;
    this.#paused = undefined;
    flow?.resumeStdout();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
