import { describe, expect, it } from 'vitest';
import { Pacer } from '../../src/session/pacer.js';
import { makeFragment } from './session-test-helpers.js';

const fragment = (byteLength: number, isContinuation = false) =>
  makeFragment(0, { byteLength, ...(isContinuation ? { isContinuation } : {}) });

/** Sends `fragments` as soon as the pacer lets them, from `startMs`: the times they went. */
const sendTimes = (pacer: Pacer, fragments: ReturnType<typeof fragment>[], startMs = 0): number[] => {
  let nowMs = startMs;
  return fragments.map((next) => {
    nowMs += pacer.waitMs(next, nowMs);
    pacer.charge(next, nowMs);
    return nowMs;
  });
};

describe('Pacer', () => {
  it('unpaced (0): nothing waits', () => {
    const pacer = new Pacer({ maxBytesPerSecond: 0, maxFragmentsPerSecond: 0 });
    expect(sendTimes(pacer, [fragment(1e9), fragment(1e9), fragment(1e9)])).toEqual([0, 0, 0]);
  });

  it('maxFragmentsPerSecond spaces fragment starts; continuation parts never wait for it', () => {
    const pacer = new Pacer({ maxBytesPerSecond: 0, maxFragmentsPerSecond: 4 });
    expect(
      sendTimes(
        pacer,
        [fragment(10), fragment(10, true), fragment(10), fragment(10, true), fragment(10)],
        5000,
      ),
    ).toEqual([5000, 5000, 5250, 5250, 5500]);
  });

  it('a fragment rate not used is not saved up: after a pause the next start goes at once, then the rate again', () => {
    const pacer = new Pacer({ maxBytesPerSecond: 0, maxFragmentsPerSecond: 2 });
    sendTimes(pacer, [fragment(10)]);
    expect(sendTimes(pacer, [fragment(10), fragment(10)], 10_000)).toEqual([10_000, 10_500]);
  });

  it('maxBytesPerSecond: a token bucket, bursts go at once, the average stays within the rate', () => {
    const pacer = new Pacer({ maxBytesPerSecond: 1000, maxFragmentsPerSecond: 0 });
    // 500 bytes each (half a second of the rate). From idle, sending may run one second ahead of the byte
    // clock: three go at once (the third takes it exactly one second ahead); then one every 500 ms.
    const times = sendTimes(
      pacer,
      Array.from({ length: 8 }, () => fragment(500, true)),
    );
    expect(times).toEqual([0, 0, 0, 500, 1000, 1500, 2000, 2500]);
  });

  it('an idle byte bucket refills to one burst only', () => {
    const pacer = new Pacer({ maxBytesPerSecond: 1000, maxFragmentsPerSecond: 0 });
    sendTimes(pacer, [fragment(5000)]);
    // A minute later the debt is long paid, and the burst is still one second's worth, not a minute's.
    expect(
      sendTimes(
        pacer,
        Array.from({ length: 7 }, () => fragment(500)),
        60_000,
      ),
    ).toEqual([60_000, 60_000, 60_000, 60_500, 61_000, 61_500, 62_000]);
  });

  it('waits for the later of both clocks', () => {
    const pacer = new Pacer({ maxBytesPerSecond: 1000, maxFragmentsPerSecond: 10 });
    expect(sendTimes(pacer, [fragment(1000), fragment(1000), fragment(1000), fragment(10)])).toEqual([
      0, 100, 1000, 2000,
    ]);
  });
});
