/** p50 and p99 of a list of milliseconds, rounded to 0.01 ms; undefined for an empty list. */
export const percentilesOf = (
  values: ArrayLike<number> & Iterable<number>,
): { p50: number; p99: number } | undefined => {
  if (values.length === 0) {
    return undefined;
  }
  // A typed array sorts numerically, in place on the copy.
  const sorted = Float64Array.from(values).sort();
  const pick = (q: number): number =>
    Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 100) / 100;
  return { p50: pick(0.5), p99: pick(0.99) };
};

/** Enough samples for a stable p99, bounded in memory (1.6 MB). */
export const DEFAULT_SAMPLE_CAPACITY = 200_000;

/** Room for the first samples; it doubles as they come, up to the capacity. */
const INITIAL_ROOM = 4096;

/**
 * Millisecond samples for percentiles over a run of any length. The first `capacity` values are kept; each
 * later one replaces a kept one at random with the odds that keep every value seen equally likely to be in
 * the set (reservoir sampling), so a live run of days reports on all of it, not on its first hours.
 *
 * The values live in a Float64Array, outside the JS heap: the garbage collector neither scans nor moves
 * them, and a full set (which a 30 fps camera reaches in under two hours) does not read as JS heap growth
 * when the heap is watched for leaks.
 */
export class LatencySamples {
  #values = new Float64Array(0);
  #count = 0;
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
    if (this.#count < this.#capacity) {
      if (this.#count === this.#values.length) {
        const grown = new Float64Array(Math.min(this.#capacity, Math.max(INITIAL_ROOM, this.#count * 2)));
        grown.set(this.#values);
        this.#values = grown;
      }
      this.#values[this.#count++] = value;
      return;
    }
    const slot = Math.floor(Math.random() * this.#seen);
    if (slot < this.#capacity) {
      this.#values[slot] = value;
    }
  }

  /** The kept values (at most `capacity`): a view, valid until the next add or clear. */
  public values(): Float64Array {
    return this.#values.subarray(0, this.#count);
  }

  public percentiles(): { p50: number; p99: number } | undefined {
    return percentilesOf(this.values());
  }

  /** Starts over, keeping the room already made (a stats window is cleared every interval). */
  public clear(): void {
    this.#count = 0;
    this.#seen = 0;
  }
}
