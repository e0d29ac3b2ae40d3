// The PreparedQuery.* endpoints against a real FSM and a fake EndpointContext: Apply's checks and
// IDs, Get/List/Explain, Execute's filtering (health, OnlyPassing, IgnoreCheckIDs, tags with "!"
// exclusion, node and service meta), ordering (Near with and without an RTT sorter) and limit, and
// failover through a fake `datacenters` (NearestN first, then Failover.Datacenters, duplicates and
// unknown datacenters skipped, an unreachable one passed over).
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Authorizer } from '../../src/acl/authorizer.js';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';
import type { EndpointContext } from '../../src/rpc/endpoints/index.js';
import { endpoints } from '../../src/rpc/endpoints/index.js';
import {
  applyQuery,
  executeQuery,
  tagFilter,
  type PreparedQueryExecuteArgs,
  type PreparedQueryExecuteResponse,
} from '../../src/rpc/endpoints/prepared-query.js';
import { validateRegister } from '../../src/state/catalog-validate.js';
import { encodeCommand, type FsmCommand } from '../../src/state/commands.js';
import { Fsm } from '../../src/state/fsm.js';
import type { CheckServiceNode } from '../../src/state/types.js';
import { WatchSet } from '../../src/state/watch.js';

type Call = { dc: string; method: string; args: unknown };

interface World {
  fsm: Fsm;
  ctx: EndpointContext;
  calls: Call[];
  next(c: FsmCommand): unknown;
}

function world(
  remote: (dc: string, args: unknown) => Promise<unknown> = () => Promise.reject(new Error('no')),
  dcs = ['dc1'],
): World {
  const fsm = new Fsm('dc1');
  let i = 0;
  const next = (c: FsmCommand): unknown => fsm.apply(++i, encodeCommand(c));
  const calls: Call[] = [];
  const ctx: EndpointContext = {
    store: fsm.store,
    wan: null,
    apply: (cmd) => {
      const r = next(cmd);
      return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
    },
    raft: {
      configuration: () => ({ servers: [], index: 0 }),
      leaderId: () => 'self',
      addressOf: () => undefined,
      nodeNameOf: () => undefined,
      removeServer: () => Promise.resolve(),
      addServer: () => Promise.resolve(),
      hasState: () => true,
      leaderAddress: () => '',
      peerAddresses: () => [],
    },
    sessions: {
      lockDelayed: () => false,
      resetTimer: () => undefined,
      clearTimer: () => undefined,
      newId: randomUUID,
    },
    datacenters: {
      local: 'dc1',
      list: () => dcs,
      call: (dc, method, args) => {
        calls.push({ dc, method, args });
        return remote(dc, args);
      },
    },
    signal: new AbortController().signal,
  };
  return { fsm, ctx, calls, next };
}

interface Inst {
  node: string;
  status?: string;
  tags?: string[];
  nodeMeta?: Record<string, string>;
  meta?: Record<string, string>;
  checkId?: string;
  service?: string;
}

function register(w: World, x: Inst): void {
  const r = w.next({
    type: 'register',
    req: validateRegister({
      Node: x.node,
      Address: `10.0.0.${x.node.replace(/\D/g, '') || '9'}`,
      NodeMeta: x.nodeMeta ?? {},
      Service: {
        ID: `${x.service ?? 'web'}-${x.node}`,
        Service: x.service ?? 'web',
        Tags: x.tags ?? [],
        Meta: x.meta ?? {},
      },
      Check: {
        CheckID: x.checkId ?? `check-${x.node}`,
        Name: 'c',
        Status: x.status ?? 'passing',
        ServiceID: `${x.service ?? 'web'}-${x.node}`,
      },
    }),
  });
  expect(r).toBe(true);
}

/** n1 passing v1, n2 warning v1, n3 critical v1, n4 passing V2 (other rack), n5 critical on an ignorable check. */
function catalog(w: World): void {
  register(w, { node: 'n1', tags: ['v1', 'primary'], nodeMeta: { rack: 'r1' }, meta: { version: '1' } });
  register(w, { node: 'n2', status: 'warning', tags: ['v1'], nodeMeta: { rack: 'r1' } });
  register(w, { node: 'n3', status: 'critical', tags: ['v1'] });
  register(w, { node: 'n4', tags: ['V2', 'Primary'], nodeMeta: { rack: 'r2' }, meta: { version: '2' } });
  register(w, { node: 'n5', status: 'critical', checkId: 'flaky', tags: [] });
}

async function create(w: World, def: Record<string, unknown>): Promise<string> {
  return applyQuery(w.ctx, {
    op: 'create',
    query: { Name: 'q', ...def, Service: { Service: 'web', ...(def['Service'] as object) } },
  });
}

const nodes = (r: PreparedQueryExecuteResponse): string[] => r.Nodes.map((n) => n.Node.Node).sort();

async function exec(
  w: World,
  a: Partial<PreparedQueryExecuteArgs> = {},
): Promise<PreparedQueryExecuteResponse> {
  return (await executeQuery(w.ctx, { idOrName: 'q', ...a })).value;
}

async function rejects(p: Promise<unknown>): Promise<ConsulError> {
  try {
    await p;
  } catch (err) {
    return err as ConsulError;
  }
  throw new Error('did not fail');
}

describe('PreparedQuery.Apply', () => {
  it('creates with a fresh ID, refuses a given ID, and checks the policy before Raft', async () => {
    const w = world();
    const id = await create(w, {});
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(w.fsm.store.preparedQueryGet(id).value?.Name).toBe('q');
    const before = w.fsm.store.lastIndex;
    expect(
      (await rejects(applyQuery(w.ctx, { op: 'create', query: { ID: id, Service: { Service: 'x' } } })))
        .message,
    ).toBe('ID must be empty when creating a new prepared query');
    const e = await rejects(applyQuery(w.ctx, { op: 'create', query: { Name: 'x', Service: {} } }));
    expect(e.code).toBe(ErrorCode.BadRequest);
    expect(e.message).toBe('Invalid prepared query: Must provide a Service name to query');
    expect(w.fsm.store.lastIndex).toBe(before);
    // State checks come back from the FSM.
    expect((await rejects(create(w, {}))).message).toBe("name 'q' aliases an existing query name");
  });

  it('updates and deletes only existing queries', async () => {
    const w = world();
    const id = await create(w, {});
    await applyQuery(w.ctx, { op: 'update', query: { ID: id, Name: 'renamed', Service: { Service: 'db' } } });
    expect(w.fsm.store.preparedQueryGet(id).value).toMatchObject({
      Name: 'renamed',
      Service: { Service: 'db' },
    });
    const missing = randomUUID();
    const e = await rejects(
      applyQuery(w.ctx, { op: 'update', query: { ID: missing, Name: 'x', Service: { Service: 'db' } } }),
    );
    expect([e.code, e.message]).toEqual([
      ErrorCode.NotFound,
      `Cannot modify non-existent prepared query: '${missing}'`,
    ]);
    await applyQuery(w.ctx, { op: 'delete', id });
    expect(w.fsm.store.preparedQueryGet(id).value).toBeNull();
    expect((await rejects(applyQuery(w.ctx, { op: 'delete', id }))).code).toBe(ErrorCode.NotFound);
    expect((await rejects(applyQuery(w.ctx, { op: 'nope' } as never))).message).toMatch(
      /Unknown prepared query operation/,
    );
  });
});

describe('PreparedQuery.Get, List, Explain', () => {
  it('reads by ID, lists, explains by name, and says Query not found', async () => {
    const w = world();
    const id = await create(w, {});
    const q = { minIndex: 0, stale: false, consistent: false };
    const ws = new WatchSet();
    const got = endpoints['PreparedQuery.Get'].run(w.ctx, { q, id }, ws);
    expect((got.value as { ID: string }[]).map((x) => x.ID)).toEqual([id]);
    expect(got.index).toBeGreaterThan(0);
    expect(ws.topics.size).toBeGreaterThan(0);
    expect(endpoints['PreparedQuery.List'].run(w.ctx, { q }, new WatchSet()).value).toHaveLength(1);
    const ex = endpoints['PreparedQuery.Explain'].run(w.ctx, { q, idOrName: 'Q' }, new WatchSet());
    expect((ex.value as { Query: { ID: string } }).Query.ID).toBe(id);
    expect(() => endpoints['PreparedQuery.Get'].run(w.ctx, { q, id: randomUUID() }, new WatchSet())).toThrow(
      'Query not found',
    );
    expect(() =>
      endpoints['PreparedQuery.Explain'].run(w.ctx, { q, idOrName: 'none' }, new WatchSet()),
    ).toThrow('Query not found');
  });
});

describe('PreparedQuery.Execute: the local query', () => {
  it('leaves out critical instances; OnlyPassing also warning; IgnoreCheckIDs ignores those checks', async () => {
    const w = world();
    catalog(w);
    await create(w, {});
    const r = await exec(w);
    expect(nodes(r)).toEqual(['n1', 'n2', 'n4']);
    expect(r).toMatchObject({ Service: 'web', DNS: { TTL: '' }, Datacenter: 'dc1', Failovers: 0 });
    await applyQuery(w.ctx, {
      op: 'update',
      query: {
        ...w.fsm.store.preparedQueryResolve('q').value,
        Service: { Service: 'web', OnlyPassing: true },
      },
    });
    expect(nodes(await exec(w))).toEqual(['n1', 'n4']);
    await applyQuery(w.ctx, {
      op: 'update',
      query: {
        ...w.fsm.store.preparedQueryResolve('q').value,
        Service: { Service: 'web', IgnoreCheckIDs: ['flaky'] },
      },
    });
    expect(nodes(await exec(w))).toEqual(['n1', 'n2', 'n4', 'n5']);
  });

  it('filters tags (all required, "!" excluded, any case) and node and service meta', async () => {
    const w = world();
    catalog(w);
    const id = await create(w, {});
    const run = async (svc: Record<string, unknown>): Promise<string[]> => {
      await applyQuery(w.ctx, {
        op: 'update',
        query: { ID: id, Name: 'q', Service: { Service: 'web', ...svc } },
      });
      return nodes(await exec(w));
    };
    expect(await run({ Tags: ['v1'] })).toEqual(['n1', 'n2']);
    expect(await run({ Tags: ['PRIMARY'] })).toEqual(['n1', 'n4']);
    expect(await run({ Tags: ['primary', '!v1'] })).toEqual(['n4']);
    expect(await run({ Tags: ['!V1', '!v2'] })).toEqual([]);
    expect(await run({ NodeMeta: { rack: 'r1' } })).toEqual(['n1', 'n2']);
    expect(await run({ ServiceMeta: { version: '2' } })).toEqual(['n4']);
    expect(await run({ NodeMeta: { rack: 'r1' }, ServiceMeta: { version: '1' } })).toEqual(['n1']);
  });

  it('resolves by ID or name; an unknown one is Query not found (404)', async () => {
    const w = world();
    catalog(w);
    const id = await create(w, {});
    expect(nodes(await exec(w, { idOrName: id }))).toEqual(['n1', 'n2', 'n4']);
    const e = await rejects(exec(w, { idOrName: 'other' }));
    expect([e.code, e.message]).toEqual([ErrorCode.NotFound, 'Query not found']);
  });

  it('applies the limit, and shuffles', async () => {
    const w = world();
    for (let i = 1; i <= 8; i++) register(w, { node: `n${i}` });
    await create(w, {});
    expect((await exec(w, { limit: 3 })).Nodes).toHaveLength(3);
    expect((await exec(w, { limit: 0 })).Nodes).toHaveLength(8);
    const firsts = new Set<string>();
    for (let i = 0; i < 30; i++) firsts.add((await exec(w)).Nodes[0]?.Node.Node ?? '');
    expect(firsts.size).toBeGreaterThan(1);
  });

  it('Near: _agent puts the agent’s node first; a sorter orders by RTT', async () => {
    const w = world();
    for (let i = 1; i <= 6; i++) register(w, { node: `n${i}` });
    await create(w, { Service: { Near: '_agent' } });
    for (let i = 0; i < 10; i++) {
      const r = await exec(w, { agent: { node: 'n4', datacenter: 'dc1' } });
      expect(r.Nodes[0]?.Node.Node).toBe('n4');
    }
    // A request's own ?near wins over the query's; the sorter's order is kept (n3 itself first).
    w.ctx.preparedQueryNear = (_node, rows): CheckServiceNode[] =>
      [...rows].sort((a, b) => b.Node.Node.localeCompare(a.Node.Node));
    const r = await exec(w, { source: { node: 'n3' }, agent: { node: 'n4', datacenter: 'dc1' } });
    expect(r.Nodes.map((n) => n.Node.Node)).toEqual(['n3', 'n5', 'n4', 'n6', 'n2', 'n1']);
    // _ip: the node with the request's address.
    const r2 = await exec(w, { source: { node: '_ip', ip: '10.0.0.2' } });
    expect(r2.Nodes[0]?.Node.Node).toBe('n2');
  });
});

describe('PreparedQuery.Execute: failover', () => {
  const remoteRow = (node: string): CheckServiceNode =>
    ({
      Node: { Node: node },
      Service: { Service: 'web', Tags: [] },
      Checks: [],
    }) as unknown as CheckServiceNode;

  it('tries NearestN first, then the listed datacenters; skips duplicates, unknown and unreachable ones', async () => {
    const w = world(
      (dc) => {
        if (dc === 'dc3') return Promise.reject(new ConsulError(ErrorCode.Unavailable, 'dc3 unreachable'));
        if (dc === 'dc2')
          return Promise.resolve({
            value: {
              Service: 'web',
              Nodes: [remoteRow('far-1')],
              DNS: { TTL: '' },
              Datacenter: 'dc2',
              Failovers: 0,
            },
            meta: { index: 5, knownLeader: true, lastContact: 0, consistency: 'leader' },
          });
        return Promise.resolve({ Service: 'web', Nodes: [], DNS: { TTL: '' }, Datacenter: dc, Failovers: 0 });
      },
      ['dc1', 'dc3', 'dc2', 'dc4'],
    );
    register(w, { node: 'n1', status: 'critical' });
    await create(w, { Service: { Failover: { NearestN: 1, Datacenters: ['dc9', 'dc3', 'dc2', 'dc4'] } } });
    const r = await exec(w, {
      limit: 2,
      q: { minIndex: 50, maxWaitMs: 1000, stale: true, consistent: false },
    });
    expect(w.calls.map((c) => [c.dc, c.method])).toEqual([
      ['dc3', 'PreparedQuery.ExecuteRemote'],
      ['dc2', 'PreparedQuery.ExecuteRemote'],
    ]);
    // The remote side must answer at once: only the consistency mode goes along.
    expect((w.calls[1]?.args as { q: unknown }).q).toEqual({ minIndex: 0, stale: true, consistent: false });
    expect(w.calls[1]?.args).toMatchObject({
      dc: 'dc2',
      limit: 2,
      query: { Name: 'q', Service: { Service: 'web' } },
    });
    expect(r).toMatchObject({ Datacenter: 'dc2', Failovers: 2 });
    expect(nodes(r)).toEqual(['far-1']);
  });

  it("carries the query's token, else the caller's, to the datacenter it fails over to", async () => {
    const empty = (dc: string) =>
      Promise.resolve({ Service: 'web', Nodes: [], DNS: { TTL: '' }, Datacenter: dc, Failovers: 0 });
    const w = world(empty, ['dc1', 'dc2']);
    register(w, { node: 'n1', status: 'critical' });
    await create(w, { Service: { Failover: { Datacenters: ['dc2'] } } });
    await exec(w, { token: 'caller-secret' } as Partial<PreparedQueryExecuteArgs>);
    expect((w.calls[0]?.args as { token?: string }).token).toBe('caller-secret');
    await exec(w);
    expect(w.calls[1]?.args).not.toHaveProperty('token');

    const own = world(empty, ['dc1', 'dc2']);
    register(own, { node: 'n1', status: 'critical' });
    await create(own, { Token: 'query-secret', Service: { Failover: { Datacenters: ['dc2'] } } });
    await exec(own, { token: 'caller-secret' } as Partial<PreparedQueryExecuteArgs>);
    expect((own.calls[0]?.args as { token?: string }).token).toBe('query-secret');
  });

  it('ExecuteRemote filters its instances with the token it carries', () => {
    const spec = endpoints['PreparedQuery.ExecuteRemote'].acl;
    const webOnly: Authorizer = {
      accessorId: 'acc',
      allowed: (r, n) => (r === 'service' && n === 'web') || (r === 'node' && n === 'n1'),
      allowedGlobal: () => false,
      keyWritePrefix: () => false,
    };
    const answer = {
      Service: 'web',
      Nodes: [remoteRow('n1'), remoteRow('n2')],
      DNS: { TTL: '' },
      Datacenter: 'dc2',
      Failovers: 0,
    };
    const f = spec?.filter?.(webOnly, answer, {} as never, {} as EndpointContext);
    expect(f?.filtered).toBe(true);
    expect(nodes(f?.value as PreparedQueryExecuteResponse)).toEqual(['n1']);
  });

  it('goes on past a datacenter without instances; none anywhere is an empty answer', async () => {
    const w = world(
      (dc) => Promise.resolve({ Service: 'web', Nodes: [], DNS: { TTL: '' }, Datacenter: dc, Failovers: 0 }),
      ['dc1', 'dc2', 'dc3'],
    );
    await create(w, { Service: { Failover: { NearestN: 5 } } });
    const r = await exec(w);
    expect(w.calls.map((c) => c.dc)).toEqual(['dc2', 'dc3']);
    expect(r.Nodes).toEqual([]);
    expect(r.Failovers).toBe(2);
  });

  it('does not fail over when local instances are healthy, or when the query asks for none', async () => {
    const w = world(() => Promise.reject(new Error('should not be called')), ['dc1', 'dc2']);
    register(w, { node: 'n1' });
    await create(w, { Service: { Failover: { NearestN: 1 } } });
    expect(nodes(await exec(w))).toEqual(['n1']);
    const w2 = world(() => Promise.reject(new Error('should not be called')), ['dc1', 'dc2']);
    await create(w2, {});
    expect(await exec(w2)).toMatchObject({ Nodes: [], Failovers: 0, Datacenter: 'dc1' });
    expect(w.calls.length + w2.calls.length).toBe(0);
  });

  it('a template fails over with the query rendered for the name asked', async () => {
    const w = world(
      (dc) =>
        Promise.resolve({
          Service: 'api',
          Nodes: [remoteRow('far')],
          DNS: { TTL: '' },
          Datacenter: dc,
          Failovers: 0,
        }),
      ['dc1', 'dc2'],
    );
    await applyQuery(w.ctx, {
      op: 'create',
      query: {
        Name: 'geo-',
        Template: { Type: 'name_prefix_match' },
        Service: { Service: '${name.suffix}', Failover: { NearestN: 1 } },
      },
    });
    const r = await exec(w, { idOrName: 'geo-api' });
    expect(r).toMatchObject({ Service: 'api', Datacenter: 'dc2', Failovers: 1 });
    expect(w.calls[0]?.args).toMatchObject({ query: { Name: 'geo-', Service: { Service: 'api' } } });
  });

  it('ExecuteRemote runs the query it is given on this datacenter, limited, without failing over', async () => {
    const w = world(undefined, ['dc1', 'dc2']);
    catalog(w);
    const query = {
      ID: randomUUID(),
      Name: 'remote',
      Service: { Service: 'web', Tags: ['v1'], Failover: { NearestN: 3 } },
    };
    const q = { minIndex: 0, stale: false, consistent: false };
    const r = endpoints['PreparedQuery.ExecuteRemote'].run(
      w.ctx,
      { q, dc: 'dc1', query: query as never, limit: 1 },
      new WatchSet(),
    );
    const v = r.value as PreparedQueryExecuteResponse;
    expect(v.Nodes).toHaveLength(1);
    expect(['n1', 'n2']).toContain(v.Nodes[0]?.Node.Node);
    expect(v.Datacenter).toBe('dc1');
    expect(w.calls).toEqual([]);
  });
});

describe('tagFilter', () => {
  it('keeps every instance for no tags', () => {
    const rows = [{ Service: { Tags: ['a'] } }, { Service: { Tags: [] } }] as unknown as CheckServiceNode[];
    expect(tagFilter(rows, [])).toHaveLength(2);
    expect(tagFilter(rows, ['!a'])).toHaveLength(1);
  });
});
