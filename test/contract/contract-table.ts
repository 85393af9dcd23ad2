/**
 * The CLI's failure contract as a table: each row is a real `kvs-put` command (the bundled binary, a
 * real local KVS over loopback, real ffmpeg) with the exit code it must end with, its one `kvs-put:`
 * error line, an optional `hint:` line, and what the local KVS stored afterwards.
 */
import type { ChildProcess } from 'node:child_process';
import { CreateStreamCommand, KinesisVideoClient } from '@aws-sdk/client-kinesis-video';
import { describe, expect, it } from 'vitest';
import { startLocalKvs } from '../../src/emulator/local-kvs.js';
import type { LocalKvs, LocalKvsOptions } from '../../src/emulator/local-kvs.js';
import { hasTool } from '../helpers/paths.js';
import { hasRtspServer } from '../helpers/rtsp-server.js';
import { ensureBuilt, localKvsEnv, runKvsPut } from '../helpers/kvs-put-process.js';
import type { ProcessResult } from '../helpers/kvs-put-process.js';

export type RowContext = {
  /** A local KVS started for this row (undefined when the row sets `kvs: false`). */
  readonly kvs: LocalKvs;
  /** The environment pointing kvs-put at that local KVS. */
  readonly env: Record<string, string>;
};

export type ContractRow = {
  readonly name: string;
  /** The command line after `kvs-put`, or a function of the row's context. */
  readonly args:
    readonly string[] | ((context: RowContext) => readonly string[] | Promise<readonly string[]>);
  /** Extra environment, or replacements for the local KVS's (a value of '' removes the variable). */
  readonly env?: Record<string, string> | ((context: RowContext) => Record<string, string>);
  readonly exit: number;
  /** What the one `kvs-put:` line must match; `null` when the run must print none (success). */
  readonly error: RegExp | null;
  readonly hint?: RegExp;
  /** Other stderr text that must (or, under `not`, must not) appear. */
  readonly stderr?: RegExp;
  readonly notStderr?: RegExp;
  /** Fragments the local KVS must hold in this stream afterwards. */
  readonly stored?: { readonly stream: string; readonly fragments: number | 'some' };
  /**
   * System tools the row needs; it is skipped with a printed reason when one is absent. `rtsp-server` is
   * the GStreamer RTSP server of test/helpers/rtsp-server.ts.
   */
  readonly needs?: readonly string[];
  /** Why the row cannot run here (printed, and the row skipped); undefined when it can. */
  readonly skipReason?: string;
  readonly kvsOptions?: LocalKvsOptions;
  /** Streams created before the run: name → retention hours. */
  readonly streams?: Readonly<Record<string, number>>;
  /** Runs against the child while it runs (signals, killing the local KVS). */
  readonly during?: (
    child: { kill: (signal: NodeJS.Signals) => boolean },
    stderr: string,
    context: RowContext,
  ) => void;
  /** Runs once the child is spawned: signals on a timer, closing its stdout, for phases that print nothing. */
  readonly started?: (child: ChildProcess, context: RowContext) => void;
  readonly stdin?: Buffer;
  /** The folder kvs-put runs in. @default the repository root */
  readonly cwd?: (context: RowContext) => string;
  readonly timeoutMs?: number;
  /** Further checks on the result. */
  readonly check?: (result: ProcessResult, context: RowContext) => void | Promise<void>;
};

const STACK_LINE = /^\s+at .+\(?.*:\d+:\d+\)?$/m;

const storedCount = (kvs: LocalKvs, stream: string): number => {
  const record = kvs.store.findByName({ accountId: kvs.accountId, region: kvs.region }, stream);
  return record === undefined ? 0 : kvs.media.list(record).length;
};

const envOf = (row: ContractRow, context: RowContext): Record<string, string> => {
  const extra = typeof row.env === 'function' ? row.env(context) : (row.env ?? {});
  const env: Record<string, string> = { ...context.env, ...extra };
  for (const [key, value] of Object.entries(env)) {
    if (value === '') {
      delete env[key];
    }
  }
  return env;
};

/** Asserts the shape every failing (or succeeding) run's stderr must have. */
export const expectContract = (row: ContractRow, result: ProcessResult): void => {
  const lines = result.stderr.split('\n');
  const errorLines = lines.filter((line) => line.startsWith('kvs-put:'));
  expect(result.stderr, 'no stack trace').not.toMatch(STACK_LINE);
  expect(result.code, `exit code; stderr:\n${result.stderr}`).toBe(row.exit);
  if (row.error === null) {
    expect(errorLines, 'no error line').toEqual([]);
  } else {
    expect(errorLines, `exactly one kvs-put: line; stderr:\n${result.stderr}`).toHaveLength(1);
    expect(errorLines[0]).toMatch(row.error);
    const at = lines.indexOf(errorLines[0] ?? '');
    const after = lines.slice(at + 1).filter((line) => line.trim() !== '');
    // At most a hint follows the error line.
    expect(after.length, `only a hint after the error; stderr:\n${result.stderr}`).toBeLessThanOrEqual(1);
    if (after.length === 1) {
      expect(after[0]).toMatch(/^ {2}hint: /);
    }
    if (row.hint !== undefined) {
      expect(after[0] ?? '', 'hint').toMatch(row.hint);
    }
  }
  if (row.stderr !== undefined) {
    expect(result.stderr).toMatch(row.stderr);
  }
  if (row.notStderr !== undefined) {
    expect(result.stderr).not.toMatch(row.notStderr);
  }
};

/** Runs one row: a fresh local KVS, the command, then the assertions. */
export const runRow = async (row: ContractRow): Promise<ProcessResult> => {
  const kvs = await startLocalKvs(row.kvsOptions ?? {});
  try {
    for (const [stream, hours] of Object.entries(row.streams ?? {})) {
      const control = new KinesisVideoClient({
        endpoint: kvs.url,
        region: kvs.region,
        credentials: kvs.credentials,
      });
      await control.send(new CreateStreamCommand({ StreamName: stream, DataRetentionInHours: hours }));
      control.destroy();
    }
    const context: RowContext = { kvs, env: localKvsEnv(kvs) };
    const args = typeof row.args === 'function' ? await row.args(context) : row.args;
    const result = await runKvsPut([...args], {
      env: envOf(row, context),
      timeoutMs: row.timeoutMs ?? 60_000,
      ...(row.stdin === undefined ? {} : { stdin: row.stdin }),
      ...(row.started === undefined
        ? {}
        : { onSpawn: (child: ChildProcess) => row.started?.(child, context) }),
      ...(row.cwd === undefined ? {} : { cwd: row.cwd(context) }),
      ...(row.during === undefined
        ? {}
        : {
            onStderr: (() => {
              let seen = '';
              return (text: string, child: { kill: (signal: NodeJS.Signals) => boolean }) => {
                seen += text;
                row.during?.(child, seen, context);
              };
            })(),
          }),
    });
    expectContract(row, result);
    if (row.stored !== undefined) {
      const count = storedCount(kvs, row.stored.stream);
      if (row.stored.fragments === 'some') {
        expect(count, 'fragments stored').toBeGreaterThan(0);
      } else {
        expect(count, 'fragments stored').toBe(row.stored.fragments);
      }
    }
    await row.check?.(result, context);
    return result;
  } finally {
    await kvs.close();
  }
};

/** Declares a vitest suite of rows. */
export const contractTable = (title: string, rows: readonly ContractRow[]): void => {
  describe(title, () => {
    ensureBuilt();
    for (const row of rows) {
      const missing = (row.needs ?? []).filter((tool) =>
        tool === 'rtsp-server' ? !hasRtspServer() : !hasTool(tool),
      );
      if (row.skipReason !== undefined) {
        console.warn(`[skip] ${row.name}: ${row.skipReason}`);
      }
      it.skipIf(missing.length > 0 || row.skipReason !== undefined)(
        row.name,
        { timeout: (row.timeoutMs ?? 60_000) + 30_000 },
        async () => {
          await runRow(row);
        },
      );
    }
  });
};
