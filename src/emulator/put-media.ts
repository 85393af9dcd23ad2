/**
 * PutMedia on the local KVS (kvs-api.md §6–§7): `POST /putMedia`, one long chunked MKV upload answered by a
 * stream of acks on the same connection.
 *
 * 1. The headers are validated before anything is answered (put-media-headers.ts): problems are 400
 *    InvalidArgumentException; an unknown stream is 404; a stream that already has a PutMedia connection sending is
 *    400 ConnectionLimitExceededException; in strict mode, more calls a second on a stream than the service
 *    allows is 400 ClientLimitExceededException. The fault plan may refuse the call here too.
 * 2. The 200 goes out at once (`Transfer-Encoding: chunked`, `Content-Type: application/json`), without a
 *    `100 Continue` even when the client asked for one: the embedded-C producer reads the status line before
 *    sending any body and needs it to be 200 (§6.2).
 * 3. From there the connection is a {@link PutMediaSession}: body in, acks out.
 */
import { KvsLimits } from '../fragment/kvs-limits.js';
import type { DataPlane } from './data-plane.js';
import { KvsServiceError, STREAM_NOT_FOUND_MESSAGE } from './emulator-errors.js';
import type { OperationContext, StreamingExchange, StreamingRoute } from './emulator-routes.js';
import type { PutMediaHeaders } from './put-media-headers.js';
import { parsePutMediaHeaders } from './put-media-headers.js';
import { PutMediaSession } from './put-media-session.js';
import { findStreamByArn } from './stream-reference.js';
import type { StreamRecord } from './stream-store.js';

/** The `POST /putMedia` route. */
export const putMediaRoute = (plane: DataPlane): StreamingRoute => ({
  kind: 'streaming',
  operation: 'PutMedia',
  plane: 'data',
  isBodyBuffered: false,
  handle: (exchange, context) => openPutMedia(plane, exchange, context),
});

const openPutMedia = (
  plane: DataPlane,
  exchange: StreamingExchange,
  context: OperationContext,
): Promise<void> => {
  const headers = parsePutMediaHeaders(exchange.request);
  const stream = findStream(plane, context, headers);
  const faults = plane.faults.nextPutMediaFaults(stream.streamName);
  if (faults.refuse !== undefined) {
    throw new KvsServiceError(faults.refuse.type, faults.refuse.message, faults.refuse.statusCode);
  }
  if (plane.isCallRateExceeded('PutMedia', stream.streamArn, KvsLimits.maxPutMediaCallsPerSecond)) {
    throw new KvsServiceError(
      'ClientLimitExceededException',
      `More than ${KvsLimits.maxPutMediaCallsPerSecond} PutMedia calls per second on stream ${stream.streamName}.`,
    );
  }
  if (plane.hasSendingPutMedia(stream.streamArn)) {
    throw new KvsServiceError(
      'ConnectionLimitExceededException',
      `Stream ${stream.streamName} already has a PutMedia connection sending media; one is allowed at a time.`,
    );
  }
  const session = new PutMediaSession(plane, exchange, context, headers, stream, faults);
  session.start();
  return Promise.resolve();
};

/**
 * The stream a PutMedia names, in the request's account and region. DELETING streams still resolve (the session
 * answers StreamNotActive).
 */
const findStream = (plane: DataPlane, context: OperationContext, headers: PutMediaHeaders): StreamRecord => {
  let stream: StreamRecord | undefined;
  if (headers.streamArn !== undefined) {
    stream = findStreamByArn(context, headers.streamArn);
  } else if (headers.streamName !== undefined) {
    stream = plane.streams.findByName(
      { accountId: context.accountId, region: context.region },
      headers.streamName,
    );
  }
  if (stream === undefined) {
    throw new KvsServiceError('ResourceNotFoundException', STREAM_NOT_FOUND_MESSAGE);
  }
  return stream;
};
