/**
 * The ffmpeg command lines, byte for byte, for every source kind and platform, and the copy-or-transcode
 * policy. Pure: no ffmpeg runs here (the real runs are in ffmpeg-process.test.ts).
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { resolveEncoding } from '../../src/capture/capture-source.js';
import type { EncodingOptions } from '../../src/capture/capture-source.js';
import {
  buildCaptureArgs,
  buildDeviceArgs,
  buildFileArgs,
  decideFileEncoding,
  keyframeIntervalFrames,
  toArgv,
} from '../../src/capture/ffmpeg-args.js';
import { buildFluentCommand } from '../../src/capture/fluent-ffmpeg-adapter.js';
import type { MediaProbe } from '../../src/capture/media-probe.js';
import { ErrorCode, KvsPutError } from '../../src/errors.js';

const enc = (options: EncodingOptions = {}) => resolveEncoding(options);

const GLOBAL = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'warning'];
const MKV_LIVE = [
  '-f',
  'matroska',
  '-live',
  '1',
  '-flush_packets',
  '1',
  '-cluster_time_limit',
  '500',
  '-cluster_size_limit',
  '1048576',
  '-write_crc32',
  '0',
  'pipe:1',
];
const MKV_FILE = [
  '-f',
  'matroska',
  '-flush_packets',
  '1',
  '-cluster_time_limit',
  '500',
  '-cluster_size_limit',
  '1048576',
  '-write_crc32',
  '0',
  'pipe:1',
];
const x264 = (gop: string[], kbps = 2000) => [
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
const AAC = ['-c:a', 'aac', '-b:a', '128k'];

const h264AacProbe: MediaProbe = {
  formatName: 'mov,mp4,m4a,3gp,3g2,mj2',
  durationS: 3,
  streams: [
    { index: 0, type: 'video', codecName: 'h264', framerate: 25, widthPx: 320, heightPx: 240 },
    { index: 1, type: 'audio', codecName: 'aac', sampleRateHz: 48000 },
  ],
};

// prettier-ignore
describe('argv builders, byte for byte', () => {
  it('file with H.264 + AAC: copied, no -re, file: prefix, exact streams mapped', () => {
    const invocation = buildFileArgs({ kind: 'file', path: '/clips/a.mp4' }, enc(), h264AacProbe);
    expect(toArgv(invocation)).toEqual([
      ...GLOBAL, '-i', 'file:/clips/a.mp4', '-map', '0:0', '-map', '0:1', '-c:v', 'copy', '-c:a', 'copy', ...MKV_FILE,
    ]);
    expect(invocation.video).toBe('copy');
    expect(invocation.audio).toBe('copy');
    expect(invocation.reasons).toEqual(['copying h264 video and aac audio as is (no transcoding)']);
    expect(invocation.isLive).toBe(false);
    expect(toArgv(invocation)).not.toContain('-re');
  });

  it('file with VP8 + Opus: transcoded, -g from the probed frame rate, with the reasons for the log', () => {
    const probe: MediaProbe = {
      streams: [
        { index: 0, type: 'video', codecName: 'vp8', framerate: 25 },
        { index: 1, type: 'audio', codecName: 'opus', sampleRateHz: 48000 },
      ],
    };
    const invocation = buildFileArgs({ kind: 'file', path: 'c.webm' }, enc(), probe);
    expect(toArgv(invocation)).toEqual([
      ...GLOBAL, '-i', 'file:c.webm', '-map', '0:0', '-map', '0:1',
      ...x264(['-g', '50', '-keyint_min', '50', '-sc_threshold', '0']), ...AAC, ...MKV_FILE,
    ]);
    expect(invocation.reasons).toEqual([
      'transcoding: codec vp8 is not H.264/H.265',
      'encoding audio to AAC: codec opus is not AAC',
    ]);
  });

  it('file: --transcode re-encodes H.264; --no-audio drops the audio map; HEVC is copied', () => {
    const transcoded = buildFileArgs({ kind: 'file', path: 'a.mkv' }, enc({ transcode: true, audio: 'none', bitrateKbps: 800, keyframeIntervalS: 4 }), h264AacProbe);
    expect(toArgv(transcoded)).toEqual([
      ...GLOBAL, '-i', 'file:a.mkv', '-map', '0:0',
      ...x264(['-g', '100', '-keyint_min', '100', '-sc_threshold', '0'], 800), ...MKV_FILE,
    ]);
    expect(transcoded.reasons).toEqual(['transcoding: --transcode given (video is h264)']);
    const hevc = decideFileEncoding({ streams: [{ index: 0, type: 'video', codecName: 'hevc' }] }, enc());
    expect(hevc).toMatchObject({ video: 'copy', audio: 'none', reasons: ['copying hevc video as is (no transcoding)'] });
  });

  it('file: cover art is never the video; without a frame rate key frames are forced by time', () => {
    const probe: MediaProbe = {
      streams: [
        { index: 0, type: 'video', codecName: 'mjpeg', isAttachedPicture: true },
        { index: 1, type: 'video', codecName: 'mpeg4' },
        { index: 2, type: 'audio', codecName: 'aac' },
      ],
    };
    expect(toArgv(buildFileArgs({ kind: 'file', path: 'b.mov' }, enc({ keyframeIntervalS: 2.5 }), probe))).toEqual([
      ...GLOBAL, '-i', 'file:b.mov', '-map', '0:1', '-map', '0:2',
      ...x264(['-force_key_frames', 'expr:gte(t,n_forced*2.5)', '-sc_threshold', '0']), '-c:a', 'copy', ...MKV_FILE,
    ]);
  });

  it('file: audio policies copy / encode / none', () => {
    const opus: MediaProbe = { streams: [{ index: 0, type: 'video', codecName: 'h264' }, { index: 1, type: 'audio', codecName: 'opus' }] };
    expect(decideFileEncoding(opus, enc({ audio: 'copy' }))).toMatchObject({
      audio: 'copy',
      reasons: [
        'copying h264 video and opus audio as is (no transcoding)',
        'copying opus audio as asked: KVS playback (HLS, DASH, console) needs AAC',
      ],
    });
    expect(decideFileEncoding(h264AacProbe, enc({ audio: 'encode' })).audio).toBe('encode');
    expect(decideFileEncoding(h264AacProbe, enc({ audio: 'none' })).audio).toBe('none');
  });

  it('file: ADTS AAC in MPEG-TS is encoded under auto (Matroska cannot copy it), copied when asked', () => {
    const tsProbe: MediaProbe = { formatName: 'mpegts', streams: h264AacProbe.streams };
    expect(decideFileEncoding(tsProbe, enc())).toMatchObject({
      video: 'copy',
      audio: 'encode',
      reasons: ['encoding audio to AAC: ADTS AAC in MPEG-TS has no header Matroska can copy'],
    });
    expect(decideFileEncoding(tsProbe, enc({ audio: 'copy' })).audio).toBe('copy');
  });

  it('file: audio without video needs a video track, whatever the audio policy', () => {
    const m4a: MediaProbe = { streams: [{ index: 0, type: 'audio', codecName: 'aac' }] };
    for (const audio of ['auto', 'none'] as const) {
      expect(() => decideFileEncoding(m4a, enc({ audio }))).toThrow(/^no video track — KVS needs a video track/);
    }
  });

  it('file without any media stream is bad media', () => {
    const error = (() => {
      try {
        decideFileEncoding({ streams: [{ index: 0, type: 'other', codecName: 'subrip' }] }, enc());
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(KvsPutError);
    expect(error).toMatchObject({ code: ErrorCode.MkvUnsupported, message: 'the file has no video or audio stream' });
  });

  it('testsrc: one lavfi graph (pattern + tone), real time, -g = fps × interval', () => {
    const invocation = buildCaptureArgs({ kind: 'testsrc', videoSize: '320x240', framerate: 25, durationS: 3 }, enc());
    expect(toArgv(invocation)).toEqual([
      ...GLOBAL, '-re', '-f', 'lavfi', '-t', '3',
      '-i', 'testsrc2=size=320x240:rate=25[out0];sine=frequency=1000:sample_rate=48000[out1]',
      '-map', '0:v:0', '-map', '0:a:0',
      ...x264(['-g', '50', '-keyint_min', '50', '-sc_threshold', '0']), ...AAC, ...MKV_LIVE,
    ]);
    expect(invocation.isLive).toBe(true);
    expect(toArgv(buildCaptureArgs({ kind: 'testsrc' }, enc({ audio: 'none' })))).toEqual([
      ...GLOBAL, '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x480:rate=30', '-map', '0:v:0',
      ...x264(['-g', '60', '-keyint_min', '60', '-sc_threshold', '0']), ...MKV_LIVE,
    ]);
  });

  it('V4L2 MJPEG camera: encoded; H.264 camera: copied; ALSA audio as a second input', () => {
    const mjpeg = buildDeviceArgs(
      { kind: 'device', path: '/dev/video0', inputFormat: 'mjpeg', videoSize: '1280x720', framerate: 30 },
      enc(),
      'linux',
    );
    expect(toArgv(mjpeg)).toEqual([
      ...GLOBAL, '-f', 'v4l2', '-input_format', 'mjpeg', '-video_size', '1280x720', '-framerate', '30', '-i', '/dev/video0',
      '-map', '0:v:0', ...x264(['-g', '60', '-keyint_min', '60', '-sc_threshold', '0']), ...MKV_LIVE,
    ]);
    const h264 = buildDeviceArgs({ kind: 'device', path: '/dev/video2', inputFormat: 'h264', audioDevice: 'hw:1' }, enc(), 'linux');
    expect(toArgv(h264)).toEqual([
      ...GLOBAL, '-f', 'v4l2', '-input_format', 'h264', '-i', '/dev/video2', '-f', 'alsa', '-i', 'hw:1',
      '-map', '0:v:0', '-map', '1:a:0', '-c:v', 'copy', ...AAC, ...MKV_LIVE,
    ]);
    expect(h264.reasons).toEqual([
      "copying the camera's H.264 as is (its own key frame interval applies)",
      'encoding the ALSA audio with AAC',
    ]);
    const yuyvTranscode = buildDeviceArgs({ kind: 'device', path: '/dev/video0', inputFormat: 'h264' }, enc({ transcode: true }), 'linux');
    expect(yuyvTranscode.video).toBe('encode');
    expect(toArgv(yuyvTranscode)).toContain('-force_key_frames');
  });

  it('AVFoundation (macOS): "0:none", raw frames only', () => {
    expect(toArgv(buildDeviceArgs({ kind: 'device', path: '0', framerate: 30, videoSize: '1280x720' }, enc(), 'darwin'))).toEqual([
      ...GLOBAL, '-f', 'avfoundation', '-video_size', '1280x720', '-framerate', '30', '-i', '0:none',
      '-map', '0:v:0', ...x264(['-g', '60', '-keyint_min', '60', '-sc_threshold', '0']), ...MKV_LIVE,
    ]);
    expect(toArgv(buildDeviceArgs({ kind: 'device', path: '0', audioDevice: '1', inputFormat: 'yuyv422' }, enc(), 'darwin'))).toEqual([
      ...GLOBAL, '-f', 'avfoundation', '-pixel_format', 'yuyv422', '-i', '0:1', '-map', '0:v:0', '-map', '0:a:0',
      ...x264(['-force_key_frames', 'expr:gte(t,n_forced*2)', '-sc_threshold', '0']), ...AAC, ...MKV_LIVE,
    ]);
    expect(() => buildDeviceArgs({ kind: 'device', path: '0', inputFormat: 'mjpeg' }, enc(), 'darwin')).toThrow(
      'input format mjpeg is not available with AVFoundation (macOS cameras deliver raw frames)',
    );
  });

  it('DirectShow (Windows): video=NAME as one argv element (spaces kept, no shell quotes)', () => {
    const invocation = buildDeviceArgs(
      { kind: 'device', path: 'HD Pro Webcam C920', inputFormat: 'h264', audioDevice: 'Microphone (C920)', platform: 'win32' },
      enc(),
    );
    expect(toArgv(invocation)).toEqual([
      ...GLOBAL, '-f', 'dshow', '-rtbufsize', '64M', '-vcodec', 'h264',
      '-i', 'video=HD Pro Webcam C920:audio=Microphone (C920)',
      '-map', '0:v:0', '-map', '0:a:0', '-c:v', 'copy', ...AAC, ...MKV_LIVE,
    ]);
    expect(toArgv(buildDeviceArgs({ kind: 'device', path: 'Cam', inputFormat: 'mjpeg', framerate: 15 }, enc({ audio: 'none' }), 'win32'))).toEqual([
      ...GLOBAL, '-f', 'dshow', '-rtbufsize', '64M', '-framerate', '15', '-vcodec', 'mjpeg', '-i', 'video=Cam',
      '-map', '0:v:0', ...x264(['-g', '30', '-keyint_min', '30', '-sc_threshold', '0']), ...MKV_LIVE,
    ]);
  });

  it('RTSP: TCP, socket timeout in µs under the right option name, copied video, AAC audio', () => {
    const url = 'rtsp://admin:s3cret@192.168.1.20:554/stream1';
    const invocation = buildCaptureArgs({ kind: 'rtsp', url, transport: 'tcp', readTimeoutMs: 5000 }, enc());
    expect(toArgv(invocation)).toEqual([
      ...GLOBAL, '-rtsp_transport', 'tcp', '-timeout', '5000000', '-fflags', '+genpts', '-i', url,
      '-map', '0:v:0', '-map', '0:a:0?', '-c:v', 'copy', ...AAC, ...MKV_LIVE,
    ]);
    expect(invocation.secrets).toContain('s3cret');
    // ffmpeg ≤ 4.4: -timeout would make ffmpeg *listen*; the socket timeout is -stimeout there.
    const old = buildCaptureArgs({ kind: 'rtsp', url, transport: 'udp' }, enc({ audio: 'none', transcode: true }), { rtspTimeoutOption: 'stimeout' });
    expect(toArgv(old)).toEqual([
      ...GLOBAL, '-rtsp_transport', 'udp', '-stimeout', '10000000', '-allowed_media_types', 'video', '-fflags', '+genpts', '-i', url,
      '-map', '0:v:0', ...x264(['-force_key_frames', 'expr:gte(t,n_forced*2)', '-sc_threshold', '0']), ...MKV_LIVE,
    ]);
    expect(buildCaptureArgs({ kind: 'rtsp', url, transport: 'tcp' }, enc({ audio: 'copy' })).audio).toBe('copy');
  });

  it('stdin: pipe:0, copied, flagged as reading stdin', () => {
    const invocation = buildCaptureArgs({ kind: 'stdin' }, enc());
    expect(toArgv(invocation)).toEqual([
      ...GLOBAL, '-i', 'pipe:0', '-map', '0:v:0', '-map', '0:a:0?', '-c:v', 'copy', ...AAC, ...MKV_LIVE,
    ]);
    expect(invocation.readsStdin).toBe(true);
  });

  it('a file source needs its probe', () => {
    expect(() => buildCaptureArgs({ kind: 'file', path: 'x.mp4' }, enc())).toThrow(TypeError);
  });

  it('fluent-ffmpeg is handed exactly this argv (global options first, spaces kept)', () => {
    const invocations = [
      buildCaptureArgs({ kind: 'testsrc', durationS: 1 }, enc()),
      buildDeviceArgs({ kind: 'device', path: 'HD Pro Webcam C920', audioDevice: 'Mic (USB)' }, enc(), 'win32'),
      buildDeviceArgs({ kind: 'device', path: '/dev/video0', audioDevice: 'hw:1' }, enc(), 'linux'),
      buildFileArgs({ kind: 'file', path: '/a b/clip 1.mp4' }, enc(), h264AacProbe),
      buildCaptureArgs({ kind: 'stdin' }, enc()),
    ];
    for (const invocation of invocations) {
      const command = buildFluentCommand(invocation, new PassThrough(), { stdin: new PassThrough() });
      const argv = (command as unknown as { _getArguments(): string[] })._getArguments();
      expect(argv).toEqual(toArgv(invocation));
    }
  });
});

describe('encoding options', () => {
  it('key frame interval math: round(fps × seconds), at least one frame', () => {
    expect(keyframeIntervalFrames(30, 2)).toBe(60);
    expect(keyframeIntervalFrames(29.97, 2)).toBe(60);
    expect(keyframeIntervalFrames(25, 0.5)).toBe(13);
    expect(keyframeIntervalFrames(59.94, 10)).toBe(599);
    expect(keyframeIntervalFrames(1, 0.2)).toBe(1);
  });

  it('defaults', () => {
    expect(resolveEncoding()).toEqual({
      transcode: false,
      keyframeIntervalS: 2,
      bitrateKbps: 2000,
      audio: 'auto',
      audioBitrateKbps: 128,
      clusterMs: 500,
    });
  });

  it('the cluster length is what ffmpeg holds frames for: -cluster_time_limit, 10 to 1000 ms', () => {
    const argv = toArgv(buildCaptureArgs({ kind: 'testsrc' }, enc({ clusterMs: 100 })));
    expect(argv[argv.indexOf('-cluster_time_limit') + 1]).toBe('100');
    expect(resolveEncoding({ clusterMs: 10 }).clusterMs).toBe(10);
    expect(resolveEncoding({ clusterMs: 1000 }).clusterMs).toBe(1000);
    for (const clusterMs of [5, 1001, 250.5, Number.NaN]) {
      expect(() => resolveEncoding({ clusterMs })).toThrow(
        expect.objectContaining({
          code: ErrorCode.Usage,
          message: `cluster length must be an integer from 10 to 1000 ms, got ${clusterMs}`,
        }),
      );
    }
  });

  it('a key frame interval over 20 s is refused with advice (the service rejects such fragments, 4002)', () => {
    let error: unknown;
    try {
      resolveEncoding({ keyframeIntervalS: 25 });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(KvsPutError);
    expect(error).toMatchObject({
      code: ErrorCode.Usage,
      message: 'key frame interval 25 s is longer than the 20 s KVS allows per fragment (ErrorId 4002)',
      suggestion: 'every key frame starts a fragment: use --keyframe-interval 2 (the default), at most 20',
    });
    expect(resolveEncoding({ keyframeIntervalS: 20 }).keyframeIntervalS).toBe(20);
  });

  it('other bad values are usage errors', () => {
    expect(() => resolveEncoding({ keyframeIntervalS: 0 })).toThrow(
      'key frame interval must be a positive number',
    );
    expect(() => resolveEncoding({ keyframeIntervalS: 0.1 })).toThrow('more than 5 fragments per second');
    expect(() => resolveEncoding({ bitrateKbps: 1.5 })).toThrow('video bitrate must be an integer');
    expect(() => buildCaptureArgs({ kind: 'testsrc', videoSize: '640' }, enc())).toThrow(
      'video size must be WIDTHxHEIGHT',
    );
    expect(() => buildCaptureArgs({ kind: 'testsrc', framerate: 0 }, enc())).toThrow(
      'frame rate must be more than 0',
    );
  });
});
