// PutMedia on the local KVS: the real C producer's body, kvs-put's own clients, the ack stream on the wire,
// header validation, stream states, connection rules and strict limits, and broken connections.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import {
  APIName,
  DeleteStreamCommand,
  GetDataEndpointCommand,
  UpdateDataRetentionCommand,
} from '@aws-sdk/client-kinesis-video';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterEach, describe, expect, it } from 'vitest';
import type { LocalKvs, LocalKvsOptions } from '../../src/emulator/local-kvs.js';
import type { Ack } from '../../src/kvs/ack.js';
import { AckParser } from '../../src/kvs/ack-parser.js';
import { PutMediaConnection } from '../../src/kvs/put-media-connection.js';
import { UploadSession } from '../../src/session/upload-session.js';
import { fragmentMkv } from '../../src/fragment/fragmenter.js';
import { MkvReader, readMkv } from '../../src/mkv/mkv-reader.js';
import { FIXTURES, SHARED_FIXTURES } from '../helpers/paths.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { advanceUntil, sdkClient, startTestKvs } from './emulator-test-helpers.js';
import {
  ackSequence,
  acksPerFragment,
  buildSession,
  chunksSource,
  createStream,
  eventually,
  fragmentsFrom,
  openPutMedia,
  putMedia,
  storedFragments,
  writeBody,
} from './put-media-helpers.js';
import { rawRequest, requestHead } from './raw-http.js';

const C_PRODUCER_SESSION = join(SHARED_FIXTURES, 'kvs-putmedia', 'official-c-producer-session.mkv');
const START_MS = Date.now() - 3_600_000;

let kvs: (LocalKvs & { logLines: string[] }) | undefined;

const start = async (options: LocalKvsOptions = {}): Promise<LocalKvs & { logLines: string[] }> => {
  kvs = await startTestKvs(options);
  return kvs;
};

afterEach(async () => {
  await kvs?.close();
  kvs = undefined;
});

/** Cluster timecodes of an MKV body, read with kvs-put's reader. */
const clusterTimecodes = (body: Uint8Array): number[] => {
  const reader = new MkvReader();
  const events = [...reader.push(body), ...reader.end()];
  return events.flatMap((event) => (event.type === 'cluster' ? [event.timecode] : []));
};

const sha256 = Hash.bind(null, 'sha256');

describe('the real PutMedia body of AWS C producer', () => {
  it('is accepted and acked fragment by fragment, one JSON ack + newline per HTTP chunk, without 100 Continue', async () => {
    const local = await start();
    await createStream(local, 'c-producer', 2);
    const body = new Uint8Array(readFileSync(C_PRODUCER_SESSION));
    const timecodes = clusterTimecodes(body);
    expect(timecodes).toHaveLength(4);

    // The headers the C producer sent (fixtures README), signed as it signs them: the empty-payload hash, no
    // x-amz-content-sha256, Host without the port.
    const port = Number(new URL(local.url).port);
    const signer = new SignatureV4({
      service: 'kinesisvideo',
      region: local.region,
      credentials: local.credentials,
      sha256,
      applyChecksum: false,
    });
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      path: '/putMedia',
      query: {},
      headers: {
        host: '127.0.0.1',
        'x-amzn-stream-name': 'c-producer',
        'x-amzn-fragment-timecode-type': 'ABSOLUTE',
        'x-amzn-producer-start-timestamp': ((timecodes[0]! - 500) / 1000).toFixed(3),
        'x-amzn-fragment-acknowledgment-required': '1',
        'content-type': 'application/json',
      },
    });
    expect(signed.headers['x-amz-content-sha256']).toBeUndefined();
    const exchange = await rawRequest(
      port,
      requestHead('/putMedia', {
        ...signed.headers,
        'user-agent': 'AWS-SDK-KVS/1.6.4 GCC/12.2.0 Linux/6.1',
        'transfer-encoding': 'chunked',
        expect: '100-continue',
        connection: 'keep-alive',
      }),
    );
    // Like the embedded-C producer: the status line first, then the body.
    const head = await exchange.head;
    expect(head.statusLine).toBe('HTTP/1.1 200 OK');
    expect(head.interimStatusLines).toEqual([]);
    expect(head.headers).toMatchObject({
      'content-type': 'application/json',
      'transfer-encoding': 'chunked',
      'x-amzn-requestid': expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    for (let offset = 0; offset < body.length; offset += 16 * 1024) {
      await exchange.writeChunk(body.subarray(offset, offset + 16 * 1024));
    }
    exchange.endBody();
    const answer = await exchange.done;
    expect(answer.isComplete).toBe(true);

    const texts = answer.chunks.map((chunk) => chunk.toString('utf8'));
    for (const text of texts) {
      expect(text).toMatch(
        /^\{"EventType":"(BUFFERING|RECEIVED|PERSISTED)","FragmentTimecode":\d+,"FragmentNumber":"\d{47}"\}\n$/,
      );
    }
    const acks = texts.map((text) => JSON.parse(text) as Ack);
    const sequence = ackSequence(acks, timecodes);
    for (let k = 1; k <= 4; k++) {
      const mine = sequence.filter((item) => item.endsWith(String(k)));
      expect(mine).toEqual([`B${k}`, `R${k}`, `P${k}`]);
    }
    // One number per fragment, the same in its three acks, 47 digits, strictly increasing.
    const numbers = timecodes.map((timecode) => [
      ...new Set(acks.filter((ack) => ack.FragmentTimecode === timecode).map((ack) => ack.FragmentNumber)),
    ]);
    expect(numbers.every((list) => list.length === 1)).toBe(true);
    const flat = numbers.map((list) => list[0]!);
    expect([...flat].sort()).toEqual(flat);
    expect(new Set(flat).size).toBe(4);

    const stored = await storedFragments(local, 'c-producer');
    expect(stored.map((fragment) => fragment.fragmentNumber)).toEqual(flat);
    expect(stored.map((fragment) => fragment.producerTimestampMs)).toEqual(timecodes);
    expect(stored.every((fragment) => fragment.startsWithKeyframe && fragment.framesPerTrack['1']! > 0)).toBe(
      true,
    );
    // The C producer's metadata Tags (TEST_KEY_1..9) travel with the fragment whose Cluster they follow.
    expect(stored[0]!.tags.map((tag) => tag.name)).toEqual(
      Array.from({ length: 9 }, (_, i) => `TEST_KEY_${i + 1}`),
    );
    expect(local.logLines.some((line) => / POST \/putMedia 200 PutMedia /.test(line))).toBe(true);
    exchange.socket.destroy();
  });
});

describe('PutMedia with kvs-put clients', () => {
  it("kvs-put's PutMediaConnection against the endpoint GetDataEndpoint returns", async () => {
    const local = await start();
    await createStream(local, 'own-client');
    const client = sdkClient(local);
    const { DataEndpoint } = await client.send(
      new GetDataEndpointCommand({ StreamName: 'own-client', APIName: APIName.PUT_MEDIA }),
    );
    client.destroy();
    const acks: Ack[] = [];
    const connection = await PutMediaConnection.open(
      {
        endpoint: DataEndpoint!,
        streamName: 'own-client',
        region: local.region,
        credentials: local.credentials,
        timecodeMode: 'absolute',
        producerStartTimestampMs: START_MS,
        userAgent: 'kvs-put-test',
      },
      { onAck: (ack) => acks.push(ack) },
    );
    const { body } = buildSession(fragmentsFrom(START_MS, 3));
    await connection.write([body]);
    connection.end();
    expect(await connection.closed).toBeUndefined();
    expect(acksPerFragment(acks, [START_MS, START_MS + 400, START_MS + 800])).toEqual([
      ['B', 'R', 'P'],
      ['B', 'R', 'P'],
      ['B', 'R', 'P'],
    ]);
    expect(acks).toHaveLength(9);
  });

  it("kvs-put's UploadSession rotates make-before-break: the draining connection does not block the next", async () => {
    const local = await start();
    await createStream(local, 'rotating');
    const file = readFileSync(join(FIXTURES, 'h264.mkv'));
    const source = fragmentMkv(readMkv(chunksSource(new Uint8Array(file))), { startTimeMs: START_MS });
    const events: string[] = [];
    const session = new UploadSession({
      streamName: 'rotating',
      region: local.region,
      credentials: () => Promise.resolve(local.credentials),
      endpoint: () => Promise.resolve(local.url),
      producerStartTimestampMs: START_MS,
      isPersistedAckExpected: true,
      rotateAfterMs: 1,
      onEvent: (event) => events.push(event.type),
    });
    const summary = await session.run(source);
    expect(summary.fragments).toBeGreaterThan(1);
    expect(summary.persisted).toBe(summary.fragments);
    expect(summary.connections).toBeGreaterThan(1);
    expect(events).toContain('rotate');
    const stored = await storedFragments(local, 'rotating');
    expect(stored).toHaveLength(summary.fragments);
  });

  it('RELATIVE timecodes count from x-amzn-producer-start-timestamp; ABSOLUTE ones are the producer time', async () => {
    const local = await start();
    await createStream(local, 'relative');
    await createStream(local, 'absolute');
    // Cluster timecodes keep growing across the fragments of one RELATIVE request (not restarting at 0).
    const relative = buildSession([{ timecode: 0 }, { timecode: 400 }]);
    const result = await putMedia(local, relative.body, {
      streamName: 'relative',
      timecodeType: 'RELATIVE',
      producerStartTimestamp: '1700000000.5', // the C producer's unpadded "%u.%u": read as a float
    });
    expect(
      result.acks.filter((ack) => ack.EventType === 'PERSISTED').map((ack) => ack.FragmentTimecode),
    ).toEqual([0, 400]);
    expect((await storedFragments(local, 'relative')).map((f) => f.producerTimestampMs)).toEqual([
      1_700_000_000_500, 1_700_000_000_900,
    ]);
    const absolute = buildSession([{ timecode: START_MS }]);
    await putMedia(local, absolute.body, { streamName: 'absolute', producerStartTimestamp: null });
    expect((await storedFragments(local, 'absolute')).map((f) => f.producerTimestampMs)).toEqual([START_MS]);
  });

  it('TimecodeScale other than 1 ms: acks carry the Cluster Timecode as sent, producer time in ms', async () => {
    const local = await start();
    await createStream(local, 'scaled');
    const ticks = START_MS * 10; // 100 µs per tick
    const { body } = buildSession([{ timecode: ticks, frameMs: 400 }], { timecodeScaleNs: 100_000 });
    const result = await putMedia(local, body, { streamName: 'scaled' });
    expect(result.acks.map((ack) => ack.FragmentTimecode)).toEqual([ticks, ticks, ticks]);
    const [fragment] = await storedFragments(local, 'scaled');
    expect(fragment).toMatchObject({ producerTimestampMs: START_MS, timecode: ticks });
    // 10 frames 40 ms apart, no BlockDuration: the last one lasts the mean frame interval.
    expect(fragment!.durationMs).toBeCloseTo(10 * 40, 5);
  });

  it('retention 0: BUFFERING and RECEIVED only, the fragments kept in the buffer (not archived)', async () => {
    const local = await start();
    await createStream(local, 'no-retention', 0);
    const { body } = buildSession(fragmentsFrom(START_MS, 2));
    const result = await putMedia(local, body, { streamName: 'no-retention' });
    expect(acksPerFragment(result.acks, [START_MS, START_MS + 400])).toEqual([
      ['B', 'R'],
      ['B', 'R'],
    ]);
    expect((await storedFragments(local, 'no-retention')).map((f) => f.isArchived)).toEqual([false, false]);
  });

  it('x-amzn-fragment-acknowledgment-required: 0 sends ERROR acks only', async () => {
    const local = await start();
    await createStream(local, 'quiet');
    const good = await putMedia(local, buildSession(fragmentsFrom(START_MS, 2)).body, {
      streamName: 'quiet',
      ackRequired: '0',
    });
    expect(good.acks).toEqual([]);
    expect(good.isComplete).toBe(true);
    expect(await storedFragments(local, 'quiet')).toHaveLength(2);
    const bad = await putMedia(local, new TextEncoder().encode('not mkv at all'), {
      streamName: 'quiet',
      ackRequired: '0',
    });
    expect(bad.acks).toEqual([{ EventType: 'ERROR', ErrorCode: 'INVALID_MKV_DATA', ErrorId: 4006 }]);
  });

  it('a body dripped one byte per HTTP chunk gets the same acks; acks split anywhere parse the same', async () => {
    const local = await start();
    await createStream(local, 'drip');
    const { body } = buildSession(fragmentsFrom(START_MS, 2, { frameBytes: 20, frameCount: 4 }));
    const call = await openPutMedia(local, { streamName: 'drip' });
    await call.response;
    for (const byte of body) {
      await new Promise<void>((resolve) => call.request.write(Uint8Array.of(byte), () => resolve()));
    }
    call.request.end();
    await call.closed;
    expect(acksPerFragment(call.acks, [START_MS, START_MS + 400])).toEqual([
      ['B', 'R', 'P'],
      ['B', 'R', 'P'],
    ]);
    // The same ack stream fed to kvs-put's AckParser one byte at a time.
    const stream = new TextEncoder().encode(call.chunks.join(''));
    const parser = new AckParser();
    const dripped: Ack[] = [];
    for (const byte of stream) {
      dripped.push(...parser.push(Uint8Array.of(byte)));
    }
    expect(dripped).toEqual(call.acks);
  });
});

describe('PutMedia request validation (before the 200)', () => {
  const refused = async (
    local: LocalKvs,
    options: Parameters<typeof openPutMedia>[1],
  ): Promise<{ status: number; type: string | undefined; message: unknown }> => {
    const call = await openPutMedia(local, options);
    const answer = await call.response;
    const body = await call.errorBody();
    call.request.destroy();
    return {
      status: answer.statusCode ?? 0,
      type: answer.headers['x-amzn-errortype'] as string | undefined,
      message: body['Message'],
    };
  };

  it('stream name XOR ARN, timecode type, producer start timestamp and ack flag are checked', async () => {
    const local = await start();
    const arn = await createStream(local, 'checked');
    expect(await refused(local, {})).toMatchObject({
      status: 400,
      type: 'InvalidArgumentException',
      message: expect.stringContaining('Exactly one of the headers x-amzn-stream-name and x-amzn-stream-arn'),
    });
    expect(
      await refused(local, { streamName: 'checked', headers: { 'x-amzn-stream-arn': arn } }),
    ).toMatchObject({ status: 400, message: expect.stringContaining('not both') });
    expect(await refused(local, { streamName: 'bad name!' })).toMatchObject({
      status: 400,
      message: expect.stringContaining("Value 'bad name!' at 'x-amzn-stream-name'"),
    });
    expect(
      await refused(local, { streamName: 'checked', headers: { 'x-amzn-fragment-timecode-type': 'NOW' } }),
    ).toMatchObject({ status: 400, message: expect.stringContaining('[ABSOLUTE, RELATIVE]') });
    expect(
      await refused(local, { streamName: 'checked', timecodeType: 'RELATIVE', producerStartTimestamp: null }),
    ).toMatchObject({ status: 400, message: expect.stringContaining('x-amzn-producer-start-timestamp') });
    expect(
      await refused(local, { streamName: 'checked', producerStartTimestamp: '2023-01-01T00:00:00Z' }),
    ).toMatchObject({ status: 400, message: expect.stringContaining('epoch seconds') });
    expect(
      await refused(local, {
        streamName: 'checked',
        headers: { 'x-amzn-fragment-acknowledgment-required': 'yes' },
      }),
    ).toMatchObject({ status: 400, message: expect.stringContaining('[0, 1]') });
  });

  it('an unknown stream is 404 ResourceNotFoundException, by name or by ARN; a known ARN works', async () => {
    const local = await start();
    const arn = await createStream(local, 'known');
    expect(await refused(local, { streamName: 'unknown' })).toEqual({
      status: 404,
      type: 'ResourceNotFoundException',
      message: 'The requested stream is not found or not active.',
    });
    expect(await refused(local, { streamArn: arn.replace('/known/', '/other/') })).toMatchObject({
      status: 404,
    });
    const result = await putMedia(local, buildSession(fragmentsFrom(START_MS, 1)).body, { streamArn: arn });
    expect(result.acks.map((ack) => ack.EventType)).toEqual(['BUFFERING', 'RECEIVED', 'PERSISTED']);
  });

  it('unsigned PutMedia is refused with 403 unless the server runs with noAuth', async () => {
    const local = await start();
    await createStream(local, 'signed-only');
    expect(await refused(local, { streamName: 'signed-only', isUnsigned: true })).toMatchObject({
      status: 403,
      type: 'MissingAuthenticationTokenException',
    });
    await local.close();
    const open = await start({ noAuth: true });
    await createStream(open, 'open');
    const result = await putMedia(open, buildSession(fragmentsFrom(START_MS, 1)).body, {
      streamName: 'open',
      isUnsigned: true,
    });
    expect(result.acks).toHaveLength(3);
  });
});

describe('PutMedia and the stream lifecycle', () => {
  it('a CREATING stream: 200, then ERROR 4008 STREAM_NOT_ACTIVE and the end of the answer', async () => {
    const local = await start({ creatingDelayMs: 60_000 });
    await createStream(local, 'creating');
    const result = await putMedia(local, buildSession(fragmentsFrom(START_MS, 1)).body, {
      streamName: 'creating',
    });
    expect(result.status).toBe(200);
    expect(result.acks).toEqual([{ EventType: 'ERROR', ErrorCode: 'STREAM_NOT_ACTIVE', ErrorId: 4008 }]);
    expect(result.isComplete).toBe(true);
  });

  it('a DELETING stream gets 4008 too; deleting a stream mid-session sends ERROR 4507 STREAM_DELETED', async () => {
    const local = await start({ deletingDelayMs: 60_000 });
    const arn = await createStream(local, 'doomed');
    const call = await openPutMedia(local, { streamName: 'doomed' });
    await call.response;
    const { body } = buildSession(fragmentsFrom(START_MS, 2));
    await writeBody(call, body, { isLeftOpen: true });
    await call.waitFor((acks) => acks.filter((ack) => ack.EventType === 'PERSISTED').length === 1);
    const client = sdkClient(local);
    await client.send(new DeleteStreamCommand({ StreamARN: arn }));
    const closed = await call.closed;
    expect(closed.isComplete).toBe(true);
    expect(call.acks.at(-1)).toMatchObject({
      EventType: 'ERROR',
      ErrorId: 4507,
      ErrorCode: 'STREAM_DELETED',
    });
    call.request.destroy();

    const again = await putMedia(local, body, { streamArn: arn });
    expect(again.status).toBe(200);
    expect(again.acks).toEqual([{ EventType: 'ERROR', ErrorCode: 'STREAM_NOT_ACTIVE', ErrorId: 4008 }]);
    client.destroy();
  });

  it('UpdateDataRetention to 0 mid-stream: later fragments are RECEIVED but not PERSISTED', async () => {
    const local = await start();
    await createStream(local, 'shrinking', 1);
    const call = await openPutMedia(local, { streamName: 'shrinking' });
    await call.response;
    const { body } = buildSession(fragmentsFrom(START_MS, 2));
    const split = body.length - 5000;
    await writeBody(call, body.subarray(0, split), { isLeftOpen: true });
    await call.waitFor((acks) => acks.some((ack) => ack.EventType === 'PERSISTED'));
    const client = sdkClient(local);
    const { DescribeStreamCommand } = await import('@aws-sdk/client-kinesis-video');
    const info = await client.send(new DescribeStreamCommand({ StreamName: 'shrinking' }));
    await client.send(
      new UpdateDataRetentionCommand({
        StreamName: 'shrinking',
        CurrentVersion: info.StreamInfo!.Version!,
        Operation: 'DECREASE_DATA_RETENTION',
        DataRetentionChangeInHours: 1,
      }),
    );
    client.destroy();
    await writeBody(call, body.subarray(split));
    await call.closed;
    expect(acksPerFragment(call.acks, [START_MS, START_MS + 400])).toEqual([
      ['B', 'R', 'P'],
      ['B', 'R'],
    ]);
  });
});

describe('PutMedia connection rules', () => {
  it('a second connection while one is sending: 400 ConnectionLimitExceededException; once the first ended its body, a new one is accepted while it drains', async () => {
    const clock = new FakeClock(Date.now());
    const local = await start({ faults: { putMedia: [{ streams: ['single'], ackDelayMs: 100 }] }, clock });
    await createStream(local, 'single');
    const first = await openPutMedia(local, { streamName: 'single' });
    await first.response;
    const { body } = buildSession(fragmentsFrom(START_MS, 2));
    await writeBody(first, body, { isLeftOpen: true });

    const second = await openPutMedia(local, { streamName: 'single' });
    const refusedAnswer = await second.response;
    expect(refusedAnswer.statusCode).toBe(400);
    expect(refusedAnswer.headers['x-amzn-errortype']).toBe('ConnectionLimitExceededException');
    expect((await second.errorBody())['Message']).toContain('one is allowed at a time');
    second.request.destroy();

    // Make-before-break: the first ends its body; its acks wait 100 ms each on a clock that has not moved yet.
    first.request.end();
    await once(first.request, 'finish');
    const third = await openPutMedia(local, { streamName: 'single' });
    expect((await third.response).statusCode).toBe(200);
    expect(first.acks.length).toBeLessThan(6);
    await writeBody(third, buildSession(fragmentsFrom(START_MS + 800, 1)).body);
    let openCalls = 2;
    void Promise.all([first.closed, third.closed].map((closed) => closed.then(() => openCalls--)));
    await advanceUntil(clock, () => openCalls === 0);
    expect(first.acks).toHaveLength(6);
    expect(third.acks).toHaveLength(3);
  });

  it('strict: more than 5 PutMedia calls per second on a stream → ClientLimitExceededException', async () => {
    // The server clock stands still: all six calls fall within one of its seconds, however slow the machine.
    const local = await start({ strict: true, clock: new FakeClock(Date.now()) });
    await createStream(local, 'busy');
    const statuses: (number | undefined)[] = [];
    for (let call = 0; call < 6; call++) {
      const result = await putMedia(local, new Uint8Array(0), { streamName: 'busy' });
      statuses.push(result.status);
      if (result.status !== 200) {
        const answer = await result.call.response;
        expect(answer.headers['x-amzn-errortype']).toBe('ClientLimitExceededException');
        result.call.request.destroy();
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 400]);
  });

  it('strict: 5 fragments/s and 12.5 MB/s are enforced by throttling the upload, not by failing it', async () => {
    const fragments = fragmentsFrom(START_MS, 9, { frameBytes: 1000 });
    const { body } = buildSession(fragments);
    // Not strict: the whole upload is stored while the server clock stands still, so nothing made it wait.
    const lax = await start({ clock: new FakeClock(Date.now()) });
    await createStream(lax, 'rate');
    const laxResult = await putMedia(lax, body, { streamName: 'rate' });
    expect(laxResult.acks.filter((ack) => ack.EventType === 'PERSISTED')).toHaveLength(9);
    await lax.close();

    // Strict, the same upload needs the server clock to move; idle acks are kept out of the way.
    const clock = new FakeClock(Date.now());
    const strict = await start({ strict: true, clock, idleAckIntervalMs: 600_000, idleTimeoutMs: 600_000 });
    await createStream(strict, 'rate');
    const startMs = clock.now();
    const call = await openPutMedia(strict, { streamName: 'rate' });
    await call.response;
    let isClosed = false;
    void call.closed.then(() => {
      isClosed = true;
    });
    const writing = writeBody(call, body);
    // A one-second burst: fragments 1-6 begin at once, the sixth going into debt.
    await call.waitFor((acks) => acks.filter((ack) => ack.EventType === 'BUFFERING').length === 6);
    const movedMs = await advanceUntil(clock, () => isClosed);
    await writing;
    expect(call.acks.filter((ack) => ack.EventType === 'PERSISTED')).toHaveLength(9);
    // Then 5 fragments a second: fragment k > 6 cannot begin before (k - 6) x 200 ms, nor the body end before 800.
    const startsMs = (await storedFragments(strict, 'rate')).map((f) => f.serverTimestampMs - startMs);
    expect(startsMs.slice(0, 6)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(startsMs[6]).toBeGreaterThanOrEqual(200);
    expect(startsMs[7]).toBeGreaterThanOrEqual(400);
    expect(startsMs[8]).toBeGreaterThanOrEqual(600);
    expect(movedMs).toBeGreaterThanOrEqual(800);

    // 20 MB at 12.5 MB/s with a one-second burst: the body cannot all be read before the clock has moved
    // (20 MB - 12.5 MB) / 12.5 MB/s, about 0.6 s.
    await createStream(strict, 'bytes');
    const big = buildSession([{ timecode: START_MS, frameCount: 20, frameBytes: 1_000_000 }]);
    const bigCall = await openPutMedia(strict, { streamName: 'bytes' });
    await bigCall.response;
    let isBigClosed = false;
    void bigCall.closed.then(() => {
      isBigClosed = true;
    });
    const bigWriting = writeBody(bigCall, big.body, { chunkSize: 1024 * 1024 });
    const bigMovedMs = await advanceUntil(clock, () => isBigClosed, { stepMs: 20 });
    await bigWriting;
    expect(bigMovedMs).toBeGreaterThanOrEqual(500);
    expect(bigCall.acks.map((ack) => ack.EventType)).toEqual(['BUFFERING', 'RECEIVED', 'PERSISTED']);
  });
});

describe('PutMedia over broken and quiet connections', () => {
  it('a socket reset mid-fragment stores nothing of that fragment; the complete ones stay', async () => {
    const local = await start();
    await createStream(local, 'reset');
    const { body } = buildSession(fragmentsFrom(START_MS, 3));
    const call = await openPutMedia(local, { streamName: 'reset' });
    await call.response;
    // Everything but the last 3000 bytes: fragment 3 is incomplete.
    await writeBody(call, body.subarray(0, body.length - 3000), { isLeftOpen: true });
    await call.waitFor((acks) => acks.filter((ack) => ack.EventType === 'PERSISTED').length === 2);
    call.request.destroy();
    await call.closed;
    await eventually(() => local.logLines.some((line) => line.includes('/putMedia')));
    const stored = await storedFragments(local, 'reset');
    expect(stored.map((f) => f.timecode)).toEqual([START_MS, START_MS + 400]);
  });

  it('a body cut short by a client that closes its side mid-fragment: ERROR 4000 STREAM_READ_ERROR for that fragment', async () => {
    const local = await start({ noAuth: true });
    await createStream(local, 'cut');
    const { body } = buildSession(fragmentsFrom(START_MS, 2));
    const exchange = await rawRequest(
      Number(new URL(local.url).port),
      requestHead('/putMedia', {
        host: '127.0.0.1',
        'x-amzn-stream-name': 'cut',
        'x-amzn-fragment-timecode-type': 'ABSOLUTE',
        'transfer-encoding': 'chunked',
      }),
    );
    await exchange.head;
    await exchange.writeChunk(body.subarray(0, body.length - 100));
    // Let the server read what was sent, then half-close without the terminating chunk.
    await new Promise((resolve) => setTimeout(resolve, 50));
    exchange.socket.end();
    const answer = await exchange.done;
    expect(answer.isComplete).toBe(true);
    const acks = answer.chunks.map((chunk) => JSON.parse(chunk.toString('utf8')) as Ack);
    expect(acksPerFragment(acks, [START_MS, START_MS + 400])).toEqual([
      ['B', 'R', 'P'],
      ['B', 'E'],
    ]);
    expect(acks.at(-1)).toEqual({
      EventType: 'ERROR',
      FragmentTimecode: START_MS + 400,
      FragmentNumber: acks.find((ack) => ack.FragmentTimecode === START_MS + 400)!.FragmentNumber,
      ErrorCode: 'STREAM_READ_ERROR',
      ErrorId: 4000,
    });
    expect((await storedFragments(local, 'cut')).map((f) => f.timecode)).toEqual([START_MS]);
  });

  it('IDLE acks while the body is quiet, and the idle close after idleTimeoutMs', async () => {
    const clock = new FakeClock(Date.now());
    const local = await start({ idleAckIntervalMs: 100, idleTimeoutMs: 450, clock });
    await createStream(local, 'idle');
    const call = await openPutMedia(local, { streamName: 'idle' });
    await call.response;
    let isClosed = false;
    void call.closed.then(() => {
      isClosed = true;
    });
    const { body } = buildSession(fragmentsFrom(START_MS, 1));
    await writeBody(call, body, { isLeftOpen: true });
    // Every byte is in: the body is quiet from here. 1 ms short of the idle timeout the connection is still open;
    // at the timeout it ends, after an IDLE ack every 100 ms.
    await eventually(() => local.stats().ingest.bodyBytesReceived === body.length);
    await clock.advance(449);
    expect(isClosed).toBe(false);
    await clock.advance(1);
    const closed = await call.closed;
    expect(closed.isComplete).toBe(true);
    const idle = call.acks.filter((ack) => ack.EventType === 'IDLE');
    expect(idle.length).toBeGreaterThanOrEqual(2);
    expect(idle).toHaveLength(4);
    expect(idle[0]).toEqual({ EventType: 'IDLE' });
    // The fragment still open at the idle close is not complete: it is not stored.
    expect(await storedFragments(local, 'idle')).toEqual([]);
    call.request.destroy();
  });

  it('large bodies: 200 fragments of 50 KB stream through with every ack', async () => {
    const local = await start();
    await createStream(local, 'many');
    const { body } = buildSession(
      Array.from({ length: 200 }, (_, i) => ({
        timecode: START_MS + i * 200,
        frameCount: 5,
        frameBytes: 10_000,
      })),
    );
    const result = await putMedia(local, body, { streamName: 'many', chunkSize: 256 * 1024 });
    expect(result.acks.filter((ack) => ack.EventType === 'PERSISTED')).toHaveLength(200);
    expect(local.stats().ingest.bodyBytesReceived).toBe(body.length);
  });
});
