/**
 * The live source on its own, with real ffmpeg: the test pattern's reads become fragment lists (parsed in
 * the step that read them), a restart closes the fragment in progress, and a consumer that leaves early
 * leaves no ffmpeg running.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { planCapture } from '../../src/capture/capture-plan.js';
import type { CaptureEvent } from '../../src/capture/capture-loop.js';
import { liveFragments, videoSizeNote } from '../../src/source/live-source.js';
import { CodecId, TrackType } from '../../src/mkv/ebml-ids.js';
import type { MkvTrack } from '../../src/mkv/mkv-types.js';
import type { Fragment } from '../../src/fragment/fragmenter.js';
import { FFMPEG, hasFfmpeg } from '../capture/capture-test-helpers.js';

/** The ffmpeg processes this process has started and not reaped (Linux /proc; empty elsewhere). */
const ffmpegChildren = (): string[] => {
  try {
    return readdirSync(`/proc/${process.pid}/task`)
      .flatMap((task) => readFileSync(`/proc/${process.pid}/task/${task}/children`, 'utf8').split(/\s+/))
      .filter(Boolean)
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('ffmpeg');
        } catch {
          return false;
        }
      });
  } catch {
    return [];
  }
};

describe.skipIf(!hasFfmpeg)('liveFragments', () => {
  it('turns two runs of the test pattern into fragments, closing the first at the restart', async () => {
    const plan = {
      ...(await planCapture(
        { kind: 'testsrc', videoSize: '160x120', framerate: 25, durationS: 0.6 },
        { audio: 'none', bitrateKbps: 100, keyframeIntervalS: 0.2 },
        { ffmpegPath: FFMPEG },
      )),
      isRestartable: true,
    };
    const controller = new AbortController();
    const events: CaptureEvent[] = [];
    const parts: Fragment[] = [];
    for await (const list of liveFragments(plan, {
      ffmpegPath: FFMPEG,
      signal: controller.signal,
      onCaptureEvent: (event) => {
        events.push(event);
        if (event.type === 'start' && event.attempt === 3) {
          controller.abort();
        }
      },
    })) {
      expect(list.length).toBeGreaterThan(0);
      parts.push(...list);
    }
    expect(events.map((event) => event.type).slice(0, 4)).toEqual(['start', 'restart', 'start', 'restart']);
    const starts = parts.filter((part) => part.isContinuation !== true);
    expect(starts.length).toBeGreaterThanOrEqual(4);
    // One clock across the runs: the second run's fragments come after the first's.
    const timestamps = parts.map((part) => part.producerTimestampMs);
    expect(timestamps).toEqual([...timestamps].sort((a, b) => a - b));
    for (const part of parts) {
      expect(part.arrivedAtMs).toBeGreaterThan(0);
      expect(typeof part.release).toBe('function');
      part.release?.();
    }
    expect(ffmpegChildren()).toEqual([]);
  });

  it('a consumer that leaves early stops ffmpeg before its loop ends', async () => {
    const plan = await planCapture(
      { kind: 'testsrc', videoSize: '160x120' },
      { audio: 'none' },
      { ffmpegPath: FFMPEG },
    );
    let lists = 0;
    for await (const list of liveFragments(plan, {
      ffmpegPath: FFMPEG,
      signal: new AbortController().signal,
    })) {
      for (const part of list) {
        part.release?.();
      }
      if (++lists === 3) {
        break;
      }
    }
    expect(lists).toBe(3);
    expect(ffmpegChildren()).toEqual([]);
  });
});

describe('videoSizeNote: a camera that delivers another size than asked', () => {
  const track = (widthPx: number, heightPx: number): MkvTrack => ({
    number: 1,
    uid: 1n,
    type: TrackType.Video,
    codecId: CodecId.H264,
    video: { widthPx, heightPx },
  });

  it('says which size the camera chose; nothing when it is the one asked, or none was asked', () => {
    // vivid, asked for 1234x777, delivers 1280x720 (scripts/camera-vm-guest.sh).
    const asked = { kind: 'device', path: '/dev/video0', videoSize: '1234x777' } as const;
    expect(videoSizeNote(asked, [track(1280, 720)])).toBe(' (asked for 1234x777: the camera chose 1280x720)');
    expect(videoSizeNote(asked, [track(1234, 777)])).toBe('');
    expect(videoSizeNote({ kind: 'device', path: '/dev/video0' }, [track(1280, 720)])).toBe('');
    expect(videoSizeNote({ kind: 'testsrc', videoSize: '1234x777' }, [track(1280, 720)])).toBe('');
  });
});
