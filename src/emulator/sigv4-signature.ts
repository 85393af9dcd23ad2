/**
 * Reading the AWS Signature Version 4 a request carries (shared/docs/kvs-api.md §2.1): the `Authorization` header
 * form or the presigned query-string form, its credential scope, signed headers and signing time. Whether the
 * signature is right is sigv4-verify.ts's question.
 */
import { KvsServiceError } from './emulator-errors.js';
import type { SigV4Request } from './sigv4-verify.js';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
/** The longest validity a presigned request may ask for (`X-Amz-Expires`), in seconds. */
export const MAX_PRESIGN_EXPIRES_S = 604_800;

const AMZ_DATE_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** The parts of a SigV4 signature, as a request carries them in either form. */
export type SignatureParts = {
  form: 'header' | 'query';
  accessKeyId: string;
  scopeDate: string;
  region: string;
  service: string;
  signedHeaders: readonly string[];
  signatureHex: string;
  amzDate: string;
  signedAtMs: number;
  expiresS: number | undefined;
  securityToken: string | undefined;
  /** The query parameters that enter the canonical query string (decoded). */
  query: readonly (readonly [string, string])[];
  path: string;
};

/**
 * Reads the signature a request carries, from its `Authorization` header or its presigned query string (not both).
 * A request with neither, or with a part missing or malformed, is refused here, before any check of its content.
 */
export const readSignature = (request: SigV4Request): SignatureParts => {
  const { path, rawQuery } = splitUrl(request.rawUrl);
  const query = parseQuery(rawQuery);
  const headers = collectHeaders(request.rawHeaders);
  const authorization = headers.get('authorization')?.[0];
  const hasQueryAuth = query.some(([key]) => key === 'X-Amz-Algorithm');

  if (authorization === undefined && !hasQueryAuth) {
    throw new KvsServiceError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  }
  if (authorization !== undefined && hasQueryAuth) {
    throw new KvsServiceError(
      'IncompleteSignatureException',
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
    );
  }
  if (authorization !== undefined) {
    return parseHeaderForm(authorization, headers, query, path);
  }
  return parseQueryForm(query, headers, path);
};

const parseHeaderForm = (
  authorization: string,
  headers: Map<string, string[]>,
  query: readonly (readonly [string, string])[],
  path: string,
): SignatureParts => {
  const trimmed = authorization.trim();
  const spaceIndex = trimmed.indexOf(' ');
  const algorithm = spaceIndex === -1 ? trimmed : trimmed.slice(0, spaceIndex);
  if (algorithm !== SIGV4_ALGORITHM) {
    throw new KvsServiceError('IncompleteSignatureException', `Unsupported AWS 'algorithm': '${algorithm}'.`);
  }
  const fields = new Map<string, string>();
  for (const part of trimmed.slice(spaceIndex + 1).split(',')) {
    const equals = part.indexOf('=');
    if (equals > 0) {
      fields.set(part.slice(0, equals).trim(), part.slice(equals + 1).trim());
    }
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  const dateHeader = headers.get('x-amz-date')?.[0] ?? headers.get('date')?.[0];
  const problems: string[] = [];
  if (credential === undefined) {
    problems.push("Authorization header requires 'Credential' parameter.");
  }
  if (signature === undefined) {
    problems.push("Authorization header requires 'Signature' parameter.");
  }
  if (signedHeaders === undefined) {
    problems.push("Authorization header requires 'SignedHeaders' parameter.");
  }
  if (dateHeader === undefined) {
    problems.push("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }
  if (
    credential === undefined ||
    signature === undefined ||
    signedHeaders === undefined ||
    dateHeader === undefined
  ) {
    throw new KvsServiceError(
      'IncompleteSignatureException',
      `${problems.join(' ')} Authorization=${authorization}`,
    );
  }
  const amzDate = normalizeDate(dateHeader);
  return {
    form: 'header',
    ...parseCredential(credential),
    signedHeaders: parseSignedHeaders(signedHeaders),
    signatureHex: signature,
    amzDate,
    signedAtMs: amzDateToMs(amzDate),
    expiresS: undefined,
    securityToken: headers.get('x-amz-security-token')?.[0]?.trim(),
    query,
    path,
  };
};

const parseQueryForm = (
  query: readonly (readonly [string, string])[],
  headers: Map<string, string[]>,
  path: string,
): SignatureParts => {
  const get = (key: string): string | undefined => query.find(([name]) => name === key)?.[1];
  const algorithm = get('X-Amz-Algorithm');
  if (algorithm !== SIGV4_ALGORITHM) {
    throw new KvsServiceError(
      'IncompleteSignatureException',
      `Unsupported AWS 'algorithm': '${algorithm ?? ''}'.`,
    );
  }
  const credential = get('X-Amz-Credential');
  const signedHeaders = get('X-Amz-SignedHeaders');
  const signature = get('X-Amz-Signature');
  const date = get('X-Amz-Date');
  const missing = [
    credential === undefined ? 'X-Amz-Credential' : undefined,
    signedHeaders === undefined ? 'X-Amz-SignedHeaders' : undefined,
    signature === undefined ? 'X-Amz-Signature' : undefined,
    date === undefined ? 'X-Amz-Date' : undefined,
  ].filter((name) => name !== undefined);
  if (
    credential === undefined ||
    signedHeaders === undefined ||
    signature === undefined ||
    date === undefined
  ) {
    throw new KvsServiceError(
      'IncompleteSignatureException',
      `AWS query-string parameters must include ${missing.map((name) => `'${name}'`).join(', ')}. Re-examine the query-string parameters.`,
    );
  }
  const expiresText = get('X-Amz-Expires');
  let expiresS: number | undefined;
  if (expiresText !== undefined) {
    expiresS = Number(expiresText);
    if (!Number.isInteger(expiresS) || expiresS < 1 || expiresS > MAX_PRESIGN_EXPIRES_S) {
      throw new KvsServiceError(
        'IncompleteSignatureException',
        `X-Amz-Expires must be an integer from 1 to ${MAX_PRESIGN_EXPIRES_S} seconds (one week); got '${expiresText}'.`,
      );
    }
  }
  const amzDate = normalizeDate(date);
  return {
    form: 'query',
    ...parseCredential(credential),
    signedHeaders: parseSignedHeaders(signedHeaders),
    signatureHex: signature,
    amzDate,
    signedAtMs: amzDateToMs(amzDate),
    expiresS,
    securityToken: get('X-Amz-Security-Token') ?? headers.get('x-amz-security-token')?.[0]?.trim(),
    query: query.filter(([key]) => key !== 'X-Amz-Signature'),
    path,
  };
};

const parseCredential = (
  credential: string,
): { accessKeyId: string; scopeDate: string; region: string; service: string } => {
  const parts = credential.split('/');
  if (parts.length !== 5) {
    throw new KvsServiceError(
      'IncompleteSignatureException',
      `Credential should have 5 slash-separated parts (AccessKeyId/YYYYMMDD/region/service/aws4_request): '${credential}'.`,
    );
  }
  const [accessKeyId = '', scopeDate = '', region = '', service = '', terminator = ''] = parts;
  if (terminator !== 'aws4_request') {
    throw new KvsServiceError(
      'IncompleteSignatureException',
      `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'.`,
    );
  }
  return { accessKeyId, scopeDate, region, service };
};

const parseSignedHeaders = (signedHeaders: string): string[] => {
  const names = signedHeaders.split(';').map((name) => name.trim().toLowerCase());
  if (!names.includes('host') && !names.includes(':authority')) {
    throw new KvsServiceError(
      'IncompleteSignatureException',
      "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    );
  }
  return names;
};

/** Accepts `x-amz-date` (ISO-8601 basic) or an HTTP `Date`, returns ISO-8601 basic. */
const normalizeDate = (value: string): string => {
  const trimmed = value.trim();
  if (AMZ_DATE_PATTERN.test(trimmed)) {
    return trimmed;
  }
  const parsedMs = Date.parse(trimmed);
  if (/[a-z]/i.test(trimmed) && trimmed.includes(',') && Number.isFinite(parsedMs)) {
    return toAmzDate(parsedMs);
  }
  throw new KvsServiceError(
    'IncompleteSignatureException',
    `Date must be in ISO-8601 'basic format'. Got '${trimmed}'. See http://en.wikipedia.org/wiki/ISO_8601`,
  );
};

const amzDateToMs = (amzDate: string): number => {
  const match = AMZ_DATE_PATTERN.exec(amzDate);
  if (match === null) {
    throw new KvsServiceError(
      'IncompleteSignatureException',
      `Date must be in ISO-8601 'basic format'. Got '${amzDate}'.`,
    );
  }
  const [, year, month, day, hour, minute, second] = match.map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return Date.UTC(year, month - 1, day, hour, minute, second);
};

/** Formats epoch milliseconds as an ISO-8601 basic timestamp (`20261125T081600Z`). */
export const toAmzDate = (epochMs: number): string =>
  new Date(epochMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

/** Header values by lowercase name, every occurrence kept in arrival order. */
export const collectHeaders = (rawHeaders: readonly string[]): Map<string, string[]> => {
  const headers = new Map<string, string[]>();
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    const name = (rawHeaders[index] ?? '').toLowerCase();
    const value = rawHeaders[index + 1] ?? '';
    const values = headers.get(name);
    if (values === undefined) {
      headers.set(name, [value]);
    } else {
      values.push(value);
    }
  }
  return headers;
};

const splitUrl = (rawUrl: string): { path: string; rawQuery: string } => {
  const questionMark = rawUrl.indexOf('?');
  return questionMark === -1
    ? { path: rawUrl, rawQuery: '' }
    : { path: rawUrl.slice(0, questionMark), rawQuery: rawUrl.slice(questionMark + 1) };
};

const safeDecode = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/** Query parameters decoded (no `+`-as-space: SigV4 clients encode spaces as %20). */
const parseQuery = (rawQuery: string): [string, string][] =>
  rawQuery
    .split('&')
    .filter((part) => part !== '')
    .map((part) => {
      const equals = part.indexOf('=');
      return equals === -1
        ? [safeDecode(part), '']
        : [safeDecode(part.slice(0, equals)), safeDecode(part.slice(equals + 1))];
    });
