/**
 * Creates a directory and its missing parents, visiting each level once. Node's own `recursive: true` loops
 * for ever where a parent exists but refuses children with ENOENT (`/proc`, some FUSE file systems): it
 * takes ENOENT to mean a missing parent, "creates" the parent (EEXIST) and tries again. Here a level that
 * still answers ENOENT once its parent exists fails with that error.
 */
import { mkdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

type MakeOptions = { mode?: number };

const codeOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code;

/** An EEXIST that is not a directory is ENOTDIR, as `mkdir -p` reports it. */
const notADirectory = (path: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${path}'`), { code: 'ENOTDIR', path });

export const makeDirectorySync = (path: string, options: MakeOptions = {}): void => {
  try {
    mkdirSync(path, options.mode === undefined ? {} : { mode: options.mode });
  } catch (error) {
    const code = codeOf(error);
    if (code === 'EEXIST') {
      if (!statSync(path).isDirectory()) {
        throw notADirectory(path);
      }
      return;
    }
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) {
      throw error;
    }
    makeDirectorySync(parent, options);
    // Once: a level that refuses children even with its parent in place fails here.
    mkdirSync(path, options.mode === undefined ? {} : { mode: options.mode });
  }
};

export const makeDirectory = async (path: string, options: MakeOptions = {}): Promise<void> => {
  try {
    await mkdir(path, options.mode === undefined ? {} : { mode: options.mode });
  } catch (error) {
    const code = codeOf(error);
    if (code === 'EEXIST') {
      if (!(await stat(path)).isDirectory()) {
        throw notADirectory(path);
      }
      return;
    }
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) {
      throw error;
    }
    await makeDirectory(parent, options);
    await mkdir(path, options.mode === undefined ? {} : { mode: options.mode });
  }
};
