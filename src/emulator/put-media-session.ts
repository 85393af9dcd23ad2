/**
 * One PutMedia connection once its 200 is out (kvs-api.md §6–§7): the body goes to {@link PutMediaIngest} as it
 * arrives and what the ingest makes of it becomes acks: BUFFERING when a fragment's Cluster starts, RECEIVED when it
 * is complete, PERSISTED once stored (only when the stream's retention is > 0), IDLE every few seconds while the body
 * is quiet, ERROR and then the end of the answer. When the client ends the body, the remaining acks are flushed and
 * the answer ends. A connection that breaks mid-fragment loses that fragment (the service's StreamReadError, acked
 * when the answer can still be written); fragments completed before it are kept.
 *
 * The session reads the body only while nothing pauses it: strict-mode throttling, a disk that lags, and the fault
 * plan's stalls and resets all stop the reading, so TCP backpressure reaches the producer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { debuglog } from 'node:util';
import { AckEventType, ErrorId, errorIdInfo } from '../kvs/ack.js';
import type { ClockTimer } from '../util/clock.js';
import type { DataPlane, PutMediaConnectionSlot } from './data-plane.js';
import type { RestartableTimer } from './emulator-clock.js';
import { restartableTimer } from './emulator-clock.js';
import { startStreamedAnswer } from './emulator-http.js';
import type { OperationContext, StreamingExchange } from './emulator-routes.js';
import type { PutMediaFaults } from './fault-injector.js';
import type { AckedFragment } from './put-media-acks.js';
import { AckWriter } from './put-media-acks.js';
import type { PutMediaHeaders } from './put-media-headers.js';
import type { IngestedFragment, IngestEvent } from './put-media-ingest.js';
import { PutMediaIngest } from './put-media-ingest.js';
import type { StreamRecord } from './stream-store.js';

const debug = debuglog('kvs');

/** After a stall fault, how long the connection reads (without ingesting) to see whether the client left. */
const STALL_SETTLE_MS = 50;

/**
 * In strict mode, and when a fault acts at a fragment, the body goes to the ingest in steps of this size, so that
 * a pause lands near the byte or fragment that caused it (see `pump`).
 */
const SLICE_BYTES = 4096;

type State = 'open' | 'closing' | 'closed';

/** One PutMedia connection after its 200: body in, acks out. */
export class PutMediaSession implements PutMediaConnectionSlot {
  private readonly request: IncomingMessage;
  private readonly response: ServerResponse;
  private readonly ingest: PutMediaIngest;
  private state: State = 'open';
  private isBodyEnded = false;
  private fragmentIndex = 0;
  private openFragment: AckedFragment | undefined;
  private readonly acks: AckWriter;
  private readonly pendingStores = new Set<Promise<void>>();
  private bytesRead = 0;
  /** Body bytes received but not yet given to the ingest (only while something pauses the reading). */
  private readonly queue: Uint8Array[] = [];
  /** Why the body is not being ingested: 'stall', 'settle', 'rate', 'fragment-rate', 'disk', 'reset'. */
  private readonly pauses = new Set<string>();
  private isStallDone = false;
  /** Destroy the socket as soon as the answer is written (the client can send nothing more). */
  private isSocketClosedAfterAnswer = false;
  /** Whether the body is given to the ingest in small slices (see SLICE_BYTES). */
  private readonly isSliced: boolean;
  private readonly timers: (ClockTimer | RestartableTimer)[] = [];
  private readonly arrivedAtMs: number;
  private idleAckTimer: RestartableTimer | undefined;
  private idleCloseTimer: RestartableTimer | undefined;

  public constructor(
    private readonly plane: DataPlane,
    exchange: StreamingExchange,
    private readonly context: OperationContext,
    private readonly headers: PutMediaHeaders,
    private readonly stream: StreamRecord,
    private readonly faults: PutMediaFaults,
  ) {
    this.request = exchange.request;
    this.response = exchange.response;
    this.arrivedAtMs = plane.clock.monotonicMs();
    this.acks = new AckWriter({
      response: exchange.response,
      isAckRequired: headers.isAckRequired,
      faults,
      counters: plane.counters,
      clock: plane.clock,
    });
    const config = plane.config;
    this.isSliced =
      config.isStrict || faults.resetAfterFragment !== undefined || faults.stall?.afterFragment !== undefined;
    this.ingest = new PutMediaIngest({
      timecodeType: headers.timecodeType,
      producerStartTimestampMs: headers.producerStartTimestampMs,
      now: () => plane.clock.now(),
      maxFragmentDurationMs: config.maxFragmentDurationMs,
      maxFragmentBytes: config.maxFragmentBytes,
      futureToleranceMs: config.futureToleranceMs,
      isKeyframeStartRequired: config.isStrict,
    });
  }

  /** Counts for the one-connection rule: neither answered (ERROR, idle close) nor done sending. */
  public get isSending(): boolean {
    return this.state === 'open' && !this.isBodyEnded;
  }

  public onStreamDeleting(): void {
    this.fail(ErrorId.StreamDeleted, 'the stream is being deleted');
  }

  public onBodyBroken(): boolean {
    if (this.state !== 'open' || this.response.destroyed) {
      return false;
    }
    // STREAM_READ_ERROR: the body ended mid-chunk; a fragment in progress is lost, complete ones are kept. The
    // client closed its side, so the socket goes as soon as the answer is out.
    this.fail(ErrorId.StreamReadError, 'the request body was cut short');
    this.isSocketClosedAfterAnswer = true;
    return true;
  }

  public start(): void {
    this.plane.addPutMedia(this.stream.streamArn, this);
    this.plane.bindSocket(this.request.socket, this);
    const response = this.response;
    startStreamedAnswer(response, this.context.stamp, 'application/json');
    response.on('close', () => this.onConnectionClosed());
    this.request.on('data', (chunk: Buffer) => this.onData(chunk));
    this.request.on('end', () => this.onBodyEnd());
    this.request.on('error', () => this.onConnectionClosed());

    if (this.stream.status === 'CREATING' || this.stream.status === 'DELETING') {
      this.fail(ErrorId.StreamNotActive, `the stream is ${this.stream.status}`);
      return;
    }
    const config = this.plane.config;
    this.idleAckTimer = this.restartableTimer(config.idleAckIntervalMs, () => this.onIdleAck());
    this.idleCloseTimer = this.restartableTimer(config.idleTimeoutMs, () => this.onIdleClose());
    this.timer(config.maxConnectionDurationMs, () =>
      this.fail(
        ErrorId.MaxConnectionDurationReached,
        `the connection is older than ${config.maxConnectionDurationMs} ms`,
      ),
    );
    if (this.faults.stall !== undefined && this.faults.stall.afterFragment === undefined) {
      if ((this.faults.stall.afterBytes ?? 0) === 0) {
        this.startStall();
      }
    }
  }

  // ---- body ------------------------------------------------------------------------------------------------

  private onData(chunk: Uint8Array): void {
    if (this.state !== 'open') {
      return; // discarded: the answer is over, the socket only drains
    }
    this.queue.push(chunk);
    this.pump();
  }

  /** Gives queued bytes to the ingest until the queue is empty or something pauses the reading. */
  private pump(): void {
    const stall = this.faults.stall;
    while (this.queue.length > 0 && this.pauses.size === 0 && this.state === 'open') {
      let bytes = this.queue.shift()!;
      if (this.isSliced && bytes.length > SLICE_BYTES) {
        this.queue.unshift(bytes.subarray(SLICE_BYTES));
        bytes = bytes.subarray(0, SLICE_BYTES);
      }
      const resetAt = this.faults.resetAfterBytes;
      if (resetAt !== undefined && this.bytesRead + bytes.length >= resetAt) {
        this.consume(bytes.subarray(0, resetAt - this.bytesRead));
        // Nothing more is read; the fragments completed before the cut are stored and acknowledged first, so
        // only the one in progress is lost, however the client's writes were split into reads.
        this.pause('reset');
        void Promise.allSettled([...this.pendingStores])
          .then(() => this.acks.written())
          .then(() => this.reset());
        return;
      }
      if (
        stall?.afterBytes !== undefined &&
        !this.isStallDone &&
        this.bytesRead + bytes.length > stall.afterBytes
      ) {
        const before = stall.afterBytes - this.bytesRead;
        this.queue.unshift(bytes.subarray(before));
        this.consume(bytes.subarray(0, before));
        this.startStall();
        break;
      }
      this.consume(bytes);
    }
    if (this.queue.length === 0 && this.pauses.size === 0 && this.isBodyEnded && this.state === 'open') {
      this.handle(this.ingest.end());
      if (this.state === 'open') {
        void this.finish(false);
      }
    }
  }

  private consume(bytes: Uint8Array): void {
    if (bytes.length === 0 || this.state !== 'open') {
      return;
    }
    this.bytesRead += bytes.length;
    this.plane.counters.bodyBytesReceived += bytes.length;
    this.idleAckTimer?.restart();
    this.idleCloseTimer?.restart();
    this.handle(this.ingest.push(bytes));
    if (this.state !== 'open') {
      return;
    }
    const throttleMs = this.plane.throttleBytes(this.stream.streamArn, bytes.length);
    if (throttleMs > 0) {
      this.pauseFor('rate', throttleMs);
    }
    const media = this.plane.media;
    const maxPending = this.plane.config.maxPendingWriteBytes;
    if (media.pendingWriteBytes > maxPending && !this.pauses.has('disk')) {
      this.pause('disk');
      void media.waitForPendingWritesBelow(maxPending / 2).then(() => this.resume('disk'));
    }
  }

  private onBodyEnd(): void {
    this.isBodyEnded = true;
    this.plane.recordBody({
      streamName: this.stream.streamName,
      bytes: this.bytesRead + this.queue.reduce((sum, chunk) => sum + chunk.length, 0),
      milliseconds: this.plane.clock.monotonicMs() - this.arrivedAtMs,
    });
    this.pump();
  }

  /** Acts on what the ingest made of the bytes. */
  private handle(events: readonly IngestEvent[]): void {
    for (const event of events) {
      if (this.state !== 'open') {
        return;
      }
      switch (event.type) {
        case 'fragment-start': {
          const index = ++this.fragmentIndex;
          const fragment: AckedFragment = {
            index,
            fragmentNumber: this.plane.media.allocateFragmentNumber(),
            timecode: event.timecode,
          };
          this.openFragment = fragment;
          this.acks.send(AckEventType.Buffering, fragment);
          const errorAt = this.faults.errorAtFragment;
          if (errorAt?.fragment === index) {
            this.fail(errorAt.errorId, 'fault plan: errorAtFragment', errorAt.errorCode);
            return;
          }
          const throttleMs = this.plane.throttleFragments(this.stream.streamArn);
          if (throttleMs > 0) {
            this.pauseFor('fragment-rate', throttleMs);
          }
          break;
        }
        case 'fragment-complete': {
          const fragment = this.openFragment;
          this.openFragment = undefined;
          if (fragment === undefined) {
            break;
          }
          this.plane.counters.fragmentsReceived++;
          this.acks.send(AckEventType.Received, fragment);
          this.store(fragment, event.fragment);
          if (this.faults.resetAfterFragment === fragment.index) {
            // Read nothing more: the connection goes once this fragment is stored and acked (see store()).
            this.pause('reset');
            return;
          }
          if (this.faults.stall?.afterFragment === fragment.index && !this.pauses.has('stall')) {
            this.startStall();
          }
          break;
        }
        case 'error':
          this.fail(event.errorId, event.reason, event.errorCode, event.timecode);
          return;
      }
    }
  }

  /** Stores a complete fragment; PERSISTED follows the write when the stream keeps data. */
  private store(fragment: AckedFragment, ingested: IngestedFragment): void {
    const stream = this.plane.streams.findByArn(this.stream.streamArn) ?? this.stream;
    const stored = this.plane.media
      .append(stream, {
        fragmentNumber: fragment.fragmentNumber,
        timecode: ingested.timecode,
        producerTimestampMs: ingested.producerTimestampMs,
        serverTimestampMs: ingested.serverTimestampMs,
        durationMs: ingested.durationMs,
        headerBytes: ingested.headerBytes,
        clusterChunks: ingested.clusterChunks,
        frameCount: ingested.frameCount,
        framesPerTrack: ingested.framesPerTrack,
        startsWithKeyframe: ingested.startsWithKeyframe,
        tags: ingested.tags,
      })
      .then(
        (record) => {
          if (record.isArchived) {
            this.acks.send(AckEventType.Persisted, fragment);
          }
          if (this.faults.resetAfterFragment === fragment.index) {
            void this.acks.written().then(() => this.reset());
          }
        },
        (error: unknown) => {
          this.fail(
            ErrorId.ArchivalError,
            `the fragment could not be stored: ${String(error)}`,
            undefined,
            fragment.timecode,
          );
        },
      );
    this.pendingStores.add(stored);
    void stored.finally(() => this.pendingStores.delete(stored));
  }

  // ---- idle ----------------------------------------------------------------------------------------------

  private onIdleAck(): void {
    if (this.state !== 'open' || this.isBodyEnded) {
      return;
    }
    if (this.pauses.size === 0) {
      this.acks.send(AckEventType.Idle, undefined);
    }
    this.idleAckTimer?.restart();
  }

  private onIdleClose(): void {
    if (this.state !== 'open' || this.isBodyEnded) {
      return;
    }
    if (this.pauses.size > 0) {
      // The server is the one not reading: that is not the client's silence.
      this.idleCloseTimer?.restart();
      return;
    }
    // [EMU] The service closes a request left idle (idleTimeoutMs); the fragment in progress, if any, is lost.
    void this.finish(true);
  }

  // ---- endings ---------------------------------------------------------------------------------------------

  /**
   * ERROR ack, then the end of the answer. Fragments completed before it are stored (and their PERSISTED acks
   * sent) first; the fragment in progress is lost.
   */
  private fail(errorId: number, reason: string, errorCode?: string, timecode?: number): void {
    if (this.state !== 'open') {
      return;
    }
    this.state = 'closing';
    this.stopTimers();
    const fragment = this.openFragment;
    this.openFragment = undefined;
    const isOfOpenFragment =
      fragment !== undefined && (timecode === undefined || timecode === fragment.timecode);
    const error = {
      errorId,
      errorCode: errorCode ?? errorIdInfo(errorId).code,
      timecode: timecode ?? fragment?.timecode,
    };
    debug('PutMedia %s: ERROR %d (%s)', this.stream.streamName, errorId, reason);
    void (async () => {
      await Promise.allSettled([...this.pendingStores]);
      this.acks.send(AckEventType.Error, isOfOpenFragment ? fragment : undefined, error);
      await this.acks.written();
      this.end(true);
    })();
  }

  /** Graceful end: every pending store and ack, then the end of the answer. */
  private async finish(isEarly: boolean): Promise<void> {
    if (this.state !== 'open') {
      return;
    }
    this.state = 'closing';
    this.stopTimers();
    this.openFragment = undefined;
    await Promise.allSettled([...this.pendingStores]);
    await this.acks.written();
    this.end(isEarly);
  }

  /** Ends the answer; when the client may still be sending, lets the socket drain the body a while first. */
  private end(isEarly: boolean): void {
    this.close();
    const response = this.response;
    if (this.isSocketClosedAfterAnswer) {
      const socket = this.request.socket;
      if (response.writableEnded || response.destroyed) {
        socket.destroy();
      } else {
        response.end(() => socket.destroy());
      }
      return;
    }
    if (!response.writableEnded && !response.destroyed) {
      response.end();
    }
    if (isEarly && !this.request.complete) {
      // Keep reading (and dropping) the body so that the client reads the last ack before the socket goes:
      // destroying a socket with unread input makes the kernel reset it, which can discard that ack.
      this.request.resume();
      const socket = this.request.socket;
      const timer = this.plane.clock.setTimeout(() => socket.destroy(), this.plane.config.lingerMs);
      socket.once('close', () => timer.cancel());
    }
  }

  /** Fault: drop the connection as a network failure would. */
  private reset(): void {
    if (this.state === 'closed') {
      return;
    }
    this.close();
    this.request.socket.destroy();
  }

  /** The client went away (or the server is closing): what was complete stays stored. */
  private onConnectionClosed(): void {
    if (this.state === 'closed') {
      return;
    }
    if (this.state === 'open' && this.ingest.hasOpenFragment) {
      // STREAM_READ_ERROR, sent if the answer can still carry it (it rarely can).
      this.acks.send(AckEventType.Error, this.openFragment, {
        errorId: ErrorId.StreamReadError,
        errorCode: errorIdInfo(ErrorId.StreamReadError).code,
        timecode: this.ingest.openTimecode,
      });
    }
    this.close();
  }

  private close(): void {
    this.state = 'closed';
    this.stopTimers();
    this.pauses.clear();
    this.plane.removePutMedia(this.stream.streamArn, this);
  }

  // ---- flow control ----------------------------------------------------------------------------------------

  private startStall(): void {
    this.pause('stall');
    const durationMs = this.faults.stall?.durationMs;
    if (durationMs !== undefined) {
      this.timer(durationMs, () => this.endStall());
    }
  }

  /**
   * The stall is over. While nothing was read, the client may have given up on this connection (a staleness
   * timeout) and resent its fragments on a new one; what it wrote before that still waits in the socket. So the
   * socket is read for a short while before anything is ingested: if the client closed or reset its side, the
   * session ends there and those bytes are dropped, as a client that abandoned the connection expects.
   */
  private endStall(): void {
    this.isStallDone = true;
    this.pauses.delete('stall');
    this.pauses.add('settle');
    this.request.resume();
    this.timer(STALL_SETTLE_MS, () => this.resume('settle'));
  }

  private pauseFor(reason: string, ms: number): void {
    if (this.pauses.has(reason)) {
      return;
    }
    this.pause(reason);
    this.plane.clock.setTimeout(() => this.resume(reason), ms);
  }

  private pause(reason: string): void {
    this.pauses.add(reason);
    this.request.pause();
  }

  private resume(reason: string): void {
    this.pauses.delete(reason);
    if (this.pauses.size === 0 && this.state === 'open') {
      this.idleAckTimer?.restart();
      this.idleCloseTimer?.restart();
      this.request.resume();
      this.pump();
    }
  }

  /** A timer on the service clock, cancelled when the session stops. */
  private timer(ms: number, callback: () => void): void {
    this.timers.push(this.plane.clock.setTimeout(callback, ms));
  }

  private restartableTimer(ms: number, callback: () => void): RestartableTimer {
    const timer = restartableTimer(this.plane.clock, ms, callback);
    this.timers.push(timer);
    return timer;
  }

  private stopTimers(): void {
    for (const timer of this.timers) {
      timer.cancel();
    }
    this.timers.length = 0;
  }
}
