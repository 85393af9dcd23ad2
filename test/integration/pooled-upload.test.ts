/**
 * Pooled reads end to end, in process: clipFragments reads a clip into a small BufferPool, an UploadSession
 * sends it to the local KVS (under a fault plan), and the stream read back with GetMedia must hold exactly the
 * clip's frames. The session releases each fragment only once it is acknowledged and off the socket, so the
 * pool reuses its buffers while the upload runs; a release too early would let a later read overwrite bytes
 * still to be sent (or resent after a failure), and the stored frames would differ.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  CreateStreamCommand,
  GetDataEndpointCommand,
  KinesisVideoClient,
} from '@aws-sdk/client-kinesis-video';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clipFragments } from '../../src/source/clip-source.js';
import type { ClipSourceReport } from '../../src/source/clip-source.js';
import { LOCAL_KVS_CREDENTIALS, startLocalKvs } from '../../src/emulator/local-kvs.js';
import type { LocalKvs } from '../../src/emulator/local-kvs.js';
import type { SessionItem } from '../../src/fragment/fragmenter.js';
import { AckEventType } from '../../src/kvs/ack.js';
import { PutMediaConnection } from '../../src/kvs/put-media-connection.js';
import type { UploadEvent, UploadOptions } from '../../src/session/upload-session.js';
import { UploadSession } from '../../src/session/upload-session.js';
import { BufferPool } from '../../src/util/buffer-pool.js';
import { hasTool } from '../helpers/paths.js';
import { expectedFrames, getMediaFrames } from '../helpers/read-back.js';
import type { FrameFact } from '../helpers/read-back.js';

const hasFfmpeg = hasTool('ffmpeg');
const START_MS = Date.parse('2026-01-02T03:04:05Z');
const FRAGMENTS = 8;
const STREAM = 'pooled';
let dir = '';
let clip = '';
let expected: FrameFact[] = [];

beforeAll(() => {
  if (!hasFfmpeg) {
    return;
  }
  // 8 fragments of 1 s (10 fps, a key frame every 10 frames, ~2 KB frames, ~24 KB fragments).
  dir = mkdtempSync(join(tmpdir(), 'kvs-put-pooled-'));
  clip = join(dir, 'clip.mkv');
  execFileSync('ffmpeg', [
    ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10', '-t', String(FRAGMENTS)],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', '-bf', '0', '-pix_fmt', 'yuv420p', clip],
  ]);
  expected = expectedFrames(clip, START_MS);
});

afterAll(() => {
  if (dir !== '') {
    rmSync(dir, { recursive: true, force: true });
  }
});

const sha1 = (bytes: Uint8Array): string => createHash('sha1').update(bytes).digest('hex');

/** A stream with retention (PERSISTED acks expected) and its PUT_MEDIA endpoint, through the real SDK client. */
const createStream = async (kvs: LocalKvs): Promise<string> => {
  const control = new KinesisVideoClient({
    endpoint: kvs.url,
    region: kvs.region,
    credentials: kvs.credentials,
  });
  try {
    await control.send(new CreateStreamCommand({ StreamName: STREAM, DataRetentionInHours: 1 }));
    const { DataEndpoint } = await control.send(
      new GetDataEndpointCommand({ StreamName: STREAM, APIName: 'PUT_MEDIA' }),
    );
    expect(DataEndpoint).toBeDefined();
    return DataEndpoint!;
  } finally {
    control.destroy();
  }
};

type Released = {
  /** Fragments yielded, by sequence: their frames' hashes on arrival, and how often release() was called. */
  yielded: Map<number, { sums: string[]; releases: number; pooledFrames: number }>;
  /** Frames whose bytes had changed by the time their fragment was released. */
  changedBeforeRelease: string[];
  /** Fragments released before any RECEIVED or PERSISTED ack named them. */
  releasedUnacknowledged: number[];
};

/**
 * Passes a source's fragments on, watching each one's release: that it comes, only after an ack, and with the
 * fragment's bytes still as they were read.
 */
async function* tap(
  source: AsyncIterable<SessionItem>,
  pool: BufferPool,
  acked: ReadonlySet<number>,
  out: Released,
): AsyncGenerator<SessionItem> {
  for await (const fragment of source) {
    if (fragment.type === 'session-header') {
      yield fragment;
      continue;
    }
    const record = {
      sums: fragment.frames.map((frame) => sha1(frame.data)),
      releases: 0,
      pooledFrames: fragment.frames.filter((frame) => frame.data.buffer.byteLength === pool.bufferBytes)
        .length,
    };
    out.yielded.set(fragment.sequence, record);
    const release = fragment.release!;
    yield {
      ...fragment,
      release: () => {
        if (record.releases++ === 0) {
          if (!acked.has(fragment.timecode)) {
            out.releasedUnacknowledged.push(fragment.sequence);
          }
          fragment.frames.forEach((frame, i) => {
            if (sha1(frame.data) !== record.sums[i]) {
              out.changedBeforeRelease.push(`fragment #${fragment.sequence} frame ${i}`);
            }
          });
        }
        release();
      },
    };
  }
}

/** The clip's fragments as kvs-put's clip source yields them (files never need ffmpeg). */
const clipSource = (
  pool?: BufferPool,
  report: ClipSourceReport = { onRefused: () => undefined, stats: [] },
) =>
  clipFragments(
    [{ path: clip, startTimeMs: START_MS }],
    {},
    {
      stdin: process.stdin,
      cwd: process.cwd(),
      openFfmpeg: () => {
        throw new Error('no ffmpeg');
      },
      ...(pool === undefined ? {} : { pool }),
    },
    report,
  );

/** An upload session to the local KVS's stream, persisted acks expected; `options` adds or overrides. */
const newSession = (kvs: LocalKvs, endpoint: string, options: Partial<UploadOptions> = {}): UploadSession =>
  new UploadSession({
    streamName: STREAM,
    region: kvs.region,
    credentials: () => Promise.resolve({ ...LOCAL_KVS_CREDENTIALS }),
    endpoint: () => Promise.resolve(endpoint),
    producerStartTimestampMs: START_MS,
    isPersistedAckExpected: true,
    userAgent: 'kvs-put-test',
    ...options,
  });

/** Uploads the clip read into a `bufferBytes` pool to a new stream of `kvs`, then reads the stream back. */
const upload = async (kvs: LocalKvs, bufferBytes: number) => {
  const endpoint = await createStream(kvs);
  const pool = new BufferPool(bufferBytes);
  const report: ClipSourceReport = { onRefused: () => undefined, stats: [] };
  const events: UploadEvent[] = [];
  const acked = new Set<number>();
  const released: Released = { yielded: new Map(), changedBeforeRelease: [], releasedUnacknowledged: [] };
  const source = tap(clipSource(pool, report), pool, acked, released);
  const session = newSession(kvs, endpoint, {
    // A small buffer: the source waits for acks, and the reads they free are read into again.
    maxBufferBytes: 32 * 1024,
    maxReadAheadBytes: 8 * 1024,
    backoff: { initialDelayMs: 50, maxDelayMs: 200, resetAfterMs: 90_000 },
    stalenessMs: 2000,
    finalAckTimeoutMs: 5000,
    onEvent: (event) => {
      events.push(event);
      if (
        event.type === 'ack' &&
        event.ack.FragmentTimecode !== undefined &&
        (event.ack.EventType === AckEventType.Received || event.ack.EventType === AckEventType.Persisted)
      ) {
        acked.add(event.ack.FragmentTimecode);
      }
    },
  });
  const summary = await session.run(source);
  const stored = await getMediaFrames(kvs, STREAM, FRAGMENTS);
  const reads = Math.ceil(statSync(clip).size / bufferBytes);
  return { pool, summary, events, stored, released, reads };
};

/** What every pooled upload must show, whatever the faults. */
const expectStoredAndReused = (result: Awaited<ReturnType<typeof upload>>): void => {
  const { summary, stored, released, pool, reads } = result;
  expect(summary.sourceError).toBeUndefined();
  expect(summary).toMatchObject({
    fragments: FRAGMENTS,
    persisted: FRAGMENTS,
    unacknowledged: 0,
    dropped: 0,
    skipped: [],
  });
  expect(stored.fragments).toBe(FRAGMENTS);
  expect(stored.frames).toEqual(expected);
  // Every fragment was handed back, after its ack, with its bytes as they were read.
  expect([...released.yielded.keys()]).toEqual([...Array(FRAGMENTS).keys()]);
  expect([...released.yielded.values()].map((record) => record.releases >= 1)).toEqual(
    Array(FRAGMENTS).fill(true),
  );
  expect(released.releasedUnacknowledged).toEqual([]);
  expect(released.changedBeforeRelease).toEqual([]);
  // The pool read the file into far fewer buffers than it took reads.
  expect(pool.allocatedCount).toBeLessThan(reads / 2);
};

describe.skipIf(!hasFfmpeg)('pooled reads uploaded to the local KVS (in process)', () => {
  // 2 KiB reads: most ~2 KB frames span two reads (the reader copies them); 8 KiB reads: most frames are
  // views of pool memory, so a buffer reused too early would change the bytes sent or resent.
  describe.each([2048, 8192])('BufferPool(%i)', (bufferBytes) => {
    it('no fault: every fragment persisted, stored frames equal the clip, buffers reused', async () => {
      await using kvs = await startLocalKvs();
      const result = await upload(kvs, bufferBytes);
      expectStoredAndReused(result);
      expect(result.summary).toMatchObject({ connections: 1, retries: 0 });
      if (bufferBytes > 4096) {
        const frames = [...result.released.yielded.values()];
        const pooled = frames.reduce((sum, record) => sum + record.pooledFrames, 0);
        expect(pooled).toBeGreaterThan(expected.length / 2);
      }
    });

    // When the session writes between the reset and the request's report of it, that write's onFlushed is lost
    // and its fragment is never released (the `releases >= 1` check): see the PutMediaConnection test below.
    it('a connection reset mid-fragment: the resent fragments still hold their bytes', async () => {
      await using kvs = await startLocalKvs({ faults: { putMedia: [{ resetAfterBytes: 30_000 }] } });
      const result = await upload(kvs, bufferBytes);
      expectStoredAndReused(result);
      expect(result.summary.retries).toBeGreaterThanOrEqual(1);
      expect(result.summary.connections).toBeGreaterThanOrEqual(2);
    });

    it('ERROR 5000 at fragment 3: the new session resumes at fragment 3 with intact bytes', async () => {
      await using kvs = await startLocalKvs({
        faults: { putMedia: [{ errorAtFragment: { fragment: 3, errorId: 5000 } }] },
      });
      const result = await upload(kvs, bufferBytes);
      expectStoredAndReused(result);
      expect(result.summary).toMatchObject({ connections: 2, retries: 1 });
      const connects = result.events.flatMap((event) =>
        event.type === 'connect' ? [event.resumeSequence] : [],
      );
      expect(connects).toEqual([0, 2]);
    });
  });
});

describe.skipIf(!hasFfmpeg)('connectBeforeData (live sources)', () => {
  it.each([true, false])(
    'connectBeforeData %s: the PutMedia connection is open before the first fragment only when asked',
    async (connectBeforeData) => {
      await using kvs = await startLocalKvs();
      const endpoint = await createStream(kvs);
      let onConnect: () => void = () => undefined;
      const connected = new Promise<boolean>((resolve) => {
        onConnect = () => resolve(true);
        setTimeout(() => resolve(false), 1500).unref();
      });
      let wasConnectedFirst: boolean | undefined;
      const source = async function* (): AsyncGenerator<SessionItem> {
        // A camera that takes a while to deliver its first frame.
        wasConnectedFirst = await connected;
        yield* clipSource();
      };
      const session = newSession(kvs, endpoint, {
        connectBeforeData,
        onEvent: (event) => {
          if (event.type === 'connect') {
            onConnect();
          }
        },
      });
      const summary = await session.run(source());
      expect(wasConnectedFirst).toBe(connectBeforeData);
      expect(summary).toMatchObject({
        fragments: FRAGMENTS,
        persisted: FRAGMENTS,
        connections: 1,
        retries: 0,
      });
      expect((await getMediaFrames(kvs, STREAM, FRAGMENTS)).frames).toEqual(expected);
    },
  );
});

describe.skipIf(!hasFfmpeg)('a long session keeps bounded stats', () => {
  it('settled fragments folded into totals give the same summary as all stats kept', async () => {
    const run = async (maxKeptStats: number | undefined) => {
      await using kvs = await startLocalKvs();
      const endpoint = await createStream(kvs);
      const session = newSession(kvs, endpoint, {
        // One fragment at a time, so that earlier ones are settled when later ones arrive.
        maxBufferBytes: 1,
        ...(maxKeptStats === undefined ? {} : { maxKeptStats }),
      });
      return await session.run(clipSource());
    };
    const full = await run(undefined);
    const folded = await run(2);
    expect(full.stats).toHaveLength(FRAGMENTS);
    expect(folded.stats.length).toBeLessThanOrEqual(3);
    const totals = (summary: typeof full) => ({
      fragments: summary.fragments,
      framesStored: summary.framesStored,
      persisted: summary.persisted,
      received: summary.received,
      skipped: summary.skipped.length,
      unacknowledged: summary.unacknowledged,
      hasAckLatency: summary.ackLatencyMs !== undefined,
    });
    expect(totals(folded)).toEqual(totals(full));
    expect(totals(folded)).toMatchObject({ fragments: FRAGMENTS, persisted: FRAGMENTS, hasAckLatency: true });
  });
});

describe('PutMediaConnection.write(chunks, onFlushed): the contract the session releases fragments by', () => {
  it('a write made after the socket died, before the request reported it, still calls onFlushed', async () => {
    await using kvs = await startLocalKvs();
    const endpoint = await createStream(kvs);
    // The PutMedia socket, to end it as a reset or the service's close does: Node destroys the socket at
    // once and reports it to the request only on a later tick, and the session may write in between.
    let socket: Socket | undefined;
    const onSocket = (message: unknown): void => {
      socket = (message as { socket: Socket }).socket;
    };
    subscribe('net.client.socket', onSocket);
    let conn: PutMediaConnection;
    try {
      conn = await PutMediaConnection.open(
        {
          endpoint,
          streamName: STREAM,
          region: kvs.region,
          credentials: { ...LOCAL_KVS_CREDENTIALS },
          timecodeMode: 'absolute',
          producerStartTimestampMs: START_MS,
          userAgent: 'kvs-put-test',
        },
        { onAck: () => undefined },
      );
    } finally {
      unsubscribe('net.client.socket', onSocket);
    }
    expect(socket).toBeDefined();
    socket!.destroy();
    let flushed = false;
    const written = conn.write([new Uint8Array(1000)], () => {
      flushed = true;
    });
    await written.catch(() => undefined);
    await conn.closed;
    await delay(100);
    // Never called, UploadSession never releases that fragment (entry.unflushedWrites stays above 0): its pool
    // buffers are never read into again, only collected with it.
    expect(flushed).toBe(true);
    conn.abort(new Error('test over'));
  });
});
