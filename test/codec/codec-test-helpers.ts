/**
 * Test helpers for the codec tests: an exp-Golomb bit writer to hand-build parameter sets, ffmpeg/ffprobe
 * runners that write into a temp dir, and a minimal Matroska walker that pulls each track's CodecID and
 * CodecPrivate out of a file (kept here, independent of src/mkv, so a codec test failure always points at the
 * codec code).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** MSB-first bit writer with exp-Golomb codes; grows as needed. */
export class TestBitWriter {
  private readonly bits: number[] = [];

  public get bitLength(): number {
    return this.bits.length;
  }

  public u(bitCount: number, value: number): this {
    for (let i = bitCount - 1; i >= 0; i--) {
      this.bits.push(Math.floor(value / 2 ** i) % 2);
    }
    return this;
  }

  public flag(value: boolean): this {
    return this.u(1, value ? 1 : 0);
  }

  public ue(value: number): this {
    const codeNum = value + 1;
    const bitCount = Math.floor(Math.log2(codeNum)) + 1;
    this.u(bitCount - 1, 0);
    return this.u(bitCount, codeNum);
  }

  public se(value: number): this {
    return this.ue(value > 0 ? 2 * value - 1 : -2 * value);
  }

  /** rbsp_trailing_bits(): a stop bit, then zeros to the byte boundary. */
  public trailingBits(): this {
    this.bits.push(1);
    while (this.bits.length % 8 !== 0) {
      this.bits.push(0);
    }
    return this;
  }

  /** The bits written so far, zero-padded to a whole byte. */
  public toBytes(): Uint8Array {
    const bytes = new Uint8Array(Math.ceil(this.bits.length / 8));
    this.bits.forEach((bit, i) => {
      bytes[i >> 3]! |= bit << (7 - (i & 7));
    });
    return bytes;
  }
}

export const concatBytes = (...parts: (Uint8Array | readonly number[])[]): Uint8Array => {
  const arrays = parts.map((part) => (part instanceof Uint8Array ? part : Uint8Array.from(part)));
  const output = new Uint8Array(arrays.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of arrays) {
    output.set(part, offset);
    offset += part.length;
  }
  return output;
};

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

export const fromHex = (text: string): Uint8Array =>
  Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

const isToolPresent = (tool: string): boolean => {
  const result = spawnSync(tool, ['-version'], { stdio: 'ignore' });
  return result.error === undefined && result.status === 0;
};

export const HAS_FFMPEG = isToolPresent('ffmpeg');
export const HAS_FFPROBE = isToolPresent('ffprobe');

if (!HAS_FFMPEG) {
  console.warn('codec tests: ffmpeg not found on PATH; the real-data tests that encode media are skipped');
}

/** A temp dir removed by `dispose()`. */
export const makeTempDir = (): { path: string; dispose: () => void } => {
  const path = mkdtempSync(join(tmpdir(), 'kvs-codec-'));
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) };
};

/** Runs ffmpeg quietly and throws with its stderr on failure. */
export const runFfmpeg = (args: readonly string[]): void => {
  const result = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], {
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(`ffmpeg ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  }
};

export type ProbedVideoStream = { codecName: string; width: number; height: number; profile: string };

/** ffprobe's view of the first video stream of a file (an independent oracle for SPS parsing). */
export const probeVideo = (path: string): ProbedVideoStream => {
  const result = spawnSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=codec_name,width,height,profile',
      '-of',
      'json',
      path,
    ],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) {
    throw new Error(`ffprobe ${path} failed: ${result.stderr}`);
  }
  const parsed = JSON.parse(result.stdout) as {
    streams: { codec_name: string; width: number; height: number; profile: string }[];
  };
  const stream = parsed.streams[0]!;
  return {
    codecName: stream.codec_name,
    width: stream.width,
    height: stream.height,
    profile: stream.profile,
  };
};

export const readBytes = (path: string): Uint8Array => new Uint8Array(readFileSync(path));

export type MkvTrackCodec = { codecId: string; codecPrivate: Uint8Array | undefined };

const SEGMENT_ID = 0x18538067;
const TRACKS_ID = 0x1654ae6b;
const TRACK_ENTRY_ID = 0xae;
const CODEC_ID_ID = 0x86;
const CODEC_PRIVATE_ID = 0x63a2;

/** Reads an EBML vint at `offset`; `keepMarker` for IDs. Unknown sizes come back as -1. */
const readVint = (
  bytes: Uint8Array,
  offset: number,
  keepMarker: boolean,
): { value: number; width: number } => {
  const first = bytes[offset]!;
  const width = Math.clz32(first) - 23;
  let value = keepMarker ? first : first & (0xff >> width);
  let allOnes = value === 0xff >> width;
  for (let i = 1; i < width; i++) {
    const byte = bytes[offset + i]!;
    value = value * 256 + byte;
    allOnes &&= byte === 0xff;
  }
  return { value: !keepMarker && allOnes ? -1 : value, width };
};

/** CodecID and CodecPrivate of every TrackEntry of a Matroska file, in order. */
export const mkvTrackCodecs = (mkv: Uint8Array): MkvTrackCodec[] => {
  const tracks: MkvTrackCodec[] = [];
  const walk = (begin: number, end: number, inTrackEntry: MkvTrackCodec | undefined): void => {
    let offset = begin;
    while (offset < end) {
      const id = readVint(mkv, offset, true);
      const size = readVint(mkv, offset + id.width, false);
      const dataBegin = offset + id.width + size.width;
      const dataEnd = size.value === -1 ? end : Math.min(end, dataBegin + size.value);
      if (id.value === SEGMENT_ID || id.value === TRACKS_ID) {
        walk(dataBegin, dataEnd, undefined);
      } else if (id.value === TRACK_ENTRY_ID) {
        const track: MkvTrackCodec = { codecId: '', codecPrivate: undefined };
        tracks.push(track);
        walk(dataBegin, dataEnd, track);
      } else if (inTrackEntry !== undefined && id.value === CODEC_ID_ID) {
        inTrackEntry.codecId = new TextDecoder().decode(mkv.subarray(dataBegin, dataEnd));
      } else if (inTrackEntry !== undefined && id.value === CODEC_PRIVATE_ID) {
        inTrackEntry.codecPrivate = mkv.subarray(dataBegin, dataEnd);
      } else if (id.value === 0x1f43b675) {
        return; // first Cluster: the tracks are behind us
      }
      offset = dataEnd;
    }
  };
  walk(0, mkv.length, undefined);
  return tracks;
};

/** The CodecPrivate of the first track whose CodecID is `codecId`. */
export const mkvCodecPrivate = (mkv: Uint8Array, codecId: string): Uint8Array => {
  const track = mkvTrackCodecs(mkv).find((candidate) => candidate.codecId === codecId);
  if (track?.codecPrivate === undefined) {
    throw new Error(`no ${codecId} track with CodecPrivate`);
  }
  return track.codecPrivate;
};
