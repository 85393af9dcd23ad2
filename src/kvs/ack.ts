/**
 * The PutMedia acknowledgement vocabulary (kvs-api.md §6.2–6.3, producer-sdk.md §2.4), shared by the
 * uploader, the local KVS and `inspect`. Only types and data live here: no I/O.
 */

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

/** ErrorIds the service sends in ERROR acks, and how AWS's own producers treat each (PIC StreamEvent.c). */
export const KVS_ERROR_IDS: Readonly<Record<number, ErrorIdInfo>> = {
  4000: entry('STREAM_READ_ERROR', 'the service could not read the request body', true, true),
  4001: entry('MAX_FRAGMENT_SIZE_REACHED', 'fragment larger than 50 MB', false, false),
  4002: entry('MAX_FRAGMENT_DURATION_REACHED', 'fragment longer than 20 s', false, false),
  4003: entry('MAX_CONNECTION_DURATION_REACHED', 'connection open longer than 45 min', true, true),
  4004: entry(
    'FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS',
    "fragment start not after the previous fragment's last frame",
    false,
    false,
  ),
  4005: entry('MORE_THAN_ONE_TRACK_FOUND', 'more than one track (deprecated)', false, false),
  4006: entry('INVALID_MKV_DATA', 'the MKV cannot be parsed', false, false),
  4007: entry('INVALID_PRODUCER_TIMESTAMP', 'producer timestamp too far in the future', false, false),
  4008: entry('STREAM_NOT_ACTIVE', 'the stream is not active', false, true),
  4009: entry(
    'FRAGMENT_METADATA_LIMIT_REACHED',
    'too many or too large fragment metadata tags',
    false,
    false,
  ),
  4010: entry('TRACK_NUMBER_MISMATCH', 'a block names a track not declared in Tracks', false, false),
  4011: entry('FRAMES_MISSING_FOR_TRACK', 'a declared track has no frame in the fragment', false, false),
  4012: entry('MORE_THAN_ALLOWED_TRACKS_FOUND', 'more than 3 tracks', false, false),
  4500: entry('KMS_KEY_ACCESS_DENIED', 'KMS key access denied', false, true),
  4501: entry('KMS_KEY_DISABLED', 'KMS key disabled', false, true),
  4502: entry('KMS_KEY_VALIDATION_ERROR', 'KMS key validation error', false, true),
  4503: entry('KMS_KEY_UNAVAILABLE', 'KMS key unavailable', false, true),
  4504: entry('KMS_KEY_INVALID_USAGE', 'KMS key invalid usage', false, true),
  4505: entry('KMS_KEY_INVALID_STATE', 'KMS key in an invalid state', false, true),
  4506: entry('KMS_KEY_NOT_FOUND', 'KMS key not found', false, true),
  4507: entry('STREAM_DELETED', 'the stream is being deleted', false, true),
  5000: entry('INTERNAL_ERROR', 'internal service error', true, true),
  5001: entry('ARCHIVAL_ERROR', 'the service failed to persist the fragment', true, true),
};

/** Unknown ErrorIds are retried, as PIC does (UNKNOWN_ACK_ERROR). */
export const errorIdInfo = (errorId: number): ErrorIdInfo =>
  KVS_ERROR_IDS[errorId] ?? entry(`UNKNOWN_ERROR_${errorId}`, `unknown ErrorId ${errorId}`, true, false);
