import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/kvs-put-process.js';
import { FIXTURES, REPO_ROOT } from '../helpers/paths.js';

const EXAMPLE = join(REPO_ROOT, 'examples', 'upload-to-local-kvs.ts');

/** The package as a user gets it: packed, installed from the tarball into a project of its own. */
describe('kvs-put as an npm package', () => {
  const project = mkdtempSync(join(tmpdir(), 'kvs-put-consumer-'));

  beforeAll(() => {
    ensureBuilt();
    const packed = execFileSync(
      'npm',
      ['pack', '--ignore-scripts', '--silent', '--pack-destination', project],
      {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      },
    )
      .trim()
      .split('\n')
      .at(-1)!;
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    const typesNode = (
      JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', '@types', 'node', 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
    // From npm's cache where it can (`npm ci` filled it): the registry is the only network here anyway.
    execFileSync(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--silent',
        `./${packed}`,
        `@types/node@${typesNode}`,
      ],
      { cwd: project, stdio: 'ignore' },
    );
    copyFileSync(EXAMPLE, join(project, 'consumer.ts'));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          types: ['node'],
          outDir: 'out',
        },
        files: ['consumer.ts'],
      }),
    );
  }, 300_000);

  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it('type-checks a consumer with tsc --strict against the installed declarations', () => {
    const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    // Throws with tsc's diagnostics on any type error, in the consumer or in the package's .d.ts files.
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json', '--strict'], {
      cwd: project,
      encoding: 'utf8',
    });
  }, 120_000);

  it('runs it: a local KVS from kvs-put/local, a fixture uploaded, PERSISTED acks counted from the events', () => {
    const out = execFileSync(process.execPath, [join('out', 'consumer.js'), join(FIXTURES, 'h264-aac.mkv')], {
      cwd: project,
      encoding: 'utf8',
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: project,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });
    expect(out.trim()).toBe('3 PERSISTED acks; 3 of 3 fragments stored');
  }, 120_000);

  it('exports only the curated entry points', async () => {
    const manifest = JSON.parse(
      readFileSync(join(project, 'node_modules', 'kvs-put', 'package.json'), 'utf8'),
    ) as {
      exports: Record<string, unknown>;
    };
    expect(Object.keys(manifest.exports)).toEqual(['.', './local']);
    const library = (await import(join(project, 'node_modules', 'kvs-put', 'dist', 'index.js'))) as Record<
      string,
      unknown
    >;
    for (const name of [
      'upload',
      'fileSource',
      'mkvSource',
      'testPattern',
      'rtspSource',
      'deviceSource',
      'KvsPutError',
    ]) {
      expect(typeof library[name], name).toBe('function');
    }
  });

  it("is the file the README's library section shows", () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(readFileSync(EXAMPLE, 'utf8'));
  });
});
