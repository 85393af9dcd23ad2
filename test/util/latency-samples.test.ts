import { describe, expect, it } from 'vitest';
import { LatencySamples, percentilesOf } from '../../src/util/latency-samples.js';

describe('percentilesOf', () => {
  it('p50 and p99 of a list, rounded to 0.01 ms; undefined when empty', () => {
    expect(percentilesOf([])).toBeUndefined();
    expect(percentilesOf([3.14159])).toEqual({ p50: 3.14, p99: 3.14 });
    const values = Array.from({ length: 1000 }, (_, i) => i + 1);
    expect(percentilesOf(values.reverse())).toEqual({ p50: 501, p99: 991 });
  });
});

describe('LatencySamples', () => {
  it('keeps every value up to its capacity', () => {
    const samples = new LatencySamples(10);
    for (let i = 0; i < 10; i++) {
      samples.add(i);
    }
    expect(Array.from(samples.values())).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(samples.seen).toBe(10);
  });

  it('past its capacity, stays bounded and stands for the whole run, not its start', () => {
    const samples = new LatencySamples(1000);
    // A run whose latency doubles after its first hour: a first-N list would only see the first hour.
    for (let i = 0; i < 100_000; i++) {
      samples.add(i < 10_000 ? 1 : 2);
    }
    expect(samples.values()).toHaveLength(1000);
    expect(samples.seen).toBe(100_000);
    const late = samples.values().filter((value) => value === 2).length;
    // 90 % of all values are 2: the kept set holds about as many (binomial, sd ≈ 9.5).
    expect(late).toBeGreaterThan(850);
    expect(late).toBeLessThan(950);
    expect(samples.percentiles()).toEqual({ p50: 2, p99: 2 });
  });

  it('grows its room as values come, never past the capacity, and sorts numerically (not as text)', () => {
    const samples = new LatencySamples(10_000);
    for (let i = 0; i < 9_000; i++) {
      samples.add(i % 2 === 0 ? 10 : 9);
    }
    expect(samples.values()).toHaveLength(9_000);
    // As text, "10" sorts before "9".
    expect(samples.percentiles()).toEqual({ p50: 10, p99: 10 });
    for (let i = 0; i < 50_000; i++) {
      samples.add(0.5);
    }
    expect(samples.values()).toHaveLength(10_000);
    expect(samples.values().buffer.byteLength).toBe(10_000 * 8);
  });

  it('clear starts over', () => {
    const samples = new LatencySamples(4);
    samples.add(5);
    samples.clear();
    expect(Array.from(samples.values())).toEqual([]);
    expect(samples.seen).toBe(0);
    expect(samples.percentiles()).toBeUndefined();
  });
});
