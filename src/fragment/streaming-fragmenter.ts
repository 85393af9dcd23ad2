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
import type { ClusterFrame } from '../mkv/mkv-writer.js';
import type { MkvEvent, MkvFrame, MkvSimpleTag, MkvTrack } from '../mkv/mkv-types.js';
import type { FragmentIssue, FragmentLimits } from './fragment-rules.js';
import {
  BLOCK_HEADER_BYTES,
  CLUSTER_HEADER_BYTES,
  FragmentSpan,
  durationIssue,
  fragmentLimits,
  isBeyondBlockOffset,
  isDueForNewFragment,
  sameTracks,
  sizeIssue,
  startsAfterPrevious,
  tagsByteLength,
} from './fragment-rules.js';
import type { Fragment, FragmenterOptions, FragmenterStats, SessionItem } from './fragmenter.js';
import { createFragmenterStats, selectKvsTracks, sessionHeader } from './fragmenter.js';

/** The file fragmenter's options that mean the same here (timestamps are producer time already). */
export type StreamingFragmenterOptions = Pick<
  FragmenterOptions,
  'minFragmentDurationMs' | 'maxFragmentDurationMs' | 'maxFragmentBytes' | 'fragmentTags' | 'releaseOf'
>;

type Held = { trackNumber: number; timestampMs: number; frame: MkvFrame };

type OpenCluster = {
  timecode: number;
  startsWithKeyframe: boolean;
  span: FragmentSpan;
  /** Bytes of all its parts so far. */
  byteLength: number;
  /** A limit already reported on an earlier part is not reported again. */
  isOverDuration: boolean;
  isOverSize: boolean;
};

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
  private readonly limits: FragmentLimits;
  private readonly fragmentTags: readonly MkvSimpleTag[];
  private readonly tagsBytes: number;
  private readonly releaseOf: ((frames: readonly ClusterFrame[]) => () => void) | undefined;

  public constructor(options: StreamingFragmenterOptions = {}) {
    this.minFragmentDurationMs = options.minFragmentDurationMs ?? 0;
    this.limits = fragmentLimits(options);
    this.fragmentTags = options.fragmentTags ?? [];
    this.tagsBytes = tagsByteLength(this.fragmentTags);
    this.releaseOf = options.releaseOf;
  }

  /**
   * The parts an event completes, and a {@link SessionHeader} before the first and wherever the track set
   * changes. `arrivedAtMs` (performance.now() when the bytes of the event arrived) goes on each part.
   */
  public push(event: MkvEvent, arrivedAtMs?: number): SessionItem[] {
    if (event.type === 'header') {
      const { tracks, inputToOutput } = selectKvsTracks(event.header);
      const isSame = sameTracks(tracks, this.tracks);
      // A new track set needs a new session header: close what is open first. The same set (a restarted
      // camera) continues under the header it has.
      const out: SessionItem[] = isSame ? [] : this.end();
      if (!isSame) {
        this.tracks = tracks;
        out.push(sessionHeader(tracks));
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
        this.place([item], out, arrivedAtMs);
      }
      return out;
    }
    // The key track moves time forward: what is older than this frame can go out first, in order.
    const due = this.takeHeld((ms) => ms < item.timestampMs);
    this.place(due, out, arrivedAtMs);
    this.place([item], out, arrivedAtMs);
    return out;
  }

  /** Closes the open fragment (a source restart or the end): held frames go out, the next needs a key frame. */
  public end(): Fragment[] {
    const out: Fragment[] = [];
    this.place(
      this.takeHeld(() => true),
      out,
      undefined,
    );
    if (this.cluster !== undefined) {
      this.previousLastMs = this.cluster.span.lastMs;
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
  private place(items: readonly Held[], out: Fragment[], arrivedAtMs: number | undefined): void {
    for (const item of items) {
      const { frame, trackNumber, timestampMs } = item;
      const cluster = this.cluster;
      const isKeyStart = trackNumber === this.keyTrack && frame.isKeyframe;
      if (
        isKeyStart &&
        startsAfterPrevious(timestampMs, this.previousLastMs) &&
        (cluster === undefined ||
          isDueForNewFragment(cluster.timecode, timestampMs, this.minFragmentDurationMs))
      ) {
        if (cluster !== undefined) {
          this.previousLastMs = cluster.span.lastMs;
        }
        this.cluster = {
          timecode: timestampMs,
          startsWithKeyframe: true,
          span: new FragmentSpan(),
          byteLength: 0,
          isOverDuration: false,
          isOverSize: false,
        };
        out.push(this.part(this.cluster, item, false, arrivedAtMs));
        continue;
      }
      if (cluster === undefined) {
        this.stats.skippedLeadingFrames++;
        continue;
      }
      if (timestampMs < cluster.timecode || isBeyondBlockOffset(cluster.timecode, timestampMs)) {
        // Before its cluster (late) or beyond the int16 block offset: it cannot be placed in this cluster.
        this.stats.skippedLateFrames++;
        continue;
      }
      out.push(this.part(cluster, item, true, arrivedAtMs));
    }
  }

  private part(
    cluster: OpenCluster,
    item: Held,
    isContinuation: boolean,
    arrivedAtMs: number | undefined,
  ): Fragment {
    const { frame, trackNumber, timestampMs } = item;
    this.stats.framesOut++;
    if (!isContinuation) {
      this.stats.fragments++;
      this.sequence++;
    }
    const byteLength =
      (isContinuation ? 0 : this.tagsBytes + CLUSTER_HEADER_BYTES) + BLOCK_HEADER_BYTES + frame.data.length;
    cluster.span.add(trackNumber, timestampMs, frame.durationMs);
    cluster.byteLength += byteLength;
    const frames: readonly ClusterFrame[] = [
      {
        trackNumber: item.trackNumber,
        relativeTimecode: item.timestampMs - cluster.timecode,
        isKeyframe: frame.isKeyframe,
        isInvisible: frame.isInvisible === true,
        isDiscardable: frame.isDiscardable === true,
        data: frame.data,
      },
    ];
    return {
      type: 'fragment',
      // Parts share their fragment's number: acks and logs name fragments, not parts.
      sequence: this.sequence - 1,
      timecode: cluster.timecode,
      producerTimestampMs: timestampMs,
      durationMs: frame.durationMs ?? 0,
      lastTimestampMs: cluster.span.lastMs,
      frames,
      byteLength,
      startsWithKeyframe: cluster.startsWithKeyframe,
      hasBFrames: false,
      // Tags between parts would end the unknown-size cluster: they go before its start only.
      tags: isContinuation ? NO_TAGS : this.fragmentTags,
      issues: this.limitIssues(cluster),
      isContinuation,
      arrivedAtMs,
      release: this.releaseOf?.(frames),
    };
  }

  /**
   * The service checks a fragment as it arrives: the part that takes it over a limit carries the issue the
   * file fragmenter gives the whole fragment, since the parts before it are already sent.
   */
  private limitIssues(cluster: OpenCluster): FragmentIssue[] {
    const issues: FragmentIssue[] = [];
    const hadIssue = cluster.isOverDuration || cluster.isOverSize;
    if (!cluster.isOverDuration) {
      const issue = durationIssue(cluster.span.durationMs(cluster.timecode), this.limits);
      if (issue !== undefined) {
        cluster.isOverDuration = true;
        issues.push(issue);
      }
    }
    if (!cluster.isOverSize) {
      const issue = sizeIssue(cluster.byteLength, this.limits);
      if (issue !== undefined) {
        cluster.isOverSize = true;
        issues.push(issue);
      }
    }
    if (!hadIssue && issues.length > 0) {
      this.stats.fragmentsWithIssues++;
    }
    return issues;
  }
}

const NO_TAGS: readonly MkvSimpleTag[] = [];
