/**
 * Signals and the lifecycle of a run, as the failure-contract table: SIGINT/SIGTERM in every phase (the
 * control plane, an endpoint that never answers, ffmpeg's start, a camera that never answers, retry
 * backoff, the final-ack wait), the second Ctrl+C, live runs that store nothing, closed pipes, and the local
 * KVS going away mid-upload. Real signals go to the real process.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { startLocalKvs } from '../../src/emulator/local-kvs.js';
import { ndjson } from '../helpers/kvs-put-process.js';
import { FIXTURES } from '../helpers/paths.js';
import { contractTable } from './contract-table.js';
import type { ContractRow, RowContext } from './contract-table.js';

const CLIP = join(FIXTURES, 'h264.mkv');
/** Where the local KVS that comes back finds what it stored before. */
const DATA_DIR = mkdtempSync(join(tmpdir(), 'kvs-put-data-'));

/** A server that accepts TCP and never answers: what a wrong port or a wedged proxy looks like. */
const silentServer = async (): Promise<{ port: number; close: () => void }> => {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const socket of sockets) {
        socket.destroy();
      }
      server.close();
    },
  };
};

/** Sends `signal` once, the first time stderr matches `pattern`. */
const signalOn = (pattern: RegExp, signal: NodeJS.Signals): NonNullable<ContractRow['during']> => {
  let isSent = false;
  return (child, stderr) => {
    if (!isSent && pattern.test(stderr)) {
      isSent = true;
      child.kill(signal);
    }
  };
};

/** Sends `signal` `afterMs` after the start: for phases that print nothing. */
const signalAfter =
  (afterMs: number, signal: NodeJS.Signals) =>
  (child: ChildProcess): void => {
    setTimeout(() => child.kill(signal), afterMs).unref();
  };

let silent: { port: number; close: () => void } | undefined;
/** The local KVS restarted by the row that kills it and brings it back. */
let back: Awaited<ReturnType<typeof startLocalKvs>> | undefined;

/** An ffmpeg that starts and never delivers a byte (a wedged binary, a slow network mount). */
const stuckFfmpeg = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-put-stuck-ffmpeg-'));
  const path = join(dir, 'ffmpeg');
  writeFileSync(path, '#!/bin/sh\nexec sleep 20\n');
  chmodSync(path, 0o755);
  return path;
};

const storedIn = (context: RowContext, stream: string): number => {
  const record = context.kvs.store.findByName(
    { accountId: context.kvs.accountId, region: context.kvs.region },
    stream,
  );
  return record === undefined ? 0 : context.kvs.media.list(record).length;
};

contractTable('signals and the lifecycle of a run', [
  {
    name: 'SIGTERM while DescribeStream does not answer',
    args: ['--stream', 's1', '--file', CLIP],
    kvsOptions: {
      faults: { controlPlane: [{ operations: ['DescribeStream'], delayMs: 60_000, times: 'always' }] },
    },
    started: signalAfter(1500, 'SIGTERM'),
    exit: 130,
    error: /^kvs-put: interrupted while looking up stream s1: nothing was sent$/,
    stderr: /^stopping \(Ctrl\+C again to quit now\)$/m,
    stored: { stream: 's1', fragments: 0 },
    timeoutMs: 20_000,
  },
  {
    name: 'SIGINT against an endpoint that accepts TCP and never answers',
    args: async () => {
      silent = await silentServer();
      return ['--stream', 's1', '--file', CLIP];
    },
    env: () => ({ AWS_ENDPOINT_URL_KINESIS_VIDEO: `http://127.0.0.1:${silent?.port ?? 1}` }),
    started: signalAfter(1500, 'SIGINT'),
    exit: 130,
    error: /^kvs-put: interrupted while looking up stream s1: nothing was sent$/,
    timeoutMs: 20_000,
    check: () => silent?.close(),
  },
  {
    name: 'SIGTERM while ffmpeg starts and delivers nothing',
    args: ['--stream', 'live', '--create', '--testsrc'],
    env: () => ({
      FFMPEG_PATH: stuckFfmpeg(),
      XDG_CACHE_HOME: mkdtempSync(join(tmpdir(), 'kvs-put-cache-')),
    }),
    started: signalAfter(2500, 'SIGTERM'),
    exit: 130,
    error: /^kvs-put: interrupted: the test pattern gave no video in \d+ s$/,
    stored: { stream: 'live', fragments: 0 },
    timeoutMs: 20_000,
  },
  {
    name: 'SIGTERM while an RTSP camera accepts the connection and never answers',
    args: async () => {
      silent = await silentServer();
      return ['--stream', 'cam', '--create', '--rtsp', `rtsp://127.0.0.1:${silent.port}/cam`];
    },
    needs: ['ffmpeg'],
    during: signalOn(/capturing rtsp/, 'SIGTERM'),
    exit: 130,
    error: /^kvs-put: interrupted: rtsp:\/\/127\.0\.0\.1:\d+\/cam gave no video in \d+ s/,
    stored: { stream: 'cam', fragments: 0 },
    timeoutMs: 20_000,
    check: () => silent?.close(),
  },
  {
    name: 'SIGINT during retry backoff',
    args: ['--stream', 's1', '--file', CLIP, '--retry-delay', '30000'],
    streams: { s1: 0 },
    kvsOptions: {
      faults: { putMedia: [{ refuse: { type: 'InternalFailure', statusCode: 500 }, times: 'always' }] },
    },
    during: signalOn(/retrying in/, 'SIGINT'),
    exit: 130,
    error: /^kvs-put: interrupted: 0 of 3 fragments stored, 3 fragments not sent$/,
    stderr: /^stopping \(Ctrl\+C again to quit now\)$/m,
    stored: { stream: 's1', fragments: 0 },
    timeoutMs: 20_000,
  },
  {
    name: 'SIGTERM during the final-ack wait: bounded by --stop-timeout',
    args: ['--stream', 's1', '--file', CLIP, '--stop-timeout', '1000'],
    streams: { s1: 0 },
    kvsOptions: { faults: { putMedia: [{ withholdAcks: { fromFragment: 1 }, times: 'always' }] } },
    started: signalAfter(2000, 'SIGTERM'),
    exit: 130,
    error: /^kvs-put: interrupted: 0 of 3 fragments stored, 3 fragments sent, not acknowledged$/,
    stderr: /^stopping: waiting up to 1 s for 3 acks \(Ctrl\+C again to quit now\)$/m,
    // The service holds what it did not acknowledge (each time the connection ended and it was sent again).
    stored: { stream: 's1', fragments: 'some' },
    timeoutMs: 20_000,
  },
  {
    name: 'a second Ctrl+C quits at once and says what was not acknowledged',
    args: ['--stream', 's1', '--file', CLIP, '--stop-timeout', '60000'],
    streams: { s1: 0 },
    // The service stops reading after fragment 1: the upload can neither finish nor stop by itself.
    kvsOptions: {
      faults: {
        putMedia: [{ withholdAcks: { fromFragment: 1 }, stall: { afterFragment: 1 }, times: 'always' }],
      },
    },
    started: signalAfter(2000, 'SIGINT'),
    during: signalOn(/^stopping: /m, 'SIGINT'),
    exit: 130,
    error: /^kvs-put: quit: [1-3] fragments? sent, not acknowledged(, [12] not sent)?$/,
    stderr: /^stopping: waiting up to 60 s for [1-3] acks? \(Ctrl\+C again to quit now\)$/m,
    timeoutMs: 20_000,
  },
  {
    name: 'one signal is enough: a run that cannot stop by itself quits after --stop-timeout plus 5 s',
    args: ['--stream', 's1', '--file', CLIP, '--stop-timeout', '1000'],
    streams: { s1: 0 },
    // The service stops reading mid-body: the write never completes, so neither does the stop.
    kvsOptions: {
      faults: { putMedia: [{ stall: { afterFragment: 1 }, withholdAcks: { fromFragment: 1 } }] },
    },
    started: signalAfter(2000, 'SIGTERM'),
    exit: 130,
    error: /^kvs-put: quit: [1-3] fragments? sent, not acknowledged(, [12] not sent)?$/,
    timeoutMs: 20_000,
  },
  {
    name: 'Ctrl+C ends a live run: its last fragment is flushed and acknowledged, exit 0',
    args: ['--stream', 'live', '--create', '--testsrc', '--json'],
    needs: ['ffmpeg'],
    during: signalOn(/ack RECEIVED +fragment #0/, 'SIGINT'),
    exit: 0,
    error: null,
    stderr:
      /^stopping: closing the last fragment, then waiting up to 10 s for \d+ acks? \(Ctrl\+C again to quit now\)$/m,
    stored: { stream: 'live', fragments: 'some' },
    timeoutMs: 30_000,
    check: (result, context) => {
      const summary = ndjson(result.stdout).find((record) => record['event'] === 'summary');
      expect(summary?.['isInterrupted']).toBe(true);
      expect(summary?.['unacknowledged']).toBe(0);
      // Nothing captured is lost: every fragment the summary counts is stored.
      expect(storedIn(context, 'live')).toBe(summary?.['fragments']);
    },
  },
  {
    name: 'Ctrl+C on a live run whose last acks never come: exit 130 after --stop-timeout',
    args: ['--stream', 'live', '--create', '--testsrc', '--stop-timeout', '1000'],
    needs: ['ffmpeg'],
    kvsOptions: { faults: { putMedia: [{ withholdAcks: { fromFragment: 2 }, times: 'always' }] } },
    during: signalOn(/ack RECEIVED +fragment #0/, 'SIGINT'),
    exit: 130,
    error: /^kvs-put: stopped: [1-9]\d* fragments? sent, not acknowledged within 1 s$/,
    stored: { stream: 'live', fragments: 'some' },
    timeoutMs: 30_000,
  },
  {
    name: '--duration ends a live run: not an interruption',
    args: ['--stream', 'live', '--create', '--testsrc', '--duration', '3', '--json'],
    needs: ['ffmpeg'],
    exit: 0,
    error: null,
    stored: { stream: 'live', fragments: 'some' },
    timeoutMs: 30_000,
    check: (result) => {
      const summary = ndjson(result.stdout).find((record) => record['event'] === 'summary');
      expect(summary?.['isInterrupted']).toBe(false);
    },
  },
  {
    name: 'an RTSP URL with nothing behind it: exit 7, not 0 with "0 fragments"',
    args: ['--stream', 'cam', '--create', '--rtsp', 'rtsp://127.0.0.1:1/x', '--duration', '3'],
    needs: ['ffmpeg'],
    exit: 7,
    error: /^kvs-put: rtsp:\/\/127\.0\.0\.1:1\/x gave no video in \d+ s: Connection refused$/,
    stored: { stream: 'cam', fragments: 0 },
    timeoutMs: 30_000,
  },
  {
    name: 'a closed stdout (--json | head -1) ends the output, not the upload',
    args: ['--stream', 's1', '--file', CLIP, '--json'],
    streams: { s1: 0 },
    started: (child) => {
      child.stdout?.once('data', () => child.stdout?.destroy());
    },
    exit: 0,
    error: null,
    stored: { stream: 's1', fragments: 3 },
  },
  {
    name: 'a closed stderr does not fail the upload',
    args: ['--stream', 's1', '--file', CLIP],
    streams: { s1: 0 },
    started: (child) => {
      child.stderr?.destroy();
    },
    exit: 0,
    error: null,
    stored: { stream: 's1', fragments: 3 },
  },
  {
    name: 'the local KVS killed mid-upload for good: exit 6 after the retries, what was stored kept',
    args: [
      '--stream',
      's1',
      '--file',
      CLIP,
      '--max-fragment-rate',
      '1',
      '--max-retries',
      '2',
      '--retry-delay',
      '100',
    ],
    streams: { s1: 0 },
    during: (() => {
      let isKilled = false;
      return (_child, stderr, context) => {
        if (!isKilled && /ack RECEIVED +fragment #0/.test(stderr)) {
          isKilled = true;
          void context.kvs.close();
        }
      };
    })(),
    exit: 6,
    error: /^kvs-put: upload failed after 3 failed connection attempts: .*; [12] of [23] fragments stored$/,
    stored: { stream: 's1', fragments: 'some' },
    timeoutMs: 30_000,
  },
  {
    name: 'the local KVS killed mid-upload and back on the same port: exit 0, every fragment stored',
    args: ['--stream', 's1', '--file', CLIP, '--max-fragment-rate', '1', '--retry-delay', '200'],
    kvsOptions: { dataDir: DATA_DIR },
    streams: { s1: 1 },
    during: (() => {
      let isKilled = false;
      return (_child, stderr, context) => {
        if (!isKilled && /ack PERSISTED +fragment #0/.test(stderr)) {
          isKilled = true;
          const port = Number(new URL(context.kvs.url).port);
          void context.kvs.close().then(async () => {
            back = await startLocalKvs({ port, dataDir: DATA_DIR });
          });
        }
      };
    })(),
    exit: 0,
    error: null,
    stderr: /retrying in/,
    timeoutMs: 30_000,
    check: async () => {
      const kvs = back;
      back = undefined;
      expect(kvs, 'the local KVS came back').toBeDefined();
      if (kvs !== undefined) {
        const record = kvs.store.findByName({ accountId: kvs.accountId, region: kvs.region }, 's1');
        expect(record === undefined ? 0 : kvs.media.list(record).length).toBe(3);
        await kvs.close();
      }
    },
  },
]);
