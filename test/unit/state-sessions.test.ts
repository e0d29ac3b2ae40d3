// Sessions in the state store and FSM: create validation, invalidation by the catalog and by
// destroy, release versus delete, the acquire/release and LockIndex rules, txn lock verbs, watches,
// and snapshots.
import { describe, expect, it } from 'vitest';
import { validateRegister } from '../../src/state/catalog-validate.js';
import { checkCommand, encodeCommand, type FsmCommand } from '../../src/state/commands.js';
import { Fsm } from '../../src/state/fsm.js';
import type { SessionInput } from '../../src/state/sessions.js';
import { sessionTtlMs, validateSessionRequest } from '../../src/state/session-validate.js';
import type { LockRelease, StateStore } from '../../src/state/store.js';
import type { TxnOp } from '../../src/state/txn.js';
import { WatchSet } from '../../src/state/watch.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const reg = (body: object): FsmCommand => ({ type: 'register', req: validateRegister(body) });
const op = (Verb: string, Key: string, extra: Partial<TxnOp['KV']> = {}): TxnOp =>
  ({ KV: { Verb, Key, Value: null, Flags: 0, Index: 0, Session: '', ...extra } }) as TxnOp;

function session(id: string, over: Partial<SessionInput> = {}): SessionInput {
  return {
    ID: id,
    Name: '',
    Node: 'node-1',
    NodeChecks: ['serfHealth'],
    ServiceChecks: null,
    LockDelay: 15e9,
    Behavior: 'release',
    TTL: '',
    ...over,
  };
}

/** An FSM with node-1 (serfHealth passing, service web-1 with check web-check) and node-2. */
function cluster(): { fsm: Fsm; s: StateStore; next: (c: FsmCommand) => unknown; released: LockRelease[] } {
  const fsm = new Fsm('dc1');
  const released: LockRelease[] = [];
  fsm.store.onLocksReleased = (r) => released.push(r);
  let i = 0;
  const next = (c: FsmCommand): unknown => fsm.apply(++i, encodeCommand(c));
  next(
    reg({
      Node: 'node-1',
      Address: '10.0.0.1',
      Service: { ID: 'web-1', Service: 'web' },
      Checks: [
        { CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing' },
        { CheckID: 'web-check', Name: 'web', Status: 'passing', ServiceID: 'web-1' },
      ],
    }),
  );
  next(reg({ Node: 'node-2', Address: '10.0.0.2', Check: { CheckID: 'serfHealth', Status: 'passing' } }));
  return { fsm, s: fsm.store, next, released };
}

const create = (id: string, over: Partial<SessionInput> = {}): FsmCommand => ({
  type: 'sessionCreate',
  session: session(id, over),
});
const lock = (key: string, sess: string, v = 'v'): FsmCommand => ({
  type: 'kvLock',
  key,
  value: bytes(v),
  flags: 0,
  session: sess,
});
const unlock = (key: string, sess: string): FsmCommand => ({
  type: 'kvUnlock',
  key,
  value: bytes('after'),
  flags: 0,
  session: sess,
});

describe('session create', () => {
  it('stores the session with its indexes and answers with its ID', () => {
    const { s, next } = cluster();
    expect(next(create('s1', { Name: 'web lock', TTL: '10s' }))).toBe('s1');
    const info = s.sessionInfo('s1');
    expect(info.value).toMatchObject({ ID: 's1', Name: 'web lock', Node: 'node-1', TTL: '10s' });
    expect(info.value!.CreateIndex).toBe(3);
    expect(info.value!.ModifyIndex).toBe(3);
    expect(info.index).toBe(3);
    expect(s.sessionList().value.map((x) => x.ID)).toEqual(['s1']);
    expect(s.nodeSessions('NODE-1').value.map((x) => x.ID)).toEqual(['s1']);
    expect(s.nodeSessions('node-2').value).toEqual([]);
  });

  it.each([
    [{ Node: 'nowhere' }, 'Missing node registration'],
    [{ NodeChecks: ['nope'] }, "Missing check 'nope' registration"],
    [{ ServiceChecks: [{ ID: 'absent', Namespace: '' }] }, "Missing check 'absent' registration"],
  ])('refuses %j with Consul’s error', (over, message) => {
    const { s, next } = cluster();
    const r = next(create('s1', over));
    expect(r).toBeInstanceOf(Error);
    expect((r as Error).message).toBe(message);
    expect(s.sessionList().value).toEqual([]);
  });

  it('refuses a critical check', () => {
    const { next } = cluster();
    next(reg({ Node: 'node-2', Address: '10.0.0.2', Check: { CheckID: 'serfHealth', Status: 'critical' } }));
    expect((next(create('s1', { Node: 'node-2' })) as Error).message).toBe(
      "Check 'serfHealth' is in critical state",
    );
  });

  it('binds to no check at all when NodeChecks is empty', () => {
    const { next } = cluster();
    next(reg({ Node: 'bare', Address: '10.0.0.3' }));
    expect(next(create('s1', { Node: 'bare', NodeChecks: [] }))).toBe('s1');
  });

  it('refuses a reused ID and malformed commands', () => {
    const { next } = cluster();
    next(create('s1'));
    expect(next(create('s1'))).toBeInstanceOf(Error);
    expect(
      checkCommand({ type: 'sessionCreate', session: { ...session('x'), Behavior: 'explode' } }),
    ).toMatch(/Behavior/);
    expect(checkCommand({ type: 'sessionCreate', session: { ...session(''), ID: '' } })).toMatch(/ID/);
    expect(checkCommand({ type: 'sessionDestroy', id: 7 })).toMatch(/id/);
  });
});

describe('the request policy (before Raft)', () => {
  it('fills Consul’s defaults', () => {
    expect(validateSessionRequest({ Node: 'n' })).toEqual({
      Name: '',
      Node: 'n',
      NodeChecks: ['serfHealth'],
      ServiceChecks: null,
      LockDelay: 15e9,
      Behavior: 'release',
      TTL: '',
    });
  });

  it.each([
    [{ Node: 'n', Behavior: 'explode' }, "Invalid Behavior setting 'explode'"],
    [{ Node: 'n', TTL: '5s' }, "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]"],
    [{ Node: 'n', TTL: '86401s' }, "Invalid Session TTL '86401000000000', must be between [10s=24h0m0s]"],
    [{ Node: 'n', TTL: 'soon' }, 'Session TTL \'soon\' invalid: time: invalid duration "soon"'],
    [{ Node: '' }, 'Must provide Node'],
    [{ Node: 'n', LockDelay: -1 }, 'LockDelay must be a non-negative duration'],
    [{ Node: 'n', NodeChecks: 'serfHealth' }, 'NodeChecks must be a list of check IDs'],
    [7, 'Must provide a session'],
  ])('refuses %j', (raw, message) => {
    expect(() => validateSessionRequest(raw)).toThrow(message);
  });

  it('accepts TTLs from 10s to 86400s and 0', () => {
    expect(sessionTtlMs('10s')).toBe(10_000);
    expect(sessionTtlMs('86400s')).toBe(86_400_000);
    expect(sessionTtlMs('0s')).toBe(0);
    expect(sessionTtlMs('')).toBe(0);
  });
});

describe('acquire and release', () => {
  it('follows Consul’s LockIndex rules', () => {
    const { s, next } = cluster();
    next(create('a'));
    next(create('b'));
    expect(next(lock('k', 'a', 'one'))).toBe(true);
    let e = s.kvGet('k').value!;
    expect(e).toMatchObject({ Session: 'a', LockIndex: 1 });
    // The holder re-acquires: the value changes, LockIndex does not.
    expect(next(lock('k', 'a', 'two'))).toBe(true);
    e = s.kvGet('k').value!;
    expect(e).toMatchObject({ Session: 'a', LockIndex: 1 });
    expect(new TextDecoder().decode(e.Value)).toBe('two');
    // Another session is refused while a holds it.
    expect(next(lock('k', 'b'))).toBe(false);
    // Only the holder releases.
    expect(next(unlock('k', 'b'))).toBe(false);
    expect(next(unlock('k', 'a'))).toBe(true);
    e = s.kvGet('k').value!;
    expect(e.Session).toBeUndefined();
    expect(e.LockIndex).toBe(1);
    // A new holder bumps the fencing token.
    expect(next(lock('k', 'b'))).toBe(true);
    expect(s.kvGet('k').value).toMatchObject({ Session: 'b', LockIndex: 2 });
  });

  it('locks an existing unlocked key at LockIndex + 1 and a plain write keeps the holder', () => {
    const { s, next } = cluster();
    next(create('a'));
    next({ type: 'kvSet', key: 'k', value: bytes('x'), flags: 0 });
    expect(next(lock('k', 'a'))).toBe(true);
    expect(s.kvGet('k').value!.LockIndex).toBe(1);
    next({ type: 'kvSet', key: 'k', value: bytes('y'), flags: 0 });
    expect(s.kvGet('k').value!.Session).toBe('a');
  });

  it('refuses a missing or unknown session with Consul’s words', () => {
    const { next } = cluster();
    expect((next(lock('k', '')) as Error).message).toBe('missing session');
    expect((next(lock('k', 'ghost')) as Error).message).toBe('invalid session "ghost"');
  });
});

describe('invalidation', () => {
  it('releases the locks of a destroyed session (release): Session cleared, LockIndex kept, index bumped', () => {
    const { s, next, released } = cluster();
    next(create('a', { LockDelay: 5e9 }));
    next(lock('k1', 'a'));
    next(lock('k2', 'a'));
    const before = s.kvGet('k1').value!;
    const ws = new WatchSet();
    s.kvGet('k1', ws);
    let woke = false;
    s.watchers.subscribe(ws, () => (woke = true));
    expect(next({ type: 'sessionDestroy', id: 'a' })).toBe(true);
    const after = s.kvGet('k1').value!;
    expect(after.Session).toBeUndefined();
    expect(after.LockIndex).toBe(before.LockIndex);
    expect(after.ModifyIndex).toBeGreaterThan(before.ModifyIndex);
    expect(woke).toBe(true);
    expect(s.sessionInfo('a').value).toBeNull();
    expect(released).toEqual([
      { session: 'a', keys: ['k1', 'k2'], lockDelayMs: 5000, index: after.ModifyIndex },
    ]);
    // Destroying it again changes nothing.
    expect(next({ type: 'sessionDestroy', id: 'a' })).toBe(true);
    expect(released).toHaveLength(1);
  });

  it('deletes the keys of a destroyed session with Behavior delete, and caps the lock delay at 60 s', () => {
    const { s, next, released } = cluster();
    next(create('d', { Behavior: 'delete', LockDelay: 600e9 }));
    next(lock('gone', 'd'));
    next({ type: 'kvSet', key: 'other', value: bytes('x'), flags: 0 });
    next({ type: 'sessionDestroy', id: 'd' });
    expect(s.kvGet('gone').value).toBeNull();
    expect(s.kvGet('other').value).not.toBeNull();
    expect(released[0]?.lockDelayMs).toBe(60_000);
  });

  it('invalidates a session when its node check turns critical (the leader’s serfHealth reconcile)', () => {
    const { s, next } = cluster();
    next(create('a'));
    next(create('other', { Node: 'node-2' }));
    next(lock('k', 'a'));
    next(reg({ Node: 'node-1', Address: '10.0.0.1', Check: { CheckID: 'serfHealth', Status: 'critical' } }));
    expect(s.sessionInfo('a').value).toBeNull();
    expect(s.kvGet('k').value!.Session).toBeUndefined();
    expect(s.sessionInfo('other').value).not.toBeNull();
  });

  it('keeps a session when its check changes but stays non-critical', () => {
    const { s, next } = cluster();
    next(create('a'));
    next(reg({ Node: 'node-1', Address: '10.0.0.1', Check: { CheckID: 'serfHealth', Status: 'warning' } }));
    expect(s.sessionInfo('a').value).not.toBeNull();
  });

  it('invalidates on a critical service check, on check and service deregistration, and on node deregistration', () => {
    const svc = cluster();
    svc.next(create('a', { NodeChecks: [], ServiceChecks: [{ ID: 'web-check', Namespace: '' }] }));
    svc.next(
      reg({
        Node: 'node-1',
        Address: '10.0.0.1',
        Check: { CheckID: 'web-check', Status: 'critical', ServiceID: 'web-1' },
      }),
    );
    expect(svc.s.sessionInfo('a').value).toBeNull();

    const check = cluster();
    check.next(create('a'));
    check.next({ type: 'deregister', req: { Node: 'node-1', CheckID: 'serfHealth' } });
    expect(check.s.sessionInfo('a').value).toBeNull();

    const service = cluster();
    service.next(create('a', { NodeChecks: [], ServiceChecks: [{ ID: 'web-check', Namespace: '' }] }));
    service.next({ type: 'deregister', req: { Node: 'node-1', ServiceID: 'web-1' } });
    expect(service.s.sessionInfo('a').value).toBeNull();

    const node = cluster();
    node.next(create('a', { NodeChecks: [] }));
    node.next(lock('k', 'a'));
    node.next({ type: 'deregister', req: { Node: 'node-1' } });
    expect(node.s.sessionInfo('a').value).toBeNull();
    expect(node.s.kvGet('k').value!.Session).toBeUndefined();
  });

  it('wakes session watchers (info, node, list) only for their own session or node', () => {
    const { s, next } = cluster();
    next(create('a'));
    const woke: string[] = [];
    const watch = (name: string, read: (ws: WatchSet) => void): void => {
      const ws = new WatchSet();
      read(ws);
      s.watchers.subscribe(ws, () => woke.push(name));
    };
    watch('info-a', (ws) => s.sessionInfo('a', ws));
    watch('node-2', (ws) => s.nodeSessions('node-2', ws));
    watch('list', (ws) => s.sessionList(ws));
    next(create('b', { Node: 'node-1' }));
    expect(woke.sort()).toEqual(['list']);
    next({ type: 'sessionDestroy', id: 'a' });
    expect(woke.sort()).toEqual(['info-a', 'list']);
  });
});

describe('txn verbs with sessions', () => {
  it('lock, check-session and unlock, with Consul’s errors, all or nothing', () => {
    const { s, next } = cluster();
    next(create('a'));
    next(create('b'));
    let r = next({ type: 'txn', ops: [op('lock', 'k', { Session: 'a', Value: bytes('v') })] }) as {
      Results: { KV: { LockIndex: number; Session?: string } }[];
    };
    expect(r.Results[0]!.KV).toMatchObject({ LockIndex: 1, Session: 'a' });
    expect(s.txnRead([op('check-session', 'k', { Session: 'a' })]).Errors).toBeNull();
    expect(s.txnRead([op('check-session', 'k', { Session: 'b' })]).Errors).toEqual([
      { OpIndex: 0, What: 'failed session check for key "k", current session "a" != "b"' },
    ]);
    const failed = next({
      type: 'txn',
      ops: [op('set', 'side', { Value: bytes('x') }), op('lock', 'k', { Session: 'b' })],
    });
    expect(failed).toEqual({
      Results: null,
      Errors: [{ OpIndex: 1, What: 'failed to lock key "k", lock is already held' }],
    });
    expect(s.kvGet('side').value).toBeNull();
    expect(next({ type: 'txn', ops: [op('lock', 'k2', { Session: 'ghost' })] })).toEqual({
      Results: null,
      Errors: [{ OpIndex: 0, What: 'invalid session "ghost"' }],
    });
    expect(next({ type: 'txn', ops: [op('unlock', 'k', { Session: 'b' })] })).toMatchObject({
      Errors: [
        { OpIndex: 0, What: `failed to unlock key "k", lock isn't held, or is held by another session` },
      ],
    });
    r = next({ type: 'txn', ops: [op('unlock', 'k', { Session: 'a' })] }) as typeof r;
    expect(r.Results[0]!.KV.Session).toBeUndefined();
    const e = s.kvGet('k').value!;
    expect(s.txnRead([op('check-index', 'k', { Index: e.ModifyIndex })]).Errors).toBeNull();
    expect(s.txnRead([op('check-not-exists', 'absent')]).Errors).toBeNull();
    expect(s.txnRead([op('check-not-exists', 'k')]).Errors).toEqual([{ OpIndex: 0, What: 'key "k" exists' }]);
  });
});

describe('the held-keys index', () => {
  it('follows txn locks, rollbacks, plain deletes and restores', () => {
    const { fsm, s, next } = cluster();
    next(create('a', { LockDelay: 0 }));
    next({ type: 'txn', ops: [op('lock', 'by-txn', { Session: 'a' })] });
    // A lock in a failed transaction is rolled back with everything else.
    next({ type: 'txn', ops: [op('lock', 'rolled-back', { Session: 'a' }), op('get', 'absent')] });
    next(lock('deleted', 'a'));
    next({ type: 'kvDelete', key: 'deleted' });
    next({ type: 'kvSet', key: 'deleted', value: bytes('again'), flags: 0 });
    const restored = new Fsm('dc1');
    restored.restore(fsm.snapshot(), 0);
    for (const store of [s, restored.store]) {
      store.sessionDestroy(100, 'a');
      expect(store.kvGet('by-txn').value!.Session).toBeUndefined();
      expect(store.kvGet('by-txn').value!.ModifyIndex).toBe(100);
      expect(store.kvGet('rolled-back').value).toBeNull();
      expect(store.kvGet('deleted').value!.ModifyIndex).toBeLessThan(100);
    }
  });
});

describe('snapshots', () => {
  it('carry sessions and the keys they hold; a restored replica dumps the same bytes', () => {
    const { fsm, next } = cluster();
    next(create('a', { TTL: '30s', ServiceChecks: [{ ID: 'web-check', Namespace: 'default' }] }));
    next(create('b', { Node: 'node-2', Behavior: 'delete' }));
    next(lock('k', 'a'));
    const other = new Fsm('dc1');
    other.restore(fsm.snapshot(), 5);
    expect(other.snapshot()).toEqual(fsm.snapshot());
    expect(other.store.sessionList().value.map((x) => x.ID)).toEqual(['a', 'b']);
    expect(other.store.nodeSessions('node-2').value[0]!.Behavior).toBe('delete');
    expect(other.store.kvGet('k').value!.Session).toBe('a');
    // The restored store still invalidates: its indexes by node came back too.
    other.apply(6, encodeCommand({ type: 'deregister', req: { Node: 'node-1' } }));
    expect(other.store.sessionInfo('a').value).toBeNull();
    expect(other.store.kvGet('k').value!.Session).toBeUndefined();
  });

  it('loads a snapshot taken before sessions existed', () => {
    const { fsm } = cluster();
    const old = new Fsm('dc1');
    const d = fsm.store.dump();
    delete d.sessions;
    old.store.load(d);
    expect(old.store.sessionList().value).toEqual([]);
  });
});
