/**
 * The local KVS's PutMedia ingest: the uploaded MKV bytes in, ack-worthy events and stored fragments out.
 * It validates what the service validates (kvs-api.md §6.3, §7) from the real bytes, with kvs-put's own
 * reader: one Segment per session, declared tracks (4010, 4011, 4012), fragment duration and size
 * (4002, 4001), time order (4004), producer time not in the future (4007), metadata limits (4009), and MKV
 * that cannot be parsed (4006). Fragments keep the exact bytes their Cluster was sent as.
 */
import type { MkvEvent, MkvHeader, MkvSimpleTag } from '../mkv/mkv-types.js';
import { MkvReader } from '../mkv/mkv-reader.js';
import { MkvParseError } from '../mkv/mkv-errors.js';
import { KvsLimits } from '../fragment/kvs-limits.js';

/** The Tags marker that closes the current fragment at once. */
const END_OF_FRAGMENT_TAG = 'AWS_KINESISVIDEO_END_OF_FRAGMENT';
/** Reserved tag names a producer may send (kvs-api.md §7.5); any other AWS* name is refused (4009). */
const PRODUCER_RESERVED_TAGS: ReadonlySet<string> = new Set([
  END_OF_FRAGMENT_TAG,
  'AWS_KINESISVIDEO_NOTIFICATION',
  'AWS_KINESISVIDEO_IMAGE_GENERATION',
  'AWS_KINESISVIDEO_IMAGE_PREFIX',
]);

export type IngestOptions = {
  timecodeType: 'ABSOLUTE' | 'RELATIVE';
  /** x-amzn-producer-start-timestamp in epoch ms (RELATIVE timecodes count from it). */
  producerStartTimestampMs: number;
  /** Server clock. */
  now: () => number;
  /** @default KvsLimits.maxFragmentDurationMs */
  maxFragmentDurationMs?: number;
  /** @default KvsLimits.maxFragmentBytes */
  maxFragmentBytes?: number;
  /** 4007 when a producer timestamp is further than this into the future. @default 10 min */
  futureToleranceMs?: number;
};

export type IngestedFragment = {
  /** The Cluster Timecode exactly as sent (the ack's FragmentTimecode). */
  timecode: number;
  producerTimestampMs: number;
  /** Server time when its first byte arrived. */
  serverTimestampMs: number;
  durationMs: number;
  /** The session's media metadata: EBML header to the first Cluster, as sent. */
  headerBytes: Uint8Array;
  /** The Cluster exactly as sent. */
  clusterBytes: Uint8Array;
  frameCount: number;
  framesPerTrack: Record<number, number>;
  startsWithKeyframe: boolean;
  tags: MkvSimpleTag[];
};

export type IngestEvent =
  | { type: 'fragment-start'; timecode: number; serverTimestampMs: number }
  | { type: 'fragment-complete'; fragment: IngestedFragment }
  | { type: 'error'; errorId: number; errorCode: string; timecode?: number; reason: string };

type Open = {
  timecode: number;
  startMs: number;
  startOffset: number;
  serverTimestampMs: number;
  lastMs: number;
  lastDurationMs: number | undefined;
  firstFrameMs: number | undefined;
  frameCount: number;
  framesPerTrack: Record<number, number>;
  startsWithKeyframe: boolean | undefined;
  tags: MkvSimpleTag[];
};

const ERROR_CODES: Readonly<Record<number, string>> = {
  4001: 'MAX_FRAGMENT_SIZE_REACHED',
  4002: 'MAX_FRAGMENT_DURATION_REACHED',
  4004: 'FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS',
  4006: 'INVALID_MKV_DATA',
  4007: 'INVALID_PRODUCER_TIMESTAMP',
  4009: 'FRAGMENT_METADATA_LIMIT_REACHED',
  4010: 'TRACK_NUMBER_MISMATCH',
  4011: 'FRAMES_MISSING_FOR_TRACK',
  4012: 'MORE_THAN_ALLOWED_TRACKS_FOUND',
};

class IngestFailure extends Error {
  public constructor(
    public readonly errorId: number,
    reason: string,
    public readonly timecode?: number,
  ) {
    super(reason);
  }
}

export class PutMediaIngest {
  private readonly reader = new MkvReader();
  private readonly options: IngestOptions;
  private readonly maxFragmentDurationMs: number;
  private readonly maxFragmentBytes: number;
  /** Raw input kept from the start of the open fragment (or the session header) on. */
  private pieces: { offset: number; bytes: Uint8Array }[] = [];
  private header: MkvHeader | undefined;
  private headerBytes: Uint8Array = new Uint8Array(0);
  private msPerTick = 1;
  private open: Open | undefined;
  private pendingTags: MkvSimpleTag[] = [];
  private previousLastMs = -Infinity;
  private segments = 0;
  private failed = false;
  private bytesSeen = 0;

  public constructor(options: IngestOptions) {
    this.options = options;
    this.maxFragmentDurationMs = options.maxFragmentDurationMs ?? KvsLimits.maxFragmentDurationMs;
    this.maxFragmentBytes = options.maxFragmentBytes ?? KvsLimits.maxFragmentBytes;
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
   * The connection broke mid-body: a fragment in the middle of being received is lost (4000 in the service's
   * words); complete ones were already reported.
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
      this.checkSize(events);
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
            4006,
            error instanceof MkvParseError ? error.message : `invalid MKV: ${String(error)}`,
            this.open?.timecode,
          );
    events.push({
      type: 'error',
      errorId: failure.errorId,
      errorCode: ERROR_CODES[failure.errorId] ?? 'UNKNOWN',
      ...(failure.timecode === undefined ? {} : { timecode: failure.timecode }),
      reason: failure.message,
    });
  }

  private onEvent(event: MkvEvent, events: IngestEvent[]): void {
    switch (event.type) {
      case 'header': {
        this.segments++;
        if (this.segments > 1) {
          throw new IngestFailure(4006, 'more than one Segment in one PutMedia session');
        }
        const tracks = event.header.tracks;
        if (tracks.length === 0) {
          throw new IngestFailure(4006, 'no Tracks before the first Cluster');
        }
        if (tracks.length > KvsLimits.maxTracks) {
          throw new IngestFailure(
            4012,
            `${tracks.length} tracks: at most ${KvsLimits.maxTracks} are allowed`,
          );
        }
        this.header = event.header;
        this.headerBytes = event.headerBytes ?? new Uint8Array(0);
        this.msPerTick = event.header.timecodeScaleNs / 1e6;
        return;
      }
      case 'cluster': {
        this.closeFragment(event.byteOffset, events);
        if (this.header === undefined) {
          throw new IngestFailure(4006, 'a Cluster before any Tracks');
        }
        const startMs = this.producerMs(event.timecode);
        if (startMs > this.options.now() + (this.options.futureToleranceMs ?? 10 * 60_000)) {
          throw new IngestFailure(
            4007,
            `producer timestamp ${new Date(startMs).toISOString()} is in the future`,
            event.timecode,
          );
        }
        const serverTimestampMs = this.options.now();
        this.open = {
          timecode: event.timecode,
          startMs,
          startOffset: event.byteOffset,
          serverTimestampMs,
          lastMs: startMs,
          lastDurationMs: undefined,
          firstFrameMs: undefined,
          frameCount: 0,
          framesPerTrack: {},
          startsWithKeyframe: undefined,
          tags: this.pendingTags,
        };
        this.pendingTags = [];
        this.dropPiecesBefore(event.byteOffset);
        events.push({ type: 'fragment-start', timecode: event.timecode, serverTimestampMs });
        return;
      }
      case 'frame': {
        const open = this.open;
        if (open === undefined) {
          throw new IngestFailure(4006, 'a block outside any Cluster');
        }
        const frame = event.frame;
        if (!this.header!.tracks.some((track) => track.number === frame.trackNumber)) {
          throw new IngestFailure(
            4010,
            `a block names track ${frame.trackNumber}, which Tracks does not declare`,
            open.timecode,
          );
        }
        const ms = this.producerMs(frame.timecode);
        if (open.firstFrameMs === undefined) {
          open.firstFrameMs = ms;
          open.startsWithKeyframe = frame.isKeyframe;
          // Service rule: a fragment starts strictly after the previous fragment's last frame.
          if (ms <= this.previousLastMs) {
            throw new IngestFailure(
              4004,
              `fragment starts at ${ms} ms, not after the previous fragment's last frame at ${this.previousLastMs} ms`,
              open.timecode,
            );
          }
        }
        if (ms >= open.lastMs) {
          open.lastMs = ms;
          open.lastDurationMs = frame.durationMs;
        }
        open.frameCount++;
        open.framesPerTrack[frame.trackNumber] = (open.framesPerTrack[frame.trackNumber] ?? 0) + 1;
        if (open.lastMs - open.startMs > this.maxFragmentDurationMs) {
          throw new IngestFailure(
            4002,
            `fragment longer than ${this.maxFragmentDurationMs / 1000} s`,
            open.timecode,
          );
        }
        return;
      }
      case 'tags': {
        if (event.tags.some((tag) => tag.name === END_OF_FRAGMENT_TAG)) {
          this.closeFragment(event.byteOffset, events);
          return;
        }
        if (
          event.tags.some(
            (tag) => tag.name.startsWith('AWS_KINESISVIDEO_') && !PRODUCER_RESERVED_TAGS.has(tag.name),
          )
        ) {
          throw new IngestFailure(
            4009,
            'fragment metadata uses a reserved AWS_KINESISVIDEO_ name',
            this.open?.timecode,
          );
        }
        // Tags before a Cluster are metadata of the fragment that follows (and close the one before).
        this.closeFragment(event.byteOffset, events);
        this.pendingTags.push(...event.tags);
        if (this.header === undefined) {
          return;
        }
        if (this.pendingTags.length > KvsLimits.maxFragmentMetadataTags) {
          throw new IngestFailure(
            4009,
            `more than ${KvsLimits.maxFragmentMetadataTags} metadata tags for one fragment`,
          );
        }
        const encoder = new TextEncoder();
        for (const tag of this.pendingTags) {
          if (
            encoder.encode(tag.name).length > KvsLimits.maxMetadataNameBytes ||
            encoder.encode(tag.value ?? '').length > KvsLimits.maxMetadataValueBytes ||
            (tag.name.startsWith('AWS') && !PRODUCER_RESERVED_TAGS.has(tag.name))
          ) {
            throw new IngestFailure(
              4009,
              `metadata tag ${tag.name.slice(0, 40)} breaks the name/value limits`,
            );
          }
        }
        return;
      }
      case 'segment-end':
        this.closeFragment(event.byteOffset, events);
        return;
    }
  }

  private checkSize(events: IngestEvent[]): void {
    void events;
    const open = this.open;
    if (open !== undefined && this.bytesSeen - open.startOffset > this.maxFragmentBytes) {
      throw new IngestFailure(4001, `fragment larger than ${this.maxFragmentBytes} bytes`, open.timecode);
    }
  }

  /** Completes the open fragment, whose bytes end at `endOffset`. */
  private closeFragment(endOffset: number, events: IngestEvent[]): void {
    const open = this.open;
    if (open === undefined) {
      return;
    }
    this.open = undefined;
    if (open.frameCount === 0) {
      return;
    }
    for (const track of this.header!.tracks) {
      if ((open.framesPerTrack[track.number] ?? 0) === 0) {
        throw new IngestFailure(4011, `track ${track.number} has no frame in the fragment`, open.timecode);
      }
    }
    const durationMs = open.lastMs - open.startMs + (open.lastDurationMs ?? 0);
    if (durationMs > this.maxFragmentDurationMs) {
      throw new IngestFailure(
        4002,
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
        clusterBytes: this.slice(open.startOffset, endOffset),
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
    return this.options.timecodeType === 'ABSOLUTE' ? ms : this.options.producerStartTimestampMs + ms;
  }

  /** Copies input bytes [start, end) out of the kept pieces. */
  private slice(start: number, end: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, end - start));
    for (const piece of this.pieces) {
      const from = Math.max(start, piece.offset);
      const to = Math.min(end, piece.offset + piece.bytes.length);
      if (from < to) {
        out.set(piece.bytes.subarray(from - piece.offset, to - piece.offset), from - start);
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
