/**
 * Upload pacing within the per-stream limits of PutMedia (kvs-api.md §6.4, `KvsLimits`): a file can go
 * faster than real time, but not faster than these.
 */
import type { Fragment } from '../fragment/fragmenter.js';

/** The per-stream limits to pace to. */
export type PacerConfig = {
  /** 0 = unpaced. */
  readonly maxBytesPerSecond: number;
  /** 0 = unpaced. */
  readonly maxFragmentsPerSecond: number;
};

/** How far ahead of the byte clock sending may run (a burst of up to one second's worth of bytes). */
export const BYTE_BURST_MS = 1000;

/**
 * Two clocks: bytes for everything sent; fragments only for fragment starts (a live fragment's later parts
 * are bytes of the same fragment, and must not wait for the fragment clock). The byte clock is a token
 * bucket holding one second: the average stays within the limit while the bursts a live source delivers (a
 * muxer writes several frames at once) go out without waiting. Times are monotonic ms, passed in.
 */
export class Pacer {
  private readonly config: PacerConfig;
  /** When the bytes charged so far are paid for at the byte rate. */
  private nextByteAtMs = -Infinity;
  /** When the next fragment start may go. */
  private nextFragmentAtMs = -Infinity;

  public constructor(config: PacerConfig) {
    this.config = config;
  }

  /** How long `fragment` must wait at `nowMs` before it may be sent (0: at once). */
  public waitMs(fragment: Fragment, nowMs: number): number {
    const { maxBytesPerSecond, maxFragmentsPerSecond } = this.config;
    const waitUntilMs = Math.max(
      maxBytesPerSecond > 0 ? this.nextByteAtMs - BYTE_BURST_MS : -Infinity,
      maxFragmentsPerSecond > 0 && !fragment.isContinuation ? this.nextFragmentAtMs : -Infinity,
    );
    return Math.max(0, waitUntilMs - nowMs);
  }

  /** Counts `fragment`, sent at `nowMs`, against both clocks. */
  public charge(fragment: Fragment, nowMs: number): void {
    const { maxBytesPerSecond, maxFragmentsPerSecond } = this.config;
    if (maxBytesPerSecond > 0) {
      // Time not used is not banked: after a pause the clock starts again from now, so the burst that
      // waitMs allows (one second ahead of it) is all an idle stream may send at once.
      this.nextByteAtMs =
        Math.max(nowMs, this.nextByteAtMs) + (fragment.byteLength / maxBytesPerSecond) * 1000;
    }
    if (maxFragmentsPerSecond > 0 && !fragment.isContinuation) {
      this.nextFragmentAtMs = Math.max(nowMs, this.nextFragmentAtMs) + 1000 / maxFragmentsPerSecond;
    }
  }
}
