// Soak test for live capture ("running for days"): `npm run soak -- [options]`.
//
// A live H.264 camera (GStreamer's RTSP server on 127.0.0.1, a moving test pattern encoded as it plays) →
// kvs-put --rtsp → a local KVS storing under a temporary --data-dir. The camera is taken away for
// --outage-seconds every --outage-every minutes, as a camera losing power would be. Every minute one line
// reports kvs-put's RSS, JS heap, CPU and acks; at the end kvs-put is stopped with SIGINT, and the stored
// stream is checked: every fragment kvs-put counted is stored, fragments start with a key frame, and producer
// timestamps only go forward. Exits 1 when a check fails. Ctrl+C (or SIGTERM) ends a soak early, with the
// same checks: a soak meant to run for days can be stopped whenever its figures are wanted.
//
// Options: --minutes N (default 60), --outage-every MIN (15; 0 = never), --outage-seconds S (20),
// --size WxH (640x360), --fps N (30), --bitrate KBPS (1000), --rotate-every MIN (kvs-put's PutMedia connection
// age before it is replaced; default kvs-put's 40 min). Short outage and rotation intervals compress days of
// camera losses and connection changes into hours (e.g. --outage-every 2 --outage-seconds 10 --rotate-every 3).
// Needs ffmpeg and the GStreamer RTSP server (python3-gi gir1.2-gst-rtsp-server-1.0
// gstreamer1.0-plugins-ugly, as .ci/run installs).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { childrenOf, cpuSecondsOf, rssMbOf, waitForLine } from './proc.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    'outage-every': { type: 'string', default: '15' },
    'outage-seconds': { type: 'string', default: '20' },
    size: { type: 'string', default: '640x360' },
    fps: { type: 'string', default: '30' },
    bitrate: { type: 'string', default: '1000' },
    'rotate-every': { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const outageEveryMs = Number(values['outage-every']) * 60_000;
const outageMs = Number(values['outage-seconds']) * 1000;
const MB = 1e6;

const hasGst =
  spawnSync('/usr/bin/python3', ['-c', "import gi; gi.require_version('GstRtspServer', '1.0')"]).status === 0;
if (!hasGst) {
  console.error('soak: the GStreamer RTSP server is not installed (python3-gi gir1.2-gst-rtsp-server-1.0)');
  process.exit(2);
}

// The camera, the local KVS and kvs-put run in process groups of their own (detached), so that Ctrl+C reaches
// only this script, which then stops them in order; if this script dies first, they are killed on its exit.
const children = new Set();
const startChild = (command, args, options) => {
  const child = spawn(command, args, { ...options, detached: true });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
};
process.on('exit', () => {
  for (const child of children) {
    child.kill('SIGKILL');
  }
});

const startCamera = (port) => {
  const camera = startChild(
    '/usr/bin/python3',
    [join(root, 'test', 'helpers', 'rtsp-server.py'), String(port), values.size, values.fps, values.bitrate],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  return { camera, ready: waitForLine(camera, /READY (rtsp:\/\/\S+)/, 'RTSP server') };
};
const stopProcess = (child, signal = 'SIGTERM') =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => resolve());
    child.kill(signal);
  });

const dataDir = mkdtempSync(join(tmpdir(), 'kvs-put-soak-'));
const startedAt = Date.now();
const elapsed = () => `${((Date.now() - startedAt) / 60_000).toFixed(1).padStart(6)} min`;
let { camera, ready } = startCamera(0);
const url = await ready;
const port = Number(new URL(url).port);
const local = startChild(
  process.execPath,
  [join(root, 'bin', 'kvs-put.js'), 'local', '--port', '0', '--no-auth', '--data-dir', dataDir],
  { stdio: ['ignore', 'pipe', 'ignore'] },
);
const endpoint = await waitForLine(local, /AWS_ENDPOINT_URL_KINESIS_VIDEO=(\S+)/, 'local KVS');
console.log(
  `# soak: ${minutes} min of ${values.size}@${values.fps} ${values.bitrate} kb/s from ${url}, camera away ${outageMs / 1000} s every ${outageEveryMs / 60_000} min${values['rotate-every'] === undefined ? '' : `, PutMedia connection replaced every ${values['rotate-every']} min`}; local KVS ${endpoint}, data in ${dataDir}`,
);

const put = startChild(
  process.execPath,
  [
    join(root, 'bin', 'kvs-put.js'),
    '--stream',
    'soak',
    '--create',
    '--retention-hours',
    '720',
    '--rtsp',
    url,
    '--json',
    ...(values['rotate-every'] === undefined
      ? []
      : ['--rotate-after', String(Math.round(Number(values['rotate-every']) * 60_000))]),
  ],
  {
    env: {
      ...process.env,
      AWS_ENDPOINT_URL_KINESIS_VIDEO: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'soak',
      AWS_SECRET_ACCESS_KEY: 'soak',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  },
);
const counts = { acks: {}, restarts: 0, errors: 0 };
/** kvs-put's own view of its memory, from its stats events (every 60 s): the V8 heap and Buffers apart. */
const heapSamples = [];
let summary;
let pending = '';
put.stdout.on('data', (chunk) => {
  pending += chunk;
  const lines = pending.split('\n');
  pending = lines.pop();
  for (const line of lines) {
    const event = JSON.parse(line);
    if (event.event === 'ack') {
      counts.acks[event.EventType] = (counts.acks[event.EventType] ?? 0) + 1;
      if (event.EventType === 'ERROR') {
        counts.errors++;
      }
    } else if (event.event === 'source-restart') {
      counts.restarts++;
    } else if (event.event === 'stats' && event.process?.heapUsedBytes !== undefined) {
      heapSamples.push({
        atMin: (Date.now() - startedAt) / 60_000,
        heapMb: event.process.heapUsedBytes / MB,
        buffersMb: event.process.arrayBuffersBytes / MB,
      });
    } else if (event.event === 'summary') {
      summary = event;
    }
  }
});
let stderrTail = '';
put.stderr.on('data', (chunk) => (stderrTail = (stderrTail + chunk).slice(-4000)));

const samples = [];
const sample = () => {
  const ffmpeg = childrenOf(put.pid)
    .map((pid) => cpuSecondsOf(pid))
    .filter((cpu) => cpu !== undefined);
  const point = {
    atMin: (Date.now() - startedAt) / 60_000,
    rssMb: rssMbOf(put.pid),
    cpuS: cpuSecondsOf(put.pid),
    ffmpegCpuS: ffmpeg.length > 0 ? Math.max(...ffmpeg) : undefined,
  };
  samples.push(point);
  const heap = heapSamples.at(-1);
  console.log(
    `${elapsed()}  kvs-put RSS ${point.rssMb?.toFixed(1)} MB${heap === undefined ? '' : ` (JS heap ${heap.heapMb.toFixed(1)} MB, buffers ${heap.buffersMb.toFixed(1)} MB)`}, CPU ${point.cpuS?.toFixed(1)} s (ffmpeg run ${point.ffmpegCpuS?.toFixed(1) ?? '-'} s); acks ${JSON.stringify(counts.acks)}, source restarts ${counts.restarts}`,
  );
};
const sampler = setInterval(sample, 60_000);
const outages = [];
/** Takes the camera away for the outage, then brings it back on the same port. */
const outage = async () => {
  console.log(`${elapsed()}  camera off for ${outageMs / 1000} s`);
  outages.push(Date.now());
  await stopProcess(camera);
  await new Promise((resolve) => setTimeout(resolve, outageMs));
  ({ camera, ready } = startCamera(port));
  await ready;
  console.log(`${elapsed()}  camera back`);
};
const outageTimer =
  outageEveryMs > 0
    ? setInterval(() => {
        outage().catch((error) => console.log(`${elapsed()}  camera did not come back: ${error.message}`));
      }, outageEveryMs)
    : undefined;

let stoppedEarly = false;
await new Promise((resolve) => {
  const timer = setTimeout(resolve, minutes * 60_000);
  put.once('exit', () => {
    clearTimeout(timer);
    resolve();
  });
  const stopEarly = () => {
    stoppedEarly = true;
    console.log(`${elapsed()}  stopping early (signal): checking what was stored so far`);
    clearTimeout(timer);
    resolve();
  };
  process.once('SIGINT', stopEarly);
  process.once('SIGTERM', stopEarly);
});
const ranMinutes = (Date.now() - startedAt) / 60_000;
clearInterval(sampler);
clearInterval(outageTimer);
const exitedEarly = put.exitCode !== null;
sample();
await stopProcess(put, 'SIGINT');
const code = put.exitCode;

const failures = [];
if (exitedEarly) {
  failures.push(`kvs-put exited on its own with ${code}: ${stderrTail.trim().split('\n').at(-1)}`);
} else if (code !== 0) {
  failures.push(`kvs-put exited ${code} after SIGINT`);
}
const response = await fetch(`${endpoint}/__emulator/streams/soak/fragments`);
const stored = (await response.json()).fragments ?? [];
await stopProcess(camera);
await stopProcess(local, 'SIGINT');
rmSync(dataDir, { recursive: true, force: true });

if (summary === undefined) {
  failures.push('no summary from kvs-put');
} else {
  if (summary.unacknowledged !== 0 || summary.dropped !== 0) {
    failures.push(`${summary.unacknowledged} unacknowledged, ${summary.dropped} dropped`);
  }
  if (stored.length !== summary.persisted) {
    failures.push(`${stored.length} fragments stored, kvs-put counted ${summary.persisted} persisted`);
  }
}
let backwards = 0;
for (let i = 1; i < stored.length; i++) {
  if (stored[i].producerTimestampMs <= stored[i - 1].producerTimestampMs) {
    backwards++;
  }
}
if (backwards > 0) {
  failures.push(`${backwards} fragments whose producer timestamp does not follow the one before`);
}
const withoutKeyframe = stored.filter((fragment) => !fragment.startsWithKeyframe).length;
if (withoutKeyframe > 0) {
  failures.push(`${withoutKeyframe} fragments do not start with a key frame`);
}
if (counts.errors > 0) {
  failures.push(`${counts.errors} ERROR acks`);
}

// Memory trend: RSS from 10 min in (start-up and the first buffers settled) to the end, per hour.
const settled = samples.filter(
  (point) => point.atMin >= Math.min(10, ranMinutes / 2) && point.rssMb !== undefined,
);
const first = settled[0];
const last = settled.at(-1);
const slope =
  first !== undefined && last !== undefined && last.atMin > first.atMin
    ? ((last.rssMb - first.rssMb) / (last.atMin - first.atMin)) * 60
    : undefined;
// The JS heap's trend: the smallest heap seen in each 10 min window (a sample's heap also holds garbage
// not yet collected), from the first settled window to the last.
const heapWindows = [];
for (const point of heapSamples.filter((sample) => sample.atMin >= Math.min(10, ranMinutes / 2))) {
  const window = Math.floor(point.atMin / 10);
  const last = heapWindows.at(-1);
  if (last?.window === window) {
    last.heapMb = Math.min(last.heapMb, point.heapMb);
    last.atMin = point.atMin;
  } else {
    heapWindows.push({ window, atMin: point.atMin, heapMb: point.heapMb });
  }
}
const frames = stored.reduce((sum, fragment) => sum + fragment.frameCount, 0);
console.log(
  `\n# soak result: ${ranMinutes.toFixed(0)} min${stoppedEarly ? ` (stopped early, of ${minutes})` : ''}, ${outages.length} camera outages, ${counts.restarts} source restarts, ${summary?.retries ?? '?'} retries, ${summary?.connections ?? '?'} connections`,
);
console.log(
  `  fragments: ${summary?.fragments} sent, ${summary?.persisted} persisted, ${stored.length} stored (${frames} frames), ${backwards} out of order, ${withoutKeyframe} without a key frame`,
);
console.log(
  `  kvs-put RSS ${first?.rssMb?.toFixed(1)} MB at ${first?.atMin.toFixed(0)} min → ${last?.rssMb?.toFixed(1)} MB at ${last?.atMin.toFixed(0)} min (${slope === undefined ? '-' : `${slope >= 0 ? '+' : ''}${slope.toFixed(2)} MB/h`}), peak ${summary === undefined ? '-' : (summary.process.maxRssBytes / MB).toFixed(1)} MB; CPU ${summary?.process.cpuSeconds.toFixed(1)} s`,
);
if (heapWindows.length > 0) {
  const [first, last] = [heapWindows[0], heapWindows.at(-1)];
  const hours = (last.atMin - first.atMin) / 60;
  console.log(
    `  JS heap (least per 10 min window) ${first.heapMb.toFixed(1)} MB at ${first.atMin.toFixed(0)} min → ${last.heapMb.toFixed(1)} MB at ${last.atMin.toFixed(0)} min${hours > 0 ? ` (${last.heapMb >= first.heapMb ? '+' : ''}${((last.heapMb - first.heapMb) / hours).toFixed(2)} MB/h)` : ''}; Buffers at the end ${heapSamples.at(-1).buffersMb.toFixed(1)} MB`,
  );
}
if (summary?.sourceToSocketMs !== undefined) {
  console.log(
    `  frame leaves ffmpeg → socket p50 ${summary.sourceToSocketMs.p50} ms, p99 ${summary.sourceToSocketMs.p99} ms`,
  );
}
console.log(failures.length === 0 ? '  PASS' : `  FAIL: ${failures.join('; ')}`);
process.exit(failures.length === 0 ? 0 : 1);
