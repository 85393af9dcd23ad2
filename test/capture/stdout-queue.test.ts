/**
 * The pull adapter over ffmpeg's pushed stdout, without ffmpeg: reads come out in order, the flow is paused
 * at the high-water mark and resumed once the reader is below it, the end and a failure come after the
 * queued reads, and a reader that leaves drops the queue, resumes the flow and runs onReturn.
 */
import { describe, expect, it } from 'vitest';
import type { StdoutFlow } from '../../src/capture/ffmpeg-process.js';
import { StdoutQueue } from '../../src/capture/stdout-queue.js';

/** A flow that records what the queue asked of it. */
const recordingFlow = (): StdoutFlow & { calls: string[] } => {
  const calls: string[] = [];
  return {
    calls,
    pauseStdout: () => calls.push('pause'),
    resumeStdout: () => calls.push('resume'),
  };
};

const bytes = (length: number, fill = 0): Uint8Array => new Uint8Array(length).fill(fill);

describe('StdoutQueue', () => {
  it('hands reads on in order and ends after the last one', async () => {
    const queue = new StdoutQueue({ onReturn: () => undefined });
    const flow = recordingFlow();
    queue.push(bytes(1, 1), flow);
    queue.push(bytes(2, 2), flow);
    queue.end();
    queue.push(bytes(3, 3), flow);
    const seen: number[] = [];
    for await (const chunk of queue) {
      seen.push(chunk[0]!);
    }
    expect(seen).toEqual([1, 2]);
    expect(flow.calls).toEqual([]);
  });

  it('a reader waiting for the next read is woken by it', async () => {
    const queue = new StdoutQueue({ onReturn: () => undefined });
    const next = queue.next();
    queue.push(bytes(4, 7), recordingFlow());
    expect((await next).value?.[0]).toBe(7);
  });

  it('pauses the flow at the high-water mark, once, and resumes it when the reader is below it', async () => {
    const queue = new StdoutQueue({ onReturn: () => undefined, highWaterBytes: 10 });
    const flow = recordingFlow();
    queue.push(bytes(6), flow);
    expect(flow.calls).toEqual([]);
    queue.push(bytes(6), flow);
    queue.push(bytes(6), flow);
    expect(flow.calls).toEqual(['pause']);
    await queue.next();
    // 12 bytes still queued: above the mark.
    expect(flow.calls).toEqual(['pause']);
    await queue.next();
    expect(flow.calls).toEqual(['pause', 'resume']);
    await queue.next();
    expect(flow.calls).toEqual(['pause', 'resume']);
  });

  it('a failure is thrown after the queued reads, once', async () => {
    const queue = new StdoutQueue({ onReturn: () => undefined });
    const failure = new Error('ffmpeg exited with code 1');
    queue.push(bytes(1), recordingFlow());
    queue.fail(failure);
    expect((await queue.next()).done).toBe(false);
    await expect(queue.next()).rejects.toBe(failure);
    expect((await queue.next()).done).toBe(true);
  });

  it('a reader that leaves drops the queue, resumes a paused flow and waits for onReturn', async () => {
    let hasReturned = false;
    const queue = new StdoutQueue({
      highWaterBytes: 4,
      onReturn: async () => {
        await Promise.resolve();
        hasReturned = true;
      },
    });
    const flow = recordingFlow();
    queue.push(bytes(8), flow);
    queue.push(bytes(8), flow);
    await queue.next();
    expect(flow.calls).toEqual(['pause']);
    await queue.return();
    expect(hasReturned).toBe(true);
    expect(flow.calls).toEqual(['pause', 'resume']);
    queue.push(bytes(8), flow);
    expect((await queue.next()).done).toBe(true);
  });
});
