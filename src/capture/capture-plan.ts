/**
 * From "what to capture" to "the ffmpeg command that captures it": validates the encoding, probes a file
 * to choose between copy and transcode, and picks the capture API of the platform.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { access, readFile, readdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ErrorCode, KvsPutError } from '../errors.js';
import { checkMediaFile, fileErrorReason } from '../util/media-file.js';
import {
  DEFAULT_RTSP_CONNECT_TIMEOUT_MS,
  describeSource,
  isRestartableSource,
  resolveEncoding,
} from './capture-source.js';
import type { CaptureSource, EncodingConfig, EncodingOptions } from './capture-source.js';
import { devicePlatformOf } from './capture-source.js';
import type { DevicePlatform } from './capture-source.js';
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
  /** Whose capture API a camera is read with (`-f v4l2`, `avfoundation` or `dshow`). */
  platform: DevicePlatform;
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

/** ffmpeg silent this long means a dead camera or a hung connection. */
export const DEFAULT_NO_DATA_TIMEOUT_MS = 20_000;
/** Probing a live source (analyzeduration 5 s) plus libx264 start-up; a file or test pattern starts at once. */
export const DEFAULT_FIRST_DATA_TIMEOUT_MS = 30_000;

/**
 * Checks a Linux camera path before anything starts (and for `kvs-put doctor --device`): one clear error
 * (exit code 7) when it is missing, not a device, or not open to this user. A camera unplugged while kvs-put
 * runs is waited for (the capture restarts with backoff); a wrong path or a missing permission at start is a
 * mistake to report at once.
 * @throws KvsPutError (code Io), with the devices present or the group to join as its suggestion.
 */
export const checkCameraDevice = async (path: string): Promise<void> => {
  let info: Stats;
  try {
    info = await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new KvsPutError(
      ErrorCode.Io,
      `camera ${path}: ${code === 'ENOENT' ? 'no such device' : fileErrorReason(code)}`,
      { context: { path, code }, suggestion: await camerasHere(), cause: error },
    );
  }
  if (!info.isCharacterDevice()) {
    throw new KvsPutError(ErrorCode.Io, `${path} is not a camera device`, {
      context: { path },
      suggestion: await camerasHere(),
    });
  }
  try {
    // V4L2 opens the device for reading and writing.
    await access(path, constants.R_OK | constants.W_OK);
  } catch (error) {
    throw new KvsPutError(ErrorCode.Io, `camera ${path}: permission denied`, {
      context: { path },
      suggestion:
        "cameras belong to the 'video' group: add this user to it (sudo usermod -aG video USER; for a systemd service, SupplementaryGroups=video)",
      cause: error,
    });
  }
};

/**
 * What ffmpeg's V4L2 input says of a node it cannot capture video from, however often it is restarted:
 * - a path that is not V4L2 at all: the capability query fails;
 * - a node whose device has no video capture at all;
 * - an output node (a loopback's or a codec's writing side): there is no input to select;
 * - a capture node of something other than single-planar video. The common one is the metadata node a USB
 *   camera has beside its video node (/dev/video1 next to /dev/video0): UVC reports the capabilities of the
 *   whole camera on both, so ffmpeg's own capture check passes and asking for the video format fails.
 *   Multi-planar capture nodes, which ffmpeg's V4L2 input does not read, fail the same way.
 *
 * Checked against Linux's vivid test driver's capture, output and metadata nodes (scripts/camera-vm.sh). An
 * unplugged or busy camera fails otherwise (ENOENT, ENODEV, EBUSY), and is waited for.
 */
const NOT_A_CAPTURE_DEVICE =
  /VIDIOC_QUERYCAP\): Inappropriate ioctl|Not a video capture device|VIDIOC_G_INPUT\): Inappropriate ioctl|VIDIOC_G_FMT\): Invalid argument/;

/** ffmpeg's V4L2 input on a camera that offers no format for the codec or pixel format asked for. */
const FORMAT_NOT_OFFERED = /Cannot find a proper format for codec/;

/**
 * The failure of a V4L2 camera run that no restart can mend: ffmpeg found its path is no video capture
 * device (exit code 7), or the camera does not offer the `--input-format` asked for (exit code 2). The
 * capture ends with it instead of retrying for as long as the service runs. Undefined for any other failure
 * (a camera unplugged, busy or slow to start), which the capture waits out.
 */
export const cameraRefusal = async (
  plan: Pick<CapturePlan, 'source' | 'platform'>,
  stderrTail: readonly string[],
): Promise<KvsPutError | undefined> => {
  const { source } = plan;
  if (source.kind !== 'device' || plan.platform !== 'linux') {
    return undefined;
  }
  const notOffered = stderrTail.find((line) => FORMAT_NOT_OFFERED.test(line));
  if (notOffered !== undefined) {
    const asked = source.inputFormat ?? 'the format asked for';
    return new KvsPutError(ErrorCode.Usage, `camera ${source.path} does not offer ${asked}`, {
      context: { path: source.path, ffmpeg: notOffered },
      suggestion: `kvs-put doctor --device ${source.path} lists the formats it offers; without --input-format kvs-put takes the camera's own`,
    });
  }
  return notACaptureDevice(source.path, stderrTail);
};

const notACaptureDevice = async (
  path: string,
  stderrLines: readonly string[],
): Promise<KvsPutError | undefined> => {
  const said = stderrLines.find((line) => NOT_A_CAPTURE_DEVICE.test(line));
  return said === undefined ? undefined : captureRefusal(path, said);
};

const captureRefusal = async (path: string, ffmpegSaid: string): Promise<KvsPutError> =>
  new KvsPutError(ErrorCode.Io, `${path} is not a video capture device`, {
    context: { path, ffmpeg: ffmpegSaid },
    suggestion: await camerasHere(),
  });

/** Linux's character-device major number of V4L2 (video4linux) nodes, /dev/video* among them. */
const V4L2_MAJOR = 81;

/**
 * Refuses, before a capture starts, a character device of another driver than V4L2 (/dev/null, a tty):
 * ffmpeg would only say so after start-up. `put` calls it; {@link checkCameraDevice} does not, so that
 * tests and `doctor` can stand /dev/null in for a camera and let ffmpeg's answer decide.
 * @throws KvsPutError (code Io)
 */
export const checkV4l2Node = async (path: string): Promise<void> => {
  const info = await stat(path).catch(() => undefined);
  // Linux packs the major number in bits 8–19 of st_rdev.
  if (info?.isCharacterDevice() === true && ((info.rdev >> 8) & 0xfff) !== V4L2_MAJOR) {
    throw await captureRefusal(path, 'not a V4L2 device');
  }
};

/** A format a V4L2 camera offers, as ffmpeg's `-list_formats all` lists it. */
export type CameraFormat = {
  /** What `--input-format` takes: ffmpeg's pixel format for raw video (yuyv422), its codec otherwise (mjpeg, h264). */
  name: string;
  isCompressed: boolean;
  /** The driver's own name for it: `Motion-JPEG`, `YUYV 4:2:2`. */
  description: string;
  /** Frame sizes (`1280x720`), or a stepwise range as ffmpeg prints it. */
  sizes: string[];
};

/**
 * `[video4linux2,v4l2 @ 0x…] Raw       :     yuyv422 :           YUYV 4:2:2 : 640x480 320x240`: the fields
 * end at a colon after a space (descriptions have colons of their own).
 */
const FORMAT_LINE = /\b(Raw|Compressed)\s*:\s*(\S+)\s+:\s*(.*?)\s+:(?:\s*Emulated\s+:)?(.*)$/;

/**
 * The formats in ffmpeg's `-list_formats all` output (its stderr, or its lines), each name once. Formats
 * ffmpeg has no name for (`Unsupported`) are left out: it cannot capture them. Two driver formats that ffmpeg
 * names alike (YUV and YVU 4:2:0 are both `yuv420p`) become one.
 */
export const parseCameraFormats = (listing: string | readonly string[]): CameraFormat[] => {
  const formats = new Map<string, CameraFormat>();
  for (const line of typeof listing === 'string' ? listing.split(/\r?\n/) : listing) {
    const match = FORMAT_LINE.exec(line);
    if (match === null) {
      continue;
    }
    const [, kind, name, description, sizes] = match as unknown as [string, string, string, string, string];
    if (name !== 'Unsupported' && !formats.has(name)) {
      formats.set(name, {
        name,
        isCompressed: kind === 'Compressed',
        description,
        sizes: sizes.split(/\s+/).filter((size) => size.length > 0),
      });
    }
  }
  return [...formats.values()];
};

/**
 * Asks ffmpeg which formats and frame sizes a V4L2 camera offers (for `kvs-put doctor --device`). ffmpeg
 * lists them and then stops with an error, by design. An ffmpeg without a V4L2 input lists nothing.
 * @throws KvsPutError (code Io) when the path is no video capture device: ffmpeg says so, or lists no format
 *   at all (a metadata node answers the listing with nothing).
 */
export const listCameraFormats = async (ffmpegPath: string, path: string): Promise<CameraFormat[]> => {
  const listing = await new Promise<string>((resolve) => {
    execFile(
      ffmpegPath,
      ['-hide_banner', '-f', 'v4l2', '-list_formats', 'all', '-i', path],
      { timeout: 10_000 },
      (_error, _stdout, stderr) => resolve(stderr),
    );
  });
  const lines = listing.split(/\r?\n/);
  const refusal = await notACaptureDevice(path, lines);
  if (refusal !== undefined) {
    throw refusal;
  }
  const formats = parseCameraFormats(lines);
  if (formats.length === 0 && !lines.some((line) => /Unknown input format/.test(line))) {
    throw await captureRefusal(path, 'no video format listed');
  }
  return formats;
};

/** The V4L2 devices present, with their drivers' names for them, for a hint. */
const camerasHere = async (): Promise<string> => {
  const names = await readdir('/dev').catch(() => []);
  const cameras = names
    .filter((name) => /^video\d+$/.test(name))
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  if (cameras.length === 0) {
    return 'there is no /dev/video* device here: is the camera plugged in, and its driver loaded?';
  }
  // One sentence: the nodes to choose from (a USB camera's second node is for metadata, not video).
  const described = await Promise.all(
    cameras.map(async (name) => {
      const driverName = await readFile(`/sys/class/video4linux/${name}/name`, 'utf8').then(
        (text) => text.trim(),
        () => '',
      );
      return driverName === '' ? `/dev/${name}` : `/dev/${name} (${driverName})`;
    }),
  );
  return `the video devices here are ${described.join(', ')} (v4l2-ctl --list-devices shows which node of a camera carries video)`;
};

/**
 * Builds the capture plan for a source.
 * @throws KvsPutError: Usage (bad encoding or device options), Io (file or camera missing), MkvUnsupported
 *   (file unreadable or without media), Capture (ffmpeg cannot run).
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
  const platform = devicePlatformOf(options.platform ?? process.platform);
  const invocation = buildCaptureArgs(planned, encoding, {
    platform,
    ...(probe === undefined ? {} : { probe }),
    ...(options.rtspTimeoutOption === undefined ? {} : { rtspTimeoutOption: options.rtspTimeoutOption }),
  });
  // After the options' own checks: a usage mistake is reported before a missing camera.
  if (source.kind === 'device' && platform === 'linux') {
    await checkCameraDevice(source.path);
  }
  return {
    source: planned,
    encoding,
    invocation,
    description: describeSource(source),
    platform,
    isRestartable: isRestartableSource(source),
    firstDataTimeoutMs:
      source.kind === 'rtsp'
        ? (source.connectTimeoutMs ?? DEFAULT_RTSP_CONNECT_TIMEOUT_MS)
        : DEFAULT_FIRST_DATA_TIMEOUT_MS,
    noDataTimeoutMs: DEFAULT_NO_DATA_TIMEOUT_MS,
    ...(probe === undefined ? {} : { probe }),
  };
};
