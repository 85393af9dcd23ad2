/**
 * Element-level EBML reading (RFC 8794): element headers, and the value types of leaf elements (unsigned
 * integers, floats, strings) plus a child walker for small master elements that were buffered whole. The
 * streaming state machine that uses these lives in `mkv-reader.ts`.
 *
 * Everything here works on `(bytes, start, end)` ranges instead of subarrays, so the hot path allocates
 * nothing per element.
 */
import { UNKNOWN_SIZE, vintWidth } from './ebml-vint.js';
import { MkvParseError } from './mkv-errors.js';

/** Longest possible element header: a 4-byte ID (EBMLMaxIDLength 4) plus an 8-byte size. */
export const MAX_ELEMENT_HEADER_BYTES = 12;

/** Outcome of {@link readElementHeader}. */
export const HeaderStatus = {
  Ok: 0,
  /** The range ends before the header does. */
  NeedMore: 1,
  /** The ID's first byte is 0x00 or announces more than 4 bytes. */
  InvalidId: 2,
  /** The size's first byte is 0x00 (a vint longer than 8 bytes). */
  InvalidSize: 3,
} as const;
export type HeaderStatus = (typeof HeaderStatus)[keyof typeof HeaderStatus];

/**
 * An element header, filled in place by {@link readElementHeader} so one object can be reused for every
 * element of a stream.
 */
export type EbmlElementHeader = {
  /** Element ID with its marker bit kept (as in `EbmlId`). */
  id: number;
  /** Data size in bytes, or {@link UNKNOWN_SIZE}. */
  size: number;
  /** Bytes taken by the ID and the size vint. */
  headerBytes: number;
};

/** A fresh {@link EbmlElementHeader} to pass to {@link readElementHeader}. */
export const createElementHeader = (): EbmlElementHeader => ({ id: 0, size: 0, headerBytes: 0 });

/**
 * Reads the element header at `offset` (not reading at or past `end`) into `out`.
 * On {@link HeaderStatus.InvalidSize}, `out.headerBytes` is the ID width, so the caller can name the offset.
 */
export const readElementHeader = (
  bytes: Uint8Array,
  offset: number,
  end: number,
  out: EbmlElementHeader,
): HeaderStatus => {
  if (offset >= end) {
    return HeaderStatus.NeedMore;
  }
  const first = bytes[offset]!;
  const idWidth = vintWidth(first);
  if (idWidth === 0 || idWidth > 4) {
    return HeaderStatus.InvalidId;
  }
  if (offset + idWidth >= end) {
    return HeaderStatus.NeedMore;
  }
  let id = first;
  for (let k = 1; k < idWidth; k++) {
    id = id * 256 + bytes[offset + k]!;
  }
  const sizeStart = offset + idWidth;
  const sizeFirst = bytes[sizeStart]!;
  const sizeWidth = vintWidth(sizeFirst);
  if (sizeWidth === 0) {
    out.id = id;
    out.headerBytes = idWidth;
    return HeaderStatus.InvalidSize;
  }
  if (sizeStart + sizeWidth > end) {
    return HeaderStatus.NeedMore;
  }
  const mask = 0xff >> sizeWidth;
  let size = sizeFirst & mask;
  let isAllOnes = size === mask;
  for (let k = 1; k < sizeWidth; k++) {
    const b = bytes[sizeStart + k]!;
    isAllOnes &&= b === 0xff;
    size = size * 256 + b;
  }
  out.id = id;
  // All value bits set is the reserved "unknown size" at every width (RFC 8794 §6.2).
  out.size = isAllOnes ? UNKNOWN_SIZE : size;
  out.headerBytes = idWidth + sizeWidth;
  return HeaderStatus.Ok;
};

/**
 * Big-endian unsigned integer of 0–8 bytes (an empty element is 0, RFC 8794 §7.1). Throws when the value
 * does not fit a JS number exactly; use {@link readBigUint} for UIDs.
 */
export const readUint = (
  bytes: Uint8Array,
  start: number,
  end: number,
  baseOffset: number,
  id: number,
): number => {
  if (end - start > 8) {
    throw new MkvParseError(`unsigned integer of ${end - start} bytes (at most 8)`, baseOffset + start, id);
  }
  let value = 0;
  for (let k = start; k < end; k++) {
    value = value * 256 + bytes[k]!;
  }
  if (!Number.isSafeInteger(value)) {
    throw new MkvParseError(`unsigned integer ${value} is beyond 2^53`, baseOffset + start, id);
  }
  return value;
};

/** Big-endian unsigned integer of 0–8 bytes, exact (TrackUID and other 64-bit UIDs). */
export const readBigUint = (
  bytes: Uint8Array,
  start: number,
  end: number,
  baseOffset: number,
  id: number,
): bigint => {
  if (end - start > 8) {
    throw new MkvParseError(`unsigned integer of ${end - start} bytes (at most 8)`, baseOffset + start, id);
  }
  let value = 0n;
  for (let k = start; k < end; k++) {
    value = (value << 8n) | BigInt(bytes[k]!);
  }
  return value;
};

/** IEEE-754 big-endian float of 0, 4 or 8 bytes (RFC 8794 §7.3). */
export const readFloat = (
  bytes: Uint8Array,
  start: number,
  end: number,
  baseOffset: number,
  id: number,
): number => {
  const length = end - start;
  if (length === 0) {
    return 0;
  }
  if (length !== 4 && length !== 8) {
    throw new MkvParseError(`float of ${length} bytes (must be 0, 4 or 8)`, baseOffset + start, id);
  }
  // A DataView only for float elements, which appear a few times per header.
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, length);
  return length === 4 ? view.getFloat32(0) : view.getFloat64(0);
};

const utf8 = new TextDecoder('utf-8');

/** String or UTF-8 element; trailing 0x00 padding is dropped (RFC 8794 §7.4, §7.5). */
export const readString = (bytes: Uint8Array, start: number, end: number): string => {
  let stop = end;
  while (stop > start && bytes[stop - 1] === 0) {
    stop--;
  }
  return utf8.decode(bytes.subarray(start, stop));
};

/** Called by {@link forEachChild} with each child's ID and data range (in the same `bytes`). */
export type ChildVisitor = (id: number, dataStart: number, dataEnd: number) => void;

/**
 * Walks the children of a buffered master element whose data is `bytes[start, end)`. `baseOffset` is the
 * absolute stream offset of `bytes[0]`, for error messages. Children must have known sizes that fit.
 */
export const forEachChild = (
  bytes: Uint8Array,
  start: number,
  end: number,
  baseOffset: number,
  parentId: number,
  visit: ChildVisitor,
): void => {
  const header = createElementHeader();
  let p = start;
  while (p < end) {
    const status = readElementHeader(bytes, p, end, header);
    if (status === HeaderStatus.NeedMore) {
      throw new MkvParseError(
        'child element header runs past the end of its parent',
        baseOffset + p,
        parentId,
      );
    }
    if (status === HeaderStatus.InvalidId) {
      throw new MkvParseError(`invalid element ID byte 0x${hex(bytes[p]!)}`, baseOffset + p, parentId);
    }
    if (status === HeaderStatus.InvalidSize) {
      throw new MkvParseError('invalid element size vint (first byte 0x00)', baseOffset + p, header.id);
    }
    const dataStart = p + header.headerBytes;
    if (header.size === UNKNOWN_SIZE) {
      throw new MkvParseError(
        'unknown size is only allowed for Segment and Cluster',
        baseOffset + p,
        header.id,
      );
    }
    const dataEnd = dataStart + header.size;
    if (dataEnd > end) {
      throw new MkvParseError(
        `element of ${header.size} bytes ends at byte ${baseOffset + dataEnd}, past its parent's end at byte ${baseOffset + end}`,
        baseOffset + p,
        header.id,
      );
    }
    visit(header.id, dataStart, dataEnd);
    p = dataEnd;
  }
};

/** Two-digit upper-case hex of a byte, for messages. */
export const hex = (byte: number): string => byte.toString(16).toUpperCase().padStart(2, '0');
