/**
 * The local KVS's test hooks, none of them part of the service and none SigV4-signed: `GET /__health`, and, for
 * loopback clients only, the fault plan at `GET|POST /_admin/faults` and the introspection endpoints under
 * `/__emulator/` (kvs-api.md §11 items 1, 6 and 7).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KvsPutError } from '../errors.js';
import { CONTROL_PLANE_OPERATIONS } from './control-plane.js';
import { KvsServiceError, STREAM_NOT_FOUND_MESSAGE } from './emulator-errors.js';
import type { AnswerStamp } from './emulator-http.js';
import { isLoopbackAddress, readJsonBody, sendJson } from './emulator-http.js';
import type { FaultInjector } from './fault-injector.js';
import type { FaultPlan } from './fault-plan.js';
import { parseFaultPlan } from './fault-plan.js';
import type { MediaStore } from './media-store.js';
import type { StreamStore } from './stream-store.js';

export const HEALTH_PATH = '/__health';
/** `GET` shows the running fault plan and its counters; `POST` replaces it. */
export const ADMIN_FAULTS_PATH = '/_admin/faults';
/** `GET /__emulator/streams/<name>/fragments[?region=…]`: the stored fragments of a stream, for tests. */
export const INTROSPECTION_PREFIX = '/__emulator/';
/** `GET`: ingest and storage counters and the process's memory. */
export const STATS_PATH = '/__emulator/stats';

/** What the hooks read and change. */
export type AdminState = {
  readonly faults: FaultInjector;
  readonly store: StreamStore;
  readonly media: MediaStore;
  readonly stats: () => unknown;
  readonly accountId: string;
  /** The region introspection looks in unless the query names another. */
  readonly region: string;
};

/** The name of the hook at `path` (for the request log), or undefined when `path` is the service's. */
export const adminOperationAt = (path: string, method: string | undefined): string | undefined =>
  path === HEALTH_PATH && method === 'GET'
    ? 'Health'
    : path === ADMIN_FAULTS_PATH
      ? 'AdminFaults'
      : path.startsWith(INTROSPECTION_PREFIX)
        ? 'Introspection'
        : undefined;

/** Answers a request to a hook (`adminOperationAt` named it). */
export const handleAdminRequest = async (
  request: IncomingMessage,
  rawUrl: string,
  response: ServerResponse,
  state: AdminState,
  stamp: AnswerStamp,
): Promise<void> => {
  const path = rawUrl.split('?', 1)[0] ?? '/';
  if (path === HEALTH_PATH) {
    sendJson(response, { status: 'ok' }, stamp);
  } else if (path === ADMIN_FAULTS_PATH) {
    await handleFaults(request, response, state, stamp);
  } else {
    handleIntrospection(request, rawUrl, response, state, stamp);
  }
};

const requireLoopback = (request: IncomingMessage, what: string): void => {
  if (!isLoopbackAddress(request.socket.remoteAddress)) {
    throw new KvsServiceError('AccessDeniedException', `${what} loopback clients only.`, 403, true);
  }
};

/** `GET /_admin/faults` shows the plan and its counters; `POST` replaces it. */
const handleFaults = async (
  request: IncomingMessage,
  response: ServerResponse,
  state: AdminState,
  stamp: AnswerStamp,
): Promise<void> => {
  requireLoopback(request, 'The admin endpoint answers');
  if (request.method === 'POST') {
    const input = await readJsonBody(request);
    let plan: FaultPlan;
    try {
      plan = parseFaultPlan(input, {
        source: `POST ${ADMIN_FAULTS_PATH}`,
        knownOperations: CONTROL_PLANE_OPERATIONS,
      });
    } catch (error) {
      if (error instanceof KvsPutError) {
        throw new KvsServiceError('InvalidArgumentException', error.message);
      }
      throw error;
    }
    state.faults.replace(plan);
  } else if (request.method !== 'GET') {
    throw new KvsServiceError(
      'UnknownOperationException',
      `No operation at ${request.method ?? '?'} ${ADMIN_FAULTS_PATH}.`,
    );
  }
  sendJson(response, { plan: state.faults.plan, rules: state.faults.state() }, stamp);
};

/**
 * `GET /__emulator/stats`, and `GET /__emulator/streams/<name>/fragments` (query `region`, default the server's)
 * listing what each stored fragment holds, so tests assert on facts instead of decoding video.
 */
const handleIntrospection = (
  request: IncomingMessage,
  rawUrl: string,
  response: ServerResponse,
  state: AdminState,
  stamp: AnswerStamp,
): void => {
  requireLoopback(request, 'The introspection endpoints answer');
  const url = new URL(rawUrl, 'http://local');
  if (request.method === 'GET' && url.pathname === STATS_PATH) {
    sendJson(response, state.stats(), stamp);
    return;
  }
  const match = /^\/__emulator\/streams\/([^/]+)\/fragments$/.exec(url.pathname);
  if (request.method !== 'GET' || match === null) {
    throw new KvsServiceError(
      'UnknownOperationException',
      `No operation at ${request.method ?? '?'} ${url.pathname}.`,
    );
  }
  const streamName = decodeURIComponent(match[1] ?? '');
  const region = url.searchParams.get('region') ?? state.region;
  const stream = state.store.findByName({ accountId: state.accountId, region }, streamName);
  if (stream === undefined) {
    throw new KvsServiceError('ResourceNotFoundException', STREAM_NOT_FOUND_MESSAGE);
  }
  sendJson(
    response,
    {
      streamName: stream.streamName,
      streamArn: stream.streamArn,
      status: stream.status,
      dataRetentionInHours: stream.dataRetentionInHours,
      fragments: state.media.list(stream).map((fragment) => ({
        fragmentNumber: fragment.fragmentNumber,
        timecode: fragment.timecode,
        producerTimestampMs: fragment.producerTimestampMs,
        serverTimestampMs: fragment.serverTimestampMs,
        durationMs: fragment.durationMs,
        sizeBytes: fragment.sizeBytes,
        frameCount: fragment.frameCount,
        framesPerTrack: fragment.framesPerTrack,
        startsWithKeyframe: fragment.startsWithKeyframe,
        isArchived: fragment.isArchived,
        tags: fragment.tags.map((tag) => ({
          name: tag.name,
          ...(tag.value === undefined ? {} : { value: tag.value }),
        })),
      })),
    },
    stamp,
  );
};
