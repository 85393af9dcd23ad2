/**
 * Turns a {@link Source} into the fragments an upload session sends, reporting what happens on the way as
 * upload events: which clip starts, what a camera delivers, restarts, refused fragments.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { CapturePlan } from '../capture/capture-plan.js';
import type { FragmenterStats } from '../fragment/fragmenter.js';
import type { FragmentSource } from '../session/upload-options.js';
import { trackSummary } from '../mkv/track-summary.js';
import type { Clip } from '../source/clip-source.js';
import { clipFragments, expandClipPaths, planClips } from '../source/clip-source.js';
import type { ClipsSource, LiveSource, Source } from '../source/sources.js';
import { encodingOptionsOf } from '../source/sources.js';
import { userCacheDirectory } from '../util/user-cache.js';
import type { UploadEvent } from './upload-events.js';

type Environment = Readonly<Record<string, string | undefined>>;

export type FfmpegTools = { ffmpegPath: string; ffprobePath: string | undefined };

/** What to upload: recorded clips, or a live capture. */
export type SourcePlan = { kind: 'clips'; clips: Clip[] } | { kind: 'live'; plan: CapturePlan };

/**
 * Finds ffmpeg (FFMPEG_PATH, PATH, @ffmpeg-installer) once, on first need. Its capabilities are not listed
 * up front (five more processes on every start): what a build lacks, ffmpeg itself reports when it runs.
 */
export const ffmpegLocator = (env: Environment): (() => Promise<FfmpegTools>) => {
  let found: Promise<FfmpegTools> | undefined;
  return () =>
    (found ??= (async () => {
      const { locateFfmpeg, locateFfprobe } = await import('../capture/ffmpeg-locator.js');
      const located = await locateFfmpeg(env);
      return { ffmpegPath: located.path, ffprobePath: await locateFfprobe(env, located.path) };
    })());
};

/** Plans the capture of a live source, or the clips of recordings (start times, ffmpeg remuxes). */
export const planSource = async (
  source: Source,
  context: { cwd: string; env: Environment; nowMs: number; ffmpeg: () => Promise<FfmpegTools> },
): Promise<SourcePlan> => {
  // capture/ loads only when ffmpeg is needed: an MKV upload never runs it, and start-up counts for cron jobs.
  const loadPlanner = async () => (await import('../capture/capture-plan.js')).planCapture;
  const encoding = encodingOptionsOf(source.kind === 'live' ? source.encoding : source.options);
  if (source.kind === 'live') {
    const tools = await context.ffmpeg();
    const planCapture = await loadPlanner();
    const { probeRtspTimeoutOption } = await import('../capture/ffmpeg-locator.js');
    if (source.capture.kind === 'device' && (source.capture.platform ?? process.platform) === 'linux') {
      const { checkV4l2Node } = await import('../capture/capture-plan.js');
      await checkV4l2Node(source.capture.path);
    }
    const plan = await planCapture(source.capture, encoding, {
      ffmpegPath: tools.ffmpegPath,
      ...(source.capture.kind === 'rtsp'
        ? {
            rtspTimeoutOption: await probeRtspTimeoutOption(tools.ffmpegPath, {
              cacheDirectory: userCacheDirectory(context.env),
            }),
          }
        : {}),
      cwd: context.cwd,
    });
    return { kind: 'live', plan };
  }
  const paths = await expandClipPaths(source.paths, context.cwd);
  const startTime = source.options.startTime;
  const clips = await planClips(paths, {
    ...(startTime === undefined
      ? {}
      : { startTimeMs: typeof startTime === 'number' ? startTime : startTime.getTime() }),
    stdin: source.options.stdin ?? process.stdin,
    cwd: context.cwd,
    nowMs: context.nowMs,
    tools: {
      isTranscoding: source.options.transcode === true,
      planFile: async (path) => {
        const tools = await context.ffmpeg();
        const planCapture = await loadPlanner();
        return planCapture({ kind: 'file', path }, encoding, {
          ffmpegPath: tools.ffmpegPath,
          ...(tools.ffprobePath === undefined ? {} : { ffprobePath: tools.ffprobePath }),
          cwd: context.cwd,
        });
      },
    },
  });
  return { kind: 'clips', clips };
};

/** The input files' total size, when every one is known (stdin is not). */
export const totalClipBytes = async (clips: readonly Clip[], cwd: string): Promise<number | undefined> => {
  const sizes = await Promise.all(
    clips.map((clip) =>
      clip.path === '-'
        ? Promise.resolve(undefined)
        : stat(resolve(cwd, clip.path)).then((info) => info.size),
    ),
  );
  let total = 0;
  for (const size of sizes) {
    if (size === undefined) {
      return undefined;
    }
    total += size;
  }
  return total;
};

export type FragmentFeed = {
  fragments: FragmentSource;
  /** Fragments not sent because the service would refuse them. */
  refused: () => number;
  /** The first refused fragment's reason and the ErrorId the service would have answered, for the hint. */
  firstRefusal: () => { reason: string; errorId: number } | undefined;
  /** The live source's restarts so far, and the reason of the last loss. */
  restarts: () => { count: number; lastLoss: string | undefined };
  /** Per-clip fragmenter stats (recordings). */
  fragmenterStats: readonly FragmenterStats[];
  /** The clip of each fragmenterStats entry, as the user named it. */
  clipPaths: readonly string[];
};

type FeedContext = {
  ffmpeg: () => Promise<FfmpegTools>;
  emit: (event: UploadEvent) => void;
  minFragmentDurationMs: number | undefined;
  cwd: string;
};

/** The fragments of a live capture, which ends when `signal` aborts. */
export const liveFeed = async (
  source: LiveSource,
  plan: CapturePlan,
  signal: AbortSignal,
  context: FeedContext,
): Promise<FragmentFeed> => {
  const tools = await context.ffmpeg();
  const { liveFragments, videoSizeNote } = await import('../source/live-source.js');
  let restarts = 0;
  let lastLoss: string | undefined;
  let tracksSeen: string | undefined;
  const fragments = liveFragments(plan, {
    ffmpegPath: tools.ffmpegPath,
    signal,
    fragmenter:
      context.minFragmentDurationMs === undefined
        ? {}
        : { minFragmentDurationMs: context.minFragmentDurationMs },
    onCaptureEvent: (event) => {
      if (event.type === 'restart') {
        restarts++;
        lastLoss = event.reason;
        context.emit({ event: 'source-restart', restarts, delayMs: event.delayMs, reason: event.reason });
      } else {
        context.emit({ event: 'ffmpeg', commandLine: event.commandLine });
      }
    },
    onTracks: (tracks) => {
      // Once, and again only when a restart brings other tracks (a camera set to another size, say).
      const summary = tracks.map(trackSummary).join(', ');
      if (summary !== tracksSeen) {
        tracksSeen = summary;
        const note = videoSizeNote(source.capture, tracks);
        context.emit({ event: 'source', tracks: summary, ...(note === '' ? {} : { note: note.trim() }) });
      }
    },
    onReanchor: (info) => {
      if (info.reason === 'drift') {
        context.emit({ event: 'reanchor', driftMs: info.driftMs });
      }
    },
  });
  return {
    fragments,
    refused: () => 0,
    firstRefusal: () => undefined,
    restarts: () => ({ count: restarts, lastLoss }),
    fragmenterStats: [],
    clipPaths: [],
  };
};

/** The fragments of recorded clips, in start-time order; `signal` stops an ffmpeg remux. */
export const clipsFeed = async (
  source: ClipsSource,
  clips: readonly Clip[],
  signal: AbortSignal,
  context: FeedContext,
): Promise<FragmentFeed> => {
  const ffmpegPath = clips.some((clip) => clip.plan !== undefined)
    ? (await context.ffmpeg()).ffmpegPath
    : undefined;
  const { captureBytes } = await import('../source/live-source.js');
  let refused = 0;
  let firstRefusal: { reason: string; errorId: number } | undefined;
  const fragmenterStats: FragmenterStats[] = [];
  const fragments = clipFragments(
    clips,
    {
      timecodeMode: source.options.timecode ?? 'absolute',
      ...(context.minFragmentDurationMs === undefined
        ? {}
        : { minFragmentDurationMs: context.minFragmentDurationMs }),
    },
    {
      stdin: source.options.stdin ?? process.stdin,
      cwd: context.cwd,
      openFfmpeg: (plan) => captureBytes(plan, { ffmpegPath: ffmpegPath!, signal }),
    },
    {
      onRefused: (fragment, reason, errorId) => {
        refused++;
        firstRefusal ??= { reason, errorId };
        context.emit({
          event: 'refused',
          timecode: fragment.timecode,
          producerTimestampMs: fragment.producerTimestampMs,
          reason,
        });
      },
      onClipStart: (clip) => {
        context.emit({
          event: 'clip',
          path: clip.path,
          startTimeMs: clip.startTimeMs,
          notes: [...(clip.plan?.invocation.reasons ?? [])],
        });
      },
      stats: fragmenterStats,
    },
  );
  return {
    fragments,
    refused: () => refused,
    firstRefusal: () => firstRefusal,
    restarts: () => ({ count: 0, lastLoss: undefined }),
    fragmenterStats,
    clipPaths: clips.map((clip) => clip.path),
  };
};
