// ListFragments and GetMediaForFragmentList through the real @aws-sdk/client-kinesis-video-archived-media client,
// retention, persistence under dataDir across a restart mid-stream, and the introspection endpoints.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteStreamCommand } from '@aws-sdk/client-kinesis-video';
import type { Fragment } from '@aws-sdk/client-kinesis-video-archived-media';
import {
  GetMediaForFragmentListCommand,
  InvalidArgumentException,
  ListFragmentsCommand,
  ResourceNotFoundException,
  paginateListFragments,
} from '@aws-sdk/client-kinesis-video-archived-media';
import { GetMediaCommand } from '@aws-sdk/client-kinesis-video-media';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LocalKvs, LocalKvsOptions } from '../../src/emulator/local-kvs.js';
import { rejectionOf, sdkClient, startTestKvs, testClock } from './emulator-test-helpers.js';
import { archivedMediaClient, mediaClient, readChunks } from './media-read-helpers.js';
import {
  buildSession,
  createStream,
  openPutMedia,
  putMedia,
  sha1Hex,
  storedFragments,
  writeBody,
} from './put-media-helpers.js';

const T = Date.now() - 3_600_000;

let servers: LocalKvs[] = [];
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kvs-archive-'));
});

afterEach(async () => {
  for (const server of servers) {
    await server.close();
  }
  servers = [];
  await rm(dir, { recursive: true, force: true });
});

const start = async (options: LocalKvsOptions = {}): Promise<LocalKvs> => {
  const server = await startTestKvs({ getMediaIdleTimeoutMs: 200, ...options });
  servers.push(server);
  return server;
};

/** Every fragment of a ListFragments selection, following NextToken with the SDK paginator. */
const listAll = async (
  local: LocalKvs,
  streamName: string,
  range: { type: 'PRODUCER_TIMESTAMP' | 'SERVER_TIMESTAMP'; startMs: number; endMs: number },
  pageSize?: number,
): Promise<{ fragments: Fragment[]; pages: number }> => {
  const client = await archivedMediaClient(local, streamName);
  const fragments: Fragment[] = [];
  let pages = 0;
  for await (const page of paginateListFragments(
    { client, ...(pageSize === undefined ? {} : { pageSize }) },
    {
      StreamName: streamName,
      FragmentSelector: {
        FragmentSelectorType: range.type,
        TimestampRange: { StartTimestamp: new Date(range.startMs), EndTimestamp: new Date(range.endMs) },
      },
    },
  )) {
    pages++;
    fragments.push(...(page.Fragments ?? []));
  }
  client.destroy();
  return { fragments, pages };
};

const WIDE = { type: 'PRODUCER_TIMESTAMP' as const, startMs: 0, endMs: Date.now() + 86_400_000 };

describe('ListFragments', () => {
  it('lists every fragment with its facts; pages follow NextToken; timestamp ranges select by start time', async () => {
    const local = await start();
    await createStream(local, 'listed');
    const { body } = buildSession(Array.from({ length: 7 }, (_, i) => ({ timecode: T + i * 400 })));
    await putMedia(local, body, { streamName: 'listed' });
    const stored = await storedFragments(local, 'listed');

    const { fragments, pages } = await listAll(local, 'listed', WIDE, 3);
    expect(pages).toBe(3);
    expect(fragments.map((fragment) => fragment.FragmentNumber)).toEqual(stored.map((f) => f.fragmentNumber));
    expect(fragments[0]).toEqual({
      FragmentNumber: stored[0]!.fragmentNumber,
      FragmentSizeInBytes: stored[0]!.sizeBytes,
      ProducerTimestamp: new Date(T),
      ServerTimestamp: new Date(stored[0]!.serverTimestampMs),
      FragmentLengthInMilliseconds: 400,
    });
    const producerRange = await listAll(local, 'listed', {
      type: 'PRODUCER_TIMESTAMP',
      startMs: T + 400,
      endMs: T + 1200,
    });
    expect(producerRange.fragments.map((f) => f.ProducerTimestamp?.getTime())).toEqual([
      T + 400,
      T + 800,
      T + 1200,
    ]);
    const serverRange = await listAll(local, 'listed', {
      type: 'SERVER_TIMESTAMP',
      startMs: stored[0]!.serverTimestampMs,
      endMs: stored[6]!.serverTimestampMs,
    });
    expect(serverRange.fragments).toHaveLength(7);
    const none = await listAll(local, 'listed', { type: 'SERVER_TIMESTAMP', startMs: 0, endMs: 1000 });
    expect(none.fragments).toEqual([]);
  });

  it('checks its input: a selector (or a token) is needed, ranges must be ordered, tokens must be ours', async () => {
    const local = await start();
    await createStream(local, 'strict-input');
    const client = await archivedMediaClient(local, 'strict-input');
    const noSelector = await rejectionOf(
      client.send(new ListFragmentsCommand({ StreamName: 'strict-input' })),
    );
    expect(noSelector).toBeInstanceOf(InvalidArgumentException);
    const reversed = await rejectionOf(
      client.send(
        new ListFragmentsCommand({
          StreamName: 'strict-input',
          FragmentSelector: {
            FragmentSelectorType: 'SERVER_TIMESTAMP',
            TimestampRange: { StartTimestamp: new Date(2000), EndTimestamp: new Date(1000) },
          },
        }),
      ),
    );
    expect(reversed).toBeInstanceOf(InvalidArgumentException);
    const badToken = await rejectionOf(
      client.send(new ListFragmentsCommand({ StreamName: 'strict-input', NextToken: 'bm90LWEtdG9rZW4=' })),
    );
    expect(badToken).toMatchObject({
      name: 'InvalidArgumentException',
      message: 'The NextToken is not valid.',
    });
    const unknown = await rejectionOf(
      client.send(
        new ListFragmentsCommand({
          StreamName: 'nope',
          FragmentSelector: {
            FragmentSelectorType: 'SERVER_TIMESTAMP',
            TimestampRange: { StartTimestamp: new Date(0), EndTimestamp: new Date() },
          },
        }),
      ),
    );
    expect(unknown).toBeInstanceOf(ResourceNotFoundException);
    client.destroy();
  });

  it('retention 0: nothing is archived, so nothing is listed; retention expiry drops old fragments', async () => {
    const clock = testClock();
    const local = await start({ clock });
    await createStream(local, 'ephemeral', 0);
    await createStream(local, 'hourly', 1);
    const { body } = buildSession([{ timecode: T }, { timecode: T + 400 }]);
    await putMedia(local, body, { streamName: 'ephemeral' });
    await putMedia(local, body, { streamName: 'hourly' });
    expect((await listAll(local, 'ephemeral', WIDE)).fragments).toEqual([]);
    expect((await listAll(local, 'hourly', WIDE)).fragments).toHaveLength(2);
    clock.advance(3_600_000 + 1000);
    expect((await listAll(local, 'hourly', WIDE)).fragments).toEqual([]);
    const client = await mediaClient(local, 'hourly');
    const output = await client.send(
      new GetMediaCommand({ StreamName: 'hourly', StartSelector: { StartSelectorType: 'EARLIEST' } }),
    );
    expect(await output.Payload!.transformToByteArray()).toHaveLength(0);
    client.destroy();
  });
});

describe('GetMediaForFragmentList', () => {
  it('serves the fragments asked for, in the order asked, with the service head tags and no tail tags', async () => {
    const local = await start();
    await createStream(local, 'picked');
    const { body, frames } = buildSession(Array.from({ length: 4 }, (_, i) => ({ timecode: T + i * 400 })));
    await putMedia(local, body, { streamName: 'picked' });
    const stored = await storedFragments(local, 'picked');
    const wanted = [stored[3]!, stored[1]!];
    const client = await archivedMediaClient(local, 'picked');
    const output = await client.send(
      new GetMediaForFragmentListCommand({
        StreamName: 'picked',
        Fragments: wanted.map((fragment) => fragment.fragmentNumber),
      }),
    );
    expect(output.ContentType).toBe('video/webm');
    const chunks = readChunks(await output.Payload!.transformToByteArray());
    expect(chunks.map((chunk) => chunk.layout)).toEqual([
      ['header', 'kvs-head', 'cluster', 'frames', 'end'],
      ['header', 'kvs-head', 'cluster', 'frames', 'end'],
    ]);
    expect(chunks.map((chunk) => chunk.head)).toEqual(
      wanted.map((fragment) => ({
        AWS_KINESISVIDEO_FRAGMENT_NUMBER: fragment.fragmentNumber,
        AWS_KINESISVIDEO_SERVER_TIMESTAMP: (fragment.serverTimestampMs / 1000).toFixed(3),
        AWS_KINESISVIDEO_PRODUCER_TIMESTAMP: (fragment.producerTimestampMs / 1000).toFixed(3),
      })),
    );
    expect(chunks[0]!.frames.map((frame) => frame.sha1)).toEqual(
      frames[3]!.map((frame) => sha1Hex(frame.data)),
    );

    const unknown = await rejectionOf(
      client.send(
        new GetMediaForFragmentListCommand({
          StreamName: 'picked',
          Fragments: [`${stored[0]!.fragmentNumber}7`],
        }),
      ),
    );
    expect(unknown).toBeInstanceOf(ResourceNotFoundException);
    for (const fragments of [[], Array.from({ length: 1001 }, () => stored[0]!.fragmentNumber), ['12a']]) {
      const error = await rejectionOf(
        client.send(new GetMediaForFragmentListCommand({ StreamName: 'picked', Fragments: fragments })),
      );
      expect(error).toBeInstanceOf(InvalidArgumentException);
    }
    client.destroy();
  });
});

describe('persistence under dataDir', () => {
  it('a restart mid-stream: stored fragments are still listed and readable, and a new session continues', async () => {
    const dataDir = join(dir, 'data');
    const first = await start({ dataDir });
    await createStream(first, 'durable');
    const session = buildSession(Array.from({ length: 6 }, (_, i) => ({ timecode: T + i * 400 })));
    const call = await openPutMedia(first, { streamName: 'durable' });
    await call.response;
    // Fragments 1–3 complete (fragment 4 has begun): the server stops mid-stream.
    await writeBody(
      call,
      session.body.subarray(0, session.parts.slice(0, 5).reduce((n, p) => n + p.length, 0) - 100),
      {
        isLeftOpen: true,
      },
    );
    await call.waitFor((acks) => acks.filter((ack) => ack.EventType === 'PERSISTED').length === 3);
    const before = await storedFragments(first, 'durable');
    expect(before).toHaveLength(3);
    await first.close();
    await call.closed;

    const second = await start({ dataDir });
    const after = await storedFragments(second, 'durable');
    expect(after).toEqual(before);
    expect((await listAll(second, 'durable', WIDE)).fragments.map((f) => f.FragmentNumber)).toEqual(
      before.map((f) => f.fragmentNumber),
    );
    const client = await mediaClient(second, 'durable');
    const output = await client.send(
      new GetMediaCommand({ StreamName: 'durable', StartSelector: { StartSelectorType: 'EARLIEST' } }),
    );
    const chunks = readChunks(await output.Payload!.transformToByteArray());
    client.destroy();
    expect(chunks.map((chunk) => chunk.frames.map((frame) => frame.sha1))).toEqual(
      session.frames.slice(0, 3).map((frames) => frames.map((frame) => sha1Hex(frame.data))),
    );
    expect(chunks[0]!.headerBytes).toEqual(session.parts[0]);

    // The producer reconnects and resends from fragment 4.
    const resumed = buildSession(Array.from({ length: 3 }, (_, i) => ({ timecode: T + (i + 3) * 400 })));
    const result = await putMedia(second, resumed.body, { streamName: 'durable' });
    expect(result.acks.filter((ack) => ack.EventType === 'PERSISTED')).toHaveLength(3);
    const all = await storedFragments(second, 'durable');
    expect(all.map((f) => f.timecode)).toEqual(Array.from({ length: 6 }, (_, i) => T + i * 400));
    const numbers = all.map((f) => f.fragmentNumber);
    expect([...numbers].sort()).toEqual(numbers);
    expect(new Set(numbers).size).toBe(6);

    // The bytes are on disk, in one directory per stream; deleting the stream removes it.
    const [streamDir] = await readdir(join(dataDir, 'media'));
    expect(streamDir).toMatch(/^durable-\d+-[0-9a-f]{8}$/);
    const size = (await stat(join(dataDir, 'media', streamDir!, 'fragments.bin'))).size;
    expect(size).toBe(all.reduce((sum, fragment) => sum + fragment.sizeBytes, 0));
    const control = sdkClient(second);
    const { StreamInfo } = await control.send(
      new (await import('@aws-sdk/client-kinesis-video')).DescribeStreamCommand({ StreamName: 'durable' }),
    );
    await control.send(new DeleteStreamCommand({ StreamARN: StreamInfo!.StreamARN! }));
    control.destroy();
    await second.media.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await readdir(join(dataDir, 'media'))).toEqual([]);
  });

  it('a 50 MB upload to dataDir: fragment bytes are written to disk and not kept in memory', async () => {
    const dataDir = join(dir, 'big');
    const local = await start({ dataDir, noAuth: true });
    await createStream(local, 'big');
    const { body } = buildSession(
      Array.from({ length: 50 }, (_, i) => ({ timecode: T + i * 400, frameCount: 10, frameBytes: 100_000 })),
    );
    const heapBefore = process.memoryUsage().arrayBuffers;
    const result = await putMedia(local, body, {
      streamName: 'big',
      isUnsigned: true,
      chunkSize: 256 * 1024,
    });
    expect(result.acks.filter((ack) => ack.EventType === 'PERSISTED')).toHaveLength(50);
    expect(local.stats().storage).toMatchObject({ fragmentsStored: 50, pendingWriteBytes: 0 });
    // The stored fragments hold no bytes in memory (only the body itself, held by this test, remains).
    global.gc?.();
    expect(process.memoryUsage().arrayBuffers - heapBefore).toBeLessThan(body.length + 20_000_000);
  });
});

describe('introspection', () => {
  it('GET /__emulator/streams/<name>/fragments and /__emulator/stats; unknown streams are 404', async () => {
    const local = await start();
    await createStream(local, 'seen');
    const { body } = buildSession([
      { timecode: T, tracks: [1], tags: [{ name: 'WHO', value: 'me' }] },
      { timecode: T + 400, isKeyStart: false, frameCount: 3 },
    ]);
    await putMedia(local, body, { streamName: 'seen' });
    const response = await fetch(`${local.url}/__emulator/streams/seen/fragments`);
    expect(response.status).toBe(200);
    const view = (await response.json()) as Record<string, unknown>;
    expect(view).toMatchObject({ streamName: 'seen', status: 'ACTIVE', dataRetentionInHours: 1 });
    expect(view['fragments']).toEqual([
      expect.objectContaining({
        timecode: T,
        producerTimestampMs: T,
        durationMs: 400,
        frameCount: 10,
        framesPerTrack: { '1': 10 },
        startsWithKeyframe: true,
        isArchived: true,
        tags: [{ name: 'WHO', value: 'me' }],
        fragmentNumber: expect.stringMatching(/^\d{47}$/),
        sizeBytes: expect.any(Number),
        serverTimestampMs: expect.any(Number),
      }),
      expect.objectContaining({ frameCount: 3, startsWithKeyframe: false, durationMs: 120 }),
    ]);
    const stats = (await (await fetch(`${local.url}/__emulator/stats`)).json()) as Record<string, unknown>;
    expect(stats).toMatchObject({
      ingest: { putMediaConnections: 1, bodyBytesReceived: body.length, fragmentsReceived: 2 },
      storage: { fragmentsStored: 2 },
      memory: { rssBytes: expect.any(Number) },
    });
    expect((await fetch(`${local.url}/__emulator/streams/other/fragments`)).status).toBe(404);
    expect((await fetch(`${local.url}/__emulator/nothing`)).status).toBe(404);
  });
});
