/**
 * EBML variable-length integers (RFC 8794 §4). The length of a vint is given by the position of the first
 * set bit of its first byte. Element IDs keep their marker bit; element sizes drop it. A size whose value
 * bits are all ones means "unknown size".
 */

/** Marker returned by {@link readVintSize} for the reserved all-ones value. */
export const UNKNOWN_SIZE = -1;

/** Not enough bytes to read the whole vint. */
export const NEED_MORE = -2;

/** The first byte is 0x00: not a valid vint start (length > 8). */
export const INVALID_VINT = -3;

/** Width in bytes of a vint given its first byte, or 0 when the byte is 0x00. */
export const vintWidth = (firstByte: number): number => (firstByte === 0 ? 0 : Math.clz32(firstByte) - 23);

/**
 * Reads an element ID (marker bit kept). Returns the ID and its width, or a negative status in `value`
 * ({@link NEED_MORE}, {@link INVALID_VINT}). IDs are at most 4 bytes (EBMLMaxIDLength 4).
 */
export const readElementId = (bytes: Uint8Array, offset: number): { value: number; width: number } => {
  if (offset >= bytes.length) {
    return { value: NEED_MORE, width: 0 };
  }
  const first = bytes[offset]!;
  const width = vintWidth(first);
  if (width === 0 || width > 4) {
    return { value: INVALID_VINT, width: 0 };
  }
  if (offset + width > bytes.length) {
    return { value: NEED_MORE, width };
  }
  let value = first;
  for (let i = 1; i < width; i++) {
    value = value * 256 + bytes[offset + i]!;
  }
  return { value, width };
};

/**
 * Reads an element data size (marker bit dropped). Returns {@link UNKNOWN_SIZE} for the reserved all-ones
 * value at any width, {@link NEED_MORE} or {@link INVALID_VINT} otherwise. Sizes above 2^53 are reported
 * as unknown-size-free `Number`s and rejected by callers as out of range.
 */
export const readVintSize = (bytes: Uint8Array, offset: number): { value: number; width: number } => {
  if (offset >= bytes.length) {
    return { value: NEED_MORE, width: 0 };
  }
  const first = bytes[offset]!;
  const width = vintWidth(first);
  if (width === 0) {
    return { value: INVALID_VINT, width: 0 };
  }
  if (offset + width > bytes.length) {
    return { value: NEED_MORE, width };
  }
  let value = first & (0xff >> width);
  let allOnes = value === 0xff >> width;
  for (let i = 1; i < width; i++) {
    const b = bytes[offset + i]!;
    allOnes &&= b === 0xff;
    value = value * 256 + b;
  }
  return { value: allOnes ? UNKNOWN_SIZE : value, width };
};

/** Smallest width (1–8) whose vint can hold `value` without being the reserved all-ones pattern. */
export const vintSizeWidth = (value: number): number => {
  let width = 1;
  // A width-w vint holds 7w value bits; all ones is reserved for "unknown".
  while (width < 8 && value >= 2 ** (7 * width) - 1) {
    width++;
  }
  return width;
};

/** Writes `value` as a size vint of exactly `width` bytes into `out` at `offset`; returns the new offset. */
export const writeVintSize = (out: Uint8Array, offset: number, value: number, width: number): number => {
  if (width < 1 || width > 8 || value < 0 || value >= 2 ** (7 * width) - 1) {
    throw new RangeError(`EBML size ${value} does not fit a ${width}-byte vint.`);
  }
  let rest = value;
  for (let i = width - 1; i > 0; i--) {
    out[offset + i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  out[offset] = rest | (0x80 >> (width - 1));
  return offset + width;
};

/** Writes the reserved "unknown size" vint of `width` bytes (0xFF for width 1, 0x01FFFFFFFFFFFFFF for 8). */
export const writeUnknownSize = (out: Uint8Array, offset: number, width = 1): number => {
  out[offset] = 0xff >> (width - 1);
  for (let i = 1; i < width; i++) {
    out[offset + i] = 0xff;
  }
  return offset + width;
};

/** Width in bytes of an element ID (its marker bit kept). */
export const elementIdWidth = (id: number): number =>
  id < 0x100 ? 1 : id < 0x10000 ? 2 : id < 0x1000000 ? 3 : 4;

/** Writes an element ID (marker bit kept) at `offset`; returns the new offset. */
export const writeElementId = (out: Uint8Array, offset: number, id: number): number => {
  const width = elementIdWidth(id);
  for (let i = width - 1; i >= 0; i--) {
    out[offset + i] = id & 0xff;
    id >>>= 8;
  }
  return offset + width;
};
