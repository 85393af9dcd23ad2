import { stat } from 'node:fs/promises';
import { ErrorCode, KvsPutError } from '../errors.js';

/** The words for why a file cannot be opened, from its errno code. */
export const fileErrorReason = (code: string | undefined): string =>
  code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code);

/**
 * Checks that `path` is a readable file before any byte is consumed: one clear error (exit code 7) when it
 * is missing, unreadable or a directory. `shownPath` is the path as the user gave it.
 */
export const checkMediaFile = async (path: string, shownPath: string): Promise<void> => {
  try {
    const info = await stat(path);
    if (info.isDirectory()) {
      throw new KvsPutError(ErrorCode.Io, `${shownPath} is a directory, not a media file`, {
        context: { path },
      });
    }
  } catch (error) {
    if (error instanceof KvsPutError) {
      throw error;
    }
    const code = (error as NodeJS.ErrnoException).code;
    throw new KvsPutError(ErrorCode.Io, `cannot open ${shownPath}: ${fileErrorReason(code)}`, {
      context: { path, code },
      cause: error,
    });
  }
};
