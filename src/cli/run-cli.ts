import { Command, CommanderError } from 'commander';
import { KvsPutError } from '../errors.js';
import type { CliIo } from './cli-io.js';
import { EXIT_CODES_HELP, ExitCode, exitCodeFor } from './exit-codes.js';
import { inspectCommand } from './commands/inspect.js';

const VERSION = '0.1.0';

/** A subcommand factory: builds a commander Command whose action resolves to an exit code. */
export type CommandFactory = (io: CliIo, setExitCode: (code: number) => void) => Command;

const COMMANDS: readonly CommandFactory[] = [inspectCommand];

/**
 * Runs the CLI in-process and resolves to the process exit code. Never throws and never calls
 * process.exit: errors become one line on stderr (plus a suggestion), and a documented exit code.
 */
export const runCli = async (argv: readonly string[], io: CliIo): Promise<number> => {
  let exitCode: number = ExitCode.Ok;
  const program = new Command('kvs-put')
    .description('Push live and recorded video to Amazon Kinesis Video Streams.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', `\n${EXIT_CODES_HELP}`)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  for (const factory of COMMANDS) {
    program.addCommand(
      factory(io, (code) => {
        exitCode = code;
      })
        .exitOverride()
        .configureOutput({
          writeOut: (text) => io.stdout.write(text),
          writeErr: (text) => io.stderr.write(text),
        }),
    );
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    return reportError(error, io);
  }
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
  const message = error instanceof Error ? error.message : String(error);
  io.stderr.write(
    `kvs-put: internal error: ${message}\n  hint: set NODE_DEBUG=kvs for details and report it\n`,
  );
  if (io.env['NODE_DEBUG']?.includes('kvs') && error instanceof Error && error.stack !== undefined) {
    io.stderr.write(`${error.stack}\n`);
  }
  return ExitCode.Internal;
};
