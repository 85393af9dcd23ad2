/**
 * The PutMedia request headers (kvs-api.md §6.1; their names and values are in kvs/kvs-protocol.ts), checked
 * before anything is answered: the stream by name or by ARN (one of them), the fragment timecode type, the
 * producer start timestamp (epoch seconds, a decimal; required for RELATIVE timecodes), and whether acks are
 * required (1 | 0, default 1).
 */
import type { IncomingMessage } from 'node:http';
import type { FragmentTimecodeType } from '../kvs/kvs-protocol.js';
import { FRAGMENT_TIMECODE_TYPES, PutMediaHeader } from '../kvs/kvs-protocol.js';
import { KvsServiceError } from './emulator-errors.js';
import { stringIssues } from './input-validator.js';
import { RESOURCE_ARN, STREAM_NAME } from './stream-reference.js';

/** The PutMedia request headers, as validated. */
export type PutMediaHeaders = {
  streamName: string | undefined;
  streamArn: string | undefined;
  timecodeType: FragmentTimecodeType;
  /** x-amzn-producer-start-timestamp in epoch ms (0 when absent, which ABSOLUTE allows). */
  producerStartTimestampMs: number;
  isAckRequired: boolean;
};

const TIMECODE_TYPES: readonly string[] = Object.values(FRAGMENT_TIMECODE_TYPES);
const isTimecodeType = (value: string | undefined): value is FragmentTimecodeType =>
  value !== undefined && TIMECODE_TYPES.includes(value);

/** Parses and checks the PutMedia headers (400 InvalidArgumentException listing every problem). */
export const parsePutMediaHeaders = (request: IncomingMessage): PutMediaHeaders => {
  const problems: string[] = [];
  const header = (name: string): string | undefined => {
    const value = request.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const streamName = header(PutMediaHeader.StreamName);
  const streamArn = header(PutMediaHeader.StreamArn);
  if ((streamName === undefined) === (streamArn === undefined)) {
    problems.push(
      `Exactly one of the headers ${PutMediaHeader.StreamName} and ${PutMediaHeader.StreamArn} must be given` +
        (streamName === undefined ? '' : ', not both'),
    );
  }
  for (const issue of streamName === undefined ? [] : stringIssues(streamName, STREAM_NAME)) {
    problems.push(
      `Value '${streamName}' at '${PutMediaHeader.StreamName}' failed to satisfy constraint: ${issue}`,
    );
  }
  for (const issue of streamArn === undefined ? [] : stringIssues(streamArn, RESOURCE_ARN)) {
    problems.push(
      `Value '${streamArn}' at '${PutMediaHeader.StreamArn}' failed to satisfy constraint: ${issue}`,
    );
  }
  const timecodeType = header(PutMediaHeader.FragmentTimecodeType);
  if (!isTimecodeType(timecodeType)) {
    problems.push(
      `Value ${timecodeType === undefined ? 'null' : `'${timecodeType}'`} at '${PutMediaHeader.FragmentTimecodeType}' ` +
        `failed to satisfy constraint: Member must satisfy enum value set: [${TIMECODE_TYPES.join(', ')}]`,
    );
  }
  const startText = header(PutMediaHeader.ProducerStartTimestamp);
  let producerStartTimestampMs = 0;
  if (startText === undefined) {
    if (timecodeType === FRAGMENT_TIMECODE_TYPES.relative) {
      problems.push(
        `Value null at '${PutMediaHeader.ProducerStartTimestamp}' failed to satisfy constraint: ` +
          `Member must not be null with ${FRAGMENT_TIMECODE_TYPES.relative} fragment timecodes`,
      );
    }
  } else if (!/^\d{1,12}(\.\d{1,9})?$/.test(startText.trim())) {
    problems.push(
      `Value '${startText}' at '${PutMediaHeader.ProducerStartTimestamp}' failed to satisfy constraint: ` +
        'Member must be a timestamp in epoch seconds, such as 1663277247.152',
    );
  } else {
    // The C producer prints the millis unpadded (`%u.%u`); a float reading is what the service documents.
    producerStartTimestampMs = Math.round(Number(startText.trim()) * 1000);
  }
  const ackText = header(PutMediaHeader.FragmentAcknowledgmentRequired);
  if (ackText !== undefined && ackText !== '0' && ackText !== '1') {
    problems.push(
      `Value '${ackText}' at '${PutMediaHeader.FragmentAcknowledgmentRequired}' failed to satisfy constraint: ` +
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
    timecodeType: timecodeType as FragmentTimecodeType,
    producerStartTimestampMs,
    isAckRequired: ackText !== '0',
  };
};
