/**
 * Live sources (camera, RTSP, test pattern): ffmpeg runs, restarted when they end, → one continuous
 * fragment stream. Each run gets a fresh reader (its media time starts over), the LiveTimeline maps it onto
 * the wall clock without going back, and the fragment in progress is closed at a restart so the next one
 * starts cleanly at a key frame.
 */
import type { CapturePlan } from '../capture/capture-plan.js';
import type { CaptureSource } from '../capture/capture-source.js';
import type { CaptureEvent } from '../capture/capture-loop.js';
import { captureWithRestarts } from '../capture/capture-loop.js';
import { StdoutQueue } from '../capture/stdout-queue.js';
import type { Fragment, FragmenterOptions } from '../fragment/fragmenter.js';
import { StreamingFragmenter } from '../fragment/streaming-fragmenter.js';
import { LiveTimeline } from '../fragment/live-timeline.js';
import type { LiveTimelineOptions } from '../fragment/live-timeline.js';
import { ArenaMkvReader } from '../mkv/arena-mkv-reader.js';
import type { MkvEvent, MkvTrack } from '../mkv/mkv-types.js';
import { BufferPool, ChunkArena, onceReleasing } from '../util/buffer-pool.js';
import type { Clock } from '../util/clock.js';

export type LiveSourceOptions = {
  ffmpegPath: string;
  signal: AbortSignal;
  fragmenter?: Omit<FragmenterOptions, 'isProducerTime' | 'startTimeMs' | 'timecodeMode'>;
  onCaptureEvent?: (event: CaptureEvent) => void;
  onReanchor?: LiveTimelineOptions['onReanchor'];
  /** A run's output ended mid-element (ffmpeg was stopped or died): what was complete is kept. */
  onTruncatedRun?: (error: unknown) => void;
  onStderrLine?: (line: string) => void;
  /** Each run's tracks, as ffmpeg's Matroska header declares them (before kvs-put picks and renumbers). */
  onTracks?: (tracks: readonly MkvTrack[]) => void;
  /** Times ffmpeg's restarts, its silence watchdog and its stop. @default systemClock */
  clock?: Clock;
};

/**
 * The fragments of a live capture, in lists: what each read of ffmpeg's output completed (one step of the
 * generator per read, not per frame). Returns when the signal aborts, after closing the last fragment.
 */
export async function* liveFragments(
  plan: CapturePlan,
  options: LiveSourceOptions,
): AsyncGenerator<Fragment[]> {
  const timeline = new LiveTimeline({
    ...(options.onReanchor === undefined ? {} : { onReanchor: options.onReanchor }),
  });
  // Sent as they grow: a frame goes out as soon as it leaves ffmpeg, not when its fragment is complete.
  const fragmenter = new StreamingFragmenter({
    ...(options.fragmenter?.minFragmentDurationMs === undefined
      ? {}
      : { minFragmentDurationMs: options.fragmenter.minFragmentDurationMs }),
  });
  // ffmpeg's reads are copied into pooled memory (see ArenaMkvReader); each frame holds its buffer until its
  // fragment is released.
  const arena = new ChunkArena(new BufferPool(ARENA_BUFFER_BYTES, MAX_IDLE_ARENA_BUFFERS));
  const pool = arena.pool;
  let reader: ArenaMkvReader | undefined;
  const newReader = (): ArenaMkvReader => new ArenaMkvReader(arena);
  /** Fragments hand their frames' pool memory back when the upload session releases them. */
  const releasing = (fragments: Fragment[]): Fragment[] => {
    for (const fragment of fragments) {
      fragment.release = onceReleasing(pool, fragment.frames);
    }
    return fragments;
  };
  const feed = (events: readonly MkvEvent[], out: Fragment[]): Fragment[] => {
    for (const event of events) {
      if (event.type === 'header') {
        options.onTracks?.(event.header.tracks);
      }
      out.push(...releasing(fragmenter.push(timeline.map(event))));
    }
    return out;
  };
  /** Ends a run: its last complete frames count, a torn element does not. */
  const endRun = (): Fragment[] => {
    const out: Fragment[] = [];
    if (reader !== undefined) {
      try {
        feed(reader.end(), out);
      } catch (error) {
        options.onTruncatedRun?.(error);
      }
      reader.close();
      reader = undefined;
    }
    out.push(...releasing(fragmenter.end()));
    return out;
  };
  // The per-read work is synchronous and kept out of the generator below, which only hands fragments on.
  const onBytes = (read: Uint8Array): Fragment[] => {
    reader ??= newReader();
    // The upload session measures the socket side with performance.now too.
    const arrivedAtMs = performance.now();
    let events: MkvEvent[];
    try {
      events = reader.push(read);
    } catch (error) {
      // A damaged run: drop the rest of it; the next run starts clean.
      options.onTruncatedRun?.(error);
      return endRun();
    }
    const fragments = feed(events, []);
    for (const fragment of fragments) {
      fragment.arrivedAtMs = arrivedAtMs;
    }
    return fragments;
  };
  const onEvent = (event: CaptureEvent): Fragment[] => {
    options.onCaptureEvent?.(event);
    if (event.type !== 'start') {
      return [];
    }
    const out = endRun();
    reader = newReader();
    timeline.startRun();
    return out;
  };
  // ffmpeg's reads are parsed and fragmented in the step that reads them (onData): the generator below only
  // hands on what they completed, and the capture's events in their place among them.
  let ready: Fragment[] = [];
  let wake: (() => void) | undefined;
  const wakeUp = (): void => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  // Leaving early (the upload ended) must stop ffmpeg at once: the capture is inside a run, not at a yield.
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(options.signal.reason);
  if (options.signal.aborted) {
    onAbort();
  }
  options.signal.addEventListener('abort', onAbort, { once: true });
  const capture = captureWithRestarts(plan, {
    ffmpegPath: options.ffmpegPath,
    signal: stop.signal,
    onData: (read) => {
      const fragments = onBytes(read);
      if (fragments.length > 0) {
        for (const fragment of fragments) {
          ready.push(fragment);
        }
        wakeUp();
      }
    },
    ...(options.onStderrLine === undefined ? {} : { onStderrLine: options.onStderrLine }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  let next: IteratorResult<CaptureEvent> | { error: unknown } | undefined;
  /** Asks the capture for its next event; called only once the previous one is handled (its order). */
  const pull = (): void => {
    capture.next().then(
      (result) => {
        next = result;
        wakeUp();
      },
      (error: unknown) => {
        next = { error };
        wakeUp();
      },
    );
  };
  try {
    pull();
    for (;;) {
      if (ready.length > 0) {
        const out = ready;
        ready = [];
        yield out;
        continue;
      }
      if (next === undefined) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      const result = next;
      next = undefined;
      if ('error' in result) {
        throw result.error;
      }
      if (result.done === true) {
        break;
      }
      const fragments = onEvent(result.value);
      pull();
      if (fragments.length > 0) {
        yield fragments;
      }
    }
    const last = endRun();
    if (last.length > 0) {
      yield last;
    }
  } finally {
    options.signal.removeEventListener('abort', onAbort);
    stop.abort();
    await capture.return();
    arena.close();
  }
}

/** Pool buffers of 1 MiB: a second of 8 Mb/s video, ~4 buffers in use until acknowledged. */
const ARENA_BUFFER_BYTES = 1024 * 1024;
/** Free buffers kept after a backlog (an outage) is sent; more are left to the garbage collector. */
const MAX_IDLE_ARENA_BUFFERS = 8;

/**
 * The MKV bytes of a one-shot ffmpeg run (a file remuxed or transcoded), without the capture events. The
 * capture pushes them; a queue hands them to this pull consumer and pauses ffmpeg while it is behind.
 */
export async function* captureBytes(
  plan: CapturePlan,
  options: {
    ffmpegPath: string;
    signal: AbortSignal;
    onCaptureEvent?: (event: CaptureEvent) => void;
    /** Times ffmpeg's silence watchdog and its stop. @default systemClock */
    clock?: Clock;
  },
): AsyncGenerator<Uint8Array> {
  // Leaving early must stop ffmpeg at once: the capture is inside its run, not at a yield.
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(options.signal.reason);
  if (options.signal.aborted) {
    onAbort();
  }
  options.signal.addEventListener('abort', onAbort, { once: true });
  const chunks = new StdoutQueue({ onReturn: () => stop.abort() });
  const capture = captureWithRestarts(plan, {
    ffmpegPath: options.ffmpegPath,
    signal: stop.signal,
    onData: (chunk, stdout) => chunks.push(chunk, stdout),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const captured = (async () => {
    for await (const event of capture) {
      options.onCaptureEvent?.(event);
    }
  })().then(
    () => chunks.end(),
    (error: unknown) => chunks.fail(error),
  );
  try {
    yield* chunks;
  } finally {
    options.signal.removeEventListener('abort', onAbort);
    stop.abort();
    await captured;
  }
}

/** A camera asked for a size it does not offer delivers the nearest one: say so next to the tracks. */
export const videoSizeNote = (source: CaptureSource, tracks: readonly MkvTrack[]): string => {
  const video = tracks.find((track) => track.video !== undefined)?.video;
  if (source.kind !== 'device' || source.videoSize === undefined || video === undefined) {
    return '';
  }
  const delivered = `${video.widthPx}x${video.heightPx}`;
  return delivered === source.videoSize
    ? ''
    : ` (asked for ${source.videoSize}: the camera chose ${delivered})`;
};
