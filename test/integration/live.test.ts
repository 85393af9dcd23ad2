import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { startLocalKvs } from '../../src/emulator/local-kvs.js';
import type { LocalKvs } from '../../src/emulator/local-kvs.js';
import { ExitCode } from '../../src/exit-codes.js';
import { MkvReader, readMkv } from '../../src/mkv/mkv-reader.js';
import { hasTool } from '../helpers/paths.js';
import { ensureBuilt, localKvsEnv, ndjson, runKvsPut } from '../helpers/kvs-put-process.js';
import { hasRtspServer, startRtspServer } from '../helpers/rtsp-server.js';
import { openGetMedia } from '../helpers/read-back.js';

const hasFfmpeg = hasTool('ffmpeg');
const hasRtsp = hasFfmpeg && hasRtspServer();

beforeAll(() => ensureBuilt());

/**
 * The raw GetMedia body from the stream's start, until `fragments` chunks have arrived whole: each chunk ends
 * with the Tags element that carries its continuation token, counted once the reader has all of it.
 */
const getMediaBytes = async (kvs: LocalKvs, streamName: string, fragments: number): Promise<Buffer> => {
  const { body, close } = await openGetMedia(kvs, streamName);
  const parts: Buffer[] = [];
  const reader = new MkvReader();
  let seen = 0;
  for await (const chunk of body) {
    parts.push(chunk as Buffer);
    for (const event of reader.push(chunk as Buffer)) {
      if (
        event.type === 'tags' &&
        event.tags.some((tag) => tag.name === 'AWS_KINESISVIDEO_CONTINUATION_TOKEN')
      ) {
        seen++;
      }
    }
    if (seen >= fragments) {
      break;
    }
  }
  close();
  return Buffer.concat(parts);
};

/** Fragment start and last-frame times of every GetMedia chunk, in stream order. */
const storedTimeline = async (
  bytes: Buffer,
): Promise<{ startMs: number; lastMs: number; frames: number }[]> => {
  const out: { startMs: number; lastMs: number; frames: number }[] = [];
  for await (const event of readMkv(Readable.from([bytes]))) {
    if (event.type === 'cluster') {
      out.push({ startMs: event.timestampMs, lastMs: event.timestampMs, frames: 0 });
    } else if (event.type === 'frame') {
      const current = out.at(-1)!;
      current.lastMs = Math.max(current.lastMs, event.frame.timestampMs);
      current.frames++;
    }
  }
  return out;
};

describe.skipIf(!hasFfmpeg)('kvs-put --testsrc: a live test pattern to the local KVS', () => {
  it('a 20 s run: every fragment PERSISTED, GetMedia output decodes with ffprobe, frame counts match', async () => {
    await using kvs = await startLocalKvs();
    const run = await runKvsPut(
      [
        '--stream',
        'pattern',
        '--create',
        '--retention-hours',
        '1',
        '--testsrc',
        '--duration',
        '20',
        '--stats-interval',
        '5',
        '--json',
      ],
      { env: localKvsEnv(kvs), timeoutMs: 60_000 },
    );
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.code).toBe(ExitCode.Ok);
    // What ffmpeg delivers, once (its Matroska header's tracks).
    expect(run.stderr.match(/^source: .*$/gm)).toEqual([
      'source: video V_MPEG4/ISO/AVC 640x480, audio A_AAC 48000 Hz, 1 ch',
    ]);
    const summary = ndjson(run.stdout).find((event) => event['event'] === 'summary')!;
    const fragments = summary['fragments'] as number;
    // 2 s key frame interval: about 10 fragments in 20 s.
    expect(fragments).toBeGreaterThanOrEqual(9);
    expect(summary).toMatchObject({ persisted: fragments, unacknowledged: 0, dropped: 0 });
    // Every 5 s a stats event: counts so far (growing), the interval's latency, the process's memory.
    const stats = ndjson(run.stdout).filter((event) => event['event'] === 'stats');
    expect(stats.length).toBeGreaterThanOrEqual(3);
    // The intervals follow one another within the run, as its own clock measured it: with at least 3 of
    // them, each longer than 4 s, they are the 5 s asked for (a loaded machine only makes them later).
    const intervalsMs = stats.map((event) => event['intervalMs'] as number);
    expect(intervalsMs.reduce((sum, ms) => sum + ms, 0)).toBeLessThanOrEqual(
      (summary['seconds'] as number) * 1000,
    );
    for (const [i, event] of stats.entries()) {
      expect(event['intervalMs']).toBeGreaterThan(4000);
      expect(event['sourceToSocketMs']).toMatchObject({ p50: expect.any(Number), p99: expect.any(Number) });
      expect(event['sourceRestarts']).toBe(0);
      const memory = event['process'] as {
        rssBytes: number;
        heapUsedBytes: number;
        arrayBuffersBytes: number;
      };
      expect(memory.rssBytes).toBeGreaterThan(10e6);
      expect(memory.heapUsedBytes).toBeGreaterThan(1e6);
      expect(memory.heapUsedBytes).toBeLessThan(memory.rssBytes);
      // The live buffer pool and the frames of fragments not yet acknowledged.
      expect(memory.arrayBuffersBytes).toBeGreaterThan(0);
      if (i > 0) {
        expect(event['persisted']).toBeGreaterThan(stats[i - 1]!['persisted'] as number);
        expect(event['bytesSent']).toBeGreaterThan(stats[i - 1]!['bytesSent'] as number);
      }
    }
    expect(stats.at(-1)!['persisted']).toBeLessThanOrEqual(fragments);
    expect(run.stderr).toMatch(/stats: \d+ fragments \(\d+ stored, 0 dropped/);
    expect(run.stderr).toMatch(/RSS [\d.]+ MB \(JS heap [\d.]+ MB, buffers [\d.]+ [kM]?B\)/);

    const bytes = await getMediaBytes(kvs, 'pattern', fragments);
    const timeline = await storedTimeline(bytes);
    expect(timeline).toHaveLength(fragments);
    expect(timeline.reduce((sum, fragment) => sum + fragment.frames, 0)).toBe(summary['framesStored']);
    // Each GetMedia chunk is a complete MKV: ffprobe decodes every frame of every chunk without a word.
    const dir = mkdtempSync(join(tmpdir(), 'kvs-put-getmedia-'));
    const starts: number[] = [];
    for (
      let at = bytes.indexOf(Buffer.from('1a45dfa3', 'hex'));
      at >= 0;
      at = bytes.indexOf(Buffer.from('1a45dfa3', 'hex'), at + 4)
    ) {
      starts.push(at);
    }
    expect(starts).toHaveLength(fragments);
    let decoded = 0;
    starts.forEach((start, i) => {
      const file = join(dir, `chunk-${i}.mkv`);
      writeFileSync(file, bytes.subarray(start, starts[i + 1] ?? bytes.length));
      const probe = JSON.parse(
        execFileSync(
          'ffprobe',
          ['-v', 'error', '-count_frames', '-show_entries', 'stream=nb_read_frames', '-of', 'json', file],
          {
            encoding: 'utf8',
          },
        ),
      ) as { streams: { nb_read_frames: string }[] };
      decoded += probe.streams.reduce((sum, stream) => sum + Number(stream.nb_read_frames), 0);
    });
    expect(decoded).toBe(summary['framesStored']);
  });

  /** A --testsrc run of `seconds` to `kvs` with fast retries; its NDJSON events and summary. */
  const runTestsrc = async (
    kvs: LocalKvs,
    stream: string,
    seconds: number,
    extra: string[] = [],
  ): Promise<{ events: Record<string, unknown>[]; summary: Record<string, unknown> }> => {
    const run = await runKvsPut(
      [
        ...['--stream', stream, '--create', '--retention-hours', '1', '--testsrc'],
        ...['--duration', String(seconds), '--json', '--retry-delay', '100', ...extra],
      ],
      { env: localKvsEnv(kvs), timeoutMs: 60_000 },
    );
    expect(run.code).toBe(ExitCode.Ok);
    const events = ndjson(run.stdout);
    return { events, summary: events.find((event) => event['event'] === 'summary')! };
  };

  /**
   * What the local KVS stored for `stream`, read back with GetMedia, in stream order. Delivery is at least
   * once: a fragment sent whole just as its connection broke is stored while its ack is lost, and is sent
   * again (the service keeps both, as it does for AWS's own producers, which resend un-acknowledged fragments
   * too; GetMedia by producer time de-duplicates them). Such a copy follows its original directly and is
   * left out here.
   */
  const storedFragments = async (
    kvs: LocalKvs,
    stream: string,
  ): Promise<{ startMs: number; lastMs: number; frames: number }[]> => {
    const record = kvs.store.findByName({ accountId: kvs.accountId, region: kvs.region }, stream)!;
    const stored = await storedTimeline(await getMediaBytes(kvs, stream, kvs.media.list(record).length));
    return stored.filter((fragment, i) => {
      const before = stored[i - 1];
      return (
        before === undefined ||
        before.startMs !== fragment.startMs ||
        before.lastMs !== fragment.lastMs ||
        before.frames !== fragment.frames
      );
    });
  };

  /** The stored stream holds the `count` fragments with the run's frames, each after the one before. */
  const expectStoredInOrder = async (
    kvs: LocalKvs,
    stream: string,
    count: number,
    summary: Record<string, unknown>,
  ): Promise<{ startMs: number; lastMs: number; frames: number }[]> => {
    const timeline = await storedFragments(kvs, stream);
    expect(timeline).toHaveLength(count);
    expect(timeline.reduce((sum, fragment) => sum + fragment.frames, 0)).toBe(summary['framesStored']);
    for (let i = 1; i < timeline.length; i++) {
      expect(timeline[i]!.startMs).toBeGreaterThan(timeline[i - 1]!.lastMs);
    }
    return timeline;
  };

  /** Ends the first PutMedia connection after fragment `afterFragment`; refuses the next ones for `windowMs`. */
  const outageFaults = (afterFragment: number, windowMs: number) => ({
    putMedia: [
      { resetAfterFragment: afterFragment },
      { skipConnections: 1, refuse: { type: 'InternalFailure', statusCode: 500 }, windowMs },
    ],
  });

  it('a connection lost in the middle of a fragment being streamed: the whole fragment is sent again', async () => {
    // The first connection dies 400 kB in, mid-cluster; fragment 3 of the second fails with a retriable error.
    await using kvs = await startLocalKvs({
      faults: {
        putMedia: [
          { resetAfterBytes: 400_000 },
          { skipConnections: 1, errorAtFragment: { fragment: 2, errorId: 5000 } },
        ],
      },
    });
    const { summary } = await runTestsrc(kvs, 'flaky', 9);
    const fragments = summary['fragments'] as number;
    expect(summary).toMatchObject({ persisted: fragments, unacknowledged: 0, connections: 3 });
    await expectStoredInOrder(kvs, 'flaky', fragments, summary);
  });

  it('the service out of reach for seconds while the camera captures: the frames wait, then all are stored in order', async () => {
    await using kvs = await startLocalKvs({ faults: outageFaults(2, 10_000) });
    const { events, summary } = await runTestsrc(kvs, 'outage', 16);
    const fragments = summary['fragments'] as number;
    expect(summary).toMatchObject({ persisted: fragments, unacknowledged: 0, dropped: 0 });
    expect(events.filter((event) => event['event'] === 'retry').length).toBeGreaterThanOrEqual(2);
    const timeline = await expectStoredInOrder(kvs, 'outage', fragments, summary);
    for (let i = 1; i < timeline.length; i++) {
      // No hole where the service was away: fragments follow each other a key-frame interval (2 s) apart.
      expect(timeline[i]!.startMs - timeline[i - 1]!.startMs).toBeLessThan(2_500);
    }
  });

  it('an outage longer than --buffer-mb holds: the oldest unsent fragments are dropped and said so, the rest stored', async () => {
    await using kvs = await startLocalKvs({ faults: outageFaults(1, 12_000) });
    const { events, summary } = await runTestsrc(kvs, 'full', 18, [
      '--bitrate',
      '2000',
      '--buffer-mb',
      '0.5',
    ]);
    const fragments = summary['fragments'] as number;
    const persisted = summary['persisted'] as number;
    const dropped = events.filter((event) => event['event'] === 'drop');
    expect(dropped.length).toBeGreaterThan(0);
    expect(summary).toMatchObject({ dropped: dropped.length, unacknowledged: 0 });
    expect(persisted + dropped.length).toBe(fragments);
    // Oldest first, one after another, each said with its reason.
    const droppedSequences = dropped.map((event) => event['sequence'] as number);
    expect(droppedSequences).toEqual(droppedSequences.map((_, i) => droppedSequences[0]! + i));
    expect(dropped.every((event) => event['reason'] === 'buffer full')).toBe(true);
    // What is stored: the fragments acknowledged as persisted, none of the dropped that were never sent, and
    // perhaps one that was sent whole just as the connection broke: stored, its ack lost with the connection.
    const persistedStarts = events
      .filter((event) => event['event'] === 'ack' && event['EventType'] === 'PERSISTED')
      .map((event) => event['FragmentTimecode'] as number);
    expect(persistedStarts).toHaveLength(persisted);
    const timeline = await storedFragments(kvs, 'full');
    const storedStarts = timeline.map((fragment) => fragment.startMs);
    expect(storedStarts).toEqual(expect.arrayContaining(persistedStarts));
    const neverSent = dropped.filter((event) => event['wasSent'] === false);
    expect(neverSent.length).toBeGreaterThan(0);
    const neverSentStarts = new Set(neverSent.map((event) => event['timecode'] as number));
    expect(storedStarts.filter((start) => neverSentStarts.has(start))).toEqual([]);
    const sentStarts = new Set(
      dropped.filter((event) => event['wasSent'] === true).map((event) => event['timecode']),
    );
    expect(
      storedStarts.filter((start) => !persistedStarts.includes(start) && !sentStarts.has(start)),
    ).toEqual([]);
    for (let i = 1; i < timeline.length; i++) {
      expect(timeline[i]!.startMs).toBeGreaterThan(timeline[i - 1]!.lastMs);
    }
    expect(timeline.at(-1)!.startMs).toBeGreaterThan(Math.max(...neverSentStarts));
  });

  it('SIGINT: stops the capture, closes the fragment, waits for its acks and exits 0', async () => {
    await using kvs = await startLocalKvs();
    let acks = 0;
    const run = await runKvsPut(
      ['--stream', 'stop', '--create', '--retention-hours', '1', '--testsrc', '--json'],
      {
        env: localKvsEnv(kvs),
        timeoutMs: 60_000,
        onStderr: () => undefined,
        onStdout: (text, child) => {
          acks += text.split('"PERSISTED"').length - 1;
          if (acks >= 2 && !child.killed) {
            child.kill('SIGINT');
          }
        },
      },
    );
    expect(run.code).toBe(ExitCode.Ok);
    const summary = ndjson(run.stdout).find((event) => event['event'] === 'summary')!;
    expect(summary['fragments']).toBeGreaterThanOrEqual(3);
    expect(summary).toMatchObject({ unacknowledged: 0, isInterrupted: true });
    expect(summary['persisted']).toBe(summary['fragments']);
  });
});

describe.skipIf(!hasRtsp)('kvs-put --rtsp: an IP camera (GStreamer RTSP server on 127.0.0.1)', () => {
  it('keeps uploading across a camera outage: reconnects, and stored timestamps stay strictly increasing', async () => {
    await using kvs = await startLocalKvs();
    let server = await startRtspServer(0);
    const port = server.port;
    let restarted = false;
    let persisted = 0;
    let persistedAfterOutage = 0;
    let outage: Promise<void> | undefined;
    // The camera goes away once two fragments are stored (however long the start took), for 3 s.
    const loseCamera = async (): Promise<void> => {
      await server.stop();
      await new Promise((resolve) => setTimeout(resolve, 3000));
      server = await startRtspServer(port);
      restarted = true;
    };
    const run = await runKvsPut(
      [
        '--stream',
        'cam',
        '--create',
        '--retention-hours',
        '1',
        '--rtsp',
        server.url,
        '--duration',
        '22',
        '--json',
        '--quiet',
        '--stats-interval',
        '5',
      ],
      {
        env: localKvsEnv(kvs),
        timeoutMs: 90_000,
        onStdout: (text) => {
          const acks = text.split('"PERSISTED"').length - 1;
          persisted += acks;
          persistedAfterOutage += restarted ? acks : 0;
          if (persisted >= 2 && outage === undefined) {
            outage = loseCamera();
          }
        },
      },
    );
    await outage;
    await server.stop();
    expect(restarted).toBe(true);
    expect(persistedAfterOutage).toBeGreaterThan(0);
    expect(run.code).toBe(ExitCode.Ok);
    // --quiet, as a camera service would run: the source loss (a warning) and the stats lines, no acks.
    expect(run.stderr).toMatch(/^warning: source lost \(.*\): restart 1 in/m);
    expect(run.stderr).toMatch(/^stats: \d+ fragments/m);
    expect(run.stderr).not.toMatch(/^ack /m);
    const events = ndjson(run.stdout);
    expect(events.some((event) => event['event'] === 'source-restart')).toBe(true);
    const summary = events.find((event) => event['event'] === 'summary')!;
    const fragments = summary['fragments'] as number;
    expect(summary).toMatchObject({ unacknowledged: 0, persisted: fragments });
    // Fragments from before and after the outage: one stream whose time only moves forward.
    const timeline = await storedTimeline(await getMediaBytes(kvs, 'cam', fragments));
    expect(timeline.length).toBe(fragments);
    for (let i = 1; i < timeline.length; i++) {
      expect(timeline[i]!.startMs).toBeGreaterThan(timeline[i - 1]!.lastMs);
    }
  });

  it('never shows the RTSP password: not in logs, errors or ffmpeg output; a camera that never answers is retried, then fails the run (exit 7)', async () => {
    await using kvs = await startLocalKvs();
    // Port 1 on loopback refuses at once: ffmpeg fails and prints the URL it could not open.
    const run = await runKvsPut(
      [
        '--stream',
        'secret',
        '--create',
        '--rtsp',
        'rtsp://viewer:s3cr3t-pw@127.0.0.1:1/live',
        '--duration',
        '4',
        '-v',
        '--json',
      ],
      { env: localKvsEnv(kvs), timeoutMs: 60_000 },
    );
    expect(run.stderr + run.stdout).not.toContain('s3cr3t-pw');
    expect(run.stderr).toMatch(/rtsp:\/\/viewer:\*\*\*@127\.0\.0\.1:1\/live/);
    // Retried while the run lasts; a run that stored nothing fails, so that scripts and systemd can tell.
    expect(run.code).toBe(ExitCode.Io);
    expect(run.stderr).toMatch(/^warning: source lost \(.*Connection refused\): restart 1 in/m);
    expect(run.stderr).toMatch(
      /^kvs-put: rtsp:\/\/viewer:\*\*\*@127\.0\.0\.1:1\/live gave no video in \d+ s: Connection refused$/m,
    );
  });
});
