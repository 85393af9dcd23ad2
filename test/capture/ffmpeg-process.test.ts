/**
 * Real ffmpeg runs: what it writes on stdout is read back with our MkvReader (the consumer kvs-put has),
 * through the StdoutQueue a pull consumer uses, the copy-or-transcode decisions are checked on real files,
 * and the process lifecycle (failure, stop, abort, dispose, a binary that cannot run) is exercised on real
 * processes, its grace period on a FakeClock.
 */
import { accessSync, constants, createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FfmpegError } from '../../src/capture/capture-errors.js';
import { planCapture } from '../../src/capture/capture-plan.js';
import { resolveEncoding } from '../../src/capture/capture-source.js';
import { GLOBAL_OPTIONS, buildFileArgs, buildCaptureArgs } from '../../src/capture/ffmpeg-args.js';
import type { FfmpegInvocation } from '../../src/capture/ffmpeg-args.js';
import { probeFfmpegCapabilities } from '../../src/capture/ffmpeg-locator.js';
import { startFfmpeg, tellingLine } from '../../src/capture/ffmpeg-process.js';
import { exitCodeFor } from '../../src/exit-codes.js';
import { ErrorCode } from '../../src/errors.js';
import { CodecId, TrackType } from '../../src/mkv/ebml-ids.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FIXTURES } from '../helpers/paths.js';
import {
  FFMPEG,
  hasFfmpeg,
  hasFfprobe,
  keyframeTimesMs,
  makeMedia,
  readMkvSummary,
  startReading,
  tempDir,
  writeScript,
} from './capture-test-helpers.js';

const fixture = (name: string): string => join(FIXTURES, name);

/** Runs a plan's ffmpeg to its end and reads its output. */
const runToEnd = async (invocation: FfmpegInvocation, ffmpegPath = FFMPEG) => {
  const { process, stdout } = startReading(invocation, { ffmpegPath });
  const summary = await readMkvSummary(stdout);
  return { summary, exit: await process.exited, process };
};

const trackNumber = (summary: Awaited<ReturnType<typeof readMkvSummary>>, type: number): number => {
  const track = summary.headers[0]?.tracks.find((candidate) => candidate.type === type);
  if (track === undefined) {
    throw new Error(`no track of type ${type}`);
  }
  return track.number;
};

/** A never-ending test pattern (for stop / abort tests). */
const endlessTestsrc = (): FfmpegInvocation =>
  buildCaptureArgs(
    { kind: 'testsrc', videoSize: '160x120', framerate: 25 },
    resolveEncoding({ bitrateKbps: 200 }),
  );

describe.skipIf(!hasFfmpeg)('ffmpeg runs, read back with MkvReader', () => {
  it('testsrc for 2.5 s: H.264 + AAC, a key frame every keyframeIntervalS, bytes flowing while it runs', async () => {
    const plan = await planCapture(
      { kind: 'testsrc', videoSize: '320x240', framerate: 25, durationS: 2.5 },
      { keyframeIntervalS: 1, bitrateKbps: 300 },
      { ffmpegPath: FFMPEG },
    );
    const startedAtMs = performance.now();
    const { process, stdout } = startReading(plan.invocation, { ffmpegPath: FFMPEG });
    let firstBytesAfterMs: number | undefined;
    async function* timed(): AsyncGenerator<Uint8Array> {
      for await (const chunk of stdout) {
        firstBytesAfterMs ??= performance.now() - startedAtMs;
        yield chunk;
      }
    }
    const summary = await readMkvSummary(timed());
    const totalMs = performance.now() - startedAtMs;
    expect(await process.exited).toEqual({ exitCode: 0, signal: null, isStopped: false });

    expect(summary.headers).toHaveLength(1);
    const tracks = summary.headers[0]!.tracks;
    expect(tracks.map((track) => track.codecId)).toEqual([CodecId.H264, CodecId.Aac]);
    expect(tracks[0]!.video).toEqual({ widthPx: 320, heightPx: 240 });
    const video = trackNumber(summary, TrackType.Video);
    const videoFrames = summary.frames.filter((frame) => frame.trackNumber === video);
    expect(videoFrames.length).toBeGreaterThanOrEqual(60);
    const keyTimes = keyframeTimesMs(summary, video);
    const first = videoFrames[0]!.timestampMs;
    expect(keyTimes.map((time) => Math.round(time - first))).toEqual([0, 1000, 2000]);
    expect(summary.frames.some((frame) => frame.trackNumber !== video)).toBe(true);
    // Real time (-re) and clusters of at most DEFAULT_CLUSTER_MS (500): the first bytes come long before the
    // end, and 2.5 s make at least 5 clusters.
    expect(totalMs).toBeGreaterThan(2000);
    expect(firstBytesAfterMs).toBeLessThan(totalMs - 1000);
    expect(summary.clusters).toBeGreaterThanOrEqual(5);
  });

  it('file remux of h264-aac.mkv: copied, every frame payload unchanged', async () => {
    const plan = await planCapture(
      { kind: 'file', path: fixture('h264-aac.mkv') },
      {},
      { ffmpegPath: FFMPEG },
    );
    expect(plan.invocation.video).toBe('copy');
    expect(plan.invocation.audio).toBe('copy');
    expect(plan.invocation.reasons).toEqual(['copying h264 video and aac audio as is (no transcoding)']);
    expect(plan.isRestartable).toBe(false);
    const { summary, exit } = await runToEnd(plan.invocation);
    expect(exit.error).toBeUndefined();
    const original = await readMkvSummary(createReadStream(fixture('h264-aac.mkv')));
    expect(summary.headers[0]!.tracks.map((track) => track.codecId)).toEqual([CodecId.H264, CodecId.Aac]);
    expect(summary.frames.length).toBe(original.frames.length);
    const payloads = (frames: typeof summary.frames) =>
      frames.map((frame) => Buffer.from(frame.data).toString('base64'));
    expect(payloads(summary.frames.filter((frame) => frame.trackNumber === 1))).toEqual(
      payloads(original.frames.filter((frame) => frame.trackNumber === 1)),
    );
  });

  it('file remux of an MP4 made here: copied, probed for duration and creation time', async () => {
    const dir = tempDir();
    const mp4 = join(dir, 'clip 1.mp4');
    makeMedia([
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=160x120:rate=25',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=48000',
      '-t',
      '2',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-g',
      '25',
      '-pix_fmt',
      'yuv420p',
      '-c:a',
      'aac',
      '-metadata',
      'creation_time=2026-01-02T03:04:05Z',
      mp4,
    ]);
    const plan = await planCapture(
      { kind: 'file', path: 'clip 1.mp4' },
      {},
      { ffmpegPath: FFMPEG, cwd: dir },
    );
    expect(plan.probe?.creationTime).toBe('2026-01-02T03:04:05.000000Z');
    expect(plan.probe?.durationS).toBeCloseTo(2, 1);
    expect(plan.invocation.video).toBe('copy');
    const { summary, exit } = await runToEnd(plan.invocation);
    expect(exit.exitCode).toBe(0);
    expect(summary.headers[0]!.tracks.map((track) => track.codecId)).toEqual([CodecId.H264, CodecId.Aac]);
    const video = trackNumber(summary, TrackType.Video);
    const videoFrames = summary.frames.filter((frame) => frame.trackNumber === video);
    expect(videoFrames).toHaveLength(50);
    // Relative to the first frame: the MP4's edit list shifts video by the AAC priming delay.
    const first = videoFrames[0]!.timestampMs;
    expect(keyframeTimesMs(summary, video).map((time) => Math.round(time - first))).toEqual([0, 1000]);
  });

  it('a VP8 file is transcoded (with the reason for the log line) to H.264 with the asked key frames', async () => {
    const plan = await planCapture(
      { kind: 'file', path: fixture('vp8.mkv') },
      { keyframeIntervalS: 0.4 },
      { ffmpegPath: FFMPEG },
    );
    expect(plan.invocation.video).toBe('encode');
    expect(plan.invocation.reasons).toEqual(['transcoding: codec vp8 is not H.264/H.265']);
    const { summary, exit } = await runToEnd(plan.invocation);
    expect(exit.exitCode).toBe(0);
    expect(summary.headers[0]!.tracks.map((track) => track.codecId)).toEqual([CodecId.H264]);
    expect(summary.frames).toHaveLength(25);
    // 25 fps × 0.4 s = a key frame every 10 frames.
    expect(keyframeTimesMs(summary, 1)).toEqual([0, 400, 800]);
  });

  it.skipIf(!hasFfprobe)('files are probed the same with ffprobe and, without it, with ffmpeg', async () => {
    const withFfprobe = await planCapture(
      { kind: 'file', path: fixture('vp8.mkv') },
      {},
      { ffmpegPath: FFMPEG, ffprobePath: 'ffprobe' },
    );
    const withFfmpeg = await planCapture(
      { kind: 'file', path: fixture('vp8.mkv') },
      {},
      { ffmpegPath: FFMPEG },
    );
    expect(withFfmpeg.probe?.streams).toEqual(withFfprobe.probe?.streams);
    expect(withFfmpeg.probe?.durationS).toBeCloseTo(withFfprobe.probe?.durationS ?? 0, 1);
    expect(withFfmpeg.invocation).toEqual(withFfprobe.invocation);
  });

  it('planning a missing or broken file fails with one clear line', async () => {
    await expect(
      planCapture({ kind: 'file', path: '/nonexistent/clip.mp4' }, {}, { ffmpegPath: FFMPEG }),
    ).rejects.toMatchObject({
      code: ErrorCode.Io,
      message: 'cannot open /nonexistent/clip.mp4: no such file',
    });
    const dir = tempDir();
    writeScript(join(dir, 'junk.mp4'), 'not media at all');
    await expect(
      planCapture({ kind: 'file', path: join(dir, 'junk.mp4') }, {}, { ffmpegPath: FFMPEG }),
    ).rejects.toMatchObject({
      code: ErrorCode.MkvUnsupported,
    });
  });

  it('stdin: MKV piped into ffmpeg comes out as MKV', async () => {
    const invocation = buildCaptureArgs({ kind: 'stdin' }, resolveEncoding({ audio: 'copy' }));
    const { process, stdout } = startReading(invocation, {
      ffmpegPath: FFMPEG,
      stdin: createReadStream(fixture('h264-aac.mkv')),
    });
    const summary = await readMkvSummary(stdout);
    expect((await process.exited).exitCode).toBe(0);
    expect(summary.headers[0]!.tracks.map((track) => track.codecId)).toEqual([CodecId.H264, CodecId.Aac]);
    expect(() => startFfmpeg(invocation, { ffmpegPath: FFMPEG })).toThrow(TypeError);
  });
});

/** @ffmpeg-installer's ffmpeg 4.1, when installed here with its execute bit. */
const installerFfmpeg = ((): string | undefined => {
  try {
    const path = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    return undefined;
  }
})();

describe.skipIf(installerFfmpeg === undefined)("the same commands on @ffmpeg-installer's ffmpeg 4.1", () => {
  it('testsrc: H.264 + AAC with the asked key frames', async () => {
    const plan = await planCapture(
      { kind: 'testsrc', videoSize: '160x120', framerate: 25, durationS: 1.2 },
      { keyframeIntervalS: 0.4 },
      { ffmpegPath: installerFfmpeg! },
    );
    const { summary, exit } = await runToEnd(plan.invocation, installerFfmpeg);
    expect(exit.error).toBeUndefined();
    expect(summary.headers[0]!.tracks.map((track) => track.codecId)).toEqual([CodecId.H264, CodecId.Aac]);
    const video = trackNumber(summary, TrackType.Video);
    const first = summary.frames.find((frame) => frame.trackNumber === video)!.timestampMs;
    expect(keyframeTimesMs(summary, video).map((time) => Math.round(time - first))).toEqual([0, 400, 800]);
  });

  it('RTSP with -stimeout: a client that fails fast (-timeout would make 4.1 listen for a camera)', async () => {
    const capabilities = await probeFfmpegCapabilities(installerFfmpeg!);
    const plan = await planCapture(
      { kind: 'rtsp', url: 'rtsp://u:pw@127.0.0.1:1/x', transport: 'tcp' },
      {},
      {
        ffmpegPath: installerFfmpeg!,
        rtspTimeoutOption: capabilities.rtspTimeoutOption,
      },
    );
    expect(plan.invocation.inputs[0]!.options).toContain('-stimeout');
    const exit = await startFfmpeg(plan.invocation, { ffmpegPath: installerFfmpeg! }).exited;
    expect(exit.error?.message).toMatch(/^ffmpeg exited with code 1: .*Connection refused/);
    expect(exit.error?.message).not.toContain('pw');
  });
});

describe.skipIf(!hasFfmpeg)('ffmpeg process lifecycle', () => {
  it('a non-zero exit is an FfmpegError with a one-line message and the stderr tail', async () => {
    const invocation = buildFileArgs({ kind: 'file', path: '/nonexistent/x.mp4' }, resolveEncoding(), {
      streams: [{ index: 0, type: 'video', codecName: 'h264' }],
    });
    const lines: string[] = [];
    const { process, stdout } = startReading(invocation, {
      ffmpegPath: FFMPEG,
      onStderrLine: (line) => lines.push(line),
    });
    const error = await readMkvSummary(stdout).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(FfmpegError);
    const ffmpegError = error as FfmpegError;
    expect(ffmpegError.message).toBe(
      'ffmpeg exited with code 1: file:/nonexistent/x.mp4: No such file or directory',
    );
    expect(ffmpegError.exitCode).toBe(1);
    expect(ffmpegError.signal).toBeNull();
    expect(ffmpegError.stderrTail).toContain('file:/nonexistent/x.mp4: No such file or directory');
    expect(ffmpegError.context).toMatchObject({ exitCode: 1, signal: null, argv: process.argv });
    expect(ffmpegError.code).toBe(ErrorCode.Capture);
    expect(exitCodeFor(ffmpegError.code)).toBe(7);
    expect(lines).toEqual(ffmpegError.stderrTail);
    expect((await process.exited).error).toBe(ffmpegError);
  });

  it('stop() ends a live ffmpeg with SIGINT: a clean, non-failing exit, stdout closed', async () => {
    // The grace period runs on a clock that never moves: ffmpeg must end on SIGINT alone, never by SIGKILL.
    const clock = new FakeClock();
    const { process, stdout } = startReading(endlessTestsrc(), { ffmpegPath: FFMPEG, clock });
    const iterator = stdout[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    expect(clock.pendingTimers).toBe(0);
    const exit = await process.stop();
    // The SIGKILL timer was set by the stop and cancelled by the exit, unfired.
    expect(clock.pendingTimers).toBe(0);
    expect(clock.monotonicMs()).toBe(0);
    expect(exit.isStopped).toBe(true);
    expect(exit.error).toBeUndefined();
    // ffmpeg handled SIGINT itself (no SIGKILL needed): it exits on its own, 255 ("received signal 2").
    expect(exit.signal).toBeNull();
    expect(exit.exitCode).toBe(255);
    // The rest of the output drains and the iteration ends without an error.
    for (let result = await iterator.next(); result.done !== true; result = await iterator.next()) {
      // drain
    }
    expect(await process.stop()).toBe(exit);
  });

  it('a reader that stops taking chunks pauses ffmpeg; every byte arrives once it reads on', async () => {
    const dir = tempDir();
    // A stand-in that writes 16 MiB as fast as the pipe takes it, then exits.
    const total = 16 * 1024 * 1024;
    const writer = writeScript(join(dir, 'ffmpeg'), `head -c ${total} /dev/zero`);
    const { process, stdout } = startReading(endlessTestsrc(), { ffmpegPath: writer });
    const iterator = stdout[Symbol.asyncIterator]();
    let received = 0;
    const first = await iterator.next();
    received += first.value?.length ?? 0;
    // Not reading: the queue fills, the pipe stops, and the writer stays blocked instead of finishing.
    const settled = await Promise.race([
      process.exited.then(() => 'exited'),
      new Promise((resolve) => setTimeout(() => resolve('blocked'), 500)),
    ]);
    expect(settled).toBe('blocked');
    for (let result = await iterator.next(); result.done !== true; result = await iterator.next()) {
      received += result.value.length;
    }
    expect(received).toBe(total);
    expect((await process.exited).error).toBeUndefined();
  });

  it('stop() before anyone reads, and SIGKILL when ffmpeg ignores SIGINT past the grace period', async () => {
    const quick = startFfmpeg(endlessTestsrc(), { ffmpegPath: FFMPEG });
    expect((await quick.stop()).isStopped).toBe(true);

    const dir = tempDir();
    // A stand-in that ignores SIGINT (as a wedged ffmpeg would), and says so on stdout once it does.
    const stubborn = writeScript(
      join(dir, 'ffmpeg'),
      "trap '' INT\necho ignoring-sigint\nwhile true; do sleep 0.05; done",
    );
    const clock = new FakeClock();
    const { process, stdout } = startReading(endlessTestsrc(), {
      ffmpegPath: stubborn,
      stopGraceMs: 300,
      clock,
    });
    expect((await stdout.next()).done).toBe(false);
    let hasExited = false;
    void process.exited.then(() => {
      hasExited = true;
    });
    const stopping = process.stop();
    // SIGINT is sent and ignored; the grace period runs on the clock, and SIGKILL ends it.
    await clock.advance(299);
    expect(hasExited).toBe(false);
    await clock.advance(1);
    const exit = await stopping;
    expect(exit).toMatchObject({ signal: 'SIGKILL', isStopped: true });
    expect(exit.error).toBeUndefined();
  });

  it('an AbortSignal stops it; leaving the stdout loop stops it; await using disposes it', async () => {
    const controller = new AbortController();
    const { process: aborted, stdout: abortedStdout } = startReading(endlessTestsrc(), {
      ffmpegPath: FFMPEG,
      signal: controller.signal,
    });
    // Aborted once its output has begun: what ffmpeg wrote until it stopped is one whole MKV stream.
    async function* abortingAtFirstRead(): AsyncGenerator<Uint8Array> {
      for await (const chunk of abortedStdout) {
        controller.abort();
        yield chunk;
      }
    }
    const summary = await readMkvSummary(abortingAtFirstRead());
    expect((await aborted.exited).isStopped).toBe(true);
    expect(summary.headers).toHaveLength(1);

    const { process: left, stdout: leftStdout } = startReading(endlessTestsrc(), { ffmpegPath: FFMPEG });
    for await (const chunk of leftStdout) {
      expect(chunk.byteLength).toBeGreaterThan(0);
      break;
    }
    expect(await left.exited).toMatchObject({ isStopped: true });

    let disposed: ReturnType<typeof startFfmpeg> | undefined;
    {
      await using process = startFfmpeg(endlessTestsrc(), { ffmpegPath: FFMPEG });
      disposed = process;
    }
    expect(await disposed.exited).toMatchObject({ isStopped: true });

    const already = new AbortController();
    already.abort();
    expect(
      await startFfmpeg(endlessTestsrc(), { ffmpegPath: FFMPEG, signal: already.signal }).exited,
    ).toMatchObject({
      isStopped: true,
    });
  });

  it('a binary without the execute bit fails with EACCES and a chmod hint (npm skipped a postinstall)', async () => {
    // fluent-ffmpeg takes the whole process down here (an uncaught TypeError from its end callback after a
    // failed spawn): the adapter checks the binary before fluent-ffmpeg sees it.
    const dir = tempDir();
    const path = writeScript(join(dir, 'ffmpeg'), 'exit 0', false);
    const { process, stdout } = startReading(endlessTestsrc(), { ffmpegPath: path });
    const exit = await process.exited;
    expect(exit.error).toBeInstanceOf(FfmpegError);
    expect(exit.error?.message).toBe(
      `cannot run ffmpeg at ${path}: permission denied (EACCES, not executable)`,
    );
    expect(exit.error?.suggestion).toContain(`chmod +x ${path}`);
    await expect(readMkvSummary(stdout)).rejects.toBe(exit.error);
    const missing = await startFfmpeg(endlessTestsrc(), { ffmpegPath: join(dir, 'nope') }).exited;
    expect(missing.error?.message).toBe(`cannot run ffmpeg at ${join(dir, 'nope')}: no such file`);
    expect(missing.error?.suggestion).toContain('apt-get install ffmpeg');
  });

  it('regression: an ffmpeg that closes stdout a while before it exits is not killed', async () => {
    // fluent-ffmpeg SIGTERMs ffmpeg 20 ms after the stream it writes into emits 'close', which came as soon as
    // stdout ended: an ffmpeg still finishing (a loaded machine, a slow trailer) was killed, and a complete
    // remux failed with "ffmpeg was killed by SIGTERM". The adapter's sink never emits 'close'.
    const dir = tempDir();
    const late = writeScript(join(dir, 'ffmpeg'), 'head -c 1000 /dev/zero\nexec 1>&-\nsleep 0.3\nexit 0');
    const { process, stdout } = startReading(endlessTestsrc(), { ffmpegPath: late });
    let bytes = 0;
    for await (const chunk of stdout) {
      bytes += chunk.length;
    }
    expect(bytes).toBe(1000);
    expect(await process.exited).toEqual({ exitCode: 0, signal: null, isStopped: false });
  });

  it('regression: ffmpeg 7 lists devices with a third flag column, which fluent-ffmpeg cannot parse', async () => {
    // fluent-ffmpeg 2.1.3 reads `ffmpeg -formats` to check `-f` names; with ffmpeg ≥ 7's "..d = Is a device"
    // column it misses lavfi, v4l2, avfoundation and dshow and refuses to run ("Input format lavfi is not
    // available", fluent-ffmpeg #1282). This stand-in answers -formats as ffmpeg 7 does and runs the real
    // ffmpeg otherwise: the capture must still start.
    const dir = tempDir();
    const ffmpeg7 = writeScript(
      join(dir, 'ffmpeg'),
      [
        'for arg in "$@"; do',
        '  if [ "$arg" = "-formats" ]; then',
        "    printf 'Formats:\\n D.. = Demuxing supported\\n .E. = Muxing supported\\n ..d = Is a device\\n ---\\n'",
        "    printf ' D d lavfi           Libavfilter virtual input device\\n'",
        "    printf ' DE  matroska,webm   Matroska / WebM\\n'",
        '    exit 0',
        '  fi',
        'done',
        'exec ffmpeg "$@"',
      ].join('\n'),
    );
    const invocation: FfmpegInvocation = {
      ...buildCaptureArgs(
        { kind: 'testsrc', videoSize: '160x120', framerate: 25, durationS: 0.4 },
        resolveEncoding(),
      ),
      globalOptions: GLOBAL_OPTIONS,
    };
    const { summary, exit } = await runToEnd(invocation, ffmpeg7);
    expect(exit.error).toBeUndefined();
    expect(summary.headers[0]!.tracks.map((track) => track.codecId)).toEqual([CodecId.H264, CodecId.Aac]);
  });
});

describe('tellingLine', () => {
  it('skips the lines that only say something failed, and drops the component address', () => {
    expect(
      tellingLine([
        'Input #0, mpegts, from file:rec.ts:',
        '[matroska @ 0x5649ec7936c0] Error parsing AAC extradata, unable to determine samplerate.',
        'Could not write header for output file #0 (incorrect codec parameters ?): Invalid argument',
        'Error initializing output stream 0:1 -- ',
        'Conversion failed!',
      ]),
    ).toBe('[matroska] Error parsing AAC extradata, unable to determine samplerate.');
    expect(tellingLine(['Conversion failed!'])).toBe('Conversion failed!');
    expect(tellingLine([])).toBeUndefined();
  });
});
