/**
 * Helpers for the pipeline tests (round trip, writer oracles, fragmenting real files): the whole
 * `bytes → MkvReader → Fragmenter → SessionWriter → bytes` chain run synchronously over any chunking, the
 * fixture lists, and thin wrappers around the external tools used as oracles (ffprobe, ffmpeg, mkvinfo).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Fragmenter } from '../../src/fragment/fragmenter.js';
import type {
  Fragment,
  FragmenterOptions,
  SessionHeader,
  SessionItem,
} from '../../src/fragment/fragmenter.js';
import { SessionWriter } from '../../src/fragment/session-writer.js';
import { MkvReader } from '../../src/mkv/mkv-reader.js';
import { concatChunks } from '../../src/mkv/mkv-writer.js';
import type { MkvEvent, MkvFrame } from '../../src/mkv/mkv-types.js';
import { FIXTURES, SHARED_FIXTURES } from '../helpers/paths.js';
export { chunksOf, splitAt } from '../helpers/chunks.js';

/** The producer start time every pipeline test uses (2023-11-14T22:13:20Z). */
export const START_MS = 1_700_000_000_000;
/** A fixed SegmentUID, so that two runs of the pipeline give identical bytes. */
export const SEGMENT_UID = Uint8Array.from({ length: 16 }, (_, i) => i + 1);

export const readBytes = (path: string): Uint8Array => new Uint8Array(readFileSync(path));
export const sha1 = (bytes: Uint8Array): string => createHash('sha1').update(bytes).digest('hex');

// ---- fixtures -------------------------------------------------------------------------------------------

/** Every project fixture the pipeline reads to the end (truncated.mkv is the parse-error case). */
export const PROJECT_FIXTURES = [
  'h264.mkv',
  'h264-aac.mkv',
  'long-gop.mkv',
  'bframes.mkv',
  'nonkey-start.mkv',
  'vp8.mkv',
  'hevc.mkv',
].map((name) => join(FIXTURES, name));

export const hasSharedFixtures = existsSync(SHARED_FIXTURES);

/** The real service captures: every GetMedia output and the C producer's PutMedia body. */
export const SHARED_CAPTURES: string[] = hasSharedFixtures
  ? [
      ...readdirSync(join(SHARED_FIXTURES, 'kvs-getmedia'))
        .filter((name) => name.endsWith('.mkv'))
        .sort()
        .map((name) => join(SHARED_FIXTURES, 'kvs-getmedia', name)),
      join(SHARED_FIXTURES, 'kvs-putmedia', 'official-c-producer-session.mkv'),
    ]
  : [];

export const sharedCapture = (name: string): string =>
  join(SHARED_FIXTURES, name.startsWith('official') ? 'kvs-putmedia' : 'kvs-getmedia', name);

/** Captures that end in the middle of a SimpleBlock (cut by whoever captured them; the reader says so). */
export const TRUNCATED_CAPTURES: ReadonlySet<string> = new Set([
  'output-get-media-equal-timecode.mkv',
  'output-get-media-non-increasing-timecode.mkv',
]);

if (!hasSharedFixtures) {
  console.warn(`[skip] ${SHARED_FIXTURES} is missing: the tests on real service captures are skipped.`);
}

// ---- chunking -------------------------------------------------------------------------------------------

// ---- reading and the pipeline ----------------------------------------------------------------------------

export type ReadResult = {
  events: MkvEvent[];
  /** The reader's error, when the input is truncated or corrupt (events before it are kept). */
  error: unknown;
};

/** Every event of `chunks`, read by a fresh MkvReader, keeping those before an error. */
export const readEvents = (chunks: Iterable<Uint8Array>): ReadResult => {
  const reader = new MkvReader();
  const events: MkvEvent[] = [];
  try {
    for (const chunk of chunks) {
      events.push(...reader.push(chunk));
    }
    events.push(...reader.end());
  } catch (error) {
    return { events, error };
  }
  return { events, error: undefined };
};

export const framesOf = (events: readonly MkvEvent[]): MkvFrame[] =>
  events.flatMap((event) => (event.type === 'frame' ? [event.frame] : []));

export type PipelineResult = ReadResult & {
  fragments: Fragment[];
  /** The session headers the fragmenter yielded, in order (one per track set). */
  headers: SessionHeader[];
  /** Headers and fragments, as the fragmenter yielded them. */
  items: SessionItem[];
  fragmenter: Fragmenter;
  /** The session as the writer returned it (header, tags, cluster chunks, end-of-fragment). */
  chunks: Uint8Array[];
  /** The same, joined: the exact body of one PutMedia request. */
  bytes: Uint8Array;
};

/**
 * Runs the whole pipeline synchronously over `chunks`, as `kvs-put inspect --output` does: a read error
 * ends the input, and the fragments completed before it are still written.
 */
export const runPipeline = (
  chunks: Iterable<Uint8Array>,
  options: FragmenterOptions = {},
  segmentUid: Uint8Array = SEGMENT_UID,
): PipelineResult => {
  const reader = new MkvReader();
  const fragmenter = new Fragmenter({ startTimeMs: START_MS, ...options });
  const writer = new SessionWriter({ segmentUid });
  const events: MkvEvent[] = [];
  const fragments: Fragment[] = [];
  const headers: SessionHeader[] = [];
  const items: SessionItem[] = [];
  const out: Uint8Array[] = [];
  const add = (item: SessionItem): void => {
    items.push(item);
    if (item.type === 'fragment') {
      fragments.push(item);
    } else {
      headers.push(item);
    }
    out.push(...writer.write(item));
  };
  const take = (input: MkvEvent[]): void => {
    for (const event of input) {
      events.push(event);
      fragmenter.push(event).forEach(add);
    }
  };
  let error: unknown;
  try {
    for (const chunk of chunks) {
      take(reader.push(chunk));
    }
    take(reader.end());
  } catch (caught) {
    error = caught;
  }
  fragmenter.end().forEach(add);
  out.push(...writer.end());
  return { events, error, fragments, headers, items, fragmenter, chunks: out, bytes: concatChunks(out) };
};

// ---- external tools -------------------------------------------------------------------------------------

export type ToolRun = { status: number | null; stdout: string; stderr: string };

export const runTool = (command: string, args: readonly string[]): ToolRun => {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
};

export type ProbedStream = { index: number; codec_name: string; nb_read_frames?: string };

/** `ffprobe -v error -count_frames`: decodes every frame of every stream. */
export const ffprobeCountFrames = (path: string): ToolRun & { streams: ProbedStream[] } => {
  const run = runTool('ffprobe', [
    '-v',
    'error',
    '-count_frames',
    '-show_entries',
    'stream=index,codec_name,nb_read_frames',
    '-of',
    'json',
    path,
  ]);
  const parsed = JSON.parse(run.stdout === '' ? '{}' : run.stdout) as { streams?: ProbedStream[] };
  return { ...run, streams: parsed.streams ?? [] };
};

/** ffprobe's packet flags in demux order ('K_' for a key frame). */
export const ffprobePacketFlags = (path: string): string[] =>
  runTool('ffprobe', ['-v', 'error', '-show_entries', 'packet=flags', '-of', 'csv=p=0', path])
    .stdout.split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
