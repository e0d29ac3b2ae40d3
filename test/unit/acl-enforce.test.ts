// ACL enforcement through app.request() against an in-process dev agent with ACLs on and
// default_policy deny: KV, transactions, catalog, health, the UI's reads, sessions, prepared queries
// and events for several callers (no token, read tokens, a write token for something else, the
// management token), the 403 texts, silently filtered lists with X-Consul-Results-Filtered-By-ACLs,
// and the same requests with ACLs off. Also which RPC endpoints have an ACL spec so far (the rest
// are not enforced yet).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import { startAclDevAgent, startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { type Authorizer } from '../../src/acl/authorizer.js';
import { endpoints, type EndpointContext } from '../../src/rpc/endpoints/index.js';
import { eventFireAcl } from '../../src/rpc/endpoints/acl-spec.js';

type J = Record<string, unknown>;
interface Res {
  status: number;
  body: string;
  json: () => J & J[];
  headers: Headers;
}

function caller(app: () => Hono) {
  return async (method: string, path: string, token?: string, body?: unknown): Promise<Res> => {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers['X-Consul-Token'] = token;
    const res = await app().request(path, {
      method,
      headers,
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text, json: () => JSON.parse(text) as J & J[], headers: res.headers };
  };
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const FILTERED = 'X-Consul-Results-Filtered-By-ACLs';
const anonDenied = (perm: string, name: string): string =>
  `Permission denied: anonymous token lacks permission '${perm}' on "${name}". ` +
  'The anonymous token is used implicitly when a request does not specify a token.';

describe('which RPC endpoints enforce ACLs through their spec', () => {
  it('is every endpoint but those that check the token themselves or that Consul leaves open', () => {
    const open = Object.entries(endpoints)
      .filter(([, ep]) => !('acl' in ep && ep.acl !== undefined))
      .map(([name]) => name)
      .sort();
    expect(open).toEqual([
      // The ACL endpoints resolve and check the token themselves (acl:read / acl:write, or none for
      // bootstrap and for ACL.Resolve, which a client agent calls with the token it resolves).
      'ACL.Bootstrap',
      'ACL.PolicyDelete',
      'ACL.PolicyList',
      'ACL.PolicyRead',
      'ACL.PolicySet',
      'ACL.Resolve',
      'ACL.TokenClone',
      'ACL.TokenDelete',
      'ACL.TokenList',
      'ACL.TokenRead',
      'ACL.TokenSet',
      // Open in Consul too: datacenter names, coordinates of the servers, the Raft leader and peers.
      'Catalog.ListDatacenters',
      'Coordinate.ListDatacenters',
      // The gateway's directory of datacenters (names and server addresses, as the two above).
      'Internal.GatewayDirectory',
      // Asked by a server before -bootstrap-expect bootstraps.
      'Server.RaftState',
      'Status.Leader',
      'Status.Peers',
    ]);
  });
});

describe("Internal.EventFire's spec (another datacenter's events)", () => {
  it('needs event:write on the name', () => {
    const authz: Authorizer = {
      accessorId: 'acc-ev',
      allowed: (r, n, a) => r === 'event' && n.startsWith('deploy') && a === 'write',
      allowedGlobal: () => false,
      keyWritePrefix: () => false,
    };
    expect(endpoints['Internal.EventFire'].acl).toBe(eventFireAcl);
    const check = (name: string): unknown => eventFireAcl.check?.(authz, { name }, {} as EndpointContext);
    expect(() => check('restart')).toThrow(
      `Permission denied: token with AccessorID 'acc-ev' lacks permission 'event:write' on "restart"`,
    );
    expect(check('deploy-2')).toBeUndefined();
  });
});

describe('ACLs on, default deny', () => {
  let dev: DevAgent;
  const call = caller(() => dev.app);
  let root = '';
  let ro = '';
  let roId = '';
  let wo = '';
  let woId = '';
  let cat = '';
  const denied = (id: string, perm: string, name: string): string =>
    `Permission denied: token with AccessorID '${id}' lacks permission '${perm}' on "${name}"`;

  async function token(name: string, rules: string): Promise<{ secret: string; id: string }> {
    const p = await call('PUT', '/v1/acl/policy', root, { Name: name, Rules: rules });
    expect(p.status).toBe(200);
    const t = await call('PUT', '/v1/acl/token', root, { Policies: [{ ID: p.json()['ID'] }] });
    expect(t.status).toBe(200);
    return { secret: t.json()['SecretID'] as string, id: t.json()['AccessorID'] as string };
  }

  beforeAll(async () => {
    dev = await startAclDevAgent();
    const b = await call('PUT', '/v1/acl/bootstrap');
    root = b.json()['SecretID'] as string;
    ({ secret: ro, id: roId } = await token('app-read', 'key_prefix "app/" { policy = "read" }'));
    ({ secret: wo, id: woId } = await token('other-write', 'key_prefix "other/" { policy = "write" }'));
    for (const k of ['app/a', 'app/b', 'other/x', 'secret/s'])
      expect((await call('PUT', `/v1/kv/${k}`, root, k)).body).toBe('true');
    ({ secret: cat } = await token(
      'web-read',
      'service "web" { policy = "read" }\nnode_prefix "n-" { policy = "read" }',
    ));
    const reg = (node: string, service: string): Promise<Res> =>
      call('PUT', '/v1/catalog/register', root, {
        Node: node,
        Address: '10.0.0.1',
        Service: { ID: service, Service: service, Port: 80 },
      });
    for (const [n, sv] of [
      ['n-app', 'web'],
      ['n-app', 'db'],
      ['n-db', 'db'],
    ] as const)
      expect((await reg(n, sv)).status).toBe(200);
  });
  afterAll(() => dev.stop());

  it('says default policy deny', async () => {
    expect((await call('GET', '/v1/kv/app/a', root)).headers.get('X-Consul-Default-ACL-Policy')).toBe('deny');
  });

  it('GET one key needs key:read', async () => {
    const none = await call('GET', '/v1/kv/app/a');
    expect(none.status).toBe(403);
    expect(none.body.trimEnd()).toBe(anonDenied('key:read', 'app/a'));
    expect((await call('GET', '/v1/kv/app/a', ro)).status).toBe(200);
    const w = await call('GET', '/v1/kv/app/a', wo);
    expect(w.status).toBe(403);
    expect(w.body.trimEnd()).toBe(denied(woId, 'key:read', 'app/a'));
    expect((await call('GET', '/v1/kv/other/x', wo)).status).toBe(200);
    expect((await call('GET', '/v1/kv/secret/s?raw', root)).body).toBe('secret/s');
  });

  it('an unknown token is 403 ACL not found', async () => {
    const r = await call('GET', '/v1/kv/app/a', '00000000-0000-0000-0000-00000000dead');
    expect(r.status).toBe(403);
    expect(r.body.trimEnd()).toBe('ACL not found');
  });

  it('GET ?recurse drops the keys the token may not read, and says so', async () => {
    const keysOf = (r: Res): unknown[] => r.json().map((e) => e['Key']);
    const none = await call('GET', '/v1/kv/?recurse');
    expect(none.status).toBe(404);
    expect(none.headers.get(FILTERED)).toBe('true');
    const r = await call('GET', '/v1/kv/?recurse', ro);
    expect(r.status).toBe(200);
    expect(keysOf(r)).toEqual(['app/a', 'app/b']);
    expect(r.headers.get(FILTERED)).toBe('true');
    const w = await call('GET', '/v1/kv/?recurse', wo);
    expect(keysOf(w)).toEqual(['other/x']);
    expect(w.headers.get(FILTERED)).toBe('true');
    const own = await call('GET', '/v1/kv/app/?recurse', ro);
    expect(keysOf(own)).toEqual(['app/a', 'app/b']);
    expect(own.headers.get(FILTERED)).toBeNull();
    const all = await call('GET', '/v1/kv/?recurse', root);
    expect(keysOf(all)).toEqual(['app/a', 'app/b', 'other/x', 'secret/s']);
    expect(all.headers.get(FILTERED)).toBeNull();
  });

  it('GET ?keys is filtered the same way', async () => {
    const none = await call('GET', '/v1/kv/?keys');
    expect(none.status).toBe(404);
    expect(none.headers.get(FILTERED)).toBe('true');
    const r = await call('GET', '/v1/kv/?keys', ro);
    expect(r.json()).toEqual(['app/a', 'app/b']);
    expect(r.headers.get(FILTERED)).toBe('true');
    const w = await call('GET', '/v1/kv/?keys&separator=/', wo);
    expect(w.json()).toEqual(['other/']);
    expect((await call('GET', '/v1/kv/?keys', root)).json()).toEqual([
      'app/a',
      'app/b',
      'other/x',
      'secret/s',
    ]);
  });

  it('PUT needs key:write', async () => {
    const none = await call('PUT', '/v1/kv/app/c', undefined, 'v');
    expect(none.status).toBe(403);
    expect(none.body.trimEnd()).toBe(anonDenied('key:write', 'app/c'));
    const r = await call('PUT', '/v1/kv/app/c', ro, 'v');
    expect(r.status).toBe(403);
    expect(r.body.trimEnd()).toBe(denied(roId, 'key:write', 'app/c'));
    expect((await call('PUT', '/v1/kv/app/c', wo, 'v')).status).toBe(403);
    expect((await call('PUT', '/v1/kv/other/c', wo, 'v')).body).toBe('true');
    expect((await call('PUT', '/v1/kv/app/c?cas=0', root, 'v')).body).toBe('true');
    expect((await call('GET', '/v1/kv/app/c?raw', root)).body).toBe('v');
  });

  it('acquire and release need key:write (and nothing on the session)', async () => {
    const s = await call('PUT', '/v1/session/create', root, {});
    const id = s.json()['ID'] as string;
    expect((await call('PUT', `/v1/kv/app/lock?acquire=${id}`, ro, 'x')).status).toBe(403);
    expect((await call('PUT', `/v1/kv/other/lock?acquire=${id}`, wo, 'x')).body).toBe('true');
    expect((await call('PUT', `/v1/kv/other/lock?release=${id}`, wo, 'x')).body).toBe('true');
  });

  it('DELETE needs key:write, recursive needs write on everything below', async () => {
    const r = await call('DELETE', '/v1/kv/app/b', ro);
    expect(r.status).toBe(403);
    expect(r.body.trimEnd()).toBe(denied(roId, 'key:write', 'app/b'));
    expect((await call('DELETE', '/v1/kv/app/b')).status).toBe(403);
    const tree = await call('DELETE', '/v1/kv/?recurse', wo);
    expect(tree.status).toBe(403);
    expect(tree.body.trimEnd()).toBe(
      `Permission denied: token with AccessorID '${woId}' lacks permission 'key:write'`,
    );
    expect((await call('PUT', '/v1/kv/other/d/1', wo, '1')).body).toBe('true');
    expect((await call('DELETE', '/v1/kv/other/d/?recurse', wo)).body).toBe('true');
    expect((await call('GET', '/v1/kv/other/d/1', root)).status).toBe(404);
    expect((await call('DELETE', '/v1/kv/other/c', wo)).body).toBe('true');
    expect((await call('GET', '/v1/kv/app/b', root)).status).toBe(200);
  });

  it('a transaction with a denied operation fails whole, 409 naming each (as Consul)', async () => {
    const ops = [
      { KV: { Verb: 'set', Key: 'other/t', Value: b64('1') } },
      { KV: { Verb: 'set', Key: 'app/t', Value: b64('1') } },
    ];
    const r = await call('PUT', '/v1/txn', wo, ops);
    expect(r.status).toBe(409);
    expect(r.json()).toEqual({
      Results: null,
      Errors: [{ OpIndex: 1, What: denied(woId, 'key:write', 'app/t') }],
    });
    expect((await call('GET', '/v1/kv/other/t', root)).status).toBe(404);
    const none = await call('PUT', '/v1/txn', undefined, ops);
    expect(none.status).toBe(409);
    expect((none.json()['Errors'] as J[]).map((e) => e['OpIndex'])).toEqual([0, 1]);
    expect((await call('PUT', '/v1/txn', root, ops)).status).toBe(200);
    const tree = await call('PUT', '/v1/txn', wo, [{ KV: { Verb: 'delete-tree', Key: 'app/' } }]);
    expect(tree.status).toBe(409);
  });

  it('a read transaction drops what the token may not read; check-index needs key:read', async () => {
    const ops = [{ KV: { Verb: 'get', Key: 'app/a' } }, { KV: { Verb: 'get', Key: 'secret/s' } }];
    const r = await call('PUT', '/v1/txn', ro, ops);
    expect(r.status).toBe(200);
    expect((r.json()['Results'] as { KV: J }[]).map((x) => x.KV['Key'])).toEqual(['app/a']);
    expect(r.headers.get(FILTERED)).toBe('true');
    const all = await call('PUT', '/v1/txn', root, ops);
    expect((all.json()['Results'] as unknown[]).length).toBe(2);
    expect(all.headers.get(FILTERED)).toBeNull();
    const check = await call('PUT', '/v1/txn', ro, [
      { KV: { Verb: 'check-index', Key: 'secret/s', Index: 1 } },
    ]);
    expect(check.status).toBe(409);
    expect(check.json()['Errors']).toEqual([{ OpIndex: 0, What: denied(roId, 'key:read', 'secret/s') }]);
    // A write transaction's get results are filtered too.
    const w = await call('PUT', '/v1/txn', wo, [
      { KV: { Verb: 'set', Key: 'other/u', Value: b64('2') } },
      { KV: { Verb: 'get', Key: 'app/a' } },
    ]);
    expect(w.status).toBe(200);
    expect((w.json()['Results'] as { KV: J }[]).map((x) => x.KV['Key'])).toEqual(['other/u']);
  });

  it('catalog and health reads leave out what the token may not read', async () => {
    const nodes = async (t?: string): Promise<[unknown[], string | null]> => {
      const r = await call('GET', '/v1/catalog/nodes', t);
      expect(r.status).toBe(200);
      return [r.json().map((n) => n['Node']), r.headers.get(FILTERED)];
    };
    expect(await nodes()).toEqual([[], 'true']);
    expect(await nodes(cat)).toEqual([['n-app', 'n-db'], 'true']);
    const [all, allHeader] = await nodes(root);
    expect(all).toEqual(expect.arrayContaining(['n-app', 'n-db', 'test-node']));
    expect(allHeader).toBeNull();

    const none = await call('GET', '/v1/catalog/services');
    expect(none.json()).toEqual({});
    expect(none.headers.get(FILTERED)).toBe('true');
    const svc = await call('GET', '/v1/catalog/services', cat);
    expect(Object.keys(svc.json())).toEqual(['web']);
    expect(svc.headers.get(FILTERED)).toBe('true');
    const svcAll = await call('GET', '/v1/catalog/services', root);
    expect(Object.keys(svcAll.json())).toEqual(expect.arrayContaining(['db', 'web']));
    expect(svcAll.headers.get(FILTERED)).toBeNull();

    for (const path of ['/v1/catalog/service/web', '/v1/health/service/web']) {
      const anon = await call('GET', path);
      expect([anon.status, anon.json(), anon.headers.get(FILTERED)]).toEqual([200, [], 'true']);
      const mine = await call('GET', path, cat);
      expect(mine.json()).toHaveLength(1);
      expect(mine.headers.get(FILTERED)).toBeNull();
      const mgmt = await call('GET', path, root);
      expect(mgmt.json()).toHaveLength(1);
      expect(mgmt.headers.get(FILTERED)).toBeNull();
    }
    const db = await call('GET', '/v1/catalog/service/db', cat);
    expect([db.json(), db.headers.get(FILTERED)]).toEqual([[], 'true']);
    const dbHealth = await call('GET', '/v1/health/service/db', root);
    expect(dbHealth.json()).toHaveLength(2);
  });

  it('a node read needs node:read, and shows only the services the token may read', async () => {
    const anon = await call('GET', '/v1/catalog/node/n-app');
    expect([anon.status, anon.json(), anon.headers.get(FILTERED)]).toEqual([200, null, 'true']);
    const mine = await call('GET', '/v1/catalog/node/n-app', cat);
    expect(Object.keys(mine.json()['Services'] as J)).toEqual(['web']);
    expect(mine.headers.get(FILTERED)).toBe('true');
    const mgmt = await call('GET', '/v1/catalog/node/n-app', root);
    expect(Object.keys(mgmt.json()['Services'] as J).sort()).toEqual(['db', 'web']);
    expect(mgmt.headers.get(FILTERED)).toBeNull();
    const w = await call('GET', '/v1/catalog/node/n-app', wo);
    expect(w.json()).toBeNull();
  });

  it('node-services needs node:read, then shows only the services the token may read', async () => {
    const anon = await call('GET', '/v1/catalog/node-services/n-app');
    expect([anon.status, anon.json(), anon.headers.get(FILTERED)]).toEqual([200, null, 'true']);
    const mine = await call('GET', '/v1/catalog/node-services/n-app', cat);
    expect((mine.json()['Services'] as J[]).map((s) => s['Service'])).toEqual(['web']);
    expect(mine.headers.get(FILTERED)).toBe('true');
    const mgmt = await call('GET', '/v1/catalog/node-services/n-app', root);
    expect((mgmt.json()['Services'] as J[]).map((s) => s['Service']).sort()).toEqual(['db', 'web']);
    expect(mgmt.headers.get(FILTERED)).toBeNull();
    expect((await call('GET', '/v1/catalog/node-services/n-app', wo)).json()).toBeNull();
  });

  it('health checks are filtered by node:read and, for a service check, service:read', async () => {
    const chk = (CheckID: string, ServiceID = ''): J => ({
      CheckID,
      Name: CheckID,
      ServiceID,
      Status: 'passing',
    });
    const put = (node: string, checks: J[]): Promise<Res> =>
      call('PUT', '/v1/catalog/register', root, { Node: node, Address: '10.0.0.1', Checks: checks });
    expect((await put('n-app', [chk('mem'), chk('web-ok', 'web'), chk('db-ok', 'db')])).status).toBe(200);
    expect((await put('n-db', [chk('db-ok', 'db')])).status).toBe(200);
    const { secret: webOnly } = await token('web-only', 'service "web" { policy = "read" }');
    const ids = async (path: string, t?: string): Promise<[unknown[], string | null]> => {
      const r = await call('GET', path, t);
      expect(r.status).toBe(200);
      return [r.json().map((c) => `${String(c['Node'])}/${String(c['CheckID'])}`), r.headers.get(FILTERED)];
    };
    expect(await ids('/v1/health/node/n-app')).toEqual([[], 'true']);
    expect(await ids('/v1/health/node/n-app', cat)).toEqual([['n-app/mem', 'n-app/web-ok'], 'true']);
    expect(await ids('/v1/health/node/n-app', wo)).toEqual([[], 'true']);
    expect(await ids('/v1/health/node/n-app', root)).toEqual([
      ['n-app/db-ok', 'n-app/mem', 'n-app/web-ok'],
      null,
    ]);

    expect(await ids('/v1/health/checks/web')).toEqual([[], 'true']);
    expect(await ids('/v1/health/checks/web', cat)).toEqual([['n-app/web-ok'], null]);
    expect(await ids('/v1/health/checks/web', webOnly)).toEqual([[], 'true']); // no node:read
    expect(await ids('/v1/health/checks/db', cat)).toEqual([[], 'true']);
    expect(await ids('/v1/health/checks/db', root)).toEqual([['n-app/db-ok', 'n-db/db-ok'], null]);

    expect(await ids('/v1/health/state/any')).toEqual([[], 'true']);
    expect(await ids('/v1/health/state/passing', cat)).toEqual([['n-app/mem', 'n-app/web-ok'], 'true']);
    const [all, header] = await ids('/v1/health/state/passing', root);
    expect(all).toEqual(expect.arrayContaining(['n-app/db-ok', 'n-app/mem', 'n-app/web-ok', 'n-db/db-ok']));
    expect(header).toBeNull();
  });

  it("the UI's reads count only what the token may read", async () => {
    const names = (r: Res): unknown[] => r.json().map((x) => x['Name']);
    const anon = await call('GET', '/v1/internal/ui/services');
    expect([anon.status, anon.json(), anon.headers.get(FILTERED)]).toEqual([200, [], 'true']);
    const mine = await call('GET', '/v1/internal/ui/services', cat);
    expect(names(mine)).toEqual(['web']);
    expect(mine.json()[0]).toMatchObject({ Nodes: ['n-app'], InstanceCount: 1, ChecksPassing: 2 });
    expect(mine.headers.get(FILTERED)).toBe('true');
    const { secret: dbOnApp } = await token(
      'db-on-app',
      'service "db" { policy = "read" }\nnode "n-app" { policy = "read" }',
    );
    const db = await call('GET', '/v1/internal/ui/services', dbOnApp);
    // n-db's instance is hidden: it counts nowhere.
    expect(db.json()).toEqual([expect.objectContaining({ Name: 'db', Nodes: ['n-app'], InstanceCount: 1 })]);
    expect(db.headers.get(FILTERED)).toBe('true');
    const mgmt = await call('GET', '/v1/internal/ui/services', root);
    expect(names(mgmt)).toEqual(expect.arrayContaining(['db', 'web']));
    expect(mgmt.json().find((x) => x['Name'] === 'db')).toMatchObject({
      Nodes: ['n-app', 'n-db'],
      InstanceCount: 2,
    });
    expect(mgmt.headers.get(FILTERED)).toBeNull();

    const nodes = await call('GET', '/v1/internal/ui/nodes', cat);
    expect(nodes.json().map((n) => n['Node'])).toEqual(['n-app', 'n-db']);
    const app = nodes.json()[0] as J;
    expect((app['Services'] as J[]).map((s) => s['Service'])).toEqual(['web']);
    expect((app['Checks'] as J[]).map((c) => c['CheckID'])).toEqual(['mem', 'web-ok']);
    expect(nodes.headers.get(FILTERED)).toBe('true');
    const anonNodes = await call('GET', '/v1/internal/ui/nodes');
    expect([anonNodes.json(), anonNodes.headers.get(FILTERED)]).toEqual([[], 'true']);
    const allNodes = await call('GET', '/v1/internal/ui/nodes', root);
    expect(allNodes.json().map((n) => n['Node'])).toEqual(
      expect.arrayContaining(['n-app', 'n-db', 'test-node']),
    );
    expect(allNodes.headers.get(FILTERED)).toBeNull();

    const one = await call('GET', '/v1/internal/ui/node/n-app', cat);
    expect((one.json()['Services'] as J[]).map((s) => s['Service'])).toEqual(['web']);
    expect(one.headers.get(FILTERED)).toBe('true');
    const hidden = await call('GET', '/v1/internal/ui/node/n-app', wo);
    expect([hidden.status, hidden.body.trimEnd(), hidden.headers.get(FILTERED)]).toEqual([
      404,
      'Node not found',
      'true',
    ]);
    const full = await call('GET', '/v1/internal/ui/node/n-app', root);
    expect((full.json()['Checks'] as J[]).map((c) => c['CheckID'])).toEqual(['db-ok', 'mem', 'web-ok']);
    expect(full.headers.get(FILTERED)).toBeNull();
  });

  it('register needs node:write when it changes the node, service:write for its service and checks', async () => {
    const { secret: web, id: webId } = await token('web-write', 'service "web" { policy = "write" }');
    const reg = (t: string | undefined, body: J): Promise<Res> =>
      call('PUT', '/v1/catalog/register', t, body);
    const webOn = (node: string, extra: J = {}): J => ({
      Node: node,
      Address: '10.0.0.1',
      Service: { ID: 'web', Service: 'web', Port: 81 },
      ...extra,
    });
    expect((await reg(web, webOn('n-app'))).status).toBe(200);
    const newNode = await reg(web, webOn('n-new'));
    expect([newNode.status, newNode.body.trimEnd()]).toEqual([403, denied(webId, 'node:write', 'n-new')]);
    const moved = await reg(web, webOn('n-app', { Address: '10.0.0.9' }));
    expect(moved.body.trimEnd()).toBe(denied(webId, 'node:write', 'n-app'));
    const other = await reg(web, { ...webOn('n-app'), Service: { ID: 'db', Service: 'db' } });
    expect(other.body.trimEnd()).toBe(denied(webId, 'service:write', 'db'));
    const renamed = await reg(web, { ...webOn('n-app'), Service: { ID: 'db', Service: 'web' } });
    expect(renamed.body.trimEnd()).toBe(denied(webId, 'service:write', 'db'));
    const nodeCheck = await reg(web, webOn('n-app', { Check: { CheckID: 'mem', Name: 'mem' } }));
    expect(nodeCheck.body.trimEnd()).toBe(denied(webId, 'node:write', 'n-app'));
    const svcCheck = await reg(
      web,
      webOn('n-app', { Check: { CheckID: 'web-up', Name: 'up', ServiceID: 'web' } }),
    );
    expect(svcCheck.status).toBe(200);
    const anon = await reg(undefined, webOn('n-app'));
    expect([anon.status, anon.body.trimEnd()]).toEqual([403, anonDenied('service:write', 'web')]);
    expect((await reg(root, webOn('n-new'))).status).toBe(200);
  });

  it("deregister needs node:write, or service:write on the service (or the check's service)", async () => {
    const { secret: web, id: webId } = await token('web-write-2', 'service "web" { policy = "write" }');
    const dereg = (t: string | undefined, body: J): Promise<Res> =>
      call('PUT', '/v1/catalog/deregister', t, body);
    const db = await dereg(web, { Node: 'n-app', ServiceID: 'db' });
    expect([db.status, db.body.trimEnd()]).toEqual([403, denied(webId, 'service:write', 'db')]);
    const node = await dereg(web, { Node: 'n-db' });
    expect(node.body.trimEnd()).toBe(denied(webId, 'node:write', 'n-db'));
    expect((await dereg(undefined, { Node: 'n-app', ServiceID: 'web' })).status).toBe(403);
    // An unknown ID is named as such before any service permission is asked (as Consul).
    const unknown = await dereg(web, { Node: 'n-app', ServiceID: 'nope' });
    expect([unknown.status, unknown.body.trimEnd()]).toEqual([404, 'Unknown service ID "nope"']);
    const noCheck = await dereg(web, { Node: 'n-app', CheckID: 'nope' });
    expect([noCheck.status, noCheck.body.trimEnd()]).toEqual([404, 'Unknown check ID "nope"']);
    expect((await dereg(web, { Node: 'n-app', CheckID: 'web-up' })).status).toBe(200);
    expect((await dereg(web, { Node: 'n-app', ServiceID: 'web' })).status).toBe(200);
    expect((await call('GET', '/v1/catalog/service/web', root)).json()).toHaveLength(1); // n-new's
    expect((await dereg(root, { Node: 'n-db' })).status).toBe(200);
    expect((await call('GET', '/v1/catalog/node/n-db', root)).json()).toBeNull();
  });

  it("sessions: writes need session:write on the session's node, reads are filtered by session:read", async () => {
    const { secret: sw, id: swId } = await token('sess-write', 'session_prefix "n-" { policy = "write" }');
    const { secret: sr, id: srId } = await token('sess-read', 'session "n-app" { policy = "read" }');
    const create = (t: string | undefined, node: string): Promise<Res> =>
      call('PUT', '/v1/session/create', t, { Node: node, NodeChecks: [], TTL: '60s' });
    const anon = await create(undefined, 'n-app');
    expect([anon.status, anon.body.trimEnd()]).toEqual([403, anonDenied('session:write', 'n-app')]);
    const ro2 = await create(sr, 'n-app');
    expect([ro2.status, ro2.body.trimEnd()]).toEqual([403, denied(srId, 'session:write', 'n-app')]);
    expect((await create(wo, 'n-app')).status).toBe(403);
    const elsewhere = await create(sw, 'test-node');
    expect(elsewhere.body.trimEnd()).toBe(denied(swId, 'session:write', 'test-node'));
    const mine = await create(sw, 'n-app');
    expect(mine.status).toBe(200);
    const s1 = mine.json()['ID'] as string;
    const theirs = await create(root, 'test-node');
    expect(theirs.status).toBe(200);
    const s2 = theirs.json()['ID'] as string;

    const ids = async (path: string, t?: string): Promise<[unknown[], string | null]> => {
      const r = await call('GET', path, t);
      expect(r.status).toBe(200);
      return [r.json().map((x) => x['ID']), r.headers.get(FILTERED)];
    };
    expect(await ids('/v1/session/list')).toEqual([[], 'true']);
    expect(await ids('/v1/session/list', sr)).toEqual([[s1], 'true']);
    expect(await ids('/v1/session/list', sw)).toEqual([[s1], 'true']); // write implies read
    const [all, allHeader] = await ids('/v1/session/list', root);
    expect(all).toEqual(expect.arrayContaining([s1, s2]));
    expect(allHeader).toBeNull();
    expect(await ids(`/v1/session/info/${s1}`, sr)).toEqual([[s1], null]);
    expect(await ids(`/v1/session/info/${s2}`, sr)).toEqual([[], 'true']);
    expect(await ids(`/v1/session/info/${s2}`, root)).toEqual([[s2], null]);
    expect(await ids('/v1/session/node/n-app', sr)).toEqual([[s1], null]);
    expect((await ids('/v1/session/node/test-node', sr))[1]).toBe('true');
    expect((await ids('/v1/session/node/test-node', sr))[0]).toEqual([]);

    const renew = await call('PUT', `/v1/session/renew/${s2}`, sw);
    expect([renew.status, renew.body.trimEnd()]).toEqual([403, denied(swId, 'session:write', 'test-node')]);
    expect((await call('PUT', `/v1/session/renew/${s1}`, sr)).status).toBe(403);
    expect((await call('PUT', `/v1/session/renew/${s1}`, sw)).status).toBe(200);
    const kill = await call('PUT', `/v1/session/destroy/${s1}`, sr);
    expect([kill.status, kill.body.trimEnd()]).toEqual([403, denied(srId, 'session:write', 'n-app')]);
    expect((await call('PUT', `/v1/session/destroy/${s2}`)).status).toBe(403);
    expect((await call('PUT', `/v1/session/destroy/${s1}`, sw)).body).toBe('true');
    expect((await call('PUT', `/v1/session/destroy/${s2}`, root)).body).toBe('true');
    // Only the earlier test's session on test-node is left, hidden from this token.
    expect(await ids('/v1/session/list', sr)).toEqual([[], 'true']);
    expect((await ids('/v1/session/list', root))[0]).toHaveLength(1);
  });

  it('prepared queries: query:write on the name to change, query:read to see, results filtered', async () => {
    const { secret: qw, id: qwId } = await token('q-write', 'query_prefix "app-" { policy = "write" }');
    const { secret: qr, id: qrId } = await token(
      'q-read',
      'query "app-web" { policy = "read" }\nquery "tok-q" { policy = "read" }',
    );
    const create = (t: string | undefined, body: J): Promise<Res> => call('POST', '/v1/query', t, body);
    const appWeb = { Name: 'app-web', Service: { Service: 'web' } };
    const anon = await create(undefined, appWeb);
    expect([anon.status, anon.body.trimEnd()]).toEqual([403, anonDenied('query:write', 'app-web')]);
    const byReader = await create(qr, appWeb);
    expect([byReader.status, byReader.body.trimEnd()]).toEqual([403, denied(qrId, 'query:write', 'app-web')]);
    expect((await create(wo, appWeb)).status).toBe(403);
    const made = await create(qw, appWeb);
    expect(made.status).toBe(200);
    const appId = made.json()['ID'] as string;
    const sess = (await call('PUT', '/v1/session/create', root, {})).json()['ID'] as string;
    // No name: no query rule applies (it must be bound to a session instead).
    const unnamed = await create(undefined, { Session: sess, Service: { Service: 'db' } });
    expect(unnamed.status).toBe(200);
    const unnamedId = unnamed.json()['ID'] as string;
    const tokQ = await create(root, { Name: 'tok-q', Token: cat, Service: { Service: 'web' } });
    expect(tokQ.status).toBe(200);
    const tokId = tokQ.json()['ID'] as string;

    const rename = await call('PUT', `/v1/query/${appId}`, qw, { ...appWeb, Name: 'other-x' });
    expect(rename.body.trimEnd()).toBe(denied(qwId, 'query:write', 'other-x'));
    const takeOver = await call('PUT', `/v1/query/${tokId}`, qw, {
      Name: 'app-z',
      Service: { Service: 'web' },
    });
    expect(takeOver.body.trimEnd()).toBe(denied(qwId, 'query:write', 'tok-q'));
    expect(
      (await call('PUT', `/v1/query/${appId}`, qw, { ...appWeb, Service: { Service: 'web', Tags: ['x'] } }))
        .status,
    ).toBe(200);

    const list = async (t?: string): Promise<[J[], string | null]> => {
      const r = await call('GET', '/v1/query', t);
      expect(r.status).toBe(200);
      return [r.json(), r.headers.get(FILTERED)];
    };
    expect(await list()).toEqual([[], 'true']);
    const [mine, mineHeader] = await list(qr);
    expect(mine.map((q) => [q['Name'], q['Token']]).sort()).toEqual([
      ['app-web', ''],
      ['tok-q', '<hidden>'],
    ]);
    expect(mineHeader).toBe('true');
    const [all, allHeader] = await list(root);
    expect(all.map((q) => q['ID'])).toEqual(expect.arrayContaining([appId, unnamedId, tokId]));
    expect(all.find((q) => q['ID'] === tokId)?.['Token']).toBe(cat);
    expect(allHeader).toBeNull();

    for (const path of [`/v1/query/${appId}`, '/v1/query/app-web/explain']) {
      const none = await call('GET', path);
      expect([none.status, none.body.trimEnd()]).toEqual([403, 'Permission denied']);
      expect((await call('GET', path, qr)).status).toBe(200);
      expect((await call('GET', path, root)).status).toBe(200);
    }
    expect((await call('GET', `/v1/query/${unnamedId}`, qr)).status).toBe(403);

    const exec = async (name: string, t?: string): Promise<[number, string | null]> => {
      const r = await call('GET', `/v1/query/${name}/execute`, t);
      expect(r.status).toBe(200);
      return [(r.json()['Nodes'] as unknown[]).length, r.headers.get(FILTERED)];
    };
    await call('PUT', `/v1/query/${appId}`, qw, appWeb);
    expect(await exec('app-web')).toEqual([0, 'true']); // no query permission needed to run it
    expect(await exec('app-web', cat)).toEqual([1, null]);
    expect(await exec('app-web', root)).toEqual([1, null]);
    expect(await exec('tok-q')).toEqual([1, null]); // filtered with the query's own token

    const del = await call('DELETE', `/v1/query/${appId}`, qr);
    expect([del.status, del.body.trimEnd()]).toEqual([403, denied(qrId, 'query:write', 'app-web')]);
    expect((await call('DELETE', `/v1/query/${appId}`, qw)).status).toBe(200);
    expect((await call('DELETE', `/v1/query/${unnamedId}`)).status).toBe(200);
    expect((await call('DELETE', `/v1/query/${tokId}`, root)).status).toBe(200);
  });

  it('firing a user event needs event:write on its name', async () => {
    const { secret: ev, id: evId } = await token('ev-write', 'event_prefix "deploy" { policy = "write" }');
    const anon = await call('PUT', '/v1/event/fire/deploy-1');
    expect([anon.status, anon.body.trimEnd()]).toEqual([403, anonDenied('event:write', 'deploy-1')]);
    const reader = await call('PUT', '/v1/event/fire/deploy-1', ro);
    expect([reader.status, reader.body.trimEnd()]).toEqual([403, denied(roId, 'event:write', 'deploy-1')]);
    const other = await call('PUT', '/v1/event/fire/restart', ev);
    expect([other.status, other.body.trimEnd()]).toEqual([403, denied(evId, 'event:write', 'restart')]);
    const ok = await call('PUT', '/v1/event/fire/deploy-1', ev, 'payload');
    expect([ok.status, ok.json()['Name']]).toEqual([200, 'deploy-1']);
    expect((await call('PUT', '/v1/event/fire/restart', root)).status).toBe(200);

    const names = async (t?: string): Promise<[unknown[], string | null]> => {
      const r = await call('GET', '/v1/event/list', t);
      expect(r.status).toBe(200);
      return [r.json().map((e) => e['Name']), r.headers.get(FILTERED)];
    };
    expect(await names()).toEqual([[], 'true']);
    expect(await names(ev)).toEqual([['deploy-1'], 'true']); // write implies read
    expect(await names(root)).toEqual([['deploy-1', 'restart'], null]);
  });

  it("a blocked list wakes when the token's policy changes, and is filtered anew", async () => {
    const { secret } = await token('grows', 'key_prefix "app/" { policy = "read" }');
    const first = await call('GET', '/v1/kv/?keys', secret);
    expect(first.json()).toEqual(expect.arrayContaining(['app/a', 'app/b']));
    expect(first.json()).not.toContain('secret/s');
    const index = first.headers.get('X-Consul-Index') ?? '';
    const blocked = call('GET', `/v1/kv/?keys&index=${index}&wait=5s`, secret);
    await new Promise((r) => setTimeout(r, 50));
    const policies = await call('GET', '/v1/acl/policies', root);
    const pid = policies.json().find((p) => p['Name'] === 'grows')?.['ID'] as string;
    const upd = await call('PUT', `/v1/acl/policy/${pid}`, root, {
      Name: 'grows',
      Rules: 'key_prefix "" { policy = "read" }',
    });
    expect(upd.status).toBe(200);
    const started = Date.now();
    const r = await blocked;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r.json()).toContain('secret/s');
  });

  it("the agent's default token stands in for requests without one", async () => {
    dev.agent.config.acl.tokens.default = ro;
    try {
      expect((await call('GET', '/v1/kv/app/a')).status).toBe(200);
      expect((await call('GET', '/v1/kv/other/x')).status).toBe(403);
    } finally {
      dev.agent.config.acl.tokens.default = '';
    }
  });
});

describe('ACLs off', () => {
  let dev: DevAgent;
  const call = caller(() => dev.app);
  beforeAll(async () => {
    dev = await startDevAgent();
  });
  afterAll(() => dev.stop());

  it('answers everything as before, whatever the token', async () => {
    expect((await call('PUT', '/v1/kv/app/a', undefined, 'a')).body).toBe('true');
    expect((await call('PUT', '/v1/kv/secret/s', 'made-up', 's')).body).toBe('true');
    const g = await call('GET', '/v1/kv/app/a', 'made-up');
    expect(g.status).toBe(200);
    expect(g.headers.get('X-Consul-Default-ACL-Policy')).toBe('allow');
    const r = await call('GET', '/v1/kv/?recurse');
    expect(r.json().map((e) => e['Key'])).toEqual(['app/a', 'secret/s']);
    expect(r.headers.get(FILTERED)).toBeNull();
    expect((await call('GET', '/v1/kv/?keys')).json()).toEqual(['app/a', 'secret/s']);
    const t = await call('PUT', '/v1/txn', undefined, [{ KV: { Verb: 'get', Key: 'secret/s' } }]);
    expect(t.status).toBe(200);
    expect((await call('DELETE', '/v1/kv/?recurse')).body).toBe('true');
    const reg = await call('PUT', '/v1/catalog/register', 'made-up', {
      Node: 'n-app',
      Address: '10.0.0.1',
      Service: { ID: 'web', Service: 'web', Port: 80 },
    });
    expect(reg.status).toBe(200);
    for (const path of ['/v1/catalog/service/web', '/v1/health/service/web']) {
      const r2 = await call('GET', path, 'made-up');
      expect(r2.json()).toHaveLength(1);
      expect(r2.headers.get(FILTERED)).toBeNull();
    }
    const n = await call('GET', '/v1/catalog/node/n-app');
    expect(Object.keys(n.json()['Services'] as J)).toEqual(['web']);
    expect((await call('GET', '/v1/catalog/nodes')).headers.get(FILTERED)).toBeNull();
    expect((await call('PUT', '/v1/event/fire/anything', 'made-up')).status).toBe(200);
    const ui = await call('GET', '/v1/internal/ui/services', 'made-up');
    expect(ui.json().map((x) => x['Name'])).toContain('web');
    expect(ui.headers.get(FILTERED)).toBeNull();
  });
});
