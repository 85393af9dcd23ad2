/**
 * The progress line a terminal shows while an upload runs: the pace estimate behind its ETA, and the line
 * itself as a pure function of where the upload is, so both are tested without a terminal or real time.
 */
import type { Clock } from '../util/clock.js';
import { plural } from '../util/plural.js';

export const formatBytes = (bytes: number): string =>
  bytes >= 1e9
    ? `${(bytes / 1e9).toFixed(2)} GB`
    : bytes >= 1e6
      ? `${(bytes / 1e6).toFixed(1)} MB`
      : `${(bytes / 1e3).toFixed(0)} kB`;

/** `42 s`, `3:07`, `1:02:03`: elapsed time and ETAs as a person reads them. */
export const formatDuration = (ms: number): string => {
  const totalS = Math.max(0, Math.round(ms / 1000));
  if (totalS < 60) {
    return `${totalS} s`;
  }
  const s = String(totalS % 60).padStart(2, '0');
  const m = Math.floor(totalS / 60) % 60;
  const h = Math.floor(totalS / 3600);
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
};

/**
 * The upload's pace over the last `windowMs`, not since the start: the average since the start counts the
 * set-up before the first byte and lags every change of pace (pacing, a slower network, retries), so its
 * ETA was off by far more than the 30 % a person tolerates.
 */
export class PaceEstimator {
  private readonly clock: Clock;
  private readonly windowMs: number;
  /** (monotonic ms, bytes so far), oldest first; the first one is at or before the window's start. */
  private readonly samples: { atMs: number; bytes: number }[] = [];

  public constructor(clock: Clock, windowMs = 10_000) {
    this.clock = clock;
    this.windowMs = windowMs;
  }

  /** Records the byte count so far (it only grows). */
  public sample(bytes: number): void {
    const atMs = this.clock.monotonicMs();
    const last = this.samples.at(-1);
    if (last !== undefined && bytes === last.bytes) {
      return;
    }
    this.samples.push({ atMs, bytes });
    this.trim(atMs);
  }

  /** Bytes per second over the window; undefined before two samples. */
  public bytesPerSecond(): number | undefined {
    const nowMs = this.clock.monotonicMs();
    this.trim(nowMs);
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (first === undefined || last === undefined || first === last || nowMs <= first.atMs) {
      return undefined;
    }
    // Up to now, not to the last sample: a stall lowers the pace instead of freezing it.
    return ((last.bytes - first.bytes) * 1000) / (nowMs - first.atMs);
  }

  /** Milliseconds until `totalBytes` at the current pace; undefined while the pace is unknown or nil. */
  public etaMs(totalBytes: number): number | undefined {
    const rate = this.bytesPerSecond();
    const last = this.samples.at(-1);
    if (rate === undefined || rate <= 0 || last === undefined) {
      return undefined;
    }
    return (Math.max(0, totalBytes - last.bytes) * 1000) / rate;
  }

  private trim(nowMs: number): void {
    while (this.samples.length > 2 && this.samples[1]!.atMs <= nowMs - this.windowMs) {
      this.samples.shift();
    }
  }
}

/** Where an upload is, as the progress line shows it. */
export type ProgressState = {
  isLive: boolean;
  elapsedMs: number;
  bytesSent: number;
  /** The input's size (files): the bar and the ETA measure against it. */
  totalBytes: number | undefined;
  /** Fragments with their final ack. */
  fragmentsStored: number;
  finalAckType: 'PERSISTED' | 'RECEIVED';
  bytesPerSecond: number | undefined;
  etaMs: number | undefined;
  /** Bytes of fragments held in memory (unsent + unacknowledged), and the bound on them. */
  bufferBytes: number;
  maxBufferBytes: number;
};

const BAR_WIDTH = 24;

/**
 * The line itself: a file upload's bar, bytes, fragments stored, pace and ETA; a live run's elapsed time,
 * fragments stored, pace and how full its buffer is (a filling buffer is the first sign of a slow link).
 */
export const progressLine = (state: ProgressState): string => {
  const stored = `${plural(state.fragmentsStored, 'fragment')} ${state.finalAckType.toLowerCase()}`;
  const rate = state.bytesPerSecond === undefined ? '' : `, ${formatBytes(state.bytesPerSecond)}/s`;
  if (state.isLive) {
    const fill = state.maxBufferBytes > 0 ? state.bufferBytes / state.maxBufferBytes : 0;
    return (
      `live ${formatDuration(state.elapsedMs)}, ${stored}${rate}, ` +
      `buffer ${(fill * 100).toFixed(0)}% of ${formatBytes(state.maxBufferBytes)}`
    );
  }
  const total = state.totalBytes;
  if (total === undefined || total <= 0) {
    return `${formatBytes(state.bytesSent)} sent in ${formatDuration(state.elapsedMs)}, ${stored}${rate}`;
  }
  // Sent bytes include the MKV headers of each connection: never more than a full bar.
  const ratio = Math.min(1, state.bytesSent / total);
  const bar = `[${'#'.repeat(Math.round(ratio * BAR_WIDTH)).padEnd(BAR_WIDTH, '.')}]`;
  const eta = state.etaMs === undefined ? '' : `, ETA ${formatDuration(state.etaMs)}`;
  return (
    `${bar} ${(ratio * 100).toFixed(0).padStart(3)}% ${formatBytes(Math.min(state.bytesSent, total))} of ` +
    `${formatBytes(total)}, ${stored}${rate}${eta}`
  );
};
