import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  INVALID_VINT,
  NEED_MORE,
  UNKNOWN_SIZE,
  readElementId,
  readVintSize,
  vintSizeWidth,
  vintWidth,
  writeUnknownSize,
  writeVintSize,
} from '../../src/mkv/ebml-vint.js';
import { HeaderStatus, createElementHeader, readElementHeader } from '../../src/mkv/ebml-reader.js';
import { EbmlId } from '../../src/mkv/ebml-ids.js';

const u8 = (...bytes: number[]): Uint8Array => new Uint8Array(bytes);

describe('vint sizes, byte literals (RFC 8794 §4)', () => {
  // One literal per width: the marker bit moves right by one per extra byte.
  const cases: [string, Uint8Array, number][] = [
    ['1 byte', u8(0x85), 5],
    ['2 bytes', u8(0x40, 0x85), 0x85],
    ['3 bytes', u8(0x20, 0x12, 0x34), 0x1234],
    ['4 bytes', u8(0x10, 0x12, 0x34, 0x56), 0x123456],
    ['5 bytes', u8(0x08, 0x12, 0x34, 0x56, 0x78), 0x12345678],
    ['6 bytes', u8(0x04, 0x01, 0x02, 0x03, 0x04, 0x05), 0x0102030405],
    ['7 bytes', u8(0x02, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05), 0x0102030405],
    ['8 bytes (KVS producers)', u8(0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xd2), 0x1d2],
  ];
  it.each(cases)('%s', (_name, bytes, value) => {
    expect(readVintSize(bytes, 0)).toEqual({ value, width: bytes.length });
    expect(vintWidth(bytes[0]!)).toBe(bytes.length);
  });

  it('reads the largest non-reserved value of each width', () => {
    expect(readVintSize(u8(0xfe), 0).value).toBe(126);
    expect(readVintSize(u8(0x7f, 0xfe), 0).value).toBe(2 ** 14 - 2);
    expect(readVintSize(u8(0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe), 0).value).toBe(2 ** 56 - 2);
  });

  it.each([
    ['1 byte', u8(0xff)],
    ['2 bytes', u8(0x7f, 0xff)],
    ['4 bytes', u8(0x1f, 0xff, 0xff, 0xff)],
    ['8 bytes', u8(0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)],
  ])('reads the reserved all-ones %s as unknown size', (_name, bytes) => {
    expect(readVintSize(bytes, 0)).toEqual({ value: UNKNOWN_SIZE, width: bytes.length });
  });

  it('does not mistake a value with some ones for unknown', () => {
    expect(readVintSize(u8(0x7f, 0xfe), 0).value).not.toBe(UNKNOWN_SIZE);
    expect(readVintSize(u8(0x40, 0xff), 0).value).toBe(0xff);
  });

  it('reports NEED_MORE and INVALID_VINT', () => {
    expect(readVintSize(u8(0x40), 0).value).toBe(NEED_MORE);
    expect(readVintSize(u8(), 0).value).toBe(NEED_MORE);
    expect(readVintSize(u8(0x00, 0x01), 0).value).toBe(INVALID_VINT);
  });

  it('writes unknown sizes at widths 1 and 8', () => {
    const one = new Uint8Array(1);
    writeUnknownSize(one, 0, 1);
    expect([...one]).toEqual([0xff]);
    const eight = new Uint8Array(8);
    writeUnknownSize(eight, 0, 8);
    expect([...eight]).toEqual([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  });

  it('round-trips every width (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (width, fraction) => {
          const max = 2 ** (7 * width) - 2;
          const value = Math.min(Number.MAX_SAFE_INTEGER, Math.floor(fraction * max));
          const out = new Uint8Array(8);
          expect(writeVintSize(out, 0, value, width)).toBe(width);
          expect(readVintSize(out.subarray(0, width), 0)).toEqual({ value, width });
          expect(vintSizeWidth(value)).toBeLessThanOrEqual(width);
        },
      ),
    );
  });
});

describe('element IDs and headers, byte literals', () => {
  it('reads IDs of 1 to 4 bytes with their marker bit', () => {
    expect(readElementId(u8(0xa3), 0)).toEqual({ value: EbmlId.SimpleBlock, width: 1 });
    expect(readElementId(u8(0x42, 0x86), 0)).toEqual({ value: EbmlId.EbmlVersion, width: 2 });
    expect(readElementId(u8(0x2a, 0xd7, 0xb1), 0)).toEqual({ value: EbmlId.TimecodeScale, width: 3 });
    expect(readElementId(u8(0x1f, 0x43, 0xb6, 0x75), 0)).toEqual({ value: EbmlId.Cluster, width: 4 });
    expect(readElementId(u8(0x08, 0, 0, 0, 0), 0).value).toBe(INVALID_VINT);
  });

  it('reads a Segment header of unknown size (1-byte 0xFF)', () => {
    const header = createElementHeader();
    const bytes = u8(0x18, 0x53, 0x80, 0x67, 0xff);
    expect(readElementHeader(bytes, 0, bytes.length, header)).toBe(HeaderStatus.Ok);
    expect(header).toEqual({ id: EbmlId.Segment, size: UNKNOWN_SIZE, headerBytes: 5 });
  });

  it('reads a Cluster header of unknown size written with 8 bytes', () => {
    const header = createElementHeader();
    const bytes = u8(0x1f, 0x43, 0xb6, 0x75, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    expect(readElementHeader(bytes, 0, bytes.length, header)).toBe(HeaderStatus.Ok);
    expect(header).toEqual({ id: EbmlId.Cluster, size: UNKNOWN_SIZE, headerBytes: 12 });
  });

  it('reads a SimpleBlock header with an 8-byte size, as the C producer writes it', () => {
    const header = createElementHeader();
    const bytes = u8(0xa3, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0xd2, 0x61);
    expect(readElementHeader(bytes, 0, bytes.length, header)).toBe(HeaderStatus.Ok);
    expect(header).toEqual({ id: EbmlId.SimpleBlock, size: 0x1d261, headerBytes: 9 });
  });

  it('asks for more bytes at every cut inside a header', () => {
    const header = createElementHeader();
    const bytes = u8(0x1f, 0x43, 0xb6, 0x75, 0x01, 0, 0, 0, 0, 0, 0, 0x10);
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(readElementHeader(bytes, 0, cut, header)).toBe(HeaderStatus.NeedMore);
    }
    expect(readElementHeader(bytes, 0, bytes.length, header)).toBe(HeaderStatus.Ok);
    expect(header.size).toBe(16);
  });

  it('rejects IDs longer than 4 bytes and sizes longer than 8 bytes', () => {
    const header = createElementHeader();
    expect(readElementHeader(u8(0x08, 1, 2, 3, 4, 0x81), 0, 6, header)).toBe(HeaderStatus.InvalidId);
    expect(readElementHeader(u8(0x00), 0, 1, header)).toBe(HeaderStatus.InvalidId);
    expect(readElementHeader(u8(0xa3, 0x00, 1), 0, 3, header)).toBe(HeaderStatus.InvalidSize);
    expect(header.id).toBe(EbmlId.SimpleBlock);
  });
});
