import { contractTable } from './contract-table.js';
import { FIXTURES } from '../helpers/paths.js';
import { join } from 'node:path';

const CLIP = join(FIXTURES, 'h264.mkv');

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
]);
