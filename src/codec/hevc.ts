/**
 * H.265 / HEVC helpers for KVS (producer SDK §4.6): NAL unit types, IRAP keyframe detection, the
 * HEVCDecoderConfigurationRecord (`hvcC`, ISO/IEC 14496-15 §8.3.3.1) used as the `V_MPEGH/ISO/HEVC`
 * CodecPrivate, and the SPS fields that give the picture size (ITU-T H.265 §7.3.2.2). Sample framing
 * (Annex-B ↔ length-prefixed) is codec-neutral and lives in `nal-units.ts`.
 */
import { BitReader, removeEmulationPrevention } from './bit-reader.js';
import { ByteCursor } from './byte-cursor.js';
import { CodecError } from './codec-errors.js';
import { chromaSubsampling } from './h264.js';
import {
  DEFAULT_NAL_LENGTH_SIZE,
  isAnnexB,
  isNalLengthSize,
  pushUnique,
  someNalUnitHeader,
  splitAnnexB,
  type NalLengthSize,
} from './nal-units.js';

/** H.265 nal_unit_type values kvs-put cares about (ITU-T H.265 Table 7-1). */
export const HevcNalType = {
  BlaWLp: 16,
  BlaWRadl: 17,
  BlaNLp: 18,
  IdrWRadl: 19,
  IdrNLp: 20,
  CraNut: 21,
  Vps: 32,
  Sps: 33,
  Pps: 34,
  Aud: 35,
  EndOfSequence: 36,
  EndOfBitstream: 37,
  Filler: 38,
  PrefixSei: 39,
  SuffixSei: 40,
} as const;
export type HevcNalType = (typeof HevcNalType)[keyof typeof HevcNalType];

/** The nal_unit_type of an H.265 NAL unit: bits 1..6 of its first header byte. */
export const hevcNalType = (nalUnit: Uint8Array): number => {
  if (nalUnit.length < 2) {
    throw new CodecError(
      'H.265 NAL unit',
      `${nalUnit.length}-byte NAL unit is shorter than its 2-byte header`,
    );
  }
  return (nalUnit[0]! >>> 1) & 0x3f;
};

/**
 * True for IRAP slice types (BLA, IDR, CRA: 16..21), where decoding can start. The reserved IRAP types 22
 * and 23 are never produced by conforming encoders and are not counted.
 */
export const isHevcIrapNalType = (nalType: number): boolean =>
  nalType >= HevcNalType.BlaWLp && nalType <= HevcNalType.CraNut;

const isIrapHeaderByte = (headerByte: number): boolean => isHevcIrapNalType((headerByte >>> 1) & 0x3f);

/**
 * True when a length-prefixed (HVCC) sample contains an IRAP slice. Allocation-free; meant for every frame.
 *
 * @throws {@link CodecError} when a length prefix runs past the end of the sample.
 */
export const isHevcKeyframe = (
  hvccFrame: Uint8Array,
  lengthSize: NalLengthSize = DEFAULT_NAL_LENGTH_SIZE,
): boolean => someNalUnitHeader(hvccFrame, lengthSize, isIrapHeaderByte);

/** Format and picture facts from an H.265 sequence parameter set. */
export type HevcSps = {
  /** general_profile_space (2 bits). */
  generalProfileSpace: number;
  generalTierFlag: boolean;
  /** general_profile_idc: 1 Main, 2 Main 10, 3 Main Still Picture, 4 range extensions, .... */
  generalProfileIdc: number;
  /** The 32 general_profile_compatibility_flags, flag 0 in the most significant bit. */
  generalProfileCompatibilityFlags: number;
  /** The 48 bits from general_progressive_source_flag on, as 6 bytes (a copy). */
  generalConstraintIndicatorFlags: Uint8Array;
  /** general_level_idc: 30 × the level number (93 = level 3.1). */
  generalLevelIdc: number;
  /** sps_max_sub_layers_minus1 + 1. */
  maxSubLayers: number;
  temporalIdNesting: boolean;
  seqParameterSetId: number;
  /** 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4. */
  chromaFormatIdc: number;
  separateColourPlane: boolean;
  bitDepthLuma: number;
  bitDepthChroma: number;
  /** pic_width/height_in_luma_samples, before the conformance window. */
  codedWidthPx: number;
  codedHeightPx: number;
  /** Display size after the conformance window. */
  widthPx: number;
  heightPx: number;
};

/** Size of general profile_tier_level() in bytes: the part copied into `hvcC`. */
const GENERAL_PTL_BYTES = 12;

/**
 * Parses an H.265 SPS NAL unit (2-byte header included; emulation-prevention bytes allowed) up to the bit
 * depths, including the conformance window. Later fields are not read.
 *
 * @throws {@link CodecError} when the NAL unit is not an SPS, is truncated or has out-of-range fields.
 */
export const parseHevcSps = (spsNalUnit: Uint8Array): HevcSps => {
  const structure = 'H.265 SPS';
  if (hevcNalType(spsNalUnit) !== HevcNalType.Sps) {
    throw new CodecError(structure, `got NAL unit type ${hevcNalType(spsNalUnit)}, expected 33 (SPS)`);
  }
  const rbsp = removeEmulationPrevention(spsNalUnit.subarray(2));
  const reader = new BitReader(rbsp, structure);
  reader.skipBits(4); // sps_video_parameter_set_id
  const maxSubLayersMinus1 = reader.readBits(3);
  if (maxSubLayersMinus1 > 6) {
    throw new CodecError(structure, `sps_max_sub_layers_minus1 is ${maxSubLayersMinus1}, the maximum is 6`);
  }
  const temporalIdNesting = reader.readFlag();
  // profile_tier_level(1, sps_max_sub_layers_minus1), §7.3.3. The general part is byte aligned here.
  const generalProfileSpace = reader.readBits(2);
  const generalTierFlag = reader.readFlag();
  const generalProfileIdc = reader.readBits(5);
  const generalProfileCompatibilityFlags = reader.readBits(32);
  const generalConstraintIndicatorFlags = rbsp.slice(6, 12);
  reader.skipBits(48);
  const generalLevelIdc = reader.readBits(8);
  skipSubLayerProfileTierLevels(reader, maxSubLayersMinus1);
  const seqParameterSetId = reader.readUeMax('sps_seq_parameter_set_id', 15);
  const chromaFormatIdc = reader.readUeMax('chroma_format_idc', 3);
  const separateColourPlane = chromaFormatIdc === 3 ? reader.readFlag() : false;
  const codedWidthPx = reader.readUe();
  const codedHeightPx = reader.readUe();
  let windowLeft = 0;
  let windowRight = 0;
  let windowTop = 0;
  let windowBottom = 0;
  if (reader.readFlag()) {
    windowLeft = reader.readUe();
    windowRight = reader.readUe();
    windowTop = reader.readUe();
    windowBottom = reader.readUe();
  }
  const bitDepthLuma = 8 + reader.readUeMax('bit_depth_luma_minus8', 8);
  const bitDepthChroma = 8 + reader.readUeMax('bit_depth_chroma_minus8', 8);

  // §7.4.3.2.1: conformance window offsets count chroma samples (SubWidthC/SubHeightC of ChromaArrayType).
  const subsampling = chromaSubsampling(separateColourPlane ? 0 : chromaFormatIdc);
  const widthPx = codedWidthPx - subsampling.widthFactor * (windowLeft + windowRight);
  const heightPx = codedHeightPx - subsampling.heightFactor * (windowTop + windowBottom);
  if (codedWidthPx === 0 || codedHeightPx === 0 || widthPx <= 0 || heightPx <= 0) {
    throw new CodecError(
      structure,
      `conformance window leaves no picture of the ${codedWidthPx}x${codedHeightPx} one`,
      {
        codedWidthPx,
        codedHeightPx,
        window: [windowLeft, windowRight, windowTop, windowBottom],
      },
    );
  }
  return {
    generalProfileSpace,
    generalTierFlag,
    generalProfileIdc,
    generalProfileCompatibilityFlags,
    generalConstraintIndicatorFlags,
    generalLevelIdc,
    maxSubLayers: maxSubLayersMinus1 + 1,
    temporalIdNesting,
    seqParameterSetId,
    chromaFormatIdc,
    separateColourPlane,
    bitDepthLuma,
    bitDepthChroma,
    codedWidthPx,
    codedHeightPx,
    widthPx,
    heightPx,
  };
};

/** The sub-layer part of profile_tier_level(), which sits between general_level_idc and the SPS id. */
const skipSubLayerProfileTierLevels = (reader: BitReader, maxSubLayersMinus1: number): void => {
  const profilePresent: boolean[] = [];
  const levelPresent: boolean[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    profilePresent.push(reader.readFlag());
    levelPresent.push(reader.readFlag());
  }
  if (maxSubLayersMinus1 > 0) {
    reader.skipBits(2 * (8 - maxSubLayersMinus1)); // reserved_zero_2bits up to 8 entries
  }
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    if (profilePresent[i] === true) {
      reader.skipBits(88); // profile space, tier, idc, 32 compatibility flags, 44 constraint bits
    }
    if (levelPresent[i] === true) {
      reader.skipBits(8); // sub_layer_level_idc
    }
  }
};

/** One NAL unit array of an `hvcC` record. */
export type HevcNalArray = {
  nalType: number;
  /** array_completeness: every NAL unit of this type is here, none in the samples. */
  isComplete: boolean;
  /** NAL units (2-byte header included) as views. */
  nalus: Uint8Array[];
};

/** A parsed HEVCDecoderConfigurationRecord. */
export type HevcDecoderConfigurationRecord = {
  /** general_profile_space. */
  profileSpace: number;
  tierFlag: boolean;
  /** general_profile_idc. */
  profile: number;
  /** general_profile_compatibility_flags (32 bits). */
  compatibilityFlags: number;
  /** general_constraint_indicator_flags, 6 bytes, as a view. */
  constraintFlags: Uint8Array;
  /** general_level_idc. */
  level: number;
  minSpatialSegmentationIdc: number;
  parallelismType: number;
  chromaFormatIdc: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  /** In frames per 256 s; 0 means unspecified. */
  avgFrameRate: number;
  constantFrameRate: number;
  numTemporalLayers: number;
  temporalIdNested: boolean;
  /** lengthSizeMinusOne + 1: the width of each sample's NAL length prefixes. */
  nalLengthSize: NalLengthSize;
  arrays: HevcNalArray[];
};

/** Fixed part of an `hvcC` record before numOfArrays. */
const HVCC_HEADER_BYTES = 22;

/**
 * Parses an `hvcC` record (Matroska `V_MPEGH/ISO/HEVC` CodecPrivate). NAL units are returned as views.
 *
 * @throws {@link CodecError} when the record is truncated, has another version or a 3-byte length size.
 */
export const parseHevcDecoderConfigurationRecord = (hvcC: Uint8Array): HevcDecoderConfigurationRecord => {
  const cursor = new ByteCursor(hvcC, 'hvcC');
  const version = cursor.u8('configurationVersion');
  if (version !== 1) {
    throw new CodecError('hvcC', `configurationVersion is ${version}, expected 1`, { version });
  }
  const profileByte = cursor.u8('general_profile_idc');
  const compatibilityFlags = cursor.u32('general_profile_compatibility_flags');
  const constraintFlags = cursor.view(6, 'general_constraint_indicator_flags');
  const level = cursor.u8('general_level_idc');
  const minSpatialSegmentationIdc = cursor.u16('min_spatial_segmentation_idc') & 0x0fff;
  const parallelismType = cursor.u8('parallelismType') & 0x03;
  const chromaFormatIdc = cursor.u8('chromaFormat') & 0x03;
  const bitDepthLuma = (cursor.u8('bitDepthLumaMinus8') & 0x07) + 8;
  const bitDepthChroma = (cursor.u8('bitDepthChromaMinus8') & 0x07) + 8;
  const avgFrameRate = cursor.u16('avgFrameRate');
  const layersByte = cursor.u8('lengthSizeMinusOne');
  const nalLengthSize = (layersByte & 0x03) + 1;
  if (!isNalLengthSize(nalLengthSize)) {
    throw new CodecError('hvcC', 'lengthSizeMinusOne is 2 (3-byte NAL lengths are not allowed)');
  }
  const arrayCount = cursor.u8('numOfArrays');
  const arrays: HevcNalArray[] = [];
  for (let i = 0; i < arrayCount; i++) {
    const typeByte = cursor.u8(`array[${i}].NAL_unit_type`);
    const nalCount = cursor.u16(`array[${i}].numNalus`);
    arrays.push({
      nalType: typeByte & 0x3f,
      isComplete: (typeByte & 0x80) !== 0,
      nalus: cursor.nalUnits(nalCount, `array[${i}].nalUnit`),
    });
  }
  return {
    profileSpace: profileByte >>> 6,
    tierFlag: (profileByte & 0x20) !== 0,
    profile: profileByte & 0x1f,
    compatibilityFlags,
    constraintFlags,
    level,
    minSpatialSegmentationIdc,
    parallelismType,
    chromaFormatIdc,
    bitDepthLuma,
    bitDepthChroma,
    avgFrameRate,
    constantFrameRate: layersByte >>> 6,
    numTemporalLayers: (layersByte >>> 3) & 0x07,
    temporalIdNested: (layersByte & 0x04) !== 0,
    nalLengthSize,
    arrays,
  };
};

/** What to put in an `hvcC` record. */
export type HevcDecoderConfigurationRecordOptions = {
  /** VPS NAL units (type 32). */
  vps: readonly Uint8Array[];
  /** SPS NAL units (type 33); the first gives the general profile, tier, level, chroma format and depths. */
  sps: readonly Uint8Array[];
  /** PPS NAL units (type 34). */
  pps: readonly Uint8Array[];
  /** NAL length prefix width the samples will use. Defaults to 4, as KVS expects. */
  nalLengthSize?: NalLengthSize;
};

/**
 * Builds an `hvcC` record from VPS, SPS and PPS lists. The general profile_tier_level bytes are copied from the
 * first SPS; chroma format, bit depths and temporal layering come from its parsed fields. Fields that need
 * the VUI or PPS (min_spatial_segmentation_idc, parallelismType) and the frame rate are written as 0,
 * "unknown", which the spec allows; array_completeness is 0 because encoders may repeat parameter sets
 * in-band (ffmpeg writes the same for Matroska).
 *
 * @throws {@link CodecError} when a list is empty or holds the wrong NAL type, or the SPS cannot be parsed.
 */
export const buildHevcDecoderConfigurationRecord = (
  options: HevcDecoderConfigurationRecordOptions,
): Uint8Array => {
  const { vps, sps, pps, nalLengthSize = DEFAULT_NAL_LENGTH_SIZE } = options;
  const arrays: [number, readonly Uint8Array[]][] = [
    [HevcNalType.Vps, vps],
    [HevcNalType.Sps, sps],
    [HevcNalType.Pps, pps],
  ];
  let totalBytes = HVCC_HEADER_BYTES + 1;
  for (const [nalType, nalUnits] of arrays) {
    if (nalUnits.length === 0 || nalUnits.length > 0xffff) {
      throw new CodecError('hvcC', `${nalUnits.length} NAL units of type ${nalType} given, allowed 1..65535`);
    }
    totalBytes += 3;
    for (const nalUnit of nalUnits) {
      if (nalUnit.length < 2 || nalUnit.length > 0xffff || hevcNalType(nalUnit) !== nalType) {
        throw new CodecError(
          'hvcC',
          `the type ${nalType} list holds a ${nalUnit.length}-byte NAL unit of another type`,
        );
      }
      totalBytes += 2 + nalUnit.length;
    }
  }
  const firstSps = sps[0]!;
  const parsedSps = parseHevcSps(firstSps);
  const spsRbsp = removeEmulationPrevention(firstSps.subarray(2));
  const output = new Uint8Array(totalBytes);
  output[0] = 1;
  // general_profile_space .. general_level_idc, byte for byte (they follow the SPS's first byte).
  output.set(spsRbsp.subarray(1, 1 + GENERAL_PTL_BYTES), 1);
  // Reserved bits are ones; min_spatial_segmentation_idc and parallelismType 0 mean "unknown".
  output[13] = 0xf0;
  output[14] = 0x00;
  output[15] = 0xfc;
  output[16] = 0xfc | parsedSps.chromaFormatIdc;
  output[17] = 0xf8 | (parsedSps.bitDepthLuma - 8);
  output[18] = 0xf8 | (parsedSps.bitDepthChroma - 8);
  output[19] = 0; // avgFrameRate: unspecified
  output[20] = 0;
  output[21] =
    (parsedSps.maxSubLayers << 3) | ((parsedSps.temporalIdNesting ? 1 : 0) << 2) | (nalLengthSize - 1);
  output[22] = arrays.length;
  let offset = HVCC_HEADER_BYTES + 1;
  for (const [nalType, nalUnits] of arrays) {
    output[offset] = nalType; // array_completeness 0, reserved 0
    output[offset + 1] = nalUnits.length >>> 8;
    output[offset + 2] = nalUnits.length & 0xff;
    offset += 3;
    for (const nalUnit of nalUnits) {
      output[offset] = nalUnit.length >>> 8;
      output[offset + 1] = nalUnit.length & 0xff;
      output.set(nalUnit, offset + 2);
      offset += 2 + nalUnit.length;
    }
  }
  return output;
};

/**
 * Turns an Annex-B CodecPrivate (VPS, SPS, PPS with start codes) into an `hvcC` record: the producer SDK's
 * ANNEXB_CPD_NALS adaptation for H.265. NAL units other than VPS, SPS and PPS (AUD, SEI) are dropped, and so
 * are byte-identical repeats.
 *
 * @throws {@link CodecError} when the data is not Annex-B or lacks a VPS, SPS or PPS.
 */
export const hvccFromAnnexBCodecPrivate = (
  annexB: Uint8Array,
  nalLengthSize: NalLengthSize = DEFAULT_NAL_LENGTH_SIZE,
): Uint8Array => {
  if (!isAnnexB(annexB)) {
    throw new CodecError('Annex-B H.265 CodecPrivate', 'it does not start with a start code');
  }
  const vps: Uint8Array[] = [];
  const sps: Uint8Array[] = [];
  const pps: Uint8Array[] = [];
  for (const nalUnit of splitAnnexB(annexB)) {
    const nalType = hevcNalType(nalUnit);
    if (nalType === HevcNalType.Vps) {
      pushUnique(vps, nalUnit);
    } else if (nalType === HevcNalType.Sps) {
      pushUnique(sps, nalUnit);
    } else if (nalType === HevcNalType.Pps) {
      pushUnique(pps, nalUnit);
    }
  }
  return buildHevcDecoderConfigurationRecord({ vps, sps, pps, nalLengthSize });
};

/**
 * Returns an `hvcC` record for an H.265 CodecPrivate in either form: an `hvcC` is validated and returned as
 * is, an Annex-B one is converted with {@link hvccFromAnnexBCodecPrivate}.
 *
 * @throws {@link CodecError} when it is neither.
 */
export const normalizeHevcCodecPrivate = (codecPrivate: Uint8Array): Uint8Array => {
  if (isAnnexB(codecPrivate)) {
    return hvccFromAnnexBCodecPrivate(codecPrivate);
  }
  parseHevcDecoderConfigurationRecord(codecPrivate);
  return codecPrivate;
};

/**
 * Parses the first SPS of an H.265 CodecPrivate (`hvcC` or Annex-B), e.g. to fill the Matroska Video element.
 *
 * @throws {@link CodecError} when there is no SPS or it cannot be parsed.
 */
export const parseHevcSpsFromCodecPrivate = (codecPrivate: Uint8Array): HevcSps => {
  const spsList = isAnnexB(codecPrivate)
    ? splitAnnexB(codecPrivate).filter((nalUnit) => hevcNalType(nalUnit) === HevcNalType.Sps)
    : parseHevcDecoderConfigurationRecord(codecPrivate)
        .arrays.filter((array) => array.nalType === HevcNalType.Sps)
        .flatMap((array) => array.nalus);
  const firstSps = spsList[0];
  if (firstSps === undefined) {
    throw new CodecError('H.265 CodecPrivate', 'it contains no SPS');
  }
  return parseHevcSps(firstSps);
};
