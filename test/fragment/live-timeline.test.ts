import { describe, expect, it } from 'vitest';
import { Fragmenter, fragmentsOf } from '../../src/fragment/fragmenter.js';
import { LiveTimeline } from '../../src/fragment/live-timeline.js';
import { CodecId, TrackType } from '../../src/mkv/ebml-ids.js';
import type { MkvEvent } from '../../src/mkv/mkv-types.js';

const header: MkvEvent = {
  type: 'header',
  byteOffset: 0,
  header: {
    docType: 'matroska',
    docTypeVersion: 4,
    timecodeScaleNs: 1e6,
    tracks: [{ number: 1, uid: 1n, type: TrackType.Video, codecId: CodecId.H264 }],
  },
};
const frame = (ms: number, key = false): MkvEvent => ({
  type: 'frame',
  byteOffset: 0,
  frame: { trackNumber: 1, timecode: ms, timestampMs: ms, isKeyframe: key, data: new Uint8Array(1) },
});
const times = (events: MkvEvent[]): number[] =>
  events.flatMap((event) => (event.type === 'frame' ? [event.frame.timestampMs] : []));

describe('LiveTimeline', () => {
  it('maps media time onto the wall clock at the first frame', () => {
    let now = 1_000_000;
    const timeline = new LiveTimeline({ now: () => now });
    const out = [header, frame(5000, true), frame(5040), frame(5080)].map((event) => {
      now += 40;
      return timeline.map(event);
    });
    expect(times(out)).toEqual([1_000_080, 1_000_120, 1_000_160]);
  });

  it('re-anchors a restarted source on the wall clock, never going back in time', () => {
    let now = 1_000_000;
    const reanchors: string[] = [];
    const timeline = new LiveTimeline({ now: () => now, onReanchor: (info) => reanchors.push(info.reason) });
    const first = [header, frame(0, true), frame(40), frame(80)].map((event) => timeline.map(event));
    // ffmpeg restarts: media time starts over at 0, and the wall clock has barely moved (a fast restart).
    timeline.startRun();
    now += 10;
    const second = [header, frame(0, true), frame(40)].map((event) => timeline.map(event));
    expect(times(first)).toEqual([1_000_000, 1_000_040, 1_000_080]);
    expect(times(second)).toEqual([1_000_081, 1_000_121]);
    expect(reanchors).toEqual(['restart']);
  });

  it('corrects drift at key frames when media time runs away from the wall clock', () => {
    let now = 0;
    const drifts: number[] = [];
    const timeline = new LiveTimeline({
      now: () => now,
      maxDriftMs: 500,
      onReanchor: (info) => drifts.push(info.driftMs),
    });
    timeline.map(header);
    timeline.map(frame(0, true));
    // The source's clock runs 10% fast: after 10 s of wall time it claims 11 s.
    now = 10_000;
    const late = timeline.map(frame(11_000));
    expect(times([late])).toEqual([11_000]); // not a key frame: no jump inside a fragment
    const key = timeline.map(frame(11_040, true));
    expect(times([key])).toEqual([11_001]); // re-anchored at the key frame, still after the last output
    expect(drifts).toEqual([1040]);
  });

  it('feeds a Fragmenter that takes producer time as it is', () => {
    let now = 1_700_000_000_000;
    const timeline = new LiveTimeline({ now: () => now });
    const fragmenter = new Fragmenter({ isProducerTime: true });
    const fragments = [header, frame(0, true), frame(40), frame(80, true), frame(120)].flatMap((event) => {
      now += 1;
      return fragmenter.push(timeline.map(event));
    });
    fragments.push(...fragmenter.end());
    expect(fragmentsOf(fragments).map((f) => f.timecode)).toEqual([1_700_000_000_002, 1_700_000_000_082]);
  });
});
