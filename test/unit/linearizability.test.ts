import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HistoryRecorder, checkHistory, type Op, type OpKind } from '../support/linearizability.js';

let nextProcess = 0;
/** An op on key 'x', completed ok, by a fresh process, unless told otherwise. */
function op(o: Partial<Op> & Pick<Op, 'kind' | 'call' | 'ret'>): Op {
  return { process: nextProcess++, key: 'x', value: null, outcome: 'ok', ...o };
}
const write = (value: string, call: number, ret: number, outcome: Op['outcome'] = 'ok'): Op =>
  op({ kind: 'write', value, call, ret: outcome === 'info' ? Infinity : ret, outcome });
const read = (value: string | null, call: number, ret: number): Op => op({ kind: 'read', value, call, ret });
const cas = (
  expected: string | null,
  value: string,
  call: number,
  ret: number,
  outcome: Op['outcome'] = 'ok',
): Op => op({ kind: 'cas', expected, value, call, ret: outcome === 'info' ? Infinity : ret, outcome });

// ---- An exhaustive oracle for small histories: tries every order that respects real time.

function oracle(ops: Op[], initial: string | null = null): boolean {
  const byKey = new Map<string, Op[]>();
  for (const o of ops) {
    if (o.kind === 'read' && o.outcome !== 'ok') continue;
    if (o.kind === 'write' && o.outcome === 'fail') continue;
    byKey.set(o.key, [...(byKey.get(o.key) ?? []), o]);
  }
  return [...byKey.values()].every((list) => orders(list, initial));
}

function orders(list: Op[], initial: string | null): boolean {
  const done = list.map(() => false);
  const ret = (o: Op): number => (o.outcome === 'info' ? Infinity : o.ret);
  const next = (s: string | null, o: Op): (string | null)[] => {
    if (o.kind === 'read') return o.value === s ? [s] : [];
    if (o.kind === 'write') return [o.value];
    const match = s === (o.expected ?? null);
    if (o.outcome === 'ok') return match ? [o.value] : [];
    if (o.outcome === 'fail') return match ? [] : [s];
    return match ? [o.value, s] : [s];
  };
  const go = (s: string | null, left: number): boolean => {
    if (left === 0) return true;
    let firstReturn = Infinity;
    list.forEach((o, i) => {
      if (!done[i]) firstReturn = Math.min(firstReturn, ret(o));
    });
    return list.some((o, i) => {
      if (done[i] || o.call > firstReturn) return false;
      done[i] = true;
      const found = next(s, o).some((s2) => go(s2, left - 1));
      done[i] = false;
      return found;
    });
  };
  return go(initial, list.length);
}

// ---- Histories from real sequential executions.

interface Step {
  key: number;
  kind: OpKind;
  /** write / cas: the value to write. */
  v: number;
  /** cas: 0 expects the current value (so it applies), 1 expects absent, k >= 2 expects `v${k}`. */
  e: number;
  /** The op's interval around its serialization point. */
  before: number;
  after: number;
  /** The client never learns the outcome; a write or cas then took effect iff `applied`. */
  info: boolean;
  applied: boolean;
}

/**
 * Runs `steps` one at a time against a real map of registers, step i taking effect at time
 * 100 * i, inside an interval widened around that point, and records the history with a
 * HistoryRecorder fed the events in time order.
 */
function serialHistory(steps: Step[], unique = false): Op[] {
  const state = new Map<string, string | null>();
  const events: { t: number; run: () => void }[] = [];
  const rec = new HistoryRecorder(() => now);
  let now = 0;
  steps.forEach((s, i) => {
    const key = `k${s.key}`;
    const at = 100 * i;
    const current = state.get(key) ?? null;
    const value = s.kind === 'read' ? null : unique ? `u${i}` : `v${s.v}`;
    const expected = s.e === 0 ? current : s.e === 1 ? null : `v${s.e}`;
    let outcome: 'ok' | 'fail' = 'ok';
    if (s.kind === 'write' && (!s.info || s.applied)) state.set(key, value);
    if (s.kind === 'cas') {
      if (current !== expected) outcome = 'fail';
      else if (!s.info || s.applied) state.set(key, value);
    }
    let handle = -1;
    events.push({
      t: at - s.before,
      run: () => {
        handle = rec.invoke(i % 7, key, s.kind, value, s.kind === 'cas' ? expected : undefined);
      },
    });
    events.push({
      t: at + s.after,
      run: () => {
        if (s.info) rec.info(handle);
        else if (outcome === 'fail') rec.fail(handle);
        else rec.ok(handle, s.kind === 'read' ? current : undefined);
      },
    });
  });
  events.sort((a, b) => a.t - b.t);
  for (const ev of events) {
    now = ev.t;
    ev.run();
  }
  return rec.ops();
}

const stepArb = (keys: number, maxWiden: number): fc.Arbitrary<Step> =>
  fc.record({
    key: fc.nat({ max: keys - 1 }),
    kind: fc.constantFrom<OpKind>('read', 'read', 'write', 'cas'),
    v: fc.nat({ max: 3 }),
    e: fc.nat({ max: 3 }),
    before: fc.nat({ max: maxWiden }),
    after: fc.nat({ max: maxWiden }),
    info: fc.nat({ max: 19 }).map((x) => x === 0), // 5 %
    applied: fc.boolean(),
  });

/** A seeded xorshift PRNG for the big generated histories. */
function prng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/**
 * Concurrent clients, each running one op at a time against a real map of registers: every op
 * takes effect at a random point inside its interval. An op whose outcome is unknown ('info')
 * retires its process id, as in Jepsen.
 */
function clientHistory(o: {
  seed: number;
  clients: number;
  keys: number;
  ops: number;
  infoRate: number;
  values: number;
}): Op[] {
  const rnd = prng(o.seed);
  const free = new Array<number>(o.clients).fill(0);
  const pid = Array.from({ length: o.clients }, (_, i) => i);
  const planned: { op: Op; at: number; applied: boolean }[] = [];
  for (let i = 0; i < o.ops; i++) {
    const c = i % o.clients;
    const call = (free[c] as number) + rnd() * 3;
    const ret = call + 1 + rnd() * 30;
    free[c] = ret;
    const x = rnd();
    const kind: OpKind = x < 0.4 ? 'read' : x < 0.8 ? 'write' : 'cas';
    const info = kind !== 'read' && rnd() < o.infoRate;
    const op: Op = {
      process: pid[c] as number,
      key: `k${Math.floor(rnd() * o.keys)}`,
      kind,
      value: kind === 'read' ? null : `v${Math.floor(rnd() * o.values)}`,
      call,
      ret: info ? Infinity : ret,
      outcome: info ? 'info' : 'ok',
    };
    if (kind === 'cas') op.expected = rnd() < 0.2 ? null : `v${Math.floor(rnd() * o.values)}`;
    planned.push({ op, at: call + rnd() * (ret - call), applied: rnd() < 0.5 });
    if (info) pid[c] = (pid[c] as number) + o.clients;
  }
  const state = new Map<string, string | null>();
  for (const { op, applied } of [...planned].sort((a, b) => a.at - b.at)) {
    const s = state.get(op.key) ?? null;
    const takesEffect = op.outcome !== 'info' || applied;
    if (op.kind === 'read') op.value = s;
    else if (op.kind === 'write') {
      if (takesEffect) state.set(op.key, op.value);
    } else if (s !== op.expected) {
      if (op.outcome === 'ok') op.outcome = 'fail';
    } else if (takesEffect) state.set(op.key, op.value);
  }
  return planned.map((p) => p.op);
}

/** Appends, after everything else, a write of a fresh value, another write, then a read of the first. */
function withStaleRead(ops: Op[], key: string): Op[] {
  const end = Math.max(...ops.map((o) => (o.ret === Infinity ? o.call : o.ret))) + 10;
  return [
    ...ops,
    { process: -1, key, kind: 'write', value: 'fresh-1', call: end, ret: end + 1, outcome: 'ok' },
    { process: -1, key, kind: 'write', value: 'fresh-2', call: end + 2, ret: end + 3, outcome: 'ok' },
    { process: -1, key, kind: 'read', value: 'fresh-1', call: end + 4, ret: end + 5, outcome: 'ok' },
  ];
}

describe('checkHistory: hand-written histories', () => {
  it('accepts concurrent writes observed in either order', () => {
    const h = [write('1', 0, 10), write('2', 1, 11), read('1', 12, 13)];
    expect(checkHistory(h)).toEqual({ result: 'ok' });
    h[2]!.value = '2';
    expect(checkHistory(h)).toEqual({ result: 'ok' });
    // Reads during the writes may see either value, or none yet, in any order across clients.
    expect(
      checkHistory([
        write('1', 0, 10),
        write('2', 0, 10),
        read('2', 1, 2),
        read(null, 1, 3),
        read('1', 4, 12),
        read('1', 11, 12),
      ]).result,
    ).toBe('ok');
  });

  it('rejects the classic stale read, naming the key and the longest linearizable prefix', () => {
    const w = write('1', 0, 10);
    const r = checkHistory([w, read(null, 20, 30)]);
    expect(r.result).toBe('illegal');
    if (r.result !== 'illegal') return;
    expect(r.key).toBe('x');
    expect(r.longestPrefix).toEqual([w]);
    expect(r.message).toContain('read(nil)');
    // The same read overlapping the write is fine.
    expect(checkHistory([write('1', 0, 10), read(null, 5, 30)]).result).toBe('ok');
  });

  it('rejects sequential reads that go back in time after concurrent writes', () => {
    const h = [write('1', 0, 50), write('2', 0, 50), read('2', 60, 61), read('1', 62, 63)];
    expect(checkHistory(h).result).toBe('illegal');
    // Either order alone is fine, and so is the reverse observation order.
    expect(checkHistory(h.slice(0, 3)).result).toBe('ok');
    expect(checkHistory([...h.slice(0, 2), read('1', 60, 61), read('1', 62, 63)]).result).toBe('ok');
  });

  it('models compare-and-set that applied or failed', () => {
    expect(
      checkHistory([write('a', 0, 1), cas('a', 'b', 2, 3), cas('a', 'c', 4, 5, 'fail'), read('b', 6, 7)])
        .result,
    ).toBe('ok');
    // A cas that reported failure although the value matched.
    expect(checkHistory([write('a', 0, 1), cas('a', 'b', 2, 3, 'fail')]).result).toBe('illegal');
    // A cas that reported success although the value did not match.
    expect(checkHistory([write('a', 0, 1), cas('z', 'b', 2, 3)]).result).toBe('illegal');
    // Two concurrent cas from the same value: only one may win.
    expect(checkHistory([write('a', 0, 1), cas('a', 'b', 2, 5), cas('a', 'c', 2, 5)]).result).toBe('illegal');
    expect(checkHistory([write('a', 0, 1), cas('a', 'b', 2, 5), cas('a', 'c', 2, 5, 'fail')]).result).toBe(
      'ok',
    );
    // cas on an absent key.
    expect(checkHistory([cas(null, 'a', 0, 1), read('a', 2, 3)]).result).toBe('ok');
  });

  it('lets an info write take effect at any time after its call, or never, but not before', () => {
    const late = (): Op => write('late', 5, Infinity, 'info');
    // It never happened (so far).
    expect(checkHistory([late(), read(null, 6, 7), read(null, 1000, 1001)]).result).toBe('ok');
    // It happened, long after the client gave up.
    expect(checkHistory([late(), read(null, 6, 7), read('late', 1000, 1001)]).result).toBe('ok');
    // It happened and was overwritten.
    expect(checkHistory([late(), read('late', 6, 7), write('w', 8, 9), read('w', 10, 11)]).result).toBe('ok');
    // Once it happened it stays, unless something overwrites it.
    expect(checkHistory([late(), read('late', 6, 7), read(null, 8, 9)]).result).toBe('illegal');
    // It cannot take effect before it was sent.
    expect(checkHistory([read('late', 0, 1), late()]).result).toBe('illegal');
    // It takes effect at most once.
    expect(
      checkHistory([late(), read('late', 6, 7), write('w', 8, 9), read('w', 10, 11), read('late', 12, 13)])
        .result,
    ).toBe('illegal');
  });

  it('branches on an info cas: it applied or it did not', () => {
    for (const seen of ['a', 'b']) {
      expect(checkHistory([write('a', 0, 1), cas('a', 'b', 2, 3, 'info'), read(seen, 10, 11)]).result).toBe(
        'ok',
      );
    }
    // It can only apply while the value matches.
    expect(checkHistory([write('z', 0, 1), cas('a', 'b', 2, 3, 'info'), read('b', 10, 11)]).result).toBe(
      'illegal',
    );
    // Applying it is what makes a later cas and read legal.
    expect(
      checkHistory([write('a', 0, 1), cas('a', 'b', 2, 3, 'info'), cas('b', 'c', 10, 11), read('c', 12, 13)])
        .result,
    ).toBe('ok');
    // Not applying it is what makes a later failed cas legal.
    expect(
      checkHistory([write('a', 0, 1), cas('a', 'b', 2, 3, 'info'), cas('a', 'c', 10, 11), read('c', 12, 13)])
        .result,
    ).toBe('ok');
    // But it cannot both apply and not apply.
    expect(
      checkHistory([write('a', 0, 1), cas('a', 'b', 2, 3, 'info'), read('b', 10, 11), cas('a', 'c', 12, 13)])
        .result,
    ).toBe('illegal');
  });

  it('ignores reads that failed or timed out and writes that certainly failed', () => {
    expect(
      checkHistory([
        write('1', 0, 1),
        op({ kind: 'read', value: 'garbage', call: 2, ret: 3, outcome: 'fail' }),
        op({ kind: 'read', value: 'garbage', call: 2, ret: Infinity, outcome: 'info' }),
        write('2', 4, 5, 'fail'),
        read('1', 6, 7),
      ]).result,
    ).toBe('ok');
  });

  it('starts every key from opts.initial', () => {
    const h = [read('a', 0, 1), op({ key: 'y', kind: 'read', value: 'a', call: 0, ret: 1 })];
    expect(checkHistory(h).result).toBe('illegal');
    expect(checkHistory(h, { initial: 'a' }).result).toBe('ok');
    expect(checkHistory([], { initial: 'a' }).result).toBe('ok');
  });

  it('checks keys separately and names the key that fails', () => {
    const h = [
      write('1', 0, 10),
      op({ key: 'y', kind: 'write', value: '1', call: 0, ret: 10 }),
      op({ key: 'y', kind: 'read', value: null, call: 20, ret: 30 }),
      read('1', 20, 30),
    ];
    const r = checkHistory(h);
    expect(r.result).toBe('illegal');
    if (r.result === 'illegal') expect(r.key).toBe('y');
  });

  it('rejects an op that returns before it is called', () => {
    expect(() => checkHistory([read(null, 5, 4)])).toThrow(/returns before/);
  });
});

describe('checkHistory: generated histories', () => {
  it('agrees with an exhaustive search on small arbitrary histories', () => {
    let legal = 0;
    let illegal = 0;
    const values = fc.constantFrom<string | null>(null, 'a', 'b');
    const arbOp = fc
      .record({
        key: fc.constantFrom('x', 'y'),
        kind: fc.constantFrom<OpKind>('read', 'write', 'cas'),
        value: values,
        expected: values,
        outcome: fc.constantFrom<Op['outcome']>('ok', 'ok', 'ok', 'fail', 'info'),
        call: fc.nat({ max: 12 }),
        len: fc.nat({ max: 6 }),
        process: fc.nat({ max: 3 }),
      })
      .map(({ len, outcome, kind, expected, ...rest }): Op => {
        const o: Op = { ...rest, kind, outcome, ret: outcome === 'info' ? Infinity : rest.call + len };
        if (kind === 'cas') o.expected = expected;
        else if (kind === 'write' && o.value === null) o.value = 'a';
        return o;
      });
    fc.assert(
      fc.property(
        fc.array(arbOp, { maxLength: 8 }),
        fc.constantFrom<string | null>(null, 'a'),
        (h, initial) => {
          const expected = oracle(h, initial);
          const r = checkHistory(h, { initial });
          expect(r.result).toBe(expected ? 'ok' : 'illegal');
          if (expected) legal++;
          else illegal++;
        },
      ),
      { numRuns: 3000 },
    );
    // Both verdicts were exercised, plenty of times.
    expect(Math.min(legal, illegal)).toBeGreaterThan(300);
  });

  it('accepts every history of a real sequential execution, and rejects it once a read is corrupted', () => {
    fc.assert(
      fc.property(
        fc.array(stepArb(2, 250), { minLength: 1, maxLength: 80 }),
        fc.boolean(),
        fc.nat(),
        (steps, unique, pick) => {
          const ops = serialHistory(steps, unique);
          expect(checkHistory(ops)).toEqual({ result: 'ok' });
          const reads = ops.filter((o) => o.kind === 'read' && o.outcome === 'ok');
          if (reads.length === 0) return;
          const victim = reads[pick % reads.length]!;
          victim.value = 'never-written';
          const r = checkHistory(ops);
          expect(r.result).toBe('illegal');
          if (r.result === 'illegal') expect(r.key).toBe(victim.key);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('checks 20,000 ops by 20 clients over 20 keys in well under 5 s (one key at a time)', () => {
    const ops = clientHistory({ seed: 1, clients: 20, keys: 20, ops: 20_000, infoRate: 0.01, values: 5 });
    expect(ops.filter((o) => o.outcome === 'info').length).toBeGreaterThan(50);
    let t0 = performance.now();
    expect(checkHistory(ops)).toEqual({ result: 'ok' });
    expect(performance.now() - t0).toBeLessThan(5000);

    t0 = performance.now();
    const r = checkHistory(withStaleRead(ops, 'k7'));
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(r.result).toBe('illegal');
    if (r.result === 'illegal') {
      expect(r.key).toBe('k7');
      expect(r.message).toContain('read("fresh-1")');
    }
  });

  it('checks 2,000 ops by 10 clients on a single key', () => {
    const ops = clientHistory({ seed: 3, clients: 10, keys: 1, ops: 2000, infoRate: 0.01, values: 1e9 });
    expect(checkHistory(ops)).toEqual({ result: 'ok' });
    expect(checkHistory(withStaleRead(ops, 'k0')).result).toBe('illegal');
  });

  it('says unknown, never ok, when it runs out of time or memory', () => {
    // A single key, 20 clients overlapping heavily, few distinct values, and an impossible read
    // at the end: proving it illegal means exhausting an enormous search space.
    const ops = withStaleRead(
      clientHistory({ seed: 5, clients: 20, keys: 1, ops: 5000, infoRate: 0.01, values: 5 }),
      'k0',
    );
    const t0 = performance.now();
    const r = checkHistory(ops, { timeoutMs: 20 });
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(r.result).toBe('unknown');
    if (r.result === 'unknown') {
      expect(r.key).toBe('k0');
      expect(r.message).toMatch(/deadline/);
    }
    const m = checkHistory(ops, { timeoutMs: 60_000, maxCacheBytes: 1 << 20 });
    expect(m.result).toBe('unknown');
    if (m.result === 'unknown') expect(m.message).toMatch(/memo cache/);
  });
});

describe('HistoryRecorder', () => {
  it('records calls, completions and outcomes; pending ops are info', () => {
    let t = 0;
    const rec = new HistoryRecorder(() => ++t);
    const w = rec.invoke(1, 'x', 'write', 'a');
    const r = rec.invoke(2, 'x', 'read', null);
    const c = rec.invoke(3, 'x', 'cas', 'b', 'a');
    const f = rec.invoke(4, 'x', 'cas', 'c', 'zz');
    const lost = rec.invoke(5, 'x', 'write', 'q');
    const gone = rec.invoke(6, 'x', 'write', 'never');
    rec.invoke(7, 'x', 'write', 'pending');
    rec.ok(w);
    rec.ok(r, 'a');
    rec.ok(c);
    rec.fail(f);
    rec.info(lost);
    rec.discard(gone);
    const ops = rec.ops();
    expect(ops).toEqual([
      { process: 1, key: 'x', kind: 'write', value: 'a', call: 1, ret: 8, outcome: 'ok' },
      { process: 2, key: 'x', kind: 'read', value: 'a', call: 2, ret: 9, outcome: 'ok' },
      { process: 3, key: 'x', kind: 'cas', value: 'b', expected: 'a', call: 3, ret: 10, outcome: 'ok' },
      { process: 4, key: 'x', kind: 'cas', value: 'c', expected: 'zz', call: 4, ret: 11, outcome: 'fail' },
      { process: 5, key: 'x', kind: 'write', value: 'q', call: 5, ret: Infinity, outcome: 'info' },
      { process: 7, key: 'x', kind: 'write', value: 'pending', call: 7, ret: Infinity, outcome: 'info' },
    ]);
    expect(checkHistory(ops).result).toBe('ok');
    // ops() is a copy.
    ops[0]!.value = 'mutated';
    expect(rec.ops()[0]!.value).toBe('a');
  });

  it('refuses to complete an op twice or an unknown handle', () => {
    const rec = new HistoryRecorder(() => 0);
    const h = rec.invoke(1, 'x', 'read', null);
    rec.ok(h, null);
    expect(() => rec.fail(h)).toThrow(/twice/);
    expect(() => rec.ok(99)).toThrow(/unknown handle/);
  });
});
