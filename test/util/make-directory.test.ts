import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDirectory, makeDirectorySync } from '../../src/util/make-directory.js';

const root = mkdtempSync(join(tmpdir(), 'kvs-put-mkdir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// /proc refuses new entries with ENOENT although it exists: Node's `recursive: true` spins on it for ever.
const hasProc = existsSync('/proc/self');

describe('makeDirectory', () => {
  it('creates missing parents, and accepts a directory that exists', async () => {
    makeDirectorySync(join(root, 'a', 'b', 'c'), { mode: 0o700 });
    expect(statSync(join(root, 'a', 'b', 'c')).isDirectory()).toBe(true);
    makeDirectorySync(join(root, 'a', 'b'));
    await makeDirectory(join(root, 'd', 'e'));
    await makeDirectory(join(root, 'd'));
    expect(statSync(join(root, 'd', 'e')).isDirectory()).toBe(true);
  });

  it('a file in the way is ENOTDIR, sync and async', async () => {
    writeFileSync(join(root, 'file'), '');
    expect(() => makeDirectorySync(join(root, 'file'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
    await expect(makeDirectory(join(root, 'file', 'x'))).rejects.toMatchObject({ code: 'ENOTDIR' });
  });

  it.skipIf(!hasProc)(
    'a parent that refuses children fails at once with ENOENT instead of looping',
    async () => {
      expect(() => makeDirectorySync('/proc/kvs-put-nope/x')).toThrow(
        expect.objectContaining({ code: 'ENOENT' }),
      );
      await expect(makeDirectory('/proc/kvs-put-nope')).rejects.toMatchObject({ code: 'ENOENT' });
    },
  );
});
