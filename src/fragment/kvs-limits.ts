/**
 * The service's per-fragment and per-stream limits (kvs-api.md §6.4 and §10, the current quota page): the
 * only place kvs-put writes them down.
 */
export const KvsLimits = {
  /** ErrorId 4002 (MAX_FRAGMENT_DURATION_REACHED) above this. */
  maxFragmentDurationMs: 20_000,
  /** ErrorId 4001 (MAX_FRAGMENT_SIZE_REACHED) above this. */
  maxFragmentBytes: 50 * 1024 * 1024,
  /** ErrorId 4012 above this. */
  maxTracks: 3,
  /** ErrorId 4009 (FRAGMENT_METADATA_LIMIT_REACHED) above these. */
  maxFragmentMetadataTags: 10,
  maxMetadataNameBytes: 128,
  maxMetadataValueBytes: 256,
  /** Per stream. */
  maxFragmentsPerSecond: 5,
  maxBytesPerSecond: 12.5 * 1024 * 1024,
  maxPutMediaCallsPerSecond: 5,
  /** ErrorId 4003 (MAX_CONNECTION_DURATION_REACHED) after this. */
  maxConnectionDurationMs: 45 * 60_000,
  idleCloseMs: 30_000,
} as const;

/**
 * How cluster timecodes count, as the `x-amzn-fragment-timecode-type` header tells the service (kvs-api.md
 * §6.1): `absolute` epoch ms, or `relative` to the producer start timestamp.
 */
export const TIMECODE_MODES = ['absolute', 'relative'] as const;
export type TimecodeMode = (typeof TIMECODE_MODES)[number];
