/**
 * A capture that outlives its ffmpeg: when ffmpeg exits (a camera unplugged, an RTSP server restarted) or
 * goes silent, it is started again after a backoff, and the bytes keep coming. Each run is a new Matroska
 * stream (a new EBML header): the `start` event before its bytes tells the consumer to begin a new reader.
 */
import type { Readable } from 'node:stream';
import { backoffDelayMs } from '../util/backoff.js';
import type { BackoffPolicy } from '../util/backoff.js';
import { sleep, systemClock } from '../util/clock.js';
import type { Clock, ClockTimer } from '../util/clock.js';
import { FfmpegError } from './capture-errors.js';
import type { CapturePlan } from './capture-plan.js';
import { cameraRefusal } from './capture-plan.js';
import { ffmpegCommandLine, startFfmpeg } from './ffmpeg-process.js';
import type { FfmpegExit, FfmpegProcess, StartFfmpegOptions, StdoutFlow } from './ffmpeg-process.js';
import type { FfmpegInvocation } from './ffmpeg-args.js';

/**
 * Backoff between ffmpeg restarts: exponential from `initialDelayMs` (default 1000) to `maxDelayMs` (default
 * 30000), full jitter; a run that delivered bytes for `resetAfterMs` (default 60000) starts it over.
 */
export type RestartPolicy = BackoffPolicy & {
  /** Give up (throw the last error) after this many restarts. @default Infinity (a camera runs for days) */
  readonly maxRestarts: number;
};

export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicy> = Object.freeze({
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  resetAfterMs: 60_000,
  maxRestarts: Number.POSITIVE_INFINITY,
});

/** Something the capture tells its consumer besides bytes. */
export type CaptureEvent =
  | {
      type: 'start';
      /** 1 for the first run, then 2, 3…: one per ffmpeg started. */
      attempt: number;
      /** The ffmpeg command line, secrets redacted. */
      commandLine: string;
    }
  | {
      type: 'restart';
      /** The attempt that starts after the delay. */
      attempt: number;
      /** Restarts so far in this capture, this one included. */
      restarts: number;
      delayMs: number;
      /** One line: `ffmpeg exited with code 1: …`, `no data from ffmpeg for 20 s`. */
      reason: string;
      exit: FfmpegExit;
    };

export type CaptureLoopOptions = {
  ffmpegPath: string;
  /**
   * Takes each read of ffmpeg's stdout (the Matroska bytes), in the step that reads it: no promise, queue
   * or generator step per read. A consumer that cannot keep up pauses `stdout`, the current run's; time
   * paused is not silence to the watchdog. What it throws ends the capture with that error, once ffmpeg is
   * stopped. A run's bytes come after its `start` event is taken from the generator, and before the
   * `restart` event that follows it.
   */
  onData: (chunk: Uint8Array, stdout: StdoutFlow) => void;
  /** Stops the capture (and ffmpeg); the generator then returns. */
  signal?: AbortSignal;
  restartPolicy?: Partial<RestartPolicy>;
  /** @default plan.isRestartable */
  isRestartable?: boolean;
  /** @default plan.firstDataTimeoutMs */
  firstDataTimeoutMs?: number;
  /** @default plan.noDataTimeoutMs */
  noDataTimeoutMs?: number;
  /** For a plan that reads stdin. */
  stdin?: Readable;
  stopGraceMs?: number;
  stderrTailLines?: number;
  onStderrLine?: (line: string) => void;
  /** Uniform in [0, 1): the jitter. @default Math.random */
  random?: () => number;
  /** Times the backoff, the silence watchdog and ffmpeg's stop. @default systemClock */
  clock?: Clock;
  /** Starts one ffmpeg run. @default startFfmpeg */
  startProcess?: (invocation: FfmpegInvocation, options: StartFfmpegOptions) => FfmpegProcess;
};

/**
 * Calls `onSilent` once the capture has waited on ffmpeg for longer than the limit of the current wait.
 * Time the consumer holds ffmpeg back does not count. One timer for the whole run, re-armed when it fires
 * early, rather than one per read: a camera delivers reads for days.
 */
class SilenceWatchdog {
  #waitingSinceMs: number | undefined;
  #limitMs = 0;
  #timer: ClockTimer | undefined;
  #dueAtMs = Infinity;
  readonly #clock: Clock;
  readonly #onSilent: (limitMs: number) => void;

  public constructor(clock: Clock, onSilent: (limitMs: number) => void) {
    this.#clock = clock;
    this.#onSilent = onSilent;
  }

  /** The capture waits on ffmpeg from `nowMs`, for at most `limitMs`. */
  public waiting(limitMs: number, nowMs = this.#clock.monotonicMs()): void {
    this.#waitingSinceMs = nowMs;
    this.#limitMs = limitMs;
    if (this.#dueAtMs > nowMs + limitMs) {
      // No timer yet, or one set for a longer limit (the first read's).
      this.#arm(limitMs, nowMs);
    }
  }

  /** The wait is over: the consumer holds ffmpeg back. */
  public done(): void {
    this.#waitingSinceMs = undefined;
  }

  public stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#dueAtMs = Infinity;
  }

  #arm(delayMs: number, nowMs: number): void {
    this.#timer?.cancel();
    this.#timer = this.#clock.setTimeout(this.#check, delayMs);
    this.#dueAtMs = nowMs + delayMs;
  }

  readonly #check = (): void => {
    this.stop();
    if (this.#waitingSinceMs === undefined) {
      // Paused: resuming waits again, and re-arms.
      return;
    }
    const nowMs = this.#clock.monotonicMs();
    const waitedMs = nowMs - this.#waitingSinceMs;
    if (waitedMs >= this.#limitMs) {
      this.#onSilent(this.#limitMs);
      return;
    }
    this.#arm(this.#limitMs - waitedMs, nowMs);
  };
}

const describeExit = (exit: FfmpegExit): string =>
  exit.error?.message ??
  (exit.signal !== null
    ? `ffmpeg was killed by ${exit.signal}`
    : `ffmpeg exited with code ${exit.exitCode} (the source ended)`);

/** What one run needs, the same for every run of a capture. */
type RunConfig = {
  start: (invocation: FfmpegInvocation, options: StartFfmpegOptions) => FfmpegProcess;
  processOptions: StartFfmpegOptions;
  onData: CaptureLoopOptions['onData'];
  clock: Clock;
  firstDataTimeoutMs: number;
  noDataTimeoutMs: number;
};

type RunOutcome = {
  exit: FfmpegExit;
  stderrTail: readonly string[];
  /** From the start to the last read, in ms; undefined when the run delivered nothing. */
  deliveredForMs: number | undefined;
  /** The watchdog stopped ffmpeg after this long without bytes, in ms. */
  silentLimitMs: number | undefined;
};

/**
 * Runs ffmpeg once, its reads going to `onData` from the read's own step, and resolves once it has exited
 * and every read is handed over. Throws what `onData` threw (after stopping ffmpeg).
 */
const runOnce = async (invocation: FfmpegInvocation, config: RunConfig): Promise<RunOutcome> => {
  const { clock, onData, noDataTimeoutMs } = config;
  let lastDataAtMs: number | undefined;
  let silentLimitMs: number | undefined;
  let failure: { error: unknown } | undefined;
  const watchdog = new SilenceWatchdog(clock, (limitMs) => {
    silentLimitMs = limitMs;
    void run.stop();
  });
  const stdout: StdoutFlow = {
    pauseStdout: () => {
      watchdog.done();
      run.pauseStdout();
    },
    resumeStdout: () => {
      run.resumeStdout();
      if (failure === undefined) {
        watchdog.waiting(lastDataAtMs === undefined ? config.firstDataTimeoutMs : noDataTimeoutMs);
      }
    },
  };
  const startedAtMs = clock.monotonicMs();
  const run = config.start(invocation, {
    ...config.processOptions,
    onStdout: (chunk) => {
      if (failure !== undefined) {
        return;
      }
      const nowMs = clock.monotonicMs();
      lastDataAtMs = nowMs;
      watchdog.waiting(noDataTimeoutMs, nowMs);
      try {
        onData(chunk, stdout);
      } catch (error) {
        failure = { error };
        watchdog.stop();
        void run.stop();
      }
    },
  });
  watchdog.waiting(config.firstDataTimeoutMs, startedAtMs);
  const exit = await run.exited;
  watchdog.stop();
  if (failure !== undefined) {
    throw failure.error;
  }
  return {
    exit,
    stderrTail: run.stderrTail,
    deliveredForMs: lastDataAtMs === undefined ? undefined : lastDataAtMs - startedAtMs,
    silentLimitMs,
  };
};

/**
 * Runs a capture plan, restarting ffmpeg as needed. Each run's Matroska bytes go to `onData` as they are
 * read; the generator yields a `start` event before each run and a `restart` event (with its reason and
 * delay) between runs. A watchdog stops ffmpeg when it produces nothing for `firstDataTimeoutMs` after
 * starting or `noDataTimeoutMs` after its last bytes (only time spent waiting on ffmpeg counts, never time
 * the consumer holds it back).
 *
 * A plan that is not restartable (a file, stdin) runs once: a failure is thrown as an FfmpegError. Returns
 * when the source ends (non-restartable) or when `signal` aborts. ffmpeg runs only between a `start` event
 * and the next step of the generator, so a consumer that leaves at a yield leaves no ffmpeg behind; one that
 * wants to end a run in progress aborts `signal` (a return() called meanwhile waits for the run to end).
 * @throws FfmpegError when a non-restartable run fails, or after `maxRestarts` restarts.
 */
export async function* captureWithRestarts(
  plan: CapturePlan,
  options: CaptureLoopOptions,
): AsyncGenerator<CaptureEvent, void, undefined> {
  const policy: RestartPolicy = { ...DEFAULT_RESTART_POLICY, ...options.restartPolicy };
  const isRestartable = options.isRestartable ?? plan.isRestartable;
  const clock = options.clock ?? systemClock;
  const signal = options.signal;
  const config: RunConfig = {
    start: options.startProcess ?? startFfmpeg,
    processOptions: {
      ffmpegPath: options.ffmpegPath,
      clock,
      ...(signal === undefined ? {} : { signal }),
      ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
      ...(options.stopGraceMs === undefined ? {} : { stopGraceMs: options.stopGraceMs }),
      ...(options.stderrTailLines === undefined ? {} : { stderrTailLines: options.stderrTailLines }),
      ...(options.onStderrLine === undefined ? {} : { onStderrLine: options.onStderrLine }),
    },
    onData: options.onData,
    clock,
    firstDataTimeoutMs: options.firstDataTimeoutMs ?? plan.firstDataTimeoutMs,
    noDataTimeoutMs: options.noDataTimeoutMs ?? plan.noDataTimeoutMs,
  };
  // A function, not `signal?.aborted` inline: TypeScript would keep its narrowing across the awaits.
  const isAborted = (): boolean => signal?.aborted === true;
  let restarts = 0;
  let backoffAttempt = 0;

  for (let attempt = 1; ; attempt++) {
    if (isAborted()) {
      return;
    }
    yield { type: 'start', attempt, commandLine: ffmpegCommandLine(plan.invocation) };
    if (isAborted()) {
      return;
    }
    const { exit, stderrTail, deliveredForMs, silentLimitMs } = await runOnce(plan.invocation, config);
    if (isAborted()) {
      return;
    }
    const reason =
      silentLimitMs !== undefined
        ? `no data from ffmpeg for ${silentLimitMs / 1000} s${deliveredForMs === undefined ? ' after it started' : ''}`
        : describeExit(exit);
    const failure =
      silentLimitMs !== undefined
        ? new FfmpegError(reason, { exitCode: exit.exitCode, signal: exit.signal, stderrTail })
        : exit.error;
    if (!isRestartable) {
      if (failure !== undefined) {
        throw failure;
      }
      return;
    }
    // A path that is no camera stays no camera: said once, not retried for as long as the service runs.
    const refusal = failure === undefined ? undefined : await cameraRefusal(plan, stderrTail);
    if (refusal !== undefined) {
      throw refusal;
    }
    if (deliveredForMs !== undefined && deliveredForMs >= policy.resetAfterMs) {
      backoffAttempt = 0;
    }
    restarts += 1;
    backoffAttempt += 1;
    if (restarts > policy.maxRestarts) {
      throw (
        failure ??
        new FfmpegError(`ffmpeg stopped ${restarts} times: ${reason}`, {
          exitCode: exit.exitCode,
          signal: exit.signal,
          stderrTail,
        })
      );
    }
    const delayMs = backoffDelayMs(policy, backoffAttempt, options.random);
    yield { type: 'restart', attempt: attempt + 1, restarts, delayMs, reason, exit };
    await sleep(clock, delayMs, signal);
  }
}
