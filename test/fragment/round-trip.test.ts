/**
 * Read → fragment → write → read again, on every fixture and every real service capture. What goes in must
 * come out: the same payloads in the same order per track (minus the frames the fragmenter reports it
 * skipped), one session header, clusters that start on a key frame of track 1 at producer time
 * `start + (source time − first key frame time)`, in time order, and the end-of-fragment tag last. The
 * whole pipeline is also split invariant: any chunking of the input gives the same bytes.
 */
import { basename } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { selectKvsTracks } from '../../src/fragment/fragmenter.js';
import type { Fragment } from '../../src/fragment/fragmenter.js';
import { END_OF_FRAGMENT_BYTES, END_OF_FRAGMENT_TAG } from '../../src/mkv/mkv-writer.js';
import { MkvParseError } from '../../src/mkv/mkv-errors.js';
import type { MkvEvent } from '../../src/mkv/mkv-types.js';
import { FIXTURES } from '../helpers/paths.js';
import {
  PROJECT_FIXTURES,
  SHARED_CAPTURES,
  START_MS,
  TRUNCATED_CAPTURES,
  chunksOf,
  readBytes,
  readEvents,
  runPipeline,
  sha1,
  splitAt,
} from './fragment-test-helpers.js';

/** A frame reduced to what the round trip must keep. */
type Frame = { track: number; ms: number; isKeyframe: boolean; hash: string; bytes: number };
type Cluster = { timecodeMs: number; frames: Frame[] };

/** Captures whose media time goes back at a key frame: the fragment after the jump carries 4004. */
const TIME_JUMPS: Readonly<Record<string, number>> = {
  'output-get-media-equal-timecode.mkv': 1,
  'output-get-media-non-increasing-timecode.mkv': 1,
};

/**
 * The source frames the pipeline must send, in input order, renumbered to the output tracks, and how many
 * were dropped for coming before the first key frame of the key track or belonging to no KVS track.
 */
const expectedFrames = (
  events: readonly MkvEvent[],
): { frames: Frame[]; leading: number; otherTracks: number; total: number } => {
  let toOutput = new Map<number, number>();
  let hasOrigin = false;
  let leading = 0;
  let otherTracks = 0;
  let total = 0;
  const frames: Frame[] = [];
  for (const event of events) {
    if (event.type === 'header') {
      toOutput = selectKvsTracks(event.header).inputToOutput;
    } else if (event.type === 'frame') {
      total++;
      const { frame } = event;
      const track = toOutput.get(frame.trackNumber);
      if (track === undefined) {
        otherTracks++;
        continue;
      }
      if (!hasOrigin && !(track === 1 && frame.isKeyframe)) {
        leading++;
        continue;
      }
      hasOrigin = true;
      frames.push({
        track,
        ms: frame.timestampMs,
        isKeyframe: frame.isKeyframe,
        hash: sha1(frame.data),
        bytes: frame.data.length,
      });
    }
  }
  return { frames, leading, otherTracks, total };
};

/** The clusters of a re-read session, with absolute block times. */
const clustersOf = (events: readonly MkvEvent[]): Cluster[] => {
  const clusters: Cluster[] = [];
  for (const event of events) {
    if (event.type === 'cluster') {
      clusters.push({ timecodeMs: event.timestampMs, frames: [] });
    } else if (event.type === 'frame') {
      const { frame } = event;
      clusters.at(-1)!.frames.push({
        track: frame.trackNumber,
        ms: frame.timestampMs,
        isKeyframe: frame.isKeyframe,
        hash: sha1(frame.data),
        bytes: frame.data.length,
      });
    }
  }
  return clusters;
};

const byTrack = <T extends { track: number }>(frames: readonly T[]): Map<number, T[]> => {
  const map = new Map<number, T[]>();
  for (const frame of frames) {
    const list = map.get(frame.track) ?? [];
    list.push(frame);
    map.set(frame.track, list);
  }
  return map;
};

const has4004 = (fragment: Fragment): boolean => fragment.issues.some((issue) => issue.errorId === 4004);

const checkRoundTrip = (path: string): void => {
  const name = basename(path);
  const input = readBytes(path);
  // Chunks of an odd size, so blocks straddle chunk boundaries as they do on a socket.
  const {
    events,
    error,
    fragments,
    headers: sessionHeaders,
    fragmenter,
    bytes,
  } = runPipeline(chunksOf(input, 65_537));
  if (TRUNCATED_CAPTURES.has(name)) {
    expect(error).toBeInstanceOf(MkvParseError);
  } else {
    expect(error).toBeUndefined();
  }
  const source = expectedFrames(events);
  const { stats } = fragmenter;

  // What the fragmenter says it did matches what an independent count of the source finds.
  expect(stats.framesIn).toBe(source.total);
  expect(stats.skippedLeadingFrames).toBe(source.leading);
  expect(stats.skippedTrackFrames).toBe(source.otherTracks);
  expect(stats.skippedLateFrames).toBe(0);
  expect(stats.framesOut).toBe(source.total - source.leading - source.otherTracks);

  if (source.frames.length === 0) {
    // A capture with a header and tags but no frame: nothing to send, not even a header.
    expect(fragments).toEqual([]);
    expect(bytes.length).toBe(0);
    return;
  }

  const again = readEvents([bytes]);
  expect(again.error).toBeUndefined();
  const out = again.events;

  // One EBML header + Segment per session, the tracks of the first fragment.
  const headers = out.filter((event) => event.type === 'header');
  expect(headers).toHaveLength(1);
  expect(out.filter((event) => event.type === 'segment-end')).toHaveLength(1);
  expect(headers[0]!.header.tracks.map((track) => [track.number, track.codecId])).toEqual(
    sessionHeaders[0]!.tracks.map((track) => [track.number, track.codecId]),
  );
  expect(sessionHeaders).toHaveLength(1);

  // Frame count and payload bytes, per track in order.
  const clusters = clustersOf(out);
  const written = clusters.flatMap((cluster) => cluster.frames);
  expect(written).toHaveLength(source.frames.length);
  const sourceByTrack = byTrack(source.frames);
  const writtenByTrack = byTrack(written);
  expect([...writtenByTrack.keys()].sort()).toEqual([...sourceByTrack.keys()].sort());
  for (const [track, list] of sourceByTrack) {
    expect(writtenByTrack.get(track)!.map((frame) => frame.hash)).toEqual(list.map((frame) => frame.hash));
  }

  // One cluster per fragment, each starting with a key frame of track 1, as long as the fragment says.
  expect(clusters).toHaveLength(fragments.length);
  const boundaries = out
    .filter((event) => event.type === 'cluster' || event.type === 'tags')
    .map((event) => event.byteOffset);
  const clusterBytes = out.flatMap((event) =>
    event.type === 'cluster'
      ? [boundaries[boundaries.indexOf(event.byteOffset) + 1]! - event.byteOffset]
      : [],
  );
  expect(clusterBytes).toEqual(fragments.map((fragment) => fragment.byteLength));
  for (const cluster of clusters) {
    expect(cluster.frames[0]).toMatchObject({ track: 1, isKeyframe: true });
  }

  // Time order: cluster timecodes increase and each fragment starts after the previous one's last
  // frame, except where the input's time goes back, which is exactly where the fragmenter says 4004.
  let jumps = 0;
  for (let i = 0; i < clusters.length; i++) {
    const cluster = clusters[i]!;
    const fragment = fragments[i]!;
    expect(cluster.timecodeMs).toBe(fragment.timecode);
    const times = cluster.frames.map((frame) => frame.ms);
    // No block is before its cluster's start; only B-frames (presentation times in decode order) go back.
    expect(Math.min(...times)).toBe(cluster.timecodeMs);
    if (!fragment.hasBFrames) {
      expect(times).toEqual([...times].sort((a, b) => a - b));
    }
    expect(fragment.lastTimestampMs).toBe(Math.max(...times));
    if (i === 0) {
      expect(has4004(fragment)).toBe(false);
      continue;
    }
    const previous = clusters[i - 1]!;
    const previousLast = Math.max(...previous.frames.map((frame) => frame.ms));
    const isInOrder = cluster.timecodeMs > previous.timecodeMs && times[0]! > previousLast;
    expect(isInOrder).toBe(!has4004(fragment));
    if (!isInOrder) {
      jumps++;
    }
  }
  expect(jumps).toBe(TIME_JUMPS[name] ?? 0);

  // Block times = start + (source time − first key frame time), per frame, B-frames included.
  const origin = source.frames[0]!.ms;
  const cursor = new Map<number, number>();
  clusters.forEach((cluster, i) => {
    for (const [track, list] of byTrack(cluster.frames)) {
      const at = cursor.get(track) ?? 0;
      const from = sourceByTrack.get(track)!.slice(at, at + list.length);
      cursor.set(track, at + list.length);
      const expected = from.map((frame) => START_MS + frame.ms - origin);
      list.forEach((frame, k) => {
        expect(
          Math.abs(frame.ms - expected[k]!),
          `${name} cluster ${i} track ${track} frame ${k}`,
        ).toBeLessThanOrEqual(1);
      });
    }
  });
  expect(fragments.some((fragment) => fragment.hasBFrames)).toBe(name === 'bframes.mkv');

  // The session ends with the end-of-fragment tag.
  expect(out.at(-1)!.type).toBe('segment-end');
  const last = out.at(-2)!;
  expect(last.type === 'tags' && last.tags).toEqual([{ name: END_OF_FRAGMENT_TAG, value: '' }]);
  expect(sha1(bytes.subarray(bytes.length - END_OF_FRAGMENT_BYTES.length))).toBe(sha1(END_OF_FRAGMENT_BYTES));
};

describe('round trip: read → Fragmenter → SessionWriter → read', () => {
  it.each(PROJECT_FIXTURES.map((path) => [basename(path), path]))('fixtures/mkv/%s', (_name, path) => {
    checkRoundTrip(path);
  });

  it.skipIf(SHARED_CAPTURES.length === 0).each(SHARED_CAPTURES.map((path) => [basename(path), path]))(
    'capture %s',
    (_name, path) => {
      checkRoundTrip(path);
    },
  );
});

describe('split invariance of the whole pipeline', () => {
  const input = readBytes(`${FIXTURES}/h264-aac.mkv`);
  const whole = runPipeline([input]);
  const wholeHash = sha1(whole.bytes);
  const numRuns = Number(process.env['FC_NUM_RUNS'] ?? 60);

  it('the baseline is a complete session', () => {
    expect(whole.error).toBeUndefined();
    expect(whole.fragments).toHaveLength(3);
    expect(whole.bytes.length).toBeGreaterThan(input.length * 0.9);
  });

  it('any chunking of h264-aac.mkv gives byte-identical output (fixed start time and SegmentUID)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: input.length - 1 }), { maxLength: 40 }),
        (cuts) => {
          const split = runPipeline(splitAt(input, cuts));
          expect(split.error).toBeUndefined();
          expect(split.bytes.length).toBe(whole.bytes.length);
          expect(sha1(split.bytes)).toBe(wholeHash);
        },
      ),
      { numRuns },
    );
  });

  it('tiny chunks (1–7 bytes, as a slow socket delivers them) give the same output too', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), (size) => {
        expect(sha1(runPipeline(chunksOf(input, size)).bytes)).toBe(wholeHash);
      }),
      { numRuns: 3 },
    );
  });
});
