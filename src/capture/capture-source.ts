/**
 * What kvs-put captures from, and how it encodes it: plain data, validated here, turned into an ffmpeg
 * command line by ffmpeg-args.ts.
 */
import { ErrorCode, KvsPutError } from '../errors.js';
import { KvsLimits } from '../fragment/kvs-limits.js';
import { ErrorId } from '../kvs/ack.js';
import { redactUrl } from './redact.js';

/** The capture APIs of the three desktop platforms: V4L2, AVFoundation, DirectShow. */
export type DevicePlatform = 'linux' | 'darwin' | 'win32';

/** The camera API family of an OS: AVFoundation on macOS, DirectShow on Windows, V4L2 on anything else. */
export const devicePlatformOf = (platform: NodeJS.Platform): DevicePlatform =>
  platform === 'darwin' || platform === 'win32' ? platform : 'linux';

/** What `--input-format` may ask a camera for: MJPEG or raw YUYV is encoded to H.264; H.264 is copied. */
export const DEVICE_INPUT_FORMATS = ['mjpeg', 'h264', 'yuyv422'] as const;
export type DeviceInputFormat = (typeof DEVICE_INPUT_FORMATS)[number];

export type RtspTransport = 'tcp' | 'udp';

/** A recorded clip: MKV, MP4, MOV, TS… remuxed by ffmpeg (`-c copy`) or transcoded when it must be. */
export type FileSource = { kind: 'file'; path: string };

/** A synthetic test pattern (`testsrc2`) with a sine tone, produced in real time. */
export type TestsrcSource = {
  kind: 'testsrc';
  /** `WxH`. @default '640x480' */
  videoSize?: string;
  /** Frames per second. @default 30 */
  framerate?: number;
  /** Tone frequency in Hz. @default 1000 */
  toneHz?: number;
  /** Stop after this many seconds (a smoke test); unset runs until stopped. */
  durationS?: number;
};

/** A local camera. */
export type DeviceSource = {
  kind: 'device';
  /** `/dev/video0` (Linux); the AVFoundation index or name (`0`, macOS); the DirectShow name (Windows). */
  path: string;
  /** `WxH`, e.g. `1280x720`; unset lets the driver choose. */
  videoSize?: string;
  /** Frames per second; unset lets the driver choose. */
  framerate?: number;
  /** What to ask the camera for (V4L2 `-input_format`, DirectShow `-vcodec`/`-pixel_format`). */
  inputFormat?: DeviceInputFormat;
  /** Which capture API to use. @default the platform kvs-put runs on */
  platform?: DevicePlatform;
  /** An audio device to capture with the camera: ALSA name (`hw:1`), AVFoundation index, DirectShow name. */
  audioDevice?: string;
};

/** An RTSP camera or server. Credentials may be in the URL; they are redacted wherever the URL is shown. */
export type RtspSource = {
  kind: 'rtsp';
  url: string;
  /** @default 'tcp' (interleaved RTP over the RTSP connection: works through NAT and loses nothing) */
  transport: RtspTransport;
  /** Deadline for the camera to deliver its first media after ffmpeg starts, in ms. @default 15000 */
  connectTimeoutMs?: number;
  /** Socket I/O timeout handed to ffmpeg (it also bounds the TCP connect), in ms. @default 10000 */
  readTimeoutMs?: number;
};

/** Media on kvs-put's stdin (an existing ffmpeg or GStreamer pipeline). */
export type StdinSource = { kind: 'stdin' };

/** Where media comes from. */
export type CaptureSource = FileSource | TestsrcSource | DeviceSource | RtspSource | StdinSource;

/** Audio policy: `auto` copies AAC and encodes anything else, `copy` copies whatever comes, `encode`
 * always encodes AAC, `none` drops audio. */
export type AudioPolicy = 'auto' | 'copy' | 'encode' | 'none';

/** How to encode, as a caller passes it (every field optional). */
export type EncodingOptions = {
  /** Re-encode video with libx264 even when the source already delivers H.264/H.265. @default false */
  transcode?: boolean;
  /**
   * Seconds between key frames when encoding. Every key frame starts a KVS fragment, so this is the
   * fragment duration: at most {@link KvsLimits.maxFragmentDurationMs} (the service refuses longer
   * fragments with {@link ErrorId.MaxFragmentDurationReached}), and long enough to stay within
   * {@link KvsLimits.maxFragmentsPerSecond} fragments a second per stream.
   * @default 2
   */
  keyframeIntervalS?: number;
  /** Video bitrate when encoding, in kbit/s. @default 2000 */
  bitrateKbps?: number;
  /** @default 'auto' */
  audio?: AudioPolicy;
  /** Audio bitrate when encoding AAC, in kbit/s. @default 128 */
  audioBitrateKbps?: number;
  /**
   * How long ffmpeg holds frames before writing them, in ms: its Matroska cluster length. The muxer keeps a
   * whole cluster in memory and writes it when it closes, so this is the latency ffmpeg adds; each cluster
   * also wakes kvs-put, so a shorter one costs more CPU. At most 1000, so that the live timeline's drift
   * check (2 s) keeps its meaning. @default 500
   */
  clusterMs?: number;
};

/** Resolved, validated {@link EncodingOptions}. */
export type EncodingConfig = Readonly<Required<EncodingOptions>>;

export const DEFAULT_KEYFRAME_INTERVAL_S = 2;
export const MAX_KEYFRAME_INTERVAL_S = KvsLimits.maxFragmentDurationMs / 1000;
export const MIN_KEYFRAME_INTERVAL_S = 1 / KvsLimits.maxFragmentsPerSecond;
export const DEFAULT_BITRATE_KBPS = 2000;
export const DEFAULT_AUDIO_BITRATE_KBPS = 128;
export const DEFAULT_CLUSTER_MS = 500;
export const MIN_CLUSTER_MS = 10;
export const MAX_CLUSTER_MS = 1000;
export const DEFAULT_TESTSRC_VIDEO_SIZE = '640x480';
export const DEFAULT_TESTSRC_FRAMERATE = 30;
export const DEFAULT_TONE_HZ = 1000;
export const DEFAULT_RTSP_CONNECT_TIMEOUT_MS = 15_000;
export const DEFAULT_RTSP_READ_TIMEOUT_MS = 10_000;

const AUDIO_POLICIES: readonly AudioPolicy[] = ['auto', 'copy', 'encode', 'none'];

const usage = (message: string, context: Record<string, unknown>, suggestion?: string): KvsPutError =>
  new KvsPutError(ErrorCode.Usage, message, { context, ...(suggestion === undefined ? {} : { suggestion }) });

/**
 * Applies defaults and validates. A key frame interval the service cannot take is refused here, before
 * ffmpeg starts, with advice.
 * @throws KvsPutError (code Usage)
 */
export const resolveEncoding = (options: EncodingOptions = {}): EncodingConfig => {
  const keyframeIntervalS = options.keyframeIntervalS ?? DEFAULT_KEYFRAME_INTERVAL_S;
  if (!Number.isFinite(keyframeIntervalS) || keyframeIntervalS <= 0) {
    throw usage(
      `key frame interval must be a positive number of seconds, got ${keyframeIntervalS}`,
      { keyframeIntervalS },
      `use --keyframe-interval ${DEFAULT_KEYFRAME_INTERVAL_S} (the default)`,
    );
  }
  if (keyframeIntervalS > MAX_KEYFRAME_INTERVAL_S) {
    throw usage(
      `key frame interval ${keyframeIntervalS} s is longer than the ${MAX_KEYFRAME_INTERVAL_S} s KVS allows per fragment (ErrorId ${ErrorId.MaxFragmentDurationReached})`,
      { keyframeIntervalS, maxKeyframeIntervalS: MAX_KEYFRAME_INTERVAL_S },
      `every key frame starts a fragment: use --keyframe-interval ${DEFAULT_KEYFRAME_INTERVAL_S} (the default), at most ${MAX_KEYFRAME_INTERVAL_S}`,
    );
  }
  if (keyframeIntervalS < MIN_KEYFRAME_INTERVAL_S) {
    throw usage(
      `key frame interval ${keyframeIntervalS} s would make more than ${KvsLimits.maxFragmentsPerSecond} fragments per second (KVS throttles above that)`,
      { keyframeIntervalS, minKeyframeIntervalS: MIN_KEYFRAME_INTERVAL_S },
      `use --keyframe-interval ${DEFAULT_KEYFRAME_INTERVAL_S} (the default), at least ${MIN_KEYFRAME_INTERVAL_S}`,
    );
  }
  const bitrateKbps = options.bitrateKbps ?? DEFAULT_BITRATE_KBPS;
  if (!Number.isInteger(bitrateKbps) || bitrateKbps < 16 || bitrateKbps > 100_000) {
    throw usage(`video bitrate must be an integer from 16 to 100000 kbit/s, got ${bitrateKbps}`, {
      bitrateKbps,
    });
  }
  const audioBitrateKbps = options.audioBitrateKbps ?? DEFAULT_AUDIO_BITRATE_KBPS;
  if (!Number.isInteger(audioBitrateKbps) || audioBitrateKbps < 8 || audioBitrateKbps > 512) {
    throw usage(`audio bitrate must be an integer from 8 to 512 kbit/s, got ${audioBitrateKbps}`, {
      audioBitrateKbps,
    });
  }
  const clusterMs = options.clusterMs ?? DEFAULT_CLUSTER_MS;
  if (!Number.isInteger(clusterMs) || clusterMs < MIN_CLUSTER_MS || clusterMs > MAX_CLUSTER_MS) {
    throw usage(
      `cluster length must be an integer from ${MIN_CLUSTER_MS} to ${MAX_CLUSTER_MS} ms, got ${clusterMs}`,
      { clusterMs },
      `use --cluster-ms ${DEFAULT_CLUSTER_MS} (the default), or less for lower latency at more CPU`,
    );
  }
  const audio = options.audio ?? 'auto';
  if (!AUDIO_POLICIES.includes(audio)) {
    throw usage(`audio must be one of ${AUDIO_POLICIES.join(', ')}, got ${String(audio)}`, { audio });
  }
  return Object.freeze({
    transcode: options.transcode ?? false,
    keyframeIntervalS,
    bitrateKbps,
    audio,
    audioBitrateKbps,
    clusterMs,
  });
};

/** Whether the source produces media in real time (a camera, a stream, the test pattern, a pipeline). */
export const isLiveSource = (source: CaptureSource): boolean => source.kind !== 'file';

/**
 * Whether ffmpeg can simply be started again when it exits: true for cameras, RTSP and an endless test
 * pattern; false for a file (its end is the end), stdin (consumed) and a test pattern with a duration.
 */
export const isRestartableSource = (source: CaptureSource): boolean =>
  source.kind === 'rtsp' ||
  source.kind === 'device' ||
  (source.kind === 'testsrc' && source.durationS === undefined);

/** A one-line, secret-free description for log lines: `rtsp rtsp://admin:***@cam/live (tcp)`. */
export const describeSource = (source: CaptureSource): string => {
  switch (source.kind) {
    case 'file':
      return `file ${source.path}`;
    case 'testsrc':
      return `test pattern ${source.videoSize ?? DEFAULT_TESTSRC_VIDEO_SIZE} at ${source.framerate ?? DEFAULT_TESTSRC_FRAMERATE} fps`;
    case 'device':
      return `camera ${source.path}${source.inputFormat === undefined ? '' : ` (${source.inputFormat})`}`;
    case 'rtsp':
      // As ffmpeg is given it (checkRtspUrl lower-cases the scheme).
      return `rtsp ${redactUrl(source.url.replace(/^[a-z]+(?=:\/\/)/i, (scheme) => scheme.toLowerCase()))} (${source.transport})`;
    case 'stdin':
      return 'stdin';
  }
};

/** `WxH` → numbers, or a Usage error naming the option. */
export const parseVideoSize = (videoSize: string): { widthPx: number; heightPx: number } => {
  const match = /^(\d{1,5})x(\d{1,5})$/.exec(videoSize);
  if (match === null || Number(match[1]) === 0 || Number(match[2]) === 0) {
    throw usage(`video size must be WIDTHxHEIGHT (e.g. 1280x720), got ${videoSize}`, { videoSize });
  }
  return { widthPx: Number(match[1]), heightPx: Number(match[2]) };
};

/** Validates a frame rate (frames per second). */
export const checkFramerate = (framerate: number): number => {
  if (!Number.isFinite(framerate) || framerate <= 0 || framerate > 240) {
    throw usage(`frame rate must be more than 0 and at most 240 frames per second, got ${framerate}`, {
      framerate,
    });
  }
  return framerate;
};

const RTSP_EXAMPLE = "the camera's stream URL, such as rtsp://user:password@192.0.2.10:554/stream1";

/**
 * Checks an RTSP URL before ffmpeg sees it, and returns it with its scheme in lower case: ffmpeg matches
 * protocols case-sensitively and takes `RTSP://…` for a file name, failing anew on every restart. Any other
 * scheme, an empty host or a URL that does not parse is a usage error naming the flag. Messages show the
 * URL redacted.
 * @throws KvsPutError (code Usage)
 */
export const checkRtspUrl = (url: string): string => {
  const shown = redactUrl(url);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
  if (scheme === undefined || !/^rtsps?$/i.test(scheme)) {
    throw new KvsPutError(ErrorCode.Usage, `--rtsp takes an rtsp:// or rtsps:// URL, not ${shown}`, {
      context: { url: shown },
      suggestion: RTSP_EXAMPLE,
    });
  }
  const normalized = `${scheme.toLowerCase()}${url.slice(scheme.length)}`;
  let host: string;
  try {
    host = new URL(normalized).hostname;
  } catch {
    throw new KvsPutError(ErrorCode.Usage, `--rtsp: ${shown} is not a valid URL`, {
      context: { url: shown },
      suggestion: `${RTSP_EXAMPLE} (a password with @ : / or spaces is written percent-encoded, e.g. %40 for @)`,
    });
  }
  if (host === '') {
    throw new KvsPutError(ErrorCode.Usage, `--rtsp: ${shown} has no host`, {
      context: { url: shown },
      suggestion: RTSP_EXAMPLE,
    });
  }
  return normalized;
};
