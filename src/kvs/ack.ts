/**
 * The PutMedia acknowledgement vocabulary (kvs-api.md §6.2–6.3, producer-sdk.md §2.4), shared by the
 * uploader, the local KVS and `inspect`. Only types and data live here: no I/O.
 */
import { BYTES_PER_MB, KvsLimits } from '../fragment/kvs-limits.js';

export const AckEventType = {
  Buffering: 'BUFFERING',
  Received: 'RECEIVED',
  Persisted: 'PERSISTED',
  Error: 'ERROR',
  Idle: 'IDLE',
} as const;
export type AckEventType = (typeof AckEventType)[keyof typeof AckEventType];

/** One ack as it travels on the wire: one JSON object per chunk, newline-terminated. */
export type Ack = {
  EventType: AckEventType;
  /** The fragment's Cluster Timecode as sent (TimecodeScale units). */
  FragmentTimecode?: number;
  /** 47-digit decimal string: never parse it as a number. */
  FragmentNumber?: string;
  ErrorId?: number;
  ErrorCode?: string;
};

/** What a producer does with a fragment after an ERROR ack carrying this ErrorId. */
export type ErrorIdInfo = {
  /** The ErrorCode string the service sends with the id. */
  code: string;
  description: string;
  /** true: reconnect and resend the fragment; false: skip the fragment (never resend). */
  isRetriable: boolean;
  /** true: the service was alive, so the new session may resume at the first fragment without RECEIVED. */
  isHostAlive: boolean;
};

const entry = (
  code: string,
  description: string,
  isRetriable: boolean,
  isHostAlive: boolean,
): ErrorIdInfo => ({
  code,
  description,
  isRetriable,
  isHostAlive,
});

/** The ErrorIds of ERROR acks by name (kvs-api.md §6.3): the only place their numbers are written. */
export const ErrorId = {
  StreamReadError: 4000,
  MaxFragmentSizeReached: 4001,
  MaxFragmentDurationReached: 4002,
  MaxConnectionDurationReached: 4003,
  FragmentTimecodeLesserThanPrevious: 4004,
  MoreThanOneTrackFound: 4005,
  InvalidMkvData: 4006,
  InvalidProducerTimestamp: 4007,
  StreamNotActive: 4008,
  FragmentMetadataLimitReached: 4009,
  TrackNumberMismatch: 4010,
  FramesMissingForTrack: 4011,
  MoreThanAllowedTracksFound: 4012,
  KmsKeyAccessDenied: 4500,
  KmsKeyDisabled: 4501,
  KmsKeyValidationError: 4502,
  KmsKeyUnavailable: 4503,
  KmsKeyInvalidUsage: 4504,
  KmsKeyInvalidState: 4505,
  KmsKeyNotFound: 4506,
  StreamDeleted: 4507,
  InternalError: 5000,
  ArchivalError: 5001,
} as const;
export type ErrorId = (typeof ErrorId)[keyof typeof ErrorId];

/** ErrorIds the service sends in ERROR acks, and how AWS's own producers treat each (PIC StreamEvent.c). */
export const KVS_ERROR_IDS: Readonly<Record<number, ErrorIdInfo>> = {
  [ErrorId.StreamReadError]: entry(
    'STREAM_READ_ERROR',
    'the service could not read the request body',
    true,
    true,
  ),
  [ErrorId.MaxFragmentSizeReached]: entry(
    'MAX_FRAGMENT_SIZE_REACHED',
    `fragment larger than ${KvsLimits.maxFragmentBytes / BYTES_PER_MB} MB`,
    false,
    false,
  ),
  [ErrorId.MaxFragmentDurationReached]: entry(
    'MAX_FRAGMENT_DURATION_REACHED',
    `fragment longer than ${KvsLimits.maxFragmentDurationMs / 1000} s`,
    false,
    false,
  ),
  [ErrorId.MaxConnectionDurationReached]: entry(
    'MAX_CONNECTION_DURATION_REACHED',
    `connection open longer than ${KvsLimits.maxConnectionDurationMs / 60_000} min`,
    true,
    true,
  ),
  [ErrorId.FragmentTimecodeLesserThanPrevious]: entry(
    'FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS',
    "fragment start not after the previous fragment's last frame",
    false,
    false,
  ),
  [ErrorId.MoreThanOneTrackFound]: entry(
    'MORE_THAN_ONE_TRACK_FOUND',
    'more than one track (deprecated)',
    false,
    false,
  ),
  [ErrorId.InvalidMkvData]: entry('INVALID_MKV_DATA', 'the MKV cannot be parsed', false, false),
  [ErrorId.InvalidProducerTimestamp]: entry(
    'INVALID_PRODUCER_TIMESTAMP',
    'producer timestamp too far in the future',
    false,
    false,
  ),
  [ErrorId.StreamNotActive]: entry('STREAM_NOT_ACTIVE', 'the stream is not active', false, true),
  [ErrorId.FragmentMetadataLimitReached]: entry(
    'FRAGMENT_METADATA_LIMIT_REACHED',
    'too many or too large fragment metadata tags',
    false,
    false,
  ),
  [ErrorId.TrackNumberMismatch]: entry(
    'TRACK_NUMBER_MISMATCH',
    'a block names a track not declared in Tracks',
    false,
    false,
  ),
  [ErrorId.FramesMissingForTrack]: entry(
    'FRAMES_MISSING_FOR_TRACK',
    'a declared track has no frame in the fragment',
    false,
    false,
  ),
  [ErrorId.MoreThanAllowedTracksFound]: entry(
    'MORE_THAN_ALLOWED_TRACKS_FOUND',
    `more than ${KvsLimits.maxTracks} tracks`,
    false,
    false,
  ),
  [ErrorId.KmsKeyAccessDenied]: entry('KMS_KEY_ACCESS_DENIED', 'KMS key access denied', false, true),
  [ErrorId.KmsKeyDisabled]: entry('KMS_KEY_DISABLED', 'KMS key disabled', false, true),
  [ErrorId.KmsKeyValidationError]: entry('KMS_KEY_VALIDATION_ERROR', 'KMS key validation error', false, true),
  [ErrorId.KmsKeyUnavailable]: entry('KMS_KEY_UNAVAILABLE', 'KMS key unavailable', false, true),
  [ErrorId.KmsKeyInvalidUsage]: entry('KMS_KEY_INVALID_USAGE', 'KMS key invalid usage', false, true),
  [ErrorId.KmsKeyInvalidState]: entry('KMS_KEY_INVALID_STATE', 'KMS key in an invalid state', false, true),
  [ErrorId.KmsKeyNotFound]: entry('KMS_KEY_NOT_FOUND', 'KMS key not found', false, true),
  [ErrorId.StreamDeleted]: entry('STREAM_DELETED', 'the stream is being deleted', false, true),
  [ErrorId.InternalError]: entry('INTERNAL_ERROR', 'internal service error', true, true),
  [ErrorId.ArchivalError]: entry('ARCHIVAL_ERROR', 'the service failed to persist the fragment', true, true),
};

/** Unknown ErrorIds are retried, as PIC does (UNKNOWN_ACK_ERROR). */
export const errorIdInfo = (errorId: number): ErrorIdInfo =>
  KVS_ERROR_IDS[errorId] ?? entry(`UNKNOWN_ERROR_${errorId}`, `unknown ErrorId ${errorId}`, true, false);
