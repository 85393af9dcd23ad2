/**
 * The live source on its own, with real ffmpeg: the test pattern's reads become fragment lists (parsed in
 * the step that read them), a restart closes the fragment in progress, and a consumer that leaves early
 * leaves no ffmpeg running. And the one-shot byte source a file remux is read through: ffmpeg waits for a
 * reader that is behind, and one that leaves stops it.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planCapture } from '../../src/capture/capture-plan.js';
import type { CaptureEvent } from '../../src/capture/capture-loop.js';
import { captureBytes, liveFragments, videoSizeNote } from '../../src/source/live-source.js';
import { CodecId, TrackType } from '../../src/mkv/ebml-ids.js';
import type { MkvTrack } from '../../src/mkv/mkv-types.js';
import { fragmentsOf } from '../../src/fragment/fragmenter.js';
import type { Fragment } from '../../src/fragment/fragmenter.js';
import { FFMPEG, hasFfmpeg, readMkvSummary, tempDir, writeScript } from '../capture/capture-test-helpers.js';

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
    let headers = 0;
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
      parts.push(...fragmentsOf(list));
      headers += list.filter((item) => item.type === 'session-header').length;
    }
    expect(events.map((event) => event.type).slice(0, 4)).toEqual(['start', 'restart', 'start', 'restart']);
    const starts = parts.filter((part) => part.isContinuation !== true);
    expect(starts.length).toBeGreaterThanOrEqual(4);
    // The restarted run delivers the same tracks: it continues under the first run's session header.
    expect(headers).toBe(1);
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
      for (const part of fragmentsOf(list)) {
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

/** The processes this process has started, by pid, with their command lines (Linux /proc; none elsewhere). */
const childProcesses = (): { pid: string; cmdline: string }[] => {
  try {
    return readdirSync(`/proc/${process.pid}/task`)
      .flatMap((task) => readFileSync(`/proc/${process.pid}/task/${task}/children`, 'utf8').split(/\s+/))
      .filter(Boolean)
      .map((pid) => {
        try {
          return { pid, cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ') };
        } catch {
          return { pid, cmdline: '' };
        }
      });
  } catch {
    return [];
  }
};

/** How many bytes process `pid` has written so far (Linux /proc), or undefined when that cannot be read. */
const bytesWritten = (pid: string): number | undefined => {
  try {
    const match = /^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
};

const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50));

describe.skipIf(!hasFfmpeg)('captureBytes', () => {
  it('a reader that is behind holds ffmpeg on the full pipe; every byte arrives once it reads on', async () => {
    // A stand-in that writes 16 MiB as fast as the pipe takes them, then exits 0 as a finished remux does.
    const total = 16 * 1024 * 1024;
    const writer = writeScript(join(tempDir(), 'ffmpeg'), `exec head -c ${total} /dev/zero`);
    const plan = await planCapture({ kind: 'testsrc', durationS: 1 }, {}, { ffmpegPath: FFMPEG });
    expect(plan.isRestartable).toBe(false);
    const events: CaptureEvent[] = [];
    const bytes = captureBytes(plan, {
      ffmpegPath: writer,
      signal: new AbortController().signal,
      onCaptureEvent: (event) => events.push(event),
    });
    let received = (await bytes.next()).value?.length ?? 0;
    // Not reading: the queue fills, ffmpeg's stdout is paused, and the writer stops on the full pipe with
    // most of its bytes unwritten (without the pause it would have written them all and exited).
    const head = childProcesses().find((child) => child.cmdline.startsWith('head '))?.pid;
    if (head !== undefined && bytesWritten(head) !== undefined) {
      let before = -1;
      let written = bytesWritten(head)!;
      while (written !== before) {
        before = written;
        await turn();
        written = bytesWritten(head)!;
      }
      expect(written).toBeLessThan(total / 2);
    }
    for await (const chunk of bytes) {
      received += chunk.length;
    }
    expect(received).toBe(total);
    expect(events.map((event) => event.type)).toEqual(['start']);
    expect(childProcesses()).toEqual([]);
  });

  it('yields one whole MKV stream; a reader that leaves early stops ffmpeg', async () => {
    const plan = await planCapture(
      { kind: 'testsrc', videoSize: '160x120', durationS: 0.5 },
      { audio: 'none' },
      { ffmpegPath: FFMPEG },
    );
    const summary = await readMkvSummary(
      captureBytes(plan, { ffmpegPath: FFMPEG, signal: new AbortController().signal }),
    );
    expect(summary.headers).toHaveLength(1);
    expect(summary.frames.length).toBeGreaterThan(3);

    const endless = await planCapture(
      { kind: 'testsrc', videoSize: '160x120', durationS: 600 },
      { audio: 'none' },
      { ffmpegPath: FFMPEG },
    );
    let reads = 0;
    for await (const _chunk of captureBytes(endless, {
      ffmpegPath: FFMPEG,
      signal: new AbortController().signal,
    })) {
      if (++reads === 2) {
        break;
      }
    }
    expect(reads).toBe(2);
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
