/**
 * One PutMedia connection of an upload session: it opens with fresh credentials, writes the buffer's queued
 * fragments behind a session header of its own, watches for staleness, says when rotation is due, and ends
 * with the end-of-fragment marker and a bounded wait for the last acks.
 */
import type { AwsCredentialIdentity } from '@smithy/types';
import type { SessionHeader } from '../fragment/fragmenter.js';
import { SessionWriter } from '../fragment/session-writer.js';
import type { Ack } from '../kvs/ack.js';
import { PutMediaHttpError } from '../kvs/kvs-errors.js';
import { PutMediaConnection } from '../kvs/put-media-connection.js';
import { END_OF_FRAGMENT_BYTES } from '../mkv/mkv-writer.js';
import type { ClockTimer } from '../util/clock.js';
import { sleep } from '../util/clock.js';
import { toError } from '../util/to-error.js';
import { AckTracker } from './ack-tracker.js';
import type { BufferEntry, FragmentBuffer } from './fragment-buffer.js';
import type { Pacer } from './pacer.js';
import type { SessionStats } from './session-stats.js';
import type { UploadConfig, UploadEvent, UploadOptions } from './upload-options.js';
import { WriteBatch } from './write-batch.js';

/** What a connection shares with its session. */
export type SessionContext = {
  readonly options: UploadOptions;
  readonly config: UploadConfig;
  readonly buffer: FragmentBuffer;
  readonly stats: SessionStats;
  readonly pacer: Pacer;
  readonly emit: (event: UploadEvent) => void;
  /** Unsent fragments are abandoned (see UploadOptions.onAbort). */
  readonly isStopping: () => boolean;
  readonly isAborted: () => boolean;
  /** The source's latest item was a list: all it has ready now. */
  readonly isSourceListing: () => boolean;
};

/** The connection ended (or its final acks did not come): what it did not settle goes out again. */
class ConnectionEndedError extends Error {}

/** Lets pending source work (promise callbacks) run before going on: one turn of the event loop. */
const yieldToSource = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** One connection, from {@link SessionConnection.open} to `finish()` (or `fail()`). */
export class SessionConnection {
  public readonly id: number;
  public readonly conn: PutMediaConnection;
  public readonly acks: AckTracker;
  private readonly context: SessionContext;
  private readonly buffer: FragmentBuffer;
  /** Rotation is due at this monotonic time (connection age)… */
  private readonly rotateAtMonotonicMs: number;
  /** … or at this epoch time (credentials about to expire). */
  private readonly rotateAtEpochMs: number;
  private staleness: ClockTimer | undefined;

  private constructor(
    context: SessionContext,
    id: number,
    conn: PutMediaConnection,
    credentials: AwsCredentialIdentity,
  ) {
    const config = context.config;
    this.context = context;
    this.buffer = context.buffer;
    this.id = id;
    this.conn = conn;
    const openedAtMs = config.clock.monotonicMs();
    this.acks = new AckTracker(context.buffer, context.options.isPersistedAckExpected, openedAtMs);
    this.rotateAtMonotonicMs = openedAtMs + config.rotateAfterMs;
    this.rotateAtEpochMs =
      credentials.expiration === undefined
        ? Infinity
        : credentials.expiration.getTime() - config.credentialsRefreshMarginMs;
  }

  /**
   * Resolves credentials and the endpoint, opens the next connection and starts its staleness watch.
   * `onAck` runs after each ack is applied (the session counts them as progress).
   */
  public static async open(context: SessionContext, onAck: () => void): Promise<SessionConnection> {
    const { options, config, stats, buffer } = context;
    const credentials = await options.credentials();
    const endpoint = await options.endpoint();
    const id = ++stats.connections;
    // Acks can only arrive once the connection exists; the holder lets the handler reach it.
    const holder: { connection?: SessionConnection } = {};
    const conn = await PutMediaConnection.open(
      {
        endpoint,
        ...(options.streamArn === undefined ? {} : { streamArn: options.streamArn }),
        ...(options.streamName === undefined ? {} : { streamName: options.streamName }),
        region: options.region,
        credentials,
        timecodeMode: config.timecodeMode,
        producerStartTimestampMs: options.producerStartTimestampMs,
        userAgent: config.userAgent,
      },
      {
        onAck: (ack) => {
          if (holder.connection !== undefined) {
            holder.connection.onAck(ack);
            onAck();
          }
        },
      },
    ).catch((error: unknown) => {
      if (!(error instanceof PutMediaHttpError) || error.statusCode >= 500) {
        options.onEndpointFailure?.();
      }
      throw error;
    });
    const connection = new SessionConnection(context, id, conn, credentials);
    holder.connection = connection;
    void conn.closed.then(() => buffer.changed.notify());
    context.emit({
      type: 'connect',
      connection: id,
      endpoint,
      resumeSequence: buffer.firstUnsent()?.fragment.sequence ?? (stats.hasFragments ? -1 : 0),
      ...(conn.requestId === undefined ? {} : { requestId: conn.requestId }),
    });
    connection.watchStaleness();
    return connection;
  }

  /**
   * Writes fragments until the source is exhausted ('end') or a new connection is due ('rotate': connection
   * age, expiring credentials, or a fragment under another session header). The body begins with the header
   * of its first fragment, whichever that is after a reconnect. Fragments (parts) ready together go out in
   * one {@link WriteBatch}.
   */
  public async stream(): Promise<'end' | 'rotate'> {
    const { config, pacer, options } = this.context;
    const clock = config.clock;
    const writer = new SessionWriter();
    const batch = new WriteBatch({
      conn: this.conn,
      connectionId: this.id,
      stats: this.context.stats,
      clock,
      onWrite: options.onWrite,
    });
    /** The session header this connection's body is under, once its first fragment is chosen. */
    let header: SessionHeader | undefined;
    for (;;) {
      let entry = this.readyToSend();
      if (entry === undefined && !batch.isEmpty) {
        if (!this.context.isSourceListing()) {
          // The rest of a burst may still be on its way from a source that yields fragments one by one.
          await yieldToSource();
          entry = this.readyToSend();
        }
        if (entry === undefined) {
          await batch.flush();
          continue;
        }
      }
      entry ??= await this.nextToSend();
      if (entry === undefined) {
        await batch.flush();
        return 'end';
      }
      // A session can only change at a fragment boundary: continuation parts go where their cluster went.
      const isStart = !entry.fragment.isContinuation;
      if (!isStart && !this.acks.holdsClusterOf(entry)) {
        // Its cluster did not open on this connection (it was refused, or went out on another).
        entry.stats.state = 'skipped';
        this.buffer.prune();
        continue;
      }
      if (isStart && header !== undefined && entry.header !== header) {
        // One Segment per PutMedia body (kvs-api.md §7.1): a new session header goes on a connection of its own.
        await batch.flush();
        return 'rotate';
      }
      if (isStart && header !== undefined && this.isRotationDue()) {
        await batch.flush();
        this.context.emit({
          type: 'rotate',
          connection: this.id,
          reason: 'connection age or credential expiry',
        });
        return 'rotate';
      }
      if (header === undefined) {
        header = entry.header;
        // Written with the fragment below: the body starts with it.
        writer.write(header);
      }
      const waitMs = pacer.waitMs(entry.fragment, clock.monotonicMs());
      if (waitMs > 0) {
        await batch.flush();
        await sleep(clock, waitMs, options.signal);
        if (this.context.isStopping()) {
          // Stopped during the pacing wait: this fragment was not sent, and stays unsent.
          return 'end';
        }
      }
      pacer.charge(entry.fragment, clock.monotonicMs());
      this.buffer.markSent(entry);
      this.acks.track(entry);
      if (batch.add(entry, writer.write(entry.fragment))) {
        await batch.flush();
      }
    }
  }

  /** Ends the body with the end-of-fragment marker, then waits (bounded) for the acks of what was sent. */
  public async finish(): Promise<void> {
    const { conn, acks } = this;
    const { config, options } = this.context;
    const clock = config.clock;
    // The last fragment needs its end marker (a header must have gone out before it).
    if (conn.isOpen && acks.hasSent) {
      await conn.write([END_OF_FRAGMENT_BYTES]);
      options.onWrite?.(this.id, [END_OF_FRAGMENT_BYTES]);
      conn.end();
    }
    const timeoutMs = this.context.isAborted()
      ? Math.min(config.stopTimeoutMs, config.finalAckTimeoutMs)
      : config.finalAckTimeoutMs;
    const deadlineMs = clock.monotonicMs() + timeoutMs;
    while (acks.hasUnsettled()) {
      const remainingMs = deadlineMs - clock.monotonicMs();
      if (remainingMs <= 0) {
        conn.abort(new Error(`no final ack within ${timeoutMs} ms`));
        break;
      }
      const timer = new AbortController();
      const isClosed = await Promise.race([
        conn.closed.then(() => true),
        this.buffer.changed.wait().then(() => false),
        sleep(clock, remainingMs, timer.signal).then(() => false),
      ]);
      // A pending timer would keep the process alive after the upload is done.
      timer.abort();
      if (isClosed) {
        break;
      }
    }
    conn.abort(new Error('session finished'));
    const pending = acks.unsettledCount();
    acks.requeue();
    if (pending > 0) {
      throw new ConnectionEndedError(
        `${pending} fragments were not acknowledged before the connection ended`,
      );
    }
  }

  /** Gives up on the connection: it is closed and what it did not settle goes back to the queue. */
  public fail(error: unknown): void {
    this.conn.abort(toError(error));
    this.acks.requeue();
  }

  /** Stops the staleness watch (the connection is done, or only drains its acks). */
  public stopWatching(): void {
    this.staleness?.cancel();
  }

  private onAck(ack: Ack): void {
    const { config, emit } = this.context;
    const entry = this.acks.entryFor(ack);
    emit({
      type: 'ack',
      connection: this.id,
      ack,
      ...(entry === undefined ? {} : { sequence: entry.fragment.sequence }),
    });
    const outcome = this.acks.apply(ack, entry, config.clock.now(), config.clock.monotonicMs());
    if (outcome?.skipped !== undefined) {
      const { entry: skipped, errorId, reason } = outcome.skipped;
      emit({
        type: 'skip',
        sequence: skipped.fragment.sequence,
        timecode: skipped.fragment.timecode,
        producerTimestampMs: skipped.fragment.producerTimestampMs,
        errorId,
        reason,
      });
    }
    if (outcome?.streamGone !== undefined) {
      this.conn.abort(outcome.streamGone);
    }
    this.buffer.prune();
    this.buffer.changed.notify();
  }

  private isRotationDue(): boolean {
    const clock = this.context.config.clock;
    return clock.monotonicMs() >= this.rotateAtMonotonicMs || clock.now() >= this.rotateAtEpochMs;
  }

  /** No ack for stalenessMs while a fragment waits for its first one: the connection is given up. */
  private watchStaleness(): void {
    const { config, emit } = this.context;
    const stalenessMs = config.stalenessMs;
    this.staleness = config.clock.setInterval(
      () => {
        const silentMs = this.acks.staleForMs(config.clock.monotonicMs(), stalenessMs);
        if (silentMs !== undefined) {
          emit({ type: 'stale', connection: this.id, silentMs });
          this.conn.abort(new Error(`no ack for ${Math.round(silentMs / 1000)} s: the connection is stale`));
        }
      },
      Math.min(1000, stalenessMs),
    );
  }

  /** The next fragment to send if one is queued now (undefined: none yet, closed, or stopping). */
  private readyToSend(): BufferEntry | undefined {
    if (!this.conn.isOpen || this.context.isStopping()) {
      return undefined;
    }
    return this.buffer.firstUnsent();
  }

  /** The next fragment to send on this connection, waiting for the source; undefined at its end. */
  private async nextToSend(): Promise<BufferEntry | undefined> {
    for (;;) {
      const entry = this.readyToSend();
      if (entry !== undefined) {
        return entry;
      }
      if (!this.conn.isOpen) {
        throw new ConnectionEndedError(
          (await this.conn.closed)?.message ?? 'the service ended the PutMedia response',
        );
      }
      if (this.context.isStopping() || this.buffer.hasSourceEnded) {
        return undefined;
      }
      // The connection's close also notifies `changed` (see open): racing `closed` here would add a reaction
      // to it per wait, kept until the connection ends — per frame, for up to 40 minutes.
      await this.buffer.changed.wait();
    }
  }
}
