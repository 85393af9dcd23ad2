// Live benchmark, run by bench/run.js: a 60 s 1080p30 8 Mb/s H.264 stream from GStreamer's RTSP server on
// 127.0.0.1, copied (not re-encoded) by kvs-put to a local KVS. Reports the CPU seconds and peak RSS of the
// kvs-put Node process against the CPU of its ffmpeg child in the same run, and the latency from a frame's
// bytes leaving ffmpeg to their hand-over to the socket. Each run's figures are printed and returned.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { childrenOf, cpuSecondsOf, waitForLine } from './proc.js';

const MB = 1e6;

/**
 * The environment of the bench's Node processes (kvs-put, the local KVS, the relay). NODE_EXTRA_CA_CERTS is
 * left out: with it set, Node parses that CA bundle when the process starts, before any code runs, whether
 * or not the process ever opens a TLS connection (these talk plain HTTP on loopback). Build machines often
 * set it to a whole system bundle (40–60 ms of CPU per start on the 2-core VM); a camera box rarely does.
 * {@link extraCaCertsStartCost} measures what it would add.
 */
const nodeEnv = (() => {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
})();

/** CPU seconds a bare Node start takes, the least of 5 (with the given environment). */
const nodeStartCpuSeconds = (env) => {
  let least = Infinity;
  for (let i = 0; i < 5; i++) {
    const { stdout } = spawnSync(
      process.execPath,
      ['-e', 'const u = process.cpuUsage(); process.stdout.write(String((u.user + u.system) / 1e6))'],
      { env, encoding: 'utf8' },
    );
    least = Math.min(least, Number(stdout));
  }
  return least;
};

/** What this machine's NODE_EXTRA_CA_CERTS adds to every Node start, in CPU seconds (undefined if unset). */
const extraCaCertsStartCost = () =>
  process.env.NODE_EXTRA_CA_CERTS === undefined || process.env.NODE_EXTRA_CA_CERTS === ''
    ? undefined
    : Math.max(0, nodeStartCpuSeconds(process.env) - nodeStartCpuSeconds(nodeEnv));

/**
 * Polls a running process for its own CPU and its (ffmpeg) child's: the child's figure is read while it
 * runs, since it is gone once waited for. `steady` is the same from 10 s in (start-up done) to the end.
 */
const watchCpu = (pid) => {
  let childCpu = 0;
  let childArgv;
  const startedAt = Date.now();
  let mark;
  let last;
  const poll = setInterval(() => {
    for (const child of childrenOf(pid)) {
      const cpu = cpuSecondsOf(child);
      // The capture is the child that works most (kvs-put also runs a short `ffmpeg -h` probe first).
      if (cpu !== undefined && cpu >= childCpu) {
        childCpu = cpu;
        childArgv = readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').slice(0, -1);
      }
    }
    const own = cpuSecondsOf(pid);
    if (own !== undefined && childCpu > 0) {
      last = { atMs: Date.now(), own, child: childCpu };
      if (mark === undefined && Date.now() - startedAt >= 10_000) {
        mark = last;
      }
    }
  }, 250);
  return () => {
    clearInterval(poll);
    const steady =
      mark !== undefined && last !== undefined && last.atMs > mark.atMs
        ? {
            ownPerMinute: (last.own - mark.own) / ((last.atMs - mark.atMs) / 60_000),
            childPerMinute: (last.child - mark.child) / ((last.atMs - mark.atMs) / 60_000),
          }
        : undefined;
    return { own: last?.own, child: childCpu, childArgv, steady };
  };
};

/**
 * The live benchmark, `runs` times over (KVS_BENCH_LIVE_RUNS): on a shared machine ffmpeg's own CPU for the
 * same stream moves by a third from run to run, so one run's ratio is one draw. With several, the ratios of
 * each and their median are printed, and the run with the median ratio is returned.
 */
export const benchLive = async ({ root, benchDir, durationS = 60, runs = 1 }) => {
  const hasGst =
    spawnSync('/usr/bin/python3', ['-c', "import gi; gi.require_version('GstRtspServer', '1.0')"]).status ===
      0 && spawnSync('gst-inspect-1.0', ['x264enc'], { stdio: 'ignore' }).status === 0;
  console.log(
    `\n## Live: ${durationS} s of 1080p30 8 Mb/s H.264 from an RTSP server, copied to the local KVS`,
  );
  if (!hasGst) {
    const skipped =
      'GStreamer RTSP server not installed (python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly)';
    console.log(`  skipped: ${skipped}`);
    return { durationS, skipped };
  }
  const caCost = extraCaCertsStartCost();
  if (caCost !== undefined) {
    console.log(
      `  NODE_EXTRA_CA_CERTS is set here; the bench's Node processes run without it (plain HTTP on loopback). With it, every Node start parses that CA bundle first: +${caCost.toFixed(3)} CPU s per start on this machine, to add to kvs-put's and the relay's figures below`,
    );
  }
  const results = [];
  for (let run = 1; run <= runs; run++) {
    if (runs > 1) {
      console.log(`  run ${run} of ${runs}`);
    }
    results.push(await liveRun({ root, benchDir, durationS, warmUp: run === 1 }));
  }
  const sorted = [...results].sort((a, b) => a.ratio - b.ratio);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  if (runs > 1) {
    console.log(
      `  ${runs} runs: kvs-put / ffmpeg CPU ${results.map((result) => `${result.ratio.toFixed(2)}x`).join(', ')} → median ${median.ratio.toFixed(2)}x (target ≤ 1x); kvs-put ${results.map((result) => result.kvsPutCpuSeconds.toFixed(2)).join(' / ')} s, ffmpeg ${results.map((result) => result.ffmpegCpuSeconds.toFixed(2)).join(' / ')} s`,
    );
  }
  return {
    durationS,
    ...(caCost === undefined ? {} : { extraCaCertsStartCpuSeconds: caCost }),
    /** The median of the runs' whole-run ratios, and which run (0-based) has it. */
    medianRatio: median.ratio,
    medianRun: results.indexOf(median),
    runs: results,
  };
};

const liveRun = async ({ root, benchDir, durationS, warmUp }) => {
  // 1080p30 at 8 Mb/s, encoded once ahead of time so no live encoder competes for the 2 cores.
  const source = join(benchDir, `rtsp-1080p30-8M-${durationS + 10}s.mkv`);
  if (!existsSync(source)) {
    console.log(`  generating the ${durationS + 10} s 1080p30 8 Mb/s source…`);
    const made = spawnSync(process.env.FFMPEG_PATH ?? 'ffmpeg', [
      ...[
        '-v',
        'error',
        '-y',
        '-f',
        'lavfi',
        '-i',
        `testsrc2=size=1920x1080:rate=30`,
        '-t',
        String(durationS + 10),
      ],
      ...[
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-b:v',
        '8M',
        '-maxrate',
        '8M',
        '-bufsize',
        '8M',
        '-g',
        '60',
        '-bf',
        '0',
      ],
      ...['-pix_fmt', 'yuv420p', source],
    ]);
    if (made.status !== 0) {
      throw new Error('cannot generate the RTSP source clip');
    }
  }
  const rtsp = spawn(
    '/usr/bin/python3',
    [join(root, 'test', 'helpers', 'rtsp-server.py'), '0', '1920x1080', '30', '8000', `file:${source}`],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const local = spawn(
    process.execPath,
    [join(root, 'bin', 'kvs-put.js'), 'local', '--port', '0', '--no-auth'],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
      env: nodeEnv,
    },
  );
  try {
    const url = await waitForLine(rtsp, /READY (rtsp:\/\/\S+)/, 'RTSP server');
    const endpoint = await waitForLine(local, /AWS_ENDPOINT_URL_KINESIS_VIDEO=(\S+)/, 'local KVS');
    const spawnPut = (seconds) =>
      spawn(
        process.execPath,
        [
          join(root, 'bin', 'kvs-put.js'),
          '--stream',
          'live-bench',
          '--create',
          '--rtsp',
          url,
          '--duration',
          String(seconds),
          '--json',
          '--quiet',
          '--stats-interval',
          '10',
        ],
        {
          env: {
            ...nodeEnv,
            AWS_ENDPOINT_URL_KINESIS_VIDEO: endpoint,
            AWS_REGION: 'us-east-1',
            AWS_ACCESS_KEY_ID: 'a',
            AWS_SECRET_ACCESS_KEY: 'b',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
    if (warmUp) {
      // A live run's code cache is made by the first live run after a build (src/cli/load-bundle.ts), which
      // compiles everything and writes the cache: a restarted camera service finds it in place. A short
      // unmeasured run makes it, so that every measured run starts as an installed kvs-put does.
      const warm = spawnPut(3);
      warm.stdout.resume();
      warm.stderr.resume();
      await new Promise((resolve) => warm.on('exit', resolve));
      console.log('  (a 3 s unmeasured run first: it leaves the code cache a restarted kvs-put starts with)');
    }
    const put = spawnPut(durationS);
    let stdout = '';
    put.stdout.on('data', (chunk) => (stdout += chunk));
    const stopWatching = watchCpu(put.pid);
    const code = await new Promise((resolve) => put.on('exit', resolve));
    const measured = stopWatching();
    const summary = stdout
      .split('\n')
      .filter((line) => line.includes('"summary"'))
      .map((line) => JSON.parse(line))[0];
    if (code !== 0 || summary === undefined) {
      throw new Error(`kvs-put exited ${code}`);
    }
    const ours = summary.process;
    // The p99 of each 10 s stats window after the first (which holds ffmpeg's start-up burst).
    const windowP99 = stdout
      .split('\n')
      .filter((line) => line.includes('"stats"'))
      .map((line) => JSON.parse(line))
      .slice(1)
      .map((event) => event.sourceToSocketMs?.p99)
      .filter((p99) => p99 !== undefined);
    const run = {
      fragments: summary.fragments,
      framesStored: summary.framesStored,
      bytesSent: summary.bytesSent,
      isAllAcknowledged: summary.unacknowledged === 0,
      clusterMs: clusterMsOf(measured.childArgv),
      kvsPutCpuSeconds: ours.cpuSeconds,
      ffmpegCpuSeconds: measured.child,
      ratio: ours.cpuSeconds / measured.child,
      ...(measured.steady === undefined
        ? {}
        : {
            steady: {
              kvsPutCpuSecondsPerMinute: measured.steady.ownPerMinute,
              ffmpegCpuSecondsPerMinute: measured.steady.childPerMinute,
              ratio: measured.steady.ownPerMinute / measured.steady.childPerMinute,
            },
          }),
      maxRssBytes: ours.maxRssBytes,
      sourceToSocketMs: summary.sourceToSocketMs,
      windowP99Ms: windowP99,
    };
    printRun(run);
    const relay = await benchRelay({ root, durationS, ffmpegArgv: measured.childArgv });
    if (relay !== undefined) {
      run.relay = {
        cpuSeconds: relay.own,
        ffmpegCpuSeconds: relay.child,
        ratio: relay.own / relay.child,
        kvsPutOverRelay: run.kvsPutCpuSeconds / relay.own,
        ...(relay.steady === undefined || run.steady === undefined
          ? {}
          : {
              steady: {
                cpuSecondsPerMinute: relay.steady.ownPerMinute,
                ffmpegCpuSecondsPerMinute: relay.steady.childPerMinute,
                ratio: relay.steady.ownPerMinute / relay.steady.childPerMinute,
                kvsPutOverRelay: run.steady.kvsPutCpuSecondsPerMinute / relay.steady.ownPerMinute,
              },
            }),
      };
      printRelay(run.relay);
    }
    return run;
  } finally {
    rtsp.kill('SIGTERM');
    local.kill('SIGINT');
  }
};

/** The kvs-put part of a live run's figures, as the bench prints them. */
const printRun = (run) => {
  console.log(
    `  ${run.fragments} fragments, ${run.framesStored} frames, ${(run.bytesSent / MB).toFixed(1)} MB, all persisted/received: ${run.isAllAcknowledged}; ffmpeg's clusters: ${run.clusterMs ?? '?'} ms (--cluster-ms)`,
  );
  console.log(
    `  CPU: kvs-put ${run.kvsPutCpuSeconds.toFixed(2)} s, its ffmpeg child ${run.ffmpegCpuSeconds.toFixed(2)} s → ratio ${run.ratio.toFixed(2)}x (target ≤ 1x)`,
  );
  if (run.steady !== undefined) {
    const { kvsPutCpuSecondsPerMinute, ffmpegCpuSecondsPerMinute, ratio } = run.steady;
    console.log(
      `  steady state (from 10 s in): kvs-put ${kvsPutCpuSecondsPerMinute.toFixed(2)} CPU s/min, ffmpeg ${ffmpegCpuSecondsPerMinute.toFixed(2)} CPU s/min → ratio ${ratio.toFixed(2)}x`,
    );
  }
  console.log(
    `  kvs-put peak RSS ${(run.maxRssBytes / MB).toFixed(0)} MB (target ≤ 80 MB + the 64 MB live buffer)`,
  );
  console.log(
    `  frame leaves ffmpeg → bytes on the socket: p50 ${run.sourceToSocketMs.p50} ms, p99 ${run.sourceToSocketMs.p99} ms (target p99 ≤ 5 ms)`,
  );
  if (run.windowP99Ms.length > 0) {
    console.log(
      `    p99 of each 10 s window after the first (ffmpeg's start-up burst excluded): ${Math.min(...run.windowP99Ms)}–${Math.max(...run.windowP99Ms)} ms`,
    );
  }
};

/** The relay floor's figures, as the bench prints them. */
const printRelay = (relay) => {
  console.log(
    `  floor, a bare Node relay of the same ffmpeg argv to a TCP socket (no parsing, HTTP or SDK): ${relay.cpuSeconds.toFixed(2)} CPU s, its ffmpeg ${relay.ffmpegCpuSeconds.toFixed(2)} s → ratio ${relay.ratio.toFixed(2)}x; kvs-put / relay ${relay.kvsPutOverRelay.toFixed(2)}x`,
  );
  if (relay.steady !== undefined) {
    console.log(
      `    steady state: relay ${relay.steady.cpuSecondsPerMinute.toFixed(2)} CPU s/min vs its ffmpeg ${relay.steady.ffmpegCpuSecondsPerMinute.toFixed(2)} → ${relay.steady.ratio.toFixed(2)}x; kvs-put / relay ${relay.steady.kvsPutOverRelay.toFixed(2)}x`,
    );
  }
};

/** The cluster length in ffmpeg's argv (how long it holds frames, and so how often it wakes kvs-put), in ms. */
const clusterMsOf = (argv = []) => {
  const at = argv.indexOf('-cluster_time_limit');
  return at < 0 ? undefined : Number(argv[at + 1]);
};

/** Runs bench/relay.js with kvs-put's own ffmpeg argv, into a TCP sink in this process. */
const benchRelay = async ({ root, durationS, ffmpegArgv }) => {
  if (ffmpegArgv === undefined || ffmpegArgv.length === 0) {
    return undefined;
  }
  const sink = createServer((socket) => socket.resume());
  await new Promise((resolve) => sink.listen(0, '127.0.0.1', resolve));
  try {
    const relay = spawn(
      process.execPath,
      [join(root, 'bench', 'relay.js'), String(sink.address().port), String(durationS), ...ffmpegArgv],
      { stdio: 'ignore', env: nodeEnv },
    );
    const stopWatching = watchCpu(relay.pid);
    await new Promise((resolve) => relay.on('exit', resolve));
    const measured = stopWatching();
    return measured.own === undefined ? undefined : measured;
  } finally {
    sink.close();
  }
};
