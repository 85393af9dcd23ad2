/**
 * `kvs-put doctor`, run in-process through its command factory with a recording CliIo: which ffmpeg is used
 * and what it can do, as text and as JSON, and the exit code when there is no usable ffmpeg.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  deviceChecks,
  doctorCommand,
  doctorExitCode,
  runDoctorChecks,
} from '../../src/cli/commands/doctor.js';
import type { DoctorCheck } from '../../src/cli/commands/doctor.js';
import { ExitCode } from '../../src/exit-codes.js';
import { fakeIo, hasFfmpeg, tempDir, writeScript } from './capture-test-helpers.js';

type DoctorJson = { ok: boolean; checks: DoctorCheck[] };

/** Runs `kvs-put doctor ARGS` as runCli would, and returns its exit code and output. */
const runDoctor = async (args: string[], env: Readonly<Record<string, string | undefined>>) => {
  const io = fakeIo(env);
  let exitCode: number = ExitCode.Ok;
  const command = doctorCommand(io, (code) => {
    exitCode = code;
  })
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  // The AWS checks have their own tests (test/cli/doctor-aws.test.ts): these are about ffmpeg.
  await command.parseAsync(['--no-aws', ...args], { from: 'user' });
  return { exitCode, out: io.out(), err: io.err() };
};

/** An ffmpeg that prints `lines` on stderr and fails, as `ffmpeg -f v4l2 -list_formats all` does. */
const writeListingFfmpeg = (lines: readonly string[]): string =>
  writeScript(join(tempDir(), 'ffmpeg'), ["cat >&2 <<'EOF'", ...lines, 'EOF', 'exit 1'].join('\n'));

describe('kvs-put doctor', () => {
  it.skipIf(!hasFfmpeg)('reports the ffmpeg on PATH and its capabilities; exit 0', async () => {
    const { exitCode, out } = await runDoctor(['--json'], process.env);
    expect(exitCode).toBe(ExitCode.Ok);
    const report = JSON.parse(out) as DoctorJson;
    expect(report.ok).toBe(true);
    expect(report.checks.map((check) => check.name)).toEqual([
      'ffmpeg',
      'ffmpeg: matroska',
      'ffmpeg: libx264',
      'ffmpeg: aac',
      'ffmpeg: rtsp',
      process.platform === 'darwin'
        ? 'ffmpeg: avfoundation'
        : process.platform === 'win32'
          ? 'ffmpeg: directshow'
          : 'ffmpeg: v4l2',
      'ffprobe',
    ]);
    expect(report.checks[0]).toMatchObject({ ok: true, required: true });
    expect(report.checks[0]!.detail).toMatch(/^\/\S+\/ffmpeg \(from PATH\), version \S+$/);
    expect(report.checks.every((check) => check.ok)).toBe(true);
    expect(report.checks.find((check) => check.name === 'ffmpeg: rtsp')?.detail).toContain('-timeout');
  });

  it.skipIf(!hasFfmpeg)('prints one line per check and a summary', async () => {
    const { exitCode, out } = await runDoctor([], process.env);
    expect(exitCode).toBe(ExitCode.Ok);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ {2}ok {4}ffmpeg {12}\/\S+ \(from PATH\), version /);
    expect(lines.at(-1)).toBe('all required checks passed');
  });

  it('no ffmpeg: FAIL with what to install, exit 7', async () => {
    const { exitCode, out } = await runDoctor([], { FFMPEG_PATH: '/nonexistent/ffmpeg' });
    expect(exitCode).toBe(ExitCode.Io);
    expect(out).toBe(
      [
        '  FAIL  ffmpeg  FFMPEG_PATH is /nonexistent/ffmpeg, which does not exist',
        '                hint: point FFMPEG_PATH at an ffmpeg binary, or unset it to use the one on PATH',
        '1 required check failed',
        '',
      ].join('\n'),
    );
  });

  it('an ffmpeg without the execute bit: EACCES named, chmod hint, exit 7', async () => {
    const path = writeScript(join(tempDir(), 'ffmpeg'), 'exit 0', false);
    const { exitCode, out } = await runDoctor(['--json'], { FFMPEG_PATH: path });
    expect(exitCode).toBe(ExitCode.Io);
    const report = JSON.parse(out) as DoctorJson;
    expect(report).toMatchObject({
      ok: false,
      checks: [
        {
          name: 'ffmpeg',
          ok: false,
          required: true,
          detail: `cannot run ffmpeg at ${path}: permission denied (EACCES, not executable)`,
        },
      ],
    });
    expect(report.checks[0]!.hint).toContain(`chmod +x ${path}`);
  });

  it('checks are data: optional failures are warnings, a failing provider is a failed check', async () => {
    const checks = await runDoctorChecks({ io: fakeIo({}) }, [
      () => Promise.resolve([{ name: 'a', ok: false, required: false, detail: 'meh' }]),
      function credentials() {
        return Promise.reject(new Error('boom'));
      },
    ]);
    expect(checks).toEqual([
      { name: 'a', ok: false, required: false, detail: 'meh' },
      { name: 'credentials', ok: false, required: true, detail: 'boom' },
    ]);
    expect(doctorExitCode(checks)).toBe(ExitCode.Internal);
    expect(doctorExitCode(checks.slice(0, 1))).toBe(ExitCode.Ok);
    expect(
      doctorExitCode([
        {
          name: 'credentials',
          ok: false,
          required: true,
          detail: 'x',
          exitCodeOnFailure: ExitCode.Credentials,
        },
      ]),
    ).toBe(ExitCode.Credentials);
  });

  it.skipIf(!hasFfmpeg || process.platform !== 'linux')(
    '--device: a camera that is not there, or a device that is no camera, fails with exit 7 and a hint',
    async () => {
      const missing = await runDoctor(['--device', '/dev/video99', '--json'], process.env);
      expect(missing.exitCode).toBe(ExitCode.Io);
      const camera = (JSON.parse(missing.out) as DoctorJson).checks.find((check) => check.name === 'camera');
      expect(camera).toMatchObject({
        ok: false,
        required: true,
        detail: 'camera /dev/video99: no such device',
      });
      expect(camera?.hint).toMatch(/\/dev\/video/);
      // /dev/null is a character device this user can open, so it passes the path check; ffmpeg's V4L2
      // input then finds it is no capture device (as it would a USB camera's metadata node).
      const notCamera = await runDoctor(['--device', '/dev/null'], process.env);
      expect(notCamera.exitCode).toBe(ExitCode.Io);
      expect(notCamera.out).toMatch(/^ {2}FAIL {2}camera +\/dev\/null is not a video capture device$/m);
      expect(notCamera.out).toMatch(/hint: (there is no \/dev\/video|the video devices here)/);
    },
  );

  it.skipIf(process.platform !== 'linux')(
    '--device: the formats and frame sizes the camera offers, as ffmpeg lists them',
    async () => {
      // No camera here: an ffmpeg that prints the listing a UVC camera gets (libavdevice/v4l2.c's format).
      const ffmpeg = writeScript(
        join(tempDir(), 'ffmpeg'),
        [
          "cat >&2 <<'EOF'",
          '[video4linux2,v4l2 @ 0x5599] Compressed:       mjpeg :          Motion-JPEG : 1920x1080 1280x720 800x600 640x480 320x240',
          '[video4linux2,v4l2 @ 0x5599] Raw       :     yuyv422 :           YUYV 4:2:2 : 640x480 320x240',
          '[video4linux2,v4l2 @ 0x5599] Compressed:        h264 :                H.264 : 1920x1080 1280x720',
          '/dev/null: Immediate exit requested',
          'EOF',
          'exit 1',
        ].join('\n'),
      );
      const [camera] = await deviceChecks({ io: fakeIo({ FFMPEG_PATH: ffmpeg }), device: '/dev/null' });
      expect(camera).toEqual({
        name: 'camera',
        ok: true,
        required: true,
        detail:
          '/dev/null: a video capture device this user can open; it offers mjpeg 1920x1080 1280x720 800x600 640x480 …, yuyv422 640x480 320x240, h264 1920x1080 1280x720 (--input-format h264 sends its H.264 as it is, without encoding)',
      });
    },
  );

  it.skipIf(process.platform !== 'linux')(
    '--device: a driver with many formats gets the ones --input-format asks for first; a node with none fails',
    async () => {
      // What ffmpeg 5.1 lists for Linux's vivid test driver (scripts/camera-vm.sh), cut short.
      const vivid = writeListingFfmpeg([
        '[video4linux2,v4l2 @ 0x5602] Raw       :     uyvy422 :           UYVY 4:2:2 : 320x180 640x360 640x480 1280x720 1920x1080 3840x2160',
        '[video4linux2,v4l2 @ 0x5602] Raw       : Unsupported :           YVYU 4:2:2 : 320x180 640x360',
        '[video4linux2,v4l2 @ 0x5602] Raw       :     yuv420p :     Planar YUV 4:2:0 : 320x180 640x360',
        '[video4linux2,v4l2 @ 0x5602] Raw       :     yuv420p :     Planar YVU 4:2:0 : 320x180 640x360',
        '[video4linux2,v4l2 @ 0x5602] Raw       :        nv12 :           Y/UV 4:2:0 : 320x180 640x360',
        '[video4linux2,v4l2 @ 0x5602] Raw       :     yuyv422 :           YUYV 4:2:2 : 320x180 640x360',
        '[video4linux2,v4l2 @ 0x5602] Raw       :        gray :             8-bit Greyscale : 640x360',
        '/dev/null: Immediate exit requested',
      ]);
      const [camera] = await deviceChecks({ io: fakeIo({ FFMPEG_PATH: vivid }), device: '/dev/null' });
      expect(camera?.detail).toBe(
        '/dev/null: a video capture device this user can open; it offers yuyv422 320x180 640x360, uyvy422 320x180 640x360 640x480 1280x720 …, yuv420p 320x180 640x360, nv12 320x180 640x360 and 1 more',
      );
      const rawOnly = writeListingFfmpeg([
        '[video4linux2,v4l2 @ 0x5602] Raw       :        nv12 :           Y/UV 4:2:0 : 640x360',
        '/dev/null: Immediate exit requested',
      ]);
      const [nv12] = await deviceChecks({ io: fakeIo({ FFMPEG_PATH: rawOnly }), device: '/dev/null' });
      expect(nv12?.detail).toMatch(/offers nv12 640x360 \(none that --input-format asks for: /);
      // A metadata node: ffmpeg lists nothing (vivid's meta-cap node, as a UVC camera's second node).
      const metadata = writeListingFfmpeg(['/dev/null: Immediate exit requested']);
      const [refused] = await deviceChecks({ io: fakeIo({ FFMPEG_PATH: metadata }), device: '/dev/null' });
      expect(refused).toMatchObject({
        ok: false,
        required: true,
        detail: '/dev/null is not a video capture device',
        exitCodeOnFailure: ExitCode.Io,
      });
      // An ffmpeg without a V4L2 input lists nothing either; its own check (ffmpeg: v4l2) says why.
      const noV4l2 = writeListingFfmpeg(["Unknown input format: 'v4l2'"]);
      const [unchecked] = await deviceChecks({ io: fakeIo({ FFMPEG_PATH: noV4l2 }), device: '/dev/null' });
      expect(unchecked).toMatchObject({ ok: true, detail: '/dev/null: a video device this user can open' });
    },
  );
});
