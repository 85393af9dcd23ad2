/**
 * Producer timestamps for live sources, as kvssink makes them: the wall clock at a run's first frame plus
 * media time. A source restart (a new ffmpeg run) re-anchors on the wall clock but never goes back in time;
 * drift between media time and the wall clock is corrected at key frames (fragment boundaries), where a
 * jump does not split a fragment.
 */
import { TrackType } from '../mkv/ebml-ids.js';
import type { MkvEvent } from '../mkv/mkv-types.js';

export type LiveTimelineOptions = {
  /** @default Date.now */
  now?: () => number;
  /** Re-anchor when media time and the wall clock disagree by more than this. @default 2000 */
  maxDriftMs?: number;
  /** Told about every re-anchoring after the first (drift, restarts). */
  onReanchor?: (info: { reason: 'restart' | 'drift'; driftMs: number; timestampMs: number }) => void;
};

export class LiveTimeline {
  private readonly now: () => number;
  private readonly maxDriftMs: number;
  private readonly onReanchor: LiveTimelineOptions['onReanchor'];
  private anchorWallMs: number | undefined;
  private anchorMediaMs = 0;
  private lastOutMs = -Infinity;
  private keyTrack: number | undefined;
  private isNewRun = true;
  private runs = 0;

  public constructor(options: LiveTimelineOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxDriftMs = options.maxDriftMs ?? 2000;
    this.onReanchor = options.onReanchor;
  }

  /** A new source run begins (its media time starts over): the next frame re-anchors. */
  public startRun(): void {
    this.isNewRun = true;
  }

  /** Rewrites frame timestamps to producer epoch ms; other events pass through. */
  public map(event: MkvEvent): MkvEvent {
    if (event.type === 'header') {
      this.keyTrack = event.header.tracks.find((track) => track.type === TrackType.Video)?.number;
      return event;
    }
    if (event.type !== 'frame') {
      return event;
    }
    const frame = event.frame;
    const mediaMs = frame.timestampMs;
    if (this.isNewRun || this.anchorWallMs === undefined) {
      this.anchor(mediaMs, 'restart', 0);
      this.isNewRun = false;
    } else if (frame.isKeyframe && (this.keyTrack === undefined || frame.trackNumber === this.keyTrack)) {
      const driftMs = this.anchorWallMs + (mediaMs - this.anchorMediaMs) - this.now();
      if (Math.abs(driftMs) > this.maxDriftMs) {
        this.anchor(mediaMs, 'drift', driftMs);
      }
    }
    const timestampMs = this.anchorWallMs! + (mediaMs - this.anchorMediaMs);
    this.lastOutMs = Math.max(this.lastOutMs, timestampMs);
    return { ...event, frame: { ...frame, timestampMs } };
  }

  private anchor(mediaMs: number, reason: 'restart' | 'drift', driftMs: number): void {
    // Never before what was already produced: the stored stream's time only moves forward.
    const wallMs = Math.max(this.now(), Math.floor(this.lastOutMs) + 1);
    this.anchorWallMs = wallMs;
    this.anchorMediaMs = mediaMs;
    this.runs++;
    if (this.runs > 1) {
      this.onReanchor?.({ reason, driftMs, timestampMs: wallMs });
    }
  }
}
