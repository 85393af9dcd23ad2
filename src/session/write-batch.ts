/**
 * Fragments (parts) ready together, written to a connection in one call: a burst a live source delivers at
 * once (several frames in one read) costs one system call, and none of it waits behind the others' writes.
 * The batch holds each fragment's memory until the socket let go of its bytes, and stamps when they went out.
 */
import type { PutMediaConnection } from '../kvs/put-media-connection.js';
import type { Clock } from '../util/clock.js';
import type { BufferEntry } from './fragment-buffer.js';
import { releaseIfUnused } from './fragment-buffer.js';
import type { SessionStats } from './session-stats.js';

/** A batch goes out once it holds this many bytes (a burst goes out as it is parsed). */
const MAX_BATCH_BYTES = 64 * 1024;

const NOTHING_TO_WAIT_FOR: Promise<void> = Promise.resolve();

/** Where a batch goes and what it reports to. */
export type WriteBatchTarget = {
  readonly conn: PutMediaConnection;
  /** The connection's number, for `onWrite`. */
  readonly connectionId: number;
  readonly stats: SessionStats;
  readonly clock: Clock;
  readonly onWrite: ((connection: number, chunks: readonly Uint8Array[]) => void) | undefined;
};

/** One connection's batch: filled by the sender, written by {@link flush}. */
export class WriteBatch {
  private readonly target: WriteBatchTarget;
  private entries: BufferEntry[] = [];
  private chunks: Uint8Array[] = [];
  private bytes = 0;

  public constructor(target: WriteBatchTarget) {
    this.target = target;
  }

  public get isEmpty(): boolean {
    return this.entries.length === 0;
  }

  /** Adds a fragment marked sent and its bytes; returns whether the batch is full enough to go now. */
  public add(entry: BufferEntry, chunks: readonly Uint8Array[]): boolean {
    this.entries.push(entry);
    for (const chunk of chunks) {
      this.chunks.push(chunk);
      this.bytes += chunk.length;
    }
    return this.bytes >= MAX_BATCH_BYTES;
  }

  /**
   * Writes the batch in one call; the promise resolves once the socket can take more. Not async: the
   * bookkeeping is done by the time the bytes are on the socket, and the common case (the kernel took them
   * at once) returns a settled promise.
   */
  public flush(): Promise<void> {
    if (this.entries.length === 0) {
      return NOTHING_TO_WAIT_FOR;
    }
    const { conn, stats, clock } = this.target;
    const entries = this.entries;
    const chunks = this.chunks;
    this.entries = [];
    this.chunks = [];
    this.bytes = 0;
    const isOpen = conn.isOpen;
    for (const entry of entries) {
      entry.unflushedWrites++;
    }
    const written = conn.write(chunks, (error) => {
      const nowMs = clock.monotonicMs();
      for (const entry of entries) {
        entry.unflushedWrites--;
        if (entry.fragment.arrivedAtMs !== undefined && error === undefined) {
          stats.addSourceToKernel(nowMs - entry.fragment.arrivedAtMs);
        }
        releaseIfUnused(entry);
      }
    });
    if (!isOpen) {
      // Nothing was written: the promise rejects with the reason.
      return written;
    }
    // The bytes are on the socket now (the write is synchronous up to its wait for drain).
    const monotonicMs = clock.monotonicMs();
    const sentAtMs = clock.now();
    for (const entry of entries) {
      if (entry.fragment.arrivedAtMs !== undefined) {
        stats.addSourceToSocket(monotonicMs - entry.fragment.arrivedAtMs);
      }
      entry.stats.sentAtMs = sentAtMs;
      entry.sentAtMonotonicMs = monotonicMs;
    }
    for (const chunk of chunks) {
      stats.bytesSent += chunk.length;
    }
    this.target.onWrite?.(this.target.connectionId, chunks);
    return written;
  }
}
