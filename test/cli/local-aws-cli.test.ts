// What `kvs-put local` prints must work as pasted into a shell with the AWS CLI as Debian ships it (2.9,
// which ignores AWS_ENDPOINT_URL_KINESIS_VIDEO), for the control plane and the media commands alike.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runKvsPut } from '../helpers/kvs-put-process.js';
import { FIXTURES, REPO_ROOT, hasTool } from '../helpers/paths.js';

// /root/.pyenv/shims/aws may shadow the Debian package on PATH: put Debian's first.
const AWS_CLI = '/usr/bin/aws';
const hasAwsCli = hasTool(AWS_CLI, ['--version']);

const exportsOf = (text: string): Record<string, string> =>
  Object.fromEntries(
    [...text.matchAll(/^export ([A-Z_]+)=(.*)$/gm)].map((match) => [match[1] ?? '', match[2] ?? '']),
  );

beforeAll(() => {
  ensureBuilt();
});

describe.skipIf(!hasAwsCli)('kvs-put local: the printed commands, pasted', () => {
  it('the exports and every aws line run as a shell script against the running local KVS', async () => {
    const home = mkdtempSync(join(tmpdir(), 'kvs-local-paste-'));
    const bin = join(home, 'bin');
    spawnSync('mkdir', [bin]);
    symlinkSync(AWS_CLI, join(bin, 'aws'));
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'kvs-put.js'), 'local', '--port', '0'], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let banner = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (text: string) => {
          banner += text;
          if (banner.includes('# Ctrl+C stops it.')) {
            resolve();
          }
        });
        child.on('exit', () => reject(new Error(`kvs-put local exited: ${banner}`)));
      });
      const vars = exportsOf(banner);
      const upload = await runKvsPut(
        ['--stream', 'demo', '--create', '--retention-hours', '24', '--file', join(FIXTURES, 'h264.mkv')],
        { env: vars },
      );
      expect(upload.code, upload.stderr).toBe(0);

      // The whole banner as a script: comments are comments, exports set the shell up, each aws line runs.
      const pasted = spawnSync('bash', ['-e', '-c', banner], {
        cwd: home,
        env: {
          PATH: `${bin}:/usr/bin:/bin`,
          HOME: home,
          AWS_CONFIG_FILE: '/dev/null',
          AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          AWS_PAGER: '',
        },
        encoding: 'utf8',
        timeout: 90_000,
      });
      expect(pasted.status, pasted.stderr).toBe(0);
      expect(banner).toMatch(/^aws kinesis-video-media get-media /m);
      expect(banner).toMatch(/^aws kinesis-video-archived-media list-fragments /m);
      const listed = pasted.stdout.match(/"FragmentNumber"/g) ?? [];
      expect(listed).toHaveLength(3);
      expect(statSync(join(home, 'demo.mkv')).size).toBeGreaterThan(100_000);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });
});
