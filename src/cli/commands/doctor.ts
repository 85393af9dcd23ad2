import { Command } from 'commander';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { KvsPutError } from '../../errors.js';
import { locateFfmpeg, locateFfprobe, probeFfmpegCapabilities } from '../../capture/ffmpeg-locator.js';
import type { FfmpegCapabilities, LocatedFfmpeg } from '../../capture/ffmpeg-locator.js';
import { DEVICE_INPUT_FORMATS, devicePlatformOf } from '../../capture/capture-source.js';
import type { CameraFormat } from '../../capture/capture-plan.js';
import type { CliIo } from '../cli-io.js';
import { ExitCode, exitCodeFor } from '../../exit-codes.js';
import type { CommandFactory } from '../run-cli.js';

/** One line of `kvs-put doctor`. */
export type DoctorCheck = {
  /** Short and stable (scripts match on it): `ffmpeg`, `ffmpeg: libx264`… */
  name: string;
  ok: boolean;
  /** A failed required check fails doctor; a failed optional one is a warning. */
  required: boolean;
  /** What was found, or what is wrong. */
  detail: string;
  /** What to do about a failure. */
  hint?: string;
  /** doctor's exit code when this required check fails. @default ExitCode.Internal (1) */
  exitCodeOnFailure?: ExitCode;
};

/** What check providers get. */
export type DoctorContext = {
  io: CliIo;
  /** Where to check credentials and reachability (the same flags as an upload). */
  aws?: { profile?: string; region?: string; endpointUrl?: string; stream?: string; skip?: boolean };
  /** A camera to check (`--device`): present, open to this user, a capture device, and what it offers. */
  device?: string;
};

/** A group of checks (ffmpeg; later credentials, endpoint reachability). */
export type DoctorCheckProvider = (context: DoctorContext) => Promise<DoctorCheck[]>;

const failure = (error: unknown): { detail: string; hint?: string } =>
  error instanceof KvsPutError
    ? { detail: error.message, ...(error.suggestion === undefined ? {} : { hint: error.suggestion }) }
    : { detail: error instanceof Error ? error.message : String(error) };

const cameraCheck = (capabilities: FfmpegCapabilities): DoctorCheck => {
  const [api, has] = {
    linux: ['V4L2', capabilities.hasV4l2] as const,
    darwin: ['AVFoundation', capabilities.hasAvfoundation] as const,
    win32: ['DirectShow', capabilities.hasDshow] as const,
  }[devicePlatformOf(process.platform)];
  return {
    name: `ffmpeg: ${api.toLowerCase()}`,
    ok: has,
    required: false,
    detail: has ? `${api} camera input (--device)` : `no ${api} input: --device will not work`,
  };
};

/** Which ffmpeg kvs-put runs and whether it can do what kvs-put asks of it. */
export const ffmpegChecks: DoctorCheckProvider = async ({ io }) => {
  let located: LocatedFfmpeg;
  let capabilities: FfmpegCapabilities;
  try {
    located = await locateFfmpeg(io.env);
    capabilities = await probeFfmpegCapabilities(located.path);
  } catch (error) {
    return [{ name: 'ffmpeg', ok: false, required: true, ...failure(error), exitCodeOnFailure: ExitCode.Io }];
  }
  const ffprobePath = await locateFfprobe(io.env, located.path);
  const feature = (
    name: string,
    has: boolean,
    required: boolean,
    what: string,
    missing: string,
  ): DoctorCheck => ({
    name,
    ok: has,
    required,
    detail: has ? what : missing,
    ...(has
      ? {}
      : {
          hint: 'install a full ffmpeg build (Debian/Ubuntu: apt-get install ffmpeg), or set FFMPEG_PATH to one',
        }),
    ...(required ? { exitCodeOnFailure: ExitCode.Io } : {}),
  });
  return [
    {
      name: 'ffmpeg',
      ok: true,
      required: true,
      detail: `${located.path} (from ${located.source}), version ${capabilities.version}`,
    },
    feature(
      'ffmpeg: matroska',
      capabilities.hasMatroskaMuxer,
      true,
      'Matroska muxer (what kvs-put reads from ffmpeg)',
      'no Matroska muxer: kvs-put cannot read anything from this ffmpeg',
    ),
    feature(
      'ffmpeg: libx264',
      capabilities.hasLibx264,
      false,
      'H.264 encoder (--testsrc, raw and MJPEG cameras, --transcode)',
      'no libx264: only sources that already deliver H.264/H.265 can be sent',
    ),
    feature(
      'ffmpeg: aac',
      capabilities.hasAac,
      false,
      'AAC encoder (audio that is not AAC already)',
      'no AAC encoder: only AAC audio can be sent (or use --no-audio)',
    ),
    feature(
      'ffmpeg: rtsp',
      capabilities.hasRtsp,
      false,
      `RTSP input (--rtsp; socket timeout option -${capabilities.rtspTimeoutOption})`,
      'no RTSP input: --rtsp will not work',
    ),
    cameraCheck(capabilities),
    {
      name: 'ffprobe',
      ok: ffprobePath !== undefined,
      required: false,
      detail: ffprobePath ?? 'not found: files are probed with ffmpeg instead (less detail)',
    },
  ];
};

/** Shows an access key id without most of it: enough to tell keys apart, not to use one. */
const maskKeyId = (keyId: string): string =>
  keyId.length <= 8 ? '****' : `${keyId.slice(0, 4)}…${keyId.slice(-4)}`;

/** Credentials from the standard chain, the region, and a signed call to the control plane. */
export const awsChecks: DoctorCheckProvider = async ({ io, aws }) => {
  if (aws?.skip === true) {
    return [];
  }
  // The AWS SDK loads with the check that needs it, not with the CLI.
  const [{ defaultCredentials }, { ListStreamsCommand }, { StreamControl, toKvsError }] = await Promise.all([
    import('../../kvs/credentials.js'),
    import('@aws-sdk/client-kinesis-video'),
    import('../../kvs/stream-control.js'),
  ]);
  const checks: DoctorCheck[] = [];
  let provider: AwsCredentialIdentityProvider;
  try {
    // The chain put uses: a missing profile is named, and the SDK's console warnings stay off stderr.
    provider = await defaultCredentials({
      ...(aws?.profile === undefined ? {} : { profile: aws.profile }),
      env: io.env,
    });
    const credentials = await provider();
    const expiry =
      credentials.expiration === undefined ? '' : `, expires ${credentials.expiration.toISOString()}`;
    checks.push({
      name: 'aws: credentials',
      ok: true,
      required: true,
      detail: `access key ${maskKeyId(credentials.accessKeyId)}${credentials.sessionToken === undefined ? '' : ' (session)'}${expiry}`,
    });
  } catch (error) {
    checks.push({
      name: 'aws: credentials',
      ok: false,
      required: true,
      detail: error instanceof Error ? error.message.split('\n')[0]! : String(error),
      hint:
        (error instanceof KvsPutError ? error.suggestion : undefined) ??
        'set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, give --profile, or run on a host with an instance role',
      exitCodeOnFailure: ExitCode.Credentials,
    });
    return checks;
  }
  const control = new StreamControl({
    credentials: provider,
    ...(aws?.region === undefined ? {} : { region: aws.region }),
    ...(aws?.endpointUrl === undefined ? {} : { endpoint: aws.endpointUrl }),
    ...(aws?.profile === undefined ? {} : { profile: aws.profile }),
    signal: io.signal,
  });
  try {
    const region = await control.region();
    checks.push({ name: 'aws: region', ok: true, required: true, detail: region });
    const what = aws?.stream === undefined ? 'ListStreams' : `DescribeStream ${aws.stream}`;
    try {
      if (aws?.stream === undefined) {
        await control.client.send(new ListStreamsCommand({ MaxResults: 1 }));
      } else {
        await control.ensureStream({ streamName: aws.stream }, undefined, 0);
      }
      checks.push({ name: 'aws: endpoint', ok: true, required: true, detail: `${what} answered` });
    } catch (error) {
      const kvsError = toKvsError(error, what);
      checks.push({
        name: 'aws: endpoint',
        ok: false,
        required: true,
        detail: kvsError.message,
        ...(kvsError.suggestion === undefined ? {} : { hint: kvsError.suggestion }),
        exitCodeOnFailure: exitCodeFor(kvsError.code),
      });
    }
  } catch (error) {
    checks.push({
      name: 'aws: region',
      ok: false,
      required: true,
      ...failure(error),
      exitCodeOnFailure: ExitCode.Usage,
    });
  } finally {
    control.destroy();
  }
  return checks;
};

/**
 * The camera given with `--device`: on Linux a character device this user may open (run doctor as the
 * service's user to see what the service will meet), that ffmpeg finds is a video capture device, with the
 * formats and frame sizes it offers (what `--input-format` and `--video-size` may ask for). Elsewhere the
 * name is ffmpeg's to resolve.
 */
export const deviceChecks: DoctorCheckProvider = async ({ io, device }) => {
  if (device === undefined) {
    return [];
  }
  if (devicePlatformOf(process.platform) !== 'linux') {
    return [
      {
        name: 'camera',
        ok: true,
        required: false,
        detail: `${device}: not checked here (ffmpeg finds cameras by index or name when it captures)`,
      },
    ];
  }
  // Loaded with the check that needs it, as put loads it with a capture.
  const { checkCameraDevice, listCameraFormats } = await import('../../capture/capture-plan.js');
  let formats: CameraFormat[] = [];
  try {
    await checkCameraDevice(device);
    const ffmpegPath = await locateFfmpeg(io.env).then(
      (located) => located.path,
      () => undefined,
    );
    // Without an ffmpeg (its own check says so) the path check stands alone.
    formats = ffmpegPath === undefined ? [] : await listCameraFormats(ffmpegPath, device);
  } catch (error) {
    return [{ name: 'camera', ok: false, required: true, ...failure(error), exitCodeOnFailure: ExitCode.Io }];
  }
  return [{ name: 'camera', ok: true, required: true, detail: `${device}: ${cameraOffers(formats)}` }];
};

/** How many formats the camera line shows, with their sizes. */
const SHOWN_FORMATS = 4;
/** How many of a format's sizes it shows. */
const SHOWN_SIZES = 4;

/**
 * The camera line: the formats `--input-format` can ask for first, then the rest as the driver lists them
 * (Linux's vivid test driver offers some 30), each with its first sizes.
 */
export const cameraOffers = (formats: readonly CameraFormat[]): string => {
  if (formats.length === 0) {
    // No ffmpeg here, or one without a V4L2 input: its own check says so.
    return 'a video device this user can open';
  }
  const askable = (format: CameraFormat): boolean =>
    (DEVICE_INPUT_FORMATS as readonly string[]).includes(format.name);
  const askableFormats = formats.filter(askable);
  const ordered = [...askableFormats, ...formats.filter((format) => !askable(format))];
  const shown = ordered.slice(0, SHOWN_FORMATS).map((format) => {
    const sizes =
      format.sizes.length > SHOWN_SIZES ? [...format.sizes.slice(0, SHOWN_SIZES), '…'] : format.sizes;
    return [format.name, ...sizes].join(' ');
  });
  const more = ordered.length > SHOWN_FORMATS ? ` and ${ordered.length - SHOWN_FORMATS} more` : '';
  const askableNames = askableFormats.map((format) => format.name);
  const ask =
    askableNames.length === 0
      ? ' (none that --input-format asks for: kvs-put takes what the camera delivers by default)'
      : askableNames.includes('h264')
        ? ' (--input-format h264 sends its H.264 as it is, without encoding)'
        : '';
  return `a video capture device this user can open; it offers ${shown.join(', ')}${more}${ask}`;
};

/** The checks doctor runs, in order. */
export const DOCTOR_CHECK_PROVIDERS: readonly DoctorCheckProvider[] = [ffmpegChecks, deviceChecks, awsChecks];

/** Runs every provider; a provider that throws becomes one failed required check. */
export const runDoctorChecks = async (
  context: DoctorContext,
  providers: readonly DoctorCheckProvider[] = DOCTOR_CHECK_PROVIDERS,
): Promise<DoctorCheck[]> => {
  const checks: DoctorCheck[] = [];
  for (const provider of providers) {
    try {
      checks.push(...(await provider(context)));
    } catch (error) {
      checks.push({ name: provider.name || 'check', ok: false, required: true, ...failure(error) });
    }
  }
  return checks;
};

/** doctor's exit code: that of the first failed required check, else 0. */
export const doctorExitCode = (checks: readonly DoctorCheck[]): number => {
  const failed = checks.find((check) => check.required && !check.ok);
  return failed === undefined ? ExitCode.Ok : (failed.exitCodeOnFailure ?? ExitCode.Internal);
};

/** A check as `--json` shows it (the exit code is doctor's own business). */
const publicCheck = (check: DoctorCheck): Omit<DoctorCheck, 'exitCodeOnFailure'> => ({
  name: check.name,
  ok: check.ok,
  required: check.required,
  detail: check.detail,
  ...(check.hint === undefined ? {} : { hint: check.hint }),
});

const renderText = (checks: readonly DoctorCheck[]): string => {
  const width = Math.max(...checks.map((check) => check.name.length));
  const lines = checks.flatMap((check) => {
    const status = check.ok ? 'ok  ' : check.required ? 'FAIL' : 'warn';
    return [
      `  ${status}  ${check.name.padEnd(width)}  ${check.detail}`,
      ...(check.ok || check.hint === undefined ? [] : [`        ${' '.repeat(width)}  hint: ${check.hint}`]),
    ];
  });
  const failed = checks.filter((check) => check.required && !check.ok).length;
  const warnings = checks.filter((check) => !check.required && !check.ok).length;
  const summary =
    failed === 0
      ? `all required checks passed${warnings === 0 ? '' : ` (${warnings} warning${warnings === 1 ? '' : 's'})`}`
      : `${failed} required check${failed === 1 ? '' : 's'} failed`;
  return `${lines.join('\n')}\n${summary}\n`;
};

export const doctorCommand: CommandFactory = (io, setExitCode) =>
  new Command('doctor')
    .description(
      'Check what kvs-put needs: which ffmpeg it runs and what that ffmpeg can do, the AWS credentials, and whether the endpoint answers.',
    )
    .option('--json', 'print one JSON document ({ ok, checks: [{ name, ok, required, detail, hint }] })')
    .option('--region <region>', 'AWS region (default: AWS_REGION, then the profile)')
    .option(
      '--endpoint-url <url>',
      'control-plane endpoint (default: AWS_ENDPOINT_URL_KINESIS_VIDEO, AWS_ENDPOINT_URL)',
    )
    .option('--profile <name>', 'shared config/credentials profile')
    .option('-s, --stream <name>', 'also check that this stream exists and is ACTIVE')
    .option(
      '--device <path>',
      'also check this camera: there, open to this user, a capture device; list its formats and sizes',
    )
    .option('--no-aws', 'skip the credential and endpoint checks')
    .action(
      async (options: {
        json?: boolean;
        region?: string;
        endpointUrl?: string;
        profile?: string;
        stream?: string;
        device?: string;
        aws: boolean;
      }) => {
        const checks = await runDoctorChecks({
          io,
          ...(options.device === undefined ? {} : { device: options.device }),
          aws: {
            skip: !options.aws,
            ...(options.profile === undefined ? {} : { profile: options.profile }),
            ...(options.region === undefined ? {} : { region: options.region }),
            ...(options.endpointUrl === undefined ? {} : { endpointUrl: options.endpointUrl }),
            ...(options.stream === undefined ? {} : { stream: options.stream }),
          },
        });
        const exitCode = doctorExitCode(checks);
        if (options.json === true) {
          io.stdout.write(
            `${JSON.stringify({
              ok: exitCode === ExitCode.Ok,
              checks: checks.map(publicCheck),
            })}\n`,
          );
        } else {
          io.stdout.write(renderText(checks));
        }
        setExitCode(exitCode);
      },
    );
