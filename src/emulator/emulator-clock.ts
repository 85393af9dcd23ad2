/** The local KVS's notion of "now", injected so tests can move time (status delays, SigV4 clock checks). */
export type EmulatorClock = {
  /** Current time, epoch milliseconds. */
  now: () => number;
};

/** The wall clock. */
export const SYSTEM_CLOCK: EmulatorClock = { now: () => Date.now() };
