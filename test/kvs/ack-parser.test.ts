import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AckParser, parseAck } from '../../src/kvs/ack-parser.js';
import { errorIdInfo } from '../../src/kvs/ack.js';

const WIRE = [
  '{"EventType":"BUFFERING","FragmentTimecode":252467,"FragmentNumber":"12345678901234567890123456781729223736853277017"}',
  '{"EventType":"RECEIVED","FragmentTimecode":252467,"FragmentNumber":"12345678901234567890123456781729223736853277017"}',
  '{"EventType":"PERSISTED","FragmentTimecode":1711124585823,"FragmentNumber":"91343852333181432392682062607743920146159169392"}',
  '{"FragmentNumber":"91343852333181571046918222741096071001568090649","EventType":"ERROR","FragmentTimecode":0,"ErrorCode":"FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS","ErrorId":4004}',
  '{"EventType":"IDLE"}',
].map((json) => `${json}\n`);
const BODY = new TextEncoder().encode(WIRE.join(''));

describe('AckParser', () => {
  it('parses the acks the service sends, keeping 47-digit fragment numbers exact', () => {
    const acks = new AckParser().push(BODY);
    expect(acks.map((a) => a.EventType)).toEqual(['BUFFERING', 'RECEIVED', 'PERSISTED', 'ERROR', 'IDLE']);
    expect(acks[2]!.FragmentNumber).toBe('91343852333181432392682062607743920146159169392');
    expect(acks[2]!.FragmentTimecode).toBe(1711124585823);
    expect(acks[3]).toMatchObject({
      ErrorId: 4004,
      ErrorCode: 'FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS',
      FragmentTimecode: 0,
    });
  });

  it('gives the same acks for any split of the bytes, including inside multi-byte characters', () => {
    const expected = new AckParser().push(BODY);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: BODY.length - 1 }), { maxLength: 40 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const parser = new AckParser();
        const acks = [];
        let start = 0;
        for (const point of [...points, BODY.length]) {
          acks.push(...parser.push(BODY.subarray(start, point)));
          start = point;
        }
        expect(acks).toEqual(expected);
      }),
    );
  });

  it('needs no newline between objects and has no size cap', () => {
    const long = `{"EventType":"IDLE","Padding":"${'x'.repeat(100_000)}"}{"EventType":"IDLE"}`;
    expect(new AckParser().push(long)).toHaveLength(2);
  });

  it('reports objects that are not acks, and ERROR without ErrorId, as invalid', () => {
    const invalid: string[] = [];
    const acks = new AckParser().push(
      '{"EventType":"ERROR"}\n{"message":"The security token included in the request is expired"}\n{"EventType":"IDLE"}\n',
      (text) => invalid.push(text),
    );
    expect(acks).toEqual([{ EventType: 'IDLE' }]);
    expect(invalid).toHaveLength(2);
    expect(parseAck('not json')).toBeUndefined();
    expect(parseAck('{"EventType":"SOMETHING"}')).toBeUndefined();
  });

  it('knows which ErrorIds are retried (PIC semantics)', () => {
    expect([4000, 4003, 5000, 5001].map((id) => errorIdInfo(id).isRetriable)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(
      [4001, 4002, 4004, 4006, 4007, 4009, 4010, 4011, 4012].some((id) => errorIdInfo(id).isRetriable),
    ).toBe(false);
    expect(errorIdInfo(9999)).toMatchObject({ code: 'UNKNOWN_ERROR_9999', isRetriable: true });
  });
});
