// The watch loop (Consul's Plan.Run): blocking queries one after another, each waiting on the index
// the last one returned; the handler runs once at the start and then only when the result changed.
// Fetching, sleeping and the handler are injected, so the rules are tested without sockets or time.

import { pause } from '../core/clock.js';
import type { FetchResult, WatchFetch } from './queries.js';

/**
 * The index for the next query, after `prev` (null before the first answer) and the answer's `got`.
 * Consul's rules for blocking clients: an index that goes backwards (a snapshot restore, a
 * recreated prefix) means our cursor is meaningless, so start over from 0, a plain read; an index
 * of 0 (a server bug, but it has happened) must never be sent back, since index=0 answers at once
 * and the loop would spin, so it becomes 1.
 */
export function nextIndex(prev: number | null, got: number): number {
  if (got <= 0) return 1;
  if (prev !== null && got < prev) return 0;
  return got;
}

/** Consul's backoff after failed queries: 5 s × failures², at most 180 s. */
export interface Backoff {
  baseMs: number;
  maxMs: number;
}
export const CONSUL_BACKOFF: Backoff = { baseMs: 5000, maxMs: 180_000 };

export function backoffMs(failures: number, b: Backoff): number {
  return Math.min(b.baseMs * failures * failures, b.maxMs);
}

export interface LoopOptions {
  fetch: WatchFetch;
  /** What the handler gets for a new result, or undefined when it did not change (queries.ts). */
  delta: (prev: unknown, next: unknown, first: boolean) => unknown;
  handler: (index: number, value: unknown) => Promise<void> | void;
  onError?: (err: unknown, retryMs: number) => void;
  backoff?: Backoff;
  /** Injected for tests; resolves early when the signal aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export class WatchLoop {
  private readonly abort = new AbortController();
  private lastIndex: number | null = null;
  private lastResult: unknown = undefined;
  private failures = 0;
  private running: Promise<void> | null = null;

  constructor(private readonly o: LoopOptions) {}

  get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  /** The index the next query will wait on (null before the first answer). */
  get index(): number | null {
    return this.lastIndex;
  }

  /** Runs until stop(); resolves when the loop has ended. */
  run(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  /** Stops the loop and cancels the query in flight; a handler already running finishes. */
  stop(): Promise<void> {
    this.abort.abort();
    return this.running ?? Promise.resolve();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) await this.step();
  }

  /** One query and what follows from it; exposed for tests that drive the loop by hand. */
  async step(): Promise<void> {
    const signal = this.abort.signal;
    let r: FetchResult;
    try {
      r = await this.o.fetch(this.lastIndex ?? 0, signal);
    } catch (err) {
      if (this.stopped) return;
      // The cursor is kept: a failed query says nothing about whether the data moved.
      this.failures++;
      const wait = backoffMs(this.failures, this.o.backoff ?? CONSUL_BACKOFF);
      this.o.onError?.(err, wait);
      await (this.o.sleep ?? pause)(wait, signal);
      return;
    }
    if (this.stopped) return;
    this.failures = 0;
    // Same index: the wait ran out (or an idempotent write); nothing to tell the handler.
    if (this.lastIndex !== null && r.index === this.lastIndex) return;
    const first = this.lastIndex === null;
    this.lastIndex = nextIndex(this.lastIndex, r.index);
    const out = this.o.delta(this.lastResult, r.value, first);
    this.lastResult = r.value;
    if (out === undefined) return;
    try {
      await this.o.handler(r.index, out);
    } catch (err) {
      // A handler's failure is reported, never the end of the watch (Consul logs and goes on).
      this.o.onError?.(err, 0);
    }
  }
}
