/**
 * Helpers for the Matroska reader tests: EBML builders for hand-made streams, chunked reading, a
 * serialized form of events for equality checks, fixture paths, and external-tool detection (ffprobe,
 * mkvinfo) so that oracle tests skip with a printed reason where the tools are absent.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { elementIdWidth, vintSizeWidth, writeElementId, writeVintSize } from '../../src/mkv/ebml-vint.js';
import { EbmlId } from '../../src/mkv/ebml-ids.js';
import { MkvReader } from '../../src/mkv/mkv-reader.js';
import type { MkvEvent } from '../../src/mkv/mkv-types.js';
export { chunksOf, splitAt } from '../helpers/chunks.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root (test/mkv/../..). */
export const REPO_ROOT = resolve(here, '../..');
/** Project fixtures made by scripts/make-fixtures.sh. */
export const FIXTURES_MKV = resolve(REPO_ROOT, 'fixtures/mkv');
/** Shared real-service captures, next to the checkout (never copied into the repo). */
export const SHARED_FIXTURES = resolve(REPO_ROOT, '../shared/fixtures');

export const fixture = (name: string): string => resolve(FIXTURES_MKV, name);
export const sharedFixture = (name: string): string => resolve(SHARED_FIXTURES, name);
export const readBytes = (path: string): Uint8Array => new Uint8Array(readFileSync(path));
export const hasSharedFixtures = existsSync(SHARED_FIXTURES);

// ---- external tools -----------------------------------------------------------------------------------

const toolCache = new Map<string, boolean>();

/** True when `name` runs; otherwise prints why the dependent tests are skipped. */
export const hasTool = (name: string, versionArg = '-version'): boolean => {
  let isPresent = toolCache.get(name);
  if (isPresent === undefined) {
    const result = spawnSync(name, [versionArg], { stdio: 'ignore' });
    isPresent = result.status === 0;
    toolCache.set(name, isPresent);
    if (!isPresent) {
      console.warn(`[mkv tests] ${name} not found on PATH: its oracle tests are skipped.`);
    }
  }
  return isPresent;
};

export type FfprobePacket = {
  stream_index: number;
  pts_time?: string;
  duration_time?: string;
  flags: string;
};
export type FfprobeStream = {
  index: number;
  codec_name: string;
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
  nb_read_packets?: string;
};

/** ffprobe's packet list (demux order) of a file. */
export const ffprobePackets = (path: string): FfprobePacket[] => {
  const result = spawnSync(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'packet=stream_index,pts_time,duration_time,flags', '-of', 'json', path],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  return (JSON.parse(result.stdout) as { packets?: FfprobePacket[] }).packets ?? [];
};

/** ffprobe's stream list, with packet counts. */
export const ffprobeStreams = (path: string): FfprobeStream[] => {
  const result = spawnSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-count_packets',
      '-show_entries',
      'stream=index,codec_name,width,height,sample_rate,channels,nb_read_packets',
      '-of',
      'json',
      path,
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  return (JSON.parse(result.stdout) as { streams?: FfprobeStream[] }).streams ?? [];
};

// ---- reading --------------------------------------------------------------------------------------------

/** Reads all events of `chunks` with a fresh reader (throws like the reader does). */
export const readAll = (chunks: readonly Uint8Array[]): MkvEvent[] => {
  const reader = new MkvReader();
  const events: MkvEvent[] = [];
  for (const chunk of chunks) {
    events.push(...reader.push(chunk));
  }
  events.push(...reader.end());
  return events;
};

export type ReadOutcome = { events: MkvEvent[]; error: unknown };

/** Like {@link readAll} but keeps the events yielded before an error. */
export const readAllSettled = (chunks: readonly Uint8Array[]): ReadOutcome => {
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

/**
 * Reads `chunks` (copies of them), overwriting each chunk as soon as its push returned and its frames were
 * read: only frames may view a chunk, and only until then. Events come back serialized.
 */
export const readScribbled = (chunks: readonly Uint8Array[]): { events: string[]; error: unknown } => {
  const reader = new MkvReader();
  const events: (string | MkvEvent)[] = [];
  let error: unknown;
  try {
    for (const original of chunks) {
      const chunk = original.slice();
      for (const event of reader.push(chunk)) {
        // Frames are read now; other events (header, tags) must own their bytes, so are read at the end.
        events.push(event.type === 'frame' ? serializeEvent(event) : event);
      }
      chunk.fill(0xee);
    }
    events.push(...reader.end());
  } catch (caught) {
    error = caught;
  }
  return {
    events: events.map((event) => (typeof event === 'string' ? event : serializeEvent(event))),
    error,
  };
};

export const frames = (events: readonly MkvEvent[]) =>
  events.flatMap((event) => (event.type === 'frame' ? [event.frame] : []));

export const sha1 = (bytes: Uint8Array): string => createHash('sha1').update(bytes).digest('hex');

/** A plain, comparable form of an event: bigints as strings, byte arrays as length + hash. */
export const serializeEvent = (event: MkvEvent): string =>
  JSON.stringify(event, (_key, value: unknown) => {
    if (typeof value === 'bigint') {
      return `${value}n`;
    }
    if (value instanceof Uint8Array) {
      return `bytes:${value.length}:${sha1(value)}`;
    }
    return value;
  });

export const serializeEvents = (events: readonly MkvEvent[]): string[] => events.map(serializeEvent);

// ---- EBML builders ----------------------------------------------------------------------------------------

export type Part = Uint8Array | readonly number[];

/** Concatenates byte parts. */
export const concat = (...parts: Part[]): Uint8Array => {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

/** An element with a known size, written with `sizeWidth` bytes (smallest width by default). */
export const el = (id: number, body: Part = [], sizeWidth?: number): Uint8Array => {
  const width = sizeWidth ?? vintSizeWidth(body.length);
  const out = new Uint8Array(elementIdWidth(id) + width + body.length);
  let at = writeElementId(out, 0, id);
  at = writeVintSize(out, at, body.length, width);
  out.set(body, at);
  return out;
};

/** A master element of known size. */
export const master = (id: number, ...children: Part[]): Uint8Array => el(id, concat(...children));

/** A master element of unknown size (0xFF), as KVS producers write Segment and Cluster. */
export const unknownSize = (id: number, ...children: Part[]): Uint8Array => {
  const idBytes = new Uint8Array(elementIdWidth(id));
  writeElementId(idBytes, 0, id);
  return concat(idBytes, [0xff], ...children);
};

/** An unsigned integer element (big-endian, minimal width, 0 → one zero byte). */
export const uintEl = (id: number, value: number | bigint): Uint8Array => {
  let rest = BigInt(value);
  const bytes: number[] = [];
  do {
    bytes.unshift(Number(rest & 0xffn));
    rest >>= 8n;
  } while (rest > 0n);
  return el(id, bytes);
};

export const stringEl = (id: number, text: string): Uint8Array => el(id, new TextEncoder().encode(text));

export const floatEl = (id: number, value: number, width: 4 | 8 = 8): Uint8Array => {
  const body = new Uint8Array(width);
  const view = new DataView(body.buffer);
  if (width === 4) {
    view.setFloat32(0, value);
  } else {
    view.setFloat64(0, value);
  }
  return el(id, body);
};

/** An EBML header like the KVS producers write. */
export const ebmlHeader = (docType = 'matroska', docTypeVersion = 2): Uint8Array =>
  master(
    EbmlId.Ebml,
    uintEl(EbmlId.EbmlVersion, 1),
    uintEl(EbmlId.EbmlReadVersion, 1),
    uintEl(EbmlId.EbmlMaxIdLength, 4),
    uintEl(EbmlId.EbmlMaxSizeLength, 8),
    stringEl(EbmlId.DocType, docType),
    uintEl(EbmlId.DocTypeVersion, docTypeVersion),
    uintEl(EbmlId.DocTypeReadVersion, 2),
  );

export type TrackSpec = { number: number; type?: number; codecId?: string; defaultDurationNs?: number };

export const tracksEl = (...tracks: TrackSpec[]): Uint8Array =>
  master(
    EbmlId.Tracks,
    ...tracks.map((track) =>
      master(
        EbmlId.TrackEntry,
        uintEl(EbmlId.TrackNumber, track.number),
        uintEl(EbmlId.TrackUid, track.number),
        uintEl(EbmlId.TrackType, track.type ?? 1),
        stringEl(EbmlId.CodecId, track.codecId ?? 'V_MPEG4/ISO/AVC'),
        ...(track.defaultDurationNs === undefined
          ? []
          : [uintEl(EbmlId.DefaultDuration, track.defaultDurationNs)]),
      ),
    ),
  );

export const infoEl = (timecodeScaleNs = 1_000_000): Uint8Array =>
  master(EbmlId.Info, uintEl(EbmlId.TimecodeScale, timecodeScaleNs), stringEl(EbmlId.MuxingApp, 'test'));

/** A SimpleBlock with a 1-byte track number, a signed int16 offset and the given flags (no lacing). */
export const simpleBlock = (track: number, relativeTicks: number, flags: number, payload: Part): Uint8Array =>
  el(
    EbmlId.SimpleBlock,
    concat([0x80 | track, (relativeTicks >> 8) & 0xff, relativeTicks & 0xff, flags], payload),
  );

/** Tags > Tag > SimpleTag{TagName, TagString} for each pair. */
export const tagsEl = (...pairs: [string, string][]): Uint8Array =>
  master(
    EbmlId.Tags,
    master(
      EbmlId.Tag,
      ...pairs.map(([name, value]) =>
        master(EbmlId.SimpleTag, stringEl(EbmlId.TagName, name), stringEl(EbmlId.TagString, value)),
      ),
    ),
  );

/** `count` bytes counting up from `seed`, to make payloads distinguishable. */
export const payload = (count: number, seed = 0): Uint8Array => {
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = (seed + i) & 0xff;
  }
  return out;
};
