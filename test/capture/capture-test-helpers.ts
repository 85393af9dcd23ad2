/**
 * Helpers for the capture tests: the real ffmpeg (tests skip with a printed reason without it), temp dirs,
 * fake executables, and a Matroska summary of what ffmpeg wrote, read with our own MkvReader.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll } from 'vitest';
import { startFfmpeg } from '../../src/capture/ffmpeg-process.js';
import type { FfmpegProcess, StartFfmpegOptions } from '../../src/capture/ffmpeg-process.js';
import type { FfmpegInvocation } from '../../src/capture/ffmpeg-args.js';
import { StdoutQueue } from '../../src/capture/stdout-queue.js';
import type { CliIo } from '../../src/cli/cli-io.js';
import { readMkv } from '../../src/mkv/mkv-reader.js';
import type { MkvFrame, MkvHeader } from '../../src/mkv/mkv-types.js';
import { hasTool } from '../helpers/paths.js';

export const hasFfmpeg = hasTool('ffmpeg');
export const hasFfprobe = hasTool('ffprobe');

/** The ffmpeg on PATH (what locateFfmpeg finds here). */
export const FFMPEG = 'ffmpeg';

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A temp dir removed after the file's tests. */
export const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-capture-'));
  tempDirs.push(dir);
  return dir;
};

/** Writes a shell script (mode 0755, or 0644 when `isExecutable` is false). */
export const writeScript = (path: string, body: string, isExecutable = true): string => {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, isExecutable ? 0o755 : 0o644);
  return path;
};

/** Runs ffmpeg to make a test input; throws with its stderr when it fails. */
export const makeMedia = (args: string[]): void => {
  const result = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], {
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(`ffmpeg ${args.join(' ')} failed: ${result.stderr}`);
  }
};

/**
 * Starts ffmpeg with its stdout read as a pull consumer reads it, through a {@link StdoutQueue}: it ends when
 * ffmpeg's output does and then throws the run's FfmpegError, if any; leaving it early stops ffmpeg.
 */
export const startReading = (
  invocation: FfmpegInvocation,
  options: Omit<StartFfmpegOptions, 'onStdout'>,
): { process: FfmpegProcess; stdout: StdoutQueue } => {
  const stdout = new StdoutQueue({ onReturn: () => run.stop() });
  const run = startFfmpeg(invocation, { ...options, onStdout: (chunk) => stdout.push(chunk, run) });
  void run.exited.then((exit) => (exit.error === undefined ? stdout.end() : stdout.fail(exit.error)));
  return { process: run, stdout };
};

export type MkvSummary = {
  headers: MkvHeader[];
  frames: MkvFrame[];
  clusters: number;
  chunks: number;
  bytes: number;
};

/** Reads what ffmpeg wrote with our own reader (the consumer kvs-put will have). */
export const readMkvSummary = async (source: AsyncIterable<Uint8Array>): Promise<MkvSummary> => {
  const summary: MkvSummary = { headers: [], frames: [], clusters: 0, chunks: 0, bytes: 0 };
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      summary.chunks += 1;
      summary.bytes += chunk.byteLength;
      yield chunk;
    }
  }
  for await (const event of readMkv(counted())) {
    if (event.type === 'header') {
      summary.headers.push(event.header);
    } else if (event.type === 'frame') {
      summary.frames.push(event.frame);
    } else if (event.type === 'cluster') {
      summary.clusters += 1;
    }
  }
  return summary;
};

/** The timestamps (ms) of a track's key frames. */
export const keyframeTimesMs = (summary: MkvSummary, trackNumber: number): number[] =>
  summary.frames
    .filter((frame) => frame.trackNumber === trackNumber && frame.isKeyframe)
    .map((frame) => frame.timestampMs);

export type FakeIo = CliIo & { out: () => string; err: () => string };

/** A CliIo that records what the CLI prints. */
export const fakeIo = (env: Readonly<Record<string, string | undefined>>): FakeIo => {
  let out = '';
  let err = '';
  return {
    stdout: {
      write: (text: string | Uint8Array) => {
        out += typeof text === 'string' ? text : Buffer.from(text).toString('utf8');
        return true;
      },
    },
    stderr: {
      write: (text: string) => {
        err += text;
        return true;
      },
    },
    stdin: Readable.from([]),
    env,
    cwd: process.cwd(),
    signal: new AbortController().signal,
    out: () => out,
    err: () => err,
  };
};
