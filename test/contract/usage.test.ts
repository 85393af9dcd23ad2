import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contractTable } from './contract-table.js';
import { FIXTURES } from '../helpers/paths.js';

const CLIP = join(FIXTURES, 'h264.mkv');
const ARN = 'arn:aws:kinesisvideo:us-east-1:123456789012:stream/s1/1551924009774';

/** A folder holding the clip under a name that looks like a mistyped command. */
const folderWithFileNamed = (name: string): string => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-put-usage-'));
  copyFileSync(CLIP, join(dir, name));
  return dir;
};

contractTable('usage errors', [
  {
    name: 'a bad stream name',
    args: ['--stream', 'bad name!', '--file', CLIP],
    exit: 2,
    error: /stream names are 1–256 characters/,
    stored: { stream: 'bad name!', fragments: 0 },
  },
  {
    name: 'a missing stream without --create',
    args: ['--stream', 'absent', '--file', CLIP],
    exit: 5,
    error: /stream absent not found/,
    hint: /--create/,
  },
  {
    name: 'a clip uploads',
    args: ['--stream', 'ok', '--file', CLIP],
    streams: { ok: 1 },
    exit: 0,
    error: null,
    stored: { stream: 'ok', fragments: 3 },
  },
  {
    name: 'bare kvs-put prints the usage and exits 2',
    args: [],
    exit: 2,
    error: null,
    stderr: /^Usage: kvs-put \[options\] \[command\]/m,
  },
  {
    name: 'a mistyped command says so',
    args: ['puut', '--stream', 'x', '--file', CLIP],
    exit: 2,
    error: /^kvs-put: unknown command puut$/,
    hint: /did you mean put\?/,
    stored: { stream: 'x', fragments: 0 },
  },
  {
    name: 'a real file named like a mistyped command still uploads',
    args: ['--stream', 'typo', 'puut'],
    cwd: () => folderWithFileNamed('puut'),
    streams: { typo: 1 },
    needs: ['ffmpeg'],
    exit: 0,
    error: null,
    stored: { stream: 'typo', fragments: 'some' },
  },
  {
    name: '--stream with --stream-arn is refused',
    args: ['--stream', 's1', '--stream-arn', ARN, '--file', CLIP],
    streams: { s1: 1 },
    exit: 2,
    error: /--stream\b.* cannot be used with .*--stream-arn/,
    stored: { stream: 's1', fragments: 0 },
  },
  {
    name: '-v with -q is refused',
    args: ['-v', '-q', '--stream', 's1', '--file', CLIP],
    streams: { s1: 1 },
    exit: 2,
    error: /--verbose.* cannot be used with .*--quiet/,
    stored: { stream: 's1', fragments: 0 },
  },
  {
    name: 'a malformed --stream-arn is refused before any call',
    args: ['--stream-arn', 'nonsense', '--file', CLIP],
    exit: 2,
    error: /--stream-arn.*'nonsense'.*arn:aws:kinesisvideo:REGION:ACCOUNT:stream\/NAME\/CREATION_MS/,
    notStderr: /InvalidArgumentException|validation error/,
  },
  {
    name: '--retention-hours over 87600 is refused before CreateStream',
    args: ['--stream', 'long', '--create', '--retention-hours', '100000', '--file', CLIP],
    exit: 2,
    error: /--retention-hours takes 0 \(no archive\) to 87600 .*not 100000/,
    notStderr: /InvalidArgumentException/,
    check: (_result, { kvs }) => {
      if (kvs.store.findByName({ accountId: kvs.accountId, region: kvs.region }, 'long') !== undefined) {
        throw new Error('the stream was created');
      }
    },
  },
  {
    name: 'a malformed --media-type is refused before CreateStream',
    args: ['--stream', 'mt', '--create', '--media-type', 'h264', '--file', CLIP],
    exit: 2,
    error: /--media-type takes TYPE\/SUBTYPE.*"h264"/,
    hint: /video\/h264/,
  },
  {
    name: 'a reserved --stream-tag key is refused before CreateStream',
    args: ['--stream', 'tagged', '--create', '--stream-tag', 'aws:owner=me', '--file', CLIP],
    exit: 2,
    error: /--stream-tag key "aws:owner": tag keys are not starting with aws:/,
  },
  {
    name: 'a --start-time in the future is refused, not replaced by now',
    args: ['--stream', 'later', '--start-time', '2099-01-01T00:00:00Z', '--file', CLIP],
    streams: { later: 1 },
    exit: 2,
    error: /--start-time 2099-01-01T00:00:00\.000Z is in the future/,
    hint: /refuses producer times after now/,
    stored: { stream: 'later', fragments: 0 },
  },
  {
    name: 'a --start-time in epoch milliseconds is refused with the seconds',
    args: ['--stream', 'ms', '--start-time', '1700000000000', '--file', CLIP],
    streams: { ms: 1 },
    exit: 2,
    error: /--start-time 1700000000000 looks like epoch milliseconds/,
    hint: /--start-time 1700000000$/,
    stored: { stream: 'ms', fragments: 0 },
  },
  {
    name: 'a --start-time in epoch seconds uploads at that time',
    args: ['--stream', 'sec', '--start-time', '1700000000', '--file', CLIP, '-v'],
    streams: { sec: 1 },
    exit: 0,
    error: null,
    stderr: /starts 2023-11-14T22:13:20\.000Z/,
    stored: { stream: 'sec', fragments: 3 },
  },
  {
    name: '--create --retention-hours on an existing stream says it keeps its own',
    args: ['--stream', 'keep', '--create', '--retention-hours', '5', '--file', CLIP],
    streams: { keep: 1 },
    exit: 0,
    error: null,
    stderr:
      /^warning: stream keep exists with retention 1 h: --retention-hours 5 applies only to a stream --create makes$/m,
    stored: { stream: 'keep', fragments: 3 },
  },
]);
