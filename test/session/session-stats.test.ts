import { describe, expect, it } from 'vitest';
import { ErrorId } from '../../src/kvs/ack.js';
import type { FragmentState, FragmentStats } from '../../src/session/session-stats.js';
import { newFragmentStats, SessionStats } from '../../src/session/session-stats.js';
import { makeFragment } from './session-test-helpers.js';

/** Stats of fragment `sequence`, settled in `state`, sent at 1000 and finally acknowledged 40 ms later. */
const settled = (sequence: number, state: FragmentState): FragmentStats => ({
  ...newFragmentStats(makeFragment(sequence), 0),
  state,
  sentAtMs: 1000,
  ...(state === 'persisted' ? { receivedAtMs: 1020, persistedAtMs: 1040 } : {}),
  ...(state === 'received' ? { receivedAtMs: 1040 } : {}),
  ...(state === 'skipped'
    ? { skipErrorId: ErrorId.FragmentTimecodeLesserThanPrevious, skipReason: 'refused' }
    : {}),
});

const STATES: FragmentState[] = ['persisted', 'received', 'skipped', 'persisted', 'persisted', 'sent'];

describe('SessionStats', () => {
  it('folding settled stats into totals gives the summary keeping them all would', () => {
    const summaries = [2, 4096].map((maxKeptStats) => {
      const stats = new SessionStats({ isPersistedAckExpected: true, maxKeptStats }, 0);
      STATES.forEach((state, sequence) => stats.add(settled(sequence, state)));
      return stats.summary(false, undefined);
    });
    const [folded, full] = summaries;
    expect(folded!.stats.length).toBeLessThan(full!.stats.length);
    const { stats: _folded, ...foldedTotals } = folded!;
    const { stats: _full, ...fullTotals } = full!;
    expect(foldedTotals).toEqual(fullTotals);
    expect(fullTotals).toMatchObject({
      fragments: 6,
      framesStored: 40,
      persisted: 3,
      received: 1,
      unacknowledged: 2,
      ackLatencyMs: { p50: 40, p99: 40 },
    });
    expect(fullTotals.skipped.map((stats) => stats.sequence)).toEqual([2]);
  });

  it('never folds a fragment that is not settled, nor anything behind it', () => {
    const stats = new SessionStats({ isPersistedAckExpected: true, maxKeptStats: 2 }, 0);
    stats.add(settled(0, 'sent'));
    for (let sequence = 1; sequence < 6; sequence++) {
      stats.add(settled(sequence, 'persisted'));
    }
    expect(stats.summary(false, undefined).stats).toHaveLength(6);
  });

  it('interval(): counters so far, latencies and duration of the interval only, on the clock given', () => {
    const stats = new SessionStats({ isPersistedAckExpected: true, maxKeptStats: 4096 }, 500);
    stats.add(settled(0, 'persisted'));
    stats.addSourceToSocket(2);
    stats.addSourceToKernel(3);
    stats.bytesSent = 1000;
    const first = stats.interval(1500, false);
    expect(first).toMatchObject({
      intervalMs: 1000,
      fragments: 1,
      bytesSent: 1000,
      skipped: 0,
      sourceToSocketMs: { p50: 2, p99: 2 },
      sourceToKernelMs: { p50: 3, p99: 3 },
    });
    const second = stats.interval(4000, true);
    expect(second).toMatchObject({
      intervalMs: 2500,
      fragments: 1,
      isInterrupted: true,
      sourceToSocketMs: undefined,
      sourceToKernelMs: undefined,
    });
    // The summary keeps the whole run's latencies.
    expect(stats.summary(true, new Error('bad media'))).toMatchObject({
      sourceToSocketMs: { p50: 2, p99: 2 },
      sourceError: new Error('bad media'),
    });
  });
});
