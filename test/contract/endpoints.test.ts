import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contractTable } from './contract-table.js';
import type { RowContext } from './contract-table.js';
import { FIXTURES } from '../helpers/paths.js';

const CLIP = join(FIXTURES, 'h264.mkv');
const NO_SDK_TEXT = /TypeError|Invalid URL|EPROTO|wrong version number|CredentialsProviderError|WARNING/;

/** Shared config and credentials files holding one profile, `p1`, with the local KVS's keys. */
const profileFiles = ({ kvs }: RowContext): Record<string, string> => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-put-profile-'));
  writeFileSync(join(dir, 'config'), `[profile p1]\nregion = ${kvs.region}\n`);
  writeFileSync(
    join(dir, 'credentials'),
    `[p1]\naws_access_key_id = ${kvs.credentials.accessKeyId}\naws_secret_access_key = ${kvs.credentials.secretAccessKey}\n`,
  );
  return {
    AWS_CONFIG_FILE: join(dir, 'config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
  };
};

contractTable('endpoints, regions and credentials', [
  {
    name: 'an --endpoint-url that is not http(s) is refused before any call',
    args: ['--stream', 's', '--endpoint-url', 'ftp://x', '--file', CLIP],
    exit: 2,
    error: /^kvs-put: --endpoint-url takes an http:\/\/ or https:\/\/ URL, not "ftp:\/\/x"$/,
    notStderr: NO_SDK_TEXT,
  },
  {
    name: 'an --endpoint-url that is no URL is refused, even without a region',
    args: ['--stream', 's', '--endpoint-url', 'notaurl', '--file', CLIP],
    env: { AWS_REGION: '' },
    exit: 2,
    error: /--endpoint-url takes an http:\/\/ or https:\/\/ URL, not "notaurl"/,
    notStderr: NO_SDK_TEXT,
  },
  {
    name: 'a malformed AWS_ENDPOINT_URL_KINESIS_VIDEO is named',
    args: ['--stream', 's', '--file', CLIP],
    env: { AWS_ENDPOINT_URL_KINESIS_VIDEO: 'localhost:4567' },
    exit: 2,
    error: /AWS_ENDPOINT_URL_KINESIS_VIDEO takes an http:\/\/ or https:\/\/ URL, not "localhost:4567"/,
    notStderr: NO_SDK_TEXT,
  },
  {
    name: 'a malformed AWS_ENDPOINT_URL is named',
    args: ['--stream', 's', '--file', CLIP],
    env: { AWS_ENDPOINT_URL_KINESIS_VIDEO: '', AWS_ENDPOINT_URL: 'not a url' },
    exit: 2,
    error: /AWS_ENDPOINT_URL takes an http:\/\/ or https:\/\/ URL/,
  },
  {
    name: 'https:// to a plain-http local KVS says it speaks http',
    args: ({ kvs }) => [
      '--stream',
      's',
      '--endpoint-url',
      kvs.url.replace(/^http:/, 'https:'),
      '--file',
      CLIP,
    ],
    streams: { s: 1 },
    exit: 8,
    error: /the endpoint https:\/\/127\.0\.0\.1:\d+ speaks http, not https$/,
    hint: /use http:\/\/127\.0\.0\.1:\d+$/,
    notStderr: NO_SDK_TEXT,
    stored: { stream: 's', fragments: 0 },
  },
  {
    name: 'a refused endpoint on the first call is exit 8, not "after retries"',
    args: ['--stream', 's', '--endpoint-url', 'http://127.0.0.1:1', '--file', CLIP],
    exit: 8,
    error: /^kvs-put: DescribeStream: cannot reach http:\/\/127\.0\.0\.1:1: connection refused$/,
    hint: /--endpoint-url/,
    notStderr: /after retries|failed connection attempt/,
  },
  {
    name: 'a refused endpoint from the environment is exit 8 too',
    args: ['--stream', 's', '--file', CLIP],
    env: { AWS_ENDPOINT_URL_KINESIS_VIDEO: 'http://127.0.0.1:1' },
    exit: 8,
    error: /cannot reach http:\/\/127\.0\.0\.1:1: connection refused/,
  },
  {
    name: 'an endpoint that accepts and never answers times out: exit 8, no hang',
    args: ['--stream', 's', '--file', CLIP],
    kvsOptions: {
      faults: { controlPlane: [{ operations: ['DescribeStream'], times: 'always', delayMs: 120_000 }] },
    },
    exit: 8,
    error: /DescribeStream: cannot reach http:\/\/127\.0\.0\.1:\d+: no answer within 10 s$/,
    timeoutMs: 90_000,
  },
  {
    name: 'an endpoint that resets every first call is exit 8',
    args: ['--stream', 's', '--file', CLIP],
    kvsOptions: {
      faults: { controlPlane: [{ operations: ['DescribeStream'], times: 'always', resetConnection: true }] },
    },
    exit: 8,
    error: /DescribeStream: cannot reach http:\/\/127\.0\.0\.1:\d+: connection reset$/,
  },
  {
    name: 'a control plane that goes away mid-upload is retried, then exit 6',
    args: ['--stream', 'mid', '--file', CLIP, '--max-retries', '2', '--retry-delay', '10'],
    streams: { mid: 1 },
    kvsOptions: {
      faults: {
        putMedia: [{ refuse: { type: 'InternalFailure', statusCode: 500 }, times: 'always' }],
        controlPlane: [
          { operations: ['GetDataEndpoint'], skipCalls: 1, times: 'always', resetConnection: true },
        ],
      },
    },
    exit: 6,
    error:
      /upload failed after 3 failed connection attempts: GetDataEndpoint: cannot reach .*connection reset/,
    stored: { stream: 'mid', fragments: 0 },
  },
  {
    name: 'a region that is not shaped like one is refused before any call',
    args: ['--stream', 's', '--region', 'nowhere-1', '--file', CLIP],
    exit: 2,
    error: /^kvs-put: --region "nowhere-1" is not a region name$/,
    hint: /e\.g\. us-east-1/,
  },
  {
    name: 'a malformed AWS_REGION is named',
    args: ['--stream', 's', '--file', CLIP],
    env: { AWS_REGION: 'US East' },
    exit: 2,
    error: /AWS_REGION "US East" is not a region name/,
  },
  {
    name: 'a region-shaped name without an endpoint gets a region hint, not a credentials one',
    args: ['--stream', 's', '--region', 'xx-nowhere-9', '--file', CLIP],
    env: { AWS_ENDPOINT_URL_KINESIS_VIDEO: '' },
    exit: 8,
    error: /cannot reach https:\/\/kinesisvideo\.xx-nowhere-9\.amazonaws\.com/,
    hint: /is xx-nowhere-9 a region\? e\.g\. us-east-1/,
    notStderr: /AWS_ACCESS_KEY_ID|--profile/,
  },
  {
    name: 'a --profile that does not exist is named',
    args: ['--stream', 's', '--profile', 'nosuch', '--file', CLIP],
    exit: 4,
    error: /^kvs-put: AWS profile nosuch not found in \/dev\/null or \/dev\/null$/,
    notStderr: NO_SDK_TEXT,
  },
  {
    name: 'an AWS_PROFILE that does not exist is named as such',
    args: ['--stream', 's', '--file', CLIP],
    env: { AWS_PROFILE: 'gone', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' },
    exit: 4,
    error: /AWS profile gone \(AWS_PROFILE\) not found/,
    notStderr: NO_SDK_TEXT,
  },
  {
    name: 'no credentials at all: a sentence a person can act on',
    args: ['--stream', 's', '--file', CLIP],
    env: { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' },
    exit: 4,
    error:
      /^kvs-put: no AWS credentials found \(environment, ~\/\.aws files, SSO, instance or container role\)$/,
    hint: /set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give --profile NAME/,
    notStderr: NO_SDK_TEXT,
  },
  {
    name: 'a profile with keys also in the environment: one warning line, never the SDK block',
    args: ['--stream', 'prof', '--profile', 'p1', '--file', CLIP],
    env: profileFiles,
    streams: { prof: 1 },
    exit: 0,
    error: null,
    stderr:
      /^warning: AWS profile p1 is used: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment are ignored$/m,
    notStderr: /fromEnv WARNING|Multiple credential sources/,
    stored: { stream: 'prof', fragments: 3 },
  },
  {
    name: 'a wrong secret key is a credentials error',
    args: ['--stream', 's', '--file', CLIP],
    env: { AWS_SECRET_ACCESS_KEY: 'not-the-secret' },
    streams: { s: 1 },
    exit: 4,
    error: /DescribeStream: InvalidSignatureException/,
    hint: /AWS_SECRET_ACCESS_KEY/,
    stored: { stream: 's', fragments: 0 },
  },
  {
    name: 'a stale session token is a credentials error',
    args: ['--stream', 's', '--file', CLIP],
    kvsOptions: {
      credentials: { accessKeyId: 'AKIDSESSION', secretAccessKey: 'session-secret', sessionToken: 'current' },
    },
    env: { AWS_SESSION_TOKEN: 'expired-token' },
    exit: 4,
    error:
      /DescribeStream: UnrecognizedClientException: the service does not know this access key, or its session token$/,
    hint: /AWS_SESSION_TOKEN \(temporary credentials expire\)/,
  },
]);
