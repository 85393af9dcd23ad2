/**
 * The local KVS's defaults, and the region rule its options are checked by, apart from the emulator itself: the
 * CLI's option definitions need them on every run, the emulator's code only when a local KVS starts.
 */

/**
 * The fixed key pair the local KVS accepts when no other is configured: what the README demo and `--local` use.
 * It is not, and cannot be, an AWS key.
 */
export const LOCAL_KVS_CREDENTIALS: Readonly<{ accessKeyId: string; secretAccessKey: string }> = {
  // Not frozen: the AWS SDK annotates the credentials object it is given.
  accessKeyId: 'AKIDLOCALKVSPUT',
  secretAccessKey: 'kvs-put-local-secret-not-an-aws-key',
};

export const DEFAULT_LOCAL_KVS_HOST = '127.0.0.1';
export const DEFAULT_LOCAL_KVS_REGION = 'us-east-1';

// The local KVS accepts any region of this form (kvs-api.md §2.2), in a signature and as its own; kvs-put
// refuses any other before a call.
export { REGION_PATTERN } from '../kvs/kvs-protocol.js';
