/**
 * What the fragmenter decides on real files: the project fixtures made by ffmpeg (long GOP, audio + video,
 * a non-key start) and the GetMedia captures of the real service whose media time goes back.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Fragmenter, fragmentsOf } from '../../src/fragment/fragmenter.js';
import type { Fragment, FragmenterOptions, SessionHeader } from '../../src/fragment/fragmenter.js';
import { CodecId, TrackType } from '../../src/mkv/ebml-ids.js';
import type { MkvEvent } from '../../src/mkv/mkv-types.js';
import { FIXTURES, hasTool } from '../helpers/paths.js';
import {
  START_MS,
  TRUNCATED_CAPTURES,
  ffprobePacketFlags,
  hasSharedFixtures,
  readBytes,
  readEvents,
  sharedCapture,
} from './fragment-test-helpers.js';

const hasFfprobe = hasTool('ffprobe');

const fragment = (path: string, options: FragmenterOptions = {}) => {
  const { events, error } = readEvents([readBytes(path)]);
  const fragmenter = new Fragmenter({ startTimeMs: START_MS, ...options });
  const items = events.flatMap((event) => fragmenter.push(event));
  items.push(...fragmenter.end());
  const headers = items.filter((item): item is SessionHeader => item.type === 'session-header');
  return { events, error, fragments: fragmentsOf(items), headers, stats: fragmenter.stats };
};

const errorIds = (fragments: readonly Fragment[]): number[][] =>
  fragments.map((f) => f.issues.map((issue) => issue.errorId));

describe('project fixtures', () => {
  it('long-gop.mkv (a key frame every 25 s): exactly one fragment, the first, is refused with 4002', () => {
    const { fragments, stats } = fragment(join(FIXTURES, 'long-gop.mkv'));
    expect(errorIds(fragments)).toEqual([[4002], []]);
    expect(fragments[0]!.durationMs).toBe(25_000);
    expect(fragments[0]!.issues[0]!.message).toMatch(/key frame interval/);
    expect(fragments[1]!.durationMs).toBeLessThanOrEqual(20_000);
    expect(stats.fragmentsWithIssues).toBe(1);
    expect(fragments.every((f) => f.startsWithKeyframe)).toBe(true);
  });

  it('long-gop.mkv with the limit raised: no issue (the 4002 comes from the limit, nothing else)', () => {
    const { fragments } = fragment(join(FIXTURES, 'long-gop.mkv'), { maxFragmentDurationMs: 30_000 });
    expect(errorIds(fragments)).toEqual([[], []]);
  });

  it('h264-aac.mkv: 3 fragments, each holding both tracks, no 4011 and no other issue', () => {
    const { events, fragments, headers, stats } = fragment(join(FIXTURES, 'h264-aac.mkv'));
    expect(fragments).toHaveLength(3);
    expect(headers[0]!.tracks.map((track) => [track.number, track.type, track.codecId])).toEqual([
      [1, TrackType.Video, CodecId.H264],
      [2, TrackType.Audio, CodecId.Aac],
    ]);
    for (const f of fragments) {
      expect(new Set(f.frames.map((frame) => frame.trackNumber))).toEqual(new Set([1, 2]));
      expect(f.frames[0]).toMatchObject({ trackNumber: 1, isKeyframe: true });
      expect(f.issues).toEqual([]);
    }
    // The one skipped frame is the AAC frame at 0 ms, before the first video key frame (21 ms: AAC priming).
    const firstFrames = events.filter(
      (event): event is MkvEvent & { type: 'frame' } => event.type === 'frame',
    );
    expect(firstFrames[0]!.frame.trackNumber).not.toBe(firstFrames[1]!.frame.trackNumber);
    expect(stats.skippedLeadingFrames).toBe(1);
    expect(stats.skippedLateFrames).toBe(0);
  });

  it.skipIf(!hasFfprobe)(
    'nonkey-start.mkv: skippedLeadingFrames = the packets ffprobe lists before the first K flag',
    () => {
      const flags = ffprobePacketFlags(join(FIXTURES, 'nonkey-start.mkv'));
      const beforeKey = flags.findIndex((flag) => flag.startsWith('K'));
      expect(beforeKey).toBeGreaterThan(0);
      const { fragments, stats } = fragment(join(FIXTURES, 'nonkey-start.mkv'));
      expect(stats.skippedLeadingFrames).toBe(beforeKey);
      expect(stats.framesOut).toBe(flags.length - beforeKey);
      expect(fragments[0]!.startsWithKeyframe).toBe(true);
      expect(fragments[0]!.producerTimestampMs).toBe(START_MS);
    },
  );

  it('h264.mkv with --min-fragment-duration 2000: key frames at 0, 1, 2 s make fragments at 0 and 2 s', () => {
    const { fragments } = fragment(join(FIXTURES, 'h264.mkv'), { minFragmentDurationMs: 2000 });
    expect(fragments.map((f) => [f.timecode - START_MS, f.frames.length])).toEqual([
      [0, 50],
      [2000, 25],
    ]);
  });
});

describe.skipIf(!hasSharedFixtures)('GetMedia captures whose media time goes back', () => {
  // Each GetMedia chunk holds one fragment; in these two the producer's cluster timecodes go back (the
  // chunks are fragments of different PutMedia sessions). Sent as one session, the service would refuse
  // the fragment after the jump with 4004; the fragmenter must say so and keep every GOP's own timeline.

  it('output-get-media-non-increasing-timecode.mkv: 12 fragments, 4004 on the one after 10014 → 0 ms', () => {
    const { events, error, fragments, stats } = fragment(
      sharedCapture('output-get-media-non-increasing-timecode.mkv'),
    );
    expect(TRUNCATED_CAPTURES.has('output-get-media-non-increasing-timecode.mkv')).toBe(true);
    expect(error).toBeDefined(); // the capture ends mid-block; the 12th fragment is partial
    const clusterTimes = events.flatMap((event) => (event.type === 'cluster' ? [event.timecode] : []));
    expect(clusterTimes).toEqual([10014, 0, 1001, 2003, 3004, 4005, 5007, 6008, 7010, 8011, 9012, 10014]);
    // One fragment per source cluster, each at start + (its time − 10014).
    expect(fragments.map((f) => f.timecode - START_MS)).toEqual(clusterTimes.map((ms) => ms - 10014));
    expect(errorIds(fragments)).toEqual([[], [4004], [], [], [], [], [], [], [], [], [], []]);
    expect(fragments[1]!.issues[0]!.message).toMatch(/not after the previous fragment's last frame/);
    // Not B-frames: every fragment starts on a key frame.
    expect(stats.bFrameFragments).toBe(0);
    expect(fragments.every((f) => f.startsWithKeyframe && !f.hasBFrames)).toBe(true);
    expect(stats.framesOut).toBe(stats.framesIn);
  });

  it('output-get-media-equal-timecode.mkv: 2 fragments both at 0 ms, the second refused with 4004', () => {
    const { events, fragments, stats } = fragment(sharedCapture('output-get-media-equal-timecode.mkv'));
    const clusterTimes = events.flatMap((event) => (event.type === 'cluster' ? [event.timecode] : []));
    expect(clusterTimes).toEqual([0, 0]);
    expect(fragments.map((f) => f.timecode)).toEqual([START_MS, START_MS]);
    expect(errorIds(fragments)).toEqual([[], [4004]]);
    expect(stats.bFrameFragments).toBe(0);
    // Each fragment keeps its own frames and timeline: frames per cluster as in the source.
    const perCluster: number[] = [];
    for (const event of events) {
      if (event.type === 'cluster') {
        perCluster.push(0);
      } else if (event.type === 'frame') {
        perCluster[perCluster.length - 1]! += 1;
      }
    }
    expect(fragments.map((f) => f.frames.length)).toEqual(perCluster);
  });

  it.each(['output_get_media.mkv', 'output_get_media_sparse_fragments.mkv', 'test_mixed_tags.mkv'])(
    '%s: one fragment per GetMedia chunk, one session header, no issue',
    (name) => {
      const { events, fragments, headers } = fragment(sharedCapture(name));
      const clusters = events.filter((event) => event.type === 'cluster').length;
      expect(fragments).toHaveLength(clusters);
      expect(headers).toHaveLength(1);
      expect(errorIds(fragments).flat()).toEqual([]);
    },
  );
});

describe('time going back, in the small (the rule the captures above exercise)', () => {
  const video = { number: 1, uid: 1n, type: TrackType.Video, codecId: CodecId.H264 };
  const audio = { number: 2, uid: 2n, type: TrackType.Audio, codecId: CodecId.Aac };
  const run = (frames: [track: 1 | 2, ms: number, key: boolean][], options: FragmenterOptions = {}) => {
    const fragmenter = new Fragmenter({ startTimeMs: START_MS, ...options });
    const events: MkvEvent[] = [
      {
        type: 'header',
        byteOffset: 0,
        header: { docType: 'matroska', docTypeVersion: 4, timecodeScaleNs: 1e6, tracks: [video, audio] },
      },
      ...frames.map(([trackNumber, ms, isKeyframe]): MkvEvent => ({
        type: 'frame',
        byteOffset: 0,
        frame: { trackNumber, timecode: ms, timestampMs: ms, isKeyframe, data: new Uint8Array(4) },
      })),
    ];
    const items = events.flatMap((event) => fragmenter.push(event));
    items.push(...fragmenter.end());
    return fragmentsOf(items).map((f) => ({
      at: f.timecode - START_MS,
      frames: f.frames.map(
        (frame) => `${frame.trackNumber}@${f.timecode - START_MS + frame.relativeTimecode}`,
      ),
      errorIds: f.issues.map((issue) => issue.errorId),
    }));
  };

  it('a key frame back in time starts a fragment (4004) even under a minimum fragment duration, and audio of the old timeline stays there', () => {
    const fragments = run(
      [
        [1, 1000, true],
        [2, 1000, true],
        [1, 1040, false],
        [2, 1060, true],
        [1, 0, true],
        [2, 0, true],
        [1, 40, false],
        [2, 21, true],
      ],
      { minFragmentDurationMs: 2000 },
    );
    expect(fragments).toEqual([
      { at: 0, frames: ['1@0', '2@0', '1@40', '2@60'], errorIds: [] },
      { at: -1000, frames: ['1@-1000', '2@-1000', '2@-979', '1@-960'], errorIds: [4004] },
    ]);
  });

  it('a second key frame at the very same time as the fragment start is kept in that fragment', () => {
    expect(
      run([
        [1, 0, true],
        [2, 0, true],
        [1, 0, true],
        [1, 40, false],
        [2, 21, true],
      ]).map((f) => f.errorIds),
    ).toEqual([[]]);
  });
});
