import { Command, InvalidArgumentError } from 'commander';
import { ErrorCode, KvsPutError } from '../../errors.js';
import { BYTES_PER_MB, KvsLimits } from '../../fragment/kvs-limits.js';
import { ErrorId } from '../../kvs/ack.js';
import type { LocalKvsOptions } from '../../emulator/local-kvs.js';
import {
  DEFAULT_LOCAL_KVS_HOST,
  DEFAULT_LOCAL_KVS_REGION,
  LOCAL_KVS_CREDENTIALS,
  REGION_PATTERN,
} from '../../emulator/local-kvs-defaults.js';
import type { CliIo } from '../cli-io.js';
import { ExitCode } from '../../exit-codes.js';
import type { CommandFactory } from '../run-cli.js';
import { whenAborted } from '../../util/when-aborted.js';

/** The port `kvs-put local` listens on unless told otherwise. */
export const DEFAULT_LOCAL_KVS_PORT = 4567;

/** The rate limits `--strict` turns on, as its help text says them. */
const STRICT_RATE_LIMITS =
  `${KvsLimits.maxPutMediaCallsPerSecond} PutMedia and ${KvsLimits.maxGetMediaCallsPerSecond} GetMedia calls/s, ` +
  `${KvsLimits.maxBytesPerSecond / BYTES_PER_MB} MB/s, ${KvsLimits.maxFragmentsPerSecond} fragments/s per stream`;

type LocalCommandOptions = {
  host: string;
  port: number;
  dataDir?: string;
  region: string;
  faults?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** commander's `--no-auth`: false when given. */
  auth: boolean;
  creatingDelayMs: number;
  strict?: boolean;
  maxConnectionDurationMs?: number;
  idleTimeoutMs?: number;
};

const parsePort = (value: string): number => {
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || port > 65_535) {
    throw new InvalidArgumentError('expected a TCP port from 0 to 65535 (0 = any free port).');
  }
  return port;
};

const parseDelayMs = (value: string): number => {
  const ms = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(ms)) {
    throw new InvalidArgumentError('expected a whole number of milliseconds (0 or more).');
  }
  return ms;
};

const parsePositiveMs = (value: string): number => {
  const ms = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(ms) || ms < 1 || ms > 2 ** 31) {
    throw new InvalidArgumentError('expected a whole number of milliseconds from 1 to 2147483648.');
  }
  return ms;
};

const parseRegion = (value: string): string => {
  if (!REGION_PATTERN.test(value)) {
    throw new InvalidArgumentError('expected a region name such as us-east-1.');
  }
  return value;
};

/** Where the accepted key pair comes from: flags, else the environment, else the fixed local pair. */
const resolveCredentials = (
  options: LocalCommandOptions,
  io: CliIo,
): { accessKeyId: string; secretAccessKey: string; source: 'flags' | 'environment' | 'local' } => {
  if ((options.accessKeyId === undefined) !== (options.secretAccessKey === undefined)) {
    throw new KvsPutError(ErrorCode.Usage, '--access-key-id and --secret-access-key go together', {
      suggestion:
        'give both, or neither to use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the fixed local pair',
    });
  }
  if (options.accessKeyId !== undefined && options.secretAccessKey !== undefined) {
    return { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey, source: 'flags' };
  }
  const accessKeyId = io.env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = io.env['AWS_SECRET_ACCESS_KEY'];
  if (
    accessKeyId !== undefined &&
    accessKeyId !== '' &&
    secretAccessKey !== undefined &&
    secretAccessKey !== ''
  ) {
    return { accessKeyId, secretAccessKey, source: 'environment' };
  }
  return { ...LOCAL_KVS_CREDENTIALS, source: 'local' };
};

/**
 * AWS CLI commands that work as pasted. Older AWS CLIs (Debian's 2.9) ignore AWS_ENDPOINT_URL_KINESIS_VIDEO,
 * so each command names the endpoint itself; the media commands take it too, since the local KVS serves
 * its data plane on the same port.
 */
const awsCliExamples = (url: string): string[] => [
  `# Older AWS CLIs (Debian ships 2.9) ignore AWS_ENDPOINT_URL_KINESIS_VIDEO: each command gives --endpoint-url.`,
  `aws kinesisvideo list-streams --endpoint-url ${url}`,
  `# After an upload to stream demo (kvs-put --stream demo --create --retention-hours 24 --file clip.mkv):`,
  `aws kinesis-video-archived-media list-fragments --stream-name demo --fragment-selector 'FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp=2000-01-01T00:00:00Z,EndTimestamp=2100-01-01T00:00:00Z}' --endpoint-url ${url}`,
  `aws kinesis-video-media get-media --stream-name demo --start-selector StartSelectorType=EARLIEST demo.mkv --endpoint-url ${url}`,
];

const runLocal = async (
  options: LocalCommandOptions,
  isRegionPinned: boolean,
  io: CliIo,
): Promise<number> => {
  const credentials = resolveCredentials(options, io);
  const kvsOptions: LocalKvsOptions = {
    host: options.host,
    port: options.port,
    region: options.region,
    isRegionPinned,
    credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
    noAuth: !options.auth,
    creatingDelayMs: options.creatingDelayMs,
    strict: options.strict === true,
    logger: (line) => io.stderr.write(`${line}\n`),
    ...(options.maxConnectionDurationMs === undefined
      ? {}
      : { maxConnectionDurationMs: options.maxConnectionDurationMs }),
    ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    ...(options.faults === undefined ? {} : { faults: options.faults }),
  };
  // Loaded here, not with the CLI: every other command runs without the emulator's code.
  const { startLocalKvs } = await import('../../emulator/local-kvs.js');
  const kvs = await startLocalKvs(kvsOptions);
  try {
    const lines = [
      `# kvs-put local: Kinesis Video Streams on ${kvs.url} (region ${kvs.region}${isRegionPinned ? ' only' : ' by default'}, account ${kvs.accountId}, ${options.auth ? 'SigV4 verified' : 'NO authentication (--no-auth)'}${options.dataDir === undefined ? ', in memory' : `, data in ${options.dataDir}`}${options.strict === true ? ', strict limits' : ''})`,
      `# To use it from a shell:`,
      `export AWS_ENDPOINT_URL_KINESIS_VIDEO=${kvs.url}`,
      `export AWS_REGION=${kvs.region}`,
      `export AWS_DEFAULT_REGION=${kvs.region}`,
    ];
    if (credentials.source === 'environment') {
      // Never echo a secret that may be a real AWS key: the shell already has it.
      lines.push(
        `# AWS_ACCESS_KEY_ID (${credentials.accessKeyId}) and AWS_SECRET_ACCESS_KEY: as already set in your environment`,
      );
    } else {
      lines.push(
        `export AWS_ACCESS_KEY_ID=${credentials.accessKeyId}`,
        `export AWS_SECRET_ACCESS_KEY=${credentials.secretAccessKey}`,
      );
    }
    lines.push(...awsCliExamples(kvs.url));
    lines.push(`# Ctrl+C stops it. One line per request follows on stderr.`);
    io.stdout.write(`${lines.join('\n')}\n`);
    await whenAborted(io.signal);
  } finally {
    await kvs.close();
  }
  io.stderr.write('kvs-put local: stopped\n');
  return ExitCode.Ok;
};

export const localCommand: CommandFactory = (io, setExitCode) => {
  const command: Command = new Command('local')
    .description(
      'Run a local Kinesis Video Streams endpoint (control plane, PutMedia, GetMedia, ListFragments, ' +
        'GetMediaForFragmentList; SigV4-verified) until Ctrl+C. ' +
        `It accepts the key pair given by --access-key-id/--secret-access-key, else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ` +
        `else the fixed local pair ${LOCAL_KVS_CREDENTIALS.accessKeyId} / ${LOCAL_KVS_CREDENTIALS.secretAccessKey}.`,
    )
    .option('--host <address>', 'address to listen on', DEFAULT_LOCAL_KVS_HOST)
    .option('--port <port>', 'TCP port (0 = any free port)', parsePort, DEFAULT_LOCAL_KVS_PORT)
    .option(
      '--data-dir <dir>',
      'keep streams and their fragments in this directory across restarts (default: in memory)',
    )
    .option(
      '--region <region>',
      'region to advertise; when given, requests signed for any other region are refused',
      parseRegion,
      DEFAULT_LOCAL_KVS_REGION,
    )
    .option('--faults <file>', 'fault plan (JSON) to start with; its format is in docs/local-kvs.md')
    .option('--access-key-id <id>', 'the access key id to accept')
    .option('--secret-access-key <secret>', 'the secret access key to accept')
    .option('--no-auth', 'accept unsigned requests (never the default)')
    .option(
      '--creating-delay-ms <ms>',
      'how long a new stream stays CREATING (the real service takes seconds)',
      parseDelayMs,
      0,
    )
    .option(
      '--strict',
      `enforce every service rate limit (${STRICT_RATE_LIMITS}) ` +
        'and refuse fragments that do not start with a key frame',
    )
    .option(
      '--max-connection-duration-ms <ms>',
      `close PutMedia connections this old with ERROR ${ErrorId.MaxConnectionDurationReached} ` +
        `(default: ${KvsLimits.maxConnectionDurationMs}, ${KvsLimits.maxConnectionDurationMs / 60_000} min)`,
      parsePositiveMs,
    )
    .option(
      '--idle-timeout-ms <ms>',
      `close PutMedia connections whose body is quiet this long (default: ${KvsLimits.idleCloseMs})`,
      parsePositiveMs,
    )
    .action(async (options: LocalCommandOptions) => {
      const isRegionPinned = command.getOptionValueSource('region') === 'cli';
      setExitCode(await runLocal(options, isRegionPinned, io));
    });
  return command;
};
