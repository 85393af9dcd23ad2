import { describe, expect, it } from 'vitest';
import { EventStream } from '../../src/util/event-stream.js';

const collect = async <T>(iterable: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const item of iterable) {
    out.push(item);
  }
  return out;
};

describe('EventStream', () => {
  it('gives every reader each item pushed after it started reading, then ends', async () => {
    const stream = new EventStream<number>();
    const first = collect(stream);
    stream.push(1);
    const second = collect(stream);
    stream.push(2);
    stream.end();
    expect(await first).toEqual([1, 2]);
    expect(await second).toEqual([2]);
    expect(await collect(stream)).toEqual([]);
  });

  it("throws the stream's error to each reader after the items before it", async () => {
    const stream = new EventStream<string>();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const item of stream) {
        seen.push(item);
      }
    })();
    stream.push('a');
    stream.end(new Error('failed'));
    await expect(reading).rejects.toThrow('failed');
    expect(seen).toEqual(['a']);
  });

  it('a reader that breaks out stops receiving; the others go on', async () => {
    const stream = new EventStream<number>();
    const iterator = stream[Symbol.asyncIterator]();
    const other = collect(stream);
    stream.push(1);
    expect(await iterator.next()).toEqual({ value: 1, done: false });
    await iterator.return!();
    stream.push(2);
    stream.end();
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
    expect(await other).toEqual([1, 2]);
  });
});
