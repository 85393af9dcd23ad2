// The server itself: lifecycle, persistence under dataDir, logging, option checks, listen errors.
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamCommand,
  ListStreamsCommand,
  TagStreamCommand,
} from '@aws-sdk/client-kinesis-video';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, KvsPutError } from '../../src/errors.js';
import { LOCAL_KVS_CREDENTIALS, startLocalKvs } from '../../src/emulator/local-kvs.js';
import type { StreamEvent } from '../../src/emulator/stream-store.js';
import { rejectionOf, sdkClient, startTestKvs } from './emulator-test-helpers.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kvs-local-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('startLocalKvs', () => {
  it('listens on 127.0.0.1 with the documented defaults, and disposes with await using', async () => {
    let url: string;
    {
      await using kvs = await startLocalKvs();
      url = kvs.url;
      expect(kvs.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(kvs.region).toBe('us-east-1');
      expect(kvs.accountId).toBe('123456789012');
      expect(kvs.credentials).toEqual(LOCAL_KVS_CREDENTIALS);
      expect(LOCAL_KVS_CREDENTIALS).toEqual({
        accessKeyId: 'AKIDLOCALKVSPUT',
        secretAccessKey: 'kvs-put-local-secret-not-an-aws-key',
      });
      const client = sdkClient(kvs);
      expect((await client.send(new ListStreamsCommand({}))).StreamInfoList).toEqual([]);
      client.destroy();
    }
    // Closed: nothing listens there any more.
    await expect(fetch(`${url}/__health`)).rejects.toThrow();
  });

  it('close() is idempotent and drops idle keep-alive connections', async () => {
    const kvs = await startLocalKvs();
    const client = sdkClient(kvs);
    await client.send(new ListStreamsCommand({}));
    await Promise.all([kvs.close(), kvs.close()]);
    await kvs.close();
    client.destroy();
  });

  it('logs one line per request: time, method, path, status, operation, duration, error type, request id', async () => {
    const kvs = await startTestKvs();
    const client = sdkClient(kvs);
    await client.send(new CreateStreamCommand({ StreamName: 'logged' }));
    await rejectionOf(client.send(new DescribeStreamCommand({ StreamName: 'missing' })));
    client.destroy();
    await kvs.close();
    expect(kvs.logLines).toHaveLength(2);
    expect(kvs.logLines[0]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z POST \/createStream 200 CreateStream \d+ms req=[0-9a-f-]{36}$/,
    );
    expect(kvs.logLines[1]).toMatch(
      / POST \/describeStream 404 DescribeStream \d+ms ResourceNotFoundException req=/,
    );
  });

  it('refuses bad options with TypeErrors naming the option', async () => {
    await expect(startLocalKvs({ port: 70_000 })).rejects.toThrow(
      new TypeError('options.port, when provided, must be an integer from 0 to 65535; got 70000'),
    );
    await expect(startLocalKvs({ region: 'mars' })).rejects.toThrow(TypeError);
    await expect(startLocalKvs({ accountId: '42' })).rejects.toThrow(
      'options.accountId, when provided, must be 12 digits; got 42',
    );
    await expect(startLocalKvs({ creatingDelayMs: -1 })).rejects.toThrow(TypeError);
  });

  it('a port in use is a KvsPutError(Io) with a suggestion', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const error = await rejectionOf(startLocalKvs({ port }));
      expect(error).toBeInstanceOf(KvsPutError);
      expect(error).toMatchObject({
        code: ErrorCode.Io,
        message: `cannot listen on 127.0.0.1:${port}: address in use`,
      });
      expect(error.suggestion).toContain('--port 0');
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});

describe('persistence under dataDir', () => {
  it('streams, versions, tags and creation order survive a restart', async () => {
    const first = await startLocalKvs({ dataDir: join(dir, 'state') });
    let client = sdkClient(first);
    const { StreamARN } = await client.send(
      new CreateStreamCommand({ StreamName: 'kept', DataRetentionInHours: 24, MediaType: 'video/h264' }),
    );
    await client.send(new TagStreamCommand({ StreamARN, Tags: { site: 'garage' } }));
    await client.send(new CreateStreamCommand({ StreamName: 'dropped' }));
    const dropped = (await client.send(new DescribeStreamCommand({ StreamName: 'dropped' }))).StreamInfo!;
    await client.send(new DeleteStreamCommand({ StreamARN: dropped.StreamARN }));
    const before = (await client.send(new DescribeStreamCommand({ StreamName: 'kept' }))).StreamInfo;
    client.destroy();
    await first.close();

    const saved = JSON.parse(await readFile(join(dir, 'state', 'streams.json'), 'utf8')) as {
      format: string;
      streams: unknown[];
    };
    expect(saved.format).toBe('kvs-put-local/streams');
    expect(saved.streams).toHaveLength(1);

    const second = await startLocalKvs({ dataDir: join(dir, 'state') });
    client = sdkClient(second);
    expect((await client.send(new DescribeStreamCommand({ StreamName: 'kept' }))).StreamInfo).toEqual(before);
    await client.send(new CreateStreamCommand({ StreamName: 'after' }));
    const names = (await client.send(new ListStreamsCommand({}))).StreamInfoList?.map(
      (stream) => stream.StreamName,
    );
    expect(names).toEqual(['kept', 'after']);
    await expect(client.send(new DescribeStreamCommand({ StreamName: 'dropped' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    client.destroy();
    await second.close();
  });

  it('a corrupt state file is a clear KvsPutError, not an empty store', async () => {
    await writeFile(join(dir, 'streams.json'), '{"format":"something-else"}');
    const error = await rejectionOf(startLocalKvs({ dataDir: dir }));
    expect(error).toBeInstanceOf(KvsPutError);
    expect(error).toMatchObject({ code: ErrorCode.Config });
    expect(error.message).toBe(
      `the local KVS state file ${join(dir, 'streams.json')} is not valid: expected format "kvs-put-local/streams" version 1`,
    );
  });
});

describe('stream events for the data plane', () => {
  it('announces created, updated, deleting and deleted', async () => {
    const kvs = await startTestKvs();
    const events: string[] = [];
    const unsubscribe = kvs.store.subscribe((event: StreamEvent) =>
      events.push(`${event.type}:${event.stream.streamName}:${event.stream.status}`),
    );
    const client = sdkClient(kvs);
    const { StreamARN } = await client.send(new CreateStreamCommand({ StreamName: 'ev' }));
    await client.send(new TagStreamCommand({ StreamARN, Tags: { a: 'b' } }));
    await client.send(new DeleteStreamCommand({ StreamARN }));
    unsubscribe();
    client.destroy();
    await kvs.close();
    expect(events).toEqual([
      'created:ev:ACTIVE',
      'updated:ev:ACTIVE',
      'deleting:ev:DELETING',
      'deleted:ev:DELETING',
    ]);
  });
});
