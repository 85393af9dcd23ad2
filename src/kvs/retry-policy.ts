/**
 * Reconnect backoff as AWS's producers do it (producer-sdk.md §3.5): exponential from 1 s to 16 s with full
 * jitter, reset after a quiet period. Pure functions; the session owns the state.
 */
export type BackoffConfig = {
  /** @default 1000 */
  readonly initialDelayMs: number;
  /** @default 16 000 */
  readonly maxDelayMs: number;
  /** A connection that lived this long without failing resets the attempt count. @default 90 000 */
  readonly resetAfterMs: number;
};

export const DEFAULT_BACKOFF: BackoffConfig = {
  initialDelayMs: 1000,
  maxDelayMs: 16_000,
  resetAfterMs: 90_000,
};

/** Delay before reconnect attempt `attempt` (1-based): uniform in [0, min(max, initial·2^(attempt-1))]. */
export const backoffDelayMs = (
  config: BackoffConfig,
  attempt: number,
  random: () => number = Math.random,
): number => {
  const ceiling = Math.min(config.maxDelayMs, config.initialDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
};

/** Sleeps, resolving early (without error) when the signal aborts. */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted === true || ms <= 0) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
