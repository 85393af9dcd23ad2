/**
 * Node's errno errors as the Io error (exit 7) the user reads. Rows of the contract table cannot make most
 * of them as root (CI), so the errors here are the ones `node:fs` itself throws where it can, and errno
 * errors shaped as Node shapes them where it cannot.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, KvsPutError } from '../../src/errors.js';
import { exitCodeFor } from '../../src/exit-codes.js';
import { makeDirectory } from '../../src/util/make-directory.js';
import { fileErrorReason, fileSystemError } from '../../src/util/media-file.js';

const errno = (code: string, syscall: string, path: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });

const caught = async (work: Promise<unknown>): Promise<unknown> =>
  work.then(
    () => undefined,
    (error: unknown) => error,
  );

describe('fileSystemError', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-put-fs-error-'));
  const file = join(dir, 'clip.mkv');
  writeFileSync(file, 'x');

  it('maps every errno a user can cause to exit 7 with the path, in words', () => {
    const cases: [string, string, string][] = [
      ['EACCES', 'open', `cannot open ${file}: permission denied`],
      ['EPERM', 'open', `cannot open ${file}: operation not permitted`],
      ['EEXIST', 'mkdir', `cannot create ${file}: it already exists`],
      ['ELOOP', 'open', `cannot open ${file}: too many levels of symbolic links`],
      ['ENAMETOOLONG', 'open', `cannot open ${file}: the name is too long`],
      ['EROFS', 'mkdir', `cannot create ${file}: the file system is read-only`],
      ['ENOSPC', 'write', `cannot write ${file}: no space left on the device`],
      ['EACCES', 'scandir', `cannot read the folder ${file}: permission denied`],
    ];
    for (const [code, syscall, message] of cases) {
      const error = fileSystemError(errno(code, syscall, file));
      expect(error).toBeInstanceOf(KvsPutError);
      expect(error?.message).toBe(message);
      expect(exitCodeFor(error?.code ?? ErrorCode.Internal)).toBe(7);
    }
  });

  it('names the path as the user gave it', () => {
    expect(fileSystemError(errno('EACCES', 'mkdir', '/abs/out'), '--dump-dir out')?.message).toBe(
      'cannot create --dump-dir out: permission denied',
    );
  });

  it('says a file is not a folder: mkdir of a file, and a path through a file', async () => {
    expect(fileSystemError(await caught(makeDirectory(file)), '--dump-dir clip.mkv')?.message).toBe(
      '--dump-dir clip.mkv is a file, not a folder',
    );
    expect(fileSystemError(await caught(mkdir(join(file, 'x'))))?.message).toBe(
      `cannot create ${join(file, 'x')}: a part of the path is a file, not a folder`,
    );
  });

  it('says a folder is not a file (EISDIR)', async () => {
    const handle = await open(dir, 'r');
    const error = await caught(handle.readFile());
    await handle.close();
    // readFile on a folder's handle has no path: the caller names it.
    expect(fileSystemError(error, dir)?.message).toBe(`cannot read ${dir}: it is a folder, not a file`);
  });

  it('leaves other errors alone: they are not about files', () => {
    expect(fileSystemError(new Error('boom'))).toBeUndefined();
    expect(fileSystemError(errno('ECONNRESET', 'read', file))).toBeUndefined();
    expect(fileSystemError(new KvsPutError(ErrorCode.Io, 'already mapped'))).toBeUndefined();
    expect(fileErrorReason('EWHATEVER')).toBe('EWHATEVER');
  });
});
