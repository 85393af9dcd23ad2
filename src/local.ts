/**
 * `kvs-put/local`: a local Kinesis Video Streams on loopback that the AWS SDKs and CLI accept, for tests and
 * demos without an AWS account (docs/local-kvs.md).
 */
export { LOCAL_KVS_CREDENTIALS, startLocalKvs } from './emulator/local-kvs.js';
export type { LocalKvs, LocalKvsOptions, LocalKvsStats } from './emulator/local-kvs.js';
