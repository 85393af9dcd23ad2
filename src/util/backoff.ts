/**
 * The one backoff of kvs-put (producer-sdk.md §3.5): exponential with full jitter, reset after a quiet
 * period. PutMedia reconnects, control-plane retries and ffmpeg restarts differ only in their policy.
 */
export type BackoffPolicy = {
  /** The ceiling of the first delay, in ms. */
  readonly initialDelayMs: number;
  /** The largest ceiling, in ms. */
  readonly maxDelayMs: number;
  /** Something that ran this long without failing resets the attempt count, in ms. */
  readonly resetAfterMs: number;
};

/** Delay before attempt `attempt` (1-based): uniform in [0, min(max, initial·2^(attempt−1))], in ms. */
export const backoffDelayMs = (
  policy: BackoffPolicy,
  attempt: number,
  random: () => number = Math.random,
): number =>
  Math.round(random() * Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1)));
