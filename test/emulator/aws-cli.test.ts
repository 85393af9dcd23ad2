// The AWS CLI v2 (Debian's awscli, botocore inside) against the local KVS: a second, independent client with
// its own signer, serializers, paginator and error rendering.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalKvs } from '../../src/emulator/local-kvs.js';
import { startLocalKvs } from '../../src/emulator/local-kvs.js';
import { hasTool } from '../helpers/paths.js';

// /root/.pyenv/shims/aws may shadow the Debian package on PATH: call it by its path.
const AWS_CLI = '/usr/bin/aws';
const hasAwsCli = hasTool(AWS_CLI, ['--version']);

type CliResult = { exitCode: number; stdout: string; stderr: string };

let kvs: LocalKvs;
let home: string;

/** Runs `aws kinesisvideo …` with a clean environment: no config files, no pager, the given key pair. */
const aws = (
  args: readonly string[],
  secretAccessKey = kvs.credentials.secretAccessKey,
): Promise<CliResult> =>
  new Promise((resolve) => {
    execFile(
      AWS_CLI,
      ['kinesisvideo', ...args, '--endpoint-url', kvs.url, '--output', 'json'],
      {
        env: {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          HOME: home,
          AWS_CONFIG_FILE: '/dev/null',
          AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          AWS_ACCESS_KEY_ID: kvs.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: secretAccessKey,
          AWS_DEFAULT_REGION: kvs.region,
          AWS_PAGER: '',
        },
        timeout: 60_000,
      },
      (error, stdout, stderr) => {
        const exitCode = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ exitCode, stdout, stderr });
      },
    );
  });

const json = (result: CliResult): Record<string, unknown> => {
  expect(result.stderr).toBe('');
  expect(result.exitCode).toBe(0);
  // Operations with an empty output print nothing.
  return result.stdout === '' ? {} : (JSON.parse(result.stdout) as Record<string, unknown>);
};

describe.skipIf(!hasAwsCli)('the AWS CLI against the local KVS', () => {
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'kvs-aws-cli-home-'));
    kvs = await startLocalKvs();
  });

  afterAll(async () => {
    await kvs?.close();
    await rm(home, { recursive: true, force: true });
  });

  it('create-stream, describe-stream, get-data-endpoint', async () => {
    const created = json(
      await aws([
        'create-stream',
        '--stream-name',
        'cli-cam',
        '--data-retention-in-hours',
        '2',
        '--media-type',
        'video/h264',
      ]),
    );
    expect(created['StreamARN']).toMatch(
      /^arn:aws:kinesisvideo:us-east-1:123456789012:stream\/cli-cam\/\d{13}$/,
    );

    const described = json(await aws(['describe-stream', '--stream-name', 'cli-cam']))[
      'StreamInfo'
    ] as Record<string, unknown>;
    expect(described).toMatchObject({
      StreamName: 'cli-cam',
      StreamARN: created['StreamARN'],
      Status: 'ACTIVE',
      DataRetentionInHours: 2,
      MediaType: 'video/h264',
    });
    // botocore parsed the epoch number into a timestamp (it prints ISO 8601).
    expect(described['CreationTime']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00$/);

    const endpoint = json(
      await aws([
        'get-data-endpoint',
        '--stream-arn',
        String(created['StreamARN']),
        '--api-name',
        'GET_MEDIA',
      ]),
    );
    expect(endpoint).toEqual({ DataEndpoint: kvs.url });
  });

  it('list-streams follows NextToken pages (--page-size) and hands one out with --max-items', async () => {
    for (const name of ['page-a', 'page-b', 'page-c']) {
      json(await aws(['create-stream', '--stream-name', name]));
    }
    const all = json(
      await aws([
        'list-streams',
        '--page-size',
        '1',
        '--stream-name-condition',
        'ComparisonOperator=BEGINS_WITH,ComparisonValue=page-',
      ]),
    );
    expect((all['StreamInfoList'] as { StreamName: string }[]).map((stream) => stream.StreamName)).toEqual([
      'page-a',
      'page-b',
      'page-c',
    ]);
    const limited = json(
      await aws([
        'list-streams',
        '--max-items',
        '2',
        '--page-size',
        '1',
        '--stream-name-condition',
        'ComparisonOperator=BEGINS_WITH,ComparisonValue=page-',
      ]),
    );
    expect(limited['StreamInfoList']).toHaveLength(2);
    expect(limited['NextToken']).toEqual(expect.any(String));
  });

  it('tags, data retention, update and delete with versions', async () => {
    json(await aws(['create-stream', '--stream-name', 'cli-life']));
    const tagged = await aws(['tag-stream', '--stream-name', 'cli-life', '--tags', 'team=video,env=dev']);
    expect(tagged).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    expect(json(await aws(['list-tags-for-stream', '--stream-name', 'cli-life']))).toEqual({
      Tags: { team: 'video', env: 'dev' },
    });
    json(await aws(['untag-stream', '--stream-name', 'cli-life', '--tag-key-list', 'env']));
    expect(json(await aws(['list-tags-for-stream', '--stream-name', 'cli-life']))).toEqual({
      Tags: { team: 'video' },
    });

    let info = json(await aws(['describe-stream', '--stream-name', 'cli-life']))['StreamInfo'] as Record<
      string,
      string
    >;
    json(
      await aws([
        'update-data-retention',
        '--stream-name',
        'cli-life',
        '--current-version',
        info['Version']!,
        '--operation',
        'INCREASE_DATA_RETENTION',
        '--data-retention-change-in-hours',
        '48',
      ]),
    );
    info = json(await aws(['describe-stream', '--stream-name', 'cli-life']))['StreamInfo'] as Record<
      string,
      string
    >;
    expect(info['DataRetentionInHours']).toBe(48);

    const stale = await aws([
      'delete-stream',
      '--stream-arn',
      info['StreamARN']!,
      '--current-version',
      'stale0version',
    ]);
    expect(stale.exitCode).toBe(254);
    expect(stale.stderr.trim()).toMatch(
      /^An error occurred \(VersionMismatchException\) when calling the DeleteStream operation: /,
    );

    json(
      await aws(['delete-stream', '--stream-arn', info['StreamARN']!, '--current-version', info['Version']!]),
    );
    const gone = await aws(['describe-stream', '--stream-name', 'cli-life']);
    expect(gone.exitCode).toBe(254);
  });

  it('service errors exit 254 with the error type and message', async () => {
    const missing = await aws(['describe-stream', '--stream-name', 'no-such-stream']);
    expect(missing).toMatchObject({ exitCode: 254, stdout: '' });
    expect(missing.stderr.trim()).toBe(
      'An error occurred (ResourceNotFoundException) when calling the DescribeStream operation: The requested stream is not found or not active.',
    );

    json(await aws(['create-stream', '--stream-name', 'twice']));
    const duplicate = await aws(['create-stream', '--stream-name', 'twice']);
    expect(duplicate.exitCode).toBe(254);
    expect(duplicate.stderr.trim()).toBe(
      'An error occurred (ResourceInUseException) when calling the CreateStream operation: The stream twice already exists.',
    );

    // botocore does not check patterns or ranges: the local KVS does.
    const invalid = await aws([
      'create-stream',
      '--stream-name',
      'bad name!',
      '--data-retention-in-hours',
      '90000',
    ]);
    expect(invalid.exitCode).toBe(254);
    expect(invalid.stderr.trim()).toBe(
      "An error occurred (InvalidArgumentException) when calling the CreateStream operation: 2 validation errors detected: Value 'bad name!' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value '90000' at 'dataRetentionInHours' failed to satisfy constraint: Member must have value less than or equal to 87600",
    );
  });

  it('a wrong secret is refused with InvalidSignatureException', async () => {
    const refused = await aws(['list-streams'], 'not-the-secret');
    expect(refused.exitCode).toBe(254);
    expect(refused.stderr.trim()).toBe(
      'An error occurred (InvalidSignatureException) when calling the ListStreams operation: The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    );
  });
});
