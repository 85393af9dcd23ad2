import { runCli } from './run-cli.js';

// The only place that touches process-wide state: signals, exit, environment defaults.
// The AWS SDK warns on every run that its 2027 releases need Node 22; kvs-put pins its SDK versions.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
const controller = new AbortController();
let signalCount = 0;
const onSignal = (): void => {
  signalCount++;
  if (signalCount > 1) {
    process.exit(130);
  }
  controller.abort(new Error('interrupted'));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// A closed stdout (e.g. `kvs-put inspect x | head`) is not an error worth a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') {
    process.exit(0);
  }
});

// Not a top-level await: the bundle of this file is CommonJS (see load-bundle.ts).
void runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
}).then((code) => {
  process.exitCode = code;
});
