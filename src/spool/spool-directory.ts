/**
 * A spool directory as a whole: on open, its lock taken and every segment recovered (torn tails cut, each
 * cut reported), then appends that roll over to a new segment past a size, so that whole segments can be
 * deleted once what they hold is stored.
 */
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDirectory } from '../util/make-directory.js';
import type { RecordRef } from './segment-log.js';
import { SegmentWriter, listSegments, recoverSegment, segmentName, segmentSequence } from './segment-log.js';
import type { SpoolLock } from './spool-lock.js';
import { acquireSpoolLock } from './spool-lock.js';

/** A segment rolls over past this many bytes: small enough to delete soon, large enough to be few. */
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

/** A torn or damaged tail that recovery cut off a segment. */
export type TornTail = { readonly segment: string; readonly bytes: number; readonly reason: string };

export type SpoolRecovery = {
  /** Every whole record, oldest first. */
  readonly records: readonly RecordRef[];
  readonly torn: readonly TornTail[];
};

export class SpoolDirectory {
  private writer: SegmentWriter | undefined;

  private constructor(
    public readonly dir: string,
    private readonly lock: SpoolLock,
    private nextSequence: number,
    private readonly segmentBytes: number,
  ) {}

  /** Locks and recovers a spool directory (made when missing). */
  public static async open(
    dir: string,
    options: { segmentBytes?: number } = {},
  ): Promise<{ spool: SpoolDirectory; recovery: SpoolRecovery }> {
    await makeDirectory(dir, { mode: 0o700 });
    const lock = await acquireSpoolLock(dir);
    try {
      const segments = await listSegments(dir);
      const records: RecordRef[] = [];
      const torn: TornTail[] = [];
      for (const segment of segments) {
        const scan = await recoverSegment(dir, segment);
        records.push(...scan.records);
        if (scan.tornBytes > 0) {
          torn.push({ segment, bytes: scan.tornBytes, reason: scan.tornReason ?? 'damaged' });
        }
      }
      // Appends never go into a recovered segment: a new run starts a new one.
      const last = segments.at(-1);
      const nextSequence = last === undefined ? 1 : segmentSequence(last) + 1;
      const spool = new SpoolDirectory(
        dir,
        lock,
        nextSequence,
        options.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      );
      return { spool, recovery: { records, torn } };
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** Appends a record, synced before it resolves; rolls over to a new segment when this one is full. */
  public async append(payload: Uint8Array): Promise<RecordRef> {
    if (this.writer === undefined || this.writer.isBroken || this.writer.bytes >= this.segmentBytes) {
      await this.writer?.close().catch(() => undefined);
      this.writer = await SegmentWriter.open(this.dir, segmentName(this.nextSequence++));
    }
    return this.writer.append(payload);
  }

  /** The segment appends go to now (never to be deleted while it is). */
  public get currentSegment(): string | undefined {
    return this.writer?.segment;
  }

  /** Deletes a segment whose records are all stored (or dropped). */
  public async removeSegment(segment: string): Promise<void> {
    if (segment === this.writer?.segment) {
      await this.writer.close();
      this.writer = undefined;
    }
    await unlink(join(this.dir, segment));
  }

  public async close(): Promise<void> {
    await this.writer?.close();
    this.writer = undefined;
    await this.lock.release();
  }
}
