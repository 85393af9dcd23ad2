// PutMedia fault rules, each observed from a raw client: refusals (counted and windowed), resets after bytes or
// after a fragment, an ERROR at fragment K, delayed and withheld acks, stalls; rules per stream, consumed by count,
// and replaced at run time through POST /_admin/faults.
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, KvsPutError } from '../../src/errors.js';
import { CONTROL_PLANE_OPERATIONS } from '../../src/emulator/control-plane.js';
import type { FaultPlan } from '../../src/emulator/fault-plan.js';
import { parseFaultPlan } from '../../src/emulator/fault-plan.js';
import type { LocalKvs, LocalKvsOptions } from '../../src/emulator/local-kvs.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { advanceUntil, startTestKvs } from './emulator-test-helpers.js';
import {
  acksPerFragment,
  buildSession,
  createStream,
  eventually,
  openPutMedia,
  putMedia,
  storedFragments,
  writeBody,
} from './put-media-helpers.js';

const T = Date.now() - 3_600_000;
const TIMECODES = [0, 1, 2, 3, 4].map((i) => T + i * 400);
const FIVE = buildSession(TIMECODES.map((timecode) => ({ timecode })));

let kvs: LocalKvs | undefined;

afterEach(async () => {
  await kvs?.close();
  kvs = undefined;
});

const start = async (faults: FaultPlan, options: LocalKvsOptions = {}): Promise<LocalKvs> => {
  kvs = await startTestKvs({ faults, ...options });
  await createStream(kvs, 'cam');
  await createStream(kvs, 'other');
  return kvs;
};

const adminPost = async (
  local: LocalKvs,
  plan: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> => {
  const response = await fetch(`${local.url}/_admin/faults`, { method: 'POST', body: JSON.stringify(plan) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

const adminState = async (local: LocalKvs): Promise<unknown> =>
  ((await (await fetch(`${local.url}/_admin/faults`)).json()) as { rules: unknown }).rules;

describe('refusing PutMedia', () => {
  it('for the next M calls: ConnectionLimitExceededException twice, then a 200', async () => {
    const local = await start({
      putMedia: [{ streams: ['cam'], times: 2, refuse: 'ConnectionLimitExceededException' }],
    });
    for (let call = 0; call < 2; call++) {
      const result = await putMedia(local, FIVE.body, { streamName: 'cam' });
      expect(result.status).toBe(400);
      const answer = await result.call.response;
      expect(answer.headers['x-amzn-errortype']).toBe('ConnectionLimitExceededException');
      expect(await result.call.errorBody()).toEqual({
        Message: 'Injected fault: ConnectionLimitExceededException (kvs-put local fault plan).',
      });
    }
    // Another stream is not matched (nor counted).
    expect((await putMedia(local, FIVE.body, { streamName: 'other' })).status).toBe(200);
    const third = await putMedia(local, FIVE.body, { streamName: 'cam' });
    expect(third.status).toBe(200);
    expect(third.acks.filter((ack) => ack.EventType === 'PERSISTED')).toHaveLength(5);
    expect(await adminState(local)).toEqual([
      { section: 'putMedia', ruleIndex: 0, matchedCalls: 3, firedCalls: 2 },
    ]);
  });

  it('for a time window: 500 then 403 answers until windowMs has passed since the plan was installed', async () => {
    const clock = new FakeClock(Date.now());
    const local = await start({}, { clock });
    const installed = await adminPost(local, {
      putMedia: [
        { streams: ['cam'], refuse: { type: 'InternalFailure', statusCode: 500 }, windowMs: 300 },
        { streams: ['other'], refuse: { type: 'AccessDeniedException', statusCode: 403 }, windowMs: 300 },
      ],
    });
    expect(installed.status).toBe(200);
    expect((await putMedia(local, FIVE.body, { streamName: 'cam' })).status).toBe(500);
    expect((await putMedia(local, FIVE.body, { streamName: 'cam' })).status).toBe(500);
    const forbidden = await putMedia(local, FIVE.body, { streamName: 'other' });
    expect(forbidden.status).toBe(403);
    expect((await forbidden.call.response).headers['x-amzn-errortype']).toBe('AccessDeniedException');
    // The window is measured on the server clock: just past it, the next connection is let through.
    await clock.advance(301);
    expect((await putMedia(local, FIVE.body, { streamName: 'cam' })).status).toBe(200);
  });
});

describe('breaking PutMedia connections', () => {
  it('resetAfterBytes: the socket goes after N bytes; the fragment in progress is lost', async () => {
    const fragment2Start = FIVE.parts[0]!.length + FIVE.parts[1]!.length;
    const local = await start({ putMedia: [{ resetAfterBytes: fragment2Start + 100 }] });
    const result = await putMedia(local, FIVE.body, { streamName: 'cam', chunkSize: 1000 });
    expect(result.isComplete).toBe(false);
    await eventually(async () => (await storedFragments(local, 'cam')).length === 1);
    expect((await storedFragments(local, 'cam')).map((f) => f.timecode)).toEqual([T]);
    // Consumed: the next connection is whole.
    const next = await putMedia(local, buildSession([{ timecode: T + 400 }]).body, { streamName: 'cam' });
    expect(next.isComplete).toBe(true);
  });

  it('resetAfterBytes: fragments completed before the cut are acked before the socket goes, even within one read', async () => {
    const fragment3Start = FIVE.parts[0]!.length + FIVE.parts[1]!.length + FIVE.parts[2]!.length;
    const local = await start({ putMedia: [{ resetAfterBytes: fragment3Start + 100 }] });
    // One write: the cut and the end of fragment 2 arrive in the same read.
    const result = await putMedia(local, FIVE.body, { streamName: 'cam' });
    expect(result.isComplete).toBe(false);
    expect(acksPerFragment(result.acks, TIMECODES).slice(0, 2)).toEqual([
      ['B', 'R', 'P'],
      ['B', 'R', 'P'],
    ]);
    expect((await storedFragments(local, 'cam')).map((f) => f.timecode)).toEqual([T, T + 400]);
  });

  it('resetAfterFragment: the socket goes once fragment K is stored and acked', async () => {
    const local = await start({ putMedia: [{ resetAfterFragment: 2 }] });
    const call = await openPutMedia(local, { streamName: 'cam' });
    await call.response;
    await writeBody(call, FIVE.body, { isLeftOpen: true });
    const closed = await call.closed;
    expect(closed.isComplete).toBe(false);
    expect(acksPerFragment(call.acks, TIMECODES).slice(0, 2)).toEqual([
      ['B', 'R', 'P'],
      ['B', 'R', 'P'],
    ]);
    expect(call.acks.some((ack) => ack.EventType === 'ERROR')).toBe(false);
    expect((await storedFragments(local, 'cam')).map((f) => f.timecode)).toEqual([T, T + 400]);
  });

  it('errorAtFragment: the first connection fails at fragment 3 with ERROR 5000, the second succeeds', async () => {
    const local = await start({
      putMedia: [{ streams: ['cam'], errorAtFragment: { fragment: 3, errorId: 5000 } }],
    });
    const first = await putMedia(local, FIVE.body, { streamName: 'cam' });
    expect(first.isComplete).toBe(true);
    expect(acksPerFragment(first.acks, TIMECODES)).toEqual([
      ['B', 'R', 'P'],
      ['B', 'R', 'P'],
      ['B', 'E'],
      [],
      [],
    ]);
    const error = first.acks.at(-1)!;
    expect(error).toEqual({
      EventType: 'ERROR',
      FragmentTimecode: T + 800,
      FragmentNumber: first.acks.find((ack) => ack.FragmentTimecode === T + 800)!.FragmentNumber,
      ErrorCode: 'INTERNAL_ERROR',
      ErrorId: 5000,
    });
    expect(await storedFragments(local, 'cam')).toHaveLength(2);
    // The producer resends from fragment 3 on a new connection.
    const resend = buildSession(TIMECODES.slice(2).map((timecode) => ({ timecode })));
    const second = await putMedia(local, resend.body, { streamName: 'cam' });
    expect(acksPerFragment(second.acks, TIMECODES.slice(2))).toEqual([
      ['B', 'R', 'P'],
      ['B', 'R', 'P'],
      ['B', 'R', 'P'],
    ]);
    expect((await storedFragments(local, 'cam')).map((f) => f.timecode)).toEqual(TIMECODES);
    expect(await adminState(local)).toEqual([
      { section: 'putMedia', ruleIndex: 0, matchedCalls: 2, firedCalls: 1 },
    ]);
  });

  it('errorAtFragment with any ErrorId and ErrorCode, e.g. a KMS error the service would send', async () => {
    const local = await start({
      putMedia: [
        { errorAtFragment: { fragment: 1, errorId: 4501 } },
        { skipConnections: 1, errorAtFragment: { fragment: 2, errorId: 9999, errorCode: 'MADE_UP' } },
      ],
    });
    const kms = await putMedia(local, FIVE.body, { streamName: 'cam' });
    expect(kms.acks.at(-1)).toMatchObject({
      ErrorId: 4501,
      ErrorCode: 'KMS_KEY_DISABLED',
      FragmentTimecode: T,
    });
    const madeUp = await putMedia(local, FIVE.body, { streamName: 'cam' });
    expect(madeUp.acks.at(-1)).toMatchObject({
      ErrorId: 9999,
      ErrorCode: 'MADE_UP',
      FragmentTimecode: T + 400,
    });
  });
});

describe('delaying, withholding and stalling', () => {
  it('ackDelayMs: every ack goes out late, in order', async () => {
    const clock = new FakeClock(Date.now());
    const local = await start({ putMedia: [{ ackDelayMs: 150 }] }, { clock });
    const call = await openPutMedia(local, { streamName: 'cam' });
    await call.response;
    await writeBody(call, buildSession([{ timecode: T }]).body);
    await eventually(() => local.stats().ingest.fragmentsReceived === 1);
    // The fragment is in and its three acks are due, but none goes out before the server clock has moved 150 ms,
    await clock.advance(149);
    expect(call.acks).toEqual([]);
    // and each waits 150 ms after the one before it.
    const movedMs = 149 + (await advanceUntil(clock, () => call.acks.length === 3));
    expect(movedMs).toBeGreaterThanOrEqual(3 * 150);
    expect((await call.closed).isComplete).toBe(true);
    expect(call.acks.map((ack) => ack.EventType)).toEqual(['BUFFERING', 'RECEIVED', 'PERSISTED']);
  });

  it('withholdAcks: no acks for fragments K.. (every kind, or the kinds listed), though they are stored', async () => {
    const local = await start({
      putMedia: [
        { streams: ['cam'], withholdAcks: { fromFragment: 2, toFragment: 3 } },
        { streams: ['other'], withholdAcks: { fromFragment: 2, events: ['PERSISTED'] } },
      ],
    });
    const cam = await putMedia(local, FIVE.body, { streamName: 'cam' });
    expect(acksPerFragment(cam.acks, TIMECODES)).toEqual([
      ['B', 'R', 'P'],
      [],
      [],
      ['B', 'R', 'P'],
      ['B', 'R', 'P'],
    ]);
    const other = await putMedia(local, FIVE.body, { streamName: 'other' });
    expect(acksPerFragment(other.acks, TIMECODES)).toEqual([
      ['B', 'R', 'P'],
      ['B', 'R'],
      ['B', 'R'],
      ['B', 'R'],
      ['B', 'R'],
    ]);
    expect(await storedFragments(local, 'cam')).toHaveLength(5);
    expect(await storedFragments(local, 'other')).toHaveLength(5);
  });

  it('stall after fragment K for D ms: nothing is read meanwhile, no IDLE ack, no idle close', async () => {
    const clock = new FakeClock(Date.now());
    const local = await start(
      { putMedia: [{ stall: { afterFragment: 1, durationMs: 400 } }] },
      { idleAckIntervalMs: 100, idleTimeoutMs: 200, clock },
    );
    const call = await openPutMedia(local, { streamName: 'cam' });
    await call.response;
    let isClosed = false;
    void call.closed.then(() => {
      isClosed = true;
    });
    await writeBody(call, FIVE.body, { isLeftOpen: true });
    const received = (count: number) => (acks: readonly { EventType: string }[]) =>
      acks.filter((ack) => ack.EventType === 'RECEIVED').length >= count;
    await call.waitFor(received(1));
    // The stall began as fragment 1 completed. Well past the idle interval and the idle timeout, and 1 ms before its
    // end, nothing more has been ingested and the quiet connection is still open.
    await clock.advance(399);
    expect(local.stats().ingest.fragmentsReceived).toBe(1);
    expect(isClosed).toBe(false);
    // Its end, and the moment the session reads the socket before ingesting again (STALL_SETTLE_MS): the clock stops
    // there, so the rest of the body is ingested without any idle timer coming due.
    await clock.advance(1 + 50);
    await call.waitFor(received(2));
    await call.waitFor((acks) => acks.filter((ack) => ack.EventType === 'PERSISTED').length === 4);
    expect(call.acks.some((ack) => ack.EventType === 'IDLE')).toBe(false);
    call.request.end();
    await call.closed;
    expect(await storedFragments(local, 'cam')).toHaveLength(5);
  });

  it('a client that gives up during a stall (staleness): nothing it sent before leaving is stored afterwards', async () => {
    const local = await start({ putMedia: [{ stall: { afterFragment: 1, durationMs: 300 } }] });
    const call = await openPutMedia(local, { streamName: 'cam' });
    await call.response;
    await writeBody(call, FIVE.body, { isLeftOpen: true });
    await call.waitFor((acks) => acks.some((ack) => ack.EventType === 'PERSISTED'));
    // The stalled connection still counts: a new one is refused until the service reads again.
    const early = await putMedia(local, FIVE.body, { streamName: 'cam' });
    expect(early.status).toBe(400);
    early.call.request.destroy();
    call.request.destroy();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await storedFragments(local, 'cam')).map((f) => f.timecode)).toEqual([T]);
    // The resend on a new connection is the only copy of fragments 2–5.
    const resend = buildSession(TIMECODES.slice(1).map((timecode) => ({ timecode })));
    expect((await putMedia(local, resend.body, { streamName: 'cam' })).status).toBe(200);
    expect((await storedFragments(local, 'cam')).map((f) => f.timecode)).toEqual(TIMECODES);
  });

  it('a stall without an end blocks the producer: its writes stop draining and no ack comes', async () => {
    const local = await start({ putMedia: [{ stall: {} }] });
    const call = await openPutMedia(local, { streamName: 'cam' });
    await call.response;
    const big = buildSession([{ timecode: T, frameCount: 40, frameBytes: 500_000 }]);
    let isWritten = false;
    void writeBody(call, big.body, { isLeftOpen: true, chunkSize: 1024 * 1024 }).then(() => {
      isWritten = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(isWritten).toBe(false);
    expect(call.acks).toEqual([]);
    call.request.destroy();
    await call.closed;
    await eventually(async () => {
      const stats = (await (await fetch(`${local.url}/__emulator/stats`)).json()) as {
        ingest: { putMediaConnections: number };
      };
      return stats.ingest.putMediaConnections === 1;
    });
    // The stalled connection is gone: a new one is accepted.
    const again = await putMedia(local, buildSession([{ timecode: T }]).body, { streamName: 'other' });
    expect(again.status).toBe(200);
  });
});

describe('the putMedia section of a fault plan', () => {
  const parse = (plan: unknown): FaultPlan =>
    parseFaultPlan(plan, { source: 'test', knownOperations: CONTROL_PLANE_OPERATIONS });

  it('is validated rule by rule, listing every problem', () => {
    expect(() =>
      parse({
        putMedia: [
          { refuse: 'ConnectionLimitExceededException', ackDelayMs: 10 },
          {},
          { errorAtFragment: { fragment: 0, errorId: 'x' } },
          { withholdAcks: { events: ['ERROR'] }, wat: 1 },
          { stall: { afterBytes: 1, afterFragment: 1 } },
          { streams: ['bad name!'], resetAfterBytes: -1 },
        ],
      }),
    ).toThrow(
      expect.objectContaining({
        code: ErrorCode.Config,
        message: expect.stringMatching(
          /putMedia\[0\]: a refused connection has no session.*putMedia\[1\] does nothing.*putMedia\[2\]\.errorAtFragment\.fragment must be an integer ≥ 1.*errorId must be a positive integer.*putMedia\[3\] has unknown key "wat".*withholdAcks\.events must be.*putMedia\[4\]\.stall takes "afterBytes" or "afterFragment", not both.*putMedia\[5\]\.streams must be.*resetAfterBytes must be an integer ≥ 0/s,
        ),
      }),
    );
    expect(() => parse({ putMedia: {} })).toThrow(KvsPutError);
    expect(parse({ putMedia: [{ streams: '*', times: 'always', ackDelayMs: 5 }] })).toEqual({
      putMedia: [{ streams: '*', times: 'always', ackDelayMs: 5 }],
    });
  });

  it('POST /_admin/faults refuses an invalid plan with InvalidArgumentException and keeps the running one', async () => {
    const local = await start({ putMedia: [{ ackDelayMs: 1 }] });
    const refused = await adminPost(local, { putMedia: [{ resetAfterFragment: 0 }] });
    expect(refused.status).toBe(400);
    expect(refused.body['Message']).toMatch(/putMedia\[0\]\.resetAfterFragment must be an integer ≥ 1/);
    const state = (await (await fetch(`${local.url}/_admin/faults`)).json()) as { plan: FaultPlan };
    expect(state.plan).toEqual({ putMedia: [{ ackDelayMs: 1 }] });
  });
});
