/**
 * The one error model of kvs-put. Every error a user can see is a {@link KvsPutError} with a stable
 * `code` (part of the CLI contract, like commander's `commander.unknownOption`), the values involved in
 * `context`, an optional `suggestion`, and the ES2022 `cause`. Domain subclasses live next to their domain
 * and build their own message from required fields.
 */
export const ErrorCode = {
  Usage: 'KVS_USAGE',
  Config: 'KVS_CONFIG',
  MkvParse: 'KVS_MKV_PARSE',
  MkvUnsupported: 'KVS_MKV_UNSUPPORTED',
  Fragment: 'KVS_FRAGMENT',
  Io: 'KVS_IO',
  /** ffmpeg missing, not runnable, or failed (src/capture). */
  Capture: 'KVS_CAPTURE',
  Credentials: 'KVS_CREDENTIALS',
  StreamNotFound: 'KVS_STREAM_NOT_FOUND',
  /** The endpoint could not be reached before anything was sent (DNS, connection refused, TLS, timeout). */
  Network: 'KVS_NETWORK',
  Upload: 'KVS_UPLOAD',
  /** Another kvs-put process holds what this one needs (a spool directory). */
  Busy: 'KVS_BUSY',
  Interrupted: 'KVS_INTERRUPTED',
  Internal: 'KVS_INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export type KvsPutErrorOptions = {
  /** Values that explain the failure (offsets, ids, paths). Never secrets. */
  context?: Readonly<Record<string, unknown>>;
  /** One sentence telling the user what to do about it. */
  suggestion?: string;
  cause?: unknown;
};

export class KvsPutError extends Error {
  public readonly code: ErrorCode;
  public readonly context: Readonly<Record<string, unknown>>;
  public readonly suggestion: string | undefined;

  public constructor(code: ErrorCode, message: string, options: KvsPutErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KvsPutError';
    this.code = code;
    this.context = options.context ?? {};
    this.suggestion = options.suggestion;
  }

  public toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      context: this.context,
      suggestion: this.suggestion,
    };
  }
}
