/**
 * H.264 / AVC helpers for KVS (producer SDK §4.6): Annex-B ↔ AVCC sample framing, NAL unit types, keyframe
 * detection, the AVCDecoderConfigurationRecord (`avcC`, ISO/IEC 14496-15 §5.3.3.1) that KVS needs as the
 * track's CodecPrivate, and the SPS fields that give the picture size (ITU-T H.264 §7.3.2.1.1).
 */
import { BitReader, removeEmulationPrevention } from './bit-reader.js';
import { ByteCursor } from './byte-cursor.js';
import { CodecError } from './codec-errors.js';
import {
  annexBToLengthPrefixed,
  DEFAULT_NAL_LENGTH_SIZE,
  isAnnexB,
  isNalLengthSize,
  iterateNalUnits,
  lengthPrefixedToAnnexB,
  pushUnique,
  someNalUnitHeader,
  splitAnnexB,
  type NalLengthSize,
} from './nal-units.js';

/** H.264 nal_unit_type values kvs-put cares about (ITU-T H.264 Table 7-1). */
export const H264NalType = {
  NonIdrSlice: 1,
  Idr: 5,
  Sei: 6,
  Sps: 7,
  Pps: 8,
  Aud: 9,
  EndOfSequence: 10,
  EndOfStream: 11,
  Filler: 12,
  SpsExtension: 13,
} as const;
export type H264NalType = (typeof H264NalType)[keyof typeof H264NalType];

/** The nal_unit_type of an H.264 NAL unit: the low 5 bits of its header byte. */
export const h264NalType = (nalUnit: Uint8Array): number => {
  if (nalUnit.length === 0) {
    throw new CodecError('H.264 NAL unit', 'empty NAL unit has no header');
  }
  return nalUnit[0]! & 0x1f;
};

/** Converts an Annex-B access unit to AVCC (length-prefixed, 4-byte lengths by default). */
export const annexBToAvcc = (
  annexB: Uint8Array,
  lengthSize: NalLengthSize = DEFAULT_NAL_LENGTH_SIZE,
): Uint8Array => annexBToLengthPrefixed(annexB, lengthSize);

/** Converts an AVCC sample to Annex-B with 4-byte start codes. */
export const avccToAnnexB = (
  avcc: Uint8Array,
  lengthSize: NalLengthSize = DEFAULT_NAL_LENGTH_SIZE,
): Uint8Array => lengthPrefixedToAnnexB(avcc, lengthSize);

/** Iterates the NAL units of an AVCC sample as views (no copies). */
export const avccNalUnits = (
  avcc: Uint8Array,
  lengthSize: NalLengthSize = DEFAULT_NAL_LENGTH_SIZE,
): Generator<Uint8Array, void, undefined> => iterateNalUnits(avcc, lengthSize);

const isIdrHeaderByte = (headerByte: number): boolean => (headerByte & 0x1f) === H264NalType.Idr;

/**
 * True when an AVCC sample contains an IDR slice, i.e. decoding can start here. Allocation-free; meant for
 * every frame. (Recovery-point SEI "keyframes" are deliberately not counted: KVS fragments must start on an
 * IDR for playback.)
 *
 * @throws {@link CodecError} when a length prefix runs past the end of the sample.
 */
export const isH264Keyframe = (
  avccFrame: Uint8Array,
  lengthSize: NalLengthSize = DEFAULT_NAL_LENGTH_SIZE,
): boolean => someNalUnitHeader(avccFrame, lengthSize, isIdrHeaderByte);

/**
 * profile_idc values whose SPS carries chroma_format_idc, bit depths and scaling lists (§7.3.2.1.1), and whose
 * avcC therefore carries the chroma/bit-depth extension (ISO/IEC 14496-15 §5.3.3.1.2; ffmpeg writes it for
 * these too).
 */
const PROFILES_WITH_CHROMA_FIELDS: ReadonlySet<number> = new Set([
  100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135, 144,
]);

/** Picture and format facts from an H.264 sequence parameter set. */
export type H264Sps = {
  profileIdc: number;
  /** constraint_set0..5 flags and the two reserved bits, as the byte after profile_idc. */
  constraintFlags: number;
  levelIdc: number;
  seqParameterSetId: number;
  /** 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4 (1 when the profile has no such field). */
  chromaFormatIdc: number;
  separateColourPlane: boolean;
  bitDepthLuma: number;
  bitDepthChroma: number;
  /** False for interlaced-capable streams, whose height is counted in field pairs. */
  frameMbsOnly: boolean;
  /** Decoded size in macroblocks × 16, before cropping. */
  codedWidthPx: number;
  codedHeightPx: number;
  /** Display size after frame cropping. */
  widthPx: number;
  heightPx: number;
};

/**
 * Parses an H.264 SPS NAL unit (header byte included; emulation-prevention bytes allowed) up to the frame
 * cropping fields. VUI is not read.
 *
 * @throws {@link CodecError} when the NAL unit is not an SPS, is truncated or has out-of-range fields.
 */
export const parseH264Sps = (spsNalUnit: Uint8Array): H264Sps => {
  const structure = 'H.264 SPS';
  if (spsNalUnit.length < 4 || h264NalType(spsNalUnit) !== H264NalType.Sps) {
    throw new CodecError(structure, describeNotA(spsNalUnit, 'SPS (nal_unit_type 7, at least 4 bytes)'));
  }
  const reader = new BitReader(removeEmulationPrevention(spsNalUnit.subarray(1)), structure);
  const profileIdc = reader.readBits(8);
  const constraintFlags = reader.readBits(8);
  const levelIdc = reader.readBits(8);
  const seqParameterSetId = reader.readUeMax('seq_parameter_set_id', 31);
  let chromaFormatIdc = 1;
  let separateColourPlane = false;
  let bitDepthLuma = 8;
  let bitDepthChroma = 8;
  if (PROFILES_WITH_CHROMA_FIELDS.has(profileIdc)) {
    chromaFormatIdc = reader.readUeMax('chroma_format_idc', 3);
    if (chromaFormatIdc === 3) {
      separateColourPlane = reader.readFlag();
    }
    bitDepthLuma = 8 + reader.readUeMax('bit_depth_luma_minus8', 6);
    bitDepthChroma = 8 + reader.readUeMax('bit_depth_chroma_minus8', 6);
    reader.skipBits(1); // qpprime_y_zero_transform_bypass_flag
    if (reader.readFlag()) {
      // seq_scaling_matrix_present_flag: 6 4x4 lists, then 2 (or 6 for 4:4:4) 8x8 lists. They are only
      // skipped, but they must be walked: their length depends on their content.
      const listCount = chromaFormatIdc === 3 ? 12 : 8;
      for (let i = 0; i < listCount; i++) {
        if (reader.readFlag()) {
          skipScalingList(reader, i < 6 ? 16 : 64);
        }
      }
    }
  }
  reader.readUeMax('log2_max_frame_num_minus4', 12);
  const picOrderCntType = reader.readUeMax('pic_order_cnt_type', 2);
  if (picOrderCntType === 0) {
    reader.readUeMax('log2_max_pic_order_cnt_lsb_minus4', 12);
  } else if (picOrderCntType === 1) {
    reader.skipBits(1); // delta_pic_order_always_zero_flag
    reader.readSe(); // offset_for_non_ref_pic
    reader.readSe(); // offset_for_top_to_bottom_field
    const cycleLength = reader.readUeMax('num_ref_frames_in_pic_order_cnt_cycle', 255);
    for (let i = 0; i < cycleLength; i++) {
      reader.readSe(); // offset_for_ref_frame[i]
    }
  }
  reader.readUe(); // max_num_ref_frames
  reader.skipBits(1); // gaps_in_frame_num_value_allowed_flag
  const widthInMbs = reader.readUe() + 1;
  const heightInMapUnits = reader.readUe() + 1;
  const frameMbsOnly = reader.readFlag();
  if (!frameMbsOnly) {
    reader.skipBits(1); // mb_adaptive_frame_field_flag
  }
  reader.skipBits(1); // direct_8x8_inference_flag
  let cropLeft = 0;
  let cropRight = 0;
  let cropTop = 0;
  let cropBottom = 0;
  if (reader.readFlag()) {
    cropLeft = reader.readUe();
    cropRight = reader.readUe();
    cropTop = reader.readUe();
    cropBottom = reader.readUe();
  }

  // §7.4.2.1.1: crop offsets count chroma samples (and field rows when frame_mbs_only_flag is 0).
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const fieldFactor = frameMbsOnly ? 1 : 2;
  const cropUnitX = chromaArrayType === 0 ? 1 : chromaSubsampling(chromaArrayType).widthFactor;
  const cropUnitY =
    (chromaArrayType === 0 ? 1 : chromaSubsampling(chromaArrayType).heightFactor) * fieldFactor;
  const codedWidthPx = widthInMbs * 16;
  const codedHeightPx = heightInMapUnits * 16 * fieldFactor;
  const widthPx = codedWidthPx - cropUnitX * (cropLeft + cropRight);
  const heightPx = codedHeightPx - cropUnitY * (cropTop + cropBottom);
  if (widthPx <= 0 || heightPx <= 0) {
    throw new CodecError(
      structure,
      `frame cropping removes the whole ${codedWidthPx}x${codedHeightPx} picture`,
      {
        codedWidthPx,
        codedHeightPx,
        crop: [cropLeft, cropRight, cropTop, cropBottom],
      },
    );
  }
  return {
    profileIdc,
    constraintFlags,
    levelIdc,
    seqParameterSetId,
    chromaFormatIdc,
    separateColourPlane,
    bitDepthLuma,
    bitDepthChroma,
    frameMbsOnly,
    codedWidthPx,
    codedHeightPx,
    widthPx,
    heightPx,
  };
};

/** SubWidthC / SubHeightC for chroma_format_idc 1..3 (ITU-T H.264 Table 6-1, H.265 Table 6-1). */
export const chromaSubsampling = (chromaFormatIdc: number): { widthFactor: number; heightFactor: number } => {
  if (chromaFormatIdc === 1) {
    return { widthFactor: 2, heightFactor: 2 };
  }
  if (chromaFormatIdc === 2) {
    return { widthFactor: 2, heightFactor: 1 };
  }
  return { widthFactor: 1, heightFactor: 1 };
};

/** scaling_list() of §7.3.2.1.1.1, read only to advance past it. */
const skipScalingList = (reader: BitReader, listSize: number): void => {
  let lastScale = 8;
  let nextScale = 8;
  for (let j = 0; j < listSize; j++) {
    if (nextScale !== 0) {
      const deltaScale = reader.readSe();
      if (deltaScale < -128 || deltaScale > 127) {
        throw new CodecError('H.264 SPS', `delta_scale ${deltaScale} is outside -128..127`, { deltaScale });
      }
      nextScale = (lastScale + deltaScale + 256) % 256;
    }
    // nextScale 0 means "use the default list" on the first entry, "repeat the last value" afterwards.
    lastScale = nextScale === 0 ? lastScale : nextScale;
  }
};

/** The avcC extension present for high profiles (chroma format, bit depths, SPS extensions). */
export type AvcHighProfileFields = {
  chromaFormatIdc: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  /** SPS extension NAL units (type 13), as views. */
  spsExt: Uint8Array[];
};

/** A parsed AVCDecoderConfigurationRecord. NAL units are views into the parsed bytes. */
export type AvcDecoderConfigurationRecord = {
  /** AVCProfileIndication (profile_idc of the SPS). */
  profile: number;
  /** profile_compatibility (the SPS constraint flags byte). */
  compat: number;
  /** AVCLevelIndication (level_idc). */
  level: number;
  /** lengthSizeMinusOne + 1: the width of each sample's NAL length prefixes. */
  nalLengthSize: NalLengthSize;
  sps: Uint8Array[];
  pps: Uint8Array[];
  /** Present when the profile defines it and the record carries it (older muxers omitted it). */
  highProfileFields?: AvcHighProfileFields;
};

/**
 * Parses an `avcC` record (Matroska `V_MPEG4/ISO/AVC` CodecPrivate). NAL units are returned as views.
 *
 * @throws {@link CodecError} when the record is truncated, has another version or a 3-byte length size.
 */
export const parseAvcDecoderConfigurationRecord = (avcC: Uint8Array): AvcDecoderConfigurationRecord => {
  const cursor = new ByteCursor(avcC, 'avcC');
  const version = cursor.u8('configurationVersion');
  if (version !== 1) {
    throw new CodecError('avcC', `configurationVersion is ${version}, expected 1`, { version });
  }
  const profile = cursor.u8('AVCProfileIndication');
  const compat = cursor.u8('profile_compatibility');
  const level = cursor.u8('AVCLevelIndication');
  const nalLengthSize = (cursor.u8('lengthSizeMinusOne') & 0x03) + 1;
  if (!isNalLengthSize(nalLengthSize)) {
    throw new CodecError('avcC', 'lengthSizeMinusOne is 2 (3-byte NAL lengths are not allowed)');
  }
  const spsCount = cursor.u8('numOfSequenceParameterSets') & 0x1f;
  const sps = cursor.nalUnits(spsCount, 'sequenceParameterSetNALUnit');
  const ppsCount = cursor.u8('numOfPictureParameterSets');
  const pps = cursor.nalUnits(ppsCount, 'pictureParameterSetNALUnit');
  const record: AvcDecoderConfigurationRecord = { profile, compat, level, nalLengthSize, sps, pps };
  if (PROFILES_WITH_CHROMA_FIELDS.has(profile) && cursor.bytesLeft >= 4) {
    const chromaFormatIdc = cursor.u8('chroma_format') & 0x03;
    const bitDepthLuma = (cursor.u8('bit_depth_luma_minus8') & 0x07) + 8;
    const bitDepthChroma = (cursor.u8('bit_depth_chroma_minus8') & 0x07) + 8;
    const spsExtCount = cursor.u8('numOfSequenceParameterSetExt');
    const spsExt = cursor.nalUnits(spsExtCount, 'sequenceParameterSetExtNALUnit');
    record.highProfileFields = { chromaFormatIdc, bitDepthLuma, bitDepthChroma, spsExt };
  }
  return record;
};

/** What to put in an `avcC` record. */
export type AvcDecoderConfigurationRecordOptions = {
  /** SPS NAL units (type 7, header byte included); the first gives profile, compatibility and level. */
  sps: readonly Uint8Array[];
  /** PPS NAL units (type 8). */
  pps: readonly Uint8Array[];
  /** SPS extension NAL units (type 13); written only for high profiles. Defaults to none. */
  spsExt?: readonly Uint8Array[];
  /** NAL length prefix width the samples will use. Defaults to 4, as KVS expects. */
  nalLengthSize?: NalLengthSize;
};

/**
 * Builds an `avcC` record: version 1, profile/compatibility/level from the first SPS, then the SPS and PPS
 * lists; for high profiles (profile_idc 100, 110, 122, 244, ...) also chroma_format, bit depths and SPS
 * extensions, read from the first SPS. This is the CodecPrivate KVS playback requires.
 *
 * @throws {@link CodecError} when a list is empty or too long, a NAL unit has the wrong type, or the SPS
 *   cannot be parsed.
 */
export const buildAvcDecoderConfigurationRecord = (
  options: AvcDecoderConfigurationRecordOptions,
): Uint8Array => {
  const { sps, pps, spsExt = [], nalLengthSize = DEFAULT_NAL_LENGTH_SIZE } = options;
  checkNalList(sps, H264NalType.Sps, 'SPS', 1, 31);
  checkNalList(pps, H264NalType.Pps, 'PPS', 1, 255);
  checkNalList(spsExt, H264NalType.SpsExtension, 'SPS extension', 0, 255);
  const firstSps = sps[0]!;
  if (firstSps.length < 4) {
    throw new CodecError(
      'avcC',
      `the first SPS is ${firstSps.length} bytes, too short for profile and level`,
    );
  }
  const profile = firstSps[1]!;
  const hasExtension = PROFILES_WITH_CHROMA_FIELDS.has(profile);
  const parsedSps = hasExtension ? parseH264Sps(firstSps) : undefined;
  let totalBytes = 7;
  for (const nalUnit of [...sps, ...pps]) {
    totalBytes += 2 + nalUnit.length;
  }
  if (parsedSps !== undefined) {
    totalBytes += 4;
    for (const nalUnit of spsExt) {
      totalBytes += 2 + nalUnit.length;
    }
  }
  const output = new Uint8Array(totalBytes);
  output[0] = 1;
  output[1] = profile;
  output[2] = firstSps[2]!;
  output[3] = firstSps[3]!;
  // Reserved bits are all ones (6 before lengthSizeMinusOne, 3 before the SPS count).
  output[4] = 0xfc | (nalLengthSize - 1);
  output[5] = 0xe0 | sps.length;
  let offset = writeNalList(output, 6, sps);
  output[offset++] = pps.length;
  offset = writeNalList(output, offset, pps);
  if (parsedSps !== undefined) {
    output[offset++] = 0xfc | parsedSps.chromaFormatIdc;
    output[offset++] = 0xf8 | (parsedSps.bitDepthLuma - 8);
    output[offset++] = 0xf8 | (parsedSps.bitDepthChroma - 8);
    output[offset++] = spsExt.length;
    writeNalList(output, offset, spsExt);
  }
  return output;
};

/**
 * Turns an Annex-B CodecPrivate (SPS, PPS, maybe AUD/SEI, with start codes) into an `avcC` record: the
 * producer SDK's ANNEXB_CPD_NALS adaptation. NAL units other than SPS, PPS and SPS extension are dropped, and
 * so are byte-identical repeats (encoders repeat parameter sets before every IDR, and a CPD taken from the
 * stream's first NAL units may include several).
 *
 * @throws {@link CodecError} when the data is not Annex-B or lacks an SPS or a PPS.
 */
export const avccFromAnnexBCodecPrivate = (
  annexB: Uint8Array,
  nalLengthSize: NalLengthSize = DEFAULT_NAL_LENGTH_SIZE,
): Uint8Array => {
  if (!isAnnexB(annexB)) {
    throw new CodecError('Annex-B H.264 CodecPrivate', 'it does not start with a start code');
  }
  const sps: Uint8Array[] = [];
  const pps: Uint8Array[] = [];
  const spsExt: Uint8Array[] = [];
  for (const nalUnit of splitAnnexB(annexB)) {
    const nalType = h264NalType(nalUnit);
    if (nalType === H264NalType.Sps) {
      pushUnique(sps, nalUnit);
    } else if (nalType === H264NalType.Pps) {
      pushUnique(pps, nalUnit);
    } else if (nalType === H264NalType.SpsExtension) {
      pushUnique(spsExt, nalUnit);
    }
  }
  return buildAvcDecoderConfigurationRecord({ sps, pps, spsExt, nalLengthSize });
};

/**
 * Returns an `avcC` record for an H.264 CodecPrivate in either form: an `avcC` is validated and returned as
 * is, an Annex-B one is converted with {@link avccFromAnnexBCodecPrivate}.
 *
 * @throws {@link CodecError} when it is neither.
 */
export const normalizeH264CodecPrivate = (codecPrivate: Uint8Array): Uint8Array => {
  if (isAnnexB(codecPrivate)) {
    return avccFromAnnexBCodecPrivate(codecPrivate);
  }
  parseAvcDecoderConfigurationRecord(codecPrivate);
  return codecPrivate;
};

/**
 * Parses the first SPS of an H.264 CodecPrivate (`avcC` or Annex-B), e.g. to fill the Matroska Video element.
 *
 * @throws {@link CodecError} when there is no SPS or it cannot be parsed.
 */
export const parseH264SpsFromCodecPrivate = (codecPrivate: Uint8Array): H264Sps => {
  const spsList = isAnnexB(codecPrivate)
    ? splitAnnexB(codecPrivate).filter((nalUnit) => h264NalType(nalUnit) === H264NalType.Sps)
    : parseAvcDecoderConfigurationRecord(codecPrivate).sps;
  const firstSps = spsList[0];
  if (firstSps === undefined) {
    throw new CodecError('H.264 CodecPrivate', 'it contains no SPS');
  }
  return parseH264Sps(firstSps);
};

const checkNalList = (
  nalUnits: readonly Uint8Array[],
  expectedType: number,
  label: string,
  minCount: number,
  maxCount: number,
): void => {
  if (nalUnits.length < minCount || nalUnits.length > maxCount) {
    throw new CodecError(
      'avcC',
      `${nalUnits.length} ${label} NAL units given, allowed ${minCount}..${maxCount}`,
    );
  }
  for (const nalUnit of nalUnits) {
    if (nalUnit.length === 0 || nalUnit.length > 0xffff || (nalUnit[0]! & 0x1f) !== expectedType) {
      throw new CodecError(
        'avcC',
        `${label} list holds ${describeNalForError(nalUnit)}, expected type ${expectedType}`,
      );
    }
  }
};

const writeNalList = (output: Uint8Array, offset: number, nalUnits: readonly Uint8Array[]): number => {
  let cursor = offset;
  for (const nalUnit of nalUnits) {
    output[cursor] = nalUnit.length >>> 8;
    output[cursor + 1] = nalUnit.length & 0xff;
    output.set(nalUnit, cursor + 2);
    cursor += 2 + nalUnit.length;
  }
  return cursor;
};

const describeNalForError = (nalUnit: Uint8Array): string =>
  nalUnit.length === 0
    ? 'an empty NAL unit'
    : `a ${nalUnit.length}-byte NAL unit of type ${nalUnit[0]! & 0x1f}`;

const describeNotA = (nalUnit: Uint8Array, expected: string): string =>
  `got ${describeNalForError(nalUnit)}, expected an ${expected}`;
