/** The service's megabyte, in which KvsLimits' byte limits are documented (see {@link KvsLimits}). */
export const BYTES_PER_MB = 1_000_000;

/**
 * The service's limits (kvs-api.md §6.4, §8 and §10, the current quota page): the only place kvs-put writes
 * them down. Help texts, messages and the local KVS's defaults are derived from these.
 *
 * The byte limits are decimal: the quota page gives the throughput as "12.5 MB/s (100 Mbps)", which holds
 * only for MB = 10^6 bytes (12.5 MiB/s would be 104.9 Mbps), and writes the fragment size and the buffer in
 * the same MB. Reading them as 10^6 is also the safe side for a producer: what fits the decimal limit fits
 * the binary one too.
 */
export const KvsLimits = {
  /** ErrorId 4002 (MAX_FRAGMENT_DURATION_REACHED) above this. */
  maxFragmentDurationMs: 20_000,
  /** ErrorId 4001 (MAX_FRAGMENT_SIZE_REACHED) above this. */
  maxFragmentBytes: 50 * BYTES_PER_MB,
  /** ErrorId 4012 above this. */
  maxTracks: 3,
  /** ErrorId 4009 (FRAGMENT_METADATA_LIMIT_REACHED) above these. */
  maxFragmentMetadataTags: 10,
  maxMetadataNameBytes: 128,
  maxMetadataValueBytes: 256,
  /** PutMedia, per stream. */
  maxFragmentsPerSecond: 5,
  maxBytesPerSecond: 12.5 * BYTES_PER_MB,
  maxPutMediaCallsPerSecond: 5,
  /** ErrorId 4003 (MAX_CONNECTION_DURATION_REACHED) after this. */
  maxConnectionDurationMs: 45 * 60_000,
  /** A PutMedia connection whose body is quiet this long is closed. */
  idleCloseMs: 30_000,
  /** GetMedia and GetMediaForFragmentList, per stream. */
  maxGetMediaCallsPerSecond: 5,
  maxGetMediaConnections: 3,
  maxGetMediaForFragmentListConnections: 5,
  /** A stream's retention: 0 (no archive) or 1 to this many hours (10 years); InvalidArgumentException above. */
  maxDataRetentionHours: 87_600,
  /** Tags per stream; TagsPerResourceExceededLimitException above. */
  maxTagsPerStream: 50,
  /** What a stream with retention 0 keeps for GetMedia: its newest fragments, within both bounds. */
  retentionZeroBufferMs: 5 * 60_000,
  retentionZeroBufferBytes: 200 * BYTES_PER_MB,
} as const;

/**
 * How cluster timecodes count, as the `x-amzn-fragment-timecode-type` header tells the service (kvs-api.md
 * §6.1): `absolute` epoch ms, or `relative` to the producer start timestamp.
 */
export const TIMECODE_MODES = ['absolute', 'relative'] as const;
export type TimecodeMode = (typeof TIMECODE_MODES)[number];

/**
 * Media without video, in the words of every path that refuses it (a Matroska file read directly, a file
 * through ffmpeg): KVS fragments start at video key frames, so `--transcode` (video only) cannot help.
 */
export const NoVideoTrack = {
  reason: 'no video track — KVS needs a video track (H.264/H.265) to start its fragments',
  suggestion: 'KVS streams carry video, with audio beside it: upload the recording that has the video',
} as const;
