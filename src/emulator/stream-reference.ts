/**
 * How a request names a stream, for every operation that takes one, control and data plane alike: the model's
 * StreamName and StreamARN rules, KVS ARNs, and the lookup of the stream named within the request's account and
 * region (kvs-api.md §3–§4).
 */
import { KvsServiceError, STREAM_NOT_FOUND_MESSAGE } from './emulator-errors.js';
import type { OperationContext } from './emulator-routes.js';
import type { InputValidator, StringRule } from './input-validator.js';
import type { StreamRecord, StreamScope } from './stream-store.js';

/** StreamName, as the service model constrains it. */
export const STREAM_NAME: StringRule = {
  minLength: 1,
  maxLength: 256,
  pattern: /^[a-zA-Z0-9_.-]+$/,
  patternText: '[a-zA-Z0-9_.-]+',
};
const RESOURCE_ARN_PATTERN =
  /^arn:([a-z\d-]+):kinesisvideo:([a-z0-9-]+):([0-9]+):([a-z]+)\/([a-zA-Z0-9_.-]+)\/([0-9]+)$/;
/** A KVS resource ARN (stream or channel), as the service model constrains it. */
export const RESOURCE_ARN: StringRule = {
  minLength: 1,
  maxLength: 1024,
  pattern: RESOURCE_ARN_PATTERN,
  patternText: 'arn:[a-z\\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+/[a-zA-Z0-9_.-]+/[0-9]+',
};
/** A parsed KVS resource ARN. */
export type KvsResourceArn = {
  partition: string;
  region: string;
  accountId: string;
  resourceType: string;
  name: string;
  creationTimeMs: number;
};

/** Parses a KVS resource ARN (stream or channel), or undefined when it does not match the model's pattern. */
export const parseKvsArn = (arn: string): KvsResourceArn | undefined => {
  const match = RESOURCE_ARN_PATTERN.exec(arn);
  if (match === null) {
    return undefined;
  }
  const [, partition = '', region = '', accountId = '', resourceType = '', name = '', creation = '0'] = match;
  return { partition, region, accountId, resourceType, name, creationTimeMs: Number(creation) };
};

/** How a request names a stream: StreamName and/or StreamARN. */
export type StreamReference = { streamName?: string | undefined; streamArn?: string | undefined };

export const scopeOf = (context: OperationContext): StreamScope => ({
  accountId: context.accountId,
  region: context.region,
});

/** Reads the optional StreamName / StreamARN members (validated against the model's patterns). */
export const readStreamReference = (v: InputValidator): StreamReference => ({
  streamName: v.optionalString('StreamName', STREAM_NAME),
  streamArn: v.optionalString('StreamARN', RESOURCE_ARN),
});

/**
 * Finds the stream a request names by StreamName and/or StreamARN ([EMU] rules of §4: one of them is needed;
 * both must name the same stream). Unknown → 404 with the service's text.
 * `isDeletingVisible`: whether a DELETING stream is still answered (DescribeStream, DeleteStream) or is
 * already "not found" (everything that would use its data). `isArnFormatChecked`: the stream tagging ops answer
 * InvalidResourceFormatException for a well-formed ARN of another resource type (a channel).
 */
export const resolveStream = (
  context: OperationContext,
  reference: StreamReference,
  options: { isDeletingVisible: boolean; isArnFormatChecked?: boolean },
): StreamRecord => {
  const { streamName, streamArn } = reference;
  if (streamName === undefined && streamArn === undefined) {
    throw new KvsServiceError(
      'InvalidArgumentException',
      'Either StreamName or StreamARN must be specified.',
    );
  }
  if (
    streamArn !== undefined &&
    options.isArnFormatChecked === true &&
    parseKvsArn(streamArn)?.resourceType !== 'stream'
  ) {
    throw new KvsServiceError(
      'InvalidResourceFormatException',
      `The resource ARN ${streamArn} is not a stream ARN.`,
    );
  }
  const byName =
    streamName === undefined ? undefined : context.store.findByName(scopeOf(context), streamName);
  const byArn = streamArn === undefined ? undefined : findStreamByArn(context, streamArn);
  if (
    streamName !== undefined &&
    streamArn !== undefined &&
    byName !== undefined &&
    byArn !== undefined &&
    byName !== byArn
  ) {
    throw new KvsServiceError(
      'InvalidArgumentException',
      `StreamName ${streamName} and StreamARN ${streamArn} do not name the same stream.`,
    );
  }
  const stream = streamArn !== undefined ? byArn : byName;
  if (stream === undefined || (streamName !== undefined && streamArn !== undefined && byName !== byArn)) {
    throw new KvsServiceError('ResourceNotFoundException', STREAM_NOT_FOUND_MESSAGE);
  }
  if (stream.status === 'DELETING' && !options.isDeletingVisible) {
    throw new KvsServiceError('ResourceNotFoundException', STREAM_NOT_FOUND_MESSAGE);
  }
  return stream;
};

/** A stream by ARN, only within the request's account and region (other regions are other services). */
export const findStreamByArn = (context: OperationContext, streamArn: string): StreamRecord | undefined => {
  const stream = context.store.findByArn(streamArn);
  return stream !== undefined && stream.accountId === context.accountId && stream.region === context.region
    ? stream
    : undefined;
};
