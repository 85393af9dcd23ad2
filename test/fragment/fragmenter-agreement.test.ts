/**
 * The file Fragmenter and the live StreamingFragmenter apply one set of service rules (fragment-rules.ts).
 * Each test runs the same reader events through both and asserts they agree: on when a track set needs a
 * new session header, on the bytes each fragment (part) takes on the wire, and on which fragments the
 * service would answer with 4001 (over 50 MB) or 4002 (over 20 s).
 *
 * They used to disagree on all three: the streaming fragmenter saw a new video size as the same track (the
 * header kept the old one), the file fragmenter missed DefaultDuration and BitDepth changes, neither counted
 * the metadata Tags the writer puts before a fragment, and the streaming fragmenter never checked a limit.
 */
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FragmentLimits } from '../../src/fragment/fragment-rules.js';
import { sameTracks } from '../../src/fragment/fragment-rules.js';
import { Fragmenter, fragmentsOf, selectKvsTracks } from '../../src/fragment/fragmenter.js';
import type { Fragment, SessionHeader, SessionItem } from '../../src/fragment/fragmenter.js';
import { KvsLimits } from '../../src/fragment/kvs-limits.js';
import { SessionWriter } from '../../src/fragment/session-writer.js';
import { StreamingFragmenter } from '../../src/fragment/streaming-fragmenter.js';
import type { StreamingFragmenterOptions } from '../../src/fragment/streaming-fragmenter.js';
import { ErrorId } from '../../src/kvs/ack.js';
import { CodecId, TrackType } from '../../src/mkv/ebml-ids.js';
import { chunksByteLength, writeKvsHeader } from '../../src/mkv/mkv-writer.js';
import type { MkvEvent, MkvHeader, MkvSimpleTag, MkvTrack } from '../../src/mkv/mkv-types.js';
import { FIXTURES } from '../helpers/paths.js';
import {
  PROJECT_FIXTURES,
  SEGMENT_UID,
  SHARED_CAPTURES,
  readBytes,
  readEvents,
} from './fragment-test-helpers.js';

type Options = StreamingFragmenterOptions;

const TIME_GOES_BACK: ReadonlySet<string> = new Set([
  'output-get-media-equal-timecode.mkv',
  'output-get-media-non-increasing-timecode.mkv',
]);

/** The file fragmenter on timestamps used as they are (producer time), as the streaming one takes them. */
const fileItems = (events: readonly MkvEvent[], options: Options = {}): SessionItem[] => {
  const fragmenter = new Fragmenter({ ...options, isProducerTime: true });
  const items = events.flatMap((event) => fragmenter.push(event));
  items.push(...fragmenter.end());
  return items;
};

const streamingItems = (events: readonly MkvEvent[], options: Options = {}): SessionItem[] => {
  const fragmenter = new StreamingFragmenter(options);
  const items = events.flatMap((event) => fragmenter.push(event));
  items.push(...fragmenter.end());
  return items;
};

const runFile = (events: readonly MkvEvent[], options: Options = {}): Fragment[] =>
  fragmentsOf(fileItems(events, options));

const runStreaming = (events: readonly MkvEvent[], options: Options = {}): Fragment[] =>
  fragmentsOf(streamingItems(events, options));

const BOTH = [
  ['Fragmenter', runFile],
  ['StreamingFragmenter', runStreaming],
] as const;

/** Both fragmenters' whole output: session headers and fragments (parts). */
const BOTH_ITEMS = [
  ['Fragmenter', fileItems],
  ['StreamingFragmenter', streamingItems],
] as const;

/** Fragment (part) lists grouped by fragment: the streaming fragmenter's parts share their sequence. */
const bySequence = (fragments: readonly Fragment[]): Fragment[][] => {
  const groups = new Map<number, Fragment[]>();
  for (const fragment of fragments) {
    const group = groups.get(fragment.sequence) ?? [];
    group.push(fragment);
    groups.set(fragment.sequence, group);
  }
  return [...groups.values()];
};

/** For each fragment, which session header item it goes under (0, 1, …). */
const headerIndexes = (items: readonly SessionItem[]): number[] => {
  let index = -1;
  const indexes = new Map<number, number>();
  for (const item of items) {
    if (item.type === 'session-header') {
      index++;
    } else if (!indexes.has(item.sequence)) {
      indexes.set(item.sequence, index);
    }
  }
  return [...indexes.values()];
};

/** For each fragment, the ErrorIds of its issues (all its parts'), sorted. */
const errorIdsOf = (fragments: readonly Fragment[]): number[][] =>
  bySequence(fragments).map((group) =>
    group.flatMap((part) => part.issues.map((issue) => issue.errorId)).sort(),
  );

/** 4001 and 4002 only: the checks both fragmenters make. */
const limitErrorIds = (fragments: readonly Fragment[]): number[][] =>
  errorIdsOf(fragments).map((ids) =>
    ids.filter((id) => id === ErrorId.MaxFragmentSizeReached || id === ErrorId.MaxFragmentDurationReached),
  );

/**
 * What SessionWriter writes for each fragment (part), the session header aside: its byteLength must be
 * exactly that, or byte pacing, the upload buffer and the 4001 check count wrong.
 */
const writtenBytes = (items: readonly SessionItem[]): number[] => {
  const writer = new SessionWriter({ segmentUid: SEGMENT_UID });
  let header: SessionHeader | undefined;
  const bytes: number[] = [];
  for (const item of items) {
    const written = chunksByteLength(writer.write(item));
    if (item.type === 'session-header') {
      header = item;
      continue;
    }
    // The header goes out with the first fragment after it.
    const headerBytes =
      header === undefined ? 0 : writeKvsHeader({ tracks: header.tracks, segmentUid: SEGMENT_UID }).length;
    header = undefined;
    bytes.push(written - headerBytes);
  }
  return bytes;
};

// ---- synthetic input --------------------------------------------------------------------------------------

const AVCC = Uint8Array.from([1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xee]);

const videoTrack = (overrides: Partial<MkvTrack> = {}): MkvTrack => ({
  number: 1,
  uid: 11n,
  type: TrackType.Video,
  name: 'camera',
  codecId: CodecId.H264,
  codecPrivate: AVCC,
  defaultDurationNs: 40_000_000,
  video: { widthPx: 640, heightPx: 360 },
  ...overrides,
});

const audioTrack = (overrides: Partial<MkvTrack> = {}): MkvTrack => ({
  number: 2,
  uid: 22n,
  type: TrackType.Audio,
  codecId: CodecId.Aac,
  codecPrivate: Uint8Array.from([0x11, 0x90]),
  audio: { samplingFrequencyHz: 48_000, channels: 2, bitDepth: 16 },
  ...overrides,
});

const headerEvent = (tracks: MkvTrack[]): MkvEvent => ({
  type: 'header',
  byteOffset: 0,
  header: { docType: 'matroska', docTypeVersion: 4, timecodeScaleNs: 1e6, tracks } satisfies MkvHeader,
});

const frameEvent = (
  trackNumber: number,
  ms: number,
  isKeyframe: boolean,
  bytes = 10,
  durationMs?: number,
): MkvEvent => ({
  type: 'frame',
  byteOffset: 0,
  frame: {
    trackNumber,
    timecode: ms,
    timestampMs: ms,
    isKeyframe,
    data: new Uint8Array(bytes).fill(ms & 0xff),
    ...(durationMs === undefined ? {} : { durationMs }),
  },
});

/** A video track (1) with a key frame every `gopMs`, 25 fps, and AAC (2) every 21 ms, in muxing order. */
const av = (fromMs: number, toMs: number, gopMs: number, video = 1, audio = 2): MkvEvent[] => {
  const events: MkvEvent[] = [];
  let audioMs = fromMs;
  for (let ms = fromMs; ms < toMs; ms += 40) {
    events.push(frameEvent(video, ms, (ms - fromMs) % gopMs === 0, 200));
    for (; audioMs < ms + 40; audioMs += 21) {
      events.push(frameEvent(audio, audioMs, true, 30));
    }
  }
  return events;
};

// ---- track sameness ---------------------------------------------------------------------------------------

/** A change of the source's tracks at a restart, and whether it reaches the Tracks element KVS stores. */
const TRACK_CHANGES: [what: string, tracks: () => MkvTrack[], isNewHeader: boolean][] = [
  ['the same tracks, new objects', () => [videoTrack(), audioTrack()], false],
  [
    'the same CodecPrivate bytes in a new array',
    () => [videoTrack({ codecPrivate: AVCC.slice() }), audioTrack()],
    false,
  ],
  [
    'other input numbers, UIDs and names',
    () => [audioTrack({ number: 7, uid: 70n }), videoTrack({ number: 4, uid: 40n, name: 'x' })],
    false,
  ],
  [
    'a subtitle track, which KVS does not get',
    () => [videoTrack(), audioTrack(), { number: 3, uid: 3n, type: 0x11, codecId: 'S_TEXT/UTF8' }],
    false,
  ],
  [
    'another video width',
    () => [videoTrack({ video: { widthPx: 1280, heightPx: 360 } }), audioTrack()],
    true,
  ],
  [
    'another video height',
    () => [videoTrack({ video: { widthPx: 640, heightPx: 720 } }), audioTrack()],
    true,
  ],
  [
    'another CodecPrivate (SPS)',
    () => [videoTrack({ codecPrivate: AVCC.map((b, i) => (i === 11 ? 0x20 : b)) }), audioTrack()],
    true,
  ],
  [
    'another DefaultDuration (frame rate)',
    () => [videoTrack({ defaultDurationNs: 33_333_333 }), audioTrack()],
    true,
  ],
  ['another codec', () => [videoTrack({ codecId: CodecId.H265 }), audioTrack()], true],
  [
    'another sampling frequency',
    () => [videoTrack(), audioTrack({ audio: { samplingFrequencyHz: 44_100, channels: 2, bitDepth: 16 } })],
    true,
  ],
  [
    'another channel count',
    () => [videoTrack(), audioTrack({ audio: { samplingFrequencyHz: 48_000, channels: 1, bitDepth: 16 } })],
    true,
  ],
  [
    'another bit depth',
    () => [videoTrack(), audioTrack({ audio: { samplingFrequencyHz: 48_000, channels: 2, bitDepth: 24 } })],
    true,
  ],
  ['the audio track gone', () => [videoTrack()], true],
];

describe('both fragmenters agree on track sameness (a new session header or not)', () => {
  const writtenTracks = (tracks: MkvTrack[]): Uint8Array =>
    writeKvsHeader({
      tracks: selectKvsTracks({ docType: 'matroska', docTypeVersion: 4, timecodeScaleNs: 1e6, tracks })
        .tracks,
      segmentUid: SEGMENT_UID,
    });

  it.each(TRACK_CHANGES)('%s', (_what, changed, isNewHeader) => {
    const before = [videoTrack(), audioTrack()];
    const after = changed();
    // The expectation is the writer's: a new header exactly when the written Tracks bytes differ.
    expect(Buffer.from(writtenTracks(after)).equals(Buffer.from(writtenTracks(before)))).toBe(!isNewHeader);
    const videoAfter = after.find((track) => track.type === TrackType.Video)!.number;
    const audioAfter = after.find((track) => track.type === TrackType.Audio)?.number ?? 99;
    const events = [
      headerEvent(before),
      ...av(0, 2000, 1000),
      headerEvent(after),
      ...av(2000, 4000, 1000, videoAfter, audioAfter),
    ];
    for (const [name, run] of BOTH_ITEMS) {
      expect(headerIndexes(run(events)), name).toEqual(isNewHeader ? [0, 0, 1, 1] : [0, 0, 0, 0]);
    }
  });

  it('sameTracks is the written Tracks element, field for field', () => {
    const base = selectKvsTracks({
      docType: 'matroska',
      docTypeVersion: 4,
      timecodeScaleNs: 1e6,
      tracks: [videoTrack(), audioTrack()],
    }).tracks;
    for (const [what, changed, isNewHeader] of TRACK_CHANGES) {
      const other = selectKvsTracks({
        docType: 'matroska',
        docTypeVersion: 4,
        timecodeScaleNs: 1e6,
        tracks: changed(),
      }).tracks;
      expect(sameTracks(base, other), what).toBe(!isNewHeader);
    }
    expect(sameTracks([], [])).toBe(true);
    expect(sameTracks(base, [])).toBe(false);
  });
});

// ---- byte accounting --------------------------------------------------------------------------------------

const TAGS: MkvSimpleTag[] = [
  { name: 'camera', value: 'porch' },
  { name: 'site', value: 'north gate, pole 3' },
];

describe('both fragmenters report the bytes the writer produces', () => {
  const synthetic: [string, MkvEvent[]][] = [
    [
      'video only',
      [
        headerEvent([videoTrack()]),
        ...av(0, 3000, 1000).filter((e) => e.type !== 'frame' || e.frame.trackNumber === 1),
      ],
    ],
    ['video and audio', [headerEvent([videoTrack(), audioTrack()]), ...av(0, 3000, 1000)]],
    [
      'a track change',
      [
        headerEvent([videoTrack(), audioTrack()]),
        ...av(0, 2000, 1000),
        headerEvent([videoTrack({ defaultDurationNs: 1 })]),
        ...av(2000, 3000, 500).filter((e) => e.type !== 'frame' || e.frame.trackNumber === 1),
      ],
    ],
  ];

  it.each(synthetic)('%s, with and without metadata tags', (_name, events) => {
    for (const options of [{}, { fragmentTags: TAGS }]) {
      const file = runFile(events, options);
      const parts = runStreaming(events, options);
      for (const [name, items] of [
        ['Fragmenter', fileItems(events, options)],
        ['StreamingFragmenter', streamingItems(events, options)],
      ] as const) {
        expect(
          fragmentsOf(items).map((f) => f.byteLength),
          name,
        ).toEqual(writtenBytes(items));
      }
      // A fragment sent in parts takes as many bytes as the same fragment sent whole.
      expect(bySequence(parts).map((group) => group.reduce((sum, part) => sum + part.byteLength, 0))).toEqual(
        file.map((fragment) => fragment.byteLength),
      );
    }
  });

  it.each([...PROJECT_FIXTURES, ...SHARED_CAPTURES].map((path) => [basename(path), path]))(
    '%s',
    (_name, path) => {
      const { events } = readEvents([readBytes(path)]);
      for (const [name, run] of BOTH_ITEMS) {
        const items = run(events, { fragmentTags: TAGS });
        expect(
          fragmentsOf(items).map((f) => f.byteLength),
          name,
        ).toEqual(writtenBytes(items));
      }
    },
  );
});

// ---- 4001 and 4002 ----------------------------------------------------------------------------------------

/** Video frames every `stepMs` from 0 to `toMs`, a key frame every `gopMs` (or where `isKey` says). */
const video = (
  toMs: number,
  stepMs: number,
  gopMs: number,
  bytes = 10,
  durationMs?: number,
  isKey = (ms: number): boolean => ms % gopMs === 0,
): MkvEvent[] => {
  const events: MkvEvent[] = [headerEvent([videoTrack()])];
  for (let ms = 0; ms <= toMs; ms += stepMs) {
    events.push(frameEvent(1, ms, isKey(ms), bytes, durationMs));
  }
  return events;
};

describe('both fragmenters agree on 4001 (size) and 4002 (duration)', () => {
  const cases: [what: string, events: MkvEvent[], options: Partial<FragmentLimits>, expected: number[][]][] =
    [
      [
        'a 20 s GOP is at the limit, not over it (frame duration from the frame rate)',
        video(40_000, 1000, 20_000),
        {},
        [[], [], []],
      ],
      [
        'a 20 s GOP with 1 ms more in its last frame is over it',
        video(40_000, 1000, 20_000, 10, 1001),
        {},
        [[4002], [4002], []],
      ],
      [
        'a 25 s GOP then 5 s ones',
        video(35_000, 40, 0, 10, undefined, (ms) => ms === 0 || ms === 25_000 || ms === 30_000),
        {},
        [[4002], [], []],
      ],
      [
        'fragments over a lowered size limit',
        video(3000, 100, 1000, 300),
        { maxFragmentBytes: 2500 },
        [[4001], [4001], [4001], []],
      ],
      [
        'a fragment over both',
        video(3000, 100, 3000, 300),
        { maxFragmentBytes: 2500, maxFragmentDurationMs: 2000 },
        [[4001, 4002], []],
      ],
    ];

  it.each(cases)('%s', (_what, events, options, expected) => {
    for (const [name, run] of BOTH) {
      expect(limitErrorIds(run(events, options)), name).toEqual(expected);
    }
  });

  it("a last frame without a duration lasts its own track's mean interval (audio here, not video)", () => {
    // Video every 40 ms and audio every 20 ms, no durations: the first fragment's last block is audio at
    // 19 980 ms, so it lasts 20 000 ms, not over the limit (the video interval would make it 20 020).
    const events: MkvEvent[] = [headerEvent([videoTrack(), audioTrack()])];
    for (let ms = 0; ms <= 20_000; ms += 20) {
      if (ms % 40 === 0) {
        events.push(frameEvent(1, ms, ms % 20_000 === 0));
      }
      events.push(frameEvent(2, ms, true));
    }
    for (const [name, run] of BOTH) {
      expect(limitErrorIds(run(events)), name).toEqual([[], []]);
    }
    expect(runFile(events)[0]!.durationMs).toBe(20_000);
    expect(runFile(events, { maxFragmentDurationMs: 19_999 }).map((f) => f.issues.length)).toEqual([1, 0]);
  });

  it('the streaming fragmenter flags the part that takes the fragment over the limit, once', () => {
    const parts = runStreaming(video(3000, 100, 3000, 300), { maxFragmentBytes: 2500 });
    const flagged = parts.flatMap((part, i) => (part.issues.length > 0 ? [i] : []));
    const crossing = parts.findIndex(
      (_, i) => parts.slice(0, i + 1).reduce((sum, p) => sum + p.byteLength, 0) > 2500,
    );
    expect(flagged).toEqual([crossing]);
  });

  it('long-gop.mkv (a key frame every 25 s): the first fragment, by both', () => {
    const { events } = readEvents([readBytes(join(FIXTURES, 'long-gop.mkv'))]);
    for (const [name, run] of BOTH) {
      expect(limitErrorIds(run(events)), name).toEqual([[4002], []]);
      expect(limitErrorIds(run(events, { maxFragmentDurationMs: 30_000 })), name).toEqual([[], []]);
    }
  });

  // Not the captures whose media time goes back: the file fragmenter sends the fragment after the jump and
  // flags it 4004, the streaming one (fed by a LiveTimeline, whose time never goes back) drops its key frame.
  it.each(
    [...PROJECT_FIXTURES, ...SHARED_CAPTURES]
      .filter((path) => !TIME_GOES_BACK.has(basename(path)))
      .map((path) => [basename(path), path]),
  )('%s: the same 4001/4002 verdicts at the service limits and at tight ones', (_name, path) => {
    const { events } = readEvents([readBytes(path)]);
    for (const options of [{}, { maxFragmentDurationMs: 900, maxFragmentBytes: 20_000 }]) {
      expect(limitErrorIds(runStreaming(events, options))).toEqual(limitErrorIds(runFile(events, options)));
    }
  });

  it('the defaults are the service limits', () => {
    const events = video(KvsLimits.maxFragmentDurationMs, 1000, 100_000, 10, 1);
    for (const [name, run] of BOTH) {
      expect(limitErrorIds(run(events)), name).toEqual([[4002]]);
    }
  });
});
