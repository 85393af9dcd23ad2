/**
 * kvs-put as a library: `upload(source, options)` sends a source's frames to a Kinesis video stream through
 * PutMedia and reports what happens as events. The local KVS is `kvs-put/local`.
 */
export { upload } from './upload/upload.js';
export type { UploadProgress, UploadRun } from './upload/upload.js';
export { UPLOAD_DEFAULTS } from './upload/upload-options.js';
export type { UploadOptions } from './upload/upload-options.js';
export type {
  AckEvent,
  ClipEvent,
  ConnectEvent,
  DropEvent,
  FfmpegEvent,
  NoteEvent,
  ProcessStats,
  ReanchorEvent,
  RefusedEvent,
  RetryEvent,
  RotateEvent,
  SkipEvent,
  SourceEvent,
  SourceRestartEvent,
  StaleEvent,
  StartEvent,
  StatsEvent,
  SummaryEvent,
  UploadEvent,
  UploadSummary,
  VerifyEvent,
  WarningEvent,
} from './upload/upload-events.js';
export { deviceSource, fileSource, mkvSource, rtspSource, testPattern } from './source/sources.js';
export type {
  DeviceSourceOptions,
  EncodingFlags,
  FileSourceOptions,
  RtspSourceOptions,
  Source,
  TestPatternOptions,
} from './source/sources.js';
export { ErrorCode, KvsPutError } from './errors.js';
export type { KvsPutErrorOptions } from './errors.js';
export { ExitCode, exitCodeFor } from './exit-codes.js';
export { AckEventType, ErrorId } from './kvs/ack.js';
export type { Ack } from './kvs/ack.js';
export { VERSION } from './version.js';
