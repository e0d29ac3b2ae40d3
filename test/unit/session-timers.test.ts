// The leader's session TTL timers and the lock-delay table, on simulated time.
import { describe, expect, it } from 'vitest';
import type { Clock, TimerHandle } from '../../src/core/clock.js';
import { LockDelays } from '../../src/server/lock-delay.js';
import { SessionTimers } from '../../src/server/session-timers.js';
import { EventQueue } from '../support/event-queue.js';

/** A clock driven by an event queue: advance(ms) runs every timer due by then. */
class SimClock implements Clock {
  private readonly q = new EventQueue();
  private readonly live = new Set<number>();
  private next = 1;
  now(): number {
    return this.q.now;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    this.live.add(id);
    this.q.schedule(ms, () => {
      if (this.live.delete(id)) fn();
    });
    return { id };
  }
  clearTimeout(h: TimerHandle): void {
    this.live.delete(h.id);
  }
  advance(ms: number): void {
    const until = this.q.now + ms;
    while (this.q.step(until));
    this.q.now = until;
  }
}

function timers(): { clock: SimClock; t: SessionTimers; expired: string[] } {
  const clock = new SimClock();
  const expired: string[] = [];
  const t = new SessionTimers(clock, (id) => expired.push(id));
  return { clock, t, expired };
}

describe('session TTL timers', () => {
  it('expire a session at twice its TTL, not before', () => {
    const { clock, t, expired } = timers();
    t.reset('s', 10_000);
    clock.advance(19_999);
    expect(expired).toEqual([]);
    clock.advance(1);
    expect(expired).toEqual(['s']);
    expect(t.has('s')).toBe(false);
  });

  it('a renew resets the timer to the full 2×TTL', () => {
    const { clock, t, expired } = timers();
    t.reset('s', 10_000);
    for (let i = 0; i < 10; i++) {
      clock.advance(15_000);
      t.reset('s', 10_000);
    }
    expect(expired).toEqual([]);
    clock.advance(20_000);
    expect(expired).toEqual(['s']);
  });

  it('clear stops a timer; a TTL of 0 arms nothing', () => {
    const { clock, t, expired } = timers();
    t.reset('a', 10_000);
    t.reset('b', 0);
    t.clear('a');
    clock.advance(100_000);
    expect(expired).toEqual([]);
    expect(t.size).toBe(0);
  });

  it('resetAll (a new leader) arms every session at full length and drops the old timers', () => {
    const { clock, t, expired } = timers();
    t.reset('old', 10_000);
    clock.advance(15_000);
    t.resetAll([
      { id: 'old', ttlMs: 10_000 },
      { id: 'long', ttlMs: 60_000 },
    ]);
    clock.advance(19_000);
    expect(expired).toEqual([]);
    clock.advance(1_000);
    expect(expired).toEqual(['old']);
    clock.advance(100_000);
    expect(expired).toEqual(['old', 'long']);
    t.resetAll([{ id: 'x', ttlMs: 10_000 }]);
    t.clearAll();
    clock.advance(100_000);
    expect(expired).toEqual(['old', 'long']);
  });

  it('sync arms TTL sessions without a timer, leaves running timers alone and drops the gone', () => {
    const { clock, t, expired } = timers();
    t.reset('running', 10_000);
    t.reset('gone', 10_000);
    clock.advance(15_000);
    t.sync([
      { id: 'running', ttlMs: 10_000 },
      { id: 'late', ttlMs: 10_000 },
      { id: 'no-ttl', ttlMs: 0 },
    ]);
    expect(t.has('gone')).toBe(false);
    expect(t.has('no-ttl')).toBe(false);
    clock.advance(5_000);
    expect(expired).toEqual(['running']);
    clock.advance(15_000);
    expect(expired).toEqual(['running', 'late']);
  });

  it('arm sets an exact delay (the retry after a failed invalidation)', () => {
    const { clock, t, expired } = timers();
    t.arm('s', 1000);
    clock.advance(999);
    expect(expired).toEqual([]);
    clock.advance(1);
    expect(expired).toEqual(['s']);
  });
});

describe('lock delays', () => {
  it('refuse a key for the delay, then forget it', () => {
    const clock = new SimClock();
    const d = new LockDelays(clock);
    d.record(['a', 'b'], 15_000);
    expect(d.delayed('a')).toBe(true);
    expect(d.delayed('c')).toBe(false);
    clock.advance(14_999);
    expect(d.delayed('b')).toBe(true);
    clock.advance(1);
    expect(d.delayed('a')).toBe(false);
    expect(d.size).toBe(1);
    d.prune();
    expect(d.size).toBe(0);
  });

  it('keep the longer of two delays and ignore a zero delay', () => {
    const clock = new SimClock();
    const d = new LockDelays(clock);
    d.record(['k'], 10_000);
    d.record(['k'], 1_000);
    d.record(['z'], 0);
    clock.advance(5_000);
    expect(d.delayed('k')).toBe(true);
    expect(d.delayed('z')).toBe(false);
  });

  it('drop expired entries once the table grows', () => {
    const clock = new SimClock();
    const d = new LockDelays(clock);
    d.record(
      Array.from({ length: 1024 }, (_, i) => `k${i}`),
      1000,
    );
    clock.advance(2000);
    d.record(['fresh'], 1000);
    expect(d.size).toBe(1);
  });
});
