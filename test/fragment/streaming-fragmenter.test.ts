import { describe, expect, it } from 'vitest';
import { StreamingFragmenter } from '../../src/fragment/streaming-fragmenter.js';
import { fragmentsOf } from '../../src/fragment/fragmenter.js';
import type { SessionItem } from '../../src/fragment/fragmenter.js';
import { CodecId, TrackType } from '../../src/mkv/ebml-ids.js';
import type { MkvEvent } from '../../src/mkv/mkv-types.js';

const header = (withAudio: boolean): MkvEvent => ({
  type: 'header',
  byteOffset: 0,
  header: {
    docType: 'matroska',
    docTypeVersion: 4,
    timecodeScaleNs: 1e6,
    tracks: [
      { number: 1, uid: 1n, type: TrackType.Video, codecId: CodecId.H264 },
      ...(withAudio ? [{ number: 2, uid: 2n, type: TrackType.Audio, codecId: CodecId.Aac }] : []),
    ],
  },
});
const frame = (track: 1 | 2, ms: number, key = track === 2): MkvEvent => ({
  type: 'frame',
  byteOffset: 0,
  frame: { trackNumber: track, timecode: ms, timestampMs: ms, isKeyframe: key, data: new Uint8Array(4) },
});
/** `S1@0` starts a cluster, `+2@21` continues it (session headers left out). */
const parts = (items: readonly SessionItem[]): string[] =>
  fragmentsOf(items).map(
    (f) =>
      `${f.isContinuation === true ? '+' : 'S'}${f.frames[0]!.trackNumber}@${f.timecode + f.frames[0]!.relativeTimecode}`,
  );

describe('StreamingFragmenter', () => {
  it('sends video the moment it arrives: a cluster start at each key frame, one part per frame', () => {
    const fragmenter = new StreamingFragmenter();
    const out = [header(false), frame(1, 0), frame(1, 40, true), frame(1, 80), frame(1, 120, true)].map(
      (event) => parts(fragmenter.push(event)),
    );
    // Every video frame comes straight back out (except the non-key one before the first key frame).
    expect(out).toEqual([[], [], ['S1@40'], ['+1@80'], ['S1@120']]);
    expect(fragmenter.stats).toMatchObject({ fragments: 2, framesOut: 3, skippedLeadingFrames: 1 });
  });

  it('releases audio in time order with the video, so no audio lands in a cluster that starts after it', () => {
    const fragmenter = new StreamingFragmenter();
    const events = [
      header(true),
      frame(1, 0, true),
      frame(2, 10),
      frame(2, 31),
      frame(1, 40),
      frame(2, 52), // arrives before the key frame at 60 and belongs before it
      frame(2, 73), // arrives before the key frame at 60 but belongs after it
      frame(1, 60, true),
      frame(1, 100),
    ];
    const out = events.flatMap((event) => parts(fragmenter.push(event)));
    out.push(...parts(fragmenter.end()));
    expect(out).toEqual(['S1@0', '+2@10', '+2@31', '+1@40', '+2@52', 'S1@60', '+2@73', '+1@100']);
  });

  it('end() flushes held audio and makes the next fragment wait for a key frame (a source restart)', () => {
    const fragmenter = new StreamingFragmenter();
    [header(true), frame(1, 0, true), frame(2, 5)].forEach((event) => fragmenter.push(event));
    expect(parts(fragmenter.end())).toEqual(['+2@5']);
    expect(parts(fragmenter.push(frame(1, 100)))).toEqual([]);
    expect(parts(fragmenter.push(frame(1, 140, true)))).toEqual(['S1@140']);
  });

  it('a key frame not after the previous fragment cannot start one (4004): it is dropped, counted', () => {
    const fragmenter = new StreamingFragmenter();
    [header(false), frame(1, 0, true), frame(1, 40)].forEach((event) => fragmenter.push(event));
    fragmenter.end();
    expect(parts(fragmenter.push(frame(1, 40, true)))).toEqual([]);
    expect(parts(fragmenter.push(frame(1, 41, true)))).toEqual(['S1@41']);
  });

  it('yields a session header first, none for the same tracks again (a restart), one for other tracks', () => {
    const fragmenter = new StreamingFragmenter();
    const kinds = (items: readonly SessionItem[]): string[] =>
      items.map((item) => (item.type === 'session-header' ? `H${item.tracks.length}` : parts([item])[0]!));
    expect(kinds(fragmenter.push(header(false)))).toEqual(['H1']);
    expect(kinds(fragmenter.push(frame(1, 0, true)))).toEqual(['S1@0']);
    // A restarted camera with the same tracks: no new header, and the open fragment is not closed.
    expect(kinds(fragmenter.push(header(false)))).toEqual([]);
    expect(kinds(fragmenter.push(frame(1, 40)))).toEqual(['+1@40']);
    // Other tracks: the open fragment closes, and one header goes before the next cluster.
    expect(kinds(fragmenter.push(header(true)))).toEqual(['H2']);
    expect(kinds(fragmenter.push(frame(1, 80)))).toEqual([]);
    expect(kinds(fragmenter.push(frame(1, 120, true)))).toEqual(['S1@120']);
  });

  it('builds each part complete: its arrival time and its release hook are given when it is made', () => {
    const released: number[] = [];
    const fragmenter = new StreamingFragmenter({
      releaseOf: (frames) => () => released.push(frames[0]!.relativeTimecode),
    });
    fragmenter.push(header(false));
    const [start] = fragmentsOf(fragmenter.push(frame(1, 0, true), 1234.5));
    const [next] = fragmentsOf(fragmenter.push(frame(1, 40), 1300));
    expect(start).toMatchObject({ arrivedAtMs: 1234.5, isContinuation: false });
    expect(next).toMatchObject({ arrivedAtMs: 1300, isContinuation: true });
    next!.release!();
    start!.release!();
    expect(released).toEqual([40, 0]);
    // What a run's end completes has no arrival time (no read completed it).
    fragmenter.push(header(true));
    fragmenter.push(frame(1, 80, true), 1400);
    fragmenter.push(frame(2, 90), 1410);
    expect(fragmentsOf(fragmenter.end()).map((part) => part.arrivedAtMs)).toEqual([undefined]);
  });
});
