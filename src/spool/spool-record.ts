/**
 * What a spool record holds: the tracks a stream's fragments go under (`header`), or one fragment with its
 * producer times and frames (`fragment`), each naming its stream, so that a restart uploads what the last
 * run left with its original timestamps. A record is `u32le metaLength | meta (JSON) | bytes`: the JSON
 * carries every field, with each byte array as a `{"$bytes": [offset, length]}` slice of the bytes that
 * follow it and each bigint (a TrackUID) as `{"$bigint": "…"}`, so frames are stored as they are, uncopied
 * by any text encoding.
 */
import type { Fragment } from '../fragment/fragmenter.js';
import type { ClusterFrame } from '../mkv/mkv-writer.js';
import type { MkvSimpleTag, MkvTrack } from '../mkv/mkv-types.js';

/** The tracks of the fragments after it, up to the next header of the same stream. */
export type SpoolHeaderRecord = {
  readonly kind: 'header';
  readonly stream: string;
  /** Numbers a stream's headers in write order: a fragment names the one it goes under. */
  readonly headerId: number;
  readonly tracks: readonly MkvTrack[];
};

/** A whole fragment (never a continuation part): what the session needs to send it again. */
export type SpoolFragmentRecord = {
  readonly kind: 'fragment';
  readonly stream: string;
  readonly headerId: number;
  readonly timecode: number;
  readonly producerTimestampMs: number;
  readonly durationMs: number;
  readonly lastTimestampMs: number;
  readonly byteLength: number;
  readonly startsWithKeyframe: boolean;
  readonly hasBFrames: boolean;
  readonly tags: readonly MkvSimpleTag[];
  readonly frames: readonly ClusterFrame[];
};

export type SpoolRecord = SpoolHeaderRecord | SpoolFragmentRecord;

/** The record of a fragment of `stream` under header `headerId`. */
export const fragmentRecord = (
  stream: string,
  headerId: number,
  fragment: Fragment,
): SpoolFragmentRecord => ({
  kind: 'fragment',
  stream,
  headerId,
  timecode: fragment.timecode,
  producerTimestampMs: fragment.producerTimestampMs,
  durationMs: fragment.durationMs,
  lastTimestampMs: fragment.lastTimestampMs,
  byteLength: fragment.byteLength,
  startsWithKeyframe: fragment.startsWithKeyframe,
  hasBFrames: fragment.hasBFrames,
  tags: fragment.tags,
  frames: fragment.frames,
});

/** A spooled fragment as the session sends it; `sequence` is its place in the new run. */
export const fragmentOf = (record: SpoolFragmentRecord, sequence: number): Fragment => ({
  type: 'fragment',
  sequence,
  timecode: record.timecode,
  producerTimestampMs: record.producerTimestampMs,
  durationMs: record.durationMs,
  lastTimestampMs: record.lastTimestampMs,
  frames: record.frames,
  byteLength: record.byteLength,
  startsWithKeyframe: record.startsWithKeyframe,
  hasBFrames: record.hasBFrames,
  tags: record.tags,
  // Refused fragments are never spooled: a spooled one broke no rule.
  issues: [],
  isContinuation: false,
  arrivedAtMs: undefined,
  release: undefined,
});

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export const encodeSpoolRecord = (record: SpoolRecord): Uint8Array => {
  const blobs: Uint8Array[] = [];
  let blobBytes = 0;
  // The holder's own value, not `value`: a Buffer's toJSON has turned the latter into an array of numbers.
  const meta = JSON.stringify(record, function (this: Record<string, unknown>, key: string, value: unknown) {
    const raw = this[key];
    if (raw instanceof Uint8Array) {
      const slice = [blobBytes, raw.length];
      blobs.push(raw);
      blobBytes += raw.length;
      return { $bytes: slice };
    }
    return typeof raw === 'bigint' ? { $bigint: raw.toString() } : value;
  });
  const metaBytes = textEncoder.encode(meta);
  const out = new Uint8Array(4 + metaBytes.length + blobBytes);
  new DataView(out.buffer).setUint32(0, metaBytes.length, true);
  out.set(metaBytes, 4);
  let offset = 4 + metaBytes.length;
  for (const blob of blobs) {
    out.set(blob, offset);
    offset += blob.length;
  }
  return out;
};

/** Decodes a record; its byte arrays are views of `bytes`. Throws on a record that is not one. */
export const decodeSpoolRecord = (bytes: Uint8Array): SpoolRecord => {
  if (bytes.length < 4) {
    throw new Error('spool record too short');
  }
  const metaLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  const blobStart = 4 + metaLength;
  if (blobStart > bytes.length) {
    throw new Error('spool record meta runs past its end');
  }
  const record = JSON.parse(textDecoder.decode(bytes.subarray(4, blobStart)), (_key, value: unknown) => {
    if (typeof value === 'object' && value !== null) {
      const slice = (value as { $bytes?: unknown }).$bytes;
      if (Array.isArray(slice) && slice.length === 2) {
        const [offset, length] = slice as [number, number];
        if (blobStart + offset + length > bytes.length) {
          throw new Error('spool record bytes run past its end');
        }
        return bytes.subarray(blobStart + offset, blobStart + offset + length);
      }
      const big = (value as { $bigint?: unknown }).$bigint;
      if (typeof big === 'string') {
        return BigInt(big);
      }
    }
    return value;
  }) as SpoolRecord;
  if (record.kind !== 'header' && record.kind !== 'fragment') {
    throw new Error('spool record of an unknown kind');
  }
  return record;
};
