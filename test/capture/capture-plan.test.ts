import { describe, expect, it } from 'vitest';
import { cameraRefusal, parseCameraFormats, planCapture } from '../../src/capture/capture-plan.js';
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

describe('cameraRefusal: a run that no restart can mend', () => {
  const queryFailed = [
    '[video4linux2,v4l2 @ 0x55e25db54840] ioctl(VIDIOC_QUERYCAP): Inappropriate ioctl for device',
    '/dev/null: Inappropriate ioctl for device',
  ];

  it('a V4L2 path that is no video capture device (not V4L2, or a camera metadata node) ends the capture', async () => {
    const plan = await planCapture(
      { kind: 'device', path: '/dev/null' },
      {},
      { ffmpegPath: 'ffmpeg', platform: 'linux' },
    );
    const error = await cameraRefusal(plan, queryFailed);
    expect(error).toMatchObject({ code: ErrorCode.Io, message: '/dev/null is not a video capture device' });
    expect(error?.suggestion).toMatch(/^(there is no \/dev\/video|the video devices here)/);
    const metadataNode = await cameraRefusal(plan, [
      '[video4linux2,v4l2 @ 0x5581] Not a video capture device.',
      '/dev/null: No such device',
    ]);
    expect(metadataNode?.message).toBe('/dev/null is not a video capture device');
    // What ffmpeg 5.1 says of Linux's vivid test driver's nodes (scripts/camera-vm.sh). A metadata capture
    // node, as a UVC camera's second node: the driver reports the whole device's capabilities, so ffmpeg's
    // capture check passes and asking for the video format fails.
    const metaCapture = await cameraRefusal(plan, [
      '[video4linux2,v4l2 @ 0x55c6] ioctl(VIDIOC_G_FMT): Invalid argument',
      '/dev/null: Invalid argument',
    ]);
    expect(metaCapture).toMatchObject({
      message: '/dev/null is not a video capture device',
      context: { ffmpeg: '[video4linux2,v4l2 @ 0x55c6] ioctl(VIDIOC_G_FMT): Invalid argument' },
    });
    // An output node (vivid's vid-out, a loopback's writing side): there is no input to select.
    const output = await cameraRefusal(plan, [
      '[video4linux2,v4l2 @ 0x556a] ioctl(VIDIOC_G_INPUT): Inappropriate ioctl for device',
      '/dev/null: Inappropriate ioctl for device',
    ]);
    expect(output?.message).toBe('/dev/null is not a video capture device');
  });

  it('a camera that does not offer the --input-format asked for ends the capture as a usage error', async () => {
    const plan = await planCapture(
      { kind: 'device', path: '/dev/null', inputFormat: 'h264' },
      {},
      { ffmpegPath: 'ffmpeg', platform: 'linux' },
    );
    // What ffmpeg 5.1 says when vivid (raw formats only) is asked for H.264.
    const said =
      "[video4linux2,v4l2 @ 0x5593] Cannot find a proper format for codec 'h264' (id 27), pixel format 'none' (id -1)";
    const error = await cameraRefusal(plan, [said, '/dev/null: Invalid argument']);
    expect(error).toMatchObject({
      code: ErrorCode.Usage,
      message: 'camera /dev/null does not offer h264',
      context: { path: '/dev/null', ffmpeg: said },
    });
    expect(error?.suggestion).toMatch(/^kvs-put doctor --device \/dev\/null lists the formats it offers/);
  });

  it('anything else is waited out: other failures, other platforms, other sources', async () => {
    const linux = await planCapture(
      { kind: 'device', path: '/dev/null' },
      {},
      { ffmpegPath: 'ffmpeg', platform: 'linux' },
    );
    // Unplugged or busy: the capture restarts and waits for the camera.
    expect(await cameraRefusal(linux, ['/dev/null: No such file or directory'])).toBeUndefined();
    expect(await cameraRefusal(linux, ['/dev/null: Device or resource busy'])).toBeUndefined();
    const mac = await planCapture(
      { kind: 'device', path: '0' },
      {},
      { ffmpegPath: 'ffmpeg', platform: 'darwin' },
    );
    expect(await cameraRefusal(mac, queryFailed)).toBeUndefined();
    const rtsp = await planCapture(
      { kind: 'rtsp', url: 'rtsp://192.0.2.10/stream1', transport: 'tcp' },
      {},
      { ffmpegPath: 'ffmpeg', platform: 'linux' },
    );
    expect(await cameraRefusal(rtsp, queryFailed)).toBeUndefined();
  });
});

describe('parseCameraFormats: ffmpeg -f v4l2 -list_formats all', () => {
  it('reads raw and compressed formats, emulated ones and stepwise sizes', () => {
    const listing = [
      'Input #0, video4linux2,v4l2, from /dev/video0:',
      '[video4linux2,v4l2 @ 0x55d0] Raw       :     yuyv422 :           YUYV 4:2:2 : 640x480 160x120',
      '[video4linux2,v4l2 @ 0x55d0] Compressed:       mjpeg :          Motion-JPEG : 1280x720',
      '[video4linux2,v4l2 @ 0x55d0] Raw       :     yuv420p :     Planar YUV 4:2:0 : Emulated : 640x480',
      '[video4linux2,v4l2 @ 0x55d0] Raw       :     nv12 :         Y/CbCr 4:2:0 : {32-1920, 2}x{32-1080, 2}',
      '/dev/video0: Immediate exit requested',
    ].join('\n');
    expect(parseCameraFormats(listing)).toEqual([
      { name: 'yuyv422', isCompressed: false, description: 'YUYV 4:2:2', sizes: ['640x480', '160x120'] },
      { name: 'mjpeg', isCompressed: true, description: 'Motion-JPEG', sizes: ['1280x720'] },
      { name: 'yuv420p', isCompressed: false, description: 'Planar YUV 4:2:0', sizes: ['640x480'] },
      {
        name: 'nv12',
        isCompressed: false,
        description: 'Y/CbCr 4:2:0',
        sizes: ['{32-1920,', '2}x{32-1080,', '2}'],
      },
    ]);
    expect(parseCameraFormats('/dev/video9: No such file or directory')).toEqual([]);
  });

  it('leaves out formats ffmpeg cannot name and lists each name once', () => {
    // From Linux's vivid test driver: YUV and YVU 4:2:0 are both yuv420p to ffmpeg.
    const lines = [
      '[video4linux2,v4l2 @ 0x5602] Raw       :     yuyv422 :           YUYV 4:2:2 : 320x180 640x360',
      '[video4linux2,v4l2 @ 0x5602] Raw       : Unsupported :           YVYU 4:2:2 : 320x180 640x360',
      '[video4linux2,v4l2 @ 0x5602] Raw       :     yuv420p :     Planar YUV 4:2:0 : 320x180 640x360',
      '[video4linux2,v4l2 @ 0x5602] Raw       :     yuv420p :     Planar YVU 4:2:0 : 320x180',
    ];
    expect(parseCameraFormats(lines).map((format) => [format.name, format.description])).toEqual([
      ['yuyv422', 'YUYV 4:2:2'],
      ['yuv420p', 'Planar YUV 4:2:0'],
    ]);
  });
});
