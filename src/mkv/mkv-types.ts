/**
 * Data shapes shared by the Matroska reader, the KVS writer, the fragmenter and the local KVS.
 * Times: `timecode` values are in TimecodeScale units (ticks); `...Ms` values are milliseconds and may be
 * fractional when the TimecodeScale is finer than 1 ms.
 */

export type MkvVideoSettings = {
  widthPx: number;
  heightPx: number;
};

export type MkvAudioSettings = {
  samplingFrequencyHz: number;
  channels: number;
  bitDepth?: number;
};

export type MkvTrack = {
  /** TrackNumber, as used by blocks. */
  number: number;
  /** TrackUID (64-bit, kept exact). */
  uid: bigint;
  /** Matroska TrackType: 1 video, 2 audio (see {@link TrackType}). */
  type: number;
  codecId: string;
  codecPrivate?: Uint8Array;
  name?: string;
  /** DefaultDuration, in nanoseconds. */
  defaultDurationNs?: number;
  video?: MkvVideoSettings;
  audio?: MkvAudioSettings;
};

export type MkvHeader = {
  docType: string;
  docTypeVersion: number;
  /** TimecodeScale in nanoseconds per tick (1 000 000 = 1 ms, the Matroska default). */
  timecodeScaleNs: number;
  segmentUid?: Uint8Array;
  title?: string;
  muxingApp?: string;
  writingApp?: string;
  /** Info Duration (what the muxer wrote, when it knew), in ms. */
  durationMs?: number;
  /** Info DateUTC: when the recording was made, in epoch ms. */
  dateUtcMs?: number;
  tracks: MkvTrack[];
};

export type MkvSimpleTag = {
  name: string;
  /** TagString, when the tag is a string. */
  value?: string;
  /** TagBinary, when the tag is binary. */
  binary?: Uint8Array;
};

export type MkvFrame = {
  trackNumber: number;
  /** Absolute timestamp in ticks: cluster Timecode + block offset. */
  timecode: number;
  /** Absolute timestamp in milliseconds (timecode × TimecodeScale / 1e6). */
  timestampMs: number;
  /** BlockDuration or the track's DefaultDuration, in milliseconds, when known. */
  durationMs?: number;
  isKeyframe: boolean;
  isInvisible?: boolean;
  isDiscardable?: boolean;
  /** The frame payload: a view into the input bytes whenever the input chunk holds the whole block. */
  data: Uint8Array;
};

/**
 * What the streaming reader yields, in stream order.
 * - `header`: once per EBML header + Segment, before any frame: emitted when the first Cluster begins, when
 *   a Tags element follows Tracks, or when the Segment ends (a Segment without Tracks gets one too, with no
 *   tracks). `byteOffset` is where the EBML header starts. `headerBytes`, when present, is a copy of the
 *   exact bytes from the EBML header start up to (not including) that first Cluster or Tags element: the
 *   "media metadata" KVS stores once per session and repeats in every GetMedia chunk.
 * - `cluster`: a new Cluster began (its Timecode read); `byteOffset` is the Cluster element's start.
 * - `frame`: one frame (laced blocks yield one event per frame); `byteOffset` is the start of the
 *   SimpleBlock or BlockGroup element carrying it.
 * - `tags`: a level-1 Tags element (its SimpleTags flattened, nested ones after their parent). Tags met
 *   before Tracks belong to the media header and are yielded right after the `header` event.
 * - `segment-end`: the Segment ended (its size ran out, a new EBML header follows, or the input ended);
 *   `byteOffset` is the offset just past its last byte.
 */
export type MkvEvent =
  | { type: 'header'; header: MkvHeader; byteOffset: number; headerBytes?: Uint8Array }
  | { type: 'cluster'; timecode: number; timestampMs: number; byteOffset: number }
  | { type: 'frame'; frame: MkvFrame; byteOffset: number }
  | { type: 'tags'; tags: MkvSimpleTag[]; byteOffset: number }
  | { type: 'segment-end'; byteOffset: number };
