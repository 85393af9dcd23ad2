/**
 * The local KVS: a Kinesis Video Streams look-alike on one loopback HTTP/1.1 server, for `kvs-put local`, the
 * CLI's `--local` mode and tests (spec: shared/docs/kvs-api.md; what it implements and how to run it:
 * docs/local-kvs.md). This module is its public face, the options and the running server, and the one place its
 * parts are put together:
 *
 * - emulator-server.ts listens; request-router.ts takes each request from there to its answer, with request-auth.ts
 *   (SigV4) and the fault plan (fault-injector.ts); admin-routes.ts answers the loopback test hooks;
 * - the routes: control-plane.ts, put-media.ts, get-media.ts and archived-media.ts, over the data plane's shared
 *   state (data-plane.ts);
 * - the state: stream-store.ts and media-store.ts, through the storage contract of storage.ts (memory-storage.ts,
 *   or disk-storage.ts under `dataDir`).
 *
 * ```ts
 * await using kvs = await startLocalKvs({});
 * const client = new KinesisVideoClient({ endpoint: kvs.url, region: kvs.region, credentials: kvs.credentials });
 * ```
 */
import { PUT_MEDIA_PATH } from '../kvs/kvs-protocol.js';
import { ADMIN_FAULTS_PATH, HEALTH_PATH, INTROSPECTION_PREFIX, STATS_PATH } from './admin-routes.js';
import { getMediaForFragmentListRoute, listFragmentsRoute } from './archived-media.js';
import { CONTROL_PLANE_OPERATIONS, controlPlaneRoutes } from './control-plane.js';
import type { IngestCounters } from './data-plane.js';
import { DataPlane } from './data-plane.js';
import { DiskStorage } from './disk-storage.js';
import type { EmulatorClock } from './emulator-clock.js';
import type { EmulatorRoute } from './emulator-routes.js';
import { startHttpServer } from './emulator-server.js';
import { FaultInjector } from './fault-injector.js';
import type { FaultPlan } from './fault-plan.js';
import { loadFaultPlan, parseFaultPlan } from './fault-plan.js';
import { getMediaRoute } from './get-media.js';
import { DEFAULT_LOCAL_KVS_ACCOUNT_ID, resolveLocalKvsConfig } from './local-kvs-config.js';
import {
  DEFAULT_LOCAL_KVS_HOST,
  DEFAULT_LOCAL_KVS_REGION,
  LOCAL_KVS_CREDENTIALS,
} from './local-kvs-defaults.js';
import type { MediaStoreStats } from './media-store.js';
import { MediaStore } from './media-store.js';
import { MemoryStorage } from './memory-storage.js';
import { putMediaRoute } from './put-media.js';
import { createRequestHandler } from './request-router.js';
import type { SigV4Credentials } from './sigv4-verify.js';
import type { MediaStorage, StreamStorage } from './storage.js';
import { StreamStore } from './stream-store.js';

export {
  ADMIN_FAULTS_PATH,
  DEFAULT_LOCAL_KVS_ACCOUNT_ID,
  DEFAULT_LOCAL_KVS_HOST,
  DEFAULT_LOCAL_KVS_REGION,
  HEALTH_PATH,
  INTROSPECTION_PREFIX,
  LOCAL_KVS_CREDENTIALS,
  STATS_PATH,
};

/**
 * The local KVS's options. Where a default is the service's own limit, it comes from KvsLimits
 * (src/fragment/kvs-limits.ts); docs/local-kvs.md lists every default.
 */
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
  /**
   * Keep the streams and their archived fragments under this directory, across restarts (docs/local-kvs.md has
   * the layout). In memory only when absent.
   */
  dataDir?: string;
  /** The initial fault plan, or the path of a JSON file holding one. @default no faults */
  faults?: FaultPlan | string;
  /** Receives one line per request (the CLI writes them to stderr). @default silent */
  logger?: (line: string) => void;
  /**
   * The server clock. `{ now }` (epoch ms) sets what the service reports and checks: responses' `Date`, SigV4
   * clock checks, status delays, timestamps, retention. A whole `Clock` (src/util/clock.ts: `now`, `monotonicMs`,
   * `setTimeout`, `setInterval`) also drives every wait of the service: ack delays, PutMedia's idle and connection
   * timers, throttling, stalls, GetMedia's idle end, fault delays and windows. @default the machine's clock
   */
  clock?: EmulatorClock;
  /**
   * The `--strict` profile: every rate limit of the service on (PutMedia and GetMedia calls per second per
   * stream → ClientLimitExceededException; PutMedia bytes and fragments per second per stream, enforced by
   * throttling the upload), and a fragment that does not start with a key frame is refused with an ERROR ack,
   * `ErrorId.InvalidMkvData` (4006).
   * @default false
   */
  strict?: boolean;
  /**
   * A PutMedia connection this old gets an ERROR ack, `ErrorId.MaxConnectionDurationReached` (4003), and is closed.
   * @default the service's limit, KvsLimits.maxConnectionDurationMs
   */
  maxConnectionDurationMs?: number;
  /** A PutMedia connection whose body is quiet this long is closed. @default the service's, KvsLimits.idleCloseMs */
  idleTimeoutMs?: number;
  /** IDLE acks are sent this often while a PutMedia body is quiet. @default 3000 */
  idleAckIntervalMs?: number;
  /** A GetMedia answer ends after this long without a new fragment. @default 3000 */
  getMediaIdleTimeoutMs?: number;
  /**
   * Fragments longer than this get `ErrorId.MaxFragmentDurationReached` (4002).
   * @default the service's limit, KvsLimits.maxFragmentDurationMs
   */
  maxFragmentDurationMs?: number;
  /**
   * Fragments larger than this get `ErrorId.MaxFragmentSizeReached` (4001).
   * @default the service's limit, KvsLimits.maxFragmentBytes
   */
  maxFragmentBytes?: number;
  /**
   * Producer timestamps further than this into the future get `ErrorId.InvalidProducerTimestamp` (4007).
   * @default the local KVS's choice, DEFAULT_DATA_PLANE_CONFIG.futureToleranceMs (the service documents none)
   */
  futureToleranceMs?: number;
  /**
   * After an early answer (ERROR ack, idle close) to a client still sending, the socket drains the body this
   * long before it is destroyed. @default 2000
   */
  lingerMs?: number;
  /**
   * How long the retention-0 buffer keeps fragments readable by GetMedia.
   * @default the service's, KvsLimits.retentionZeroBufferMs
   */
  bufferDurationMs?: number;
  /**
   * How many bytes of fragments the retention-0 buffer keeps per stream.
   * @default the service's, KvsLimits.retentionZeroBufferBytes
   */
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
  const config = resolveLocalKvsConfig(options);
  const clock = config.clock;
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
    clock,
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
    [PUT_MEDIA_PATH, putMediaRoute(dataPlane)],
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
  const handle = createRequestHandler({
    routes,
    auth: {
      noAuth: config.noAuth,
      credentials: config.credentials,
      region: config.region,
      isRegionPinned: config.isRegionPinned,
      clock,
    },
    faults,
    store,
    accountId: config.accountId,
    clock,
    logger: config.logger,
    admin: { faults, store, media, stats, accountId: config.accountId, region: config.region },
    serverUrl: () => url,
  });
  const server = await startHttpServer({
    host: config.host,
    port: config.port,
    handle,
    isContinueAnswered: (request) => (request.url ?? '').split('?', 1)[0] === PUT_MEDIA_PATH,
    onClientError: (socket) => dataPlane.onClientError(socket),
    logger: config.logger,
  });
  url = server.url;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await server.close();
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
