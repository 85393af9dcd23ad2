/**
 * What a caller passes to `upload()` — the `put` command's flags in camelCase — and the one place they are
 * defaulted and checked.
 */
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { ErrorCode, KvsPutError } from '../errors.js';
import { KvsLimits } from '../fragment/kvs-limits.js';
import type { BackoffPolicy } from '../util/backoff.js';
import { DEFAULT_BACKOFF } from '../kvs/retry-policy.js';
import { checkServiceRules } from './service-rules.js';

export type UploadOptions = {
  /** The stream's name; or give `streamArn`. */
  stream?: string;
  streamArn?: string;
  /** @default AWS_REGION, then the profile's region */
  region?: string;
  /** The control-plane endpoint. @default AWS_ENDPOINT_URL_KINESIS_VIDEO, then AWS_ENDPOINT_URL */
  endpointUrl?: string;
  /** A shared config/credentials profile. */
  profile?: string;
  /**
   * Credentials, or a provider of them (any AWS SDK credential provider), resolved again for every new
   * connection. @default the standard AWS chain (environment, shared files, SSO, process, web identity, ECS, IMDS)
   */
  credentials?: AwsCredentialIdentityProvider | AwsCredentialIdentity;
  /** Create the stream when it does not exist, and wait until it is ACTIVE. @default false */
  create?: boolean;
  /** Retention of a stream made by `create`, in hours (0: no archive). @default 0 */
  retentionHours?: number;
  /** Media type of a stream made by `create`, e.g. `video/h264,audio/aac`. */
  mediaType?: string;
  /** KMS key of a stream made by `create`. */
  kmsKeyId?: string;
  /** Tags of a stream made by `create`. */
  streamTags?: Readonly<Record<string, string>>;
  /** Shortest fragment, in ms: key frames closer than this do not start a new one. */
  minFragmentDuration?: number;
  /** Upload pacing in MiB/s; 0 turns it off. @default UPLOAD_DEFAULTS.maxRateMiBps (the per-stream limit) */
  maxRate?: number;
  /** Fragments per second; 0 turns it off. @default UPLOAD_DEFAULTS.maxFragmentRate (the per-stream limit) */
  maxFragmentRate?: number;
  /** Failed connections in a row before giving up. @default 8 for recordings; live sources never give up */
  maxRetries?: number;
  /** Fragments held in memory, unsent and unacknowledged, in MiB. @default 16 for recordings, 64 for live */
  bufferMb?: number;
  /** No ack for this long while fragments are in flight means a stale connection, in ms. @default 20 000 */
  stalenessTimeout?: number;
  /** On stop, how long to wait for the acks of what was sent, in ms. @default 10 000 */
  stopTimeout?: number;
  /** Live sources: a `stats` event every so many seconds; 0 for none. @default 60 */
  statsInterval?: number;
  /** Live sources: stop after this many seconds. @default run until stopped */
  duration?: number;
  /** Keep the exact bytes of each PutMedia session in this folder. */
  dumpDir?: string;
  /** Read the upload back with GetMedia and compare fragment counts (a `verify` event). @default false */
  verify?: boolean;
  /** Stops the upload as `stop()` does. */
  signal?: AbortSignal;
  /** Start a new connection (make-before-break) after this long, in ms. @default 40 minutes */
  rotateAfter?: number;
  /** The first reconnect delay, in ms (the backoff doubles it up to 16 times that). @default 1000 */
  retryDelay?: number;
  /** Where relative paths are resolved. @default process.cwd() */
  cwd?: string;
  /**
   * Where FFMPEG_PATH, the cache folder and the AWS variables kvs-put checks before a call come from (the AWS SDK
   * itself reads process.env). @default process.env
   */
  env?: Readonly<Record<string, string | undefined>>;
};

/** The options that are numbers (they must not be negative). */
const NUMBER_OPTIONS = [
  'retentionHours',
  'minFragmentDuration',
  'maxRate',
  'maxFragmentRate',
  'maxRetries',
  'bufferMb',
  'stalenessTimeout',
  'stopTimeout',
  'statsInterval',
  'duration',
  'rotateAfter',
  'retryDelay',
] as const satisfies readonly (keyof UploadOptions)[];

/** The options that are the `put` command's flags under the same name, in camelCase. */
export const FLAG_OPTIONS = [
  'stream',
  'streamArn',
  'region',
  'endpointUrl',
  'profile',
  'create',
  'mediaType',
  'kmsKeyId',
  'dumpDir',
  'verify',
  ...NUMBER_OPTIONS,
] as const satisfies readonly (keyof UploadOptions)[];

/** The defaults of {@link UploadOptions}: shown by `--help`, applied by {@link resolveUploadConfig}. */
export const UPLOAD_DEFAULTS = {
  // The service's limit in MiB/s, rounded down to 2 decimals: `--help` shows it, and pacing stays within it.
  maxRateMiBps: Math.floor((KvsLimits.maxBytesPerSecond / (1024 * 1024)) * 100) / 100,
  maxFragmentRate: KvsLimits.maxFragmentsPerSecond,
  fileMaxRetries: 8,
  fileBufferMb: 16,
  liveBufferMb: 64,
  stalenessTimeoutMs: 20_000,
  stopTimeoutMs: 10_000,
  statsIntervalS: 60,
} as const;

/** Resolved {@link UploadOptions} for one kind of source. */
export type UploadConfig = {
  readonly maxAttempts: number;
  readonly maxBufferBytes: number;
  readonly maxBytesPerSecond: number;
  readonly maxFragmentsPerSecond: number;
  readonly stalenessMs: number;
  readonly stopTimeoutMs: number;
  readonly statsIntervalMs: number;
  readonly backoff: BackoffPolicy;
};

const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,256}$/;

/** The service's rule for stream names. */
export const STREAM_NAME_RULE = 'stream names are 1–256 characters of a-z, A-Z, 0-9, _ . -';

export const isValidStreamName = (name: string): boolean => STREAM_NAME.test(name);

const checkNonNegative = (name: string, value: number | undefined): void => {
  if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
    throw new KvsPutError(ErrorCode.Usage, `options.${name}, when given, must be a non-negative number`, {
      context: { [name]: value },
    });
  }
};

/** An upload names its stream, by name or ARN. */
export const checkStreamRef = (options: Pick<UploadOptions, 'stream' | 'streamArn'>): void => {
  if (options.stream === undefined && options.streamArn === undefined) {
    throw new KvsPutError(ErrorCode.Usage, 'no stream: give --stream NAME (or --stream-arn ARN)');
  }
};

/**
 * Defaults and checks the options. A live source needs room to ride out an outage and never gives up on
 * the network unless `maxRetries` is given; a recording holds only its acknowledgement window.
 */
export const resolveUploadConfig = (options: UploadOptions, isLive: boolean): UploadConfig => {
  checkStreamRef(options);
  if (options.stream !== undefined && !STREAM_NAME.test(options.stream)) {
    throw new KvsPutError(ErrorCode.Usage, STREAM_NAME_RULE, {
      context: { stream: options.stream },
    });
  }
  for (const name of NUMBER_OPTIONS) {
    checkNonNegative(name, options[name]);
  }
  checkServiceRules(options, options.env ?? process.env);
  const bufferMb = options.bufferMb ?? (isLive ? UPLOAD_DEFAULTS.liveBufferMb : UPLOAD_DEFAULTS.fileBufferMb);
  return {
    maxAttempts: options.maxRetries ?? (isLive ? Infinity : UPLOAD_DEFAULTS.fileMaxRetries),
    maxBufferBytes: bufferMb * 1024 * 1024,
    maxBytesPerSecond: (options.maxRate ?? UPLOAD_DEFAULTS.maxRateMiBps) * 1024 * 1024,
    maxFragmentsPerSecond: options.maxFragmentRate ?? UPLOAD_DEFAULTS.maxFragmentRate,
    stalenessMs: options.stalenessTimeout ?? UPLOAD_DEFAULTS.stalenessTimeoutMs,
    stopTimeoutMs: options.stopTimeout ?? UPLOAD_DEFAULTS.stopTimeoutMs,
    statsIntervalMs: (options.statsInterval ?? UPLOAD_DEFAULTS.statsIntervalS) * 1000,
    backoff:
      options.retryDelay === undefined
        ? DEFAULT_BACKOFF
        : { ...DEFAULT_BACKOFF, initialDelayMs: options.retryDelay, maxDelayMs: options.retryDelay * 16 },
  };
};
