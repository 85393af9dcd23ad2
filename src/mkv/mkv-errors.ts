import { ErrorCode, KvsPutError } from '../errors.js';
import { ebmlIdName } from './ebml-ids.js';

/** Corrupt, truncated or unsupported Matroska input, with the byte offset and element where it was found. */
export class MkvParseError extends KvsPutError {
  public readonly byteOffset: number;
  public readonly elementId: number | undefined;

  public constructor(
    reason: string,
    byteOffset: number,
    elementId?: number,
    suggestion?: string,
    cause?: unknown,
  ) {
    const where = elementId === undefined ? '' : ` in ${ebmlIdName(elementId)}`;
    super(ErrorCode.MkvParse, `Invalid MKV at byte ${byteOffset}${where}: ${reason}`, {
      context: { byteOffset, elementId: elementId === undefined ? undefined : ebmlIdName(elementId) },
      suggestion,
      cause,
    });
    this.name = 'MkvParseError';
    this.byteOffset = byteOffset;
    this.elementId = elementId;
  }
}
