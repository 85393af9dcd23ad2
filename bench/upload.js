// Upload benchmarks, run by bench/run.js (each figure printed and returned):
// - local KVS ingest: curl POSTs KVS-formatted bytes to PutMedia on loopback (MB/s), server peak RSS storing 1 GB;
// - kvs-put upload of the 60 s 720p clip, pacing off, against curl POSTing the same bytes to the same endpoint;
// - kvs-put peak RSS and CPU seconds per GB uploading the 1 GB file.
import { spawn, spawnSync } from 'node:child_process';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateStreamCommand, KinesisVideoClient } from '@aws-sdk/client-kinesis-video';

const MB = 1e6;
const CREDENTIALS = {
  accessKeyId: 'AKIDLOCALKVSPUT',
  secretAccessKey: 'kvs-put-local-secret-not-an-aws-key',
};

/** Starts `kvs-put local` in its own process (its memory is its own) and resolves with its URL and pid. */
const startLocal = (root, dataDir) =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(root, 'bin', 'kvs-put.js'), 'local', '--port', '0', '--no-auth', '--data-dir', dataDir],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /AWS_ENDPOINT_URL_KINESIS_VIDEO=(\S+)/.exec(out);
      if (match) {
        resolve({
          url: match[1],
          pid: child.pid,
          /** Peak RSS so far (VmHWM), in bytes. */
          peakRss: () =>
            Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) * 1024,
          stop: () => new Promise((done) => (child.once('exit', done), child.kill('SIGINT'))),
        });
      }
    });
    child.on('error', reject);
  });

const createStream = async (url, name, retentionHours) => {
  const client = new KinesisVideoClient({ endpoint: url, region: 'us-east-1', credentials: CREDENTIALS });
  await client.send(new CreateStreamCommand({ StreamName: name, DataRetentionInHours: retentionHours }));
  client.destroy();
};

/** Wall seconds, CPU seconds and peak RSS of a command, from GNU time. */
const timed = (command, args, env = {}) => {
  const result = spawnSync('/usr/bin/time', ['-f', 'TIME %e %U %S %M', command, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const match = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(result.stderr);
  if (result.status !== 0 || match === null) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr.slice(-2000)}`);
  }
  return {
    seconds: Number(match[1]),
    cpuSeconds: Number(match[2]) + Number(match[3]),
    maxRssBytes: Number(match[4]) * 1024,
    stdout: result.stdout,
  };
};

/**
 * GET on a connection of its own. Not fetch(): its pooled keep-alive socket goes stale while spawnSync blocks
 * this process's event loop for longer than the server's keep-alive timeout (the 1 GB upload), and undici
 * then sends on a socket the server already closed ("other side closed").
 */
const getJson = (url) =>
  new Promise((resolve, reject) => {
    get(url, { agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => {
        try {
          resolve(JSON.parse(text));
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
      response.on('error', reject);
    }).on('error', reject);
  });

/** The PutMedia body of a stream as the local KVS saw it: bytes and milliseconds (GET /__emulator/stats). */
const bodyRecord = async (url, stream) => {
  const stats = await getJson(`${url}/__emulator/stats`);
  const record = stats.ingest.recentBodies.findLast((body) => body.streamName === stream);
  if (record === undefined) {
    throw new Error(`the local KVS saw no PutMedia body for ${stream}`);
  }
  return record;
};

const curlPutMedia = (url, stream, file) =>
  timed('curl', [
    ...['-sS', '--fail-with-body', '-o', '/dev/null', '-X', 'POST', `${url}/putMedia`],
    ...['-H', `x-amzn-stream-name: ${stream}`, '-H', 'x-amzn-fragment-timecode-type: ABSOLUTE'],
    ...['-H', `x-amzn-producer-start-timestamp: ${(Date.now() / 1000).toFixed(3)}`],
    ...[
      '-H',
      'x-amzn-fragment-acknowledgment-required: 1',
      '-H',
      'Transfer-Encoding: chunked',
      '-H',
      'Expect:',
    ],
    // -T streams the file from disk (--data-binary would read all of it into memory first).
    ...['-T', file],
  ]);

const kvsPutUpload = (root, url, stream, file) =>
  timed(
    process.execPath,
    [
      join(root, 'bin', 'kvs-put.js'),
      '--stream',
      stream,
      '--create',
      '--file',
      file,
      '--max-rate',
      '0',
      '--max-fragment-rate',
      '0',
      '--quiet',
      '--start-time',
      '2026-01-01T00:00:00Z',
    ],
    {
      AWS_ENDPOINT_URL_KINESIS_VIDEO: url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    },
  );

/** The exact bytes kvs-put sends for a file (one PutMedia body), made with `kvs-put inspect --output`. */
const kvsBody = (root, file, out) => {
  const result = spawnSync(
    process.execPath,
    [
      join(root, 'bin', 'kvs-put.js'),
      'inspect',
      file,
      '--output',
      out,
      '--start-time',
      '2026-01-01T00:00:00Z',
      '--json',
    ],
    { stdio: 'ignore' },
  );
  if (result.status !== 0) {
    throw new Error(`inspect --output ${file} failed`);
  }
  return out;
};

export const benchUpload = async ({ root, clip, big, benchDir }) => {
  const clipBody = kvsBody(root, clip, join(benchDir, 'clip.kvs.mkv'));
  const bigBody = kvsBody(root, big, join(benchDir, 'big.kvs.mkv'));
  const dataDir = mkdtempSync(join(tmpdir(), 'kvs-put-bench-'));
  const local = await startLocal(root, dataDir);
  try {
    console.log(
      '\n## Local KVS ingest over loopback (curl → PutMedia, retention 1 h, stored under --data-dir)',
    );
    const clipMB = statSync(clipBody).size / MB;
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      await createStream(local.url, `ingest-${i}`, 1);
      best = Math.min(best, curlPutMedia(local.url, `ingest-${i}`, clipBody).seconds);
    }
    const ingest = {
      clipBodyBytes: statSync(clipBody).size,
      /** Best of 3 whole curl commands. */
      clipMBps: clipMB / best,
    };
    console.log(
      `  60 s 720p clip (${clipMB.toFixed(1)} MB): ${ingest.clipMBps.toFixed(0)} MB/s (target ≥ 300)`,
    );
    await createStream(local.url, 'ingest-1g', 1);
    const bigMB = statSync(bigBody).size / MB;
    const bigRun = curlPutMedia(local.url, 'ingest-1g', bigBody);
    const bigRunBody = await bodyRecord(local.url, 'ingest-1g');
    ingest.bigBodyBytes = statSync(bigBody).size;
    ingest.bigMBps = bigMB / bigRun.seconds;
    ingest.serverPeakRssBytes = local.peakRss();
    console.log(
      `  1 GB body (${bigMB.toFixed(0)} MB): ${ingest.bigMBps.toFixed(0)} MB/s; local KVS peak RSS ${(ingest.serverPeakRssBytes / MB).toFixed(0)} MB`,
    );

    console.log(
      '\n## kvs-put upload to the local KVS over loopback (pacing off), against curl with the same bytes',
    );
    // Two views of each run: the body as the local KVS saw it (request arrival → body end, the upload itself),
    // and the whole command (process start-up and control-plane calls included).
    const runs = { curl: [], ours: [] };
    for (let i = 0; i < 5; i++) {
      await createStream(local.url, `curl-${i}`, 1);
      const curlRun = curlPutMedia(local.url, `curl-${i}`, clipBody);
      runs.curl.push({ ...curlRun, body: await bodyRecord(local.url, `curl-${i}`) });
      const ourRun = kvsPutUpload(root, local.url, `ours-${i}`, clip);
      runs.ours.push({ ...ourRun, body: await bodyRecord(local.url, `ours-${i}`) });
    }
    const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const runBodyMBps = (run) => run.body.bytes / MB / (run.body.milliseconds / 1000);
    const runWholeMBps = (run) => clipMB / run.seconds;
    const eachRun = (run) => ({
      bodyMBps: runBodyMBps(run),
      wholeMBps: runWholeMBps(run),
      seconds: run.seconds,
      cpuSeconds: run.cpuSeconds,
      maxRssBytes: run.maxRssBytes,
    });
    const curlBody = median(runs.curl.map(runBodyMBps));
    const oursBody = median(runs.ours.map(runBodyMBps));
    const curlWhole = median(runs.curl.map(runWholeMBps));
    const oursWhole = median(runs.ours.map(runWholeMBps));
    const clipUpload = {
      /** Medians of 5 runs each, curl and kvs-put alternating. */
      curlBodyMBps: curlBody,
      kvsPutBodyMBps: oursBody,
      bodyRatio: oursBody / curlBody,
      curlWholeMBps: curlWhole,
      kvsPutWholeMBps: oursWhole,
      wholeRatio: oursWhole / curlWhole,
      runs: { curl: runs.curl.map(eachRun), kvsPut: runs.ours.map(eachRun) },
    };
    console.log(`  60 s clip, median of 5 runs each, curl and kvs-put alternating:`);
    console.log(
      `  upload (the body as the local KVS saw it): curl ${curlBody.toFixed(0)} MB/s, kvs-put ${oursBody.toFixed(0)} MB/s, ` +
        `ratio ${clipUpload.bodyRatio.toFixed(2)}x (target ≥ 0.8x)`,
    );
    console.log(
      `  whole command (start-up, control plane, upload): curl ${curlWhole.toFixed(0)} MB/s, kvs-put ${oursWhole.toFixed(0)} MB/s, ` +
        `ratio ${clipUpload.wholeRatio.toFixed(2)}x`,
    );
    const bigUpload = kvsPutUpload(root, local.url, 'ours-1g', big);
    const bigOursRecord = await bodyRecord(local.url, 'ours-1g');
    const gb = statSync(big).size / 1e9;
    const bigCurlBodyMBps = bigMB / (bigRunBody.milliseconds / 1000);
    const bigOursBodyMBps = bigOursRecord.bytes / MB / (bigOursRecord.milliseconds / 1000);
    const bigFile = {
      curlBodyMBps: bigCurlBodyMBps,
      kvsPutBodyMBps: bigOursBodyMBps,
      bodyRatio: bigOursBodyMBps / bigCurlBodyMBps,
      curlWholeMBps: bigMB / bigRun.seconds,
      kvsPutWholeMBps: bigMB / bigUpload.seconds,
      kvsPutMaxRssBytes: bigUpload.maxRssBytes,
      kvsPutCpuSecondsPerGB: bigUpload.cpuSeconds / gb,
      curlCpuSecondsPerGB: bigRun.cpuSeconds / gb,
    };
    console.log(
      `  1 GB, upload: curl ${bigCurlBodyMBps.toFixed(0)} MB/s, kvs-put ${bigOursBodyMBps.toFixed(0)} MB/s, ratio ${bigFile.bodyRatio.toFixed(2)}x; ` +
        `whole command: curl ${bigFile.curlWholeMBps.toFixed(0)} MB/s, kvs-put ${bigFile.kvsPutWholeMBps.toFixed(0)} MB/s`,
    );
    console.log(
      `  kvs-put --file big-1GB.mkv: peak RSS ${(bigFile.kvsPutMaxRssBytes / MB).toFixed(0)} MB (target ≤ 150), ` +
        `${bigFile.kvsPutCpuSecondsPerGB.toFixed(2)} CPU s per GB uploaded (curl: ${bigFile.curlCpuSecondsPerGB.toFixed(2)})`,
    );
    return { ingest, clip: clipUpload, bigFile };
  } finally {
    await local.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
};
