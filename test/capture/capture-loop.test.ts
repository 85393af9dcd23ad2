/**
 * The restart loop around real ffmpeg runs, on a FakeClock or with short delays: it restarts after ffmpeg
 * exits and counts restarts, restarts a silent ffmpeg (watchdog) but not one its consumer holds back, gives
 * up after maxRestarts, fails once for a non-restartable source, stops on abort, and never leaves an ffmpeg
 * behind. Bytes reach onData in the step that reads them; the generator yields only events.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RESTART_POLICY, captureWithRestarts } from '../../src/capture/capture-loop.js';
import type { CaptureEvent, CaptureLoopOptions } from '../../src/capture/capture-loop.js';
import { FfmpegError } from '../../src/capture/capture-errors.js';
import { planCapture } from '../../src/capture/capture-plan.js';
import type { CapturePlan } from '../../src/capture/capture-plan.js';
import { resolveEncoding } from '../../src/capture/capture-source.js';
import { GLOBAL_OPTIONS, buildFileArgs } from '../../src/capture/ffmpeg-args.js';
import type { FfmpegInvocation } from '../../src/capture/ffmpeg-args.js';
import { startFfmpeg } from '../../src/capture/ffmpeg-process.js';
import type { FfmpegProcess, StdoutFlow } from '../../src/capture/ffmpeg-process.js';
import { readMkv } from '../../src/mkv/mkv-reader.js';
import { backoffDelayMs } from '../../src/util/backoff.js';
import { systemClock } from '../../src/util/clock.js';
import type { Clock } from '../../src/util/clock.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FFMPEG, hasFfmpeg } from './capture-test-helpers.js';

const ignoreBytes = (): void => undefined;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Waits (in event-loop turns, not time) until `clock` has a timer pending. */
const untilTimerPending = async (clock: FakeClock): Promise<void> => {
  while (clock.pendingTimers === 0) {
    await turn();
  }
};

/** Waits until the loop's backoff sleeps on `clock`, then ends it; resolves with how long it was, in ms. */
const endBackoff = async (clock: FakeClock): Promise<number> => {
  await untilTimerPending(clock);
  const fromMs = clock.monotonicMs();
  await clock.runNext();
  return clock.monotonicMs() - fromMs;
};

/** Waits until the latest of `processes` has been spawned (has a pid). */
const untilSpawned = async (processes: FfmpegProcess[], count: number): Promise<FfmpegProcess> => {
  while (processes.length < count || processes[count - 1]!.pid === undefined) {
    await turn();
  }
  return processes[count - 1]!;
};

/** A short test pattern (0.3 s) that ends by itself: each run is a clean exit 0. */
const shortTestsrc = async (): Promise<CapturePlan> =>
  planCapture(
    { kind: 'testsrc', videoSize: '160x120', framerate: 25, durationS: 0.3 },
    { audio: 'none', bitrateKbps: 100 },
    { ffmpegPath: FFMPEG },
  );

/** A plan whose ffmpeg always fails at once (exit 1). */
const failingPlan = async (): Promise<CapturePlan> => ({
  ...(await shortTestsrc()),
  invocation: buildFileArgs({ kind: 'file', path: '/nonexistent/in.mp4' }, resolveEncoding(), {
    streams: [{ index: 0, type: 'video', codecName: 'h264' }],
  }),
});

/** A plan whose ffmpeg runs but writes nothing to stdout (the null muxer): a hung camera. */
const silentPlan = async (): Promise<CapturePlan> => {
  const invocation: FfmpegInvocation = {
    globalOptions: GLOBAL_OPTIONS,
    inputs: [{ options: ['-re', '-f', 'lavfi'], source: 'testsrc2=size=64x48:rate=5' }],
    outputOptions: ['-f', 'null'],
    output: 'pipe:1',
    video: 'encode',
    audio: 'none',
    reasons: [],
    secrets: [],
    isLive: true,
    readsStdin: false,
  };
  return { ...(await shortTestsrc()), invocation, isRestartable: true };
};

/** Starts processes as usual and remembers them, to check none is left running. */
const tracked = (): { processes: FfmpegProcess[]; options: Pick<CaptureLoopOptions, 'startProcess'> } => {
  const processes: FfmpegProcess[] = [];
  return {
    processes,
    options: {
      startProcess: (invocation, options) => {
        const process = startFfmpeg(invocation, options);
        processes.push(process);
        return process;
      },
    },
  };
};

const fastRestarts = { initialDelayMs: 10, maxDelayMs: 40 };

describe('backoff', () => {
  it('doubles from 1 s to 30 s, with full jitter', () => {
    const policy = DEFAULT_RESTART_POLICY;
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((attempt) => backoffDelayMs(policy, attempt, () => 1))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
    expect(backoffDelayMs(policy, 3, () => 0)).toBe(0);
    expect(backoffDelayMs(policy, 3, () => 0.5)).toBe(2000);
    expect(backoffDelayMs(policy, 1000, () => 0.999)).toBe(29970);
  });
});

describe.skipIf(!hasFfmpeg)('captureWithRestarts with real ffmpeg', () => {
  it('restarts after ffmpeg exits, counts restarts, and every run is a whole MKV stream', async () => {
    const plan = { ...(await shortTestsrc()), isRestartable: true };
    const { processes, options } = tracked();
    // The backoff waits on this clock: the test ends each wait and records how long it was.
    const clock = new FakeClock();
    const sleeps: number[] = [];
    const waits: Promise<void>[] = [];
    const runs: Uint8Array[][] = [];
    const events: CaptureEvent[] = [];
    for await (const output of captureWithRestarts(plan, {
      ffmpegPath: FFMPEG,
      restartPolicy: fastRestarts,
      random: () => 1,
      clock,
      onData: (chunk) => runs.at(-1)!.push(chunk),
      ...options,
    })) {
      events.push(output);
      if (output.type === 'start') {
        runs.push([]);
      }
      if (output.type === 'restart' && output.restarts === 3) {
        break;
      }
      if (output.type === 'restart') {
        waits.push(endBackoff(clock).then((delayMs) => void sleeps.push(delayMs)));
      }
    }
    await Promise.all(waits);
    expect(events.map((event) => event.type)).toEqual([
      'start',
      'restart',
      'start',
      'restart',
      'start',
      'restart',
    ]);
    const restarts = events.filter((event) => event.type === 'restart');
    expect(restarts.map((event) => [event.attempt, event.restarts, event.delayMs])).toEqual([
      [2, 1, 10],
      [3, 2, 20],
      [4, 3, 40],
    ]);
    expect(restarts[0]).toMatchObject({
      reason: 'ffmpeg exited with code 0 (the source ended)',
      exit: { exitCode: 0, signal: null, isStopped: false },
    });
    expect(sleeps).toEqual([10, 20]);
    expect(events[0]).toMatchObject({ type: 'start', attempt: 1 });
    expect(events[0]!.type === 'start' && events[0]!.commandLine).toContain('ffmpeg -hide_banner');
    // Each run is a complete Matroska stream with its own header.
    expect(runs).toHaveLength(3);
    for (const run of runs) {
      const types: string[] = [];
      for await (const event of readMkv(Readable.from(run))) {
        types.push(event.type);
      }
      expect(types[0]).toBe('header');
      expect(types.filter((type) => type === 'frame').length).toBeGreaterThan(3);
    }
    expect(processes).toHaveLength(3);
    for (const process of processes) {
      expect((await process.exited).exitCode).toBe(0);
    }
  });

  it('the watchdog stops an ffmpeg that writes nothing, and the loop restarts it', async () => {
    const plan = await silentPlan();
    const { processes, options } = tracked();
    // The silence is counted on this clock: once each ffmpeg runs, the test lets 300 ms pass on it.
    const clock = new FakeClock();
    const silences: Promise<void>[] = [];
    const restarts: CaptureEvent[] = [];
    for await (const output of captureWithRestarts(plan, {
      ffmpegPath: FFMPEG,
      firstDataTimeoutMs: 300,
      noDataTimeoutMs: 300,
      restartPolicy: fastRestarts,
      random: () => 0,
      clock,
      onData: ignoreBytes,
      ...options,
    })) {
      if (output.type === 'start') {
        silences.push(untilSpawned(processes, output.attempt).then(() => clock.advance(300)));
      }
      if (output.type === 'restart') {
        restarts.push(output);
        if (output.restarts === 2) {
          break;
        }
      }
    }
    await Promise.all(silences);
    expect(restarts).toHaveLength(2);
    expect(restarts[0]).toMatchObject({
      reason: 'no data from ffmpeg for 0.3 s after it started',
      delayMs: 0,
      exit: { isStopped: true },
    });
    for (const process of processes) {
      expect((await process.exited).isStopped).toBe(true);
    }
  });

  it('gives up with the last FfmpegError after maxRestarts', async () => {
    const plan = { ...(await failingPlan()), isRestartable: true };
    const events: CaptureEvent[] = [];
    const run = async () => {
      for await (const output of captureWithRestarts(plan, {
        ffmpegPath: FFMPEG,
        restartPolicy: { ...fastRestarts, maxRestarts: 2 },
        onData: ignoreBytes,
      })) {
        events.push(output);
      }
    };
    const error = await run().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(FfmpegError);
    expect((error as FfmpegError).message).toBe(
      'ffmpeg exited with code 1: file:/nonexistent/in.mp4: No such file or directory',
    );
    expect(events.map((event) => event.type)).toEqual(['start', 'restart', 'start', 'restart', 'start']);
  });

  it('a non-restartable source runs once: its end ends the capture, its failure is thrown', async () => {
    const plan = await shortTestsrc();
    expect(plan.isRestartable).toBe(false);
    const events: CaptureEvent[] = [];
    const chunks: Uint8Array[] = [];
    for await (const event of captureWithRestarts(plan, {
      ffmpegPath: FFMPEG,
      onData: (chunk) => chunks.push(chunk),
    })) {
      events.push(event);
    }
    expect(events.map((event) => event.type)).toEqual(['start']);
    expect(chunks.length).toBeGreaterThan(0);

    const failing = await failingPlan();
    const iterator = captureWithRestarts(failing, { ffmpegPath: FFMPEG, onData: ignoreBytes });
    expect((await iterator.next()).value).toMatchObject({ type: 'start', attempt: 1 });
    await expect(iterator.next()).rejects.toBeInstanceOf(FfmpegError);
  });

  it('an abort during the backoff ends the capture at once; one during a run stops ffmpeg', async () => {
    const plan = { ...(await shortTestsrc()), isRestartable: true };
    const controller = new AbortController();
    // A minute's backoff on a clock that never moves: the capture can only end by the abort.
    const clock = new FakeClock();
    const types: string[] = [];
    for await (const output of captureWithRestarts(plan, {
      ffmpegPath: FFMPEG,
      signal: controller.signal,
      restartPolicy: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
      random: () => 1,
      clock,
      onData: ignoreBytes,
    })) {
      types.push(output.type);
      if (output.type === 'restart') {
        void untilTimerPending(clock).then(() => controller.abort());
      }
    }
    expect(types).toEqual(['start', 'restart']);
    // The backoff's timer was cancelled, not run out: no time passed on the capture's clock.
    expect(clock.pendingTimers).toBe(0);
    expect(clock.monotonicMs()).toBe(0);

    const live = {
      ...(await silentPlan()),
      invocation: (await planCapture({ kind: 'testsrc' }, {}, { ffmpegPath: FFMPEG })).invocation,
    };
    const during = new AbortController();
    const { processes, options } = tracked();
    let chunks = 0;
    for await (const _event of captureWithRestarts(live, {
      ffmpegPath: FFMPEG,
      signal: during.signal,
      onData: () => {
        if (++chunks === 3) {
          during.abort();
        }
      },
      ...options,
    })) {
      // Only the start: the abort ends the run and the capture.
    }
    expect(chunks).toBeGreaterThanOrEqual(3);
    expect(processes).toHaveLength(1);
    expect(await processes[0]!.exited).toMatchObject({ isStopped: true });
  });

  it('a consumer that holds ffmpeg back is not silence: the watchdog waits while stdout is paused', async () => {
    const live = {
      ...(await silentPlan()),
      invocation: (await planCapture({ kind: 'testsrc' }, {}, { ffmpegPath: FFMPEG })).invocation,
    };
    const clock = new FakeClock();
    const controller = new AbortController();
    const { processes, options } = tracked();
    let onHeld: (stdout: StdoutFlow) => void = () => undefined;
    const held = new Promise<StdoutFlow>((resolve) => {
      onHeld = resolve;
    });
    let isHeld = false;
    let chunksAfterResume = 0;
    const types: string[] = [];
    let released: Promise<void> | undefined;
    for await (const event of captureWithRestarts(live, {
      ffmpegPath: FFMPEG,
      signal: controller.signal,
      firstDataTimeoutMs: 300,
      noDataTimeoutMs: 300,
      clock,
      onData: (_chunk, stdout) => {
        if (!isHeld) {
          isHeld = true;
          stdout.pauseStdout();
          onHeld(stdout);
        } else if (++chunksAfterResume === 2) {
          controller.abort();
        }
      },
      ...options,
    })) {
      types.push(event.type);
      // Held far past both limits on the capture's clock, then let go.
      released = held.then(async (stdout) => {
        await clock.advance(10_000);
        stdout.resumeStdout();
      });
    }
    await released;
    expect(types).toEqual(['start']);
    expect(chunksAfterResume).toBeGreaterThanOrEqual(2);
    expect(processes).toHaveLength(1);
    expect(await processes[0]!.exited).toMatchObject({ isStopped: true });
  });

  it('a healthy run resets the backoff (injected clock)', async () => {
    const plan = { ...(await shortTestsrc()), isRestartable: true };
    let clockMs = 0;
    // Every reading is 61 s after the previous one: each run looks like a long, healthy one. Its timers are
    // the machine's (the backoff waits 10 ms).
    const clock: Clock = { ...systemClock, monotonicMs: () => (clockMs += 61_000) };
    const delays: number[] = [];
    for await (const output of captureWithRestarts(plan, {
      ffmpegPath: FFMPEG,
      restartPolicy: { initialDelayMs: 10, maxDelayMs: 1000, resetAfterMs: 60_000 },
      random: () => 1,
      clock,
      onData: ignoreBytes,
    })) {
      if (output.type === 'restart') {
        delays.push(output.delayMs);
        if (delays.length === 3) {
          break;
        }
      }
    }
    expect(delays).toEqual([10, 10, 10]);
  });
});

describe.skipIf(!hasFfmpeg)('captureWithRestarts with onData (bytes pushed as they are read)', () => {
  it('yields only events; each run’s bytes reach onData between its start and the restart after it', async () => {
    const plan = { ...(await shortTestsrc()), isRestartable: true };
    const { processes, options } = tracked();
    const log: string[] = [];
    const runs: Uint8Array[][] = [];
    const outputs: unknown[] = [];
    for await (const output of captureWithRestarts(plan, {
      ffmpegPath: FFMPEG,
      restartPolicy: fastRestarts,
      random: () => 0,
      onData: (chunk) => {
        if (log.at(-1) !== 'bytes') {
          log.push('bytes');
        }
        runs.at(-1)!.push(chunk);
      },
      ...options,
    })) {
      outputs.push(output);
      log.push(output.type);
      if (output.type === 'start') {
        runs.push([]);
      }
      if (output.type === 'restart' && output.restarts === 2) {
        break;
      }
    }
    expect(outputs.every((output) => !(output instanceof Uint8Array))).toBe(true);
    expect(log).toEqual(['start', 'bytes', 'restart', 'start', 'bytes', 'restart']);
    for (const run of runs) {
      let frames = 0;
      for await (const event of readMkv(Readable.from(run))) {
        frames += event.type === 'frame' ? 1 : 0;
      }
      expect(frames).toBeGreaterThan(3);
    }
    for (const process of processes) {
      expect((await process.exited).exitCode).toBe(0);
    }
  });

  it('the watchdog still restarts a silent ffmpeg', async () => {
    const { processes, options } = tracked();
    const restarts: CaptureEvent[] = [];
    for await (const output of captureWithRestarts(await silentPlan(), {
      ffmpegPath: FFMPEG,
      firstDataTimeoutMs: 300,
      restartPolicy: fastRestarts,
      random: () => 0,
      onData: () => undefined,
      ...options,
    })) {
      if (output.type === 'restart') {
        restarts.push(output);
        break;
      }
    }
    expect(restarts[0]).toMatchObject({ reason: 'no data from ffmpeg for 0.3 s after it started' });
    expect(await processes[0]!.exited).toMatchObject({ isStopped: true });
  });

  it('what onData throws ends the capture with that error, and ffmpeg is stopped', async () => {
    const live = (await planCapture({ kind: 'testsrc' }, {}, { ffmpegPath: FFMPEG })).invocation;
    const plan = { ...(await shortTestsrc()), invocation: live, isRestartable: true };
    const { processes, options } = tracked();
    const broken = new Error('the consumer broke');
    const run = async (): Promise<void> => {
      for await (const output of captureWithRestarts(plan, {
        ffmpegPath: FFMPEG,
        onData: () => {
          throw broken;
        },
        ...options,
      })) {
        expect(output.type).toBe('start');
      }
    };
    await expect(run()).rejects.toBe(broken);
    expect(processes).toHaveLength(1);
    expect(await processes[0]!.exited).toMatchObject({ isStopped: true });
  });

  it('a failed run is reported from its exit', async () => {
    const iterator = captureWithRestarts(await failingPlan(), {
      ffmpegPath: FFMPEG,
      onData: () => undefined,
    });
    expect((await iterator.next()).value).toMatchObject({ type: 'start', attempt: 1 });
    await expect(iterator.next()).rejects.toThrow('ffmpeg exited with code 1');
  });
});
