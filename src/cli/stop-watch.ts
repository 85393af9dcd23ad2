/**
 * What the CLI does between a first signal and the end of a run: say what it waits for, and quit when a
 * second signal comes or the first one could not finish in time, saying what was not acknowledged.
 */
import { ErrorCode, KvsPutError } from '../errors.js';
import type { UploadProgress } from '../session/upload-session.js';
import type { SummaryEvent } from '../upload/upload-events.js';
import { plural } from '../util/plural.js';
import { whenAborted } from '../util/when-aborted.js';
import type { CliIo } from './cli-io.js';
import type { UploadReporter } from './upload-reporter.js';

/**
 * Beyond --stop-timeout, what a first signal may still take: a live capture's last fragment, ffmpeg's exit
 * and the end of the connection. After that the run quits as a second signal would.
 */
const STOP_GRACE_MS = 5000;

/** What a stop leaves behind: fragments sent and not acknowledged, and those never sent ('' for none). */
const lostOf = (progress: UploadProgress): string => {
  const sent =
    progress.awaitingAcks > 0 ? `${plural(progress.awaitingAcks, 'fragment')} sent, not acknowledged` : '';
  const unsent =
    progress.unsent > 0
      ? `${sent === '' ? plural(progress.unsent, 'fragment') : progress.unsent} not sent`
      : '';
  return [sent, unsent].filter((part) => part !== '').join(', ');
};

/** The first signal's line: what kvs-put waits for, for how long, and how to quit now. */
const stoppingLine = (progress: UploadProgress, isLive: boolean, stopTimeoutMs: number): string => {
  const wait = `${stopTimeoutMs / 1000} s`;
  if (isLive && progress.fragments > 0) {
    return `stopping: closing the last fragment, then waiting up to ${wait} for ${plural(progress.awaitingAcks + 1, 'ack')} (Ctrl+C again to quit now)`;
  }
  if (progress.awaitingAcks > 0) {
    return `stopping: waiting up to ${wait} for ${plural(progress.awaitingAcks, 'ack')} (Ctrl+C again to quit now)`;
  }
  return 'stopping (Ctrl+C again to quit now)';
};

export type StopWatch = {
  /** Resolves with 'quit' on a second signal, or when a first one has taken too long. */
  readonly quit: Promise<'quit'>;
  readonly isQuitting: boolean;
  dispose: () => void;
};

/** Watches the CLI's signals for one run. */
export const watchStop = (
  run: { progress: () => UploadProgress },
  io: CliIo,
  reporter: UploadReporter,
  options: { isLive: boolean; stopTimeoutMs: number },
): StopWatch => {
  let timer: NodeJS.Timeout | undefined;
  let isQuitting = false;
  const onFirstSignal = (): void => {
    reporter.status(stoppingLine(run.progress(), options.isLive, options.stopTimeoutMs));
  };
  io.signal.addEventListener('abort', onFirstSignal, { once: true });
  const quit = Promise.race([
    whenAborted(io.quitSignal),
    whenAborted(io.signal).then(
      () =>
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, options.stopTimeoutMs + STOP_GRACE_MS);
        }),
    ),
  ]).then(() => {
    isQuitting = true;
    return 'quit' as const;
  });
  return {
    quit,
    get isQuitting() {
      return isQuitting;
    },
    dispose: () => {
      clearTimeout(timer);
      io.signal.removeEventListener('abort', onFirstSignal);
    },
  };
};

/** A second signal (or an overdue first one): what was lost. */
export const quitError = (progress: UploadProgress): KvsPutError => {
  const lost = lostOf(progress);
  return new KvsPutError(
    ErrorCode.Interrupted,
    `quit: ${lost === '' ? 'no fragment was awaiting an ack' : lost}`,
  );
};

/** A recording stopped part-way: what was stored, and what was not. */
export const interruptedError = (summary: SummaryEvent, progress: UploadProgress): KvsPutError => {
  const lost = lostOf(progress);
  const stored = summary.persisted + summary.received;
  return new KvsPutError(
    ErrorCode.Interrupted,
    `interrupted: ${stored} of ${plural(summary.fragments, 'fragment')} stored${lost === '' ? '' : `, ${lost}`}`,
  );
};
