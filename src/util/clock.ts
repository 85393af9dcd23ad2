/**
 * The one clock of kvs-put: every part that reads time or waits takes a {@link Clock}, so that staleness,
 * rotation, backoff and timeouts are tested on a fake clock instead of by how long a test took.
 */

/** A pending timer; `cancel()` is idempotent. Like Node's timers, a pending one keeps the process alive. */
export type ClockTimer = { cancel(): void };

export type Clock = {
  /** Wall-clock time in epoch milliseconds (producer timestamps, stats). */
  now(): number;
  /**
   * Monotonic milliseconds from an arbitrary origin: what durations and deadlines are measured with, so a
   * wall clock stepped by NTP neither fires nor postpones them.
   */
  monotonicMs(): number;
  /** Calls `callback` once after `delayMs`. */
  setTimeout(callback: () => void, delayMs: number): ClockTimer;
  /** Calls `callback` every `intervalMs` until cancelled. */
  setInterval(callback: () => void, intervalMs: number): ClockTimer;
};

/** The machine's clock: Date.now, performance.now and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonicMs: () => performance.now(),
  setTimeout: (callback, delayMs) => {
    const timer = setTimeout(callback, delayMs);
    return { cancel: () => clearTimeout(timer) };
  },
  setInterval: (callback, intervalMs) => {
    const timer = setInterval(callback, intervalMs);
    return { cancel: () => clearInterval(timer) };
  },
};

/**
 * Waits `delayMs` on `clock`, resolving early (without error) when `signal` aborts: callers check the
 * signal themselves, since an interrupted wait is how a stop begins, not a failure.
 */
export const sleep = (clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted === true || delayMs <= 0) {
      resolve();
      return;
    }
    const done = (): void => {
      timer.cancel();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = clock.setTimeout(done, delayMs);
    signal?.addEventListener('abort', done, { once: true });
  });
