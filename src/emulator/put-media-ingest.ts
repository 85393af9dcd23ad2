/**
 * The local KVS's PutMedia ingest: the uploaded MKV bytes in, ack-worthy events and stored fragments out.
 * It validates what the service validates (kvs-api.md §6.3, §7) from the real bytes, with kvs-put's own
 * reader, and answers with the service's {@link ErrorId}: one Segment per session, declared tracks
 * (TrackNumberMismatch, FramesMissingForTrack, MoreThanAllowedTracksFound), fragment duration and size
 * (MaxFragmentDurationReached, MaxFragmentSizeReached), time order (FragmentTimecodeLesserThanPrevious), producer
 * time not in the future (InvalidProducerTimestamp), metadata limits (FragmentMetadataLimitReached), and MKV that
 * cannot be parsed (InvalidMkvData). Fragments keep the exact bytes they were sent as.
 *
 * Which bytes make a fragment: its Cluster, plus the producer's Tags elements sent after it, up to the next
 * Cluster, an `AWS_KINESISVIDEO_END_OF_FRAGMENT` marker, or the end of the body. That is where the service's
 * GetMedia output puts a producer's fragment metadata (shared/fixtures/kvs-getmedia/test_mixed_tags.mkv: Cluster,
 * then the producer's Tags, then the service's trailing Tags), and where AWS's C producer sends it
 * (official-c-producer-session.mkv: Cluster, 9 metadata Tags, END_OF_FRAGMENT, next Cluster). Tags sent while
 * no fragment is open (after Tracks before the first Cluster, or after an END_OF_FRAGMENT) belong to the next
 * fragment, and its bytes start with them. Tags inside the media header (before Tracks) are part of the header.
 */
import type { MkvEvent, MkvHeader, MkvSimpleTag } from '../mkv/mkv-types.js';
import { MkvReader } from '../mkv/mkv-reader.js';
import { MkvParseError } from '../mkv/mkv-errors.js';
import { KvsLimits } from '../fragment/kvs-limits.js';
import { ErrorId, errorIdInfo } from '../kvs/ack.js';
import type { FragmentTimecodeType } from '../kvs/kvs-protocol.js';
import { FRAGMENT_TIMECODE_TYPES } from '../kvs/kvs-protocol.js';
import { KvsTag } from '../mkv/kvs-tags.js';

/** Reserved tag names a producer may send (kvs-api.md §7.5); any other AWS* name is refused
 * (FragmentMetadataLimitReached). */
const PRODUCER_RESERVED_TAGS: ReadonlySet<string> = new Set([
  KvsTag.EndOfFragment,
  KvsTag.Notification,
  KvsTag.ImageGeneration,
  KvsTag.ImagePrefix,
]);

/**
 * Options of {@link PutMediaIngest}: the session's headers, the server clock and the limits (their defaults live
 * in the data plane's config, the one place the local KVS resolves them).
 */
export type IngestOptions = {
  timecodeType: FragmentTimecodeType;
  /** x-amzn-producer-start-timestamp in epoch ms (RELATIVE timecodes count from it). */
  producerStartTimestampMs: number;
  /** Server clock, epoch ms. */
  now: () => number;
  /** MaxFragmentDurationReached above this. */
  maxFragmentDurationMs: number;
  /** MaxFragmentSizeReached above this. */
  maxFragmentBytes: number;
  /** InvalidProducerTimestamp when a producer timestamp is further than this into the future. */
  futureToleranceMs: number;
  /**
   * Answer a fragment whose first frame is not a key frame with InvalidMkvData (the `strict` profile; the service
   * itself stores such fragments, kvs-api.md §7.2).
   */
  isKeyframeStartRequired: boolean;
};

/** A complete, valid fragment: its facts and its bytes as sent. */
export type IngestedFragment = {
  /** The Cluster Timecode exactly as sent (the ack's FragmentTimecode). */
  timecode: number;
  producerTimestampMs: number;
  /** Server time when its first byte arrived. */
  serverTimestampMs: number;
  durationMs: number;
  /**
   * The session's media metadata: EBML header to the first Cluster (or the first Tags after Tracks), as sent.
   * The same array for every fragment of a session.
   */
  headerBytes: Uint8Array;
  /**
   * The fragment's bytes exactly as sent: its Cluster, with the producer Tags around it (see the module doc), as
   * views of the pushed chunks (no copy; the chunks must not be reused by the caller, which Node streams never do).
   */
  clusterChunks: Uint8Array[];
  /** Total length of `clusterChunks`. */
  clusterByteLength: number;
  frameCount: number;
  framesPerTrack: Record<number, number>;
  startsWithKeyframe: boolean;
  tags: MkvSimpleTag[];
};

/**
 * What the ingest reports: a fragment's Cluster began (BUFFERING), a fragment is complete and valid (RECEIVED,
 * then store), or the session failed (ERROR with the service's ErrorId; nothing more is reported after it).
 */
export type IngestEvent =
  | { type: 'fragment-start'; timecode: number; serverTimestampMs: number }
  | { type: 'fragment-complete'; fragment: IngestedFragment }
  | { type: 'error'; errorId: ErrorId; errorCode: string; timecode?: number; reason: string };

type Open = {
  timecode: number;
  startMs: number;
  startOffset: number;
  serverTimestampMs: number;
  lastMs: number;
  lastDurationMs: number | undefined;
  /** Track of the frame at `lastMs`. */
  lastTrack: number;
  /** Per track: earliest and latest frame time and frame count (for the mean frame interval). */
  spans: Map<number, { firstMs: number; lastMs: number; count: number }>;
  firstFrameMs: number | undefined;
  frameCount: number;
  framesPerTrack: Record<number, number>;
  startsWithKeyframe: boolean | undefined;
  tags: MkvSimpleTag[];
};

class IngestFailure extends Error {
  public constructor(
    public readonly errorId: ErrorId,
    reason: string,
    public readonly timecode?: number,
  ) {
    super(reason);
  }
}

const textEncoder = new TextEncoder();

/**
 * One PutMedia body's validation and fragmenting: `push()` the body's chunks and `end()` it; each call returns
 * the events it completed. After an `error` event the ingest ignores everything else (the service closes).
 */
export class PutMediaIngest {
  private readonly reader = new MkvReader();
  private readonly options: IngestOptions;
  private readonly maxFragmentDurationMs: number;
  private readonly maxFragmentBytes: number;
  /** Raw input kept from the start of the open fragment (or the session header) on. */
  private pieces: { offset: number; bytes: Uint8Array }[] = [];
  private header: MkvHeader | undefined;
  private headerBytes: Uint8Array = new Uint8Array(0);
  /** Where the media header's bytes end: Tags before it are part of the header, not fragment metadata. */
  private headerEndOffset = 0;
  /** Start of the first Tags element sent while no fragment was open: the next fragment's bytes start there. */
  private leadingTagsOffset: number | undefined;
  private msPerTick = 1;
  private open: Open | undefined;
  private pendingTags: MkvSimpleTag[] = [];
  private previousLastMs = -Infinity;
  private segments = 0;
  private failed = false;
  private bytesSeen = 0;

  public constructor(options: IngestOptions) {
    this.options = options;
    this.maxFragmentDurationMs = options.maxFragmentDurationMs;
    this.maxFragmentBytes = options.maxFragmentBytes;
  }

  /** Total body bytes pushed. */
  public get byteCount(): number {
    return this.bytesSeen;
  }

  public push(chunk: Uint8Array): IngestEvent[] {
    if (this.failed) {
      return [];
    }
    this.pieces.push({ offset: this.bytesSeen, bytes: chunk });
    this.bytesSeen += chunk.length;
    return this.run(() => this.reader.push(chunk));
  }

  /** The body ended: the open fragment completes (RECEIVED at the end of the body). */
  public end(): IngestEvent[] {
    if (this.failed) {
      return [];
    }
    const events = this.run(() => this.reader.end());
    if (this.failed) {
      return events;
    }
    try {
      this.closeFragment(this.bytesSeen, events);
    } catch (error) {
      this.fail(error, events);
    }
    return events;
  }

  /**
   * The connection broke mid-body: a fragment in the middle of being received is lost (StreamReadError in the
   * service's words); complete ones were already reported.
   */
  public get hasOpenFragment(): boolean {
    return this.open !== undefined;
  }

  public get openTimecode(): number | undefined {
    return this.open?.timecode;
  }

  private run(read: () => MkvEvent[]): IngestEvent[] {
    const events: IngestEvent[] = [];
    try {
      for (const event of read()) {
        this.onEvent(event, events);
      }
      this.checkSize();
    } catch (error) {
      this.fail(error, events);
    }
    return events;
  }

  private fail(error: unknown, events: IngestEvent[]): void {
    this.failed = true;
    const failure =
      error instanceof IngestFailure
        ? error
        : new IngestFailure(
            ErrorId.InvalidMkvData,
            error instanceof MkvParseError ? error.message : `invalid MKV: ${String(error)}`,
            this.open?.timecode,
          );
    events.push({
      type: 'error',
      errorId: failure.errorId,
      errorCode: errorIdInfo(failure.errorId).code,
      ...(failure.timecode === undefined ? {} : { timecode: failure.timecode }),
      reason: failure.message,
    });
  }

  private onEvent(event: MkvEvent, events: IngestEvent[]): void {
    switch (event.type) {
      case 'header': {
        this.segments++;
        if (this.segments > 1) {
          throw new IngestFailure(ErrorId.InvalidMkvData, 'more than one Segment in one PutMedia session');
        }
        const tracks = event.header.tracks;
        if (tracks.length === 0) {
          throw new IngestFailure(ErrorId.InvalidMkvData, 'no Tracks before the first Cluster');
        }
        if (tracks.length > KvsLimits.maxTracks) {
          throw new IngestFailure(
            ErrorId.MoreThanAllowedTracksFound,
            `${tracks.length} tracks: at most ${KvsLimits.maxTracks} are allowed`,
          );
        }
        this.header = event.header;
        this.headerBytes = event.headerBytes ?? new Uint8Array(0);
        this.headerEndOffset = event.byteOffset + this.headerBytes.length;
        this.msPerTick = event.header.timecodeScaleNs / 1e6;
        return;
      }
      case 'cluster': {
        this.closeFragment(event.byteOffset, events);
        if (this.header === undefined) {
          throw new IngestFailure(ErrorId.InvalidMkvData, 'a Cluster before any Tracks');
        }
        const startMs = this.producerMs(event.timecode);
        if (startMs > this.options.now() + this.options.futureToleranceMs) {
          throw new IngestFailure(
            ErrorId.InvalidProducerTimestamp,
            `producer timestamp ${new Date(startMs).toISOString()} is in the future`,
            event.timecode,
          );
        }
        const serverTimestampMs = this.options.now();
        const startOffset = this.leadingTagsOffset ?? event.byteOffset;
        this.leadingTagsOffset = undefined;
        this.open = {
          timecode: event.timecode,
          startMs,
          startOffset,
          serverTimestampMs,
          lastMs: startMs,
          lastDurationMs: undefined,
          lastTrack: 0,
          spans: new Map(),
          firstFrameMs: undefined,
          frameCount: 0,
          framesPerTrack: {},
          startsWithKeyframe: undefined,
          tags: this.pendingTags,
        };
        this.pendingTags = [];
        this.dropPiecesBefore(startOffset);
        events.push({ type: 'fragment-start', timecode: event.timecode, serverTimestampMs });
        return;
      }
      case 'frame': {
        const open = this.open;
        if (open === undefined) {
          throw new IngestFailure(ErrorId.InvalidMkvData, 'a block outside any Cluster');
        }
        const frame = event.frame;
        if (!this.header!.tracks.some((track) => track.number === frame.trackNumber)) {
          throw new IngestFailure(
            ErrorId.TrackNumberMismatch,
            `a block names track ${frame.trackNumber}, which Tracks does not declare`,
            open.timecode,
          );
        }
        const ms = this.producerMs(frame.timecode);
        if (open.firstFrameMs === undefined) {
          open.firstFrameMs = ms;
          open.startsWithKeyframe = frame.isKeyframe;
          if (!frame.isKeyframe && this.options.isKeyframeStartRequired) {
            throw new IngestFailure(
              ErrorId.InvalidMkvData,
              'the fragment does not start with a key frame',
              open.timecode,
            );
          }
          // Service rule: a fragment starts strictly after the previous fragment's last frame.
          if (ms <= this.previousLastMs) {
            throw new IngestFailure(
              ErrorId.FragmentTimecodeLesserThanPrevious,
              `fragment starts at ${ms} ms, not after the previous fragment's last frame at ${this.previousLastMs} ms`,
              open.timecode,
            );
          }
        }
        if (ms >= open.lastMs) {
          open.lastMs = ms;
          open.lastDurationMs = frame.durationMs;
          open.lastTrack = frame.trackNumber;
        }
        const span = open.spans.get(frame.trackNumber);
        if (span === undefined) {
          open.spans.set(frame.trackNumber, { firstMs: ms, lastMs: ms, count: 1 });
        } else {
          span.firstMs = Math.min(span.firstMs, ms);
          span.lastMs = Math.max(span.lastMs, ms);
          span.count++;
        }
        open.frameCount++;
        open.framesPerTrack[frame.trackNumber] = (open.framesPerTrack[frame.trackNumber] ?? 0) + 1;
        if (open.lastMs - open.startMs > this.maxFragmentDurationMs) {
          throw new IngestFailure(
            ErrorId.MaxFragmentDurationReached,
            `fragment longer than ${this.maxFragmentDurationMs / 1000} s`,
            open.timecode,
          );
        }
        return;
      }
      case 'tags': {
        if (event.byteOffset < this.headerEndOffset) {
          // Tags before Tracks: part of the media header, stored and served with it.
          return;
        }
        if (event.tags.some((tag) => tag.name === KvsTag.EndOfFragment)) {
          this.closeFragment(event.byteOffset, events);
          return;
        }
        const open = this.open;
        if (open === undefined) {
          this.leadingTagsOffset ??= event.byteOffset;
          this.pendingTags.push(...event.tags);
          this.checkTags(this.pendingTags, undefined);
        } else {
          open.tags.push(...event.tags);
          this.checkTags(open.tags, open.timecode);
        }
        return;
      }
      case 'segment-end':
        this.closeFragment(event.byteOffset, events);
        return;
    }
  }

  /** Fragment metadata limits (FragmentMetadataLimitReached): count, name and value sizes, reserved `AWS` names. */
  private checkTags(tags: readonly MkvSimpleTag[], timecode: number | undefined): void {
    if (tags.length > KvsLimits.maxFragmentMetadataTags) {
      throw new IngestFailure(
        ErrorId.FragmentMetadataLimitReached,
        `more than ${KvsLimits.maxFragmentMetadataTags} metadata tags for one fragment`,
        timecode,
      );
    }
    for (const tag of tags) {
      if (tag.name.startsWith('AWS') && !PRODUCER_RESERVED_TAGS.has(tag.name)) {
        throw new IngestFailure(
          ErrorId.FragmentMetadataLimitReached,
          `fragment metadata uses the reserved name ${tag.name.slice(0, 60)}`,
          timecode,
        );
      }
      if (
        textEncoder.encode(tag.name).length > KvsLimits.maxMetadataNameBytes ||
        textEncoder.encode(tag.value ?? '').length + (tag.binary?.length ?? 0) >
          KvsLimits.maxMetadataValueBytes
      ) {
        throw new IngestFailure(
          ErrorId.FragmentMetadataLimitReached,
          `metadata tag ${tag.name.slice(0, 40)} is longer than ${KvsLimits.maxMetadataNameBytes} bytes (name) or ${KvsLimits.maxMetadataValueBytes} bytes (value)`,
          timecode,
        );
      }
    }
  }

  private checkSize(): void {
    const open = this.open;
    if (open !== undefined && this.bytesSeen - open.startOffset > this.maxFragmentBytes) {
      throw new IngestFailure(
        ErrorId.MaxFragmentSizeReached,
        `fragment larger than ${this.maxFragmentBytes} bytes`,
        open.timecode,
      );
    }
  }

  /** Completes the open fragment, whose bytes end at `endOffset`. */
  private closeFragment(endOffset: number, events: IngestEvent[]): void {
    const open = this.open;
    if (open === undefined) {
      return;
    }
    this.open = undefined;
    // An empty Cluster has no frame for any track: FramesMissingForTrack like any fragment missing a track.
    for (const track of this.header!.tracks) {
      if ((open.framesPerTrack[track.number] ?? 0) === 0) {
        throw new IngestFailure(
          ErrorId.FramesMissingForTrack,
          `track ${track.number} has no frame in the fragment`,
          open.timecode,
        );
      }
    }
    // The last frame's own duration: BlockDuration or DefaultDuration, else its track's mean frame interval
    // (kvs-api.md §7.2 [EMU]).
    const span = open.spans.get(open.lastTrack);
    const meanIntervalMs =
      span === undefined || span.count < 2 ? 0 : (span.lastMs - span.firstMs) / (span.count - 1);
    const durationMs = open.lastMs - open.startMs + (open.lastDurationMs ?? meanIntervalMs);
    if (durationMs > this.maxFragmentDurationMs) {
      throw new IngestFailure(
        ErrorId.MaxFragmentDurationReached,
        `fragment longer than ${this.maxFragmentDurationMs / 1000} s`,
        open.timecode,
      );
    }
    this.previousLastMs = open.lastMs;
    events.push({
      type: 'fragment-complete',
      fragment: {
        timecode: open.timecode,
        producerTimestampMs: open.startMs,
        serverTimestampMs: open.serverTimestampMs,
        durationMs,
        headerBytes: this.headerBytes,
        clusterChunks: this.views(open.startOffset, endOffset),
        clusterByteLength: endOffset - open.startOffset,
        frameCount: open.frameCount,
        framesPerTrack: open.framesPerTrack,
        startsWithKeyframe: open.startsWithKeyframe === true,
        tags: open.tags,
      },
    });
    this.dropPiecesBefore(endOffset);
  }

  /** Producer time of a timecode: as-is (ABSOLUTE), or from the producer start timestamp (RELATIVE). */
  private producerMs(timecode: number): number {
    const ms = timecode * this.msPerTick;
    return this.options.timecodeType === FRAGMENT_TIMECODE_TYPES.absolute
      ? ms
      : this.options.producerStartTimestampMs + ms;
  }

  /** Input bytes [start, end), as views of the kept pieces. */
  private views(start: number, end: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const piece of this.pieces) {
      const from = Math.max(start, piece.offset);
      const to = Math.min(end, piece.offset + piece.bytes.length);
      if (from < to) {
        out.push(piece.bytes.subarray(from - piece.offset, to - piece.offset));
      }
    }
    return out;
  }

  private dropPiecesBefore(offset: number): void {
    let keep = 0;
    while (
      keep < this.pieces.length &&
      this.pieces[keep]!.offset + this.pieces[keep]!.bytes.length <= offset
    ) {
      keep++;
    }
    if (keep > 0) {
      this.pieces.splice(0, keep);
    }
  }
}
