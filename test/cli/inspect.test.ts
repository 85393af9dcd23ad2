/**
 * `kvs-put inspect`, run in-process through runCli with a captured io (commander's exitOverride), and once
 * as the real binary. Asserts exit codes as well as output: the CLI contract of README.md "Exit codes".
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/cli-io.js';
import { ExitCode } from '../../src/exit-codes.js';
import { runCli } from '../../src/cli/run-cli.js';
import { MkvReader } from '../../src/mkv/mkv-reader.js';
import type { MkvEvent } from '../../src/mkv/mkv-types.js';
import { FIXTURES, REPO_ROOT, SHARED_FIXTURES, hasTool } from '../helpers/paths.js';
import { ensureBuilt } from '../helpers/kvs-put-process.js';

const hasFfprobe = hasTool('ffprobe');
const hasSharedFixtures = existsSync(SHARED_FIXTURES);

type CliRun = { code: number; stdout: string; stderr: string };

/** Runs `kvs-put ...argv` in-process with a fake io. */
const cli = async (argv: string[], stdin: Readable = Readable.from([])): Promise<CliRun> => {
  let stdout = '';
  let stderr = '';
  const decoder = new TextDecoder();
  const io: CliIo = {
    stdout: {
      write: (text: string | Uint8Array) => {
        stdout += typeof text === 'string' ? text : decoder.decode(text);
        return true;
      },
    },
    stderr: {
      write: (text: string) => {
        stderr += text;
        return true;
      },
    },
    stdin,
    env: {},
    cwd: REPO_ROOT,
    signal: new AbortController().signal,
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
};

type InspectJson = {
  input: string;
  segments: { docType: string; tracks: { number: number; codecId: string }[] }[];
  kvsTracks: { number: number; type: number; codecId: string }[];
  fragments: {
    sequence: number;
    timecode: number;
    producerTimestamp: string;
    durationMs: number;
    frames: number;
    bytes: number;
    startsWithKeyframe: boolean;
    bFrames: boolean;
    issues: { errorId: number; errorCode?: string; message: string }[];
  }[];
  stats: {
    framesIn: number;
    framesOut: number;
    fragments: number;
    skippedLeadingFrames: number;
    bFrameFragments: number;
    fragmentsWithIssues: number;
  };
};

const inspectJson = async (
  args: string[],
  stdin?: Readable,
  exitCode: number = ExitCode.Ok,
): Promise<InspectJson> => {
  const run = await cli(['inspect', ...args, '--json'], stdin);
  if (exitCode === ExitCode.Ok) {
    expect(run.stderr).toBe('');
  }
  expect(run.code).toBe(exitCode);
  // One JSON document, on one line.
  expect(run.stdout.trimEnd().split('\n')).toHaveLength(1);
  return JSON.parse(run.stdout) as InspectJson;
};

/** Exactly one `kvs-put: …` line on stderr, maybe a `  hint: …` line, never a stack trace. */
const expectOneErrorLine = (stderr: string): string => {
  const lines = stderr.split('\n').filter((line) => line !== '');
  expect(lines.length, stderr).toBeGreaterThanOrEqual(1);
  expect(lines.length, stderr).toBeLessThanOrEqual(2);
  expect(lines[0]).toMatch(/^kvs-put: \S/);
  if (lines.length === 2) {
    expect(lines[1]).toMatch(/^ {2}hint: \S/);
  }
  expect(stderr).not.toMatch(/^\s+at /m);
  expect(stderr.endsWith('\n')).toBe(true);
  return lines[0]!;
};

const fixture = (name: string): string => join('fixtures', 'mkv', name);

const readBack = (path: string): MkvEvent[] => {
  const reader = new MkvReader();
  return [...reader.push(new Uint8Array(readFileSync(path))), ...reader.end()];
};

let outDir = '';
beforeAll(() => {
  outDir = mkdtempSync(join(tmpdir(), 'kvs-put-inspect-'));
});
afterAll(() => {
  if (outDir !== '') {
    rmSync(outDir, { recursive: true, force: true });
  }
});

describe('kvs-put inspect: text output', () => {
  it('h264-aac.mkv: the segment, both tracks, 3 fragments and a summary', async () => {
    const run = await cli(['inspect', fixture('h264-aac.mkv'), '--start-time', '1700000000']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(ExitCode.Ok);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('segment at byte 0: matroska, TimecodeScale 1000000 ns');
    expect(lines[1]).toMatch(/^ {2}track 1: video V_MPEG4\/ISO\/AVC 320x240 \(CodecPrivate \d+ B\)$/);
    expect(lines[2]).toMatch(/^ {2}track 2: audio A_AAC 48000 Hz, 1 ch \(CodecPrivate \d+ B\)$/);
    expect(lines[3]).toBe('fragments (as kvs-put would send them):');
    const fragmentLines = lines.filter((line) => /^ {2}#\d/.test(line));
    expect(fragmentLines).toHaveLength(3);
    expect(fragmentLines[0]).toMatch(
      /^ {2}#0 +2023-11-14T22:13:20\.000Z +1\.\d{3} s +\d+ frames +\d+ B {2}key$/,
    );
    expect(run.stdout).toMatch(/^3 fragments, 216 frames, \d+ bytes; 0 with issues$/m);
    expect(lines.at(-1)).toBe('skipped 1 frames before the first key frame');
  });

  it('nonkey-start.mkv reports the frames skipped before the first key frame', async () => {
    const run = await cli(['inspect', fixture('nonkey-start.mkv')]);
    expect(run.code).toBe(ExitCode.Ok);
    expect(run.stdout).toMatch(/^skipped 35 frames before the first key frame$/m);
    expect((await inspectJson([fixture('nonkey-start.mkv')])).stats.skippedLeadingFrames).toBe(35);
  });

  it('bframes.mkv reports the B-frames, sent with their presentation times', async () => {
    const run = await cli(['inspect', fixture('bframes.mkv')]);
    expect(run.code).toBe(ExitCode.Ok);
    expect(run.stdout).toMatch(/^2 fragments carry B-frames: sent with their presentation times/m);
    const json = await inspectJson([fixture('bframes.mkv')]);
    expect(json.fragments.map((f) => f.bFrames)).toEqual([true, true]);
    expect(json.fragments.flatMap((f) => f.issues)).toEqual([]);
    expect(json.stats.bFrameFragments).toBe(2);
  });

  it('long-gop.mkv shows the 4002 issue on its fragment line, and exits 3 as put would', async () => {
    const run = await cli(['inspect', fixture('long-gop.mkv')]);
    expect(run.code).toBe(ExitCode.BadMedia);
    expect(run.stdout).toMatch(
      /^ {2}#0 .* key {2}! 4002 MAX_FRAGMENT_DURATION_REACHED: fragment lasts 25\.0 s/m,
    );
  });
});

describe('kvs-put inspect --json', () => {
  it('h264-aac.mkv: 3 fragments, both tracks in KVS numbering, stats that add up', async () => {
    const json = await inspectJson([fixture('h264-aac.mkv')]);
    expect(json.input).toBe(fixture('h264-aac.mkv'));
    expect(json.kvsTracks.map((track) => [track.number, track.codecId])).toEqual([
      [1, 'V_MPEG4/ISO/AVC'],
      [2, 'A_AAC'],
    ]);
    expect(json.fragments).toHaveLength(3);
    expect(json.fragments.map((f) => f.sequence)).toEqual([0, 1, 2]);
    expect(json.fragments.every((f) => f.startsWithKeyframe && f.issues.length === 0)).toBe(true);
    expect(json.fragments.reduce((sum, f) => sum + f.frames, 0)).toBe(json.stats.framesOut);
    expect(json.stats).toMatchObject({
      framesIn: 217,
      framesOut: 216,
      fragments: 3,
      skippedLeadingFrames: 1,
    });
  });

  it('long-gop.mkv: one fragment with a 4002 issue, errorCode MAX_FRAGMENT_DURATION_REACHED', async () => {
    const json = await inspectJson([fixture('long-gop.mkv')], undefined, ExitCode.BadMedia);
    expect(json.fragments).toHaveLength(2);
    expect(json.fragments[0]!.issues).toEqual([
      {
        errorId: 4002,
        errorCode: 'MAX_FRAGMENT_DURATION_REACHED',
        message: expect.stringMatching(/key frame interval/) as unknown,
      },
    ]);
    expect(json.fragments[1]!.issues).toEqual([]);
    expect(json.stats.fragmentsWithIssues).toBe(1);
  });
});

describe('kvs-put inspect: input, output and time options', () => {
  it('reads stdin for `-` and gives the same fragments as the file', async () => {
    const bytes = readFileSync(join(FIXTURES, 'h264-aac.mkv'));
    const fromStdin = await inspectJson(['-', '--start-time', '1700000000'], Readable.from(bytes));
    const fromFile = await inspectJson([fixture('h264-aac.mkv'), '--start-time', '1700000000']);
    expect(fromStdin.input).toBe('-');
    expect(fromStdin.fragments).toHaveLength(3);
    expect(fromStdin.fragments).toEqual(fromFile.fragments);
    // Small chunks, as a pipe delivers them.
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 4096) {
      chunks.push(bytes.subarray(i, i + 4096));
    }
    const fromChunks = await inspectJson(['-', '--start-time', '1700000000'], Readable.from(chunks));
    expect(fromChunks.fragments).toEqual(fromFile.fragments);
  });

  it('--output FILE writes one session that reads back with one header and the same fragments', async () => {
    const path = join(outDir, 'h264-aac.session.mkv');
    const run = await cli(['inspect', fixture('h264-aac.mkv'), '--output', path, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(ExitCode.Ok);
    const json = JSON.parse(run.stdout) as InspectJson;
    const events = readBack(path);
    expect(events.filter((event) => event.type === 'header')).toHaveLength(1);
    const clusters = events.filter((event) => event.type === 'cluster');
    expect(clusters).toHaveLength(json.fragments.length);
    expect(clusters.map((event) => event.type === 'cluster' && event.timecode)).toEqual(
      json.fragments.map((f) => f.timecode),
    );
    expect(events.filter((event) => event.type === 'frame')).toHaveLength(json.stats.framesOut);
    expect(statSync(path).size).toBe(
      json.fragments.reduce((sum, f) => sum + f.bytes, 0) + headerAndEndBytes(events, path),
    );
  });

  it.skipIf(!hasFfprobe)('--output FILE: ffprobe decodes every frame of it', async () => {
    const path = join(outDir, 'h264.session.mkv');
    expect((await cli(['inspect', fixture('h264.mkv'), '-o', path])).code).toBe(ExitCode.Ok);
    const probe = spawnSync(
      'ffprobe',
      ['-v', 'error', '-count_frames', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', path],
      { encoding: 'utf8' },
    );
    expect(probe.stderr).toBe('');
    expect(probe.stdout.trim()).toBe('75');
  });

  it('--start-time in ISO 8601 and in epoch seconds sets the first producer timestamp exactly', async () => {
    const iso = '2024-01-02T03:04:05.678Z';
    const epochMs = Date.parse(iso);
    for (const value of [iso, '1704164645.678', '2024-01-02T04:04:05.678+01:00']) {
      const json = await inspectJson([fixture('h264.mkv'), '--start-time', value]);
      expect(json.fragments[0]!.producerTimestamp, value).toBe(iso);
      expect(json.fragments[0]!.timecode, value).toBe(epochMs);
      expect(json.fragments[1]!.timecode, value).toBe(epochMs + 1000);
    }
    const whole = await inspectJson([fixture('h264.mkv'), '--start-time', '1700000000']);
    expect(whole.fragments[0]!.producerTimestamp).toBe('2023-11-14T22:13:20.000Z');
  });

  it('--timecode relative: the first cluster timecode is 0, producer timestamps unchanged', async () => {
    const json = await inspectJson([
      fixture('h264.mkv'),
      '--timecode',
      'relative',
      '--start-time',
      '1700000000',
    ]);
    expect(json.fragments.map((f) => f.timecode)).toEqual([0, 1000, 2000]);
    expect(json.fragments[0]!.producerTimestamp).toBe('2023-11-14T22:13:20.000Z');
    const path = join(outDir, 'relative.session.mkv');
    expect((await cli(['inspect', fixture('h264.mkv'), '--timecode', 'relative', '-o', path])).code).toBe(0);
    const clusters = readBack(path).flatMap((event) => (event.type === 'cluster' ? [event.timecode] : []));
    expect(clusters).toEqual([0, 1000, 2000]);
  });

  it('--timecode relative without --start-time: producer timestamps start now (not at 1970)', async () => {
    const before = Date.now();
    const json = await inspectJson([fixture('h264.mkv'), '--timecode', 'relative']);
    const after = Date.now();
    expect(json.fragments[0]!.timecode).toBe(0);
    const first = Date.parse(json.fragments[0]!.producerTimestamp);
    expect(first).toBeGreaterThanOrEqual(before);
    expect(first).toBeLessThanOrEqual(after);
  });

  it('--min-fragment-duration joins GOPs', async () => {
    const json = await inspectJson([fixture('h264.mkv'), '--min-fragment-duration', '2000']);
    expect(json.fragments.map((f) => f.frames)).toEqual([50, 25]);
  });
});

describe('kvs-put inspect: bad input gives one line and the documented exit code', () => {
  it('a missing file → 7', async () => {
    const run = await cli(['inspect', 'fixtures/mkv/no-such-file.mkv']);
    expect(run.code).toBe(ExitCode.Io);
    expect(expectOneErrorLine(run.stderr)).toBe(
      'kvs-put: cannot open fixtures/mkv/no-such-file.mkv: no such file',
    );
    expect(run.stdout).toBe('');
  });

  it('a directory → 7', async () => {
    const run = await cli(['inspect', 'fixtures']);
    expect(run.code).toBe(ExitCode.Io);
    expect(expectOneErrorLine(run.stderr)).toMatch(/^kvs-put: fixtures is a directory/);
  });

  it('truncated.mkv → 3, after printing the fragments read before the damage', async () => {
    const run = await cli(['inspect', fixture('truncated.mkv')]);
    expect(run.code).toBe(ExitCode.BadMedia);
    expect(expectOneErrorLine(run.stderr)).toMatch(
      /^kvs-put: .*truncated\.mkv: Invalid MKV at byte \d+ in SimpleBlock: input ended/,
    );
    expect(run.stdout).toMatch(/^ {2}#0 .* key$/m);
    expect(run.stdout).toMatch(/^1 fragments, 11 frames/m);
    const json = await cli(['inspect', fixture('truncated.mkv'), '--json']);
    expect(json.code).toBe(ExitCode.BadMedia);
    expect((JSON.parse(json.stdout) as InspectJson).fragments).toHaveLength(1);
    expectOneErrorLine(json.stderr);
  });

  it('README.md (no media) → 3, with a hint, as put says it (ffmpeg reads what is not named .mkv)', async () => {
    const run = await cli(['inspect', 'README.md']);
    expect(run.code).toBe(ExitCode.BadMedia);
    expect(expectOneErrorLine(run.stderr)).toMatch(/^kvs-put: README\.md: cannot read .* as media/);
    expect(run.stderr).toMatch(/^ {2}hint: .*ffprobe/m);
  });

  it('an unknown option → 2', async () => {
    const run = await cli(['inspect', fixture('h264.mkv'), '--bogus']);
    expect(run.code).toBe(ExitCode.Usage);
    expect(expectOneErrorLine(run.stderr)).toBe("kvs-put: unknown option '--bogus'");
    expect(run.stdout).toBe('');
  });

  it('a bad --start-time → 2', async () => {
    const run = await cli(['inspect', fixture('h264.mkv'), '--start-time', 'yesterday-ish']);
    expect(run.code).toBe(ExitCode.Usage);
    expect(expectOneErrorLine(run.stderr)).toMatch(
      /^kvs-put: option '--start-time <time>' argument 'yesterday-ish' is invalid/,
    );
  });

  it('a bad --timecode and a missing file argument → 2', async () => {
    const bad = await cli(['inspect', fixture('h264.mkv'), '--timecode', 'sideways']);
    expect(bad.code).toBe(ExitCode.Usage);
    expectOneErrorLine(bad.stderr);
    const missing = await cli(['inspect']);
    expect(missing.code).toBe(ExitCode.Usage);
    expect(expectOneErrorLine(missing.stderr)).toMatch(/missing required argument 'file'/);
  });

  it('an --output path that cannot be written → 7', async () => {
    const run = await cli(['inspect', fixture('h264.mkv'), '-o', join(outDir, 'no', 'such', 'dir', 'x.mkv')]);
    expect(run.code).toBe(ExitCode.Io);
    expect(expectOneErrorLine(run.stderr)).toMatch(/^kvs-put: cannot write .*: ENOENT$/);
  });

  it.skipIf(!hasSharedFixtures)(
    'relative timecodes of an input whose time goes back before its start → 3, not an internal error',
    async () => {
      const input = join(SHARED_FIXTURES, 'kvs-getmedia', 'output-get-media-non-increasing-timecode.mkv');
      const path = join(outDir, 'back-in-time.mkv');
      const run = await cli(['inspect', input, '--timecode', 'relative', '-o', path]);
      expect(run.code).toBe(ExitCode.BadMedia);
      expect(expectOneErrorLine(run.stderr)).toMatch(
        /^kvs-put: fragment #1 starts 10014 ms before the start time/,
      );
    },
  );
});

describe('the kvs-put binary', () => {
  beforeAll(() => {
    ensureBuilt();
    expect(existsSync(join(REPO_ROOT, 'dist', 'kvs-put.cjs'))).toBe(true);
  });

  const kvsPut = (...args: string[]) =>
    spawnSync(process.execPath, ['bin/kvs-put.js', ...args], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });

  it('node bin/kvs-put.js inspect fixtures/mkv/h264.mkv exits 0 and prints 3 fragments', () => {
    const run = kvsPut('inspect', 'fixtures/mkv/h264.mkv');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^ {2}track 1: video V_MPEG4\/ISO\/AVC 320x240/m);
    expect(run.stdout.split('\n').filter((line) => /^ {2}#\d/.test(line))).toHaveLength(3);
    expect(run.stdout).toMatch(/^3 fragments, 75 frames, \d+ bytes; 0 with issues$/m);
  });

  it('a missing file exits 7 with one line', () => {
    const run = kvsPut('inspect', 'nope.mkv');
    expect(run.status).toBe(7);
    expectOneErrorLine(run.stderr);
  });

  it('kvs-put --help lists the exit codes', async () => {
    const run = kvsPut('--help');
    expect(run.status).toBe(0);
    const inProcess = await cli(['--help']);
    expect(inProcess.code).toBe(ExitCode.Ok);
    for (const text of [run.stdout, inProcess.stdout]) {
      expect(text).toMatch(/^Exit codes:$/m);
      for (const code of [0, 1, 2, 3, 4, 5, 6, 7, 130]) {
        expect(text).toMatch(new RegExp(`^ {2}${code} +\\S`, 'm'));
      }
      expect(text).toMatch(/^ {2}inspect /m);
    }
  });
});

/** Bytes of the session that are not cluster bytes: the header before the first cluster and the trailing tags. */
const headerAndEndBytes = (events: readonly MkvEvent[], path: string): number => {
  const firstCluster = events.find((event) => event.type === 'cluster');
  const lastTags = events.filter((event) => event.type === 'tags').at(-1);
  const size = statSync(path).size;
  return (firstCluster?.byteOffset ?? 0) + (lastTags === undefined ? 0 : size - lastTags.byteOffset);
};
