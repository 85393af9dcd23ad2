import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { peakRssBytes } from '../../src/util/peak-rss.js';
import { ensureBuilt } from '../helpers/kvs-put-process.js';
import { REPO_ROOT } from '../helpers/paths.js';

beforeAll(() => ensureBuilt());

describe('peakRssBytes', () => {
  it('reports a plausible peak for this process', () => {
    const bytes = peakRssBytes();
    expect(bytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(bytes).toBeLessThan(8 * 1024 * 1024 * 1024);
  });

  it.skipIf(process.platform !== 'linux')(
    "a child started by a big process reports its own peak, not the parent's",
    () => {
      const ballast = Buffer.alloc(400 * 1024 * 1024, 1);
      const module = pathToFileURL(join(REPO_ROOT, 'dist', 'util', 'peak-rss.js')).href;
      const child = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const { peakRssBytes } = await import('${module}'); console.log(peakRssBytes(), process.resourceUsage().maxRSS * 1024);`,
        ],
        { encoding: 'utf8' },
      );
      expect(ballast[ballast.length - 1]).toBe(1);
      const [own, fromRusage] = child.stdout.trim().split(' ').map(Number);
      // getrusage carries the parent's peak over into the child; /proc does not.
      expect(fromRusage).toBeGreaterThan(400 * 1024 * 1024);
      expect(own).toBeLessThan(200 * 1024 * 1024);
    },
  );
});
