import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { startLocalKvs } from '../../src/emulator/local-kvs.js';
import { ExitCode } from '../../src/exit-codes.js';
import { FIXTURES, hasTool } from '../helpers/paths.js';
import { ensureBuilt, localKvsEnv, ndjson, runKvsPut } from '../helpers/kvs-put-process.js';
import { expectedFrames, getMediaFrames } from '../helpers/read-back.js';

const START = '2026-01-02T03:04:05Z';
const START_MS = Date.parse(START);
const fixture = (name: string): string => join(FIXTURES, name);
const hasFfmpeg = hasTool('ffmpeg');
/** An ffmpeg with a V4L2 input (Debian's has one): it is what refuses a device that is no camera. */
const hasV4l2Input = ((): boolean => {
  if (!hasFfmpeg || process.platform !== 'linux') {
    return false;
  }
  const isListed = /\bv4l2\b/.test(
    execFileSync('ffmpeg', ['-hide_banner', '-devices'], { encoding: 'utf8' }),
  );
  if (!isListed) {
    console.warn('[skip] this ffmpeg has no V4L2 input: the test of a device that is no camera is skipped.');
  }
  return isListed;
})();

beforeAll(() => ensureBuilt());

describe('kvs-put --file: recorded clips to the local KVS, read back with GetMedia', () => {
  it('uploads an H.264+AAC MKV: every fragment PERSISTED, and the stored frames equal the source frames', async () => {
    await using kvs = await startLocalKvs();
    const run = await runKvsPut(
      [
        '--stream',
        'clip',
        '--create',
        '--retention-hours',
        '1',
        '--file',
        fixture('h264-aac.mkv'),
        '--start-time',
        START,
        '--json',
      ],
      { env: localKvsEnv(kvs) },
    );
    expect(run.stderr).not.toMatch(/\n\s+at /); // never a stack trace
    expect(run.code).toBe(ExitCode.Ok);
    const events = ndjson(run.stdout);
    const summary = events.find((event) => event['event'] === 'summary')!;
    expect(summary).toMatchObject({
      fragments: 3,
      persisted: 3,
      unacknowledged: 0,
      dropped: 0,
      connections: 1,
    });
    const persisted = events.filter(
      (event) => event['event'] === 'ack' && event['EventType'] === 'PERSISTED',
    );
    expect(persisted).toHaveLength(3);
    // FragmentNumber stays a 47-digit string end to end.
    expect(persisted.every((ack) => /^\d{47}$/.test(String(ack['FragmentNumber'])))).toBe(true);

    const expected = expectedFrames(fixture('h264-aac.mkv'), START_MS);
    const stored = await getMediaFrames(kvs, 'clip', 3);
    expect(stored.fragments).toBe(3);
    expect(stored.frames).toEqual(expected);
  });

  // A regression: Node's recursive mkdir spun at 100% CPU for ever on /proc (ENOENT, then EEXIST, in a loop).
  it.skipIf(!existsSync('/proc/self'))(
    'an uncreatable --dump-dir fails at once: exit 7, with the path',
    async () => {
      await using kvs = await startLocalKvs();
      const run = await runKvsPut(
        ['--stream', 'dump', '--create', '--file', fixture('h264.mkv'), '--dump-dir', '/proc/kvs-put-nope'],
        { env: localKvsEnv(kvs), timeoutMs: 30_000 },
      );
      expect(run.code).toBe(ExitCode.Io);
      expect(run.stderr).toMatch(/kvs-put: cannot create --dump-dir \/proc\/kvs-put-nope: no such file/);
    },
  );

  it('--verify reads the upload back with GetMedia (the npm start demo)', async () => {
    await using kvs = await startLocalKvs();
    const run = await runKvsPut(
      [
        '--stream',
        'demo',
        '--create',
        '--retention-hours',
        '1',
        '--file',
        fixture('h264.mkv'),
        '--verify',
        '-v',
      ],
      { env: localKvsEnv(kvs) },
    );
    expect(run.code).toBe(ExitCode.Ok);
    expect(run.stderr).toMatch(/ack BUFFERING/);
    expect(run.stderr).toMatch(/ack PERSISTED {1,2}fragment #2/);
    expect(run.stderr).toMatch(/read back with GetMedia: 3 fragments, 75 frames/);
  });

  it.skipIf(!hasFfmpeg)('remuxes an MP4 with ffmpeg (-c copy) and uploads the same frames', async () => {
    await using kvs = await startLocalKvs();
    const dir = mkdtempSync(join(tmpdir(), 'kvs-put-mp4-'));
    const mp4 = join(dir, 'clip.mp4');
    execFileSync('ffmpeg', ['-v', 'error', '-i', fixture('h264.mkv'), '-c', 'copy', mp4]);
    const run = await runKvsPut(
      ['--stream', 'mp4', '--create', '--file', mp4, '--start-time', START, '--json'],
      {
        env: localKvsEnv(kvs),
      },
    );
    expect(run.code).toBe(ExitCode.Ok);
    const stored = await getMediaFrames(kvs, 'mp4', 3);
    const expected = expectedFrames(fixture('h264.mkv'), START_MS);
    expect(stored.frames.map((frame) => frame.sha1)).toEqual(expected.map((frame) => frame.sha1));
  });

  it('uploads a folder of clips in start-time order into one stream, and refuses overlapping clips', async () => {
    await using kvs = await startLocalKvs();
    const dir = mkdtempSync(join(tmpdir(), 'kvs-put-folder-'));
    copyFileSync(fixture('h264.mkv'), join(dir, 'a.mkv'));
    copyFileSync(fixture('h264-aac.mkv'), join(dir, 'b.mkv'));
    const run = await runKvsPut(
      ['--stream', 'folder', '--create', '--file', dir, '--start-time', START, '--json'],
      {
        env: localKvsEnv(kvs),
      },
    );
    expect(run.code).toBe(ExitCode.Ok);
    expect(ndjson(run.stdout).find((event) => event['event'] === 'summary')).toMatchObject({
      fragments: 6,
      received: 6,
    });

    // Without --start-time both clips get their mtime minus duration: copied together, they overlap.
    const overlap = await runKvsPut(['--stream', 'folder', '--file', dir], { env: localKvsEnv(kvs) });
    expect(overlap.code).toBe(ExitCode.Usage);
    expect(overlap.stderr).toMatch(/^kvs-put: clips overlap in time: [ab]\.mkv \(.*\) and [ab]\.mkv/m);
  });

  it('reads MKV from stdin', async () => {
    await using kvs = await startLocalKvs();
    const { readFileSync } = await import('node:fs');
    const run = await runKvsPut(['--stream', 'stdin', '--create', '--file', '-', '--json'], {
      env: localKvsEnv(kvs),
      stdin: readFileSync(fixture('h264.mkv')),
    });
    expect(run.code).toBe(ExitCode.Ok);
    expect(ndjson(run.stdout).find((event) => event['event'] === 'summary')).toMatchObject({ fragments: 3 });
  });

  it('takes files and - as arguments, as --file does', async () => {
    await using kvs = await startLocalKvs();
    const { readFileSync } = await import('node:fs');
    const piped = await runKvsPut(['--stream', 'args', '--create', '-', '--json'], {
      env: localKvsEnv(kvs),
      stdin: readFileSync(fixture('h264.mkv')),
    });
    expect(piped.code).toBe(ExitCode.Ok);
    expect(ndjson(piped.stdout).find((event) => event['event'] === 'summary')).toMatchObject({
      fragments: 3,
    });
    const file = await runKvsPut(['--stream', 'args', fixture('h264-aac.mkv'), '--json'], {
      env: localKvsEnv(kvs),
    });
    expect(file.code).toBe(ExitCode.Ok);
    expect(ndjson(file.stdout).find((event) => event['event'] === 'summary')).toMatchObject({ fragments: 3 });
    // An argument is a source like --file: it cannot be combined with another one.
    const both = await runKvsPut(['--stream', 'args', '--testsrc', fixture('h264.mkv')], {
      env: localKvsEnv(kvs),
    });
    expect(both.code).toBe(ExitCode.Usage);
    expect(both.stderr).toMatch(/^kvs-put: give one source, not --file and --testsrc$/m);
  });
});

describe('kvs-put: bad input is one line on stderr with its exit code, no stack trace', () => {
  const cases: [string, string[], number, RegExp][] = [
    [
      'a missing file',
      ['--stream', 's', '--create', '--file', 'nosuch.mkv'],
      ExitCode.Io,
      /^kvs-put: cannot open nosuch\.mkv: no such file$/m,
    ],
    [
      'a bad stream name',
      ['--stream', 'bad name!', '--file', fixture('h264.mkv')],
      ExitCode.Usage,
      /^kvs-put: option .*stream names are/m,
    ],
    [
      'an unknown stream without --create',
      ['--stream', 'nosuch', '--file', fixture('h264.mkv')],
      ExitCode.StreamNotFound,
      /^kvs-put: stream nosuch not found\n {2}hint: add --create/m,
    ],
    [
      'a VP8-only file',
      ['--stream', 'vp8', '--create', '--file', fixture('vp8.mkv')],
      ExitCode.BadMedia,
      /^kvs-put: .*vp8\.mkv: codec V_VP8 — KVS plays H\.264\/H\.265 video with AAC audio\n {2}hint: upload it with --transcode/m,
    ],
    [
      'a camera that is not there',
      ['--stream', 's', '--create', '--device', '/dev/video99'],
      ExitCode.Io,
      /^kvs-put: camera \/dev\/video99: no such device\n {2}hint: (the video devices here|there is no \/dev\/video)/m,
    ],
    [
      'a camera path that is not a device',
      ['--stream', 's', '--create', '--device', fixture('h264.mkv')],
      ExitCode.Io,
      /^kvs-put: .*h264\.mkv is not a camera device\n {2}hint: (there is no \/dev\/video|the video devices here)/m,
    ],
    ...(hasV4l2Input
      ? [
          [
            // A character device of another driver than V4L2: refused at start, before ffmpeg runs.
            'a device that is no video capture device: said once, not retried',
            ['--stream', 's', '--create', '--device', '/dev/null'],
            ExitCode.Io,
            /^kvs-put: \/dev\/null is not a video capture device\n {2}hint: (there is no \/dev\/video|the video devices here)/m,
          ] satisfies [string, string[], number, RegExp],
        ]
      : []),
    [
      'an RTSP option that is not an rtsp:// URL (its password not shown)',
      ['--stream', 's', '--create', '--rtsp', 'http://admin:pw-123@192.0.2.10/stream1'],
      ExitCode.Usage,
      /^kvs-put: --rtsp takes an rtsp:\/\/ or rtsps:\/\/ URL, not http:\/\/admin:\*\*\*@192\.0\.2\.10\/stream1\n {2}hint: /m,
    ],
    ['no source', ['--stream', 's'], ExitCode.Usage, /^kvs-put: no source: give --file/m],
    [
      'a cluster length ffmpeg should not hold frames for',
      ['--stream', 's', '--testsrc', '--cluster-ms', '5000'],
      ExitCode.Usage,
      /^kvs-put: cluster length must be an integer from 10 to 1000 ms, got 5000\n {2}hint: use --cluster-ms 500/m,
    ],
    [
      'two sources',
      ['--stream', 's', '--testsrc', '--file', 'x.mkv'],
      ExitCode.Usage,
      /^kvs-put: give one source, not --file and --testsrc/m,
    ],
  ];
  it.each(cases)('%s', async (_name, args, code, message) => {
    await using kvs = await startLocalKvs();
    const run = await runKvsPut(args, { env: localKvsEnv(kvs) });
    expect(run.code).toBe(code);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.stderr).not.toContain('pw-123');
  });

  it('a corrupt MKV: the fragments before the damage are uploaded, then exit 3', async () => {
    await using kvs = await startLocalKvs();
    const run = await runKvsPut(
      ['--stream', 'cut', '--create', '--file', fixture('truncated.mkv'), '--json'],
      {
        env: localKvsEnv(kvs),
      },
    );
    expect(run.code).toBe(ExitCode.BadMedia);
    expect(run.stderr).toMatch(/^kvs-put: .*truncated\.mkv: Invalid MKV at byte 19368 in SimpleBlock/m);
    expect(ndjson(run.stdout).find((event) => event['event'] === 'summary')).toMatchObject({
      fragments: 1,
      received: 1,
    });
  });

  it('a file that is not media at all', async () => {
    await using kvs = await startLocalKvs();
    const dir = mkdtempSync(join(tmpdir(), 'kvs-put-bad-'));
    writeFileSync(join(dir, 'notes.mkv'), 'hello');
    const run = await runKvsPut(['--stream', 'x', '--create', '--file', join(dir, 'notes.mkv')], {
      env: localKvsEnv(kvs),
    });
    expect(run.code).toBe(ExitCode.BadMedia);
    expect(run.stderr).toMatch(
      /^kvs-put: .*notes\.mkv: Invalid MKV at byte 0: the input does not start with an EBML header/m,
    );
  });
});
