import type { BackoffPolicy } from '../util/backoff.js';

/**
 * How AWS's producers back off between PutMedia connections and control-plane retries (producer-sdk.md
 * §3.5): from 1 s to 16 s with full jitter, reset after 90 s without a failure.
 */
export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialDelayMs: 1000,
  maxDelayMs: 16_000,
  resetAfterMs: 90_000,
};
