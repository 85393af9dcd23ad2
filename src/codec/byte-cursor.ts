import { CodecError } from './codec-errors.js';

/**
 * Bounds-checked big-endian reader for decoder configuration records; every overrun becomes a CodecError
 * that names the field being read.
 */
export class ByteCursor {
  private readonly bytes: Uint8Array;
  private readonly structure: string;
  private offset = 0;

  /**
   * @param bytes - the record; views returned by {@link ByteCursor.view} point into it.
   * @param structure - what the bytes are (`avcC`), used in error messages.
   */
  public constructor(bytes: Uint8Array, structure: string) {
    this.bytes = bytes;
    this.structure = structure;
  }

  /** Bytes not yet read. */
  public get bytesLeft(): number {
    return this.bytes.length - this.offset;
  }

  /** Reads an unsigned byte; `fieldName` names it in the error when the record is truncated. */
  public u8(fieldName: string): number {
    this.require(1, fieldName);
    return this.bytes[this.offset++]!;
  }

  /** Reads a big-endian unsigned 16-bit field. */
  public u16(fieldName: string): number {
    this.require(2, fieldName);
    const value = (this.bytes[this.offset]! << 8) | this.bytes[this.offset + 1]!;
    this.offset += 2;
    return value;
  }

  /** Reads a big-endian unsigned 32-bit field. */
  public u32(fieldName: string): number {
    this.require(4, fieldName);
    const value = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.offset, 4).getUint32(0);
    this.offset += 4;
    return value;
  }

  /** Returns the next `byteLength` bytes as a view (no copy). */
  public view(byteLength: number, fieldName: string): Uint8Array {
    this.require(byteLength, fieldName);
    const view = this.bytes.subarray(this.offset, this.offset + byteLength);
    this.offset += byteLength;
    return view;
  }

  /** `count` entries of a 16-bit length followed by that many bytes. */
  public nalUnits(count: number, fieldName: string): Uint8Array[] {
    const nalUnits: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      nalUnits.push(this.view(this.u16(`${fieldName}Length[${i}]`), `${fieldName}[${i}]`));
    }
    return nalUnits;
  }

  private require(byteLength: number, fieldName: string): void {
    if (this.offset + byteLength > this.bytes.length) {
      throw new CodecError(
        this.structure,
        `truncated at ${fieldName}: needs ${byteLength} byte(s) at offset ${this.offset}, ${this.bytesLeft} left`,
        { byteOffset: this.offset, byteLength: this.bytes.length, field: fieldName },
      );
    }
  }
}
