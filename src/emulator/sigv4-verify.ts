/**
 * Server-side AWS Signature Version 4 verification for the local KVS (shared/docs/kvs-api.md §2.2): given the parts
 * of the signature a request carries (sigv4-signature.ts), the checks the service makes in its order, then the
 * signature itself over a canonical request rebuilt from what arrived on the wire: the method, the raw path and
 * query, and the exact values of the headers the client says it signed (so `host` keeps its port). Failures are
 * thrown as {@link KvsServiceError}s carrying the real service's error types and texts.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { KVS_SIGNING_SERVICE } from '../kvs/kvs-protocol.js';
import { KvsServiceError } from './emulator-errors.js';
import { REGION_PATTERN } from './local-kvs-defaults.js';
import type { SignatureParts } from './sigv4-signature.js';
import { SIGV4_ALGORITHM, collectHeaders, readSignature, toAmzDate } from './sigv4-signature.js';

/** Hex SHA-256 of the empty string: the payload hash the official producers sign for a streamed PutMedia body. */
export const EMPTY_PAYLOAD_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** How far a request's signing time may be from the server's clock. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** A key pair the emulator accepts. */
export type SigV4Credentials = {
  accessKeyId: string;
  secretAccessKey: string;
  /** When set, requests must carry this `x-amz-security-token`. */
  sessionToken?: string;
};

/** What the verifier needs from an incoming request. */
export type SigV4Request = {
  method: string;
  /** The request target exactly as received (raw path plus optional `?query`). */
  rawUrl: string;
  /** Header names and values as received, alternating (Node's `IncomingMessage.rawHeaders`). */
  rawHeaders: readonly string[];
  /**
   * The body: its hex SHA-256 when it has been read, or `streamed` when it has not (PutMedia), in which case the
   * payload hash is the empty-string hash unless `x-amz-content-sha256` says otherwise (§2.2 step 4).
   */
  body: { kind: 'buffered'; sha256Hex: string } | { kind: 'streamed' };
};

export type SigV4VerifyOptions = {
  /** The key pair for an access key id, or undefined for an unknown key. */
  findCredentials: (accessKeyId: string) => SigV4Credentials | undefined;
  /** The server's clock, epoch milliseconds. */
  nowMs: number;
  /** The expected signing service. @default KVS_SIGNING_SERVICE */
  service?: string;
  /** When set, a request scoped to any other region is refused. */
  pinnedRegion?: string;
};

/** Who signed a verified request, and for what. */
export type SigV4Identity = {
  accessKeyId: string;
  region: string;
  service: string;
  /** The signing time (`x-amz-date`), epoch milliseconds. */
  signedAtMs: number;
  form: 'header' | 'query';
};

/**
 * Verifies a request's SigV4 signature and returns who signed it. Throws a {@link KvsServiceError}
 * (MissingAuthenticationToken, IncompleteSignature, UnrecognizedClient or InvalidSignature) otherwise.
 */
export const verifySigV4 = (request: SigV4Request, options: SigV4VerifyOptions): SigV4Identity => {
  const service = options.service ?? KVS_SIGNING_SERVICE;
  const parsed = readSignature(request);

  // The order of checks follows the service: who (key), where (scope), when (clock), then the signature itself.
  const credentials = options.findCredentials(parsed.accessKeyId);
  if (credentials === undefined) {
    throw unrecognizedClient();
  }
  if (credentials.sessionToken !== undefined && parsed.securityToken !== credentials.sessionToken) {
    throw unrecognizedClient();
  }
  if (parsed.service !== service) {
    throw new KvsServiceError(
      'InvalidSignatureException',
      `Credential should be scoped to correct service: '${service}'. `,
    );
  }
  if (
    !REGION_PATTERN.test(parsed.region) ||
    (options.pinnedRegion !== undefined && parsed.region !== options.pinnedRegion)
  ) {
    throw new KvsServiceError('InvalidSignatureException', 'Credential should be scoped to a valid region. ');
  }
  if (parsed.scopeDate !== parsed.amzDate.slice(0, 8)) {
    throw new KvsServiceError(
      'InvalidSignatureException',
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${parsed.scopeDate}' != '${parsed.amzDate.slice(0, 8)}', from '${parsed.amzDate}'.`,
    );
  }
  checkClock(parsed, options.nowMs);

  const headerValues = collectHeaders(request.rawHeaders);
  const canonicalHeaders = parsed.signedHeaders
    .map((name) => `${name}:${canonicalHeaderValue(headerValues.get(name))}\n`)
    .join('');
  const scope = `${parsed.scopeDate}/${parsed.region}/${parsed.service}/aws4_request`;
  const signingKey = deriveSigningKey(
    credentials.secretAccessKey,
    parsed.scopeDate,
    parsed.region,
    parsed.service,
  );
  const declaredPayloadHash = headerValues.get('x-amz-content-sha256')?.[0]?.trim();
  const payloadHashes = payloadHashCandidates(request.body, declaredPayloadHash, parsed.form);

  for (const payloadHash of payloadHashes) {
    const canonicalRequest = [
      request.method.toUpperCase(),
      canonicalPath(parsed.path),
      canonicalQuery(parsed.query),
      canonicalHeaders,
      parsed.signedHeaders.join(';'),
      payloadHash,
    ].join('\n');
    const stringToSign = [SIGV4_ALGORITHM, parsed.amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
    const expected = createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest();
    if (hexEquals(expected, parsed.signatureHex)) {
      return {
        accessKeyId: parsed.accessKeyId,
        region: parsed.region,
        service: parsed.service,
        signedAtMs: parsed.signedAtMs,
        form: parsed.form,
      };
    }
  }
  throw new KvsServiceError(
    'InvalidSignatureException',
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  );
};

/** The SigV4 signing key: HMAC chain over date, region, service and the terminator. */
export const deriveSigningKey = (
  secretAccessKey: string,
  scopeDate: string,
  region: string,
  service: string,
): Buffer => {
  const dateKey = createHmac('sha256', `AWS4${secretAccessKey}`).update(scopeDate).digest();
  const regionKey = createHmac('sha256', dateKey).update(region).digest();
  const serviceKey = createHmac('sha256', regionKey).update(service).digest();
  return createHmac('sha256', serviceKey).update('aws4_request').digest();
};

/** Hex SHA-256 of a string or bytes. */
export const sha256Hex = (data: string | Uint8Array): string =>
  createHash('sha256').update(data).digest('hex');

/** RFC 3986 escaping as SigV4 wants it: encodeURIComponent plus `!'()*`. */
export const escapeUri = (text: string): string =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * Canonical URI for non-S3 services: dot segments and empty segments removed, then the (already
 * percent-encoded) wire path encoded once more, slashes kept.
 */
export const canonicalPath = (rawPath: string): string => {
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') {
      continue;
    }
    if (segment === '..') {
      segments.pop();
    } else {
      segments.push(segment);
    }
  }
  const normalized = `${rawPath.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && rawPath.endsWith('/') ? '/' : ''}`;
  return escapeUri(normalized).replace(/%2F/g, '/');
};

/** Canonical query string: each key and value escaped, sorted by key then value. */
export const canonicalQuery = (query: readonly (readonly [string, string])[]): string =>
  query
    .map(([key, value]) => [escapeUri(key), escapeUri(value)] as const)
    .sort(([keyA, valueA], [keyB, valueB]) =>
      keyA < keyB ? -1 : keyA > keyB ? 1 : valueA < valueB ? -1 : valueA > valueB ? 1 : 0,
    )
    .map(([key, value]) => `${key}=${value}`)
    .join('&');

/** The ±5 minute window (and a presigned request's own expiry), with the service's own wording [OBS]. */
const checkClock = (parsed: SignatureParts, nowMs: number): void => {
  const now = toAmzDate(nowMs);
  if (parsed.signedAtMs > nowMs + MAX_CLOCK_SKEW_MS) {
    throw new KvsServiceError(
      'InvalidSignatureException',
      `Signature not yet current: ${parsed.amzDate} is still later than ${toAmzDate(nowMs + MAX_CLOCK_SKEW_MS)} (${now} + 5 min.)`,
    );
  }
  if (parsed.expiresS !== undefined) {
    if (nowMs > parsed.signedAtMs + parsed.expiresS * 1000) {
      throw new KvsServiceError(
        'InvalidSignatureException',
        `Signature expired: ${parsed.amzDate} is now earlier than ${toAmzDate(nowMs - parsed.expiresS * 1000)} (${now} - ${parsed.expiresS} sec.)`,
      );
    }
    return;
  }
  if (parsed.signedAtMs < nowMs - MAX_CLOCK_SKEW_MS) {
    throw new KvsServiceError(
      'InvalidSignatureException',
      `Signature expired: ${parsed.amzDate} is now earlier than ${toAmzDate(nowMs - MAX_CLOCK_SKEW_MS)} (${now} - 5 min.)`,
    );
  }
};

/**
 * The payload hashes a signature may have been computed over (§2.2 step 4): the declared
 * `x-amz-content-sha256`; else the empty-string hash for a streamed body; else the body's own hash. A declared
 * hex hash that does not match a body the server has read counts for nothing (the body was altered). A presigned
 * request may also have been signed with `UNSIGNED-PAYLOAD` (the S3-style presign convention) [EMU].
 */
const payloadHashCandidates = (
  body: SigV4Request['body'],
  declared: string | undefined,
  form: 'header' | 'query',
): string[] => {
  if (declared !== undefined && declared !== '') {
    const isHexHash = /^[0-9a-f]{64}$/i.test(declared);
    if (isHexHash && body.kind === 'buffered' && declared.toLowerCase() !== body.sha256Hex) {
      return [];
    }
    return [declared];
  }
  const computed = body.kind === 'streamed' ? EMPTY_PAYLOAD_SHA256 : body.sha256Hex;
  return form === 'query' ? [computed, UNSIGNED_PAYLOAD] : [computed];
};

/** Trimmed, inner whitespace runs collapsed, repeated headers joined with commas. */
const canonicalHeaderValue = (values: readonly string[] | undefined): string =>
  (values ?? []).map((value) => value.trim().replace(/\s+/g, ' ')).join(',');

const hexEquals = (expected: Buffer, providedHex: string): boolean => {
  if (!/^[0-9a-f]{64}$/i.test(providedHex)) {
    return false;
  }
  return timingSafeEqual(expected, Buffer.from(providedHex, 'hex'));
};

const unrecognizedClient = (): KvsServiceError =>
  new KvsServiceError(
    'UnrecognizedClientException',
    'The security token included in the request is invalid.',
  );
