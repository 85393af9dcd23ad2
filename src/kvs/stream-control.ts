/**
 * The control plane as kvs-put uses it (through the real AWS SDK client): make sure the stream exists and
 * is ACTIVE (creating it on request), and find its PUT_MEDIA data endpoint, cached for 40 minutes as AWS's
 * producers do (producer-sdk.md §3.7). ClientLimitExceededException is not retried by the SDK, so it is
 * retried here with backoff.
 */
import {
  APIName,
  ClientLimitExceededException,
  CreateStreamCommand,
  DescribeStreamCommand,
  GetDataEndpointCommand,
  KinesisVideoClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis-video';
import type { StreamInfo } from '@aws-sdk/client-kinesis-video';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { ErrorCode, KvsPutError } from '../errors.js';
import { DEFAULT_BACKOFF } from './retry-policy.js';
import { backoffDelayMs } from '../util/backoff.js';
import { sleep, systemClock } from '../util/clock.js';

export type StreamRef = { streamName?: string; streamArn?: string };

export type CreateStreamOptions = {
  retentionHours?: number;
  mediaType?: string;
  kmsKeyId?: string;
  tags?: Record<string, string>;
};

export type StreamControlOptions = {
  region?: string;
  /** Shared config profile: its region (and settings) apply when no region is given. */
  profile?: string;
  endpoint?: string;
  credentials: AwsCredentialIdentityProvider;
  signal?: AbortSignal;
};

/** A control-plane call's connect and whole-request limits (the SDK retries a timeout twice). */
export const CONTROL_CONNECT_TIMEOUT_MS = 10_000;
export const CONTROL_REQUEST_TIMEOUT_MS = 10_000;

/** How long a data endpoint is reused (PIC: 40 min). */
export const DATA_ENDPOINT_TTL_MS = 40 * 60_000;

const CREDENTIAL_ERRORS: ReadonlySet<string> = new Set([
  'CredentialsProviderError',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'NotAuthorizedException',
  'AccessDeniedException',
  'ExpiredTokenException',
  'MissingAuthenticationTokenException',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
]);

/** Where a call went: the endpoint given, else the region whose default endpoint the SDK used. */
export type CallTarget = { endpoint?: string | undefined; region?: string | undefined };

/** Connection failures before any answer, as Node names them: the endpoint is unreachable, not failing. */
const NETWORK_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'DNS lookup failed',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPROTO: 'TLS handshake failed',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'its TLS certificate chain is self-signed',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its TLS certificate cannot be verified',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its TLS certificate is for another host',
};

/**
 * An unreachable endpoint as one sentence: which URL, why, and the hint that leads somewhere (a plain-http
 * server behind https://, a region without an endpoint, a wrong URL). `undefined` when it is not one.
 */
const networkError = (error: unknown, what: string, target: CallTarget): KvsPutError | undefined => {
  const code = (error as { code?: unknown }).code;
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : '';
  // The SDK's own timeouts (CONTROL_*_TIMEOUT_MS) are TimeoutErrors, told apart by their text; it also
  // renames socket errors such as ECONNRESET TimeoutError, keeping their code.
  const isSdkTimeout = name === 'TimeoutError';
  const reason =
    isSdkTimeout && /establish a connection/.test(message)
      ? 'connection timed out'
      : isSdkTimeout && /requestTimeout/.test(message)
        ? `no answer within ${CONTROL_REQUEST_TIMEOUT_MS / 1000} s`
        : typeof code === 'string'
          ? NETWORK_REASONS[code]
          : undefined;
  if (reason === undefined) {
    return undefined;
  }
  const url =
    target.endpoint ??
    (target.region === undefined ? 'the endpoint' : `https://kinesisvideo.${target.region}.amazonaws.com`);
  const options = { cause: error, context: { endpoint: url, code } };
  // OpenSSL reads a plain-http answer as a TLS record of a "wrong version number".
  if (url.startsWith('https://') && /wrong version number|packet length too long/.test(message)) {
    return new KvsPutError(ErrorCode.Network, `${what}: the endpoint ${url} speaks http, not https`, {
      ...options,
      suggestion: `use ${url.replace(/^https:/, 'http:')}`,
    });
  }
  const isRegionDefault = target.endpoint === undefined && target.region !== undefined;
  return new KvsPutError(ErrorCode.Network, `${what}: cannot reach ${url}: ${reason}`, {
    ...options,
    suggestion:
      isRegionDefault && (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
        ? `is ${target.region} a region? e.g. us-east-1`
        : target.endpoint === undefined
          ? 'check the network (and a proxy or firewall on the way)'
          : 'check --endpoint-url / AWS_ENDPOINT_URL_KINESIS_VIDEO and that the endpoint is running',
  });
};

/** What the credential refusals whose service text says little mean, and what to do about them. */
const CREDENTIAL_SENTENCES: Readonly<Record<string, { message: string; suggestion: string }>> = {
  UnrecognizedClientException: {
    message: 'the service does not know this access key, or its session token',
    suggestion: 'check AWS_ACCESS_KEY_ID and AWS_SESSION_TOKEN (temporary credentials expire) or --profile',
  },
  InvalidClientTokenId: {
    message: 'the service does not know this access key, or its session token',
    suggestion: 'check AWS_ACCESS_KEY_ID and AWS_SESSION_TOKEN (temporary credentials expire) or --profile',
  },
  ExpiredTokenException: {
    message: 'the session token has expired',
    suggestion: 'get new temporary credentials (aws sso login, or assume the role again)',
  },
};

/** Translates an SDK failure into kvs-put's error model (one line, exit code by kind). */
export const toKvsError = (error: unknown, what: string, target: CallTarget = {}): KvsPutError => {
  if (error instanceof KvsPutError) {
    return error;
  }
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  if (CREDENTIAL_ERRORS.has(name)) {
    const said = CREDENTIAL_SENTENCES[name];
    return new KvsPutError(ErrorCode.Credentials, `${what}: ${name}: ${said?.message ?? message}`, {
      cause: error,
      suggestion:
        said?.suggestion ??
        'check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, --profile, or the clock of this machine',
    });
  }
  if (error instanceof ResourceNotFoundException) {
    return new KvsPutError(ErrorCode.StreamNotFound, `${what}: ${message}`, { cause: error });
  }
  return (
    networkError(error, what, target) ??
    new KvsPutError(ErrorCode.Upload, `${what}: ${name}: ${message}`, { cause: error })
  );
};

export class StreamControl {
  public readonly client: KinesisVideoClient;
  private readonly signal: AbortSignal | undefined;
  private readonly endpoint: string | undefined;
  private endpointCache: { url: string; expiresAtMs: number } | undefined;

  public constructor(options: StreamControlOptions) {
    this.client = new KinesisVideoClient({
      ...(options.region === undefined ? {} : { region: options.region }),
      ...(options.profile === undefined ? {} : { profile: options.profile }),
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      credentials: options.credentials,
      // The SDK waits for ever by default: an endpoint that accepts and never answers would hang the run.
      requestHandler: {
        connectionTimeout: CONTROL_CONNECT_TIMEOUT_MS,
        requestTimeout: CONTROL_REQUEST_TIMEOUT_MS,
        throwOnRequestTimeout: true,
      },
    });
    this.signal = options.signal;
    this.endpoint = options.endpoint;
  }

  /** Where calls go, for messages: the endpoint given, or the region (whose default endpoint is used). */
  public async target(): Promise<CallTarget> {
    const region = await this.client.config.region().catch(() => undefined);
    return { endpoint: this.endpoint, region };
  }

  /** The region the client resolved (flag, AWS_REGION, or the profile). */
  public async region(): Promise<string> {
    try {
      return await this.client.config.region();
    } catch (error) {
      throw new KvsPutError(ErrorCode.Usage, 'no AWS region: give --region or set AWS_REGION', {
        cause: error,
      });
    }
  }

  /** DescribeStream; with `create`, a missing stream is created and awaited until ACTIVE. */
  public async ensureStream(
    ref: StreamRef,
    create?: CreateStreamOptions,
    waitActiveMs = 120_000,
  ): Promise<StreamInfo> {
    let info = await this.describe(ref);
    if (info === undefined) {
      const name = ref.streamName ?? '';
      if (create === undefined || ref.streamName === undefined) {
        throw new KvsPutError(
          ErrorCode.StreamNotFound,
          `stream ${ref.streamName ?? ref.streamArn ?? ''} not found`,
          {
            suggestion: ref.streamName === undefined ? undefined : 'add --create to create it',
          },
        );
      }
      await this.call('CreateStream', () =>
        this.client.send(
          new CreateStreamCommand({
            StreamName: name,
            DataRetentionInHours: create.retentionHours ?? 0,
            ...(create.mediaType === undefined ? {} : { MediaType: create.mediaType }),
            ...(create.kmsKeyId === undefined ? {} : { KmsKeyId: create.kmsKeyId }),
            ...(create.tags === undefined ? {} : { Tags: create.tags }),
          }),
        ),
      );
      info = await this.describe(ref);
    }
    const deadline = Date.now() + waitActiveMs;
    while (info?.Status !== 'ACTIVE') {
      if (info === undefined || info.Status === 'DELETING') {
        throw new KvsPutError(
          ErrorCode.StreamNotFound,
          `stream ${ref.streamName ?? ref.streamArn ?? ''} is being deleted`,
        );
      }
      if (Date.now() > deadline) {
        throw new KvsPutError(
          ErrorCode.Upload,
          `stream ${info.StreamName ?? ''} is still ${info.Status ?? '?'} after ${waitActiveMs / 1000} s`,
        );
      }
      await sleep(systemClock, 500, this.signal);
      info = await this.describe(ref);
    }
    return info;
  }

  /** The PUT_MEDIA (or other) data endpoint, cached for {@link DATA_ENDPOINT_TTL_MS}. */
  public async dataEndpoint(ref: StreamRef, apiName: APIName = APIName.PUT_MEDIA): Promise<string> {
    const cached = this.endpointCache;
    if (apiName === APIName.PUT_MEDIA && cached !== undefined && cached.expiresAtMs > Date.now()) {
      return cached.url;
    }
    const output = await this.call('GetDataEndpoint', () =>
      this.client.send(
        new GetDataEndpointCommand({
          APIName: apiName,
          ...(ref.streamArn === undefined ? { StreamName: ref.streamName } : { StreamARN: ref.streamArn }),
        }),
      ),
    );
    const url = output.DataEndpoint;
    if (url === undefined) {
      throw new KvsPutError(ErrorCode.Upload, 'GetDataEndpoint returned no endpoint');
    }
    if (apiName === APIName.PUT_MEDIA) {
      this.endpointCache = { url, expiresAtMs: Date.now() + DATA_ENDPOINT_TTL_MS };
    }
    return url;
  }

  /** Drops the cached data endpoint (after a connection or 4xx/5xx failure). */
  public invalidateEndpoint(): void {
    this.endpointCache = undefined;
  }

  private async describe(ref: StreamRef): Promise<StreamInfo | undefined> {
    try {
      const output = await this.call('DescribeStream', () =>
        this.client.send(
          new DescribeStreamCommand(
            ref.streamArn === undefined ? { StreamName: ref.streamName } : { StreamARN: ref.streamArn },
          ),
        ),
      );
      return output.StreamInfo;
    } catch (error) {
      if (error instanceof KvsPutError && error.code === ErrorCode.StreamNotFound) {
        return undefined;
      }
      throw error;
    }
  }

  /** One control-plane call, with backoff on ClientLimitExceededException (which the SDK does not retry). */
  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await send();
      } catch (error) {
        if (error instanceof ClientLimitExceededException && attempt < 6) {
          await sleep(systemClock, backoffDelayMs(DEFAULT_BACKOFF, attempt), this.signal);
          continue;
        }
        throw toKvsError(error, what, await this.target());
      }
    }
  }

  public destroy(): void {
    this.client.destroy();
  }
}
