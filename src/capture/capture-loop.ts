/**
 * A capture that outlives its ffmpeg: when ffmpeg exits (a camera unplugged, an RTSP server restarted) or
 * goes silent, it is started again after a backoff, and the bytes keep coming. Each run is a new Matroska
 * stream (a new EBML header): the `start` event before its bytes tells the consumer to begin a new reader.
 */
import { setTimeout as sleepMs } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { FfmpegError } from './capture-errors.js';
import type { CapturePlan } from './capture-plan.js';
import { cameraRefusal } from './capture-plan.js';
import { startFfmpeg } from './ffmpeg-process.js';
import type { FfmpegExit, FfmpegProcess, StartFfmpegOptions } from './ffmpeg-process.js';
import type { FfmpegInvocation } from './ffmpeg-args.js';

/** Backoff between ffmpeg restarts: exponential from `initialDelayMs` to `maxDelayMs`, full jitter. */
export type RestartPolicy = {
  /** @default 1000 */
  initialDelayMs: number;
  /** @default 30000 */
  maxDelayMs: number;
  /** A run that delivered bytes for this long resets the backoff to its start, in ms. @default 60000 */
  resetAfterMs: number;
  /** Give up (throw the last error) after this many restarts. @default Infinity (a camera runs for days) */
  maxRestarts: number;
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

/** What the capture yields: Matroska bytes, or an event. */
export type CaptureOutput = Uint8Array | CaptureEvent;

export type CaptureLoopOptions = {
  ffmpegPath: string;
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
  /**
   * Takes the Matroska bytes as they arrive, in the same step as the read, instead of the generator
   * yielding them: the generator then yields only events. For a live source, whose bytes must never wait
   * (it must keep up: ffmpeg is not paused for it), and which then costs no promise or generator step per
   * read. What it throws ends the capture with that error. A run's bytes come after its `start` event is
   * taken from the generator, and before the `restart` event that follows it.
   */
  onData?: (chunk: Uint8Array) => void;
  stopGraceMs?: number;
  stderrTailLines?: number;
  onStderrLine?: (line: string) => void;
  /** Uniform in [0, 1): the jitter. @default Math.random */
  random?: () => number;
  /** The backoff wait; rejects or resolves early on abort. @default node:timers/promises setTimeout */
  sleep?: (delayMs: number, signal?: AbortSignal) => Promise<void>;
  /** @default performance.now */
  now?: () => number;
  /** Starts one ffmpeg run. @default startFfmpeg */
  startProcess?: (invocation: FfmpegInvocation, options: StartFfmpegOptions) => FfmpegProcess;
};

/** The delay before restart number `attempt` (1-based): uniform in [0, min(max, initial × 2^(attempt−1))]. */
export const backoffDelayMs = (
  attempt: number,
  policy: RestartPolicy,
  random: () => number = Math.random,
): number =>
  Math.round(random() * Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1)));

/**
 * Calls `onSilent` once the capture has waited on ffmpeg for longer than the limit of the current wait.
 * Time the consumer holds a chunk does not count. One timer for the whole run, re-armed when it fires
 * early, rather than one per chunk: a 1080p camera delivers ~20 chunks a second for days.
 */
class SilenceWatchdog {
  #waitingSinceMs: number | undefined;
  #limitMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #dueAtMs = Infinity;
  readonly #onSilent: (limitMs: number) => void;

  public constructor(onSilent: (limitMs: number) => void) {
    this.#onSilent = onSilent;
  }

  /** The capture waits on ffmpeg from now, for at most `limitMs`. */
  public waiting(limitMs: number): void {
    const nowMs = performance.now();
    this.#waitingSinceMs = nowMs;
    this.#limitMs = limitMs;
    if (this.#dueAtMs > nowMs + limitMs) {
      // No timer yet, or one set for a longer limit (the first chunk's).
      this.#arm(limitMs);
    }
  }

  /** The wait is over (a chunk came, or the run ended). */
  public done(): void {
    this.#waitingSinceMs = undefined;
  }

  public stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#dueAtMs = Infinity;
  }

  #arm(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(this.#check, delayMs);
    this.#dueAtMs = performance.now() + delayMs;
  }

  readonly #check = (): void => {
    this.stop();
    if (this.#waitingSinceMs === undefined) {
      // The consumer holds a chunk: the next wait re-arms.
      return;
    }
    const waitedMs = performance.now() - this.#waitingSinceMs;
    if (waitedMs >= this.#limitMs) {
      this.#onSilent(this.#limitMs);
      return;
    }
    this.#arm(this.#limitMs - waitedMs);
  };
}

const defaultSleep = async (delayMs: number, signal?: AbortSignal): Promise<void> => {
  try {
    await sleepMs(delayMs, undefined, signal === undefined ? undefined : { signal });
  } catch (error) {
    if (!(signal?.aborted ?? false)) {
      throw error;
    }
  }
};

const describeExit = (exit: FfmpegExit): string =>
  exit.error?.message ??
  (exit.signal !== null
    ? `ffmpeg was killed by ${exit.signal}`
    : `ffmpeg exited with code ${exit.exitCode} (the source ended)`);

/**
 * Runs a capture plan, restarting ffmpeg as needed. Yields each run's Matroska bytes, preceded by a `start`
 * event, and a `restart` event (with its reason and delay) between runs. A watchdog stops ffmpeg when it
 * produces nothing for `firstDataTimeoutMs` after starting or `noDataTimeoutMs` after its last bytes (only
 * time spent waiting on ffmpeg counts, never time the consumer holds a chunk). With `onData`, the bytes go
 * there as they arrive and only the events are yielded.
 *
 * A plan that is not restartable (a file, stdin) runs once: a failure is thrown as an FfmpegError.
 * Returns when the source ends (non-restartable), when `signal` aborts, or when the consumer stops
 * iterating (ffmpeg is stopped in each case).
 * @throws FfmpegError when a non-restartable run fails, or after `maxRestarts` restarts.
 */
export async function* captureWithRestarts(
  plan: CapturePlan,
  options: CaptureLoopOptions,
): AsyncGenerator<CaptureOutput, void, undefined> {
  const policy: RestartPolicy = { ...DEFAULT_RESTART_POLICY, ...options.restartPolicy };
  const isRestartable = options.isRestartable ?? plan.isRestartable;
  const firstDataTimeoutMs = options.firstDataTimeoutMs ?? plan.firstDataTimeoutMs;
  const noDataTimeoutMs = options.noDataTimeoutMs ?? plan.noDataTimeoutMs;
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? defaultSleep;
  const start = options.startProcess ?? startFfmpeg;
  const signal = options.signal;
  // A function, not `signal?.aborted` inline: TypeScript would keep its narrowing across the awaits.
  const isAborted = (): boolean => signal?.aborted === true;
  let restarts = 0;
  let backoffAttempt = 0;

  for (let attempt = 1; ; attempt++) {
    if (isAborted()) {
      return;
    }
    const run = start(plan.invocation, {
      ffmpegPath: options.ffmpegPath,
      ...(signal === undefined ? {} : { signal }),
      ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
      ...(options.stopGraceMs === undefined ? {} : { stopGraceMs: options.stopGraceMs }),
      ...(options.stderrTailLines === undefined ? {} : { stderrTailLines: options.stderrTailLines }),
      ...(options.onStderrLine === undefined ? {} : { onStderrLine: options.onStderrLine }),
    });
    const startedAtMs = now();
    let lastDataAtMs: number | undefined;
    let silentLimitMs: number | undefined;
    let isRunOver = false;
    const watchdog = new SilenceWatchdog((limitMs) => {
      silentLimitMs = limitMs;
      void run.stop();
    });
    const onData = options.onData;
    let iterator: AsyncIterator<Uint8Array> | undefined;
    try {
      yield { type: 'start', attempt, commandLine: run.commandLine };
      if (onData !== undefined) {
        watchdog.waiting(firstDataTimeoutMs);
        try {
          await run.deliverStdout((chunk) => {
            lastDataAtMs = now();
            watchdog.waiting(noDataTimeoutMs);
            onData(chunk);
          });
        } catch (error) {
          // A failed run is handled below from `exited`; what onData threw ends the capture.
          if (!(error instanceof FfmpegError)) {
            throw error;
          }
        }
      } else {
        iterator = run.stdout[Symbol.asyncIterator]();
        for (;;) {
          watchdog.waiting(lastDataAtMs === undefined ? firstDataTimeoutMs : noDataTimeoutMs);
          let result: IteratorResult<Uint8Array>;
          try {
            result = await iterator.next();
          } catch (error) {
            // The run failed (stdout throws the FfmpegError after the last bytes): handled below from `exited`.
            if (!(error instanceof FfmpegError)) {
              throw error;
            }
            break;
          } finally {
            watchdog.done();
          }
          if (result.done === true) {
            break;
          }
          lastDataAtMs = now();
          yield result.value;
        }
      }
      isRunOver = true;
    } finally {
      watchdog.stop();
      if (!isRunOver) {
        // The consumer stopped iterating (or something threw): never leave ffmpeg running.
        await iterator?.return?.();
        await run.stop();
      }
    }

    const exit = await run.exited;
    if (isAborted()) {
      return;
    }
    const reason =
      silentLimitMs !== undefined
        ? `no data from ffmpeg for ${silentLimitMs / 1000} s${lastDataAtMs === undefined ? ' after it started' : ''}`
        : describeExit(exit);
    const failure =
      silentLimitMs !== undefined
        ? new FfmpegError(reason, {
            exitCode: exit.exitCode,
            signal: exit.signal,
            stderrTail: run.stderrTail,
          })
        : exit.error;
    if (!isRestartable) {
      if (failure !== undefined) {
        throw failure;
      }
      return;
    }
    // A path that is no camera stays no camera: said once, not retried for as long as the service runs.
    const refusal = failure === undefined ? undefined : await cameraRefusal(plan, run.stderrTail);
    if (refusal !== undefined) {
      throw refusal;
    }
    if (lastDataAtMs !== undefined && lastDataAtMs - startedAtMs >= policy.resetAfterMs) {
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
          stderrTail: run.stderrTail,
        })
      );
    }
    const delayMs = backoffDelayMs(backoffAttempt, policy, options.random);
    yield { type: 'restart', attempt: attempt + 1, restarts, delayMs, reason, exit };
    await sleep(delayMs, signal);
  }
}
