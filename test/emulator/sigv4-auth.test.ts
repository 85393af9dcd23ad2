// SigV4 verification: the official test-suite vector, then real clients (the SDK, @smithy/signature-v4's
// header and presigned forms) against the running local KVS, with the service's 403 error types and texts.
import {
  CreateStreamCommand,
  KinesisVideoServiceException,
  ListStreamsCommand,
} from '@aws-sdk/client-kinesis-video';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LocalKvs } from '../../src/emulator/local-kvs.js';
import { toAmzDate } from '../../src/emulator/sigv4-signature.js';
import { EMPTY_PAYLOAD_SHA256, sha256Hex, verifySigV4 } from '../../src/emulator/sigv4-verify.js';
import type { TestClock } from './emulator-test-helpers.js';
import {
  rejectionOf,
  sdkClient,
  signedPost,
  signerFor,
  startTestKvs,
  testClock,
  unsignedPost,
} from './emulator-test-helpers.js';

const MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
const TEN_MINUTES_MS = 10 * 60_000;

describe('verifySigV4 against the AWS SigV4 test suite', () => {
  // aws-sig-v4-test-suite "get-vanilla": AKIDEXAMPLE, 20150830T123600Z, us-east-1, service "service".
  const suiteCredentials = {
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  };
  const suiteNowMs = Date.UTC(2015, 7, 30, 12, 36, 0);
  const verify = (signature: string, nowMs = suiteNowMs): ReturnType<typeof verifySigV4> =>
    verifySigV4(
      {
        method: 'GET',
        rawUrl: '/',
        rawHeaders: [
          'Host',
          'example.amazonaws.com',
          'X-Amz-Date',
          '20150830T123600Z',
          'Authorization',
          `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${signature}`,
        ],
        body: { kind: 'buffered', sha256Hex: EMPTY_PAYLOAD_SHA256 },
      },
      {
        findCredentials: (id) => (id === 'AKIDEXAMPLE' ? suiteCredentials : undefined),
        nowMs,
        service: 'service',
      },
    );

  it('accepts the suite signature and names the signer', () => {
    expect(verify('5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31')).toEqual({
      accessKeyId: 'AKIDEXAMPLE',
      region: 'us-east-1',
      service: 'service',
      signedAtMs: suiteNowMs,
      form: 'header',
    });
  });

  it('refuses a signature one hex digit off, and the right one outside the 5-minute window', () => {
    expect(() => verify('5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf30')).toThrow(
      MISMATCH,
    );
    expect(() =>
      verify(
        '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
        suiteNowMs + 5 * 60_000 + 1000,
      ),
    ).toThrow(
      'Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T124101Z - 5 min.)',
    );
  });

  it('applies the PutMedia payload rule: a streamed body is signed with the empty-string hash (no x-amz-content-sha256)', async () => {
    // The official C producers' form: empty-payload hash, no x-amz-content-sha256 header (applyChecksum off).
    const signer = new SignatureV4({
      service: 'kinesisvideo',
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDLOCALKVSPUT', secretAccessKey: 'secret' },
      sha256: Hash.bind(null, 'sha256'),
      applyChecksum: false,
    });
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 4567,
      path: '/putMedia',
      query: {},
      headers: { host: '127.0.0.1:4567', 'x-amzn-stream-name': 'cam', 'transfer-encoding': 'chunked' },
    });
    expect(Object.keys(signed.headers).map((name) => name.toLowerCase())).not.toContain(
      'x-amz-content-sha256',
    );
    const rawHeaders = Object.entries(signed.headers).flat();
    const options = {
      findCredentials: () => ({ accessKeyId: 'AKIDLOCALKVSPUT', secretAccessKey: 'secret' }),
      nowMs: Date.now(),
    };
    expect(
      verifySigV4({ method: 'POST', rawUrl: '/putMedia', rawHeaders, body: { kind: 'streamed' } }, options)
        .form,
    ).toBe('header');
    // The same signature over a body the server has read (and hashed) does not verify.
    expect(() =>
      verifySigV4(
        {
          method: 'POST',
          rawUrl: '/putMedia',
          rawHeaders,
          body: { kind: 'buffered', sha256Hex: sha256Hex('mkv bytes') },
        },
        options,
      ),
    ).toThrow(MISMATCH);
  });
});

describe('SigV4 on the local KVS', () => {
  let kvs: LocalKvs & { logLines: string[] };
  let clock: TestClock;

  beforeEach(async () => {
    clock = testClock(Math.floor(Date.now() / 1000) * 1000);
    kvs = await startTestKvs({ clock });
  });

  afterEach(async () => {
    await kvs.close();
  });

  it('accepts the SDK signing with the configured pair', async () => {
    const client = sdkClient(kvs);
    const output = await client.send(new ListStreamsCommand({}));
    expect(output.StreamInfoList).toEqual([]);
    client.destroy();
  });

  it('wrong secret → 403 InvalidSignatureException, as the SDK names it, not retried', async () => {
    const client = sdkClient(kvs, {
      credentials: { accessKeyId: kvs.credentials.accessKeyId, secretAccessKey: 'wrong' },
    });
    const error = await rejectionOf(client.send(new ListStreamsCommand({})));
    client.destroy();
    expect(error).toBeInstanceOf(KinesisVideoServiceException);
    expect(error.name).toBe('InvalidSignatureException');
    expect(error.message).toBe(MISMATCH);
    expect(error.$metadata?.httpStatusCode).toBe(403);
    expect(error.$metadata?.attempts).toBe(1);
    expect(error.$fault).toBe('client');
  });

  it('unknown access key → 403 UnrecognizedClientException', async () => {
    const client = sdkClient(kvs, {
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: kvs.credentials.secretAccessKey },
    });
    const error = await rejectionOf(client.send(new ListStreamsCommand({})));
    client.destroy();
    expect(error.name).toBe('UnrecognizedClientException');
    expect(error.message).toBe('The security token included in the request is invalid.');
    expect(error.$metadata?.httpStatusCode).toBe(403);
  });

  it('the wire form of an auth error: 403, x-amzn-ErrorType, lowercase message, request id', async () => {
    const response = await signedPost(
      kvs,
      '/listStreams',
      {},
      { signer: signerFor(kvs, { secretAccessKey: 'wrong' }) },
    );
    expect(response.status).toBe(403);
    expect(response.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException');
    expect(response.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.body).toEqual({ message: MISMATCH });
  });

  it('a body altered after signing does not verify, even with its x-amz-content-sha256 header kept', async () => {
    const signer = signerFor(kvs);
    const url = new URL('/createStream', kvs.url);
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: {},
      headers: {
        host: url.host,
        'content-type': 'application/json',
        'x-amz-content-sha256': sha256Hex('{"StreamName":"a"}'),
      },
      body: '{"StreamName":"a"}',
    });
    const headers = { ...signed.headers };
    delete headers['host'];
    const response = await fetch(url, { method: 'POST', headers, body: '{"StreamName":"b"}' });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ message: MISMATCH });
  });

  it('missing authentication → 403 MissingAuthenticationTokenException', async () => {
    const response = await unsignedPost(kvs, '/listStreams', '{}');
    expect(response.status).toBe(403);
    expect(response.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
    expect(JSON.parse(response.text)).toEqual({ message: 'Missing Authentication Token' });
  });

  it('an incomplete Authorization header → 400 IncompleteSignatureException', async () => {
    const response = await unsignedPost(kvs, '/listStreams', '{}', {
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKIDLOCALKVSPUT/20261125/us-east-1/kinesisvideo/aws4_request, SignedHeaders=host',
      'x-amz-date': toAmzDate(clock.now()),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('x-amzn-errortype')).toBe('IncompleteSignatureException');
    expect(JSON.parse(response.text).message).toMatch(
      /^Authorization header requires 'Signature' parameter\./,
    );
  });

  it('a credential scoped to another service → 403 "Credential should be scoped to correct service: \'kinesisvideo\'."', async () => {
    const response = await signedPost(
      kvs,
      '/listStreams',
      {},
      { signer: signerFor(kvs, { service: 'kinesis' }) },
    );
    expect(response.status).toBe(403);
    expect(response.body).toEqual({
      message: "Credential should be scoped to correct service: 'kinesisvideo'. ",
    });
  });

  it('a pinned region refuses other regions; an unpinned one accepts them', async () => {
    const accepted = await signedPost(
      kvs,
      '/listStreams',
      {},
      { signer: signerFor(kvs, { region: 'ap-southeast-2' }) },
    );
    expect(accepted.status).toBe(200);
    await kvs.close();
    kvs = await startTestKvs({ clock, region: 'eu-central-1', isRegionPinned: true });
    const refused = await signedPost(
      kvs,
      '/listStreams',
      {},
      { signer: signerFor(kvs, { region: 'us-east-1' }) },
    );
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({ message: 'Credential should be scoped to a valid region. ' });
    expect((await signedPost(kvs, '/listStreams', {})).status).toBe(200);
  });

  it('a clock 10 minutes behind → 403 "Signature expired", 10 minutes ahead → "Signature not yet current"', async () => {
    const nowMs = clock.now();
    const behind = await signedPost(
      kvs,
      '/listStreams',
      {},
      { signingDate: new Date(nowMs - TEN_MINUTES_MS) },
    );
    expect(behind.status).toBe(403);
    expect(behind.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException');
    expect(behind.body).toEqual({
      message: `Signature expired: ${toAmzDate(nowMs - TEN_MINUTES_MS)} is now earlier than ${toAmzDate(nowMs - 5 * 60_000)} (${toAmzDate(nowMs)} - 5 min.)`,
    });
    const ahead = await signedPost(
      kvs,
      '/listStreams',
      {},
      { signingDate: new Date(nowMs + TEN_MINUTES_MS) },
    );
    expect(ahead.status).toBe(403);
    expect(ahead.body).toEqual({
      message: `Signature not yet current: ${toAmzDate(nowMs + TEN_MINUTES_MS)} is still later than ${toAmzDate(nowMs + 5 * 60_000)} (${toAmzDate(nowMs)} + 5 min.)`,
    });
    const within = await signedPost(kvs, '/listStreams', {}, { signingDate: new Date(nowMs - 4 * 60_000) });
    expect(within.status).toBe(200);
  });

  it('the SDK with a clock 10 minutes off: one 403, then it corrects its offset from Date and succeeds', async () => {
    const client = sdkClient(kvs, { systemClockOffset: -TEN_MINUTES_MS });
    const output = await client.send(new CreateStreamCommand({ StreamName: 'skewed' }));
    expect(output.$metadata.attempts).toBe(2);
    expect(kvs.logLines.filter((line) => line.includes('/createStream'))).toEqual([
      expect.stringMatching(/ 403 CreateStream .* InvalidSignatureException /),
      expect.stringMatching(/ 200 CreateStream /),
    ]);
    // The corrected offset sticks: the next call goes through at once.
    expect((await client.send(new ListStreamsCommand({}))).$metadata.attempts).toBe(1);
    client.destroy();

    // Without retries the skew surfaces as the SDK's InvalidSignatureException.
    const strict = sdkClient(kvs, { systemClockOffset: -TEN_MINUTES_MS, maxAttempts: 1 });
    const error = await rejectionOf(strict.send(new ListStreamsCommand({})));
    strict.destroy();
    expect(error.name).toBe('InvalidSignatureException');
    expect(error.message).toMatch(
      /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/,
    );
  });

  it('accepts the presigned query-string form, and refuses it expired or tampered with', async () => {
    const url = new URL('/listStreams', kvs.url);
    const presign = async (signingDate: Date, expiresIn: number): Promise<URL> => {
      const presigned = await signerFor(kvs).presign(
        {
          method: 'POST',
          protocol: 'http:',
          hostname: url.hostname,
          port: Number(url.port),
          path: url.pathname,
          query: {},
          headers: { host: url.host },
          body: '{}',
        },
        { signingDate, expiresIn },
      );
      const target = new URL(url);
      for (const [key, value] of Object.entries(presigned.query ?? {})) {
        target.searchParams.set(key, String(value));
      }
      return target;
    };
    const fresh = await presign(new Date(clock.now()), 60);
    expect(fresh.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    const ok = await fetch(fresh, { method: 'POST', body: '{}' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ StreamInfoList: [] });

    const expired = await fetch(await presign(new Date(clock.now() - 120_000), 60), {
      method: 'POST',
      body: '{}',
    });
    expect(expired.status).toBe(403);
    expect(((await expired.json()) as { message: string }).message).toMatch(/^Signature expired: /);

    const tampered = new URL(fresh);
    tampered.searchParams.set('X-Amz-Signature', '0'.repeat(64));
    const refused = await fetch(tampered, { method: 'POST', body: '{}' });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException');

    const both = await fetch(fresh, {
      method: 'POST',
      body: '{}',
      headers: { authorization: 'AWS4-HMAC-SHA256 Credential=x' },
    });
    expect(both.status).toBe(400);
    expect(both.headers.get('x-amzn-errortype')).toBe('IncompleteSignatureException');
  });

  it('a configured session token must come with the request', async () => {
    await kvs.close();
    kvs = await startTestKvs({
      clock,
      credentials: { accessKeyId: 'ASIALOCAL', secretAccessKey: 's3cret', sessionToken: 'token-1' },
    });
    const withToken = sdkClient(kvs, {
      credentials: { accessKeyId: 'ASIALOCAL', secretAccessKey: 's3cret', sessionToken: 'token-1' },
    });
    expect((await withToken.send(new ListStreamsCommand({}))).StreamInfoList).toEqual([]);
    withToken.destroy();
    const withoutToken = sdkClient(kvs, {
      credentials: { accessKeyId: 'ASIALOCAL', secretAccessKey: 's3cret' },
    });
    expect((await rejectionOf(withoutToken.send(new ListStreamsCommand({})))).name).toBe(
      'UnrecognizedClientException',
    );
    withoutToken.destroy();
  });

  it('noAuth accepts unsigned requests (and signed ones)', async () => {
    await kvs.close();
    kvs = await startTestKvs({ clock, noAuth: true });
    const unsigned = await unsignedPost(kvs, '/createStream', '{"StreamName":"open"}');
    expect(unsigned.status).toBe(200);
    expect(JSON.parse(unsigned.text)).toEqual({ StreamARN: expect.stringMatching(/:stream\/open\/\d+$/) });
    const client = sdkClient(kvs, { credentials: { accessKeyId: 'anything', secretAccessKey: 'at-all' } });
    expect((await client.send(new ListStreamsCommand({}))).StreamInfoList).toHaveLength(1);
    client.destroy();
  });
});
