import { describe, expect, it } from 'vitest';
import { ConsulError } from '../../src/core/errors.js';
import { encodeCommand } from '../../src/state/commands.js';
import { Fsm } from '../../src/state/fsm.js';
import { StateStore } from '../../src/state/store.js';
import { isReadOnlyTxn, readTxn, validateTxn, type TxnOp, type TxnResult } from '../../src/state/txn.js';
import { WatchSet } from '../../src/state/watch.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const op = (Verb: string, Key: string, extra: Partial<TxnOp['KV']> = {}): TxnOp =>
  ({ KV: { Verb, Key, Value: null, Flags: 0, Index: 0, Session: '', ...extra } }) as TxnOp;

/** t/a at 1 (value A), t/b at 2 (value B, flags 9). */
function seeded(): StateStore {
  const s = new StateStore('dc1');
  s.kvSet(1, 't/a', bytes('A'), 0);
  s.kvSet(2, 't/b', bytes('B'), 9);
  return s;
}

const errorsOf = (r: TxnResult): string[] => (r.Errors ?? []).map((e) => `${e.OpIndex}: ${e.What}`);

describe('validateTxn', () => {
  it('allows up to 128 operations and answers 413 beyond, with Consul’s text', () => {
    expect(() => validateTxn(Array.from({ length: 128 }, () => op('get', 'k')))).not.toThrow();
    let err: unknown;
    try {
      validateTxn(Array.from({ length: 129 }, () => op('get', 'k')));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConsulError);
    expect((err as ConsulError).code).toBe('TooLarge');
    expect((err as ConsulError).message).toBe('Transaction contains too many operations (129 > 128)');
  });

  it.each([
    [[op('explode', 'k')], 'Operation 0: unknown KV verb "explode"'],
    [[op('get', 'k'), op('set', '')], 'Operation 1: Must provide key'],
    [[op('get-tree', '')], 'Operation 0: Must provide key'],
    [[{ Node: {} }], 'Operation 0: only KV operations are supported'],
    [
      [{ KV: { Verb: 'set', Key: 'k', Value: 'base64?', Flags: 0, Index: 0, Session: '' } }],
      'Value must be bytes',
    ],
    [[{ KV: { Verb: 'set', Key: 'k', Value: null, Flags: -1, Index: 0, Session: '' } }], 'Flags'],
    ['nope', 'expected a list of operations'],
  ])('%j → 400 %s', (ops, msg) => {
    expect(() => validateTxn(ops)).toThrow(msg);
    try {
      validateTxn(ops);
    } catch (e) {
      expect((e as ConsulError).code).toBe('BadRequest');
    }
  });

  it('needs no key for delete-tree (the whole store)', () => {
    expect(() => validateTxn([op('delete-tree', '')])).not.toThrow();
  });

  it('tells read-only transactions from writing ones', () => {
    expect(isReadOnlyTxn([op('get', 'a'), op('get-tree', 'a'), op('get-or-empty', 'a')])).toBe(true);
    expect(
      isReadOnlyTxn([op('check-index', 'a'), op('check-session', 'a'), op('check-not-exists', 'a')]),
    ).toBe(true);
    for (const v of ['set', 'cas', 'lock', 'unlock', 'delete', 'delete-tree', 'delete-cas']) {
      expect(isReadOnlyTxn([op('get', 'a'), op(v, 'a')])).toBe(false);
    }
    expect(isReadOnlyTxn([])).toBe(true);
  });
});

describe('transactions: every verb', () => {
  it('set and cas return the entry without its value', () => {
    const s = seeded();
    const r = s.txn(3, [
      op('set', 't/c', { Value: bytes('C'), Flags: 4 }),
      op('cas', 't/a', { Value: bytes('A2'), Index: 1 }),
      op('cas', 't/new', { Value: bytes('N'), Index: 0 }),
    ]);
    expect(r.Errors).toBeNull();
    expect(r.Results).toEqual([
      { KV: { Key: 't/c', Value: null, Flags: 4, CreateIndex: 3, ModifyIndex: 3, LockIndex: 0 } },
      { KV: { Key: 't/a', Value: null, Flags: 0, CreateIndex: 1, ModifyIndex: 3, LockIndex: 0 } },
      { KV: { Key: 't/new', Value: null, Flags: 0, CreateIndex: 3, ModifyIndex: 3, LockIndex: 0 } },
    ]);
    expect(dec.decode(s.kvGet('t/a').value?.Value ?? undefined)).toBe('A2');
  });

  it('get, get-or-empty and get-tree return values; checks return the entry without it', () => {
    const s = seeded();
    const r = s.txnRead([
      op('get', 't/a'),
      op('get-or-empty', 't/missing', { Flags: 3 }),
      op('get-tree', 't/'),
      op('check-index', 't/b', { Index: 2 }),
      op('check-session', 't/a'),
      op('check-not-exists', 't/missing'),
    ]);
    expect(r.Errors).toBeNull();
    const kv = (r.Results ?? []).map((x) => [x.KV.Key, x.KV.Value ? dec.decode(x.KV.Value) : null]);
    expect(kv).toEqual([
      ['t/a', 'A'],
      ['t/missing', null],
      ['t/a', 'A'],
      ['t/b', 'B'],
      ['t/b', null],
      ['t/a', null],
    ]);
    expect(r.Results?.[1]?.KV).toEqual({
      Key: 't/missing',
      Value: null,
      Flags: 3,
      CreateIndex: 0,
      ModifyIndex: 0,
      LockIndex: 0,
    });
  });

  it('delete, delete-tree and delete-cas return nothing', () => {
    const s = seeded();
    s.kvSet(3, 'u/1', bytes('1'), 0);
    s.kvSet(4, 'u/2', bytes('2'), 0);
    const r = s.txn(5, [
      op('delete', 't/a'),
      op('delete', 'not-there'),
      op('delete-tree', 'u/'),
      op('delete-cas', 't/b', { Index: 2 }),
      op('delete-cas', 'never', { Index: 9 }),
    ]);
    expect(r).toEqual({ Results: [], Errors: null });
    expect(s.kvCount()).toBe(0);
    expect(s.kvList('').index).toBe(5);
  });

  it('fails each verb with Consul’s wording', () => {
    const s = seeded();
    const r = s.txn(3, [
      op('get', 't/missing'),
      op('cas', 't/a', { Index: 77 }),
      op('cas', 't/a', { Index: 0 }),
      op('check-index', 't/a', { Index: 3 }),
      op('check-index', 't/missing', { Index: 3 }),
      op('check-session', 't/a', { Session: 'abc' }),
      op('check-session', 't/missing'),
      op('check-not-exists', 't/b'),
      op('delete-cas', 't/b', { Index: 1 }),
      op('lock', 't/a'),
      op('lock', 't/a', { Session: 'abc' }),
      op('unlock', 't/a'),
      op('unlock', 't/a', { Session: 'abc' }),
      op('set', ''),
      op('explode', 't/a'),
    ]);
    expect(r.Results).toBeNull();
    expect(errorsOf(r)).toEqual([
      `0: key "t/missing" doesn't exist`,
      '1: failed to set key "t/a", index is stale',
      '2: failed to set key "t/a", index is stale',
      '3: failed index check for key "t/a", current modify index 1 != 3',
      `4: failed to check index, key "t/missing" doesn't exist`,
      '5: failed session check for key "t/a", current session "" != "abc"',
      `6: failed to check session, key "t/missing" doesn't exist`,
      '7: key "t/b" exists',
      '8: failed to delete key "t/b", index is stale',
      '9: missing session',
      '10: invalid session "abc"',
      '11: missing session',
      `12: failed to unlock key "t/a", lock isn't held, or is held by another session`,
      '13: Must provide key',
      '14: unknown KV verb "explode"',
    ]);
  });
});

describe('transactions: atomicity', () => {
  it('a failing op leaves no write, tombstone, index or notification behind', () => {
    const s = seeded();
    const before = JSON.stringify(s.dump());
    const ws = new WatchSet();
    s.kvList('', ws);
    s.kvGet('t/a', ws);
    let woke = false;
    s.watchers.subscribe(ws, () => (woke = true));
    const r = s.txn(3, [
      op('set', 't/new', { Value: bytes('x') }),
      op('set', 't/a', { Value: bytes('changed') }),
      op('delete', 't/b'),
      op('delete-tree', ''),
      op('check-not-exists', 't/missing'),
      op('get', 't/missing'),
    ]);
    expect(errorsOf(r)).toEqual([`5: key "t/missing" doesn't exist`]);
    expect(woke).toBe(false);
    const after = s.dump();
    expect(JSON.stringify({ ...after, lastIndex: 2 })).toBe(before);
    expect(after.lastIndex).toBe(3);
    expect(s.kvGet('t/new')).toEqual({ index: 2, value: null });
    expect(s.tombstoneCount()).toBe(0);
    // A later write still notifies normally.
    s.kvSet(4, 't/a', bytes('later'), 0);
    expect(woke).toBe(true);
  });

  it('reads inside a transaction see its own earlier writes', () => {
    const s = seeded();
    const r = s.txn(3, [
      op('set', 't/c', { Value: bytes('C') }),
      op('get', 't/c'),
      op('check-index', 't/c', { Index: 3 }),
      op('delete', 't/a'),
      op('check-not-exists', 't/a'),
      op('get-tree', 't/'),
    ]);
    expect(r.Errors).toBeNull();
    expect((r.Results ?? []).map((x) => x.KV.Key)).toEqual(['t/c', 't/c', 't/c', 't/b', 't/c']);
  });

  it('a successful transaction notifies once, after every op', () => {
    const s = seeded();
    const ws = new WatchSet();
    s.kvList('t/', ws);
    const seen: number[] = [];
    s.watchers.subscribe(ws, () => seen.push(s.kvList('t/').index));
    s.txn(3, [op('set', 't/x', { Value: bytes('1') }), op('delete', 't/a')]);
    expect(seen).toEqual([3]);
  });

  it('applies through the FSM with the same results, all or nothing', () => {
    const fsm = new Fsm('dc1');
    fsm.apply(1, encodeCommand({ type: 'kvSet', key: 't/a', value: bytes('A'), flags: 0 }));
    const ok = fsm.apply(
      2,
      encodeCommand({ type: 'txn', ops: [op('set', 't/b', { Value: bytes('B') }), op('get', 't/b')] }),
    );
    expect((ok as TxnResult).Results?.map((x) => x.KV.Key)).toEqual(['t/b', 't/b']);
    const bad = fsm.apply(
      3,
      encodeCommand({ type: 'txn', ops: [op('delete', 't/a'), op('cas', 't/b', { Index: 1 })] }),
    );
    expect((bad as TxnResult).Errors).toEqual([
      { OpIndex: 1, What: 'failed to set key "t/b", index is stale' },
    ]);
    expect(fsm.store.kvGet('t/a').value).not.toBeNull();
    expect(fsm.store.lastIndex).toBe(3);
  });
});

describe('read-only transactions', () => {
  it('run against current state without an index and refuse writes', () => {
    const s = seeded();
    expect(readTxn(s, [op('get', 't/a')]).Results?.[0]?.KV.Key).toBe('t/a');
    expect(() => s.txnRead([op('get', 't/a'), op('set', 't/a')])).toThrow('not read-only');
    expect(s.txnRead([op('get', 'missing')])).toEqual({
      Results: null,
      Errors: [{ OpIndex: 0, What: `key "missing" doesn't exist` }],
    });
    expect(s.lastIndex).toBe(2);
  });
});
