import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { startLocalKvs } from '../../src/emulator/local-kvs.js';
import { runCli } from '../../src/cli/run-cli.js';
import { ExitCode } from '../../src/exit-codes.js';

const run = async (args: string[], env: Record<string, string | undefined>) => {
  let out = '';
  let err = '';
  const code = await runCli(args, {
    stdout: { write: (text: string | Uint8Array) => (out += String(text)) },
    stderr: { write: (text: string) => (err += text) },
    stdin: new PassThrough(),
    env,
    cwd: process.cwd(),
    signal: new AbortController().signal,
  });
  return { code, out, err };
};

type DoctorJson = { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] };

describe('kvs-put doctor: AWS checks against the local KVS', () => {
  it('resolves credentials from the standard chain, masks the key, and reaches the endpoint', async () => {
    await using kvs = await startLocalKvs();
    const env = {
      AWS_ACCESS_KEY_ID: kvs.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: kvs.credentials.secretAccessKey,
      AWS_REGION: kvs.region,
      AWS_ENDPOINT_URL_KINESIS_VIDEO: kvs.url,
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    };
    // The SDK reads its environment from process.env.
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const ok = await run(['doctor', '--json'], env);
      const report = JSON.parse(ok.out) as DoctorJson;
      const aws = report.checks.filter((check) => check.name.startsWith('aws:'));
      expect(aws.map((check) => [check.name, check.ok])).toEqual([
        ['aws: credentials', true],
        ['aws: region', true],
        ['aws: endpoint', true],
      ]);
      expect(aws[0]!.detail).toBe('access key AKID…SPUT');
      expect(ok.out).not.toContain(kvs.credentials.secretAccessKey);

      const missing = await run(['doctor', '--stream', 'nosuch'], env);
      expect(missing.code).toBe(ExitCode.StreamNotFound);
      expect(missing.out).toMatch(/FAIL {2}aws: endpoint {5}stream nosuch not found/);

      process.env['AWS_SECRET_ACCESS_KEY'] = 'wrong';
      const denied = await run(['doctor'], env);
      expect(denied.code).toBe(ExitCode.Credentials);
      expect(denied.out).toMatch(/FAIL {2}aws: endpoint .*InvalidSignatureException/);
    } finally {
      process.env = saved;
    }
  });
});
