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
import type { FragmenterOptions, SessionItem } from '../fragment/fragmenter.js';
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
  fragmenter?: Pick<FragmenterOptions, 'minFragmentDurationMs'>;
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
 * generator per read, not per frame), with a session header first and wherever a restart brings other
 * tracks. Returns when the signal aborts, after closing the last fragment.
 */
export async function* liveFragments(
  plan: CapturePlan,
  options: LiveSourceOptions,
): AsyncGenerator<SessionItem[]> {
  const timeline = new LiveTimeline({
    ...(options.onReanchor === undefined ? {} : { onReanchor: options.onReanchor }),
  });
  // ffmpeg's reads are copied into pooled memory (see ArenaMkvReader); each frame holds its buffer until its
  // fragment is released.
  const arena = new ChunkArena(new BufferPool(ARENA_BUFFER_BYTES, MAX_IDLE_ARENA_BUFFERS));
  const pool = arena.pool;
  // Sent as they grow: a frame goes out as soon as it leaves ffmpeg, not when its fragment is complete. Each
  // part hands its frames' pool memory back when the upload session releases it.
  const fragmenter = new StreamingFragmenter({
    ...(options.fragmenter?.minFragmentDurationMs === undefined
      ? {}
      : { minFragmentDurationMs: options.fragmenter.minFragmentDurationMs }),
    releaseOf: (frames) => onceReleasing(pool, frames),
  });
  let reader: ArenaMkvReader | undefined;
  const newReader = (): ArenaMkvReader => new ArenaMkvReader(arena);
  /** `arrivedAtMs`: when the read the events come from arrived (none for what a run's end completes). */
  const feed = (
    events: readonly MkvEvent[],
    out: SessionItem[],
    arrivedAtMs: number | undefined,
  ): SessionItem[] => {
    for (const event of events) {
      if (event.type === 'header') {
        options.onTracks?.(event.header.tracks);
      }
      for (const item of fragmenter.push(timeline.map(event), arrivedAtMs)) {
        out.push(item);
      }
    }
    return out;
  };
  /** Ends a run: its last complete frames count, a torn element does not. */
  const endRun = (): SessionItem[] => {
    const out: SessionItem[] = [];
    if (reader !== undefined) {
      try {
        feed(reader.end(), out, undefined);
      } catch (error) {
        options.onTruncatedRun?.(error);
      }
      reader.close();
      reader = undefined;
    }
    for (const fragment of fragmenter.end()) {
      out.push(fragment);
    }
    return out;
  };
  // The per-read work is synchronous and kept out of the generator below, which only hands fragments on.
  const onBytes = (read: Uint8Array): SessionItem[] => {
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
    return feed(events, [], arrivedAtMs);
  };
  const onEvent = (event: CaptureEvent): SessionItem[] => {
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
  let ready: SessionItem[] = [];
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
      const items = onBytes(read);
      if (items.length > 0) {
        for (const item of items) {
          ready.push(item);
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
      const items = onEvent(result.value);
      pull();
      if (items.length > 0) {
        yield items;
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
