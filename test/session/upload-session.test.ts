/**
 * The connection loop against the local KVS on real sockets, with every time decision on a FakeClock:
 * staleness, rotation (by age and by expiring credentials), backoff and its reset, giving up, the final-ack
 * wait, the stop timeout and pacing. Real time is only waited on for the sockets, never measured.
 */
import { describe, expect, it } from 'vitest';
import { LOCAL_KVS_CREDENTIALS } from '../../src/emulator/local-kvs.js';
import { ErrorCode, KvsPutError } from '../../src/errors.js';
import { sessionHeader } from '../../src/fragment/fragmenter.js';
import { MkvReader } from '../../src/mkv/mkv-reader.js';
import { concatChunks, kvsVideoTrack } from '../../src/mkv/mkv-writer.js';
import { UploadSession } from '../../src/session/upload-session.js';
import { VIDEO_TRACK } from '../emulator/put-media-helpers.js';
import {
  FRAGMENT_MS,
  START_MS,
  advanceThroughBackoff,
  eventsOf,
  hasAck,
  makeFragment,
  startHarness,
  storedCount,
  until,
} from './session-test-helpers.js';
import type { Harness } from './session-test-helpers.js';

const REFUSE_500 = { refuse: { type: 'InternalFailure', statusCode: 500 } };

const connectsOf = (h: Harness) =>
  eventsOf(h.events, 'connect').map(({ connection, resumeSequence }) => ({ connection, resumeSequence }));

const retryDelaysOf = (h: Harness) =>
  eventsOf(h.events, 'retry').map(({ attempt, delayMs }) => ({ attempt, delayMs }));

/** Waits out retry `index` (already emitted): no new attempt 1 ms before its delay, one right at it. */
const expectNextAttemptAfter = async (h: Harness, index: number): Promise<void> => {
  await until(() => eventsOf(h.events, 'retry').length > index);
  const { delayMs } = eventsOf(h.events, 'retry')[index]!;
  const attempts = h.credentialCalls();
  await h.clock.advance(delayMs - 1);
  expect(h.credentialCalls()).toBe(attempts);
  await h.clock.advance(1);
  await until(() => h.credentialCalls() === attempts + 1);
};

describe('UploadSession: staleness', () => {
  it('no ack for stalenessMs while a fragment is in flight: a stale event and a reconnect, not before', async () => {
    await using h = await startHarness({
      faults: { putMedia: [{ withholdAcks: { fromFragment: 2 }, times: 1 }] },
      options: { stalenessMs: 5000 },
    });
    h.source.push(makeFragment(0), makeFragment(1));
    // Fragment 1 goes out but is never acknowledged on the first connection.
    await until(() => hasAck(h.events, 0) && h.sent.includes(1));
    await h.clock.advance(5000);
    expect(eventsOf(h.events, 'stale')).toEqual([]);
    expect(eventsOf(h.events, 'retry')).toEqual([]);
    await h.clock.advance(1000);
    expect(eventsOf(h.events, 'stale')).toEqual([{ type: 'stale', connection: 1, silentMs: 6000 }]);
    await until(() => eventsOf(h.events, 'retry').length === 1);
    // The connection had made progress (fragment 0's acks): the backoff starts over.
    expect(eventsOf(h.events, 'retry')[0]).toMatchObject({ attempt: 1, delayMs: 1000 });
    expect(eventsOf(h.events, 'retry')[0]!.reason).toMatch(/stale/);
    await advanceThroughBackoff(h, () => connectsOf(h).length === 2, 0);
    expect(connectsOf(h)[1]).toEqual({ connection: 2, resumeSequence: 1 });
    h.source.push(makeFragment(2));
    h.source.end();
    await advanceThroughBackoff(h, h.isDone);
    const summary = await h.run;
    expect(summary).toMatchObject({ fragments: 3, persisted: 3, unacknowledged: 0 });
    expect(summary.stats.map((stats) => stats.retries)).toEqual([0, 1, 0]);
    expect(h.clock.pendingTimers).toBe(0);
  });
});

describe('UploadSession: rotation', () => {
  it('after rotateAfterMs: a rotate event, make-before-break, and nothing PERSISTED is sent again', async () => {
    await using h = await startHarness({
      // The first connection's acks come late, so it still drains them when the next one opens.
      faults: { putMedia: [{ ackDelayMs: 400, times: 1 }] },
      options: { rotateAfterMs: 10_000, stalenessMs: 60_000 },
    });
    h.source.push(makeFragment(0));
    await until(() => h.sent.includes(0));
    await h.clock.advance(9_999);
    h.source.push(makeFragment(1));
    await until(() => h.sent.includes(1));
    expect(eventsOf(h.events, 'rotate')).toEqual([]);
    await h.clock.advance(1);
    h.source.push(makeFragment(2));
    h.source.end();
    await advanceThroughBackoff(h, h.isDone);
    const summary = await h.run;
    expect(eventsOf(h.events, 'rotate')).toEqual([
      { type: 'rotate', connection: 1, reason: 'connection age or credential expiry' },
    ]);
    expect(connectsOf(h)).toEqual([
      { connection: 1, resumeSequence: 0 },
      { connection: 2, resumeSequence: 2 },
    ]);
    // Make before break: the second connection was open before the first had fragment 1's PERSISTED ack.
    const connected = h.events.findIndex((event) => event.type === 'connect' && event.connection === 2);
    const persisted = h.events.findIndex(
      (event) =>
        event.type === 'ack' &&
        event.connection === 1 &&
        event.sequence === 1 &&
        event.ack.EventType === 'PERSISTED',
    );
    expect(connected).toBeGreaterThan(0);
    expect(persisted).toBeGreaterThan(connected);
    // The first connection ended its body properly: its last fragment got its end marker.
    expect(h.writes.filter((write) => write.isEndMarker).map((write) => write.connection)).toEqual([1, 2]);
    expect(summary).toMatchObject({ fragments: 3, persisted: 3, retries: 0, connections: 2 });
    expect(summary.stats.map((stats) => stats.retries)).toEqual([0, 0, 0]);
    expect(await storedCount(h)).toBe(3);
    expect(h.clock.pendingTimers).toBe(0);
  });

  it('credentials about to expire: rotates credentialsRefreshMarginMs before, with fresh credentials', async () => {
    await using h = await startHarness({
      credentials: (clock) => () =>
        Promise.resolve({ ...LOCAL_KVS_CREDENTIALS, expiration: new Date(clock.now() + 120_000) }),
      options: { credentialsRefreshMarginMs: 60_000 },
    });
    h.source.push(makeFragment(0));
    // Acknowledged as arriving (BUFFERING), so that the clock can move without the connection going stale.
    await until(() => hasAck(h.events, 0, 'BUFFERING'));
    await h.clock.advance(59_999);
    h.source.push(makeFragment(1));
    await until(() => hasAck(h.events, 0) && hasAck(h.events, 1, 'BUFFERING'));
    expect(eventsOf(h.events, 'rotate')).toEqual([]);
    await h.clock.advance(1);
    h.source.push(makeFragment(2));
    h.source.end();
    await advanceThroughBackoff(h, h.isDone);
    const summary = await h.run;
    expect(eventsOf(h.events, 'rotate')).toHaveLength(1);
    expect(connectsOf(h)).toEqual([
      { connection: 1, resumeSequence: 0 },
      { connection: 2, resumeSequence: 2 },
    ]);
    expect(h.credentialCalls()).toBe(2);
    expect(summary).toMatchObject({ fragments: 3, persisted: 3, retries: 0 });
  });
});

describe('UploadSession: backoff', () => {
  it('doubles the delay after each failed connection, waiting it on the clock', async () => {
    await using h = await startHarness({ faults: { putMedia: [{ ...REFUSE_500, times: 3 }] } });
    h.source.push(makeFragment(0), makeFragment(1));
    h.source.end();
    for (let index = 0; index < 3; index++) {
      await expectNextAttemptAfter(h, index);
    }
    const summary = await h.run;
    expect(retryDelaysOf(h)).toEqual([
      { attempt: 1, delayMs: 1000 },
      { attempt: 2, delayMs: 2000 },
      { attempt: 3, delayMs: 4000 },
    ]);
    expect(summary).toMatchObject({ persisted: 2, connections: 4, retries: 3 });
    expect(h.clock.pendingTimers).toBe(0);
  });

  it('starts over after a connection that made progress (acks) before it failed', async () => {
    await using h = await startHarness({
      faults: {
        putMedia: [
          { ...REFUSE_500, times: 2 },
          { resetAfterFragment: 1, skipConnections: 2 },
        ],
      },
    });
    h.source.push(makeFragment(0), makeFragment(1), makeFragment(2));
    h.source.end();
    for (let index = 0; index < 3; index++) {
      await expectNextAttemptAfter(h, index);
    }
    const summary = await h.run;
    expect(retryDelaysOf(h)).toEqual([
      { attempt: 1, delayMs: 1000 },
      { attempt: 2, delayMs: 2000 },
      { attempt: 1, delayMs: 1000 },
    ]);
    expect(summary).toMatchObject({ persisted: 3, retries: 3 });
  });

  it('starts over after a connection that lived resetAfterMs, even without an ack', async () => {
    await using h = await startHarness({
      faults: {
        putMedia: [
          { ...REFUSE_500, times: 2 },
          { withholdAcks: {}, skipConnections: 2 },
        ],
      },
      options: {
        backoff: { initialDelayMs: 1000, maxDelayMs: 16_000, resetAfterMs: 5000 },
        stalenessMs: 8000,
      },
    });
    h.source.push(makeFragment(0), makeFragment(1));
    await expectNextAttemptAfter(h, 0);
    await expectNextAttemptAfter(h, 1);
    // The third connection takes both, acknowledges nothing, and is found stale 9 s later.
    await until(() => h.sent.includes(1));
    await h.clock.advance(9000);
    expect(eventsOf(h.events, 'stale')).toHaveLength(1);
    await until(() => eventsOf(h.events, 'retry').length === 3);
    expect(retryDelaysOf(h)).toEqual([
      { attempt: 1, delayMs: 1000 },
      { attempt: 2, delayMs: 2000 },
      { attempt: 1, delayMs: 1000 },
    ]);
    h.source.end();
    await advanceThroughBackoff(h, h.isDone, 2);
    expect(await h.run).toMatchObject({ persisted: 2, unacknowledged: 0 });
  });

  it('gives up after maxAttempts failed connections in a row: KvsPutError KVS_UPLOAD', async () => {
    await using h = await startHarness({
      faults: { putMedia: [{ ...REFUSE_500, times: 'always' }] },
      options: { maxAttempts: 2 },
    });
    h.source.push(makeFragment(0));
    h.source.end();
    await expectNextAttemptAfter(h, 0);
    await expectNextAttemptAfter(h, 1);
    const error = await h.run.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(KvsPutError);
    expect(error).toMatchObject({ code: ErrorCode.Upload });
    expect((error as Error).message).toMatch(/^upload failed after 3 failed connection attempts: .*500/);
    expect(retryDelaysOf(h)).toHaveLength(2);
    expect(h.clock.pendingTimers).toBe(0);
  });
});

describe('UploadSession: the end of a session', () => {
  it('the final-ack wait ends after finalAckTimeoutMs on the clock; the unacknowledged go out again', async () => {
    await using h = await startHarness({
      // Late acks keep the first answer open past the end of its body.
      faults: { putMedia: [{ ackDelayMs: 1000, times: 1 }] },
      options: { finalAckTimeoutMs: 5000, stalenessMs: 60_000 },
    });
    h.source.push(makeFragment(0), makeFragment(1));
    h.source.end();
    await until(() => h.writes.some((write) => write.isEndMarker));
    await h.clock.advance(4999);
    expect(eventsOf(h.events, 'retry')).toEqual([]);
    await h.clock.advance(1);
    await until(() => eventsOf(h.events, 'retry').length === 1);
    expect(eventsOf(h.events, 'retry')[0]!.reason).toMatch(/not acknowledged before the connection ended/);
    await advanceThroughBackoff(h, h.isDone, 0);
    const summary = await h.run;
    expect(summary).toMatchObject({ fragments: 2, persisted: 2, unacknowledged: 0 });
    expect(summary.connections).toBeGreaterThanOrEqual(2);
    expect(h.clock.pendingTimers).toBe(0);
  });

  it('on abort, the wait for the acks of what was sent is bounded by stopTimeoutMs', async () => {
    const controller = new AbortController();
    await using h = await startHarness({
      faults: { putMedia: [{ ackDelayMs: 2000, times: 1 }] },
      options: { signal: controller.signal, stopTimeoutMs: 2000, finalAckTimeoutMs: 30_000 },
    });
    h.source.push(makeFragment(0), makeFragment(1));
    await until(() => h.sent.includes(1));
    // A live capture ends on the same signal.
    controller.abort();
    h.source.end();
    await until(() => h.writes.some((write) => write.isEndMarker));
    await h.clock.advance(1999);
    expect(h.isDone()).toBe(false);
    await h.clock.advance(1);
    await until(h.isDone);
    const summary = await h.run;
    expect(summary).toMatchObject({ isInterrupted: true, connections: 1, retries: 0 });
    expect(summary.unacknowledged).toBeGreaterThan(0);
    expect(h.clock.pendingTimers).toBe(0);
  });
});

describe('UploadSession: pacing', () => {
  it('maxFragmentsPerSecond spaces fragment starts on the clock', async () => {
    await using h = await startHarness({ options: { maxFragmentsPerSecond: 2 } });
    h.source.push(makeFragment(0), makeFragment(1), makeFragment(2));
    h.source.end();
    await until(() => h.writes.length === 1);
    await h.clock.advance(499);
    expect(h.writes).toHaveLength(1);
    await h.clock.advance(1);
    expect(h.writes).toHaveLength(2);
    await h.clock.advance(500);
    await until(h.isDone);
    const summary = await h.run;
    const startMs = summary.stats[0]!.sentAtMs!;
    expect(summary.stats.map((stats) => stats.sentAtMs! - startMs)).toEqual([0, 500, 1000]);
    expect(summary.persisted).toBe(3);
  });

  it('maxBytesPerSecond: a burst goes out at once, then fragments wait for the byte rate on the clock', async () => {
    const fragments = [0, 1, 2, 3].map((sequence) => makeFragment(sequence));
    const bytesPerFragment = fragments[0]!.byteLength;
    await using h = await startHarness({ options: { maxBytesPerSecond: bytesPerFragment } });
    h.source.push(...fragments);
    h.source.end();
    await until(() => h.clock.pendingTimers === 2);
    await h.clock.advance(1000);
    await until(() => h.clock.pendingTimers === 2);
    await h.clock.advance(1000);
    await until(h.isDone);
    const summary = await h.run;
    const startMs = summary.stats[0]!.sentAtMs!;
    // One second of bytes ahead of the byte clock, no more: two at once, then one a second.
    expect(summary.stats.map((stats) => stats.sentAtMs! - startMs)).toEqual([0, 0, 1000, 2000]);
  });
});

describe('UploadSession: session headers', () => {
  /** The harness's tracks with another video size: the same codec, another session header. */
  const SMALLER = sessionHeader([
    kvsVideoTrack({ codecPrivate: VIDEO_TRACK.codecPrivate!, widthPx: 640, heightPx: 360 }),
  ]);

  /**
   * Each connection's body as it went out: the video size of each session header in it, and the sequence of
   * each cluster (from its timecode), in order.
   */
  const bodiesOf = (h: Harness): Record<number, (string | number)[]> => {
    const out: Record<number, (string | number)[]> = {};
    for (const [connection, chunks] of h.bodies) {
      const reader = new MkvReader();
      out[connection] = [...reader.push(concatChunks(chunks)), ...reader.end()].flatMap(
        (event): (string | number)[] => {
          if (event.type === 'header') {
            const video = event.header.tracks[0]!.video!;
            return [`${video.widthPx}x${video.heightPx}`];
          }
          return event.type === 'cluster' ? [(event.timecode - START_MS) / FRAGMENT_MS] : [];
        },
      );
    }
    return out;
  };

  it('a tracks change mid-stream: the next fragment goes on a new connection that starts with the new header', async () => {
    await using h = await startHarness();
    h.source.push(makeFragment(0), makeFragment(1), SMALLER, makeFragment(2), makeFragment(3));
    h.source.end();
    await advanceThroughBackoff(h, h.isDone);
    const summary = await h.run;
    expect(summary).toMatchObject({ fragments: 4, persisted: 4, retries: 0, connections: 2 });
    // One Segment per PutMedia body: the first body ends before the fragment under the new header.
    expect(bodiesOf(h)).toEqual({ 1: ['640x480', 0, 1], 2: ['640x360', 2, 3] });
    expect(h.writes.filter((write) => write.isEndMarker).map((write) => write.connection)).toEqual([1, 2]);
    expect(await storedCount(h)).toBe(4);
  });

  it('a reconnect after a tracks change replays each fragment under the header it was yielded under', async () => {
    await using h = await startHarness({
      // The first connection breaks once fragment 0 is acknowledged: fragment 1 went out unacknowledged.
      faults: { putMedia: [{ resetAfterFragment: 1, times: 1 }] },
    });
    h.source.push(makeFragment(0), makeFragment(1), SMALLER, makeFragment(2));
    h.source.end();
    await advanceThroughBackoff(h, h.isDone);
    const summary = await h.run;
    expect(summary).toMatchObject({ fragments: 3, persisted: 3, unacknowledged: 0 });
    const bodies = Object.values(bodiesOf(h));
    // Whichever connection replays fragment 1, it begins with fragment 1's header, not with the newer one
    // the source moved on to; fragment 2 goes out under its own.
    const withFragment1 = bodies.filter((body) => body.includes(1));
    expect(withFragment1).toHaveLength(2);
    expect(withFragment1[1]!.slice(0, 2)).toEqual(['640x480', 1]);
    expect(bodies.filter((body) => body.includes(2))).toEqual([['640x360', 2]]);
    // Every body is one session: one header, first.
    for (const body of bodies) {
      expect(body.filter((item) => typeof item === 'string')).toEqual([body[0]]);
    }
    expect(summary.stats.map((stats) => stats.retries)).toEqual([0, 1, 0]);
  });

  it('a source that yields a fragment before any session header fails: nothing is sent', async () => {
    await using h = await startHarness();
    // The harness's channel begins with a header; this source does not.
    const session = new UploadSession({
      streamName: 'never-connected',
      region: h.kvs.region,
      credentials: () => Promise.resolve({ ...h.kvs.credentials }),
      endpoint: () => Promise.resolve(h.kvs.url),
      producerStartTimestampMs: START_MS,
      isPersistedAckExpected: true,
    });
    const summary = await session.run(
      (async function* () {
        await Promise.resolve();
        yield makeFragment(0);
      })(),
    );
    expect(String(summary.sourceError)).toMatch(/session header before its first fragment/);
    expect(summary.fragments).toBe(0);
  });
});
