/**
 * kvs-put's per-user cache directory ($XDG_CACHE_HOME/kvs-put, else ~/.cache/kvs-put): V8's code cache of
 * the CLI bundle, and what an ffmpeg binary answered about itself. What is kept there is trusted on the next
 * run (code V8 runs, facts about a binary), so it lives where only this user writes (directory 0700, files
 * 0600), never in a shared temporary directory. Losing it only costs the time it saves.
 */
import { renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirectorySync } from './make-directory.js';

type Environment = Readonly<Record<string, string | undefined>>;

/** The cache directory, or undefined when there is no home directory to put it in. */
export const userCacheDirectory = (env: Environment): string | undefined => {
  const base =
    nonEmpty(env['XDG_CACHE_HOME']) ?? mapDefined(nonEmpty(env['HOME']), (home) => join(home, '.cache'));
  return mapDefined(base, (path) => join(path, 'kvs-put'));
};

/** Creates the directory for this user only; false when that is impossible or it is not this user's. */
export const ensurePrivateDirectory = (directory: string): boolean => {
  try {
    makeDirectorySync(directory, { mode: 0o700 });
    const stats = statSync(directory);
    const uid = process.getuid?.();
    return stats.isDirectory() && (uid === undefined || stats.uid === uid) && (stats.mode & 0o022) === 0;
  } catch {
    return false;
  }
};

/**
 * Writes a cache file whole, then renames it into place: a run starting meanwhile reads the old file or the
 * new one, never half. Throws what the file system throws.
 */
export const writeCacheFile = (path: string, data: string | Uint8Array): void => {
  const partial = `${path}.${process.pid}.tmp`;
  writeFileSync(partial, data, { mode: 0o600 });
  renameSync(partial, path);
};

const nonEmpty = (value: string | undefined): string | undefined =>
  value === undefined || value === '' ? undefined : value;

const mapDefined = <T, U>(value: T | undefined, map: (value: T) => U): U | undefined =>
  value === undefined ? undefined : map(value);
