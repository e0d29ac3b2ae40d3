// Blocking queries, with Consul's contract: with ?index=N the query returns as soon as its result's
// index exceeds N, or when the wait (default 5 min, at most 10 min, plus up to wait/16 of jitter so
// clients do not wake in lockstep) runs out, with the current result. It re-runs only when a topic
// it read is written: writes elsewhere never wake it. The index is never 0.

import { ConsulError, ErrorCode, badRequest } from '../core/errors.js';
import { parseDuration } from '../core/duration.js';
import type { Rng } from '../core/rng.js';
import type { StateStore } from './store.js';
import { WatchSet } from './watch.js';

export const DEFAULT_WAIT_MS = 5 * 60_000;
export const MAX_WAIT_MS = 10 * 60_000;

export interface BlockingOptions {
  minIndex: number;
  waitMs?: number;
  signal?: AbortSignal;
  rng: Rng;
  store: StateStore;
}

export function parseWait(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 0) throw badRequest('Invalid wait time');
  return ms;
}

export async function blockingQuery<T>(
  o: BlockingOptions,
  run: (ws: WatchSet) => { index: number; value: T },
): Promise<{ index: number; value: T }> {
  let ws = new WatchSet();
  let r = run(ws);
  if (o.minIndex <= 0 || r.index > o.minIndex) return { index: Math.max(1, r.index), value: r.value };
  const wait = Math.min(o.waitMs && o.waitMs > 0 ? o.waitMs : DEFAULT_WAIT_MS, MAX_WAIT_MS);
  const deadline = Date.now() + wait + o.rng.next() * (wait / 16);
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const woke = await waitForChange(o.store, ws, left, o.signal);
    ws = new WatchSet();
    r = run(ws);
    if (r.index > o.minIndex || !woke) break;
  }
  return { index: Math.max(1, r.index), value: r.value };
}

/** Resolves true when a watched topic changes, false at the timeout; rejects on abort. */
function waitForChange(
  store: StateStore,
  ws: WatchSet,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const done = (v: boolean | Error): void => {
      clearTimeout(timer);
      unsubscribe();
      signal?.removeEventListener('abort', onAbort);
      if (v instanceof Error) reject(v);
      else resolve(v);
    };
    const onAbort = (): void => done(abortError(signal as AbortSignal));
    const timer = setTimeout(() => done(false), timeoutMs);
    const unsubscribe = store.watchers.subscribe(ws, () => done(true));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new ConsulError(ErrorCode.Timeout, 'query cancelled');
}
