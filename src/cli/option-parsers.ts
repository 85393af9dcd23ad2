import { InvalidArgumentError } from 'commander';

/** `--start-time`: ISO 8601, or epoch seconds (fraction allowed). Returns epoch ms. */
export const parseStartTime = (value: string): number => {
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    return Math.round(Number(trimmed) * 1000);
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
