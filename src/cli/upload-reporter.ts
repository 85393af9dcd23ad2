import type { StatsEvent, SummaryEvent, UploadEvent } from '../upload/upload-events.js';
import type { CliIo } from './cli-io.js';

export type ReporterMode = { json: boolean; verbose: boolean; quiet: boolean };

const formatBytes = (bytes: number): string =>
  bytes >= 1e9
    ? `${(bytes / 1e9).toFixed(2)} GB`
    : bytes >= 1e6
      ? `${(bytes / 1e6).toFixed(1)} MB`
      : `${(bytes / 1e3).toFixed(0)} kB`;

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
  private readonly startedAtMs = Date.now();
  private totalBytes: number | undefined;
  private bytesSent = 0;
  private finalAcks = 0;
  private hasProgressLine = false;
  private lastProgressAtMs = 0;
  /** Which ack means "stored": PERSISTED when the stream has retention, else RECEIVED. */
  private finalAckType: 'PERSISTED' | 'RECEIVED' = 'RECEIVED';

  public constructor(io: CliIo, mode: ReporterMode) {
    this.io = io;
    this.mode = mode;
    this.isTty = io.stderr.isTTY === true && !mode.json && !mode.quiet;
  }

  /** A log line on stderr (never in JSON mode's stdout); --quiet keeps only warnings. */
  public log(line: string): void {
    if (this.mode.quiet && !line.startsWith('warning')) {
      return;
    }
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
    this.bytesSent = bytesSent;
    this.render(event);
    this.progress();
  }

  /** Clears the progress line once the run is over. */
  public finish(): void {
    this.clearProgress();
  }

  private render(event: UploadEvent): void {
    switch (event.event) {
      case 'start': {
        this.finalAckType = event.retentionHours > 0 ? 'PERSISTED' : 'RECEIVED';
        this.totalBytes = event.totalBytes;
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
        this.log(`read back with GetMedia: ${event.fragments} fragments, ${event.frames} frames`);
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
      `stats: ${event.fragments} fragments (${event.persisted + event.received} stored, ${event.dropped} dropped, ${event.unacknowledged} awaiting acks), ` +
        `${formatBytes(event.bytesSent)} sent, ${event.sourceRestarts} source restarts, ${event.retries} retries${latency} ` +
        `(last ${(event.intervalMs / 1000).toFixed(0)} s), RSS ${formatBytes(memory.rssBytes)} ` +
        `(JS heap ${formatBytes(memory.heapUsedBytes)}, buffers ${formatBytes(memory.arrayBuffersBytes)})`,
    );
  }

  private summary(summary: SummaryEvent): void {
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
    this.log(
      `${summary.fragments} fragments: ${summary.persisted} persisted, ${summary.received} received, ` +
        `${summary.skipped.length} skipped, ${summary.refused} refused, ${summary.dropped} dropped, ${summary.unacknowledged} unacknowledged; ` +
        `${formatBytes(summary.bytesSent)} in ${summary.seconds.toFixed(1)} s over ${summary.connections} connection(s), ${summary.retries} retries${latency}${sourceLatency}` +
        framesNotSentText(summary.framesNotSent),
    );
  }

  private progress(): void {
    if (!this.isTty) {
      return;
    }
    const now = Date.now();
    if (now - this.lastProgressAtMs < 100) {
      return;
    }
    this.lastProgressAtMs = now;
    const seconds = Math.max(0.001, (now - this.startedAtMs) / 1000);
    const rate = this.bytesSent / seconds;
    let bar = '';
    let eta = '';
    if (this.totalBytes !== undefined && this.totalBytes > 0) {
      const ratio = Math.min(1, this.bytesSent / this.totalBytes);
      const width = 24;
      bar = `[${'#'.repeat(Math.round(ratio * width)).padEnd(width, '.')}] ${(ratio * 100).toFixed(0).padStart(3)}% `;
      eta = rate > 0 ? ` ETA ${Math.max(0, (this.totalBytes - this.bytesSent) / rate).toFixed(0)} s` : '';
    }
    this.io.stderr.write(
      `\r${bar}${formatBytes(this.bytesSent)}, ${this.finalAcks} fragments ${this.finalAckType.toLowerCase()}, ${formatBytes(rate)}/s${eta}\u001b[K`,
    );
    this.hasProgressLine = true;
  }

  private clearProgress(): void {
    if (this.hasProgressLine) {
      this.io.stderr.write('\r\u001b[K');
      this.hasProgressLine = false;
    }
  }
}
