/**
 * One running ffmpeg: the exit as data (code and signal from the child itself, not a message), a redacted
 * stderr tail, a graceful stop (SIGINT, then SIGKILL after a grace period), AbortSignal and `await using`
 * support. fluent-ffmpeg drives it, through fluent-ffmpeg-adapter.ts.
 *
 * Its stdout is pushed: each read goes to `onStdout` in the step that reads it, with no promise, queue or
 * generator step per read, because a live camera delivers reads for days and each such step costs CPU. A
 * consumer that cannot keep up pauses it ({@link StdoutFlow}); StdoutQueue does so for a pull consumer.
 */
import { systemClock } from '../util/clock.js';
import type { Clock, ClockTimer } from '../util/clock.js';
import type { Readable } from 'node:stream';
import { FfmpegError, notRunnableError } from './capture-errors.js';
import { toArgv } from './ffmpeg-args.js';
import type { FfmpegInvocation } from './ffmpeg-args.js';
import { FluentFfmpegRun } from './fluent-ffmpeg-adapter.js';
import { formatCommandLine, redactArgs, redactText } from './redact.js';

export type StartFfmpegOptions = {
  /** The ffmpeg binary (locateFfmpeg). */
  ffmpegPath: string;
  /**
   * Each read of ffmpeg's stdout (the Matroska bytes), in the step that reads it. It must not throw. Every
   * read has been handed over by the time {@link FfmpegProcess.exited} resolves. @default discarded
   */
  onStdout?: (chunk: Uint8Array) => void;
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
  /** Times the stop's grace period. @default systemClock */
  clock?: Clock;
};

/** How an ffmpeg run ended. */
export type FfmpegExit = {
  /** null when it was killed by a signal or never started. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** We ended it (stop() or abort): not a failure, whatever the code. */
  isStopped: boolean;
  /** Set when the run failed: a non-zero exit or a signal we did not send, or it could not start. */
  error?: FfmpegError;
};

/**
 * Lets a push consumer of ffmpeg's stdout hold it back: after pauseStdout() at most the read in progress
 * arrives, the pipe fills and ffmpeg blocks writing; resumeStdout() lets it go on.
 */
export interface StdoutFlow {
  pauseStdout(): void;
  resumeStdout(): void;
}

export const DEFAULT_STDERR_TAIL_LINES = 20;
export const DEFAULT_STOP_GRACE_MS = 5000;

/**
 * ffmpeg's closing lines that only say that something failed, not why: the cause is a line before them
 * (`Error initializing output stream 0:1 --` follows the muxer's `Error parsing AAC extradata…`).
 */
const UNINFORMATIVE_LINE =
  /^(Conversion failed!|Exiting normally.*|Error while filtering.*|Error initializing output stream.*|Could not write header for output file.*|Error opening output files?.*|Error closing file.*|Error submitting .*|Error marking filters as finished|Nothing was written into output file.*|\s*)$/;

/**
 * The most telling stderr line for a one-line message: the last one that names a cause, without the
 * `@ 0x…` address ffmpeg puts in a component's tag (`[matroska @ 0x55…]` → `[matroska]`).
 */
export const tellingLine = (tail: readonly string[]): string | undefined =>
  ([...tail].reverse().find((line) => !UNINFORMATIVE_LINE.test(line)) ?? tail.at(-1))
    ?.replace(/^\[(\w+(?:,\w+)*) @ 0x[0-9a-f]+\] /, '[$1] ')
    .trim();

const discard = (): void => undefined;

/** `ffmpeg -hide_banner …` as one redacted shell line, as {@link FfmpegProcess.commandLine} has it. */
export const ffmpegCommandLine = (invocation: FfmpegInvocation, secrets: readonly string[] = []): string =>
  formatCommandLine('ffmpeg', toArgv(invocation), [...invocation.secrets, ...secrets]);

/** A running ffmpeg. Stop it (or `await using` it) when done. */
export class FfmpegProcess implements AsyncDisposable, StdoutFlow {
  /** The argv, redacted, for log lines. */
  public readonly argv: readonly string[];
  /** `ffmpeg -hide_banner …` as one redacted shell line. */
  public readonly commandLine: string;
  /** Resolves once ffmpeg has exited and its output is closed; never rejects. */
  public readonly exited: Promise<FfmpegExit>;

  readonly #ffmpegPath: string;
  readonly #secrets: readonly string[];
  readonly #tailLines: number;
  readonly #stopGraceMs: number;
  readonly #clock: Clock;
  readonly #onStderrLine: ((line: string) => void) | undefined;
  readonly #tail: string[] = [];
  readonly #signal: AbortSignal | undefined;
  readonly #run: FluentFfmpegRun;
  #settle!: (exit: FfmpegExit) => void;
  #isSettled = false;
  #isStopRequested = false;
  #isInterrupted = false;
  #killTimer: ClockTimer | undefined;

  public constructor(invocation: FfmpegInvocation, options: StartFfmpegOptions) {
    this.#ffmpegPath = options.ffmpegPath;
    this.#secrets = [...invocation.secrets, ...(options.secrets ?? [])];
    this.#tailLines = options.stderrTailLines ?? DEFAULT_STDERR_TAIL_LINES;
    this.#stopGraceMs = options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
    this.#clock = options.clock ?? systemClock;
    this.#onStderrLine = options.onStderrLine;
    this.#signal = options.signal;
    this.argv = redactArgs(toArgv(invocation), this.#secrets);
    this.commandLine = ffmpegCommandLine(invocation, options.secrets);
    this.exited = new Promise((resolve) => {
      this.#settle = resolve;
    });
    this.#run = new FluentFfmpegRun(
      invocation,
      {
        ffmpegPath: this.#ffmpegPath,
        stderrTailLines: this.#tailLines,
        ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
      },
      {
        onStdout: options.onStdout ?? discard,
        onStderrLine: (line) => this.#onStderr(line),
        onSpawn: () => {
          // A stop asked for before the spawn.
          if (this.#isStopRequested) {
            this.#interrupt();
          }
        },
        onExit: (exitCode, signal) => this.#finish(exitCode, signal),
        onStartError: (error) => this.#finish(null, null, error),
      },
    );
    if (this.#isSettled) {
      return;
    }
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
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
    return this.#run.pid;
  }

  public pauseStdout(): void {
    this.#run.pauseStdout();
  }

  public resumeStdout(): void {
    this.#run.resumeStdout();
  }

  /**
   * Stops ffmpeg: SIGINT (it finishes the current cluster, writes it and closes stdout), then SIGKILL after
   * the grace period. Resolves with the exit, which is never an error for a stop we asked for. Idempotent.
   * A paused stdout stays paused: ffmpeg's last cluster waits for its consumer.
   */
  public stop(): Promise<FfmpegExit> {
    this.#isStopRequested = true;
    if (!this.#isSettled) {
      // Not spawned yet: onSpawn interrupts it as soon as it is.
      this.#interrupt();
    }
    return this.exited;
  }

  public async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
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

  #interrupt(): void {
    if (this.#isInterrupted || !this.#run.isRunning) {
      return;
    }
    this.#isInterrupted = true;
    this.#run.kill('SIGINT');
    this.#killTimer = this.#clock.setTimeout(() => this.#run.kill('SIGKILL'), this.#stopGraceMs);
  }

  #finish(exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: unknown): void {
    if (this.#isSettled) {
      return;
    }
    this.#isSettled = true;
    this.#killTimer?.cancel();
    this.#signal?.removeEventListener('abort', this.#onAbort);
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
