/**
 * Errors the local KVS answers with, in the service's own vocabulary (shared/docs/kvs-api.md §1.3, §2.2).
 *
 * A {@link KvsServiceError} is not a kvs-put failure: it is a response the emulator sends on purpose. Handlers
 * throw it; the HTTP layer turns it into a status, an `x-amzn-ErrorType` header and a JSON body.
 */

/**
 * Error types the emulator sends, with their HTTP status. Modeled KVS errors (`$fault: client`) carry
 * `{"Message": …}`; the authentication layer's errors carry a lowercase `{"message": …}` as the real service's
 * front end does [OBS].
 */
export const SERVICE_ERRORS = {
  // Modeled by the kinesisvideo service model.
  InvalidArgumentException: { statusCode: 400, isAuthLayer: false },
  ClientLimitExceededException: { statusCode: 400, isAuthLayer: false },
  ResourceNotFoundException: { statusCode: 404, isAuthLayer: false },
  NotAuthorizedException: { statusCode: 401, isAuthLayer: false },
  AccessDeniedException: { statusCode: 401, isAuthLayer: false },
  ResourceInUseException: { statusCode: 400, isAuthLayer: false },
  VersionMismatchException: { statusCode: 400, isAuthLayer: false },
  AccountStreamLimitExceededException: { statusCode: 400, isAuthLayer: false },
  TagsPerResourceExceededLimitException: { statusCode: 400, isAuthLayer: false },
  InvalidResourceFormatException: { statusCode: 400, isAuthLayer: false },
  DeviceStreamLimitExceededException: { statusCode: 400, isAuthLayer: false },
  InvalidDeviceException: { statusCode: 400, isAuthLayer: false },
  NoDataRetentionException: { statusCode: 400, isAuthLayer: false },
  ConnectionLimitExceededException: { statusCode: 400, isAuthLayer: false },
  InvalidEndpointException: { statusCode: 400, isAuthLayer: false },
  // Common AWS errors (not modeled; the SDK surfaces them as its base ServiceException with this name).
  SerializationException: { statusCode: 400, isAuthLayer: false },
  UnknownOperationException: { statusCode: 404, isAuthLayer: true },
  ThrottlingException: { statusCode: 400, isAuthLayer: false },
  InternalFailure: { statusCode: 500, isAuthLayer: false },
  ServiceUnavailable: { statusCode: 503, isAuthLayer: false },
  RequestEntityTooLargeException: { statusCode: 413, isAuthLayer: true },
  // The SigV4 authentication layer.
  MissingAuthenticationTokenException: { statusCode: 403, isAuthLayer: true },
  IncompleteSignatureException: { statusCode: 400, isAuthLayer: true },
  InvalidSignatureException: { statusCode: 403, isAuthLayer: true },
  UnrecognizedClientException: { statusCode: 403, isAuthLayer: true },
} as const satisfies Record<string, { statusCode: number; isAuthLayer: boolean }>;
export type ServiceErrorType = keyof typeof SERVICE_ERRORS;

/** The standard text of the 404 every stream-addressed operation answers for an unknown stream [OBS]. */
export const STREAM_NOT_FOUND_MESSAGE = 'The requested stream is not found or not active.';

/** A response the emulator sends on purpose: status, `x-amzn-ErrorType` and a JSON message body. */
export class KvsServiceError extends Error {
  public readonly errorType: string;
  public readonly statusCode: number;
  /** Whether the body uses the authentication layer's lowercase `message` key. */
  public readonly isAuthLayer: boolean;

  public constructor(errorType: ServiceErrorType, message: string);
  public constructor(errorType: string, message: string, statusCode: number, isAuthLayer?: boolean);
  public constructor(errorType: string, message: string, statusCode?: number, isAuthLayer?: boolean) {
    super(message);
    this.name = 'KvsServiceError';
    this.errorType = errorType;
    const known = (
      SERVICE_ERRORS as Record<string, { statusCode: number; isAuthLayer: boolean } | undefined>
    )[errorType];
    this.statusCode = statusCode ?? known?.statusCode ?? 400;
    this.isAuthLayer = isAuthLayer ?? known?.isAuthLayer ?? false;
  }

  /** The JSON body the service sends for this error. */
  public toBody(): Record<string, string> {
    return this.isAuthLayer ? { message: this.message } : { Message: this.message };
  }
}

/** Looks up the HTTP status of a known error type. */
export const statusCodeForErrorType = (errorType: string): number | undefined =>
  (SERVICE_ERRORS as Record<string, { statusCode: number } | undefined>)[errorType]?.statusCode;
