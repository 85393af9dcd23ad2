// `kvs-put local`: in-process through runCli with a fake io and an AbortController, and as a real process
// (bin/kvs-put.js from dist/) stopped by SIGINT.
import {
  CreateStreamCommand,
  DescribeStreamCommand,
  KinesisVideoClient,
  ListStreamsCommand,
} from '@aws-sdk/client-kinesis-video';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/cli-io.js';
import { runCli } from '../../src/cli/run-cli.js';
import type { LocalKvs } from '../../src/emulator/local-kvs.js';
import { LOCAL_KVS_CREDENTIALS } from '../../src/emulator/local-kvs.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { rejectionOf } from './emulator-test-helpers.js';
import { buildSession, openPutMedia, writeBody } from './put-media-helpers.js';

type FakeIo = CliIo & { out: () => string; err: () => string; abort: () => void };

const fakeIo = (env: Record<string, string | undefined> = {}): FakeIo => {
  const controller = new AbortController();
  let out = '';
  let err = '';
  return {
    stdout: {
      write: (text: string | Uint8Array) => {
        out += typeof text === 'string' ? text : Buffer.from(text).toString('utf8');
        return true;
      },
    },
    stderr: {
      write: (text: string) => {
        err += text;
        return true;
      },
    },
    stdin: new PassThrough(),
    env,
    cwd: REPO_ROOT,
    signal: controller.signal,
    out: () => out,
    err: () => err,
    abort: () => controller.abort(new Error('interrupted')),
  };
};

/** The exported variables `kvs-put local` printed. */
const exportsOf = (stdout: string): Record<string, string> =>
  Object.fromEntries(
    [...stdout.matchAll(/^export ([A-Z_]+)=(.*)$/gm)].map((match) => [match[1]!, match[2]!]),
  );

const waitFor = async (condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

/** Starts `kvs-put local ARGS` in-process; resolves once it printed its endpoint. */
const startInProcess = async (
  args: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<{ io: FakeIo; exit: Promise<number>; vars: Record<string, string> }> => {
  const io = fakeIo(env);
  const exit = runCli(['local', '--port', '0', ...args], io);
  let hasExited = false;
  void exit.then(() => {
    hasExited = true;
  });
  await waitFor(() => io.out().includes('AWS_ENDPOINT_URL_KINESIS_VIDEO=') || hasExited, 'the endpoint line');
  if (hasExited) {
    throw new Error(`kvs-put local exited early (${await exit}): ${io.err()}`);
  }
  return { io, exit, vars: exportsOf(io.out()) };
};

const clientFrom = (
  vars: Record<string, string>,
  credentials?: { accessKeyId: string; secretAccessKey: string },
): KinesisVideoClient =>
  new KinesisVideoClient({
    endpoint: vars['AWS_ENDPOINT_URL_KINESIS_VIDEO'],
    region: vars['AWS_REGION'],
    credentials: credentials ?? {
      accessKeyId: vars['AWS_ACCESS_KEY_ID']!,
      secretAccessKey: vars['AWS_SECRET_ACCESS_KEY']!,
    },
  });

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kvs-local-cmd-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('kvs-put local (in-process)', () => {
  it('prints the endpoint and environment, serves the SDK, logs each request on stderr, exits 0 on abort', async () => {
    const { io, exit, vars } = await startInProcess([]);
    expect(vars).toEqual({
      AWS_ENDPOINT_URL_KINESIS_VIDEO: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: LOCAL_KVS_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_KVS_CREDENTIALS.secretAccessKey,
    });
    expect(io.out()).toMatch(
      /^# kvs-put local: Kinesis Video Streams on http:\/\/127\.0\.0\.1:\d+ \(region us-east-1 by default, account 123456789012, SigV4 verified, in memory\)\n/,
    );

    const client = clientFrom(vars);
    await client.send(new CreateStreamCommand({ StreamName: 'from-cli' }));
    expect(
      (await client.send(new ListStreamsCommand({}))).StreamInfoList?.map((stream) => stream.StreamName),
    ).toEqual(['from-cli']);
    client.destroy();

    io.abort();
    expect(await exit).toBe(0);
    expect(io.err()).toMatch(/ POST \/createStream 200 CreateStream \d+ms req=/);
    expect(io.err()).toMatch(/ POST \/listStreams 200 ListStreams \d+ms req=/);
    expect(io.err().trimEnd().split('\n').at(-1)).toBe('kvs-put local: stopped');
  });

  it('accepts the key pair of its environment without echoing the secret', async () => {
    const env = { AWS_ACCESS_KEY_ID: 'AKIAENVKEY', AWS_SECRET_ACCESS_KEY: 'env-secret-value' };
    const { io, exit, vars } = await startInProcess([], env);
    expect(vars['AWS_ACCESS_KEY_ID']).toBeUndefined();
    expect(io.out()).not.toContain('env-secret-value');
    expect(io.out()).toContain(
      'AWS_ACCESS_KEY_ID (AKIAENVKEY) and AWS_SECRET_ACCESS_KEY: as already set in your environment',
    );
    const client = clientFrom(vars, { accessKeyId: 'AKIAENVKEY', secretAccessKey: 'env-secret-value' });
    expect((await client.send(new ListStreamsCommand({}))).StreamInfoList).toEqual([]);
    client.destroy();
    const local = clientFrom(vars, LOCAL_KVS_CREDENTIALS);
    expect((await rejectionOf(local.send(new ListStreamsCommand({})))).name).toBe(
      'UnrecognizedClientException',
    );
    local.destroy();
    io.abort();
    expect(await exit).toBe(0);
  });

  it('--access-key-id/--secret-access-key win over the environment; --region pins the region', async () => {
    const { io, exit, vars } = await startInProcess(
      ['--access-key-id', 'AKIDFLAG', '--secret-access-key', 'flag-secret', '--region', 'eu-west-1'],
      { AWS_ACCESS_KEY_ID: 'AKIAENVKEY', AWS_SECRET_ACCESS_KEY: 'env-secret-value' },
    );
    expect(vars).toMatchObject({
      AWS_ACCESS_KEY_ID: 'AKIDFLAG',
      AWS_SECRET_ACCESS_KEY: 'flag-secret',
      AWS_REGION: 'eu-west-1',
    });
    expect(io.out()).toContain('(region eu-west-1 only,');
    const client = clientFrom(vars);
    expect((await client.send(new CreateStreamCommand({ StreamName: 'w' }))).StreamARN).toContain(
      ':eu-west-1:',
    );
    client.destroy();
    const otherRegion = new KinesisVideoClient({
      endpoint: vars['AWS_ENDPOINT_URL_KINESIS_VIDEO'],
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDFLAG', secretAccessKey: 'flag-secret' },
    });
    const refused = await rejectionOf(otherRegion.send(new ListStreamsCommand({})));
    expect(refused).toMatchObject({
      name: 'InvalidSignatureException',
      message: 'Credential should be scoped to a valid region. ',
    });
    otherRegion.destroy();
    io.abort();
    expect(await exit).toBe(0);
  });

  it('--no-auth, --creating-delay-ms, --faults and --data-dir', async () => {
    const faults = join(dir, 'faults.json');
    await writeFile(
      faults,
      JSON.stringify({
        controlPlane: [{ operations: ['DescribeStream'], error: 'ClientLimitExceededException' }],
      }),
    );
    const dataDir = join(dir, 'data');
    const { io, exit, vars } = await startInProcess([
      '--no-auth',
      '--creating-delay-ms',
      '60000',
      '--faults',
      faults,
      '--data-dir',
      dataDir,
    ]);
    expect(io.out()).toContain(`NO authentication (--no-auth), data in ${dataDir})`);
    const response = await fetch(`${vars['AWS_ENDPOINT_URL_KINESIS_VIDEO']}/createStream`, {
      method: 'POST',
      body: '{"StreamName":"unsigned"}',
    });
    expect(response.status).toBe(200);
    const client = clientFrom(vars);
    expect((await rejectionOf(client.send(new DescribeStreamCommand({ StreamName: 'unsigned' })))).name).toBe(
      'ClientLimitExceededException',
    );
    expect(
      (await client.send(new DescribeStreamCommand({ StreamName: 'unsigned' }))).StreamInfo?.Status,
    ).toBe('CREATING');
    client.destroy();
    io.abort();
    expect(await exit).toBe(0);
    expect(await readdir(dataDir)).toEqual(['streams.json']);
  });

  it('--strict, --max-connection-duration-ms and --idle-timeout-ms reach the data plane', async () => {
    const { io, exit, vars } = await startInProcess([
      '--no-auth',
      '--strict',
      '--max-connection-duration-ms',
      '300',
      '--idle-timeout-ms',
      '60000',
    ]);
    expect(io.out()).toContain('NO authentication (--no-auth), in memory, strict limits)');
    const endpoint = vars['AWS_ENDPOINT_URL_KINESIS_VIDEO']!;
    await fetch(`${endpoint}/createStream`, {
      method: 'POST',
      body: '{"StreamName":"timed","DataRetentionInHours":1}',
    });
    const local = {
      url: endpoint,
      region: 'us-east-1',
      credentials: LOCAL_KVS_CREDENTIALS,
    } as unknown as LocalKvs;
    const call = await openPutMedia(local, { streamName: 'timed', isUnsigned: true });
    expect((await call.response).statusCode).toBe(200);
    const start = Date.now() - 60_000;
    await writeBody(call, buildSession([{ timecode: start }, { timecode: start + 400 }]).body, {
      isLeftOpen: true,
    });
    await call.closed;
    expect(call.acks.at(-1)).toMatchObject({ EventType: 'ERROR', ErrorId: 4003 });
    call.request.destroy();
    io.abort();
    expect(await exit).toBe(0);

    const badMs = fakeIo();
    expect(await runCli(['local', '--idle-timeout-ms', '0'], badMs)).toBe(2);
    expect(badMs.err()).toContain("option '--idle-timeout-ms <ms>' argument '0' is invalid");
  });

  it('usage errors exit 2; a port in use exits 7 with a hint', async () => {
    const halfPair = fakeIo();
    expect(await runCli(['local', '--access-key-id', 'AKID'], halfPair)).toBe(2);
    expect(halfPair.err()).toContain('kvs-put: --access-key-id and --secret-access-key go together');

    const badPort = fakeIo();
    expect(await runCli(['local', '--port', 'http'], badPort)).toBe(2);
    expect(badPort.err()).toContain(
      "option '--port <port>' argument 'http' is invalid. expected a TCP port from 0 to 65535",
    );

    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const busy = fakeIo();
      expect(await runCli(['local', '--port', String(port)], busy)).toBe(7);
      expect(busy.err()).toBe(
        `kvs-put: cannot listen on 127.0.0.1:${port}: address in use\n  hint: stop the process using that port, pick another with --port, or use --port 0 for any free port\n`,
      );
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});

// The real process needs the compiled CLI (`npm test` builds it first).
const BIN = join(REPO_ROOT, 'bin', 'kvs-put.js');
const COMPILED = join(REPO_ROOT, 'dist', 'kvs-put.cjs');
const compiledSkipReason = ((): string | undefined => {
  if (!existsSync(COMPILED)) {
    return 'dist/ has no bundled CLI (run `npm run build`)';
  }
  const sourceMs = Math.max(
    statSync(join(REPO_ROOT, 'src', 'cli', 'commands', 'local.ts')).mtimeMs,
    statSync(join(REPO_ROOT, 'src', 'emulator', 'local-kvs.ts')).mtimeMs,
  );
  return statSync(COMPILED).mtimeMs < sourceMs ? 'dist/ is older than src/ (run `npm run build`)' : undefined;
})();
if (compiledSkipReason !== undefined) {
  console.warn(`[skip] kvs-put local as a process: ${compiledSkipReason}`);
}

describe.skipIf(compiledSkipReason !== undefined)('kvs-put local (a real process)', () => {
  it('node bin/kvs-put.js local --port 0: serves the SDK, then SIGINT → exit 0', async () => {
    const child = spawn(process.execPath, [BIN, 'local', '--port', '0'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    try {
      await waitFor(
        () => stdout.includes('# Ctrl+C stops it.') || child.exitCode !== null,
        'the endpoint lines',
      );
      const vars = exportsOf(stdout);
      expect(vars['AWS_ACCESS_KEY_ID']).toBe(LOCAL_KVS_CREDENTIALS.accessKeyId);
      const client = clientFrom(vars);
      const { StreamARN } = await client.send(new CreateStreamCommand({ StreamName: 'spawned' }));
      expect(StreamARN).toMatch(/:stream\/spawned\/\d+$/);
      client.destroy();
      await waitFor(() => stderr.includes('/createStream 200'), 'the request log line');
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(stderr).toMatch(/kvs-put local: stopped\n$/);
  });
});
