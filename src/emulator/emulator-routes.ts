/**
 * The local KVS's route table contract. Every operation is `POST /<path>` on one server (kvs-api.md §1.1,
 * §11 item 1). JSON operations get their body read, verified and parsed for them; streaming operations
 * (PutMedia, and the data plane's media responses) get the request and response once the request has been
 * authenticated, with their JSON input parsed when they buffer their body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AnswerStamp } from './emulator-http.js';
import type { JsonObject } from './input-validator.js';
import type { StreamStore } from './stream-store.js';

/** Which half of the service an operation belongs to (fault plans address them separately). */
export type ServicePlane = 'control' | 'data';

/** What every operation handler sees. */
export type OperationContext = {
  readonly store: StreamStore;
  readonly accountId: string;
  /** The region of the request (its SigV4 credential scope; the default region when auth is off). */
  readonly region: string;
  /** The request id and the server clock (epoch ms) at the start of the request, for the answer's headers. */
  readonly stamp: AnswerStamp;
  /**
   * The origin (`http://host:port`, no path) this server hands out as DataEndpoint: the data plane is served by
   * the same server, at the same root.
   */
  readonly dataEndpoint: string;
};

/** An operation with a JSON body and a JSON answer. */
export type JsonRoute = {
  readonly kind: 'json';
  /** The operation name as AWS spells it (`CreateStream`), used in logs and fault plans. */
  readonly operation: string;
  readonly plane: ServicePlane;
  readonly handle: (input: JsonObject, context: OperationContext) => Promise<JsonObject>;
};

/** An operation that reads its body or writes its answer as a stream (PutMedia, GetMedia). */
export type StreamingRoute = {
  readonly kind: 'streaming';
  readonly operation: string;
  readonly plane: ServicePlane;
  /**
   * Whether the body is a JSON input read before SigV4 verification (true: its SHA-256 enters the signature; false:
   * it stays unread for the handler and the payload hash is the empty-string hash unless `x-amz-content-sha256`
   * says otherwise, §2.2).
   */
  readonly isBodyBuffered: boolean;
  readonly handle: (exchange: StreamingExchange, context: OperationContext) => Promise<void>;
};

/** The request and response of a streaming operation. */
export type StreamingExchange = {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  /** The JSON input, when the route buffers its body (`isBodyBuffered`); undefined when the body is its own. */
  readonly input: JsonObject | undefined;
};

export type EmulatorRoute = JsonRoute | StreamingRoute;
