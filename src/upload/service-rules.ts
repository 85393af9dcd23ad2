/**
 * Values the service (or the AWS SDK) would refuse, refused here before any call: the stream's ARN, the
 * region's shape, the endpoint URL, and what `create` sends (kvs-api.md §3, the service model's patterns).
 * The SDK checks none of them itself, and its refusals read as raw validation text, or as `TypeError:
 * Invalid URL`, or as an unreachable host.
 */
import { ErrorCode, KvsPutError } from '../errors.js';
import { KvsLimits } from '../fragment/kvs-limits.js';
import { REGION_PATTERN } from '../kvs/kvs-protocol.js';
import type { UploadOptions } from './upload-options.js';

/** The service model's stream ARN, with the `stream/` resource type (kvs-api.md §3). */
const STREAM_ARN = /^arn:[a-z\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:stream\/[a-zA-Z0-9_.-]{1,256}\/[0-9]+$/;
const MAX_ARN_CHARS = 1024;

/** The service's rule for stream ARNs, as messages state it. */
export const STREAM_ARN_RULE =
  'a stream ARN looks like arn:aws:kinesisvideo:REGION:ACCOUNT:stream/NAME/CREATION_MS';

export const isValidStreamArn = (arn: string): boolean => arn.length <= MAX_ARN_CHARS && STREAM_ARN.test(arn);

const MEDIA_TYPE = /^[\w\-.+]+\/[\w\-.+]+(,[\w\-.+]+\/[\w\-.+]+)*$/;
const MAX_MEDIA_TYPE_CHARS = 128;
const MAX_KMS_KEY_ID_CHARS = 2048;
const TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const MAX_TAG_KEY_CHARS = 128;
const MAX_TAG_VALUE_CHARS = 256;

/** The environment variables the SDK takes the control-plane endpoint from, in its order. */
const ENDPOINT_VARIABLES = ['AWS_ENDPOINT_URL_KINESIS_VIDEO', 'AWS_ENDPOINT_URL'] as const;

const usage = (message: string, context: Record<string, unknown>, suggestion?: string): KvsPutError =>
  new KvsPutError(ErrorCode.Usage, message, {
    context,
    ...(suggestion === undefined ? {} : { suggestion }),
  });

/** An http(s) URL with a host; anything else makes the SDK throw `TypeError: Invalid URL` or look up junk. */
const checkEndpointUrl = (value: string, name: string): void => {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw usage(
      `${name} takes an http:// or https:// URL, not ${JSON.stringify(value)}`,
      { [name]: value },
      'e.g. https://kinesisvideo.us-east-1.amazonaws.com, or http://127.0.0.1:4567 for a local KVS',
    );
  }
};

/**
 * The control-plane endpoint the SDK will use, and where it comes from: the option, else the first endpoint
 * variable that is set (unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS); `undefined` for the region's default.
 */
export const configuredEndpoint = (
  options: Pick<UploadOptions, 'endpointUrl'>,
  env: Readonly<Record<string, string | undefined>>,
): { url: string; name: string } | undefined => {
  if (options.endpointUrl !== undefined) {
    return { url: options.endpointUrl, name: '--endpoint-url' };
  }
  if (env['AWS_IGNORE_CONFIGURED_ENDPOINT_URLS'] === 'true') {
    return undefined;
  }
  for (const name of ENDPOINT_VARIABLES) {
    const url = env[name];
    if (url !== undefined && url !== '') {
      return { url, name };
    }
  }
  return undefined;
};

const checkRegion = (options: UploadOptions, env: Readonly<Record<string, string | undefined>>): void => {
  const [name, region] =
    options.region === undefined ? ['AWS_REGION', env['AWS_REGION']] : ['--region', options.region];
  if (region !== undefined && region !== '' && !REGION_PATTERN.test(region)) {
    throw usage(`${name} ${JSON.stringify(region)} is not a region name`, { region }, 'e.g. us-east-1');
  }
};

/** What `create` sends to CreateStream, checked as the service would (kvs-api.md §3–4.1). */
const checkCreateOptions = (options: UploadOptions): void => {
  const hours = options.retentionHours;
  if (hours !== undefined && !(Number.isInteger(hours) && hours <= KvsLimits.maxDataRetentionHours)) {
    throw usage(
      `--retention-hours takes 0 (no archive) to ${KvsLimits.maxDataRetentionHours} (10 years), not ${hours}`,
      { retentionHours: hours },
    );
  }
  const mediaType = options.mediaType;
  if (mediaType !== undefined && !(mediaType.length <= MAX_MEDIA_TYPE_CHARS && MEDIA_TYPE.test(mediaType))) {
    throw usage(
      `--media-type takes TYPE/SUBTYPE[,TYPE/SUBTYPE…] (≤ ${MAX_MEDIA_TYPE_CHARS} characters), not ${JSON.stringify(mediaType)}`,
      { mediaType },
      'e.g. video/h264,audio/aac',
    );
  }
  const kmsKeyId = options.kmsKeyId;
  if (kmsKeyId !== undefined && (kmsKeyId.length === 0 || kmsKeyId.length > MAX_KMS_KEY_ID_CHARS)) {
    throw usage(`--kms-key-id takes a key id, alias or ARN of 1–${MAX_KMS_KEY_ID_CHARS} characters`, {
      kmsKeyId,
    });
  }
  const tags = Object.entries(options.streamTags ?? {});
  if (tags.length > KvsLimits.maxTagsPerStream) {
    throw usage(`a stream takes at most ${KvsLimits.maxTagsPerStream} tags, not ${tags.length}`, {
      tags: tags.length,
    });
  }
  for (const [key, value] of tags) {
    const keyProblem =
      key.length === 0 || key.length > MAX_TAG_KEY_CHARS
        ? `1–${MAX_TAG_KEY_CHARS} characters`
        : key.toLowerCase().startsWith('aws:')
          ? 'not starting with aws: (reserved by AWS)'
          : !TAG_TEXT.test(key)
            ? 'letters, digits, spaces and _ . : / = + - @'
            : undefined;
    if (keyProblem !== undefined) {
      throw usage(`--stream-tag key ${JSON.stringify(key)}: tag keys are ${keyProblem}`, { key });
    }
    if (value.length > MAX_TAG_VALUE_CHARS || !TAG_TEXT.test(value)) {
      throw usage(
        `--stream-tag ${key}: tag values are 0–${MAX_TAG_VALUE_CHARS} letters, digits, spaces and _ . : / = + - @`,
        { key },
      );
    }
  }
};

/**
 * Refuses what the service would refuse, before any call: the stream named both ways or by a malformed ARN,
 * a malformed region or endpoint URL (the option's, else the environment's, named as such), and `create`
 * values outside the service's rules.
 */
export const checkServiceRules = (
  options: UploadOptions,
  env: Readonly<Record<string, string | undefined>>,
): void => {
  if (options.stream !== undefined && options.streamArn !== undefined) {
    throw usage('give --stream or --stream-arn, not both', {
      stream: options.stream,
      streamArn: options.streamArn,
    });
  }
  if (options.streamArn !== undefined && !isValidStreamArn(options.streamArn)) {
    throw usage(`--stream-arn ${JSON.stringify(options.streamArn)}: ${STREAM_ARN_RULE}`, {
      streamArn: options.streamArn,
    });
  }
  const endpoint = configuredEndpoint(options, env);
  if (endpoint !== undefined) {
    checkEndpointUrl(endpoint.url, endpoint.name);
  }
  checkRegion(options, env);
  checkCreateOptions(options);
};
