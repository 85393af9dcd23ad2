import { describe, expect, it } from 'vitest';
import { sleep } from '../../src/util/clock.js';
import { backoffDelayMs } from '../../src/util/backoff.js';
import { FakeClock } from '../helpers/fake-clock.js';

describe('clock', () => {
  it('sleep resolves when the fake clock reaches its deadline, not before', async () => {
    const clock = new FakeClock();
    let isDone = false;
    void sleep(clock, 1000).then(() => {
      isDone = true;
    });
    await clock.advance(999);
    expect(isDone).toBe(false);
    await clock.advance(1);
    expect(isDone).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it('sleep resolves early on abort and cancels its timer', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const slept = sleep(clock, 60_000, controller.signal);
    controller.abort();
    await slept;
    expect(clock.pendingTimers).toBe(0);
  });

  it('fires intervals and timeouts in time order, wall time moving with them', async () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const interval = clock.setInterval(() => fired.push(`i${clock.now()}`), 400);
    clock.setTimeout(() => fired.push(`t${clock.now()}`), 1000);
    await clock.advance(1300);
    interval.cancel();
    expect(fired).toEqual(['i400', 'i800', 't1000', 'i1200']);
    expect(clock.monotonicMs()).toBe(1300);
  });
});

describe('backoff', () => {
  it('doubles its ceiling from the initial delay up to the maximum, with full jitter', () => {
    const policy = { initialDelayMs: 1000, maxDelayMs: 16_000, resetAfterMs: 90_000 };
    expect([1, 2, 3, 4, 5, 6, 20].map((attempt) => backoffDelayMs(policy, attempt, () => 1))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 16_000, 16_000,
    ]);
    expect(backoffDelayMs(policy, 3, () => 0)).toBe(0);
    expect(backoffDelayMs(policy, 3, () => 0.5)).toBe(2000);
  });
});
