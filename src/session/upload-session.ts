/**
 * The PutMedia session (producer-sdk.md §2–3): the source fills a {@link FragmentBuffer}, one
 * {@link SessionConnection} at a time sends it (plus a draining one during make-before-break rotation), and a
 * failed connection is retried with backoff, resuming at the first fragment the service does not hold. Every
 * wait and timestamp comes from the injected clock.
 */
import { ErrorCode, KvsPutError } from '../errors.js';
import type { SessionHeader, SessionItem } from '../fragment/fragmenter.js';
import { AckError, PutMediaHttpError } from '../kvs/kvs-errors.js';
import { backoffDelayMs } from '../util/backoff.js';
import { assert } from '../util/assert.js';
import { sleep } from '../util/clock.js';
import { isStreamGoneErrorId } from './ack-tracker.js';
import type { BufferEntry } from './fragment-buffer.js';
import { FragmentBuffer } from './fragment-buffer.js';
import { Pacer } from './pacer.js';
import { SessionConnection } from './session-connection.js';
import type { SessionContext } from './session-connection.js';
import { SessionStats } from './session-stats.js';
import type { UploadInterval, UploadProgress, UploadSummary } from './session-stats.js';
import { resolveUploadConfig } from './upload-options.js';
import type { FragmentSource, UploadConfig, UploadEvent, UploadOptions } from './upload-options.js';
import { plural } from '../util/plural.js';

export type { BufferPolicy } from './fragment-buffer.js';
export type {
  FragmentState,
  FragmentStats,
  UploadInterval,
  UploadProgress,
  UploadSummary,
} from './session-stats.js';
export type { FragmentSource, UploadEvent, UploadOptions } from './upload-options.js';

/** `new UploadSession(options).run(source)` uploads a source's fragments to one stream. */
export class UploadSession {
  private readonly options: UploadOptions;
  private readonly config: UploadConfig;
  private readonly buffer: FragmentBuffer;
  private readonly stats: SessionStats;
  private readonly context: SessionContext;
  /** Rotated-out connections still waiting for their last acks. */
  private readonly draining = new Set<Promise<unknown>>();
  private sourceError: unknown;
  /** The source yields lists of fragments (see {@link run}). */
  private isSourceListing = false;

  public constructor(options: UploadOptions) {
    this.options = options;
    const config = resolveUploadConfig(options);
    this.config = config;
    const isPersistedAckExpected = options.isPersistedAckExpected;
    this.stats = new SessionStats(
      { isPersistedAckExpected, maxKeptStats: config.maxKeptStats },
      config.clock.monotonicMs(),
    );
    this.buffer = new FragmentBuffer({ ...config, isPersistedAckExpected }, (entry) => this.onDrop(entry));
    this.context = {
      options,
      config,
      buffer: this.buffer,
      stats: this.stats,
      pacer: new Pacer(config),
      emit: (event) => this.emit(event),
      isStopping: () => this.isStopping(),
      isAborted: () => this.isAborted(),
      isSourceListing: () => this.isSourceListing,
    };
  }

  /**
   * Uploads every fragment of `source`; resolves with the summary once each is acknowledged, skipped or lost.
   * A source may yield items one by one or in lists (a live source yields what one read completed), and
   * yields a session header before its first fragment and wherever its tracks change.
   */
  public async run(source: FragmentSource): Promise<UploadSummary> {
    const pump = this.pump(source);
    const { buffer, stats, config } = this;
    const { clock, backoff } = config;
    let attempt = 0;
    try {
      while (!buffer.isFinished()) {
        if (this.isStopping() && this.draining.size === 0 && !buffer.hasInFlight()) {
          // Interrupted: what was in flight is settled; unsent fragments stay unsent.
          break;
        }
        const isEarly = config.isConnectedBeforeData && stats.connections === 0;
        if ((buffer.firstUnsent() === undefined && !isEarly) || this.isStopping()) {
          // Nothing to send yet: wait for the source, or for a draining connection to settle its fragments.
          await Promise.race([buffer.changed.wait(), ...this.draining]);
          continue;
        }
        const startedAtMs = clock.monotonicMs();
        let hasProgressed = false;
        try {
          await this.runConnection(() => {
            hasProgressed = true;
          });
          attempt = 0;
          continue;
        } catch (error) {
          if (isFatal(error)) {
            throw error;
          }
          // A connection that got acks, or lived long enough, was not part of a run of failures.
          if (hasProgressed || clock.monotonicMs() - startedAtMs > backoff.resetAfterMs) {
            attempt = 0;
          }
          attempt++;
          if (this.isAborted()) {
            break;
          }
          if (attempt > config.maxAttempts) {
            throw new KvsPutError(
              ErrorCode.Upload,
              `upload failed after ${plural(attempt, 'failed connection attempt')}: ${errorMessage(error)}`,
              {
                cause: error,
                suggestion: 'check the endpoint and the network; --max-retries raises the limit',
              },
            );
          }
          const delayMs = backoffDelayMs(backoff, attempt, config.random);
          stats.retries++;
          this.emit({ type: 'retry', attempt, delayMs, reason: errorMessage(error), fatal: false });
          await sleep(clock, delayMs, this.options.signal);
        }
      }
      await Promise.allSettled([...this.draining]);
    } finally {
      buffer.endSource();
    }
    await pump;
    return this.summary();
  }

  /** The summary so far: what `run()` resolves with, and what a run that failed got to before it did. */
  public summary(): UploadSummary {
    return this.stats.summary(this.isAborted(), this.sourceError);
  }

  /** Bytes of fragments held in memory (unsent + unacknowledged), for a progress line's buffer fill. */
  public get bufferedBytes(): number {
    return this.buffer.heldBytes;
  }

  /**
   * The session so far (the summary's counters) and the source → socket latency since the last call: what
   * a live run reports every so often, since its summary comes only at the end.
   */
  public interval(): UploadInterval {
    return this.stats.interval(this.config.clock.monotonicMs(), this.isAborted());
  }

  /** Where the fragments are now (no side effects, unlike {@link interval}). */
  public progress(): UploadProgress {
    return this.stats.progress();
  }

  /**
   * Moves the source's fragments into the buffer, each with the session header it goes under, under the
   * buffer's policy; a source error ends the source.
   */
  private async pump(source: FragmentSource): Promise<void> {
    const { buffer, stats } = this;
    const clock = this.config.clock;
    const isStopping = (): boolean => this.isStopping();
    let header: SessionHeader | undefined;
    try {
      reading: for await (const next of source) {
        // A list is all the source has ready now: the connection need not wait for more before writing.
        const isList = isItemList(next);
        this.isSourceListing = isList;
        for (const item of isList ? next : [next]) {
          if (item.type === 'session-header') {
            header = item;
            continue;
          }
          if (this.isStopping()) {
            break reading;
          }
          assert(header !== undefined, 'a fragment source yields a session header before its first fragment');
          const entry = buffer.add(item, header, clock.now());
          if (entry.start === undefined) {
            stats.add(entry.stats);
          }
          const room = buffer.makeRoom(isStopping);
          if (room !== undefined) {
            await room;
          }
          if (buffer.isFinished()) {
            break reading;
          }
        }
      }
    } catch (error) {
      this.sourceError = error;
    } finally {
      buffer.endSource();
    }
  }

  /**
   * One connection from open to end: streams until the source is done and its fragments are acknowledged,
   * or until rotation, when it drains in the background while the next one starts; throws if it fails.
   */
  private async runConnection(onProgress: () => void): Promise<void> {
    const connection = await SessionConnection.open(this.context, onProgress);
    try {
      if ((await connection.stream()) === 'rotate') {
        // Make before break: the old connection drains its acks while the next one starts.
        const drain = connection.finish().catch(() => undefined);
        this.draining.add(drain);
        void drain.finally(() => this.draining.delete(drain));
        return;
      }
      await connection.finish();
    } catch (error) {
      connection.fail(error);
      throw error;
    } finally {
      connection.stopWatching();
    }
  }

  private onDrop(entry: BufferEntry): void {
    this.stats.dropped++;
    this.emit({
      type: 'drop',
      sequence: entry.fragment.sequence,
      timecode: entry.fragment.timecode,
      reason: 'buffer full',
      wasSent: entry.stats.sentAtMs !== undefined,
    });
  }

  private emit(event: UploadEvent): void {
    this.options.onEvent?.(event);
  }

  /**
   * Whether unsent fragments are abandoned: on abort with `onAbort: 'drop-unsent'` (files: exit now). With
   * 'flush' (live sources, whose capture ends on the same signal) everything the source yields is sent.
   */
  private isStopping(): boolean {
    return this.isAborted() && this.config.onAbort === 'drop-unsent';
  }

  private isAborted(): boolean {
    return this.options.signal?.aborted === true;
  }
}

/** Errors no reconnect can fix. */
const isFatal = (error: unknown): boolean => {
  if (error instanceof PutMediaHttpError) {
    // 403/401 may be expired credentials: a new connection resolves them again, so retry a few times.
    return (
      error.statusCode === 404 || (error.statusCode === 400 && error.errorType === 'InvalidArgumentException')
    );
  }
  if (error instanceof AckError) {
    return isStreamGoneErrorId(error.errorId);
  }
  // An endpoint that went away (the control plane, when the data endpoint is looked up again) may come back.
  return error instanceof KvsPutError && error.code !== ErrorCode.Upload && error.code !== ErrorCode.Network;
};

const isItemList = (item: SessionItem | readonly SessionItem[]): item is readonly SessionItem[] =>
  Array.isArray(item);

const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));
