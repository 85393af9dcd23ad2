/**
 * Finding ffmpeg (FFMPEG_PATH, then PATH, then @ffmpeg-installer) and reading what it can do, from real
 * binaries and from the listings of ffmpeg 4, 5 and 7 (whose `-formats` grew a device column).
 */
import { chmodSync, constants, readFileSync, statSync, writeFileSync } from 'node:fs';
import { accessSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  findOnPath,
  locateFfmpeg,
  locateFfprobe,
  parseEncoderList,
  parseFfmpegVersion,
  parseFormatList,
  parseInputProtocols,
  probeFfmpegCapabilities,
  probeRtspTimeoutOption,
} from '../../src/capture/ffmpeg-locator.js';
import { exitCodeFor } from '../../src/exit-codes.js';
import { ErrorCode, KvsPutError } from '../../src/errors.js';
import { hasFfmpeg, tempDir, writeScript } from './capture-test-helpers.js';

const catchError = async (promise: Promise<unknown>): Promise<KvsPutError> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof KvsPutError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a KvsPutError');
};

/** @ffmpeg-installer's binary, when the optional package is installed here. */
const installerBinary = ((): string | undefined => {
  try {
    return (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  } catch {
    return undefined;
  }
})();
const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

describe('locateFfmpeg', () => {
  it('FFMPEG_PATH first, even when PATH has one', async () => {
    const dir = tempDir();
    const own = writeScript(join(dir, 'my-ffmpeg'), 'exit 0');
    const onPath = writeScript(join(dir, 'ffmpeg'), 'exit 0');
    expect(await locateFfmpeg({ FFMPEG_PATH: own, PATH: dir })).toEqual({ path: own, source: 'FFMPEG_PATH' });
    expect(await locateFfmpeg({ PATH: `/nonexistent:${dir}` })).toEqual({ path: onPath, source: 'PATH' });
  });

  it('a wrong FFMPEG_PATH is an error, never silently passed over', async () => {
    const missing = await catchError(locateFfmpeg({ FFMPEG_PATH: '/nonexistent/ffmpeg', PATH: '/usr/bin' }));
    expect(missing).toMatchObject({
      code: ErrorCode.Capture,
      message: 'FFMPEG_PATH is /nonexistent/ffmpeg, which does not exist',
    });
    expect(exitCodeFor(missing.code)).toBe(7);
    const dir = tempDir();
    const notExecutable = writeScript(join(dir, 'ffmpeg'), 'exit 0', false);
    const denied = await catchError(locateFfmpeg({ FFMPEG_PATH: notExecutable }));
    expect(denied.message).toBe(
      `cannot run ffmpeg at ${notExecutable}: permission denied (EACCES, not executable)`,
    );
    expect(denied.suggestion).toContain(`chmod +x ${notExecutable}`);
  });

  it('PATH entries that are not executable are skipped, like `which`', async () => {
    const first = tempDir();
    const second = tempDir();
    writeScript(join(first, 'ffmpeg'), 'exit 0', false);
    const good = writeScript(join(second, 'ffmpeg'), 'exit 0');
    expect(await findOnPath('ffmpeg', { PATH: `${first}:${second}` }, 'linux')).toBe(good);
  });

  it('then @ffmpeg-installer; its binary without the execute bit gets a chmod hint', async () => {
    const empty = tempDir();
    const dir = tempDir();
    const installed = writeScript(join(dir, 'ffmpeg'), 'exit 0');
    expect(await locateFfmpeg({ PATH: empty }, { installerPath: () => Promise.resolve(installed) })).toEqual({
      path: installed,
      source: '@ffmpeg-installer',
    });
    const blocked = writeScript(join(dir, 'ffmpeg-blocked'), 'exit 0', false);
    const error = await catchError(
      locateFfmpeg({ PATH: empty }, { installerPath: () => Promise.resolve(blocked) }),
    );
    expect(error.message).toBe(`cannot run ffmpeg at ${blocked}: permission denied (EACCES, not executable)`);
    expect(error.suggestion).toMatch(
      /^make it executable \(chmod \+x .*; npm may have skipped @ffmpeg-installer's postinstall\)/,
    );
  });

  it('none at all: one line and what to install', async () => {
    const error = await catchError(
      locateFfmpeg({ PATH: tempDir() }, { installerPath: () => Promise.resolve(undefined) }),
    );
    expect(error).toMatchObject({
      code: ErrorCode.Capture,
      message:
        'no ffmpeg found: FFMPEG_PATH is not set, ffmpeg is not on PATH, and @ffmpeg-installer/ffmpeg is not installed',
    });
    expect(error.suggestion).toContain('apt-get install ffmpeg');
  });

  it.skipIf(installerBinary === undefined)(
    'the real @ffmpeg-installer package is found when PATH has no ffmpeg',
    async () => {
      const env = { PATH: tempDir() };
      if (isExecutable(installerBinary!)) {
        expect(await locateFfmpeg(env)).toEqual({ path: installerBinary, source: '@ffmpeg-installer' });
      } else {
        console.warn(`[capture] ${installerBinary} is not executable (npm skipped its postinstall chmod)`);
        expect((await catchError(locateFfmpeg(env))).suggestion).toContain('chmod +x');
      }
    },
  );

  it('ffprobe: FFPROBE_PATH, then beside ffmpeg, then PATH', async () => {
    const dir = tempDir();
    const other = tempDir();
    const ffmpeg = writeScript(join(dir, 'ffmpeg'), 'exit 0');
    const beside = writeScript(join(dir, 'ffprobe'), 'exit 0');
    const explicit = writeScript(join(other, 'probe'), 'exit 0');
    const onPath = writeScript(join(other, 'ffprobe'), 'exit 0');
    expect(await locateFfprobe({ FFPROBE_PATH: explicit }, ffmpeg, 'linux')).toBe(explicit);
    expect(await locateFfprobe({ PATH: other }, ffmpeg, 'linux')).toBe(beside);
    expect(await locateFfprobe({ PATH: other }, join(tempDir(), 'ffmpeg'), 'linux')).toBe(onPath);
    expect(await locateFfprobe({ PATH: tempDir() }, join(tempDir(), 'ffmpeg'), 'linux')).toBeUndefined();
  });
});

describe('capability listings of ffmpeg 4, 5 and 7', () => {
  it('version lines', () => {
    expect(
      parseFfmpegVersion('ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers'),
    ).toBe('5.1.9-0+deb12u1');
    expect(
      parseFfmpegVersion('ffmpeg version N-47683-g0e8eb07980-static https://johnvansickle.com/ffmpeg/'),
    ).toBe('N-47683-g0e8eb07980-static');
  });

  it('-formats with two flag columns (≤ 6) and with the device column (≥ 7)', () => {
    const ffmpeg5 = [
      'File formats:',
      ' D. = Demuxing supported',
      ' .E = Muxing supported',
      ' --',
      ' D  lavfi           Libavfilter virtual input device',
      '  E matroska        Matroska',
      ' D  matroska,webm   Matroska / WebM',
      ' DE rtsp            RTSP output',
      ' DE video4linux2,v4l2 Video4Linux2 output device',
    ].join('\n');
    const ffmpeg7 = [
      'Formats:',
      ' D.. = Demuxing supported',
      ' .E. = Muxing supported',
      ' ..d = Is a device',
      ' ---',
      ' D d lavfi           Libavfilter virtual input device',
      '  E  matroska        Matroska',
      ' D   matroska,webm   Matroska / WebM',
      ' DE  rtsp            RTSP output',
      ' DEd video4linux2,v4l2 Video4Linux2 output device',
    ].join('\n');
    for (const listing of [ffmpeg5, ffmpeg7]) {
      const { demuxers, muxers } = parseFormatList(listing);
      expect([...demuxers].sort()).toEqual(['lavfi', 'matroska', 'rtsp', 'v4l2', 'video4linux2', 'webm']);
      expect([...muxers].sort()).toEqual(['matroska', 'rtsp', 'v4l2', 'video4linux2']);
    }
  });

  it('-encoders and -protocols', () => {
    const encoders = [
      'Encoders:',
      ' V..... = Video',
      ' A..... = Audio',
      ' ------',
      ' V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)',
      ' A..... aac                  AAC (Advanced Audio Coding)',
    ].join('\n');
    expect([...parseEncoderList(encoders)]).toEqual(['libx264', 'aac']);
    const protocols = [
      'Supported file protocols:',
      'Input:',
      '  file',
      '  tcp',
      '  rtmp',
      'Output:',
      '  file',
    ].join('\n');
    expect([...parseInputProtocols(protocols)]).toEqual(['file', 'tcp', 'rtmp']);
  });
});

describe.skipIf(!hasFfmpeg)('probeFfmpegCapabilities on real binaries', () => {
  it("Debian's ffmpeg: v4l2, RTSP with -timeout, libx264, AAC, Matroska", async () => {
    const located = await locateFfmpeg(process.env);
    const capabilities = await probeFfmpegCapabilities(located.path);
    expect(capabilities.version).not.toBe('unknown');
    expect(capabilities).toMatchObject({
      hasMatroskaMuxer: true,
      hasLavfi: true,
      hasRtsp: true,
      hasLibx264: true,
      hasAac: true,
    });
    if (process.platform === 'linux') {
      expect(capabilities.hasV4l2).toBe(true);
    }
    if (/^[5-9]\./.test(capabilities.version)) {
      expect(capabilities.rtspTimeoutOption).toBe('timeout');
    }
  });

  it.skipIf(installerBinary === undefined || !isExecutable(installerBinary))(
    "@ffmpeg-installer's ffmpeg 4.1: the RTSP socket timeout is -stimeout there",
    async () => {
      const capabilities = await probeFfmpegCapabilities(installerBinary!);
      expect(capabilities.version).toMatch(/^N-\d+/);
      expect(capabilities.rtspTimeoutOption).toBe('stimeout');
      expect(capabilities.hasLibx264).toBe(true);
    },
  );

  it('a binary that cannot run is a Capture error with a hint', async () => {
    const path = writeScript(join(tempDir(), 'ffmpeg'), 'exit 0', false);
    const error = await catchError(probeFfmpegCapabilities(path));
    expect(error.code).toBe(ErrorCode.Capture);
    expect(error.suggestion).toContain('chmod +x');
  });
});

describe('probeRtspTimeoutOption', () => {
  it.skipIf(!hasFfmpeg)(
    'asks a binary once per cache directory; a changed binary is asked again',
    async () => {
      const dir = tempDir();
      const calls = join(dir, 'calls');
      // The real ffmpeg answers; the wrapper counts how often it is asked.
      const ffmpeg = writeScript(join(dir, 'ffmpeg'), `echo run >> '${calls}'\nexec ffmpeg "$@"`);
      const cacheDirectory = join(dir, 'cache', 'kvs-put');
      const count = (): number => readFileSync(calls, 'utf8').split('\n').filter(Boolean).length;

      const first = await probeRtspTimeoutOption(ffmpeg, { cacheDirectory });
      expect(['timeout', 'stimeout']).toContain(first);
      expect(await probeRtspTimeoutOption(ffmpeg, { cacheDirectory })).toBe(first);
      expect(count()).toBe(1);
      // Kept for this user only.
      expect(statSync(cacheDirectory).mode & 0o777).toBe(0o700);
      const file = join(cacheDirectory, 'ffmpeg-rtsp-timeout-option.json');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(Object.values(JSON.parse(readFileSync(file, 'utf8')) as object)).toEqual([first]);

      // Without a cache directory, and after the binary changed, ffmpeg is asked.
      expect(await probeRtspTimeoutOption(ffmpeg)).toBe(first);
      expect(count()).toBe(2);
      writeScript(ffmpeg, `echo run >> '${calls}'\n# upgraded\nexec ffmpeg "$@"`);
      expect(await probeRtspTimeoutOption(ffmpeg, { cacheDirectory })).toBe(first);
      expect(count()).toBe(3);
      expect(await probeRtspTimeoutOption(ffmpeg, { cacheDirectory })).toBe(first);
      expect(count()).toBe(3);
      // A cache directory others can write is neither read nor written.
      chmodSync(cacheDirectory, 0o777);
      expect(await probeRtspTimeoutOption(ffmpeg, { cacheDirectory })).toBe(first);
      expect(count()).toBe(4);
    },
  );

  it('a cache file that is not what it should be is ignored, and replaced', async () => {
    const dir = tempDir();
    const ffmpeg = writeScript(join(dir, 'ffmpeg'), `echo '  -stimeout <int> socket timeout'`);
    const cacheDirectory = join(dir, 'cache');
    await probeRtspTimeoutOption(ffmpeg, { cacheDirectory });
    const file = join(cacheDirectory, 'ffmpeg-rtsp-timeout-option.json');
    for (const junk of ['not json', '[1,2]', 'null', JSON.stringify({ [ffmpeg]: 'rm -rf /' })]) {
      writeFileSync(file, junk);
      expect(await probeRtspTimeoutOption(ffmpeg, { cacheDirectory })).toBe('stimeout');
    }
    expect(Object.values(JSON.parse(readFileSync(file, 'utf8')) as object)).toContain('stimeout');
  });
});
