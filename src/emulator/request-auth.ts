/**
 * Who may call the local KVS: every request but the loopback test hooks is SigV4-verified (kvs-api.md §2) against
 * one key pair, unless authentication is turned off. The verifier itself is sigv4-verify.ts.
 */
import type { IncomingMessage } from 'node:http';
import type { Clock } from '../util/clock.js';
import type { SigV4Credentials } from './sigv4-verify.js';
import { sha256Hex, verifySigV4 } from './sigv4-verify.js';

export type AuthConfig = {
  /** Accept unsigned requests (they then belong to `region`). */
  readonly noAuth: boolean;
  /** The one key pair accepted. */
  readonly credentials: SigV4Credentials;
  /** The server's region: that of unsigned requests, and the only one accepted when `isRegionPinned`. */
  readonly region: string;
  readonly isRegionPinned: boolean;
  /** The server clock the signing time is checked against. */
  readonly clock: Pick<Clock, 'now'>;
};

/**
 * Verifies a request's signature and returns its region (the credential scope's). `body` is the body when it was
 * read (its hash enters the signature), undefined when it is streamed (PutMedia).
 */
export const authenticate = (
  request: IncomingMessage,
  rawUrl: string,
  body: Buffer | undefined,
  auth: AuthConfig,
): string => {
  if (auth.noAuth) {
    return auth.region;
  }
  const identity = verifySigV4(
    {
      method: request.method ?? 'POST',
      rawUrl,
      rawHeaders: request.rawHeaders,
      body: body === undefined ? { kind: 'streamed' } : { kind: 'buffered', sha256Hex: sha256Hex(body) },
    },
    {
      findCredentials: (accessKeyId) =>
        accessKeyId === auth.credentials.accessKeyId ? auth.credentials : undefined,
      nowMs: auth.clock.now(),
      ...(auth.isRegionPinned ? { pinnedRegion: auth.region } : {}),
    },
  );
  return identity.region;
};
