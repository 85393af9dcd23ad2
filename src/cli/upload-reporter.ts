import type { StatsEvent, SummaryEvent, UploadEvent } from '../upload/upload-events.js';
import { failureSummary } from '../upload/upload-events.js';
import type { Clock, ClockTimer } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { plural } from '../util/plural.js';
import type { CliIo } from './cli-io.js';
import { PaceEstimator, formatBytes, progressLine } from './progress-line.js';

export type ReporterMode = { json: boolean; verbose: boolean; quiet: boolean };

/** What the progress line reads from a running upload between its events (an {@link UploadRun}). */
export type ProgressSource = {
  readonly bytesSent: number;
  readonly buffer: { readonly bytes: number; readonly maxBytes: number };
};

/** How often a terminal's progress line is redrawn, events or not (the elapsed time moves on). */
const PROGRESS_INTERVAL_MS = 250;

/**
 * Renders the library's upload events: with --json each one as a line of NDJSON on stdout (so `--json` is
 * the library's event stream serialised); log lines on stderr either way (the final ack of each fragment,
 * retries, skips, drops) and, on a TTY, a progress line rewritten in place.
 */
/** `, 37 frames not sent` for the summary line, when any were not (their reasons are on the clip's line). */
const framesNotSentText = (frames: SummaryEvent['framesNotSent'] | undefined): string => {
  const total =
    frames === undefined
      ? 0
      : frames.beforeFirstKeyFrame + frames.late + frames.otherTracks + frames.leadingPictures;
  return total === 0 ? '' : `, ${total} ${total === 1 ? 'frame' : 'frames'} not sent`;
};

export class UploadReporter {
  private readonly io: CliIo;
  private readonly mode: ReporterMode;
  private readonly isTty: boolean;
  private readonly clock: Clock;
  private readonly startedAtMs: number;
  private readonly pace: PaceEstimator;
  private totalBytes: number | undefined;
  private isLive = false;
  private bytesSent = 0;
  private run: ProgressSource | undefined;
  private timer: ClockTimer | undefined;
  private finalAcks = 0;
  private hasProgressLine = false;
  private hasSummary = false;
  private lastProgressAtMs = Number.NEGATIVE_INFINITY;
  /** Which ack means "stored": PERSISTED when the stream has retention, else RECEIVED. */
  private finalAckType: 'PERSISTED' | 'RECEIVED' = 'RECEIVED';

  public constructor(io: CliIo, mode: ReporterMode, clock: Clock = systemClock) {
    this.io = io;
    this.mode = mode;
    this.clock = clock;
    this.startedAtMs = clock.monotonicMs();
    this.pace = new PaceEstimator(clock);
    this.isTty = io.stderr.isTTY === true && !mode.json && !mode.quiet;
  }

  /**
   * Follows a running upload: on a terminal, its progress line is redrawn every so often from the run's
   * counters, so it stays up (and its elapsed time and ETA move) between events, for the whole upload.
   */
  public follow(run: ProgressSource): void {
    this.run = run;
    if (this.isTty && this.timer === undefined) {
      this.timer = this.clock.setInterval(() => {
        this.bytesSent = run.bytesSent;
        this.progress();
      }, PROGRESS_INTERVAL_MS);
    }
  }

  /** A log line on stderr (never in JSON mode's stdout); --quiet keeps only warnings. */
  public log(line: string): void {
    if (this.mode.quiet && !line.startsWith('warning')) {
      return;
    }
    this.write(line);
  }

  /** A line every mode shows on stderr, --quiet included (what a signal does to the run). */
  public status(line: string): void {
    this.write(line);
  }

  private write(line: string): void {
    this.clearProgress();
    this.io.stderr.write(`${line}\n`);
  }

  /** Renders one event; `bytesSent` is the upload's byte count so far, for the progress line. */
  public onEvent(event: UploadEvent, bytesSent: number): void {
    if (this.mode.json) {
      this.io.stdout.write(`${JSON.stringify(event)}\n`);
    }
    if (event.event === 'summary') {
      this.hasSummary = true;
    }
    this.bytesSent = bytesSent;
    this.render(event);
    this.progress();
  }

  /** A run failed: with --json, its summary is printed now unless the library's already was. */
  public onFailure(error: unknown): void {
    if (this.mode.json && !this.hasSummary) {
      this.onEvent(failureSummary(error), this.bytesSent);
    }
  }

  /** Clears the progress line once the run is over. */
  public finish(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.clearProgress();
  }

  private render(event: UploadEvent): void {
    switch (event.event) {
      case 'start': {
        this.finalAckType = event.retentionHours > 0 ? 'PERSISTED' : 'RECEIVED';
        this.totalBytes = event.totalBytes;
        this.isLive = event.source === 'live';
        const where = `stream ${event.stream} (${event.region}, retention ${event.retentionHours} h)`;
        this.log(
          event.source === 'live'
            ? `capturing ${event.description} to ${where}`
            : `uploading ${event.description} to ${where}`,
        );
        for (const note of event.notes) {
          this.log(note);
        }
        break;
      }
      case 'clip':
        this.log(`clip ${event.path}: starts ${new Date(event.startTimeMs).toISOString()}`);
        for (const note of event.notes) {
          this.log(`clip ${event.path}: ${note}`);
        }
        break;
      case 'source':
        this.log(`source: ${event.tracks}${event.note === undefined ? '' : ` ${event.note}`}`);
        break;
      case 'ffmpeg':
        if (this.mode.verbose) {
          this.log(`ffmpeg: ${event.commandLine}`);
        }
        break;
      case 'source-restart':
        this.log(
          `warning: source lost (${event.reason}): restart ${event.restarts} in ${(event.delayMs / 1000).toFixed(1)} s`,
        );
        break;
      case 'reanchor':
        this.log(
          `clock drift of ${event.driftMs} ms between the source and this machine: timestamps re-anchored`,
        );
        break;
      case 'refused':
        this.log(
          // The error line at the end gives the way out (its hint): the warning only places the fragment.
          `warning: fragment at ${new Date(event.producerTimestampMs).toISOString()} not sent: ${event.reason}`,
        );
        break;
      case 'ack': {
        const isFinal = event.EventType === this.finalAckType;
        if (isFinal) {
          this.finalAcks++;
        }
        if (isFinal || this.mode.verbose || event.EventType === 'ERROR') {
          const which = event.sequence === undefined ? '' : `fragment #${event.sequence} `;
          const error =
            event.ErrorId === undefined ? '' : ` ErrorId ${event.ErrorId} ${event.ErrorCode ?? ''}`;
          this.log(
            `ack ${event.EventType.padEnd(9)} ${which}timecode ${event.FragmentTimecode ?? '-'}` +
              `${event.FragmentNumber === undefined ? '' : ` number ${event.FragmentNumber}`}${error}`,
          );
        }
        break;
      }
      case 'connect':
        if (this.mode.verbose) {
          this.log(
            `connected (#${event.connection}) to ${event.endpoint}, sending from fragment #${event.resumeSequence}`,
          );
        }
        break;
      case 'retry':
        this.log(
          `retrying in ${(event.delayMs / 1000).toFixed(1)} s (attempt ${event.attempt}): ${event.reason}`,
        );
        break;
      case 'skip':
        this.log(
          `warning: fragment #${event.sequence} at ${new Date(event.producerTimestampMs).toISOString()} skipped: ${event.reason}`,
        );
        break;
      case 'drop':
        this.log(
          `warning: fragment #${event.sequence} dropped: ${event.reason}${event.wasSent ? ' (it was sent, but its connection broke before the ack: the service may have stored it)' : ''}`,
        );
        break;
      case 'rotate':
        this.log(`rotating to a new connection: ${event.reason}`);
        break;
      case 'stale':
        this.log(`no ack for ${(event.silentMs / 1000).toFixed(0)} s: reconnecting`);
        break;
      case 'stats':
        this.stats(event);
        break;
      case 'warning':
        this.log(`warning: ${event.message}`);
        break;
      case 'note':
        this.log(`note: ${event.message}`);
        break;
      case 'summary':
        this.summary(event);
        break;
      case 'verify':
        this.log(
          `read back with GetMedia: ${plural(event.fragments, 'fragment')}, ${plural(event.frames, 'frame')}`,
        );
        break;
    }
  }

  /** A live run's health line: kept by --quiet too (a camera service's journal then holds a line a minute). */
  private stats(event: StatsEvent): void {
    const latency =
      event.sourceToSocketMs === undefined
        ? ''
        : `, source → socket p50 ${event.sourceToSocketMs.p50} ms p99 ${event.sourceToSocketMs.p99} ms`;
    const memory = event.process;
    this.write(
      `stats: ${plural(event.fragments, 'fragment')} (${event.persisted + event.received} stored, ${event.dropped} dropped, ${event.unacknowledged} awaiting acks, ${event.notSent} not sent yet), ` +
        `${formatBytes(event.bytesSent)} sent, ${plural(event.sourceRestarts, 'source restart')}, ${plural(event.retries, 'retry', 'retries')}${latency} ` +
        `(last ${(event.intervalMs / 1000).toFixed(0)} s), RSS ${formatBytes(memory.rssBytes)} ` +
        `(JS heap ${formatBytes(memory.heapUsedBytes)}, buffers ${formatBytes(memory.arrayBuffersBytes)})`,
    );
  }

  private summary(summary: SummaryEvent): void {
    if (summary.error !== undefined && summary.fragments === 0 && summary.connections === 0) {
      // Nothing was read or sent: the error line says all there is.
      return;
    }
    const sourceLatency =
      summary.sourceToSocketMs === undefined
        ? ''
        : `, source → socket p50 ${summary.sourceToSocketMs.p50} ms p99 ${summary.sourceToSocketMs.p99} ms` +
          (summary.sourceToKernelMs === undefined
            ? ''
            : ` (all written to the kernel p50 ${summary.sourceToKernelMs.p50} ms p99 ${summary.sourceToKernelMs.p99} ms)`);
    const latency =
      summary.ackLatencyMs === undefined
        ? ''
        : `, ack latency p50 ${summary.ackLatencyMs.p50} ms p99 ${summary.ackLatencyMs.p99} ms`;
    // "Not sent" (never left) apart from "sent, not acknowledged" (the service may hold them).
    this.log(
      `${plural(summary.fragments, 'fragment')}: ${summary.persisted} persisted, ${summary.received} received, ` +
        `${summary.skipped} skipped, ${summary.refused} refused, ${summary.dropped} dropped; ` +
        `${summary.unacknowledged} sent, not acknowledged; ${summary.notSent} not sent; ` +
        `${formatBytes(summary.bytesSent)} in ${summary.seconds.toFixed(1)} s over ${plural(summary.connections, 'connection')}, ` +
        `${plural(summary.retries, 'retry', 'retries')}${latency}${sourceLatency}` +
        framesNotSentText(summary.framesNotSent),
    );
  }

  private progress(): void {
    if (!this.isTty) {
      return;
    }
    const nowMs = this.clock.monotonicMs();
    this.pace.sample(this.bytesSent);
    // Throttled, but never left cleared: a log line just took its place.
    if (this.hasProgressLine && nowMs - this.lastProgressAtMs < 100) {
      return;
    }
    this.lastProgressAtMs = nowMs;
    const line = progressLine({
      isLive: this.isLive,
      elapsedMs: nowMs - this.startedAtMs,
      bytesSent: this.bytesSent,
      totalBytes: this.totalBytes,
      fragmentsStored: this.finalAcks,
      finalAckType: this.finalAckType,
      bytesPerSecond: this.pace.bytesPerSecond(),
      etaMs: this.totalBytes === undefined ? undefined : this.pace.etaMs(this.totalBytes),
      bufferBytes: this.run?.buffer.bytes ?? 0,
      maxBufferBytes: this.run?.buffer.maxBytes ?? 0,
    });
    this.io.stderr.write(`\r${line}\u001b[K`);
    this.hasProgressLine = true;
  }

  private clearProgress(): void {
    if (this.hasProgressLine) {
      this.io.stderr.write('\r\u001b[K');
      this.hasProgressLine = false;
    }
  }
}
