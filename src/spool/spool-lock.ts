/**
 * One process per spool directory. The lock is a file created exclusively, naming its owner (pid, host and
 * the kernel's boot id); a lock whose owner is gone (killed, or a reboot since) is taken over, so a crash
 * never keeps the spool locked. A lock of another host (a spool on a shared file system) is never broken.
 */
import { readFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, KvsPutError } from '../errors.js';

export const LOCK_FILE = 'lock';
/** A lock file with no owner yet (its creator between create and write) is left alone this long. */
const UNWRITTEN_LOCK_GRACE_MS = 10_000;

type LockOwner = { pid: number; host: string; bootId: string };

/** Changes at every boot: a pid from before a reboot names no process of ours. */
const bootId = (): string => {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
};

const thisOwner = (): LockOwner => ({ pid: process.pid, host: hostname(), bootId: bootId() });

const parseOwner = (text: string): LockOwner | undefined => {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    return typeof value.pid === 'number' && typeof value.host === 'string'
      ? { pid: value.pid, host: value.host, bootId: typeof value.bootId === 'string' ? value.bootId : '' }
      : undefined;
  } catch {
    return undefined;
  }
};

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Whether the owner named in a lock can no longer hold it. */
const isStale = (owner: LockOwner | undefined, ageMs: number): boolean => {
  if (owner === undefined) {
    return ageMs > UNWRITTEN_LOCK_GRACE_MS;
  }
  const self = thisOwner();
  if (owner.host !== self.host) {
    return false;
  }
  return (owner.bootId !== '' && owner.bootId !== self.bootId) || !isRunning(owner.pid);
};

export type SpoolLock = {
  readonly dir: string;
  /** Removes the lock, if it is still this process's. */
  release: () => Promise<void>;
};

const busyError = (dir: string, owner: LockOwner | undefined): KvsPutError =>
  new KvsPutError(
    ErrorCode.Busy,
    owner === undefined
      ? `spool ${dir} is being locked by another process`
      : `spool ${dir} is in use by process ${owner.pid}${owner.host === hostname() ? '' : ` on ${owner.host}`}`,
    {
      context: { dir, ...(owner === undefined ? {} : { pid: owner.pid, host: owner.host }) },
      suggestion: 'one kvs-put per spool directory: stop that one, or give this one its own --spool-dir',
    },
  );

/** Takes the spool directory's lock, taking over one a dead process left; refuses one a live process holds. */
export const acquireSpoolLock = async (dir: string, options: { nowMs?: number } = {}): Promise<SpoolLock> => {
  const path = join(dir, LOCK_FILE);
  // Two tries: the second follows taking over a stale lock (another process may win that race).
  for (let attempt = 0; attempt < 2; attempt++) {
    let handle: FileHandle;
    try {
      handle = await open(path, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw error;
      }
      const [text, stats] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
      const owner = parseOwner(text);
      if (!isStale(owner, (options.nowMs ?? Date.now()) - stats.mtimeMs)) {
        throw busyError(dir, owner);
      }
      // Renamed first: of two processes taking over the same stale lock, one rename succeeds.
      const aside = `${path}.stale-${process.pid}`;
      try {
        await rename(path, aside);
        await unlink(aside);
      } catch (renameError) {
        if ((renameError as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw renameError;
        }
      }
      continue;
    }
    const owner = thisOwner();
    try {
      await handle.writeFile(JSON.stringify(owner));
      await handle.datasync();
    } finally {
      await handle.close();
    }
    return {
      dir,
      release: async () => {
        const current = parseOwner(await readFile(path, 'utf8').catch(() => ''));
        if (current?.pid === owner.pid && current.host === owner.host) {
          await unlink(path).catch(() => undefined);
        }
      },
    };
  }
  throw busyError(dir, undefined);
};
