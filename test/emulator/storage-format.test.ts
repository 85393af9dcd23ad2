// The on-disk format under dataDir, spelled out byte for byte: a data directory written by any earlier version
// must keep loading, and what the local KVS appends to it must keep that format.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeStreamCommand } from '@aws-sdk/client-kinesis-video';
import { GetMediaForFragmentListCommand } from '@aws-sdk/client-kinesis-video-archived-media';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chunkHeadTags } from '../../src/emulator/kvs-chunk.js';
import type { LocalKvs } from '../../src/emulator/local-kvs.js';
import { concatChunks } from '../../src/mkv/mkv-writer.js';
import { sdkClient, startTestKvs } from './emulator-test-helpers.js';
import { archivedMediaClient } from './media-read-helpers.js';
import { buildSession, putMedia, storedFragments } from './put-media-helpers.js';

const ACCOUNT = '123456789012';
const CREATED_MS = 1_700_000_000_000;
const ARN = `arn:aws:kinesisvideo:us-east-1:${ACCOUNT}:stream/kept/${CREATED_MS}`;
/** `<name>-<creationMs>-<first 8 hex of sha256(ARN)>`. */
const STREAM_DIR = `kept-${CREATED_MS}-${createHash('sha256').update(ARN).digest('hex').slice(0, 8)}`;
const NUMBER_1 = '91343852333000000000000000000000000000000000001';
const NUMBER_2 = '91343852333000000000000000000000000000000000002';
const T = Date.now() - 60_000;

let dir: string;
let kvs: LocalKvs | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kvs-format-'));
});

afterEach(async () => {
  await kvs?.close();
  kvs = undefined;
  await rm(dir, { recursive: true, force: true });
});

const streamsJson = {
  format: 'kvs-put-local/streams',
  formatVersion: 1,
  nextSequence: 2,
  streams: [
    {
      accountId: ACCOUNT,
      region: 'us-east-1',
      streamName: 'kept',
      streamArn: ARN,
      creationTimeMs: CREATED_MS,
      sequence: 1,
      mediaType: 'video/h264',
      kmsKeyId: `arn:aws:kms:us-east-1:${ACCOUNT}:alias/aws/kinesisvideo`,
      version: 'AbCdEfGhIjKlMnOpQrSt',
      dataRetentionInHours: 24,
      storageTier: 'HOT',
      tags: { site: 'garage' },
      status: 'ACTIVE',
    },
  ],
};

/** A data directory as the format describes it: two stored fragments (and a last index line torn by a crash). */
const writeDataDir = async (
  dataDir: string,
  options: { isTorn: boolean },
): Promise<{ header: Uint8Array; fragments: Uint8Array[] }> => {
  const session = buildSession([{ timecode: T }, { timecode: T + 400 }]);
  const [header, first, second] = session.parts as [Uint8Array, Uint8Array, Uint8Array];
  const streamDir = join(dataDir, 'media', STREAM_DIR);
  await mkdir(streamDir, { recursive: true });
  await writeFile(join(dataDir, 'streams.json'), `${JSON.stringify(streamsJson, null, 2)}\n`);
  await writeFile(join(streamDir, 'headers.bin'), header);
  await writeFile(join(streamDir, 'fragments.bin'), concatChunks([first, second]));
  const fragmentLine = (n: string, tc: number, off: number, len: number): string =>
    JSON.stringify({
      t: 'fragment',
      n,
      tc,
      pts: tc,
      sts: tc + 5,
      dur: 400,
      off,
      len,
      frames: 10,
      perTrack: { '1': 10 },
      key: true,
      tags: [
        { name: 'site', value: 'garage' },
        { name: 'blob', binary: 'AQID' },
      ],
      h: 1,
    });
  const lines = [
    JSON.stringify({ t: 'stream', format: 'kvs-put-local/media', formatVersion: 1, streamArn: ARN }),
    JSON.stringify({ t: 'header', id: 1, offset: 0, length: header.length }),
    fragmentLine(NUMBER_1, T, 0, first.length),
    fragmentLine(NUMBER_2, T + 400, first.length, second.length),
  ];
  const index = `${lines.join('\n')}\n${options.isTorn ? '{"t":"fragment","n":"9134' : ''}`;
  await writeFile(join(streamDir, 'index.ndjson'), index);
  return { header, fragments: [first, second] };
};

describe('the on-disk format under dataDir', () => {
  it('a data directory in the format loads: streams, fragment facts, and the bytes as stored', async () => {
    const dataDir = join(dir, 'data');
    const { header, fragments } = await writeDataDir(dataDir, { isTorn: true });
    kvs = await startTestKvs({ dataDir });

    const client = sdkClient(kvs);
    const info = (await client.send(new DescribeStreamCommand({ StreamName: 'kept' }))).StreamInfo;
    client.destroy();
    expect(info).toMatchObject({
      StreamARN: ARN,
      Version: 'AbCdEfGhIjKlMnOpQrSt',
      MediaType: 'video/h264',
      DataRetentionInHours: 24,
      Status: 'ACTIVE',
    });
    expect(await storedFragments(kvs, 'kept')).toEqual([
      {
        fragmentNumber: NUMBER_1,
        timecode: T,
        producerTimestampMs: T,
        serverTimestampMs: T + 5,
        durationMs: 400,
        sizeBytes: fragments[0]!.length,
        frameCount: 10,
        framesPerTrack: { '1': 10 },
        startsWithKeyframe: true,
        isArchived: true,
        tags: [{ name: 'site', value: 'garage' }, { name: 'blob' }],
      },
      expect.objectContaining({ fragmentNumber: NUMBER_2, timecode: T + 400 }),
    ]);

    const media = await archivedMediaClient(kvs, 'kept');
    const output = await media.send(
      new GetMediaForFragmentListCommand({ StreamName: 'kept', Fragments: [NUMBER_2] }),
    );
    const bytes = await output.Payload!.transformToByteArray();
    media.destroy();
    const facts = { fragmentNumber: NUMBER_2, serverTimestampMs: T + 405, producerTimestampMs: T + 400 };
    expect(
      Buffer.from(bytes).equals(Buffer.from(concatChunks([header, chunkHeadTags(facts), fragments[1]!]))),
    ).toBe(true);
  });

  it('what a new session appends: its header once, then one index line per fragment, numbers above the stored ones', async () => {
    const dataDir = join(dir, 'data');
    const { header, fragments } = await writeDataDir(dataDir, { isTorn: false });
    const streamDir = join(dataDir, 'media', STREAM_DIR);
    const indexBefore = await readFile(join(streamDir, 'index.ndjson'), 'utf8');
    kvs = await startTestKvs({ dataDir });

    const next = buildSession([{ timecode: T + 800, tags: [{ name: 'site', value: 'porch' }] }]);
    const result = await putMedia(kvs, next.body, { streamName: 'kept' });
    expect(result.acks.map((ack) => ack.EventType)).toEqual(['BUFFERING', 'RECEIVED', 'PERSISTED']);
    const number = result.acks[0]!.FragmentNumber!;
    expect(number).toHaveLength(47);
    expect(number > NUMBER_2).toBe(true);
    await kvs.close();
    kvs = undefined;

    expect(await readdir(join(dataDir, 'media'))).toEqual([STREAM_DIR]);
    const index = await readFile(join(streamDir, 'index.ndjson'), 'utf8');
    expect(index.startsWith(indexBefore)).toBe(true);
    const appended = index.slice(indexBefore.length).split('\n');
    const fragmentBytes = next.parts[1]!;
    const storedBefore = fragments[0]!.length + fragments[1]!.length;
    expect(appended.map((line) => (line === '' ? line : JSON.parse(line)))).toEqual([
      { t: 'header', id: 2, offset: header.length, length: next.parts[0]!.length },
      {
        t: 'fragment',
        n: number,
        tc: T + 800,
        pts: T + 800,
        sts: expect.any(Number),
        dur: 400,
        off: storedBefore,
        len: fragmentBytes.length,
        frames: 10,
        perTrack: { '1': 10 },
        key: true,
        tags: [{ name: 'site', value: 'porch' }],
        h: 2,
      },
      '',
    ]);
    const fragmentsFile = await readFile(join(streamDir, 'fragments.bin'));
    expect(fragmentsFile.subarray(storedBefore).equals(Buffer.from(fragmentBytes))).toBe(true);
    const headersFile = await readFile(join(streamDir, 'headers.bin'));
    expect(headersFile.subarray(header.length).equals(Buffer.from(next.parts[0]!))).toBe(true);

    const saved = JSON.parse(await readFile(join(dataDir, 'streams.json'), 'utf8')) as typeof streamsJson;
    expect(saved).toEqual(streamsJson);
  });

  // A crash mid-write leaves the index's last line torn. The next start ignored that line, but the next session's
  // first index line was appended to it, so it was lost too: after the following restart that session's header
  // was gone and its fragments were served without one.
  it("after a crash mid-line, the next session's index lines start on a line of their own", async () => {
    const dataDir = join(dir, 'data');
    const { header } = await writeDataDir(dataDir, { isTorn: true });
    kvs = await startTestKvs({ dataDir });
    const next = buildSession([{ timecode: T + 800 }]);
    const result = await putMedia(kvs, next.body, { streamName: 'kept' });
    const number = result.acks[0]!.FragmentNumber!;
    await kvs.close();

    kvs = await startTestKvs({ dataDir });
    expect((await storedFragments(kvs, 'kept')).map((fragment) => fragment.fragmentNumber)).toEqual([
      NUMBER_1,
      NUMBER_2,
      number,
    ]);
    const media = await archivedMediaClient(kvs, 'kept');
    const output = await media.send(
      new GetMediaForFragmentListCommand({ StreamName: 'kept', Fragments: [NUMBER_1, number] }),
    );
    const bytes = Buffer.from(await output.Payload!.transformToByteArray());
    media.destroy();
    // Each fragment comes with its own session's header: the stored one, then the new session's.
    expect(bytes.subarray(0, header.length).equals(Buffer.from(header))).toBe(true);
    expect(bytes.includes(Buffer.from(next.parts[0]!), header.length)).toBe(true);
  });

  it('a fresh data directory: streams.json, then one directory per stream whose index starts with its stream line', async () => {
    const dataDir = join(dir, 'fresh');
    kvs = await startTestKvs({ dataDir });
    const client = sdkClient(kvs);
    const { CreateStreamCommand } = await import('@aws-sdk/client-kinesis-video');
    const { StreamARN } = await client.send(
      new CreateStreamCommand({ StreamName: 'new', DataRetentionInHours: 2 }),
    );
    client.destroy();
    await putMedia(kvs, buildSession([{ timecode: T }]).body, { streamName: 'new' });
    await kvs.close();
    kvs = undefined;

    const saved = JSON.parse(await readFile(join(dataDir, 'streams.json'), 'utf8')) as {
      streams: Record<string, unknown>[];
    };
    expect(Object.keys(saved)).toEqual(['format', 'formatVersion', 'nextSequence', 'streams']);
    expect(Object.keys(saved.streams[0]!)).toEqual([
      'accountId',
      'region',
      'streamName',
      'streamArn',
      'creationTimeMs',
      'sequence',
      'kmsKeyId',
      'version',
      'dataRetentionInHours',
      'storageTier',
      'tags',
      'status',
    ]);
    const [streamDir] = await readdir(join(dataDir, 'media'));
    expect((await readdir(join(dataDir, 'media', streamDir!))).sort()).toEqual([
      'fragments.bin',
      'headers.bin',
      'index.ndjson',
    ]);
    const lines = (await readFile(join(dataDir, 'media', streamDir!, 'index.ndjson'), 'utf8')).split('\n');
    expect(JSON.parse(lines[0]!)).toEqual({
      t: 'stream',
      format: 'kvs-put-local/media',
      formatVersion: 1,
      streamArn: StreamARN,
    });
    expect(lines.slice(1).map((line) => (line === '' ? '' : (JSON.parse(line) as { t: string }).t))).toEqual([
      'header',
      'fragment',
      '',
    ]);
  });
});
