// Prepared queries in the state store and FSM: set and replace (indexes), name uniqueness and ID
// aliasing, the session binding (must exist; the query goes with the session), delete, resolve by
// ID or name, watches, snapshots, command shapes, and the decoding and policy checks with Consul's
// messages.
import { describe, expect, it } from 'vitest';
import { validateRegister } from '../../src/state/catalog-validate.js';
import { checkCommand, encodeCommand, type FsmCommand } from '../../src/state/commands.js';
import { Fsm } from '../../src/state/fsm.js';
import {
  checkQueryPolicy,
  decodeQuery,
  queryDnsTtl,
  type PreparedQueryInput,
} from '../../src/state/prepared-queries.js';
import { compileTemplate, renderTemplate } from '../../src/state/prepared-query-template.js';
import type { StateStore } from '../../src/state/store.js';
import { WatchSet } from '../../src/state/watch.js';

const ID1 = '11111111-1111-4111-8111-111111111111';
const ID2 = '22222222-2222-4222-8222-222222222222';
const SESSION = '33333333-3333-4333-8333-333333333333';

function query(id: string, over: Record<string, unknown> = {}): PreparedQueryInput {
  return decodeQuery({ ID: id, Name: '', Service: { Service: 'web' }, ...over });
}

function setup(): { fsm: Fsm; s: StateStore; next: (c: FsmCommand) => unknown } {
  const fsm = new Fsm('dc1');
  let i = 0;
  const next = (c: FsmCommand): unknown => fsm.apply(++i, encodeCommand(c));
  next({
    type: 'register',
    req: validateRegister({
      Node: 'node-1',
      Address: '10.0.0.1',
      Check: { CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing' },
    }),
  });
  return { fsm, s: fsm.store, next };
}

const set = (q: PreparedQueryInput): FsmCommand => ({ type: 'preparedQuerySet', query: q });

describe('preparedQuerySet and preparedQueryDelete', () => {
  it('creates, replaces (keeping CreateIndex) and lists in ID order, with the table index', () => {
    const { s, next } = setup();
    expect(next(set(query(ID2, { Name: 'b' })))).toBe(true);
    expect(next(set(query(ID1, { Name: 'a' })))).toBe(true);
    const got = s.preparedQueryGet(ID1);
    expect(got.index).toBe(3);
    expect(got.value).toMatchObject({ ID: ID1, Name: 'a', CreateIndex: 3, ModifyIndex: 3 });
    expect(next(set(query(ID1, { Name: 'a2', DNS: { TTL: '10s' } })))).toBe(true);
    expect(s.preparedQueryGet(ID1).value).toMatchObject({ Name: 'a2', CreateIndex: 3, ModifyIndex: 4 });
    expect(s.preparedQueryList().value.map((q) => q.ID)).toEqual([ID1, ID2]);
    expect(s.preparedQueryList().index).toBe(4);
    expect(s.tableIndex('preparedQueries')).toBe(4);
  });

  it('refuses a name another query has (any case), and a name that is another query’s ID', () => {
    const { s, next } = setup();
    next(set(query(ID1, { Name: 'Geo' })));
    const r = next(set(query(ID2, { Name: 'geo' })));
    expect(r).toBeInstanceOf(Error);
    expect((r as Error).message).toBe("name 'geo' aliases an existing query name");
    const r2 = next(set(query(ID2, { Name: ID1 })));
    expect((r2 as Error).message).toBe(`name '${ID1}' aliases an existing query ID`);
    expect(s.preparedQueryGet(ID2).value).toBeNull();
    // Renaming a query to its own name's other case is no collision.
    expect(next(set(query(ID1, { Name: 'GEO' })))).toBe(true);
    expect(s.preparedQueryResolve('geo').value?.ID).toBe(ID1);
  });

  it('needs an existing session, and goes when its session is destroyed or invalidated', () => {
    const { s, next } = setup();
    const r = next(set(query(ID1, { Session: SESSION })));
    expect((r as Error).message).toBe(`invalid session "${SESSION}"`);
    const sess = {
      ID: SESSION,
      Name: '',
      Node: 'node-1',
      NodeChecks: ['serfHealth'],
      ServiceChecks: null,
      LockDelay: 0,
      Behavior: 'release' as const,
      TTL: '',
    };
    next({ type: 'sessionCreate', session: sess });
    expect(next(set(query(ID1, { Session: SESSION })))).toBe(true);
    expect(next(set(query(ID2, { Name: 'kept' })))).toBe(true);
    next({ type: 'sessionDestroy', id: SESSION });
    expect(s.preparedQueryGet(ID1).value).toBeNull();
    expect(s.preparedQueryGet(ID2).value).not.toBeNull();

    // Invalidated by the catalog: serfHealth turns critical.
    next({ type: 'sessionCreate', session: sess });
    next(set(query(ID1, { Session: SESSION })));
    next({
      type: 'register',
      req: validateRegister({
        Node: 'node-1',
        Address: '10.0.0.1',
        Check: { CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'critical' },
      }),
    });
    expect(s.session(SESSION)).toBeUndefined();
    expect(s.preparedQueryGet(ID1).value).toBeNull();
  });

  it('deletes idempotently', () => {
    const { s, next } = setup();
    next(set(query(ID1, { Name: 'a' })));
    expect(next({ type: 'preparedQueryDelete', id: ID1 })).toBe(true);
    expect(s.preparedQueryGet(ID1).value).toBeNull();
    expect(s.preparedQueryResolve('a').value).toBeNull();
    expect(next({ type: 'preparedQueryDelete', id: ID1 })).toBe(true);
    // The name is free again.
    expect(next(set(query(ID2, { Name: 'a' })))).toBe(true);
  });
});

describe('resolve and watches', () => {
  it('resolves by ID (any case) first, then by name; an empty name is an error', () => {
    const { s, next } = setup();
    next(set(query(ID1, { Name: 'web' })));
    expect(s.preparedQueryResolve(ID1.toUpperCase()).value?.ID).toBe(ID1);
    expect(s.preparedQueryResolve('WEB').value?.ID).toBe(ID1);
    expect(s.preparedQueryResolve('nope').value).toBeNull();
    expect(() => s.preparedQueryResolve('')).toThrow('Missing query ID');
  });

  it('wakes a reader of one query on its write only, and list readers on any', async () => {
    const { s, next } = setup();
    next(set(query(ID1, { Name: 'a' })));
    const one = new WatchSet();
    s.preparedQueryGet(ID1, one);
    const all = new WatchSet();
    s.preparedQueryList(all);
    let oneFired = false;
    let allFired = false;
    s.watchers.subscribe(one, () => (oneFired = true));
    s.watchers.subscribe(all, () => (allFired = true));
    next(set(query(ID2, { Name: 'b' })));
    expect(allFired).toBe(true);
    expect(oneFired).toBe(false);
    next({ type: 'preparedQueryDelete', id: ID1 });
    expect(oneFired).toBe(true);
    // A name lookup waits on the list: a query created under that name later wakes it.
    const byName = new WatchSet();
    expect(s.preparedQueryResolve('later', byName).value).toBeNull();
    const woke = s.waitForChange(byName);
    next(set(query(ID1, { Name: 'later' })));
    await woke;
  });
});

describe('snapshots and command shapes', () => {
  it('carries queries through snapshot and restore; old snapshots load with none', () => {
    const { fsm, next } = setup();
    next(set(query(ID1, { Name: 'a', Service: { Service: 'web', Tags: ['v1', '!v2'] } })));
    const other = new Fsm('dc1');
    other.restore(fsm.snapshot());
    expect(other.store.preparedQueryResolve('a').value).toEqual(fsm.store.preparedQueryGet(ID1).value);
    expect(other.store.tableIndex('preparedQueries')).toBe(2);
    expect(other.snapshot()).toEqual(fsm.snapshot());
    const old = fsm.store.dump();
    delete old.preparedQueries;
    other.store.load(old);
    expect(other.store.preparedQueryList().value).toEqual([]);
  });

  it('rejects malformed commands without stopping the log', () => {
    expect(checkCommand({ type: 'preparedQuerySet', query: 3 })).toMatch(/query must be an object/);
    expect(checkCommand({ type: 'preparedQuerySet', query: { ID: 1 } })).toMatch(/query ID must be a string/);
    expect(checkCommand({ type: 'preparedQueryDelete' })).toMatch(/id must be a string/);
    const { s, next } = setup();
    const r = next(set({ ...query(''), ID: '' }));
    expect((r as Error).message).toBe('Missing query ID');
    expect(s.preparedQueryList().value).toEqual([]);
  });
});

describe('decodeQuery and checkQueryPolicy', () => {
  it('fills Consul’s zero values and matches field names case-insensitively', () => {
    const q = decodeQuery({
      name: 'geo',
      service: { service: 'web', onlypassing: true, failover: { nearestn: 2, datacenters: ['dc2'] } },
      dns: { ttl: '5s' },
    });
    expect(q).toEqual({
      ID: '',
      Name: 'geo',
      Session: '',
      Token: '',
      Template: { Type: '', Regexp: '', RemoveEmptyTags: false },
      Service: {
        Service: 'web',
        Failover: { NearestN: 2, Datacenters: ['dc2'] },
        IgnoreCheckIDs: null,
        OnlyPassing: true,
        Near: '',
        Tags: null,
        NodeMeta: null,
        ServiceMeta: null,
        Connect: { Enabled: false },
      },
      DNS: { TTL: '5s' },
    });
    expect(() => decodeQuery({ Service: { Tags: 'x' } })).toThrow(
      'Request decode failed: Service.Tags must be a list of strings',
    );
    expect(() => decodeQuery({ Service: { Failover: { NearestN: 1.5 } } })).toThrow(
      /NearestN must be an integer/,
    );
    expect(() => decodeQuery([])).toThrow(/expected a JSON object/);
  });

  it('checks the policy with Consul’s messages', () => {
    const bad = (over: Record<string, unknown>): string => {
      try {
        checkQueryPolicy(decodeQuery({ Name: 'q', Service: { Service: 'web' }, ...over }));
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(bad({})).toBe('');
    expect(bad({ Name: '' })).toBe('Invalid prepared query: Must be bound to a session');
    expect(bad({ Name: '', Session: SESSION })).toBe('');
    expect(bad({ Service: {} })).toBe('Invalid prepared query: Must provide a Service name to query');
    expect(bad({ Service: { Service: 'web', Failover: { NearestN: -1 } } })).toBe(
      "Invalid prepared query: Bad NearestN '-1', must be >= 0",
    );
    expect(bad({ DNS: { TTL: 'soon' } })).toBe(
      'Invalid prepared query: Bad DNS TTL \'soon\': time: invalid duration "soon"',
    );
    expect(bad({ DNS: { TTL: '-1s' } })).toBe("Invalid prepared query: DNS TTL '-1000000000', must be >=0");
    expect(bad({ Token: '<hidden>' })).toMatch(/Bad Token '<hidden>'/);
    // A template needs neither a name nor a session (its type is checked when it is compiled).
    expect(bad({ Name: '', Template: { Type: 'name_prefix_match' } })).toBe('');
    expect(bad({ Service: { Service: 'web', Connect: { Enabled: true } } })).toMatch(
      /Connect is not supported/,
    );
  });

  it('reads DNS.TTL in whole seconds', () => {
    expect(queryDnsTtl('')).toBeUndefined();
    expect(queryDnsTtl('10s')).toBe(10);
    expect(queryDnsTtl('1m30s')).toBe(90);
    expect(queryDnsTtl('1500ms')).toBe(1);
  });
});

describe('templates (name_prefix_match)', () => {
  const tpl = (
    id: string,
    name: string,
    service: Record<string, unknown>,
    template: Record<string, unknown> = {},
  ) => query(id, { Name: name, Template: { Type: 'name_prefix_match', ...template }, Service: service });

  it('resolves a name to the longest matching prefix, else the catch-all, and renders it', () => {
    const { s, next } = setup();
    const ID3 = '44444444-4444-4444-8444-444444444444';
    expect(next(set(tpl(ID1, '', { Service: '${name.full}' })))).toBe(true);
    expect(next(set(tpl(ID2, 'geo-', { Service: '${name.suffix}', Tags: ['${name.prefix}x', ''] })))).toBe(
      true,
    );
    expect(next(set(query(ID3, { Name: 'geo-exact', Service: { Service: 'static' } })))).toBe(true);
    expect(s.preparedQueryResolve('geo-db').value?.Service).toMatchObject({
      Service: 'db',
      Tags: ['geo-x', ''],
    });
    expect(s.preparedQueryResolve('GEO-db').value?.ID).toBe(ID2);
    // An exact static name wins over a template prefix.
    expect(s.preparedQueryResolve('geo-exact').value?.Service.Service).toBe('static');
    expect(s.preparedQueryResolve('anything').value).toMatchObject({
      ID: ID1,
      Service: { Service: 'anything' },
    });
    // The stored template itself is not changed by rendering.
    expect(s.preparedQueryGet(ID2).value?.Service.Service).toBe('${name.suffix}');
    // Templates resolve by name only.
    expect(() => s.preparedQueryResolve(ID2)).toThrow(
      'prepared query templates can only be resolved up by name, not by ID',
    );
  });

  it('allows one catch-all template; compiles at write time with Consul’s messages', () => {
    const { next } = setup();
    expect(next(set(tpl(ID1, '', { Service: 'x' })))).toBe(true);
    expect((next(set(tpl(ID2, '', { Service: 'y' }))) as Error).message).toBe(
      'a query template with an empty name already exists',
    );
    expect((next(set(tpl(ID2, 'a', { Service: 'x' }, { Type: 'other' }))) as Error).message).toBe(
      "failed compiling template: Bad Template.Type 'other'",
    );
    expect((next(set(tpl(ID2, 'a', { Service: 'x' }, { Regexp: '(' }))) as Error).message).toMatch(
      /^failed compiling template: Bad Regexp: /,
    );
    expect((next(set(tpl(ID2, 'a', { Service: '${name.nope}' }))) as Error).message).toBe(
      "failed compiling template: Bad evaluation for '${name.nope}' in Service.Service: unknown variable accessed: name.nope",
    );
    expect((next(set(tpl(ID2, 'a', { Service: '${name.full' }))) as Error).message).toMatch(
      /^failed compiling template: Bad format '\$\{name.full' in Service.Service: /,
    );
  });

  it('renders match(N) from the Regexp (Go’s named groups too), RemoveEmptyTags, and $${ escapes', () => {
    const q = tpl(
      ID1,
      'geo-',
      { Service: '${match(1)}', Tags: ['${match(2)}', 'v-${match(9)}', '$${x}'] },
      {
        Regexp: '^geo-(?P<svc>[a-z]+)-?([a-z]*)$',
        RemoveEmptyTags: true,
      },
    );
    compileTemplate(q);
    expect(renderTemplate(q, 'geo-db-primary').Service).toMatchObject({
      Service: 'db',
      Tags: ['primary', 'v-', '${x}'],
    });
    expect(renderTemplate(q, 'geo-db').Service).toMatchObject({ Service: 'db', Tags: ['v-', '${x}'] });
    // No match: every group is empty.
    expect(renderTemplate(q, 'geo-DB').Service.Service).toBe('');
  });
});
