import { Command } from 'commander';
import { open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ErrorCode, KvsPutError } from '../../errors.js';
import { Fragmenter } from '../../fragment/fragmenter.js';
import type { Fragment, FragmenterStats, SessionItem } from '../../fragment/fragmenter.js';
import { SessionWriter } from '../../fragment/session-writer.js';
import { errorIdInfo } from '../../kvs/ack.js';
import { readMkv } from '../../mkv/mkv-reader.js';
import { CodecId } from '../../mkv/ebml-ids.js';
import { trackSummary } from '../../mkv/track-summary.js';
import { MkvParseError } from '../../mkv/mkv-errors.js';
import type { MkvHeader, MkvTrack } from '../../mkv/mkv-types.js';
import type { CliIo } from '../cli-io.js';
import { ExitCode } from '../../exit-codes.js';
import { minFragmentDurationOption, timecodeOption } from '../shared-options.js';
import { openMediaInput } from '../../source/media-input.js';
import {
  MKV_EXTENSIONS,
  checkNotFuture,
  checkPlayableCodecs,
  damagedFileError,
} from '../../source/clip-source.js';
import { fileSource } from '../../source/sources.js';
import { refusalIssue, refusedFragmentsError } from '../../fragment/fragment-rules.js';
import { ffmpegLocator, planSource } from '../../upload/source-fragments.js';
import { parseStartTime } from '../option-parsers.js';
import type { CommandFactory } from '../run-cli.js';

type InspectOptions = {
  json?: boolean;
  output?: string;
  startTime?: number;
  timecode: 'absolute' | 'relative';
  minFragmentDuration?: number;
};

const trackLine = (track: MkvTrack): string => {
  const cpd =
    track.codecPrivate === undefined ? 'no CodecPrivate' : `CodecPrivate ${track.codecPrivate.length} B`;
  return `  track ${track.number}: ${trackSummary(track)} (${cpd})`;
};

/** Ingest takes any codec, but KVS playback (console, HLS, DASH, clips) only H.264/H.265 video and AAC audio. */
const codecWarning = (track: MkvTrack): string | undefined => {
  const playable: readonly string[] = [CodecId.H264, CodecId.H265, CodecId.Aac];
  if (!playable.includes(track.codecId)) {
    return `${track.codecId} is not playable in KVS (console, HLS, DASH and clips need H.264/H.265 video, AAC audio)`;
  }
  if (track.codecPrivate === undefined && track.codecId !== CodecId.Aac) {
    return 'no CodecPrivate: KVS playback fails with MissingCodecPrivateDataException';
  }
  return undefined;
};

const issueText = (fragment: Fragment): string =>
  fragment.issues
    .map((issue) =>
      issue.errorId === 0
        ? issue.message
        : `${issue.errorId} ${errorIdInfo(issue.errorId).code}: ${issue.message}`,
    )
    .join('; ');

const fragmentJson = (fragment: Fragment): Record<string, unknown> => ({
  sequence: fragment.sequence,
  timecode: fragment.timecode,
  producerTimestamp: new Date(fragment.producerTimestampMs).toISOString(),
  durationMs: fragment.durationMs,
  frames: fragment.frames.length,
  bytes: fragment.byteLength,
  startsWithKeyframe: fragment.startsWithKeyframe,
  bFrames: fragment.hasBFrames,
  issues: fragment.issues.map((issue) => ({
    errorId: issue.errorId,
    errorCode: issue.errorId === 0 ? undefined : errorIdInfo(issue.errorId).code,
    message: issue.message,
  })),
});

const trackJson = (track: MkvTrack): Record<string, unknown> => ({
  number: track.number,
  type: track.type,
  codecId: track.codecId,
  codecPrivateBytes: track.codecPrivate?.length ?? 0,
  ...(track.video === undefined ? {} : { video: track.video }),
  ...(track.audio === undefined ? {} : { audio: track.audio }),
});

const isDirectory = (path: string): Promise<boolean> =>
  stat(path).then(
    (info) => info.isDirectory(),
    () => false,
  );

/**
 * The bytes `put` would read: a Matroska file (or stdin) as is, any other container (MP4, MOV, TS…) as
 * ffmpeg's remux of it, planned as put's clip source plans it. `notes` are ffmpeg's copy/encode reasons.
 */
const inspectInput = async (
  input: string,
  io: CliIo,
  signal: AbortSignal,
): Promise<{ bytes: AsyncIterable<Uint8Array>; isRemuxed: boolean; notes: readonly string[] }> => {
  // A folder gets openMediaInput's own error; any other file not named Matroska goes to ffmpeg, as in put.
  if (input === '-' || MKV_EXTENSIONS.test(input) || (await isDirectory(resolve(io.cwd, input)))) {
    return { bytes: await openMediaInput(input, io.stdin, io.cwd), isRemuxed: false, notes: [] };
  }
  const ffmpeg = ffmpegLocator(io.env);
  const planned = await planSource(fileSource(input), {
    cwd: io.cwd,
    env: io.env,
    nowMs: Date.now(),
    ffmpeg,
  });
  const plan = planned.kind === 'clips' ? planned.clips[0]?.plan : undefined;
  if (plan === undefined) {
    return { bytes: await openMediaInput(input, io.stdin, io.cwd), isRemuxed: false, notes: [] };
  }
  const { captureBytes } = await import('../../source/live-source.js');
  const { ffmpegPath } = await ffmpeg();
  return {
    bytes: captureBytes(plan, { ffmpegPath, signal }),
    isRemuxed: true,
    notes: plan.invocation.reasons,
  };
};

const runInspect = async (input: string, options: InspectOptions, io: CliIo): Promise<number> => {
  const stop = new AbortController();
  try {
    return await inspectSource(input, options, io, stop.signal);
  } finally {
    // An early failure (a codec put refuses) must not leave ffmpeg running.
    stop.abort();
  }
};

const inspectSource = async (
  input: string,
  options: InspectOptions,
  io: CliIo,
  signal: AbortSignal,
): Promise<number> => {
  if (options.startTime !== undefined) {
    // put refuses a start time after now (the service would); inspect says so too.
    checkNotFuture(input, options.startTime, undefined, {
      startTimeMs: options.startTime,
      nowMs: Date.now(),
    });
  }
  const { bytes, isRemuxed, notes } = await inspectInput(input, io, signal);
  // The first bytes, for what a file that is no Matroska is (as put's error says).
  let head: Uint8Array | undefined;
  const source = (async function* () {
    for await (const chunk of bytes) {
      head ??= chunk.slice(0, 512);
      yield chunk;
    }
  })();
  const fragmenter = new Fragmenter({
    timecodeMode: options.timecode,
    ...(options.startTime === undefined ? {} : { startTimeMs: options.startTime }),
    ...(options.minFragmentDuration === undefined
      ? {}
      : { minFragmentDurationMs: options.minFragmentDuration }),
  });
  const writer = new SessionWriter();
  const output = options.output === undefined ? undefined : await openOutput(options.output, io.cwd);
  const headers: MkvHeader[] = [];
  const fragments: Fragment[] = [];
  const print = (line: string): void => {
    if (options.json !== true) {
      io.stdout.write(`${line}\n`);
    }
  };
  for (const note of notes) {
    print(`through ffmpeg, as put reads it: ${note}`);
  }
  const onItem = async (item: SessionItem): Promise<void> => {
    if (item.type === 'session-header') {
      // The writer puts it before the next fragment.
      writer.write(item);
      return;
    }
    const fragment = item;
    fragments.push(fragment);
    const issues = fragment.issues.length === 0 ? '' : `  ! ${issueText(fragment)}`;
    print(
      `  #${String(fragment.sequence).padEnd(4)} ${new Date(fragment.producerTimestampMs).toISOString()}  ` +
        `${(fragment.durationMs / 1000).toFixed(3).padStart(7)} s  ${String(fragment.frames.length).padStart(5)} frames  ` +
        `${String(fragment.byteLength).padStart(9)} B  ${fragment.startsWithKeyframe ? 'key' : 'NO-KEY'}${issues}`,
    );
    if (output !== undefined) {
      if (fragment.timecode < 0) {
        // Relative timecodes of an input whose time goes back before its first key frame: not encodable.
        throw new KvsPutError(
          ErrorCode.Fragment,
          `fragment #${fragment.sequence} starts ${-fragment.timecode} ms before the start time: a relative cluster timecode cannot be negative`,
          {
            suggestion:
              'the input goes back in time; use --timecode absolute or cut the input where it jumps',
          },
        );
      }
      await output.writev(writer.write(fragment));
    }
  };
  let parseError: MkvParseError | undefined;
  try {
    for await (const event of readMkv(source)) {
      if (event.type === 'header') {
        headers.push(event.header);
        print(
          `segment at byte ${event.byteOffset}: ${event.header.docType}, TimecodeScale ${event.header.timecodeScaleNs} ns`,
        );
        for (const track of event.header.tracks) {
          print(trackLine(track));
          const warning = codecWarning(track);
          if (warning !== undefined) {
            print(`    ! ${warning}`);
          }
        }
        if (!isRemuxed) {
          // What put refuses before sending a byte, inspect refuses too (after showing the tracks).
          checkPlayableCodecs(input, event.header);
        }
        if (headers.length === 1) {
          print('fragments (as kvs-put would send them):');
        }
      }
      for (const item of fragmenter.push(event)) {
        await onItem(item);
      }
    }
  } catch (error) {
    if (!(error instanceof MkvParseError)) {
      throw error;
    }
    // Show (and write) every fragment read before the damage, then report it.
    parseError = error;
  }
  try {
    for (const fragment of fragmenter.end()) {
      await onItem(fragment);
    }
    if (output !== undefined) {
      await output.writev(writer.end());
    }
  } finally {
    await output?.close();
  }
  const stats = fragmenter.stats;
  if (options.json === true) {
    io.stdout.write(
      `${JSON.stringify({
        input,
        segments: headers.map((header) => ({
          docType: header.docType,
          timecodeScaleNs: header.timecodeScaleNs,
          tracks: header.tracks.map(trackJson),
        })),
        kvsTracks: fragmenter.outputTracks.map(trackJson),
        fragments: fragments.map(fragmentJson),
        stats,
      })}\n`,
    );
  } else {
    print(summary(stats, fragments));
  }
  if (parseError !== undefined) {
    throw isRemuxed
      ? parseError
      : damagedFileError(input, parseError, head, fragments.length, {
          one: 'would be sent by put',
          many: 'would be sent by put',
        });
  }
  if (headers.length === 0) {
    throw new KvsPutError(ErrorCode.MkvParse, `${input} holds no Matroska segment with tracks`);
  }
  const refusals = fragments
    .map((fragment) => refusalIssue(fragment.issues))
    .filter((issue) => issue !== undefined);
  if (refusals.length > 0) {
    // put would not send these (and exit 3): say so the same way.
    const first = refusals[0]!;
    throw refusedFragmentsError(refusals.length, { reason: first.message, errorId: first.errorId });
  }
  return ExitCode.Ok;
};

const summary = (stats: FragmenterStats, fragments: Fragment[]): string => {
  const bytes = fragments.reduce((sum, fragment) => sum + fragment.byteLength, 0);
  const lines = [
    `${stats.fragments} fragments, ${stats.framesOut} frames, ${bytes} bytes; ${stats.fragmentsWithIssues} with issues`,
  ];
  if (stats.skippedLeadingFrames > 0) {
    lines.push(`skipped ${stats.skippedLeadingFrames} frames before the first key frame`);
  }
  if (stats.skippedTrackFrames > 0) {
    lines.push(
      `skipped ${stats.skippedTrackFrames} frames of tracks KVS does not get (not audio/video, or a 4th track)`,
    );
  }
  if (stats.skippedLateFrames > 0) {
    lines.push(`skipped ${stats.skippedLateFrames} frames that arrived too late for their fragment`);
  }
  if (stats.bFrameFragments > 0) {
    lines.push(
      `${stats.bFrameFragments} fragments carry B-frames: sent with their presentation times, as AWS's producers send them`,
    );
  }
  if (stats.skippedLeadingPictures > 0) {
    lines.push(
      `skipped ${stats.skippedLeadingPictures} open-GOP leading pictures (they depend on the previous fragment)`,
    );
  }
  return lines.join('\n');
};

const openOutput = async (path: string, cwd: string) => {
  try {
    return await open(resolve(cwd, path), 'w');
  } catch (error) {
    throw new KvsPutError(
      ErrorCode.Io,
      `cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      {
        cause: error,
      },
    );
  }
};

export const inspectCommand: CommandFactory = (io, setExitCode) =>
  new Command('inspect')
    .description(
      'Show the tracks of an MKV file and the fragments kvs-put would send to KVS, with rule violations.',
    )
    .argument('<file>', 'MKV file (MP4, MOV, TS… through ffmpeg, as put reads them), or - for stdin')
    .option('--json', 'print one JSON document instead of text')
    .option('-o, --output <file>', 'write the exact bytes kvs-put would send in one PutMedia session')
    .option(
      '--start-time <time>',
      'producer time of the first frame: ISO 8601 or epoch seconds (default: now)',
      parseStartTime,
    )
    .addOption(timecodeOption())
    .addOption(minFragmentDurationOption())
    .action(async (file: string, options: InspectOptions) => {
      setExitCode(await runInspect(file, options, io));
    });
