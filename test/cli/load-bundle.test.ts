/**
 * The CLI bundle's loader (src/cli/load-bundle.ts): where the code cache lives, which kind of run a command
 * line is, and real processes loading a small CommonJS bundle twice: the first run writes the cache (private
 * to the user), the next one runs from it, a damaged cache is refused by V8 and written again, and two
 * installs keep a cache each.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileCacheDirectory, runKind } from '../../src/cli/load-bundle.js';
import { ensureBuilt } from '../helpers/kvs-put-process.js';
import { REPO_ROOT } from '../helpers/paths.js';

describe('compileCacheDirectory', () => {
  it('is $XDG_CACHE_HOME/kvs-put, else ~/.cache/kvs-put; off with KVS_PUT_COMPILE_CACHE=off or no home', () => {
    expect(compileCacheDirectory({ XDG_CACHE_HOME: '/x/cache', HOME: '/home/u' })).toBe('/x/cache/kvs-put');
    expect(compileCacheDirectory({ XDG_CACHE_HOME: '', HOME: '/home/u' })).toBe('/home/u/.cache/kvs-put');
    expect(compileCacheDirectory({ HOME: '/home/u', KVS_PUT_COMPILE_CACHE: 'off' })).toBeUndefined();
    expect(compileCacheDirectory({})).toBeUndefined();
  });
});

describe('runKind', () => {
  it.each([
    [['--stream', 's', '--rtsp', 'rtsp://cam/x'], 'live'],
    [['--stream', 's', '--device=/dev/video0'], 'live'],
    [['--testsrc', '--stream', 's'], 'live'],
    [['--stream', 's', '--file', 'a.mkv'], 'put'],
    [['local', '--port', '0'], 'local'],
    [['doctor'], 'doctor'],
    [['inspect', 'a.mkv'], 'inspect'],
    [['--version'], 'help'],
    [['--help'], 'help'],
  ])('%j → %s', (argv, kind) => {
    expect(runKind(argv)).toBe(kind);
  });
});

const hasNodeCache = typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function';

describe('loadBundle in a real process', () => {
  let dir: string;
  let bundle: string;
  let cacheDir: string;

  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'kvs-put-load-bundle-'));
    bundle = join(dir, 'bundle.cjs');
    // What a CommonJS bundle relies on: require, module, __filename and __dirname.
    writeFileSync(
      bundle,
      [
        "const { basename } = require('node:path');",
        'module.exports.ran = true;',
        'process.stdout.write(`ran ${basename(__filename)} in ${basename(__dirname)}\\n`);',
        ...Array.from({ length: 200 }, (_, i) => `function f${i}(x) { return x * ${i} + ${i}; }`),
        'let total = 0;',
        ...Array.from({ length: 200 }, (_, i) => `total += f${i}(${i});`),
      ].join('\n'),
    );
    cacheDir = join(dir, 'cache');
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const load = (path = bundle): string =>
    execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { loadBundle } from ${JSON.stringify(join(REPO_ROOT, 'dist', 'cli', 'load-bundle.js'))};
         process.stdout.write(loadBundle(${JSON.stringify(path)}, { cacheDirectory: ${JSON.stringify(cacheDir)}, kind: 'test' }) + '\\n');`,
      ],
      { encoding: 'utf8' },
    );

  const cacheFiles = (): string[] => readdirSync(cacheDir).filter((name) => name.endsWith('.v8cache'));

  it.skipIf(hasNodeCache)(
    'Node 20: the first run writes the cache, 0600 in a 0700 directory; the next runs from it',
    () => {
      expect(load()).toBe('ran bundle.cjs in ' + dir.split('/').at(-1) + '\ncreated\n');
      expect(statSync(cacheDir).mode & 0o777).toBe(0o700);
      expect(cacheFiles()).toHaveLength(1);
      const file = join(cacheDir, cacheFiles()[0]!);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(cacheFiles()[0]).toMatch(new RegExp(`^bundle\\.cjs-test-[0-9a-f]{8}-${process.version}-`));
      expect(load()).toMatch(/\nused\n$/);
      // Damaged: V8 refuses it, the bundle still runs, and the cache is written anew.
      writeFileSync(file, Buffer.alloc(readFileSync(file).length, 7));
      expect(load()).toMatch(/^ran bundle\.cjs.*\nrejected\n$/);
      expect(load()).toMatch(/\nused\n$/);
      // A new build of the bundle: a new cache, and the old one is deleted.
      writeFileSync(bundle, readFileSync(bundle, 'utf8') + '\n// rebuilt\n');
      expect(load()).toMatch(/\ncreated\n$/);
      expect(cacheFiles()).toHaveLength(1);
      expect(join(cacheDir, cacheFiles()[0]!)).not.toBe(file);
      // Another install of the same build: each keeps its own cache.
      const other = join(dir, 'other-install', 'bundle.cjs');
      mkdirSync(dirname(other));
      copyFileSync(bundle, other);
      expect(load(other)).toMatch(/\ncreated\n$/);
      expect(load()).toMatch(/\nused\n$/);
      expect(load(other)).toMatch(/\nused\n$/);
      expect(cacheFiles()).toHaveLength(2);
    },
  );

  it.runIf(hasNodeCache)("Node ≥ 22.1: Node's own compile cache, in the same directory", () => {
    expect(load()).toMatch(/\nnode\n$/);
  });

  it.skipIf(hasNodeCache)('a bundle that is not plain ASCII is still read as UTF-8', () => {
    const utf8 = join(dir, 'utf8', 'bundle.cjs');
    mkdirSync(dirname(utf8));
    writeFileSync(utf8, "process.stdout.write('frame → socket … ok\\n');\n");
    expect(load(utf8)).toBe('frame → socket … ok\ncreated\n');
    expect(load(utf8)).toBe('frame → socket … ok\nused\n');
  });

  it('a cache directory that others can write is not used', () => {
    const shared = join(dir, 'shared');
    rmSync(cacheDir, { recursive: true, force: true });
    cacheDir = shared;
    load();
    chmodSync(shared, 0o777);
    expect(load()).toMatch(/\noff\n$/);
  });
});
