/**
 * Streaming Matroska reader: a synchronous push parser ({@link MkvReader}) and its async-iterable shell
 * ({@link readMkv}). It turns bytes (split anywhere) into {@link MkvEvent}s: one `header` per EBML header +
 * Segment, `cluster`, `frame` (zero-copy views when possible), `tags` and `segment-end`.
 *
 * How it stays fast: the reader only ever holds one element header (≤ 12 bytes) or one element body in
 * hand. Segment, Cluster and BlockGroup are descended into (never buffered); SeekHead, Cues, Void,
 * Attachments and unknown elements are skipped by counting bytes; only blocks and small metadata elements
 * (EBML header, Info, Tracks, Tags, Timecode, BlockDuration) are gathered. A body lying inside one pushed
 * chunk is used in place; one straddling chunks is gathered as a list of views and joined once.
 */
import { EbmlId, LEVEL_0_IDS, LEVEL_1_IDS, ebmlIdName } from './ebml-ids.js';
import {
  HeaderStatus,
  MAX_ELEMENT_HEADER_BYTES,
  createElementHeader,
  forEachChild,
  hex,
  readBigUint,
  readElementHeader,
  readFloat,
  readString,
  readUint,
} from './ebml-reader.js';
import { UNKNOWN_SIZE, readVintSize } from './ebml-vint.js';
import { MkvParseError } from './mkv-errors.js';

/** 2001-01-01T00:00:00Z, the origin of Matroska's DateUTC. */
const MATROSKA_EPOCH_MS = Date.UTC(2001, 0, 1);
import type {
  MkvAudioSettings,
  MkvEvent,
  MkvFrame,
  MkvHeader,
  MkvSimpleTag,
  MkvTrack,
  MkvVideoSettings,
} from './mkv-types.js';

/** Options of {@link MkvReader} and {@link readMkv}. */
export type MkvReaderOptions = {
  /**
   * Largest SimpleBlock or Block accepted, in bytes; a larger one is treated as corruption.
   * @default 268435456 (256 MiB)
   */
  maxBlockBytes?: number;
  /**
   * Largest buffered metadata element (EBML header, Info, Tracks, Tags), in bytes.
   * @default 16777216 (16 MiB)
   */
  maxMetadataBytes?: number;
  /**
   * Largest media header kept for `headerBytes` on the `header` event, in bytes. A longer header (say, big
   * Attachments before the first Cluster) is still parsed, but the event then has no `headerBytes`.
   * @default 1048576 (1 MiB)
   */
  maxHeaderBytes?: number;
  /**
   * The caller keeps every chunk's memory unchanged while the reader or a frame may view it (it copies reads
   * into memory it manages, say). An element that spans chunks is then kept as views of them rather than
   * copied at the end of each push, and one whose pieces lie back to back in memory becomes a single view
   * without a copy. While {@link MkvReader.isHoldingChunkViews} the reader still views earlier chunks.
   * @default false (the reader keeps no view of a chunk once push() returns, except in frames it emitted)
   */
  keepsChunkViews?: boolean;
};

/** Default of {@link MkvReaderOptions.maxBlockBytes}. */
export const DEFAULT_MAX_BLOCK_BYTES = 256 * 1024 * 1024;
/** Default of {@link MkvReaderOptions.maxMetadataBytes}. */
export const DEFAULT_MAX_METADATA_BYTES = 16 * 1024 * 1024;
/** Default of {@link MkvReaderOptions.maxHeaderBytes}. */
export const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024;

/** Matroska's TimecodeScale default: 1 ms per tick. */
const DEFAULT_TIMECODE_SCALE_NS = 1_000_000;
/** Nested SimpleTags deeper than this are refused, so hostile input cannot overflow the JS stack. */
const MAX_TAG_DEPTH = 32;
const NOT_MKV_SUGGESTION =
  'kvs-put reads Matroska/WebM only; remux other containers first, e.g. `ffmpeg -i input -c copy -f matroska out.mkv`.';

// What the reader is doing with the bytes in front of it.
const MODE_HEADER = 0; // reading the next element header
const MODE_SKIP = 1; // counting past an element body
const MODE_COLLECT = 2; // gathering an element body

// Master elements the reader descends into.
const KIND_SEGMENT = 1;
const KIND_CLUSTER = 2;
const KIND_BLOCK_GROUP = 3;

// SimpleBlock/Block flags (Matroska §10.2, §10.3).
const FLAG_KEYFRAME = 0x80;
const FLAG_INVISIBLE = 0x08;
const FLAG_DISCARDABLE = 0x01;
const LACING_XIPH = 1;
const LACING_FIXED = 2;
const LACING_EBML = 3;

type Container = {
  id: number;
  kind: number;
  startOffset: number;
  /** Absolute end; an unknown-size element inherits its parent's end (Infinity at the top). */
  endOffset: number;
  isUnknownSize: boolean;
};

type SegmentState = {
  docType: string;
  docTypeVersion: number;
  /** Where the media header starts: the EBML header (or the Segment, when no EBML header preceded it). */
  headerOffset: number;
  timecodeScaleNs: number;
  /** TimecodeScale in ms, multiplied rather than divided so that 1 ms ticks stay exact. */
  msPerTick: number;
  segmentUid?: Uint8Array;
  title?: string;
  muxingApp?: string;
  writingApp?: string;
  /** Info Duration, in ticks. */
  durationTicks?: number;
  /** Info DateUTC, in epoch ms. */
  dateUtcMs?: number;
  tracks: MkvTrack[];
  tracksByNumber: Map<number, MkvTrack>;
  hasTracks: boolean;
  isHeaderEmitted: boolean;
  /** Tags found before the header was emitted (before Tracks), released right after it. */
  pendingEvents: MkvEvent[];
};

type EbmlHeaderInfo = { docType: string; docTypeVersion: number; startOffset: number; isUsed: boolean };

type HeaderCapture = {
  startOffset: number;
  parts: { bytes: Uint8Array; offset: number }[];
  isOverflowed: boolean;
};

const checkLimit = (name: string, value: number | undefined, fallback: number): number => {
  if (value === undefined) {
    return fallback;
  }
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`options.${name}, when provided, must be a positive integer.`);
  }
  return value;
};

/**
 * Synchronous push parser for Matroska / WebM byte streams, including KVS GetMedia output (several EBML
 * headers in one stream, unknown sizes, Tags between Clusters) and PutMedia bodies.
 *
 * - Split invariance: any split of the input into chunks yields equal events; every `byteOffset` is an
 *   absolute offset in the whole stream.
 * - Zero copy: a frame's `data` is a view into the pushed chunk when the whole block lies in that chunk
 *   (else a copy it owns). Frame data are the only views a push hands out, and once `push()` returns the
 *   reader keeps none: the bytes of an element that continues in the next chunk are copied. So a caller may
 *   reuse a chunk's memory as soon as it is done with the frames taken from it (a buffer pool does).
 * - Errors: corrupt or truncated input throws {@link MkvParseError}. When a chunk holds events before the
 *   corrupt byte, `push` returns them and the next `push()` or `end()` throws, so no event is lost and the
 *   outcome does not depend on how the input was split.
 *
 * Behaviours chosen (see also the `MkvEvent` docs):
 * - `header` comes once per Segment, just before the first of: a Cluster, a Tags element after Tracks, or
 *   the Segment's end. A Segment without Tracks still gets one (with no tracks), so its tags are not lost.
 *   Info/Tracks elements appearing after that point are skipped.
 * - Tags before Tracks are part of the media header; their `tags` event follows the `header` event.
 * - Frames of tracks not declared in Tracks are still emitted (KVS answers those with 4010; validators
 *   decide). A block before its Cluster's Timecode is an error.
 * - A frame's `byteOffset` is the offset of its SimpleBlock or BlockGroup element; laced frames share it.
 * - CRC-32 elements are skipped, not verified.
 */
export class MkvReader {
  public constructor(options: MkvReaderOptions = {}) {
    this.maxBlockBytes = checkLimit('maxBlockBytes', options.maxBlockBytes, DEFAULT_MAX_BLOCK_BYTES);
    this.maxMetadataBytes = checkLimit(
      'maxMetadataBytes',
      options.maxMetadataBytes,
      DEFAULT_MAX_METADATA_BYTES,
    );
    this.maxHeaderBytes = checkLimit('maxHeaderBytes', options.maxHeaderBytes, DEFAULT_MAX_HEADER_BYTES);
    this.keepsChunkViews = options.keepsChunkViews === true;
  }

  /**
   * Whether an element in progress still views chunks pushed before (only with `keepsChunkViews`): their
   * memory must stay as it is until this turns false.
   */
  public get isHoldingChunkViews(): boolean {
    return this.pieces.length > 0;
  }

  /** Bytes pushed so far (the absolute offset of the next byte). */
  public get bytesRead(): number {
    return this.position;
  }

  /**
   * Parses the next chunk of the stream and returns the events completed by it.
   * @throws MkvParseError on corrupt input (possibly on the call after the one that met the corrupt byte).
   */
  public push(chunk: Uint8Array): MkvEvent[] {
    this.checkUsable();
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError('MkvReader.push(chunk): chunk must be a Uint8Array (or a Node Buffer).');
    }
    const out: MkvEvent[] = [];
    this.out = out;
    try {
      this.consume(chunk);
      this.release(chunk);
    } catch (error) {
      this.failure = toParseError(error, this.position);
      if (out.length === 0) {
        throw this.failure;
      }
    }
    return out;
  }

  /**
   * Declares the end of the input: closes open unknown-size elements and returns the last events.
   * @throws MkvParseError when the input ends inside an element of known size or inside an element header.
   */
  public end(): MkvEvent[] {
    this.checkUsable();
    this.isEnded = true;
    const out: MkvEvent[] = [];
    this.out = out;
    try {
      this.finish();
    } catch (error) {
      this.failure = toParseError(error, this.position);
      throw this.failure;
    }
    return out;
  }

  private readonly maxBlockBytes: number;
  private readonly maxMetadataBytes: number;
  private readonly maxHeaderBytes: number;
  private readonly keepsChunkViews: boolean;

  /** Absolute offset of the first byte of the next chunk. */
  private position = 0;
  private mode = MODE_HEADER;
  private out: MkvEvent[] = [];
  private failure: MkvParseError | undefined;
  private isEnded = false;
  private hasSeenFirstElement = false;

  // The element header being read, when it straddles chunks.
  private readonly pendingHeader = new Uint8Array(MAX_ELEMENT_HEADER_BYTES);
  private pendingHeaderLength = 0;
  private readonly header = createElementHeader();

  // The element body being skipped or collected.
  private elementId = 0;
  private elementOffset = 0;
  private elementDataOffset = 0;
  private elementSize = 0;
  private remainingBytes = 0;
  // Views of the current chunk while an element is collected; copied into `collected` when the chunk ends
  // (with keepsChunkViews: views of every chunk it spans, until it is complete).
  private pieces: Uint8Array[] = [];
  private collected: ByteAccumulator | undefined;

  private readonly stack: Container[] = [];
  private ebml: EbmlHeaderInfo | undefined;
  private segment: SegmentState | undefined;
  private capture: HeaderCapture | undefined;

  private clusterTimecode: number | undefined;

  // The BlockGroup being read: its Block is kept until the group ends, as BlockDuration and
  // ReferenceBlock may follow it.
  private groupBlock: Uint8Array | undefined;
  private groupBlockStart = 0;
  private groupBlockEnd = 0;
  private groupBlockOffset = 0;
  private groupDurationTicks: number | undefined;
  private groupHasReference = false;

  private checkUsable(): void {
    if (this.failure !== undefined) {
      throw this.failure;
    }
    if (this.isEnded) {
      throw new Error('MkvReader: push() or end() called after end().');
    }
  }

  private consume(chunk: Uint8Array): void {
    const length = chunk.length;
    const base = this.position;
    if (this.capture !== undefined) {
      this.addToCapture(chunk, base);
    }
    let i = 0;
    while (i < length) {
      if (this.mode === MODE_HEADER) {
        i = this.readHeader(chunk, i, base);
        continue;
      }
      const n = Math.min(this.remainingBytes, length - i);
      if (this.mode === MODE_COLLECT) {
        if (this.collected === undefined) {
          this.pieces.push(chunk.subarray(i, i + n));
        } else {
          this.collected.append(chunk.subarray(i, i + n));
        }
      }
      i += n;
      this.remainingBytes -= n;
      if (this.remainingBytes === 0) {
        if (this.mode === MODE_COLLECT) {
          const body = this.collected?.take() ?? joinPieces(this.pieces, this.elementSize);
          this.pieces = [];
          this.collected = undefined;
          this.mode = MODE_HEADER;
          this.handleBody(this.elementId, body, 0, body.length, this.elementOffset, this.elementDataOffset);
        } else {
          this.mode = MODE_HEADER;
        }
        this.closeEndedContainers(base + i);
      }
    }
    this.position = base + length;
  }

  /** Reads one element header at `chunk[i]` and acts on it; returns the index of the next unread byte. */
  private readHeader(chunk: Uint8Array, i: number, base: number): number {
    const length = chunk.length;
    const prior = this.pendingHeaderLength;
    let bytes = chunk;
    let offset = i;
    let available = length - i;
    if (prior > 0) {
      const take = Math.min(MAX_ELEMENT_HEADER_BYTES - prior, available);
      this.pendingHeader.set(chunk.subarray(i, i + take), prior);
      bytes = this.pendingHeader;
      offset = 0;
      available = prior + take;
    }
    const elementOffset = base + i - prior;
    const header = this.header;
    const status = readElementHeader(bytes, offset, offset + available, header);
    if (status === HeaderStatus.NeedMore) {
      // Only possible with fewer than 12 bytes in hand, which all fit the pending buffer.
      if (prior === 0) {
        this.pendingHeader.set(chunk.subarray(i), 0);
      }
      this.pendingHeaderLength = available;
      return length;
    }
    if (status !== HeaderStatus.Ok) {
      throw this.headerError(status, bytes, offset, elementOffset);
    }
    this.pendingHeaderLength = 0;
    const next = i + header.headerBytes - prior;
    const id = header.id;
    const size = header.size;
    const dataOffset = elementOffset + header.headerBytes;

    // An unknown-size Cluster ends at the next level-0/1 ID; an unknown-size Segment at the next EBML
    // header or Segment (Matroska §6.2; mediabunny LEVEL_0_AND_1_EBML_IDS). All those IDs are 4 bytes
    // long, so the common 1-byte block IDs skip the set lookups.
    if (id > 0xffffff) {
      this.closeUnknownSizeContainers(id, elementOffset);
    }

    if (!this.hasSeenFirstElement) {
      this.hasSeenFirstElement = true;
      if (id !== EbmlId.Ebml) {
        throw new MkvParseError(
          `the input does not start with an EBML header (found element ${ebmlIdName(id)})`,
          elementOffset,
          undefined,
          NOT_MKV_SUGGESTION,
        );
      }
    }

    const parent = this.stack.length === 0 ? undefined : this.stack[this.stack.length - 1];
    const parentEnd = parent === undefined ? Infinity : parent.endOffset;
    if (size === UNKNOWN_SIZE) {
      const isAllowed =
        (id === EbmlId.Segment && parent === undefined) ||
        (id === EbmlId.Cluster && parent?.kind === KIND_SEGMENT);
      if (!isAllowed) {
        throw new MkvParseError(
          'unknown size is only allowed for a top-level Segment and for a Cluster',
          elementOffset,
          id,
        );
      }
    } else if (!Number.isSafeInteger(size) || dataOffset + size > parentEnd) {
      throw new MkvParseError(
        `element of ${size} bytes ends at byte ${dataOffset + size}, past the end of its parent ` +
          `${parent === undefined ? '' : ebmlIdName(parent.id)} at byte ${parentEnd}`,
        elementOffset,
        id,
      );
    }

    if (parent === undefined) {
      return this.onTopLevelElement(chunk, next, base, id, size, elementOffset, dataOffset, prior);
    }
    switch (parent.kind) {
      case KIND_CLUSTER:
        if (id === EbmlId.SimpleBlock) {
          this.checkSize(id, size, this.maxBlockBytes, elementOffset);
          return this.collect(chunk, next, base, id, size, elementOffset, dataOffset);
        }
        if (id === EbmlId.BlockGroup) {
          this.groupBlock = undefined;
          this.groupDurationTicks = undefined;
          this.groupHasReference = false;
          return this.descend(next, base, id, KIND_BLOCK_GROUP, size, elementOffset, dataOffset, parentEnd);
        }
        if (id === EbmlId.Timecode) {
          this.checkSize(id, size, 8, elementOffset);
          return this.collect(chunk, next, base, id, size, elementOffset, dataOffset);
        }
        return this.skip(chunk, next, base, id, size, elementOffset, dataOffset);
      case KIND_BLOCK_GROUP:
        if (id === EbmlId.Block) {
          this.checkSize(id, size, this.maxBlockBytes, elementOffset);
          return this.collect(chunk, next, base, id, size, elementOffset, dataOffset);
        }
        if (id === EbmlId.BlockDuration) {
          this.checkSize(id, size, 8, elementOffset);
          return this.collect(chunk, next, base, id, size, elementOffset, dataOffset);
        }
        if (id === EbmlId.ReferenceBlock) {
          // Its presence alone matters: a Block with a ReferenceBlock is not a keyframe.
          this.groupHasReference = true;
        }
        return this.skip(chunk, next, base, id, size, elementOffset, dataOffset);
      default:
        return this.onSegmentChild(chunk, next, base, id, size, elementOffset, dataOffset, parentEnd);
    }
  }

  private onTopLevelElement(
    chunk: Uint8Array,
    next: number,
    base: number,
    id: number,
    size: number,
    elementOffset: number,
    dataOffset: number,
    prior: number,
  ): number {
    if (id === EbmlId.Ebml) {
      this.checkSize(id, size, this.maxMetadataBytes, elementOffset);
      this.startCapture(elementOffset, chunk, base, prior);
      return this.collect(chunk, next, base, id, size, elementOffset, dataOffset);
    }
    if (id === EbmlId.Segment) {
      this.openSegment(elementOffset, chunk, base, prior);
      return this.descend(next, base, id, KIND_SEGMENT, size, elementOffset, dataOffset, Infinity);
    }
    if (size === UNKNOWN_SIZE) {
      throw new MkvParseError('unknown size is only allowed for Segment and Cluster', elementOffset, id);
    }
    return this.skip(chunk, next, base, id, size, elementOffset, dataOffset);
  }

  private onSegmentChild(
    chunk: Uint8Array,
    next: number,
    base: number,
    id: number,
    size: number,
    elementOffset: number,
    dataOffset: number,
    parentEnd: number,
  ): number {
    const segment = this.segment!;
    switch (id) {
      case EbmlId.Cluster:
        // The media header ends where the first Cluster starts (KVS "media metadata").
        this.emitHeader(elementOffset);
        this.clusterTimecode = undefined;
        return this.descend(next, base, id, KIND_CLUSTER, size, elementOffset, dataOffset, parentEnd);
      case EbmlId.Tags:
        // Tags after Tracks are fragment metadata to KVS, so they end the media header too.
        if (segment.hasTracks) {
          this.emitHeader(elementOffset);
        }
        this.checkSize(id, size, this.maxMetadataBytes, elementOffset);
        return this.collect(chunk, next, base, id, size, elementOffset, dataOffset);
      case EbmlId.Info:
      case EbmlId.Tracks:
        if (!segment.isHeaderEmitted) {
          this.checkSize(id, size, this.maxMetadataBytes, elementOffset);
          return this.collect(chunk, next, base, id, size, elementOffset, dataOffset);
        }
        return this.skip(chunk, next, base, id, size, elementOffset, dataOffset);
      default:
        // SeekHead, Cues, Chapters, Attachments, Void, CRC-32 and unknown IDs: streamed past.
        return this.skip(chunk, next, base, id, size, elementOffset, dataOffset);
    }
  }

  private checkSize(id: number, size: number, max: number, elementOffset: number): void {
    if (size > max) {
      throw new MkvParseError(
        `element of ${size} bytes is larger than the ${max}-byte limit`,
        elementOffset,
        id,
      );
    }
  }

  private descend(
    next: number,
    base: number,
    id: number,
    kind: number,
    size: number,
    elementOffset: number,
    dataOffset: number,
    parentEnd: number,
  ): number {
    const isUnknownSize = size === UNKNOWN_SIZE;
    this.stack.push({
      id,
      kind,
      startOffset: elementOffset,
      endOffset: isUnknownSize ? parentEnd : dataOffset + size,
      isUnknownSize,
    });
    this.closeEndedContainers(base + next);
    return next;
  }

  private skip(
    chunk: Uint8Array,
    next: number,
    base: number,
    id: number,
    size: number,
    elementOffset: number,
    dataOffset: number,
  ): number {
    const available = chunk.length - next;
    if (size <= available) {
      this.closeEndedContainers(base + next + size);
      return next + size;
    }
    this.mode = MODE_SKIP;
    this.setElement(id, size, elementOffset, dataOffset);
    this.remainingBytes = size - available;
    return chunk.length;
  }

  private collect(
    chunk: Uint8Array,
    next: number,
    base: number,
    id: number,
    size: number,
    elementOffset: number,
    dataOffset: number,
  ): number {
    const available = chunk.length - next;
    if (size <= available) {
      // Zero-copy path: the whole body is in this chunk.
      const end = next + size;
      this.handleBody(id, chunk, next, end, elementOffset, dataOffset);
      this.closeEndedContainers(base + end);
      return end;
    }
    this.mode = MODE_COLLECT;
    this.setElement(id, size, elementOffset, dataOffset);
    this.remainingBytes = size - available;
    this.pieces = available > 0 ? [chunk.subarray(next)] : [];
    return chunk.length;
  }

  private setElement(id: number, size: number, elementOffset: number, dataOffset: number): void {
    this.elementId = id;
    this.elementSize = size;
    this.elementOffset = elementOffset;
    this.elementDataOffset = dataOffset;
  }

  /** Acts on a complete element body `bytes[start, end)`, which begins at absolute `dataOffset`. */
  private handleBody(
    id: number,
    bytes: Uint8Array,
    start: number,
    end: number,
    elementOffset: number,
    dataOffset: number,
  ): void {
    const baseOffset = dataOffset - start;
    switch (id) {
      case EbmlId.SimpleBlock:
        this.emitBlock(bytes, start, end, elementOffset, true, undefined, false, baseOffset);
        return;
      case EbmlId.Block:
        if (this.groupBlock !== undefined) {
          throw new MkvParseError('a BlockGroup holds more than one Block', elementOffset, id);
        }
        this.groupBlock = bytes;
        this.groupBlockStart = start;
        this.groupBlockEnd = end;
        this.groupBlockOffset = baseOffset;
        return;
      case EbmlId.BlockDuration:
        this.groupDurationTicks = readUint(bytes, start, end, baseOffset, id);
        return;
      case EbmlId.Timecode: {
        if (this.clusterTimecode !== undefined) {
          throw new MkvParseError('a Cluster holds more than one Timecode', elementOffset, id);
        }
        const timecode = readUint(bytes, start, end, baseOffset, id);
        this.clusterTimecode = timecode;
        const cluster = this.stack[this.stack.length - 1]!;
        this.out.push({
          type: 'cluster',
          timecode,
          timestampMs: timecode * this.segment!.msPerTick,
          byteOffset: cluster.startOffset,
        });
        return;
      }
      case EbmlId.Ebml:
        this.parseEbmlHeader(bytes, start, end, baseOffset, elementOffset);
        return;
      case EbmlId.Info:
        this.parseInfo(bytes, start, end, baseOffset);
        return;
      case EbmlId.Tracks:
        this.parseTracks(bytes, start, end, baseOffset);
        return;
      case EbmlId.Tags: {
        const tags: MkvSimpleTag[] = [];
        forEachChild(bytes, start, end, baseOffset, EbmlId.Tags, (childId, s, e) => {
          if (childId === EbmlId.Tag) {
            forEachChild(bytes, s, e, baseOffset, EbmlId.Tag, (tagChildId, ts, te) => {
              if (tagChildId === EbmlId.SimpleTag) {
                readSimpleTag(bytes, ts, te, baseOffset, tags, 0);
              }
            });
          }
        });
        const event: MkvEvent = { type: 'tags', tags, byteOffset: elementOffset };
        const segment = this.segment!;
        if (segment.isHeaderEmitted) {
          this.out.push(event);
        } else {
          segment.pendingEvents.push(event);
        }
        return;
      }
      default:
        return;
    }
  }

  /**
   * Emits the frame(s) of a SimpleBlock or Block body `bytes[start, end)` (Matroska §10: track vint, int16
   * timecode relative to the Cluster, flags, then optional lacing). `baseOffset` locates `bytes[0]`.
   */
  private emitBlock(
    bytes: Uint8Array,
    start: number,
    end: number,
    eventOffset: number,
    isSimple: boolean,
    durationTicks: number | undefined,
    hasReference: boolean,
    baseOffset: number,
  ): void {
    const blockId = isSimple ? EbmlId.SimpleBlock : EbmlId.Block;
    const clusterTimecode = this.clusterTimecode;
    if (clusterTimecode === undefined) {
      throw new MkvParseError('block before the Cluster Timecode', baseOffset + start, blockId);
    }
    let p = start;
    let trackNumber: number;
    const first = p < end ? bytes[p]! : 0;
    if (first >= 0x80) {
      // The common 1-byte track number.
      trackNumber = first & 0x7f;
      p += 1;
    } else {
      // Bounded to the block, so a vint cannot read into the bytes after it.
      const vint = readVintSize(bytes.subarray(0, end), p);
      if (vint.value < 0) {
        throw new MkvParseError('invalid or truncated track number vint', baseOffset + p, blockId);
      }
      trackNumber = vint.value;
      p += vint.width;
    }
    if (trackNumber === 0x7f && first === 0xff) {
      throw new MkvParseError('reserved track number 0xFF', baseOffset + start, blockId);
    }
    if (end - p < 3) {
      throw new MkvParseError(
        `block of ${end - start} bytes is too short for its header`,
        baseOffset + start,
        blockId,
      );
    }
    // Signed 16-bit offset from the Cluster Timecode (Matroska §10.1): shift up to bit 31 and back down.
    const relative = ((bytes[p]! << 24) >> 16) | bytes[p + 1]!;
    const flags = bytes[p + 2]!;
    p += 3;
    const segment = this.segment!;
    const msPerTick = segment.msPerTick;
    const timecode = clusterTimecode + relative;
    const track = segment.tracksByNumber.get(trackNumber);
    const defaultDurationNs = track?.defaultDurationNs;
    // A Block has no keyframe flag: it is a keyframe when the BlockGroup has no ReferenceBlock.
    const isKeyframe = isSimple ? (flags & FLAG_KEYFRAME) !== 0 : !hasReference;
    const isInvisible = (flags & FLAG_INVISIBLE) !== 0;
    const isDiscardable = isSimple && (flags & FLAG_DISCARDABLE) !== 0;
    const lacing = (flags >> 1) & 3;

    if (lacing === 0) {
      const frame: MkvFrame = {
        trackNumber,
        timecode,
        timestampMs: timecode * msPerTick,
        durationMs:
          durationTicks !== undefined
            ? durationTicks * msPerTick
            : defaultDurationNs !== undefined
              ? defaultDurationNs / 1e6
              : undefined,
        isKeyframe,
        isInvisible,
        isDiscardable,
        data: bytes.subarray(p, end),
      };
      this.out.push({ type: 'frame', frame, byteOffset: eventOffset });
      return;
    }

    const bounds = readLaceBounds(bytes, p, end, lacing, baseOffset, blockId);
    const count = bounds.length >> 1;
    // The block's time span: BlockDuration, or DefaultDuration per laced frame. Laced frame k starts
    // floor(span * k / count) ticks after the block, as ffmpeg's demuxer does.
    const spanTicks =
      durationTicks ??
      (defaultDurationNs !== undefined ? (defaultDurationNs * count) / segment.timecodeScaleNs : undefined);
    for (let k = 0; k < count; k++) {
      const frameTimecode =
        spanTicks === undefined ? timecode : timecode + Math.floor((spanTicks * k) / count);
      let durationMs: number | undefined;
      if (durationTicks !== undefined) {
        const ticks = Math.floor((durationTicks * (k + 1)) / count) - Math.floor((durationTicks * k) / count);
        durationMs = ticks * msPerTick;
      } else if (defaultDurationNs !== undefined) {
        durationMs = defaultDurationNs / 1e6;
      }
      const frame: MkvFrame = {
        trackNumber,
        timecode: frameTimecode,
        timestampMs: frameTimecode * msPerTick,
        durationMs,
        isKeyframe,
        isInvisible,
        isDiscardable,
        data: bytes.subarray(bounds[2 * k], bounds[2 * k + 1]),
      };
      this.out.push({ type: 'frame', frame, byteOffset: eventOffset });
    }
  }

  /** Pops every container that ends at absolute offset `offset`. */
  private closeEndedContainers(offset: number): void {
    const stack = this.stack;
    while (stack.length > 0 && stack[stack.length - 1]!.endOffset === offset) {
      this.closeTop(offset);
    }
  }

  /** Pops the unknown-size containers that the element `id` starting at `offset` ends. */
  private closeUnknownSizeContainers(id: number, offset: number): void {
    const stack = this.stack;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (!top.isUnknownSize) {
        return;
      }
      const isEnded =
        top.kind === KIND_CLUSTER
          ? LEVEL_1_IDS.has(id) || LEVEL_0_IDS.has(id)
          : top.kind === KIND_SEGMENT && LEVEL_0_IDS.has(id);
      if (!isEnded) {
        return;
      }
      this.closeTop(offset);
    }
  }

  private closeTop(offset: number): void {
    const container = this.stack.pop()!;
    if (container.kind === KIND_BLOCK_GROUP) {
      const block = this.groupBlock;
      if (block !== undefined) {
        this.groupBlock = undefined;
        this.emitBlock(
          block,
          this.groupBlockStart,
          this.groupBlockEnd,
          container.startOffset,
          false,
          this.groupDurationTicks,
          this.groupHasReference,
          this.groupBlockOffset,
        );
      }
    } else if (container.kind === KIND_CLUSTER) {
      this.clusterTimecode = undefined;
    } else if (container.kind === KIND_SEGMENT) {
      this.emitHeader(offset);
      this.segment = undefined;
      this.out.push({ type: 'segment-end', byteOffset: offset });
    }
  }

  /**
   * Keeps no view of `chunk` past its push: the part of an element still being collected, a BlockGroup's
   * Block waiting for the group's end and the media header being captured are copied.
   */
  private release(chunk: Uint8Array): void {
    if (this.pieces.length > 0 && !this.keepsChunkViews) {
      const collected = new ByteAccumulator(this.elementSize);
      for (const piece of this.pieces) {
        collected.append(piece);
      }
      this.collected = collected;
      this.pieces = [];
    }
    const block = this.groupBlock;
    if (block !== undefined && block.buffer === chunk.buffer) {
      this.groupBlock = block.slice(this.groupBlockStart, this.groupBlockEnd);
      this.groupBlockOffset += this.groupBlockStart;
      this.groupBlockEnd -= this.groupBlockStart;
      this.groupBlockStart = 0;
    }
    const capture = this.capture;
    if (capture !== undefined && !capture.isOverflowed) {
      const last = capture.parts.at(-1);
      if (last !== undefined && last.bytes.buffer === chunk.buffer) {
        // Only the bytes that can still belong to the header are kept.
        const from = Math.max(0, capture.startOffset - last.offset);
        const to = Math.min(last.bytes.length, capture.startOffset + this.maxHeaderBytes - last.offset);
        capture.parts[capture.parts.length - 1] = {
          bytes: last.bytes.slice(from, Math.max(from, to)),
          offset: last.offset + from,
        };
      }
    }
  }

  private finish(): void {
    if (this.mode !== MODE_HEADER) {
      const read = this.elementSize - this.remainingBytes;
      throw new MkvParseError(
        `input ended ${read} bytes into an element of ${this.elementSize} bytes`,
        this.elementOffset,
        this.elementId,
      );
    }
    if (this.pendingHeaderLength > 0) {
      throw new MkvParseError(
        `input ended inside an element header (${this.pendingHeaderLength} bytes of it read)`,
        this.position - this.pendingHeaderLength,
      );
    }
    if (this.position === 0) {
      throw new MkvParseError('the input is empty', 0, undefined, NOT_MKV_SUGGESTION);
    }
    for (let k = this.stack.length - 1; k >= 0; k--) {
      const container = this.stack[k]!;
      if (!container.isUnknownSize && container.endOffset > this.position) {
        throw new MkvParseError(
          `input ended at byte ${this.position}, inside an element that should end at byte ${container.endOffset}`,
          container.startOffset,
          container.id,
        );
      }
    }
    while (this.stack.length > 0) {
      this.closeTop(this.position);
    }
  }

  private headerError(
    status: HeaderStatus,
    bytes: Uint8Array,
    offset: number,
    elementOffset: number,
  ): MkvParseError {
    if (!this.hasSeenFirstElement && (status === HeaderStatus.InvalidId || this.header.id !== EbmlId.Ebml)) {
      return new MkvParseError(
        `the input does not start with an EBML header (first byte 0x${hex(bytes[offset]!)})`,
        elementOffset,
        undefined,
        NOT_MKV_SUGGESTION,
      );
    }
    if (status === HeaderStatus.InvalidId) {
      return new MkvParseError(`invalid element ID (first byte 0x${hex(bytes[offset]!)})`, elementOffset);
    }
    return new MkvParseError(
      'invalid element size vint (first byte 0x00)',
      elementOffset + this.header.headerBytes,
      this.header.id,
    );
  }

  // ---- media header -------------------------------------------------------------------------------------

  private parseEbmlHeader(
    bytes: Uint8Array,
    start: number,
    end: number,
    baseOffset: number,
    elementOffset: number,
  ): void {
    let docType = 'matroska';
    let docTypeVersion = 1;
    forEachChild(bytes, start, end, baseOffset, EbmlId.Ebml, (id, s, e) => {
      switch (id) {
        case EbmlId.DocType:
          docType = readString(bytes, s, e);
          break;
        case EbmlId.DocTypeVersion:
          docTypeVersion = readUint(bytes, s, e, baseOffset, id);
          break;
        case EbmlId.EbmlMaxIdLength:
          if (readUint(bytes, s, e, baseOffset, id) > 4) {
            throw new MkvParseError('EBMLMaxIDLength above 4 is not supported', baseOffset + s, id);
          }
          break;
        case EbmlId.EbmlMaxSizeLength:
          if (readUint(bytes, s, e, baseOffset, id) > 8) {
            throw new MkvParseError('EBMLMaxSizeLength above 8 is not supported', baseOffset + s, id);
          }
          break;
        default:
          break;
      }
    });
    this.ebml = { docType, docTypeVersion, startOffset: elementOffset, isUsed: false };
  }

  private openSegment(elementOffset: number, chunk: Uint8Array, base: number, prior: number): void {
    const ebml = this.ebml;
    const hasFreshEbml = ebml !== undefined && !ebml.isUsed;
    if (!hasFreshEbml) {
      // A Segment with no EBML header of its own: its media header starts at the Segment.
      this.startCapture(elementOffset, chunk, base, prior);
    }
    if (ebml !== undefined) {
      ebml.isUsed = true;
    }
    this.segment = {
      docType: ebml?.docType ?? 'matroska',
      docTypeVersion: ebml?.docTypeVersion ?? 1,
      headerOffset: hasFreshEbml ? ebml.startOffset : elementOffset,
      timecodeScaleNs: DEFAULT_TIMECODE_SCALE_NS,
      msPerTick: 1,
      tracks: [],
      tracksByNumber: new Map(),
      hasTracks: false,
      isHeaderEmitted: false,
      pendingEvents: [],
    };
  }

  private parseInfo(bytes: Uint8Array, start: number, end: number, baseOffset: number): void {
    const segment = this.segment!;
    forEachChild(bytes, start, end, baseOffset, EbmlId.Info, (id, s, e) => {
      switch (id) {
        case EbmlId.TimecodeScale: {
          const scaleNs = readUint(bytes, s, e, baseOffset, id);
          if (scaleNs === 0) {
            throw new MkvParseError('TimecodeScale is 0', baseOffset + s, id);
          }
          segment.timecodeScaleNs = scaleNs;
          segment.msPerTick = scaleNs / 1e6;
          break;
        }
        case EbmlId.SegmentUid:
          segment.segmentUid = bytes.slice(s, e);
          break;
        case EbmlId.Title:
          segment.title = readString(bytes, s, e);
          break;
        case EbmlId.MuxingApp:
          segment.muxingApp = readString(bytes, s, e);
          break;
        case EbmlId.WritingApp:
          segment.writingApp = readString(bytes, s, e);
          break;
        case EbmlId.Duration:
          segment.durationTicks = readFloat(bytes, s, e, baseOffset, id);
          break;
        case EbmlId.DateUtc:
          // Signed nanoseconds since 2001-01-01T00:00:00Z (the Matroska epoch).
          if (e - s === 8) {
            const view = new DataView(bytes.buffer, bytes.byteOffset + s, 8);
            segment.dateUtcMs = MATROSKA_EPOCH_MS + Number(view.getBigInt64(0) / 1_000_000n);
          }
          break;
        default:
          break;
      }
    });
  }

  private parseTracks(bytes: Uint8Array, start: number, end: number, baseOffset: number): void {
    const segment = this.segment!;
    // A second Tracks element before the first Cluster replaces the first one.
    const tracks: MkvTrack[] = [];
    const byNumber = new Map<number, MkvTrack>();
    forEachChild(bytes, start, end, baseOffset, EbmlId.Tracks, (id, s, e) => {
      if (id !== EbmlId.TrackEntry) {
        return;
      }
      const track = readTrackEntry(bytes, s, e, baseOffset);
      if (byNumber.has(track.number)) {
        throw new MkvParseError(
          `two tracks have TrackNumber ${track.number}`,
          baseOffset + s,
          EbmlId.TrackEntry,
        );
      }
      tracks.push(track);
      byNumber.set(track.number, track);
    });
    segment.tracks = tracks;
    segment.tracksByNumber = byNumber;
    segment.hasTracks = true;
  }

  /** Emits the Segment's `header` event (once), with the media header bytes up to `boundary`. */
  private emitHeader(boundary: number): void {
    const segment = this.segment;
    if (segment === undefined || segment.isHeaderEmitted) {
      return;
    }
    segment.isHeaderEmitted = true;
    const header: MkvHeader = {
      docType: segment.docType,
      docTypeVersion: segment.docTypeVersion,
      timecodeScaleNs: segment.timecodeScaleNs,
      tracks: segment.tracks,
    };
    if (segment.segmentUid !== undefined) {
      header.segmentUid = segment.segmentUid;
    }
    if (segment.title !== undefined) {
      header.title = segment.title;
    }
    if (segment.muxingApp !== undefined) {
      header.muxingApp = segment.muxingApp;
    }
    if (segment.writingApp !== undefined) {
      header.writingApp = segment.writingApp;
    }
    if (segment.durationTicks !== undefined) {
      header.durationMs = segment.durationTicks * segment.msPerTick;
    }
    if (segment.dateUtcMs !== undefined) {
      header.dateUtcMs = segment.dateUtcMs;
    }
    const headerBytes = this.takeCapture(segment.headerOffset, boundary);
    this.out.push(
      headerBytes === undefined
        ? { type: 'header', header, byteOffset: segment.headerOffset }
        : { type: 'header', header, byteOffset: segment.headerOffset, headerBytes },
    );
    for (const event of segment.pendingEvents) {
      this.out.push(event);
    }
    segment.pendingEvents = [];
  }

  // ---- header capture: the exact media header bytes, gathered from the chunks that hold them --------------

  private startCapture(offset: number, chunk: Uint8Array, base: number, prior: number): void {
    const parts: HeaderCapture['parts'] = [];
    if (prior > 0) {
      // The element header began in earlier chunks; its bytes are only in the pending buffer now.
      parts.push({ bytes: this.pendingHeader.slice(0, prior), offset });
    }
    parts.push({ bytes: chunk, offset: base });
    this.capture = { startOffset: offset, parts, isOverflowed: false };
  }

  private addToCapture(chunk: Uint8Array, base: number): void {
    const capture = this.capture!;
    if (capture.isOverflowed) {
      return;
    }
    if (base - capture.startOffset > this.maxHeaderBytes) {
      capture.isOverflowed = true;
      capture.parts = [];
      return;
    }
    capture.parts.push({ bytes: chunk, offset: base });
  }

  private takeCapture(startOffset: number, boundary: number): Uint8Array | undefined {
    const capture = this.capture;
    this.capture = undefined;
    const length = boundary - startOffset;
    if (
      capture === undefined ||
      capture.isOverflowed ||
      capture.startOffset !== startOffset ||
      length > this.maxHeaderBytes
    ) {
      return undefined;
    }
    const result = new Uint8Array(length);
    for (const part of capture.parts) {
      const from = Math.max(startOffset, part.offset);
      const to = Math.min(boundary, part.offset + part.bytes.length);
      if (from < to) {
        result.set(part.bytes.subarray(from - part.offset, to - part.offset), from - startOffset);
      }
    }
    return result;
  }
}

/**
 * Reads Matroska events from an async byte source (a Node `Readable`, an array of chunks, an HTTP body).
 * @throws MkvParseError on corrupt or truncated input, after yielding every event before the fault.
 */
export async function* readMkv(
  source: AsyncIterable<Uint8Array>,
  options?: MkvReaderOptions,
): AsyncGenerator<MkvEvent> {
  const reader = new MkvReader(options);
  for await (const chunk of source) {
    for (const event of reader.push(chunk)) {
      yield event;
    }
  }
  for (const event of reader.end()) {
    yield event;
  }
}

// ---- helpers -------------------------------------------------------------------------------------------------

/** Every failure leaves the reader as an MkvParseError; anything else is a reader bug, kept as the cause. */
const toParseError = (error: unknown, offset: number): MkvParseError => {
  if (error instanceof MkvParseError) {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new MkvParseError(`internal reader error: ${message}`, offset, undefined, undefined, error);
};

/**
 * The bytes of an element that spans chunks, copied as they arrive. Capacity grows by doubling up to the
 * element's declared size, so a corrupt size in a truncated file costs no more memory than the bytes seen.
 */
class ByteAccumulator {
  private bytes = new Uint8Array(0);
  private length = 0;

  public constructor(private readonly size: number) {}

  public append(piece: Uint8Array): void {
    const needed = this.length + piece.length;
    if (needed > this.bytes.length) {
      const grown = new Uint8Array(Math.min(this.size, Math.max(needed, 2 * this.bytes.length, 64 * 1024)));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(piece, this.length);
    this.length = needed;
  }

  public take(): Uint8Array {
    return this.length === this.bytes.length ? this.bytes : this.bytes.subarray(0, this.length);
  }
}

/**
 * Joins gathered views once, when the element is complete (never re-concatenating per chunk); views that lie
 * back to back in one memory are joined into one view, without a copy.
 */
const joinPieces = (pieces: Uint8Array[], size: number): Uint8Array => {
  const first = pieces[0]!;
  if (pieces.length === 1) {
    return first;
  }
  if (areAdjacent(pieces)) {
    return new Uint8Array(first.buffer, first.byteOffset, size);
  }
  const joined = new Uint8Array(size);
  let at = 0;
  for (const piece of pieces) {
    joined.set(piece, at);
    at += piece.length;
  }
  return joined;
};

const areAdjacent = (pieces: readonly Uint8Array[]): boolean => {
  for (let i = 1; i < pieces.length; i++) {
    const previous = pieces[i - 1]!;
    const piece = pieces[i]!;
    if (piece.buffer !== previous.buffer || piece.byteOffset !== previous.byteOffset + previous.length) {
      return false;
    }
  }
  return true;
};

/**
 * Frame boundaries `[start0, end0, start1, end1, …]` of a laced block whose lace header starts at `p`
 * (Matroska §10.4: a frame count byte, then Xiph, EBML or fixed-size lacing).
 */
const readLaceBounds = (
  bytes: Uint8Array,
  start: number,
  end: number,
  lacing: number,
  baseOffset: number,
  blockId: number,
): number[] => {
  let p = start;
  if (p >= end) {
    throw new MkvParseError('laced block without a frame count', baseOffset + p, blockId);
  }
  const count = bytes[p]! + 1;
  p++;
  const sizes: number[] = new Array<number>(count);
  let total = 0;
  if (lacing === LACING_XIPH) {
    for (let k = 0; k < count - 1; k++) {
      let size = 0;
      for (;;) {
        if (p >= end) {
          throw new MkvParseError('Xiph lace sizes run past the end of the block', baseOffset + p, blockId);
        }
        const b = bytes[p++]!;
        size += b;
        if (b !== 255) {
          break;
        }
      }
      sizes[k] = size;
      total += size;
    }
  } else if (lacing === LACING_EBML) {
    let previous = 0;
    const bounded = bytes.subarray(0, end);
    for (let k = 0; k < count - 1; k++) {
      const vint = readVintSize(bounded, p);
      if (vint.value < 0) {
        throw new MkvParseError('invalid or truncated EBML lace size', baseOffset + p, blockId);
      }
      // The first size is unsigned; the others are signed differences, biased by 2^(7w-1) - 1.
      const size = k === 0 ? vint.value : previous + vint.value - (2 ** (7 * vint.width - 1) - 1);
      if (size < 0) {
        throw new MkvParseError(`EBML lace size ${size} is negative`, baseOffset + p, blockId);
      }
      p += vint.width;
      sizes[k] = size;
      total += size;
      previous = size;
    }
  } else if (lacing === LACING_FIXED) {
    const remaining = end - p;
    if (remaining % count !== 0) {
      throw new MkvParseError(
        `fixed-size lacing: ${remaining} bytes do not split into ${count} equal frames`,
        baseOffset + p,
        blockId,
      );
    }
    sizes.fill(remaining / count, 0, count - 1);
    total = (remaining / count) * (count - 1);
  }
  const last = end - p - total;
  if (last < 0) {
    throw new MkvParseError(
      `lace sizes add up to ${total} bytes but only ${end - p} remain in the block`,
      baseOffset + p,
      blockId,
    );
  }
  sizes[count - 1] = last;
  const bounds = new Array<number>(2 * count);
  for (let k = 0; k < count; k++) {
    bounds[2 * k] = p;
    p += sizes[k]!;
    bounds[2 * k + 1] = p;
  }
  return bounds;
};

const readTrackEntry = (bytes: Uint8Array, start: number, end: number, baseOffset: number): MkvTrack => {
  let number: number | undefined;
  let uid = 0n;
  let type = 0;
  let codecId = '';
  let codecPrivate: Uint8Array | undefined;
  let name: string | undefined;
  let defaultDurationNs: number | undefined;
  let video: MkvVideoSettings | undefined;
  let audio: MkvAudioSettings | undefined;
  forEachChild(bytes, start, end, baseOffset, EbmlId.TrackEntry, (id, s, e) => {
    switch (id) {
      case EbmlId.TrackNumber:
        number = readUint(bytes, s, e, baseOffset, id);
        break;
      case EbmlId.TrackUid:
        uid = readBigUint(bytes, s, e, baseOffset, id);
        break;
      case EbmlId.TrackType:
        type = readUint(bytes, s, e, baseOffset, id);
        break;
      case EbmlId.CodecId:
        codecId = readString(bytes, s, e);
        break;
      case EbmlId.CodecPrivate:
        // A copy, so the header never pins a whole input chunk.
        codecPrivate = bytes.slice(s, e);
        break;
      case EbmlId.Name:
        name = readString(bytes, s, e);
        break;
      case EbmlId.DefaultDuration:
        defaultDurationNs = readUint(bytes, s, e, baseOffset, id);
        break;
      case EbmlId.Video: {
        const settings: MkvVideoSettings = { widthPx: 0, heightPx: 0 };
        forEachChild(bytes, s, e, baseOffset, id, (videoId, vs, ve) => {
          if (videoId === EbmlId.PixelWidth) {
            settings.widthPx = readUint(bytes, vs, ve, baseOffset, videoId);
          } else if (videoId === EbmlId.PixelHeight) {
            settings.heightPx = readUint(bytes, vs, ve, baseOffset, videoId);
          }
        });
        video = settings;
        break;
      }
      case EbmlId.Audio: {
        // Matroska defaults: 8000 Hz, 1 channel.
        const settings: MkvAudioSettings = { samplingFrequencyHz: 8000, channels: 1 };
        forEachChild(bytes, s, e, baseOffset, id, (audioId, as, ae) => {
          if (audioId === EbmlId.SamplingFrequency) {
            settings.samplingFrequencyHz = readFloat(bytes, as, ae, baseOffset, audioId);
          } else if (audioId === EbmlId.Channels) {
            settings.channels = readUint(bytes, as, ae, baseOffset, audioId);
          } else if (audioId === EbmlId.BitDepth) {
            settings.bitDepth = readUint(bytes, as, ae, baseOffset, audioId);
          }
        });
        audio = settings;
        break;
      }
      default:
        break;
    }
  });
  if (number === undefined || number === 0) {
    throw new MkvParseError(
      number === undefined ? 'TrackEntry without a TrackNumber' : 'TrackNumber 0 is not allowed',
      baseOffset + start,
      EbmlId.TrackEntry,
    );
  }
  const track: MkvTrack = { number, uid, type, codecId };
  if (codecPrivate !== undefined) {
    track.codecPrivate = codecPrivate;
  }
  if (name !== undefined) {
    track.name = name;
  }
  if (defaultDurationNs !== undefined) {
    track.defaultDurationNs = defaultDurationNs;
  }
  if (video !== undefined) {
    track.video = video;
  }
  if (audio !== undefined) {
    track.audio = audio;
  }
  return track;
};

/** Appends a SimpleTag, then its nested SimpleTags (flattened in document order), to `out`. */
const readSimpleTag = (
  bytes: Uint8Array,
  start: number,
  end: number,
  baseOffset: number,
  out: MkvSimpleTag[],
  depth: number,
): void => {
  if (depth > MAX_TAG_DEPTH) {
    throw new MkvParseError(
      `SimpleTags nested deeper than ${MAX_TAG_DEPTH}`,
      baseOffset + start,
      EbmlId.SimpleTag,
    );
  }
  const tag: MkvSimpleTag = { name: '' };
  const nested: number[] = [];
  forEachChild(bytes, start, end, baseOffset, EbmlId.SimpleTag, (id, s, e) => {
    switch (id) {
      case EbmlId.TagName:
        tag.name = readString(bytes, s, e);
        break;
      case EbmlId.TagString:
        tag.value = readString(bytes, s, e);
        break;
      case EbmlId.TagBinary:
        tag.binary = bytes.slice(s, e);
        break;
      case EbmlId.SimpleTag:
        nested.push(s, e);
        break;
      default:
        break;
    }
  });
  out.push(tag);
  for (let k = 0; k < nested.length; k += 2) {
    readSimpleTag(bytes, nested[k]!, nested[k + 1]!, baseOffset, out, depth + 1);
  }
};
