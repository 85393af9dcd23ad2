import { toError } from './to-error.js';

/**
 * A push stream that any number of `for await` loops can read: each iterator gets every item pushed after it
 * was created, in order, then ends when the stream ends (throwing its error, if it failed). A producer never
 * waits for readers: a live upload cannot pause for a slow consumer, and one with no readers keeps nothing.
 */
export class EventStream<T> implements AsyncIterable<T> {
  readonly #readers = new Set<Reader<T>>();
  #end: { error: unknown } | undefined;

  public push(item: T): void {
    for (const reader of this.#readers) {
      reader.push(item);
    }
  }

  /** Ends every reader once it has read what was pushed before; `error` is thrown to each. */
  public end(error?: unknown): void {
    if (this.#end !== undefined) {
      return;
    }
    this.#end = { error };
    for (const reader of this.#readers) {
      reader.end(this.#end);
    }
    this.#readers.clear();
  }

  public [Symbol.asyncIterator](): AsyncIterator<T> {
    const reader = new Reader<T>(() => this.#readers.delete(reader));
    if (this.#end === undefined) {
      this.#readers.add(reader);
    } else {
      reader.end(this.#end);
    }
    return reader;
  }
}

class Reader<T> implements AsyncIterator<T> {
  readonly #queue: T[] = [];
  #head = 0;
  #end: { error: unknown } | undefined;
  #wake: (() => void) | undefined;
  readonly #detach: () => void;

  public constructor(detach: () => void) {
    this.#detach = detach;
  }

  public push(item: T): void {
    this.#queue.push(item);
    this.#wake?.();
  }

  public end(end: { error: unknown }): void {
    this.#end = end;
    this.#wake?.();
  }

  public async next(): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.#head < this.#queue.length) {
        const value = this.#queue[this.#head++]!;
        if (this.#head === this.#queue.length) {
          this.#queue.length = 0;
          this.#head = 0;
        }
        return { value, done: false };
      }
      if (this.#end !== undefined) {
        const { error } = this.#end;
        // Thrown once: a loop that catches and calls next() again just ends.
        this.#end = { error: undefined };
        if (error !== undefined) {
          throw toError(error);
        }
        return { value: undefined, done: true };
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }

  /** A loop that breaks out stops reading; the stream goes on for other readers. */
  public return(): Promise<IteratorResult<T>> {
    this.#detach();
    this.#queue.length = 0;
    this.#end = { error: undefined };
    return Promise.resolve({ value: undefined, done: true });
  }
}
