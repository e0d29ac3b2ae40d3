// Blocking queries, with Consul's contract (agent/consul/rpc.go blockingQuery): with ?index=N the
// query returns as soon as its result's index exceeds N, or when the wait runs out, with the current
// result and index. The wait defaults to 5 minutes, is clamped to 10, and gets up to wait/16 of
// random jitter so clients do not wake in lockstep. The query re-runs only when a topic it read is
// written, so writes elsewhere never wake it; a snapshot restore wakes it and it returns at once
// with the restored state. The index is never 0.

import { systemClock, type Clock } from '../core/clock.js';
import { parseDuration } from '../core/duration.js';
import { badRequest } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import type { StateStore } from './store.js';
import { WatchSet } from './watch.js';

export const DEFAULT_WAIT_MS = 5 * 60_000;
export const MAX_WAIT_MS = 10 * 60_000;
/** Consul's structs.JitterFraction. */
export const JITTER_FRACTION = 16;

export interface BlockingOptions {
  /** The client's ?index; 0 answers at once. */
  minIndex: number;
  /** The client's ?wait in ms; missing or ≤ 0 means the default. */
  waitMs?: number;
  signal?: AbortSignal;
  rng: Rng;
  store: StateStore;
  /** Timers and time (the system clock unless a test brings its own). */
  clock?: Clock;
}

/** Consul's ?wait: a Go duration ("10s", "1m30s", "500ms"); anything else is a 400. */
export function parseWait(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || !Number.isFinite(ms)) throw badRequest('Invalid wait time');
  return ms;
}

/** How long a query may block: the wait asked for (default 5m, at most 10m) plus jitter. */
export function blockingTimeout(waitMs: number | undefined, rng: Rng): number {
  let wait = waitMs !== undefined && waitMs > 0 ? waitMs : DEFAULT_WAIT_MS;
  if (wait > MAX_WAIT_MS) wait = MAX_WAIT_MS;
  return wait + rng.next() * (wait / JITTER_FRACTION);
}

const TIMED_OUT = Symbol('timed out');

export async function blockingQuery<T>(
  o: BlockingOptions,
  run: (ws: WatchSet) => { index: number; value: T },
): Promise<{ index: number; value: T }> {
  o.signal?.throwIfAborted();
  let ws = new WatchSet();
  let r = run(ws);
  if (o.minIndex <= 0 || r.index > o.minIndex) return atLeastOne(r);
  const clock = o.clock ?? systemClock;
  const deadline = clock.now() + blockingTimeout(o.waitMs, o.rng);
  for (;;) {
    const left = deadline - clock.now();
    if (left <= 0) break;
    const generation = o.store.restoreGeneration;
    const woke = await waitOrTimeout(o.store, ws, left, clock, o.signal);
    ws = new WatchSet();
    r = run(ws);
    // A restore replaced what we read: answer with the new state at once (Consul's AbandonCh).
    if (!woke || r.index > o.minIndex || o.store.restoreGeneration !== generation) break;
  }
  return atLeastOne(r);
}

function atLeastOne<T>(r: { index: number; value: T }): { index: number; value: T } {
  return r.index >= 1 ? r : { index: 1, value: r.value };
}

/** True when a watched topic changed, false at the timeout; rejects with the signal's reason. */
async function waitOrTimeout(
  store: StateStore,
  ws: WatchSet,
  ms: number,
  clock: Clock,
  signal?: AbortSignal,
): Promise<boolean> {
  const inner = new AbortController();
  const onAbort = (): void => inner.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer = clock.setTimeout(() => inner.abort(TIMED_OUT), ms);
  try {
    if (signal?.aborted) throw signal.reason;
    await store.waitForChange(ws, inner.signal);
    return true;
  } catch (err) {
    if (err === TIMED_OUT) return false;
    throw err;
  } finally {
    clock.clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
