/**
 * Archived media on the local KVS (kvs-api.md §9.1–§9.2): ListFragments and GetMediaForFragmentList. Both see
 * archived fragments only (ingested while the stream's retention was > 0, and not yet expired): a stream with
 * retention 0 lists none.
 *
 * [EMU] choices: ListFragments answers in fragment-number order (the service promises no order); its NextToken is
 * base64 of an opaque cursor that carries the selector, so later pages need no FragmentSelector. An unknown
 * fragment number in GetMediaForFragmentList is a 404 ResourceNotFoundException before anything is streamed;
 * fragments are served in the order asked, with the GetMedia tag names (no MILLIS_BEHIND_NOW or
 * CONTINUATION_TOKEN).
 */
import { KvsLimits } from '../fragment/kvs-limits.js';
import type { DataPlane } from './data-plane.js';
import { startStreamedAnswer } from './emulator-http.js';
import { KvsServiceError } from './emulator-errors.js';
import type { JsonRoute, StreamingRoute } from './emulator-routes.js';
import { FRAGMENT_NUMBER_RULE } from './get-media.js';
import type { JsonObject } from './input-validator.js';
import { InputValidator } from './input-validator.js';
import { writeFragment } from './media-answer.js';
import type { StoredFragment } from './media-store.js';
import { readStreamReference, resolveStream } from './stream-reference.js';

/** Largest ListFragments page, and its default size. */
export const MAX_LIST_FRAGMENTS_RESULTS = 1000;
/** Most fragments one GetMediaForFragmentList may ask for. */
export const MAX_FRAGMENT_LIST_LENGTH = 1000;

const FRAGMENT_SELECTOR_TYPES = ['PRODUCER_TIMESTAMP', 'SERVER_TIMESTAMP'] as const;
type FragmentSelectorType = (typeof FRAGMENT_SELECTOR_TYPES)[number];
const NEXT_TOKEN_RULE = {
  minLength: 1,
  maxLength: 4096,
  pattern: /^[a-zA-Z0-9+/]+={0,2}$/,
  patternText: '[a-zA-Z0-9+/]+={0,2}',
};
const TOKEN_PREFIX = 'kvs-local-fragments:';

type ListCursor = { type: FragmentSelectorType; startMs: number; endMs: number; after: string };

/** `POST /listFragments`. */
export const listFragmentsRoute = (plane: DataPlane): JsonRoute => ({
  kind: 'json',
  operation: 'ListFragments',
  plane: 'data',
  handle: (input, context) => {
    const v = new InputValidator(input);
    const reference = readStreamReference(v);
    const maxResults = v.optionalInteger('MaxResults', { min: 1, max: MAX_LIST_FRAGMENTS_RESULTS });
    const nextToken = v.optionalString('NextToken', NEXT_TOKEN_RULE);
    const selector = v.structure('FragmentSelector', nextToken === undefined);
    const type = selector?.requiredString('FragmentSelectorType', { values: FRAGMENT_SELECTOR_TYPES });
    const range = selector?.structure('TimestampRange', true);
    const startMs = range?.timestamp('StartTimestamp', true);
    const endMs = range?.timestamp('EndTimestamp', true);
    v.finish();
    if (startMs !== undefined && endMs !== undefined && endMs < startMs) {
      throw new KvsServiceError(
        'InvalidArgumentException',
        'The TimestampRange EndTimestamp must not be earlier than its StartTimestamp.',
      );
    }
    const stream = resolveStream(context, reference, { isDeletingVisible: false });
    const cursor: ListCursor =
      nextToken !== undefined
        ? decodeCursor(nextToken)
        : {
            type: type as FragmentSelectorType,
            startMs: startMs ?? 0,
            endMs: endMs ?? 0,
            after: '',
          };
    const time = (fragment: StoredFragment): number =>
      cursor.type === 'SERVER_TIMESTAMP' ? fragment.serverTimestampMs : fragment.producerTimestampMs;
    const matching = plane.media
      .list(stream, { archivedOnly: true })
      .filter(
        (fragment) =>
          fragment.fragmentNumber > cursor.after &&
          time(fragment) >= cursor.startMs &&
          time(fragment) <= cursor.endMs,
      );
    const pageSize = maxResults ?? MAX_LIST_FRAGMENTS_RESULTS;
    const page = matching.slice(0, pageSize);
    const last = page.at(-1);
    const output: JsonObject = {
      Fragments: page.map((fragment) => ({
        FragmentNumber: fragment.fragmentNumber,
        FragmentSizeInBytes: fragment.sizeBytes,
        ProducerTimestamp: fragment.producerTimestampMs / 1000,
        ServerTimestamp: fragment.serverTimestampMs / 1000,
        FragmentLengthInMilliseconds: Math.round(fragment.durationMs),
      })),
    };
    if (matching.length > pageSize && last !== undefined) {
      output['NextToken'] = encodeCursor({ ...cursor, after: last.fragmentNumber });
    }
    return Promise.resolve(output);
  },
});

/** `POST /getMediaForFragmentList`. */
export const getMediaForFragmentListRoute = (plane: DataPlane): StreamingRoute => ({
  kind: 'streaming',
  operation: 'GetMediaForFragmentList',
  plane: 'data',
  isBodyBuffered: true,
  handle: async (exchange, context) => {
    const v = new InputValidator(exchange.input ?? {});
    const reference = readStreamReference(v);
    const numbers =
      v.stringList('Fragments', true, {
        minEntries: 1,
        maxEntries: MAX_FRAGMENT_LIST_LENGTH,
        item: FRAGMENT_NUMBER_RULE,
      }) ?? [];
    v.finish();
    const stream = resolveStream(context, reference, { isDeletingVisible: false });
    const byNumber = new Map(
      plane.media.list(stream, { archivedOnly: true }).map((f) => [f.fragmentNumber, f]),
    );
    const missing = numbers.filter((number) => !byNumber.has(number));
    if (missing.length > 0) {
      throw new KvsServiceError(
        'ResourceNotFoundException',
        `No fragment ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''} in stream ${stream.streamName}'s archive.`,
      );
    }
    const release = plane.acquireReader(
      'GetMediaForFragmentList',
      stream.streamArn,
      KvsLimits.maxGetMediaForFragmentListConnections,
    );
    if (release === undefined) {
      throw new KvsServiceError(
        'ConnectionLimitExceededException',
        `Stream ${stream.streamName} already has ${KvsLimits.maxGetMediaForFragmentListConnections} GetMediaForFragmentList connections.`,
      );
    }
    const response = exchange.response;
    const abort = new AbortController();
    response.once('close', () => abort.abort());
    try {
      startStreamedAnswer(response, context.stamp, 'video/webm');
      for (const number of numbers) {
        await writeFragment(response, plane.media, stream, byNumber.get(number)!, abort.signal);
        if (abort.signal.aborted) {
          break;
        }
      }
    } finally {
      release();
      if (!response.writableEnded && !response.destroyed) {
        response.end();
      }
    }
  },
});

const encodeCursor = (cursor: ListCursor): string =>
  Buffer.from(`${TOKEN_PREFIX}${JSON.stringify(cursor)}`, 'utf8').toString('base64');

const decodeCursor = (token: string): ListCursor => {
  const text = Buffer.from(token, 'base64').toString('utf8');
  try {
    if (text.startsWith(TOKEN_PREFIX)) {
      const cursor = JSON.parse(text.slice(TOKEN_PREFIX.length)) as Partial<ListCursor>;
      if (
        (cursor.type === 'PRODUCER_TIMESTAMP' || cursor.type === 'SERVER_TIMESTAMP') &&
        typeof cursor.startMs === 'number' &&
        typeof cursor.endMs === 'number' &&
        typeof cursor.after === 'string'
      ) {
        return cursor as ListCursor;
      }
    }
  } catch {
    // fall through
  }
  throw new KvsServiceError('InvalidArgumentException', 'The NextToken is not valid.');
};
