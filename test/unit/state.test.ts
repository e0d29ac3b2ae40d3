import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/rng.js';
import { blockingQuery } from '../../src/state/blocking.js';
import { encodeCommand, type FsmCommand } from '../../src/state/commands.js';
import { validateRegister } from '../../src/state/catalog-validate.js';
import { Fsm } from '../../src/state/fsm.js';
import type { TxnOp } from '../../src/state/txn.js';
import { WatchSet } from '../../src/state/watch.js';

const enc = new TextEncoder();
function fsmWith(cmds: FsmCommand[]): { fsm: Fsm; results: unknown[] } {
  const fsm = new Fsm('dc1');
  const results = cmds.map((c, i) => fsm.apply(i + 1, encodeCommand(c)));
  return { fsm, results };
}
const set = (key: string, v = key): FsmCommand => ({ type: 'kvSet', key, value: enc.encode(v), flags: 0 });
const txnOp = (Verb: TxnOp['KV']['Verb'], Key: string, extra: Partial<TxnOp['KV']> = {}): TxnOp => ({
  KV: { Verb, Key, Value: null, Flags: 0, Index: 0, Session: '', ...extra },
});

describe('KV state', () => {
  it('keeps CreateIndex across updates and reports the key index', () => {
    const { fsm } = fsmWith([set('a'), set('b'), set('a', 'again')]);
    const r = fsm.store.kvGet('a');
    expect(r.value).toMatchObject({ CreateIndex: 1, ModifyIndex: 3 });
    expect(r.index).toBe(3);
  });

  it('uses tombstones so a prefix index never goes back, even after reaping', () => {
    const { fsm } = fsmWith([set('p/a'), set('p/b'), set('q/x')]);
    expect(fsm.store.kvList('p/').index).toBe(2);
    fsm.apply(4, encodeCommand({ type: 'kvDelete', key: 'p/b' }));
    expect(fsm.store.kvList('p/').index).toBe(4);
    expect(fsm.store.kvGet('p/b').index).toBe(4);
    fsm.apply(5, encodeCommand({ type: 'tombstoneReap', upTo: 4 }));
    expect(fsm.store.kvList('p/').index).toBeGreaterThanOrEqual(4);
  });

  it('follows Consul on delete-cas of a missing key (true) and a stale index (false)', () => {
    const { fsm, results } = fsmWith([
      set('k'),
      { type: 'kvDeleteCas', key: 'k', index: 99 },
      { type: 'kvDeleteCas', key: 'gone', index: 5 },
    ]);
    expect(results.slice(1)).toEqual([false, true]);
    expect(fsm.store.kvGet('k').value).not.toBeNull();
  });

  it('notifies only the watchers of what a write touched', () => {
    const { fsm } = fsmWith([set('w/a'), set('w/b')]);
    const wsKey = new WatchSet();
    fsm.store.kvGet('w/a', wsKey);
    const wsPrefix = new WatchSet();
    fsm.store.kvList('w/', wsPrefix);
    const fired: string[] = [];
    fsm.store.watchers.subscribe(wsKey, () => fired.push('key'));
    fsm.store.watchers.subscribe(wsPrefix, () => fired.push('prefix'));
    fsm.apply(3, encodeCommand(set('other')));
    expect(fired).toEqual([]);
    fsm.apply(4, encodeCommand(set('w/b', 'changed')));
    expect(fired).toEqual(['prefix']);
    fsm.apply(5, encodeCommand(set('w/a', 'changed')));
    expect(fired).toEqual(['prefix', 'key']);
    expect(fsm.store.watchers.size).toBe(0); // each subscription fires once and is gone
  });
});

describe('transactions', () => {
  it('supports every KV verb', () => {
    const { fsm } = fsmWith([set('t/a', 'A'), set('t/b', 'B')]);
    const a = fsm.store.kvGet('t/a').value!;
    const r = fsm.apply(
      3,
      encodeCommand({
        type: 'txn',
        ops: [
          txnOp('check-index', 't/a', { Index: a.ModifyIndex }),
          txnOp('cas', 't/a', { Index: a.ModifyIndex, Value: enc.encode('A2') }),
          txnOp('get-tree', 't/'),
          txnOp('check-not-exists', 't/c'),
          txnOp('delete-cas', 't/b', { Index: 2 }),
          txnOp('set', 't/d', { Value: enc.encode('D') }),
          txnOp('delete-tree', 'zzz/'),
          txnOp('delete', 't/d'),
        ],
      }),
    ) as { Results: unknown[]; Errors: null };
    expect(r.Errors).toBeNull();
    expect(fsm.store.kvList('t/').value.map((e) => e.Key)).toEqual(['t/a']);
  });

  it('reports every failing op with Consul wording and leaves no write behind', () => {
    const { fsm } = fsmWith([set('t/a')]);
    const r = fsm.apply(
      2,
      encodeCommand({
        type: 'txn',
        ops: [
          txnOp('set', 't/new'),
          txnOp('get', 't/missing'),
          txnOp('cas', 't/a', { Index: 77 }),
          txnOp('lock', 't/a', { Session: 's' }),
        ],
      }),
    ) as { Results: null; Errors: { OpIndex: number; What: string }[] };
    expect(r.Errors.map((e) => e.OpIndex)).toEqual([1, 2, 3]);
    expect(r.Errors[0]!.What).toBe('key "t/missing" doesn\'t exist');
    expect(r.Errors[1]!.What).toBe('failed to set key "t/a", index is stale');
    expect(fsm.store.kvGet('t/new').value).toBeNull();
    expect(fsm.store.kvGet('t/a').value?.ModifyIndex).toBe(1);
  });
});

describe('catalog state', () => {
  const reg = (body: object): FsmCommand => ({ type: 'register', req: validateRegister(body) });
  it('bumps only the touched service index, and every service index on a node-level change', () => {
    const { fsm } = fsmWith([
      reg({ Node: 'n1', Address: '1.1.1.1', Service: { Service: 'a' } }),
      reg({ Node: 'n2', Address: '1.1.1.2', Service: { Service: 'b' } }),
    ]);
    const a0 = fsm.store.checkServiceNodes('a', [], false).index;
    const b0 = fsm.store.checkServiceNodes('b', [], false).index;
    fsm.apply(3, encodeCommand(reg({ Node: 'n2', Address: '1.1.1.2', Service: { Service: 'b', Port: 1 } })));
    expect(fsm.store.checkServiceNodes('a', [], false).index).toBe(a0);
    expect(fsm.store.checkServiceNodes('b', [], false).index).toBe(3);
    fsm.apply(
      4,
      encodeCommand(reg({ Node: 'n1', Address: '1.1.1.1', Check: { Name: 'node', Status: 'critical' } })),
    );
    expect(fsm.store.checkServiceNodes('a', [], false).index).toBe(4);
    expect(fsm.store.checkServiceNodes('a', [], true).value).toEqual([]);
    expect(b0).toBeLessThan(3);
  });

  it('does not bump indexes when a registration changes nothing', () => {
    const body = {
      Node: 'n1',
      Address: '1.1.1.1',
      Service: { Service: 'a' },
      Check: { Name: 'c', Status: 'passing', ServiceID: 'a' },
    };
    const { fsm } = fsmWith([reg(body), reg(body)]);
    expect(fsm.store.checkServiceNodes('a', [], false).index).toBe(1);
    expect(fsm.store.nodeList().index).toBe(1);
  });

  it('refuses a node ID already used by another node', () => {
    const id = '11111111-2222-3333-4444-555555555555';
    const { results } = fsmWith([
      reg({ ID: id, Node: 'n1', Address: '1.1.1.1' }),
      reg({ ID: id, Node: 'n2', Address: '1.1.1.2' }),
    ]);
    expect(results[1]).toBeInstanceOf(Error);
  });
});

describe('FSM', () => {
  it('returns an error result for a malformed entry instead of throwing', () => {
    const fsm = new Fsm('dc1');
    expect(fsm.apply(1, new Uint8Array([0xc1, 0xff]))).toBeInstanceOf(Error);
    expect(fsm.apply(2, encodeCommand({ type: 'nope' } as unknown as FsmCommand))).toBeInstanceOf(Error);
    expect(fsm.apply(3, encodeCommand(set('still-works')))).toBe(true);
  });

  it('snapshots and restores everything, including indexes, and wakes watchers on restore', () => {
    const { fsm } = fsmWith([
      set('a'),
      set('b'),
      { type: 'kvDelete', key: 'b' },
      {
        type: 'register',
        req: validateRegister({ Node: 'n', Address: '1.2.3.4', Service: { Service: 's' } }),
      },
    ]);
    const other = new Fsm('dc1');
    const ws = new WatchSet();
    other.store.kvGet('a', ws);
    let woke = false;
    other.store.watchers.subscribe(ws, () => (woke = true));
    other.restore(fsm.snapshot(), 4);
    expect(woke).toBe(true);
    expect(other.snapshot()).toEqual(fsm.snapshot());
    expect(other.store.kvGet('b').index).toBe(3);
    expect(other.store.serviceNodes('s', []).value).toHaveLength(1);
  });

  it('ends in the same state whether a replica applied everything or restored a snapshot midway (property)', () => {
    const cmd = fc.oneof(
      fc.record({
        type: fc.constant('kvSet' as const),
        key: fc.constantFrom('a', 'b', 'c/d', 'c/e'),
        value: fc.uint8Array({ maxLength: 4 }),
        flags: fc.nat(3),
      }),
      fc.record({ type: fc.constant('kvDelete' as const), key: fc.constantFrom('a', 'b', 'c/d') }),
      fc.record({ type: fc.constant('kvDeleteTree' as const), prefix: fc.constantFrom('c/', '') }),
      fc.record({
        type: fc.constant('kvCas' as const),
        key: fc.constantFrom('a', 'b'),
        value: fc.uint8Array({ maxLength: 4 }),
        flags: fc.constant(0),
        index: fc.nat(6),
      }),
    );
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 30 }), fc.nat(30), (cmds, cut) => {
        const a = new Fsm('dc1');
        const b = new Fsm('dc1');
        cmds.forEach((c, i) => {
          a.apply(i + 1, encodeCommand(c as FsmCommand));
          if (i === Math.min(cut, cmds.length - 1)) b.restore(a.snapshot(), i + 1);
          else if (i > cut) b.apply(i + 1, encodeCommand(c as FsmCommand));
        });
        if (cmds.length > 0) expect(b.snapshot()).toEqual(a.snapshot());
      }),
      { numRuns: 300 },
    );
  });

  it('holds 100,000 keys of 256 bytes, snapshots and restores them in reasonable time', () => {
    const fsm = new Fsm('dc1');
    const value = new Uint8Array(256).fill(7);
    const t0 = performance.now();
    for (let i = 1; i <= 100_000; i++)
      fsm.apply(i, encodeCommand({ type: 'kvSet', key: `bench/key-${i}`, value, flags: 0 }));
    const t1 = performance.now();
    const snap = fsm.snapshot();
    const t2 = performance.now();
    const copy = new Fsm('dc1');
    copy.restore(snap, 100_000);
    const t3 = performance.now();
    console.log(
      `100k keys: apply ${(t1 - t0).toFixed(0)} ms, snapshot ${(t2 - t1).toFixed(0)} ms (${(snap.byteLength / 1e6).toFixed(1)} MB), restore ${(t3 - t2).toFixed(0)} ms`,
    );
    expect(copy.store.kvCount()).toBe(100_000);
    expect(t3 - t0).toBeLessThan(20_000);
  }, 60_000);
});

describe('blocking queries', () => {
  it('returns at once without an index, and with index 1 at least', async () => {
    const fsm = new Fsm('dc1');
    const r = await blockingQuery({ minIndex: 0, rng: seededRng(1), store: fsm.store }, (ws) =>
      fsm.store.kvGet('x', ws),
    );
    expect(r.index).toBe(1);
  });

  it('leaves no listener behind after a timeout or an abort', async () => {
    const { fsm } = fsmWith([set('x')]);
    await blockingQuery({ minIndex: 1, waitMs: 20, rng: seededRng(1), store: fsm.store }, (ws) =>
      fsm.store.kvGet('x', ws),
    );
    const ac = new AbortController();
    const p = blockingQuery(
      { minIndex: 1, waitMs: 10_000, signal: ac.signal, rng: seededRng(1), store: fsm.store },
      (ws) => fsm.store.kvGet('x', ws),
    );
    ac.abort(new Error('gone'));
    await expect(p).rejects.toThrow('gone');
    expect(fsm.store.watchers.size).toBe(0);
  });
});
