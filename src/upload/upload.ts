/**
 * `upload(source, options)`: the whole pipeline as one call. It finds or creates the stream, plans the
 * source, runs the upload session on its fragments, and reports everything as {@link UploadEvent}s.
 */
import { appendFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { ErrorCode, KvsPutError } from '../errors.js';
import { refusedFragmentsError } from '../fragment/fragment-rules.js';
import type { StreamControl, StreamRef } from '../kvs/stream-control.js';
import type { UploadSummary as SessionSummary } from '../session/upload-session.js';
import { UploadSession } from '../session/upload-session.js';
import type { Source } from '../source/sources.js';
import { peakRssBytes } from '../util/peak-rss.js';
import { EventStream } from '../util/event-stream.js';
import { makeDirectorySync } from '../util/make-directory.js';
import { fileErrorReason } from '../util/media-file.js';
import { VERSION } from '../version.js';
import type { FramesNotSent, StatsEvent, SummaryEvent, UploadEvent, UploadSummary } from './upload-events.js';
import type { FragmenterStats } from '../fragment/fragmenter.js';
import { recordOf } from './upload-events.js';
import type { UploadConfig, UploadOptions } from './upload-options.js';
import { resolveUploadConfig } from './upload-options.js';
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
  };
};

type RunContext = {
  emit: (event: UploadEvent) => void;
  /** Aborted by stop() or the caller's signal. */
  signal: AbortSignal;
  onBytes: (bytes: number) => void;
};

const runUpload = async (source: Source, options: UploadOptions, run: RunContext): Promise<UploadSummary> => {
  const startedAtMs = Date.now();
  const isLive = source.kind === 'live';
  const config = resolveUploadConfig(options, isLive);
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const credentials = await credentialsOf(options);
  const { StreamControl } = await import('../kvs/stream-control.js');
  const control = new StreamControl({
    credentials,
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpointUrl === undefined ? {} : { endpoint: options.endpointUrl }),
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    signal: run.signal,
  });
  try {
    const ref: StreamRef = {
      ...(options.stream === undefined ? {} : { streamName: options.stream }),
      ...(options.streamArn === undefined ? {} : { streamArn: options.streamArn }),
    };
    const ffmpeg = ffmpegLocator(env);
    const plan = await planSource(source, { cwd, env, nowMs: Date.now(), ffmpeg });
    const region = await control.region();
    const stream = await control.ensureStream(
      ref,
      options.create === true
        ? {
            ...(options.retentionHours === undefined ? {} : { retentionHours: options.retentionHours }),
            ...(options.mediaType === undefined ? {} : { mediaType: options.mediaType }),
            ...(options.kmsKeyId === undefined ? {} : { kmsKeyId: options.kmsKeyId }),
            ...(options.streamTags === undefined ? {} : { tags: { ...options.streamTags } }),
          }
        : undefined,
    );
    const retentionHours = stream.DataRetentionInHours ?? 0;
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
      await Promise.all([credentials(), control.dataEndpoint(ref)]);
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
      feed = await liveFeed(source, plan.plan, liveStop!.signal, context);
    } else if (plan.kind === 'clips' && source.kind === 'clips') {
      const totalBytes = await totalClipBytes(plan.clips, cwd);
      run.emit({
        event: 'start',
        stream: streamName,
        region,
        retentionHours,
        source: 'clips',
        description: `${plan.clips.length} clip(s)`,
        ...(totalBytes === undefined ? {} : { totalBytes }),
        notes: [],
      });
      firstProducerMs = plan.clips[0]?.startTimeMs ?? Date.now();
      feed = await clipsFeed(source, plan.clips, run.signal, context);
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
        signal: liveStop?.signal ?? run.signal,
      });
    } finally {
      liveStop?.dispose();
    }
    const refused = feed.refused();
    const record = summaryRecord(summary, refused, framesNotSentOf(feed.fragmenterStats), startedAtMs);
    run.emit(record);
    if (isLive && summary.fragments === 0 && summary.sourceError === undefined) {
      // A camera that never came up is not an error (a service waits for it), but it must not pass unseen.
      const lastLoss = feed.restarts().lastLoss;
      run.emit({
        event: 'warning',
        message: `the source delivered no video${lastLoss === undefined ? '' : ` (last: ${lastLoss})`}`,
      });
    }
    feed.fragmenterStats.forEach((stats, index) => {
      const notice = framesNotSentNotice(feed.clipPaths[index] ?? 'the input', stats);
      if (notice !== undefined) {
        run.emit(notice);
      }
    });
    const stored = summary.fragments - summary.skipped.length - summary.dropped - summary.unacknowledged;
    if (options.verify === true && streamName !== '' && stored > 0) {
      const { readBack } = await import('../kvs/read-back.js');
      const result = await readBack(control, ref, firstProducerMs, stored);
      run.emit({ event: 'verify', ...result });
      if (result.fragments < stored) {
        throw new KvsPutError(
          ErrorCode.Upload,
          `GetMedia returned ${result.fragments} of ${stored} stored fragments`,
        );
      }
    }
    throwIfFailed(summary, refused, isLive, feed.firstRefusal());
    return record;
  } finally {
    control.destroy();
  }
};

const credentialsOf = async (options: UploadOptions): Promise<AwsCredentialIdentityProvider> => {
  const given = options.credentials;
  if (typeof given === 'function') {
    return given;
  }
  if (given !== undefined) {
    return () => Promise.resolve(given);
  }
  // Loaded on demand: start-up time counts for short uploads.
  const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
  return fromNodeProviderChain(options.profile === undefined ? {} : { profile: options.profile });
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
  signal: AbortSignal;
};

const runSession = async (feed: FragmentFeed, context: SessionContext): Promise<SessionSummary> => {
  const { config, control, ref, isLive, options, run } = context;
  const dumpDir = options.dumpDir === undefined ? undefined : resolve(context.cwd, options.dumpDir);
  if (dumpDir !== undefined) {
    try {
      makeDirectorySync(dumpDir);
    } catch (error) {
      throw new KvsPutError(
        ErrorCode.Io,
        `cannot create --dump-dir ${options.dumpDir ?? dumpDir}: ${fileErrorReason((error as NodeJS.ErrnoException).code)}`,
        { context: { dumpDir }, cause: error },
      );
    }
  }
  const session = new UploadSession({
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
  // A live run goes on for days: it says how it is doing every so often, not only at the end.
  const statsTimer =
    isLive && config.statsIntervalMs > 0
      ? setInterval(() => run.emit(statsRecord(session, feed.restarts().count)), config.statsIntervalMs)
      : undefined;
  statsTimer?.unref();
  try {
    return await session.run(feed.fragments);
  } finally {
    clearInterval(statsTimer);
  }
};

const statsRecord = (session: UploadSession, sourceRestarts: number): StatsEvent => {
  const usage = process.resourceUsage();
  // The V8 heap and the Buffers apart from RSS: a slow leak shows in one of them long before RSS does.
  const memory = process.memoryUsage();
  return {
    event: 'stats',
    ...session.interval(),
    sourceRestarts,
    process: {
      cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      arrayBuffersBytes: memory.arrayBuffers,
    },
  };
};

const framesNotSentOf = (stats: readonly FragmenterStats[]): FramesNotSent => ({
  beforeFirstKeyFrame: stats.reduce((sum, clip) => sum + clip.skippedLeadingFrames, 0),
  late: stats.reduce((sum, clip) => sum + clip.skippedLateFrames, 0),
  otherTracks: stats.reduce((sum, clip) => sum + clip.skippedTrackFrames, 0),
  leadingPictures: stats.reduce((sum, clip) => sum + clip.skippedLeadingPictures, 0),
});

/** Frames not sent of a clip that are worth no more than a note: a B-frame's late audio, say. */
const TRIVIAL_FRAMES_NOT_SENT = 10;

/**
 * A clip's frames that were not sent, as one line naming the clip: a note when trivial, a warning above
 * that (frames of tracks KVS does not take, subtitles say, are only ever a note).
 */
const framesNotSentNotice = (path: string, stats: FragmenterStats): UploadEvent | undefined => {
  const parts = [
    [stats.skippedLeadingFrames, 'before the first key frame'],
    [stats.skippedLateFrames, 'too late for their fragment'],
    [stats.skippedLeadingPictures, 'open-GOP leading pictures'],
    [stats.skippedTrackFrames, 'of tracks KVS does not take'],
  ] as const;
  const said = parts.filter(([count]) => count > 0).map(([count, why]) => `${count} ${why}`);
  if (said.length === 0) {
    return undefined;
  }
  const mediaFrames = stats.skippedLeadingFrames + stats.skippedLateFrames + stats.skippedLeadingPictures;
  const message = `clip ${path}: frames not sent: ${said.join(', ')}`;
  return mediaFrames > TRIVIAL_FRAMES_NOT_SENT ? { event: 'warning', message } : { event: 'note', message };
};

const summaryRecord = (
  summary: SessionSummary,
  refused: number,
  framesNotSent: FramesNotSent,
  startedAtMs: number,
): SummaryEvent => {
  const { stats: _stats, sourceError, ...rest } = summary;
  const usage = process.resourceUsage();
  return {
    event: 'summary',
    ...rest,
    ...(sourceError === undefined ? {} : { sourceError: sourceError.message }),
    refused,
    framesNotSent,
    seconds: (Date.now() - startedAtMs) / 1000,
    process: { cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6, maxRssBytes: peakRssBytes() },
  };
};

/** An upload that did not store everything fails with the error that says why (and its exit code). */
const throwIfFailed = (
  summary: SessionSummary,
  refused: number,
  isLive: boolean,
  firstRefusal?: { reason: string; errorId: number },
): void => {
  if (summary.sourceError !== undefined) {
    // What was read before the failure is stored; the failure itself decides the exit code.
    throw summary.sourceError;
  }
  if (summary.isInterrupted && !isLive) {
    // A recording stopped part-way: not a failure of the upload (the CLI exits 130).
    return;
  }
  if (refused > 0) {
    throw refusedFragmentsError(refused, firstRefusal);
  }
  if (summary.skipped.length > 0 || summary.unacknowledged > 0) {
    throw new KvsPutError(
      ErrorCode.Upload,
      `${summary.skipped.length} fragment(s) refused by KVS, ${summary.unacknowledged} not acknowledged`,
    );
  }
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
