/**
 * The bytes the service adds around a stored fragment when it serves it (kvs-api.md §8, §9.2), laid out as the
 * real GetMedia captures in shared/fixtures/kvs-getmedia are:
 *
 * ```
 * <producer media header, as sent>  EBML header, Segment (unknown size), Info, Tracks, …
 * Tags                              AWS_KINESISVIDEO_FRAGMENT_NUMBER / _SERVER_TIMESTAMP / _PRODUCER_TIMESTAMP
 * <fragment bytes, as sent>         the Cluster (and the producer's Tags that followed it)
 * Tags                              AWS_KINESISVIDEO_MILLIS_BEHIND_NOW / _CONTINUATION_TOKEN   (GetMedia only)
 * ```
 *
 * The service writes every size of its Tags elements as a 4-byte vint (`12 54 C3 67 10 00 00 EB` in the
 * captures), one Tag without Targets, and timestamps as epoch seconds with exactly 3 decimals.
 */
import { formatEpochSeconds } from '../kvs/kvs-protocol.js';
import { EbmlId } from '../mkv/ebml-ids.js';
import { writeElementId, writeVintSize } from '../mkv/ebml-vint.js';
import { KvsTag } from '../mkv/kvs-tags.js';

/** Width of every size vint in the service's Tags elements. */
const SIZE_WIDTH = 4;
const textEncoder = new TextEncoder();

/**
 * One Tags element with one Tag (no Targets) holding the given string SimpleTags, every size 4 bytes wide.
 */
export const encodeServiceTags = (tags: readonly (readonly [name: string, value: string])[]): Uint8Array => {
  const encoded = tags.map(([name, value]) => [textEncoder.encode(name), textEncoder.encode(value)] as const);
  // SimpleTag = TagName (2-byte ID + size + text) + TagString (2-byte ID + size + text).
  const simpleTagSizes = encoded.map(
    ([name, value]) => 2 + SIZE_WIDTH + name.length + 2 + SIZE_WIDTH + value.length,
  );
  const tagSize = simpleTagSizes.reduce((sum, size) => sum + 2 + SIZE_WIDTH + size, 0);
  const tagsSize = 2 + SIZE_WIDTH + tagSize;
  const out = new Uint8Array(4 + SIZE_WIDTH + tagsSize);
  let offset = writeElementId(out, 0, EbmlId.Tags);
  offset = writeVintSize(out, offset, tagsSize, SIZE_WIDTH);
  offset = writeElementId(out, offset, EbmlId.Tag);
  offset = writeVintSize(out, offset, tagSize, SIZE_WIDTH);
  encoded.forEach(([name, value], index) => {
    offset = writeElementId(out, offset, EbmlId.SimpleTag);
    offset = writeVintSize(out, offset, simpleTagSizes[index]!, SIZE_WIDTH);
    offset = writeElementId(out, offset, EbmlId.TagName);
    offset = writeVintSize(out, offset, name.length, SIZE_WIDTH);
    out.set(name, offset);
    offset += name.length;
    offset = writeElementId(out, offset, EbmlId.TagString);
    offset = writeVintSize(out, offset, value.length, SIZE_WIDTH);
    out.set(value, offset);
    offset += value.length;
  });
  return out;
};

/** What the tags before a fragment's Cluster say about it. */
export type ChunkFacts = {
  fragmentNumber: string;
  serverTimestampMs: number;
  producerTimestampMs: number;
};

/** The Tags the service puts between the media header and the Cluster. */
export const chunkHeadTags = (facts: ChunkFacts): Uint8Array =>
  encodeServiceTags([
    [KvsTag.FragmentNumber, facts.fragmentNumber],
    // Producer times can fall between milliseconds (a TimecodeScale finer than 1 ms): the nearest one.
    [KvsTag.ServerTimestamp, formatEpochSeconds(Math.round(facts.serverTimestampMs))],
    [KvsTag.ProducerTimestamp, formatEpochSeconds(Math.round(facts.producerTimestampMs))],
  ]);

/** The Tags GetMedia puts after the Cluster: how far behind now the chunk is, and where to continue. */
export const chunkTailTags = (millisBehindNow: number, continuationToken: string): Uint8Array =>
  encodeServiceTags([
    [KvsTag.MillisBehindNow, String(Math.max(0, Math.round(millisBehindNow)))],
    [KvsTag.ContinuationToken, continuationToken],
  ]);
