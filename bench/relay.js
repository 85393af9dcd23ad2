// The floor for the live benchmark: the least a Node process can do with the same ffmpeg output. It runs
// ffmpeg with the argv given, writes every chunk of its stdout to a TCP socket as it arrives (no parsing, no
// fragments, no HTTP, no AWS SDK), and stops ffmpeg with SIGINT after the given seconds, as kvs-put's
// --duration does. Usage: node bench/relay.js PORT SECONDS FFMPEG ARG...
import { spawn } from 'node:child_process';
import { connect } from 'node:net';

const [port, seconds, ffmpeg, ...args] = process.argv.slice(2);
const socket = connect(Number(port), '127.0.0.1');
socket.setNoDelay(true);
const child = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'ignore'] });
child.stdout.on('data', (chunk) => socket.write(chunk));
const timer = setTimeout(() => child.kill('SIGINT'), Number(seconds) * 1000);
child.on('exit', () => {
  clearTimeout(timer);
  socket.end();
});
