// The leader's session TTL timers (Consul's session_ttl.go): a session with a TTL is invalidated when
// it goes 2×TTL without a renew. Renewing only resets a timer here, with no Raft write; expiry is the
// one write (a sessionDestroy through the FSM). A new leader arms every TTL session at its full
// length, since it cannot know when the old leader last saw a renew. The clock is injected so the
// rules are tested on simulated time.

import type { Clock, TimerHandle } from '../core/clock.js';
import { SESSION_TTL_MULTIPLIER } from '../state/sessions.js';

export class SessionTimers {
  private readonly timers = new Map<string, TimerHandle>();

  constructor(
    private readonly clock: Clock,
    /** Called once when a session's timer runs out (it is forgotten first). */
    private readonly onExpire: (id: string) => void,
  ) {}

  /** (Re)arms `id` to expire after SESSION_TTL_MULTIPLIER × ttlMs; a TTL of 0 clears it. */
  reset(id: string, ttlMs: number): void {
    if (ttlMs <= 0) {
      this.clear(id);
      return;
    }
    this.arm(id, ttlMs * SESSION_TTL_MULTIPLIER);
  }

  /** Arms `id` to expire after exactly `ms` (a retry after a failed invalidation). */
  arm(id: string, ms: number): void {
    this.clear(id);
    this.timers.set(
      id,
      this.clock.setTimeout(() => {
        this.timers.delete(id);
        this.onExpire(id);
      }, ms),
    );
  }

  clear(id: string): void {
    const t = this.timers.get(id);
    if (t === undefined) return;
    this.clock.clearTimeout(t);
    this.timers.delete(id);
  }

  /** Replaces every timer: the sessions given, each at its full length (on taking office). */
  resetAll(sessions: Iterable<{ id: string; ttlMs: number }>): void {
    this.clearAll();
    for (const s of sessions) this.reset(s.id, s.ttlMs);
  }

  /**
   * Brings the timers in line with the sessions that exist: a TTL session without a timer gets one
   * at full length (one whose create committed after this leader took office), a timer whose
   * session is gone is dropped. Timers already running are left alone (renews keep resetting them).
   */
  sync(sessions: Iterable<{ id: string; ttlMs: number }>): void {
    const present = new Set<string>();
    for (const s of sessions) {
      if (s.ttlMs <= 0) continue;
      present.add(s.id);
      if (!this.timers.has(s.id)) this.reset(s.id, s.ttlMs);
    }
    for (const id of [...this.timers.keys()]) if (!present.has(id)) this.clear(id);
  }

  clearAll(): void {
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
  }

  has(id: string): boolean {
    return this.timers.has(id);
  }

  get size(): number {
    return this.timers.size;
  }
}
