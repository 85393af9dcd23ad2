/**
 * What a media file holds (codecs, frame rate, duration, creation time), asked of ffprobe through
 * fluent-ffmpeg, or of ffmpeg itself when no ffprobe is around (@ffmpeg-installer ships ffmpeg only).
 */
import { execFile } from 'node:child_process';
import { ErrorCode, KvsPutError } from '../errors.js';
import { notRunnableError } from './capture-errors.js';
import { ffprobeFile } from './fluent-ffmpeg-adapter.js';
import type { FfprobeData, FfprobeStream } from './fluent-ffmpeg-adapter.js';
import { redactText } from './redact.js';

export type MediaStreamInfo = {
  /** The stream's index in the file (`-map 0:<index>`). */
  index: number;
  type: 'video' | 'audio' | 'other';
  /** ffmpeg's codec name: `h264`, `hevc`, `aac`, `vp8`, `opus`… */
  codecName: string;
  /** Frames per second, when the container says. */
  framerate?: number;
  widthPx?: number;
  heightPx?: number;
  sampleRateHz?: number;
  /** Cover art (an MP4/MKV attachment shown as a one-frame video stream): never the video to send. */
  isAttachedPicture?: boolean;
};

export type MediaProbe = {
  /** ffmpeg's demuxer name(s): `matroska,webm`, `mov,mp4,m4a,3gp,3g2,mj2`… */
  formatName?: string;
  durationS?: number;
  /** The container's `creation_time` tag (ISO 8601), when it has one. */
  creationTime?: string;
  streams: MediaStreamInfo[];
};

export type ProbeMediaOptions = {
  /** ffprobe to run; when absent, `ffmpegPath -i` is parsed instead. */
  ffprobePath?: string;
  /** ffmpeg, for the fallback. */
  ffmpegPath: string;
  /** @default 30000 */
  timeoutMs?: number;
};

/** `30000/1001` → 29.97; `0/0` and junk → undefined. */
export const parseFrameRate = (rate: string | number | undefined): number | undefined => {
  if (typeof rate === 'number') {
    return rate > 0 && Number.isFinite(rate) ? rate : undefined;
  }
  const match = /^(\d+(?:\.\d+)?)(?:\/(\d+(?:\.\d+)?))?$/.exec(rate?.trim() ?? '');
  if (match === null) {
    return undefined;
  }
  const value = Number(match[1]) / (match[2] === undefined ? 1 : Number(match[2]));
  return value > 0 && Number.isFinite(value) ? value : undefined;
};

const streamType = (codecType: string | undefined): MediaStreamInfo['type'] =>
  codecType === 'video' ? 'video' : codecType === 'audio' ? 'audio' : 'other';

const fromFfprobeStream = (stream: FfprobeStream): MediaStreamInfo => {
  const type = streamType(stream.codec_type);
  const framerate =
    type === 'video'
      ? (parseFrameRate(stream.avg_frame_rate) ?? parseFrameRate(stream.r_frame_rate))
      : undefined;
  const disposition = stream.disposition;
  return {
    index: stream.index,
    type,
    codecName: stream.codec_name ?? 'unknown',
    ...(framerate === undefined ? {} : { framerate }),
    ...(typeof stream.width === 'number' ? { widthPx: stream.width } : {}),
    ...(typeof stream.height === 'number' ? { heightPx: stream.height } : {}),
    ...(typeof stream.sample_rate === 'number' ? { sampleRateHz: stream.sample_rate } : {}),
    ...(disposition?.attached_pic === 1 ? { isAttachedPicture: true } : {}),
  };
};

/** Turns fluent-ffmpeg's ffprobe result into a {@link MediaProbe}. */
export const fromFfprobeData = (data: FfprobeData): MediaProbe => {
  const tags = data.format.tags ?? {};
  const creationTime = tags['creation_time'] ?? tags['CREATION_TIME'];
  const durationS = data.format.duration;
  return {
    ...(data.format.format_name === undefined ? {} : { formatName: data.format.format_name }),
    ...(typeof durationS === 'number' && Number.isFinite(durationS) ? { durationS } : {}),
    ...(creationTime === undefined ? {} : { creationTime: String(creationTime) }),
    streams: data.streams.map(fromFfprobeStream),
  };
};

/**
 * Parses what `ffmpeg -hide_banner -i FILE` prints about its input (the fallback when there is no ffprobe):
 * `Input #0, matroska,webm, from '…':`, `Duration: 00:00:01.00, …`, `creation_time   : 2026-…`,
 * `Stream #0:0(eng): Video: h264 (High) (avc1 / 0x31637661), yuv420p, 320x240, 25 fps, … (attached pic)`.
 */
export const parseFfmpegInputInfo = (stderr: string): MediaProbe => {
  const formatName = /^Input #0, (.+?), from /m.exec(stderr)?.[1];
  const duration = /^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)/m.exec(stderr);
  const creationTime = /^\s{4}creation_time\s*: (\S+)/m.exec(stderr)?.[1];
  const streams: MediaStreamInfo[] = [];
  for (const match of stderr.matchAll(
    /^\s*Stream #0:(\d+)[^:]*: (Video|Audio|Data|Subtitle|Attachment): (\w+)(.*)$/gm,
  )) {
    const type = streamType(match[2]?.toLowerCase());
    const rest = match[4] ?? '';
    const size = /, (\d+)x(\d+)/.exec(rest);
    const fps = /, (\d+(?:\.\d+)?) fps/.exec(rest)?.[1] ?? /, (\d+(?:\.\d+)?) tbr/.exec(rest)?.[1];
    const sampleRate = /, (\d+) Hz/.exec(rest)?.[1];
    streams.push({
      index: Number(match[1]),
      type,
      codecName: match[3] ?? 'unknown',
      ...(type === 'video' && fps !== undefined ? { framerate: Number(fps) } : {}),
      ...(type === 'video' && size !== null ? { widthPx: Number(size[1]), heightPx: Number(size[2]) } : {}),
      ...(type === 'audio' && sampleRate !== undefined ? { sampleRateHz: Number(sampleRate) } : {}),
      ...(rest.includes('(attached pic)') ? { isAttachedPicture: true } : {}),
    });
  }
  return {
    ...(formatName === undefined ? {} : { formatName }),
    ...(duration === null
      ? {}
      : { durationS: Number(duration[1]) * 3600 + Number(duration[2]) * 60 + Number(duration[3]) }),
    ...(creationTime === undefined ? {} : { creationTime }),
    streams,
  };
};

const lastLine = (text: string): string =>
  text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .at(-1) ?? '';

const probeFailure = (path: string, detail: string, cause?: unknown): KvsPutError =>
  new KvsPutError(ErrorCode.MkvUnsupported, `cannot read ${path} as media: ${redactText(detail)}`, {
    context: { path },
    suggestion: 'check that the file is a complete video file (ffprobe FILE shows what ffmpeg sees)',
    cause,
  });

const ffmpegInputInfo = (path: string, ffmpegPath: string, timeoutMs: number): Promise<string> =>
  new Promise((resolve, reject) => {
    // `ffmpeg -i FILE` with no output prints the input's description and exits 1 ("At least one output file
    // must be specified"): the description is what we want, the exit code is expected.
    execFile(
      ffmpegPath,
      ['-hide_banner', '-nostdin', '-i', path],
      { timeout: timeoutMs, maxBuffer: 4 << 20 },
      (error, _stdout, stderr) => {
        const code = (error as NodeJS.ErrnoException | null)?.code;
        if (typeof code === 'string') {
          reject(notRunnableError(ffmpegPath, code, error));
        } else {
          resolve(stderr);
        }
      },
    );
  });

/**
 * Probes a media file: streams, codecs, frame rate, duration, creation time.
 * @throws KvsPutError MkvUnsupported when ffmpeg cannot read it, Capture when ffmpeg cannot run.
 */
export const probeMediaFile = async (path: string, options: ProbeMediaOptions): Promise<MediaProbe> => {
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (options.ffprobePath !== undefined) {
    try {
      return fromFfprobeData(await ffprobeFile(path, options.ffprobePath));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw probeFailure(path, lastLine(message) || message, error);
    }
  }
  const stderr = await ffmpegInputInfo(path, options.ffmpegPath, timeoutMs);
  const probe = parseFfmpegInputInfo(stderr);
  if (!/^Input #0/m.test(stderr)) {
    throw probeFailure(path, lastLine(stderr));
  }
  return probe;
};
