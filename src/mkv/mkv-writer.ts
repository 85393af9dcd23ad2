/**
 * The KVS MKV writer: the exact layout AWS's producers send in a PutMedia body (producer-sdk.md §4.1–4.5):
 * EBML header, one unknown-size Segment, Info, Tracks, then one unknown-size Cluster per fragment with an
 * 8-byte Timecode, Position 0 and SimpleBlocks, and Tags elements between clusters.
 *
 * Cluster output is a list of byte chunks: element headers are written into small shared buffers and frame
 * payloads are passed through untouched, so a socket can write them without copying.
 */
import { CodecId, EbmlId, TrackType } from './ebml-ids.js';
import {
  elementIdWidth,
  writeElementId,
  writeUnknownSize,
  writeVintSize,
  vintSizeWidth,
} from './ebml-vint.js';
import { KvsTag } from './kvs-tags.js';
import type { MkvSimpleTag, MkvTrack } from './mkv-types.js';

/** Default TimecodeScale: 1 ms, as every KVS producer writes it. */
export const DEFAULT_TIMECODE_SCALE_NS = 1_000_000;

/** The reserved tag that closes a fragment at once (producer-sdk.md §4.5). */
export const END_OF_FRAGMENT_TAG = KvsTag.EndOfFragment;

/** Largest SimpleBlock relative timecode: a signed 16-bit integer. */
export const MAX_BLOCK_OFFSET = 32_767;
export const MIN_BLOCK_OFFSET = -32_768;

const textEncoder = new TextEncoder();

/** An element tree node, written by {@link encodeElements}. */
type Node = {
  id: number;
  /** Width of the size vint; smallest that fits when absent. */ sizeWidth?: number;
} & (
  | { uint: number | bigint; width?: number }
  | { float: number }
  | { text: string }
  | { bytes: Uint8Array }
  | { children: Node[] }
);

const uintWidth = (value: number | bigint): number => {
  let width = 1;
  let rest = BigInt(value);
  while (rest > 0xffn) {
    rest >>= 8n;
    width++;
  }
  return width;
};

const bodySize = (node: Node): number => {
  if ('uint' in node) {
    return node.width ?? uintWidth(node.uint);
  }
  if ('float' in node) {
    return 8;
  }
  if ('text' in node) {
    return textEncoder.encode(node.text).length;
  }
  if ('bytes' in node) {
    return node.bytes.length;
  }
  let size = 0;
  for (const child of node.children) {
    size += elementSize(child);
  }
  return size;
};

const sizeWidthOf = (node: Node, size: number): number => node.sizeWidth ?? vintSizeWidth(size);

const elementSize = (node: Node): number => {
  const size = bodySize(node);
  return elementIdWidth(node.id) + sizeWidthOf(node, size) + size;
};

const writeNode = (out: Uint8Array, view: DataView, offset: number, node: Node): number => {
  const size = bodySize(node);
  offset = writeElementId(out, offset, node.id);
  offset = writeVintSize(out, offset, size, sizeWidthOf(node, size));
  if ('uint' in node) {
    let rest = BigInt(node.uint);
    for (let i = size - 1; i >= 0; i--) {
      out[offset + i] = Number(rest & 0xffn);
      rest >>= 8n;
    }
    return offset + size;
  }
  if ('float' in node) {
    view.setFloat64(offset, node.float);
    return offset + 8;
  }
  if ('text' in node) {
    out.set(textEncoder.encode(node.text), offset);
    return offset + size;
  }
  if ('bytes' in node) {
    out.set(node.bytes, offset);
    return offset + size;
  }
  for (const child of node.children) {
    offset = writeNode(out, view, offset, child);
  }
  return offset;
};

/** Encodes a list of element trees into one byte array. */
const encodeElements = (nodes: Node[], prefix?: Uint8Array): Uint8Array => {
  const prefixLength = prefix?.length ?? 0;
  let total = prefixLength;
  for (const node of nodes) {
    total += elementSize(node);
  }
  const out = new Uint8Array(total);
  if (prefix !== undefined) {
    out.set(prefix);
  }
  const view = new DataView(out.buffer);
  let offset = prefixLength;
  for (const node of nodes) {
    offset = writeNode(out, view, offset, node);
  }
  return out;
};

export type KvsHeaderOptions = {
  tracks: readonly MkvTrack[];
  /** 16 bytes, not all zero. @default random */
  segmentUid?: Uint8Array;
  /** @default 1 000 000 (1 ms) */
  timecodeScaleNs?: number;
  /** @default 'kvs-put' */
  title?: string;
  /** MuxingApp and WritingApp. @default 'kvs-put' */
  applicationName?: string;
};

const randomSegmentUid = (): Uint8Array => {
  const uid = new Uint8Array(16);
  crypto.getRandomValues(uid);
  uid[0] = uid[0]! | 0x01; // never all zero: the service rejects that
  return uid;
};

const trackNode = (track: MkvTrack): Node => {
  const children: Node[] = [
    { id: EbmlId.TrackNumber, uint: track.number },
    // PIC writes TrackUID as 8 bytes.
    { id: EbmlId.TrackUid, uint: track.uid, width: 8 },
    { id: EbmlId.TrackType, uint: track.type },
  ];
  if (track.name !== undefined) {
    children.push({ id: EbmlId.Name, text: track.name });
  }
  children.push({ id: EbmlId.CodecId, text: track.codecId });
  if (track.defaultDurationNs !== undefined) {
    children.push({ id: EbmlId.DefaultDuration, uint: Math.round(track.defaultDurationNs) });
  }
  if (track.video !== undefined) {
    children.push({
      id: EbmlId.Video,
      sizeWidth: 4,
      children: [
        { id: EbmlId.PixelWidth, uint: track.video.widthPx, width: 2 },
        { id: EbmlId.PixelHeight, uint: track.video.heightPx, width: 2 },
      ],
    });
  }
  if (track.audio !== undefined) {
    const audio: Node[] = [
      { id: EbmlId.SamplingFrequency, float: track.audio.samplingFrequencyHz },
      { id: EbmlId.Channels, uint: track.audio.channels },
    ];
    if (track.audio.bitDepth !== undefined) {
      audio.push({ id: EbmlId.BitDepth, uint: track.audio.bitDepth });
    }
    children.push({ id: EbmlId.Audio, sizeWidth: 4, children: audio });
  }
  if (track.codecPrivate !== undefined && track.codecPrivate.length > 0) {
    children.push({ id: EbmlId.CodecPrivate, bytes: track.codecPrivate });
  }
  return { id: EbmlId.TrackEntry, sizeWidth: 4, children };
};

/**
 * The session header: EBML header, Segment of unknown size, Info and Tracks — everything a PutMedia body
 * holds before its first Cluster. Sized as AWS's producers size them (Info 2-byte, Tracks 4-byte sizes).
 */
export const writeKvsHeader = (options: KvsHeaderOptions): Uint8Array => {
  if (options.tracks.length === 0) {
    throw new TypeError('options.tracks must list at least one track.');
  }
  const segmentUid = options.segmentUid ?? randomSegmentUid();
  if (segmentUid.length !== 16) {
    throw new TypeError('options.segmentUid, when provided, must be 16 bytes.');
  }
  const application = options.applicationName ?? 'kvs-put';
  const ebml: Node = {
    id: EbmlId.Ebml,
    children: [
      { id: EbmlId.EbmlVersion, uint: 1 },
      { id: EbmlId.EbmlReadVersion, uint: 1 },
      { id: EbmlId.EbmlMaxIdLength, uint: 4 },
      { id: EbmlId.EbmlMaxSizeLength, uint: 8 },
      { id: EbmlId.DocType, text: 'matroska' },
      { id: EbmlId.DocTypeVersion, uint: 2 },
      { id: EbmlId.DocTypeReadVersion, uint: 2 },
    ],
  };
  const info: Node = {
    id: EbmlId.Info,
    sizeWidth: 2,
    children: [
      { id: EbmlId.SegmentUid, bytes: segmentUid },
      { id: EbmlId.TimecodeScale, uint: options.timecodeScaleNs ?? DEFAULT_TIMECODE_SCALE_NS, width: 8 },
      { id: EbmlId.Title, text: options.title ?? 'kvs-put' },
      { id: EbmlId.MuxingApp, text: application },
      { id: EbmlId.WritingApp, text: application },
    ],
  };
  const tracks: Node = { id: EbmlId.Tracks, sizeWidth: 4, children: options.tracks.map(trackNode) };
  const head = encodeElements([ebml]);
  const segment = new Uint8Array(5);
  writeUnknownSize(segment, writeElementId(segment, 0, EbmlId.Segment));
  const body = encodeElements([info, tracks]);
  const out = new Uint8Array(head.length + segment.length + body.length);
  out.set(head);
  out.set(segment, head.length);
  out.set(body, head.length + segment.length);
  return out;
};

/**
 * One Tags element holding one Tag with the given SimpleTags, every size an 8-byte vint as PIC writes them.
 * Tags sit at Segment level, before the Cluster of the fragment they belong to.
 */
export const writeTags = (tags: readonly MkvSimpleTag[]): Uint8Array => {
  const wide = 8;
  const simpleTags: Node[] = tags.map((tag) => ({
    id: EbmlId.SimpleTag,
    sizeWidth: wide,
    children: [
      { id: EbmlId.TagName, sizeWidth: wide, text: tag.name },
      tag.binary !== undefined
        ? { id: EbmlId.TagBinary, sizeWidth: wide, bytes: tag.binary }
        : { id: EbmlId.TagString, sizeWidth: wide, text: tag.value ?? '' },
    ],
  }));
  return encodeElements([
    {
      id: EbmlId.Tags,
      sizeWidth: wide,
      children: [{ id: EbmlId.Tag, sizeWidth: wide, children: simpleTags }],
    },
  ]);
};

/** The end-of-fragment marker: closes the current fragment at once; also ends every session. */
export const END_OF_FRAGMENT_BYTES: Uint8Array = writeTags([{ name: END_OF_FRAGMENT_TAG, value: '' }]);

/** A frame as the cluster writer takes it. */
export type ClusterFrame = {
  readonly trackNumber: number;
  /** Block timecode relative to the cluster, in ticks: a signed 16-bit integer. */
  readonly relativeTimecode: number;
  readonly isKeyframe: boolean;
  readonly isInvisible?: boolean;
  readonly isDiscardable?: boolean;
  readonly data: Uint8Array;
};

const CLUSTER_HEADER_BYTES = 4 + 1 + (1 + 1 + 8) + (1 + 1 + 1);
/** SimpleBlock ID, 8-byte size (as PIC writes it), track vint, int16 timecode, flags. */
const BLOCK_HEADER_BYTES = 1 + 8 + 1 + 2 + 1;

/**
 * One fragment: an unknown-size Cluster with an 8-byte Timecode, Position 0 and one SimpleBlock per frame.
 * Returns the chunks to write in order: header bytes (in one shared allocation) interleaved with the frame
 * payloads themselves. Track numbers must be 1–126 (one-byte vints).
 */
export const writeCluster = (
  timecode: number,
  frames: readonly ClusterFrame[],
  /** Only the blocks: more frames of a cluster already opened (a live fragment sent as it grows). */
  isContinuation = false,
): Uint8Array[] => {
  if (!Number.isSafeInteger(timecode) || timecode < 0) {
    throw new RangeError(`Cluster timecode must be a non-negative integer, got ${timecode}.`);
  }
  const headerBytes = isContinuation ? 0 : CLUSTER_HEADER_BYTES;
  const headers = new Uint8Array(headerBytes + BLOCK_HEADER_BYTES * frames.length);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  if (!isContinuation) {
    offset = writeElementId(headers, 0, EbmlId.Cluster);
    offset = writeUnknownSize(headers, offset);
    headers[offset++] = EbmlId.Timecode;
    headers[offset++] = 0x88;
    let rest = timecode;
    for (let i = 7; i >= 0; i--) {
      headers[offset + i] = rest % 256;
      rest = Math.floor(rest / 256);
    }
    offset += 8;
    headers[offset++] = EbmlId.Position;
    headers[offset++] = 0x81;
    headers[offset++] = 0;
    chunks.push(headers.subarray(0, offset));
  }
  for (let i = 0; i < frames.length; i++) {
    const frame = frames[i]!;
    const start = offset;
    const { relativeTimecode, trackNumber } = frame;
    if (relativeTimecode > MAX_BLOCK_OFFSET || relativeTimecode < MIN_BLOCK_OFFSET) {
      throw new RangeError(
        `Block offset ${relativeTimecode} does not fit the signed 16-bit SimpleBlock timecode.`,
      );
    }
    if (trackNumber < 1 || trackNumber > 126) {
      throw new RangeError(`Track number ${trackNumber} is outside 1–126.`);
    }
    headers[offset++] = EbmlId.SimpleBlock;
    offset = writeVintSize(headers, offset, frame.data.length + 4, 8);
    headers[offset++] = 0x80 | trackNumber;
    headers[offset++] = (relativeTimecode >> 8) & 0xff;
    headers[offset++] = relativeTimecode & 0xff;
    headers[offset++] =
      (frame.isKeyframe ? 0x80 : 0) |
      (frame.isInvisible === true ? 0x08 : 0) |
      (frame.isDiscardable === true ? 0x01 : 0);
    chunks.push(headers.subarray(start, offset), frame.data);
  }
  return chunks;
};

/** Total byte length of a chunk list. */
export const chunksByteLength = (chunks: readonly Uint8Array[]): number => {
  let total = 0;
  for (const chunk of chunks) {
    total += chunk.length;
  }
  return total;
};

/** Joins a chunk list into one array (for tests and files; sockets take the list). */
export const concatChunks = (chunks: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(chunksByteLength(chunks));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
};

/** The track entry KVS producers write for H.264 video (track 1, named as the C producer names it). */
export const kvsVideoTrack = (options: {
  codecId?: string;
  codecPrivate?: Uint8Array;
  widthPx?: number;
  heightPx?: number;
  number?: number;
}): MkvTrack => ({
  number: options.number ?? 1,
  uid: BigInt(options.number ?? 1),
  type: TrackType.Video,
  name: 'kvs_video_track',
  codecId: options.codecId ?? CodecId.H264,
  ...(options.codecPrivate === undefined ? {} : { codecPrivate: options.codecPrivate }),
  ...(options.widthPx === undefined || options.heightPx === undefined
    ? {}
    : { video: { widthPx: options.widthPx, heightPx: options.heightPx } }),
});
