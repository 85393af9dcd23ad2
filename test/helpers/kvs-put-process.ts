import { spawn } from 'node:child_process';
import { statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { expectEventRecord } from './event-schema.js';
import { REPO_ROOT } from './paths.js';

export type ProcessResult = {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
};

const newestMtime = (dir: string): number => {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
};

/**
 * Builds dist/ and the bundled CLI (bin/kvs-put.js runs dist/kvs-put.cjs) when missing or older than src/.
 * `npm test` builds first; this covers a direct vitest run.
 */
export const ensureBuilt = (): void => {
  const bin = join(REPO_ROOT, 'dist', 'kvs-put.cjs');
  let isStale = true;
  try {
    isStale = statSync(bin).mtimeMs < newestMtime(join(REPO_ROOT, 'src'));
  } catch {
    isStale = true;
  }
  if (isStale) {
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: 'ignore' });
    } catch {
      // tsc still emits on type errors elsewhere; the test itself will show what is wrong.
    }
    execFileSync(process.execPath, ['scripts/bundle-cli.mjs'], { cwd: REPO_ROOT, stdio: 'ignore' });
  }
};

/**
 * Runs the real `kvs-put` binary as a user would, with the given environment (nothing inherited but PATH
 * and HOME), and resolves with its exit code and output. `onStderr` sees stderr as it arrives.
 */
export const runKvsPut = (
  args: string[],
  options: {
    env?: Record<string, string>;
    stdin?: Buffer;
    timeoutMs?: number;
    onStderr?: (text: string, child: ReturnType<typeof spawn>) => void;
    onStdout?: (text: string, child: ReturnType<typeof spawn>) => void;
    /** Called once the child is spawned (to signal it on a timer, or close its pipes). */
    onSpawn?: (child: ReturnType<typeof spawn>) => void;
    cwd?: string;
  } = {},
): Promise<ProcessResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'kvs-put.js'), ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: process.env['HOME'] ?? '/tmp',
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
        AWS_EC2_METADATA_DISABLED: 'true',
        ...options.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      options.onStdout?.(chunk.toString(), child);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      options.onStderr?.(chunk.toString(), child);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.stdin);
    options.onSpawn?.(child);
  });

/** The environment that points kvs-put at a local KVS. */
export const localKvsEnv = (kvs: {
  url: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}): Record<string, string> => ({
  AWS_ENDPOINT_URL_KINESIS_VIDEO: kvs.url,
  AWS_REGION: kvs.region,
  AWS_ACCESS_KEY_ID: kvs.credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: kvs.credentials.secretAccessKey,
});

/**
 * NDJSON lines of a --json run, each checked against docs/events.schema.json: every test that reads
 * `--json` output checks the schema too.
 */
export const ndjson = (stdout: string): Record<string, unknown>[] =>
  stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      const record = JSON.parse(line) as Record<string, unknown>;
      expectEventRecord(record);
      return record;
    });
