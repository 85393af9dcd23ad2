import type { Clock, ClockTimer } from '../../src/util/clock.js';

type Pending = { dueMs: number; order: number; callback: () => void; intervalMs: number | undefined };

/**
 * A {@link Clock} that moves only when a test says so. `advance(ms)` fires every timer due on the way, in
 * order, letting promise reactions run between them, so code that awaits a sleep and then sets the next
 * timer behaves as it would in real time.
 */
export class FakeClock implements Clock {
  #nowMs: number;
  #monotonicMs = 0;
  #order = 0;
  readonly #timers = new Set<Pending>();

  public constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#nowMs = startMs;
  }

  public now(): number {
    return this.#nowMs;
  }

  public monotonicMs(): number {
    return this.#monotonicMs;
  }

  public setTimeout(callback: () => void, delayMs: number): ClockTimer {
    return this.#add(callback, delayMs, undefined);
  }

  public setInterval(callback: () => void, intervalMs: number): ClockTimer {
    return this.#add(callback, intervalMs, Math.max(1, intervalMs));
  }

  /** Timers not yet fired or cancelled. */
  public get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing what falls due; resolves once the code they woke has settled. */
  public async advance(ms: number): Promise<void> {
    const targetMs = this.#monotonicMs + ms;
    await settle();
    for (;;) {
      const next = this.#next();
      if (next === undefined || next.dueMs > targetMs) {
        break;
      }
      this.#moveTo(next.dueMs);
      if (next.intervalMs === undefined) {
        this.#timers.delete(next);
      } else {
        next.dueMs += next.intervalMs;
        next.order = this.#order++;
      }
      next.callback();
      await settle();
    }
    this.#moveTo(targetMs);
    await settle();
  }

  /** Advances to the next pending timer and fires it (and any due at the same instant). */
  public async runNext(): Promise<void> {
    const next = this.#next();
    if (next !== undefined) {
      await this.advance(next.dueMs - this.#monotonicMs);
    }
  }

  #add(callback: () => void, delayMs: number, intervalMs: number | undefined): ClockTimer {
    const pending: Pending = {
      dueMs: this.#monotonicMs + Math.max(0, delayMs),
      order: this.#order++,
      callback,
      intervalMs,
    };
    this.#timers.add(pending);
    return { cancel: () => this.#timers.delete(pending) };
  }

  #next(): Pending | undefined {
    let next: Pending | undefined;
    for (const timer of this.#timers) {
      if (
        next === undefined ||
        timer.dueMs < next.dueMs ||
        (timer.dueMs === next.dueMs && timer.order < next.order)
      ) {
        next = timer;
      }
    }
    return next;
  }

  #moveTo(monotonicMs: number): void {
    this.#nowMs += monotonicMs - this.#monotonicMs;
    this.#monotonicMs = monotonicMs;
  }
}

/** Lets pending promise reactions (and the ones they queue) run: a few macrotask turns. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
};
