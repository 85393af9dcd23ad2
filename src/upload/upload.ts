/**
 * `upload(source, options)`: the whole pipeline as one call. It finds or creates the stream, plans the
 * source, runs the upload session on its fragments, and reports everything as {@link UploadEvent}s.
 */
import { appendFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { ErrorCode, KvsPutError } from '../errors.js';
import type { StreamControl, StreamRef } from '../kvs/stream-control.js';
import type { UploadProgress, UploadSummary as SessionSummary } from '../session/upload-session.js';

export type { UploadProgress } from '../session/upload-session.js';
import { UploadSession } from '../session/upload-session.js';
import type { Source } from '../source/sources.js';
import { plural } from '../util/plural.js';
import { EventStream } from '../util/event-stream.js';
import { makeDirectorySync } from '../util/make-directory.js';
import { fileSystemError } from '../util/media-file.js';
import { VERSION } from '../version.js';
import type { StatsEvent, UploadEvent, UploadSummary } from './upload-events.js';
import { recordOf, summaryRecord } from './upload-events.js';
import type { UploadConfig, UploadOptions } from './upload-options.js';
import { resolveUploadConfig } from './upload-options.js';
import type { Outcome } from './upload-events.js';
import { configuredEndpoint } from './service-rules.js';
import { framesNotSentNotice, framesNotSentOf, noVideoError, throwIfFailed } from './run-verdict.js';
import type { FragmentFeed } from './source-fragments.js';
import { clipsFeed, ffmpegLocator, liveFeed, planSource, totalClipBytes } from './source-fragments.js';

/** A running upload: its events as an async iterable, its outcome, and a way to stop it. */
export type UploadRun = AsyncIterable<UploadEvent> & {
  /**
   * The summary, once every fragment is acknowledged, refused or given up on. Rejects with a
   * {@link KvsPutError} when the upload failed (its `code` says how, as the CLI's exit code does); the
   * `summary` event has been emitted before, when the upload got that far.
   */
  readonly done: Promise<UploadSummary>;
  /**
   * Stops as Ctrl+C does: a live source closes its last fragment and flushes it; a recording sends nothing
   * more. Either way the acks of what was sent are awaited for up to `stopTimeout` ms.
   */
  stop(): void;
  /** Bytes written to PutMedia connections so far (for a progress bar). */
  readonly bytesSent: number;
  /** Bytes of fragments held in memory (unsent + unacknowledged) and their bound, once the session runs. */
  readonly buffer: { readonly bytes: number; readonly maxBytes: number };
  /** Fragments so far, sent and awaiting acks, and not sent: what a Ctrl+C line reports. */
  progress(): UploadProgress;
};

/**
 * Uploads `source` to a Kinesis video stream. Iterate the returned run for its events (each iterator sees
 * the events from when it was made: iterate at once to see them all), and await `done` for the summary.
 */
export const upload = (source: Source, options: UploadOptions): UploadRun => {
  const events = new EventStream<UploadEvent>();
  const stopping = new AbortController();
  const onSignal = (): void => stopping.abort(options.signal?.reason);
  if (options.signal?.aborted === true) {
    onSignal();
  }
  options.signal?.addEventListener('abort', onSignal, { once: true });
  let bytesSent = 0;
  let buffer = (): { bytes: number; maxBytes: number } => ({ bytes: 0, maxBytes: 0 });
  let progress = (): UploadProgress => ({ fragments: 0, stored: 0, awaitingAcks: 0, unsent: 0 });
  const emit = (event: UploadEvent): void => events.push(event);
  const done = (async () => {
    // Starts after the caller had a chance to iterate: the first events reach its loop.
    await Promise.resolve();
    return runUpload(source, options, {
      emit,
      signal: stopping.signal,
      onBytes: (bytes) => {
        bytesSent += bytes;
      },
      onSession: (session, maxBytes) => {
        buffer = () => ({ bytes: session.bufferedBytes, maxBytes });
        progress = () => session.progress();
      },
    });
  })();
  done.then(
    () => events.end(),
    (error: unknown) => events.end(error),
  );
  void done.finally(() => options.signal?.removeEventListener('abort', onSignal)).catch(() => undefined);
  return {
    [Symbol.asyncIterator]: () => events[Symbol.asyncIterator](),
    done,
    stop: () => stopping.abort(new Error('stopped')),
    get bytesSent() {
      return bytesSent;
    },
    get buffer() {
      return buffer();
    },
    progress: () => progress(),
  };
};

type RunContext = {
  emit: (event: UploadEvent) => void;
  /** Aborted by stop() or the caller's signal. */
  signal: AbortSignal;
  onBytes: (bytes: number) => void;
  onSession: (session: UploadSession, maxBufferBytes: number) => void;
};

/** Runs the upload and emits its one summary last, whether it succeeded or failed. */
const runUpload = async (source: Source, options: UploadOptions, run: RunContext): Promise<UploadSummary> => {
  const startedAtMs = Date.now();
  const outcome: Outcome = { session: undefined, refused: 0 };
  let failure: { error: unknown } | undefined;
  try {
    await runPipeline(source, options, run, outcome, startedAtMs);
  } catch (error) {
    failure = { error };
  }
  // A signal (stop(), the caller's AbortSignal) interrupts; a live run's --duration ending it does not.
  const record = summaryRecord(outcome, startedAtMs, run.signal.aborted, failure?.error);
  run.emit(record);
  if (failure !== undefined) {
    throw failure.error;
  }
  return record;
};

const runPipeline = async (
  source: Source,
  options: UploadOptions,
  run: RunContext,
  outcome: Outcome,
  startedAtMs: number,
): Promise<void> => {
  const isLive = source.kind === 'live';
  const config = resolveUploadConfig(options, isLive);
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const credentials = await credentialsOf(options, env, run.emit);
  const endpoint = configuredEndpoint(options, env);
  const { StreamControl } = await import('../kvs/stream-control.js');
  const control = new StreamControl({
    credentials,
    ...(options.region === undefined ? {} : { region: options.region }),
    // The endpoint the SDK would take from the environment, given explicitly: messages can then name it.
    ...(endpoint === undefined ? {} : { endpoint: endpoint.url }),
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    signal: run.signal,
  });
  try {
    const ref: StreamRef = {
      ...(options.stream === undefined ? {} : { streamName: options.stream }),
      ...(options.streamArn === undefined ? {} : { streamArn: options.streamArn }),
    };
    const ffmpeg = ffmpegLocator(env);
    const phase = <T>(what: string, work: Promise<T>): Promise<T> => unlessAborted(run.signal, what, work);
    const plan = await phase(
      source.kind === 'live' ? 'preparing the capture' : 'probing the media',
      planSource(source, { cwd, env, nowMs: Date.now(), ffmpeg }),
    );
    const region = await phase('resolving the region', control.region());
    const streamShown = options.stream ?? options.streamArn ?? '';
    const stream = await phase(
      `looking up stream ${streamShown}`,
      control.ensureStream(
        ref,
        options.create === true
          ? {
              ...(options.retentionHours === undefined ? {} : { retentionHours: options.retentionHours }),
              ...(options.mediaType === undefined ? {} : { mediaType: options.mediaType }),
              ...(options.kmsKeyId === undefined ? {} : { kmsKeyId: options.kmsKeyId }),
              ...(options.streamTags === undefined ? {} : { tags: { ...options.streamTags } }),
            }
          : undefined,
      ),
    );
    const retentionHours = stream.DataRetentionInHours ?? 0;
    if (options.retentionHours !== undefined && options.retentionHours !== retentionHours) {
      // CreateStream alone takes a retention: an existing stream keeps its own.
      run.emit({
        event: 'warning',
        message: `stream ${stream.StreamName ?? ''} exists with retention ${retentionHours} h: --retention-hours ${options.retentionHours} applies only to a stream --create makes`,
      });
    }
    const streamName = stream.StreamName ?? options.stream ?? '';
    // A live capture stops on stop() (or after `duration`), and the upload then flushes what it captured.
    const liveStop = isLive ? stopSignal(run.signal, options.duration) : undefined;
    const context = {
      ffmpeg,
      emit: run.emit,
      minFragmentDurationMs: options.minFragmentDuration,
      cwd,
    };
    let feed: FragmentFeed;
    let firstProducerMs: number;
    if (plan.kind === 'live' && source.kind === 'live') {
      // Credentials and the data endpoint first (both are cached), so that the PutMedia connection is up
      // before the camera's first frame: frames never queue behind the control plane.
      await phase('getting the data endpoint', Promise.all([credentials(), control.dataEndpoint(ref)]));
      run.emit({
        event: 'start',
        stream: streamName,
        region,
        retentionHours,
        source: 'live',
        description: plan.plan.description,
        notes: [...plan.plan.invocation.reasons],
      });
      firstProducerMs = Date.now();
      feed = await phase('starting ffmpeg', liveFeed(source, plan.plan, liveStop!.signal, context));
    } else if (plan.kind === 'clips' && source.kind === 'clips') {
      const totalBytes = await phase('reading the clips', totalClipBytes(plan.clips, cwd));
      run.emit({
        event: 'start',
        stream: streamName,
        region,
        retentionHours,
        source: 'clips',
        description: plural(plan.clips.length, 'clip'),
        ...(totalBytes === undefined ? {} : { totalBytes }),
        notes: [],
      });
      firstProducerMs = plan.clips[0]?.startTimeMs ?? Date.now();
      feed = await phase('reading the clips', clipsFeed(source, plan.clips, run.signal, context));
    } else {
      throw new KvsPutError(ErrorCode.Internal, 'the source plan does not match its source');
    }
    let summary: SessionSummary;
    try {
      summary = await runSession(feed, {
        ref,
        region,
        credentials,
        control,
        config,
        isLive,
        isPersistedAckExpected: retentionHours > 0,
        timecodeMode: source.kind === 'clips' ? (source.options.timecode ?? 'absolute') : 'absolute',
        firstProducerMs,
        options,
        cwd,
        run,
        outcome,
        signal: liveStop?.signal ?? run.signal,
      });
    } finally {
      liveStop?.dispose();
    }
    // Interrupted means stopped by a signal (or stop()), not by --duration ending a live capture.
    summary = { ...summary, isInterrupted: run.signal.aborted };
    const refused = feed.refused();
    outcome.session = summary;
    outcome.refused = refused;
    if (isLive && source.kind === 'live' && summary.fragments === 0 && summary.sourceError === undefined) {
      // A camera that never answered must fail the run, so that scripts and systemd can tell.
      throw await noVideoError(
        source,
        (Date.now() - startedAtMs) / 1000,
        feed.restarts().lastLoss,
        run.signal,
      );
    }
    outcome.framesNotSent = framesNotSentOf(feed.fragmenterStats);
    feed.fragmenterStats.forEach((stats, index) => {
      const notice = framesNotSentNotice(feed.clipPaths[index] ?? 'the input', stats);
      if (notice !== undefined) {
        run.emit(notice);
      }
    });
    const stored =
      summary.fragments - summary.skipped.length - summary.dropped - summary.unacknowledged - summary.notSent;
    if (options.verify === true && streamName !== '' && stored > 0) {
      const { readBack } = await import('../kvs/read-back.js');
      const result = await phase('reading the upload back', readBack(control, ref, firstProducerMs, stored));
      run.emit({ event: 'verify', ...result });
      if (result.fragments < stored) {
        throw new KvsPutError(
          ErrorCode.Upload,
          `GetMedia returned ${result.fragments} of ${stored} stored fragments`,
        );
      }
    }
    throwIfFailed(summary, refused, isLive, config.stopTimeoutMs, feed.firstRefusal());
  } finally {
    control.destroy();
  }
};

const credentialsOf = async (
  options: UploadOptions,
  env: Readonly<Record<string, string | undefined>>,
  emit: (event: UploadEvent) => void,
): Promise<AwsCredentialIdentityProvider> => {
  const given = options.credentials;
  if (typeof given === 'function') {
    return given;
  }
  if (given !== undefined) {
    return () => Promise.resolve(given);
  }
  const { defaultCredentials } = await import('../kvs/credentials.js');
  return defaultCredentials({
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    env,
    onWarning: (message) => emit({ event: 'warning', message }),
  });
};

type SessionContext = {
  ref: StreamRef;
  region: string;
  credentials: AwsCredentialIdentityProvider;
  control: StreamControl;
  config: UploadConfig;
  isLive: boolean;
  isPersistedAckExpected: boolean;
  timecodeMode: 'absolute' | 'relative';
  firstProducerMs: number;
  options: UploadOptions;
  cwd: string;
  run: RunContext;
  outcome: Outcome;
  signal: AbortSignal;
};

const runSession = async (feed: FragmentFeed, context: SessionContext): Promise<SessionSummary> => {
  const { config, control, ref, isLive, options, run } = context;
  const dumpDir = options.dumpDir === undefined ? undefined : resolve(context.cwd, options.dumpDir);
  if (dumpDir !== undefined) {
    try {
      makeDirectorySync(dumpDir);
    } catch (error) {
      throw fileSystemError(error, `--dump-dir ${options.dumpDir ?? dumpDir}`) ?? error;
    }
  }
  const session: UploadSession = new UploadSession({
    ...ref,
    region: context.region,
    credentials: context.credentials,
    endpoint: () => control.dataEndpoint(ref),
    onEndpointFailure: () => control.invalidateEndpoint(),
    timecodeMode: context.timecodeMode,
    producerStartTimestampMs: context.firstProducerMs,
    isPersistedAckExpected: context.isPersistedAckExpected,
    maxBufferBytes: config.maxBufferBytes,
    // A file waits for the network; a camera cannot, so the oldest unsent fragments go instead.
    onBufferFull: isLive ? 'drop-oldest' : 'block',
    connectBeforeData: isLive,
    maxAttempts: config.maxAttempts,
    maxBytesPerSecond: config.maxBytesPerSecond,
    maxFragmentsPerSecond: config.maxFragmentsPerSecond,
    userAgent: `kvs-put/${VERSION}`,
    stopTimeoutMs: config.stopTimeoutMs,
    stalenessMs: config.stalenessMs,
    backoff: config.backoff,
    ...(options.rotateAfter === undefined ? {} : { rotateAfterMs: options.rotateAfter }),
    onEvent: (event) => run.emit(recordOf(event)),
    onWrite: (connection, chunks) => {
      let bytes = 0;
      for (const chunk of chunks) {
        bytes += chunk.length;
        if (dumpDir !== undefined) {
          appendFileSync(join(dumpDir, `session-${String(connection).padStart(3, '0')}.mkv`), chunk);
        }
      }
      run.onBytes(bytes);
    },
    signal: context.signal,
    onAbort: isLive ? 'flush' : 'drop-unsent',
  });
  run.onSession(session, config.maxBufferBytes);
  context.outcome.sessionSoFar = () => session.summary();
  // A live run goes on for days: it says how it is doing every so often, not only at the end.
  const statsTimer =
    isLive && config.statsIntervalMs > 0
      ? setInterval(
          () => run.emit(statsRecord(session, feed.restarts().count, run.signal.aborted)),
          config.statsIntervalMs,
        )
      : undefined;
  statsTimer?.unref();
  try {
    return await session.run(feed.fragments);
  } catch (error) {
    if (error instanceof KvsPutError && error.code === ErrorCode.Upload) {
      // What the service holds is what a rerun need not send again.
      const { stored, fragments } = session.progress();
      throw new KvsPutError(
        error.code,
        `${error.message}; ${stored} of ${plural(fragments, 'fragment')} stored`,
        {
          context: { ...error.context, stored, fragments },
          ...(error.suggestion === undefined ? {} : { suggestion: error.suggestion }),
          cause: error.cause,
        },
      );
    }
    throw error;
  } finally {
    clearInterval(statsTimer);
  }
};

const statsRecord = (session: UploadSession, sourceRestarts: number, isInterrupted: boolean): StatsEvent => {
  const usage = process.resourceUsage();
  // The V8 heap and the Buffers apart from RSS: a slow leak shows in one of them long before RSS does.
  const memory = process.memoryUsage();
  return {
    event: 'stats',
    ...session.interval(),
    // As in the summary: a signal, not the end of --duration.
    isInterrupted,
    sourceRestarts,
    process: {
      cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      arrayBuffersBytes: memory.arrayBuffers,
    },
  };
};

/** An AbortSignal that fires on `signal` or after `durationS`. */
const stopSignal = (
  signal: AbortSignal,
  durationS: number | undefined,
): { signal: AbortSignal; dispose: () => void } => {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal.reason);
  if (signal.aborted) {
    onAbort();
  }
  signal.addEventListener('abort', onAbort, { once: true });
  const timer =
    durationS === undefined
      ? undefined
      : setTimeout(() => controller.abort(new Error('duration reached')), durationS * 1000);
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    },
  };
};

/**
 * Start-up work (credentials, the control plane, the ffmpeg probe) that a signal must cut short: an endpoint
 * that accepts TCP and never answers would otherwise hold the run for the SDK's whole timeout.
 */
const unlessAborted = async <T>(signal: AbortSignal, what: string, work: Promise<T>): Promise<T> => {
  const interrupted = (): KvsPutError =>
    new KvsPutError(ErrorCode.Interrupted, `interrupted while ${what}: nothing was sent`);
  if (signal.aborted) {
    work.catch(() => undefined);
    throw interrupted();
  }
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(interrupted());
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } catch (error) {
    // The SDK's own abort error says less than where the run was.
    throw signal.aborted ? interrupted() : error;
  } finally {
    signal.removeEventListener('abort', onAbort);
    work.catch(() => undefined);
  }
};
