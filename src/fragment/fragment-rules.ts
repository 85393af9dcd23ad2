/**
 * The rules of the service that both fragmenters apply (kvs-api.md §6.3, §7.1–7.2): when a track set needs a
 * new session header, how many bytes a fragment takes on the wire, where a cluster may start or must end,
 * and which fragments the service answers with an ERROR ack. The file {@link Fragmenter} and the
 * {@link StreamingFragmenter} decide each of these here, so that they cannot disagree.
 */
import { ErrorCode, KvsPutError } from '../errors.js';
import { ErrorId } from '../kvs/ack.js';
import type { ClusterFrame } from '../mkv/mkv-writer.js';
import {
  MAX_BLOCK_OFFSET,
  chunksByteLength,
  writeCluster,
  writeKvsHeader,
  writeTags,
} from '../mkv/mkv-writer.js';
import type { MkvSimpleTag, MkvTrack } from '../mkv/mkv-types.js';
import { BYTES_PER_MB, KvsLimits } from './kvs-limits.js';

export type FragmentIssue = {
  /** The ErrorId the service would answer this fragment with, or {@link NO_ERROR_ID} for a problem it does not reject. */
  errorId: number;
  message: string;
};

/** The errorId of an issue the service accepts the fragment with (players may still stumble on it). */
export const NO_ERROR_ID = 0;

// ---- track sameness ---------------------------------------------------------------------------------------

/** Any fixed SegmentUID: the comparison below is about the Tracks element only. */
const COMPARED_SEGMENT_UID = new Uint8Array(16).fill(1);

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) {
    return false;
  }
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      return false;
    }
  }
  return true;
};

/**
 * Whether two output track sets can share one session header. KVS keeps the header a session starts with
 * for all its fragments (kvs-api.md §7.1), so any field of the Tracks element that differs needs a new
 * session: the sets are compared as the writer would write them, and no field can be forgotten.
 */
export const sameTracks = (a: readonly MkvTrack[], b: readonly MkvTrack[]): boolean => {
  if (a === b) {
    return true;
  }
  if (a.length === 0 || b.length === 0) {
    return a.length === b.length;
  }
  return bytesEqual(
    writeKvsHeader({ tracks: a, segmentUid: COMPARED_SEGMENT_UID }),
    writeKvsHeader({ tracks: b, segmentUid: COMPARED_SEGMENT_UID }),
  );
};

// ---- bytes on the wire ------------------------------------------------------------------------------------

const EMPTY_FRAME: ClusterFrame = {
  trackNumber: 1,
  relativeTimecode: 0,
  isKeyframe: false,
  data: new Uint8Array(0),
};

/**
 * What writeCluster puts before a cluster's first block (Cluster ID and unknown size, Timecode, Position),
 * and what it adds to each frame's payload. Both are measured on the writer itself, whose element widths are
 * fixed, so the counts cannot drift from the bytes it writes.
 */
export const CLUSTER_HEADER_BYTES = chunksByteLength(writeCluster(0, []));
export const BLOCK_HEADER_BYTES = chunksByteLength(writeCluster(0, [EMPTY_FRAME], true));

/** The metadata Tags element SessionWriter writes before a fragment's cluster (nothing without tags). */
export const tagsByteLength = (tags: readonly MkvSimpleTag[]): number =>
  tags.length === 0 ? 0 : writeTags(tags).length;

// ---- cluster boundaries -----------------------------------------------------------------------------------

/**
 * A key frame of the key track starts a new fragment once the minimum duration has passed, and only if it is
 * later than the fragment's start (equal times would make two clusters with one timecode).
 */
export const isDueForNewFragment = (
  fragmentStartMs: number,
  keyFrameMs: number,
  minFragmentDurationMs: number,
): boolean => keyFrameMs - fragmentStartMs >= minFragmentDurationMs && keyFrameMs > fragmentStartMs;

/** A block's offset from its cluster is a signed 16-bit integer (kvs-api.md §7.2): this frame cannot join it. */
export const isBeyondBlockOffset = (clusterMs: number, frameMs: number): boolean =>
  frameMs - clusterMs > MAX_BLOCK_OFFSET;

/**
 * A fragment must start strictly after the previous fragment's last frame, or the service answers 4004; an
 * equal time is refused too (kvs-api.md §7.2).
 */
export const startsAfterPrevious = (fragmentStartMs: number, previousLastMs: number): boolean =>
  fragmentStartMs > previousLastMs;

// ---- the service's checks ---------------------------------------------------------------------------------

export type FragmentLimits = {
  maxFragmentDurationMs: number;
  maxFragmentBytes: number;
};

/** The limits a fragmenter checks: the service's, unless a caller (a test, a raised quota) sets others. */
export const fragmentLimits = (options: {
  maxFragmentDurationMs?: number;
  maxFragmentBytes?: number;
}): FragmentLimits => ({
  maxFragmentDurationMs: options.maxFragmentDurationMs ?? KvsLimits.maxFragmentDurationMs,
  maxFragmentBytes: options.maxFragmentBytes ?? KvsLimits.maxFragmentBytes,
});

/**
 * A fragment's duration as the service measures it (kvs-api.md §7.2): the last block's time − the cluster's
 * + that frame's duration, or, when the frame has none, the mean frame interval of its track in the fragment
 * (as the local KVS measures it). Fed frame by frame, so a fragment sent as it grows is measured as it would
 * be once complete.
 */
export class FragmentSpan {
  /** The latest block time so far (B-frames arrive out of presentation order). */
  public lastMs = -Infinity;
  private lastFrameDurationMs: number | undefined;
  private lastTrackNumber = 0;
  private readonly tracks = new Map<number, { firstMs: number; lastMs: number; frameCount: number }>();

  public add(trackNumber: number, timestampMs: number, durationMs: number | undefined): void {
    if (timestampMs >= this.lastMs) {
      this.lastMs = timestampMs;
      this.lastFrameDurationMs = durationMs;
      this.lastTrackNumber = trackNumber;
    }
    const track = this.tracks.get(trackNumber);
    if (track === undefined) {
      this.tracks.set(trackNumber, { firstMs: timestampMs, lastMs: timestampMs, frameCount: 1 });
    } else {
      track.firstMs = Math.min(track.firstMs, timestampMs);
      track.lastMs = Math.max(track.lastMs, timestampMs);
      track.frameCount++;
    }
  }

  public durationMs(clusterMs: number): number {
    return this.lastMs - clusterMs + (this.lastFrameDurationMs ?? this.meanFrameIntervalMs());
  }

  private meanFrameIntervalMs(): number {
    const track = this.tracks.get(this.lastTrackNumber);
    return track === undefined || track.frameCount < 2
      ? 0
      : (track.lastMs - track.firstMs) / (track.frameCount - 1);
  }
}

/** ErrorId 4002 for a fragment longer than the limit, else undefined. */
export const durationIssue = (durationMs: number, limits: FragmentLimits): FragmentIssue | undefined =>
  durationMs > limits.maxFragmentDurationMs
    ? {
        errorId: ErrorId.MaxFragmentDurationReached,
        message: `fragment lasts ${(durationMs / 1000).toFixed(1)} s, over the ${limits.maxFragmentDurationMs / 1000} s limit: the key frame interval is too long`,
      }
    : undefined;

/** ErrorId 4001 for a fragment larger than the limit, else undefined. */
export const sizeIssue = (byteLength: number, limits: FragmentLimits): FragmentIssue | undefined =>
  byteLength > limits.maxFragmentBytes
    ? {
        errorId: ErrorId.MaxFragmentSizeReached,
        message: `fragment is ${(byteLength / BYTES_PER_MB).toFixed(1)} MB, over the ${limits.maxFragmentBytes / BYTES_PER_MB} MB limit`,
      }
    : undefined;

/** ErrorId 4004: the fragment does not start after the previous one's last frame. */
export const notAfterPreviousIssue = (fragmentStartMs: number, previousLastMs: number): FragmentIssue => ({
  errorId: ErrorId.FragmentTimecodeLesserThanPrevious,
  message: `fragment starts at ${fragmentStartMs} ms, not after the previous fragment's last frame at ${previousLastMs} ms`,
});

/** ErrorId 4011: a declared track has no frame in the fragment. */
export const missingTrackIssue = (track: MkvTrack): FragmentIssue => ({
  errorId: ErrorId.FramesMissingForTrack,
  message: `track ${track.number} (${track.codecId}) has no frame in this fragment`,
});

/** Accepted by the service, but no player can decode the fragment on its own. */
export const noKeyframeIssue = (): FragmentIssue => ({
  errorId: NO_ERROR_ID,
  message: 'fragment does not start with a key frame: players cannot decode it on its own',
});

/** ErrorIds the fragmenter can predict and that make sending pointless: the service refuses the fragment. */
const REFUSED_BEFORE_SENDING: ReadonlySet<number> = new Set([
  ErrorId.MaxFragmentSizeReached,
  ErrorId.MaxFragmentDurationReached,
]);

/** The issue the service refuses a fragment for whatever is sent around it (4001, 4002), if it has one. */
export const refusalIssue = (issues: readonly FragmentIssue[]): FragmentIssue | undefined =>
  issues.find((issue) => REFUSED_BEFORE_SENDING.has(issue.errorId));

/**
 * The error for fragments not sent because the service would refuse them (an upload, or `inspect` of a
 * file that upload would refuse): the first one's reason as the line, the re-encode that cures it as the hint.
 */
export const refusedFragmentsError = (
  refused: number,
  first: { reason: string; errorId: number } | undefined,
): KvsPutError =>
  new KvsPutError(
    ErrorCode.Fragment,
    `${refused === 1 ? '1 fragment' : `${refused} fragments`} not sent: ${first?.reason ?? "over the service's limits"}`,
    {
      context: { refused, ...(first === undefined ? {} : { errorId: first.errorId }) },
      suggestion:
        first?.errorId === ErrorId.MaxFragmentSizeReached
          ? 're-encode at a lower bitrate: add --transcode --bitrate 4000'
          : 're-encode with a key frame every 2 s: add --transcode --keyframe-interval 2',
    },
  );
