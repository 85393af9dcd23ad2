/**
 * The terminal's progress line: the pace estimate behind the ETA, on a FakeClock with a pace that changes,
 * and the line a file upload and a live run show (rendered, and drawn by the reporter on a fake TTY).
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PaceEstimator, formatDuration, progressLine } from '../../src/cli/progress-line.js';
import type { ProgressState } from '../../src/cli/progress-line.js';
import { UploadReporter } from '../../src/cli/upload-reporter.js';
import { FakeClock } from '../helpers/fake-clock.js';

const MB = 1e6;

/**
 * Simulates an upload of `totalBytes` whose bytes go out in one write per `stepMs` at `paceAt(sentBytes)`
 * bytes per second, and yields, after each write, the estimator's ETA and the true time left.
 */
const simulate = async function* (
  totalBytes: number,
  paceAt: (sentBytes: number) => number,
  stepMs = 500,
): AsyncGenerator<{ sent: number; etaMs: number | undefined; trueMs: number }> {
  const clock = new FakeClock();
  const pace = new PaceEstimator(clock);
  // Where each byte count is reached, computed ahead: the truth the ETA is judged against.
  const timeline: { atMs: number; sent: number }[] = [];
  for (let atMs = 0, sent = 0; sent < totalBytes;) {
    atMs += stepMs;
    sent = Math.min(totalBytes, sent + (paceAt(sent) * stepMs) / 1000);
    timeline.push({ atMs, sent });
  }
  const endMs = timeline.at(-1)!.atMs;
  // The first bytes leave after a set-up (the control plane, the connection): the pace starts from there.
  await clock.advance(3000);
  pace.sample(0);
  for (const { atMs, sent } of timeline) {
    await clock.advance(stepMs);
    pace.sample(sent);
    yield { sent, etaMs: pace.etaMs(totalBytes), trueMs: endMs - atMs };
  }
};

describe('PaceEstimator: the ETA of a file upload', () => {
  it('is within 30 % from the first tenth on, at a steady but bursty pace', async () => {
    let checked = 0;
    // Bursts: alternately 40 % faster and slower, as writes wait for the socket.
    let step = 0;
    for await (const { sent, etaMs, trueMs } of simulate(
      100 * MB,
      () => (step++ % 2 === 0 ? 1.4 : 0.6) * MB,
    )) {
      if (sent >= 10 * MB && trueMs > 2000) {
        expect(etaMs, `at ${sent / MB} MB`).toBeDefined();
        expect(Math.abs(etaMs! - trueMs) / trueMs, `at ${sent / MB} MB`).toBeLessThanOrEqual(0.3);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('follows a change of pace: within 30 % again one window (10 s) after it', async () => {
    // 2 MB/s for the first 40 MB, then 0.5 MB/s (a slower link, or --max-rate lower elsewhere).
    const paceAt = (sent: number): number => (sent < 40 * MB ? 2 * MB : 0.5 * MB);
    let changedAtSent: number | undefined;
    let checked = 0;
    for await (const { sent, etaMs, trueMs } of simulate(100 * MB, paceAt)) {
      if (sent >= 40 * MB && changedAtSent === undefined) {
        changedAtSent = sent;
      }
      const isSettled = changedAtSent !== undefined && sent >= changedAtSent + 10 * 0.5 * MB + 0.5 * MB;
      if (sent >= 10 * MB && sent < 40 * MB && trueMs > 2000) {
        // Before the change the future is unknowable; the estimate must still be of the right order.
        expect(etaMs).toBeDefined();
      }
      if (isSettled && trueMs > 2000) {
        expect(Math.abs(etaMs! - trueMs) / trueMs, `at ${sent / MB} MB`).toBeLessThanOrEqual(0.3);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('a stall lowers the pace instead of freezing it', async () => {
    const clock = new FakeClock();
    const pace = new PaceEstimator(clock);
    for (let i = 0; i <= 10; i++) {
      pace.sample(i * MB);
      await clock.advance(1000);
    }
    const before = pace.bytesPerSecond()!;
    await clock.advance(5000);
    expect(pace.bytesPerSecond()!).toBeLessThan(before * 0.8);
    expect(new PaceEstimator(clock).etaMs(MB)).toBeUndefined();
  });
});

const fileState: ProgressState = {
  isLive: false,
  elapsedMs: 12_000,
  bytesSent: 25 * MB,
  totalBytes: 100 * MB,
  fragmentsStored: 1,
  finalAckType: 'PERSISTED',
  bytesPerSecond: 2 * MB,
  etaMs: 37_500,
  bufferBytes: 0,
  maxBufferBytes: 16 * MB,
};

describe('progressLine', () => {
  it('a file upload: bar, bytes of total, fragments stored (singular), pace and ETA', () => {
    expect(progressLine(fileState)).toBe(
      '[######..................]  25% 25.0 MB of 100.0 MB, 1 fragment persisted, 2.0 MB/s, ETA 38 s',
    );
    // More bytes than the input (each connection's headers): a full bar, never more.
    expect(progressLine({ ...fileState, bytesSent: 101 * MB, etaMs: 0 })).toMatch(
      /^\[#{24}\] 100% 100\.0 MB of/,
    );
  });

  it('a live run: elapsed time, fragments stored, pace and buffer fill', () => {
    expect(
      progressLine({
        ...fileState,
        isLive: true,
        elapsedMs: 3_723_000,
        totalBytes: undefined,
        fragmentsStored: 1861,
        bytesPerSecond: 250e3,
        bufferBytes: 16 * MB,
        maxBufferBytes: 64 * MB,
      }),
    ).toBe('live 1:02:03, 1861 fragments persisted, 250 kB/s, buffer 25% of 64.0 MB');
    expect(formatDuration(59_400)).toBe('59 s');
    expect(formatDuration(187_000)).toBe('3:07');
  });
});

describe('UploadReporter on a terminal', () => {
  it('keeps the progress line up between events and after log lines, and clears it at the end', async () => {
    const clock = new FakeClock();
    let stderr = '';
    const io = {
      stdout: { write: () => true },
      stderr: { write: (text: string) => (stderr += text), isTTY: true },
      stdin: new PassThrough(),
      env: {},
      cwd: '/',
      signal: new AbortController().signal,
    };
    const run = { bytesSent: 0, buffer: { bytes: 0, maxBytes: 16 * MB } };
    const reporter = new UploadReporter(io, { json: false, verbose: false, quiet: false }, clock);
    reporter.follow(run);
    reporter.onEvent(
      {
        event: 'start',
        stream: 's',
        region: 'r',
        retentionHours: 1,
        source: 'clips',
        description: '1 clip',
        totalBytes: 10 * MB,
        notes: [],
      },
      0,
    );
    // No event for a while: the timer still redraws from the run's counters.
    for (let i = 1; i <= 8; i++) {
      run.bytesSent = i * MB;
      await clock.advance(1000);
    }
    const lastLine = (): string => stderr.split('\r').at(-1) ?? '';
    expect(lastLine()).toMatch(
      /^\[#{19}\.{5}\]  80% 8\.0 MB of 10\.0 MB, 0 fragments persisted, 1\.0 MB\/s, ETA 2 s/,
    );
    // A log line clears the bar; it is drawn again at once, not at the next event.
    reporter.log('note: something');
    reporter.onEvent({ event: 'note', message: 'again' }, 8 * MB);
    expect(stderr).toMatch(/note: again\n\r\[#{19}/);
    reporter.finish();
    expect(stderr.endsWith('\r\u001b[K')).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });
});
