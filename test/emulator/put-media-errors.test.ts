// Every PutMedia ErrorId that real input can trigger, from MKV built with kvs-put's own writer: the ERROR ack
// (ErrorId, ErrorCode, FragmentTimecode and FragmentNumber where the service sends them), then the end of the
// answer; fragments completed before the error stay stored, the failing one is not.
import { afterEach, describe, expect, it } from 'vitest';
import type { LocalKvs, LocalKvsOptions } from '../../src/emulator/local-kvs.js';
import type { Ack } from '../../src/kvs/ack.js';
import { KVS_ERROR_IDS } from '../../src/kvs/ack.js';
import { concatChunks, writeCluster, writeKvsHeader, writeTags } from '../../src/mkv/mkv-writer.js';
import type { MkvTrack } from '../../src/mkv/mkv-types.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { startTestKvs } from './emulator-test-helpers.js';
import type { FragmentSpec } from './put-media-helpers.js';
import {
  AUDIO_TRACK,
  VIDEO_TRACK,
  acksPerFragment,
  buildSession,
  createStream,
  framesOf,
  openPutMedia,
  putMedia,
  storedFragments,
  writeBody,
} from './put-media-helpers.js';

const T = Date.now() - 3_600_000;

let kvs: LocalKvs | undefined;

afterEach(async () => {
  await kvs?.close();
  kvs = undefined;
});

const setUp = async (options: LocalKvsOptions = {}): Promise<LocalKvs> => {
  kvs = await startTestKvs(options);
  await createStream(kvs, 'errors');
  return kvs;
};

/** Uploads `body` and returns the acks; the answer must end after the ERROR. */
const upload = async (local: LocalKvs, body: Uint8Array, options: Parameters<typeof putMedia>[2] = {}) => {
  const result = await putMedia(local, body, { streamName: 'errors', ...options });
  expect(result.status).toBe(200);
  expect(result.isComplete).toBe(true);
  return result.acks;
};

/** The ERROR ack the service sends for `errorId`, with the fragment context given. */
const errorAck = (errorId: number, fragment?: { timecode: number; acks: readonly Ack[] }): Ack => {
  const ack: Ack = { EventType: 'ERROR' };
  if (fragment !== undefined) {
    ack.FragmentTimecode = fragment.timecode;
    const number = fragment.acks.find((a) => a.FragmentTimecode === fragment.timecode)?.FragmentNumber;
    if (number !== undefined) {
      ack.FragmentNumber = number;
    }
  }
  ack.ErrorCode = KVS_ERROR_IDS[errorId]!.code;
  ack.ErrorId = errorId;
  return ack;
};

const session = (fragments: FragmentSpec[], tracks?: MkvTrack[]): Uint8Array =>
  buildSession(fragments, tracks === undefined ? {} : { tracks }).body;

describe('PutMedia ERROR acks from real input', () => {
  it('4001 MAX_FRAGMENT_SIZE_REACHED: a fragment larger than the maximum (configured small here)', async () => {
    const local = await setUp({ maxFragmentBytes: 5000 });
    const acks = await upload(
      local,
      session([
        { timecode: T, frameBytes: 200 },
        { timecode: T + 400, frameBytes: 1000 },
      ]),
    );
    expect(acksPerFragment(acks, [T, T + 400])).toEqual([
      ['B', 'R', 'P'],
      ['B', 'E'],
    ]);
    expect(acks.at(-1)).toEqual(errorAck(4001, { timecode: T + 400, acks }));
    expect((await storedFragments(local, 'errors')).map((f) => f.timecode)).toEqual([T]);
  });

  it('4002 MAX_FRAGMENT_DURATION_REACHED: a 25 s Cluster', async () => {
    const local = await setUp();
    const acks = await upload(local, session([{ timecode: T, frameCount: 26, frameMs: 1000 }]));
    expect(acks).toEqual([acks[0], errorAck(4002, { timecode: T, acks })]);
    expect(acks[0]).toMatchObject({ EventType: 'BUFFERING', FragmentTimecode: T });
    expect(await storedFragments(local, 'errors')).toEqual([]);
  });

  it('4002 with a configured maximum: 20 s is allowed, more is not', async () => {
    const local = await setUp({ maxFragmentDurationMs: 1000 });
    const acks = await upload(
      local,
      session([
        { timecode: T, frameCount: 10, frameMs: 100 },
        { timecode: T + 1000, frameCount: 12, frameMs: 100 },
      ]),
    );
    expect(acksPerFragment(acks, [T, T + 1000])).toEqual([
      ['B', 'R', 'P'],
      ['B', 'E'],
    ]);
    expect(acks.at(-1)).toMatchObject({ ErrorId: 4002 });
  });

  it('4003 MAX_CONNECTION_DURATION_REACHED: a connection older than the maximum (shortened here)', async () => {
    const clock = new FakeClock(Date.now());
    const local = await setUp({ maxConnectionDurationMs: 300, clock });
    const call = await openPutMedia(local, { streamName: 'errors' });
    await call.response;
    let isClosed = false;
    void call.closed.then(() => {
      isClosed = true;
    });
    const body = session([{ timecode: T }, { timecode: T + 400 }]);
    // Fragment 2 stays open: its end never comes.
    await writeBody(call, body, { isLeftOpen: true });
    await call.waitFor((acks) => acks.some((ack) => ack.EventType === 'PERSISTED'));
    // 1 ms short of the maximum the connection is still open; at the maximum it gets its ERROR and ends.
    await clock.advance(299);
    expect(isClosed).toBe(false);
    await clock.advance(1);
    const closed = await call.closed;
    expect(closed.isComplete).toBe(true);
    expect(acksPerFragment(call.acks, [T, T + 400])).toEqual([
      ['B', 'R', 'P'],
      ['B', 'E'],
    ]);
    expect(call.acks.at(-1)).toEqual(errorAck(4003, { timecode: T + 400, acks: call.acks }));
    expect((await storedFragments(local, 'errors')).map((f) => f.timecode)).toEqual([T]);
    call.request.destroy();
  });

  it("4004 FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS: a fragment starting at or before the previous one's last frame", async () => {
    const local = await setUp();
    // Fragment 1's last frame is at T + 360; fragment 2 starts exactly there (equality is refused too).
    const acks = await upload(local, session([{ timecode: T }, { timecode: T + 360 }]));
    expect(acksPerFragment(acks, [T, T + 360])).toEqual([
      ['B', 'R', 'P'],
      ['B', 'E'],
    ]);
    expect(acks.at(-1)).toEqual(errorAck(4004, { timecode: T + 360, acks }));
    expect(acks.at(-1)!.FragmentNumber).toMatch(/^\d{47}$/);
  });

  it('4006 INVALID_MKV_DATA: not MKV at all, no fragment context', async () => {
    const local = await setUp();
    const acks = await upload(local, new TextEncoder().encode('{"this is": "json, not MKV"}'));
    expect(acks).toEqual([errorAck(4006)]);
  });

  it('4006: garbage inside a fragment loses that fragment', async () => {
    const local = await setUp();
    const good = session([{ timecode: T }, { timecode: T + 400 }]);
    const body = concatChunks([good, new Uint8Array([0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05])]);
    const acks = await upload(local, body);
    expect(acksPerFragment(acks, [T, T + 400])).toEqual([
      ['B', 'R', 'P'],
      ['B', 'E'],
    ]);
    expect(acks.at(-1)).toEqual(errorAck(4006, { timecode: T + 400, acks }));
    expect((await storedFragments(local, 'errors')).map((f) => f.timecode)).toEqual([T]);
  });

  it('4006: a second EBML header (a second Segment) in one session', async () => {
    const local = await setUp();
    const body = concatChunks([session([{ timecode: T }]), session([{ timecode: T + 400 }])]);
    const acks = await upload(local, body);
    expect(acksPerFragment(acks, [T, T + 400])).toEqual([['B', 'R', 'P'], []]);
    expect(acks.at(-1)).toEqual(errorAck(4006));
  });

  it('4006 in strict mode for a fragment that does not start with a key frame (stored as such otherwise)', async () => {
    const lax = await setUp();
    const body = session([{ timecode: T, isKeyStart: false }]);
    expect((await upload(lax, body)).map((ack) => ack.EventType)).toEqual([
      'BUFFERING',
      'RECEIVED',
      'PERSISTED',
    ]);
    expect((await storedFragments(lax, 'errors'))[0]!.startsWithKeyframe).toBe(false);
    await lax.close();
    const strict = await setUp({ strict: true });
    const acks = await upload(strict, body);
    expect(acks.at(-1)).toEqual(errorAck(4006, { timecode: T, acks }));
  });

  it('4007 INVALID_PRODUCER_TIMESTAMP: timestamps 1 h in the future (ABSOLUTE, and RELATIVE from a future start)', async () => {
    const local = await setUp();
    const future = Date.now() + 3_600_000;
    const acks = await upload(local, session([{ timecode: future }]));
    expect(acks).toEqual([{ ...errorAck(4007), FragmentTimecode: future }]);
    const relative = await upload(local, session([{ timecode: 0 }]), {
      timecodeType: 'RELATIVE',
      producerStartTimestamp: (future / 1000).toFixed(3),
    });
    expect(relative).toEqual([{ ...errorAck(4007), FragmentTimecode: 0 }]);
    // 5 minutes ahead is within the tolerance (10 min): accepted.
    const near = await upload(local, session([{ timecode: Date.now() + 300_000 }]));
    expect(near.map((ack) => ack.EventType)).toEqual(['BUFFERING', 'RECEIVED', 'PERSISTED']);
  });

  it('4009 FRAGMENT_METADATA_LIMIT_REACHED: 11 tags, a 129-byte name, a 257-byte value, a reserved AWS name', async () => {
    const local = await setUp();
    const tags = (count: number, name = (i: number): string => `TAG_${i}`, value = 'v') =>
      Array.from({ length: count }, (_, i) => ({ name: name(i), value }));
    const ten = await upload(local, session([{ timecode: T, tags: tags(10) }]));
    expect(ten.map((ack) => ack.EventType)).toEqual(['BUFFERING', 'RECEIVED', 'PERSISTED']);
    expect((await storedFragments(local, 'errors'))[0]!.tags).toHaveLength(10);
    for (const bad of [
      tags(11),
      tags(1, () => 'N'.repeat(129)),
      tags(1, () => 'NAME', 'v'.repeat(257)),
      tags(1, () => 'AWS_MY_OWN_TAG'),
      tags(1, () => 'AWS_KINESISVIDEO_FRAGMENT_NUMBER'),
    ]) {
      const acks = await upload(local, session([{ timecode: T + 10_000, tags: bad }]));
      expect(acks).toEqual([errorAck(4009)]);
    }
    // Tags following an open fragment are that fragment's: the ERROR names it.
    const body = concatChunks([session([{ timecode: T + 20_000 }]), writeTags(tags(11))]);
    const acks = await upload(local, body);
    expect(acks.at(-1)).toEqual(errorAck(4009, { timecode: T + 20_000, acks }));
  });

  it('4010 TRACK_NUMBER_MISMATCH: a block for a track Tracks does not declare', async () => {
    const local = await setUp();
    const acks = await upload(local, session([{ timecode: T, tracks: [1, 2] }]));
    expect(acks).toEqual([acks[0], errorAck(4010, { timecode: T, acks })]);
  });

  it('4011 FRAMES_MISSING_FOR_TRACK: a declared track without frames in a fragment', async () => {
    const local = await setUp();
    const acks = await upload(
      local,
      session(
        [
          { timecode: T, tracks: [1, 2] },
          { timecode: T + 400, tracks: [1] },
        ],
        [VIDEO_TRACK, AUDIO_TRACK],
      ),
    );
    expect(acksPerFragment(acks, [T, T + 400])).toEqual([
      ['B', 'R', 'P'],
      ['B', 'E'],
    ]);
    expect(acks.at(-1)).toEqual(errorAck(4011, { timecode: T + 400, acks }));
    const stored = await storedFragments(local, 'errors');
    expect(stored[0]!.framesPerTrack).toEqual({ '1': 10, '2': 10 });
  });

  it('4012 MORE_THAN_ALLOWED_TRACKS_FOUND: 4 tracks', async () => {
    const local = await setUp();
    const tracks = [1, 2, 3, 4].map((number) => ({ ...AUDIO_TRACK, number, uid: BigInt(number) }));
    const body = concatChunks([
      writeKvsHeader({ tracks }),
      ...writeCluster(T, framesOf({ timecode: T, tracks: [1, 2, 3, 4] }, 1)),
    ]);
    expect(await upload(local, body)).toEqual([errorAck(4012)]);
  });
});
