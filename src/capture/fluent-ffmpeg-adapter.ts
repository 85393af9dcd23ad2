/**
 * The one module that imports fluent-ffmpeg, the product's ffmpeg driver (an eslint rule keeps it so): the
 * rest of kvs-put sees an ffmpeg run as FfmpegProcess and a probe as {@link ffprobeFile}.
 *
 * Defects of fluent-ffmpeg 2.1.3 worked around here:
 * - A binary that cannot be spawned crashes the whole process (its end callback reads a stderr ring that was
 *   never made): the binary is checked first, and such a run ends in `onStartError`.
 * - Its `-formats` parser misses what ffmpeg ≥ 7 lists with a third flag column (devices), so it refuses
 *   `-f lavfi`, `v4l2`, `avfoundation` and `dshow`; and before every run it spawns `ffmpeg -encoders`, only
 *   to add a `-strict experimental` kvs-put never needs. Both checks are answered here without ffmpeg.
 * - `inputOptions`/`outputOptions` split a lone string at its space, and "global" options land after the
 *   inputs: options go one per argument and global ones with the first input's, so the argv is `toArgv`'s.
 * - The ffmpeg and ffprobe paths are process-wide settings: each command gets its own binary instead.
 * - The child is reachable only as the undocumented `ffmpegProc`, the exit only as a message (taken from
 *   'exit', before stdio has closed, and restated in 'error' events), and `kill()` defaults to SIGKILL: the
 *   child's own 'close' gives the code and signal, signals go to the child, and 'error' counts only before
 *   there is a child.
 * - It SIGTERMs ffmpeg 20 ms after the stream it pipes stdout into emits 'close', which can come before
 *   ffmpeg has exited, so a clean end becomes a kill: the sink never emits 'close' (and hands each read
 *   straight on, without Writable's queue).
 * - stderr lines come only as 'stderr' events, and only to listeners added before `run()`, from a ring sized
 *   by an option named `stdoutLines`: the listener is added first, and FfmpegProcess keeps its own tail.
 * - An ffprobe failure is one message, "ffprobe exited with code N" and all of stderr: the rejection here
 *   carries stderr alone.
 */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Writable } from 'node:stream';
import type { Readable } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';
import type { FfmpegCommand, FfprobeData, FfprobeStream, Formats } from 'fluent-ffmpeg';
import { assert } from '../util/assert.js';
import type { FfmpegInvocation } from './ffmpeg-args.js';

export type { FfprobeData, FfprobeStream };

/** What an ffmpeg run tells its owner. It ends with `onExit` or `onStartError`, whichever comes first. */
export type FluentFfmpegEvents = {
  /** Each read of ffmpeg's stdout, in the step that reads it. It must not throw. */
  onStdout: (chunk: Uint8Array) => void;
  /** Each stderr line, unredacted. */
  onStderrLine: (line: string) => void;
  /** ffmpeg is running. */
  onSpawn: () => void;
  /** ffmpeg has exited and its output is closed: every read has been handed on. */
  onExit: (exitCode: number | null, signal: NodeJS.Signals | null) => void;
  /** ffmpeg could not be started (the spawn error, with its `code`, or fluent-ffmpeg's). */
  onStartError: (error: unknown) => void;
};

export type FluentFfmpegOptions = {
  ffmpegPath: string;
  /** What ffmpeg reads as `pipe:0`; required when the invocation reads stdin. */
  stdin?: Readable;
  /** How many stderr lines fluent-ffmpeg keeps; kvs-put keeps its own tail. */
  stderrTailLines: number;
};

/**
 * Why a binary cannot be spawned (the access error, with its `code`), or undefined when it can. A bare
 * command name is looked up on PATH as spawn would.
 */
const whyNotRunnable = (command: string): NodeJS.ErrnoException | undefined => {
  const candidates = /[/\\]/.test(command)
    ? [command]
    : (process.env['PATH'] ?? '')
        .split(delimiter)
        .filter((directory) => directory.length > 0)
        .map((directory) => join(directory, command));
  let firstError: NodeJS.ErrnoException | undefined;
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return undefined;
    } catch (error) {
      const errno = error as NodeJS.ErrnoException;
      // EACCES (exists, not executable) says more than ENOENT from another PATH entry.
      if (firstError === undefined || (firstError.code === 'ENOENT' && errno.code !== 'ENOENT')) {
        firstError = errno;
      }
    }
  }
  return firstError ?? Object.assign(new Error(`spawn ${command} ENOENT`), { code: 'ENOENT' });
};

/** A format table in which every format can be read and written (fluent-ffmpeg's check then passes). */
const ANY_FORMAT: Formats = new Proxy(
  {},
  {
    has: () => true,
    get: () => ({ description: '', canDemux: true, canMux: true }),
  },
);

/** Makes `command` run `binaryPath` whatever the process-wide setting (`getter` is fluent-ffmpeg's lookup). */
const pinBinary = (
  command: FfmpegCommand,
  getter: '_getFfmpegPath' | '_getFfprobePath',
  binaryPath: string,
): void => {
  (command as unknown as Record<typeof getter, (callback: (error: null, path: string) => void) => void>)[
    getter
  ] = (callback) => callback(null, binaryPath);
};

/** Options one per argument: a lone string with a space would be split in two. */
const addVerbatim = (add: (...options: string[]) => FfmpegCommand, options: readonly string[]): void => {
  if (options.length === 0) {
    return;
  }
  assert(
    options.length > 1 || !options[0]?.includes(' '),
    `a lone ffmpeg option with a space: ${options[0]}`,
  );
  add(...options);
};

/**
 * The fluent-ffmpeg command for an invocation, not yet run, writing its output into `output`.
 * @internal exported for tests (`_getArguments()` must equal toArgv).
 */
export const buildFluentCommand = (
  invocation: FfmpegInvocation,
  output: Writable,
  options: { stdin?: Readable; stderrTailLines?: number },
): FfmpegCommand => {
  const command = ffmpeg(
    options.stderrTailLines === undefined ? {} : { stdoutLines: options.stderrTailLines },
  );
  invocation.inputs.forEach((input, index) => {
    if (input.source === 'pipe:0') {
      if (options.stdin === undefined) {
        throw new TypeError('options.stdin, when the invocation reads pipe:0, must be a readable stream.');
      }
      command.input(options.stdin);
    } else {
      command.input(input.source);
    }
    addVerbatim(
      (...args) => command.inputOptions(...args),
      index === 0 ? [...invocation.globalOptions, ...input.options] : input.options,
    );
  });
  addVerbatim((...args) => command.outputOptions(...args), invocation.outputOptions);
  command.output(output);
  const noError = undefined as unknown as Error;
  command.availableFormats = (callback) => {
    callback(noError, ANY_FORMAT);
  };
  command.availableEncoders = (callback) => {
    callback(noError, {});
  };
  return command;
};

/**
 * What fluent-ffmpeg pipes ffmpeg's stdout into. write() hands each chunk straight to the owner, without
 * Writable's queue, `process.nextTick` and `afterWrite` per chunk. It answers false while paused, which
 * pauses the pipe (ffmpeg then blocks on it), and emits 'drain' on resume.
 */
class StdoutSink extends Writable {
  #isPaused = false;
  /** A write answered false: the pipe waits for 'drain'. */
  #owesDrain = false;
  readonly #onChunk: (chunk: Uint8Array) => void;

  public constructor(onChunk: (chunk: Uint8Array) => void) {
    super({ emitClose: false });
    this.#onChunk = onChunk;
  }

  public pause(): void {
    this.#isPaused = true;
  }

  public resume(): void {
    this.#isPaused = false;
    if (this.#owesDrain) {
      this.#owesDrain = false;
      this.emit('drain');
    }
  }

  public override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    if (!(chunk instanceof Uint8Array) || this.writableEnded || this.destroyed) {
      // Not the pipe from ffmpeg's stdout: Writable's own checks and errors.
      return super.write(chunk, encoding as BufferEncoding, callback as () => void);
    }
    this.#onChunk(chunk);
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') {
      process.nextTick(done);
    }
    if (this.#isPaused) {
      this.#owesDrain = true;
      return false;
    }
    return true;
  }
}

/** One ffmpeg run through fluent-ffmpeg. */
export class FluentFfmpegRun {
  readonly #sink: StdoutSink;
  #child: ChildProcess | undefined;

  public constructor(invocation: FfmpegInvocation, options: FluentFfmpegOptions, events: FluentFfmpegEvents) {
    this.#sink = new StdoutSink(events.onStdout);
    const unrunnable = whyNotRunnable(options.ffmpegPath);
    if (unrunnable !== undefined) {
      events.onStartError(unrunnable);
      return;
    }
    const command = buildFluentCommand(invocation, this.#sink, options);
    pinBinary(command, '_getFfmpegPath', options.ffmpegPath);
    command.on('start', () => {
      const child = (command as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc;
      assert(child !== undefined, 'fluent-ffmpeg emitted start without a process');
      this.#child = child;
      child.once('error', (error) => events.onStartError(error));
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) =>
        events.onExit(code, signal),
      );
      events.onSpawn();
    });
    command.on('stderr', (line: string) => events.onStderrLine(line));
    command.on('error', (error: unknown) => {
      if (this.#child === undefined) {
        events.onStartError(error);
      }
    });
    command.run();
  }

  /** ffmpeg's process id, once spawned. */
  public get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Spawned and not yet exited. */
  public get isRunning(): boolean {
    const child = this.#child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Sends `signal` to ffmpeg if it is running. */
  public kill(signal: NodeJS.Signals): void {
    if (this.isRunning) {
      this.#child?.kill(signal);
    }
  }

  /** Stops reading ffmpeg's stdout after the current read: the pipe fills and ffmpeg blocks on it. */
  public pauseStdout(): void {
    this.#sink.pause();
  }

  public resumeStdout(): void {
    this.#sink.resume();
  }
}

/** ffprobe's description of a media file (streams and format), as fluent-ffmpeg parses it. */
export const ffprobeFile = (path: string, ffprobePath: string): Promise<FfprobeData> =>
  new Promise((resolve, reject) => {
    const command = ffmpeg(path);
    pinBinary(command, '_getFfprobePath', ffprobePath);
    command.ffprobe((error: Error | null | undefined, data: FfprobeData) => {
      if (error === null || error === undefined) {
        resolve(data);
        return;
      }
      const stderr = error.message.replace(/^ffprobe exited with code \d+\s*/, '');
      reject(stderr.length > 0 && stderr !== error.message ? new Error(stderr, { cause: error }) : error);
    });
  });
