/**
 * What an upload session reports: per-fragment stats in the style of hls.js LoadStats, folded into totals
 * once a long session has many, the latency samples of the live path, and the summary and interval views.
 */
import type { Fragment } from '../fragment/fragmenter.js';
import { LatencySamples, percentilesOf } from '../util/latency-samples.js';
import { toError } from '../util/to-error.js';

/** Where a fragment is: waiting to go, out, acknowledged step by step, or skipped (refused or dropped). */
export type FragmentState = 'queued' | 'sent' | 'buffering' | 'received' | 'persisted' | 'skipped';

/** Per-fragment timings and outcome, in the style of hls.js LoadStats. Times are epoch ms. */
export type FragmentStats = {
  sequence: number;
  timecode: number;
  bytes: number;
  frames: number;
  state: FragmentState;
  queuedAtMs: number;
  sentAtMs?: number;
  bufferingAtMs?: number;
  receivedAtMs?: number;
  persistedAtMs?: number;
  fragmentNumber?: string;
  /** Times the fragment was sent again after a failed connection. */
  retries: number;
  skipErrorId?: number;
  skipReason?: string;
};

/** What `UploadSession.run()` resolves with, once every fragment is acknowledged, skipped or lost. */
export type UploadSummary = {
  fragments: number;
  /** Frames in the fragments that reached a final ack. */
  framesStored: number;
  persisted: number;
  /** RECEIVED but no PERSISTED seen (retention 0, or the connection ended after RECEIVED). */
  received: number;
  skipped: FragmentStats[];
  dropped: number;
  /** Sent, but no final ack came (yet): the service may hold them. */
  unacknowledged: number;
  /** Never sent: still queued when the session ended (or when asked, for an interval). */
  notSent: number;
  connections: number;
  retries: number;
  bytesSent: number;
  isInterrupted: boolean;
  /** Milliseconds from sending a fragment's last byte to its final ack. */
  ackLatencyMs: { p50: number; p99: number } | undefined;
  /** Milliseconds from a frame's bytes leaving the source (ffmpeg) to their hand-over to the socket. */
  sourceToSocketMs: { p50: number; p99: number } | undefined;
  /** … to the socket having written their last byte to the kernel (a big key frame waits for the peer). */
  sourceToKernelMs: { p50: number; p99: number } | undefined;
  /** Per-fragment stats: every fragment of a short session, the latest ones of a long one (maxKeptStats). */
  stats: FragmentStats[];
  /** The source failed (e.g. corrupt media) after yielding what it could: everything before was uploaded. */
  sourceError: Error | undefined;
};

/** Fragments so far: stored (a final ack), sent and not acknowledged (yet), and never sent. */
export type UploadProgress = { fragments: number; stored: number; awaitingAcks: number; unsent: number };

/**
 * `UploadSession.interval()`: the summary's counters so far (skipped as a count), with the latencies of
 * the interval only.
 */
export type UploadInterval = Omit<UploadSummary, 'stats' | 'skipped' | 'sourceError'> & {
  skipped: number;
  /** Milliseconds since the previous interval (or the session's start). */
  intervalMs: number;
};

/** A fragment needs nothing more from the service: stored, refused, or RECEIVED when no PERSISTED comes. */
export const isFinalState = (state: FragmentState, isPersistedAckExpected: boolean): boolean =>
  state === 'persisted' || state === 'skipped' || (state === 'received' && !isPersistedAckExpected);

/** The stats of a fragment just taken from the source. */
export const newFragmentStats = (fragment: Fragment, queuedAtMs: number): FragmentStats => ({
  // Every field from the start: objects made alike share one shape, which keeps the code that reads them
  // from being compiled again for each shape a field added later would make.
  sequence: fragment.sequence,
  timecode: fragment.timecode,
  bytes: fragment.byteLength,
  frames: fragment.frames.length,
  state: 'queued',
  queuedAtMs,
  sentAtMs: undefined,
  bufferingAtMs: undefined,
  receivedAtMs: undefined,
  persistedAtMs: undefined,
  fragmentNumber: undefined,
  retries: 0,
  skipErrorId: undefined,
  skipReason: undefined,
});

/** Queued and never sent (a fragment requeued after a lost connection was sent: the service may hold it). */
const isNeverSent = (stats: FragmentStats): boolean =>
  stats.state === 'queued' && stats.sentAtMs === undefined;

/** Milliseconds from sending a fragment's last byte to its final ack. */
export const ackLatencyMs = (stats: FragmentStats): number | undefined => {
  const finalAtMs = stats.persistedAtMs ?? stats.receivedAtMs;
  return finalAtMs === undefined || stats.sentAtMs === undefined ? undefined : finalAtMs - stats.sentAtMs;
};

/** Per-fragment stats kept in full; older settled ones are folded into totals (see {@link SessionStats}). */
export const MAX_KEPT_STATS = 4096;

/** Latency samples kept per interval (a minute of live video has ~60 per second). */
const WINDOW_SAMPLE_CAPACITY = 20_000;

/** The part of the upload config the stats read. */
export type SessionStatsConfig = {
  readonly isPersistedAckExpected: boolean;
  readonly maxKeptStats: number;
};

/**
 * The session's counters and per-fragment stats. A live session makes 43 200 fragments a day, so once more
 * than `maxKeptStats` are kept the oldest settled ones are folded into totals: counts, stored frames, skips
 * and ack-latency samples survive, the rest is let go.
 */
export class SessionStats {
  public connections = 0;
  public retries = 0;
  public dropped = 0;
  public bytesSent = 0;
  private readonly config: SessionStatsConfig;
  /** Stats of every fragment not folded yet, also of those pruned from the buffer. */
  private readonly kept: FragmentStats[] = [];
  private readonly folded = {
    fragments: 0,
    framesStored: 0,
    persisted: 0,
    received: 0,
    skipped: [] as FragmentStats[],
    ackLatenciesMs: new LatencySamples(),
  };
  /** Source bytes in → bytes handed to the socket, per fragment part (live sources). */
  private readonly sourceToSocketMs = new LatencySamples();
  /** Source bytes in → the socket's last byte of them written to the kernel. */
  private readonly sourceToKernelMs = new LatencySamples();
  /** The same since the last {@link interval} call, which started at `startedAtMs` (monotonic). */
  private readonly window: {
    startedAtMs: number;
    sourceToSocketMs: LatencySamples;
    sourceToKernelMs: LatencySamples;
  };

  public constructor(config: SessionStatsConfig, startedAtMs: number) {
    this.config = config;
    this.window = {
      startedAtMs,
      sourceToSocketMs: new LatencySamples(WINDOW_SAMPLE_CAPACITY),
      sourceToKernelMs: new LatencySamples(WINDOW_SAMPLE_CAPACITY),
    };
  }

  /** Whether any fragment came from the source yet. */
  public get hasFragments(): boolean {
    return this.folded.fragments + this.kept.length > 0;
  }

  /** Counts a new fragment (a continuation part is counted in its cluster's stats instead). */
  public add(stats: FragmentStats): void {
    this.kept.push(stats);
    this.fold();
  }

  public addSourceToSocket(latencyMs: number): void {
    this.sourceToSocketMs.add(latencyMs);
    this.window.sourceToSocketMs.add(latencyMs);
  }

  public addSourceToKernel(latencyMs: number): void {
    this.sourceToKernelMs.add(latencyMs);
    this.window.sourceToKernelMs.add(latencyMs);
  }

  public summary(isInterrupted: boolean, sourceError: unknown): UploadSummary {
    const stats = this.kept;
    const folded = this.folded;
    const latencies = [
      ...folded.ackLatenciesMs.values(),
      ...stats.map(ackLatencyMs).filter((value): value is number => value !== undefined),
    ];
    const isPersistedAckExpected = this.config.isPersistedAckExpected;
    return {
      fragments: folded.fragments + stats.length,
      framesStored:
        folded.framesStored +
        stats
          .filter((s) => s.state === 'persisted' || s.state === 'received')
          .reduce((sum, s) => sum + s.frames, 0),
      persisted: folded.persisted + stats.filter((s) => s.state === 'persisted').length,
      received: folded.received + stats.filter((s) => s.state === 'received').length,
      skipped: [
        ...folded.skipped,
        ...stats.filter((s) => s.state === 'skipped' && s.skipErrorId !== undefined),
      ],
      dropped: this.dropped,
      unacknowledged: stats.filter((s) => !isFinalState(s.state, isPersistedAckExpected) && !isNeverSent(s))
        .length,
      // Unsettled fragments are never folded: the ones kept are all that never left.
      notSent: stats.filter(isNeverSent).length,
      connections: this.connections,
      retries: this.retries,
      bytesSent: this.bytesSent,
      isInterrupted,
      ackLatencyMs: percentilesOf(latencies),
      sourceToSocketMs: this.sourceToSocketMs.percentiles(),
      sourceToKernelMs: this.sourceToKernelMs.percentiles(),
      stats,
      sourceError: sourceError === undefined ? undefined : toError(sourceError),
    };
  }

  /**
   * Where the fragments are now, cheaply: what a Ctrl+C line reports (how many acks it waits for, what
   * was never sent). Folded stats are all settled, so only the kept ones are counted.
   */
  public progress(): UploadProgress {
    const isPersistedAckExpected = this.config.isPersistedAckExpected;
    let stored = this.folded.persisted + this.folded.received;
    let awaitingAcks = 0;
    let unsent = 0;
    for (const s of this.kept) {
      if (s.state === 'persisted' || s.state === 'received') {
        stored++;
      }
      if (s.state === 'queued' && s.sentAtMs === undefined) {
        unsent++;
      } else if (!isFinalState(s.state, isPersistedAckExpected)) {
        // Requeued after a broken connection counts as sent: the service may hold it.
        awaitingAcks++;
      }
    }
    return { fragments: this.folded.fragments + this.kept.length, stored, awaitingAcks, unsent };
  }

  /** The summary's counters and the latencies since the previous call; `nowMs` is monotonic. */
  public interval(nowMs: number, isInterrupted: boolean): UploadInterval {
    const { stats: _stats, skipped, sourceError: _error, ...totals } = this.summary(isInterrupted, undefined);
    const window = this.window;
    const interval: UploadInterval = {
      ...totals,
      skipped: skipped.length,
      intervalMs: Math.round(nowMs - window.startedAtMs),
      sourceToSocketMs: window.sourceToSocketMs.percentiles(),
      sourceToKernelMs: window.sourceToKernelMs.percentiles(),
    };
    window.startedAtMs = nowMs;
    window.sourceToSocketMs.clear();
    window.sourceToKernelMs.clear();
    return interval;
  }

  /** Folds the oldest settled stats into the totals, down to half of `maxKeptStats`, once above it. */
  private fold(): void {
    const stats = this.kept;
    const maxKept = this.config.maxKeptStats;
    if (stats.length <= maxKept) {
      return;
    }
    const isPersistedAckExpected = this.config.isPersistedAckExpected;
    const folded = this.folded;
    const limit = stats.length - Math.ceil(maxKept / 2);
    let count = 0;
    while (count < limit && isFinalState(stats[count]!.state, isPersistedAckExpected)) {
      const settled = stats[count]!;
      folded.fragments++;
      if (settled.state === 'persisted' || settled.state === 'received') {
        folded.framesStored += settled.frames;
        folded[settled.state]++;
      } else if (settled.skipErrorId !== undefined) {
        folded.skipped.push(settled);
      }
      const latency = ackLatencyMs(settled);
      if (latency !== undefined) {
        folded.ackLatenciesMs.add(latency);
      }
      count++;
    }
    stats.splice(0, count);
  }
}
