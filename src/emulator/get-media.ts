/**
 * GetMedia on the local KVS (kvs-api.md §8): `POST /getMedia` with a JSON body, answered by a `video/webm` stream of
 * chunks, one per fragment in fragment-number order, laid out as the real captures are (see kvs-chunk.ts). The
 * answer keeps following the stream while fragments keep arriving (the live tail) and ends after
 * `getMediaIdleTimeoutMs` without a new one.
 *
 * Start selectors: `NOW` (fragments stored after the call), `EARLIEST` (the oldest readable: the archive, or the
 * retention-0 buffer), `FRAGMENT_NUMBER` and `CONTINUATION_TOKEN` (the fragment after the one named; a number the
 * stream does not hold, e.g. expired, starts at the next larger one), `SERVER_TIMESTAMP` and `PRODUCER_TIMESTAMP`
 * (the first fragment, in number order, whose span contains the time; else the first that starts after it; else
 * the live tail). [EMU] Errors after the 200 (a stream deleted mid-answer) end the answer; no error chunk is sent.
 */
import type { ServerResponse } from 'node:http';
import { KvsLimits } from '../fragment/kvs-limits.js';
import type { DataPlane } from './data-plane.js';
import { startStreamedAnswer } from './emulator-http.js';
import { KvsServiceError } from './emulator-errors.js';
import type { OperationContext, StreamingExchange, StreamingRoute } from './emulator-routes.js';
import type { StringRule } from './input-validator.js';
import { InputValidator } from './input-validator.js';
import { chunkTailTags } from './kvs-chunk.js';
import { writeFragment, writeOrWait } from './media-answer.js';
import type { StoredFragment } from './media-store.js';
import { readStreamReference, resolveStream } from './stream-reference.js';
import type { StreamRecord } from './stream-store.js';

/** GetMedia's StartSelectorType values (model enum). */
export const START_SELECTOR_TYPES = [
  'FRAGMENT_NUMBER',
  'SERVER_TIMESTAMP',
  'PRODUCER_TIMESTAMP',
  'NOW',
  'EARLIEST',
  'CONTINUATION_TOKEN',
] as const;

/** FragmentNumber in inputs (model: 1..128, `^[0-9]+$`). */
export const FRAGMENT_NUMBER_RULE: StringRule = {
  minLength: 1,
  maxLength: 128,
  pattern: /^[0-9]+$/,
  patternText: '^[0-9]+$',
};
const CONTINUATION_TOKEN_RULE: StringRule = {
  minLength: 1,
  maxLength: 128,
  pattern: /^[a-zA-Z0-9_.-]+$/,
  patternText: '^[a-zA-Z0-9_\\.\\-]+$',
};

/** Where a GetMedia answer starts: after a fragment number, or at one (inclusive). */
type Cursor = { fragmentNumber: string; isInclusive: boolean };

/** The `POST /getMedia` route. */
export const getMediaRoute = (plane: DataPlane): StreamingRoute => ({
  kind: 'streaming',
  operation: 'GetMedia',
  plane: 'data',
  isBodyBuffered: true,
  handle: (exchange, context) => getMedia(plane, exchange, context),
});

const getMedia = async (
  plane: DataPlane,
  exchange: StreamingExchange,
  context: OperationContext,
): Promise<void> => {
  const v = new InputValidator(exchange.input ?? {});
  const reference = readStreamReference(v);
  const selector = v.structure('StartSelector', true);
  const type = selector?.requiredString('StartSelectorType', { values: START_SELECTOR_TYPES });
  const afterFragmentNumber = selector?.optionalString('AfterFragmentNumber', FRAGMENT_NUMBER_RULE);
  const startTimestampMs = selector?.timestamp('StartTimestamp', false);
  const continuationToken = selector?.optionalString('ContinuationToken', CONTINUATION_TOKEN_RULE);
  if (selector !== undefined) {
    const requirement = (member: string, isPresent: boolean): void => {
      if (!isPresent) {
        selector.addProblem(member, null, `Member must not be null when StartSelectorType is ${type}`);
      }
    };
    if (type === 'FRAGMENT_NUMBER') {
      requirement('AfterFragmentNumber', afterFragmentNumber !== undefined);
    } else if (type === 'SERVER_TIMESTAMP' || type === 'PRODUCER_TIMESTAMP') {
      requirement('StartTimestamp', startTimestampMs !== undefined);
    } else if (type === 'CONTINUATION_TOKEN') {
      requirement('ContinuationToken', continuationToken !== undefined);
      if (continuationToken !== undefined && !/^[0-9]+$/.test(continuationToken)) {
        selector.addProblem(
          'ContinuationToken',
          continuationToken,
          'Member must be a token GetMedia returned',
        );
      }
    }
  }
  v.finish();
  const stream = resolveStream(context, reference, { isDeletingVisible: false });
  if (plane.isCallRateExceeded('GetMedia', stream.streamArn, KvsLimits.maxGetMediaCallsPerSecond)) {
    throw new KvsServiceError(
      'ClientLimitExceededException',
      `More than ${KvsLimits.maxGetMediaCallsPerSecond} GetMedia calls per second on stream ${stream.streamName}.`,
    );
  }
  const release = plane.acquireReader('GetMedia', stream.streamArn, KvsLimits.maxGetMediaConnections);
  if (release === undefined) {
    throw new KvsServiceError(
      'ConnectionLimitExceededException',
      `Stream ${stream.streamName} already has ${KvsLimits.maxGetMediaConnections} GetMedia connections.`,
    );
  }
  const fragments = plane.media.list(stream);
  let cursor: Cursor;
  switch (type) {
    case 'EARLIEST':
      cursor = { fragmentNumber: '', isInclusive: false };
      break;
    case 'FRAGMENT_NUMBER':
      cursor = { fragmentNumber: normalizeNumber(afterFragmentNumber ?? ''), isInclusive: false };
      break;
    case 'CONTINUATION_TOKEN':
      cursor = { fragmentNumber: normalizeNumber(continuationToken ?? ''), isInclusive: false };
      break;
    case 'SERVER_TIMESTAMP':
    case 'PRODUCER_TIMESTAMP': {
      const at = findByTime(fragments, startTimestampMs ?? 0, type === 'SERVER_TIMESTAMP');
      cursor =
        at === undefined
          ? { fragmentNumber: fragments.at(-1)?.fragmentNumber ?? '', isInclusive: false }
          : { fragmentNumber: at.fragmentNumber, isInclusive: true };
      break;
    }
    default:
      cursor = { fragmentNumber: fragments.at(-1)?.fragmentNumber ?? '', isInclusive: false };
      break;
  }

  const response = exchange.response;
  startStreamedAnswer(response, context.stamp, 'video/webm');
  const abort = new AbortController();
  response.once('close', () => {
    abort.abort();
    release();
  });
  try {
    await streamChunks(plane, stream, cursor, response, abort.signal);
  } finally {
    release();
    if (!response.writableEnded && !response.destroyed) {
      response.end();
    }
  }
};

/** Sends every chunk after the cursor, then follows the stream until it is quiet for the idle timeout. */
const streamChunks = async (
  plane: DataPlane,
  initial: StreamRecord,
  start: Cursor,
  response: ServerResponse,
  signal: AbortSignal,
): Promise<void> => {
  let cursor = start;
  let lastActivityMs = plane.clock.monotonicMs();
  const idleMs = plane.config.getMediaIdleTimeoutMs;
  while (!signal.aborted) {
    const stream = plane.streams.findByArn(initial.streamArn);
    if (stream === undefined || stream.status === 'DELETING') {
      return;
    }
    const next = firstAfter(plane.media.list(stream), cursor);
    if (next !== undefined) {
      await writeFragment(response, plane.media, stream, next, signal);
      const behindMs = plane.clock.now() - next.serverTimestampMs;
      await writeOrWait(response, chunkTailTags(behindMs, next.fragmentNumber), signal);
      cursor = { fragmentNumber: next.fragmentNumber, isInclusive: false };
      lastActivityMs = plane.clock.monotonicMs();
      continue;
    }
    const remainingMs = idleMs - (plane.clock.monotonicMs() - lastActivityMs);
    if (remainingMs <= 0) {
      return;
    }
    await plane.media.waitForChange(stream.streamArn, remainingMs, signal);
  }
};

/** The first fragment after the cursor (the list is in number order). */
const firstAfter = (fragments: readonly StoredFragment[], cursor: Cursor): StoredFragment | undefined => {
  // Usually near the end: walk back from it.
  let index = fragments.length;
  while (index > 0 && compareNumbers(fragments[index - 1]!.fragmentNumber, cursor.fragmentNumber) > 0) {
    index--;
  }
  if (cursor.isInclusive && index > 0 && fragments[index - 1]!.fragmentNumber === cursor.fragmentNumber) {
    index--;
  }
  return fragments[index];
};

/** The fragment whose span holds `timeMs`, else the first starting after it (number order). */
const findByTime = (
  fragments: readonly StoredFragment[],
  timeMs: number,
  isServerTime: boolean,
): StoredFragment | undefined => {
  const start = (fragment: StoredFragment): number =>
    isServerTime ? fragment.serverTimestampMs : fragment.producerTimestampMs;
  return (
    fragments.find(
      (fragment) => start(fragment) <= timeMs && timeMs < start(fragment) + fragment.durationMs,
    ) ?? fragments.find((fragment) => start(fragment) >= timeMs)
  );
};

/** Orders decimal fragment numbers of any width (ours are all 47 digits). */
export const compareNumbers = (a: string, b: string): number =>
  a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;

const normalizeNumber = (text: string): string => text.replace(/^0+(?=\d)/, '');
