import { describe, expect, it } from 'vitest';
import { ConsulError } from '../../src/core/errors.js';
import { validateDeregister, validateRegister } from '../../src/state/catalog-validate.js';
import { encodeCommand, type FsmCommand } from '../../src/state/commands.js';
import { Fsm } from '../../src/state/fsm.js';
import type { StateStore } from '../../src/state/store.js';
import { WatchSet } from '../../src/state/watch.js';

const reg = (body: object): FsmCommand => ({ type: 'register', req: validateRegister(body) });

/** An Fsm that applied `cmds` at indexes 1, 2, 3, ...; `next()` applies one more. */
function fsmWith(...cmds: FsmCommand[]): {
  fsm: Fsm;
  s: StateStore;
  results: unknown[];
  next: (c: FsmCommand) => unknown;
} {
  const fsm = new Fsm('dc1');
  let i = 0;
  const next = (c: FsmCommand): unknown => fsm.apply(++i, encodeCommand(c));
  const results = cmds.map(next);
  return { fsm, s: fsm.store, results, next };
}

const web1 = {
  Node: 'node-1',
  Address: '10.0.0.1',
  NodeMeta: { rack: 'r1' },
  Service: { ID: 'web-1', Service: 'web', Tags: ['v1', 'Primary'], Port: 80 },
  Checks: [
    { CheckID: 'node-ok', Name: 'node ok', Status: 'passing' },
    { CheckID: 'web-1-http', Name: 'http', Status: 'passing', ServiceID: 'web-1' },
  ],
};
const web2 = {
  Node: 'node-2',
  Address: '10.0.0.2',
  Service: { ID: 'web-2', Service: 'web', Tags: ['v2'], Port: 80, Address: '10.0.9.9' },
  Check: { CheckID: 'web-2-http', Name: 'http', Status: 'critical', ServiceID: 'web-2' },
};
const db = { Node: 'node-3', Address: '10.0.0.3', Service: { Service: 'db', Port: 5432 } };

/** Whether `ws` fires during `write` (synchronously notified writes). */
function fires(s: StateStore, ws: WatchSet, write: () => void): boolean {
  let fired = false;
  const off = s.watchers.subscribe(ws, () => (fired = true));
  write();
  off();
  return fired;
}

describe('validateRegister / validateDeregister (Consul messages and defaults)', () => {
  it.each([
    [{ Address: '1.2.3.4' }, 'Must provide node'],
    [{ Node: 'x' }, 'Must provide address if SkipNodeUpdate is not set'],
    [{ Node: 'x', Address: 'a', ID: 'nope' }, 'Bad node ID: uuid string is wrong length'],
    [
      { Node: 'x', Address: 'a', ID: '11111111-2222-3333-4444-55555555555z' },
      'Bad node ID: uuid is improperly formatted',
    ],
    [{ Node: 'x', Address: 'a', Service: { Port: 1 } }, 'Must provide service name'],
    [{ Node: 'x', Address: 'a', Service: { ID: 'id', Port: 1 } }, 'Must provide service name with ID'],
    [{ Node: 'x', Address: 'a', Service: { Service: 's', Address: '0.0.0.0' } }, 'Invalid service address'],
    [{ Node: 'x', Address: 'a', Service: { Service: 's', Port: 70000 } }, 'Service.Port'],
    [{ Node: 'x', Address: 'a', Check: { Name: 'c', Node: 'y' } }, 'check node "y" does not match node "x"'],
    [{ Node: 'x', Address: 'a', Check: { Name: 'c', Status: 'sad' } }, 'Status'],
    [{ Node: 'x', Address: 'a', Check: {} }, 'Must provide a check name'],
    [{ Node: 'x', Address: 'a', NodeMeta: { 'consul-x': 'y' } }, 'reserved prefix'],
    [{ Node: 'x', Address: 'a', Service: { Service: 's', Meta: { 'bad key': 'v' } } }, 'invalid characters'],
    [{ Node: 7 }, 'Node must be a string'],
    ['not an object', 'must be an object'],
  ])('%j → %s', (body, msg) => {
    let err: unknown;
    try {
      validateRegister(body);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConsulError);
    expect((err as ConsulError).code).toBe('BadRequest');
    expect((err as ConsulError).message).toContain(msg);
  });

  it('fills Consul’s defaults, folds Check into Checks, and reads fields case-insensitively', () => {
    const r = validateRegister({
      node: 'n1',
      address: '1.1.1.1',
      skip_node_update: false,
      service: { service: 'api', weights: { Passing: 0, Warning: 1 } },
      check: { name: 'alive', definition: { HTTP: 'http://x/health', Interval: '10s' } },
      checks: [{ CheckID: 'c2', ServiceID: 'api', Status: 'passing', Definition: { TCP: 'x:1' } }],
    });
    expect(r.Service).toEqual({
      ID: 'api',
      Service: 'api',
      Tags: [],
      Address: '',
      TaggedAddresses: {},
      Meta: {},
      Port: 0,
      Weights: { Passing: 1, Warning: 1 }, // invalid weights become the default, as in ToServiceNode
      EnableTagOverride: false,
    });
    expect(r.Checks).toEqual([
      expect.objectContaining({
        Node: 'n1',
        CheckID: 'alive',
        Name: 'alive',
        Status: 'critical',
        Type: 'http',
      }),
      expect.objectContaining({ Node: 'n1', CheckID: 'c2', Name: '', Status: 'passing', Type: 'tcp' }),
    ]);
    expect(r).toMatchObject({ ID: '', TaggedAddresses: {}, NodeMeta: {}, SkipNodeUpdate: false });
  });

  it('lets SkipNodeUpdate go without an address', () => {
    expect(validateRegister({ Node: 'n', SkipNodeUpdate: true }).Address).toBe('');
  });

  it('validates deregistrations', () => {
    expect(() => validateDeregister({})).toThrow('Must provide node');
    expect(validateDeregister({ node: 'n', serviceid: 's' })).toEqual({
      Node: 'n',
      ServiceID: 's',
      CheckID: '',
    });
  });
});

describe('catalog registration and reads', () => {
  it('registers nodes, services and checks, and lists them', () => {
    const { s, results } = fsmWith(reg(web1), reg(web2), reg(db));
    expect(results).toEqual([true, true, true]);
    const nodes = s.nodes();
    expect(nodes.index).toBe(3);
    expect(nodes.value.map((n) => n.Node)).toEqual(['node-1', 'node-2', 'node-3']);
    expect(nodes.value[0]).toEqual({
      ID: '',
      Node: 'node-1',
      Address: '10.0.0.1',
      Datacenter: 'dc1',
      TaggedAddresses: {},
      Meta: { rack: 'r1' },
      CreateIndex: 1,
      ModifyIndex: 1,
    });
    expect(s.services()).toEqual({ index: 3, value: { db: [], web: ['Primary', 'v1', 'v2'] } });
    expect(s.nodeList()).toEqual(s.nodes());
    expect(s.serviceMap()).toEqual(s.services());
  });

  it('answers a service with flattened rows, filtering by every tag case-insensitively', () => {
    const { s } = fsmWith(reg(web1), reg(web2), reg(db));
    const all = s.serviceNodes('web', []);
    expect(all.value.map((r) => r.ServiceID)).toEqual(['web-1', 'web-2']);
    expect(all.value[1]).toMatchObject({
      Node: 'node-2',
      Address: '10.0.0.2',
      Datacenter: 'dc1',
      ServiceAddress: '10.0.9.9',
      ServiceName: 'web',
      ServiceTags: ['v2'],
      ServicePort: 80,
      ServiceWeights: { Passing: 1, Warning: 1 },
      ServiceKind: '',
      CreateIndex: 2,
      ModifyIndex: 2,
    });
    expect(s.serviceNodes('web', ['primary', 'V1']).value.map((r) => r.ServiceID)).toEqual(['web-1']);
    expect(s.serviceNodes('web', ['v1', 'v2']).value).toEqual([]);
    expect(s.serviceNodes('WEB', []).value).toHaveLength(2); // names are case-insensitive too
    expect(s.serviceNodes('nothing', []).value).toEqual([]);
  });

  it('shows a node with its services, as a map and as a list; null for an unknown node', () => {
    const { s } = fsmWith(
      reg(web1),
      reg({ ...web1, Service: { ID: 'a-side', Service: 'side' }, Checks: [] }),
    );
    const info = s.nodeInfo('node-1');
    expect(info.index).toBe(2);
    expect(Object.keys(info.value?.Services ?? {})).toEqual(['a-side', 'web-1']);
    expect(s.nodeServiceList('NODE-1').value?.Services.map((x) => x.ID)).toEqual(['a-side', 'web-1']);
    expect(s.nodeInfo('ghost')).toEqual({ index: 2, value: null });
    expect(s.nodeServiceList('ghost').value).toBeNull();
  });

  it('fills a check’s service name and tags, and keeps them current when the service changes', () => {
    const { s, next } = fsmWith(reg(web1));
    const c = s.nodeChecks('node-1').value.find((x) => x.CheckID === 'web-1-http');
    expect(c).toMatchObject({ ServiceID: 'web-1', ServiceName: 'web', ServiceTags: ['v1', 'Primary'] });
    next(reg({ ...web1, Checks: [], Service: { ...web1.Service, Tags: ['v3'] } }));
    expect(s.serviceChecks('web').value[0]).toMatchObject({ ServiceTags: ['v3'], ModifyIndex: 2 });
  });

  it('reports health: node checks then the instance’s own, and ?passing drops anything not passing', () => {
    const { s } = fsmWith(reg(web1), reg(web2));
    const all = s.checkServiceNodes('web', [], false);
    expect(all.value.map((e) => e.Service.ID)).toEqual(['web-1', 'web-2']);
    expect(all.value[0]?.Checks.map((c) => c.CheckID)).toEqual(['node-ok', 'web-1-http']);
    expect(all.value[0]?.Node.Node).toBe('node-1');
    expect(s.checkServiceNodes('web', [], true).value.map((e) => e.Service.ID)).toEqual(['web-1']);
    expect(s.checkServiceNodes('web', ['v2'], false).value.map((e) => e.Service.ID)).toEqual(['web-2']);
    expect(s.serviceChecks('web').value.map((c) => c.CheckID)).toEqual(['web-1-http', 'web-2-http']);
    expect(s.nodeChecks('node-1').value.map((c) => c.CheckID)).toEqual(['node-ok', 'web-1-http']);
    expect(s.checksInState('critical').value.map((c) => c.CheckID)).toEqual(['web-2-http']);
    expect(s.checksInState('passing').value.map((c) => c.CheckID)).toEqual(['node-ok', 'web-1-http']);
    expect(s.checksInState('warning').value).toEqual([]);
    expect(s.checksInState('any').value).toHaveLength(3);
    expect(s.checksInState('any').index).toBe(2);
  });

  it('a critical node-level check marks every service on the node, and bumps each one’s index', () => {
    const { s, next } = fsmWith(
      reg(web1),
      reg({ ...web1, Service: { ID: 'side', Service: 'side' }, Checks: [] }),
      reg(db),
    );
    const dbIndex = s.serviceNodes('db', []).index;
    const wsWeb = new WatchSet();
    const wsSide = new WatchSet();
    const wsDb = new WatchSet();
    s.checkServiceNodes('web', [], true, wsWeb);
    s.checkServiceNodes('side', [], true, wsSide);
    s.checkServiceNodes('db', [], true, wsDb);
    const fired: string[] = [];
    s.watchers.subscribe(wsWeb, () => fired.push('web'));
    s.watchers.subscribe(wsSide, () => fired.push('side'));
    s.watchers.subscribe(wsDb, () => fired.push('db'));
    next(
      reg({ ...web1, Service: null, Checks: [{ CheckID: 'node-ok', Name: 'node ok', Status: 'critical' }] }),
    );
    expect(fired.sort()).toEqual(['side', 'web']);
    expect(s.checkServiceNodes('web', [], true).value).toEqual([]);
    expect(s.checkServiceNodes('side', [], true).value).toEqual([]);
    expect(s.checkServiceNodes('web', [], false).index).toBe(4);
    expect(s.checkServiceNodes('side', [], false).index).toBe(4);
    expect(s.serviceNodes('db', []).index).toBe(dbIndex);
    expect(s.nodeChecks('node-1').index).toBe(4);
    s.watchers.notifyAll();
    expect(s.watchers.size).toBe(0);
  });

  it('a change to a node’s record bumps its services; a write to service B leaves A alone', () => {
    const { s, next } = fsmWith(reg(web1), reg(db));
    const a0 = s.serviceNodes('web', []).index;
    const wsA = new WatchSet();
    s.checkServiceNodes('web', [], false, wsA);
    const wsB = new WatchSet();
    s.checkServiceNodes('db', [], false, wsB);
    const wsNodes = new WatchSet();
    s.nodes(wsNodes);
    expect(fires(s, wsA, () => next(reg({ ...db, Service: { Service: 'db', Port: 5433 } })))).toBe(false);
    expect(s.serviceNodes('web', []).index).toBe(a0);
    expect(s.serviceNodes('db', []).index).toBe(3);
    expect(fires(s, wsB, () => next(reg({ ...db, Service: { Service: 'db', Port: 5434 } })))).toBe(true);
    expect(fires(s, wsNodes, () => next(reg({ ...db, Service: { Service: 'db', Port: 5435 } })))).toBe(false);
    // The node's address moves: every service on it is affected, the nodes list too.
    expect(fires(s, wsA, () => next(reg({ ...web1, Address: '10.0.0.99', Checks: [] })))).toBe(true);
    expect(s.serviceNodes('web', []).index).toBe(6);
    expect(s.serviceNodes('web', []).value[0]?.Address).toBe('10.0.0.99');
    expect(s.nodes().index).toBe(6);
    expect(s.serviceNodes('db', []).index).toBe(5);
    expect(s.watchers.size).toBe(0);
  });

  it('re-registering the same thing writes nothing and wakes nobody', () => {
    const { s, next } = fsmWith(reg(web1));
    const ws = new WatchSet();
    s.checkServiceNodes('web', [], false, ws);
    s.nodes(ws);
    s.services(ws);
    s.checksInState('any', ws);
    s.nodeInfo('node-1', ws);
    expect(fires(s, ws, () => next(reg({ ...web1, NodeMeta: { rack: 'r1' } })))).toBe(false);
    expect(s.checkServiceNodes('web', [], false).index).toBe(1);
    expect(s.nodes().index).toBe(1);
    expect(s.lastIndex).toBe(2);
  });

  it('refuses a check for a service that is not registered, applying nothing', () => {
    const { s, results } = fsmWith(
      reg({ Node: 'x', Address: '1.1.1.1', Checks: [{ Name: 'fine' }, { Name: 'c', ServiceID: 'missing' }] }),
    );
    expect(results[0]).toBeInstanceOf(ConsulError);
    expect((results[0] as Error).message).toBe(
      'failed inserting check on node "x": Missing service registration',
    );
    expect(s.nodes().value).toEqual([]);
    expect(s.checksInState('any').value).toEqual([]);
    expect(s.lastIndex).toBe(1);
  });

  it('SkipNodeUpdate leaves an existing node alone but still creates a missing one', () => {
    const { s, next } = fsmWith(reg(db));
    next(reg({ Node: 'node-3', SkipNodeUpdate: true, Service: { Service: 'cache', Port: 1 } }));
    expect(s.nodes().value[0]).toMatchObject({ Address: '10.0.0.3', ModifyIndex: 1 });
    expect(s.serviceNodes('cache', []).value[0]?.Address).toBe('10.0.0.3');
    next(reg({ Node: 'fresh', SkipNodeUpdate: true }));
    expect(s.nodes().value.map((n) => [n.Node, n.Address])).toEqual([
      ['fresh', ''],
      ['node-3', '10.0.0.3'],
    ]);
  });

  it('moves a service that is re-registered under another name, bumping both names', () => {
    const { s, next } = fsmWith(
      reg({ Node: 'n', Address: 'a', Service: { ID: 's1', Service: 'old' } }),
      reg(db),
    );
    const ws = new WatchSet();
    s.serviceNodes('old', [], ws);
    expect(
      fires(s, ws, () => next(reg({ Node: 'n', Address: 'a', Service: { ID: 's1', Service: 'new' } }))),
    ).toBe(true);
    expect(s.serviceNodes('old', [])).toEqual({ index: 3, value: [] });
    expect(s.serviceNodes('new', []).value.map((r) => r.ServiceID)).toEqual(['s1']);
    expect(s.services().value).toEqual({ db: [], new: [] });
  });

  it('looks nodes, services and checks up case-insensitively, keeping the latest spelling', () => {
    const { s, next } = fsmWith(
      reg({ Node: 'Node-A', Address: 'a', Service: { ID: 'Svc-1', Service: 'Web' } }),
    );
    next(
      reg({ Node: 'node-a', Address: 'a', Check: { CheckID: 'C1', ServiceID: 'svc-1', Status: 'passing' } }),
    );
    expect(s.nodes().value.map((n) => n.Node)).toEqual(['Node-A']);
    expect(s.nodeInfo('NODE-A').value?.Node.Node).toBe('Node-A');
    expect(s.checkServiceNodes('web', [], true).value[0]?.Checks.map((c) => c.CheckID)).toEqual(['C1']);
    next({ type: 'deregister', req: { Node: 'NODE-A', CheckID: 'c1' } });
    expect(s.nodeChecks('node-a').value).toEqual([]);
  });

  it('moves a node ID to a new name (the old entry goes), unless a live node holds that name', () => {
    const id = '11111111-2222-3333-4444-555555555555';
    const other = 'aaaaaaaa-2222-3333-4444-555555555555';
    const { s, results, next } = fsmWith(
      reg({ ID: id, Node: 'old-name', Address: '1.1.1.1', Service: { Service: 'svc' } }),
      reg({ ID: id, Node: 'new-name', Address: '1.1.1.2' }),
    );
    expect(results[1]).toBe(true);
    expect(s.nodes().value.map((n) => [n.Node, n.ID])).toEqual([['new-name', id]]);
    expect(s.serviceNodes('svc', []).value).toEqual([]);
    // A live node (serfHealth passing) with another ID keeps its name.
    next(
      reg({
        ID: other,
        Node: 'taken',
        Address: '2.2.2.2',
        Check: { CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing' },
      }),
    );
    const r = next(reg({ ID: id, Node: 'taken', Address: '1.1.1.3' }));
    expect(r).toBeInstanceOf(ConsulError);
    expect((r as Error).message).toBe(
      `failed inserting node: Error while renaming Node ID: "${id}" (1.1.1.3): Node name taken is reserved by node ${other} with name taken (2.2.2.2)`,
    );
    expect(s.nodes().value.map((n) => n.Node)).toEqual(['new-name', 'taken']);
    // Once it is critical, the name can be taken over.
    next(
      reg({
        ID: other,
        Node: 'taken',
        Address: '2.2.2.2',
        Check: { CheckID: 'serfHealth', Status: 'critical' },
      }),
    );
    expect(next(reg({ ID: id, Node: 'taken', Address: '1.1.1.3' }))).toBe(true);
    expect(s.nodes().value.map((n) => [n.Node, n.ID, n.Address])).toEqual([['taken', id, '1.1.1.3']]);
  });
});

describe('empty store', () => {
  it('answers every read with index 1, never 0', () => {
    const s = new Fsm('dc1').store;
    const reads = [
      s.nodes(),
      s.services(),
      s.serviceNodes('x', []),
      s.nodeInfo('x'),
      s.nodeServiceList('x'),
      s.checkServiceNodes('x', [], true),
      s.nodeChecks('x'),
      s.serviceChecks('x'),
      s.checksInState('any'),
      s.kvGet('x'),
      s.kvList('x'),
      s.kvKeys('x', '/'),
    ];
    expect(reads.map((r) => r.index)).toEqual(reads.map(() => 1));
  });
});

describe('catalog deregistration', () => {
  it('removes a check, a service with its checks, then the node with everything on it', () => {
    const { s, next } = fsmWith(
      reg({
        Node: 'tmp',
        Address: '1.1.1.1',
        Service: { ID: 's1', Service: 'tmp-svc' },
        Checks: [
          { CheckID: 'c1', Name: 'c1', ServiceID: 's1' },
          { CheckID: 'c2', Name: 'c2' },
          { CheckID: 'c3', Name: 'c3' },
        ],
      }),
      reg({ Node: 'tmp', Address: '1.1.1.1', Service: { ID: 's2', Service: 'keep' } }),
    );
    expect(next({ type: 'deregister', req: validateDeregister({ Node: 'tmp', CheckID: 'c2' }) })).toBe(true);
    expect(s.nodeChecks('tmp').value.map((c) => c.CheckID)).toEqual(['c1', 'c3']);
    const svcIndex = s.serviceNodes('tmp-svc', []).index;
    next({ type: 'deregister', req: { Node: 'tmp', ServiceID: 's1' } });
    expect(s.serviceNodes('tmp-svc', [])).toEqual({ index: 4, value: [] });
    expect(s.serviceNodes('tmp-svc', []).index).toBeGreaterThan(svcIndex); // never back, even when gone
    expect(s.nodeChecks('tmp').value.map((c) => c.CheckID)).toEqual(['c3']);
    expect(s.services().value).toEqual({ keep: [] });
    next({ type: 'deregister', req: { Node: 'tmp' } });
    expect(s.nodeInfo('tmp')).toEqual({ index: 5, value: null });
    expect(s.serviceNodes('keep', [])).toEqual({ index: 5, value: [] });
    expect(s.checksInState('any')).toEqual({ index: 5, value: [] });
    expect(s.nodes()).toEqual({ index: 5, value: [] });
    // Deregistering what is not there is a no-op that still answers true.
    expect(next({ type: 'deregister', req: { Node: 'tmp' } })).toBe(true);
    expect(next({ type: 'deregister', req: { Node: 'ghost', ServiceID: 'x' } })).toBe(true);
    expect(s.nodes().index).toBe(5);
  });

  it('a service with no instances keeps its index; one never seen uses the catalog tables', () => {
    const { s, next } = fsmWith(reg(db));
    expect(s.serviceNodes('unknown', []).index).toBe(1);
    expect(s.nodeInfo('unknown').index).toBe(1);
    next(reg(web1));
    expect(s.serviceNodes('unknown', []).index).toBe(2);
    expect(s.serviceNodes('db', []).index).toBe(1);
  });
});
