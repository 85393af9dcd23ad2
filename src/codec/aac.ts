/**
 * AAC helpers for KVS (producer SDK §4.7): the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) that is the
 * `A_AAC` CodecPrivate, and ADTS headers (§1.A.2.2), which KVS does not want in frames: Matroska AAC blocks
 * are raw access units and the configuration lives once in CodecPrivate.
 */
import { BitReader } from './bit-reader.js';
import { CodecError } from './codec-errors.js';

/** samplingFrequencyIndex 0..12 → Hz (ISO/IEC 14496-3 Table 1.18); 13 and 14 are reserved, 15 = explicit. */
export const AAC_SAMPLING_FREQUENCIES_HZ: readonly number[] = [
  96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/** Audio object types kvs-put names (ISO/IEC 14496-3 Table 1.17). */
export const AacObjectType = {
  Main: 1,
  Lc: 2,
  Ssr: 3,
  Ltp: 4,
  /** HE-AAC (explicit SBR signalling). */
  Sbr: 5,
  Scalable: 6,
  /** HE-AAC v2 (explicit PS signalling). */
  Ps: 29,
} as const;
export type AacObjectType = (typeof AacObjectType)[keyof typeof AacObjectType];

/** The fields of an AudioSpecificConfig that a Matroska track and KVS care about. */
export type AudioSpecificConfig = {
  /** audioObjectType (2 = AAC-LC). For explicit HE-AAC (5, 29) this is the signalled SBR/PS type. */
  objectType: number;
  /** Core sampling frequency, in Hz. */
  samplingFrequencyHz: number;
  /**
   * channelConfiguration: 1..6 is the channel count, 7 is 8 channels (7.1), 0 means "in a program config
   * element". Kept as coded so it round-trips; see {@link aacChannelCount}.
   */
  channels: number;
  /** For explicit SBR/PS configs (objectType 5 or 29): the output (SBR) sampling frequency, in Hz. */
  extensionSamplingFrequencyHz?: number;
  /** For explicit SBR/PS configs: the underlying core object type (usually 2). */
  coreObjectType?: number;
};

/** Object types whose config is a plain GASpecificConfig, which {@link buildAudioSpecificConfig} writes. */
const BUILDABLE_OBJECT_TYPES: ReadonlySet<number> = new Set([1, 2, 3, 4, 6, 7]);

const MAX_EXPLICIT_FREQUENCY_HZ = 0xffffff;

/** Number of channels for a channelConfiguration, or undefined when a program config element defines it. */
export const aacChannelCount = (channelConfiguration: number): number | undefined => {
  if (channelConfiguration >= 1 && channelConfiguration <= 6) {
    return channelConfiguration;
  }
  if (channelConfiguration === 7) {
    return 8;
  }
  return undefined;
};

/**
 * Builds an AudioSpecificConfig: 2 bytes (objectType 5 bits, frequency index 4, channelConfiguration 4,
 * GASpecificConfig 3 zero bits) or 5 bytes when the frequency is not in the table (index 15 + explicit
 * 24-bit frequency). Only object types with a plain GASpecificConfig (1–4, 6, 7) are supported, which
 * covers AAC-LC, the one KVS playback handles.
 *
 * @throws {@link CodecError} when the object type, frequency or channel configuration cannot be written.
 */
export const buildAudioSpecificConfig = (config: AudioSpecificConfig): Uint8Array => {
  const { objectType, samplingFrequencyHz, channels } = config;
  if (!BUILDABLE_OBJECT_TYPES.has(objectType)) {
    throw new CodecError(
      'AudioSpecificConfig',
      `object type ${objectType} is not supported; use 2 (AAC-LC)`,
      {
        objectType,
      },
    );
  }
  if (
    !Number.isInteger(samplingFrequencyHz) ||
    samplingFrequencyHz < 1 ||
    samplingFrequencyHz > MAX_EXPLICIT_FREQUENCY_HZ
  ) {
    throw new CodecError(
      'AudioSpecificConfig',
      `sampling frequency ${samplingFrequencyHz} Hz is not an integer in 1..16777215`,
      {
        samplingFrequencyHz,
      },
    );
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > 7) {
    throw new CodecError('AudioSpecificConfig', `channel configuration ${channels} is not in 1..7`, {
      channels,
    });
  }
  const frequencyIndex = AAC_SAMPLING_FREQUENCIES_HZ.indexOf(samplingFrequencyHz);
  const writer = new BitWriter(frequencyIndex === -1 ? 5 : 2);
  writer.write(objectType, 5);
  if (frequencyIndex === -1) {
    writer.write(15, 4);
    writer.write(samplingFrequencyHz, 24);
  } else {
    writer.write(frequencyIndex, 4);
  }
  writer.write(channels, 4);
  // GASpecificConfig: frameLengthFlag 0 (1024 samples), dependsOnCoreCoder 0, extensionFlag 0.
  writer.write(0, 3);
  return writer.bytes;
};

/**
 * Parses the start of an AudioSpecificConfig: object type (with the 5-bit escape 31 → 32 + 6 bits), sampling
 * frequency (table index or explicit 24-bit value), channel configuration and, for explicit SBR/PS configs,
 * the extension frequency and core object type.
 *
 * @throws {@link CodecError} when it is truncated or uses a reserved frequency index.
 */
export const parseAudioSpecificConfig = (bytes: Uint8Array): AudioSpecificConfig => {
  const reader = new BitReader(bytes, 'AudioSpecificConfig');
  const objectType = readObjectType(reader);
  const samplingFrequencyHz = readSamplingFrequency(reader);
  const channels = reader.readBits(4);
  if (objectType === AacObjectType.Sbr || objectType === AacObjectType.Ps) {
    const extensionSamplingFrequencyHz = readSamplingFrequency(reader);
    const coreObjectType = readObjectType(reader);
    return { objectType, samplingFrequencyHz, channels, extensionSamplingFrequencyHz, coreObjectType };
  }
  return { objectType, samplingFrequencyHz, channels };
};

const readObjectType = (reader: BitReader): number => {
  const objectType = reader.readBits(5);
  return objectType === 31 ? 32 + reader.readBits(6) : objectType;
};

const readSamplingFrequency = (reader: BitReader): number => {
  const frequencyIndex = reader.readBits(4);
  if (frequencyIndex === 15) {
    return reader.readBits(24);
  }
  return frequencyFromIndex(frequencyIndex, 'AudioSpecificConfig');
};

const frequencyFromIndex = (frequencyIndex: number, structure: string): number => {
  const frequencyHz = AAC_SAMPLING_FREQUENCIES_HZ[frequencyIndex];
  if (frequencyHz === undefined) {
    throw new CodecError(structure, `samplingFrequencyIndex ${frequencyIndex} is reserved`, {
      frequencyIndex,
    });
  }
  return frequencyHz;
};

/** The fields of a fixed + variable ADTS header kvs-put uses. */
export type AdtsHeader = {
  /** profile_ObjectType + 1 (2 = AAC-LC). */
  objectType: number;
  samplingFrequencyHz: number;
  /** channel_configuration (0 = defined by a program config element in the payload). */
  channels: number;
  /** 7, or 9 with the CRC. */
  headerBytes: number;
  /** aac_frame_length: header plus payload, in bytes. */
  frameBytes: number;
  hasCrc: boolean;
};

const ADTS_HEADER_BYTES = 7;
const ADTS_CRC_BYTES = 2;

/**
 * True when `frame` starts with an ADTS header: the 12-bit syncword 0xFFF and layer 0. A raw AAC access unit
 * cannot start this way (its first syntax element would be ID_END), so the check is unambiguous.
 */
export const isAdtsFrame = (frame: Uint8Array): boolean =>
  frame.length >= ADTS_HEADER_BYTES && frame[0] === 0xff && (frame[1]! & 0xf6) === 0xf0;

/**
 * Parses the ADTS header at the start of `frame`.
 *
 * @throws {@link CodecError} when there is no ADTS header, it is inconsistent or it packs several raw data
 *   blocks (which cannot be split into Matroska frames without decoding).
 */
export const parseAdtsHeader = (frame: Uint8Array): AdtsHeader => {
  const structure = 'ADTS header';
  if (!isAdtsFrame(frame)) {
    throw new CodecError(structure, `no ADTS syncword in the first ${Math.min(frame.length, 2)} byte(s)`);
  }
  const hasCrc = (frame[1]! & 0x01) === 0;
  const objectType = (frame[2]! >>> 6) + 1;
  const samplingFrequencyHz = frequencyFromIndex((frame[2]! >>> 2) & 0x0f, structure);
  const channels = ((frame[2]! & 0x01) << 2) | (frame[3]! >>> 6);
  const frameBytes = ((frame[3]! & 0x03) << 11) | (frame[4]! << 3) | (frame[5]! >>> 5);
  const rawDataBlockCount = (frame[6]! & 0x03) + 1;
  const headerBytes = ADTS_HEADER_BYTES + (hasCrc ? ADTS_CRC_BYTES : 0);
  if (frameBytes < headerBytes) {
    throw new CodecError(
      structure,
      `aac_frame_length ${frameBytes} is shorter than the ${headerBytes}-byte header`,
      {
        frameBytes,
      },
    );
  }
  if (rawDataBlockCount !== 1) {
    throw new CodecError(
      structure,
      `${rawDataBlockCount} raw data blocks in one ADTS frame are not supported`,
      {
        rawDataBlockCount,
      },
    );
  }
  return { objectType, samplingFrequencyHz, channels, headerBytes, frameBytes, hasCrc };
};

/**
 * Returns the raw AAC access unit of an ADTS frame as a view (no copy), or `frame` itself when it has no ADTS
 * header (it is already raw).
 *
 * @throws {@link CodecError} when the header is invalid or its aac_frame_length does not match the frame.
 */
export const stripAdts = (frame: Uint8Array): Uint8Array => {
  if (!isAdtsFrame(frame)) {
    return frame;
  }
  const header = parseAdtsHeader(frame);
  if (header.frameBytes !== frame.length) {
    throw new CodecError(
      'ADTS frame',
      `aac_frame_length is ${header.frameBytes} but the frame has ${frame.length} bytes; pass one ADTS frame at a time`,
      { frameBytes: header.frameBytes, byteLength: frame.length },
    );
  }
  return frame.subarray(header.headerBytes);
};

/**
 * Builds the AudioSpecificConfig (CodecPrivate) that matches an ADTS frame's header.
 *
 * @throws {@link CodecError} when the header is invalid or its channel layout is in a program config element.
 */
export const audioSpecificConfigFromAdts = (frame: Uint8Array): Uint8Array => {
  const header = parseAdtsHeader(frame);
  if (header.channels === 0) {
    throw new CodecError(
      'ADTS header',
      'channel_configuration 0 (layout in a program config element) is not supported',
    );
  }
  return buildAudioSpecificConfig({
    objectType: header.objectType,
    samplingFrequencyHz: header.samplingFrequencyHz,
    channels: header.channels,
  });
};

/** Fixed-size MSB-first bit writer; AudioSpecificConfig is the only thing kvs-put writes bit by bit. */
class BitWriter {
  public readonly bytes: Uint8Array;
  private bitOffset = 0;

  public constructor(byteLength: number) {
    this.bytes = new Uint8Array(byteLength);
  }

  public write(value: number, bitCount: number): void {
    for (let i = bitCount - 1; i >= 0; i--) {
      const bit = Math.floor(value / 2 ** i) % 2;
      const byteIndex = this.bitOffset >>> 3;
      this.bytes[byteIndex] = this.bytes[byteIndex]! | (bit << (7 - (this.bitOffset & 7)));
      this.bitOffset++;
    }
  }
}
