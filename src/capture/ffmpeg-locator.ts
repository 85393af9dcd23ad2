/**
 * Finds the ffmpeg kvs-put runs (FFMPEG_PATH, then PATH, then the npm-shipped @ffmpeg-installer binary)
 * and what it can do (`kvs-put doctor`, and the RTSP timeout option name the argv builders need).
 */
import { execFile } from 'node:child_process';
import { constants, readFileSync, statSync } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { ErrorCode, KvsPutError } from '../errors.js';
import { ensurePrivateDirectory, writeCacheFile } from '../util/user-cache.js';
import { INSTALL_FFMPEG_HINT, notRunnableError } from './capture-errors.js';
import type { RtspTimeoutOption } from './ffmpeg-args.js';

/** Where the ffmpeg in use came from. */
export type FfmpegOrigin = 'FFMPEG_PATH' | 'PATH' | '@ffmpeg-installer';

export type LocatedFfmpeg = {
  /** Absolute path of the binary. */
  path: string;
  source: FfmpegOrigin;
};

export type LocateFfmpegOptions = {
  /** @default process.platform */
  platform?: NodeJS.Platform;
  /**
   * Where @ffmpeg-installer/ffmpeg put its binary, or undefined when the (optional) package is absent or
   * has no binary for this platform. Injected by tests.
   */
  installerPath?: () => Promise<string | undefined>;
};

type Environment = Readonly<Record<string, string | undefined>>;

/** The specifier is a variable so that TypeScript does not require the optional package's types. */
const INSTALLER_PACKAGE: string = '@ffmpeg-installer/ffmpeg';

const defaultInstallerPath = async (): Promise<string | undefined> => {
  try {
    // The package throws (a string, not an Error) when its platform binary is missing.
    const module = (await import(INSTALLER_PACKAGE)) as { default?: { path?: unknown } };
    const path = module.default?.path;
    return typeof path === 'string' ? path : undefined;
  } catch {
    return undefined;
  }
};

type FileState = 'executable' | 'not-executable' | 'missing';

const fileState = async (path: string): Promise<FileState> => {
  try {
    if (!(await stat(path)).isFile()) {
      return 'missing';
    }
  } catch {
    return 'missing';
  }
  try {
    await access(path, constants.X_OK);
    return 'executable';
  } catch {
    return 'not-executable';
  }
};

/** Names a command may have on this platform (`ffmpeg`; `ffmpeg.exe`, `ffmpeg.cmd`… on Windows). */
const commandNames = (name: string, env: Environment, platform: NodeJS.Platform): string[] =>
  platform === 'win32'
    ? (env['PATHEXT'] ?? '.EXE;.CMD;.BAT;.COM')
        .split(';')
        .filter(Boolean)
        .map((ext) => `${name}${ext.toLowerCase()}`)
    : [name];

/** The first executable `name` on PATH, like `which`. */
export const findOnPath = async (
  name: string,
  env: Environment,
  platform: NodeJS.Platform = process.platform,
): Promise<string | undefined> => {
  const pathVariable = env['PATH'] ?? env['Path'] ?? '';
  const separator = platform === 'win32' ? ';' : delimiter;
  for (const directory of pathVariable.split(separator).filter((entry) => entry.length > 0)) {
    for (const candidate of commandNames(name, env, platform)) {
      const path = join(directory, candidate);
      if ((await fileState(path)) === 'executable') {
        return path;
      }
    }
  }
  return undefined;
};

/**
 * Finds ffmpeg: FFMPEG_PATH (when set it must be right: it is never silently passed over), then PATH, then
 * @ffmpeg-installer's binary.
 * @throws KvsPutError (code Capture, exit 7) with a suggestion when none is usable; an installer binary
 *   without the execute bit (npm skipped its postinstall chmod) gets a `chmod +x` hint.
 */
export const locateFfmpeg = async (
  env: Environment,
  options: LocateFfmpegOptions = {},
): Promise<LocatedFfmpeg> => {
  const platform = options.platform ?? process.platform;
  const explicit = env['FFMPEG_PATH'];
  if (explicit !== undefined && explicit !== '') {
    const state = await fileState(explicit);
    if (state === 'executable') {
      return { path: explicit, source: 'FFMPEG_PATH' };
    }
    if (state === 'not-executable') {
      throw notRunnableError(explicit, 'EACCES');
    }
    throw new KvsPutError(ErrorCode.Capture, `FFMPEG_PATH is ${explicit}, which does not exist`, {
      context: { path: explicit },
      suggestion: `point FFMPEG_PATH at an ffmpeg binary, or unset it to use the one on PATH`,
    });
  }
  const onPath = await findOnPath('ffmpeg', env, platform);
  if (onPath !== undefined) {
    return { path: onPath, source: 'PATH' };
  }
  const installed = await (options.installerPath ?? defaultInstallerPath)();
  if (installed !== undefined) {
    const state = await fileState(installed);
    if (state === 'executable') {
      return { path: installed, source: '@ffmpeg-installer' };
    }
    if (state === 'not-executable') {
      throw notRunnableError(installed, 'EACCES');
    }
  }
  throw new KvsPutError(
    ErrorCode.Capture,
    'no ffmpeg found: FFMPEG_PATH is not set, ffmpeg is not on PATH, and @ffmpeg-installer/ffmpeg is not installed',
    { suggestion: INSTALL_FFMPEG_HINT },
  );
};

/**
 * Finds the ffprobe that goes with an ffmpeg: FFPROBE_PATH, then beside the ffmpeg binary, then PATH.
 * Undefined when there is none (@ffmpeg-installer ships no ffprobe; files are then probed with ffmpeg).
 */
export const locateFfprobe = async (
  env: Environment,
  ffmpegPath: string,
  platform: NodeJS.Platform = process.platform,
): Promise<string | undefined> => {
  const explicit = env['FFPROBE_PATH'];
  if (explicit !== undefined && explicit !== '' && (await fileState(explicit)) === 'executable') {
    return explicit;
  }
  const beside = join(dirname(ffmpegPath), platform === 'win32' ? 'ffprobe.exe' : 'ffprobe');
  if ((await fileState(beside)) === 'executable') {
    return beside;
  }
  return findOnPath('ffprobe', env, platform);
};

/** What an ffmpeg build can do, as far as kvs-put cares. */
export type FfmpegCapabilities = {
  /** `5.1.9-0+deb12u1`, `N-47683-g0e8eb07980-static`… */
  version: string;
  demuxers: ReadonlySet<string>;
  muxers: ReadonlySet<string>;
  encoders: ReadonlySet<string>;
  inputProtocols: ReadonlySet<string>;
  hasV4l2: boolean;
  hasAvfoundation: boolean;
  hasDshow: boolean;
  hasLavfi: boolean;
  /** RTSP demuxer and the TCP protocol under it. */
  hasRtsp: boolean;
  hasLibx264: boolean;
  /** ffmpeg's native AAC encoder. */
  hasAac: boolean;
  hasMatroskaMuxer: boolean;
  /** See RtspTimeoutOption: `stimeout` on ffmpeg ≤ 4.4. */
  rtspTimeoutOption: RtspTimeoutOption;
};

/** `ffmpeg version 5.1.9-0+deb12u1 Copyright …` → `5.1.9-0+deb12u1`. */
export const parseFfmpegVersion = (text: string): string | undefined => /^\S+ version (\S+)/m.exec(text)?.[1];

/** Lines after the `--` rule of `-formats`/`-demuxers`/`-muxers`: flags (D, E, d), then comma-separated names. */
export const parseFormatList = (text: string): { demuxers: Set<string>; muxers: Set<string> } => {
  const demuxers = new Set<string>();
  const muxers = new Set<string>();
  const body = text
    .split(/^\s*--+\s*$/m)
    .slice(1)
    .join('\n');
  for (const match of body.matchAll(/^ ([D. ])([E. ])([d. ]?)\s+(\S+)/gm)) {
    for (const name of (match[4] ?? '').split(',')) {
      if (match[1] === 'D') {
        demuxers.add(name);
      }
      if (match[2] === 'E') {
        muxers.add(name);
      }
    }
  }
  return { demuxers, muxers };
};

/** Encoder names from `-encoders` (lines after the `------` rule: ` V....D libx264  …`). */
export const parseEncoderList = (text: string): Set<string> => {
  const body = text
    .split(/^\s*-{2,}\s*$/m)
    .slice(1)
    .join('\n');
  return new Set([...body.matchAll(/^\s*[VAS][A-Z.]{5}\s+(\S+)/gm)].map((match) => match[1] ?? ''));
};

/** Input protocol names from `-protocols` (between `Input:` and `Output:`). */
export const parseInputProtocols = (text: string): Set<string> => {
  const input = /^Input:\s*$([\s\S]*?)^Output:/m.exec(text)?.[1] ?? '';
  return new Set(
    input
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line.length > 0),
  );
};

const run = (path: string, args: string[], timeoutMs: number): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(path, args, { timeout: timeoutMs, maxBuffer: 8 << 20 }, (error, stdout, stderr) => {
      if (error === null) {
        resolve(`${stdout}${stderr}`);
        return;
      }
      const code = (error as NodeJS.ErrnoException).code;
      if (typeof code === 'string') {
        reject(notRunnableError(path, code, error));
        return;
      }
      reject(
        new KvsPutError(
          ErrorCode.Capture,
          `ffmpeg at ${path} failed on ${args.join(' ')}: ${stderr.trim().split('\n').at(-1) ?? ''}`,
          {
            context: { path, args },
            suggestion: INSTALL_FFMPEG_HINT,
            cause: error,
          },
        ),
      );
    });
  });

const RTSP_HELP_ARGS = ['-hide_banner', '-h', 'demuxer=rtsp'];

/** `-h demuxer=rtsp` lists `-stimeout` on ffmpeg ≤ 4.4, `-timeout` after. */
const parseRtspTimeoutOption = (rtspHelp: string): RtspTimeoutOption =>
  /^\s*-stimeout\s/m.test(rtspHelp) ? 'stimeout' : 'timeout';

/**
 * The one thing `kvs-put --rtsp` must ask ffmpeg before running it: the name of the RTSP socket timeout
 * option (one `-h demuxer=rtsp` run). Everything else a capture needs, ffmpeg reports when it runs; `kvs-put
 * doctor` asks for the whole list ({@link probeFfmpegCapabilities}).
 *
 * With a `cacheDirectory` (src/util/user-cache.ts) the answer is kept per binary, keyed by its path, size,
 * modification time and inode: a camera box restarting kvs-put does not spawn that ffmpeg again (a fork of
 * the whole process and ffmpeg's own start-up), and a replaced or upgraded binary is asked again.
 * @throws KvsPutError (code Capture) when the binary cannot run.
 */
export const probeRtspTimeoutOption = async (
  path: string,
  options: { timeoutMs?: number; cacheDirectory?: string | undefined } = {},
): Promise<RtspTimeoutOption> => {
  // Read, like written, only in a directory that is this user's alone (as the compile cache is).
  const directory = options.cacheDirectory;
  const cache =
    directory === undefined || !ensurePrivateDirectory(directory) ? undefined : probeCache(directory, path);
  const cached = cache?.read();
  if (cached !== undefined) {
    return cached;
  }
  const answer = parseRtspTimeoutOption(await run(path, RTSP_HELP_ARGS, options.timeoutMs ?? 15_000));
  cache?.write(answer);
  return answer;
};

/** File of {@link probeRtspTimeoutOption}'s answers: `{ "<binary key>": "timeout" | "stimeout" }`. */
const PROBE_CACHE_FILE = 'ffmpeg-rtsp-timeout-option.json';
/** Binaries remembered (the newest); a box has one or two. */
const MAX_PROBE_CACHE_ENTRIES = 8;

const probeCache = (directory: string, ffmpegPath: string) => {
  const file = join(directory, PROBE_CACHE_FILE);
  let key: string | undefined;
  try {
    const stats = statSync(ffmpegPath);
    key = `${ffmpegPath}|${stats.size}|${Math.trunc(stats.mtimeMs)}|${stats.ino}`;
  } catch {
    // run() reports a missing binary.
  }
  const load = (): Record<string, unknown> => {
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  };
  return {
    read: (): RtspTimeoutOption | undefined => {
      const value = key === undefined ? undefined : load()[key];
      return value === 'timeout' || value === 'stimeout' ? value : undefined;
    },
    write: (answer: RtspTimeoutOption): void => {
      if (key === undefined) {
        return;
      }
      const entries = Object.entries(load()).filter(([name]) => name !== key);
      const kept = Object.fromEntries([...entries.slice(-(MAX_PROBE_CACHE_ENTRIES - 1)), [key, answer]]);
      try {
        writeCacheFile(file, JSON.stringify(kept));
      } catch {
        // A read-only or full disk: the next run asks ffmpeg again.
      }
    },
  };
};

/**
 * Asks an ffmpeg binary what it can do (`-version`, `-formats`, `-encoders`, `-protocols`,
 * `-h demuxer=rtsp`). Run directly rather than through fluent-ffmpeg: fluent-ffmpeg's capability queries
 * cache their answers process-wide whatever the binary, and report neither the version nor protocols.
 * @throws KvsPutError (code Capture) when the binary cannot run.
 */
export const probeFfmpegCapabilities = async (
  path: string,
  options: { timeoutMs?: number } = {},
): Promise<FfmpegCapabilities> => {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const versionText = await run(path, ['-hide_banner', '-version'], timeoutMs);
  const [formatsText, encodersText, protocolsText, rtspHelp] = await Promise.all([
    run(path, ['-hide_banner', '-formats'], timeoutMs),
    run(path, ['-hide_banner', '-encoders'], timeoutMs),
    run(path, ['-hide_banner', '-protocols'], timeoutMs),
    run(path, RTSP_HELP_ARGS, timeoutMs),
  ]);
  const { demuxers, muxers } = parseFormatList(formatsText);
  const encoders = parseEncoderList(encodersText);
  const inputProtocols = parseInputProtocols(protocolsText);
  return {
    version: parseFfmpegVersion(versionText) ?? 'unknown',
    demuxers,
    muxers,
    encoders,
    inputProtocols,
    hasV4l2: demuxers.has('v4l2'),
    hasAvfoundation: demuxers.has('avfoundation'),
    hasDshow: demuxers.has('dshow'),
    hasLavfi: demuxers.has('lavfi'),
    hasRtsp: demuxers.has('rtsp') && inputProtocols.has('tcp'),
    hasLibx264: encoders.has('libx264'),
    hasAac: encoders.has('aac'),
    hasMatroskaMuxer: muxers.has('matroska'),
    rtspTimeoutOption: parseRtspTimeoutOption(rtspHelp),
  };
};
