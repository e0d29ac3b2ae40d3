import { setMaxListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Clock, TimerHandle } from '../../src/core/clock.js';
import type { ConsulError } from '../../src/core/errors.js';
import { seededRng, type Rng } from '../../src/core/rng.js';
import {
  blockingQuery,
  blockingTimeout,
  DEFAULT_WAIT_MS,
  MAX_WAIT_MS,
  parseWait,
} from '../../src/state/blocking.js';
import { encodeCommand } from '../../src/state/commands.js';
import { Fsm } from '../../src/state/fsm.js';
import { StateStore } from '../../src/state/store.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Simulated time: timers fire only when the test advances the clock. */
class FakeClock implements Clock {
  private t = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn });
    return { id };
  }
  clearTimeout(h: TimerHandle): void {
    this.timers.delete(h.id);
  }
  get pending(): number {
    return this.timers.size;
  }
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));
const fixedRng = (x: number): Rng => ({ next: () => x, int: (n) => Math.floor(x * n) });

/** A store with key `x` at index 1 and `other` at index 2. */
function seeded(): StateStore {
  const s = new StateStore('dc1');
  s.kvSet(1, 'x', bytes('1'), 0);
  s.kvSet(2, 'other', bytes('o'), 0);
  return s;
}

/** Tracks whether a promise has settled, and how. */
function track<T>(p: Promise<T>): { done: () => boolean; value: () => T | undefined; error: () => unknown } {
  let done = false;
  let value: T | undefined;
  let error: unknown;
  p.then(
    (v) => {
      done = true;
      value = v;
    },
    (e: unknown) => {
      done = true;
      error = e;
    },
  );
  return { done: () => done, value: () => value, error: () => error };
}

describe('parseWait and the timeout', () => {
  it('parses Go durations and rejects anything else with Consul’s message', () => {
    expect(parseWait('10s')).toBe(10_000);
    expect(parseWait('1m30s')).toBe(90_000);
    expect(parseWait('250ms')).toBe(250);
    expect(parseWait('0')).toBe(0);
    for (const bad of ['abc', '10', '', '5 s', '1d']) {
      expect(() => parseWait(bad), bad).toThrow('Invalid wait time');
      try {
        parseWait(bad);
      } catch (e) {
        expect((e as ConsulError).code).toBe('BadRequest');
      }
    }
  });

  it('defaults to 5 minutes, clamps to 10, and adds jitter below wait/16', () => {
    expect(blockingTimeout(undefined, fixedRng(0))).toBe(DEFAULT_WAIT_MS);
    expect(blockingTimeout(0, fixedRng(0))).toBe(DEFAULT_WAIT_MS);
    expect(blockingTimeout(-5, fixedRng(0))).toBe(DEFAULT_WAIT_MS);
    expect(blockingTimeout(60 * 60_000, fixedRng(0))).toBe(MAX_WAIT_MS);
    expect(blockingTimeout(1600, fixedRng(0.5))).toBe(1650);
    const rng = seededRng(7);
    for (let i = 0; i < 1000; i++) {
      const t = blockingTimeout(16_000, rng);
      expect(t).toBeGreaterThanOrEqual(16_000);
      expect(t).toBeLessThan(17_000);
    }
  });
});

describe('blockingQuery', () => {
  it('does not block with index 0, and never answers index 0', async () => {
    const s = new StateStore('dc1');
    const clock = new FakeClock();
    const r = await blockingQuery({ minIndex: 0, rng: seededRng(1), store: s, clock }, (ws) =>
      s.kvGet('x', ws),
    );
    expect(r).toEqual({ index: 1, value: null });
    const forced = await blockingQuery({ minIndex: 0, rng: seededRng(1), store: s, clock }, () => ({
      index: 0,
      value: 'v',
    }));
    expect(forced).toEqual({ index: 1, value: 'v' });
    expect(clock.pending).toBe(0);
  });

  it('answers at once when the index is already past the client’s', async () => {
    const s = seeded();
    const r = await blockingQuery({ minIndex: 1, rng: seededRng(1), store: s, clock: new FakeClock() }, () =>
      s.kvList(''),
    );
    expect(r.index).toBe(2);
  });

  it('returns on a write to what it read, not on an unrelated one', async () => {
    const s = seeded();
    const clock = new FakeClock();
    const q = track(
      blockingQuery({ minIndex: 1, waitMs: 60_000, rng: fixedRng(0), store: s, clock }, (ws) =>
        s.kvGet('x', ws),
      ),
    );
    await flush();
    s.kvSet(3, 'other', bytes('noise'), 0);
    s.kvSet(4, 'xx', bytes('prefix of nothing'), 0);
    await clock.advance(30_000);
    expect(q.done()).toBe(false);
    expect(s.watchers.size).toBe(1);
    s.kvSet(5, 'x', bytes('2'), 0);
    await flush();
    expect(q.done()).toBe(true);
    expect(q.value()?.index).toBe(5);
    expect(s.watchers.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('re-runs on a notification that leaves the index where it was, and keeps waiting', async () => {
    const s = seeded();
    const clock = new FakeClock();
    let runs = 0;
    const q = track(
      blockingQuery({ minIndex: 2, waitMs: 10_000, rng: fixedRng(0), store: s, clock }, (ws) => {
        runs++;
        s.kvList('', ws);
        return { index: 2, value: runs }; // a read whose index does not move
      }),
    );
    await flush();
    s.kvSet(3, 'x', bytes('again'), 0);
    await flush();
    expect(runs).toBe(2);
    expect(q.done()).toBe(false);
    await clock.advance(10_000);
    expect(q.value()).toEqual({ index: 2, value: 3 });
  });

  it('times out with the same index and the current result', async () => {
    const s = seeded();
    const clock = new FakeClock();
    const q = track(
      blockingQuery({ minIndex: 1, waitMs: 1600, rng: fixedRng(0.999), store: s, clock }, (ws) =>
        s.kvGet('x', ws),
      ),
    );
    await clock.advance(1600);
    expect(q.done()).toBe(false); // the jitter is still running
    await clock.advance(100);
    expect(q.done()).toBe(true);
    expect(q.value()?.index).toBe(1);
    expect(new TextDecoder().decode(q.value()?.value?.Value ?? undefined)).toBe('1');
    expect(s.watchers.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('rejects with the signal’s reason on abort, leaving no listener or timer', async () => {
    const s = seeded();
    const clock = new FakeClock();
    const ac = new AbortController();
    const reason = new Error('client gone');
    const p = blockingQuery(
      { minIndex: 1, waitMs: 60_000, signal: ac.signal, rng: seededRng(1), store: s, clock },
      (ws) => s.kvGet('x', ws),
    );
    await flush();
    expect(s.watchers.size).toBe(1);
    expect(clock.pending).toBe(1);
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(s.watchers.size).toBe(0);
    expect(s.watchers.topicCount).toBe(0);
    expect(clock.pending).toBe(0);
    // An already-aborted signal rejects at once.
    await expect(
      blockingQuery({ minIndex: 1, signal: ac.signal, rng: seededRng(1), store: s, clock }, (ws) =>
        s.kvGet('x', ws),
      ),
    ).rejects.toBe(reason);
    expect(s.watchers.size).toBe(0);
  });

  it('a snapshot restore wakes it, and it answers at once with the restored state', async () => {
    const fsm = new Fsm('dc1');
    fsm.apply(1, encodeCommand({ type: 'kvSet', key: 'x', value: bytes('1'), flags: 0 }));
    const snap = fsm.snapshot(); // x at 1
    fsm.apply(2, encodeCommand({ type: 'kvSet', key: 'x', value: bytes('2'), flags: 0 }));
    const clock = new FakeClock();
    const q = track(
      blockingQuery({ minIndex: 2, waitMs: 60_000, rng: seededRng(1), store: fsm.store, clock }, (ws) =>
        fsm.store.kvGet('x', ws),
      ),
    );
    await flush();
    fsm.restore(snap, 1);
    await flush();
    expect(q.done()).toBe(true);
    expect(q.value()?.index).toBe(1); // went back: the client resets, as Consul's docs tell it to
    expect(fsm.store.watchers.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('works on real timers with a short wait', async () => {
    const s = seeded();
    const t0 = performance.now();
    const r = await blockingQuery({ minIndex: 1, waitMs: 30, rng: fixedRng(0), store: s }, (ws) =>
      s.kvGet('x', ws),
    );
    expect(r.index).toBe(1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    const p = blockingQuery({ minIndex: 1, waitMs: 5_000, rng: seededRng(2), store: s }, (ws) =>
      s.kvGet('x', ws),
    );
    setTimeout(() => s.kvSet(3, 'x', bytes('3'), 0), 10);
    expect((await p).index).toBe(3);
    expect(s.watchers.size).toBe(0);
  });

  it('many concurrent queries on many topics leave nothing behind', async () => {
    const s = seeded();
    const clock = new FakeClock();
    const ac = new AbortController();
    setMaxListeners(0, ac.signal); // fifty queries share it on purpose
    const qs = Array.from({ length: 50 }, (_, i) =>
      track(
        blockingQuery<unknown[]>(
          { minIndex: 2, waitMs: 1000 + i, signal: ac.signal, rng: seededRng(i), store: s, clock },
          (ws) => (i % 2 ? s.kvList(`k${i % 5}/`, ws) : s.serviceNodes(`svc${i % 3}`, [], ws)),
        ),
      ),
    );
    await flush();
    expect(s.watchers.size).toBe(50);
    s.kvSet(3, 'k1/a', bytes('a'), 0);
    await flush();
    expect(qs.filter((q) => q.done()).length).toBe(5); // i = 1, 11, 21, 31, 41
    await clock.advance(500);
    ac.abort(new Error('shutdown'));
    await flush();
    expect(qs.every((q) => q.done())).toBe(true);
    expect(s.watchers.size).toBe(0);
    expect(s.watchers.topicCount).toBe(0);
    expect(clock.pending).toBe(0);
  });
});
