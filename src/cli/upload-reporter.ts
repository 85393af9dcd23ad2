import type { UploadEvent, UploadInterval, UploadSummary } from '../session/upload-session.js';
import { peakRssBytes } from '../util/peak-rss.js';
import type { CliIo } from './cli-io.js';

export type ReporterMode = { json: boolean; verbose: boolean; quiet: boolean };

const formatBytes = (bytes: number): string =>
  bytes >= 1e9
    ? `${(bytes / 1e9).toFixed(2)} GB`
    : bytes >= 1e6
      ? `${(bytes / 1e6).toFixed(1)} MB`
      : `${(bytes / 1e3).toFixed(0)} kB`;

/**
 * Renders upload events: NDJSON on stdout with --json; otherwise log lines on stderr (the final ack of each
 * fragment, retries, skips, drops) and, on a TTY, a progress line rewritten in place.
 */
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

  public constructor(
    io: CliIo,
    mode: ReporterMode,
    options: { isPersistedAckExpected: boolean; totalBytes?: number },
  ) {
    this.io = io;
    this.mode = mode;
    this.isTty = io.stderr.isTTY === true && !mode.json && !mode.quiet;
    this.totalBytes = options.totalBytes;
    this.finalAckType = options.isPersistedAckExpected ? 'PERSISTED' : 'RECEIVED';
  }

  private finalAckType: 'PERSISTED' | 'RECEIVED';

  /** What the progress bar and ETA measure against (the input files' size, when known). */
  public setTotalBytes(bytes: number | undefined): void {
    this.totalBytes = bytes;
  }

  /** Which ack means "stored": PERSISTED when the stream has retention, else RECEIVED. */
  public setPersistedAckExpected(isExpected: boolean): void {
    this.finalAckType = isExpected ? 'PERSISTED' : 'RECEIVED';
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

  public json(record: Record<string, unknown>): void {
    if (this.mode.json) {
      this.io.stdout.write(`${JSON.stringify(record)}\n`);
    }
  }

  public onBytes(bytes: number): void {
    this.bytesSent += bytes;
    this.progress();
  }

  public onEvent(event: UploadEvent): void {
    // NDJSON for scripts on stdout; the log lines on stderr either way.
    this.json(
      event.type === 'ack'
        ? { event: 'ack', connection: event.connection, sequence: event.sequence, ...event.ack }
        : { event: event.type, ...withoutType(event) },
    );
    switch (event.type) {
      case 'ack': {
        const { ack } = event;
        const isFinal = ack.EventType === this.finalAckType;
        if (isFinal) {
          this.finalAcks++;
        }
        if (isFinal || this.mode.verbose || ack.EventType === 'ERROR') {
          const which = event.sequence === undefined ? '' : `fragment #${event.sequence} `;
          const error = ack.ErrorId === undefined ? '' : ` ErrorId ${ack.ErrorId} ${ack.ErrorCode ?? ''}`;
          this.log(
            `ack ${ack.EventType.padEnd(9)} ${which}timecode ${ack.FragmentTimecode ?? '-'}` +
              `${ack.FragmentNumber === undefined ? '' : ` number ${ack.FragmentNumber}`}${error}`,
          );
        }
        this.progress();
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
    }
  }

  /** A live run's periodic line: `{"event":"stats",…}` with --json, else one log line on stderr. */
  public interval(interval: UploadInterval, sourceRestarts: number): void {
    const usage = process.resourceUsage();
    // The V8 heap and the Buffers apart from RSS: a slow leak shows in one of them long before RSS (which
    // malloc's free lists and the kernel's accounting blur) says anything.
    const memory = process.memoryUsage();
    this.json({
      event: 'stats',
      ...interval,
      sourceRestarts,
      process: {
        cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        arrayBuffersBytes: memory.arrayBuffers,
      },
    });
    const latency =
      interval.sourceToSocketMs === undefined
        ? ''
        : `, source → socket p50 ${interval.sourceToSocketMs.p50} ms p99 ${interval.sourceToSocketMs.p99} ms`;
    // A live run's health line: kept by --quiet too (a camera service's journal then holds one line a
    // minute, warnings and source losses, instead of one line per fragment).
    this.write(
      `stats: ${interval.fragments} fragments (${interval.persisted + interval.received} stored, ${interval.dropped} dropped, ${interval.unacknowledged} awaiting acks), ` +
        `${formatBytes(interval.bytesSent)} sent, ${sourceRestarts} source restarts, ${interval.retries} retries${latency} ` +
        `(last ${(interval.intervalMs / 1000).toFixed(0)} s), RSS ${formatBytes(memory.rss)} ` +
        `(JS heap ${formatBytes(memory.heapUsed)}, buffers ${formatBytes(memory.arrayBuffers)})`,
    );
  }

  public summary(summary: UploadSummary, refused: number): void {
    this.clearProgress();
    const seconds = (Date.now() - this.startedAtMs) / 1000;
    const usage = process.resourceUsage();
    this.json({
      event: 'summary',
      ...withoutStats(summary),
      refused,
      seconds,
      process: {
        cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
        maxRssBytes: peakRssBytes(),
      },
    });
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
        `${summary.skipped.length} skipped, ${refused} refused, ${summary.dropped} dropped, ${summary.unacknowledged} unacknowledged; ` +
        `${formatBytes(summary.bytesSent)} in ${seconds.toFixed(1)} s over ${summary.connections} connection(s), ${summary.retries} retries${latency}${sourceLatency}`,
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

const withoutType = (event: UploadEvent): Record<string, unknown> => {
  const { type: _type, ...rest } = event;
  return rest;
};

const withoutStats = (summary: UploadSummary): Record<string, unknown> => {
  const { stats: _stats, sourceError, ...rest } = summary;
  return sourceError === undefined ? rest : { ...rest, sourceError: sourceError.message };
};
