/**
 * `--json` as a contract: whatever happens, stdout ends with exactly one `summary` record, and a failed
 * run's summary carries the error code its `kvs-put:` line stands for. Every record is checked against
 * docs/events.schema.json on the way (ndjson()).
 */
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ErrorCode } from '../../src/errors.js';
import type { ProcessResult } from '../helpers/kvs-put-process.js';
import { ndjson } from '../helpers/kvs-put-process.js';
import { FIXTURES } from '../helpers/paths.js';
import { contractTable } from './contract-table.js';

const CLIP = join(FIXTURES, 'h264.mkv');

/** The one summary, on stdout's last line; its error's code (`undefined`: it must have none). */
const expectSummaryLast = (result: ProcessResult, code: ErrorCode | undefined): Record<string, unknown> => {
  const records = ndjson(result.stdout);
  const lines = result.stdout.trimEnd().split('\n');
  const summaries = records.filter((record) => record['event'] === 'summary');
  expect(summaries, `one summary; stdout:\n${result.stdout}`).toHaveLength(1);
  const summary = summaries[0]!;
  expect(JSON.parse(lines.at(-1) ?? 'null'), 'the summary is the last line').toEqual(summary);
  if (code === undefined) {
    expect(summary['error']).toBeUndefined();
  } else {
    expect(summary['error']).toMatchObject({ code });
    // The record's message is the stderr line's.
    const message = (summary['error'] as { message: string }).message;
    expect(result.stderr).toContain(`kvs-put: ${message}\n`);
  }
  return summary;
};

contractTable('--json: one summary, last, on every path', [
  {
    name: 'a missing stream: a summary with KVS_STREAM_NOT_FOUND and nothing counted',
    args: ['--json', '--stream', 'absent', '--file', CLIP],
    exit: 5,
    error: /stream absent not found/,
    hint: /--create/,
    check: (result) => {
      const summary = expectSummaryLast(result, 'KVS_STREAM_NOT_FOUND');
      expect(summary).toMatchObject({ fragments: 0, connections: 0, isInterrupted: false });
      // Nothing ran: no human summary line on stderr either, only the error.
      expect(result.stderr).not.toMatch(/fragments?:/);
    },
  },
  {
    name: 'credentials refused: a summary with KVS_CREDENTIALS',
    args: ['--json', '--create', '--stream', 'creds', '--file', CLIP],
    env: { AWS_SECRET_ACCESS_KEY: 'not-the-secret' },
    exit: 4,
    error: /InvalidSignatureException/,
    hint: /AWS_SECRET_ACCESS_KEY/,
    stored: { stream: 'creds', fragments: 0 },
    check: (result) => {
      expectSummaryLast(result, 'KVS_CREDENTIALS');
    },
  },
  {
    name: 'failure after retries: a summary with KVS_UPLOAD and the fragments that were not sent',
    args: ['--json', '--stream', 'down', '--max-retries', '1', '--retry-delay', '0', '--file', CLIP],
    streams: { down: 1 },
    kvsOptions: {
      faults: { putMedia: [{ refuse: { type: 'InternalFailure', statusCode: 500 }, times: 'always' }] },
    },
    exit: 6,
    error: /upload failed after 2 failed connection attempts: PutMedia refused: HTTP 500/,
    stored: { stream: 'down', fragments: 0 },
    check: (result) => {
      const summary = expectSummaryLast(result, 'KVS_UPLOAD');
      // The session's counts survive its failure: what never left is "not sent".
      expect(summary['notSent']).toBeGreaterThan(0);
      expect(summary).toMatchObject({ persisted: 0, unacknowledged: 0, retries: 1 });
      expect(ndjson(result.stdout).filter((record) => record['event'] === 'retry')).toHaveLength(1);
    },
  },
  {
    name: 'an ERROR ack skips a fragment: skipped is a count, the fragment is in skippedFragments',
    args: ['--json', '--stream', 'skip', '--file', CLIP],
    streams: { skip: 0 },
    kvsOptions: { faults: { putMedia: [{ errorAtFragment: { fragment: 2, errorId: 4002 } }] } },
    exit: 6,
    error: /^kvs-put: 1 fragment refused by KVS, 0 sent, not acknowledged$/,
    stored: { stream: 'skip', fragments: 2 },
    check: (result) => {
      const summary = expectSummaryLast(result, 'KVS_UPLOAD');
      expect(summary).toMatchObject({ fragments: 3, received: 2, skipped: 1 });
      expect(summary['skippedFragments']).toMatchObject([{ sequence: 1, skipErrorId: 4002 }]);
      expect(result.stderr).toMatch(/^3 fragments: .* 1 skipped.*over 2 connections, 1 retry\b/m);
    },
  },
  {
    name: 'bad media (VP8): a summary with KVS_MKV_UNSUPPORTED',
    args: ['--json', '--stream', 'vp8', '--file', join(FIXTURES, 'vp8.mkv')],
    streams: { vp8: 1 },
    exit: 3,
    error: /codec V_VP8/,
    hint: /--transcode/,
    stored: { stream: 'vp8', fragments: 0 },
    check: (result) => {
      expectSummaryLast(result, 'KVS_MKV_UNSUPPORTED');
    },
  },
  {
    name: 'a truncated file: what was read is stored, the summary has KVS_MKV_PARSE and sourceError',
    args: ['--json', '--stream', 'cut', '--file', join(FIXTURES, 'truncated.mkv')],
    streams: { cut: 1 },
    exit: 3,
    error: /Invalid MKV at byte \d+/,
    stored: { stream: 'cut', fragments: 1 },
    check: (result) => {
      const summary = expectSummaryLast(result, 'KVS_MKV_PARSE');
      expect(summary).toMatchObject({ fragments: 1, persisted: 1 });
      expect(summary['sourceError']).toMatch(/Invalid MKV/);
      expect(result.stderr).toMatch(/^1 fragment: 1 persisted,.* over 1 connection, 0 retries/m);
    },
  },
  {
    name: 'a fragment over the service limits: a summary with KVS_FRAGMENT and refused counted',
    args: ['--json', '--stream', 'gop', '--file', join(FIXTURES, 'long-gop.mkv')],
    streams: { gop: 1 },
    exit: 3,
    error: /^kvs-put: 1 fragment not sent: fragment lasts 25\.0 s, over the 20 s limit/,
    hint: /key frame/,
    check: (result) => {
      expect(expectSummaryLast(result, 'KVS_FRAGMENT')).toMatchObject({ refused: 1 });
    },
  },
  {
    name: 'a missing file: a summary with KVS_IO',
    args: ['--json', '--stream', 'nofile', '--file', 'no-such-clip.mkv'],
    streams: { nofile: 1 },
    exit: 7,
    error: /no-such-clip\.mkv/,
    check: (result) => {
      expectSummaryLast(result, 'KVS_IO');
    },
  },
  {
    name: 'two sources, refused before the run: a summary with KVS_USAGE all the same',
    args: ['--json', '--stream', 'two', '--file', CLIP, '--testsrc'],
    exit: 2,
    error: /give one source, not --file and --testsrc/,
    check: (result) => {
      expect(expectSummaryLast(result, 'KVS_USAGE')).toMatchObject({ fragments: 0 });
    },
  },
  {
    name: 'a command line that cannot be parsed: no run, so no record (docs/events.md)',
    args: ['--json', '--stream', 'x', '--file', CLIP, '--no-such-flag'],
    exit: 2,
    error: /unknown option '--no-such-flag'/,
    check: (result) => {
      expect(result.stdout).toBe('');
    },
  },
  {
    name: 'Ctrl+C during a file upload: exit 130, the summary says interrupted',
    args: ['--json', '--stream', 'int', '--max-rate', '0.03', '--file', CLIP],
    streams: { int: 1 },
    during: (() => {
      let isSent = false;
      return (child: { kill: (signal: NodeJS.Signals) => boolean }, stderr: string) => {
        // Once the first fragment is stored: the rest is still on its way (--max-rate).
        if (!isSent && /ack PERSISTED/.test(stderr)) {
          isSent = true;
          child.kill('SIGINT');
        }
      };
    })(),
    exit: 130,
    error: /^kvs-put: interrupted: [1-2] of 3 fragments stored, [1-2] fragments? not sent$/,
    check: (result) => {
      // The library's summary is not a failure (the run was stopped); the CLI's exit code says 130.
      const summary = expectSummaryLast(result, undefined);
      expect(summary['isInterrupted']).toBe(true);
      expect(summary['persisted']).toBeGreaterThan(0);
    },
  },
  {
    name: 'a clean upload: the summary is last, without error, not interrupted',
    args: ['--json', '--stream', 'ok', '--file', CLIP],
    streams: { ok: 1 },
    exit: 0,
    error: null,
    stored: { stream: 'ok', fragments: 3 },
    check: (result) => {
      const summary = expectSummaryLast(result, undefined);
      expect(summary).toMatchObject({
        fragments: 3,
        persisted: 3,
        skipped: 0,
        notSent: 0,
        isInterrupted: false,
      });
      expect(ndjson(result.stdout)[0]).toMatchObject({ event: 'start', description: '1 clip' });
    },
  },
  {
    name: 'a live run ended by --duration is not interrupted',
    args: ['--json', '--stream', 'live', '--testsrc', '--video-size', '320x240', '--duration', '3'],
    streams: { live: 1 },
    needs: ['ffmpeg'],
    exit: 0,
    error: null,
    stored: { stream: 'live', fragments: 'some' },
    check: (result) => {
      expect(expectSummaryLast(result, undefined)).toMatchObject({ isInterrupted: false, notSent: 0 });
    },
  },
]);
