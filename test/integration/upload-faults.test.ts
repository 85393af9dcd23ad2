/**
 * The uploader against the local KVS's fault plans: every failure the service can throw at a producer, and
 * what must hold afterwards — the stored stream has every fragment exactly once (none missing, none
 * doubled), except those the service refused, which are reported.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { startLocalKvs } from '../../src/emulator/local-kvs.js';
import type { FaultPlan } from '../../src/emulator/fault-plan.js';
import { ExitCode } from '../../src/exit-codes.js';
import { hasTool } from '../helpers/paths.js';
import { ensureBuilt, localKvsEnv, ndjson, runKvsPut } from '../helpers/kvs-put-process.js';
import { expectedFrames, getMediaFrames } from '../helpers/read-back.js';
import type { FrameFact } from '../helpers/read-back.js';

const hasFfmpeg = hasTool('ffmpeg');
const START = '2026-01-02T03:04:05Z';
const START_MS = Date.parse(START);
const FRAGMENTS = 8;
let clip = '';
let expected: FrameFact[] = [];

beforeAll(() => {
  ensureBuilt();
  if (!hasFfmpeg) {
    return;
  }
  // 8 fragments of 1 s (10 fps, a key frame every 10 frames), small enough to stay quick.
  const dir = mkdtempSync(join(tmpdir(), 'kvs-put-faults-'));
  clip = join(dir, 'clip.mkv');
  execFileSync('ffmpeg', [
    ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10', '-t', String(FRAGMENTS)],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', '-bf', '0', '-pix_fmt', 'yuv420p', clip],
  ]);
  expected = expectedFrames(clip, START_MS);
});

/** Frames of the given fragments (0-based) of the clip. */
const framesOf = (fragments: number[]): FrameFact[] => {
  const keys = expected.flatMap((frame, i) => (frame.key ? [i] : []));
  return fragments.flatMap((k) => expected.slice(keys[k], keys[k + 1] ?? expected.length));
};

const upload = async (
  faults: FaultPlan,
  extraArgs: string[] = [],
  kvsOptions: Parameters<typeof startLocalKvs>[0] = {},
) => {
  const kvs = await startLocalKvs({ faults, ...kvsOptions });
  const run = await runKvsPut(
    [
      ...['--stream', 'faulty', '--create', '--retention-hours', '1', '--file', clip, '--start-time', START],
      ...['--json', '--retry-delay', '100', '--staleness-timeout', '2000'],
      ...extraArgs,
    ],
    { env: localKvsEnv(kvs), timeoutMs: 90_000 },
  );
  expect(run.stderr).not.toMatch(/\n\s+at /);
  const events = ndjson(run.stdout);
  const summary = events.find((event) => event['event'] === 'summary') ?? {};
  return { kvs, run, events, summary };
};

describe.skipIf(!hasFfmpeg)('uploader under the local KVS fault plans', () => {
  it('a connection reset in the middle of a fragment: reconnects and resumes, nothing missing or doubled', async () => {
    const { kvs, run, summary } = await upload({ putMedia: [{ resetAfterBytes: 30_000 }] });
    await using _kvs = kvs;
    expect(run.code).toBe(ExitCode.Ok);
    expect(summary).toMatchObject({ fragments: FRAGMENTS, persisted: FRAGMENTS, unacknowledged: 0 });
    expect(summary['retries']).toBeGreaterThanOrEqual(1);
    expect((await getMediaFrames(kvs, 'faulty', FRAGMENTS)).frames).toEqual(expected);
  });

  it.each([4000, 5000, 5001])(
    'ERROR %i at fragment 3 is retried: the new session resumes at fragment 3',
    async (errorId) => {
      const { kvs, run, events, summary } = await upload({
        putMedia: [{ errorAtFragment: { fragment: 3, errorId } }],
      });
      await using _kvs = kvs;
      expect(run.code).toBe(ExitCode.Ok);
      expect(summary).toMatchObject({
        fragments: FRAGMENTS,
        persisted: FRAGMENTS,
        connections: 2,
        retries: 1,
      });
      // The second connection starts at the errored fragment (#2, 0-based): not earlier, not later.
      const connects = events.filter((event) => event['event'] === 'connect');
      expect(connects.map((event) => event['resumeSequence'])).toEqual([0, 2]);
      expect((await getMediaFrames(kvs, 'faulty', FRAGMENTS)).frames).toEqual(expected);
    },
  );

  it.each([
    [4002, 'MAX_FRAGMENT_DURATION_REACHED'],
    [4004, 'FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS'],
    [4006, 'INVALID_MKV_DATA'],
  ])('ERROR %i at fragment 3 skips that fragment, reports it, and exits 6', async (errorId, errorCode) => {
    const { kvs, run, events, summary } = await upload({
      putMedia: [{ errorAtFragment: { fragment: 3, errorId } }],
    });
    await using _kvs = kvs;
    expect(run.code).toBe(ExitCode.UploadFailed);
    expect(run.stderr).toMatch(
      new RegExp(
        `warning: fragment #2 at 2026-01-02T03:04:07\\.000Z skipped: .*ErrorId ${errorId} ${errorCode}`,
      ),
    );
    expect(run.stderr).toMatch(/^kvs-put: 1 fragment refused by KVS, 0 sent, not acknowledged$/m);
    expect(events.filter((event) => event['event'] === 'skip').map((event) => event['errorId'])).toEqual([
      errorId,
    ]);
    expect(summary).toMatchObject({ fragments: FRAGMENTS, persisted: FRAGMENTS - 1 });
    const stored = await getMediaFrames(kvs, 'faulty', FRAGMENTS - 1);
    expect(stored.frames).toEqual(framesOf([0, 1, 3, 4, 5, 6, 7]));
  });

  it('a stalled service (it stops reading): no ack for the staleness timeout → reconnect, nothing lost', async () => {
    // The stall outlasts the staleness timeout; then the service reads again and sees the session is gone.
    const { kvs, run, events, summary } = await upload({
      putMedia: [{ stall: { afterFragment: 2, durationMs: 4000 } }],
    });
    await using _kvs = kvs;
    expect(run.code).toBe(ExitCode.Ok);
    expect(events.some((event) => event['event'] === 'stale')).toBe(true);
    expect(summary).toMatchObject({ fragments: FRAGMENTS, persisted: FRAGMENTS });
    // Until the stalled service reads again it still holds the old connection: the client backs off.
    expect(summary['connections']).toBeGreaterThanOrEqual(2);
    expect((await getMediaFrames(kvs, 'faulty', FRAGMENTS)).frames).toEqual(expected);
  });

  it('403 on PutMedia, then fresh credentials: they are resolved again for the new connection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvs-put-creds-'));
    const counter = join(dir, 'calls');
    writeFileSync(counter, '');
    const script = join(dir, 'credentials.sh');
    // A credential_process (the standard chain's "process" provider) that counts its calls; its credentials
    // expire within the SDK's refresh window, so each new connection asks again.
    writeFileSync(
      script,
      `#!/bin/sh\necho x >> ${counter}\nexp=$(date -u -d '+2 minutes' +%Y-%m-%dT%H:%M:%SZ)\n` +
        `printf '{"Version":1,"AccessKeyId":"AKIDLOCALKVSPUT","SecretAccessKey":"kvs-put-local-secret-not-an-aws-key","Expiration":"%s"}' "$exp"\n`,
    );
    chmodSync(script, 0o755);
    const config = join(dir, 'config');
    writeFileSync(config, `[profile cam]\ncredential_process = ${script}\nregion = us-east-1\n`);
    await using kvs = await startLocalKvs({
      faults: { putMedia: [{ refuse: { type: 'ExpiredTokenException', statusCode: 403 } }] },
    });
    const run = await runKvsPut(
      ['--stream', 'creds', '--create', '--file', clip, '--profile', 'cam', '--json', '--retry-delay', '100'],
      { env: { AWS_ENDPOINT_URL_KINESIS_VIDEO: kvs.url, AWS_CONFIG_FILE: config }, timeoutMs: 60_000 },
    );
    expect(run.code).toBe(ExitCode.Ok);
    const summary = ndjson(run.stdout).find((event) => event['event'] === 'summary')!;
    expect(summary).toMatchObject({ connections: 2, retries: 1, received: FRAGMENTS });
    expect(run.stderr).toMatch(/retrying in .*PutMedia refused: HTTP 403 ExpiredTokenException/);
    const calls = readFileSync(counter, 'utf8').split('\n').filter(Boolean).length;
    expect(calls).toBeGreaterThanOrEqual(2);
  });

  it('the service ends a connection at its maximum duration (4003): the next session carries on', async () => {
    const { kvs, run, events, summary } = await upload({}, [], { maxConnectionDurationMs: 700 });
    await using _kvs = kvs;
    expect(run.code).toBe(ExitCode.Ok);
    expect(events.some((event) => event['event'] === 'ack' && event['ErrorId'] === 4003)).toBe(true);
    expect(summary['connections']).toBeGreaterThanOrEqual(2);
    expect((await getMediaFrames(kvs, 'faulty', FRAGMENTS)).frames).toEqual(expected);
  });

  it('make-before-break rotation (forced early): no gap, no overlap in the stored stream', async () => {
    const { kvs, run, events, summary } = await upload({}, ['--rotate-after', '400']);
    await using _kvs = kvs;
    expect(run.code).toBe(ExitCode.Ok);
    expect(events.filter((event) => event['event'] === 'rotate').length).toBeGreaterThanOrEqual(1);
    expect(summary).toMatchObject({ fragments: FRAGMENTS, persisted: FRAGMENTS, retries: 0 });
    expect(summary['connections']).toBeGreaterThanOrEqual(2);
    expect((await getMediaFrames(kvs, 'faulty', FRAGMENTS)).frames).toEqual(expected);
  });

  it('ConnectionLimitExceededException: backs off and gets in', async () => {
    const { kvs, run, summary } = await upload({
      putMedia: [{ refuse: 'ConnectionLimitExceededException', times: 2 }],
    });
    await using _kvs = kvs;
    expect(run.code).toBe(ExitCode.Ok);
    expect(run.stderr).toMatch(/retrying in .*ConnectionLimitExceededException/);
    expect(summary).toMatchObject({ persisted: FRAGMENTS, retries: 2 });
  });

  it('gives up after --max-retries failed connections in a row: exit 6, one line', async () => {
    const { kvs, run } = await upload(
      { putMedia: [{ refuse: { type: 'InternalFailure', statusCode: 500 }, times: 'always' }] },
      ['--max-retries', '2'],
    );
    await using _kvs = kvs;
    expect(run.code).toBe(ExitCode.UploadFailed);
    expect(run.stderr).toMatch(
      /^kvs-put: upload failed after 3 failed connection attempts: PutMedia refused: HTTP 500 InternalFailure/m,
    );
  });
});
