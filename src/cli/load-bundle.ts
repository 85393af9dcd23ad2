/**
 * Runs the bundled CLI (dist/kvs-put.cjs, see scripts/bundle-cli.mjs) with V8's code cache, so that a run
 * does not parse and compile the whole bundle again, a large part of what a run spends before its first
 * frame. Start-up counts for cron uploads, CI steps and a camera box that restarts the service.
 *
 * Node ≥ 22.1 keeps such a cache itself (module.enableCompileCache), pointed at the same directory. On older
 * Node the bundle is compiled through vm.Script with cached data kept here: one file per kind of run (a
 * live capture, a file upload, `local`, …), since a cache holds only the functions its run compiled. The
 * bundle has no import() (scripts/bundle-cli.mjs turns them into require()): a script compiled from cached
 * data cannot import().
 *
 * The cache is code V8 runs, so it lives where only this user writes ($XDG_CACHE_HOME/kvs-put, else
 * ~/.cache/kvs-put; directory 0700, files 0600), never in a shared temporary directory. V8 refuses data made
 * from other source or by another V8, and the file name carries the bundle's size and time and the Node
 * version besides, and a tag of the bundle's path, so that two installs (a global one, a project's) do not
 * evict each other's cache. KVS_PUT_COMPILE_CACHE=off turns the cache off. Failing to read or write it
 * only loses the saving.
 */
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { isAscii } from 'node:buffer';
import module, { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import vm from 'node:vm';
import { ensurePrivateDirectory, userCacheDirectory, writeCacheFile } from '../util/user-cache.js';

type Environment = Readonly<Record<string, string | undefined>>;

/** How the bundle was loaded: with a cache made now, one read back, one V8 refused, Node's own, or none. */
export type CacheUse = 'created' | 'used' | 'rejected' | 'node' | 'off';

/** Where the cache lives (src/util/user-cache.ts), or undefined when it is turned off or there is no home. */
export const compileCacheDirectory = (env: Environment): string | undefined =>
  env['KVS_PUT_COMPILE_CACHE'] === 'off' ? undefined : userCacheDirectory(env);

/**
 * Which kind of run the arguments start: runs of one kind compile the same functions. `put` (the default
 * command) splits into live captures and file uploads.
 */
export const runKind = (argv: readonly string[]): string => {
  const command = argv.find((arg) => !arg.startsWith('-'));
  if (command === 'local' || command === 'doctor' || command === 'inspect') {
    return command;
  }
  if (argv.includes('--help') || argv.includes('-h') || argv.includes('--version') || argv.includes('-V')) {
    return 'help';
  }
  const isLive = argv.some((arg) => /^--(rtsp|device|testsrc)(=|$)/.test(arg));
  return isLive ? 'live' : 'put';
};

/** A run keeps going past this: its cache is written then, before V8 drops the bytecode of start-up code. */
const SAVE_AFTER_MS = 5000;

/** Loads and runs the CommonJS bundle at `bundlePath` (its top level starts the CLI). */
export const loadBundle = (
  bundlePath: string,
  options: { cacheDirectory: string | undefined; kind: string },
): CacheUse => {
  const requireFromBundle = createRequire(bundlePath);
  const directory = options.cacheDirectory;
  const enableNodeCache = (module as { enableCompileCache?: (directory: string) => unknown })
    .enableCompileCache;
  if (directory === undefined || !ensurePrivateDirectory(directory)) {
    requireFromBundle(bundlePath);
    return 'off';
  }
  if (enableNodeCache !== undefined) {
    enableNodeCache(directory);
    requireFromBundle(bundlePath);
    return 'node';
  }
  const source = readSource(bundlePath);
  const { size, mtimeMs } = statSync(bundlePath);
  const prefix = `${basename(bundlePath)}-${options.kind}-${pathTag(bundlePath)}-`;
  const cacheFile = join(
    directory,
    `${prefix}${process.version}-${process.arch}-${size}-${Math.trunc(mtimeMs)}.v8cache`,
  );
  const cachedData = readIfPresent(cacheFile);
  const script = new vm.Script(module.wrap(source), {
    filename: bundlePath,
    ...(cachedData === undefined ? {} : { cachedData }),
  });
  const use: CacheUse =
    cachedData === undefined ? 'created' : script.cachedDataRejected === true ? 'rejected' : 'used';
  if (use !== 'used') {
    let isSaved = false;
    const save = (): void => {
      if (!isSaved) {
        isSaved = true;
        saveCache(script, cacheFile, prefix);
      }
    };
    setTimeout(save, SAVE_AFTER_MS).unref();
    process.once('exit', save);
  }
  const wrapper = script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: { exports: unknown },
    filename: string,
    dirname: string,
  ) => void;
  const bundleModule = { exports: {} };
  wrapper.call(
    bundleModule.exports,
    bundleModule.exports,
    requireFromBundle,
    bundleModule,
    bundlePath,
    dirname(bundlePath),
  );
  return use;
};

const saveCache = (script: vm.Script, cacheFile: string, prefix: string): void => {
  try {
    const directory = dirname(cacheFile);
    writeCacheFile(cacheFile, script.createCachedData());
    // Caches of earlier builds or Node versions for this kind of run are of no use any more.
    for (const name of readdirSync(directory)) {
      if (name.startsWith(prefix) && name.endsWith('.v8cache') && join(directory, name) !== cacheFile) {
        rmSync(join(directory, name), { force: true });
      }
    }
  } catch {
    // A read-only or full disk: the next run compiles again.
  }
};

/** A short tag for a file's path (FNV-1a, 32 bits, in hex): not a secret, only telling installs apart. */
const pathTag = (path: string): string => {
  let hash = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) {
    hash = Math.imul(hash ^ path.charCodeAt(i), 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
};

/**
 * The bundle's text. It is plain ASCII (scripts/bundle-cli.mjs checks), which decodes as Latin-1 with no
 * UTF-8 validation, on every start. Anything else is decoded as UTF-8.
 */
const readSource = (path: string): string => {
  const bytes = readFileSync(path);
  return isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
};

const readIfPresent = (path: string): Buffer | undefined => {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
};
