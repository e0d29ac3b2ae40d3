// Time as a dependency. Drivers take a Clock so tests can run them on simulated time.

import type { Rng } from './rng.js';

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export interface TimerHandle {
  readonly id: number;
}

export const systemClock: Clock = (() => {
  const timers = new Map<number, NodeJS.Timeout>();
  let nextId = 1;
  return {
    now: () => performance.now(),
    setTimeout(fn, ms) {
      const id = nextId++;
      const t = setTimeout(() => {
        timers.delete(id);
        fn();
      }, ms);
      timers.set(id, t);
      return { id };
    },
    clearTimeout(h) {
      const t = timers.get(h.id);
      if (t) {
        clearTimeout(t);
        timers.delete(h.id);
      }
    },
  };
})();

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Like sleep, but an abort only ends the wait early: for loops that look at the signal themselves. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, signal).catch(() => undefined);
}

/**
 * How long to wait before retry `attempt` (0-based) of a request that found no leader or no server:
 * doubling from 10 ms to at most 500 ms (an election takes a few hundred), jittered by ±50% so
 * callers that failed together do not retry together.
 */
export function retryBackoffMs(attempt: number, rng: Rng): number {
  return Math.min(500, 10 * 2 ** Math.min(attempt, 6)) * (0.5 + rng.next());
}
