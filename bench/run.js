// kvs-put benchmarks: `npm run bench`. Every figure is compared against a baseline measured in the same run
// (never a fixed number), so results hold on any machine. Inputs are generated with ffmpeg into .bench/.
// Each section returns its figures as data, which are printed and written, with the machine's facts, to
// bench/results/ (bench/results.js).
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { buildFacts, machineFacts, writeResults } from './results.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, '.bench');
mkdirSync(benchDir, { recursive: true });
const { MkvReader } = await import('../dist/mkv/mkv-reader.js');
const { Fragmenter } = await import('../dist/fragment/fragmenter.js');
const { SessionWriter } = await import('../dist/fragment/session-writer.js');

const ffmpeg = process.env.FFMPEG_PATH ?? 'ffmpeg';
const MB = 1e6;

const run = (command, args) => {
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed`);
  }
};

/** The bench clip: 60 s 720p30 8 Mb/s H.264 + AAC, made once. */
const clip = join(benchDir, 'clip-720p30-8M.mkv');
if (!existsSync(clip)) {
  console.error('generating the 60 s 720p30 8 Mb/s H.264+AAC bench clip…');
  run(ffmpeg, [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=1280x720:rate=30',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000',
    '-t',
    '60',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-b:v',
    '8M',
    '-maxrate',
    '8M',
    '-bufsize',
    '16M',
    '-g',
    '60',
    '-bf',
    '0',
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-b:a',
    '128k',
    clip,
  ]);
}
/** The 1 GB input: the clip looped with continuous timestamps. */
const big = join(benchDir, 'big-1GB.mkv');
if (!existsSync(big)) {
  console.error('generating the 1 GB input…');
  const loops = Math.ceil(1e9 / statSync(clip).size) - 1;
  run(ffmpeg, [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-stream_loop',
    String(loops),
    '-i',
    clip,
    '-c',
    'copy',
    big,
  ]);
}

const bytes = readFileSync(clip);
const CHUNK = 64 * 1024;
const chunks = [];
for (let i = 0; i < bytes.length; i += CHUNK) {
  chunks.push(bytes.subarray(i, i + CHUNK));
}

/** Best of N runs, in MB/s. */
const throughput = async (label, fn, runs = 5) => {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  const mbps = bytes.length / MB / best;
  return { label, seconds: best, mbps };
};

const ourPipeline = () => {
  const reader = new MkvReader();
  const fragmenter = new Fragmenter({ startTimeMs: 1_700_000_000_000 });
  const writer = new SessionWriter();
  let out = 0;
  const onEvents = (events) => {
    for (const event of events) {
      // Session headers and fragments: the writer writes each header with the fragment after it.
      for (const item of fragmenter.push(event)) {
        for (const chunk of writer.write(item)) {
          out += chunk.length;
        }
      }
    }
  };
  for (const chunk of chunks) {
    onEvents(reader.push(chunk));
  }
  onEvents(reader.end());
  for (const fragment of fragmenter.end()) {
    for (const chunk of writer.write(fragment)) {
      out += chunk.length;
    }
  }
  if (out < bytes.length * 0.9) {
    throw new Error(`pipeline produced only ${out} bytes`);
  }
};

const ebmlDecoder = () =>
  new Promise((resolve, reject) => {
    const require = createRequire(import.meta.url);
    const { Decoder } = require('ebml');
    const decoder = new Decoder();
    let count = 0;
    decoder.on('data', () => count++);
    decoder.on('error', reject);
    decoder.on('finish', () => resolve(count));
    for (const chunk of chunks) {
      decoder.write(chunk);
    }
    decoder.end();
  });

const ffmpegRemux = () =>
  new Promise((resolve, reject) => {
    const child = spawn(ffmpeg, ['-v', 'error', '-i', clip, '-c', 'copy', '-f', 'matroska', '-'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout.resume();
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}`))));
  });

/** Peak RSS of a child process streaming the 1 GB file through reader → fragmenter → writer. */
/** @returns {{bytes: number, outBytes: number, seconds: number, fragments: number, maxRssBytes: number}} */
const peakRss = () => {
  const child = spawnSync(process.execPath, [join(root, 'bench', 'stream-file.js'), big], {
    encoding: 'utf8',
  });
  if (child.status !== 0) {
    throw new Error(child.stderr);
  }
  return JSON.parse(child.stdout);
};

const startedAt = new Date();
const results = {};
// `npm run bench -- upload` runs only the sections named.
const only = process.argv.slice(2);
const wants = (section) => only.length === 0 || only.includes(section);
const record = {
  startedAt: startedAt.toISOString(),
  finishedAt: undefined,
  sections: ['mkv', 'upload', 'live'].filter(wants),
  build: buildFacts(root),
  machine: machineFacts(ffmpeg),
  settings: {
    liveSeconds: Number(process.env.KVS_BENCH_LIVE_SECONDS ?? 60),
    liveRuns: Number(process.env.KVS_BENCH_LIVE_RUNS ?? 1),
    hasNodeExtraCaCerts: (process.env.NODE_EXTRA_CA_CERTS ?? '') !== '',
  },
  input: {
    clip: relative(root, clip),
    clipBytes: bytes.length,
    big: relative(root, big),
    bigBytes: statSync(big).size,
  },
  results,
};
console.log(`# kvs-put bench (${record.startedAt}, node ${process.version})`);
console.log(`input: ${clip} (${(bytes.length / MB).toFixed(1)} MB)\n`);
try {
  if (wants('mkv')) {
    results.mkv = await benchMkv();
  }

  if (wants('upload')) {
    const { benchUpload } = await import('./upload.js');
    results.upload = await benchUpload({ root, clip, big, benchDir });
  }

  if (wants('live')) {
    const { benchLive } = await import('./live.js');
    results.live = await benchLive({
      root,
      benchDir,
      durationS: record.settings.liveSeconds,
      runs: record.settings.liveRuns,
    });
  }
} catch (error) {
  // The sections that finished are still worth keeping; the record says which one failed and how.
  record.error = error instanceof Error ? error.message : String(error);
  throw error;
} finally {
  record.finishedAt = new Date().toISOString();
  record.machine.loadAverageAtEnd = loadavg();
  console.log(`\nresults: ${await writeResults(root, record)}`);
}

/** The MKV section: the pipeline in memory against ffmpeg and the `ebml` package, then 1 GB streamed. */
async function benchMkv() {
  console.log('## MKV → KVS fragments, in memory (best of 5)');
  const ours = await throughput('kvs-put reader → fragmenter → writer', ourPipeline);
  const ebml = await throughput('ebml package Decoder', ebmlDecoder, 2);
  const ff = await throughput('ffmpeg -c copy -f matroska - (remux)', ffmpegRemux, 3);
  const inMemory = {
    inputBytes: bytes.length,
    pipelineMBps: ours.mbps,
    ebmlMBps: ebml.mbps,
    ffmpegMBps: ff.mbps,
    ratioVsFfmpeg: ours.mbps / ff.mbps,
    ratioVsEbml: ours.mbps / ebml.mbps,
    bestSeconds: { pipeline: ours.seconds, ebml: ebml.seconds, ffmpeg: ff.seconds },
  };
  for (const r of [ours, ebml, ff]) {
    console.log(`  ${r.label.padEnd(42)} ${r.mbps.toFixed(0).padStart(7)} MB/s`);
  }
  console.log(`  ratio vs ffmpeg remux: ${inMemory.ratioVsFfmpeg.toFixed(1)}x (target ≥ 4x)`);
  console.log(`  ratio vs ebml Decoder: ${inMemory.ratioVsEbml.toFixed(0)}x (target ≥ 100x)`);

  console.log('\n## Streaming a 1 GB MKV file through the pipeline');
  const rss = peakRss();
  const stream1GB = { ...rss, MBps: rss.bytes / MB / rss.seconds };
  console.log(
    `  ${(rss.bytes / MB).toFixed(0)} MB in ${rss.seconds.toFixed(2)} s (${stream1GB.MBps.toFixed(0)} MB/s), ${rss.fragments} fragments, peak RSS ${(rss.maxRssBytes / MB).toFixed(0)} MB (target < 100 MB)`,
  );
  return { inMemory, stream1GB };
}
