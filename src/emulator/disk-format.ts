/**
 * What the local KVS's files under `--data-dir` say, apart from reading and writing them (disk-storage.ts):
 *
 * ```
 * <dataDir>/streams.json                           the stream table, rewritten whole on every change
 * <dataDir>/media/<name>-<creationMs>-<hash8>/     one directory per stream incarnation
 *   index.ndjson                                   a stream line, then header and fragment lines, append-only
 *   headers.bin, fragments.bin                     the bytes the index lines point into, append-only
 * ```
 *
 * Both formats carry a name and a version, so a directory from another tool or a later format is refused instead
 * of being read as an empty store.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, KvsPutError } from '../errors.js';
import type { MkvSimpleTag } from '../mkv/mkv-types.js';
import type { StoredFragment } from './media-store.js';
import type { StreamTable } from './storage.js';
import { STORAGE_TIERS, STREAM_STATUSES } from './stream-store.js';
import type { StreamRecord } from './stream-store.js';

/** File name of the stream table inside `dataDir`. */
export const STREAMS_FILE_NAME = 'streams.json';
export const MEDIA_DIR_NAME = 'media';
export const INDEX_FILE_NAME = 'index.ndjson';
export const FRAGMENTS_FILE_NAME = 'fragments.bin';
export const HEADERS_FILE_NAME = 'headers.bin';

const STREAMS_FORMAT = 'kvs-put-local/streams';
const STREAMS_FORMAT_VERSION = 1;
const INDEX_FORMAT = 'kvs-put-local/media';
const INDEX_FORMAT_VERSION = 1;

// ---- streams.json --------------------------------------------------------------------------------------------

/** The text of `streams.json` for a table. */
export const serializeStreamTable = (table: StreamTable): string =>
  `${JSON.stringify(
    {
      format: STREAMS_FORMAT,
      formatVersion: STREAMS_FORMAT_VERSION,
      nextSequence: table.nextSequence,
      streams: table.streams,
    },
    null,
    2,
  )}\n`;

/** Validates `streams.json`; a corrupt file is a clear error, not a silently empty store. */
export const parseStreamTable = (text: string, path: string): StreamTable => {
  const fail = (why: string): never => {
    throw new KvsPutError(ErrorCode.Config, `the local KVS state file ${path} is not valid: ${why}`, {
      context: { path },
      suggestion:
        'move the file away (the streams it lists are lost) or point --data-dir at another directory',
    });
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
  if (typeof value !== 'object' || value === null) {
    return fail('not a JSON object');
  }
  const state = value as Record<string, unknown>;
  if (state['format'] !== STREAMS_FORMAT || state['formatVersion'] !== STREAMS_FORMAT_VERSION) {
    return fail(`expected format "${STREAMS_FORMAT}" version ${STREAMS_FORMAT_VERSION}`);
  }
  const rawStreams = state['streams'];
  if (!Array.isArray(rawStreams)) {
    return fail('"streams" is not an array');
  }
  const streams = rawStreams.map((raw: unknown, index): StreamRecord => {
    const record = raw as Partial<Record<keyof StreamRecord, unknown>> | null;
    const isString = (key: keyof StreamRecord): boolean => typeof record?.[key] === 'string';
    const isOptionalString = (key: keyof StreamRecord): boolean =>
      record?.[key] === undefined || isString(key);
    const isNumber = (key: keyof StreamRecord): boolean => typeof record?.[key] === 'number';
    const isValid =
      record !== null &&
      typeof record === 'object' &&
      isString('accountId') &&
      isString('region') &&
      isString('streamName') &&
      isString('streamArn') &&
      isNumber('creationTimeMs') &&
      isNumber('sequence') &&
      isOptionalString('deviceName') &&
      isOptionalString('mediaType') &&
      isString('kmsKeyId') &&
      isString('version') &&
      isNumber('dataRetentionInHours') &&
      (STORAGE_TIERS as readonly unknown[]).includes(record.storageTier) &&
      typeof record.tags === 'object' &&
      record.tags !== null &&
      (STREAM_STATUSES as readonly unknown[]).includes(record.status) &&
      (record.statusUntilMs === undefined || isNumber('statusUntilMs'));
    if (!isValid) {
      return fail(`streams[${index}] is malformed`);
    }
    return record as StreamRecord;
  });
  const nextSequence = typeof state['nextSequence'] === 'number' ? state['nextSequence'] : 1;
  return { nextSequence, streams };
};

// ---- media/<stream>/index.ndjson -----------------------------------------------------------------------------

/** One line of `index.ndjson`. Fragment lines use short keys: a long upload writes one per fragment. */
export type IndexLine =
  | { t: 'stream'; format: string; formatVersion: number; streamArn: string }
  | { t: 'header'; id: number; offset: number; length: number }
  | FragmentIndexLine;

type FragmentIndexLine = {
  t: 'fragment';
  n: string;
  tc: number;
  pts: number;
  sts: number;
  dur: number;
  off: number;
  len: number;
  frames: number;
  perTrack: Record<string, number>;
  key: boolean;
  tags: { name: string; value?: string; binary?: string }[];
  h: number;
};

/** `<name>-<creationMs>-<8 hex of the ARN>`: readable, and unique per stream incarnation. */
export const streamDirName = (streamArn: string): string => {
  const parts = /stream\/([^/]+)\/(\d+)$/.exec(streamArn);
  const hash = createHash('sha256').update(streamArn).digest('hex').slice(0, 8);
  return parts === null ? hash : `${parts[1]}-${parts[2]}-${hash}`;
};

/** The first line of a stream's index. */
export const streamIndexLine = (streamArn: string): string =>
  JSON.stringify({
    t: 'stream',
    format: INDEX_FORMAT,
    formatVersion: INDEX_FORMAT_VERSION,
    streamArn,
  } satisfies IndexLine);

export const headerIndexLine = (id: number, offset: number, length: number): string =>
  JSON.stringify({ t: 'header', id, offset, length } satisfies IndexLine);

/** A fragment's index line: its facts, and where its bytes start in `fragments.bin`. */
export const fragmentIndexLine = (fragment: StoredFragment, offset: number): string =>
  JSON.stringify({
    t: 'fragment',
    n: fragment.fragmentNumber,
    tc: fragment.timecode,
    pts: fragment.producerTimestampMs,
    sts: fragment.serverTimestampMs,
    dur: fragment.durationMs,
    off: offset,
    len: fragment.sizeBytes,
    frames: fragment.frameCount,
    perTrack: Object.fromEntries(Object.entries(fragment.framesPerTrack).map(([k, v]) => [k, v])),
    key: fragment.startsWithKeyframe,
    tags: fragment.tags.map((tag) => ({
      name: tag.name,
      ...(tag.value === undefined ? {} : { value: tag.value }),
      ...(tag.binary === undefined ? {} : { binary: Buffer.from(tag.binary).toString('base64') }),
    })),
    h: fragment.headerId,
  } satisfies IndexLine);

/** What an index says, line by line: a torn or empty line (a crash mid-write) is skipped. */
export type ParsedIndex = {
  streamArn: string | undefined;
  headers: { id: number; offset: number; length: number }[];
  fragments: { fragment: StoredFragment; offset: number }[];
};

/** Reads an index file's text; an index of another format is an error naming `path`. */
export const parseIndex = (text: string, path: string): ParsedIndex => {
  const parsed: ParsedIndex = { streamArn: undefined, headers: [], fragments: [] };
  for (const line of text.split('\n')) {
    let entry: IndexLine | null;
    try {
      entry = JSON.parse(line) as IndexLine | null;
    } catch {
      continue;
    }
    if (typeof entry !== 'object' || entry === null) {
      continue;
    }
    if (entry.t === 'stream') {
      if (entry.format !== INDEX_FORMAT || entry.formatVersion !== INDEX_FORMAT_VERSION) {
        throw new KvsPutError(ErrorCode.Config, `the local KVS media index ${path} has an unknown format`, {
          context: { path },
          suggestion: 'point --data-dir at another directory, or remove this one',
        });
      }
      parsed.streamArn = entry.streamArn;
    } else if (parsed.streamArn === undefined) {
      continue;
    } else if (entry.t === 'header') {
      parsed.headers.push({ id: entry.id, offset: entry.offset, length: entry.length });
    } else if (entry.t === 'fragment') {
      parsed.fragments.push({ fragment: fromFragmentLine(entry), offset: entry.off });
    }
  }
  return parsed;
};

const fromFragmentLine = (line: FragmentIndexLine): StoredFragment => ({
  fragmentNumber: line.n,
  timecode: line.tc,
  producerTimestampMs: line.pts,
  serverTimestampMs: line.sts,
  durationMs: line.dur,
  sizeBytes: line.len,
  frameCount: line.frames,
  framesPerTrack: Object.fromEntries(Object.entries(line.perTrack).map(([k, v]) => [Number(k), v])),
  startsWithKeyframe: line.key,
  tags: line.tags.map((tag): MkvSimpleTag => ({
    name: tag.name,
    ...(tag.value === undefined ? {} : { value: tag.value }),
    ...(tag.binary === undefined ? {} : { binary: new Uint8Array(Buffer.from(tag.binary, 'base64')) }),
  })),
  isArchived: true,
  headerId: line.h,
});
