/**
 * Frames → KVS fragments (kvs-api.md §7.2, producer-sdk.md §4.3). One fragment is one Cluster:
 * - every key frame of the key track (the first video track) starts a fragment, once the optional minimum
 *   duration has passed; leading non-key frames are skipped and counted;
 * - frames of other tracks that reach us late (audio interleaved around a key frame) are put in the
 *   fragment their timestamp belongs to, so each fragment starts strictly after the previous one ends (4004);
 * - B-frames keep their presentation timestamps (blocks in decode order, as AWS's producers write them): in a
 *   closed GOP every frame is at or after its key frame, so fragments still never overlap (4004); open-GOP
 *   leading pictures (before their key frame, depending on the previous GOP) are dropped and counted;
 * - fragments that break a service rule carry an issue with the ErrorId the service would send.
 * Producer timestamps are `startTimeMs + media time`: absolute epoch ms by default.
 */
import type { ClusterFrame } from '../mkv/mkv-writer.js';
import { CodecId, TrackType } from '../mkv/ebml-ids.js';
import { normalizeH264CodecPrivate, parseH264SpsFromCodecPrivate } from '../codec/h264.js';
import { normalizeHevcCodecPrivate, parseHevcSpsFromCodecPrivate } from '../codec/hevc.js';
import type { MkvEvent, MkvFrame, MkvHeader, MkvSimpleTag, MkvTrack } from '../mkv/mkv-types.js';
import type { FragmentIssue, FragmentLimits } from './fragment-rules.js';
import {
  BLOCK_HEADER_BYTES,
  CLUSTER_HEADER_BYTES,
  FragmentSpan,
  durationIssue,
  fragmentLimits,
  isBeyondBlockOffset,
  isDueForNewFragment,
  missingTrackIssue,
  noKeyframeIssue,
  notAfterPreviousIssue,
  refusalIssue,
  sameTracks,
  sizeIssue,
  startsAfterPrevious,
  tagsByteLength,
} from './fragment-rules.js';
import { KvsLimits } from './kvs-limits.js';
import type { TimecodeMode } from './kvs-limits.js';

export type { FragmentIssue, TimecodeMode };

export type FragmenterOptions = {
  /**
   * ABSOLUTE: cluster timecodes are epoch ms (the official producers' default). RELATIVE: ms since the
   * producer start timestamp. @default 'absolute'
   */
  timecodeMode?: TimecodeMode;
  /** Epoch ms that media time 0 (the first key frame) maps to. @default wall clock at the first frame */
  startTimeMs?: number;
  /**
   * Frame timestamps already are producer epoch ms (a {@link LiveTimeline} made them): used as they are.
   * @default false
   */
  isProducerTime?: boolean;
  /** A key frame starts a new fragment only this long after the current one began. @default 0 */
  minFragmentDurationMs?: number;
  /** Longer fragments carry ErrorId 4002. @default KvsLimits.maxFragmentDurationMs (the service's limit) */
  maxFragmentDurationMs?: number;
  /** Larger fragments carry ErrorId 4001. @default KvsLimits.maxFragmentBytes (the service's limit) */
  maxFragmentBytes?: number;
  /** Metadata tags written before every fragment. */
  fragmentTags?: readonly MkvSimpleTag[];
  /**
   * The sequence of the first fragment: a source that chains fragmenters (one per clip) numbers across them.
   * @default 0
   */
  firstSequence?: number;
  /**
   * Each fragment's {@link Fragment.release}, made from its frames: a source reading into pooled buffers
   * hands back the memory they view. @default none (the fragment has no release hook)
   */
  releaseOf?: (frames: readonly ClusterFrame[]) => () => void;
  /**
   * When given, a fragment the service would refuse whatever is sent around it (over its duration or size
   * limit, {@link refusalIssue}) is handed here instead of being output: it takes no sequence number (it
   * carries the next fragment's), and it is released once this returns. @default every fragment is output
   */
  onRefused?: (fragment: Fragment, issue: FragmentIssue) => void;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
};

/**
 * A KVS fragment (one Cluster), or a part of one: immutable once made, built complete by its fragmenter.
 * Which tracks it belongs to is not its own field: the {@link SessionHeader} before it in the stream says.
 */
export type Fragment = {
  readonly type: 'fragment';
  /** 0-based position in the output. */
  readonly sequence: number;
  /** Cluster Timecode in ms: epoch ms (absolute) or ms since the start time (relative). */
  readonly timecode: number;
  /** Epoch ms of the first frame. */
  readonly producerTimestampMs: number;
  /** Last frame's timestamp − first + that frame's duration. */
  readonly durationMs: number;
  /** Block timestamp of the last frame (absolute ms), for the "strictly greater" rule. */
  readonly lastTimestampMs: number;
  readonly frames: readonly ClusterFrame[];
  /**
   * Bytes SessionWriter.write() produces for it besides a session header: its metadata Tags and its Cluster
   * (element headers + payloads), or for a continuation part its blocks alone.
   */
  readonly byteLength: number;
  readonly startsWithKeyframe: boolean;
  /** True when presentation times go back within a track (B-frames), kept as they are. */
  readonly hasBFrames: boolean;
  readonly tags: readonly MkvSimpleTag[];
  readonly issues: readonly FragmentIssue[];
  /**
   * More frames of the cluster the previous part opened (a live fragment sent as it grows, see
   * StreamingFragmenter): no Cluster header, same timecode, acknowledged as that cluster.
   */
  readonly isContinuation: boolean;
  /** performance.now() when the source bytes that completed this fragment (part) arrived: for latency stats. */
  readonly arrivedAtMs: number | undefined;
  /**
   * Called once, when the fragment's bytes are no longer needed (acknowledged as stored, skipped or dropped):
   * a source reading into pooled buffers reuses the memory its frames view. Its frames must not be read after.
   */
  readonly release: (() => void) | undefined;
};

/**
 * "A new session header starts here" (EBML header, Segment, Info, Tracks): the stream begins, or its output
 * track set changed. Every fragment after this item, up to the next one, goes under a header of these
 * tracks; the upload session begins each connection with the header of its first fragment.
 */
export type SessionHeader = {
  readonly type: 'session-header';
  readonly tracks: readonly MkvTrack[];
};

/** What the fragmenters (and the sources around them) yield: session headers and the fragments after them. */
export type SessionItem = SessionHeader | Fragment;

/** The item that starts a session of these tracks. */
export const sessionHeader = (tracks: readonly MkvTrack[]): SessionHeader => ({
  type: 'session-header',
  tracks,
});

/** The fragments of a list of items, without the session headers between them. */
export const fragmentsOf = (items: readonly SessionItem[]): Fragment[] =>
  items.filter((item): item is Fragment => item.type === 'fragment');

export type FragmenterStats = {
  framesIn: number;
  framesOut: number;
  fragments: number;
  /** Non-key frames before the first key frame. */
  skippedLeadingFrames: number;
  /** Frames of tracks kvs-put does not send (subtitles, data, a 4th track). */
  skippedTrackFrames: number;
  /** Frames of other tracks older than the fragment they arrived in and too late for the previous one. */
  skippedLateFrames: number;
  /** Fragments with B-frames. */
  bFrameFragments: number;
  /** Open-GOP leading pictures: before their key frame in time, undecodable without the previous fragment. */
  skippedLeadingPictures: number;
  fragmentsWithIssues: number;
};

type PendingFrame = {
  trackNumber: number;
  timestampMs: number;
  durationMs: number | undefined;
  isKeyframe: boolean;
  isInvisible: boolean;
  isDiscardable: boolean;
  data: Uint8Array;
};

type Builder = {
  startMs: number;
  frames: PendingFrame[];
  startsWithKeyframe: boolean;
  /** Output track numbers that have at least one frame. */
  tracksSeen: Set<number>;
};

/**
 * KVS playback needs H.264/H.265 CodecPrivate as an avcC/hvcC record (producer-sdk.md §4.6): an Annex-B one
 * (start codes, as some encoders write it) is converted, and a missing video size is read from the SPS.
 * A CodecPrivate that cannot be parsed is passed through unchanged (ingest does not validate it).
 */
const playableCodecPrivate = (track: MkvTrack): { codecPrivate?: Uint8Array; video?: MkvTrack['video'] } => {
  const { codecPrivate, video } = track;
  const keep = {
    ...(codecPrivate === undefined ? {} : { codecPrivate }),
    ...(video === undefined ? {} : { video }),
  };
  if (codecPrivate === undefined || (track.codecId !== CodecId.H264 && track.codecId !== CodecId.H265)) {
    return keep;
  }
  try {
    const isH264 = track.codecId === CodecId.H264;
    const record = isH264 ? normalizeH264CodecPrivate(codecPrivate) : normalizeHevcCodecPrivate(codecPrivate);
    const sps = isH264 ? parseH264SpsFromCodecPrivate(record) : parseHevcSpsFromCodecPrivate(record);
    return { codecPrivate: record, video: video ?? { widthPx: sps.widthPx, heightPx: sps.heightPx } };
  } catch {
    return keep;
  }
};

/** Picks the tracks KVS gets — video first, then audio, at most 3 — and numbers them 1..n as producers do. */
export const selectKvsTracks = (
  header: MkvHeader,
): { tracks: MkvTrack[]; inputToOutput: Map<number, number> } => {
  const video = header.tracks.filter((track) => track.type === TrackType.Video);
  const audio = header.tracks.filter((track) => track.type === TrackType.Audio);
  const chosen = [...video, ...audio].slice(0, KvsLimits.maxTracks);
  const inputToOutput = new Map<number, number>();
  const tracks = chosen.map((track, index): MkvTrack => {
    const number = index + 1;
    inputToOutput.set(track.number, number);
    const isVideo = track.type === TrackType.Video;
    const { codecPrivate, video } = playableCodecPrivate(track);
    return {
      number,
      uid: BigInt(number),
      type: track.type,
      name: isVideo ? 'kvs_video_track' : 'kvs_audio_track',
      codecId: track.codecId,
      ...(codecPrivate === undefined ? {} : { codecPrivate }),
      ...(track.defaultDurationNs === undefined ? {} : { defaultDurationNs: track.defaultDurationNs }),
      ...(video === undefined ? {} : { video }),
      ...(track.audio === undefined ? {} : { audio: track.audio }),
    };
  });
  return { tracks, inputToOutput };
};

/** All counters at zero. */
export const createFragmenterStats = (): FragmenterStats => ({
  framesIn: 0,
  framesOut: 0,
  fragments: 0,
  skippedLeadingFrames: 0,
  skippedTrackFrames: 0,
  skippedLateFrames: 0,
  bFrameFragments: 0,
  skippedLeadingPictures: 0,
  fragmentsWithIssues: 0,
});

/**
 * The fragmenter as a synchronous push stage: feed it reader events, get finished fragments back.
 * {@link fragmentMkv} wraps it as an async-iterable stage.
 */
export class Fragmenter {
  public readonly stats: FragmenterStats = createFragmenterStats();

  private readonly timecodeMode: TimecodeMode;
  private readonly minFragmentDurationMs: number;
  private readonly limits: FragmentLimits;
  private readonly fragmentTags: readonly MkvSimpleTag[];
  private readonly tagsBytes: number;
  private readonly now: () => number;
  private startTimeMs: number | undefined;
  private readonly isProducerTime: boolean;
  private tracks: readonly MkvTrack[] = [];
  private inputToOutput = new Map<number, number>();
  /** Output number of the track whose key frames start fragments (the first video track, else the first). */
  private keyTrack = 0;
  /** Media ms (input time) of the first fragment start: maps to startTimeMs. */
  private mediaOriginMs: number | undefined;
  private current: Builder | undefined;
  /** The previous fragment, held open for late frames of other tracks until every track has moved past it. */
  private previous: Builder | undefined;
  private lastEmittedTimestampMs = -Infinity;
  private sequence: number;
  private readonly releaseOf: ((frames: readonly ClusterFrame[]) => () => void) | undefined;
  private readonly onRefused: ((fragment: Fragment, issue: FragmentIssue) => void) | undefined;

  public constructor(options: FragmenterOptions = {}) {
    this.timecodeMode = options.timecodeMode ?? 'absolute';
    this.minFragmentDurationMs = options.minFragmentDurationMs ?? 0;
    this.limits = fragmentLimits(options);
    this.fragmentTags = options.fragmentTags ?? [];
    this.tagsBytes = tagsByteLength(this.fragmentTags);
    this.now = options.now ?? Date.now;
    this.startTimeMs = options.startTimeMs;
    this.isProducerTime = options.isProducerTime ?? false;
    this.sequence = options.firstSequence ?? 0;
    this.releaseOf = options.releaseOf;
    this.onRefused = options.onRefused;
    if (this.isProducerTime) {
      this.startTimeMs = 0;
      this.mediaOriginMs = 0;
    }
  }

  /** The output tracks of the current header. */
  public get outputTracks(): readonly MkvTrack[] {
    return this.tracks;
  }

  /** The sequence the next fragment output gets. */
  public get nextSequence(): number {
    return this.sequence;
  }

  /** Finished fragments, and a {@link SessionHeader} before the first and wherever the track set changes. */
  public push(event: MkvEvent): SessionItem[] {
    if (event.type === 'header') {
      return this.onHeader(event.header);
    }
    if (event.type === 'frame') {
      return this.onFrame(event.frame);
    }
    return [];
  }

  /** Flushes the last fragments at the end of the input. */
  public end(): Fragment[] {
    const out: Fragment[] = [];
    this.flushPrevious(out);
    if (this.current !== undefined) {
      this.output(this.finish(this.current), out);
      this.current = undefined;
    }
    return out;
  }

  private onHeader(header: MkvHeader): SessionItem[] {
    const { tracks, inputToOutput } = selectKvsTracks(header);
    this.inputToOutput = inputToOutput;
    if (sameTracks(tracks, this.tracks)) {
      return [];
    }
    // A different track set needs a new session header: close what we have first.
    const out: SessionItem[] = this.end();
    this.tracks = tracks;
    const video = tracks.find((track) => track.type === TrackType.Video);
    this.keyTrack = video?.number ?? tracks[0]?.number ?? 0;
    out.push(sessionHeader(tracks));
    return out;
  }

  private onFrame(frame: MkvFrame): SessionItem[] {
    this.stats.framesIn++;
    const trackNumber = this.inputToOutput.get(frame.trackNumber);
    if (trackNumber === undefined) {
      this.stats.skippedTrackFrames++;
      return [];
    }
    const isKeyTrack = trackNumber === this.keyTrack;
    const isFragmentStart = isKeyTrack && frame.isKeyframe;
    if (this.mediaOriginMs === undefined) {
      if (!isFragmentStart) {
        this.stats.skippedLeadingFrames++;
        return [];
      }
      this.mediaOriginMs = frame.timestampMs;
      this.startTimeMs ??= this.now();
    }
    const pending: PendingFrame = {
      trackNumber,
      timestampMs: Math.round(this.startTimeMs! + frame.timestampMs - this.mediaOriginMs),
      durationMs: frame.durationMs,
      isKeyframe: frame.isKeyframe,
      isInvisible: frame.isInvisible === true,
      isDiscardable: frame.isDiscardable === true,
      data: frame.data,
    };
    const out: Fragment[] = [];
    const current = this.current;
    if (current === undefined) {
      if (!isFragmentStart) {
        // Only after a track-set change: wait for the next key frame.
        this.stats.skippedLeadingFrames++;
        return out;
      }
      this.current = this.startBuilder(pending);
      return out;
    }
    const ts = pending.timestampMs;
    // A key frame at or before the fragment's start, after later frames: the input's time went back (a
    // restarted or spliced stream, GetMedia output of relative-timecode sessions), not B-frames. It starts a
    // new fragment, flagged 4004 as the service would; folded into this one, its GOP would be re-sequenced
    // into this fragment's timeline and every timestamp of both GOPs would be wrong.
    const isTimeJump =
      isFragmentStart && ts <= current.startMs && current.frames.some((frame) => frame.timestampMs > ts);
    if (
      isTimeJump ||
      (isFragmentStart && isDueForNewFragment(current.startMs, ts, this.minFragmentDurationMs))
    ) {
      this.flushPrevious(out);
      const next = this.startBuilder(pending);
      // Frames of other tracks at or after the key frame belong to the new fragment (not across a jump back).
      const frames = current.frames;
      let keep = frames.length;
      while (
        !isTimeJump &&
        keep > 0 &&
        frames[keep - 1]!.trackNumber !== this.keyTrack &&
        frames[keep - 1]!.timestampMs >= ts
      ) {
        keep--;
      }
      for (const moved of frames.splice(keep)) {
        this.addTo(next, moved);
      }
      this.previous = current;
      this.current = next;
      return out;
    }
    if (isBeyondBlockOffset(current.startMs, ts)) {
      // A cluster must end here, key frame or not.
      this.flushPrevious(out);
      this.previous = current;
      this.current = this.startBuilder(pending);
      return out;
    }
    if (ts < current.startMs && isKeyTrack) {
      this.stats.skippedLeadingPictures++;
      return out;
    }
    if (ts < current.startMs) {
      const previous = this.previous;
      if (previous !== undefined && ts >= previous.startMs) {
        this.addTo(previous, pending);
      } else {
        this.stats.skippedLateFrames++;
      }
      return out;
    }
    this.addTo(current, pending);
    if (this.previous !== undefined && current.tracksSeen.size === this.tracks.length) {
      // Every track has moved past the previous fragment: nothing late can still arrive for it.
      this.flushPrevious(out);
    }
    return out;
  }

  private startBuilder(first: PendingFrame): Builder {
    const builder: Builder = {
      startMs: first.timestampMs,
      frames: [],
      startsWithKeyframe: first.isKeyframe && first.trackNumber === this.keyTrack,
      tracksSeen: new Set(),
    };
    this.addTo(builder, first);
    return builder;
  }

  /**
   * Adds a frame in time order among the other tracks' frames, but never ahead of a frame of its own track:
   * each track keeps its decode order (B-frames), and late audio lands where its time says.
   */
  private addTo(builder: Builder, frame: PendingFrame): void {
    const frames = builder.frames;
    let at = frames.length;
    while (
      at > 0 &&
      frames[at - 1]!.trackNumber !== frame.trackNumber &&
      frames[at - 1]!.timestampMs > frame.timestampMs
    ) {
      at--;
    }
    if (at === frames.length) {
      frames.push(frame);
    } else {
      frames.splice(at, 0, frame);
    }
    builder.tracksSeen.add(frame.trackNumber);
  }

  private flushPrevious(out: Fragment[]): void {
    if (this.previous !== undefined) {
      this.output(this.finish(this.previous), out);
      this.previous = undefined;
    }
  }

  /** Outputs a finished fragment, unless the service would refuse it and the caller asked to hear of that. */
  private output(fragment: Fragment, out: Fragment[]): void {
    if (this.onRefused !== undefined) {
      const refusal = refusalIssue(fragment.issues);
      if (refusal !== undefined) {
        this.onRefused(fragment, refusal);
        fragment.release?.();
        return;
      }
    }
    this.sequence++;
    out.push(fragment);
  }

  private finish(builder: Builder): Fragment {
    const issues: FragmentIssue[] = [];
    const hasBFrames = hasDecreasingTimestamps(builder.frames);
    const frames: ClusterFrame[] = new Array<ClusterFrame>(builder.frames.length);
    const span = new FragmentSpan();
    let byteLength = this.tagsBytes + CLUSTER_HEADER_BYTES;
    let firstMs = Infinity;
    for (const frame of builder.frames) {
      firstMs = Math.min(firstMs, frame.timestampMs);
      span.add(frame.trackNumber, frame.timestampMs, frame.durationMs);
    }
    const lastMs = span.lastMs;
    // Audio re-homed from an open fragment may start a hair before the key frame: the cluster starts at the
    // earliest block so no offset is negative (PIC never writes negative offsets).
    const clusterMs = Math.min(builder.startMs, firstMs);
    for (let i = 0; i < builder.frames.length; i++) {
      const frame = builder.frames[i]!;
      byteLength += BLOCK_HEADER_BYTES + frame.data.length;
      frames[i] = {
        trackNumber: frame.trackNumber,
        relativeTimecode: frame.timestampMs - clusterMs,
        isKeyframe: frame.isKeyframe,
        isInvisible: frame.isInvisible,
        isDiscardable: frame.isDiscardable,
        data: frame.data,
      };
    }
    const durationMs = span.durationMs(clusterMs);
    if (!builder.startsWithKeyframe) {
      issues.push(noKeyframeIssue());
    }
    const tooLong = durationIssue(durationMs, this.limits);
    if (tooLong !== undefined) {
      issues.push(tooLong);
    }
    const tooLarge = sizeIssue(byteLength, this.limits);
    if (tooLarge !== undefined) {
      issues.push(tooLarge);
    }
    if (!startsAfterPrevious(clusterMs, this.lastEmittedTimestampMs)) {
      issues.push(notAfterPreviousIssue(clusterMs, this.lastEmittedTimestampMs));
    }
    for (const track of this.tracks) {
      if (!builder.tracksSeen.has(track.number)) {
        issues.push(missingTrackIssue(track));
      }
    }
    // The service compares with the previous fragment's last frame (kvs-api.md §7.2), not the latest ever.
    this.lastEmittedTimestampMs = lastMs;
    this.stats.framesOut += frames.length;
    this.stats.fragments++;
    if (hasBFrames) {
      this.stats.bFrameFragments++;
    }
    if (issues.length > 0) {
      this.stats.fragmentsWithIssues++;
    }
    return {
      type: 'fragment',
      // Taken by output(): a refused fragment carries the number the next one gets.
      sequence: this.sequence,
      timecode: this.timecodeMode === 'absolute' ? clusterMs : clusterMs - this.startTimeMs!,
      producerTimestampMs: clusterMs,
      durationMs,
      lastTimestampMs: lastMs,
      frames,
      byteLength,
      startsWithKeyframe: builder.startsWithKeyframe,
      hasBFrames,
      tags: this.fragmentTags,
      issues,
      isContinuation: false,
      arrivedAtMs: undefined,
      release: this.releaseOf?.(frames),
    };
  }
}

/** Whether presentation times go back within a track: the signature of B-frames. */
const hasDecreasingTimestamps = (frames: readonly PendingFrame[]): boolean => {
  const lastByTrack = new Map<number, number>();
  for (const frame of frames) {
    const last = lastByTrack.get(frame.trackNumber);
    if (last !== undefined && frame.timestampMs < last) {
      return true;
    }
    lastByTrack.set(frame.trackNumber, frame.timestampMs);
  }
  return false;
};

/** The fragmenter as an async-iterable pipeline stage. */
export async function* fragmentMkv(
  events: AsyncIterable<MkvEvent>,
  options: FragmenterOptions = {},
  fragmenter: Fragmenter = new Fragmenter(options),
): AsyncGenerator<SessionItem> {
  for await (const event of events) {
    for (const item of fragmenter.push(event)) {
      yield item;
    }
  }
  for (const fragment of fragmenter.end()) {
    yield fragment;
  }
}
