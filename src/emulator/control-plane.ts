/**
 * The KVS control plane of the local KVS (shared/docs/kvs-api.md §3–4): streams, their tags, their data
 * endpoint. Constraints are the botocore service model's (`kinesisvideo` 2017-09-30); semantics the service's
 * documented ones; where the spec marks a choice as the emulator's own [EMU], the choice is noted here.
 */
import { KvsLimits } from '../fragment/kvs-limits.js';
import { KvsServiceError, STREAM_NOT_FOUND_MESSAGE } from './emulator-errors.js';
import type { JsonRoute, OperationContext } from './emulator-routes.js';
import type { JsonObject, StringRule } from './input-validator.js';
import { InputValidator } from './input-validator.js';
import {
  RESOURCE_ARN,
  STREAM_NAME,
  findStreamByArn,
  readStreamReference,
  resolveStream,
  scopeOf,
} from './stream-reference.js';
import type { StorageTier, StreamRecord } from './stream-store.js';
import { STORAGE_TIERS, defaultKmsKeyIdFor } from './stream-store.js';

/** Data retention bounds: 0 (no archive) or 1..87,600 hours (10 years). */
export const MAX_DATA_RETENTION_HOURS = KvsLimits.maxDataRetentionHours;
/** Tags per stream or channel. */
export const MAX_TAGS_PER_RESOURCE = KvsLimits.maxTagsPerStream;
/** Default and maximum page size of ListStreams. */
export const MAX_LIST_STREAMS_RESULTS = 10_000;

/** Every APIName GetDataEndpoint accepts. */
export const DATA_ENDPOINT_API_NAMES = [
  'PUT_MEDIA',
  'GET_MEDIA',
  'LIST_FRAGMENTS',
  'GET_MEDIA_FOR_FRAGMENT_LIST',
  'GET_HLS_STREAMING_SESSION_URL',
  'GET_DASH_STREAMING_SESSION_URL',
  'GET_CLIP',
  'GET_IMAGES',
] as const;

// Constraints from the service model.
const DEVICE_NAME: StringRule = {
  minLength: 1,
  maxLength: 128,
  pattern: /^[a-zA-Z0-9_.-]+$/,
  patternText: '[a-zA-Z0-9_.-]+',
};
const MEDIA_TYPE: StringRule = {
  minLength: 1,
  maxLength: 128,
  pattern: /^[\w\-.+]+\/[\w\-.+]+(,[\w\-.+]+\/[\w\-.+]+)*$/,
  patternText: '[\\w\\-\\.\\+]+/[\\w\\-\\.\\+]+(,[\\w\\-\\.\\+]+/[\\w\\-\\.\\+]+)*',
};
const KMS_KEY_ID: StringRule = { minLength: 1, maxLength: 2048, pattern: /^.+$/s, patternText: '.+' };
const VERSION: StringRule = {
  minLength: 1,
  maxLength: 64,
  pattern: /^[a-zA-Z0-9]+$/,
  patternText: '[a-zA-Z0-9]+',
};
const NEXT_TOKEN: StringRule = {
  minLength: 0,
  maxLength: 1024,
  pattern: /^[a-zA-Z0-9+/=]*$/,
  patternText: '[a-zA-Z0-9+/=]*',
};
const TAG_KEY: StringRule = {
  minLength: 1,
  maxLength: 128,
  pattern: /^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$/u,
  patternText: '^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$',
};
const TAG_VALUE: StringRule = {
  minLength: 0,
  maxLength: 256,
  pattern: /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u,
  patternText: '[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*',
};
const RESOURCE_TAGS = { minEntries: 1, maxEntries: MAX_TAGS_PER_RESOURCE, key: TAG_KEY, value: TAG_VALUE };
const TAG_KEY_LIST = { minEntries: 1, maxEntries: MAX_TAGS_PER_RESOURCE, item: TAG_KEY };
/** The `aws:` tag-key prefix is reserved for AWS [EMU: AWS-wide tagging rule]. */
const RESERVED_TAG_PREFIX = 'aws:';

// ---------------------------------------------------------------------------------------------------------------
// Operations

const createStream = async (input: JsonObject, context: OperationContext): Promise<JsonObject> => {
  const v = new InputValidator(input);
  const streamName = v.requiredString('StreamName', STREAM_NAME);
  const deviceName = v.optionalString('DeviceName', DEVICE_NAME);
  const mediaType = v.optionalString('MediaType', MEDIA_TYPE);
  const kmsKeyId = v.optionalString('KmsKeyId', KMS_KEY_ID);
  const dataRetentionInHours = v.optionalInteger('DataRetentionInHours', {
    min: 0,
    max: MAX_DATA_RETENTION_HOURS,
  });
  const tags = v.stringMap('Tags', false, RESOURCE_TAGS);
  const storageTier = readStorageConfiguration(v, false);
  checkReservedTagKeys(v, 'Tags', Object.keys(tags ?? {}));
  v.finish();
  if (streamName === undefined) {
    throw new Error('unreachable: validated');
  }

  const scope = scopeOf(context);
  if (context.store.findByName(scope, streamName) !== undefined) {
    throw new KvsServiceError('ResourceInUseException', `The stream ${streamName} already exists.`);
  }
  if (context.store.countForAccount(context.accountId) >= context.store.maxStreamsPerAccount) {
    throw new KvsServiceError(
      'AccountStreamLimitExceededException',
      `The account has reached its limit of ${context.store.maxStreamsPerAccount} streams.`,
    );
  }
  const stream = await context.store.create(scope, {
    streamName,
    deviceName,
    mediaType,
    kmsKeyId: kmsKeyId ?? defaultKmsKeyIdFor(scope),
    dataRetentionInHours: dataRetentionInHours ?? 0,
    storageTier: storageTier ?? 'HOT',
    tags: tags ?? {},
  });
  return { StreamARN: stream.streamArn };
};

const describeStream = (input: JsonObject, context: OperationContext): Promise<JsonObject> => {
  const v = new InputValidator(input);
  const reference = readStreamReference(v);
  v.finish();
  const stream = resolveStream(context, reference, { isDeletingVisible: true });
  return Promise.resolve({ StreamInfo: streamInfo(stream) });
};

const listStreams = (input: JsonObject, context: OperationContext): Promise<JsonObject> => {
  const v = new InputValidator(input);
  const maxResults = v.optionalInteger('MaxResults', { min: 1, max: MAX_LIST_STREAMS_RESULTS });
  const nextToken = v.optionalString('NextToken', NEXT_TOKEN);
  const condition = v.structure('StreamNameCondition', false);
  let prefix: string | undefined;
  if (condition !== undefined) {
    condition.requiredString('ComparisonOperator', { values: ['BEGINS_WITH'] });
    prefix = condition.requiredString('ComparisonValue', STREAM_NAME);
  }
  v.finish();

  const afterSequence = nextToken === undefined || nextToken === '' ? 0 : decodeListToken(nextToken);
  const pageSize = maxResults ?? MAX_LIST_STREAMS_RESULTS;
  const matching = context.store
    .list(scopeOf(context))
    .filter(
      (stream) =>
        stream.sequence > afterSequence && (prefix === undefined || stream.streamName.startsWith(prefix)),
    );
  const page = matching.slice(0, pageSize);
  const last = page.at(-1);
  return Promise.resolve({
    StreamInfoList: page.map(streamInfo),
    ...(matching.length > pageSize && last !== undefined
      ? { NextToken: encodeListToken(last.sequence) }
      : {}),
  });
};

const deleteStream = async (input: JsonObject, context: OperationContext): Promise<JsonObject> => {
  const v = new InputValidator(input);
  const streamArn = v.requiredString('StreamARN', RESOURCE_ARN);
  const currentVersion = v.optionalString('CurrentVersion', VERSION);
  v.finish();
  const stream = resolveStream(context, { streamArn }, { isDeletingVisible: true });
  requireActive(stream);
  if (currentVersion !== undefined) {
    requireVersion(stream, currentVersion);
  }
  await context.store.delete(stream);
  return {};
};

const updateStream = async (input: JsonObject, context: ControlPlaneContext): Promise<JsonObject> => {
  const v = new InputValidator(input);
  const reference = readStreamReference(v);
  const currentVersion = v.requiredString('CurrentVersion', VERSION);
  const deviceName = v.optionalString('DeviceName', DEVICE_NAME);
  const mediaType = v.optionalString('MediaType', MEDIA_TYPE);
  v.finish();
  const stream = resolveStream(context, reference, { isDeletingVisible: false });
  requireActive(stream);
  requireVersion(stream, currentVersion ?? '');
  await context.store.update(stream, {
    ...(deviceName === undefined ? {} : { deviceName }),
    ...(mediaType === undefined ? {} : { mediaType }),
    transition: { status: 'UPDATING', durationMs: context.updatingDelayMs },
  });
  return {};
};

const updateDataRetention = async (input: JsonObject, context: OperationContext): Promise<JsonObject> => {
  const v = new InputValidator(input);
  const reference = readStreamReference(v);
  const currentVersion = v.requiredString('CurrentVersion', VERSION);
  const operation = v.requiredString('Operation', {
    values: ['INCREASE_DATA_RETENTION', 'DECREASE_DATA_RETENTION'],
  });
  const changeInHours = v.requiredInteger('DataRetentionChangeInHours', { min: 1 });
  v.finish();
  const stream = resolveStream(context, reference, { isDeletingVisible: false });
  requireActive(stream);
  requireVersion(stream, currentVersion ?? '');
  const delta = operation === 'INCREASE_DATA_RETENTION' ? (changeInHours ?? 0) : -(changeInHours ?? 0);
  const retention = stream.dataRetentionInHours + delta;
  if (retention < 0) {
    throw new KvsServiceError(
      'InvalidArgumentException',
      `The data retention cannot be decreased by ${changeInHours} hours: the stream's current retention is ${stream.dataRetentionInHours} hours.`,
    );
  }
  if (retention > MAX_DATA_RETENTION_HOURS) {
    throw new KvsServiceError(
      'InvalidArgumentException',
      `The data retention cannot be increased by ${changeInHours} hours: the stream's retention would be ${retention} hours, more than the maximum of ${MAX_DATA_RETENTION_HOURS}.`,
    );
  }
  // A decrease takes effect at once: the data plane drops fragments older than the new retention on 'updated'.
  await context.store.update(stream, { dataRetentionInHours: retention });
  return {};
};

const getDataEndpoint = (input: JsonObject, context: OperationContext): Promise<JsonObject> => {
  const v = new InputValidator(input);
  const reference = readStreamReference(v);
  v.requiredString('APIName', { values: DATA_ENDPOINT_API_NAMES });
  v.finish();
  const stream = resolveStream(context, reference, { isDeletingVisible: false });
  // [EMU] A stream still CREATING has no data endpoint yet: "not found or not active", as producers that skip
  // waiting for ACTIVE would see it.
  if (stream.status === 'CREATING') {
    throw new KvsServiceError('ResourceNotFoundException', STREAM_NOT_FOUND_MESSAGE);
  }
  return Promise.resolve({ DataEndpoint: context.dataEndpoint });
};

const tagStream = async (input: JsonObject, context: OperationContext): Promise<JsonObject> => {
  const v = new InputValidator(input);
  const reference = readStreamReference(v);
  const tags = v.stringMap('Tags', true, RESOURCE_TAGS);
  checkReservedTagKeys(v, 'Tags', Object.keys(tags ?? {}));
  v.finish();
  const stream = resolveStream(context, reference, { isDeletingVisible: false, isArnFormatChecked: true });
  await addTags(context, stream, tags ?? {});
  return {};
};

const untagStream = async (input: JsonObject, context: OperationContext): Promise<JsonObject> => {
  const v = new InputValidator(input);
  const reference = readStreamReference(v);
  const keys = v.stringList('TagKeyList', true, TAG_KEY_LIST);
  v.finish();
  const stream = resolveStream(context, reference, { isDeletingVisible: false, isArnFormatChecked: true });
  await removeTags(context, stream, keys ?? []);
  return {};
};

const listTagsForStream = (input: JsonObject, context: OperationContext): Promise<JsonObject> => {
  const v = new InputValidator(input);
  const reference = readStreamReference(v);
  const nextToken = v.optionalString('NextToken', NEXT_TOKEN);
  v.finish();
  rejectUnknownTagToken(nextToken);
  const stream = resolveStream(context, reference, { isDeletingVisible: false, isArnFormatChecked: true });
  // At most 50 tags: always one page, so no NextToken is ever issued.
  return Promise.resolve({ Tags: { ...stream.tags } });
};

const tagResource = async (input: JsonObject, context: OperationContext): Promise<JsonObject> => {
  const v = new InputValidator(input);
  const resourceArn = v.requiredString('ResourceARN', RESOURCE_ARN);
  const items = v.structureList('Tags', true, { minEntries: 1, maxEntries: MAX_TAGS_PER_RESOURCE }) ?? [];
  const tags: Record<string, string> = {};
  for (const item of items) {
    const key = item.requiredString('Key', TAG_KEY);
    const value = item.requiredString('Value', TAG_VALUE);
    if (key !== undefined && value !== undefined) {
      tags[key] = value;
    }
  }
  checkReservedTagKeys(v, 'Tags', Object.keys(tags));
  v.finish();
  const stream = resolveResource(context, resourceArn ?? '');
  await addTags(context, stream, tags);
  return {};
};

const untagResource = async (input: JsonObject, context: OperationContext): Promise<JsonObject> => {
  const v = new InputValidator(input);
  const resourceArn = v.requiredString('ResourceARN', RESOURCE_ARN);
  const keys = v.stringList('TagKeyList', true, TAG_KEY_LIST);
  v.finish();
  const stream = resolveResource(context, resourceArn ?? '');
  await removeTags(context, stream, keys ?? []);
  return {};
};

const listTagsForResource = (input: JsonObject, context: OperationContext): Promise<JsonObject> => {
  const v = new InputValidator(input);
  const resourceArn = v.requiredString('ResourceARN', RESOURCE_ARN);
  const nextToken = v.optionalString('NextToken', NEXT_TOKEN);
  v.finish();
  rejectUnknownTagToken(nextToken);
  const stream = resolveResource(context, resourceArn ?? '');
  return Promise.resolve({ Tags: { ...stream.tags } });
};

const describeStreamStorageConfiguration = (
  input: JsonObject,
  context: OperationContext,
): Promise<JsonObject> => {
  const v = new InputValidator(input);
  const reference = readStreamReference(v);
  v.finish();
  const stream = resolveStream(context, reference, { isDeletingVisible: false });
  return Promise.resolve({
    StreamName: stream.streamName,
    StreamARN: stream.streamArn,
    StreamStorageConfiguration: { DefaultStorageTier: stream.storageTier },
  });
};

const updateStreamStorageConfiguration = async (
  input: JsonObject,
  context: OperationContext,
): Promise<JsonObject> => {
  const v = new InputValidator(input);
  const reference = readStreamReference(v);
  const currentVersion = v.requiredString('CurrentVersion', VERSION);
  const storageTier = readStorageConfiguration(v, true);
  v.finish();
  const stream = resolveStream(context, reference, { isDeletingVisible: false });
  requireActive(stream);
  requireVersion(stream, currentVersion ?? '');
  await context.store.update(stream, storageTier === undefined ? {} : { storageTier });
  return {};
};

// ---------------------------------------------------------------------------------------------------------------
// The route table

/** Extra knobs the control plane reads from the server configuration. */
export type ControlPlaneContext = OperationContext & {
  /** How long UpdateStream leaves a stream UPDATING. */
  readonly updatingDelayMs: number;
};

type ControlOperation = (input: JsonObject, context: ControlPlaneContext) => Promise<JsonObject>;

const CONTROL_OPERATIONS: readonly (readonly [path: string, operation: string, handle: ControlOperation])[] =
  [
    ['/createStream', 'CreateStream', createStream],
    ['/describeStream', 'DescribeStream', describeStream],
    ['/listStreams', 'ListStreams', listStreams],
    ['/deleteStream', 'DeleteStream', deleteStream],
    ['/updateStream', 'UpdateStream', updateStream],
    ['/updateDataRetention', 'UpdateDataRetention', updateDataRetention],
    ['/getDataEndpoint', 'GetDataEndpoint', getDataEndpoint],
    ['/tagStream', 'TagStream', tagStream],
    ['/untagStream', 'UntagStream', untagStream],
    ['/listTagsForStream', 'ListTagsForStream', listTagsForStream],
    ['/TagResource', 'TagResource', tagResource],
    ['/UntagResource', 'UntagResource', untagResource],
    ['/ListTagsForResource', 'ListTagsForResource', listTagsForResource],
    [
      '/describeStreamStorageConfiguration',
      'DescribeStreamStorageConfiguration',
      describeStreamStorageConfiguration,
    ],
    [
      '/updateStreamStorageConfiguration',
      'UpdateStreamStorageConfiguration',
      updateStreamStorageConfiguration,
    ],
  ];

/** Names of the control-plane operations the local KVS implements (fault plans address them by these). */
export const CONTROL_PLANE_OPERATIONS: readonly string[] = CONTROL_OPERATIONS.map(
  ([, operation]) => operation,
);

/** The control plane's routes, keyed by path. */
export const controlPlaneRoutes = (options: { updatingDelayMs: number }): Map<string, JsonRoute> =>
  new Map(
    CONTROL_OPERATIONS.map(([path, operation, handle]) => [
      path,
      {
        kind: 'json',
        operation,
        plane: 'control',
        handle: (input, context) => handle(input, { ...context, updatingDelayMs: options.updatingDelayMs }),
      } satisfies JsonRoute,
    ]),
  );

// ---------------------------------------------------------------------------------------------------------------
// Helpers

const readStorageConfiguration = (v: InputValidator, isRequired: boolean): StorageTier | undefined => {
  const configuration = v.structure('StreamStorageConfiguration', isRequired);
  return configuration?.requiredString('DefaultStorageTier', { values: STORAGE_TIERS }) as
    StorageTier | undefined;
};

/** The generic tagging ops accept any KVS resource ARN; the local KVS has streams only (channels → 404). */
const resolveResource = (context: OperationContext, resourceArn: string): StreamRecord => {
  const stream = findStreamByArn(context, resourceArn);
  if (stream === undefined || stream.status === 'DELETING') {
    throw new KvsServiceError('ResourceNotFoundException', `The resource ${resourceArn} is not found.`);
  }
  return stream;
};

const requireActive = (stream: StreamRecord): void => {
  if (stream.status !== 'ACTIVE') {
    throw new KvsServiceError(
      'ResourceInUseException',
      `The stream ${stream.streamName} is ${stream.status}; this operation needs it to be ACTIVE.`,
    );
  }
};

const requireVersion = (stream: StreamRecord, currentVersion: string): void => {
  if (currentVersion !== stream.version) {
    throw new KvsServiceError(
      'VersionMismatchException',
      `The stream version ${currentVersion} does not match the current version ${stream.version}.`,
    );
  }
};

const checkReservedTagKeys = (v: InputValidator, member: string, keys: readonly string[]): void => {
  for (const key of keys) {
    if (key.toLowerCase().startsWith(RESERVED_TAG_PREFIX)) {
      v.addProblem(member, key, `Tag keys must not begin with the reserved prefix '${RESERVED_TAG_PREFIX}'`);
    }
  }
};

const addTags = async (
  context: OperationContext,
  stream: StreamRecord,
  tags: Readonly<Record<string, string>>,
): Promise<void> => {
  const merged = { ...stream.tags, ...tags };
  const count = Object.keys(merged).length;
  if (count > MAX_TAGS_PER_RESOURCE) {
    throw new KvsServiceError(
      'TagsPerResourceExceededLimitException',
      `A resource can have at most ${MAX_TAGS_PER_RESOURCE} tags; these tags would bring it to ${count}.`,
    );
  }
  await context.store.update(stream, { tags: merged, isVersioned: false });
};

const removeTags = async (
  context: OperationContext,
  stream: StreamRecord,
  keys: readonly string[],
): Promise<void> => {
  const remaining = Object.fromEntries(Object.entries(stream.tags).filter(([key]) => !keys.includes(key)));
  await context.store.update(stream, { tags: remaining, isVersioned: false });
};

const rejectUnknownTagToken = (nextToken: string | undefined): void => {
  if (nextToken !== undefined && nextToken !== '') {
    throw new KvsServiceError(
      'InvalidArgumentException',
      'The NextToken is not valid: this resource has a single page of tags.',
    );
  }
};

/** StreamInfo as the service returns it: epoch-second CreationTime, absent members omitted. */
const streamInfo = (stream: StreamRecord): JsonObject => ({
  ...(stream.deviceName === undefined ? {} : { DeviceName: stream.deviceName }),
  StreamName: stream.streamName,
  StreamARN: stream.streamArn,
  ...(stream.mediaType === undefined ? {} : { MediaType: stream.mediaType }),
  KmsKeyId: stream.kmsKeyId,
  Version: stream.version,
  Status: stream.status,
  CreationTime: stream.creationTimeMs / 1000,
  DataRetentionInHours: stream.dataRetentionInHours,
});

const LIST_TOKEN_PREFIX = 'kvs-local-streams:';

/** [EMU] ListStreams' NextToken: base64 of an opaque cursor (the last stream's creation order). */
const encodeListToken = (sequence: number): string =>
  Buffer.from(`${LIST_TOKEN_PREFIX}${sequence}`, 'utf8').toString('base64');

const decodeListToken = (token: string): number => {
  const text = Buffer.from(token, 'base64').toString('utf8');
  const sequence = text.startsWith(LIST_TOKEN_PREFIX)
    ? Number(text.slice(LIST_TOKEN_PREFIX.length))
    : Number.NaN;
  if (!Number.isSafeInteger(sequence) || sequence < 0) {
    throw new KvsServiceError('InvalidArgumentException', 'The NextToken is not valid.');
  }
  return sequence;
};
