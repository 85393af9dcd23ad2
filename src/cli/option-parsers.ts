import { InvalidArgumentError } from 'commander';
import { ErrorCode, KvsPutError } from '../errors.js';

/** Epoch seconds from here on are the year 5138 or later: such a number is epoch milliseconds. */
const EPOCH_MS_FROM = 1e11;

/** `--start-time`: ISO 8601, or epoch seconds (fraction allowed). Returns epoch ms. */
export const parseStartTime = (value: string): number => {
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    const seconds = Number(trimmed);
    if (seconds >= EPOCH_MS_FROM) {
      // Not an InvalidArgumentError: commander would drop the hint.
      throw new KvsPutError(
        ErrorCode.Usage,
        `--start-time ${trimmed} looks like epoch milliseconds: it takes epoch seconds (or ISO 8601)`,
        { suggestion: `divide by 1000: --start-time ${String(seconds / 1000)}` },
      );
    }
    return Math.round(seconds * 1000);
  }
  const ms = Date.parse(trimmed);
  if (Number.isNaN(ms)) {
    throw new InvalidArgumentError('expected an ISO 8601 time (2026-11-25T08:00:00Z) or epoch seconds.');
  }
  return ms;
};

/** A non-negative duration in milliseconds. */
export const parseNonNegativeMs = (value: string): number => {
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms < 0) {
    throw new InvalidArgumentError('expected a non-negative number of milliseconds.');
  }
  return ms;
};
