import type { Readable } from 'node:stream';

/** Where a CLI run reads and writes: injected so tests can run the CLI in-process. */
export type CliIo = {
  stdout: { write(text: string | Uint8Array): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  stdin: Readable;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** Aborted on a second SIGINT/SIGTERM: quit now, saying what is lost. */
  quitSignal?: AbortSignal;
};
