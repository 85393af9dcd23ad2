// Fault plans on control-plane calls, seen through the real SDK's retry behaviour.
import {
  ClientLimitExceededException,
  DescribeStreamCommand,
  KinesisVideoServiceException,
  ListStreamsCommand,
} from '@aws-sdk/client-kinesis-video';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, KvsPutError } from '../../src/errors.js';
import { CONTROL_PLANE_OPERATIONS } from '../../src/emulator/control-plane.js';
import type { FaultPlan } from '../../src/emulator/fault-plan.js';
import { FaultInjector } from '../../src/emulator/fault-injector.js';
import { parseFaultPlan } from '../../src/emulator/fault-plan.js';
import type { LocalKvs, LocalKvsOptions } from '../../src/emulator/local-kvs.js';
import { startLocalKvs } from '../../src/emulator/local-kvs.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { rejectionOf, sdkClient, startTestKvs } from './emulator-test-helpers.js';
import { eventually } from './put-media-helpers.js';

let kvs: (LocalKvs & { logLines: string[] }) | undefined;

afterEach(async () => {
  await kvs?.close();
  kvs = undefined;
});

const startWith = async (
  faults: FaultPlan | string,
  options: LocalKvsOptions = {},
): Promise<LocalKvs & { logLines: string[] }> => {
  kvs = await startTestKvs({ faults, ...options });
  return kvs;
};

describe('control-plane faults through the SDK', () => {
  it('ClientLimitExceededException is not retried by the SDK: each scripted call fails once', async () => {
    const local = await startWith({
      controlPlane: [{ operations: ['ListStreams'], times: 2, error: 'ClientLimitExceededException' }],
    });
    const client = sdkClient(local);
    for (let call = 0; call < 2; call++) {
      const error = await rejectionOf(client.send(new ListStreamsCommand({})));
      expect(error).toBeInstanceOf(ClientLimitExceededException);
      expect(error.$metadata?.attempts).toBe(1);
      expect(error.$metadata?.httpStatusCode).toBe(400);
    }
    expect((await client.send(new ListStreamsCommand({}))).StreamInfoList).toEqual([]);
    client.destroy();
    expect(local.faults.state()).toEqual([
      { section: 'controlPlane', ruleIndex: 0, matchedCalls: 3, firedCalls: 2 },
    ]);
  });

  it('a 500 InternalFailure is retried: two faults, success on the third attempt', async () => {
    const local = await startWith({
      controlPlane: [{ operations: '*', times: 2, error: 'InternalFailure' }],
    });
    const client = sdkClient(local);
    const output = await client.send(new ListStreamsCommand({}));
    expect(output.$metadata.attempts).toBe(3);
    expect(local.logLines.filter((line) => line.includes(' 500 ListStreams '))).toHaveLength(2);
    client.destroy();
  });

  it('an unending 503 exhausts the SDK retries with a server fault; skipCalls lets calls through first', async () => {
    const local = await startWith({
      controlPlane: [
        {
          operations: ['DescribeStream'],
          skipCalls: 1,
          times: 'always',
          error: { type: 'ServiceUnavailable', message: 'down for tests' },
        },
      ],
    });
    const client = sdkClient(local);
    expect(await rejectionOf(client.send(new DescribeStreamCommand({ StreamName: 'x' })))).toMatchObject({
      name: 'ResourceNotFoundException',
    });
    const error = await rejectionOf(client.send(new DescribeStreamCommand({ StreamName: 'x' })));
    expect(error).toBeInstanceOf(KinesisVideoServiceException);
    expect(error).toMatchObject({ name: 'ServiceUnavailable', message: 'down for tests', $fault: 'server' });
    expect(error.$metadata).toMatchObject({ httpStatusCode: 503, attempts: 3 });
    // Other operations are untouched.
    expect((await client.send(new ListStreamsCommand({}))).$metadata.attempts).toBe(1);
    client.destroy();
  });

  it('custom error types need a status; ThrottlingException is retried by the SDK', async () => {
    const local = await startWith({
      controlPlane: [
        { operations: ['ListStreams'], error: 'ThrottlingException' },
        { operations: ['DescribeStream'], error: { type: 'KmsOutageException', statusCode: 502 } },
      ],
    });
    const client = sdkClient(local);
    expect((await client.send(new ListStreamsCommand({}))).$metadata.attempts).toBe(2);
    const error = await rejectionOf(client.send(new DescribeStreamCommand({ StreamName: 'x' }), {}));
    // 502 is retried; the second attempt reaches the real operation.
    expect(error.name).toBe('ResourceNotFoundException');
    expect(error.$metadata?.attempts).toBe(2);
    client.destroy();
  });

  it('resetConnection drops the socket (the SDK retries it); delayMs slows the answer', async () => {
    const clock = new FakeClock(Date.now());
    const local = await startWith(
      {
        controlPlane: [
          { operations: ['ListStreams'], resetConnection: true },
          { operations: ['DescribeStream'], delayMs: 300, times: 1 },
        ],
      },
      { clock },
    );
    const client = sdkClient(local);
    expect((await client.send(new ListStreamsCommand({}))).$metadata.attempts).toBe(2);
    expect(
      local.logLines.some((line) => line.includes(' reset ListStreams ') && line.includes('fault#0')),
    ).toBe(true);
    let isAnswered = false;
    const answer = rejectionOf(client.send(new DescribeStreamCommand({ StreamName: 'x' }))).finally(() => {
      isAnswered = true;
    });
    // The call has reached the server and its fault fired: 1 ms short of the delay it is still unanswered.
    await eventually(() => local.faults.state()[1]?.firedCalls === 1);
    await clock.advance(299);
    expect(isAnswered).toBe(false);
    await clock.advance(1);
    expect(await answer).toMatchObject({ name: 'ResourceNotFoundException' });
    client.destroy();

    const noRetry = sdkClient(local, { maxAttempts: 1 });
    local.faults.replace({ controlPlane: [{ operations: ['ListStreams'], resetConnection: true }] });
    const error = await rejectionOf(noRetry.send(new ListStreamsCommand({})));
    expect(error).not.toBeInstanceOf(KinesisVideoServiceException);
    noRetry.destroy();
  });
});

describe('the loopback admin endpoint', () => {
  it('GET shows the plan and counters; POST replaces it (counters reset); bad plans are refused with every issue', async () => {
    const local = await startWith({});
    const admin = new URL('/_admin/faults', local.url);
    expect(await (await fetch(admin)).json()).toEqual({ plan: {}, rules: [] });

    const plan = { controlPlane: [{ operations: ['ListStreams'], error: 'ClientLimitExceededException' }] };
    const posted = await fetch(admin, { method: 'POST', body: JSON.stringify(plan) });
    expect(posted.status).toBe(200);
    expect(await posted.json()).toEqual({
      plan,
      rules: [{ section: 'controlPlane', ruleIndex: 0, matchedCalls: 0, firedCalls: 0 }],
    });

    const client = sdkClient(local);
    expect(await rejectionOf(client.send(new ListStreamsCommand({})))).toBeInstanceOf(
      ClientLimitExceededException,
    );
    client.destroy();
    expect(((await (await fetch(admin)).json()) as { rules: unknown[] }).rules).toEqual([
      { section: 'controlPlane', ruleIndex: 0, matchedCalls: 1, firedCalls: 1 },
    ]);

    const bad = await fetch(admin, {
      method: 'POST',
      body: JSON.stringify({ controlPlane: [{ operations: ['DescribeStreams'], times: 0 }], getMedia: [] }),
    });
    expect(bad.status).toBe(400);
    const { Message } = (await bad.json()) as { Message: string };
    expect(Message).toContain('unknown section "getMedia" (known: controlPlane, putMedia)');
    expect(Message).toContain('names unknown operation "DescribeStreams"');
    expect(Message).toContain('controlPlane[0].times must be an integer ≥ 1');
    expect(Message).toContain('does nothing');

    const health = await fetch(new URL('/__health', local.url));
    expect(await health.json()).toEqual({ status: 'ok' });
  });
});

describe('fault plan files and parsing', () => {
  it('loads a plan from a JSON file; reports unreadable and invalid files as KvsPutErrors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kvs-faults-'));
    try {
      const good = join(dir, 'good.json');
      await writeFile(
        good,
        JSON.stringify({ controlPlane: [{ operations: ['ListStreams'], error: 'AccessDeniedException' }] }),
      );
      const local = await startWith(good);
      const client = sdkClient(local);
      expect((await rejectionOf(client.send(new ListStreamsCommand({})))).name).toBe('AccessDeniedException');
      client.destroy();

      const missing = await rejectionOf(startLocalKvs({ faults: join(dir, 'missing.json') }));
      expect(missing).toBeInstanceOf(KvsPutError);
      expect(missing).toMatchObject({ code: ErrorCode.Io });
      expect(missing.message).toBe(`cannot read the fault plan ${join(dir, 'missing.json')}: no such file`);

      const invalid = join(dir, 'invalid.json');
      await writeFile(invalid, '{ "controlPlane": [ { "operations": "*", "error": "Nope" } ');
      const notJson = await rejectionOf(startLocalKvs({ faults: invalid }));
      expect(notJson).toMatchObject({ code: ErrorCode.Config });
      expect(notJson.message).toMatch(/^invalid fault plan .*invalid\.json: not valid JSON/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('parseFaultPlan checks every rule', () => {
    const parse = (value: unknown): FaultPlan =>
      parseFaultPlan(value, { source: 'test', knownOperations: CONTROL_PLANE_OPERATIONS });
    expect(parse({})).toEqual({});
    expect(() => parse([])).toThrow('invalid fault plan test: the plan must be a JSON object');
    expect(() => parse({ controlPlane: [{ operations: '*', error: 'Nope' }] })).toThrow(
      '"Nope" is not a known error type',
    );
    expect(() => parse({ controlPlane: [{ operations: '*', error: { type: 'Custom' } }] })).toThrow(
      'controlPlane[0].error.statusCode is required for the unknown error type "Custom"',
    );
    expect(() => parse({ controlPlane: [{ operations: [], delayMs: -1, retries: 3 }] })).toThrow(
      /operations must be "\*" or a non-empty list.*delayMs must be an integer ≥ 0.*unknown key "retries"|unknown key "retries".*operations must be/,
    );
  });

  it('FaultInjector: the first firing rule wins, every matching rule counts the call', () => {
    const injector = new FaultInjector({
      controlPlane: [
        { operations: ['ListStreams'], skipCalls: 1, error: 'ThrottlingException' },
        { operations: '*', times: 2, delayMs: 5 },
      ],
    });
    expect(injector.nextControlPlaneFault('ListStreams')).toMatchObject({
      ruleIndex: 1,
      delayMs: 5,
      error: undefined,
    });
    expect(injector.nextControlPlaneFault('ListStreams')).toMatchObject({
      ruleIndex: 0,
      error: { type: 'ThrottlingException', statusCode: 400 },
    });
    expect(injector.nextControlPlaneFault('ListStreams')).toMatchObject({ ruleIndex: 1 });
    expect(injector.nextControlPlaneFault('ListStreams')).toBeUndefined();
    expect(injector.state()).toEqual([
      { section: 'controlPlane', ruleIndex: 0, matchedCalls: 4, firedCalls: 1 },
      { section: 'controlPlane', ruleIndex: 1, matchedCalls: 4, firedCalls: 2 },
    ]);
  });
});
