/**
 * Live fragments sent as they grow. A camera's fragment lasts a whole key-frame interval; holding it until
 * it is complete would delay every frame by up to that long. This fragmenter emits a fragment's first part
 * (its Cluster header and key frame) as soon as the key frame arrives, then one continuation part per
 * frame, as AWS's producers stream an unknown-size Cluster. Frames of other tracks (audio) are released in
 * timestamp order with the key track, so none lands in a cluster that started after it (4004); the key
 * track (video) itself is never held back.
 *
 * Input timestamps are producer epoch ms already (a LiveTimeline made them).
 */
import { TrackType } from '../mkv/ebml-ids.js';
import { MAX_BLOCK_OFFSET } from '../mkv/mkv-writer.js';
import type { MkvEvent, MkvFrame, MkvTrack } from '../mkv/mkv-types.js';
import type { Fragment, FragmenterStats } from './fragmenter.js';
import { createFragmenterStats, selectKvsTracks } from './fragmenter.js';

type Held = { trackNumber: number; timestampMs: number; frame: MkvFrame };

type OpenCluster = { timecode: number; lastMs: number; tracksSeen: Set<number>; startsWithKeyframe: boolean };

const BLOCK_OVERHEAD_BYTES = 13;
const CLUSTER_OVERHEAD_BYTES = 18;

export class StreamingFragmenter {
  public readonly stats: FragmenterStats = createFragmenterStats();

  private tracks: readonly MkvTrack[] = [];
  private inputToOutput = new Map<number, number>();
  private keyTrack = 0;
  private hasOrderedTracks = false;
  private held: Held[] = [];
  private cluster: OpenCluster | undefined;
  private previousLastMs = -Infinity;
  private sequence = 0;
  private readonly minFragmentDurationMs: number;

  public constructor(options: { minFragmentDurationMs?: number } = {}) {
    this.minFragmentDurationMs = options.minFragmentDurationMs ?? 0;
  }

  public push(event: MkvEvent): Fragment[] {
    if (event.type === 'header') {
      const { tracks, inputToOutput } = selectKvsTracks(event.header);
      const isSame =
        tracks.length === this.tracks.length && tracks.every((t, i) => sameTrack(t, this.tracks[i]!));
      // A new track set needs a new session header: close what is open first. The same set keeps its
      // identity, so the session writes no second header.
      const out = isSame ? [] : this.end();
      if (!isSame) {
        this.tracks = tracks;
      }
      this.inputToOutput = inputToOutput;
      const video = tracks.find((track) => track.type === TrackType.Video);
      this.keyTrack = video?.number ?? tracks[0]?.number ?? 0;
      // Other tracks wait for the key track only when it is video (audio-only streams have nothing to wait for).
      this.hasOrderedTracks = video !== undefined && tracks.length > 1;
      return out;
    }
    if (event.type !== 'frame') {
      return [];
    }
    this.stats.framesIn++;
    const trackNumber = this.inputToOutput.get(event.frame.trackNumber);
    if (trackNumber === undefined) {
      this.stats.skippedTrackFrames++;
      return [];
    }
    const item: Held = { trackNumber, timestampMs: Math.round(event.frame.timestampMs), frame: event.frame };
    const out: Fragment[] = [];
    if (trackNumber !== this.keyTrack) {
      if (this.hasOrderedTracks) {
        this.held.push(item);
      } else {
        this.place([item], out);
      }
      return out;
    }
    // The key track moves time forward: what is older than this frame can go out first, in order.
    const due = this.takeHeld((ms) => ms < item.timestampMs);
    this.place(due, out);
    this.place([item], out);
    return out;
  }

  /** Closes the open fragment (a source restart or the end): held frames go out, the next needs a key frame. */
  public end(): Fragment[] {
    const out: Fragment[] = [];
    this.place(
      this.takeHeld(() => true),
      out,
    );
    if (this.cluster !== undefined) {
      this.previousLastMs = this.cluster.lastMs;
      this.cluster = undefined;
    }
    return out;
  }

  public get outputTracks(): readonly MkvTrack[] {
    return this.tracks;
  }

  private takeHeld(isDue: (ms: number) => boolean): Held[] {
    if (this.held.length === 0) {
      return [];
    }
    const due = this.held.filter((item) => isDue(item.timestampMs));
    if (due.length > 0) {
      this.held = this.held.filter((item) => !isDue(item.timestampMs));
      due.sort((a, b) => a.timestampMs - b.timestampMs);
    }
    return due;
  }

  /** Sends frames into the open cluster, or starts one at a key frame of the key track. */
  private place(items: readonly Held[], out: Fragment[]): void {
    for (const item of items) {
      const { frame, trackNumber, timestampMs } = item;
      const cluster = this.cluster;
      const isKeyStart = trackNumber === this.keyTrack && frame.isKeyframe;
      if (
        isKeyStart &&
        timestampMs > this.previousLastMs &&
        (cluster === undefined || this.isDueForNewCluster(cluster, timestampMs))
      ) {
        if (cluster !== undefined) {
          this.previousLastMs = cluster.lastMs;
        }
        this.cluster = {
          timecode: timestampMs,
          lastMs: timestampMs,
          tracksSeen: new Set([trackNumber]),
          startsWithKeyframe: true,
        };
        out.push(this.part(this.cluster, item, false));
        continue;
      }
      if (cluster === undefined) {
        this.stats.skippedLeadingFrames++;
        continue;
      }
      const offset = timestampMs - cluster.timecode;
      if (offset < 0 || offset > MAX_BLOCK_OFFSET) {
        // Before its cluster (late) or beyond the int16 block offset: it cannot be placed in this cluster.
        this.stats.skippedLateFrames++;
        continue;
      }
      cluster.lastMs = Math.max(cluster.lastMs, timestampMs);
      cluster.tracksSeen.add(trackNumber);
      out.push(this.part(cluster, item, true));
    }
  }

  private isDueForNewCluster(cluster: OpenCluster, timestampMs: number): boolean {
    return timestampMs - cluster.timecode >= this.minFragmentDurationMs && timestampMs > cluster.timecode;
  }

  private part(cluster: OpenCluster, item: Held, isContinuation: boolean): Fragment {
    const { frame } = item;
    this.stats.framesOut++;
    if (!isContinuation) {
      this.stats.fragments++;
    }
    if (!isContinuation) {
      this.sequence++;
    }
    return {
      // Parts share their fragment's number: acks and logs name fragments, not parts.
      sequence: this.sequence - 1,
      tracks: this.tracks,
      timecode: cluster.timecode,
      producerTimestampMs: item.timestampMs,
      durationMs: frame.durationMs ?? 0,
      lastTimestampMs: cluster.lastMs,
      frames: [
        {
          trackNumber: item.trackNumber,
          relativeTimecode: item.timestampMs - cluster.timecode,
          isKeyframe: frame.isKeyframe,
          isInvisible: frame.isInvisible === true,
          isDiscardable: frame.isDiscardable === true,
          data: frame.data,
        },
      ],
      byteLength: (isContinuation ? 0 : CLUSTER_OVERHEAD_BYTES) + BLOCK_OVERHEAD_BYTES + frame.data.length,
      startsWithKeyframe: cluster.startsWithKeyframe,
      hasBFrames: false,
      tags: [],
      issues: [],
      isContinuation,
      // Set by the live source: present from the start, so that every part has one shape.
      arrivedAtMs: undefined,
      release: undefined,
    };
  }
}

const sameTrack = (a: MkvTrack, b: MkvTrack): boolean =>
  a.type === b.type && a.codecId === b.codecId && bytesEqual(a.codecPrivate, b.codecPrivate);

const bytesEqual = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  a === undefined || b === undefined ? a === b : a.length === b.length && a.every((byte, i) => byte === b[i]);
