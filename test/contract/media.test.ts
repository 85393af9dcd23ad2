/**
 * The failure contract for media: files of every kind a user meets (missing, empty, truncated, random,
 * audio-only, long GOPs, other containers), what ffmpeg says when it fails, and live sources that are not
 * what they claim (RTSP URLs, devices).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { contractTable } from './contract-table.js';
import { FIXTURES } from '../helpers/paths.js';
import { ndjson } from '../helpers/kvs-put-process.js';
import { startRtspServer } from '../helpers/rtsp-server.js';
import type { RtspServer } from '../helpers/rtsp-server.js';

const fixture = (name: string): string => join(FIXTURES, name);

let madeDir: string | undefined;
const made = new Map<string, string>();

/** A file made once per run by ffmpeg (`args` between the inputs and the output). */
const ffmpegFile = (name: string, args: readonly string[]): string => {
  madeDir ??= mkdtempSync(join(tmpdir(), 'kvs-put-media-'));
  let path = made.get(name);
  if (path === undefined) {
    path = join(madeDir, name);
    execFileSync('ffmpeg', ['-v', 'error', '-y', ...args, path], { stdio: 'ignore' });
    made.set(name, path);
  }
  return path;
};

/** Six seconds of 320×240 H.264 at 25 fps, a key frame every 2 s, with an AAC tone (three fragments). */
const AV_INPUTS = [
  '-f',
  'lavfi',
  '-i',
  'testsrc=size=320x240:rate=25',
  '-f',
  'lavfi',
  '-i',
  'sine=frequency=440',
  '-t',
  '6',
  '-c:v',
  'libx264',
  '-g',
  '50',
  '-pix_fmt',
  'yuv420p',
  '-c:a',
  'aac',
];
const mp4 = (): string => ffmpegFile('clip.mp4', AV_INPUTS);
const mov = (): string => ffmpegFile('clip.mov', AV_INPUTS);
/** An NVR-style MPEG-TS export: its AAC is ADTS, with no header a Matroska muxer can copy. */
const ts = (): string => ffmpegFile('recording.ts', [...AV_INPUTS, '-f', 'mpegts']);
const audioOnly = (extension: string): string =>
  ffmpegFile(`audio.${extension}`, ['-f', 'lavfi', '-i', 'sine=frequency=440', '-t', '6', '-c:a', 'aac']);

const writtenFile = (name: string, bytes: Buffer): string => {
  madeDir ??= mkdtempSync(join(tmpdir(), 'kvs-put-media-'));
  const path = join(madeDir, name);
  writeFileSync(path, bytes);
  return path;
};

/** Deterministic noise: the same "random" file every run. */
const noise = (length: number): Buffer => {
  const bytes = Buffer.alloc(length);
  let state = 0x2545f491;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
};

const put = (path: string): string[] => ['--stream', 's', '--file', path];

let rtspServer: RtspServer | undefined;
afterAll(async () => {
  await rtspServer?.stop();
});

/** The test RTSP server's URL with credentials in it and the scheme in upper case. */
const upperCaseRtspUrl = async (): Promise<string> => {
  rtspServer ??= await startRtspServer();
  return rtspServer.url.replace(/^rtsp:\/\//, 'RTSP://admin:s3cret@');
};

/** Stops a live run (Ctrl+C) once it has stored a fragment. */
const stopAfterFirstAck = (child: { kill: (signal: NodeJS.Signals) => boolean }, stderr: string): void => {
  if (/ack (RECEIVED|PERSISTED)/.test(stderr) && !stopped.has(child)) {
    stopped.add(child);
    child.kill('SIGINT');
  }
};
const stopped = new WeakSet<object>();

contractTable('media, ffmpeg and sources', [
  {
    name: 'a missing file',
    args: put('/nonexistent/clip.mkv'),
    exit: 7,
    error: /cannot open \/nonexistent\/clip\.mkv: no such file/,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 0 },
  },
  {
    name: 'an empty file',
    args: () => put(writtenFile('empty.mkv', Buffer.alloc(0))),
    exit: 3,
    error: /empty\.mkv: .*the input is empty/,
    hint: /the file is empty/,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 0 },
  },
  {
    name: 'random bytes named .mkv: no remux recipe for garbage',
    args: () => put(writtenFile('random.mkv', noise(64 * 1024))),
    exit: 3,
    error: /random\.mkv: Invalid MKV at byte 0/,
    hint: /no media file kvs-put knows/,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 0 },
  },
  {
    name: 'an MP4 named .mkv: the hint says what it is',
    args: () => put(writtenFile('mp4.mkv', readFileSync(mp4()))),
    needs: ['ffmpeg'],
    exit: 3,
    error: /mp4\.mkv: Invalid MKV at byte 0/,
    hint: /looks like an MP4\/MOV file/,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 0 },
  },
  {
    name: 'an MKV file cut short uploads what it holds, and says so',
    args: put(fixture('truncated.mkv')),
    exit: 3,
    error: /truncated\.mkv: Invalid MKV at byte \d+/,
    hint: /the 1 fragment read before the damage was sent/,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 1 },
  },
  {
    name: 'a VP8 file is refused with the way out',
    args: put(fixture('vp8.mkv')),
    exit: 3,
    error: /vp8\.mkv: codec V_VP8/,
    hint: /--transcode/,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 0 },
  },
  {
    name: 'an audio-only MKV needs a video track, not --transcode',
    args: () => put(audioOnly('mka')),
    needs: ['ffmpeg'],
    exit: 3,
    error: /audio\.mka: no video track — KVS needs a video track/,
    notStderr: /--transcode/,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 0 },
  },
  {
    name: 'an audio-only M4A needs a video track (not hundreds of one-frame fragments)',
    args: () => put(audioOnly('m4a')),
    needs: ['ffmpeg'],
    exit: 3,
    error: /audio\.m4a: no video track — KVS needs a video track/,
    notStderr: /--transcode/,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 0 },
  },
  {
    name: 'a 25 s GOP: the fragment over the limit is named, the hint re-encodes',
    args: put(fixture('long-gop.mkv')),
    exit: 3,
    error: /1 fragment not sent: fragment lasts 25\.0 s, over the 20 s limit/,
    hint: /--transcode --keyframe-interval 2/,
    notStderr: /ffmpeg -g 60/,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 1 },
  },
  {
    name: 'a 25 s GOP uploads whole as the hint says',
    args: [...put(fixture('long-gop.mkv')), '--transcode', '--keyframe-interval', '2'],
    needs: ['ffmpeg'],
    exit: 0,
    error: null,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 'some' },
  },
  {
    name: 'HEVC uploads',
    args: put(fixture('hevc.mkv')),
    exit: 0,
    error: null,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 2 },
  },
  {
    name: 'B-frames upload',
    args: put(fixture('bframes.mkv')),
    exit: 0,
    error: null,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 2 },
  },
  {
    name: 'an MP4 uploads',
    args: () => put(mp4()),
    needs: ['ffmpeg'],
    exit: 0,
    error: null,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 3 },
  },
  {
    name: 'a MOV uploads',
    args: () => put(mov()),
    needs: ['ffmpeg'],
    exit: 0,
    error: null,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 3 },
  },
  {
    name: 'an MPEG-TS recording with ADTS AAC uploads, its audio encoded',
    args: () => put(ts()),
    needs: ['ffmpeg'],
    exit: 0,
    error: null,
    stderr: /encoding audio to AAC/,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 3 },
  },
  {
    name: 'ffmpeg failing says why: --audio copy of ADTS AAC',
    args: () => [...put(ts()), '--audio', 'copy'],
    needs: ['ffmpeg'],
    exit: 7,
    error: /ffmpeg exited with code 1: \[matroska\] Error parsing AAC extradata/,
    notStderr: /Error initializing output stream/,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 0 },
  },
  {
    name: 'an upper-case RTSP scheme is accepted, and the password never shows',
    args: async () => ['--stream', 's', '--rtsp', await upperCaseRtspUrl(), '-v'],
    needs: ['ffmpeg', 'rtsp-server'],
    during: stopAfterFirstAck,
    // A live run stopped by Ctrl+C after storing fragments ends well (the README's exit table).
    exit: 0,
    error: null,
    stderr: /^capturing rtsp rtsp:\/\/admin:\*\*\*@127\.0\.0\.1:/m,
    notStderr: /s3cret|RTSP:|Did you mean/,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 'some' },
  },
  {
    name: 'an RTSP URL without a host is a usage error',
    args: ['--stream', 's', '--rtsp', 'rtsp:///x'],
    exit: 2,
    error: /^kvs-put: --rtsp: rtsp:\/\/\/x has no host$/,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 0 },
  },
  {
    name: 'a malformed RTSP URL names the flag and hides the password',
    args: ['--stream', 's', '--rtsp', 'rtsp://admin:s3cret@cam:99999/live'],
    exit: 2,
    error: /^kvs-put: --rtsp: rtsp:\/\/admin:\*\*\*@cam:99999\/live is not a valid URL$/,
    hint: /percent-encoded/,
    notStderr: /s3cret/,
    streams: { s: 1 },
  },
  {
    name: 'an RTSP flag with another scheme',
    args: ['--stream', 's', '--rtsp', 'http://admin:s3cret@cam/live'],
    exit: 2,
    error: /^kvs-put: --rtsp takes an rtsp:\/\/ or rtsps:\/\/ URL, not http:\/\/admin:\*\*\*@cam\/live$/,
    notStderr: /s3cret/,
    streams: { s: 1 },
  },
  {
    name: 'a missing camera',
    args: ['--stream', 's', '--device', '/dev/nope'],
    exit: 7,
    error: /^kvs-put: camera \/dev\/nope: no such device$/,
    hint: /^ {2}hint: (there is no \/dev\/video\* device here|the video devices here are)[^;]*$/,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 0 },
  },
  {
    name: 'a device that captures no video: refused before capture, one sentence of hint',
    args: ['--stream', 's', '--device', '/dev/null'],
    needs: ['ffmpeg'],
    notStderr: /capturing|encoding/,
    exit: 7,
    error: /^kvs-put: \/dev\/null is not a video capture device$/,
    hint: /^ {2}hint: (there is no \/dev\/video\* device here|the video devices here are)[^;]*$/,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 0 },
  },
  {
    name: 'inspect refuses what put refuses: VP8',
    args: ['inspect', fixture('vp8.mkv')],
    exit: 3,
    error: /vp8\.mkv: codec V_VP8/,
    hint: /--transcode/,
  },
  {
    name: 'inspect refuses what put refuses: a 25 s GOP',
    args: ['inspect', fixture('long-gop.mkv')],
    exit: 3,
    error: /1 fragment not sent: fragment lasts 25\.0 s/,
    hint: /--transcode --keyframe-interval 2/,
  },
  {
    name: 'inspect reads an MPEG-TS recording as put does (through ffmpeg)',
    args: () => ['inspect', ts()],
    needs: ['ffmpeg'],
    exit: 0,
    error: null,
    check: (result) => {
      expect(result.stdout).toMatch(/through ffmpeg, as put reads it: encoding audio to AAC/);
      expect(result.stdout).toMatch(/^3 fragments, /m);
    },
  },
  {
    name: 'inspect reads an MP4 as put does',
    args: () => ['inspect', mp4()],
    needs: ['ffmpeg'],
    exit: 0,
    error: null,
    check: (result) => {
      expect(result.stdout).toMatch(/^3 fragments, /m);
    },
  },
  {
    name: 'inspect of audio alone says KVS needs a video track',
    args: () => ['inspect', audioOnly('m4a')],
    needs: ['ffmpeg'],
    exit: 3,
    error: /audio\.m4a: no video track/,
  },
  {
    name: 'frames before the first key frame: counted, warned about, the clip named',
    args: [...put(fixture('nonkey-start.mkv')), '--json'],
    exit: 0,
    error: null,
    stderr: /^warning: clip .*nonkey-start\.mkv: frames not sent: 35 before the first key frame$/m,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 1 },
    check: (result) => {
      const summary = ndjson(result.stdout).find((record) => record['event'] === 'summary');
      expect(summary?.['framesNotSent']).toEqual({
        beforeFirstKeyFrame: 35,
        late: 0,
        otherTracks: 0,
        leadingPictures: 0,
      });
    },
  },
  {
    name: "a B-frame's late audio frame is a note naming the clip, not a warning",
    args: () => put(mp4()),
    needs: ['ffmpeg'],
    exit: 0,
    error: null,
    stderr: /^note: clip .*clip\.mp4: frames not sent: 1 too late for their fragment$/m,
    notStderr: /^warning:/m,
    streams: { s: 1 },
    stored: { stream: 's', fragments: 3 },
  },
  {
    name: 'inspect of a damaged file names it and says what put would send',
    args: ['inspect', fixture('truncated.mkv')],
    exit: 3,
    error: /truncated\.mkv: Invalid MKV at byte 19368/,
    hint: /the 1 fragment read before the damage would be sent by put/,
  },
]);
