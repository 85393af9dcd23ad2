/**
 * Raw PutMedia clients for the local KVS tests: `node:http` requests signed as AWS's C producer signs them
 * (SigV4 over the headers with the empty-payload hash, no x-amz-content-sha256), and MKV sessions built with
 * kvs-put's own writer. Acks are read with kvs-put's AckParser.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { CreateStreamCommand } from '@aws-sdk/client-kinesis-video';
import type { Ack } from '../../src/kvs/ack.js';
import { AckParser } from '../../src/kvs/ack-parser.js';
import { drainOrClose } from '../../src/kvs/put-media-connection.js';
import type { LocalKvs } from '../../src/emulator/local-kvs.js';
import type { ClusterFrame } from '../../src/mkv/mkv-writer.js';
import {
  concatChunks,
  kvsVideoTrack,
  writeCluster,
  writeKvsHeader,
  writeTags,
} from '../../src/mkv/mkv-writer.js';
import type { MkvSimpleTag, MkvTrack } from '../../src/mkv/mkv-types.js';
import { CodecId, TrackType } from '../../src/mkv/ebml-ids.js';
import { sdkClient } from './emulator-test-helpers.js';

export type PutMediaOptions = {
  streamName?: string;
  streamArn?: string;
  timecodeType?: 'ABSOLUTE' | 'RELATIVE';
  /** x-amzn-producer-start-timestamp as sent (a string, e.g. `1663277247.152`), or null to leave it out. */
  producerStartTimestamp?: string | null;
  ackRequired?: '0' | '1';
  /** Extra or overriding headers (signed too). */
  headers?: Record<string, string>;
  /** Leave out SigV4 (for `noAuth` servers). */
  isUnsigned?: boolean;
};

/** An open PutMedia request: write the body, watch the acks. */
export type PutMediaCall = {
  request: http.ClientRequest;
  /** Resolves with the answer's status and headers (or rejects when the connection fails first). */
  response: Promise<http.IncomingMessage>;
  /** Every ack so far, in arrival order. */
  acks: Ack[];
  /** The raw answer chunks as they arrived (one per `data` event). */
  chunks: string[];
  /** Resolves when the answer ends or the connection closes: `ended` true for a complete answer. */
  closed: Promise<{ isComplete: boolean; error: Error | undefined }>;
  /** Resolves once `predicate` holds for the acks received (checked on every ack). */
  waitFor: (predicate: (acks: readonly Ack[]) => boolean, timeoutMs?: number) => Promise<Ack[]>;
  /** The error body of a non-200 answer. */
  errorBody: () => Promise<Record<string, unknown>>;
};

const sha256 = Hash.bind(null, 'sha256');

/** Opens `POST /putMedia` with the C producer's headers; the body is written by the caller. */
export const openPutMedia = async (kvs: LocalKvs, options: PutMediaOptions = {}): Promise<PutMediaCall> => {
  const url = new URL('/putMedia', kvs.url);
  const headers: Record<string, string> = {
    host: url.host,
    'x-amzn-fragment-timecode-type': options.timecodeType ?? 'ABSOLUTE',
    'x-amzn-fragment-acknowledgment-required': options.ackRequired ?? '1',
    'content-type': 'application/json',
    'user-agent': 'kvs-put-tests',
    ...(options.producerStartTimestamp === null
      ? {}
      : {
          'x-amzn-producer-start-timestamp': options.producerStartTimestamp ?? (Date.now() / 1000).toFixed(3),
        }),
    ...(options.streamArn === undefined && options.streamName === undefined
      ? {}
      : options.streamArn !== undefined
        ? { 'x-amzn-stream-arn': options.streamArn }
        : { 'x-amzn-stream-name': options.streamName! }),
    ...options.headers,
  };
  let finalHeaders = headers;
  if (options.isUnsigned !== true) {
    const signer = new SignatureV4({
      service: 'kinesisvideo',
      region: kvs.region,
      credentials: kvs.credentials,
      sha256,
      applyChecksum: false,
    });
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: {},
      headers,
    });
    finalHeaders = signed.headers;
  }
  const request = http.request(url, {
    method: 'POST',
    headers: {
      ...finalHeaders,
      'transfer-encoding': 'chunked',
      connection: 'keep-alive',
      expect: '100-continue',
    },
    agent: false,
  });
  request.on('error', () => undefined);
  request.flushHeaders();
  const acks: Ack[] = [];
  const chunks: string[] = [];
  const waiters = new Set<() => void>();
  let closeResult: { isComplete: boolean; error: Error | undefined } | undefined;
  let resolveClosed!: (value: { isComplete: boolean; error: Error | undefined }) => void;
  const closed = new Promise<{ isComplete: boolean; error: Error | undefined }>((resolve) => {
    resolveClosed = (value) => {
      closeResult ??= value;
      resolve(closeResult);
      for (const wake of waiters) {
        wake();
      }
    };
  });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', (error) => {
      reject(error);
      resolveClosed({ isComplete: false, error });
    });
  });
  void response.then(
    (answer) => {
      if (answer.statusCode !== 200) {
        return;
      }
      const parser = new AckParser();
      answer.on('data', (chunk: Buffer) => {
        chunks.push(chunk.toString('utf8'));
        acks.push(...parser.push(chunk));
        for (const wake of waiters) {
          wake();
        }
      });
      answer.on('end', () => resolveClosed({ isComplete: true, error: undefined }));
      answer.on('error', (error) => resolveClosed({ isComplete: false, error }));
      answer.on('close', () => resolveClosed({ isComplete: answer.complete, error: undefined }));
    },
    () => undefined,
  );
  const waitFor = async (
    predicate: (acks: readonly Ack[]) => boolean,
    timeoutMs = 10_000,
  ): Promise<Ack[]> => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(acks)) {
      if (closeResult !== undefined) {
        throw new Error(`the answer ended before the acks expected: ${JSON.stringify(acks)}`);
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new Error(`timed out waiting for acks; got ${JSON.stringify(acks)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        const wake = (): void => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        };
        waiters.add(wake);
      });
    }
    return [...acks];
  };
  const errorBody = async (): Promise<Record<string, unknown>> => {
    const answer = await response;
    const parts: Buffer[] = [];
    for await (const part of answer) {
      parts.push(part as Buffer);
    }
    return JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>;
  };
  return { request, response, acks, chunks, closed, waitFor, errorBody };
};

/** The given chunks as an async byte source (for readMkv and friends). */
export const chunksSource = (...chunks: Uint8Array[]): AsyncIterable<Uint8Array> =>
  Readable.from(chunks, { objectMode: true }) as AsyncIterable<Uint8Array>;

/** Writes `body` in `chunkSize` pieces, respecting backpressure; ends the body unless `isLeftOpen`. */
export const writeBody = async (
  call: PutMediaCall,
  body: Uint8Array,
  options: { chunkSize?: number; isLeftOpen?: boolean; pauseMs?: number } = {},
): Promise<void> => {
  const size = options.chunkSize ?? 64 * 1024;
  for (let offset = 0; offset < body.length; offset += size) {
    if (call.request.destroyed) {
      return;
    }
    if (!call.request.write(body.subarray(offset, Math.min(body.length, offset + size)))) {
      await drainOrClose(call.request);
    }
    if (options.pauseMs !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
    }
  }
  if (options.isLeftOpen !== true && !call.request.destroyed) {
    call.request.end();
  }
};

/** PutMedia with a whole body; resolves with every ack once the answer is over. */
export const putMedia = async (
  kvs: LocalKvs,
  body: Uint8Array,
  options: PutMediaOptions & { chunkSize?: number } = {},
): Promise<{ status: number; acks: Ack[]; call: PutMediaCall; isComplete: boolean }> => {
  const call = await openPutMedia(kvs, options);
  const answer = await call.response;
  if (answer.statusCode !== 200) {
    return { status: answer.statusCode ?? 0, acks: [], call, isComplete: false };
  }
  await writeBody(call, body, options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize });
  const result = await call.closed;
  return { status: 200, acks: call.acks, call, isComplete: result.isComplete };
};

/** Creates a stream through the SDK; returns its ARN. */
export const createStream = async (
  kvs: LocalKvs,
  streamName: string,
  dataRetentionInHours = 1,
): Promise<string> => {
  const client = sdkClient(kvs);
  try {
    const output = await client.send(
      new CreateStreamCommand({ StreamName: streamName, DataRetentionInHours: dataRetentionInHours }),
    );
    return output.StreamARN!;
  } finally {
    client.destroy();
  }
};

// ---- MKV sessions built with kvs-put's writer ------------------------------------------------------------------

/** A deterministic frame payload (so tests can hash what was sent). */
export const payload = (seed: number, size: number): Uint8Array => {
  const bytes = new Uint8Array(size);
  let x = (seed * 2_654_435_761) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1_103_515_245 + 12_345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
};

export const sha1Hex = (bytes: Uint8Array): string => createHash('sha1').update(bytes).digest('hex');

export const VIDEO_TRACK: MkvTrack = kvsVideoTrack({
  codecPrivate: Uint8Array.of(
    1,
    0x64,
    0,
    0x1f,
    0xff,
    0xe1,
    0,
    4,
    0x67,
    0x64,
    0,
    0x1f,
    1,
    0,
    4,
    0x68,
    0xee,
    0x3c,
    0x80,
  ),
  widthPx: 640,
  heightPx: 480,
});

export const AUDIO_TRACK: MkvTrack = {
  number: 2,
  uid: 2n,
  type: TrackType.Audio,
  name: 'kvs_audio_track',
  codecId: CodecId.Aac,
  codecPrivate: Uint8Array.of(0x11, 0x90),
  audio: { samplingFrequencyHz: 48_000, channels: 2 },
};

export type FragmentSpec = {
  /** Cluster Timecode (ms with the default TimecodeScale). */
  timecode: number;
  /** Frames per track, one every `frameMs`, first one a key frame. @default 10 */
  frameCount?: number;
  /** @default 40 */
  frameMs?: number;
  /** @default [1] */
  tracks?: number[];
  /** Payload bytes per frame. @default 1000 */
  frameBytes?: number;
  /** Whether the first frame is a key frame. @default true */
  isKeyStart?: boolean;
  /** Metadata Tags written before the Cluster. */
  tags?: MkvSimpleTag[];
  /** Explicit frames (override the generated ones). */
  frames?: ClusterFrame[];
};

/** The frames `writeFragments` puts in one fragment. */
export const framesOf = (spec: FragmentSpec, seed: number): ClusterFrame[] => {
  if (spec.frames !== undefined) {
    return spec.frames;
  }
  const frames: ClusterFrame[] = [];
  const count = spec.frameCount ?? 10;
  const step = spec.frameMs ?? 40;
  for (let i = 0; i < count; i++) {
    for (const track of spec.tracks ?? [1]) {
      frames.push({
        trackNumber: track,
        relativeTimecode: i * step,
        isKeyframe: i === 0 ? (spec.isKeyStart ?? true) : track !== 1,
        data: payload(seed * 1000 + i * 10 + track, spec.frameBytes ?? 1000),
      });
    }
  }
  return frames;
};

/** A whole PutMedia body: kvs-put's session header, then each fragment's Tags and Cluster. */
export const buildSession = (
  fragments: readonly FragmentSpec[],
  options: { tracks?: readonly MkvTrack[]; timecodeScaleNs?: number } = {},
): { body: Uint8Array; frames: ClusterFrame[][]; parts: Uint8Array[] } => {
  const parts: Uint8Array[] = [
    writeKvsHeader({
      tracks: options.tracks ?? [VIDEO_TRACK],
      segmentUid: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
      ...(options.timecodeScaleNs === undefined ? {} : { timecodeScaleNs: options.timecodeScaleNs }),
    }),
  ];
  const frames: ClusterFrame[][] = [];
  fragments.forEach((spec, index) => {
    const fragmentParts: Uint8Array[] = [];
    if (spec.tags !== undefined) {
      fragmentParts.push(writeTags(spec.tags));
    }
    const fragmentFrames = framesOf(spec, index + 1);
    frames.push(fragmentFrames);
    fragmentParts.push(...writeCluster(spec.timecode, fragmentFrames));
    parts.push(concatChunks(fragmentParts));
  });
  // parts: [session header, fragment 1, fragment 2, …]
  return { body: concatChunks(parts), frames, parts };
};

/** `count` fragments of `durationMs` from `startMs` (10 frames each by default). */
export const fragmentsFrom = (
  startMs: number,
  count: number,
  overrides: Partial<FragmentSpec> = {},
): FragmentSpec[] => Array.from({ length: count }, (_, i) => ({ timecode: startMs + i * 400, ...overrides }));

/** One fragment as `GET /__emulator/streams/<name>/fragments` reports it. */
export type FragmentFacts = {
  fragmentNumber: string;
  timecode: number;
  producerTimestampMs: number;
  serverTimestampMs: number;
  durationMs: number;
  sizeBytes: number;
  frameCount: number;
  framesPerTrack: Record<string, number>;
  startsWithKeyframe: boolean;
  isArchived: boolean;
  tags: { name: string; value?: string }[];
};

/** The introspection endpoint's view of a stream's stored fragments. */
export const storedFragments = async (kvs: LocalKvs, streamName: string): Promise<FragmentFacts[]> => {
  const response = await fetch(`${kvs.url}/__emulator/streams/${encodeURIComponent(streamName)}/fragments`);
  const body = (await response.json()) as { fragments: FragmentFacts[] };
  return body.fragments;
};

/** Waits until `check` passes (polling), for effects that land asynchronously. */
export const eventually = async (
  check: () => Promise<boolean> | boolean,
  timeoutMs = 5000,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

/** The acks of each fragment (by position in `timecodes`), as letters: `[['B', 'R', 'P'], …]`. */
export const acksPerFragment = (acks: readonly Ack[], timecodes: readonly number[]): string[][] =>
  timecodes.map((timecode) =>
    acks.filter((ack) => ack.FragmentTimecode === timecode).map((ack) => ack.EventType.charAt(0)),
  );

/** The ack event types in order, as `B`/`R`/`P`/`E`/`I` letters with the fragment's position in `timecodes`. */
export const ackSequence = (acks: readonly Ack[], timecodes: readonly number[]): string[] =>
  acks.map((ack) => {
    const letter = ack.EventType === 'ERROR' ? 'E' : ack.EventType === 'IDLE' ? 'I' : ack.EventType.charAt(0);
    const index = ack.FragmentTimecode === undefined ? -1 : timecodes.indexOf(ack.FragmentTimecode);
    return index < 0 ? letter : `${letter}${index + 1}`;
  });
