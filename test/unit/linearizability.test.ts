import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkHistory, type Op } from '../support/linearizability.js';

let t = 0;
function op(o: Partial<Op> & Pick<Op, 'kind' | 'call' | 'ret'>): Op {
  return { process: t++, key: 'x', value: null, outcome: 'ok', ...o };
}

describe('linearizability checker', () => {
  it('accepts concurrent writes read in either order', () => {
    const h = [
      op({ kind: 'write', value: '1', call: 0, ret: 10 }),
      op({ kind: 'write', value: '2', call: 1, ret: 11 }),
      op({ kind: 'read', value: '1', call: 12, ret: 13 }),
    ];
    expect(checkHistory(h).result).toBe('ok');
    h[2]!.value = '2';
    expect(checkHistory(h).result).toBe('ok');
  });

  it('rejects the classic stale read: a read that starts after a write finished sees the old value', () => {
    const h = [
      op({ kind: 'write', value: '1', call: 0, ret: 10 }),
      op({ kind: 'read', value: null, call: 20, ret: 30 }),
    ];
    const r = checkHistory(h);
    expect(r.result).toBe('illegal');
    if (r.result === 'illegal') expect(r.key).toBe('x');
  });

  it('rejects reads that go back in time', () => {
    const h = [
      op({ kind: 'write', value: '1', call: 0, ret: 50 }),
      op({ kind: 'write', value: '2', call: 0, ret: 50 }),
      op({ kind: 'read', value: '2', call: 60, ret: 61 }),
      op({ kind: 'read', value: '1', call: 62, ret: 63 }),
    ];
    expect(checkHistory(h).result).toBe('illegal');
  });

  it('models compare-and-set, including failed and unknown outcomes', () => {
    expect(
      checkHistory([
        op({ kind: 'write', value: 'a', call: 0, ret: 1 }),
        op({ kind: 'cas', expected: 'a', value: 'b', call: 2, ret: 3 }),
        op({ kind: 'cas', expected: 'a', value: 'c', call: 4, ret: 5, outcome: 'fail' }),
        op({ kind: 'read', value: 'b', call: 6, ret: 7 }),
      ]).result,
    ).toBe('ok');
    // A cas that reported failure although the value matched is illegal.
    expect(
      checkHistory([
        op({ kind: 'write', value: 'a', call: 0, ret: 1 }),
        op({ kind: 'cas', expected: 'a', value: 'b', call: 2, ret: 3, outcome: 'fail' }),
      ]).result,
    ).toBe('illegal');
    // An unknown cas may or may not have happened: both later reads are fine.
    for (const seen of ['a', 'b']) {
      expect(
        checkHistory([
          op({ kind: 'write', value: 'a', call: 0, ret: 1 }),
          op({ kind: 'cas', expected: 'a', value: 'b', call: 2, ret: Infinity, outcome: 'info' }),
          op({ kind: 'read', value: seen, call: 10, ret: 11 }),
        ]).result,
      ).toBe('ok');
    }
  });

  it('lets an unknown write take effect at any time after its call, but not before', () => {
    const info = op({ kind: 'write', value: 'late', call: 5, ret: Infinity, outcome: 'info' });
    expect(
      checkHistory([
        info,
        op({ kind: 'read', value: null, call: 6, ret: 7 }),
        op({ kind: 'read', value: 'late', call: 100, ret: 101 }),
      ]).result,
    ).toBe('ok');
    expect(checkHistory([op({ kind: 'read', value: 'late', call: 0, ret: 1 }), info]).result).toBe('illegal');
  });

  it('accepts any history recorded from a real sequential register, and catches one corrupted read', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.constantFrom('read', 'write', 'cas'),
            v: fc.integer({ min: 0, max: 3 }),
            widen: fc.integer({ min: 0, max: 5 }),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        (script) => {
          // Each op executes atomically at time 10*i; its interval is widened around that point.
          let state: string | null = null;
          const ops: Op[] = script.map((s, i) => {
            const at = 10 * i;
            const o: Op = {
              process: i % 4,
              key: 'k',
              kind: s.kind as Op['kind'],
              value: null,
              call: at - s.widen,
              ret: at + s.widen,
              outcome: 'ok',
            };
            if (s.kind === 'read') o.value = state;
            else if (s.kind === 'write') state = o.value = `v${s.v}`;
            else {
              o.expected = `v${s.v}`;
              o.value = `w${i}`;
              if (state === o.expected) state = o.value;
              else o.outcome = 'fail';
            }
            return o;
          });
          expect(checkHistory(ops).result).toBe('ok');
          const reads = ops.filter((o) => o.kind === 'read');
          if (reads.length > 0) {
            reads[reads.length - 1]!.value = 'never-written';
            expect(checkHistory(ops).result).toBe('illegal');
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('checks 20,000 operations over 20 keys quickly (keys are checked separately)', () => {
    const ops: Op[] = [];
    const state = new Map<string, string | null>();
    for (let i = 0; i < 20_000; i++) {
      const key = `k${i % 20}`;
      const at = i * 10;
      if (i % 3 === 0)
        ops.push({
          process: i % 20,
          key,
          kind: 'read',
          value: state.get(key) ?? null,
          call: at - 15,
          ret: at + 15,
          outcome: 'ok',
        });
      else {
        state.set(key, `v${i}`);
        ops.push({
          process: i % 20,
          key,
          kind: 'write',
          value: `v${i}`,
          call: at - 15,
          ret: at + 15,
          outcome: 'ok',
        });
      }
    }
    const t0 = Date.now();
    expect(checkHistory(ops).result).toBe('ok');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('says unknown, never ok, when it runs out of time', () => {
    const ops: Op[] = [];
    for (let i = 0; i < 400; i++)
      ops.push({
        process: i,
        key: 'k',
        kind: 'write',
        value: `v${i % 7}`,
        call: 0,
        ret: 1000,
        outcome: 'ok',
      });
    ops.push({ process: 999, key: 'k', kind: 'read', value: 'nope', call: 2000, ret: 2001, outcome: 'ok' });
    const r = checkHistory(ops, { timeoutMs: 1 });
    expect(r.result).not.toBe('ok');
  });
});
