import { ErrorCode } from './errors.js';

/**
 * Process exit codes: part of the CLI contract (documented in the README and `--help`).
 */
export const ExitCode = {
  Ok: 0,
  /** An unexpected failure (a bug): please report it. */
  Internal: 1,
  /** Bad command line: unknown option, missing or invalid value. */
  Usage: 2,
  /** The media cannot be read or is not uploadable (corrupt MKV, unsupported codec, fragment rules). */
  BadMedia: 3,
  /** Credentials missing, expired or not authorised. */
  Credentials: 4,
  /** The stream does not exist (and `--create` was not given). */
  StreamNotFound: 5,
  /** The upload failed after all retries, or a fragment was refused by the service. */
  UploadFailed: 6,
  /** A file, folder or device could not be opened or written, or a live source gave no video. */
  Io: 7,
  /**
   * The endpoint cannot be reached at the start (DNS, connection refused, TLS, timeout). An endpoint that goes
   * away during an upload is retried, and exits {@link ExitCode.UploadFailed} when the retries run out.
   */
  EndpointUnreachable: 8,
  /** Another kvs-put process is using the same spool directory. */
  Busy: 9,
  /** Interrupted by SIGINT/SIGTERM before the work was finished. */
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Maps an error code to the exit code the CLI returns for it. */
export const exitCodeFor = (code: ErrorCode): ExitCode => {
  switch (code) {
    case ErrorCode.Usage:
    case ErrorCode.Config:
      return ExitCode.Usage;
    case ErrorCode.MkvParse:
    case ErrorCode.MkvUnsupported:
    case ErrorCode.Fragment:
      return ExitCode.BadMedia;
    case ErrorCode.Credentials:
      return ExitCode.Credentials;
    case ErrorCode.StreamNotFound:
      return ExitCode.StreamNotFound;
    case ErrorCode.Upload:
      return ExitCode.UploadFailed;
    case ErrorCode.Network:
      return ExitCode.EndpointUnreachable;
    case ErrorCode.Io:
    case ErrorCode.Capture:
      return ExitCode.Io;
    case ErrorCode.Busy:
      return ExitCode.Busy;
    case ErrorCode.Interrupted:
      return ExitCode.Interrupted;
    case ErrorCode.Internal:
      return ExitCode.Internal;
  }
};

/** The exit-code table as shown in `--help`. */
export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    internal error (a bug: please report it)
  2    usage error (bad option or value)
  3    bad media (cannot parse, unsupported codec, breaks the service's fragment rules)
  4    credentials missing, expired or not authorised
  5    stream not found
  6    upload failed after retries
  7    file, folder or device cannot be opened or written; a live source gave no video
  8    endpoint unreachable before the upload began (DNS, refused, TLS, no answer)
  9    another kvs-put is using the same spool directory
  130  interrupted (SIGINT/SIGTERM)`;
