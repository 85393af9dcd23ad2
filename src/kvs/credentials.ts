/**
 * The standard AWS credential chain as kvs-put uses it (environment, shared files, SSO, process, web identity,
 * ECS, IMDS): a named profile must exist, the SDK's console warnings never reach the terminal, and a chain
 * that finds nothing says so in a sentence (exit 4), not as `CredentialsProviderError`.
 */
import type { AwsCredentialIdentityProvider, Logger } from '@smithy/types';
import { ErrorCode, KvsPutError } from '../errors.js';

export type DefaultCredentialsOptions = {
  /** A shared config/credentials profile; AWS_PROFILE when not given. */
  profile?: string;
  /** Where AWS_PROFILE, the key variables and the shared files' paths are read. */
  env: Readonly<Record<string, string | undefined>>;
  /** Gets the one line that replaces the SDK's multi-line "Multiple credential sources" block. */
  onWarning?: (message: string) => void;
};

/**
 * The SDK writes some warnings with console.warn unless it is given a logger (credential-provider-node's
 * "fromEnv WARNING" when a profile and AWS_ACCESS_KEY_ID are both set): this one keeps them all off stderr.
 */
const SILENT_LOGGER: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

const filesOf = (env: DefaultCredentialsOptions['env']): string =>
  `${env['AWS_CONFIG_FILE'] ?? '~/.aws/config'} or ${env['AWS_SHARED_CREDENTIALS_FILE'] ?? '~/.aws/credentials'}`;

/** Refuses a profile that neither shared file has, naming it (the chain would only say it found nothing). */
const checkProfileExists = async (
  profile: string,
  source: string,
  env: DefaultCredentialsOptions['env'],
): Promise<void> => {
  // The SDK's own reader, so that `[profile x]` and `[x]` sections count as it counts them.
  const { loadSharedConfigFiles } = await import('@smithy/core/config');
  const files = await loadSharedConfigFiles({
    ...(env['AWS_CONFIG_FILE'] === undefined ? {} : { configFilepath: env['AWS_CONFIG_FILE'] }),
    ...(env['AWS_SHARED_CREDENTIALS_FILE'] === undefined
      ? {}
      : { filepath: env['AWS_SHARED_CREDENTIALS_FILE'] }),
    ignoreCache: true,
  });
  if (files.configFile[profile] === undefined && files.credentialsFile[profile] === undefined) {
    throw new KvsPutError(
      ErrorCode.Credentials,
      `AWS profile ${profile}${source} not found in ${filesOf(env)}`,
      {
        context: { profile },
        suggestion:
          'aws configure list-profiles shows the profiles there; aws configure --profile NAME adds one',
      },
    );
  }
};

/** Turns the chain's "Could not load credentials from any providers" into what to do about it. */
const explained = (error: unknown, profile: string | undefined): unknown => {
  if (!(error instanceof Error) || error.name !== 'CredentialsProviderError') {
    return error;
  }
  const message =
    profile === undefined
      ? 'no AWS credentials found (environment, ~/.aws files, SSO, instance or container role)'
      : `AWS profile ${profile} gave no credentials: ${error.message.split('\n')[0] ?? ''}`;
  return new KvsPutError(ErrorCode.Credentials, message, {
    cause: error,
    suggestion:
      profile === undefined
        ? 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give --profile NAME (aws configure sets one up)'
        : `check the profile's keys, or run aws sso login --profile ${profile} for an SSO profile`,
  });
};

/** The standard chain, checked and quiet (see the module comment). Resolve it again for each connection. */
export const defaultCredentials = async (
  options: DefaultCredentialsOptions,
): Promise<AwsCredentialIdentityProvider> => {
  const { env } = options;
  const profile = options.profile ?? (env['AWS_PROFILE'] === '' ? undefined : env['AWS_PROFILE']);
  if (profile !== undefined) {
    await checkProfileExists(profile, options.profile === undefined ? ' (AWS_PROFILE)' : '', env);
    if (env['AWS_ACCESS_KEY_ID'] !== undefined && env['AWS_SECRET_ACCESS_KEY'] !== undefined) {
      options.onWarning?.(
        `AWS profile ${profile} is used: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment are ignored`,
      );
    }
  }
  // Loaded on demand: start-up time counts for short uploads.
  const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
  const chain = fromNodeProviderChain({
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    logger: SILENT_LOGGER,
  });
  return async (identityProperties) => {
    try {
      return await chain(identityProperties);
    } catch (error) {
      throw explained(error, profile);
    }
  };
};
