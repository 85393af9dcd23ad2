import { Command, InvalidArgumentError, Option } from 'commander';
import type { AudioPolicy, DeviceInputFormat } from '../../capture/capture-source.js';
import {
  DEFAULT_CLUSTER_MS,
  DEVICE_INPUT_FORMATS,
  MAX_CLUSTER_MS,
  MIN_CLUSTER_MS,
} from '../../capture/capture-source.js';
import type { LocalKvs } from '../../emulator/local-kvs.js';
import { ErrorCode, KvsPutError } from '../../errors.js';
import { KvsLimits } from '../../fragment/kvs-limits.js';
import { ExitCode } from '../../exit-codes.js';
import type { EncodingFlags, Source } from '../../source/sources.js';
import { deviceSource, fileSource, rtspSource, testPattern } from '../../source/sources.js';
import type { UploadOptions } from '../../upload/upload-options.js';
import {
  FLAG_OPTIONS,
  STREAM_NAME_RULE,
  UPLOAD_DEFAULTS,
  checkStreamRef,
  isValidStreamName,
} from '../../upload/upload-options.js';
import { STREAM_ARN_RULE, isValidStreamArn } from '../../upload/service-rules.js';
import type { CliIo } from '../cli-io.js';
import { parseNonNegativeMs, parseStartTime } from '../option-parsers.js';
import type { CommandFactory } from '../run-cli.js';
import { minFragmentDurationOption, timecodeOption } from '../shared-options.js';
import { UPLOAD_EVENT_TYPES } from '../../upload/upload-events.js';
import { interruptedError, quitError, watchStop } from '../stop-watch.js';
import type { StopWatch } from '../stop-watch.js';
import { UploadReporter } from '../upload-reporter.js';

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
  maxRetries?: number;
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

const parseStreamName = (value: string): string => {
  if (!isValidStreamName(value)) {
    throw new InvalidArgumentError(STREAM_NAME_RULE);
  }
  return value;
};

const parseStreamArn = (value: string): string => {
  if (!isValidStreamArn(value)) {
    throw new InvalidArgumentError(STREAM_ARN_RULE);
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

/** The source the flags name; exactly one of --file (or file arguments), --testsrc, --device, --rtsp. */
const sourceOf = (options: PutOptions, io: CliIo): Source => {
  const given = [
    options.file !== undefined && options.file.length > 0 ? '--file' : undefined,
    options.testsrc === true ? '--testsrc' : undefined,
    options.device === undefined ? undefined : '--device',
    options.rtsp === undefined ? undefined : '--rtsp',
  ].filter((name) => name !== undefined);
  if (given.length === 0) {
    throw new KvsPutError(
      ErrorCode.Usage,
      'no source: give --file PATH (a file, a folder, or - for MKV on stdin), --device, --rtsp or --testsrc',
    );
  }
  if (given.length > 1) {
    throw new KvsPutError(ErrorCode.Usage, `give one source, not ${given.join(' and ')}`);
  }
  const encoding: EncodingFlags = {
    ...(options.transcode === true ? { transcode: true } : {}),
    ...(options.keyframeInterval === undefined ? {} : { keyframeInterval: options.keyframeInterval }),
    ...(options.bitrate === undefined ? {} : { bitrate: options.bitrate }),
    ...(options.clusterMs === undefined ? {} : { clusterMs: options.clusterMs }),
    audio: options.audio === false ? 'none' : (options.audio ?? 'auto'),
  };
  const video = {
    ...(options.videoSize === undefined ? {} : { videoSize: options.videoSize }),
    ...(options.framerate === undefined ? {} : { framerate: options.framerate }),
  };
  if (options.testsrc === true) {
    return testPattern({ ...video, ...encoding });
  }
  if (options.device !== undefined) {
    return deviceSource(options.device, {
      ...video,
      ...(options.inputFormat === undefined ? {} : { inputFormat: options.inputFormat }),
      ...(options.audioDevice === undefined ? {} : { audioDevice: options.audioDevice }),
      ...encoding,
    });
  }
  if (options.rtsp !== undefined) {
    return rtspSource(options.rtsp, {
      rtspTransport: options.rtspTransport,
      ...(options.rtspTimeout === undefined ? {} : { rtspTimeout: options.rtspTimeout }),
      ...encoding,
    });
  }
  return fileSource(options.file ?? [], {
    ...(options.startTime === undefined ? {} : { startTime: options.startTime }),
    timecode: options.timecode,
    stdin: io.stdin,
    ...encoding,
  });
};

/** The library's options from the flags (the endpoint and credentials of an in-process local KVS with --local). */
const uploadOptionsOf = (options: PutOptions, io: CliIo, local: LocalKvs | undefined): UploadOptions => {
  const flags: UploadOptions = {};
  for (const name of FLAG_OPTIONS) {
    const value = options[name];
    if (value !== undefined) {
      Object.assign(flags, { [name]: value });
    }
  }
  return {
    // --local: an in-process local KVS, which --region and --endpoint-url still override.
    ...(local === undefined
      ? {}
      : { endpointUrl: local.url, region: local.region, credentials: local.credentials }),
    ...flags,
    ...(local === undefined ? {} : { create: true }),
    ...(options.streamTag === undefined ? {} : { streamTags: options.streamTag }),
    cwd: io.cwd,
    env: io.env,
    signal: io.signal,
  };
};

const runPut = async (options: PutOptions, io: CliIo): Promise<number> => {
  const reporter = new UploadReporter(io, {
    json: options.json === true,
    verbose: options.verbose === true,
    quiet: options.quiet === true,
  });
  let local: LocalKvs | undefined;
  let stop: StopWatch | undefined;
  try {
    checkStreamRef(options);
    const source = sourceOf(options, io);
    // Loaded on demand: start-up time counts for short uploads.
    local =
      options.local === true
        ? await (await import('../../emulator/local-kvs.js')).startLocalKvs()
        : undefined;
    if (local !== undefined) {
      reporter.onEvent(
        {
          event: 'note',
          message: `--local: an in-process local KVS on ${local.url}; what it stores ends with this run`,
        },
        0,
      );
    }
    const { upload } = await import('../../upload/upload.js');
    const run = upload(source, uploadOptionsOf(options, io, local));
    reporter.follow(run);
    stop = watchStop(run, io, reporter, {
      isLive: source.kind === 'live',
      stopTimeoutMs: options.stopTimeout,
    });
    const finished = (async () => {
      for await (const event of run) {
        reporter.onEvent(event, run.bytesSent);
      }
      return run.done;
    })();
    const outcome = await Promise.race([finished, stop.quit]);
    if (outcome === 'quit') {
      finished.catch(() => undefined);
      throw quitError(run.progress());
    }
    if (outcome.isInterrupted && source.kind === 'clips') {
      // A recording stopped part-way is not a failure of the upload, but not a success either.
      throw interruptedError(outcome, run.progress());
    }
    return ExitCode.Ok;
  } catch (error) {
    // --json ends with one summary also when the run failed before the library's began.
    reporter.onFailure(error);
    throw error;
  } finally {
    stop?.dispose();
    reporter.finish();
    if (stop?.isQuitting !== true) {
      await local?.close();
    }
  }
};

export const putCommand: CommandFactory = (io, setExitCode) =>
  new Command('put')
    .description(
      'Upload recorded clips (MKV, MP4; - for MKV on stdin) or live video (a camera, an RTSP stream, a test pattern) to a Kinesis video stream. The default command.',
    )
    .addOption(
      new Option('-s, --stream <name>', 'stream name').argParser(parseStreamName).conflicts('streamArn'),
    )
    .option('--stream-arn <arn>', 'stream ARN (instead of --stream)', parseStreamArn)
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
      `retention of a stream made by --create (0 = no archive, at most ${KvsLimits.maxDataRetentionHours}); an existing stream keeps its own`,
      parseInteger,
    )
    .option('--media-type <type>', 'media type of a stream made by --create, e.g. video/h264,audio/aac')
    .option('--kms-key-id <id>', 'KMS key of a stream made by --create')
    .option('--stream-tag <key=value>', 'tag of a stream made by --create (repeatable)', collectTag)
    .option(
      '--start-time <time>',
      'producer time of the first frame: ISO 8601 or epoch seconds, not in the future (default: file mtime − duration)',
      parseStartTime,
    )
    .addOption(timecodeOption())
    .addOption(minFragmentDurationOption())
    .option(
      '--max-rate <MiB/s>',
      'upload pacing in MiB/s (0 = unpaced)',
      parsePositive,
      UPLOAD_DEFAULTS.maxRateMiBps,
    )
    .option(
      '--max-fragment-rate <n>',
      'fragments per second (0 = unpaced)',
      parsePositive,
      UPLOAD_DEFAULTS.maxFragmentRate,
    )
    .option(
      '--max-retries <n>',
      `failed connections in a row before giving up (default: ${UPLOAD_DEFAULTS.fileMaxRetries}; live sources: never, unless given)`,
      parseInteger,
    )
    .option(
      '--buffer-mb <MiB>',
      `fragments held in memory, unsent + unacknowledged (default: ${UPLOAD_DEFAULTS.fileBufferMb} for files, ${UPLOAD_DEFAULTS.liveBufferMb} for live sources)`,
      parsePositive,
    )
    .option(
      '--json',
      `NDJSON records on stdout, one per event, the summary always last (events: ${UPLOAD_EVENT_TYPES.join(', ')}; schema: docs/events.schema.json)`,
    )
    .addOption(new Option('-v, --verbose', 'log every ack and connection').conflicts('quiet'))
    .option('-q, --quiet', "only warnings, errors and a live run's stats line")
    .option('--dump-dir <dir>', 'keep the exact bytes each PutMedia session sent')
    .option('--verify', 'read the upload back with GetMedia and compare fragment counts')
    .option(
      '--stats-interval <seconds>',
      'live sources: a stats line (counts so far, source → socket latency of the interval, RSS, JS heap, buffers) every so often; 0 = none',
      parsePositive,
      UPLOAD_DEFAULTS.statsIntervalS,
    )
    .option(
      '--stop-timeout <ms>',
      'on Ctrl+C, how long to wait for the acks of what was sent',
      parseNonNegativeMs,
      UPLOAD_DEFAULTS.stopTimeoutMs,
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
      UPLOAD_DEFAULTS.stalenessTimeoutMs,
    )
    // Test and tuning knobs, not in --help: the proactive rotation age and the first reconnect delay.
    .addOption(new Option('--rotate-after <ms>').argParser(parseNonNegativeMs).hideHelp())
    .addOption(new Option('--retry-delay <ms>').argParser(parseNonNegativeMs).hideHelp())
    .action(async (files: string[], options: PutOptions) => {
      // `kvs-put --stream s clip.mkv` and `… | kvs-put --stream s -` read as --file would.
      const file = [...(options.file ?? []), ...files];
      setExitCode(await runPut(file.length === 0 ? options : { ...options, file }, io));
    });
