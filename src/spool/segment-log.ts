/**
 * The spool's files: append-only segments of length-prefixed, checksummed records. A record counts as
 * written once `append` resolves, after the file's data is synced; a process killed mid-write (kill -9, a
 * power cut) leaves at most a torn last record, which `recoverSegment` finds and cuts off before anything
 * reads it. Records are opaque bytes here: what a record holds is the caller's format.
 *
 * A segment is `SEGMENT_MAGIC`, then records of `u32le length | u32le crc32(payload) | payload`.
 */
import { crc32 } from 'node:zlib';
import type { FileHandle } from 'node:fs/promises';
import { open, readdir, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';

/** The first bytes of every segment: the format and its version. */
export const SEGMENT_MAGIC = new TextEncoder().encode('KVSPOOL1');
const RECORD_HEADER_BYTES = 8;
/** No record is larger: a length beyond it is damage, not a record (KVS fragments are ≤ 50 MB). */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

/** Segment file names sort in write order: a zero-padded sequence number. */
export const segmentName = (sequence: number): string => `${String(sequence).padStart(12, '0')}.seg`;
const SEGMENT_NAME = /^(\d{12})\.seg$/;

/** A record's place: its segment and the offset of its header. */
export type RecordRef = { readonly segment: string; readonly offset: number; readonly length: number };

/** What recovery found in a segment: its good records, and the bytes past them that were cut off. */
export type SegmentScan = {
  readonly records: readonly RecordRef[];
  /** Bytes after the last good record (a torn or damaged tail), 0 when the segment ended cleanly. */
  readonly tornBytes: number;
  /** Why the tail was cut, when it was. */
  readonly tornReason?: string;
};

const recordHeader = (payload: Uint8Array): Uint8Array => {
  const header = new Uint8Array(RECORD_HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint32(0, payload.length, true);
  view.setUint32(4, crc32(payload), true);
  return header;
};

/** Reads a segment's records and where the good ones end. */
const scan = (segment: string, bytes: Uint8Array): SegmentScan => {
  const hasMagic =
    bytes.length >= SEGMENT_MAGIC.length && SEGMENT_MAGIC.every((byte, i) => bytes[i] === byte);
  if (!hasMagic) {
    // A segment created and killed before its magic was synced holds nothing; anything else is not ours.
    return { records: [], tornBytes: bytes.length, tornReason: 'no segment header' };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: RecordRef[] = [];
  let offset = SEGMENT_MAGIC.length;
  while (offset < bytes.length) {
    if (bytes.length - offset < RECORD_HEADER_BYTES) {
      return { records, tornBytes: bytes.length - offset, tornReason: 'a record header cut short' };
    }
    const length = view.getUint32(offset, true);
    const checksum = view.getUint32(offset + 4, true);
    const start = offset + RECORD_HEADER_BYTES;
    if (length > MAX_RECORD_BYTES || start + length > bytes.length) {
      return { records, tornBytes: bytes.length - offset, tornReason: 'a record cut short' };
    }
    if (crc32(bytes.subarray(start, start + length)) !== checksum) {
      return { records, tornBytes: bytes.length - offset, tornReason: 'a record whose checksum fails' };
    }
    records.push({ segment, offset, length });
    offset = start + length;
  }
  return { records, tornBytes: 0 };
};

/**
 * Scans a segment and cuts off a torn or damaged tail, so that appends and reads only ever meet whole
 * records. Runs before anything else opens the segment (the spool's lock guarantees one process).
 */
export const recoverSegment = async (dir: string, segment: string): Promise<SegmentScan> => {
  const path = join(dir, segment);
  const bytes = await readFile(path);
  const result = scan(segment, bytes);
  if (result.tornBytes > 0) {
    await truncate(path, Math.max(bytes.length - result.tornBytes, 0));
  }
  return result;
};

/** The segments of a spool directory, oldest first. */
export const listSegments = async (dir: string): Promise<string[]> =>
  (await readdir(dir)).filter((name) => SEGMENT_NAME.test(name)).sort();

/** The sequence number in a segment's name. */
export const segmentSequence = (segment: string): number => Number(SEGMENT_NAME.exec(segment)?.[1] ?? NaN);

/** Reads one record's payload, checking its checksum again (the disk may have changed since recovery). */
export const readRecord = async (dir: string, ref: RecordRef): Promise<Uint8Array> => {
  const handle = await open(join(dir, ref.segment), 'r');
  try {
    const bytes = new Uint8Array(RECORD_HEADER_BYTES + ref.length);
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, ref.offset);
    const view = new DataView(bytes.buffer);
    const payload = bytes.subarray(RECORD_HEADER_BYTES);
    if (
      bytesRead !== bytes.length ||
      view.getUint32(0, true) !== ref.length ||
      view.getUint32(4, true) !== crc32(payload)
    ) {
      throw new Error(`spool record at ${ref.segment}:${ref.offset} is damaged`);
    }
    return payload;
  } finally {
    await handle.close();
  }
};

/**
 * Appends records to one segment. Each append is one write of header and payload, then a data sync, so a
 * record is either whole on disk or a torn tail that recovery removes.
 */
export class SegmentWriter {
  private writeChain: Promise<unknown> = Promise.resolve();
  /** Set once an append failed: what follows a partial record would be cut off with it on recovery. */
  private failure: Error | undefined;

  private constructor(
    private readonly handle: FileHandle,
    public readonly segment: string,
    private size: number,
  ) {}

  /** Creates a segment (its magic synced) or opens a recovered one for appending. */
  public static async open(dir: string, segment: string): Promise<SegmentWriter> {
    const handle = await open(join(dir, segment), 'a', 0o600);
    let { size } = await handle.stat();
    if (size === 0) {
      await handle.write(SEGMENT_MAGIC);
      await handle.datasync();
      size = SEGMENT_MAGIC.length;
    }
    return new SegmentWriter(handle, segment, size);
  }

  /** Whether an append failed: the caller starts a new segment (recovery cuts this one's tail). */
  public get isBroken(): boolean {
    return this.failure !== undefined;
  }

  /** Bytes in the segment so far, the records being appended included. */
  public get bytes(): number {
    return this.size;
  }

  /** Appends a record; resolves once it is synced to disk. Appends are written in call order. */
  public append(payload: Uint8Array): Promise<RecordRef> {
    if (payload.length > MAX_RECORD_BYTES) {
      return Promise.reject(new RangeError(`a spool record holds at most ${MAX_RECORD_BYTES} bytes`));
    }
    const ref: RecordRef = { segment: this.segment, offset: this.size, length: payload.length };
    this.size += RECORD_HEADER_BYTES + payload.length;
    const done = this.writeChain.then(async () => {
      if (this.failure !== undefined) {
        throw this.failure;
      }
      try {
        const { bytesWritten } = await this.handle.writev([recordHeader(payload), payload]);
        if (bytesWritten !== RECORD_HEADER_BYTES + payload.length) {
          throw new Error(`short write to spool segment ${this.segment}`);
        }
        await this.handle.datasync();
      } catch (error) {
        this.failure = error instanceof Error ? error : new Error(String(error));
        throw this.failure;
      }
      return ref;
    });
    this.writeChain = done.catch(() => undefined);
    return done;
  }

  public async close(): Promise<void> {
    await this.writeChain;
    await this.handle.close();
  }
}
