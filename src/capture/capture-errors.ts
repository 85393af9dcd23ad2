import { ErrorCode, KvsPutError } from '../errors.js';
import type { KvsPutErrorOptions } from '../errors.js';

/** Suggestion given whenever no usable ffmpeg is found. */
export const INSTALL_FFMPEG_HINT =
  'install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg), or set FFMPEG_PATH to an ffmpeg binary';

/**
 * ffmpeg failed: it exited with a non-zero code or was killed by a signal we did not send, or it could not
 * be started at all (`exitCode` and `signal` both null, the spawn error as `cause`). The message is one line
 * (the most telling stderr line); `stderrTail` holds the last stderr lines, already redacted.
 */
export class FfmpegError extends KvsPutError {
  public readonly exitCode: number | null;
  public readonly signal: NodeJS.Signals | null;
  public readonly stderrTail: readonly string[];

  public constructor(
    message: string,
    fields: { exitCode: number | null; signal: NodeJS.Signals | null; stderrTail: readonly string[] },
    options: KvsPutErrorOptions = {},
  ) {
    super(ErrorCode.Capture, message, {
      ...options,
      context: {
        ...options.context,
        exitCode: fields.exitCode,
        signal: fields.signal,
        stderrTail: fields.stderrTail,
      },
    });
    this.name = 'FfmpegError';
    this.exitCode = fields.exitCode;
    this.signal = fields.signal;
    this.stderrTail = fields.stderrTail;
  }
}

/**
 * The error for an ffmpeg binary that exists but cannot be executed or found when spawning
 * (`EACCES`, `ENOENT`). npm refuses to run @ffmpeg-installer's postinstall `chmod` in some setups, which
 * leaves its binary without the execute bit: that case gets its own hint.
 */
export const notRunnableError = (
  path: string,
  errnoCode: string | undefined,
  cause?: unknown,
): KvsPutError => {
  if (errnoCode === 'EACCES') {
    return new KvsPutError(
      ErrorCode.Capture,
      `cannot run ffmpeg at ${path}: permission denied (EACCES, not executable)`,
      {
        context: { path, code: errnoCode },
        suggestion: `make it executable (chmod +x ${path}; npm may have skipped @ffmpeg-installer's postinstall), or ${INSTALL_FFMPEG_HINT}`,
        cause,
      },
    );
  }
  return new KvsPutError(
    ErrorCode.Capture,
    `cannot run ffmpeg at ${path}: ${errnoCode === 'ENOENT' ? 'no such file' : (errnoCode ?? 'unknown error')}`,
    { context: { path, code: errnoCode }, suggestion: INSTALL_FFMPEG_HINT, cause },
  );
};
