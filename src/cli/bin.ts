import { runCli } from './run-cli.js';

// The only place that touches process-wide state: signals, exit, environment defaults.
// The AWS SDK warns on every run that its 2027 releases need Node 22; kvs-put pins its SDK versions.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
const controller = new AbortController();
const quit = new AbortController();
let signalCount = 0;
const onSignal = (): void => {
  signalCount++;
  if (signalCount === 1) {
    controller.abort(new Error('interrupted'));
  } else if (signalCount === 2) {
    // The command says what it leaves unacknowledged and returns; this is the backstop if it cannot.
    quit.abort(new Error('quit'));
    setTimeout(() => process.exit(130), 1000).unref();
  } else {
    process.exit(130);
  }
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// A closed stdout (`kvs-put … --json | head -1`) or stderr stops the output, not the work: like other Unix
// tools the upload goes on and exits as it would have; only the writes are dropped.
let isStdoutClosed = false;
let isStderrClosed = false;
process.stdout.on('error', () => {
  isStdoutClosed = true;
});
process.stderr.on('error', () => {
  isStderrClosed = true;
});

// Not a top-level await: the bundle of this file is CommonJS (see load-bundle.ts).
void runCli(process.argv.slice(2), {
  stdout: {
    write: (text: string | Uint8Array) => !isStdoutClosed && process.stdout.write(text),
    isTTY: process.stdout.isTTY,
  },
  stderr: {
    write: (text: string) => !isStderrClosed && process.stderr.write(text),
    isTTY: process.stderr.isTTY,
  },
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
  quitSignal: quit.signal,
}).then((code) => {
  process.exitCode = code;
  if (signalCount > 0) {
    // After a signal nothing may hold the process: not a socket to an endpoint that never answers.
    process.exit(code);
  }
});
