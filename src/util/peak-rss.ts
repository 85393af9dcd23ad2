import { readFileSync } from 'node:fs';

/**
 * This process's peak resident memory, in bytes. On Linux from /proc (VmHWM): getrusage's maxRSS, which
 * `process.resourceUsage()` reports, carries a parent's peak over into a child started by fork + exec, so a
 * small kvs-put started by a big process would report the parent's figure.
 */
export const peakRssBytes = (): number => {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match !== null) {
      return Number(match[1]) * 1024;
    }
  } catch {
    // Not Linux: getrusage is the best there is.
  }
  return process.resourceUsage().maxRSS * 1024;
};
