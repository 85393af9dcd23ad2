/**
 * The service's per-fragment and per-stream limits (kvs-api.md §6.4 and §10, the current quota page).
 */
export const KvsLimits = {
  /** ErrorId 4002 above this. */
  maxFragmentDurationMs: 20_000,
  /** ErrorId 4001 above this. */
  maxFragmentBytes: 50 * 1024 * 1024,
  /** ErrorId 4012 above this. */
  maxTracks: 3,
  /** ErrorId 4009 above these. */
  maxFragmentMetadataTags: 10,
  maxMetadataNameBytes: 128,
  maxMetadataValueBytes: 256,
  /** Per stream. */
  maxFragmentsPerSecond: 5,
  maxBytesPerSecond: 12.5 * 1024 * 1024,
  maxPutMediaCallsPerSecond: 5,
  /** ErrorId 4003 after this. */
  maxConnectionDurationMs: 45 * 60_000,
  idleCloseMs: 30_000,
} as const;
