import { ErrorCode, KvsPutError } from '../errors.js';

/**
 * Malformed or unsupported codec data (NAL units, parameter sets, decoder configuration records, AAC
 * headers). `structure` names what was being read ("H.264 SPS", "avcC", "ADTS header"), so the message says
 * which bytes were wrong, not just that something was.
 *
 * The code is `KVS_MKV_UNSUPPORTED`: codec data reaches kvs-put inside a Matroska track or an ffmpeg frame,
 * and a track whose codec data cannot be understood cannot be uploaded as-is.
 */
export class CodecError extends KvsPutError {
  /** The structure being read when the problem was found, e.g. `H.264 SPS`. */
  public readonly structure: string;

  public constructor(structure: string, reason: string, context: Readonly<Record<string, unknown>> = {}) {
    super(ErrorCode.MkvUnsupported, `Invalid ${structure}: ${reason}`, {
      context: { structure, ...context },
      suggestion: 'check that the input is an unmodified H.264, H.265 or AAC stream from a standard encoder',
    });
    this.name = 'CodecError';
    this.structure = structure;
  }
}
