// Lock delay (Consul's state/delay.go), kept outside the FSM: when a session is invalidated, the
// keys it held cannot be acquired for its LockDelay, so a client that still believes it holds the
// lock has time to notice before another takes it. The FSM reports what it released; this records
// `key → until` with this server's own clock, and the leader consults it before proposing an acquire.
// Every server records it as it applies the log, so a new leader refuses the same acquires.

import type { Clock } from '../core/clock.js';

/** Past this many entries, a record first drops the expired ones. */
const PRUNE_AT = 1024;

export class LockDelays {
  private readonly until = new Map<string, number>();

  constructor(private readonly clock: Pick<Clock, 'now'>) {}

  /** Keys released now under a delay of `ms` (a longer delay already running is kept). */
  record(keys: Iterable<string>, ms: number): void {
    if (ms <= 0) return;
    if (this.until.size >= PRUNE_AT) this.prune();
    const t = this.clock.now() + ms;
    for (const k of keys) if ((this.until.get(k) ?? 0) < t) this.until.set(k, t);
  }

  /** Whether an acquire of `key` must be refused now. Expired entries are forgotten on the way. */
  delayed(key: string): boolean {
    const t = this.until.get(key);
    if (t === undefined) return false;
    if (t > this.clock.now()) return true;
    this.until.delete(key);
    return false;
  }

  /** Forgets every expired entry (so keys released once and never acquired again do not pile up). */
  prune(): void {
    const now = this.clock.now();
    for (const [k, t] of this.until) if (t <= now) this.until.delete(k);
  }

  get size(): number {
    return this.until.size;
  }
}
