/**
 * One running ffmpeg, driven through fluent-ffmpeg (the product decision: fluent-ffmpeg drives ffmpeg, and
 * only src/capture knows either). fluent-ffmpeg spawns the process, splits stderr into lines and pipes
 * stdout into our sink; this module adds what a days-long capture needs on top: the exit as data
 * (code and signal from the child itself, not fluent-ffmpeg's message), a redacted stderr tail, a graceful
 * stop (SIGINT, then SIGKILL after a grace period), AbortSignal and `await using` support.
 *
 * Two fluent-ffmpeg behaviours are bypassed on purpose, per command instance:
 * - its `-formats` check: fluent-ffmpeg 2.1.3 cannot parse the `-formats` listing of ffmpeg ≥ 7 (a third
 *   "is a device" column), so it refuses `-f lavfi`, `-f v4l2`, `-f avfoundation` and `-f dshow` with
 *   "Input format … is not available" (fluent-ffmpeg issues #1282, #1290, #1294; fix PR #1276 unreleased).
 *   `kvs-put doctor` lists formats (probeFfmpegCapabilities); ffmpeg itself reports a missing one when it runs.
 * - its `-encoders` query, which only serves to add `-strict experimental` after `-vcodec`/`-acodec`
 *   output options; we never use those (codecs are given as `-c:v`/`-c:a`, all non-experimental), and
 *   skipping it saves a process spawn before every (re)start.
 */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Writable } from 'node:stream';
import type { Readable } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';
import type { FfmpegCommand, Formats } from 'fluent-ffmpeg';
import { assert } from '../util/assert.js';
import { FfmpegError, notRunnableError } from './capture-errors.js';
import { toArgv } from './ffmpeg-args.js';
import type { FfmpegInvocation } from './ffmpeg-args.js';
import { formatCommandLine, redactArgs, redactText } from './redact.js';

export type StartFfmpegOptions = {
  /** The ffmpeg binary (locateFfmpeg). */
  ffmpegPath: string;
  /** Secrets to redact besides the invocation's own (RTSP passwords are already there). */
  secrets?: readonly string[];
  /** How many stderr lines to keep for errors. @default 20 */
  stderrTailLines?: number;
  /** After SIGINT, how long ffmpeg may take to finish before SIGKILL, in ms. @default 5000 */
  stopGraceMs?: number;
  /** Aborting stops ffmpeg (as stop() does). */
  signal?: AbortSignal;
  /** What ffmpeg reads as `pipe:0`; required when the invocation reads stdin. */
  stdin?: Readable;
  /** Every stderr line, redacted, as it arrives (for a debug log). */
  onStderrLine?: (line: string) => void;
};

/** How an ffmpeg run ended. */
export type FfmpegExit = {
  /** null when it was killed by a signal or never started. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** We ended it (stop(), abort, or the reader of stdout left): not a failure, whatever the code. */
  isStopped: boolean;
  /** Set when the run failed: a non-zero exit or a signal we did not send, or it could not start. */
  error?: FfmpegError;
};

export const DEFAULT_STDERR_TAIL_LINES = 20;
export const DEFAULT_STOP_GRACE_MS = 5000;

/** ffmpeg's closing lines that say nothing about the cause. */
const UNINFORMATIVE_LINE = /^(Conversion failed!|Exiting normally.*|Error while filtering.*|\s*)$/;

/** The most telling stderr line for a one-line message: the last one that names a cause. */
const tellingLine = (tail: readonly string[]): string | undefined =>
  [...tail].reverse().find((line) => !UNINFORMATIVE_LINE.test(line)) ?? tail.at(-1);

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

/**
 * fluent-ffmpeg's `inputOptions`/`outputOptions` split a lone string argument at its space
 * (`'-f lavfi'` → two arguments); passing every option as its own argument turns that off, so values with
 * spaces (a DirectShow camera name) reach ffmpeg unchanged.
 */
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
 * The fluent-ffmpeg command for an invocation, not yet run. Global options go before the first input's
 * own options: fluent-ffmpeg would place its "global" options after the inputs, and ffmpeg reads global
 * options anywhere, so this keeps the argv exactly {@link toArgv}'s.
 * @internal exported for tests (`_getArguments()` must equal toArgv).
 */
export const buildFluentCommand = (
  invocation: FfmpegInvocation,
  output: Writable,
  options: Pick<StartFfmpegOptions, 'stdin' | 'stderrTailLines'>,
): FfmpegCommand => {
  const command = ffmpeg({ stdoutLines: options.stderrTailLines ?? DEFAULT_STDERR_TAIL_LINES });
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
  // See the module comment: this command's format check accepts every format, and its encoder list is
  // empty (no `-strict experimental` patching, no `-encoders` spawn).
  const noError = undefined as unknown as Error;
  command.availableFormats = (callback) => {
    callback(noError, ANY_FORMAT);
  };
  command.availableEncoders = (callback) => {
    callback(noError, {});
  };
  return command;
};

/** Bytes queued from ffmpeg's stdout before reading pauses (ffmpeg then blocks on the full pipe). */
const STDOUT_HIGH_WATER_BYTES = 1024 * 1024;

/**
 * What fluent-ffmpeg pipes ffmpeg's stdout into. Its write() takes each chunk straight to the reader,
 * without Writable's buffering and callback rounds (a queue, a `process.nextTick` and an `afterWrite` per
 * chunk, ~20 times a second for days): the reader is the buffer. It answers false while the reader holds
 * {@link STDOUT_HIGH_WATER_BYTES}, which pauses the pipe, and emits 'drain' once the reader is below that.
 * end() is Writable's own: with nothing ever queued there it finishes at once, through `final`.
 */
class StdoutSink extends Writable {
  readonly #onChunk: (chunk: Uint8Array) => boolean;

  public constructor(onChunk: (chunk: Uint8Array) => boolean, onEnd: () => void) {
    super({
      final: (callback: () => void) => {
        onEnd();
        callback();
      },
    });
    this.#onChunk = onChunk;
  }

  public override write(chunk: unknown, ...rest: unknown[]): boolean {
    const callback = rest.find((arg): arg is () => void => typeof arg === 'function');
    if (!(chunk instanceof Uint8Array) || this.writableEnded || this.destroyed) {
      // Not the pipe from ffmpeg's stdout: Writable's own checks and errors.
      return super.write(chunk, ...(rest as [BufferEncoding, () => void]));
    }
    const isBelowMark = this.#onChunk(chunk);
    if (callback !== undefined) {
      process.nextTick(callback);
    }
    return isBelowMark;
  }
}

/**
 * ffmpeg's stdout as an async iterator. fluent-ffmpeg pipes stdout into {@link sink} ({@link StdoutSink}),
 * which hands each chunk to next() directly: no Transform in between (a PassThrough costs a readable side,
 * a push and a 'data' round per chunk), no Node stream iterator (a generator step, a read() and a
 * 'readable' round per chunk), and a camera delivers ~20 chunks a second for days.
 */
class StdoutReader implements AsyncIterableIterator<Uint8Array> {
  /** What ffmpeg's stdout is piped into. */
  public readonly sink: Writable;
  readonly #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  /** The sink answered false (the pipe paused): it owes a 'drain' once the queue is below the mark. */
  #owesDrain = false;
  #isEnded = false;
  #isDone = false;
  #isStarted = false;
  #isDiscarding = false;
  #wake: (() => void) | undefined;
  /** Takes each chunk as it arrives (see {@link deliverTo}) instead of the queue. */
  #consumer: ((chunk: Uint8Array) => void) | undefined;
  /** What the consumer threw: the delivery stops and fails with it. */
  #consumerFailure: { error: unknown } | undefined;
  /** Resolves once ffmpeg has exited; throws its failure. */
  readonly #finish: () => Promise<void>;
  /** Stops ffmpeg (the reader left early). */
  readonly #leave: () => Promise<unknown>;

  public constructor(finish: () => Promise<void>, leave: () => Promise<unknown>) {
    this.#finish = finish;
    this.#leave = leave;
    this.sink = new StdoutSink(
      (chunk) => {
        if (this.#isDiscarding) {
          return true;
        }
        if (this.#consumer !== undefined) {
          this.#deliver(this.#consumer, chunk);
          return true;
        }
        this.#queue.push(chunk);
        this.#queuedBytes += chunk.length;
        this.#notify();
        if (this.#queuedBytes >= STDOUT_HIGH_WATER_BYTES) {
          this.#owesDrain = true;
          return false;
        }
        return true;
      },
      () => {
        this.#isEnded = true;
        this.#notify();
      },
    );
  }

  /** Whether someone iterates (and has not left). */
  public get isReading(): boolean {
    return !this.#isDiscarding && this.#isStarted;
  }

  /** Nobody reads on: what ffmpeg still writes goes nowhere, so that it never blocks on a full pipe. */
  public discard(): void {
    this.#isDiscarding = true;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#drain();
  }

  public async next(): Promise<IteratorResult<Uint8Array, undefined>> {
    this.#isStarted = true;
    for (;;) {
      if (this.#isDone) {
        return { value: undefined, done: true };
      }
      const chunk = this.#queue.shift();
      if (chunk !== undefined) {
        this.#queuedBytes -= chunk.length;
        if (this.#queuedBytes < STDOUT_HIGH_WATER_BYTES) {
          this.#drain();
        }
        return { value: chunk, done: false };
      }
      if (this.#isEnded) {
        this.#isDone = true;
        await this.#finish();
        return { value: undefined, done: true };
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /**
   * Hands each chunk to `onChunk` as it arrives, in the same step as ffmpeg's read, instead of queueing it
   * for next(): what was queued before goes first. Never pauses ffmpeg, so `onChunk` must keep up (a live
   * source drops in its upload buffer, never in the pipe). Resolves once stdout has ended and ffmpeg exited;
   * rejects with the run's failure, or with what `onChunk` threw (ffmpeg is then stopped).
   */
  public async deliverTo(onChunk: (chunk: Uint8Array) => void): Promise<void> {
    if (this.#isStarted) {
      throw new TypeError('ffmpeg stdout is read already');
    }
    this.#isStarted = true;
    this.#consumer = onChunk;
    const queued = this.#queue.splice(0);
    this.#queuedBytes = 0;
    this.#drain();
    for (const chunk of queued) {
      this.#deliver(onChunk, chunk);
    }
    while (!this.#isEnded && this.#consumerFailure === undefined) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    this.#isDone = true;
    if (this.#consumerFailure !== undefined) {
      await this.#leave();
      throw this.#consumerFailure.error;
    }
    await this.#finish();
  }

  public async return(): Promise<IteratorResult<Uint8Array, undefined>> {
    if (!this.#isDone) {
      this.#isDone = true;
      this.discard();
      await this.#leave();
    }
    return { value: undefined, done: true };
  }

  public [Symbol.asyncIterator](): this {
    return this;
  }

  #drain(): void {
    if (this.#owesDrain) {
      this.#owesDrain = false;
      this.sink.emit('drain');
    }
  }

  #deliver(onChunk: (chunk: Uint8Array) => void, chunk: Uint8Array): void {
    if (this.#consumerFailure !== undefined) {
      return;
    }
    try {
      onChunk(chunk);
    } catch (error) {
      this.#consumerFailure = { error };
      this.discard();
      this.#notify();
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** A running ffmpeg. Read {@link stdout} once; stop it (or `await using` it) when done. */
export class FfmpegProcess implements AsyncDisposable {
  /** The argv, redacted, for log lines. */
  public readonly argv: readonly string[];
  /** `ffmpeg -hide_banner …` as one redacted shell line. */
  public readonly commandLine: string;
  /** Resolves once ffmpeg has exited and its output is closed; never rejects. */
  public readonly exited: Promise<FfmpegExit>;
  /**
   * The Matroska bytes ffmpeg writes. Iterate once. Ends when ffmpeg closes its stdout; if the run failed
   * it then throws the {@link FfmpegError}. Leaving the loop early stops ffmpeg.
   */
  public readonly stdout: AsyncIterable<Uint8Array>;
  readonly #stdout: StdoutReader;

  /**
   * Instead of iterating {@link stdout}: hands each chunk to `onChunk` as it arrives, in the same step as
   * the read (no promise and no queue per chunk). `onChunk` must keep up: ffmpeg is never paused for it.
   * Resolves once ffmpeg has exited and its output is closed; rejects with the run's FfmpegError, or with
   * what `onChunk` threw (ffmpeg is then stopped).
   */
  public deliverStdout(onChunk: (chunk: Uint8Array) => void): Promise<void> {
    return this.#stdout.deliverTo(onChunk);
  }

  readonly #ffmpegPath: string;
  readonly #secrets: readonly string[];
  readonly #tailLines: number;
  readonly #stopGraceMs: number;
  readonly #onStderrLine: ((line: string) => void) | undefined;
  readonly #tail: string[] = [];
  readonly #signal: AbortSignal | undefined;
  #child: ChildProcess | undefined;
  #settle!: (exit: FfmpegExit) => void;
  #isSettled = false;
  #isStopRequested = false;
  #stopping: Promise<FfmpegExit> | undefined;
  #killTimer: NodeJS.Timeout | undefined;

  public constructor(invocation: FfmpegInvocation, options: StartFfmpegOptions) {
    this.#ffmpegPath = options.ffmpegPath;
    this.#secrets = [...invocation.secrets, ...(options.secrets ?? [])];
    this.#tailLines = options.stderrTailLines ?? DEFAULT_STDERR_TAIL_LINES;
    this.#stopGraceMs = options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
    this.#onStderrLine = options.onStderrLine;
    this.#signal = options.signal;
    const argv = toArgv(invocation);
    this.argv = redactArgs(argv, this.#secrets);
    this.commandLine = formatCommandLine('ffmpeg', argv, this.#secrets);
    this.exited = new Promise((resolve) => {
      this.#settle = resolve;
    });
    this.#stdout = new StdoutReader(
      async () => {
        const exit = await this.exited;
        if (exit.error !== undefined) {
          throw exit.error;
        }
      },
      () => this.stop(),
    );
    this.stdout = this.#stdout;

    // fluent-ffmpeg crashes the whole process when the spawn itself fails (its end callback reads the
    // stderr ring that a failed spawn never created: "Cannot read properties of undefined (reading 'get')",
    // fluent-ffmpeg #861, #1316; fix PR #1321 unreleased). So a binary that cannot run is never handed to it.
    const unrunnable = whyNotRunnable(this.#ffmpegPath);
    if (unrunnable !== undefined) {
      this.#finish(null, null, unrunnable);
      return;
    }
    const command = buildFluentCommand(invocation, this.#stdout.sink, options);
    // fluent-ffmpeg keeps the binary path process-wide; kvs-put runs one ffmpeg binary per process.
    command.setFfmpegPath(this.#ffmpegPath);
    command.on('start', () => this.#onStart(command));
    command.on('stderr', (line: string) => this.#onStderr(line));
    command.on('error', (error: unknown) => {
      // Once the child exists, its own 'close' reports the exit; fluent-ffmpeg's error then only restates
      // it ("ffmpeg exited with code 1", "Output stream closed").
      if (this.#child === undefined) {
        this.#finish(null, null, error);
      }
    });
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
    command.run();
    if (this.#signal?.aborted === true) {
      void this.stop();
    }
  }

  /** The last stderr lines, redacted. */
  public get stderrTail(): readonly string[] {
    return [...this.#tail];
  }

  /** ffmpeg's process id, once spawned. */
  public get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Stops ffmpeg: SIGINT (it finishes the current cluster and closes stdout), then SIGKILL after the grace
   * period. Resolves with the exit, which is never an error for a stop we asked for. Idempotent.
   */
  public stop(): Promise<FfmpegExit> {
    this.#isStopRequested = true;
    if (this.#isSettled) {
      return this.exited;
    }
    // Nobody may be reading stdout any more: drain it so that ffmpeg, blocked writing its last cluster to a
    // full pipe, can see the signal and exit. A reader still iterating gets the last cluster.
    if (!this.#stdout.isReading) {
      this.#stdout.discard();
    }
    this.#stopping ??= (async () => {
      if (this.#child !== undefined) {
        this.#interrupt(this.#child);
      }
      // Not spawned yet: #onStart interrupts it as soon as it is.
      return this.exited;
    })();
    return this.#stopping;
  }

  public async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #onStart(command: FfmpegCommand): void {
    const child = (command as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc;
    assert(child !== undefined, 'fluent-ffmpeg emitted start without a process');
    this.#child = child;
    child.once('error', (error) => this.#finish(null, null, error));
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => this.#finish(code, signal));
    if (this.#isStopRequested) {
      this.#interrupt(child);
    }
  }

  #onStderr(rawLine: string): void {
    const line = redactText(rawLine, this.#secrets);
    this.#tail.push(line);
    if (this.#tail.length > this.#tailLines) {
      this.#tail.shift();
    }
    this.#onStderrLine?.(line);
  }

  readonly #onAbort = (): void => {
    void this.stop();
  };

  #interrupt(child: ChildProcess): void {
    if (child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    child.stdout?.resume();
    child.kill('SIGINT');
    this.#killTimer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
    }, this.#stopGraceMs);
  }

  #finish(exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: unknown): void {
    if (this.#isSettled) {
      return;
    }
    this.#isSettled = true;
    clearTimeout(this.#killTimer);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    const sink = this.#stdout.sink;
    if (!sink.destroyed && !sink.writableEnded) {
      sink.end();
    }
    const isStopped = this.#isStopRequested;
    const error =
      spawnError !== undefined
        ? this.#startError(spawnError)
        : !isStopped && (exitCode !== 0 || signal !== null)
          ? this.#exitError(exitCode, signal)
          : undefined;
    this.#settle({ exitCode, signal, isStopped, ...(error === undefined ? {} : { error }) });
  }

  #exitError(exitCode: number | null, signal: NodeJS.Signals | null): FfmpegError {
    const tail = this.stderrTail;
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    const cause = tellingLine(tail);
    return new FfmpegError(
      `ffmpeg ${how}${cause === undefined ? '' : `: ${cause}`}`,
      { exitCode, signal, stderrTail: tail },
      {
        context: { argv: this.argv },
      },
    );
  }

  #startError(error: unknown): FfmpegError {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const reason = typeof code === 'string' ? notRunnableError(this.#ffmpegPath, code, error) : undefined;
    const message = redactText(error instanceof Error ? error.message : String(error), this.#secrets);
    return new FfmpegError(
      reason?.message ?? `cannot start ffmpeg: ${message}`,
      { exitCode: null, signal: null, stderrTail: this.stderrTail },
      {
        context: { argv: this.argv, path: this.#ffmpegPath, ...(code === undefined ? {} : { code }) },
        ...(reason?.suggestion === undefined ? {} : { suggestion: reason.suggestion }),
        cause: error,
      },
    );
  }
}

/** Starts ffmpeg for an invocation (see {@link FfmpegProcess}). */
export const startFfmpeg = (invocation: FfmpegInvocation, options: StartFfmpegOptions): FfmpegProcess => {
  if (invocation.readsStdin && options.stdin === undefined) {
    throw new TypeError('options.stdin, when the invocation reads pipe:0, must be a readable stream.');
  }
  return new FfmpegProcess(invocation, options);
};
