/** p50 and p99 of a list of milliseconds, rounded to 0.01 ms; undefined for an empty list. */
export const percentilesOf = (values: readonly number[]): { p50: number; p99: number } | undefined => {
  if (values.length === 0) {
    return undefined;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const pick = (q: number): number =>
    Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 100) / 100;
  return { p50: pick(0.5), p99: pick(0.99) };
};

/** Enough samples for a stable p99, bounded in memory (~1.6 MB). */
export const DEFAULT_SAMPLE_CAPACITY = 200_000;

/**
 * Millisecond samples for percentiles over a run of any length. The first `capacity` values are kept; each
 * later one replaces a kept one at random with the odds that keep every value seen equally likely to be in
 * the set (reservoir sampling), so a live run of days reports on all of it, not on its first hours.
 */
export class LatencySamples {
  readonly #values: number[] = [];
  readonly #capacity: number;
  #seen = 0;

  public constructor(capacity = DEFAULT_SAMPLE_CAPACITY) {
    this.#capacity = capacity;
  }

  /** How many values were added since the start (or the last clear), kept or not. */
  public get seen(): number {
    return this.#seen;
  }

  public add(value: number): void {
    this.#seen++;
    if (this.#values.length < this.#capacity) {
      this.#values.push(value);
      return;
    }
    const slot = Math.floor(Math.random() * this.#seen);
    if (slot < this.#capacity) {
      this.#values[slot] = value;
    }
  }

  /** The kept values (at most `capacity`). */
  public values(): readonly number[] {
    return this.#values;
  }

  public percentiles(): { p50: number; p99: number } | undefined {
    return percentilesOf(this.#values);
  }

  public clear(): void {
    this.#values.length = 0;
    this.#seen = 0;
  }
}
