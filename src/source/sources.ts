/**
 * Sources say where an upload's frames come from: plain values, made by the functions below and handed to
 * `upload()`. Nothing is opened or started until the upload runs.
 */
import type { Readable } from 'node:stream';
import type {
  AudioPolicy,
  CaptureSource,
  DeviceInputFormat,
  EncodingOptions,
  RtspTransport,
} from '../capture/capture-source.js';
import type { TimecodeMode } from '../fragment/fragmenter.js';

/** How ffmpeg encodes, where it encodes (the `put` command's encoding flags). */
export type EncodingFlags = {
  /** Re-encode video with libx264 even when the source delivers H.264 (`--transcode`). @default false */
  transcode?: boolean;
  /** Seconds between key frames when encoding: the fragment duration, at most 20. @default 2 */
  keyframeInterval?: number;
  /** Video bitrate when encoding, in kbit/s. @default 2000 */
  bitrate?: number;
  /** `auto` copies AAC and encodes other audio; `none` sends video only. @default 'auto' */
  audio?: AudioPolicy;
  /** How long ffmpeg holds frames before handing them on, in ms (10–1000). @default 500 */
  clusterMs?: number;
};

export type FileSourceOptions = EncodingFlags & {
  /**
   * Producer time of the first frame: a Date or epoch milliseconds. @default the file's creation time, else
   * its modification time minus its duration; never in the future
   */
  startTime?: Date | number;
  /** Cluster timecodes as epoch ms (`absolute`) or from the start time (`relative`). @default 'absolute' */
  timecode?: TimecodeMode;
  /** Where `-` in `paths` reads from. @default process.stdin */
  stdin?: Readable;
};

export type TestPatternOptions = EncodingFlags & {
  /** `WxH`. @default '640x480' */
  videoSize?: string;
  /** Frames per second. @default 30 */
  framerate?: number;
};

export type RtspSourceOptions = EncodingFlags & {
  /** @default 'tcp' */
  rtspTransport?: RtspTransport;
  /** Connect and read timeout, in ms. @default 15 000 to connect, 10 000 to read */
  rtspTimeout?: number;
};

export type DeviceSourceOptions = EncodingFlags & {
  /** `WxH`; unset lets the driver choose. */
  videoSize?: string;
  /** Frames per second; unset lets the driver choose. */
  framerate?: number;
  /** What to ask a V4L2 camera for. */
  inputFormat?: DeviceInputFormat;
  /** An audio device captured with the camera (ALSA name, AVFoundation index, DirectShow name). */
  audioDevice?: string;
};

/** Recorded media: files, folders of them and MKV streams, uploaded in producer-time order. */
export type ClipsSource = {
  readonly kind: 'clips';
  /** Files and folders as `--file` takes them; `-` is `stdin`. */
  readonly paths: readonly string[];
  readonly options: Readonly<FileSourceOptions>;
};

/** A camera, an RTSP stream or a test pattern, captured by ffmpeg until the upload is stopped. */
export type LiveSource = {
  readonly kind: 'live';
  readonly capture: CaptureSource;
  readonly encoding: Readonly<EncodingFlags>;
};

/** Where an upload's frames come from. */
export type Source = ClipsSource | LiveSource;

/**
 * Files (MKV read directly; MP4, MOV, TS… remuxed by ffmpeg) and folders of MKV files, as `--file` takes
 * them.
 */
export const fileSource = (paths: string | readonly string[], options: FileSourceOptions = {}): Source => ({
  kind: 'clips',
  paths: typeof paths === 'string' ? [paths] : [...paths],
  options,
});

/** Matroska read from a stream, e.g. stdin fed by another ffmpeg or GStreamer. */
export const mkvSource = (readable: Readable, options: Omit<FileSourceOptions, 'stdin'> = {}): Source => ({
  kind: 'clips',
  paths: ['-'],
  options: { ...options, stdin: readable },
});

/** A synthetic test pattern with a tone, in real time. */
export const testPattern = (options: TestPatternOptions = {}): Source => {
  const { videoSize, framerate, ...encoding } = options;
  return {
    kind: 'live',
    capture: {
      kind: 'testsrc',
      ...(videoSize === undefined ? {} : { videoSize }),
      ...(framerate === undefined ? {} : { framerate }),
    },
    encoding,
  };
};

/** An RTSP camera: H.264 is copied, not re-encoded. Credentials in the URL are never logged. */
export const rtspSource = (url: string, options: RtspSourceOptions = {}): Source => {
  const { rtspTransport, rtspTimeout, ...encoding } = options;
  return {
    kind: 'live',
    capture: {
      kind: 'rtsp',
      url,
      transport: rtspTransport ?? 'tcp',
      ...(rtspTimeout === undefined ? {} : { connectTimeoutMs: rtspTimeout, readTimeoutMs: rtspTimeout }),
    },
    encoding,
  };
};

/** A local camera: `/dev/video0` on Linux, an index on macOS, a name on Windows. */
export const deviceSource = (path: string, options: DeviceSourceOptions = {}): Source => {
  const { videoSize, framerate, inputFormat, audioDevice, ...encoding } = options;
  return {
    kind: 'live',
    capture: {
      kind: 'device',
      path,
      ...(videoSize === undefined ? {} : { videoSize }),
      ...(framerate === undefined ? {} : { framerate }),
      ...(inputFormat === undefined ? {} : { inputFormat }),
      ...(audioDevice === undefined ? {} : { audioDevice }),
    },
    encoding,
  };
};

/** The capture layer's encoding options from the flags. */
export const encodingOptionsOf = (flags: Readonly<EncodingFlags>): EncodingOptions => ({
  ...(flags.transcode === true ? { transcode: true } : {}),
  ...(flags.keyframeInterval === undefined ? {} : { keyframeIntervalS: flags.keyframeInterval }),
  ...(flags.bitrate === undefined ? {} : { bitrateKbps: flags.bitrate }),
  ...(flags.clusterMs === undefined ? {} : { clusterMs: flags.clusterMs }),
  audio: flags.audio ?? 'auto',
});
