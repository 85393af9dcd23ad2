import { Command, InvalidArgumentError, Option } from 'commander';
import { appendFileSync, mkdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { ErrorCode, KvsPutError } from '../../errors.js';
import type { Fragment, FragmenterStats } from '../../fragment/fragmenter.js';
import { KvsLimits } from '../../fragment/kvs-limits.js';
import type { StreamControl } from '../../kvs/stream-control.js';
import { UploadSession } from '../../session/upload-session.js';
import { DEFAULT_BACKOFF } from '../../kvs/retry-policy.js';
import { userCacheDirectory } from '../../util/user-cache.js';
import type { CliIo } from '../cli-io.js';
import { ExitCode } from '../exit-codes.js';
import { minFragmentDurationOption, timecodeOption } from '../shared-options.js';
import { clipFragments, expandClipPaths, planClips } from '../../source/clip-source.js';
import { parseNonNegativeMs, parseStartTime } from '../option-parsers.js';
import type { CommandFactory } from '../run-cli.js';
import { UploadReporter } from '../upload-reporter.js';
import type { Clip } from '../../source/clip-source.js';
import { trackSummary } from '../../mkv/track-summary.js';
import type { CapturePlan } from '../../capture/capture-plan.js';
import type {
  AudioPolicy,
  CaptureSource,
  DeviceInputFormat,
  EncodingOptions,
} from '../../capture/capture-source.js';
import {
  DEFAULT_CLUSTER_MS,
  DEVICE_INPUT_FORMATS,
  MAX_CLUSTER_MS,
  MIN_CLUSTER_MS,
} from '../../capture/capture-source.js';

type PutOptions = {
  stream?: string;
  streamArn?: string;
  file?: string[];
  region?: string;
  endpointUrl?: string;
  profile?: string;
  local?: boolean;
  create?: boolean;
  retentionHours?: number;
  mediaType?: string;
  kmsKeyId?: string;
  streamTag?: Record<string, string>;
  startTime?: number;
  timecode: 'absolute' | 'relative';
  minFragmentDuration?: number;
  maxRate: number;
  maxFragmentRate: number;
  maxRetries: number;
  bufferMb?: number;
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
  dumpDir?: string;
  verify?: boolean;
  stopTimeout: number;
  statsInterval: number;
  testsrc?: boolean;
  device?: string;
  rtsp?: string;
  rtspTransport: 'tcp' | 'udp';
  rtspTimeout?: number;
  videoSize?: string;
  framerate?: number;
  inputFormat?: DeviceInputFormat;
  audioDevice?: string;
  transcode?: boolean;
  keyframeInterval?: number;
  bitrate?: number;
  clusterMs?: number;
  audio?: AudioPolicy | false;
  duration?: number;
  stalenessTimeout: number;
  rotateAfter?: number;
  retryDelay?: number;
};

const DEFAULT_MAX_RETRIES = 8;
const FILE_BUFFER_MB = 16;
const LIVE_BUFFER_MB = 64;

const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,256}$/;

const parseStreamName = (value: string): string => {
  if (!STREAM_NAME.test(value)) {
    throw new InvalidArgumentError('stream names are 1–256 characters of a-z, A-Z, 0-9, _ . -');
  }
  return value;
};

const parsePositive = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError('expected a non-negative number.');
  }
  return n;
};

const parseInteger = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new InvalidArgumentError('expected a non-negative integer.');
  }
  return n;
};

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

const collectTag = (value: string, previous: Record<string, string> | undefined): Record<string, string> => {
  const at = value.indexOf('=');
  if (at <= 0) {
    throw new InvalidArgumentError('expected key=value.');
  }
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
};

const runPut = async (options: PutOptions, io: CliIo): Promise<number> => {
  if (options.stream === undefined && options.streamArn === undefined) {
    throw new KvsPutError(ErrorCode.Usage, 'no stream: give --stream NAME (or --stream-arn ARN)');
  }
  const sources = [
    options.file !== undefined && options.file.length > 0 ? '--file' : undefined,
    options.testsrc === true ? '--testsrc' : undefined,
    options.device === undefined ? undefined : '--device',
    options.rtsp === undefined ? undefined : '--rtsp',
  ].filter((name) => name !== undefined);
  if (sources.length === 0) {
    throw new KvsPutError(
      ErrorCode.Usage,
      'no source: give --file PATH (a file, a folder, or - for MKV on stdin), --device, --rtsp or --testsrc',
    );
  }
  if (sources.length > 1) {
    throw new KvsPutError(ErrorCode.Usage, `give one source, not ${sources.join(' and ')}`);
  }
  const reporter = new UploadReporter(
    io,
    { json: options.json === true, verbose: options.verbose === true, quiet: options.quiet === true },
    { isPersistedAckExpected: false },
  );
  // Modules a run may not need are loaded on demand: start-up time counts for short uploads.
  const local =
    options.local === true ? await (await import('../../emulator/local-kvs.js')).startLocalKvs() : undefined;
  try {
    const credentials: AwsCredentialIdentityProvider =
      local !== undefined
        ? () => Promise.resolve(local.credentials)
        : (await import('@aws-sdk/credential-providers')).fromNodeProviderChain(
            options.profile === undefined ? {} : { profile: options.profile },
          );
    const { StreamControl } = await import('../../kvs/stream-control.js');
    const control = new StreamControl({
      credentials,
      ...(local !== undefined ? { region: local.region, endpoint: local.url } : {}),
      ...(options.region === undefined ? {} : { region: options.region }),
      ...(options.endpointUrl === undefined ? {} : { endpoint: options.endpointUrl }),
      ...(options.profile === undefined ? {} : { profile: options.profile }),
      signal: io.signal,
    });
    try {
      return await upload(options, io, control, credentials, reporter, local !== undefined);
    } finally {
      control.destroy();
    }
  } finally {
    await local?.close();
  }
};

/** What to upload: recorded clips, or a live capture. */
type SourcePlan = { kind: 'clips'; clips: Clip[] } | { kind: 'live'; plan: CapturePlan };

type FfmpegTools = {
  ffmpegPath: string;
  ffprobePath: string | undefined;
};

const encodingOptions = (options: PutOptions): EncodingOptions => ({
  ...(options.transcode === true ? { transcode: true } : {}),
  ...(options.keyframeInterval === undefined ? {} : { keyframeIntervalS: options.keyframeInterval }),
  ...(options.bitrate === undefined ? {} : { bitrateKbps: options.bitrate }),
  ...(options.clusterMs === undefined ? {} : { clusterMs: options.clusterMs }),
  audio: options.audio === false ? 'none' : (options.audio ?? 'auto'),
});

const liveSourceOf = (options: PutOptions): CaptureSource | undefined => {
  if (options.testsrc === true) {
    return {
      kind: 'testsrc',
      ...(options.videoSize === undefined ? {} : { videoSize: options.videoSize }),
      ...(options.framerate === undefined ? {} : { framerate: options.framerate }),
    };
  }
  if (options.device !== undefined) {
    return {
      kind: 'device',
      path: options.device,
      ...(options.videoSize === undefined ? {} : { videoSize: options.videoSize }),
      ...(options.framerate === undefined ? {} : { framerate: options.framerate }),
      ...(options.inputFormat === undefined ? {} : { inputFormat: options.inputFormat }),
      ...(options.audioDevice === undefined ? {} : { audioDevice: options.audioDevice }),
    };
  }
  if (options.rtsp !== undefined) {
    return {
      kind: 'rtsp',
      url: options.rtsp,
      transport: options.rtspTransport,
      ...(options.rtspTimeout === undefined
        ? {}
        : { connectTimeoutMs: options.rtspTimeout, readTimeoutMs: options.rtspTimeout }),
    };
  }
  return undefined;
};

const resolveSource = async (
  options: PutOptions,
  io: CliIo,
  ffmpeg: () => Promise<FfmpegTools>,
): Promise<SourcePlan> => {
  const live = liveSourceOf(options);
  const encoding = encodingOptions(options);
  if (live !== undefined) {
    const tools = await ffmpeg();
    const { planCapture } = await import('../../capture/capture-plan.js');
    const { probeRtspTimeoutOption } = await import('../../capture/ffmpeg-locator.js');
    const plan = await planCapture(live, encoding, {
      ffmpegPath: tools.ffmpegPath,
      ...(live.kind === 'rtsp'
        ? {
            rtspTimeoutOption: await probeRtspTimeoutOption(tools.ffmpegPath, {
              cacheDirectory: userCacheDirectory(io.env),
            }),
          }
        : {}),
      cwd: io.cwd,
    });
    return { kind: 'live', plan };
  }
  const paths = await expandClipPaths(options.file ?? [], io.cwd);
  const clips = await planClips(paths, {
    ...(options.startTime === undefined ? {} : { startTimeMs: options.startTime }),
    stdin: io.stdin,
    cwd: io.cwd,
    nowMs: Date.now(),
    tools: {
      isTranscoding: options.transcode === true,
      planFile: async (path) => {
        const tools = await ffmpeg();
        const { planCapture } = await import('../../capture/capture-plan.js');
        return planCapture({ kind: 'file', path }, encoding, {
          ffmpegPath: tools.ffmpegPath,
          ...(tools.ffprobePath === undefined ? {} : { ffprobePath: tools.ffprobePath }),
          cwd: io.cwd,
        });
      },
    },
  });
  return { kind: 'clips', clips };
};

/**
 * Finds ffmpeg (FFMPEG_PATH, PATH, @ffmpeg-installer) once, on first need. Its capabilities are not listed
 * up front (five more processes on every start): what a build lacks, ffmpeg itself reports when it runs.
 */
const ffmpegLocator = (io: CliIo): (() => Promise<FfmpegTools>) => {
  let found: Promise<FfmpegTools> | undefined;
  return () =>
    (found ??= (async () => {
      const { locateFfmpeg, locateFfprobe } = await import('../../capture/ffmpeg-locator.js');
      const located = await locateFfmpeg(io.env);
      return { ffmpegPath: located.path, ffprobePath: await locateFfprobe(io.env, located.path) };
    })());
};

const upload = async (
  options: PutOptions,
  io: CliIo,
  control: StreamControl,
  credentials: AwsCredentialIdentityProvider,
  reporter: UploadReporter,
  isLocal: boolean,
): Promise<number> => {
  const ref = {
    ...(options.stream === undefined ? {} : { streamName: options.stream }),
    ...(options.streamArn === undefined ? {} : { streamArn: options.streamArn }),
  };
  const ffmpeg = ffmpegLocator(io);
  const sourcePlan = await resolveSource(options, io, ffmpeg);
  const region = await control.region();
  const create =
    options.create === true || isLocal
      ? {
          ...(options.retentionHours === undefined ? {} : { retentionHours: options.retentionHours }),
          ...(options.mediaType === undefined ? {} : { mediaType: options.mediaType }),
          ...(options.kmsKeyId === undefined ? {} : { kmsKeyId: options.kmsKeyId }),
          ...(options.streamTag === undefined ? {} : { tags: options.streamTag }),
        }
      : undefined;
  const stream = await control.ensureStream(ref, create);
  const isPersistedAckExpected = (stream.DataRetentionInHours ?? 0) > 0;
  reporter.setPersistedAckExpected(isPersistedAckExpected);
  const streamName = stream.StreamName ?? options.stream;
  const where = `stream ${streamName ?? ''} (${region}, retention ${stream.DataRetentionInHours ?? 0} h)`;
  const refused: { fragment: Fragment; reason: string }[] = [];
  const fragmenterStats: FragmenterStats[] = [];
  const fragmenterOptions = {
    ...(options.minFragmentDuration === undefined
      ? {}
      : { minFragmentDurationMs: options.minFragmentDuration }),
  };
  const isLive = sourcePlan.kind === 'live';
  // A live capture stops on Ctrl+C (or --duration), and the upload then flushes what it captured.
  const liveStop = isLive ? stopSignal(io.signal, options.duration) : undefined;
  let source: AsyncIterable<Fragment | readonly Fragment[]>;
  let firstProducerMs: number;
  let sourceRestarts = 0;
  let lastSourceLoss: string | undefined;
  let sourceTracks: string | undefined;
  if (sourcePlan.kind === 'live') {
    const tools = await ffmpeg();
    const { liveFragments, videoSizeNote } = await import('../../source/live-source.js');
    // Credentials and the data endpoint first (both are cached), so that the PutMedia connection is up
    // before the camera's first frame: frames never queue behind the control plane.
    await Promise.all([credentials(), control.dataEndpoint(ref)]);
    reporter.log(`capturing ${sourcePlan.plan.description} to ${where}`);
    for (const reason of sourcePlan.plan.invocation.reasons) {
      reporter.log(reason);
    }
    firstProducerMs = Date.now();
    source = liveFragments(sourcePlan.plan, {
      ffmpegPath: tools.ffmpegPath,
      signal: liveStop!.signal,
      fragmenter: fragmenterOptions,
      onCaptureEvent: (event) => {
        if (event.type === 'restart') {
          sourceRestarts++;
          lastSourceLoss = event.reason;
          reporter.log(
            `warning: source lost (${event.reason}): restart ${sourceRestarts} in ${(event.delayMs / 1000).toFixed(1)} s`,
          );
          reporter.json({
            event: 'source-restart',
            restarts: sourceRestarts,
            delayMs: event.delayMs,
            reason: event.reason,
          });
        } else if (options.verbose === true) {
          reporter.log(`ffmpeg: ${event.commandLine}`);
        }
      },
      onTracks: (tracks) => {
        // Once, and again only when a restart brings other tracks (a camera set to another size, say).
        const summary = tracks.map(trackSummary).join(', ');
        if (summary !== sourceTracks) {
          sourceTracks = summary;
          reporter.log(`source: ${summary}${videoSizeNote(sourcePlan.plan.source, tracks)}`);
        }
      },
      onReanchor: (info) => {
        if (info.reason === 'drift') {
          reporter.log(
            `clock drift of ${info.driftMs} ms between the source and this machine: timestamps re-anchored`,
          );
        }
      },
    });
  } else {
    const clips = sourcePlan.clips;
    reporter.log(`uploading ${clips.length} clip(s) to ${where}`);
    // Bytes sent track the input's size closely (the MKV is re-laid, not re-encoded): a fair ETA.
    const sizes = await Promise.all(
      clips.map((clip) =>
        clip.path === '-'
          ? Promise.resolve(undefined)
          : stat(resolve(io.cwd, clip.path)).then((info) => info.size),
      ),
    );
    const known = sizes.filter((size): size is number => size !== undefined);
    reporter.setTotalBytes(
      known.length === sizes.length ? known.reduce((sum, size) => sum + size, 0) : undefined,
    );
    firstProducerMs = clips[0]?.startTimeMs ?? Date.now();
    const ffmpegTools = clips.some((clip) => clip.plan !== undefined) ? await ffmpeg() : undefined;
    const { captureBytes } = await import('../../source/live-source.js');
    source = clipFragments(
      clips,
      { timecodeMode: options.timecode, ...fragmenterOptions },
      {
        stdin: io.stdin,
        cwd: io.cwd,
        openFfmpeg: (plan) => captureBytes(plan, { ffmpegPath: ffmpegTools!.ffmpegPath, signal: io.signal }),
      },
      {
        onRefused: (fragment, reason) => {
          refused.push({ fragment, reason });
          reporter.log(
            `warning: fragment at ${new Date(fragment.producerTimestampMs).toISOString()} not sent: ${reason}` +
              ' (re-encode with a shorter key frame interval, e.g. ffmpeg -g 60)',
          );
          reporter.json({ event: 'refused', timecode: fragment.timecode, reason });
        },
        onClipStart: (clip) => {
          reporter.log(`clip ${clip.path}: starts ${new Date(clip.startTimeMs).toISOString()}`);
          for (const reason of clip.plan?.invocation.reasons ?? []) {
            reporter.log(`clip ${clip.path}: ${reason}`);
          }
        },
        stats: fragmenterStats,
      },
    );
  }
  const dumpDir = options.dumpDir === undefined ? undefined : resolve(io.cwd, options.dumpDir);
  if (dumpDir !== undefined) {
    mkdirSync(dumpDir, { recursive: true });
  }
  const session = new UploadSession({
    ...ref,
    region,
    credentials,
    endpoint: () => control.dataEndpoint(ref),
    onEndpointFailure: () => control.invalidateEndpoint(),
    timecodeMode: isLive ? 'absolute' : options.timecode,
    producerStartTimestampMs: firstProducerMs,
    isPersistedAckExpected,
    // A file only needs its acknowledgement window held (and reads on when it frees); a camera needs room to
    // ride out a network outage.
    maxBufferBytes: (options.bufferMb ?? (isLive ? LIVE_BUFFER_MB : FILE_BUFFER_MB)) * 1024 * 1024,
    // A file waits for the network; a camera cannot, so the oldest unsent fragments go instead.
    onBufferFull: isLive ? 'drop-oldest' : 'block',
    connectBeforeData: isLive,
    maxAttempts: isLive && options.maxRetries === DEFAULT_MAX_RETRIES ? Infinity : options.maxRetries,
    maxBytesPerSecond: options.maxRate * 1024 * 1024,
    maxFragmentsPerSecond: options.maxFragmentRate,
    userAgent: 'kvs-put/0.1.0',
    stopTimeoutMs: options.stopTimeout,
    stalenessMs: options.stalenessTimeout,
    ...(options.rotateAfter === undefined ? {} : { rotateAfterMs: options.rotateAfter }),
    ...(options.retryDelay === undefined
      ? {}
      : {
          backoff: {
            ...DEFAULT_BACKOFF,
            initialDelayMs: options.retryDelay,
            maxDelayMs: options.retryDelay * 16,
          },
        }),
    onEvent: (event) => reporter.onEvent(event),
    onWrite: (connection, chunks) => {
      let bytes = 0;
      for (const chunk of chunks) {
        bytes += chunk.length;
        if (dumpDir !== undefined) {
          appendFileSync(join(dumpDir, `session-${String(connection).padStart(3, '0')}.mkv`), chunk);
        }
      }
      reporter.onBytes(bytes);
    },
    signal: liveStop?.signal ?? io.signal,
    onAbort: isLive ? 'flush' : 'drop-unsent',
  });
  // A live run goes on for days: it says how it is doing every --stats-interval seconds, not only at the end.
  const statsTimer =
    isLive && options.statsInterval > 0
      ? setInterval(() => reporter.interval(session.interval(), sourceRestarts), options.statsInterval * 1000)
      : undefined;
  statsTimer?.unref();
  let summary;
  try {
    summary = await session.run(source);
  } finally {
    clearInterval(statsTimer);
    liveStop?.dispose();
  }
  reporter.summary(summary, refused.length);
  if (isLive && summary.fragments === 0 && summary.sourceError === undefined) {
    // A camera that never came up is not an error (a service waits for it), but it must not pass unseen.
    reporter.log(
      `warning: the source delivered no video${lastSourceLoss === undefined ? '' : ` (last: ${lastSourceLoss})`}`,
    );
  }
  for (const stats of fragmenterStats) {
    if (stats.skippedLeadingFrames > 0) {
      reporter.log(`note: ${stats.skippedLeadingFrames} frames before the first key frame were not sent`);
    }
  }
  const stored = summary.fragments - summary.skipped.length - summary.dropped - summary.unacknowledged;
  if (options.verify === true && streamName !== undefined && stored > 0) {
    const { readBack } = await import('../../kvs/read-back.js');
    const result = await readBack(control, ref, firstProducerMs, stored);
    reporter.log(`read back with GetMedia: ${result.fragments} fragments, ${result.frames} frames`);
    reporter.json({ event: 'verify', ...result });
    if (result.fragments < stored) {
      throw new KvsPutError(
        ErrorCode.Upload,
        `GetMedia returned ${result.fragments} of ${stored} stored fragments`,
      );
    }
  }
  if (summary.sourceError !== undefined) {
    // What was read before the failure is stored; the failure itself decides the exit code.
    throw summary.sourceError;
  }
  if (summary.isInterrupted && !isLive) {
    return ExitCode.Interrupted;
  }
  if (refused.length > 0) {
    throw new KvsPutError(
      ErrorCode.Fragment,
      `${refused.length} fragment(s) break the service's limits and were not sent`,
      {
        suggestion:
          're-encode with a key frame at least every 20 s, e.g. ffmpeg -i in -c:v libx264 -g 60 out.mkv',
      },
    );
  }
  if (summary.skipped.length > 0 || summary.unacknowledged > 0) {
    throw new KvsPutError(
      ErrorCode.Upload,
      `${summary.skipped.length} fragment(s) refused by KVS, ${summary.unacknowledged} not acknowledged`,
    );
  }
  return ExitCode.Ok;
};

/** An AbortSignal that fires on the CLI's signal or after `durationS`. */
const stopSignal = (
  signal: AbortSignal,
  durationS: number | undefined,
): { signal: AbortSignal; dispose: () => void } => {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal.reason);
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

export const putCommand: CommandFactory = (io, setExitCode) =>
  new Command('put')
    .description(
      'Upload recorded clips (MKV, MP4; - for MKV on stdin) or live video (a camera, an RTSP stream, a test pattern) to a Kinesis video stream. The default command.',
    )
    .option('-s, --stream <name>', 'stream name', parseStreamName)
    .option('--stream-arn <arn>', 'stream ARN (instead of --stream)')
    .argument('[files...]', 'the same as --file: MKV or MP4 files, folders of them, or - for MKV on stdin')
    .option('-f, --file <path>', 'MKV file, folder of MKV files, or - for stdin (repeatable)', collect)
    .option('--region <region>', 'AWS region (default: AWS_REGION, then the profile)')
    .option(
      '--endpoint-url <url>',
      'control-plane endpoint (default: AWS_ENDPOINT_URL_KINESIS_VIDEO, AWS_ENDPOINT_URL)',
    )
    .option('--profile <name>', 'shared config/credentials profile')
    .option('--local', 'upload to an in-process local KVS (no AWS account needed; implies --create)')
    .option('--create', 'create the stream when it does not exist, and wait until it is ACTIVE')
    .option(
      '--retention-hours <hours>',
      'retention of a stream made by --create (0 = no archive)',
      parseInteger,
    )
    .option('--media-type <type>', 'media type of a stream made by --create, e.g. video/h264,audio/aac')
    .option('--kms-key-id <id>', 'KMS key of a stream made by --create')
    .option('--stream-tag <key=value>', 'tag of a stream made by --create (repeatable)', collectTag)
    .option(
      '--start-time <time>',
      'producer time of the first frame: ISO 8601 or epoch seconds (default: file mtime − duration)',
      parseStartTime,
    )
    .addOption(timecodeOption())
    .addOption(minFragmentDurationOption())
    .option(
      '--max-rate <MiB/s>',
      'upload pacing in MiB/s (0 = unpaced)',
      parsePositive,
      KvsLimits.maxBytesPerSecond / (1024 * 1024),
    )
    .option(
      '--max-fragment-rate <n>',
      'fragments per second (0 = unpaced)',
      parsePositive,
      KvsLimits.maxFragmentsPerSecond,
    )
    .option(
      '--max-retries <n>',
      'failed connections in a row before giving up (live sources: never, unless given)',
      parseInteger,
      DEFAULT_MAX_RETRIES,
    )
    .option(
      '--buffer-mb <MiB>',
      `fragments held in memory, unsent + unacknowledged (default: ${FILE_BUFFER_MB} for files, ${LIVE_BUFFER_MB} for live sources)`,
      parsePositive,
    )
    .option('--json', 'NDJSON events (ack, retry, skip, summary) on stdout')
    .option('-v, --verbose', 'log every ack and connection')
    .option('-q, --quiet', "only warnings, errors and a live run's stats line")
    .option('--dump-dir <dir>', 'keep the exact bytes each PutMedia session sent')
    .option('--verify', 'read the upload back with GetMedia and compare fragment counts')
    .option(
      '--stats-interval <seconds>',
      'live sources: a stats line (counts so far, source → socket latency of the interval, RSS, JS heap, buffers) every so often; 0 = none',
      parsePositive,
      60,
    )
    .option(
      '--stop-timeout <ms>',
      'on Ctrl+C, how long to wait for the acks of what was sent',
      parseNonNegativeMs,
      10_000,
    )
    .option('--testsrc', 'live source: a synthetic test pattern with a tone')
    .option(
      '--device <path>',
      'live source: a camera (/dev/video0 on Linux, an index on macOS, a name on Windows)',
    )
    .option('--rtsp <url>', 'live source: an RTSP camera (credentials in the URL are never logged)')
    .addOption(
      new Option('--rtsp-transport <transport>', 'RTSP transport').choices(['tcp', 'udp']).default('tcp'),
    )
    .option('--rtsp-timeout <ms>', 'RTSP connect and read timeout', parseNonNegativeMs)
    .option('--video-size <WxH>', 'camera or test pattern size, e.g. 1280x720')
    .option('--framerate <fps>', 'camera or test pattern frame rate', parsePositive)
    .addOption(
      new Option('--input-format <format>', 'what to ask a V4L2 camera for').choices(DEVICE_INPUT_FORMATS),
    )
    .option(
      '--audio-device <name>',
      'audio device captured with --device (ALSA name, AVFoundation index, DirectShow name)',
    )
    .option('--transcode', 're-encode with libx264 even when the source delivers H.264')
    .option(
      '--keyframe-interval <s>',
      'seconds between key frames when encoding = fragment duration (≤ 20)',
      parsePositive,
    )
    .option('--bitrate <kbps>', 'video bitrate when encoding', parsePositive)
    .addOption(
      new Option('--audio <policy>', 'audio: auto (copy AAC, else encode), copy, encode, none').choices([
        'auto',
        'copy',
        'encode',
        'none',
      ]),
    )
    .option('--no-audio', 'send video only')
    .option(
      '--cluster-ms <ms>',
      `how long ffmpeg holds frames before handing them on (${MIN_CLUSTER_MS}-${MAX_CLUSTER_MS}): the latency it adds; shorter costs more CPU (default ${DEFAULT_CLUSTER_MS})`,
      parseNonNegativeMs,
    )
    .option('--duration <s>', 'stop a live source after this many seconds', parsePositive)
    .option(
      '--staleness-timeout <ms>',
      'no ack for this long while fragments are in flight: reconnect',
      parseNonNegativeMs,
      20_000,
    )
    // Test and tuning knobs, not in --help: the proactive rotation age and the first reconnect delay.
    .addOption(new Option('--rotate-after <ms>').argParser(parseNonNegativeMs).hideHelp())
    .addOption(new Option('--retry-delay <ms>').argParser(parseNonNegativeMs).hideHelp())
    .action(async (files: string[], options: PutOptions) => {
      // `kvs-put --stream s clip.mkv` and `… | kvs-put --stream s -` read as --file would.
      const file = [...(options.file ?? []), ...files];
      setExitCode(await runPut(file.length === 0 ? options : { ...options, file }, io));
    });
