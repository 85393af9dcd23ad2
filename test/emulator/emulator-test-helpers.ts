import { KinesisVideoClient } from '@aws-sdk/client-kinesis-video';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { LocalKvs, LocalKvsOptions } from '../../src/emulator/local-kvs.js';
import { startLocalKvs } from '../../src/emulator/local-kvs.js';
import type { FakeClock } from '../helpers/fake-clock.js';

/** A manual clock for the local KVS. */
export type TestClock = { now: () => number; advance: (ms: number) => void; set: (ms: number) => void };

export const testClock = (startMs = Date.now()): TestClock => {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance: (ms) => {
      nowMs += ms;
    },
    set: (ms) => {
      nowMs = ms;
    },
  };
};

/**
 * Moves a local KVS's FakeClock `stepMs` at a time until `isDone()` holds, letting sockets deliver between steps,
 * and returns how far it moved. Slow I/O only makes it move further, so tests assert lower bounds on the result:
 * what the service made wait, measured in the service's own time.
 */
export const advanceUntil = async (
  clock: FakeClock,
  isDone: () => boolean,
  options: { stepMs?: number; maxMs?: number } = {},
): Promise<number> => {
  const stepMs = options.stepMs ?? 10;
  const maxMs = options.maxMs ?? 60_000;
  let movedMs = 0;
  while (!isDone()) {
    if (movedMs >= maxMs) {
      throw new Error(`still waiting after moving the clock ${movedMs} ms`);
    }
    await clock.advance(stepMs);
    movedMs += stepMs;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return movedMs;
};

/** Starts a local KVS on 127.0.0.1 port 0 that records its log lines. */
export const startTestKvs = async (
  options: LocalKvsOptions = {},
): Promise<LocalKvs & { logLines: string[] }> => {
  const logLines: string[] = [];
  const kvs = await startLocalKvs({
    ...options,
    logger: (line) => {
      logLines.push(line);
      options.logger?.(line);
    },
  });
  return Object.assign(kvs, { logLines });
};

/** The real SDK client pointed at a local KVS (retries as configured by the SDK unless overridden). */
export const sdkClient = (
  kvs: LocalKvs,
  overrides: Partial<ConstructorParameters<typeof KinesisVideoClient>[0]> = {},
): KinesisVideoClient =>
  new KinesisVideoClient({
    endpoint: kvs.url,
    region: kvs.region,
    credentials: kvs.credentials,
    ...overrides,
  });

/** A SigV4 signer for hand-made requests (what the official producers and our own PutMedia client use). */
export const signerFor = (
  kvs: LocalKvs,
  overrides: { region?: string; service?: string; secretAccessKey?: string; accessKeyId?: string } = {},
): SignatureV4 =>
  new SignatureV4({
    service: overrides.service ?? 'kinesisvideo',
    region: overrides.region ?? kvs.region,
    credentials: {
      accessKeyId: overrides.accessKeyId ?? kvs.credentials.accessKeyId,
      secretAccessKey: overrides.secretAccessKey ?? kvs.credentials.secretAccessKey,
    },
    sha256: Hash.bind(null, 'sha256'),
  });

/** Signs and sends `POST <path>` with a JSON body through fetch; returns status, headers and parsed body. */
export const signedPost = async (
  kvs: LocalKvs,
  path: string,
  body: unknown,
  options: { signer?: SignatureV4; signingDate?: Date; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> => {
  const url = new URL(path, kvs.url);
  const text = JSON.stringify(body);
  const signer = options.signer ?? signerFor(kvs);
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: {},
      headers: { host: url.host, 'content-type': 'application/json', ...options.headers },
      body: text,
    },
    options.signingDate === undefined ? {} : { signingDate: options.signingDate },
  );
  const headers = { ...signed.headers };
  delete headers['host'];
  const response = await fetch(url, { method: 'POST', headers, body: text });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
};

/** Sends an unsigned request. */
export const unsignedPost = async (
  kvs: LocalKvs,
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; text: string }> => {
  const response = await fetch(new URL(path, kvs.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
};

/** What a test inspects on a rejection: SDK service exceptions and KvsPutErrors carry some of these. */
export type CaughtError = Error & {
  $metadata?: { httpStatusCode?: number; attempts?: number; requestId?: string };
  $fault?: string;
  code?: string;
  suggestion?: string;
};

/** Awaits a promise that must reject, and returns the rejection. */
export const rejectionOf = async (promise: Promise<unknown>): Promise<CaughtError> => {
  try {
    await promise;
  } catch (error) {
    return error as CaughtError;
  }
  throw new Error('expected a rejection, got a success');
};
