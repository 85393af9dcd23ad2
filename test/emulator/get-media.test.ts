// GetMedia on the local KVS through the real @aws-sdk/client-kinesis-video-media client: the chunk layout of the
// real service's captures, the payloads as sent, every StartSelector, the live tail, and the limits.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { StartSelector } from '@aws-sdk/client-kinesis-video-media';
import {
  ConnectionLimitExceededException,
  GetMediaCommand,
  InvalidArgumentException,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis-video-media';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chunkHeadTags, chunkTailTags } from '../../src/emulator/kvs-chunk.js';
import type { LocalKvs, LocalKvsOptions } from '../../src/emulator/local-kvs.js';
import type { ClusterFrame } from '../../src/mkv/mkv-writer.js';
import { Fragmenter, fragmentsOf } from '../../src/fragment/fragmenter.js';
import { SessionWriter } from '../../src/fragment/session-writer.js';
import { MkvReader, readMkv } from '../../src/mkv/mkv-reader.js';
import { concatChunks } from '../../src/mkv/mkv-writer.js';
import { FIXTURES, SHARED_FIXTURES, hasTool } from '../helpers/paths.js';
import { FakeClock } from '../helpers/fake-clock.js';
import type { TestClock } from './emulator-test-helpers.js';
import { advanceUntil, rejectionOf, startTestKvs, testClock } from './emulator-test-helpers.js';
import type { MediaChunk } from './media-read-helpers.js';
import { mediaClient, readChunks, serviceLayout } from './media-read-helpers.js';
import type { FragmentSpec } from './put-media-helpers.js';
import {
  AUDIO_TRACK,
  VIDEO_TRACK,
  buildSession,
  createStream,
  openPutMedia,
  putMedia,
  sha1Hex,
  storedFragments,
  writeBody,
} from './put-media-helpers.js';

const T = Date.now() - 3_600_000;
const CAPTURES = join(SHARED_FIXTURES, 'kvs-getmedia');

let kvs: LocalKvs | undefined;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kvs-getmedia-'));
  return () => rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await kvs?.close();
  kvs = undefined;
});

const start = async (options: LocalKvsOptions = {}): Promise<LocalKvs> => {
  kvs = await startTestKvs({ getMediaIdleTimeoutMs: 200, ...options });
  return kvs;
};

/**
 * Uploads fragments one by one, moving the server clock 1 s after each one starts, so that server timestamps are
 * distinct and further apart than a fragment lasts. Returns the frames sent per fragment.
 */
const uploadSpaced = async (
  local: LocalKvs,
  clock: TestClock | FakeClock,
  streamName: string,
  fragments: FragmentSpec[],
): Promise<ClusterFrame[][]> => {
  const { parts, frames } = buildSession(fragments, { tracks: [VIDEO_TRACK, AUDIO_TRACK] });
  const call = await openPutMedia(local, { streamName });
  await call.response;
  await writeBody(call, parts[0]!, { isLeftOpen: true });
  for (let k = 1; k < parts.length; k++) {
    await writeBody(call, parts[k]!, { isLeftOpen: true });
    await call.waitFor((acks) => acks.filter((ack) => ack.EventType === 'BUFFERING').length === k);
    await clock.advance(1000);
  }
  call.request.end();
  await call.closed;
  return frames;
};

/** GetMedia through the SDK; the whole answer (it ends after the idle timeout). */
const getMedia = async (
  local: LocalKvs,
  streamName: string,
  selector: StartSelector,
): Promise<{ contentType: string | undefined; bytes: Uint8Array; chunks: MediaChunk[] }> => {
  const client = await mediaClient(local, streamName);
  try {
    const output = await client.send(
      new GetMediaCommand({ StreamName: streamName, StartSelector: selector }),
    );
    const bytes = await output.Payload!.transformToByteArray();
    return { contentType: output.ContentType, bytes, chunks: readChunks(bytes) };
  } finally {
    client.destroy();
  }
};

const frameHashes = (frames: readonly ClusterFrame[]): { trackNumber: number; sha1: string }[] =>
  frames.map((frame) => ({ trackNumber: frame.trackNumber, sha1: sha1Hex(frame.data) }));

const fragmentSpecs = (count: number): FragmentSpec[] =>
  Array.from({ length: count }, (_, i) => ({
    timecode: T + i * 400,
    tracks: [1, 2],
    frameCount: 5,
    frameMs: 80,
    ...(i === 1 ? { tags: [{ name: 'EVENT', value: 'door-open' }] } : {}),
  }));

describe('GetMedia chunks, as the real service lays them out', () => {
  it("the service's Tags elements are byte-identical to the captured ones for the same values", () => {
    const capture = readFileSync(join(CAPTURES, 'output_get_media.mkv'));
    const head = chunkHeadTags({
      fragmentNumber: '91343852333181432392682062607743920146159169392',
      serverTimestampMs: 1_511_852_109_126,
      producerTimestampMs: 1_511_852_108_513,
    });
    expect(capture.indexOf(Buffer.from(head))).toBeGreaterThan(0);
    const tail = chunkTailTags(15_858, '91343852333181432392682062607743920146159169392');
    expect(capture.indexOf(Buffer.from(tail))).toBeGreaterThan(capture.indexOf(Buffer.from(head)));
  });

  it('EARLIEST: one chunk per fragment — producer header, service tags, Cluster as sent, service tags — frames unchanged', async () => {
    const clock = testClock();
    const local = await start({ clock });
    await createStream(local, 'layout');
    const sent = await uploadSpaced(local, clock, 'layout', fragmentSpecs(4));
    const stored = await storedFragments(local, 'layout');
    const { contentType, chunks } = await getMedia(local, 'layout', { StartSelectorType: 'EARLIEST' });
    expect(contentType).toBe('video/webm');
    expect(chunks).toHaveLength(4);

    const capture = readChunks(readFileSync(join(CAPTURES, 'output_get_media.mkv')));
    const captureLayout = serviceLayout(capture[0]!);
    expect(captureLayout).toEqual(['header', 'kvs-head', 'cluster', 'frames', 'kvs-tail', 'end']);
    const header = buildSession([], { tracks: [VIDEO_TRACK, AUDIO_TRACK] }).parts[0]!;
    chunks.forEach((chunk, k) => {
      expect(serviceLayout(chunk)).toEqual(captureLayout);
      // The producer's header bytes as sent, repeated in every chunk.
      expect(chunk.headerBytes).toEqual(header);
      expect(Object.keys(chunk.head)).toEqual(Object.keys(capture[0]!.head));
      expect(Object.keys(chunk.tail)).toEqual(Object.keys(capture[0]!.tail));
      expect(chunk.head).toEqual({
        AWS_KINESISVIDEO_FRAGMENT_NUMBER: stored[k]!.fragmentNumber,
        AWS_KINESISVIDEO_SERVER_TIMESTAMP: (stored[k]!.serverTimestampMs / 1000).toFixed(3),
        AWS_KINESISVIDEO_PRODUCER_TIMESTAMP: ((T + k * 400) / 1000).toFixed(3),
      });
      expect(chunk.head['AWS_KINESISVIDEO_SERVER_TIMESTAMP']).toMatch(/^\d{10}\.\d{3}$/);
      expect(chunk.tail['AWS_KINESISVIDEO_MILLIS_BEHIND_NOW']).toMatch(/^\d+$/);
      expect(chunk.tail['AWS_KINESISVIDEO_CONTINUATION_TOKEN']).toBe(stored[k]!.fragmentNumber);
      expect(chunk.clusterTimecode).toBe(T + k * 400);
      expect(chunk.frames.map(({ trackNumber, sha1 }) => ({ trackNumber, sha1 }))).toEqual(
        frameHashes(sent[k]!),
      );
    });
    // The producer's metadata Tags travel after the Cluster they followed (as in test_mixed_tags.mkv): kvs-put
    // writes fragment 2's tags before its Cluster, that is after fragment 1's Cluster.
    expect(chunks[0]!.producerTags).toEqual([{ name: 'EVENT', value: 'door-open' }]);
    expect(chunks[0]!.layout).toEqual([
      'header',
      'kvs-head',
      'cluster',
      'frames',
      'producer-tags',
      'kvs-tail',
      'end',
    ]);
    const mixed = readChunks(readFileSync(join(CAPTURES, 'test_mixed_tags.mkv')));
    expect(mixed[0]!.layout.slice(-4)).toEqual(['frames', 'producer-tags', 'kvs-tail', 'end']);
  });

  it('mkvinfo reads the answer as it reads the real captures', async () => {
    if (!hasTool('mkvinfo', ['--version'])) {
      return;
    }
    const clock = testClock();
    const local = await start({ clock });
    await createStream(local, 'mkvinfo');
    await uploadSpaced(local, clock, 'mkvinfo', fragmentSpecs(3));
    const { bytes } = await getMedia(local, 'mkvinfo', { StartSelectorType: 'EARLIEST' });
    const ours = join(dir, 'ours.mkv');
    writeFileSync(ours, bytes);
    const inspect = (path: string): { status: number | null; counts: number[] } => {
      const result = spawnSync('mkvinfo', ['-v', path], { encoding: 'utf8' });
      const count = (pattern: RegExp): number =>
        result.stdout.split('\n').filter((line) => pattern.test(line)).length;
      return {
        status: result.status,
        counts: [
          count(/Name: AWS_KINESISVIDEO_FRAGMENT_NUMBER/),
          count(/Name: AWS_KINESISVIDEO_SERVER_TIMESTAMP/),
          count(/Name: AWS_KINESISVIDEO_PRODUCER_TIMESTAMP/),
          count(/^\|\+ Cluster/),
          count(/Name: AWS_KINESISVIDEO_MILLIS_BEHIND_NOW/),
          count(/Name: AWS_KINESISVIDEO_CONTINUATION_TOKEN/),
        ],
      };
    };
    const capture = inspect(join(CAPTURES, 'output_get_media.mkv'));
    expect(capture.counts).toEqual([5, 5, 5, 5, 5, 5]);
    const result = inspect(ours);
    // mkvinfo warns (exit 1) about the EBML header that starts every chunk after the first, for both.
    expect(result.status).toBe(capture.status);
    expect(result.counts).toEqual([3, 3, 3, 3, 3, 3]);
    const text = spawnSync('mkvinfo', ['-v', ours], { encoding: 'utf8' }).stdout;
    expect(text).toMatch(/String: \d{10}\.\d{3}/);
  });

  it('a real file (h264 + AAC) through the fragmenter: every frame read back as it was sent', async () => {
    const local = await start();
    await createStream(local, 'real');
    const reader = new MkvReader();
    const fragmenter = new Fragmenter({ startTimeMs: T });
    const writer = new SessionWriter();
    const file = new Uint8Array(readFileSync(join(FIXTURES, 'h264-aac.mkv')));
    const items = [...reader.push(file), ...reader.end()].flatMap((event) => fragmenter.push(event));
    items.push(...fragmenter.end());
    const body = concatChunks([...items.flatMap((item) => writer.write(item)), ...writer.end()]);
    const fragments = fragmentsOf(items);
    const result = await putMedia(local, body, { streamName: 'real' });
    expect(result.acks.filter((ack) => ack.EventType === 'PERSISTED')).toHaveLength(fragments.length);
    const { chunks } = await getMedia(local, 'real', { StartSelectorType: 'EARLIEST' });
    expect(chunks).toHaveLength(fragments.length);
    chunks.forEach((chunk, k) => {
      expect(chunk.frames.map(({ trackNumber, sha1 }) => ({ trackNumber, sha1 }))).toEqual(
        frameHashes(fragments[k]!.frames),
      );
      expect(chunk.frames[0]!.isKeyframe).toBe(true);
    });
  });
});

describe('GetMedia start selectors', () => {
  let local: LocalKvs;
  let numbers: string[];
  let serverMs: number[];
  const first = (chunks: readonly MediaChunk[]): string[] =>
    chunks.map((chunk) => chunk.head['AWS_KINESISVIDEO_FRAGMENT_NUMBER']!);

  /** Five fragments 1 s apart; with a FakeClock, GetMedia answers end only when the test moves it. */
  const setUp = async (clock: TestClock | FakeClock = testClock()): Promise<void> => {
    local = await start({ clock });
    await createStream(local, 'selectors');
    await uploadSpaced(local, clock, 'selectors', fragmentSpecs(5));
    const stored = await storedFragments(local, 'selectors');
    numbers = stored.map((fragment) => fragment.fragmentNumber);
    serverMs = stored.map((fragment) => fragment.serverTimestampMs);
  };

  it('EARLIEST, FRAGMENT_NUMBER (the chunk after it), CONTINUATION_TOKEN (the chunk after it)', async () => {
    await setUp();
    expect(first((await getMedia(local, 'selectors', { StartSelectorType: 'EARLIEST' })).chunks)).toEqual(
      numbers,
    );
    expect(
      first(
        (
          await getMedia(local, 'selectors', {
            StartSelectorType: 'FRAGMENT_NUMBER',
            AfterFragmentNumber: numbers[1],
          })
        ).chunks,
      ),
    ).toEqual(numbers.slice(2));
    const token = (await getMedia(local, 'selectors', { StartSelectorType: 'EARLIEST' })).chunks[2]!.tail[
      'AWS_KINESISVIDEO_CONTINUATION_TOKEN'
    ];
    expect(
      first(
        (
          await getMedia(local, 'selectors', {
            StartSelectorType: 'CONTINUATION_TOKEN',
            ContinuationToken: token,
          })
        ).chunks,
      ),
    ).toEqual(numbers.slice(3));
    // The last fragment's number: nothing after it (the answer ends after the idle timeout).
    expect(
      (
        await getMedia(local, 'selectors', {
          StartSelectorType: 'FRAGMENT_NUMBER',
          AfterFragmentNumber: numbers[4],
        })
      ).chunks,
    ).toEqual([]);
  });

  it('SERVER_TIMESTAMP and PRODUCER_TIMESTAMP: the chunk containing that time', async () => {
    await setUp();
    const at = async (type: 'SERVER_TIMESTAMP' | 'PRODUCER_TIMESTAMP', ms: number): Promise<string[]> =>
      first(
        (await getMedia(local, 'selectors', { StartSelectorType: type, StartTimestamp: new Date(ms) }))
          .chunks,
      );
    expect(await at('SERVER_TIMESTAMP', serverMs[2]! + 100)).toEqual(numbers.slice(2));
    expect(await at('SERVER_TIMESTAMP', serverMs[0]! - 60_000)).toEqual(numbers);
    expect(await at('PRODUCER_TIMESTAMP', T + 2 * 400 + 150)).toEqual(numbers.slice(2));
    expect(await at('PRODUCER_TIMESTAMP', T + 3 * 400)).toEqual(numbers.slice(3));
    expect(await at('PRODUCER_TIMESTAMP', T - 3_600_000)).toEqual(numbers);
    // After every fragment: the live tail (nothing here).
    expect(await at('PRODUCER_TIMESTAMP', T + 3_600_000)).toEqual([]);
  });

  it('NOW: the live tail — only fragments stored after the call, as they arrive', async () => {
    // The server clock moves only when the test says: the answer cannot end on its idle timeout meanwhile.
    const clock = new FakeClock(Date.now());
    await setUp(clock);
    const client = await mediaClient(local, 'selectors');
    const output = await client.send(
      new GetMediaCommand({ StreamName: 'selectors', StartSelector: { StartSelectorType: 'NOW' } }),
    );
    const received: string[] = [];
    let isEnded = false;
    const reading = (async () => {
      for await (const event of readMkv(output.Payload as Readable)) {
        if (event.type === 'tags') {
          const number = event.tags.find((tag) => tag.name === 'AWS_KINESISVIDEO_CONTINUATION_TOKEN')?.value;
          if (number !== undefined) {
            received.push(number);
          }
        }
      }
      isEnded = true;
    })();
    const later = buildSession([{ timecode: T + 10_000 }, { timecode: T + 10_400 }]);
    const call = await openPutMedia(local, { streamName: 'selectors' });
    await call.response;
    await writeBody(call, concatChunks([later.parts[0]!, later.parts[1]!, later.parts[2]!.subarray(0, 20)]), {
      isLeftOpen: true,
    });
    // Fragment 1 of the new session is complete: it reaches the reader while the upload goes on.
    for (let wait = 0; wait < 100 && received.length === 0; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(received).toHaveLength(1);
    expect(isEnded).toBe(false);
    await writeBody(call, later.parts[2]!.subarray(20));
    await call.closed;
    await advanceUntil(clock, () => isEnded);
    await reading;
    const stored = await storedFragments(local, 'selectors');
    expect(received).toEqual(stored.slice(5).map((fragment) => fragment.fragmentNumber));
    client.destroy();
  });

  it('a missing selector field is InvalidArgumentException; an unknown stream ResourceNotFoundException', async () => {
    await setUp();
    const client = await mediaClient(local, 'selectors');
    for (const selector of [
      { StartSelectorType: 'FRAGMENT_NUMBER' },
      { StartSelectorType: 'SERVER_TIMESTAMP' },
      { StartSelectorType: 'PRODUCER_TIMESTAMP' },
      { StartSelectorType: 'CONTINUATION_TOKEN' },
    ] as StartSelector[]) {
      const error = await rejectionOf(
        client.send(new GetMediaCommand({ StreamName: 'selectors', StartSelector: selector })),
      );
      expect(error).toBeInstanceOf(InvalidArgumentException);
      expect(error.message).toMatch(/Member must not be null when StartSelectorType is/);
    }
    const missing = await rejectionOf(client.send(new GetMediaCommand({ StreamName: 'selectors' } as never)));
    expect(missing).toBeInstanceOf(InvalidArgumentException);
    const unknown = await rejectionOf(
      client.send(new GetMediaCommand({ StreamName: 'nope', StartSelector: { StartSelectorType: 'NOW' } })),
    );
    expect(unknown).toBeInstanceOf(ResourceNotFoundException);
    client.destroy();
  });
});

describe('GetMedia limits and the retention-0 buffer', () => {
  it('a 4th concurrent GetMedia on a stream is ConnectionLimitExceededException; closing one frees a slot', async () => {
    const local = await start({ getMediaIdleTimeoutMs: 5000 });
    await createStream(local, 'popular');
    const client = await mediaClient(local, 'popular');
    const open = await Promise.all(
      [1, 2, 3].map(() =>
        client.send(
          new GetMediaCommand({ StreamName: 'popular', StartSelector: { StartSelectorType: 'NOW' } }),
        ),
      ),
    );
    const refused = await rejectionOf(
      client.send(
        new GetMediaCommand({ StreamName: 'popular', StartSelector: { StartSelectorType: 'NOW' } }),
      ),
    );
    expect(refused).toBeInstanceOf(ConnectionLimitExceededException);
    expect(refused.$metadata?.httpStatusCode).toBe(400);
    (open[0]!.Payload as Readable).destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const fourth = await client.send(
      new GetMediaCommand({ StreamName: 'popular', StartSelector: { StartSelectorType: 'NOW' } }),
    );
    for (const output of [...open.slice(1), fourth]) {
      (output.Payload as Readable).destroy();
    }
    client.destroy();
  });

  it('the answer ends after getMediaIdleTimeoutMs without a new fragment', async () => {
    const clock = new FakeClock(Date.now());
    const local = await start({ getMediaIdleTimeoutMs: 300, clock });
    await createStream(local, 'silent');
    const client = await mediaClient(local, 'silent');
    const output = await client.send(
      new GetMediaCommand({ StreamName: 'silent', StartSelector: { StartSelectorType: 'NOW' } }),
    );
    let isEnded = false;
    const reading = output.Payload!.transformToByteArray().finally(() => {
      isEnded = true;
    });
    // The answer has begun: 1 ms short of the idle timeout it is still open, at the timeout it ends, empty.
    await clock.advance(299);
    expect(isEnded).toBe(false);
    await clock.advance(1);
    expect(readChunks(await reading)).toEqual([]);
    client.destroy();
  });

  it('retention 0: GetMedia reads the buffer, bounded by bytes and by age', async () => {
    const clock = testClock();
    const local = await start({ clock, bufferBytes: 25_000 });
    await createStream(local, 'buffered', 0);
    const { body, frames } = buildSession(
      Array.from({ length: 4 }, (_, i) => ({ timecode: T + i * 400, frameBytes: 1000 })),
    );
    await putMedia(local, body, { streamName: 'buffered' });
    // 4 fragments of ~10 KB with a 25 KB buffer: the oldest two are gone.
    const { chunks } = await getMedia(local, 'buffered', { StartSelectorType: 'EARLIEST' });
    expect(chunks.map((chunk) => chunk.clusterTimecode)).toEqual([T + 800, T + 1200]);
    expect(chunks[1]!.frames.map((frame) => frame.sha1)).toEqual(
      frames[3]!.map((frame) => sha1Hex(frame.data)),
    );
    clock.advance(5 * 60_000 + 1);
    expect((await getMedia(local, 'buffered', { StartSelectorType: 'EARLIEST' })).chunks).toEqual([]);
  });
});
