import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConsulError } from '../../src/core/errors.js';
import { validateRegister } from '../../src/state/catalog-validate.js';
import {
  checkCommand,
  decodeCommand,
  encodeCommand,
  packr,
  type FsmCommand,
  type FsmCommandType,
} from '../../src/state/commands.js';
import { commandTable, Fsm } from '../../src/state/fsm.js';
import type { TxnOp } from '../../src/state/txn.js';
import { WatchSet } from '../../src/state/watch.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const set = (key: string, v = key): FsmCommand => ({ type: 'kvSet', key, value: bytes(v), flags: 0 });
const reg = (body: object): FsmCommand => ({ type: 'register', req: validateRegister(body) });

function fsmWith(cmds: FsmCommand[]): { fsm: Fsm; results: unknown[] } {
  const fsm = new Fsm('dc1');
  const results = cmds.map((c, i) => fsm.apply(i + 1, encodeCommand(c)));
  return { fsm, results };
}

const ALL_TYPES: FsmCommandType[] = [
  'kvSet',
  'kvCas',
  'kvDelete',
  'kvDeleteCas',
  'kvDeleteTree',
  'kvLock',
  'kvUnlock',
  'sessionCreate',
  'sessionDestroy',
  'txn',
  'register',
  'deregister',
  'tombstoneReap',
  'coordinateBatchUpdate',
  'preparedQuerySet',
  'preparedQueryDelete',
  'aclBootstrap',
  'aclTokenSet',
  'aclTokenDelete',
  'aclPolicySet',
  'aclPolicyDelete',
  'snapshotRestore',
  'autopilotSetConfig',
];

describe('commands', () => {
  it('one table handles every command type', () => {
    expect(Object.keys(commandTable).sort()).toEqual([...ALL_TYPES].sort());
  });

  it('round-trips through msgpack with values as plain Uint8Array, even from a Buffer', () => {
    const cmd: FsmCommand = {
      type: 'kvCas',
      key: 'k',
      value: new Uint8Array([0, 1, 255]),
      flags: 7,
      index: 3,
    };
    const wire = Buffer.concat([Buffer.from([9, 9]), Buffer.from(encodeCommand(cmd))]).subarray(2);
    const back = decodeCommand(wire) as Extract<FsmCommand, { type: 'kvCas' }>;
    expect(back).toEqual(cmd);
    expect(back.value?.constructor).toBe(Uint8Array);
    expect(back.value?.buffer.byteLength).toBe(3); // its own copy, not a view of the entry
    expect(decodeCommand(encodeCommand({ type: 'kvSet', key: 'n', value: null, flags: 0 }))).toEqual({
      type: 'kvSet',
      key: 'n',
      value: null,
      flags: 0,
    });
    const txn: FsmCommand = {
      type: 'txn',
      ops: [{ KV: { Verb: 'set', Key: 'a', Value: bytes('v'), Flags: 1, Index: 0, Session: '' } }],
    };
    expect(decodeCommand(encodeCommand(txn))).toEqual(txn);
  });

  it.each([
    [{ type: 'nope' }, 'unknown command type "nope"'],
    [[1, 2], 'command must be a map'],
    [{ type: 'kvSet', key: 1, value: null, flags: 0 }, 'malformed kvSet command: key must be a string'],
    [{ type: 'kvSet', key: 'k', value: 'str', flags: 0 }, 'value must be bytes or null'],
    [{ type: 'kvCas', key: 'k', value: null, flags: 0 }, 'index must be a non-negative integer'],
    [{ type: 'kvDeleteTree' }, 'prefix must be a string'],
    [{ type: 'txn', ops: [{ KV: { Verb: 'set' } }] }, 'operation 0: Key must be a string'],
    [{ type: 'register', req: 'x' }, 'req must be an object'],
    [{ type: 'tombstoneReap', upTo: -1 }, 'upTo must be a non-negative integer'],
    [{ type: 'snapshotRestore', state: 'not bytes' }, 'state must be bytes'],
  ])('checkCommand(%j) → %s', (cmd, why) => {
    expect(checkCommand(cmd)).toContain(why);
  });
});

describe('Fsm.apply', () => {
  it('answers each command with its result', () => {
    const { results } = fsmWith([
      set('a'),
      { type: 'kvCas', key: 'a', value: bytes('x'), flags: 0, index: 99 },
      { type: 'kvCas', key: 'a', value: bytes('x'), flags: 0, index: 1 },
      { type: 'kvDelete', key: 'nothing' },
      { type: 'kvDeleteCas', key: 'a', index: 1 },
      { type: 'kvDeleteCas', key: 'a', index: 3 },
      { type: 'kvDeleteTree', prefix: '' },
      { type: 'txn', ops: [] },
      reg({ Node: 'n', Address: '1.1.1.1' }),
      { type: 'deregister', req: { Node: 'n' } },
      { type: 'tombstoneReap', upTo: 10 },
    ]);
    expect(results).toEqual([
      true,
      false,
      true,
      true,
      false,
      true,
      true,
      { Results: [], Errors: null },
      true,
      true,
      true,
    ]);
  });

  it('returns an Error for a malformed entry, never throws, and goes on applying', () => {
    const fsm = new Fsm('dc1');
    fsm.apply(1, encodeCommand(set('keep')));
    const before = fsm.snapshot();
    const bad = [
      new Uint8Array([0xc1, 0xff]),
      new Uint8Array([]),
      encodeCommand({ type: 'nope' } as unknown as FsmCommand),
      packr.pack({ type: 'kvSet', key: 42, value: null, flags: 0 }),
      packr.pack({ type: 'register', req: { Node: 5 } }),
      packr.pack({ type: 'register', req: { Node: 'n', Service: { Service: 's', Tags: 'no' } } }),
      packr.pack({ type: 'deregister', req: { Node: 'n', ServiceID: 3 } }),
      packr.pack({ type: 'txn', ops: 'x' }),
      packr.pack('just a string'),
    ];
    bad.forEach((data, i) => {
      const r = fsm.apply(i + 2, data);
      expect(r, String(i)).toBeInstanceOf(ConsulError);
    });
    expect(fsm.store.lastIndex).toBe(bad.length + 1);
    expect(packr.unpack(fsm.snapshot())).toEqual({ ...packr.unpack(before), lastIndex: bad.length + 1 });
    expect(fsm.apply(bad.length + 2, encodeCommand(set('still-works')))).toBe(true);
  });

  it('a failing registration changes nothing at all', () => {
    const { fsm, results } = fsmWith([
      reg({ Node: 'n', Address: 'a', Service: { Service: 's' } }),
      {
        type: 'register',
        req: { Node: 'm', Address: 'b', Checks: [{ CheckID: 'c', ServiceID: 'missing' }] },
      },
    ]);
    expect(results[1]).toBeInstanceOf(ConsulError);
    expect(fsm.store.nodes().value.map((n) => n.Node)).toEqual(['n']);
  });
});

describe('snapshot and restore', () => {
  const history: FsmCommand[] = [
    set('a'),
    set('b'),
    { type: 'kvDelete', key: 'b' },
    set('dir/x'),
    reg({
      Node: 'n',
      Address: '1.2.3.4',
      Service: { Service: 's', Tags: ['t'] },
      Checks: [{ Name: 'c', ServiceID: 's', Status: 'passing' }, { Name: 'node' }],
    }),
    reg({ Node: 'm', Address: '1.2.3.5', Service: { Service: 'other' } }),
    { type: 'deregister', req: { Node: 'm' } },
    { type: 'tombstoneReap', upTo: 2 },
    { type: 'kvDelete', key: 'dir/x' },
  ];

  it('round-trips every table and index', () => {
    const { fsm } = fsmWith(history);
    const other = new Fsm('dc1');
    other.restore(fsm.snapshot(), 9);
    expect(other.snapshot()).toEqual(fsm.snapshot());
    const a = fsm.store;
    const b = other.store;
    expect(b.lastIndex).toBe(9);
    for (const t of ['kvs', 'tombstones', 'nodes', 'services', 'checks'] as const) {
      expect(b.tableIndex(t), t).toBe(a.tableIndex(t));
    }
    expect(b.kvGet('b')).toEqual(a.kvGet('b'));
    expect(b.kvGet('dir/x')).toEqual({ index: 9, value: null });
    expect(b.kvList('dir/')).toEqual(a.kvList('dir/'));
    expect(b.kvList('')).toEqual(a.kvList(''));
    expect(b.kvGet('a').value?.Value).toBeInstanceOf(Uint8Array);
    expect(b.checkServiceNodes('s', [], false)).toEqual(a.checkServiceNodes('s', [], false));
    expect(b.serviceNodes('other', [])).toEqual({ index: 7, value: [] });
    expect(b.nodeInfo('m')).toEqual(a.nodeInfo('m'));
    expect(b.nodes()).toEqual(a.nodes());
    expect(b.services()).toEqual(a.services());
    expect(b.checksInState('any')).toEqual(a.checksInState('any'));
    expect(b.tombstoneCount()).toBe(2);
    // A restore never takes the applied index back below the snapshot's own.
    const late = new Fsm('dc1');
    late.restore(fsm.snapshot(), 100);
    expect(late.store.lastIndex).toBe(100);
  });

  it('replaces whatever was there and wakes every watcher', async () => {
    const { fsm } = fsmWith(history);
    const other = new Fsm('dc1');
    for (let i = 1; i <= 20; i++) other.apply(i, encodeCommand(set(`junk/${i}`)));
    const ws = new WatchSet();
    other.store.kvGet('unrelated', ws);
    const woke = other.store.waitForChange(ws);
    const empty = other.store.waitForChange(new WatchSet()); // even one that watches nothing
    other.restore(fsm.snapshot(), 9);
    await expect(woke).resolves.toBeUndefined();
    await expect(empty).resolves.toBeUndefined();
    expect(other.store.watchers.size).toBe(0);
    expect(other.store.kvList('junk/').value).toEqual([]);
    expect(other.snapshot()).toEqual(fsm.snapshot());
  });

  it('refuses a corrupt snapshot without touching the current state', () => {
    const { fsm } = fsmWith(history);
    const before = fsm.snapshot();
    expect(() => fsm.restore(new Uint8Array([0xc1]))).toThrow();
    let err: unknown;
    try {
      fsm.restore(packr.pack({ version: 1, lastIndex: 3, kv: { keys: [] } }));
    } catch (e) {
      err = e;
    }
    expect((err as ConsulError).code).toBe('Corrupt');
    expect(fsm.snapshot()).toEqual(before);
  });

  it('same commands, same bytes (no clock, no randomness, key order everywhere)', () => {
    const a = fsmWith(history).fsm.snapshot();
    const b = fsmWith(history).fsm.snapshot();
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });
});

describe('replicas converge (property)', () => {
  const key = fc.constantFrom('a', 'b', 'c/d', 'c/e', 'c/f/g', 'C/d');
  const value = fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 4 }));
  const verb = fc.constantFrom<TxnOp['KV']['Verb']>(
    'set',
    'cas',
    'get',
    'get-tree',
    'check-index',
    'check-not-exists',
    'delete',
    'delete-tree',
    'delete-cas',
    'lock',
  );
  const txnOp = fc.record({
    KV: fc.record({
      Verb: verb,
      Key: key,
      Value: value,
      Flags: fc.nat(2),
      Index: fc.nat(12),
      Session: fc.constant(''),
    }),
  });
  const nodeName = fc.constantFrom('n1', 'n2', 'N1');
  const svc = fc.record({
    ID: fc.constantFrom('s1', 's2'),
    Service: fc.constantFrom('web', 'db', 'Web'),
    Tags: fc.subarray(['x', 'y']),
  });
  const check = fc.record({
    CheckID: fc.constantFrom('c1', 'c2', 'serfHealth'),
    Status: fc.constantFrom('passing', 'warning', 'critical'),
    ServiceID: fc.constantFrom('', 's1', 's2'),
  });
  const cmd: fc.Arbitrary<FsmCommand> = fc.oneof(
    fc.record({ type: fc.constant('kvSet' as const), key, value, flags: fc.nat(3) }),
    fc.record({ type: fc.constant('kvCas' as const), key, value, flags: fc.nat(1), index: fc.nat(12) }),
    fc.record({ type: fc.constant('kvDelete' as const), key }),
    fc.record({ type: fc.constant('kvDeleteCas' as const), key, index: fc.nat(12) }),
    fc.record({ type: fc.constant('kvDeleteTree' as const), prefix: fc.constantFrom('c/', '', 'c/f') }),
    fc.record({ type: fc.constant('txn' as const), ops: fc.array(txnOp, { maxLength: 4 }) }),
    fc.record({ type: fc.constant('tombstoneReap' as const), upTo: fc.nat(12) }),
    fc
      .record({
        Node: nodeName,
        Address: fc.constantFrom('1.1.1.1', '2.2.2.2'),
        ID: fc.constantFrom('', '11111111-2222-3333-4444-555555555555'),
        Service: fc.option(svc, { nil: null }),
        Checks: fc.array(check, { maxLength: 2 }),
        SkipNodeUpdate: fc.boolean(),
      })
      .map((r): FsmCommand => ({ type: 'register', req: r })),
    fc
      .record({ Node: nodeName, ServiceID: fc.constantFrom('', 's1'), CheckID: fc.constantFrom('', 'c1') })
      .map((r): FsmCommand => ({ type: 'deregister', req: r })),
  );

  it('a replica restored from a snapshot midway ends byte-equal to one that applied everything', () => {
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 1, maxLength: 40 }), fc.nat(40), (cmds, cutAt) => {
        const cut = Math.min(cutAt, cmds.length - 1);
        const a = new Fsm('dc1');
        const b = new Fsm('dc1');
        cmds.forEach((c, i) => {
          const ra = a.apply(i + 1, encodeCommand(c));
          if (i === cut) b.restore(a.snapshot(), i + 1);
          else if (i > cut) {
            const rb = b.apply(i + 1, encodeCommand(c));
            expect(rb instanceof Error ? rb.message : rb).toEqual(ra instanceof Error ? ra.message : ra);
          }
        });
        expect(Buffer.from(b.snapshot()).equals(Buffer.from(a.snapshot()))).toBe(true);
        // Every read agrees too.
        for (const k of ['a', 'c/', '']) expect(b.store.kvList(k)).toEqual(a.store.kvList(k));
        for (const n of ['web', 'db']) {
          expect(b.store.checkServiceNodes(n, [], false)).toEqual(a.store.checkServiceNodes(n, [], false));
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('scale', () => {
  it('holds 100,000 keys of 256 bytes; snapshots and restores them', () => {
    const fsm = new Fsm('dc1');
    const value = new Uint8Array(256).fill(7);
    const entries = Array.from({ length: 100_000 }, (_, i) =>
      encodeCommand({ type: 'kvSet', key: `bench/key-${String(i).padStart(6, '0')}`, value, flags: 0 }),
    );
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    entries.forEach((e, i) => fsm.apply(i + 1, e));
    const t1 = performance.now();
    const snap = fsm.snapshot();
    const t2 = performance.now();
    const copy = new Fsm('dc1');
    copy.restore(snap, 100_000);
    const t3 = performance.now();
    const heap1 = process.memoryUsage().heapUsed;
    const mem = process.memoryUsage();
    console.log(
      [
        `100k kvSet (256 B values): apply ${(t1 - t0).toFixed(0)} ms (${((t1 - t0) / 100).toFixed(1)} µs/op)`,
        `snapshot ${(t2 - t1).toFixed(0)} ms, ${(snap.byteLength / 1e6).toFixed(1)} MB`,
        `restore ${(t3 - t2).toFixed(0)} ms`,
        `heap +${((heap1 - heap0) / 1e6).toFixed(0)} MB for two stores (heapUsed ${(mem.heapUsed / 1e6).toFixed(0)} MB, arrayBuffers ${(mem.arrayBuffers / 1e6).toFixed(0)} MB)`,
      ].join('; '),
    );
    expect(copy.store.kvCount()).toBe(100_000);
    expect(copy.store.kvGet('bench/key-099999').value?.Value?.byteLength).toBe(256);
    expect(copy.store.kvList('bench/').index).toBe(100_000);
    expect(t1 - t0).toBeLessThan(10_000);
    expect(t2 - t1).toBeLessThan(10_000);
    expect(t3 - t2).toBeLessThan(10_000);
    expect(snap.byteLength).toBeLessThan(100e6);
  }, 120_000);
});
