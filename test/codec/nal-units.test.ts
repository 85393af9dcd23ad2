import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { addEmulationPrevention, BitReader, removeEmulationPrevention } from '../../src/codec/bit-reader.js';
import { CodecError } from '../../src/codec/codec-errors.js';
import {
  annexBFromNalUnits,
  annexBToLengthPrefixed,
  isAnnexB,
  iterateNalUnits,
  lengthPrefixedToAnnexB,
  lengthPrefixNalUnits,
  someNalUnitHeader,
  splitAnnexB,
  type NalLengthSize,
} from '../../src/codec/nal-units.js';
import { concatBytes, hex, TestBitWriter } from './codec-test-helpers.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const hexList = (list: Iterable<Uint8Array>): string[] => [...list].map(hex);

describe('splitAnnexB', () => {
  it('splits on 3-byte start codes', () => {
    const stream = bytes(0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x65, 0x88, 0x84);
    expect(hexList(splitAnnexB(stream))).toEqual(['09f0', '6742', '658884']);
  });

  it('splits on 4-byte start codes and mixes of both', () => {
    const stream = bytes(0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88);
    expect(hexList(splitAnnexB(stream))).toEqual(['6742', '68ce', '6588']);
  });

  it('tolerates extra leading zeros before the first start code', () => {
    expect(hexList(splitAnnexB(bytes(0, 0, 0, 0, 0, 0, 1, 0x65, 0x88)))).toEqual(['6588']);
  });

  it('drops trailing_zero_8bits after a NAL unit and at the end of the stream', () => {
    const stream = bytes(0, 0, 1, 0x65, 0x88, 0, 0, 0, 0, 0, 0, 1, 0x41, 0x9a, 0, 0);
    expect(hexList(splitAnnexB(stream))).toEqual(['6588', '419a']);
  });

  it('drops empty NAL units between back-to-back start codes', () => {
    expect(hexList(splitAnnexB(bytes(0, 0, 1, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1)))).toEqual(['09f0']);
  });

  it('leaves emulation-prevention bytes in place (framing never changes payloads)', () => {
    expect(hexList(splitAnnexB(bytes(0, 0, 1, 0x65, 0, 0, 3, 1, 0x80)))).toEqual(['6500000301' + '80']);
  });

  it('returns views into the input, not copies', () => {
    const stream = bytes(0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x41, 0x9a);
    const [first, second] = splitAnnexB(stream);
    expect(first!.buffer).toBe(stream.buffer);
    expect(second!.byteOffset).toBe(8);
  });

  it('returns nothing for empty or all-zero input', () => {
    expect(splitAnnexB(new Uint8Array(0))).toEqual([]);
    expect(splitAnnexB(new Uint8Array(5))).toEqual([]);
  });

  it('rejects data before the first start code with a CodecError naming the byte', () => {
    expect(() => splitAnnexB(bytes(0x65, 0x88, 0, 0, 1, 0x41))).toThrow(CodecError);
    expect(() => splitAnnexB(bytes(0, 0x17, 0, 0, 1, 0x41))).toThrow(
      'Invalid Annex-B stream: no start code before byte 1 (0x17)',
    );
    expect(() => splitAnnexB(bytes(0, 0, 0, 0x01 + 1, 0x42))).toThrow(CodecError);
  });
});

describe('isAnnexB', () => {
  it('recognises 3- and 4-byte start codes and rejects avcC/hvcC records and raw NAL units', () => {
    expect(isAnnexB(bytes(0, 0, 1, 0x67))).toBe(true);
    expect(isAnnexB(bytes(0, 0, 0, 1, 0x67))).toBe(true);
    expect(isAnnexB(bytes(0, 0, 0, 0, 0, 1, 0x67))).toBe(true);
    expect(isAnnexB(bytes(1, 0x64, 0, 0x1f))).toBe(false);
    expect(isAnnexB(bytes(0, 1, 0x67))).toBe(false);
    expect(isAnnexB(bytes(0, 0, 0))).toBe(false);
    expect(isAnnexB(new Uint8Array(0))).toBe(false);
  });
});

describe('Annex-B → length-prefixed', () => {
  const stream = bytes(0, 0, 0, 1, 0x67, 0x42, 0xc0, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65, 0x88, 0x84, 0x00);

  it('writes 4-byte big-endian lengths by default', () => {
    expect(hex(annexBToLengthPrefixed(stream))).toBe('000000036742c0' + '0000000268ce' + '00000003658884');
  });

  it('writes 2- and 1-byte lengths on request', () => {
    expect(hex(annexBToLengthPrefixed(stream, 2))).toBe('00036742c0' + '000268ce' + '0003658884');
    expect(hex(annexBToLengthPrefixed(stream, 1))).toBe('036742c0' + '0268ce' + '03658884');
  });

  it('rejects a NAL unit too long for the length size', () => {
    const long = concatBytes([0, 0, 1], new Uint8Array(256).fill(0x41));
    expect(() => annexBToLengthPrefixed(long, 1)).toThrow(
      'Invalid NAL unit list: a 256-byte NAL unit does not fit a 1-byte length',
    );
    expect(annexBToLengthPrefixed(long, 2).length).toBe(258);
  });
});

describe('length-prefixed → Annex-B and NAL iteration', () => {
  const avcc = bytes(0, 0, 0, 2, 0x09, 0xf0, 0, 0, 0, 3, 0x65, 0x88, 0x84);

  it('writes 4-byte start codes', () => {
    expect(hex(lengthPrefixedToAnnexB(avcc))).toBe('0000000109f0' + '00000001658884');
    expect(hex(lengthPrefixedToAnnexB(bytes(2, 0x09, 0xf0, 1, 0x65), 1))).toBe('0000000109f0' + '0000000165');
  });

  it('iterates NAL units as views and skips zero-length entries', () => {
    const frame = bytes(0, 2, 0x09, 0xf0, 0, 0, 0, 1, 0x65);
    const nalUnits = [...iterateNalUnits(frame, 2)];
    expect(hexList(nalUnits)).toEqual(['09f0', '65']);
    expect(nalUnits[0]!.buffer).toBe(frame.buffer);
    expect(hex(lengthPrefixedToAnnexB(frame, 2))).toBe('0000000109f0' + '0000000165');
  });

  it('reports a truncated prefix or an overlong length as a CodecError, not a RangeError', () => {
    expect(() => [...iterateNalUnits(bytes(0, 0, 0, 9, 0x65, 0x88))]).toThrow(
      'Invalid length-prefixed sample: NAL unit at offset 0 claims 9 bytes but only 2 remain',
    );
    expect(() => [...iterateNalUnits(bytes(0, 0, 0, 1, 0x65, 0, 0))]).toThrow(
      'Invalid length-prefixed sample: 2 byte(s) left at offset 5, too few for a 4-byte NAL length',
    );
    expect(() => lengthPrefixedToAnnexB(bytes(0, 0, 0, 9, 0x65))).toThrow(CodecError);
    expect(() => someNalUnitHeader(bytes(0, 5, 0x65), 2, () => false)).toThrow(CodecError);
  });

  it('joins NAL units into either framing', () => {
    const nalUnits = [bytes(0x67, 0x42), bytes(0x65)];
    expect(hex(lengthPrefixNalUnits(nalUnits))).toBe('000000026742' + '0000000165');
    expect(hex(annexBFromNalUnits(nalUnits))).toBe('000000016742' + '0000000165');
    expect(() => lengthPrefixNalUnits([new Uint8Array(0)])).toThrow('Invalid NAL unit list: empty NAL unit');
  });
});

describe('emulation prevention', () => {
  it('removes the 0x03 of every 00 00 03, including one at the end', () => {
    const nal = bytes(0x67, 0, 0, 3, 1, 0, 0, 3, 0, 0, 0, 3);
    expect(hex(removeEmulationPrevention(nal))).toBe('670000010000000000');
  });

  it('keeps a 0x03 that does not follow two zeros, and restarts counting after a removed byte', () => {
    expect(hex(removeEmulationPrevention(bytes(0, 3, 0, 0, 3, 3, 0, 3)))).toBe('0003000003' + '0003');
  });

  it('returns the same array when there is nothing to remove or add', () => {
    const nal = bytes(0x67, 0x42, 0, 0x1f, 0, 0, 4);
    expect(removeEmulationPrevention(nal)).toBe(nal);
    expect(addEmulationPrevention(nal)).toBe(nal);
  });

  it('escapes every start-code prefix and a trailing cabac_zero_word', () => {
    expect(hex(addEmulationPrevention(bytes(0x65, 0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0)))).toBe(
      '65000003000003000100000302000003',
    );
  });

  it('round-trips any byte string, and escaped data never contains 00 00 0x (x ≤ 2)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (rbsp) => {
        const escaped = addEmulationPrevention(rbsp);
        expect(hex(removeEmulationPrevention(escaped))).toBe(hex(rbsp));
        expect(hex(escaped)).not.toMatch(/^(..)*0000(00|01|02)/);
      }),
    );
  });
});

describe('BitReader', () => {
  it('reads fixed-width fields across byte boundaries, up to 32 bits', () => {
    const reader = new BitReader(bytes(0b1010_1100, 0xff, 0xff, 0xff, 0xff), 'test');
    expect(reader.readBits(3)).toBe(0b101);
    expect(reader.readBits(5)).toBe(0b01100);
    expect(reader.readBits(32)).toBe(0xffffffff);
    expect(reader.bitsLeft).toBe(0);
  });

  it('reads exp-Golomb codes (ue and se)', () => {
    // 1 | 010 | 011 | 00100 → ue 0, 1, 2, 3; then se of codeNum 4 (00101), 1 (010), 2 (011) → -2, +1, -1
    const writer = new TestBitWriter().u(1, 1).u(3, 0b010).u(3, 0b011).u(5, 0b00100);
    writer.u(5, 0b00101).u(3, 0b010).u(3, 0b011);
    const reader = new BitReader(writer.toBytes(), 'test');
    expect([reader.readUe(), reader.readUe(), reader.readUe(), reader.readUe()]).toEqual([0, 1, 2, 3]);
    expect([reader.readSe(), reader.readSe(), reader.readSe()]).toEqual([-2, 1, -1]);
  });

  it('round-trips ue/se values written by the test writer', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(2 ** 31), fc.integer({ min: -(2 ** 30), max: 2 ** 30 }))),
        (pairs) => {
          const writer = new TestBitWriter();
          pairs.forEach(([ue, se]) => writer.ue(ue).se(se));
          const reader = new BitReader(writer.toBytes(), 'test');
          for (const [ue, se] of pairs) {
            expect(reader.readUe()).toBe(ue);
            expect(reader.readSe()).toBe(se);
          }
        },
      ),
    );
  });

  it('throws a CodecError naming the structure when reading past the end or on a 33-bit prefix', () => {
    const reader = new BitReader(bytes(0xff), 'H.264 SPS');
    reader.readBits(6);
    expect(() => reader.readBits(3)).toThrow(
      'Invalid H.264 SPS: truncated: needed 3 more bit(s) at bit 6 of 8',
    );
    expect(() => new BitReader(new Uint8Array(5), 'H.265 SPS').readUe()).toThrow(
      'Invalid H.265 SPS: exp-Golomb code longer than 32 bits',
    );
    expect(() => new BitReader(bytes(0), 'x').readUe()).toThrow(CodecError);
  });
});

/**
 * Random NAL units that could appear in a real stream: a non-zero header byte, an escaped payload, and a
 * last byte that is not zero (every RBSP ends with a stop bit).
 */
const nalUnitArbitrary = fc
  .tuple(
    fc.integer({ min: 1, max: 0x7f }),
    fc.uint8Array({ maxLength: 300 }),
    fc.integer({ min: 1, max: 255 }),
  )
  .map(([header, payload, last]) =>
    concatBytes([header], addEmulationPrevention(concatBytes(payload, [last]))),
  );

const startCodeArbitrary = fc.constantFrom([0, 0, 1], [0, 0, 0, 1]);

/** Byte-at-a-time reference splitter for differential testing of the skip-ahead scanner. */
const referenceSplitAnnexB = (stream: Uint8Array): string[] | 'error' => {
  const prefixStarts: number[] = [];
  for (let i = 0; i + 2 < stream.length;) {
    if (stream[i] === 0 && stream[i + 1] === 0 && stream[i + 2] === 1) {
      prefixStarts.push(i);
      i += 3;
    } else {
      i++;
    }
  }
  const firstStart = prefixStarts[0] ?? stream.length;
  if (stream.subarray(0, firstStart).some((byte) => byte !== 0)) {
    return 'error';
  }
  const nalUnits: string[] = [];
  prefixStarts.forEach((prefixStart, k) => {
    let end = prefixStarts[k + 1] ?? stream.length;
    while (end > prefixStart + 3 && stream[end - 1] === 0) {
      end--;
    }
    if (end > prefixStart + 3) {
      nalUnits.push(hex(stream.subarray(prefixStart + 3, end)));
    }
  });
  return nalUnits;
};

describe('splitAnnexB against a byte-at-a-time reference', () => {
  it('agrees on streams dense in 00, 01, 02 and 03 bytes (property)', () => {
    const denseBytes = fc
      .array(fc.constantFrom(0, 0, 0, 1, 1, 2, 3, 0x65, 0xff), { maxLength: 80 })
      .map((values) => Uint8Array.from(values));
    fc.assert(
      fc.property(fc.boolean(), denseBytes, (withStartCode, body) => {
        const stream = withStartCode ? concatBytes([0, 0, 1], body) : body;
        const expected = referenceSplitAnnexB(stream);
        if (expected === 'error') {
          expect(() => splitAnnexB(stream)).toThrow(CodecError);
        } else {
          expect(hexList(splitAnnexB(stream))).toEqual(expected);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('round trips over random NAL unit lists', () => {
  it('Annex-B (any start codes, leading and trailing zeros) → split gives back the NAL units', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(startCodeArbitrary, nalUnitArbitrary, fc.nat(3)), { maxLength: 12 }),
        fc.nat(4),
        (entries, leadingZeros) => {
          const parts: Uint8Array[] = [new Uint8Array(leadingZeros)];
          for (const [startCode, nalUnit, trailingZeros] of entries) {
            parts.push(Uint8Array.from(startCode), nalUnit, new Uint8Array(trailingZeros));
          }
          expect(hexList(splitAnnexB(concatBytes(...parts)))).toEqual(
            entries.map(([, nalUnit]) => hex(nalUnit)),
          );
        },
      ),
    );
  });

  it('Annex-B → length-prefixed → Annex-B → length-prefixed is stable for 1-, 2- and 4-byte lengths', () => {
    fc.assert(
      fc.property(
        fc.array(nalUnitArbitrary, { maxLength: 12 }),
        fc.constantFrom<NalLengthSize>(1, 2, 4),
        (nalUnits, lengthSize) => {
          const fits = nalUnits.filter((nalUnit) => nalUnit.length < 2 ** (8 * lengthSize));
          const annexB = annexBFromNalUnits(fits);
          const prefixed = annexBToLengthPrefixed(annexB, lengthSize);
          expect(hex(prefixed)).toBe(hex(lengthPrefixNalUnits(fits, lengthSize)));
          expect(hexList(iterateNalUnits(prefixed, lengthSize))).toEqual(fits.map(hex));
          const backToAnnexB = lengthPrefixedToAnnexB(prefixed, lengthSize);
          expect(hex(backToAnnexB)).toBe(hex(annexB));
          expect(hex(annexBToLengthPrefixed(backToAnnexB, lengthSize))).toBe(hex(prefixed));
        },
      ),
    );
  });
});
