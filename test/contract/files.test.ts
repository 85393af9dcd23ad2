/**
 * Files and folders kvs-put cannot use, as the failure-contract table: each is exit 7 with the path and a
 * sentence, never exit 1 "internal error". CI runs as root, so the rows use failures root meets too (a file
 * where a folder belongs, /proc); the permission row runs only as another user.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES } from '../helpers/paths.js';
import { contractTable } from './contract-table.js';
import type { ContractRow } from './contract-table.js';

const CLIP = join(FIXTURES, 'h264.mkv');
const isRoot = process.getuid?.() === 0;

const escaped = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A folder holding a folder named like a clip: a file expected, a folder found. */
const folderNamedLikeAClip = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-put-folder-clip-'));
  mkdirSync(join(dir, 'clip.mkv'));
  return dir;
};

const rows: ContractRow[] = [
  {
    name: '--dump-dir is a file',
    args: ['--stream', 's1', '--file', CLIP, '--dump-dir', CLIP],
    streams: { s1: 0 },
    exit: 7,
    error: new RegExp(`^kvs-put: --dump-dir ${escaped(CLIP)} is a file, not a folder$`),
    stored: { stream: 's1', fragments: 0 },
  },
  {
    name: '--dump-dir under a file (ENOTDIR)',
    args: ['--stream', 's1', '--file', CLIP, '--dump-dir', join(CLIP, 'sessions')],
    streams: { s1: 0 },
    exit: 7,
    error:
      /^kvs-put: cannot create --dump-dir .*h264\.mkv\/sessions: a part of the path is a file, not a folder$/,
    stored: { stream: 's1', fragments: 0 },
  },
  {
    name: '--dump-dir where nothing can be created (/proc): no spin, exit 7',
    args: ['--stream', 's1', '--file', CLIP, '--dump-dir', '/proc/kvs-put-nope/x'],
    streams: { s1: 0 },
    exit: 7,
    error: /^kvs-put: cannot create --dump-dir \/proc\/kvs-put-nope\/x: no such file$/,
    timeoutMs: 20_000,
  },
  {
    name: 'kvs-put local --data-dir is a file',
    args: ['local', '--port', '0', '--data-dir', CLIP],
    exit: 7,
    error: new RegExp(`^kvs-put: --data-dir ${escaped(CLIP)} is a file, not a folder$`),
    timeoutMs: 20_000,
  },
  {
    name: 'kvs-put local --data-dir where nothing can be created',
    args: ['local', '--port', '0', '--data-dir', '/proc/kvs-put-nope/data'],
    exit: 7,
    error: /^kvs-put: cannot create --data-dir \/proc\/kvs-put-nope\/data: no such file$/,
    timeoutMs: 20_000,
  },
  {
    name: 'a folder named like a clip inside --file FOLDER',
    args: () => ['--stream', 's1', '--file', folderNamedLikeAClip()],
    streams: { s1: 0 },
    exit: 7,
    error: /^kvs-put: .*clip\.mkv is a directory, not a media file$/,
    stored: { stream: 's1', fragments: 0 },
  },
  {
    name: 'a user cache dir that is a file costs start-up time, nothing else',
    args: ['--stream', 's1', '--file', CLIP],
    env: { XDG_CACHE_HOME: CLIP },
    streams: { s1: 0 },
    exit: 0,
    error: null,
    stored: { stream: 's1', fragments: 3 },
  },
];

rows.push({
  // Root reads any file: the row needs another user (a developer's machine, not CI, whose errno mapping
  // test/util/media-file.test.ts covers).
  ...(isRoot ? { skipReason: 'run as root, who can read a file of mode 000' } : {}),
  name: 'an unreadable file: exit 7 with the path, not "internal error"',
  args: () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kvs-put-unreadable-')), 'secret.mkv');
    copyFileSync(CLIP, path);
    chmodSync(path, 0o000);
    return ['--stream', 's1', '--file', path];
  },
  streams: { s1: 0 },
  exit: 7,
  error: /^kvs-put: cannot open .*secret\.mkv: permission denied$/,
  stored: { stream: 's1', fragments: 0 },
});

contractTable('files and folders kvs-put cannot use', rows);
