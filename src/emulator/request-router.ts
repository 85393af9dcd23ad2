/**
 * Every request of the local KVS, from its arrival to its answer: the test hooks go to admin-routes.ts; a service
 * request has its route looked up, its body read when the route buffers it, its signature verified, its
 * control-plane fault (if the plan has one due) acted out, and then its handler run. Whatever a handler throws
 * becomes the service's error answer; one log line per request records how it went.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { debuglog } from 'node:util';
import type { AdminState } from './admin-routes.js';
import { adminOperationAt, handleAdminRequest } from './admin-routes.js';
import { KvsServiceError } from './emulator-errors.js';
import type { AnswerStamp } from './emulator-http.js';
import { parseJsonObject, readBody, sendJson, sendServiceError } from './emulator-http.js';
import type { EmulatorRoute, OperationContext } from './emulator-routes.js';
import type { FaultInjector } from './fault-injector.js';
import { applyControlPlaneFault } from './fault-injector.js';
import type { AuthConfig } from './request-auth.js';
import { authenticate } from './request-auth.js';
import type { StreamStore } from './stream-store.js';
import type { Clock } from '../util/clock.js';

const debug = debuglog('kvs');

/**
 * Operations of the kinesisvideo model and of the media data plane that the local KVS does not implement (yet):
 * they answer 400 InvalidArgumentException, never a 200 with an empty body (kvs-api.md §4.9).
 */
export const UNSUPPORTED_OPERATIONS: Readonly<Record<string, string>> = {
  '/createSignalingChannel': 'CreateSignalingChannel',
  '/deleteSignalingChannel': 'DeleteSignalingChannel',
  '/describeSignalingChannel': 'DescribeSignalingChannel',
  '/getSignalingChannelEndpoint': 'GetSignalingChannelEndpoint',
  '/listSignalingChannels': 'ListSignalingChannels',
  '/updateSignalingChannel': 'UpdateSignalingChannel',
  '/deleteEdgeConfiguration': 'DeleteEdgeConfiguration',
  '/describeEdgeConfiguration': 'DescribeEdgeConfiguration',
  '/startEdgeConfigurationUpdate': 'StartEdgeConfigurationUpdate',
  '/listEdgeAgentConfigurations': 'ListEdgeAgentConfigurations',
  '/describeImageGenerationConfiguration': 'DescribeImageGenerationConfiguration',
  '/updateImageGenerationConfiguration': 'UpdateImageGenerationConfiguration',
  '/describeNotificationConfiguration': 'DescribeNotificationConfiguration',
  '/updateNotificationConfiguration': 'UpdateNotificationConfiguration',
  '/describeMappedResourceConfiguration': 'DescribeMappedResourceConfiguration',
  '/describeMediaStorageConfiguration': 'DescribeMediaStorageConfiguration',
  '/updateMediaStorageConfiguration': 'UpdateMediaStorageConfiguration',
  '/getHLSStreamingSessionURL': 'GetHLSStreamingSessionURL',
  '/getDASHStreamingSessionURL': 'GetDASHStreamingSessionURL',
  '/getClip': 'GetClip',
  '/getImages': 'GetImages',
};

/** What the router needs: the route table and everything a request is checked and answered with. */
export type RouterOptions = {
  readonly routes: ReadonlyMap<string, EmulatorRoute>;
  readonly auth: AuthConfig;
  readonly faults: FaultInjector;
  readonly store: StreamStore;
  readonly accountId: string;
  /** The service clock: answers' `Date`, fault delays, and how long each request took in the log. */
  readonly clock: Clock;
  readonly logger: (line: string) => void;
  readonly admin: AdminState;
  /** The server's own origin, for GetDataEndpoint when the request's Host header cannot be used. */
  readonly serverUrl: () => string;
};

/** The answer to one request; never rejects (failures become error answers or a dropped connection). */
export type RequestHandler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

type RequestLog = { operation: string; errorType: string | undefined; note: string | undefined };

export const createRequestHandler =
  (options: RouterOptions): RequestHandler =>
  async (request, response) => {
    const startedMs = options.clock.now();
    const startedMonotonicMs = options.clock.monotonicMs();
    const requestId = randomUUID();
    const rawUrl = request.url ?? '/';
    const path = rawUrl.split('?', 1)[0] ?? '/';
    const log: RequestLog = { operation: '-', errorType: undefined, note: undefined };
    response.on('close', () => {
      const status = response.headersSent ? String(response.statusCode) : 'reset';
      const extra = [log.errorType, log.note].filter((part) => part !== undefined).join(' ');
      options.logger(
        `${new Date(startedMs).toISOString()} ${request.method ?? '?'} ${path} ${status} ${log.operation} ` +
          `${Math.round(options.clock.monotonicMs() - startedMonotonicMs)}ms${extra === '' ? '' : ` ${extra}`} req=${requestId}`,
      );
    });
    const stamp: AnswerStamp = { requestId, dateMs: startedMs };

    try {
      const adminOperation = adminOperationAt(path, request.method);
      if (adminOperation !== undefined) {
        log.operation = adminOperation;
        await handleAdminRequest(request, rawUrl, response, options.admin, stamp);
        return;
      }
      const route = options.routes.get(path);
      log.operation = route?.operation ?? UNSUPPORTED_OPERATIONS[path] ?? '-';
      const isBuffered = route === undefined || route.kind === 'json' || route.isBodyBuffered;
      const body = isBuffered ? await readBody(request) : undefined;
      const region = authenticate(request, rawUrl, body, options.auth);
      if (route === undefined || request.method !== 'POST') {
        throw noOperationAt(request.method, path);
      }
      if (route.plane === 'control') {
        const fault = options.faults.nextControlPlaneFault(route.operation);
        if (fault !== undefined) {
          log.note = `fault#${fault.ruleIndex}`;
          if (await applyControlPlaneFault(fault, request, options.clock)) {
            return;
          }
        }
      }
      const context: OperationContext = {
        store: options.store,
        accountId: options.accountId,
        region,
        stamp,
        dataEndpoint: dataEndpointFor(request, options.serverUrl()),
      };
      const input = body === undefined ? undefined : parseJsonObject(body);
      if (route.kind === 'streaming') {
        await route.handle({ request, response, input }, context);
        return;
      }
      sendJson(response, await route.handle(input ?? {}, context), stamp);
    } catch (error) {
      const serviceError =
        error instanceof KvsServiceError
          ? error
          : new KvsServiceError(
              'InternalFailure',
              'The request processing has failed because of an unknown error.',
            );
      if (!(error instanceof KvsServiceError)) {
        debug('local KVS internal failure: %o', error);
        log.note = error instanceof Error ? error.message : String(error);
      }
      log.errorType = serviceError.errorType;
      if (response.headersSent) {
        response.destroy();
        return;
      }
      // The body may not have been read (auth failed first): close the connection rather than reuse it.
      if (!request.complete) {
        response.setHeader('Connection', 'close');
      }
      sendServiceError(response, serviceError, stamp);
    }
  };

const noOperationAt = (method: string | undefined, path: string): KvsServiceError => {
  const unsupported = UNSUPPORTED_OPERATIONS[path];
  if (unsupported !== undefined && method === 'POST') {
    return new KvsServiceError(
      'InvalidArgumentException',
      `${unsupported} is not supported by the local KVS (kvs-put local) yet.`,
    );
  }
  return new KvsServiceError('UnknownOperationException', `No operation at ${method ?? '?'} ${path}.`);
};

const HOST_HEADER_PATTERN = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** The origin a client reached: what GetDataEndpoint answers, so the data plane is this same server. */
const dataEndpointFor = (request: IncomingMessage, serverUrl: string): string => {
  const host = request.headers.host;
  return host !== undefined && HOST_HEADER_PATTERN.test(host) ? `http://${host}` : serverUrl;
};
