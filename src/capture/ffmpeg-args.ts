/**
 * Pure builders of ffmpeg command lines, one per source kind: no process is started here, so every argv is
 * testable byte for byte. Every command writes Matroska to stdout (`pipe:1`) shaped for streaming: clusters
 * closed every `clusterMs` (EncodingConfig) and flushed at once. ffmpeg's Matroska muxer holds a whole
 * cluster in memory before writing it, so the cluster length *is* the latency ffmpeg adds, and it sets how
 * often kvs-put is woken: a trade of latency against CPU (docs/architecture.md, "Live clusters of 500 ms").
 *
 * Encoding policy: copy H.264/H.265 video and AAC audio when the source delivers them, unless
 * `transcode`; otherwise libx264 tuned for low latency, no B-frames, a key frame every `keyframeIntervalS`
 * (each one starts a KVS fragment), and AAC audio.
 *
 * Flags checked against `ffmpeg -h muxer=matroska` / `-h demuxer=rtsp` of ffmpeg 5.1 (Debian 12) and 4.1
 * (@ffmpeg-installer): `-cluster_time_limit`, `-cluster_size_limit`, `-live`, `-write_crc32`,
 * `-flush_packets` exist in both; the RTSP socket timeout is `-timeout` (µs) from ffmpeg 5 but `-stimeout`
 * before, where `-timeout` means "listen for incoming connections": see {@link RtspTimeoutOption}.
 */
import { ErrorCode, KvsPutError } from '../errors.js';
import { NoVideoTrack } from '../fragment/kvs-limits.js';
import {
  DEFAULT_RTSP_READ_TIMEOUT_MS,
  DEFAULT_TESTSRC_FRAMERATE,
  DEFAULT_TESTSRC_VIDEO_SIZE,
  DEFAULT_TONE_HZ,
  checkFramerate,
  checkRtspUrl,
  parseVideoSize,
} from './capture-source.js';
import type {
  CaptureSource,
  DevicePlatform,
  DeviceSource,
  EncodingConfig,
  FileSource,
  RtspSource,
  StdinSource,
  TestsrcSource,
} from './capture-source.js';
import type { MediaProbe, MediaStreamInfo } from './media-probe.js';
import { urlSecrets } from './redact.js';

/** One ffmpeg input: its options (before `-i`) and what follows `-i`. */
export type FfmpegInput = { readonly options: readonly string[]; readonly source: string };

/** What happens to a track: copied as is, encoded (H.264 / AAC), or absent. */
export type TrackPlan = 'copy' | 'encode' | 'none';

/** A complete ffmpeg command, kept structured (inputs, outputs) for fluent-ffmpeg; {@link toArgv} flattens it. */
export type FfmpegInvocation = {
  /** Options for the whole run (`-hide_banner`, `-loglevel`…), placed before the first input. */
  readonly globalOptions: readonly string[];
  readonly inputs: readonly FfmpegInput[];
  readonly outputOptions: readonly string[];
  readonly output: 'pipe:1';
  readonly video: TrackPlan;
  readonly audio: TrackPlan;
  /** Why the policy chose what it chose, for a log line each: `transcoding: codec vp8 is not H.264/H.265`. */
  readonly reasons: readonly string[];
  /** Strings that must never be shown (RTSP passwords): hand them to redactText. */
  readonly secrets: readonly string[];
  /** A live source: muxed with `-live 1`. */
  readonly isLive: boolean;
  /** ffmpeg reads its stdin (`pipe:0`): the caller must provide it. */
  readonly readsStdin: boolean;
};

/**
 * The name of the RTSP demuxer's socket-timeout option (µs): `timeout` in ffmpeg ≥ 5, `stimeout` before.
 * In ffmpeg ≤ 4.4 `-timeout` is the *listen* timeout and turns the client into a server, so the wrong
 * name does not fail: it silently waits for a camera to connect to us.
 */
export type RtspTimeoutOption = 'timeout' | 'stimeout';

/** What the builders need besides the source and the encoding. */
export type CaptureArgsContext = {
  /** The capture API for `device` sources without their own `platform`. @default 'linux' */
  platform?: DevicePlatform;
  /** Required for `file` sources: what the file holds (probeMediaFile). */
  probe?: MediaProbe;
  /** From probeFfmpegCapabilities. @default 'timeout' */
  rtspTimeoutOption?: RtspTimeoutOption;
};

/** ffmpeg's Matroska cluster size limit: bounds one write; a bigger key frame still gets a cluster of its own. */
export const CLUSTER_SIZE_LIMIT_BYTES = 1024 * 1024;

/** Quiet and non-interactive: stderr then holds only warnings and errors, which become the stderr tail. */
export const GLOBAL_OPTIONS: readonly string[] = [
  '-hide_banner',
  '-nostdin',
  '-nostats',
  '-loglevel',
  'warning',
];

const COPYABLE_VIDEO_CODECS: readonly string[] = ['h264', 'hevc'];

/**
 * Containers whose AAC is ADTS-framed, without the AudioSpecificConfig that ffmpeg's Matroska muxer must
 * write in the header before the first packet (it cannot when writing to a pipe): `-c:a copy` fails with
 * "Error parsing AAC extradata", and `-bsf:a aac_adtstoasc` comes too late to help. Such audio is encoded.
 */
const isAdtsContainer = (formatName: string | undefined): boolean =>
  (formatName ?? '').split(',').some((name) => name === 'mpegts' || name === 'aac');

/** Frames between key frames: `round(fps × interval)`, at least 1 (29.97 fps × 2 s → 60). */
export const keyframeIntervalFrames = (framerate: number, keyframeIntervalS: number): number =>
  Math.max(1, Math.round(framerate * keyframeIntervalS));

/** The argv ffmpeg gets: global options, then each input's options and `-i`, then the output. */
export const toArgv = (invocation: FfmpegInvocation): string[] => [
  ...invocation.globalOptions,
  ...invocation.inputs.flatMap((input) => [...input.options, '-i', input.source]),
  ...invocation.outputOptions,
  invocation.output,
];

/**
 * libx264 for live upload: `veryfast` + `zerolatency` (no look-ahead, no frame delay), no B-frames (KVS
 * wants timestamps that never go back), a closed key frame every `keyframeIntervalS` and no scene-cut key
 * frames (fragments of equal length). With a known frame rate that is `-g`/`-keyint_min`; without one
 * (RTSP, stdin, a camera left at its default rate) key frames are forced by time instead.
 */
export const x264Options = (encoding: EncodingConfig, framerate: number | undefined): string[] => {
  const gop =
    framerate === undefined
      ? ['-force_key_frames', `expr:gte(t,n_forced*${encoding.keyframeIntervalS})`, '-sc_threshold', '0']
      : (() => {
          const frames = String(keyframeIntervalFrames(framerate, encoding.keyframeIntervalS));
          return ['-g', frames, '-keyint_min', frames, '-sc_threshold', '0'];
        })();
  const kbps = encoding.bitrateKbps;
  return [
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-tune',
    'zerolatency',
    '-bf',
    '0',
    ...gop,
    '-pix_fmt',
    'yuv420p',
    '-b:v',
    `${kbps}k`,
    '-maxrate',
    `${kbps}k`,
    '-bufsize',
    `${kbps * 2}k`,
  ];
};

const aacOptions = (encoding: EncodingConfig): string[] => [
  '-c:a',
  'aac',
  '-b:a',
  `${encoding.audioBitrateKbps}k`,
];

const codecOptions = (
  video: TrackPlan,
  audio: TrackPlan,
  encoding: EncodingConfig,
  framerate?: number,
): string[] => [
  ...(video === 'copy' ? ['-c:v', 'copy'] : video === 'encode' ? x264Options(encoding, framerate) : []),
  ...(audio === 'copy' ? ['-c:a', 'copy'] : audio === 'encode' ? aacOptions(encoding) : []),
];

/** The Matroska-to-stdout tail shared by every command. */
export const matroskaOutputOptions = (isLive: boolean, clusterMs: number): string[] => [
  '-f',
  'matroska',
  ...(isLive ? ['-live', '1'] : []),
  '-flush_packets',
  '1',
  '-cluster_time_limit',
  String(clusterMs),
  '-cluster_size_limit',
  String(CLUSTER_SIZE_LIMIT_BYTES),
  // Our reader skips CRC-32 elements; not writing them saves ffmpeg the work and the stream 6 B per cluster.
  '-write_crc32',
  '0',
];

type Parts = {
  inputs: FfmpegInput[];
  maps: string[];
  video: TrackPlan;
  audio: TrackPlan;
  framerate?: number;
  reasons: string[];
  secrets?: string[];
  isLive: boolean;
  readsStdin?: boolean;
};

const assemble = (parts: Parts, encoding: EncodingConfig): FfmpegInvocation => ({
  globalOptions: GLOBAL_OPTIONS,
  inputs: parts.inputs,
  outputOptions: [
    ...parts.maps,
    ...codecOptions(parts.video, parts.audio, encoding, parts.framerate),
    ...matroskaOutputOptions(parts.isLive, encoding.clusterMs),
  ],
  output: 'pipe:1',
  video: parts.video,
  audio: parts.audio,
  reasons: parts.reasons,
  secrets: parts.secrets ?? [],
  isLive: parts.isLive,
  readsStdin: parts.readsStdin ?? false,
});

/** The copy-or-transcode decision for a probed file. */
export type FileEncodingDecision = {
  video: TrackPlan;
  audio: TrackPlan;
  videoStream?: MediaStreamInfo;
  audioStream?: MediaStreamInfo;
  reasons: string[];
};

/**
 * Decides, from what the file holds, whether its tracks are copied or encoded. Video: H.264/H.265 copied
 * unless `transcode`; anything else encoded, with the reason (`transcoding: codec vp8 is not H.264/H.265`).
 * Audio (`auto`): AAC copied, anything else encoded. Cover art is never taken for the video.
 * @throws KvsPutError MkvUnsupported when the file has neither video nor audio to send.
 */
export const decideFileEncoding = (probe: MediaProbe, encoding: EncodingConfig): FileEncodingDecision => {
  const videoStream = probe.streams.find(
    (stream) => stream.type === 'video' && stream.isAttachedPicture !== true,
  );
  const audioStream = probe.streams.find((stream) => stream.type === 'audio');
  const reasons: string[] = [];
  let video: TrackPlan = 'none';
  if (videoStream !== undefined) {
    if (encoding.transcode) {
      video = 'encode';
      reasons.push(`transcoding: --transcode given (video is ${videoStream.codecName})`);
    } else if (COPYABLE_VIDEO_CODECS.includes(videoStream.codecName)) {
      video = 'copy';
    } else {
      video = 'encode';
      reasons.push(`transcoding: codec ${videoStream.codecName} is not H.264/H.265`);
    }
  }
  let audio: TrackPlan = 'none';
  if (audioStream !== undefined && encoding.audio !== 'none') {
    if (encoding.audio === 'encode') {
      audio = 'encode';
      reasons.push(`encoding audio to AAC: --audio encode given (audio is ${audioStream.codecName})`);
    } else if (audioStream.codecName === 'aac' && !isAdtsContainer(probe.formatName)) {
      audio = 'copy';
    } else if (audioStream.codecName === 'aac' && encoding.audio === 'auto') {
      audio = 'encode';
      reasons.push('encoding audio to AAC: ADTS AAC in MPEG-TS has no header Matroska can copy');
    } else if (encoding.audio === 'copy' && audioStream.codecName === 'aac') {
      audio = 'copy';
    } else if (encoding.audio === 'copy') {
      audio = 'copy';
      reasons.push(
        `copying ${audioStream.codecName} audio as asked: KVS playback (HLS, DASH, console) needs AAC`,
      );
    } else {
      audio = 'encode';
      reasons.push(`encoding audio to AAC: codec ${audioStream.codecName} is not AAC`);
    }
  }
  if (videoStream === undefined && audioStream !== undefined) {
    throw new KvsPutError(ErrorCode.MkvUnsupported, NoVideoTrack.reason, {
      context: { streams: probe.streams.map((stream) => `${stream.type} ${stream.codecName}`) },
      suggestion: NoVideoTrack.suggestion,
    });
  }
  if (video === 'none' && audio === 'none') {
    throw new KvsPutError(
      ErrorCode.MkvUnsupported,
      audioStream === undefined
        ? 'the file has no video or audio stream'
        : 'the file has no video stream and audio is off',
      { context: { streams: probe.streams.map((stream) => `${stream.type} ${stream.codecName}`) } },
    );
  }
  if (video === 'copy' && (audio === 'copy' || audio === 'none')) {
    const audioText =
      audio === 'copy' && audioStream !== undefined ? ` and ${audioStream.codecName} audio` : '';
    reasons.unshift(`copying ${videoStream?.codecName ?? ''} video${audioText} as is (no transcoding)`);
  }
  return {
    video,
    audio,
    ...(videoStream === undefined ? {} : { videoStream }),
    ...(audioStream === undefined ? {} : { audioStream }),
    reasons,
  };
};

/**
 * A file (any container ffmpeg reads), remuxed as fast as ffmpeg can read it: no `-re`, pacing to the
 * service's limits is the uploader's job. The path gets a `file:` prefix so that a name with a colon
 * (`clip:1.mp4`) is never taken for a protocol.
 */
export const buildFileArgs = (
  source: FileSource,
  encoding: EncodingConfig,
  probe: MediaProbe,
): FfmpegInvocation => {
  const decision = decideFileEncoding(probe, encoding);
  const maps = [
    ...(decision.video !== 'none' && decision.videoStream !== undefined
      ? ['-map', `0:${decision.videoStream.index}`]
      : []),
    ...(decision.audio !== 'none' && decision.audioStream !== undefined
      ? ['-map', `0:${decision.audioStream.index}`]
      : []),
  ];
  return assemble(
    {
      inputs: [{ options: [], source: `file:${source.path}` }],
      maps,
      video: decision.video,
      audio: decision.audio,
      ...(decision.videoStream?.framerate === undefined ? {} : { framerate: decision.videoStream.framerate }),
      reasons: decision.reasons,
      isLive: false,
    },
    encoding,
  );
};

/** The lavfi test pattern (`testsrc2`) and a sine tone, produced in real time (`-re`), encoded H.264 + AAC. */
export const buildTestsrcArgs = (source: TestsrcSource, encoding: EncodingConfig): FfmpegInvocation => {
  const videoSize = source.videoSize ?? DEFAULT_TESTSRC_VIDEO_SIZE;
  parseVideoSize(videoSize);
  const framerate = checkFramerate(source.framerate ?? DEFAULT_TESTSRC_FRAMERATE);
  const toneHz = source.toneHz ?? DEFAULT_TONE_HZ;
  const hasAudio = encoding.audio !== 'none';
  const videoGraph = `testsrc2=size=${videoSize}:rate=${framerate}`;
  // One lavfi graph with both outputs keeps video and tone on one clock.
  const graph = hasAudio
    ? `${videoGraph}[out0];sine=frequency=${toneHz}:sample_rate=48000[out1]`
    : videoGraph;
  return assemble(
    {
      inputs: [
        {
          options: [
            '-re',
            '-f',
            'lavfi',
            ...(source.durationS === undefined ? [] : ['-t', String(source.durationS)]),
          ],
          source: graph,
        },
      ],
      maps: ['-map', '0:v:0', ...(hasAudio ? ['-map', '0:a:0'] : [])],
      video: 'encode',
      audio: hasAudio ? 'encode' : 'none',
      framerate,
      reasons: [`encoding the test pattern with libx264${hasAudio ? ' and its tone with AAC' : ''}`],
      isLive: true,
    },
    encoding,
  );
};

const deviceVideoPlan = (
  source: DeviceSource,
  encoding: EncodingConfig,
  reasons: string[],
): { video: TrackPlan; framerate?: number } => {
  const framerate = source.framerate === undefined ? undefined : checkFramerate(source.framerate);
  if (source.inputFormat === 'h264' && !encoding.transcode) {
    reasons.push("copying the camera's H.264 as is (its own key frame interval applies)");
    return { video: 'copy' };
  }
  reasons.push(
    `encoding the camera's ${source.inputFormat ?? 'default format'} with libx264${encoding.transcode ? ' (--transcode given)' : ''}`,
  );
  return { video: 'encode', ...(framerate === undefined ? {} : { framerate }) };
};

const deviceSizeOptions = (source: DeviceSource): string[] => {
  const options: string[] = [];
  if (source.videoSize !== undefined) {
    parseVideoSize(source.videoSize);
    options.push('-video_size', source.videoSize);
  }
  if (source.framerate !== undefined) {
    options.push('-framerate', String(checkFramerate(source.framerate)));
  }
  return options;
};

/** Linux V4L2 (`-f v4l2 -input_format … -video_size … -framerate … -i /dev/video0`), plus ALSA audio if asked. */
export const buildV4l2Args = (source: DeviceSource, encoding: EncodingConfig): FfmpegInvocation => {
  const reasons: string[] = [];
  const { video, framerate } = deviceVideoPlan(source, encoding, reasons);
  const hasAudio = source.audioDevice !== undefined && encoding.audio !== 'none';
  if (hasAudio) {
    reasons.push('encoding the ALSA audio with AAC');
  }
  return assemble(
    {
      inputs: [
        {
          options: [
            '-f',
            'v4l2',
            ...(source.inputFormat === undefined ? [] : ['-input_format', source.inputFormat]),
            ...deviceSizeOptions(source),
          ],
          source: source.path,
        },
        ...(hasAudio ? [{ options: ['-f', 'alsa'], source: source.audioDevice ?? '' }] : []),
      ],
      maps: ['-map', '0:v:0', ...(hasAudio ? ['-map', '1:a:0'] : [])],
      video,
      audio: hasAudio ? 'encode' : 'none',
      ...(framerate === undefined ? {} : { framerate }),
      reasons,
      isLive: true,
    },
    encoding,
  );
};

/**
 * macOS AVFoundation (`-f avfoundation -i "0:none"`, or `"0:1"` with audio device 1). It delivers raw
 * frames only, so the video is always encoded; `yuyv422` maps to `-pixel_format`.
 */
export const buildAvfoundationArgs = (source: DeviceSource, encoding: EncodingConfig): FfmpegInvocation => {
  if (source.inputFormat === 'mjpeg' || source.inputFormat === 'h264') {
    throw new KvsPutError(
      ErrorCode.Usage,
      `input format ${source.inputFormat} is not available with AVFoundation (macOS cameras deliver raw frames)`,
      {
        context: { inputFormat: source.inputFormat },
        suggestion: 'leave out --input-format, or use yuyv422',
      },
    );
  }
  const reasons: string[] = [];
  const { framerate } = deviceVideoPlan(source, encoding, reasons);
  const hasAudio = source.audioDevice !== undefined && encoding.audio !== 'none';
  if (hasAudio) {
    reasons.push('encoding the AVFoundation audio with AAC');
  }
  return assemble(
    {
      inputs: [
        {
          options: [
            '-f',
            'avfoundation',
            ...deviceSizeOptions(source),
            ...(source.inputFormat === 'yuyv422' ? ['-pixel_format', 'yuyv422'] : []),
          ],
          source: `${source.path}:${hasAudio ? source.audioDevice : 'none'}`,
        },
      ],
      maps: ['-map', '0:v:0', ...(hasAudio ? ['-map', '0:a:0'] : [])],
      video: 'encode',
      audio: hasAudio ? 'encode' : 'none',
      ...(framerate === undefined ? {} : { framerate }),
      reasons,
      isLive: true,
    },
    encoding,
  );
};

/**
 * Windows DirectShow (`-f dshow -i video=NAME[:audio=NAME]`; the argv element carries the name as is, no
 * shell quoting). `mjpeg`/`h264` ask the camera for that codec (`-vcodec`), `yuyv422` for raw frames. A
 * 64 MB real-time buffer stops dshow dropping frames while libx264 starts up.
 */
export const buildDshowArgs = (source: DeviceSource, encoding: EncodingConfig): FfmpegInvocation => {
  const reasons: string[] = [];
  const { video, framerate } = deviceVideoPlan(source, encoding, reasons);
  const hasAudio = source.audioDevice !== undefined && encoding.audio !== 'none';
  if (hasAudio) {
    reasons.push('encoding the DirectShow audio with AAC');
  }
  const formatOptions =
    source.inputFormat === undefined
      ? []
      : source.inputFormat === 'yuyv422'
        ? ['-pixel_format', 'yuyv422']
        : ['-vcodec', source.inputFormat];
  return assemble(
    {
      inputs: [
        {
          options: ['-f', 'dshow', '-rtbufsize', '64M', ...deviceSizeOptions(source), ...formatOptions],
          source: `video=${source.path}${hasAudio ? `:audio=${source.audioDevice}` : ''}`,
        },
      ],
      maps: ['-map', '0:v:0', ...(hasAudio ? ['-map', '0:a:0'] : [])],
      video,
      audio: hasAudio ? 'encode' : 'none',
      ...(framerate === undefined ? {} : { framerate }),
      reasons,
      isLive: true,
    },
    encoding,
  );
};

/** A camera, with the capture API of its platform. */
export const buildDeviceArgs = (
  source: DeviceSource,
  encoding: EncodingConfig,
  platform: DevicePlatform = 'linux',
): FfmpegInvocation => {
  switch (source.platform ?? platform) {
    case 'linux':
      return buildV4l2Args(source, encoding);
    case 'darwin':
      return buildAvfoundationArgs(source, encoding);
    case 'win32':
      return buildDshowArgs(source, encoding);
  }
};

/**
 * Audio of a source whose codec is unknown until ffmpeg runs (RTSP, stdin). `auto` encodes AAC: cameras
 * often send G.711 or PCM, which KVS stores but cannot play; re-encoding audio costs little.
 */
const unknownAudioPlan = (encoding: EncodingConfig, reasons: string[]): TrackPlan => {
  switch (encoding.audio) {
    case 'none':
      return 'none';
    case 'copy':
      reasons.push('copying the audio as is (--audio copy): KVS playback needs AAC');
      return 'copy';
    case 'encode':
    case 'auto':
      reasons.push('encoding audio (if any) to AAC; --audio copy keeps AAC as is');
      return 'encode';
  }
};

/**
 * An RTSP camera. Video copied by default (cameras deliver H.264/H.265); the socket timeout bounds the TCP
 * connect and every read; `+genpts` fills in the timestamps some cameras leave out. The URL stays in the
 * argv as given (ffmpeg needs the password); its secrets are returned for redaction.
 */
export const buildRtspArgs = (
  source: RtspSource,
  encoding: EncodingConfig,
  rtspTimeoutOption: RtspTimeoutOption = 'timeout',
): FfmpegInvocation => {
  // ffmpeg would open other schemes too (http://, a file path…), then fail and be restarted forever.
  const url = checkRtspUrl(source.url);
  const reasons: string[] = [];
  const video: TrackPlan = encoding.transcode ? 'encode' : 'copy';
  reasons.push(
    encoding.transcode
      ? 'transcoding the camera video with libx264 (--transcode given)'
      : "copying the camera's video as is (its own key frame interval applies)",
  );
  const audio = unknownAudioPlan(encoding, reasons);
  const readTimeoutUs = (source.readTimeoutMs ?? DEFAULT_RTSP_READ_TIMEOUT_MS) * 1000;
  return assemble(
    {
      inputs: [
        {
          options: [
            '-rtsp_transport',
            source.transport,
            `-${rtspTimeoutOption}`,
            String(Math.round(readTimeoutUs)),
            ...(audio === 'none' ? ['-allowed_media_types', 'video'] : []),
            '-fflags',
            '+genpts',
          ],
          source: url,
        },
      ],
      maps: ['-map', '0:v:0', ...(audio === 'none' ? [] : ['-map', '0:a:0?'])],
      video,
      audio,
      reasons,
      secrets: urlSecrets(url),
      isLive: true,
    },
    encoding,
  );
};

/** Media on stdin (`pipe:0`, any container ffmpeg recognises), copied unless `transcode`. */
export const buildStdinArgs = (_source: StdinSource, encoding: EncodingConfig): FfmpegInvocation => {
  const reasons: string[] = [];
  const video: TrackPlan = encoding.transcode ? 'encode' : 'copy';
  reasons.push(
    encoding.transcode
      ? 'transcoding stdin video with libx264 (--transcode given)'
      : 'copying the video on stdin as is (use --transcode if it is not H.264/H.265)',
  );
  const audio = unknownAudioPlan(encoding, reasons);
  return assemble(
    {
      inputs: [{ options: [], source: 'pipe:0' }],
      maps: ['-map', '0:v:0', ...(audio === 'none' ? [] : ['-map', '0:a:0?'])],
      video,
      audio,
      reasons,
      isLive: true,
      readsStdin: true,
    },
    encoding,
  );
};

/**
 * The ffmpeg command for any source.
 * @throws TypeError for a `file` source without `context.probe`; KvsPutError for invalid options.
 */
export const buildCaptureArgs = (
  source: CaptureSource,
  encoding: EncodingConfig,
  context: CaptureArgsContext = {},
): FfmpegInvocation => {
  switch (source.kind) {
    case 'file':
      if (context.probe === undefined) {
        throw new TypeError('context.probe, for a file source, must be the result of probeMediaFile.');
      }
      return buildFileArgs(source, encoding, context.probe);
    case 'testsrc':
      return buildTestsrcArgs(source, encoding);
    case 'device':
      return buildDeviceArgs(source, encoding, context.platform);
    case 'rtsp':
      return buildRtspArgs(source, encoding, context.rtspTimeoutOption);
    case 'stdin':
      return buildStdinArgs(source, encoding);
  }
};
