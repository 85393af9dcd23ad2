/**
 * Matroska / EBML element IDs used by kvs-put, with their marker bits kept (as the IDs are written).
 * Source: the Matroska specification (RFC 9559) and the EBML specification (RFC 8794).
 */
export const EbmlId = {
  // EBML header
  Ebml: 0x1a45dfa3,
  EbmlVersion: 0x4286,
  EbmlReadVersion: 0x42f7,
  EbmlMaxIdLength: 0x42f2,
  EbmlMaxSizeLength: 0x42f3,
  DocType: 0x4282,
  DocTypeVersion: 0x4287,
  DocTypeReadVersion: 0x4285,
  // global elements
  Void: 0xec,
  Crc32: 0xbf,
  // Segment and its level-1 children
  Segment: 0x18538067,
  SeekHead: 0x114d9b74,
  Info: 0x1549a966,
  Tracks: 0x1654ae6b,
  Cluster: 0x1f43b675,
  Cues: 0x1c53bb6b,
  Chapters: 0x1043a770,
  Attachments: 0x1941a469,
  Tags: 0x1254c367,
  // Info
  SegmentUid: 0x73a4,
  TimecodeScale: 0x2ad7b1,
  Duration: 0x4489,
  DateUtc: 0x4461,
  Title: 0x7ba9,
  MuxingApp: 0x4d80,
  WritingApp: 0x5741,
  // Tracks
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackUid: 0x73c5,
  TrackType: 0x83,
  FlagLacing: 0x9c,
  DefaultDuration: 0x23e383,
  CodecDelay: 0x56aa,
  SeekPreRoll: 0x56bb,
  Name: 0x536e,
  Language: 0x22b59c,
  CodecId: 0x86,
  CodecPrivate: 0x63a2,
  CodecName: 0x258688,
  Video: 0xe0,
  PixelWidth: 0xb0,
  PixelHeight: 0xba,
  Audio: 0xe1,
  SamplingFrequency: 0xb5,
  Channels: 0x9f,
  BitDepth: 0x6264,
  // Cluster
  Timecode: 0xe7,
  Position: 0xa7,
  PrevSize: 0xab,
  SimpleBlock: 0xa3,
  BlockGroup: 0xa0,
  Block: 0xa1,
  BlockDuration: 0x9b,
  ReferenceBlock: 0xfb,
  // Tags
  Tag: 0x7373,
  Targets: 0x63c0,
  TargetTypeValue: 0x68ca,
  TagTrackUid: 0x63c5,
  SimpleTag: 0x67c8,
  TagName: 0x45a3,
  TagLanguage: 0x447a,
  TagDefault: 0x4484,
  TagString: 0x4487,
  TagBinary: 0x4485,
} as const;
export type EbmlId = (typeof EbmlId)[keyof typeof EbmlId];

/** IDs that end an unknown-size Segment (level 0). */
export const LEVEL_0_IDS: ReadonlySet<number> = new Set([EbmlId.Ebml, EbmlId.Segment]);

/** IDs that end an unknown-size Cluster (level 0 and level 1). */
export const LEVEL_1_IDS: ReadonlySet<number> = new Set([
  EbmlId.SeekHead,
  EbmlId.Info,
  EbmlId.Tracks,
  EbmlId.Cluster,
  EbmlId.Cues,
  EbmlId.Chapters,
  EbmlId.Attachments,
  EbmlId.Tags,
]);

/** Track types (Matroska TrackType). */
export const TrackType = {
  Video: 1,
  Audio: 2,
  Complex: 3,
  Logo: 0x10,
  Subtitle: 0x11,
  Buttons: 0x12,
  Control: 0x20,
  Metadata: 0x21,
} as const;

/** Codec IDs kvs-put writes and recognises. */
export const CodecId = {
  H264: 'V_MPEG4/ISO/AVC',
  H265: 'V_MPEGH/ISO/HEVC',
  Aac: 'A_AAC',
  G711: 'A_MS/ACM',
  Vp8: 'V_VP8',
  Vp9: 'V_VP9',
  Opus: 'A_OPUS',
} as const;

/** Human-readable name of an element ID for error messages. */
export const ebmlIdName = (id: number): string => {
  for (const [name, value] of Object.entries(EbmlId)) {
    if (value === id) {
      return name;
    }
  }
  return `0x${id.toString(16).toUpperCase()}`;
};
