/**
 * The local KVS's options as it runs with them: every `LocalKvsOptions` field checked (a TypeError naming the
 * option) and defaulted. The data plane's defaults are those of `DEFAULT_DATA_PLANE_CONFIG`.
 */
import type { Clock } from '../util/clock.js';
import type { DataPlaneConfig } from './data-plane.js';
import { DEFAULT_DATA_PLANE_CONFIG } from './data-plane.js';
import { toServiceClock } from './emulator-clock.js';
import type { LocalKvsOptions } from './local-kvs.js';
import {
  DEFAULT_LOCAL_KVS_HOST,
  DEFAULT_LOCAL_KVS_REGION,
  LOCAL_KVS_CREDENTIALS,
  REGION_PATTERN,
} from './local-kvs-defaults.js';
import type { SigV4Credentials } from './sigv4-verify.js';
import { DEFAULT_MAX_STREAMS_PER_ACCOUNT } from './stream-store.js';

/** The 12-digit account id in ARNs unless another is configured. */
export const DEFAULT_LOCAL_KVS_ACCOUNT_ID = '123456789012';

/** The local KVS's options, checked and defaulted. */
export type LocalKvsConfig = Readonly<{
  host: string;
  port: number;
  region: string;
  isRegionPinned: boolean;
  accountId: string;
  credentials: SigV4Credentials;
  noAuth: boolean;
  creatingDelayMs: number;
  updatingDelayMs: number;
  deletingDelayMs: number;
  maxStreamsPerAccount: number;
  logger: (line: string) => void;
  /** The service clock: the one given, whole or `now` only with the machine's timers. */
  clock: Clock;
  dataPlane: DataPlaneConfig;
}>;

/** Checks the options (TypeErrors naming the option) and fills in the defaults. */
export const resolveLocalKvsConfig = (options: LocalKvsOptions): LocalKvsConfig => {
  const checkInteger = (
    name: string,
    value: number | undefined,
    min: number,
    max: number,
  ): number | undefined => {
    if (value !== undefined && (!Number.isInteger(value) || value < min || value > max)) {
      throw new TypeError(
        `options.${name}, when provided, must be an integer from ${min} to ${max}; got ${value}`,
      );
    }
    return value;
  };
  const region = options.region ?? DEFAULT_LOCAL_KVS_REGION;
  if (!REGION_PATTERN.test(region)) {
    throw new TypeError(
      `options.region, when provided, must be a region name such as us-east-1; got ${region}`,
    );
  }
  const accountId = options.accountId ?? DEFAULT_LOCAL_KVS_ACCOUNT_ID;
  if (!/^\d{12}$/.test(accountId)) {
    throw new TypeError(`options.accountId, when provided, must be 12 digits; got ${accountId}`);
  }
  const credentials = options.credentials ?? LOCAL_KVS_CREDENTIALS;
  if (credentials.accessKeyId === '' || credentials.secretAccessKey === '') {
    throw new TypeError(
      'options.credentials, when provided, must have a non-empty accessKeyId and secretAccessKey',
    );
  }
  return {
    host: options.host ?? DEFAULT_LOCAL_KVS_HOST,
    port: checkInteger('port', options.port, 0, 65_535) ?? 0,
    region,
    isRegionPinned: options.isRegionPinned ?? false,
    accountId,
    credentials,
    noAuth: options.noAuth ?? false,
    creatingDelayMs: checkInteger('creatingDelayMs', options.creatingDelayMs, 0, 2 ** 31) ?? 0,
    updatingDelayMs: checkInteger('updatingDelayMs', options.updatingDelayMs, 0, 2 ** 31) ?? 0,
    deletingDelayMs: checkInteger('deletingDelayMs', options.deletingDelayMs, 0, 2 ** 31) ?? 0,
    maxStreamsPerAccount:
      checkInteger('maxStreamsPerAccount', options.maxStreamsPerAccount, 1, 2 ** 31) ??
      DEFAULT_MAX_STREAMS_PER_ACCOUNT,
    logger: options.logger ?? (() => undefined),
    clock: toServiceClock(options.clock),
    dataPlane: {
      ...DEFAULT_DATA_PLANE_CONFIG,
      isStrict: options.strict ?? false,
      ...definedOnly({
        maxConnectionDurationMs: checkInteger(
          'maxConnectionDurationMs',
          options.maxConnectionDurationMs,
          1,
          2 ** 31,
        ),
        idleTimeoutMs: checkInteger('idleTimeoutMs', options.idleTimeoutMs, 1, 2 ** 31),
        idleAckIntervalMs: checkInteger('idleAckIntervalMs', options.idleAckIntervalMs, 1, 2 ** 31),
        getMediaIdleTimeoutMs: checkInteger(
          'getMediaIdleTimeoutMs',
          options.getMediaIdleTimeoutMs,
          1,
          2 ** 31,
        ),
        maxFragmentDurationMs: checkInteger(
          'maxFragmentDurationMs',
          options.maxFragmentDurationMs,
          1,
          2 ** 31,
        ),
        maxFragmentBytes: checkInteger('maxFragmentBytes', options.maxFragmentBytes, 1, 2 ** 40),
        futureToleranceMs: checkInteger('futureToleranceMs', options.futureToleranceMs, 0, 2 ** 40),
        lingerMs: checkInteger('lingerMs', options.lingerMs, 0, 2 ** 31),
      }),
    },
  };
};

/** The entries of an object whose value is not undefined (for `exactOptionalPropertyTypes`-safe spreading). */
const definedOnly = <T extends Record<string, number | undefined>>(
  values: T,
): Partial<Record<keyof T, number>> =>
  Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<
    Record<keyof T, number>
  >;
