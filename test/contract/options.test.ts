// Bad times, rates and folders: each refused before anything is uploaded.
import { copyFileSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contractTable } from './contract-table.js';
import { FIXTURES } from '../helpers/paths.js';

const CLIP = join(FIXTURES, 'h264.mkv');

/** A folder holding two copies of one clip with the same mtime: without --start-time they overlap. */
const overlappingFolder = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-contract-overlap-'));
  const when = new Date('2026-03-01T10:00:00Z');
  for (const name of ['a.mkv', 'b.mkv']) {
    copyFileSync(CLIP, join(dir, name));
    utimesSync(join(dir, name), when, when);
  }
  return dir;
};

const folderWith = (files: Record<string, string>): string => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-contract-folder-'));
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(dir, name), text);
  }
  return dir;
};

const live = ['--stream', 'live', '--create', '--testsrc', '--duration', '2'];

contractTable('bad times, rates and folders', [
  {
    name: 'overlapping clips in a folder',
    args: () => ['--stream', 'folder', '--create', '--file', overlappingFolder()],
    exit: 2,
    error: /^kvs-put: clips overlap in time: [ab]\.mkv \(.*\) and [ab]\.mkv/,
    stored: { stream: 'folder', fragments: 0 },
  },
  {
    name: 'an empty folder',
    args: () => ['--stream', 'folder', '--create', '--file', folderWith({})],
    exit: 7,
    error: /holds no media files/,
  },
  {
    name: 'a folder of text files only',
    args: () => ['--stream', 'folder', '--create', '--file', folderWith({ 'notes.txt': 'x', 'a.log': 'y' })],
    exit: 7,
    error: /holds no media files/,
  },
  {
    name: 'a start time that is not a time',
    args: ['--stream', 'clip', '--create', '--file', CLIP, '--start-time', 'yesterday'],
    exit: 2,
    error: /--start-time.*'yesterday' is invalid/,
    stored: { stream: 'clip', fragments: 0 },
  },
  {
    name: 'a negative upload rate',
    args: ['--stream', 'clip', '--file', CLIP, '--max-rate', '-1'],
    exit: 2,
    error: /--max-rate.*'-1' is invalid/,
  },
  {
    name: 'a fragment rate that is not a number',
    args: ['--stream', 'clip', '--file', CLIP, '--max-fragment-rate', 'fast'],
    exit: 2,
    error: /--max-fragment-rate.*'fast' is invalid/,
  },
  {
    name: 'a frame rate of 0',
    args: [...live, '--framerate', '0'],
    exit: 2,
    error: /frame rate must be more than 0/,
    stored: { stream: 'live', fragments: 0 },
  },
  {
    name: 'a bitrate out of range',
    args: [...live, '--bitrate', '0'],
    exit: 2,
    error: /video bitrate must be an integer from 16/,
  },
  {
    name: 'a key frame interval over the 20 s fragment limit',
    args: [...live, '--keyframe-interval', '30'],
    exit: 2,
    error: /key frame interval 30 s is longer than the 20 s/,
    hint: /--keyframe-interval 2/,
  },
  {
    name: 'a cluster length under 10 ms',
    args: [...live, '--cluster-ms', '5'],
    exit: 2,
    error: /cluster length must be an integer from 10 to 1000 ms/,
  },
  {
    name: 'a malformed video size',
    args: [...live, '--video-size', '12x'],
    exit: 2,
    error: /video size must be WIDTHxHEIGHT/,
  },
  {
    name: 'two sources at once',
    args: ['--stream', 'clip', '--file', CLIP, '--testsrc'],
    exit: 2,
    error: /give one source, not --file and --testsrc/,
  },
  {
    name: 'inspect: a start time in the future, as put refuses it',
    args: ['inspect', CLIP, '--start-time', '2099-01-01T00:00:00Z'],
    exit: 2,
    error: /^kvs-put: --start-time 2099-01-01T00:00:00\.000Z is in the future$/,
    hint: /or earlier/,
  },
  {
    name: 'local: a port in use',
    args: ({ kvs }) => ['local', '--port', new URL(kvs.url).port],
    exit: 7,
    error: /^kvs-put: cannot listen on 127\.0\.0\.1:\d+: address in use$/,
    hint: /--port 0/,
  },
  {
    name: 'local: an address that is not this machine',
    args: ['local', '--host', '999.1.1.1', '--port', '0'],
    exit: 7,
    error: /^kvs-put: cannot listen on 999\.1\.1\.1:0: no such address on this machine$/,
    hint: /check --host/,
  },
  {
    name: 'local: a missing fault plan',
    args: ['local', '--port', '0', '--faults', '/nonexistent/plan.json'],
    exit: 7,
    error: /^kvs-put: cannot read the fault plan \/nonexistent\/plan\.json: no such file$/,
  },
  {
    name: 'local: a fault plan that is not JSON',
    args: () => [
      'local',
      '--port',
      '0',
      '--faults',
      join(folderWith({ 'plan.json': 'not json' }), 'plan.json'),
    ],
    exit: 2,
    error: /^kvs-put: invalid fault plan .*plan\.json: not valid JSON/,
    hint: /docs\/local-kvs\.md/,
  },
  {
    name: 'local: an access key without its secret',
    args: ['local', '--port', '0', '--access-key-id', 'AKIDX'],
    exit: 2,
    error: /^kvs-put: --access-key-id and --secret-access-key go together$/,
  },
]);
