import { CodecError } from './codec-errors.js';

/**
 * Most-significant-bit-first reader over an RBSP (emulation-prevention bytes already removed), with the
 * exp-Golomb codes of H.264/H.265 (ITU-T H.264 §9.1). Reading past the end throws a {@link CodecError}
 * naming `structure`, so a truncated parameter set is reported as such rather than as NaN dimensions.
 */
export class BitReader {
  private readonly bytes: Uint8Array;
  private readonly structure: string;
  private bitOffset = 0;

  /**
   * @param bytes - the data to read; it is not copied.
   * @param structure - what the bytes are (`H.264 SPS`), used in error messages.
   */
  public constructor(bytes: Uint8Array, structure: string) {
    this.bytes = bytes;
    this.structure = structure;
  }

  /** Position of the next bit, counted from the first bit of `bytes`. */
  public get bitPosition(): number {
    return this.bitOffset;
  }

  /** Number of bits not yet read. */
  public get bitsLeft(): number {
    return this.bytes.length * 8 - this.bitOffset;
  }

  /** Reads one bit. */
  public readBit(): number {
    this.require(1);
    const byte = this.bytes[this.bitOffset >>> 3]!;
    const bit = (byte >>> (7 - (this.bitOffset & 7))) & 1;
    this.bitOffset++;
    return bit;
  }

  /** Reads one bit as a flag. */
  public readFlag(): boolean {
    return this.readBit() === 1;
  }

  /** Reads an unsigned `bitCount`-bit number, `bitCount` in 0..32 (u(n) in the specs). */
  public readBits(bitCount: number): number {
    if (bitCount < 0 || bitCount > 32) {
      throw new RangeError(`bitCount must be in 0..32, got ${bitCount}`);
    }
    this.require(bitCount);
    let value = 0;
    for (let i = 0; i < bitCount; i++) {
      const byte = this.bytes[this.bitOffset >>> 3]!;
      // Multiply instead of shifting: a 32-bit value would turn negative with `<<`.
      value = value * 2 + ((byte >>> (7 - (this.bitOffset & 7))) & 1);
      this.bitOffset++;
    }
    return value;
  }

  /** Skips `bitCount` bits. */
  public skipBits(bitCount: number): void {
    this.require(bitCount);
    this.bitOffset += bitCount;
  }

  /** Reads an unsigned exp-Golomb code (ue(v)). Codes longer than 32 bits of prefix are rejected. */
  public readUe(): number {
    let leadingZeroBits = 0;
    while (this.readBit() === 0) {
      leadingZeroBits++;
      // ue(v) values in H.264/H.265 fit in 32 bits; a longer prefix means the data is garbage (or zeros).
      if (leadingZeroBits > 31) {
        throw new CodecError(this.structure, `exp-Golomb code longer than 32 bits at bit ${this.bitOffset}`, {
          bitOffset: this.bitOffset,
        });
      }
    }
    return 2 ** leadingZeroBits - 1 + this.readBits(leadingZeroBits);
  }

  /** Reads a signed exp-Golomb code (se(v)): 1, -1, 2, -2, ... for codes 1, 2, 3, 4, .... */
  public readSe(): number {
    const code = this.readUe();
    // `0 - x` rather than `-x`: code 0 must give +0, not -0.
    return code % 2 === 1 ? (code + 1) / 2 : 0 - code / 2;
  }

  /** Reads ue(v) and checks it against an inclusive upper bound from the spec. */
  public readUeMax(fieldName: string, maxValue: number): number {
    const value = this.readUe();
    if (value > maxValue) {
      throw new CodecError(this.structure, `${fieldName} is ${value}, the maximum is ${maxValue}`, {
        field: fieldName,
        value,
      });
    }
    return value;
  }

  private require(bitCount: number): void {
    if (this.bitOffset + bitCount > this.bytes.length * 8) {
      throw new CodecError(
        this.structure,
        `truncated: needed ${bitCount} more bit(s) at bit ${this.bitOffset} of ${this.bytes.length * 8}`,
        { bitOffset: this.bitOffset, byteLength: this.bytes.length },
      );
    }
  }
}

/**
 * Removes emulation-prevention bytes (the 0x03 in `00 00 03`, ITU-T H.264 §7.4.1) to turn a NAL unit into
 * its RBSP. Returns `nalUnit` itself, without copying, when it contains none: most parameter sets do not.
 */
export const removeEmulationPrevention = (nalUnit: Uint8Array): Uint8Array => {
  const firstIndex = findEmulationPreventionByte(nalUnit, 0);
  if (firstIndex === -1) {
    return nalUnit;
  }
  const rbsp = new Uint8Array(nalUnit.length - 1);
  rbsp.set(nalUnit.subarray(0, firstIndex), 0);
  let outIndex = firstIndex;
  let zeroCount = 0;
  for (let i = firstIndex + 1; i < nalUnit.length; i++) {
    const byte = nalUnit[i]!;
    if (zeroCount >= 2 && byte === 3) {
      zeroCount = 0;
      continue;
    }
    rbsp[outIndex++] = byte;
    zeroCount = byte === 0 ? zeroCount + 1 : 0;
  }
  return rbsp.subarray(0, outIndex);
};

/**
 * Inserts emulation-prevention bytes so that an RBSP contains no start-code prefix (`00 00 0x`, x ≤ 3) and
 * does not end in `00 00` (a cabac_zero_word, ITU-T H.264 §7.4.1). The inverse of {@link removeEmulationPrevention}; returns
 * `rbsp` itself when nothing needs escaping.
 */
export const addEmulationPrevention = (rbsp: Uint8Array): Uint8Array => {
  let insertCount = 0;
  let zeroCount = 0;
  for (let i = 0; i < rbsp.length; i++) {
    const byte = rbsp[i]!;
    if (zeroCount >= 2 && byte <= 3) {
      insertCount++;
      zeroCount = 0;
    }
    zeroCount = byte === 0 ? zeroCount + 1 : 0;
  }
  // A trailing 00 00 must be protected too: the next start code would otherwise swallow it.
  const needsTrailingByte = zeroCount >= 2;
  if (insertCount === 0 && !needsTrailingByte) {
    return rbsp;
  }
  const nalUnit = new Uint8Array(rbsp.length + insertCount + (needsTrailingByte ? 1 : 0));
  let outIndex = 0;
  zeroCount = 0;
  for (let i = 0; i < rbsp.length; i++) {
    const byte = rbsp[i]!;
    if (zeroCount >= 2 && byte <= 3) {
      nalUnit[outIndex++] = 3;
      zeroCount = 0;
    }
    nalUnit[outIndex++] = byte;
    zeroCount = byte === 0 ? zeroCount + 1 : 0;
  }
  if (needsTrailingByte) {
    nalUnit[outIndex++] = 3;
  }
  return nalUnit;
};

const findEmulationPreventionByte = (bytes: Uint8Array, fromIndex: number): number => {
  let zeroCount = 0;
  for (let i = fromIndex; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (zeroCount >= 2 && byte === 3) {
      return i;
    }
    zeroCount = byte === 0 ? zeroCount + 1 : 0;
  }
  return -1;
};
