import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(REPO_ROOT, 'fixtures', 'mkv');
/** Real media captured from the service, kept outside the repo (../shared/fixtures). */
export const SHARED_FIXTURES = join(REPO_ROOT, '..', 'shared', 'fixtures');

const available = new Map<string, boolean>();

/** Whether a system tool runs here; prints why a test is skipped when it does not. */
export const hasTool = (command: string, versionArgs: string[] = ['-version']): boolean => {
  let ok = available.get(command);
  if (ok === undefined) {
    ok = spawnSync(command, versionArgs, { stdio: 'ignore' }).status === 0;
    available.set(command, ok);
    if (!ok) {
      console.warn(`[skip] ${command} is not installed: tests that need it are skipped (CI installs it).`);
    }
  }
  return ok;
};
