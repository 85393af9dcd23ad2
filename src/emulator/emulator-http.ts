/**
 * HTTP plumbing shared by the local KVS's routes: JSON answers and error answers with the headers every
 * response of the service carries (`x-amzn-RequestId`, `Date`; kvs-api.md §1.2–1.3, §11 item 8), and bounded
 * body reading.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KvsServiceError } from './emulator-errors.js';

/** The largest JSON request body the local KVS reads (no KVS JSON input comes close). */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

/** Headers every response carries. `dateMs` is the server clock, which SDKs use to correct their skew. */
export const commonHeaders = (requestId: string, dateMs: number): Record<string, string> => ({
  'x-amzn-RequestId': requestId,
  Date: new Date(dateMs).toUTCString(),
});

/** Sends a JSON body with status 200 (or the one given). */
export const sendJson = (
  response: ServerResponse,
  body: unknown,
  options: { requestId: string; dateMs: number; statusCode?: number; headers?: Record<string, string> },
): void => {
  const text = JSON.stringify(body);
  response.writeHead(options.statusCode ?? 200, {
    ...commonHeaders(options.requestId, options.dateMs),
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
  options: { requestId: string; dateMs: number },
): void => {
  sendJson(response, error.toBody(), {
    ...options,
    statusCode: error.statusCode,
    headers: { 'x-amzn-ErrorType': error.errorType },
  });
};

/** Reads a whole request body, refusing more than `maxBytes` with a 413. */
export const readBody = async (request: IncomingMessage, maxBytes: number): Promise<Buffer> => {
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

/** Whether a socket address is loopback (the admin endpoint answers only there). */
export const isLoopbackAddress = (address: string | undefined): boolean =>
  address !== undefined &&
  (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));
