import { describe, expect, it } from 'vitest';
import { Fragmenter, fragmentsOf } from '../../src/fragment/fragmenter.js';
import type {
  Fragment,
  FragmenterOptions,
  SessionHeader,
  SessionItem,
} from '../../src/fragment/fragmenter.js';
import { CodecId, TrackType } from '../../src/mkv/ebml-ids.js';
import type { MkvEvent, MkvHeader } from '../../src/mkv/mkv-types.js';

const START_MS = 1_700_000_000_000;

const header = (withAudio = false): MkvHeader => ({
  docType: 'matroska',
  docTypeVersion: 4,
  timecodeScaleNs: 1_000_000,
  tracks: [
    // Input numbering differs from the output (video 1, audio 2) on purpose.
    ...(withAudio
      ? [
          {
            number: 5,
            uid: 5n,
            type: TrackType.Audio,
            codecId: CodecId.Aac,
            audio: { samplingFrequencyHz: 48000, channels: 2 },
          },
        ]
      : []),
    {
      number: 3,
      uid: 3n,
      type: TrackType.Video,
      codecId: CodecId.H264,
      video: { widthPx: 320, heightPx: 240 },
    },
    { number: 9, uid: 9n, type: 0x11, codecId: 'S_TEXT/UTF8' },
  ],
});

type F = [track: 'v' | 'a' | 's', ms: number, key?: boolean];
const TRACK_NUMBERS = { v: 3, a: 5, s: 9 } as const;

const events = (frames: F[], withAudio = false): MkvEvent[] => [
  { type: 'header', header: header(withAudio), byteOffset: 0 },
  ...frames.map(([track, ms, key]): MkvEvent => ({
    type: 'frame',
    byteOffset: 0,
    frame: {
      trackNumber: TRACK_NUMBERS[track],
      timecode: ms,
      timestampMs: ms,
      isKeyframe: key ?? track === 'a',
      data: new Uint8Array(10),
    },
  })),
];

const run = (
  input: MkvEvent[],
  options: FragmenterOptions = {},
): { fragments: Fragment[]; headers: SessionHeader[]; items: SessionItem[]; fragmenter: Fragmenter } => {
  const fragmenter = new Fragmenter({ startTimeMs: START_MS, ...options });
  const items = input.flatMap((event) => fragmenter.push(event));
  items.push(...fragmenter.end());
  const headers = items.filter((item): item is SessionHeader => item.type === 'session-header');
  return { fragments: fragmentsOf(items), headers, items, fragmenter };
};

/** Block times of a fragment, relative to the start time, as `track@ms`. */
const layout = (fragment: Fragment): string[] =>
  fragment.frames.map(
    (frame) => `${frame.trackNumber}@${fragment.timecode - START_MS + frame.relativeTimecode}`,
  );

describe('Fragmenter', () => {
  it('starts a fragment at every key frame, skips leading non-key frames and maps to absolute epoch ms', () => {
    const { fragments, headers, fragmenter } = run(
      events([
        ['v', 0],
        ['v', 40],
        ['v', 80, true],
        ['v', 120],
        ['v', 160, true],
        ['v', 200],
        ['s', 210],
      ]),
    );
    expect(fragments.map(layout)).toEqual([
      ['1@0', '1@40'],
      ['1@80', '1@120'],
    ]);
    expect(fragments[0]!.timecode).toBe(START_MS);
    expect(fragments[0]!.producerTimestampMs).toBe(START_MS);
    expect(fragments[0]!.durationMs).toBe(80);
    expect(fragments.every((f) => f.startsWithKeyframe && f.issues.length === 0)).toBe(true);
    expect(fragmenter.stats).toMatchObject({
      framesIn: 7,
      framesOut: 4,
      fragments: 2,
      skippedLeadingFrames: 2,
      skippedTrackFrames: 1,
    });
    expect(headers[0]!.tracks.map((t) => [t.number, t.codecId, t.name])).toEqual([
      [1, CodecId.H264, 'kvs_video_track'],
    ]);
  });

  it('writes relative timecodes from the start time on request', () => {
    const { fragments } = run(
      events([
        ['v', 1000, true],
        ['v', 1040],
        ['v', 1080, true],
      ]),
      { timecodeMode: 'relative' },
    );
    expect(fragments.map((f) => f.timecode)).toEqual([0, 80]);
    expect(fragments.map((f) => f.producerTimestampMs)).toEqual([START_MS, START_MS + 80]);
  });

  it('honours a minimum fragment duration', () => {
    const frames: F[] = [];
    for (let ms = 0; ms < 4000; ms += 500) {
      frames.push(['v', ms, true]);
    }
    const { fragments } = run(events(frames), { minFragmentDurationMs: 2000 });
    expect(fragments.map((f) => f.frames.length)).toEqual([4, 4]);
  });

  it('puts audio in the fragment its timestamp belongs to, so each fragment starts after the previous ends', () => {
    const { fragments } = run(
      events(
        [
          ['v', 0, true],
          ['a', 0],
          ['a', 21],
          ['v', 40],
          ['a', 85], // arrives before the key frame at 80 but belongs after it
          ['v', 80, true],
          ['a', 64], // arrives after the key frame at 80 but belongs before it
          ['a', 107],
          ['v', 120],
        ],
        true,
      ),
    );
    expect(fragments.map(layout)).toEqual([
      ['1@0', '2@0', '2@21', '1@40', '2@64'],
      ['1@80', '2@85', '2@107', '1@120'],
    ]);
    expect(fragments[1]!.timecode).toBeGreaterThan(fragments[0]!.lastTimestampMs);
    expect(fragments.flatMap((f) => f.issues)).toEqual([]);
  });

  it('reports a fragment that lacks a frame of a declared track (ErrorId 4011)', () => {
    const { fragments } = run(
      events(
        [
          ['v', 0, true],
          ['a', 10],
          ['v', 40, true],
          ['v', 80],
        ],
        true,
      ),
    );
    expect(fragments[1]!.issues.map((i) => i.errorId)).toEqual([4011]);
  });

  it('keeps B-frames in decode order with their presentation times, as AWS producers write them', () => {
    // Decode order I P B B: presentation times 0, 120, 40, 80.
    const { fragments, fragmenter } = run(
      events([
        ['v', 0, true],
        ['v', 120],
        ['v', 40],
        ['v', 80],
        ['v', 160, true],
        ['v', 280],
        ['v', 200],
        ['v', 240],
      ]),
    );
    expect(fragments.map(layout)).toEqual([
      ['1@0', '1@120', '1@40', '1@80'],
      ['1@160', '1@280', '1@200', '1@240'],
    ]);
    // A closed GOP never reaches before its key frame: the fragments do not overlap (no 4004).
    expect(fragments.every((f) => f.hasBFrames && f.issues.length === 0)).toBe(true);
    expect(fragments[0]!.lastTimestampMs).toBe(START_MS + 120);
    expect(fragmenter.stats.bFrameFragments).toBe(2);
  });

  it('drops open-GOP leading pictures, which reach before their key frame into the previous fragment', () => {
    // Decode order I0 P120 B40 B80 | I160 B100 B140 P240: B100 and B140 precede their key frame in time.
    const { fragments, fragmenter } = run(
      events([
        ['v', 0, true],
        ['v', 120],
        ['v', 40],
        ['v', 80],
        ['v', 160, true],
        ['v', 100],
        ['v', 140],
        ['v', 240],
      ]),
    );
    expect(fragments.map(layout)).toEqual([
      ['1@0', '1@120', '1@40', '1@80'],
      ['1@160', '1@240'],
    ]);
    expect(fragments.flatMap((f) => f.issues)).toEqual([]);
    expect(fragmenter.stats.skippedLeadingPictures).toBe(2);
  });

  it('inserts late audio by time without reordering the video of a B-frame fragment', () => {
    const { fragments } = run(
      events(
        [
          ['v', 0, true],
          ['a', 0],
          ['v', 120],
          ['a', 21],
          ['v', 40],
          ['a', 42],
          ['v', 80],
          ['v', 160, true],
          ['a', 63],
          ['a', 170],
        ],
        true,
      ),
    );
    // Audio goes before later video blocks, never reorders video: I0 P120 B40 B80 stay in decode order.
    expect(fragments.map(layout)[0]).toEqual(['1@0', '2@0', '2@21', '1@120', '1@40', '2@42', '2@63', '1@80']);
  });

  it('flags fragments longer than 20 s (4002) and splits before the int16 block offset overflows', () => {
    const frames: F[] = [];
    for (let ms = 0; ms <= 40_000; ms += 1000) {
      frames.push(['v', ms, ms === 0]);
    }
    const { fragments } = run(events(frames));
    expect(fragments).toHaveLength(2);
    expect(fragments[0]!.frames.at(-1)!.relativeTimecode).toBe(32_000);
    expect(fragments[0]!.issues.map((i) => i.errorId)).toEqual([4002]);
    expect(fragments[1]!.startsWithKeyframe).toBe(false);
    expect(fragments[1]!.issues.map((i) => i.errorId)).toEqual([0]);
  });

  it('reports a fragment that starts before the previous one ended (4004)', () => {
    const { fragments } = run(
      events([
        ['v', 0, true],
        ['v', 100],
        ['v', 50, true],
        ['v', 60],
      ]),
    );
    expect(fragments.map((f) => f.issues.map((i) => i.errorId))).toEqual([[], [4004]]);
    const { fragments: jumped, items: jumpedItems } = run([
      ...events([
        ['v', 0, true],
        ['v', 100],
      ]),
      {
        type: 'header',
        header: {
          ...header(),
          tracks: header()
            .tracks.slice(0, 1)
            .map((t) => ({ ...t, codecPrivate: new Uint8Array(3) })),
        },
        byteOffset: 0,
      },
      ...events([['v', 50, true]]).slice(1),
    ]);
    expect(jumped.map((f) => f.issues.map((i) => i.errorId))).toEqual([[], [4004]]);
    // The new track set puts a session header between the two fragments.
    expect(jumpedItems.map((item) => item.type)).toEqual([
      'session-header',
      'fragment',
      'session-header',
      'fragment',
    ]);
  });

  it('attaches fragment metadata tags to every fragment', () => {
    const tags = [{ name: 'camera', value: 'porch' }];
    const { fragments } = run(
      events([
        ['v', 0, true],
        ['v', 40, true],
      ]),
      { fragmentTags: tags },
    );
    expect(fragments.map((f) => f.tags)).toEqual([tags, tags]);
  });
});

describe('selectKvsTracks: CodecPrivate as KVS playback needs it', () => {
  it('turns an Annex-B H.264 CodecPrivate into the avcC record and reads the size from its SPS', async () => {
    const { readFileSync } = await import('node:fs');
    const { MkvReader } = await import('../../src/mkv/mkv-reader.js');
    const { parseAvcDecoderConfigurationRecord } = await import('../../src/codec/h264.js');
    const { annexBFromNalUnits } = await import('../../src/codec/nal-units.js');
    const { selectKvsTracks } = await import('../../src/fragment/fragmenter.js');
    const { FIXTURES } = await import('../helpers/paths.js');
    const events = new MkvReader().push(readFileSync(`${FIXTURES}/h264.mkv`));
    const header = events.find((event) => event.type === 'header');
    if (header?.type !== 'header') {
      throw new Error('no header');
    }
    const source = header.header.tracks[0]!;
    const avcC = source.codecPrivate!;
    // As it is: the same bytes.
    expect(selectKvsTracks(header.header).tracks[0]!.codecPrivate).toEqual(avcC);
    // Annex-B (start codes), without a Video element: converted back to avcC, size from the SPS.
    const record = parseAvcDecoderConfigurationRecord(avcC);
    const annexB = annexBFromNalUnits([...record.sps, ...record.pps]);
    const { video: _video, ...withoutVideo } = source;
    const { tracks } = selectKvsTracks({
      ...header.header,
      tracks: [{ ...withoutVideo, codecPrivate: annexB }],
    });
    expect(Buffer.from(tracks[0]!.codecPrivate!).toString('hex')).toBe(Buffer.from(avcC).toString('hex'));
    expect(tracks[0]!.video).toEqual({ widthPx: 320, heightPx: 240 });
  });

  it('yields one session header at the start and one where the track set changes, none for the same set', () => {
    const { items } = run([
      ...events([
        ['v', 0, true],
        ['v', 40, true],
      ]),
      // The same tracks again (a second Segment of one recording): no header, the fragments go on.
      { type: 'header', header: header(), byteOffset: 0 },
      ...events([['v', 80, true]]).slice(1),
      { type: 'header', header: header(true), byteOffset: 0 },
      ...events(
        [
          ['v', 120, true],
          ['a', 130],
          ['v', 160, true],
          ['a', 170],
        ],
        true,
      ).slice(1),
    ]);
    expect(
      items.map((item) =>
        item.type === 'session-header' ? `header of ${item.tracks.length}` : item.sequence,
      ),
    ).toEqual(['header of 1', 0, 1, 2, 'header of 2', 3, 4]);
  });

  it('builds each fragment complete: its sequence and release hook come from the options', () => {
    const released: number[] = [];
    const { fragments } = run(
      events([
        ['v', 0, true],
        ['v', 40, true],
      ]),
      { firstSequence: 7, releaseOf: (frames) => () => released.push(frames.length) },
    );
    expect(fragments.map((f) => f.sequence)).toEqual([7, 8]);
    expect(fragments.map((f) => [f.isContinuation, f.arrivedAtMs])).toEqual([
      [false, undefined],
      [false, undefined],
    ]);
    fragments.forEach((f) => f.release!());
    expect(released).toEqual([1, 1]);
  });

  it('onRefused: a fragment the service would refuse is handed over and released, and takes no number', () => {
    const refused: [number, number][] = [];
    const released: number[] = [];
    const { fragments, fragmenter } = run(
      events([
        ['v', 0, true],
        ['v', 100],
        ['v', 200, true],
        ['v', 240, true],
      ]),
      {
        maxFragmentDurationMs: 150,
        releaseOf: (frames) => () => released.push(frames.length),
        onRefused: (fragment, issue) => refused.push([fragment.sequence, issue.errorId]),
      },
    );
    // The first fragment lasts 200 ms (4002): reported with the number the next fragment then gets.
    expect(refused).toEqual([[0, 4002]]);
    expect(released).toEqual([2]);
    expect(fragments.map((f) => [f.sequence, f.timecode - START_MS])).toEqual([
      [0, 200],
      [1, 240],
    ]);
    expect(fragmenter.nextSequence).toBe(2);
    expect(fragmenter.stats.fragments).toBe(3);
  });

  it('fragments and session headers are readonly data', () => {
    const { fragments, headers } = run(events([['v', 0, true]]));
    const fragment = fragments[0]!;
    const mutate = (): void => {
      // @ts-expect-error a fragment is made complete: no field is assigned later
      fragment.release = () => undefined;
      // @ts-expect-error the sequence is given when it is made
      fragment.sequence = 1;
      // @ts-expect-error the arrival time is given when it is made
      fragment.arrivedAtMs = 0;
      // @ts-expect-error its frames are a readonly list
      fragment.frames.push(fragment.frames[0]!);
      // @ts-expect-error and each frame is readonly
      fragment.frames[0]!.relativeTimecode = 1;
      // @ts-expect-error issues are a readonly list
      fragment.issues.push({ errorId: 0, message: '' });
      // @ts-expect-error a header's tracks are a readonly list
      headers[0]!.tracks.push(headers[0]!.tracks[0]!);
    };
    expect(mutate).toBeTypeOf('function');
  });
});
