import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

/** Debian's Python with GStreamer's introspection bindings (the first python3 on PATH may be another). */
const PYTHON = '/usr/bin/python3';
const SCRIPT = join(REPO_ROOT, 'test', 'helpers', 'rtsp-server.py');

let available: boolean | undefined;

/** Whether gst-rtsp-server can run here; prints why RTSP tests are skipped when it cannot. */
export const hasRtspServer = (): boolean => {
  if (available === undefined) {
    const probe = spawnSync(
      PYTHON,
      [
        '-c',
        "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
      ],
      { stdio: 'ignore' },
    );
    const x264 = spawnSync('gst-inspect-1.0', ['x264enc'], { stdio: 'ignore' });
    available = probe.status === 0 && x264.status === 0;
    if (!available) {
      console.warn(
        '[skip] GStreamer RTSP server not available (python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-ugly): RTSP tests are skipped (CI installs them).',
      );
    }
  }
  return available;
};

export type RtspServer = { url: string; port: number; stop: () => Promise<void> };

/** Starts a live H.264 RTSP server on 127.0.0.1 (port 0 = any free port) and resolves with its URL. */
export const startRtspServer = (
  port = 0,
  options: { videoSize?: string; fps?: number; bitrateKbps?: number } = {},
): Promise<RtspServer> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(
      PYTHON,
      [
        SCRIPT,
        String(port),
        options.videoSize ?? '640x360',
        String(options.fps ?? 30),
        String(options.bitrateKbps ?? 1000),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`RTSP server did not start: ${output}`));
    }, 15_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /READY (rtsp:\/\/\S+)/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        const url = match[1]!;
        resolve({
          url,
          port: Number(new URL(url).port),
          stop: () =>
            new Promise<void>((done) => {
              if (child.exitCode !== null) {
                done();
                return;
              }
              child.once('exit', () => done());
              child.kill('SIGTERM');
              setTimeout(() => child.kill('SIGKILL'), 3000).unref();
            }),
        });
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`RTSP server exited: ${output}`));
    });
  });
