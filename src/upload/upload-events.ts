/**
 * The events of an upload: plain JSON records, discriminated by `event`. The CLI's `--json` prints exactly
 * these, one per line, so a script reading it and a program iterating `upload()` see the same stream.
 */
import { ErrorCode, KvsPutError } from '../errors.js';
import type { Ack } from '../kvs/ack.js';
import type { ReadBackResult } from '../kvs/read-back.js';
import { peakRssBytes } from '../util/peak-rss.js';
import type {
  FragmentStats,
  UploadEvent as SessionEvent,
  UploadInterval,
  UploadSummary as SessionSummary,
} from '../session/upload-session.js';

/** A session event as a record: its `type` becomes `event`. */
type Recorded<T extends SessionEvent['type']> = { event: T } & Omit<
  Extract<SessionEvent, { type: T }>,
  'type'
>;

/** The upload is about to start: where it goes, and what it reads. */
export type StartEvent = {
  event: 'start';
  stream: string;
  region: string;
  retentionHours: number;
  /** `clips`: recordings; `live`: a camera, RTSP or a test pattern. */
  source: 'clips' | 'live';
  /** A live source as a person reads it (credentials redacted); the number of clips for recordings. */
  description: string;
  /** The input files' total size, when every one is known: what progress is measured against. */
  totalBytes?: number;
  /** How ffmpeg will capture, and why (a live source). */
  notes: string[];
};

/** A recording starts; `notes` say how ffmpeg reads it, when it does. */
export type ClipEvent = { event: 'clip'; path: string; startTimeMs: number; notes: string[] };

/** What a live source delivers: once, and again when a restart changes it. */
export type SourceEvent = {
  event: 'source';
  /** e.g. `video V_MPEG4/ISO/AVC 1280x720, audio A_AAC 48000 Hz, 1 ch` */
  tracks: string;
  /** Set when the camera chose another size than the one asked for. */
  note?: string;
};

/** An ffmpeg run starts (its command line, passwords redacted). */
export type FfmpegEvent = { event: 'ffmpeg'; commandLine: string };

/** A live source was lost and ffmpeg restarts after `delayMs`. */
export type SourceRestartEvent = {
  event: 'source-restart';
  restarts: number;
  delayMs: number;
  reason: string;
};

/** The source's clock and this machine's drifted apart: producer timestamps were re-anchored. */
export type ReanchorEvent = { event: 'reanchor'; driftMs: number };

/** A fragment the service would refuse (over its fragment duration or size limit): not sent. */
export type RefusedEvent = {
  event: 'refused';
  timecode: number;
  producerTimestampMs: number;
  reason: string;
};

/** One PutMedia ack, its fields as the service sent them, with the connection and fragment it belongs to. */
export type AckEvent = { event: 'ack'; connection: number; sequence?: number } & Ack;

export type ConnectEvent = Recorded<'connect'>;
export type RetryEvent = Recorded<'retry'>;
export type SkipEvent = Recorded<'skip'>;
export type DropEvent = Recorded<'drop'>;
export type RotateEvent = Recorded<'rotate'>;
export type StaleEvent = Recorded<'stale'>;

/** Process figures, for a run's health: they are the whole process's, shared by every upload in it. */
export type ProcessStats = {
  cpuSeconds: number;
  rssBytes: number;
  heapUsedBytes: number;
  arrayBuffersBytes: number;
};

/** A live run's periodic figures (every `statsInterval` seconds). */
export type StatsEvent = { event: 'stats' } & UploadInterval & {
    sourceRestarts: number;
    process: ProcessStats;
  };

/** Something the user should know that does not stop the upload. */
export type WarningEvent = { event: 'warning'; message: string };

/** Something worth a line that is not a problem. */
export type NoteEvent = { event: 'note'; message: string };

/** Why a run failed: the {@link KvsPutError}'s stable code and message (the CLI's `kvs-put:` line). */
export type SummaryError = { code: ErrorCode; message: string; suggestion?: string };

/**
 * The upload's outcome, the last record of every run, also of one that failed (then with `error`); `done`
 * resolves with it. The counts partition `fragments`: persisted + received + skipped + dropped +
 * unacknowledged + notSent.
 */
export type SummaryEvent = { event: 'summary' } & Omit<
  SessionSummary,
  'stats' | 'sourceError' | 'skipped'
> & {
    /** Fragments the service refused for good (an ERROR ack with a non-retriable ErrorId). */
    skipped: number;
    /** Those fragments, with the ErrorId and reason of each. */
    skippedFragments: FragmentStats[];
    /** True only when a signal (or `stop()`, or the caller's AbortSignal) ended the run. */
    isInterrupted: boolean;
    /** Why the source ended early, when it failed after delivering what it could. */
    sourceError?: string;
    /** Fragments not sent because the service would refuse them. */
    refused: number;
    /** Frames read but not sent, by reason (recordings; all 0 for a live source). */
    framesNotSent: FramesNotSent;
    /** Seconds from the start of the upload. */
    seconds: number;
    process: { cpuSeconds: number; maxRssBytes: number };
    /** Set when the run failed: `done` rejects with this error. */
    error?: SummaryError;
  };

/** Frames the fragmenter read and did not send, by why. */
export type FramesNotSent = {
  /** Non-key frames before the first key frame. */
  beforeFirstKeyFrame: number;
  /** Frames (B-frame audio, mostly) too late for the fragment they belong to. */
  late: number;
  /** Frames of tracks KVS does not get (subtitles, data, a 4th track). */
  otherTracks: number;
  /** Open-GOP leading pictures, undecodable without the previous fragment. */
  leadingPictures: number;
};

/** What GetMedia read back (`verify`). */
export type VerifyEvent = { event: 'verify' } & ReadBackResult;

export type UploadEvent =
  | StartEvent
  | ClipEvent
  | SourceEvent
  | FfmpegEvent
  | SourceRestartEvent
  | ReanchorEvent
  | RefusedEvent
  | ConnectEvent
  | AckEvent
  | RetryEvent
  | SkipEvent
  | DropEvent
  | RotateEvent
  | StaleEvent
  | StatsEvent
  | WarningEvent
  | NoteEvent
  | SummaryEvent
  | VerifyEvent;

/**
 * Every `event` a record can carry, in the order the docs list them. One home for the list: `--help`
 * prints it, and a test checks it against {@link UploadEvent} and docs/events.schema.json.
 */
export const UPLOAD_EVENT_TYPES = [
  'start',
  'clip',
  'source',
  'ffmpeg',
  'source-restart',
  'reanchor',
  'refused',
  'connect',
  'ack',
  'retry',
  'skip',
  'drop',
  'rotate',
  'stale',
  'stats',
  'warning',
  'note',
  'verify',
  'summary',
] as const satisfies readonly UploadEvent['event'][];

/** The summary `done` resolves with. */
export type UploadSummary = SummaryEvent;

/** A session event as the record the library emits. */
export const recordOf = (event: SessionEvent): UploadEvent => {
  if (event.type === 'ack') {
    return { event: 'ack', connection: event.connection, sequence: event.sequence, ...event.ack };
  }
  const { type, ...rest } = event;
  return { event: type, ...rest } as UploadEvent;
};

/** What a run got to before it ended, for its summary: the session's, once it ran. */
export type Outcome = {
  session: SessionSummary | undefined;
  refused: number;
  /** Frames read and not sent, by reason, once the source ended. */
  framesNotSent?: FramesNotSent;
  /** The running session's counts: what a session that failed (e.g. out of retries) got to. */
  sessionSoFar?: () => SessionSummary;
};

/** A run's summary record: the session's counts (zeros when it never ran), and its error when it failed. */
export const summaryRecord = (
  outcome: Outcome,
  startedAtMs: number,
  isInterrupted: boolean,
  error: unknown,
): SummaryEvent => {
  const {
    stats: _stats,
    sourceError = undefined,
    skipped = [],
    isInterrupted: _sessionInterrupted,
    ...counts
  } = outcome.session ?? outcome.sessionSoFar?.() ?? {};
  const usage = process.resourceUsage();
  return {
    event: 'summary',
    fragments: 0,
    framesStored: 0,
    persisted: 0,
    received: 0,
    dropped: 0,
    connections: 0,
    retries: 0,
    bytesSent: 0,
    unacknowledged: 0,
    notSent: 0,
    ackLatencyMs: undefined,
    sourceToSocketMs: undefined,
    sourceToKernelMs: undefined,
    ...counts,
    skipped: skipped.length,
    skippedFragments: skipped,
    isInterrupted,
    ...(sourceError === undefined ? {} : { sourceError: sourceError.message }),
    refused: outcome.refused,
    framesNotSent: outcome.framesNotSent ?? {
      beforeFirstKeyFrame: 0,
      late: 0,
      otherTracks: 0,
      leadingPictures: 0,
    },
    seconds: (Date.now() - startedAtMs) / 1000,
    process: { cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6, maxRssBytes: peakRssBytes() },
    ...(error === undefined ? {} : { error: summaryErrorOf(error) }),
  };
};

const summaryErrorOf = (error: unknown): SummaryError =>
  error instanceof KvsPutError
    ? {
        code: error.code,
        message: error.message,
        ...(error.suggestion === undefined ? {} : { suggestion: error.suggestion }),
      }
    : { code: ErrorCode.Internal, message: error instanceof Error ? error.message : String(error) };

/**
 * The summary of a run that failed before it began (e.g. a bad source flag the CLI caught): zeros and the
 * error, so `--json` ends with one summary whatever happened.
 */
export const failureSummary = (error: unknown): SummaryEvent =>
  summaryRecord({ session: undefined, refused: 0 }, Date.now(), false, error);
