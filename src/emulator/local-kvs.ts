/**
 * The local KVS: a Kinesis Video Streams look-alike on one loopback HTTP/1.1 server, for `kvs-put local`, the
 * CLI's `--local` mode and tests (issue 3; spec: shared/docs/kvs-api.md).
 *
 * Endpoint design (§4.5, §11 item 1): one server, one root. The control plane answers `POST /<operation>` at
 * the root, and GetDataEndpoint hands out the origin the client reached (`http://127.0.0.1:<port>`, no path),
 * so the data plane (`/putMedia`, `/getMedia`, …) is served by the same server at the same root.
 *
 * Every request is SigV4-verified (§2; `noAuth` turns that off, never by default) against one key pair: the one
 * given, else {@link LOCAL_KVS_CREDENTIALS}.
 *
 * The data plane: PutMedia (put-media.ts), GetMedia (get-media.ts), ListFragments and GetMediaForFragmentList
 * (archived-media.ts), over the fragments of media-store.ts (in memory, or under `dataDir`). Loopback-only test
 * hooks, no SigV4: `POST|GET /_admin/faults` (fault-plan.ts), `GET /__emulator/streams/<name>/fragments` (what
 * each stored fragment holds) and `GET /__emulator/stats` (ingest counters and the process's memory).
 *
 * ```ts
 * await using kvs = await startLocalKvs({});
 * const client = new KinesisVideoClient({ endpoint: kvs.url, region: kvs.region, credentials: kvs.credentials });
 * ```
 */
import {
  DEFAULT_LOCAL_KVS_HOST,
  DEFAULT_LOCAL_KVS_REGION,
  LOCAL_KVS_CREDENTIALS,
} from './local-kvs-defaults.js';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { debuglog } from 'node:util';
import { ErrorCode, KvsPutError } from '../errors.js';
import { CONTROL_PLANE_OPERATIONS, UNSUPPORTED_OPERATIONS, controlPlaneRoutes } from './control-plane.js';
import type { EmulatorClock } from './emulator-clock.js';
import { SYSTEM_CLOCK } from './emulator-clock.js';
import { KvsServiceError, STREAM_NOT_FOUND_MESSAGE } from './emulator-errors.js';
import { getMediaForFragmentListRoute, listFragmentsRoute } from './archived-media.js';
import type { DataPlaneConfig, IngestCounters } from './data-plane.js';
import { DataPlane, DEFAULT_DATA_PLANE_CONFIG } from './data-plane.js';
import { getMediaRoute } from './get-media.js';
import type { MediaStoreStats } from './media-store.js';
import { MediaStore } from './media-store.js';
import { putMediaRoute } from './put-media.js';
import {
  MAX_JSON_BODY_BYTES,
  isLoopbackAddress,
  readBody,
  sendJson,
  sendServiceError,
} from './emulator-http.js';
import type { EmulatorRoute, OperationContext } from './emulator-routes.js';
import type { FaultPlan } from './fault-plan.js';
import { FaultInjector, loadFaultPlan, parseFaultPlan } from './fault-plan.js';
import type { JsonObject } from './input-validator.js';
import type { SigV4Credentials } from './sigv4-verify.js';
import { REGION_PATTERN, sha256Hex, verifySigV4 } from './sigv4-verify.js';
import { DiskStorage } from './disk-storage.js';
import { MemoryStorage } from './memory-storage.js';
import type { MediaStorage, StreamStorage } from './storage.js';
import { DEFAULT_MAX_STREAMS_PER_ACCOUNT, StreamStore } from './stream-store.js';

export { DEFAULT_LOCAL_KVS_HOST, DEFAULT_LOCAL_KVS_REGION, LOCAL_KVS_CREDENTIALS };
const debug = debuglog('kvs');

export const DEFAULT_LOCAL_KVS_ACCOUNT_ID = '123456789012';

/** Loopback-only admin paths (no SigV4). */
export const ADMIN_FAULTS_PATH = '/_admin/faults';
export const HEALTH_PATH = '/__health';
/** `GET /__emulator/streams/<name>/fragments[?region=…]`: the stored fragments of a stream, for tests. */
export const INTROSPECTION_PREFIX = '/__emulator/';
export const STATS_PATH = '/__emulator/stats';

export type LocalKvsOptions = {
  /** Address to bind. @default '127.0.0.1' */
  host?: string;
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number;
  /** The region advertised to clients, and the region of unsigned requests (`noAuth`). @default 'us-east-1' */
  region?: string;
  /**
   * Refuse requests signed for any region but `region` (403 InvalidSignatureException), as a real regional
   * endpoint does. When false, any valid-looking region is accepted and has its own streams (kvs-api.md §2.2).
   * @default false
   */
  isRegionPinned?: boolean;
  /** The 12-digit account id in ARNs. @default '123456789012' */
  accountId?: string;
  /** The one key pair accepted. @default LOCAL_KVS_CREDENTIALS */
  credentials?: SigV4Credentials;
  /** Skip SigV4 verification entirely (unsigned requests accepted). Never the default. @default false */
  noAuth?: boolean;
  /**
   * How long a new stream stays CREATING before it is ACTIVE. The real service takes seconds; 0 makes a new
   * stream ACTIVE at once (what `--local` and most tests want); a few hundred ms exercises wait-for-ACTIVE logic.
   * @default 0
   */
  creatingDelayMs?: number;
  /** How long UpdateStream leaves a stream UPDATING. @default 0 */
  updatingDelayMs?: number;
  /** How long DeleteStream leaves a stream DELETING before it disappears. @default 0 */
  deletingDelayMs?: number;
  /** Streams per account before AccountStreamLimitExceededException. @default 10000 */
  maxStreamsPerAccount?: number;
  /** Persist stream metadata under this directory (standalone mode). In memory only when absent. */
  dataDir?: string;
  /** The initial fault plan, or the path of a JSON file holding one. @default no faults */
  faults?: FaultPlan | string;
  /** Receives one line per request (the CLI writes them to stderr). @default silent */
  logger?: (line: string) => void;
  /** The server clock (responses' `Date`, SigV4 clock checks, status delays, timestamps). @default wall clock */
  clock?: EmulatorClock;
  /**
   * The `--strict` profile: every rate limit of the service on (5 PutMedia and 5 GetMedia calls/s per stream →
   * ClientLimitExceededException; 12.5 MB/s and 5 fragments/s per stream, enforced by throttling the upload), and
   * a fragment that does not start with a key frame is refused with an ERROR ack, `ErrorId.InvalidMkvData` (4006).
   * @default false
   */
  strict?: boolean;
  /**
   * A PutMedia connection this old gets an ERROR ack, `ErrorId.MaxConnectionDurationReached` (4003), and is closed.
   * @default 2 700 000 (45 min)
   */
  maxConnectionDurationMs?: number;
  /** A PutMedia connection whose body is quiet this long is closed. @default 30 000 */
  idleTimeoutMs?: number;
  /** IDLE acks are sent this often while a PutMedia body is quiet. @default 3000 */
  idleAckIntervalMs?: number;
  /** A GetMedia answer ends after this long without a new fragment. @default 3000 */
  getMediaIdleTimeoutMs?: number;
  /** Fragments longer than this get `ErrorId.MaxFragmentDurationReached` (4002). @default 20 000 */
  maxFragmentDurationMs?: number;
  /** Fragments larger than this get `ErrorId.MaxFragmentSizeReached` (4001). @default 52 428 800 (50 MiB) */
  maxFragmentBytes?: number;
  /**
   * Producer timestamps further than this into the future get `ErrorId.InvalidProducerTimestamp` (4007).
   * @default 600 000 (10 min)
   */
  futureToleranceMs?: number;
  /**
   * After an early answer (ERROR ack, idle close) to a client still sending, the socket drains the body this
   * long before it is destroyed. @default 2000
   */
  lingerMs?: number;
  /** How long the retention-0 buffer keeps fragments readable by GetMedia. @default 300 000 (5 min) */
  bufferDurationMs?: number;
  /** How many bytes of fragments the retention-0 buffer keeps per stream. @default 209 715 200 (200 MiB) */
  bufferBytes?: number;
};

/** What `stats()` and `GET /__emulator/stats` report. */
export type LocalKvsStats = {
  ingest: IngestCounters;
  storage: MediaStoreStats;
  /** The server process's memory, bytes (`process.memoryUsage()`). */
  memory: { rssBytes: number; heapUsedBytes: number; externalBytes: number; arrayBuffersBytes: number };
};

/** A running local KVS. Close it (or `await using` it) when done. */
export type LocalKvs = {
  /** The endpoint: `http://<host>:<port>`, no trailing slash. */
  readonly url: string;
  readonly region: string;
  readonly accountId: string;
  /** The accepted key pair. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** The running fault plan (also reachable at `POST|GET /_admin/faults`). */
  readonly faults: FaultInjector;
  /** The stream table (for in-process introspection). */
  readonly store: StreamStore;
  /** The stored fragments (for in-process introspection). */
  readonly media: MediaStore;
  /** Ingest and storage counters and the process's memory (also at `GET /__emulator/stats`). */
  stats: () => LocalKvsStats;
  /** Stops listening, drops open connections, and waits for pending state writes. */
  close: () => Promise<void>;
  [Symbol.asyncDispose]: () => Promise<void>;
};

/** Starts a local KVS and resolves once it listens. */
export const startLocalKvs = async (options: LocalKvsOptions = {}): Promise<LocalKvs> => {
  const config = resolveOptions(options);
  const clock = options.clock ?? SYSTEM_CLOCK;
  // The one place that knows which storage the local KVS has.
  const storage: StreamStorage & MediaStorage =
    options.dataDir === undefined ? new MemoryStorage() : await DiskStorage.open(options.dataDir);
  const store = await StreamStore.open({
    clock,
    storage,
    creatingDelayMs: config.creatingDelayMs,
    deletingDelayMs: config.deletingDelayMs,
    maxStreamsPerAccount: config.maxStreamsPerAccount,
  });
  const faults = new FaultInjector(
    typeof options.faults === 'string'
      ? await loadFaultPlan(options.faults, CONTROL_PLANE_OPERATIONS)
      : options.faults === undefined
        ? {}
        : parseFaultPlan(options.faults, {
            source: 'options.faults',
            knownOperations: CONTROL_PLANE_OPERATIONS,
          }),
  );
  const media = await MediaStore.open({
    clock,
    archive: storage,
    buffer: new MemoryStorage(),
    ...(options.bufferDurationMs === undefined ? {} : { bufferDurationMs: options.bufferDurationMs }),
    ...(options.bufferBytes === undefined ? {} : { bufferBytes: options.bufferBytes }),
  });
  await media.reconcile((streamArn) => store.findByArn(streamArn));
  const dataPlane = new DataPlane(config.dataPlane, media, store, faults, clock);
  const routes = new Map<string, EmulatorRoute>([
    ...controlPlaneRoutes({ updatingDelayMs: config.updatingDelayMs }),
    ['/putMedia', putMediaRoute(dataPlane)],
    ['/getMedia', getMediaRoute(dataPlane)],
    ['/listFragments', listFragmentsRoute(dataPlane)],
    ['/getMediaForFragmentList', getMediaForFragmentListRoute(dataPlane)],
  ]);
  const stats = (): LocalKvsStats => {
    const memory = process.memoryUsage();
    return {
      ingest: { ...dataPlane.counters, recentBodies: [...dataPlane.counters.recentBodies] },
      storage: media.stats,
      memory: {
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        externalBytes: memory.external,
        arrayBuffersBytes: memory.arrayBuffers,
      },
    };
  };

  let url = '';
  const state = (): ServerState => ({ ...config, clock, store, media, stats, faults, routes, url });
  const server = createServer({ requestTimeout: 0 }, (request, response) => {
    void handleRequest(request, response, state());
  });
  // A truncated or malformed request: a PutMedia session answers ERROR StreamReadError when it can; otherwise Node's own
  // handling (400 when nothing was answered yet, then close).
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (dataPlane.onClientError(socket)) {
      return;
    }
    const response = (socket as { _httpMessage?: ServerResponse })._httpMessage;
    if (socket.writable && error.code !== 'ECONNRESET' && response?.headersSent !== true) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    }
    socket.destroy();
  });
  // `Expect: 100-continue`: PutMedia answers its 200 at once instead (kvs-api.md §6.2); others continue.
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    if ((request.url ?? '').split('?', 1)[0] !== '/putMedia') {
      response.writeContinue();
    }
    void handleRequest(request, response, state());
  });
  await listen(server, config.host, config.port);
  const address = server.address() as AddressInfo;
  url = `http://${urlHost(config.host)}:${address.port}`;
  server.on('error', (error) => config.logger(`local KVS server error: ${error.message}`));

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await store.flush();
      await media.close();
    })();
    return closing;
  };
  return {
    url,
    region: config.region,
    accountId: config.accountId,
    credentials: {
      accessKeyId: config.credentials.accessKeyId,
      secretAccessKey: config.credentials.secretAccessKey,
    },
    faults,
    store,
    media,
    stats,
    close,
    [Symbol.asyncDispose]: close,
  };
};

// ---------------------------------------------------------------------------------------------------------------

type ResolvedOptions = {
  host: string;
  port: number;
  region: string;
  isRegionPinned: boolean;
  accountId: string;
  credentials: SigV4Credentials;
  noAuth: boolean;
  creatingDelayMs: number;
  updatingDelayMs: number;
  deletingDelayMs: number;
  maxStreamsPerAccount: number;
  logger: (line: string) => void;
  dataPlane: DataPlaneConfig;
};

type ServerState = ResolvedOptions & {
  clock: EmulatorClock;
  store: StreamStore;
  media: MediaStore;
  stats: () => LocalKvsStats;
  faults: FaultInjector;
  routes: ReadonlyMap<string, EmulatorRoute>;
  url: string;
};

const resolveOptions = (options: LocalKvsOptions): ResolvedOptions => {
  const checkInteger = (
    name: string,
    value: number | undefined,
    min: number,
    max: number,
  ): number | undefined => {
    if (value !== undefined && (!Number.isInteger(value) || value < min || value > max)) {
      throw new TypeError(
        `options.${name}, when provided, must be an integer from ${min} to ${max}; got ${value}`,
      );
    }
    return value;
  };
  const region = options.region ?? DEFAULT_LOCAL_KVS_REGION;
  if (!REGION_PATTERN.test(region)) {
    throw new TypeError(
      `options.region, when provided, must be a region name such as us-east-1; got ${region}`,
    );
  }
  const accountId = options.accountId ?? DEFAULT_LOCAL_KVS_ACCOUNT_ID;
  if (!/^\d{12}$/.test(accountId)) {
    throw new TypeError(`options.accountId, when provided, must be 12 digits; got ${accountId}`);
  }
  const credentials = options.credentials ?? LOCAL_KVS_CREDENTIALS;
  if (credentials.accessKeyId === '' || credentials.secretAccessKey === '') {
    throw new TypeError(
      'options.credentials, when provided, must have a non-empty accessKeyId and secretAccessKey',
    );
  }
  return {
    host: options.host ?? DEFAULT_LOCAL_KVS_HOST,
    port: checkInteger('port', options.port, 0, 65_535) ?? 0,
    region,
    isRegionPinned: options.isRegionPinned ?? false,
    accountId,
    credentials,
    noAuth: options.noAuth ?? false,
    creatingDelayMs: checkInteger('creatingDelayMs', options.creatingDelayMs, 0, 2 ** 31) ?? 0,
    updatingDelayMs: checkInteger('updatingDelayMs', options.updatingDelayMs, 0, 2 ** 31) ?? 0,
    deletingDelayMs: checkInteger('deletingDelayMs', options.deletingDelayMs, 0, 2 ** 31) ?? 0,
    maxStreamsPerAccount:
      checkInteger('maxStreamsPerAccount', options.maxStreamsPerAccount, 1, 2 ** 31) ??
      DEFAULT_MAX_STREAMS_PER_ACCOUNT,
    logger: options.logger ?? (() => undefined),
    dataPlane: {
      ...DEFAULT_DATA_PLANE_CONFIG,
      isStrict: options.strict ?? false,
      ...definedOnly({
        maxConnectionDurationMs: checkInteger(
          'maxConnectionDurationMs',
          options.maxConnectionDurationMs,
          1,
          2 ** 31,
        ),
        idleTimeoutMs: checkInteger('idleTimeoutMs', options.idleTimeoutMs, 1, 2 ** 31),
        idleAckIntervalMs: checkInteger('idleAckIntervalMs', options.idleAckIntervalMs, 1, 2 ** 31),
        getMediaIdleTimeoutMs: checkInteger(
          'getMediaIdleTimeoutMs',
          options.getMediaIdleTimeoutMs,
          1,
          2 ** 31,
        ),
        maxFragmentDurationMs: checkInteger(
          'maxFragmentDurationMs',
          options.maxFragmentDurationMs,
          1,
          2 ** 31,
        ),
        maxFragmentBytes: checkInteger('maxFragmentBytes', options.maxFragmentBytes, 1, 2 ** 40),
        futureToleranceMs: checkInteger('futureToleranceMs', options.futureToleranceMs, 0, 2 ** 40),
        lingerMs: checkInteger('lingerMs', options.lingerMs, 0, 2 ** 31),
      }),
    },
  };
};

/** The entries of an object whose value is not undefined (for `exactOptionalPropertyTypes`-safe spreading). */
const definedOnly = <T extends Record<string, number | undefined>>(
  values: T,
): Partial<Record<keyof T, number>> =>
  Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<
    Record<keyof T, number>
  >;

const listen = async (server: Server, host: string, port: number): Promise<void> => {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'EADDRINUSE'
        ? 'address in use'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EADDRNOTAVAIL'
            ? 'address not available on this machine'
            : (code ?? String(error));
    const suggestion =
      code === 'EADDRINUSE'
        ? 'Stop the process using that port, pick another with --port, or use --port 0 for any free port.'
        : code === 'EACCES'
          ? 'Ports below 1024 need privileges: pick a port from 1024 up, or --port 0.'
          : 'Check --host: it must be an address of this machine (127.0.0.1 by default).';
    throw new KvsPutError(ErrorCode.Io, `Cannot listen on ${host}:${port}: ${reason}`, {
      context: { host, port, code },
      suggestion,
      cause: error,
    });
  }
};

const urlHost = (host: string): string => {
  if (host === '0.0.0.0' || host === '::' || host === '') {
    return DEFAULT_LOCAL_KVS_HOST;
  }
  return host.includes(':') ? `[${host}]` : host;
};

const HOST_HEADER_PATTERN = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** The origin a client reached: what GetDataEndpoint answers, so the data plane is this same server. */
const dataEndpointFor = (request: IncomingMessage, state: ServerState): string => {
  const host = request.headers.host;
  return host !== undefined && HOST_HEADER_PATTERN.test(host) ? `http://${host}` : state.url;
};

type RequestLog = { operation: string; errorType: string | undefined; note: string | undefined };

const handleRequest = async (
  request: IncomingMessage,
  response: ServerResponse,
  state: ServerState,
): Promise<void> => {
  const startedMs = state.clock.now();
  const startedAt = performance.now();
  const requestId = randomUUID();
  const rawUrl = request.url ?? '/';
  const path = rawUrl.split('?', 1)[0] ?? '/';
  const log: RequestLog = { operation: '-', errorType: undefined, note: undefined };
  response.on('close', () => {
    const status = response.headersSent ? String(response.statusCode) : 'reset';
    const extra = [log.errorType, log.note].filter((part) => part !== undefined).join(' ');
    state.logger(
      `${new Date(startedMs).toISOString()} ${request.method ?? '?'} ${path} ${status} ${log.operation} ` +
        `${Math.round(performance.now() - startedAt)}ms${extra === '' ? '' : ` ${extra}`} req=${requestId}`,
    );
  });
  const answer = { requestId, dateMs: startedMs };

  try {
    if (path === HEALTH_PATH && request.method === 'GET') {
      log.operation = 'Health';
      sendJson(response, { status: 'ok' }, answer);
      return;
    }
    if (path === ADMIN_FAULTS_PATH) {
      log.operation = 'AdminFaults';
      await handleAdminFaults(request, response, state, answer);
      return;
    }
    if (path.startsWith(INTROSPECTION_PREFIX)) {
      log.operation = 'Introspection';
      handleIntrospection(request, rawUrl, response, state, answer);
      return;
    }

    const route = state.routes.get(path);
    log.operation = route?.operation ?? UNSUPPORTED_OPERATIONS[path] ?? '-';
    const isBuffered = route === undefined || route.kind === 'json' || route.isBodyBuffered;
    const body = isBuffered ? await readBody(request, MAX_JSON_BODY_BYTES) : undefined;
    const region = authenticate(request, rawUrl, body, state);

    if (route === undefined || request.method !== 'POST') {
      const unsupported = UNSUPPORTED_OPERATIONS[path];
      if (unsupported !== undefined && request.method === 'POST') {
        throw new KvsServiceError(
          'InvalidArgumentException',
          `${unsupported} is not supported by the local KVS (kvs-put local) yet.`,
        );
      }
      throw new KvsServiceError(
        'UnknownOperationException',
        `No operation at ${request.method ?? '?'} ${path}.`,
      );
    }

    const context: OperationContext = {
      store: state.store,
      accountId: state.accountId,
      region,
      nowMs: startedMs,
      requestId,
      dataEndpoint: dataEndpointFor(request, state),
    };
    if (route.plane === 'control') {
      const fault = state.faults.nextControlPlaneFault(route.operation);
      if (fault !== undefined) {
        log.note = `fault#${fault.ruleIndex}`;
        if (fault.delayMs > 0) {
          await delay(fault.delayMs);
        }
        if (fault.isConnectionReset) {
          request.socket.destroy();
          return;
        }
        if (fault.error !== undefined) {
          throw new KvsServiceError(fault.error.type, fault.error.message, fault.error.statusCode);
        }
      }
    }

    if (route.kind === 'streaming') {
      await route.handle({ request, response, body }, context);
      return;
    }
    const output = await route.handle(parseJsonBody(body ?? Buffer.alloc(0)), context);
    sendJson(response, output, answer);
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
    sendServiceError(response, serviceError, answer);
  }
};

/** Verifies SigV4 (unless `noAuth`) and returns the request's region. */
const authenticate = (
  request: IncomingMessage,
  rawUrl: string,
  body: Buffer | undefined,
  state: ServerState,
): string => {
  if (state.noAuth) {
    return state.region;
  }
  const identity = verifySigV4(
    {
      method: request.method ?? 'POST',
      rawUrl,
      rawHeaders: request.rawHeaders,
      body: body === undefined ? { kind: 'streamed' } : { kind: 'buffered', sha256Hex: sha256Hex(body) },
    },
    {
      findCredentials: (accessKeyId) =>
        accessKeyId === state.credentials.accessKeyId ? state.credentials : undefined,
      nowMs: state.clock.now(),
      ...(state.isRegionPinned ? { pinnedRegion: state.region } : {}),
    },
  );
  return identity.region;
};

/** restJson1 bodies: a JSON object; an empty body reads as `{}`. */
const parseJsonBody = (body: Buffer): JsonObject => {
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

/**
 * Loopback-only test hooks: `GET /__emulator/stats`, and `GET /__emulator/streams/<name>/fragments` (query
 * `region`, default the server's) listing what each stored fragment holds.
 */
const handleIntrospection = (
  request: IncomingMessage,
  rawUrl: string,
  response: ServerResponse,
  state: ServerState,
  answer: { requestId: string; dateMs: number },
): void => {
  if (!isLoopbackAddress(request.socket.remoteAddress)) {
    throw new KvsServiceError(
      'AccessDeniedException',
      'The introspection endpoints answer loopback clients only.',
      403,
      true,
    );
  }
  const url = new URL(rawUrl, 'http://local');
  if (request.method === 'GET' && url.pathname === STATS_PATH) {
    sendJson(response, state.stats(), answer);
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
    answer,
  );
};

/** `GET /_admin/faults` shows the plan and its counters; `POST` replaces it. Loopback only, no SigV4. */
const handleAdminFaults = async (
  request: IncomingMessage,
  response: ServerResponse,
  state: ServerState,
  answer: { requestId: string; dateMs: number },
): Promise<void> => {
  if (!isLoopbackAddress(request.socket.remoteAddress)) {
    throw new KvsServiceError(
      'AccessDeniedException',
      'The admin endpoint answers loopback clients only.',
      403,
      true,
    );
  }
  if (request.method === 'POST') {
    const body = await readBody(request, MAX_JSON_BODY_BYTES);
    let plan: FaultPlan;
    try {
      plan = parseFaultPlan(parseJsonBody(body), {
        source: 'POST /_admin/faults',
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
  sendJson(response, { plan: state.faults.plan, rules: state.faults.state() }, answer);
};
