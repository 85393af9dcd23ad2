import http from 'node:http';
import https from 'node:https';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { AwsCredentialIdentity } from '@smithy/types';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import type { TimecodeMode } from '../fragment/fragmenter.js';
import { ErrorCode, KvsPutError } from '../errors.js';
import type { Ack } from './ack.js';
import { AckParser } from './ack-parser.js';
import {
  FRAGMENT_TIMECODE_TYPES,
  KVS_SIGNING_SERVICE,
  PUT_MEDIA_PATH,
  PutMediaHeader,
  ResponseHeader,
  formatEpochSeconds,
} from './kvs-protocol.js';
import { PutMediaHttpError } from './kvs-errors.js';
import { assert } from '../util/assert.js';

export type PutMediaConnectionOptions = {
  /** The PUT_MEDIA data endpoint from GetDataEndpoint (https in AWS; http for the local KVS). */
  endpoint: string;
  streamName?: string;
  streamArn?: string;
  region: string;
  credentials: AwsCredentialIdentity;
  timecodeMode: TimecodeMode;
  /** Sent as x-amzn-producer-start-timestamp. */
  producerStartTimestampMs: number;
  userAgent: string;
  /** Time allowed for the 200 (or an error status) to arrive. @default 15 000 */
  responseTimeoutMs?: number;
  /** Signing clock, for tests. */
  now?: () => Date;
};

export type PutMediaHandlers = {
  onAck: (ack: Ack) => void;
  /** An object in the ack stream that is not a valid ack. */
  onInvalidAck?: (text: string) => void;
};

const sha256 = Hash.bind(null, 'sha256');

/**
 * Signs the PutMedia request as AWS's C producer does (producer-sdk.md §1.2–1.3): SigV4 for service
 * `kinesisvideo` over the headers, with the payload hash of the empty string (the body is a stream) and no
 * x-amz-content-sha256 header.
 */
export const signPutMediaHeaders = async (
  url: URL,
  headers: Record<string, string>,
  options: Pick<PutMediaConnectionOptions, 'region' | 'credentials' | 'now'>,
): Promise<Record<string, string>> => {
  const signer = new SignatureV4({
    service: KVS_SIGNING_SERVICE,
    region: options.region,
    credentials: options.credentials,
    sha256,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port === '' ? {} : { port: Number(url.port) }),
      path: url.pathname,
      query: {},
      headers,
    },
    options.now === undefined ? {} : { signingDate: options.now() },
  );
  return signed.headers;
};

/** The producer start timestamp as sent: rounded down to a whole millisecond, never later than the one given. */
export const formatProducerTimestamp = (ms: number): string => formatEpochSeconds(Math.floor(ms));

/**
 * One PutMedia HTTP/1.1 request: a chunked upload on its own socket, full duplex. The 200 arrives first (the
 * service validates the headers only), then acks stream back while the body is still being written.
 */
export class PutMediaConnection {
  /** Resolves when the response ends or the socket closes: with the error, if one ended it. */
  public readonly closed: Promise<Error | undefined>;
  public readonly requestId: string | undefined;
  private readonly request: http.ClientRequest;
  /** The request's socket: the body is written to it directly (see {@link write}). */
  private readonly socket: Socket;
  private isClosed = false;
  /** end() was called: the body is over (kept here, not read from the request, whose shape Node changes). */
  private isEnded = false;
  private closeError: Error | undefined;
  /** onFlushed callbacks of writes not completed yet: a write Node drops when its socket dies never calls back. */
  private readonly unflushed = new Set<(error: Error | undefined) => void>();

  private constructor(
    request: http.ClientRequest,
    response: http.IncomingMessage,
    handlers: PutMediaHandlers,
  ) {
    this.request = request;
    assert(request.socket !== null, 'a PutMedia response arrived without a socket');
    this.socket = request.socket;
    this.requestId = header(response, ResponseHeader.RequestId);
    const parser = new AckParser();
    response.on('data', (chunk: Buffer) => {
      for (const ack of parser.push(chunk, handlers.onInvalidAck)) {
        handlers.onAck(ack);
      }
    });
    this.closed = new Promise((resolve) => {
      const finish = (error?: Error): void => {
        if (!this.isClosed) {
          this.isClosed = true;
          this.closeError ??= error;
          resolve(this.closeError);
        }
      };
      response.on('end', () => finish());
      response.on('error', finish);
      response.on('close', () =>
        finish(response.complete ? undefined : new Error('the connection closed before the response ended')),
      );
      request.on('error', finish);
    });
    // Once the socket is closed nothing holds the written memory any more: settle what Node did not.
    request.on('close', () => {
      const error = this.closeError ?? new Error('the PutMedia connection closed');
      for (const settle of [...this.unflushed]) {
        settle(error);
      }
    });
    // Keep errors from surfacing as unhandled events after close.
    request.on('error', () => undefined);
    response.on('error', () => undefined);
  }

  /** Opens the request and resolves once the service answered 200; a refusal throws PutMediaHttpError. */
  public static async open(
    options: PutMediaConnectionOptions,
    handlers: PutMediaHandlers,
  ): Promise<PutMediaConnection> {
    const url = new URL(options.endpoint.replace(/\/+$/, '') + PUT_MEDIA_PATH);
    const isHttps = url.protocol === 'https:';
    const defaultPort = isHttps ? '443' : '80';
    const headers: Record<string, string> = {
      host: url.port === '' || url.port === defaultPort ? url.hostname : `${url.hostname}:${url.port}`,
      [PutMediaHeader.FragmentTimecodeType]: FRAGMENT_TIMECODE_TYPES[options.timecodeMode],
      [PutMediaHeader.ProducerStartTimestamp]: formatProducerTimestamp(options.producerStartTimestampMs),
      [PutMediaHeader.FragmentAcknowledgmentRequired]: '1',
      'content-type': 'application/json',
      'user-agent': options.userAgent,
    };
    if (options.streamArn !== undefined) {
      headers[PutMediaHeader.StreamArn] = options.streamArn;
    } else if (options.streamName !== undefined) {
      headers[PutMediaHeader.StreamName] = options.streamName;
    }
    const signed = await signPutMediaHeaders(url, headers, options);
    const request = (isHttps ? https : http).request(url, {
      method: 'POST',
      headers: { ...signed, 'transfer-encoding': 'chunked', connection: 'keep-alive' },
      agent: false,
    });
    request.on('socket', (socket) => socket.setNoDelay(true));
    request.flushHeaders();
    const timeoutMs = options.responseTimeoutMs ?? 15_000;
    const timer = setTimeout(
      () =>
        request.destroy(new KvsPutError(ErrorCode.Upload, `no response to PutMedia within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      const [response] = (await once(request, 'response')) as [http.IncomingMessage];
      if (response.statusCode !== 200) {
        const body = await readBody(response);
        request.destroy();
        throw errorFromResponse(response, body);
      }
      return new PutMediaConnection(request, response, handlers);
    } catch (error) {
      request.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  public get isOpen(): boolean {
    return !this.isClosed && !this.isEnded;
  }

  /**
   * Writes chunks as one HTTP chunk (`size CRLF data CRLF`) in one corked batch, which the socket sends with
   * one writev; resolves when the socket can take more. `onFlushed` is called once the socket no longer holds
   * the chunks (written to the kernel, or the write failed, with the error): only then may their memory be
   * reused. The synchronous part of the call hands the chunks to the socket, which passes the kernel at once
   * what it can take.
   *
   * The body goes to the socket itself, not through `request.write()`, which frames every piece as its own
   * HTTP chunk and takes three socket writes and its own bookkeeping for each: a read of ffmpeg's output is
   * a dozen pieces (frame headers and payloads). `end()` still ends the body through the request, which
   * writes the last chunk after these.
   */
  public write(chunks: readonly Uint8Array[], onFlushed?: (error: Error | undefined) => void): Promise<void> {
    if (!this.isOpen) {
      const error = this.closeError ?? new Error('the PutMedia connection is closed');
      onFlushed?.(error);
      return Promise.reject(error);
    }
    let settle: ((error: Error | null | undefined) => void) | undefined;
    if (onFlushed !== undefined) {
      const once = (error: Error | null | undefined): void => {
        if (this.unflushed.delete(once)) {
          onFlushed(error ?? undefined);
        }
      };
      this.unflushed.add(once);
      settle = once;
    }
    let size = 0;
    for (const chunk of chunks) {
      size += chunk.length;
    }
    if (size === 0) {
      // A zero-size chunk would end the body.
      settle?.(undefined);
      return WRITTEN;
    }
    const socket = this.socket;
    socket.cork();
    socket.write(`${size.toString(16)}\r\n`, 'latin1');
    for (const chunk of chunks) {
      socket.write(chunk);
    }
    // Writes complete in order: the last one's callback means the whole batch is out.
    const isDrained = settle === undefined ? socket.write(CRLF) : socket.write(CRLF, settle);
    socket.uncork();
    // `false` from write() only says the batch was above the high-water mark (16 kB: most video frames); the
    // kernel usually took all of it during uncork(). Wait only while the socket still holds bytes.
    if (!isDrained && !socket.destroyed && socket.writableLength > 0) {
      // Listeners, not a race with `closed`: a race would leave a reaction on `closed` for every write.
      return drainOrClose(socket);
    }
    return WRITTEN;
  }

  /** Ends the body; acks keep arriving until the service ends the response. */
  public end(): void {
    if (!this.isEnded && !this.isClosed) {
      this.isEnded = true;
      this.request.end();
    }
  }

  /**
   * Abandons the connection with a TCP reset: a service that stopped reading learns at once that this
   * session is over (a plain close would wait behind the unread body), so its connection slot frees up.
   */
  public abort(reason: Error): void {
    this.closeError ??= reason;
    const socket = this.request.socket;
    if (socket !== null && !socket.destroyed) {
      socket.resetAndDestroy();
    }
    this.request.destroy(reason);
  }
}

const WRITTEN: Promise<void> = Promise.resolve();
const CRLF = Buffer.from('\r\n', 'latin1');

/** Resolves on `drain` or `close`, whichever comes first, leaving no listener behind. */
export const drainOrClose = (stream: Writable): Promise<void> =>
  new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });

/** A response header's first value; Node keys them in lower case. */
const header = (response: http.IncomingMessage, name: string): string | undefined => {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
};

const readBody = async (response: http.IncomingMessage): Promise<string> => {
  const parts: Buffer[] = [];
  for await (const chunk of response) {
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
};

const errorFromResponse = (response: http.IncomingMessage, body: string): PutMediaHttpError => {
  let message = '';
  let bodyType: string | undefined;
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    const text = parsed['Message'] ?? parsed['message'];
    message = typeof text === 'string' ? text : '';
    const type = parsed['__type'] ?? parsed['code'];
    bodyType = typeof type === 'string' ? type : undefined;
  } catch {
    message = body.slice(0, 200);
  }
  const rawType = header(response, ResponseHeader.ErrorType) ?? bodyType;
  const errorType = rawType?.split(/[:,]/)[0]?.split('#').at(-1);
  return new PutMediaHttpError(
    response.statusCode ?? 0,
    errorType,
    message,
    header(response, ResponseHeader.RequestId),
  );
};
