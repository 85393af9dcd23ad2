import { describe, expect, it } from 'vitest';
import { planCapture } from '../../src/capture/capture-plan.js';
import { ErrorCode, KvsPutError } from '../../src/errors.js';

describe('planCapture: cameras', () => {
  it('checks a Linux camera path before anything starts (exit code 7 with the devices present as a hint)', async () => {
    const error: unknown = await planCapture(
      { kind: 'device', path: '/dev/video99' },
      {},
      { ffmpegPath: 'ffmpeg', platform: 'linux' },
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(KvsPutError);
    expect(error).toMatchObject({
      code: ErrorCode.Io,
      message: 'camera /dev/video99: no such device',
      context: { path: '/dev/video99', code: 'ENOENT' },
    });
    expect((error as KvsPutError).suggestion).toMatch(/\/dev\/video/);
  });

  it('a character device passes the check; AVFoundation and DirectShow names are not paths', async () => {
    // /dev/null stands in for a camera: the check cannot tell them apart (ffmpeg's open does).
    const linux = await planCapture(
      { kind: 'device', path: '/dev/null' },
      {},
      { ffmpegPath: 'ffmpeg', platform: 'linux' },
    );
    expect(linux.invocation.inputs[0]).toMatchObject({ source: '/dev/null' });
    for (const [platform, path] of [
      ['darwin', '0'],
      ['win32', 'HD Pro Webcam C920'],
    ] as const) {
      const plan = await planCapture({ kind: 'device', path }, {}, { ffmpegPath: 'ffmpeg', platform });
      expect(plan.isRestartable).toBe(true);
    }
  });
});
