import { Command, CommanderError } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ErrorCode, KvsPutError } from '../errors.js';
import { fileSystemError } from '../util/media-file.js';
import type { CliIo } from './cli-io.js';
import { EXIT_CODES_HELP, ExitCode, exitCodeFor } from '../exit-codes.js';
import { inspectCommand } from './commands/inspect.js';
import { putCommand } from './commands/put.js';
import { localCommand } from './commands/local.js';
import { doctorCommand } from './commands/doctor.js';

import { VERSION } from '../version.js';

const USAGE_EXAMPLES = `Examples:
  kvs-put --stream cam1 --file clip.mkv               upload a recording (put is the default command)
  kvs-put --local --stream demo --file clip.mkv -v    the same against an in-process local KVS
  ffmpeg -i in.mp4 -c copy -f matroska - | kvs-put --stream cam1 -   MKV on stdin
  kvs-put inspect clip.mkv                            the fragments kvs-put would send
  kvs-put --stream cam1 --rtsp rtsp://user:pass@cam/stream   an IP camera (H.264 copied, not re-encoded)
  kvs-put --stream cam1 --device /dev/video0          a V4L2 camera (encoded with libx264)
  kvs-put --local --stream demo --testsrc --duration 20   a test pattern for 20 s
  kvs-put local --port 4567                           run a local KVS for other tools
  kvs-put doctor                                      which ffmpeg is used and what it can do
  kvs-put doctor --device /dev/video0                 whether the camera is usable, and its formats
Run kvs-put put --help for every upload option; without arguments, kvs-put prints this help and exits 2.`;

/** A subcommand factory: builds a commander Command whose action resolves to an exit code. */
export type CommandFactory = (io: CliIo, setExitCode: (code: number) => void) => Command;

const COMMANDS: readonly CommandFactory[] = [putCommand, inspectCommand, localCommand, doctorCommand];

/**
 * Runs the CLI in-process and resolves to the process exit code. Never throws and never calls
 * process.exit: errors become one line on stderr (plus a suggestion), and a documented exit code.
 */
export const runCli = async (argv: readonly string[], io: CliIo): Promise<number> => {
  let exitCode: number = ExitCode.Ok;
  const output = {
    writeOut: (text: string) => io.stdout.write(text),
    writeErr: (text: string) => io.stderr.write(text),
    // Usage errors in the CLI's one-line form (`kvs-put: …`), not commander's `error: …`.
    outputError: (text: string, write: (text: string) => void) =>
      write(`kvs-put: ${text.replace(/^error: /, '')}`),
  };
  const program = new Command('kvs-put')
    .description('Push live and recorded video to Amazon Kinesis Video Streams.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', `\n${USAGE_EXAMPLES}\n\n${EXIT_CODES_HELP}`)
    .exitOverride()
    .configureOutput(output);
  for (const factory of COMMANDS) {
    program.addCommand(
      factory(io, (code) => {
        exitCode = code;
      })
        .exitOverride()
        .configureOutput(output),
      // `kvs-put --stream S --file F` runs `kvs-put put --stream S --file F`.
      { isDefault: factory === putCommand },
    );
  }
  if (argv.length === 0) {
    // Nothing asked: the usage, on stderr, as a usage error (a script that forgot its arguments fails).
    program.outputHelp({ error: true });
    return ExitCode.Usage;
  }
  const typo = mistypedCommand(argv[0] ?? '', program, io.cwd);
  if (typo !== undefined) {
    return reportError(
      new KvsPutError(ErrorCode.Usage, `unknown command ${argv[0] ?? ''}`, {
        suggestion: `did you mean ${typo}?`,
      }),
      io,
    );
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    return reportError(error, io);
  }
};

/** Edits (insertions, deletions, substitutions) between two words. */
const editDistance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (row[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length] ?? 0;
};

/**
 * The command a first argument was meant to be: `put` is the default command, so `kvs-put puut …` would
 * otherwise read `puut` as a file. A word that is a path, looks like a file name, or is not within a third of
 * a command's length of one, is left to be a file.
 */
const mistypedCommand = (first: string, program: Command, cwd: string): string | undefined => {
  const names = [...program.commands.map((command) => command.name()), 'help'];
  if (
    first.startsWith('-') ||
    /[./\\]/.test(first) ||
    names.includes(first) ||
    existsSync(resolve(cwd, first))
  ) {
    return undefined;
  }
  return names.find(
    (name) => editDistance(first.toLowerCase(), name) <= Math.max(1, Math.floor(name.length / 3)),
  );
};

/** Renders an error as one line (plus an optional suggestion line) and returns its exit code. */
export const reportError = (error: unknown, io: CliIo): number => {
  if (error instanceof CommanderError) {
    // commander has already printed its message; help/version displays are not errors.
    return error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
  }
  if (error instanceof KvsPutError) {
    io.stderr.write(`kvs-put: ${error.message}\n`);
    if (error.suggestion !== undefined) {
      io.stderr.write(`  hint: ${error.suggestion}\n`);
    }
    return exitCodeFor(error.code);
  }
  // A file-system failure no caller mapped is still the user's file or folder, not a bug: exit 7.
  const fileError = fileSystemError(error);
  if (fileError !== undefined) {
    return reportError(fileError, io);
  }
  const message = error instanceof Error ? error.message : String(error);
  io.stderr.write(
    `kvs-put: internal error: ${message}\n  hint: set NODE_DEBUG=kvs for details and report it\n`,
  );
  if (io.env['NODE_DEBUG']?.includes('kvs') && error instanceof Error && error.stack !== undefined) {
    io.stderr.write(`${error.stack}\n`);
  }
  return ExitCode.Internal;
};
