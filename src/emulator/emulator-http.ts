/**
 * HTTP plumbing shared by the local KVS's routes: the one way request bodies are read and parsed as JSON, and the
 * one way answers are started, JSON or streamed, with the headers every response of the service carries
 * (`x-amzn-RequestId`, `Date`; kvs-api.md §1.2–1.3, §11 item 8).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ResponseHeader } from '../kvs/kvs-protocol.js';
import { KvsServiceError } from './emulator-errors.js';
import type { JsonObject } from './input-validator.js';

/** The largest JSON request body the local KVS reads (no KVS JSON input comes close). */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

/** What every answer is stamped with: its request id, and the server clock (which SDKs use to correct skew). */
export type AnswerStamp = { readonly requestId: string; readonly dateMs: number };

/** Headers every response carries. */
export const commonHeaders = (stamp: AnswerStamp): Record<string, string> => ({
  [ResponseHeader.RequestId]: stamp.requestId,
  Date: new Date(stamp.dateMs).toUTCString(),
});

/** Sends a JSON body with status 200 (or the one given). */
export const sendJson = (
  response: ServerResponse,
  body: unknown,
  stamp: AnswerStamp,
  options: { statusCode?: number; headers?: Record<string, string> } = {},
): void => {
  const text = JSON.stringify(body);
  response.writeHead(options.statusCode ?? 200, {
    ...commonHeaders(stamp),
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    ...options.headers,
  });
  response.end(text);
};

/** Sends a service error: its status, `x-amzn-ErrorType`, and a JSON message body. */
export const sendServiceError = (
  response: ServerResponse,
  error: KvsServiceError,
  stamp: AnswerStamp,
): void => {
  sendJson(response, error.toBody(), stamp, {
    statusCode: error.statusCode,
    headers: { [ResponseHeader.ErrorType]: error.errorType },
  });
};

/**
 * Starts a 200 whose body is written as it happens (`Transfer-Encoding: chunked`): the PutMedia ack stream, the
 * media of GetMedia and GetMediaForFragmentList. The headers go out at once, before any body.
 */
export const startStreamedAnswer = (
  response: ServerResponse,
  stamp: AnswerStamp,
  contentType: 'application/json' | 'video/webm',
): void => {
  response.writeHead(200, {
    ...commonHeaders(stamp),
    'Content-Type': contentType,
    'Transfer-Encoding': 'chunked',
  });
  response.flushHeaders();
};

/** Reads a whole request body, refusing more than `maxBytes` with a 413. */
export const readBody = async (request: IncomingMessage, maxBytes = MAX_JSON_BODY_BYTES): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of request) {
    const bytes = chunk as Buffer;
    length += bytes.length;
    if (length > maxBytes) {
      throw new KvsServiceError(
        'RequestEntityTooLargeException',
        `The request body is larger than ${maxBytes} bytes.`,
      );
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks, length);
};

/** restJson1 bodies: a JSON object; an empty body reads as `{}`. Anything else is a SerializationException. */
export const parseJsonObject = (body: Buffer): JsonObject => {
  const text = body.toString('utf8').trim();
  if (text === '') {
    return {};
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new KvsServiceError('SerializationException', 'The request body is not valid JSON.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KvsServiceError('SerializationException', 'The request body must be a JSON object.');
  }
  return value as JsonObject;
};

/** Reads and parses a JSON request body (bounded by {@link MAX_JSON_BODY_BYTES}). */
export const readJsonBody = async (request: IncomingMessage): Promise<JsonObject> =>
  parseJsonObject(await readBody(request));

/** Whether a socket address is loopback (the admin and introspection endpoints answer only there). */
export const isLoopbackAddress = (address: string | undefined): boolean =>
  address !== undefined &&
  (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));
