import { statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { ErrorCode, KvsPutError } from '../errors.js';

/** Node's file-system errno codes, in words: the one home of what a failed open, read or mkdir says. */
const FILE_ERROR_REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a folder, not a file',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'it already exists',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  EMFILE: 'too many open files',
  EBUSY: 'it is busy',
  ENXIO: 'no such device',
  ENODEV: 'no such device',
};

/** The words for why a file cannot be opened, from its errno code. */
export const fileErrorReason = (code: string | undefined): string =>
  (code === undefined ? undefined : FILE_ERROR_REASONS[code]) ?? String(code);

const isExistingFile = (path: string | undefined): boolean => {
  try {
    return path !== undefined && !statSync(path).isDirectory();
  } catch {
    return false;
  }
};

/** What the user was doing, by the failed system call's name. */
const VERBS: Readonly<Record<string, string>> = {
  open: 'open',
  read: 'read',
  stat: 'open',
  lstat: 'open',
  scandir: 'read the folder',
  opendir: 'read the folder',
  mkdir: 'create',
  write: 'write',
  rename: 'write',
  unlink: 'remove',
};

/**
 * A file-system failure (an errno error from `node:fs`) as the Io error the CLI exits 7 with, naming the
 * path; undefined for any other error. `what` names the path as the user gave it (`--dump-dir out`); by
 * default, the error's own path.
 */
export const fileSystemError = (error: unknown, what?: string): KvsPutError | undefined => {
  if (error instanceof KvsPutError || !(error instanceof Error)) {
    return undefined;
  }
  const { code, path, syscall } = error as NodeJS.ErrnoException;
  if (
    code === undefined ||
    FILE_ERROR_REASONS[code] === undefined ||
    (path === undefined && what === undefined)
  ) {
    return undefined;
  }
  const subject = what ?? path ?? '';
  const message =
    code === 'ENOTDIR' && isExistingFile(path)
      ? // mkdir of an existing file (see makeDirectory), or a file given where a folder belongs.
        `${subject} is a file, not a folder`
      : `cannot ${VERBS[syscall ?? ''] ?? 'use'} ${subject}: ${fileErrorReason(code)}`;
  return new KvsPutError(ErrorCode.Io, message, { context: { path, code }, cause: error });
};

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
