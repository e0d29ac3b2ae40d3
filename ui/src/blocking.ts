// Live lists through blocking queries: each list view asks once, then asks again with
// ?index=<the X-Consul-Index it got>&wait=5m, which the agent holds until something changes (or
// five minutes pass). So a change shows within moments and an idle page costs one open request,
// with no timer asking over and over. The loop stops when the view goes away (AbortController).

import { useEffect, useRef, useState } from 'preact/hooks';
import { apiGet, type ApiResult, type RequestOptions } from './api.js';

export const WAIT = '5m';

/**
 * The index to send next, as Consul's documentation asks of blocking clients: an index that went
 * backwards (a restored snapshot, a different server) or that is not positive starts over at 0
 * rather than waiting on a value the servers will not reach soon.
 */
export function nextIndex(prev: number, got: number): number {
  if (!Number.isFinite(got) || got <= 0) return 0;
  return got < prev ? 0 : got;
}

/** Wait after the n-th failure in a row (1 s, 2 s, 4 s ... up to 30 s). */
export function backoffMs(failures: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, failures - 1));
}

/**
 * An answer that came back at once with an unchanged index means the endpoint did not block (or
 * the agent restarted its wait); a short pause keeps such an endpoint from being asked in a tight
 * loop. A real blocking answer either changed the index or took the whole wait.
 */
export const QUICK_SAME_INDEX_PAUSE_MS = 2000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

export interface BlockingState<T> {
  data: T | null;
  /** The X-Consul-Index of `data`. */
  index: number;
  /** The last request's error, while the loop backs off; cleared by the next good answer. */
  error: unknown;
  loading: boolean;
}

/** Runs the loop until `signal` aborts, handing every answer and every failure to the callbacks. */
export async function runBlocking<T>(
  fetchOnce: (index: number, signal: AbortSignal) => Promise<ApiResult<T>>,
  onData: (r: ApiResult<T>) => void,
  onError: (err: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  let index = 0;
  let failures = 0;
  while (!signal.aborted) {
    const started = Date.now();
    try {
      const r = await fetchOnce(index, signal);
      if (signal.aborted) return;
      failures = 0;
      const next = nextIndex(index, r.index);
      const unchanged = index !== 0 && next === index;
      if (!unchanged) onData(r);
      // No X-Consul-Index: this read cannot block, so there is nothing to wait on; one answer is
      // all the view gets (asking again on a timer would be the polling this module avoids).
      if (r.index <= 0) return;
      index = next;
      if (unchanged && Date.now() - started < QUICK_SAME_INDEX_PAUSE_MS)
        await sleep(QUICK_SAME_INDEX_PAUSE_MS, signal);
    } catch (err) {
      if (signal.aborted) return;
      failures++;
      onError(err);
      // Start over after a failure: the server that answers next may have another index.
      index = 0;
      await sleep(backoffMs(failures), signal);
    }
  }
}

/**
 * A view's live copy of one API read. `path` and `opts` identify the read; a change to either
 * (navigation, another datacenter) aborts the old loop and starts a new one from scratch. A change
 * of `epoch` restarts the loop too but keeps showing the old answer until the new one comes: for
 * a read that cannot block on what it shows (the Raft configuration), tied to one that can.
 */
export function useBlocking<T>(
  path: string | null,
  opts: RequestOptions,
  epoch: string | number = 0,
): BlockingState<T> {
  const empty: BlockingState<T> = { data: null, index: 0, error: null, loading: true };
  const [state, setState] = useState<BlockingState<T>>(empty);
  const key = JSON.stringify([path, opts.dc, opts.query ?? {}, opts.notFoundIsEmpty ?? false]);
  const shownKey = useRef(key);
  useEffect(() => {
    if (path === null) return;
    if (shownKey.current !== key) {
      shownKey.current = key;
      setState(empty);
    }
    const ctl = new AbortController();
    void runBlocking<T>(
      (index, signal) =>
        apiGet<T>(path, {
          ...opts,
          query: { ...opts.query, ...(index > 0 ? { index, wait: WAIT } : {}) },
          signal,
        }),
      (r) => setState({ data: r.data, index: r.index, error: null, loading: false }),
      (error) => setState((s) => ({ ...s, error, loading: false })),
      ctl.signal,
    );
    return () => ctl.abort();
    // `key` stands for path and opts: a fresh opts object each render must not restart the loop.
  }, [key, epoch]);
  // The answer shown belongs to another read until the new loop answers: show nothing of it.
  return shownKey.current === key ? state : empty;
}
