/**
 * Recorded clips → one ordered fragment source. Each clip gets its producer start time (from --start-time,
 * else the file's recording time, else its mtime minus its duration, never in the future); clips go up in
 * start-time order in one stream, and clips whose times overlap are refused.
 */
import { stat } from 'node:fs/promises';
import { readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { ErrorCode, KvsPutError } from '../errors.js';
import type { Fragment, FragmenterOptions, FragmenterStats, SessionItem } from '../fragment/fragmenter.js';
import { Fragmenter, selectKvsTracks } from '../fragment/fragmenter.js';
import { CodecId, TrackType } from '../mkv/ebml-ids.js';
import { NoVideoTrack } from '../fragment/kvs-limits.js';
import type { MkvEvent, MkvHeader } from '../mkv/mkv-types.js';
import { MkvReader } from '../mkv/mkv-reader.js';
import { MkvParseError } from '../mkv/mkv-errors.js';
import { readMkv } from '../mkv/mkv-reader.js';
import { FILE_READ_BYTES, openMediaInput } from './media-input.js';
import { BufferPool, onceReleasing } from '../util/buffer-pool.js';
import type { CapturePlan } from '../capture/capture-plan.js';
import { toError } from '../util/to-error.js';
import { fileErrorReason } from '../util/media-file.js';

export type Clip = {
  /** The path as the user gave it, or `-`. */
  path: string;
  /** Epoch ms of the first key frame. */
  startTimeMs: number;
  /** Media duration, when known from a pre-scan or a probe. */
  durationMs?: number;
  /** How ffmpeg turns a non-Matroska file (MP4, MOV, TS…) into MKV; absent: the file is read directly. */
  plan?: CapturePlan;
};

/** ffmpeg, found on first need: Matroska files never need it. */
export type ClipTools = {
  /** Plans the ffmpeg remux (or transcode) of a non-Matroska file. */
  planFile: (path: string) => Promise<CapturePlan>;
  /** Send Matroska files through ffmpeg too (--transcode). */
  isTranscoding?: boolean;
};

/** Files read directly as Matroska; any other goes through ffmpeg. */
export const MKV_EXTENSIONS = /\.(mkv|webm|mka|mk3d)$/i;
const MEDIA_EXTENSIONS = /\.(mkv|webm|mka|mk3d|mp4|m4v|mov|ts|m2ts|avi|flv|h264|264)$/i;

/** Expands folders (their MKV files, sorted by name) and keeps files as given. */
export const expandClipPaths = async (paths: readonly string[], cwd: string): Promise<string[]> => {
  const out: string[] = [];
  for (const path of paths) {
    if (path === '-') {
      out.push(path);
      continue;
    }
    const full = resolve(cwd, path);
    const info = await stat(full).catch((error: NodeJS.ErrnoException) => {
      throw new KvsPutError(ErrorCode.Io, `cannot open ${path}: ${fileErrorReason(error.code)}`, {
        context: { path },
        cause: error,
      });
    });
    if (info.isDirectory()) {
      const names = (await readdir(full)).filter((name) => MEDIA_EXTENSIONS.test(name)).sort();
      if (names.length === 0) {
        throw new KvsPutError(ErrorCode.Io, `${path} holds no media files (.mkv, .webm, .mp4, .mov, .ts…)`);
      }
      out.push(...names.map((name) => join(path, name)));
    } else {
      out.push(path);
    }
  }
  return out;
};

/** What the start of an MKV file says about it: its recording time (DateUTC) and duration. */
type MkvFacts = { durationMs?: number; dateUtcMs?: number };

/**
 * Duration and recording time of an MKV file. Files that ffmpeg (or any seeking muxer) wrote carry both in
 * Info, read from the first kilobytes; only a file without Duration is read through once to measure it.
 */
export const scanMkvFacts = async (path: string, stdin: Readable, cwd: string): Promise<MkvFacts> => {
  let first: number | undefined;
  let last = -Infinity;
  let lastDuration = 0;
  let dateUtcMs: number | undefined;
  try {
    for await (const event of readMkv(await openMediaInput(path, stdin, cwd))) {
      if (event.type === 'header') {
        dateUtcMs = event.header.dateUtcMs;
        if (event.header.durationMs !== undefined && event.header.durationMs > 0) {
          return {
            durationMs: Math.round(event.header.durationMs),
            ...(dateUtcMs === undefined ? {} : { dateUtcMs }),
          };
        }
      } else if (event.type === 'frame') {
        first ??= event.frame.timestampMs;
        if (event.frame.timestampMs >= last) {
          last = event.frame.timestampMs;
          lastDuration = event.frame.durationMs ?? 0;
        }
      }
    }
  } catch {
    // The upload itself reports the damage, after sending what is readable.
  }
  return {
    ...(first === undefined ? {} : { durationMs: last - first + lastDuration }),
    ...(dateUtcMs === undefined ? {} : { dateUtcMs }),
  };
};

/**
 * The service refuses producer times after its clock (ErrorId 4007, kvs-api.md §7.4): a clip laid out from
 * `--start-time` must end by now.
 */
export const checkNotFuture = (
  path: string,
  startTimeMs: number,
  durationMs: number | undefined,
  options: { startTimeMs?: number; nowMs: number },
): void => {
  const endMs = startTimeMs + (durationMs ?? 0);
  if (endMs <= options.nowMs) {
    return;
  }
  const given = new Date(options.startTimeMs ?? startTimeMs).toISOString();
  const name = path === '-' ? 'stdin' : basename(path);
  const latestMs = Math.floor((options.nowMs - (endMs - (options.startTimeMs ?? startTimeMs))) / 1000) * 1000;
  throw new KvsPutError(
    ErrorCode.Usage,
    startTimeMs > options.nowMs
      ? `--start-time ${given} is in the future`
      : `--start-time ${given} puts the end of ${name} ${secondsText(endMs - options.nowMs)} in the future`,
    {
      context: { startTimeMs: options.startTimeMs, path },
      suggestion: `the service refuses producer times after now: give ${new Date(latestMs).toISOString()} or earlier`,
    },
  );
};

const secondsText = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * Producer start times for files: `startTimeMs` applies to the first clip (later clips follow it end to end);
 * else the file's creation_time; else its mtime minus its duration (a recording ends when its file is last
 * written). Never in the future. Clips are sorted by start time; overlapping clips are refused.
 */
export const planClips = async (
  paths: readonly string[],
  options: { startTimeMs?: number; stdin: Readable; cwd: string; nowMs: number; tools: ClipTools },
): Promise<Clip[]> => {
  const clips: Clip[] = [];
  let nextStartMs = options.startTimeMs;
  for (const path of paths) {
    if (path === '-') {
      if (nextStartMs !== undefined) {
        checkNotFuture(path, nextStartMs, undefined, options);
      }
      clips.push({ path, startTimeMs: nextStartMs ?? options.nowMs });
      continue;
    }
    let plan: CapturePlan | undefined;
    let durationMs: number | undefined;
    let creationTime: string | undefined;
    if (MKV_EXTENSIONS.test(path) && options.tools.isTranscoding !== true) {
      const facts = await scanMkvFacts(path, options.stdin, options.cwd);
      durationMs = facts.durationMs;
      creationTime = facts.dateUtcMs === undefined ? undefined : new Date(facts.dateUtcMs).toISOString();
    } else {
      plan = await options.tools.planFile(path).catch((error: unknown) => {
        // The probe's verdict on the media (no video, no stream) names the file, as the MKV path does.
        if (error instanceof KvsPutError && error.code === ErrorCode.MkvUnsupported) {
          throw new KvsPutError(error.code, `${path}: ${error.message}`, {
            context: { ...error.context, path },
            ...(error.suggestion === undefined ? {} : { suggestion: error.suggestion }),
            cause: error,
          });
        }
        throw error;
      });
      durationMs = plan.probe?.durationS === undefined ? undefined : Math.round(plan.probe.durationS * 1000);
      creationTime = plan.probe?.creationTime;
    }
    let startTimeMs: number;
    const createdMs = creationTime === undefined ? NaN : Date.parse(creationTime);
    if (nextStartMs !== undefined) {
      // A time the user gave is theirs: a future one is refused, never quietly replaced by now.
      checkNotFuture(path, nextStartMs, durationMs, options);
      startTimeMs = nextStartMs;
    } else if (!Number.isNaN(createdMs)) {
      startTimeMs = createdMs;
    } else {
      const info = await stat(resolve(options.cwd, path));
      startTimeMs = Math.round(info.mtimeMs - (durationMs ?? 0));
    }
    startTimeMs = Math.min(startTimeMs, options.nowMs - (durationMs ?? 0));
    clips.push({
      path,
      startTimeMs,
      ...(durationMs === undefined ? {} : { durationMs }),
      ...(plan === undefined ? {} : { plan }),
    });
    if (options.startTimeMs !== undefined) {
      nextStartMs = startTimeMs + (durationMs ?? 0) + 1;
    }
  }
  clips.sort((a, b) => a.startTimeMs - b.startTimeMs);
  for (let i = 1; i < clips.length; i++) {
    const previous = clips[i - 1]!;
    const clip = clips[i]!;
    if (previous.startTimeMs + (previous.durationMs ?? 0) > clip.startTimeMs) {
      throw new KvsPutError(
        ErrorCode.Usage,
        `clips overlap in time: ${basename(previous.path)} (${new Date(previous.startTimeMs).toISOString()}, ` +
          `${((previous.durationMs ?? 0) / 1000).toFixed(1)} s) and ${basename(clip.path)} (${new Date(clip.startTimeMs).toISOString()})`,
        { suggestion: 'upload them to different streams, or give --start-time to lay them end to end' },
      );
    }
  }
  return clips;
};

export type ClipSourceReport = {
  /** A fragment the service would refuse (longer or larger than `KvsLimits` allow): not sent. */
  onRefused: (fragment: Fragment, reason: string, errorId: number) => void;
  onClipStart?: (clip: Clip) => void;
  stats: FragmenterStats[];
};

/**
 * A Matroska file read directly must already hold what KVS can play (H.264/H.265 video, AAC audio):
 * anything else is refused before a byte is sent, with the way out (--transcode goes through ffmpeg).
 */
export const checkPlayableCodecs = (path: string, header: MkvHeader): void => {
  const { tracks } = selectKvsTracks(header);
  const video = tracks.filter((track) => track.type === TrackType.Video);
  const bad = tracks.filter((track) =>
    track.type === TrackType.Video
      ? track.codecId !== CodecId.H264 && track.codecId !== CodecId.H265
      : track.codecId !== CodecId.Aac,
  );
  if (video.length === 0) {
    throw new KvsPutError(ErrorCode.MkvUnsupported, `${path}: ${NoVideoTrack.reason}`, {
      suggestion: NoVideoTrack.suggestion,
    });
  }
  if (bad.length > 0) {
    const what = `codec ${bad.map((track) => track.codecId).join(', ')}`;
    throw new KvsPutError(
      ErrorCode.MkvUnsupported,
      `${path}: ${what} — KVS plays H.264/H.265 video with AAC audio`,
      { suggestion: 'upload it with --transcode: ffmpeg re-encodes it to H.264 (libx264) and AAC' },
    );
  }
};

/** What a file that is not Matroska is, from its first bytes, when it is a container ffmpeg would remux. */
const otherContainer = (head: Uint8Array): string | undefined => {
  const ascii = (from: number, to: number): string => String.fromCharCode(...head.subarray(from, to));
  if (ascii(4, 8) === 'ftyp' || ascii(4, 8) === 'moov' || ascii(4, 8) === 'mdat') {
    return 'an MP4/MOV file';
  }
  // TS packets are 188 bytes, each starting with the sync byte 0x47.
  if (head.length >= 377 && head[0] === 0x47 && head[188] === 0x47 && head[376] === 0x47) {
    return 'an MPEG-TS file';
  }
  if (ascii(0, 4) === 'RIFF') {
    return 'an AVI file';
  }
  if (ascii(0, 3) === 'FLV') {
    return 'an FLV file';
  }
  return undefined;
};

/**
 * A Matroska file that could not be read, named, with the hint its damage calls for: a file that is some
 * other container under an .mkv name can go through ffmpeg; a file that is nothing known, or empty, is
 * not worth a remux recipe; a file damaged part-way had its readable fragments sent.
 */
export const damagedFileError = (
  path: string,
  error: MkvParseError,
  head: Uint8Array | undefined,
  sentCount: number,
  /** 'was sent' by an upload; inspect says what put would do. */
  sent: { one: string; many: string } = { one: 'was sent', many: 'were sent' },
): KvsPutError => {
  const fragments = sentCount === 1 ? '1 fragment' : `${sentCount} fragments`;
  const isNotMkv = error.byteOffset === 0 || head === undefined;
  const other = head === undefined ? undefined : otherContainer(head);
  const suggestion =
    head === undefined
      ? 'the file is empty: a recorder that was still writing it, or a failed copy?'
      : isNotMkv && other !== undefined
        ? `it looks like ${other}: give it its own extension (kvs-put remuxes MP4, MOV and TS with ffmpeg), or remux it: ffmpeg -i IN -c copy -f matroska out.mkv`
        : isNotMkv
          ? 'it is no media file kvs-put knows (not Matroska, MP4, MOV or MPEG-TS): check what it is with ffprobe'
          : `the ${fragments} read before the damage ${sentCount === 1 ? sent.one : sent.many}; the rest of the file is unreadable (cut short while it was written or copied?)`;
  return new KvsPutError(error.code, `${path}: ${error.message}`, {
    context: { ...error.context, path, sentFragments: sentCount },
    suggestion,
    cause: error,
  });
};

/**
 * The fragments of every clip, in order, numbered across clips, each clip's after its session header (a
 * new fragmenter per clip: a new header); refused fragments are reported, not yielded. Files are read into
 * pooled buffers: each fragment's `release()` hands the buffers its frames view back (the upload session
 * calls it when the fragment is acknowledged), so memory stays flat however long the file.
 */
export async function* clipFragments(
  clips: readonly Clip[],
  fragmenterOptions: Omit<FragmenterOptions, 'startTimeMs' | 'firstSequence' | 'releaseOf' | 'onRefused'>,
  io: {
    stdin: Readable;
    cwd: string;
    openFfmpeg: (plan: CapturePlan) => AsyncIterable<Uint8Array>;
    /** Where files are read into. @default 256 KiB buffers */
    pool?: BufferPool;
  },
  report: ClipSourceReport,
): AsyncGenerator<SessionItem> {
  const pool = io.pool ?? new BufferPool(FILE_READ_BYTES);
  const releaseOf = (frames: readonly { data: Uint8Array }[]): (() => void) => onceReleasing(pool, frames);
  let firstSequence = 0;
  for (const clip of clips) {
    report.onClipStart?.(clip);
    const fragmenter = new Fragmenter({
      ...fragmenterOptions,
      startTimeMs: clip.startTimeMs,
      firstSequence,
      releaseOf,
      onRefused: (fragment, issue) => report.onRefused(fragment, issue.message, issue.errorId),
    });
    report.stats.push(fragmenter.stats);
    const source =
      clip.plan === undefined
        ? await openMediaInput(clip.path, io.stdin, io.cwd, pool)
        : io.openFfmpeg(clip.plan);
    let failure: unknown;
    let head: Uint8Array | undefined;
    try {
      // Chunk by chunk (not event by event): one await per read, not per frame.
      const reader = new MkvReader();
      const onEvents = (events: MkvEvent[]): SessionItem[] => {
        const out: SessionItem[] = [];
        for (const event of events) {
          if (event.type === 'header' && clip.plan === undefined) {
            checkPlayableCodecs(clip.path, event.header);
          }
          for (const item of fragmenter.push(event)) {
            out.push(item);
          }
        }
        return out;
      };
      for await (const chunk of source) {
        // A copy of the first bytes: what the file is, should it turn out not to be Matroska.
        head ??= chunk.slice(0, 512);
        const events = reader.push(chunk);
        // The reader keeps no view of a chunk once push() returns: each frame holds its read buffer until its
        // fragment is released, and the read's own hold ends here.
        for (const event of events) {
          if (event.type === 'frame') {
            pool.retain(event.frame.data);
          }
        }
        pool.release(chunk);
        yield* onEvents(events);
      }
      yield* onEvents(reader.end());
    } catch (error) {
      failure = error;
    }
    // Everything read before a failure still goes up: nothing captured is lost.
    yield* fragmenter.end();
    const sentCount = fragmenter.nextSequence - firstSequence;
    firstSequence = fragmenter.nextSequence;
    if (failure !== undefined) {
      throw failure instanceof MkvParseError && clip.plan === undefined
        ? damagedFileError(clip.path, failure, head, sentCount)
        : toError(failure);
    }
  }
}
