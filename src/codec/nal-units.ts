/**
 * NAL-unit framing shared by H.264 and H.265: Annex-B byte streams (start codes, ITU-T H.264 Annex B) and
 * length-prefixed samples (AVCC/HVCC, ISO/IEC 14496-15), as KVS expects in Matroska blocks. Emulation-
 * prevention bytes are left alone here: framing never changes NAL unit payloads.
 */
import { CodecError } from './codec-errors.js';

/** Width in bytes of the big-endian NAL length prefix (lengthSizeMinusOne + 1 in avcC/hvcC). */
export type NalLengthSize = 1 | 2 | 4;

/** The length size KVS and every SDK write: 4 bytes. */
export const DEFAULT_NAL_LENGTH_SIZE: NalLengthSize = 4;

const MAX_NAL_BYTES_BY_LENGTH_SIZE = { 1: 0xff, 2: 0xffff, 4: 0xffffffff } as const;

/** True when `value` is a NAL length size this module supports (1, 2 or 4; 3 is reserved). */
export const isNalLengthSize = (value: number): value is NalLengthSize =>
  value === 1 || value === 2 || value === 4;

/**
 * True when `bytes` starts like an Annex-B stream: any run of at least two zero bytes followed by 0x01.
 * An avcC/hvcC record starts with its version byte (1), so the two are never confused.
 */
export const isAnnexB = (bytes: Uint8Array): boolean => {
  let index = 0;
  while (index < bytes.length && bytes[index] === 0) {
    index++;
  }
  return index >= 2 && index < bytes.length && bytes[index] === 1;
};

/**
 * Splits an Annex-B byte stream into NAL units (views into `annexB`, no copies). Accepts 3- and 4-byte start
 * codes, extra leading zeros before the first start code (some encoders emit more than the one
 * zero_byte), and trailing_zero_8bits after a NAL unit; empty NAL units are dropped.
 *
 * @throws {@link CodecError} when non-zero bytes come before the first start code.
 */
export const splitAnnexB = (annexB: Uint8Array): Uint8Array[] => {
  const nalUnits: Uint8Array[] = [];
  scanAnnexB(annexB, (begin, end) => {
    nalUnits.push(annexB.subarray(begin, end));
  });
  return nalUnits;
};

/**
 * Converts an Annex-B access unit (or CPD) to length-prefixed form (AVCC/HVCC samples), in one output
 * allocation. This is the producer SDK's ANNEXB_NALS adaptation.
 *
 * @param lengthSize - width of each big-endian length prefix; 4 unless the track's avcC/hvcC says otherwise.
 * @throws {@link CodecError} when the input is not Annex-B or a NAL unit is too long for `lengthSize`.
 */
export const annexBToLengthPrefixed = (
  annexB: Uint8Array,
  lengthSize: NalLengthSize = DEFAULT_NAL_LENGTH_SIZE,
): Uint8Array => {
  const ranges: number[] = [];
  let totalBytes = 0;
  scanAnnexB(annexB, (begin, end) => {
    ranges.push(begin, end);
    totalBytes += lengthSize + (end - begin);
  });
  const output = new Uint8Array(totalBytes);
  let outOffset = 0;
  for (let i = 0; i < ranges.length; i += 2) {
    const begin = ranges[i]!;
    const end = ranges[i + 1]!;
    writeLength(output, outOffset, end - begin, lengthSize);
    outOffset += lengthSize;
    output.set(annexB.subarray(begin, end), outOffset);
    outOffset += end - begin;
  }
  return output;
};

/**
 * Joins NAL units (without start codes or prefixes) into one length-prefixed sample.
 *
 * @throws {@link CodecError} when a NAL unit is empty or too long for `lengthSize`.
 */
export const lengthPrefixNalUnits = (
  nalUnits: readonly Uint8Array[],
  lengthSize: NalLengthSize = DEFAULT_NAL_LENGTH_SIZE,
): Uint8Array => {
  let totalBytes = 0;
  for (const nalUnit of nalUnits) {
    totalBytes += lengthSize + nalUnit.length;
  }
  const output = new Uint8Array(totalBytes);
  let outOffset = 0;
  for (const nalUnit of nalUnits) {
    if (nalUnit.length === 0) {
      throw new CodecError('NAL unit list', 'empty NAL unit');
    }
    writeLength(output, outOffset, nalUnit.length, lengthSize);
    outOffset += lengthSize;
    output.set(nalUnit, outOffset);
    outOffset += nalUnit.length;
  }
  return output;
};

/**
 * Joins NAL units into an Annex-B stream with 4-byte start codes (what ffmpeg and the producer SDK write).
 */
export const annexBFromNalUnits = (nalUnits: readonly Uint8Array[]): Uint8Array => {
  let totalBytes = 0;
  for (const nalUnit of nalUnits) {
    totalBytes += 4 + nalUnit.length;
  }
  const output = new Uint8Array(totalBytes);
  let outOffset = 0;
  for (const nalUnit of nalUnits) {
    output[outOffset + 3] = 1;
    output.set(nalUnit, outOffset + 4);
    outOffset += 4 + nalUnit.length;
  }
  return output;
};

/**
 * Converts a length-prefixed sample (AVCC/HVCC) to Annex-B with 4-byte start codes (the producer SDK's
 * AVCC_NALS adaptation).
 *
 * @throws {@link CodecError} when a length prefix runs past the end of `frame`.
 */
export const lengthPrefixedToAnnexB = (
  frame: Uint8Array,
  lengthSize: NalLengthSize = DEFAULT_NAL_LENGTH_SIZE,
): Uint8Array => {
  // Every non-empty NAL unit gets a 4-byte start code; zero-length entries carry nothing and are dropped.
  let totalBytes = 0;
  walkLengthPrefixed(frame, lengthSize, (begin, end) => {
    totalBytes += end > begin ? 4 + end - begin : 0;
  });
  const output = new Uint8Array(totalBytes);
  let outOffset = 0;
  walkLengthPrefixed(frame, lengthSize, (begin, end) => {
    if (end > begin) {
      output[outOffset + 3] = 1;
      output.set(frame.subarray(begin, end), outOffset + 4);
      outOffset += 4 + end - begin;
    }
  });
  return output;
};

/**
 * Iterates the NAL units of a length-prefixed sample as views into `frame` (nothing is copied).
 * Zero-length entries are skipped. (A `function*` rather than a const arrow: arrows cannot be generators.)
 *
 * @throws {@link CodecError} when a length prefix runs past the end of `frame`.
 */
export function* iterateNalUnits(
  frame: Uint8Array,
  lengthSize: NalLengthSize = DEFAULT_NAL_LENGTH_SIZE,
): Generator<Uint8Array, void, undefined> {
  let offset = 0;
  while (offset < frame.length) {
    const nalEnd = nalEndAt(frame, offset, lengthSize);
    const nalBegin = offset + lengthSize;
    if (nalEnd > nalBegin) {
      yield frame.subarray(nalBegin, nalEnd);
    }
    offset = nalEnd;
  }
}

/**
 * True when some NAL unit of a length-prefixed sample has a header whose first byte passes `test`. Walks the
 * prefixes without allocating, for per-frame checks such as "is this a keyframe".
 *
 * @throws {@link CodecError} when a length prefix runs past the end of `frame`.
 */
export const someNalUnitHeader = (
  frame: Uint8Array,
  lengthSize: NalLengthSize,
  test: (firstHeaderByte: number) => boolean,
): boolean => {
  let offset = 0;
  while (offset < frame.length) {
    const nalEnd = nalEndAt(frame, offset, lengthSize);
    const nalBegin = offset + lengthSize;
    if (nalEnd > nalBegin && test(frame[nalBegin]!)) {
      return true;
    }
    offset = nalEnd;
  }
  return false;
};

/**
 * Appends `nalUnit` unless a byte-identical one is already in `list` (parameter sets repeat in streams).
 */
export const pushUnique = (list: Uint8Array[], nalUnit: Uint8Array): void => {
  const isRepeat = list.some(
    (existing) => existing.length === nalUnit.length && existing.every((byte, i) => byte === nalUnit[i]),
  );
  if (!isRepeat) {
    list.push(nalUnit);
  }
};

/** Calls `onNal(begin, end)` for every non-empty NAL unit of an Annex-B stream, allocating nothing. */
const scanAnnexB = (annexB: Uint8Array, onNal: (begin: number, end: number) => void): void => {
  let payloadBegin = findPayloadStart(annexB, 0);
  const firstPrefixBegin = payloadBegin === -1 ? annexB.length : payloadBegin - 3;
  for (let i = 0; i < firstPrefixBegin; i++) {
    if (annexB[i] !== 0) {
      throw new CodecError('Annex-B stream', `no start code before byte ${i} (0x${hexByte(annexB[i]!)})`, {
        byteOffset: i,
      });
    }
  }
  while (payloadBegin !== -1) {
    const nextPayloadBegin = findPayloadStart(annexB, payloadBegin);
    let end = nextPayloadBegin === -1 ? annexB.length : nextPayloadBegin - 3;
    // trailing_zero_8bits and the leading zero_byte of a 4-byte start code belong to no NAL unit; a NAL
    // unit never ends in 0x00 (§7.4.1.2.2), so stripping every trailing zero is safe.
    while (end > payloadBegin && annexB[end - 1] === 0) {
      end--;
    }
    if (end > payloadBegin) {
      onNal(payloadBegin, end);
    }
    payloadBegin = nextPayloadBegin;
  }
};

/** Index just after the next `00 00 01` at or after `fromIndex`, or -1. */
const findPayloadStart = (bytes: Uint8Array, fromIndex: number): number => {
  const lastCandidate = bytes.length - 3;
  let i = fromIndex;
  while (i <= lastCandidate) {
    const third = bytes[i + 2]!;
    if (third === 0) {
      i++;
      continue;
    }
    if (third === 1 && bytes[i] === 0 && bytes[i + 1] === 0) {
      return i + 3;
    }
    // bytes[i + 2] is non-zero, so no start code can begin at i + 1 or i + 2 (both need it to be 0).
    i += 3;
  }
  return -1;
};

/** Reads the length prefix at `offset` and returns the end of that NAL unit, checking bounds. */
const nalEndAt = (frame: Uint8Array, offset: number, lengthSize: NalLengthSize): number => {
  if (offset + lengthSize > frame.length) {
    throw new CodecError(
      'length-prefixed sample',
      `${frame.length - offset} byte(s) left at offset ${offset}, too few for a ${lengthSize}-byte NAL length`,
      { byteOffset: offset, byteLength: frame.length },
    );
  }
  let nalBytes = 0;
  for (let i = 0; i < lengthSize; i++) {
    nalBytes = nalBytes * 256 + frame[offset + i]!;
  }
  const nalEnd = offset + lengthSize + nalBytes;
  if (nalEnd > frame.length) {
    throw new CodecError(
      'length-prefixed sample',
      `NAL unit at offset ${offset} claims ${nalBytes} bytes but only ${frame.length - offset - lengthSize} remain`,
      { byteOffset: offset, nalBytes, byteLength: frame.length },
    );
  }
  return nalEnd;
};

/** Visits every NAL unit range of a length-prefixed sample. */
const walkLengthPrefixed = (
  frame: Uint8Array,
  lengthSize: NalLengthSize,
  visit: (begin: number, end: number) => void,
): void => {
  let offset = 0;
  while (offset < frame.length) {
    const nalEnd = nalEndAt(frame, offset, lengthSize);
    visit(offset + lengthSize, nalEnd);
    offset = nalEnd;
  }
};

const writeLength = (
  output: Uint8Array,
  offset: number,
  nalBytes: number,
  lengthSize: NalLengthSize,
): void => {
  if (nalBytes > MAX_NAL_BYTES_BY_LENGTH_SIZE[lengthSize]) {
    throw new CodecError(
      'NAL unit list',
      `a ${nalBytes}-byte NAL unit does not fit a ${lengthSize}-byte length`,
      {
        nalBytes,
        lengthSize,
      },
    );
  }
  let remaining = nalBytes;
  for (let i = lengthSize - 1; i >= 0; i--) {
    output[offset + i] = remaining & 0xff;
    remaining = Math.floor(remaining / 256);
  }
};

/** Two-digit lowercase hex, for error messages. */
const hexByte = (byte: number): string => byte.toString(16).padStart(2, '0');
