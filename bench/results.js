// Where a bench run's figures go: bench/results/<date>T<time>Z-<commit>.json, with the facts of the machine
// and of the build they were measured on, so that figures from different days, builds and machines can be
// told apart. See bench/results/README.md for the shape.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { join } from 'node:path';

/** The first line a command prints, or undefined when it cannot run. */
const firstLine = (command, args, options = {}) => {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  return result.status === 0 ? result.stdout.split('\n')[0].trim() : undefined;
};

/** The commit the bench runs on, and whether tracked files differ from it (figures then belong to no commit). */
export const buildFacts = (root) => {
  const commit = firstLine('git', ['rev-parse', '--short', 'HEAD'], { cwd: root });
  const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], {
    cwd: root,
    encoding: 'utf8',
  });
  return {
    commit: commit ?? 'unknown',
    ...(status.status === 0 ? { isDirty: status.stdout.trim() !== '' } : {}),
  };
};

/** What the figures depend on besides the code: Node, the CPUs, the OS, the load, the baseline's ffmpeg. */
export const machineFacts = (ffmpeg) => {
  const cores = cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    os: `${type()} ${release()}`,
    cpus: cores.length,
    cpuModel: cores[0]?.model.trim(),
    totalMemoryBytes: totalmem(),
    ffmpeg: firstLine(ffmpeg, ['-hide_banner', '-version']),
    /** 1, 5 and 15 min load averages as the run starts: above the core count, the machine was busy. */
    loadAverageAtStart: loadavg(),
  };
};

/** `2026-12-05T104512Z`: the run's start, in a form every file system takes. */
const fileStamp = (isoTime) => isoTime.replace(/\.\d+Z$/, 'Z').replaceAll(':', '');

/**
 * Writes the run's record and returns its path. It is formatted as the repository's Prettier config would
 * (results are committed, and `npm run format:check` covers them), or as plain indented JSON without it.
 */
export const writeResults = async (root, record) => {
  const directory = join(root, 'bench', 'results');
  mkdirSync(directory, { recursive: true });
  const path = join(directory, `${fileStamp(record.startedAt)}-${record.build.commit}.json`);
  // Six significant digits: more is the noise of one run, and makes the files hard to read and to diff.
  const rounded = (_key, value) =>
    typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(6)) : value;
  let text = `${JSON.stringify(record, rounded, 2)}\n`;
  try {
    const prettier = await import('prettier');
    text = await prettier.format(text, { ...(await prettier.resolveConfig(path)), filepath: path });
  } catch {
    // No Prettier (an installed copy without dev dependencies): the plain JSON is as valid.
  }
  writeFileSync(path, text);
  return path;
};
