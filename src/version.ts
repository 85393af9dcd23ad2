import { readFileSync } from 'node:fs';

/** Set by the CLI bundle (scripts/bundle-cli.mjs), which has no package.json beside its modules. */
declare const KVS_PUT_BUNDLED_VERSION: string | undefined;

/** kvs-put's version, read from its package.json once. */
export const VERSION: string =
  typeof KVS_PUT_BUNDLED_VERSION === 'string'
    ? KVS_PUT_BUNDLED_VERSION
    : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
        .version;
