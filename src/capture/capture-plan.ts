/**
 * From "what to capture" to "the ffmpeg command that captures it": validates the encoding, probes a file
 * to choose between copy and transcode, and picks the capture API of the platform.
 */
import { resolve } from 'node:path';
import { checkMediaFile } from '../util/media-file.js';
import {
  DEFAULT_RTSP_CONNECT_TIMEOUT_MS,
  describeSource,
  isRestartableSource,
  resolveEncoding,
} from './capture-source.js';
import type { CaptureSource, DevicePlatform, EncodingConfig, EncodingOptions } from './capture-source.js';
import { buildCaptureArgs } from './ffmpeg-args.js';
import type { FfmpegInvocation, RtspTimeoutOption } from './ffmpeg-args.js';
import { probeMediaFile } from './media-probe.js';
import type { MediaProbe } from './media-probe.js';

/** Everything needed to run (and re-run) one capture. */
export type CapturePlan = {
  source: CaptureSource;
  encoding: EncodingConfig;
  invocation: FfmpegInvocation;
  /** The source for log lines, secrets redacted. */
  description: string;
  /** Whether ffmpeg is started again when it exits (cameras, RTSP, endless test pattern). */
  isRestartable: boolean;
  /** How long ffmpeg may take to produce its first bytes (connect, probe, encoder start), in ms. */
  firstDataTimeoutMs: number;
  /** How long ffmpeg may go without producing bytes once it has started, in ms. */
  noDataTimeoutMs: number;
  /** What the file holds (file sources only): start time and duration for the uploader. */
  probe?: MediaProbe;
};

export type PlanCaptureOptions = {
  ffmpegPath: string;
  /** ffprobe for file sources (locateFfprobe); without it ffmpeg itself is asked. */
  ffprobePath?: string;
  /** From probeFfmpegCapabilities. @default 'timeout' (ffmpeg ≥ 5) */
  rtspTimeoutOption?: RtspTimeoutOption;
  /** @default process.platform */
  platform?: NodeJS.Platform;
  /** Relative file paths are resolved against it. @default process.cwd() */
  cwd?: string;
};

/** ffmpeg silent this long means a dead camera or a hung connection (issue 5: "no frame for 20 s"). */
export const DEFAULT_NO_DATA_TIMEOUT_MS = 20_000;
/** Probing a live source (analyzeduration 5 s) plus libx264 start-up; a file or test pattern starts at once. */
export const DEFAULT_FIRST_DATA_TIMEOUT_MS = 30_000;

const toDevicePlatform = (platform: NodeJS.Platform): DevicePlatform =>
  platform === 'darwin' || platform === 'win32' ? platform : 'linux';

/**
 * Builds the capture plan for a source.
 * @throws KvsPutError: Usage (bad encoding or device options), Io (file missing), MkvUnsupported (file
 *   unreadable or without media), Capture (ffmpeg cannot run).
 */
export const planCapture = async (
  source: CaptureSource,
  encodingOptions: EncodingOptions,
  options: PlanCaptureOptions,
): Promise<CapturePlan> => {
  const encoding = resolveEncoding(encodingOptions);
  let probe: MediaProbe | undefined;
  let planned = source;
  if (source.kind === 'file') {
    const path = resolve(options.cwd ?? process.cwd(), source.path);
    await checkMediaFile(path, source.path);
    probe = await probeMediaFile(path, {
      ffmpegPath: options.ffmpegPath,
      ...(options.ffprobePath === undefined ? {} : { ffprobePath: options.ffprobePath }),
    });
    planned = { kind: 'file', path };
  }
  const invocation = buildCaptureArgs(planned, encoding, {
    platform: toDevicePlatform(options.platform ?? process.platform),
    ...(probe === undefined ? {} : { probe }),
    ...(options.rtspTimeoutOption === undefined ? {} : { rtspTimeoutOption: options.rtspTimeoutOption }),
  });
  return {
    source: planned,
    encoding,
    invocation,
    description: describeSource(source),
    isRestartable: isRestartableSource(source),
    firstDataTimeoutMs:
      source.kind === 'rtsp'
        ? (source.connectTimeoutMs ?? DEFAULT_RTSP_CONNECT_TIMEOUT_MS)
        : DEFAULT_FIRST_DATA_TIMEOUT_MS,
    noDataTimeoutMs: DEFAULT_NO_DATA_TIMEOUT_MS,
    ...(probe === undefined ? {} : { probe }),
  };
};
