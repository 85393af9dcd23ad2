/**
 * The local KVS's time, injected so tests can move it instead of waiting for it. A clock with `now` alone moves what
 * the service reports and checks (responses' `Date`, SigV4 clock checks, status delays, retention); a whole
 * {@link Clock} (src/util/clock.ts, e.g. the tests' FakeClock) also drives every wait of the service: ack delays,
 * PutMedia's idle and connection timers, throttling, stalls, GetMedia's idle end, fault delays and windows.
 */
import type { Clock, ClockTimer } from '../util/clock.js';
import { systemClock } from '../util/clock.js';

/** What `LocalKvsOptions.clock` takes: `{ now }` (epoch ms) with the machine's timers, or a whole Clock. */
export type EmulatorClock = Pick<Clock, 'now'> | Clock;

/**
 * The machine's clock, its timers unref'd: while the server runs its sockets keep the process alive, and a pending
 * idle timer must not keep it alive once the server is closed.
 */
const serviceSystemClock: Clock = {
  now: () => Date.now(),
  monotonicMs: () => systemClock.monotonicMs(),
  setTimeout: (callback, delayMs) => {
    const timer = setTimeout(callback, delayMs);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
  setInterval: (callback, intervalMs) => {
    const timer = setInterval(callback, intervalMs);
    timer.unref();
    return { cancel: () => clearInterval(timer) };
  },
};

const isWholeClock = (clock: EmulatorClock): clock is Clock => {
  const candidate = clock as Partial<Clock>;
  return (
    typeof candidate.monotonicMs === 'function' &&
    typeof candidate.setTimeout === 'function' &&
    typeof candidate.setInterval === 'function'
  );
};

/** The whole clock the service runs on: the one given, or its `now` with the machine's timers. */
export const toServiceClock = (clock: EmulatorClock | undefined): Clock => {
  if (clock === undefined) {
    return serviceSystemClock;
  }
  if (isWholeClock(clock)) {
    return clock;
  }
  return { ...serviceSystemClock, now: () => clock.now() };
};

/**
 * A timer that `restart()` puts back to its full delay, as Node's `timeout.refresh()` does, on any Clock: also after
 * it fired, never after `cancel()`. Restarts only move a deadline (PutMedia restarts its idle timers on every
 * chunk); the timer, when it fires early, waits again for what is left.
 */
export type RestartableTimer = { restart: () => void; cancel: () => void };

export const restartableTimer = (clock: Clock, delayMs: number, callback: () => void): RestartableTimer => {
  let dueMs = clock.monotonicMs() + delayMs;
  let timer: ClockTimer | undefined;
  let isCancelled = false;
  const arm = (waitMs: number): void => {
    timer = clock.setTimeout(() => {
      const leftMs = dueMs - clock.monotonicMs();
      if (leftMs > 0) {
        arm(leftMs);
      } else {
        timer = undefined;
        callback();
      }
    }, waitMs);
  };
  arm(delayMs);
  return {
    restart: () => {
      dueMs = clock.monotonicMs() + delayMs;
      if (timer === undefined && !isCancelled) {
        arm(delayMs);
      }
    },
    cancel: () => {
      isCancelled = true;
      timer?.cancel();
      timer = undefined;
    },
  };
};
