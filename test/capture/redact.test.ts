/**
 * RTSP credentials never leave kvs-put: not in the argv shown in logs, not in errors (message, context,
 * JSON), not in ffmpeg's stderr tail, which echoes the URL verbatim ("rtsp://user:pass@host: Connection
 * refused"). The end-to-end case runs a real ffmpeg against 127.0.0.1:1, which refuses at once.
 */
import { describe, expect, it } from 'vitest';
import { captureWithRestarts } from '../../src/capture/capture-loop.js';
import type { CaptureEvent } from '../../src/capture/capture-loop.js';
import { planCapture } from '../../src/capture/capture-plan.js';
import { describeSource } from '../../src/capture/capture-source.js';
import { startFfmpeg } from '../../src/capture/ffmpeg-process.js';
import {
  formatCommandLine,
  redactArgs,
  redactText,
  redactUrl,
  urlSecrets,
} from '../../src/capture/redact.js';
import { FFMPEG, hasFfmpeg } from './capture-test-helpers.js';

describe('redactUrl', () => {
  it('replaces the password, keeps user, host, path', () => {
    expect(redactUrl('rtsp://admin:s3cret@cam.local:554/live/ch1')).toBe(
      'rtsp://admin:***@cam.local:554/live/ch1',
    );
    expect(redactUrl('rtsp://cam.local/live')).toBe('rtsp://cam.local/live');
    expect(redactUrl('rtsp://admin@cam.local/live')).toBe('rtsp://admin@cam.local/live');
    expect(redactUrl('rtsp://admin:@cam.local/live')).toBe('rtsp://admin:***@cam.local/live');
    expect(redactUrl('not a url')).toBe('not a url');
  });

  it('handles an unencoded @ or : in the password the way ffmpeg splits URLs (last @ of the authority)', () => {
    expect(redactUrl('rtsp://admin:p@ss:w0rd@10.0.0.2/stream')).toBe('rtsp://admin:***@10.0.0.2/stream');
    expect(urlSecrets('rtsp://admin:p@ss:w0rd@10.0.0.2/stream')).toContain('p@ss:w0rd');
  });

  it('redacts credential-like query parameters', () => {
    expect(redactUrl('rtsp://10.0.0.2/live?user=admin&password=hunter2&channel=1')).toBe(
      'rtsp://10.0.0.2/live?user=admin&password=***&channel=1',
    );
    expect(urlSecrets('rtsp://10.0.0.2/live?token=abc%2Fdef')).toEqual(['abc%2Fdef', 'abc/def']);
  });
});

describe('redactText', () => {
  it('removes every spelling of the secrets: raw, percent-decoded, Basic-auth base64', () => {
    const url = 'rtsp://admin:p%40ss@cam/live';
    const secrets = urlSecrets(url);
    expect(secrets).toEqual(['p%40ss', 'p@ss', Buffer.from('admin:p@ss').toString('base64')]);
    const text = `Authorization: Basic ${Buffer.from('admin:p@ss').toString('base64')}; password p@ss; url ${url}`;
    const redacted = redactText(text, secrets);
    expect(redacted).toBe('Authorization: Basic ***; password ***; url rtsp://admin:***@cam/live');
  });

  it('redacts userinfo of any URL in free text even without registered secrets', () => {
    expect(redactText("[tcp @ 0x55] rtsp://u:x@h:1/x: Connection refused, then 'http://a:b@c/'")).toBe(
      "[tcp @ 0x55] rtsp://u:***@h:1/x: Connection refused, then 'http://a:***@c/'",
    );
    expect(redactText('mail me at a@b.c, see rtsp://host/x')).toBe('mail me at a@b.c, see rtsp://host/x');
  });

  it('argv and command lines for logs', () => {
    const argv = ['-rtsp_transport', 'tcp', '-i', 'rtsp://admin:s3cret@cam/live', 'pipe:1'];
    expect(redactArgs(argv, ['s3cret'])).toEqual([
      '-rtsp_transport',
      'tcp',
      '-i',
      'rtsp://admin:***@cam/live',
      'pipe:1',
    ]);
    expect(formatCommandLine('ffmpeg', [...argv, 'video=HD Cam', "it's"], ['s3cret'])).toBe(
      "ffmpeg -rtsp_transport tcp -i 'rtsp://admin:***@cam/live' pipe:1 'video=HD Cam' 'it'\\''s'",
    );
    expect(describeSource({ kind: 'rtsp', url: 'rtsp://admin:s3cret@cam/live', transport: 'tcp' })).toBe(
      'rtsp rtsp://admin:***@cam/live (tcp)',
    );
  });
});

const PASSWORD = 'Sup3r-S3cret';
const URL = `rtsp://viewer:${PASSWORD}@127.0.0.1:1/stream`;

describe.skipIf(!hasFfmpeg)('a real ffmpeg failing to connect to rtsp://viewer:…@127.0.0.1:1', () => {
  it('leaks the password nowhere: argv, command line, stderr lines, error message, context, JSON', async () => {
    const plan = await planCapture(
      { kind: 'rtsp', url: URL, transport: 'tcp', readTimeoutMs: 2000 },
      {},
      { ffmpegPath: FFMPEG },
    );
    const lines: string[] = [];
    const process = startFfmpeg(plan.invocation, {
      ffmpegPath: FFMPEG,
      onStderrLine: (line) => lines.push(line),
    });
    const exit = await process.exited;
    const error = exit.error;
    expect(error?.exitCode).toBe(1);
    // ffmpeg did print the URL: the redacted form proves the line was there and was cleaned.
    expect(error?.message).toBe(
      'ffmpeg exited with code 1: rtsp://viewer:***@127.0.0.1:1/stream: Connection refused',
    );
    expect(error?.stderrTail.some((line) => line.includes('viewer:***@127.0.0.1:1'))).toBe(true);
    const everything = JSON.stringify({
      argv: process.argv,
      commandLine: process.commandLine,
      lines,
      tail: process.stderrTail,
      message: error?.message,
      context: error?.context,
      json: error?.toJSON(),
      description: plan.description,
      reasons: plan.invocation.reasons,
    });
    expect(everything).not.toContain(PASSWORD);
    expect(process.commandLine).toContain(`-i 'rtsp://viewer:***@127.0.0.1:1/stream'`);
  });

  it('and the restart loop reports the loss without the password', async () => {
    const plan = await planCapture({ kind: 'rtsp', url: URL, transport: 'tcp' }, {}, { ffmpegPath: FFMPEG });
    const events: CaptureEvent[] = [];
    for await (const output of captureWithRestarts(plan, {
      ffmpegPath: FFMPEG,
      restartPolicy: { initialDelayMs: 5, maxDelayMs: 5 },
      onData: () => undefined,
    })) {
      events.push(output);
      if (output.type === 'restart' && output.restarts === 2) {
        break;
      }
    }
    const restarts = events.filter((event) => event.type === 'restart');
    expect(restarts).toHaveLength(2);
    expect(restarts[0]).toMatchObject({
      reason: 'ffmpeg exited with code 1: rtsp://viewer:***@127.0.0.1:1/stream: Connection refused',
    });
    expect(JSON.stringify(events)).not.toContain(PASSWORD);
  });
});
