/**
 * The PutMedia request headers (kvs-api.md §6.1), checked before anything is answered: `x-amzn-stream-name` or
 * `x-amzn-stream-arn` (one of them), `x-amzn-fragment-timecode-type` (ABSOLUTE | RELATIVE),
 * `x-amzn-producer-start-timestamp` (epoch seconds, a decimal; required for RELATIVE), and
 * `x-amzn-fragment-acknowledgment-required` (1 | 0, default 1).
 */
import type { IncomingMessage } from 'node:http';
import { KvsServiceError } from './emulator-errors.js';
import { stringIssues } from './input-validator.js';
import { RESOURCE_ARN, STREAM_NAME } from './stream-reference.js';

/** The PutMedia request headers, as validated. */
export type PutMediaHeaders = {
  streamName: string | undefined;
  streamArn: string | undefined;
  timecodeType: 'ABSOLUTE' | 'RELATIVE';
  /** x-amzn-producer-start-timestamp in epoch ms (0 when absent, which ABSOLUTE allows). */
  producerStartTimestampMs: number;
  isAckRequired: boolean;
};

/** Parses and checks the PutMedia headers (400 InvalidArgumentException listing every problem). */
export const parsePutMediaHeaders = (request: IncomingMessage): PutMediaHeaders => {
  const problems: string[] = [];
  const header = (name: string): string | undefined => {
    const value = request.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const streamName = header('x-amzn-stream-name');
  const streamArn = header('x-amzn-stream-arn');
  if ((streamName === undefined) === (streamArn === undefined)) {
    problems.push(
      'Exactly one of the headers x-amzn-stream-name and x-amzn-stream-arn must be given' +
        (streamName === undefined ? '' : ', not both'),
    );
  }
  for (const issue of streamName === undefined ? [] : stringIssues(streamName, STREAM_NAME)) {
    problems.push(`Value '${streamName}' at 'x-amzn-stream-name' failed to satisfy constraint: ${issue}`);
  }
  for (const issue of streamArn === undefined ? [] : stringIssues(streamArn, RESOURCE_ARN)) {
    problems.push(`Value '${streamArn}' at 'x-amzn-stream-arn' failed to satisfy constraint: ${issue}`);
  }
  const timecodeType = header('x-amzn-fragment-timecode-type');
  if (timecodeType !== 'ABSOLUTE' && timecodeType !== 'RELATIVE') {
    problems.push(
      `Value ${timecodeType === undefined ? 'null' : `'${timecodeType}'`} at 'x-amzn-fragment-timecode-type' ` +
        'failed to satisfy constraint: Member must satisfy enum value set: [ABSOLUTE, RELATIVE]',
    );
  }
  const startText = header('x-amzn-producer-start-timestamp');
  let producerStartTimestampMs = 0;
  if (startText === undefined) {
    if (timecodeType === 'RELATIVE') {
      problems.push(
        "Value null at 'x-amzn-producer-start-timestamp' failed to satisfy constraint: " +
          'Member must not be null with RELATIVE fragment timecodes',
      );
    }
  } else if (!/^\d{1,12}(\.\d{1,9})?$/.test(startText.trim())) {
    problems.push(
      `Value '${startText}' at 'x-amzn-producer-start-timestamp' failed to satisfy constraint: ` +
        'Member must be a timestamp in epoch seconds, such as 1663277247.152',
    );
  } else {
    // The C producer prints the millis unpadded (`%u.%u`); a float reading is what the service documents.
    producerStartTimestampMs = Math.round(Number(startText.trim()) * 1000);
  }
  const ackText = header('x-amzn-fragment-acknowledgment-required');
  if (ackText !== undefined && ackText !== '0' && ackText !== '1') {
    problems.push(
      `Value '${ackText}' at 'x-amzn-fragment-acknowledgment-required' failed to satisfy constraint: ` +
        'Member must satisfy enum value set: [0, 1]',
    );
  }
  if (problems.length > 0) {
    const count = problems.length;
    throw new KvsServiceError(
      'InvalidArgumentException',
      `${count} validation error${count === 1 ? '' : 's'} detected: ${problems.join('; ')}`,
    );
  }
  return {
    streamName,
    streamArn,
    timecodeType: timecodeType as 'ABSOLUTE' | 'RELATIVE',
    producerStartTimestampMs,
    isAckRequired: ackText !== '0',
  };
};
