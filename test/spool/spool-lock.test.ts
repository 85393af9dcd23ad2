import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { LOCK_FILE, acquireSpoolLock } from '../../src/spool/spool-lock.js';
import { ensureBuilt } from '../helpers/kvs-put-process.js';
import { REPO_ROOT } from '../helpers/paths.js';

// One test takes the lock in a child process, from the built module.
beforeAll(() => ensureBuilt());

const spoolDir = (): string => mkdtempSync(join(tmpdir(), 'kvs-spool-lock-'));

describe('the spool lock', () => {
  it('one holder at a time: a second is refused naming the first, and may take it once released', async () => {
    const dir = spoolDir();
    const lock = await acquireSpoolLock(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({
      pid: process.pid,
      host: hostname(),
    });
    await expect(acquireSpoolLock(dir)).rejects.toMatchObject({
      code: ErrorCode.Busy,
      message: `spool ${dir} is in use by process ${process.pid}`,
    });
    await lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    await (await acquireSpoolLock(dir)).release();
  });

  it('a lock left by a process killed with SIGKILL is taken over', async () => {
    const dir = spoolDir();
    const module = JSON.stringify(join(REPO_ROOT, 'dist', 'spool', 'spool-lock.js'));
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { acquireSpoolLock } = await import(${module});
         await acquireSpoolLock(${JSON.stringify(dir)});
         process.stdout.write('locked\\n');
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await expect(acquireSpoolLock(dir)).rejects.toMatchObject({ code: ErrorCode.Busy });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const lock = await acquireSpoolLock(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.release();
  });

  it('a lock from before a reboot is stale; one of another host is never broken', async () => {
    const dir = spoolDir();
    const path = join(dir, LOCK_FILE);
    writeFileSync(path, JSON.stringify({ pid: process.pid, host: hostname(), bootId: 'another-boot' }));
    await (await acquireSpoolLock(dir)).release();

    writeFileSync(path, JSON.stringify({ pid: 1, host: 'camera-box-2', bootId: '' }));
    await expect(acquireSpoolLock(dir)).rejects.toMatchObject({
      code: ErrorCode.Busy,
      message: `spool ${dir} is in use by process 1 on camera-box-2`,
    });
  });

  it('a lock file with no owner written yet is left alone for a while, then taken over', async () => {
    const dir = spoolDir();
    const path = join(dir, LOCK_FILE);
    writeFileSync(path, '');
    const writtenMs = Date.parse('2026-06-01T00:00:00Z');
    utimesSync(path, new Date(writtenMs), new Date(writtenMs));
    await expect(acquireSpoolLock(dir, { nowMs: writtenMs + 1000 })).rejects.toMatchObject({
      code: ErrorCode.Busy,
      message: `spool ${dir} is being locked by another process`,
    });
    await (await acquireSpoolLock(dir, { nowMs: writtenMs + 60_000 })).release();
  });

  it('release leaves alone a lock that is no longer its own', async () => {
    const dir = spoolDir();
    const lock = await acquireSpoolLock(dir);
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', bootId: '' }));
    await lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
  });
});
