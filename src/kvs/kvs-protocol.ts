/**
 * The service's wire vocabulary apart from acks (ack.ts): the PutMedia request's path, signing name, headers
 * and their values, and the headers every answer carries (kvs-api.md §1.2–1.3, §2.1, §6.1). The PutMedia
 * client and the local KVS share it, so each name is written once; the rules (what a valid header is, how an
 * error type is read) stay with each side, which read the service's documents on their own. Only data and
 * formats live here: no I/O.
 */
import type { TimecodeMode } from '../fragment/kvs-limits.js';

/** What a region name looks like (`us-east-1`, `cn-north-1`, `us-gov-west-1`, kvs-api.md §2.2). */
export const REGION_PATTERN = /^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$/;

/** Where PutMedia is served on the data endpoint. */
export const PUT_MEDIA_PATH = '/putMedia';

/** The SigV4 signing name of every KVS operation, data plane included (§2.1). */
export const KVS_SIGNING_SERVICE = 'kinesisvideo';

/** The PutMedia request headers (§6.1). */
export const PutMediaHeader = {
  /** The stream by name; exactly one of this and {@link PutMediaHeader.StreamArn}. */
  StreamName: 'x-amzn-stream-name',
  StreamArn: 'x-amzn-stream-arn',
  /** A {@link FragmentTimecodeType}. */
  FragmentTimecodeType: 'x-amzn-fragment-timecode-type',
  /** Epoch seconds ({@link formatEpochSeconds}); RELATIVE cluster timecodes count from it. */
  ProducerStartTimestamp: 'x-amzn-producer-start-timestamp',
  /** `1` or `0`: whether the service sends BUFFERING, RECEIVED and PERSISTED acks. */
  FragmentAcknowledgmentRequired: 'x-amzn-fragment-acknowledgment-required',
} as const;

/**
 * Headers of the service's answers (§1.2–1.3), spelled as the service sends them; HTTP header names are
 * case-insensitive, and Node hands a client them in lower case.
 */
export const ResponseHeader = {
  RequestId: 'x-amzn-RequestId',
  /** The error's type (its code) on an error answer. */
  ErrorType: 'x-amzn-ErrorType',
} as const;

/** The `x-amzn-fragment-timecode-type` value of each {@link TimecodeMode}. */
export const FRAGMENT_TIMECODE_TYPES = {
  absolute: 'ABSOLUTE',
  relative: 'RELATIVE',
} as const satisfies Record<TimecodeMode, string>;
export type FragmentTimecodeType = (typeof FRAGMENT_TIMECODE_TYPES)[TimecodeMode];

/**
 * `1663277247.152`: epoch seconds with exactly 3 decimals, how producers send their start timestamp and how
 * the service writes timestamps into GetMedia's tags. `wholeMs` is a whole number of milliseconds: each caller
 * decides how its own times are rounded to one.
 */
export const formatEpochSeconds = (wholeMs: number): string => (wholeMs / 1000).toFixed(3);
