/**
 * What a finished run's counts mean: the error it ends with (and so its exit code), and the lines about
 * frames that were read and not sent.
 */
import { ErrorCode, KvsPutError } from '../errors.js';
import type { FragmenterStats } from '../fragment/fragmenter.js';
import { refusedFragmentsError } from '../fragment/fragment-rules.js';
import type { UploadSummary as SessionSummary } from '../session/upload-session.js';
import type { LiveSource } from '../source/sources.js';
import { fileSystemError } from '../util/media-file.js';
import { plural } from '../util/plural.js';
import type { FramesNotSent, UploadEvent } from './upload-events.js';

export const framesNotSentOf = (stats: readonly FragmenterStats[]): FramesNotSent => ({
  beforeFirstKeyFrame: stats.reduce((sum, clip) => sum + clip.skippedLeadingFrames, 0),
  late: stats.reduce((sum, clip) => sum + clip.skippedLateFrames, 0),
  otherTracks: stats.reduce((sum, clip) => sum + clip.skippedTrackFrames, 0),
  leadingPictures: stats.reduce((sum, clip) => sum + clip.skippedLeadingPictures, 0),
});

/** Frames not sent of a clip that are worth no more than a note: a B-frame's late audio, say. */
const TRIVIAL_FRAMES_NOT_SENT = 10;

/**
 * A clip's frames that were not sent, as one line naming the clip: a note when trivial, a warning above
 * that (frames of tracks KVS does not take, subtitles say, are only ever a note).
 */
export const framesNotSentNotice = (path: string, stats: FragmenterStats): UploadEvent | undefined => {
  const parts = [
    [stats.skippedLeadingFrames, 'before the first key frame'],
    [stats.skippedLateFrames, 'too late for their fragment'],
    [stats.skippedLeadingPictures, 'open-GOP leading pictures'],
    [stats.skippedTrackFrames, 'of tracks KVS does not take'],
  ] as const;
  const said = parts.filter(([count]) => count > 0).map(([count, why]) => `${count} ${why}`);
  if (said.length === 0) {
    return undefined;
  }
  const mediaFrames = stats.skippedLeadingFrames + stats.skippedLateFrames + stats.skippedLeadingPictures;
  const message = `clip ${path}: frames not sent: ${said.join(', ')}`;
  return mediaFrames > TRIVIAL_FRAMES_NOT_SENT ? { event: 'warning', message } : { event: 'note', message };
};

/** An upload that did not store everything fails with the error that says why (and its exit code). */
export const throwIfFailed = (
  summary: SessionSummary,
  refused: number,
  isLive: boolean,
  stopTimeoutMs: number,
  firstRefusal?: { reason: string; errorId: number },
): void => {
  if (summary.sourceError !== undefined) {
    // What was read before the failure is stored; the failure itself decides the exit code.
    throw fileSystemError(summary.sourceError) ?? summary.sourceError;
  }
  if (summary.isInterrupted && !isLive) {
    // A recording stopped part-way: not a failure of the upload (the CLI exits 130).
    return;
  }
  if (summary.isInterrupted && summary.unacknowledged > 0) {
    // A live run stopped by a signal whose last acks did not come within --stop-timeout.
    throw new KvsPutError(
      ErrorCode.Interrupted,
      `stopped: ${plural(summary.unacknowledged, 'fragment')} sent, not acknowledged within ${stopTimeoutMs / 1000} s`,
    );
  }
  if (refused > 0) {
    throw refusedFragmentsError(refused, firstRefusal);
  }
  if (summary.skipped.length > 0 || summary.unacknowledged > 0 || summary.notSent > 0) {
    throw new KvsPutError(
      ErrorCode.Upload,
      `${plural(summary.skipped.length, 'fragment')} refused by KVS, ${summary.unacknowledged} sent, not acknowledged` +
        (summary.notSent > 0 ? `, ${summary.notSent} not sent` : ''),
    );
  }
};

/** What a live source is, as its error line names it (credentials redacted). */
const liveSourceName = async (source: LiveSource): Promise<string> => {
  const capture = source.capture;
  // Loaded here: capture/ loads only when ffmpeg is needed.
  const { redactUrl } = await import('../capture/redact.js');
  switch (capture.kind) {
    case 'rtsp':
      return redactUrl(capture.url);
    case 'device':
      return `camera ${capture.path}`;
    case 'testsrc':
      return 'the test pattern';
    default:
      return 'the source';
  }
};

/** A live run that stored nothing: exit 7 with the source's last failure, or 130 when a signal ended it. */
export const noVideoError = async (
  source: LiveSource,
  seconds: number,
  lastLoss: string | undefined,
  signal: AbortSignal,
): Promise<KvsPutError> => {
  const name = await liveSourceName(source);
  // "ffmpeg exited with code 1: rtsp://…: Connection refused" says the URL and ffmpeg twice over.
  const reason = lastLoss
    ?.replace(/^ffmpeg exited with code -?\d+: /, '')
    .replace(`${name}: `, '')
    .trim();
  const message = `${name} gave no video in ${Math.round(seconds)} s${reason === undefined || reason === '' ? '' : `: ${reason}`}`;
  return signal.aborted
    ? new KvsPutError(ErrorCode.Interrupted, `interrupted: ${message}`)
    : new KvsPutError(ErrorCode.Capture, message, { context: { lastLoss } });
};
