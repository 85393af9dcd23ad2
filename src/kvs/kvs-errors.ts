import { ErrorCode, KvsPutError } from '../errors.js';
import { errorIdInfo } from './ack.js';

/** A PutMedia (or data-plane) request answered with a non-200 status before any media was accepted. */
export class PutMediaHttpError extends KvsPutError {
  public readonly statusCode: number;
  public readonly errorType: string | undefined;
  public readonly requestId: string | undefined;

  public constructor(statusCode: number, errorType: string | undefined, message: string, requestId?: string) {
    const code =
      statusCode === 401 || statusCode === 403
        ? ErrorCode.Credentials
        : statusCode === 404
          ? ErrorCode.StreamNotFound
          : ErrorCode.Upload;
    super(
      code,
      `PutMedia refused: HTTP ${statusCode} ${errorType ?? ''}${message === '' ? '' : `: ${message}`}`.trim(),
      {
        context: { statusCode, errorType, requestId },
      },
    );
    this.name = 'PutMediaHttpError';
    this.statusCode = statusCode;
    this.errorType = errorType;
    this.requestId = requestId;
  }
}

/** An ERROR ack: the service refused a fragment (or the session) and closes the connection. */
export class AckError extends KvsPutError {
  public readonly errorId: number;
  public readonly fragmentTimecode: number | undefined;

  public constructor(errorId: number, fragmentTimecode: number | undefined, errorCode?: string) {
    const info = errorIdInfo(errorId);
    super(
      ErrorCode.Upload,
      `KVS refused ${fragmentTimecode === undefined ? 'the session' : `the fragment at timecode ${fragmentTimecode}`}: ` +
        `ErrorId ${errorId} ${errorCode ?? info.code} (${info.description})`,
      { context: { errorId, errorCode: errorCode ?? info.code, fragmentTimecode } },
    );
    this.name = 'AckError';
    this.errorId = errorId;
    this.fragmentTimecode = fragmentTimecode;
  }
}
