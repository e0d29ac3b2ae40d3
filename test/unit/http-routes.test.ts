// Every HTTP route and its error cases, through app.request() against an in-memory server.
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { createApp, type HttpAgent } from '../../src/http/app.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';

let dev: DevAgent;
let app: Hono;
beforeAll(async () => {
  dev = await startDevAgent();
  app = dev.app;
});
afterAll(async () => {
  await dev.stop();
});

const req = (
  method: string,
  path: string,
  body?: string | Uint8Array | object,
): Promise<Response> | Response =>
  app.request(path, {
    method,
    ...(body === undefined
      ? {}
      : { body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) }),
  });
const json = async <T = unknown>(r: Response | Promise<Response>): Promise<T> =>
  (await (await r).json()) as T;
const idx = (r: Response): number => Number(r.headers.get('X-Consul-Index'));
const b64 = (s: string): string => Buffer.from(s).toString('base64');

interface KV {
  Key: string;
  Value: string | null;
  Flags: number;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
}

describe('KV', () => {
  it('writes and reads a key with Consul headers and base64 values', async () => {
    expect(await json(req('PUT', '/v1/kv/app/config', 'hello'))).toBe(true);
    const r = await req('GET', '/v1/kv/app/config');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('application/json');
    expect(idx(r)).toBeGreaterThan(0);
    expect(r.headers.get('X-Consul-KnownLeader')).toBe('true');
    expect(r.headers.get('X-Consul-LastContact')).toBe('0');
    expect(r.headers.get('X-Consul-Effective-Consistency')).toBe('leader');
    const [e] = (await r.json()) as KV[];
    expect(e).toMatchObject({ Key: 'app/config', Value: b64('hello'), Flags: 0, LockIndex: 0 });
    expect(e!.CreateIndex).toBe(e!.ModifyIndex);
  });

  it('answers a missing key with 404, an empty body and an index', async () => {
    const r = await req('GET', '/v1/kv/does/not/exist');
    expect(r.status).toBe(404);
    expect(await r.text()).toBe('');
    expect(idx(r)).toBeGreaterThan(0);
  });

  it('serves ?raw bytes as text that is never sniffed', async () => {
    await req('PUT', '/v1/kv/raw', '<b>x</b>');
    const r = await req('GET', '/v1/kv/raw?raw');
    expect(await r.text()).toBe('<b>x</b>');
    expect(r.headers.get('content-type')).toContain('text/plain');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('stores an empty body as a null value', async () => {
    await req('PUT', '/v1/kv/empty');
    const [e] = await json<KV[]>(req('GET', '/v1/kv/empty'));
    expect(e!.Value).toBeNull();
  });

  it('lists with ?recurse and ?keys (with a separator), sorted', async () => {
    for (const k of ['tree/b', 'tree/a', 'tree/sub/x', 'tree/sub/y']) await req('PUT', `/v1/kv/${k}`, k);
    const all = await json<KV[]>(req('GET', '/v1/kv/tree/?recurse'));
    expect(all.map((e) => e.Key)).toEqual(['tree/a', 'tree/b', 'tree/sub/x', 'tree/sub/y']);
    expect(await json(req('GET', '/v1/kv/tree/?keys'))).toEqual([
      'tree/a',
      'tree/b',
      'tree/sub/x',
      'tree/sub/y',
    ]);
    expect(await json(req('GET', '/v1/kv/tree/?keys&separator=/'))).toEqual([
      'tree/a',
      'tree/b',
      'tree/sub/',
    ]);
    expect((await req('GET', '/v1/kv/nothing-here/?recurse')).status).toBe(404);
  });

  it('keeps flags', async () => {
    await req('PUT', '/v1/kv/flagged?flags=42', 'v');
    expect((await json<KV[]>(req('GET', '/v1/kv/flagged')))[0]!.Flags).toBe(42);
    const bad = await req('PUT', '/v1/kv/flagged?flags=abc', 'v');
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('Invalid flags');
  });

  it('does check-and-set: ?cas=0 creates only, ?cas=N needs the current ModifyIndex', async () => {
    expect(await json(req('PUT', '/v1/kv/cas-key?cas=0', 'first'))).toBe(true);
    expect(await json(req('PUT', '/v1/kv/cas-key?cas=0', 'second'))).toBe(false);
    const [e] = await json<KV[]>(req('GET', '/v1/kv/cas-key'));
    expect(await json(req('PUT', `/v1/kv/cas-key?cas=${e!.ModifyIndex + 100}`, 'stale'))).toBe(false);
    expect(await json(req('PUT', `/v1/kv/cas-key?cas=${e!.ModifyIndex}`, 'third'))).toBe(true);
    expect((await json<KV[]>(req('GET', '/v1/kv/cas-key')))[0]!.Value).toBe(b64('third'));
  });

  it('deletes a key, a tree, and with ?cas only at the current index', async () => {
    await req('PUT', '/v1/kv/del/a', '1');
    await req('PUT', '/v1/kv/del/b', '2');
    await req('PUT', '/v1/kv/del/c/d', '3');
    expect(await json(req('DELETE', '/v1/kv/del/a'))).toBe(true);
    expect((await req('GET', '/v1/kv/del/a')).status).toBe(404);
    const [b] = await json<KV[]>(req('GET', '/v1/kv/del/b'));
    expect(await json(req('DELETE', `/v1/kv/del/b?cas=${b!.ModifyIndex + 1}`))).toBe(false);
    expect(await json(req('DELETE', `/v1/kv/del/b?cas=${b!.ModifyIndex}`))).toBe(true);
    expect(await json(req('DELETE', '/v1/kv/del/?recurse'))).toBe(true);
    expect((await req('GET', '/v1/kv/del/?recurse')).status).toBe(404);
  });

  it('refuses values over 512 KB with 413 and accepts exactly 512 KB', async () => {
    const ok = await req('PUT', '/v1/kv/big', new Uint8Array(512 * 1024));
    expect(ok.status).toBe(200);
    const r = await req('PUT', '/v1/kv/big', new Uint8Array(512 * 1024 + 1));
    expect(r.status).toBe(413);
    expect(await r.text()).toMatch(/too large/);
  });

  it('rejects bad requests with 400 and a message', async () => {
    const cases: [string, string, string][] = [
      ['PUT', '/v1/kv/', 'Missing key name'],
      ['GET', '/v1/kv/', 'Missing key name'],
      ['GET', '/v1/kv/x?stale&consistent', 'Cannot specify ?stale with ?consistent'],
      ['GET', '/v1/kv/x?index=1&wait=abc', 'Invalid wait time'],
      ['GET', '/v1/kv/x?index=abc', 'Invalid index'],
      ['PUT', '/v1/kv/x?cas=-1', 'Invalid cas index'],
      ['GET', '/v1/kv/%E0%A4%A', 'Invalid key'],
    ];
    for (const [m, p, msg] of cases) {
      const r = await req(m, p);
      expect(r.status, `${m} ${p}`).toBe(400);
      expect(r.headers.get('content-type')).toContain('text/plain');
      expect(await r.text()).toContain(msg);
    }
  });

  it('answers 405 with Allow for a wrong method and 404 for an unknown path', async () => {
    const r = await req('POST', '/v1/kv/x');
    expect(r.status).toBe(405);
    expect(r.headers.get('Allow')).toBe('GET, PUT, DELETE');
    expect((await req('GET', '/v1/nope')).status).toBe(404);
  });

  it('reports the consistency mode it served', async () => {
    await req('PUT', '/v1/kv/mode', 'x');
    expect((await req('GET', '/v1/kv/mode?stale')).headers.get('X-Consul-Effective-Consistency')).toBe(
      'stale',
    );
    expect((await req('GET', '/v1/kv/mode?consistent')).headers.get('X-Consul-Effective-Consistency')).toBe(
      'consistent',
    );
  });
});

describe('blocking queries', () => {
  it('wakes on a write to the watched key, not on a write elsewhere', async () => {
    await req('PUT', '/v1/kv/watch/me', 'v1');
    const first = await req('GET', '/v1/kv/watch/me');
    const index = idx(first);
    const t0 = Date.now();
    const blocked = req('GET', `/v1/kv/watch/me?index=${index}&wait=10s`);
    await new Promise((r) => setTimeout(r, 100));
    await req('PUT', '/v1/kv/watch/other', 'noise'); // must not wake it
    await new Promise((r) => setTimeout(r, 100));
    await req('PUT', '/v1/kv/watch/me', 'v2');
    const r = await blocked;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(idx(r)).toBeGreaterThan(index);
    expect((await json<KV[]>(r))[0]!.Value).toBe(b64('v2'));
  });

  it('times out with the same index when nothing it read changed', async () => {
    await req('PUT', '/v1/kv/quiet', 'v');
    const index = idx(await req('GET', '/v1/kv/quiet'));
    const t0 = Date.now();
    const p = req('GET', `/v1/kv/quiet?index=${index}&wait=300ms`);
    await req('PUT', '/v1/kv/unrelated', 'x');
    const r = await p;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(idx(r)).toBe(index);
  });

  it('never lets a prefix index go backwards when keys are deleted', async () => {
    await req('PUT', '/v1/kv/mono/a', '1');
    await req('PUT', '/v1/kv/mono/b', '2');
    const before = idx(await req('GET', '/v1/kv/mono/?recurse'));
    await req('DELETE', '/v1/kv/mono/b');
    const after = await req('GET', '/v1/kv/mono/?recurse');
    expect(idx(after)).toBeGreaterThan(before);
    expect((await json<KV[]>(after)).map((e) => e.Key)).toEqual(['mono/a']);
  });

  it('wakes a prefix watch on a write under the prefix', async () => {
    await req('PUT', '/v1/kv/pre/x', '1');
    const index = idx(await req('GET', '/v1/kv/pre/?recurse'));
    const p = req('GET', `/v1/kv/pre/?recurse&index=${index}&wait=10s`);
    await new Promise((r) => setTimeout(r, 50));
    await req('PUT', '/v1/kv/pre/y', '2');
    const r = await p;
    expect((await json<KV[]>(r)).map((e) => e.Key)).toEqual(['pre/x', 'pre/y']);
  });
});

describe('transactions', () => {
  it('applies several operations atomically and returns results', async () => {
    const r = await req('PUT', '/v1/txn', [
      { KV: { Verb: 'set', Key: 'txn/a', Value: b64('A') } },
      { KV: { Verb: 'set', Key: 'txn/b', Value: b64('B'), Flags: 7 } },
      { KV: { Verb: 'get', Key: 'txn/a' } },
    ]);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { Results: { KV: KV }[]; Errors: null };
    expect(body.Errors).toBeNull();
    expect(body.Results).toHaveLength(3);
    expect(body.Results[0]!.KV.Value).toBeNull(); // writes come back without their value
    expect(body.Results[2]!.KV.Value).toBe(b64('A'));
  });

  it('rolls everything back and answers 409 when one operation fails', async () => {
    await req('PUT', '/v1/kv/txn/exists', 'x');
    const r = await req('PUT', '/v1/txn', [
      { KV: { Verb: 'set', Key: 'txn/never', Value: b64('no') } },
      { KV: { Verb: 'check-not-exists', Key: 'txn/exists' } },
    ]);
    expect(r.status).toBe(409);
    const body = (await r.json()) as { Results: null; Errors: { OpIndex: number; What: string }[] };
    expect(body.Results).toBeNull();
    expect(body.Errors).toEqual([{ OpIndex: 1, What: 'key "txn/exists" exists' }]);
    expect((await req('GET', '/v1/kv/txn/never')).status).toBe(404);
  });

  it('serves read-only transactions with query headers', async () => {
    const r = await req('PUT', '/v1/txn', [{ KV: { Verb: 'get', Key: 'txn/a' } }]);
    expect(r.status).toBe(200);
    expect(idx(r)).toBeGreaterThan(0);
  });

  it('rejects malformed transactions', async () => {
    const tooMany = Array.from({ length: 129 }, (_, i) => ({ KV: { Verb: 'set', Key: `k${i}` } }));
    expect((await req('PUT', '/v1/txn', tooMany)).status).toBe(413);
    expect((await req('PUT', '/v1/txn', '{not json')).status).toBe(400);
    expect((await req('PUT', '/v1/txn', [{ KV: { Verb: 'explode', Key: 'k' } }])).status).toBe(400);
    expect((await req('PUT', '/v1/txn', [{ KV: { Verb: 'set', Key: 'k', Value: '!!!' } }])).status).toBe(400);
    expect((await req('PUT', '/v1/txn', [{ Node: { Verb: 'get' } }])).status).toBe(400);
  });
});

describe('catalog and health', () => {
  const web1 = {
    Node: 'node-1',
    Address: '10.0.0.1',
    NodeMeta: { rack: 'r1' },
    Service: { ID: 'web-1', Service: 'web', Tags: ['v1', 'primary'], Port: 8080 },
    Checks: [
      { CheckID: 'web-1-http', Name: 'web http', Status: 'passing', ServiceID: 'web-1' },
      { CheckID: 'node-ok', Name: 'node ok', Status: 'passing' },
    ],
  };
  const web2 = {
    Node: 'node-2',
    Address: '10.0.0.2',
    Service: { ID: 'web-2', Service: 'web', Tags: ['v2'], Port: 8080, Address: '10.0.9.9' },
    Check: {
      CheckID: 'web-2-http',
      Name: 'web http',
      Status: 'critical',
      ServiceID: 'web-2',
      Output: 'connection refused',
    },
  };

  beforeAll(async () => {
    expect(await json(req('PUT', '/v1/catalog/register', web1))).toBe(true);
    expect(await json(req('PUT', '/v1/catalog/register', web2))).toBe(true);
    expect(
      await json(
        req('PUT', '/v1/catalog/register', {
          Node: 'node-3',
          Address: '10.0.0.3',
          Service: { Service: 'db', Port: 5432 },
        }),
      ),
    ).toBe(true);
  });

  it('lists datacenters, nodes and services', async () => {
    expect(await json(req('GET', '/v1/catalog/datacenters'))).toEqual(['dc1']);
    const nodes = await json<
      { Node: string; Address: string; Datacenter: string; Meta: Record<string, string> }[]
    >(req('GET', '/v1/catalog/nodes'));
    // The agent's own node (registered by the leader from gossip, with the `consul` service) is there too.
    expect(nodes.map((n) => n.Node)).toEqual(['node-1', 'node-2', 'node-3', 'test-node']);
    expect(nodes[0]).toMatchObject({ Address: '10.0.0.1', Datacenter: 'dc1', Meta: { rack: 'r1' } });
    expect(await json(req('GET', '/v1/catalog/services'))).toEqual({
      consul: [],
      db: [],
      web: ['primary', 'v1', 'v2'],
    });
  });

  it('lists a service with tag filters (repeatable tags must all match)', async () => {
    const all = await json<{ ServiceID: string; ServiceAddress: string; Node: string }[]>(
      req('GET', '/v1/catalog/service/web'),
    );
    expect(all.map((s) => s.ServiceID)).toEqual(['web-1', 'web-2']);
    expect(all[1]!.ServiceAddress).toBe('10.0.9.9');
    expect((await json<unknown[]>(req('GET', '/v1/catalog/service/web?tag=v1&tag=primary'))).length).toBe(1);
    expect(await json(req('GET', '/v1/catalog/service/web?tag=v1&tag=v2'))).toEqual([]);
    expect(await json(req('GET', '/v1/catalog/service/nothing'))).toEqual([]);
  });

  it('shows a node and its services in both forms', async () => {
    const n = await json<{ Node: { Node: string }; Services: Record<string, { Service: string }> }>(
      req('GET', '/v1/catalog/node/node-1'),
    );
    expect(n.Node.Node).toBe('node-1');
    expect(Object.keys(n.Services)).toEqual(['web-1']);
    const list = await json<{ Services: { ID: string }[] }>(req('GET', '/v1/catalog/node-services/node-1'));
    expect(list.Services.map((s) => s.ID)).toEqual(['web-1']);
    expect(await json(req('GET', '/v1/catalog/node/ghost'))).toBeNull();
  });

  it('reports health, with ?passing leaving out anything not passing', async () => {
    const all = await json<{ Service: { ID: string }; Checks: { CheckID: string; Status: string }[] }[]>(
      req('GET', '/v1/health/service/web'),
    );
    expect(all.map((e) => e.Service.ID)).toEqual(['web-1', 'web-2']);
    expect(all[0]!.Checks.map((c) => c.CheckID)).toEqual(['node-ok', 'web-1-http']);
    const passing = await json<{ Service: { ID: string } }[]>(req('GET', '/v1/health/service/web?passing'));
    expect(passing.map((e) => e.Service.ID)).toEqual(['web-1']);
    const checks = await json<{ CheckID: string; ServiceName: string; ServiceTags: string[] }[]>(
      req('GET', '/v1/health/checks/web'),
    );
    expect(checks.map((c) => c.CheckID)).toEqual(['web-1-http', 'web-2-http']);
    expect(checks[0]).toMatchObject({ ServiceName: 'web', ServiceTags: ['v1', 'primary'] });
    expect(
      (await json<{ CheckID: string }[]>(req('GET', '/v1/health/node/node-1'))).map((c) => c.CheckID),
    ).toEqual(['node-ok', 'web-1-http']);
    const critical = await json<{ CheckID: string; Output: string }[]>(
      req('GET', '/v1/health/state/critical'),
    );
    expect(critical).toEqual([
      expect.objectContaining({ CheckID: 'web-2-http', Output: 'connection refused' }),
    ]);
    expect((await req('GET', '/v1/health/state/bogus')).status).toBe(400);
  });

  it('marks every service on a node critical when a node-level check fails', async () => {
    await req('PUT', '/v1/catalog/register', {
      Node: 'node-1',
      Address: '10.0.0.1',
      NodeMeta: { rack: 'r1' },
      Check: { CheckID: 'node-ok', Name: 'node ok', Status: 'critical' },
    });
    const passing = await json<unknown[]>(req('GET', '/v1/health/service/web?passing'));
    expect(passing).toEqual([]);
    await req('PUT', '/v1/catalog/register', {
      Node: 'node-1',
      Address: '10.0.0.1',
      NodeMeta: { rack: 'r1' },
      Check: { CheckID: 'node-ok', Name: 'node ok', Status: 'passing' },
    });
  });

  it('wakes a health watch for its own service only', async () => {
    const r0 = await req('GET', '/v1/health/service/web');
    const index = idx(r0);
    // A change to another service leaves web's index alone.
    await req('PUT', '/v1/catalog/register', {
      Node: 'node-3',
      Address: '10.0.0.3',
      Service: { Service: 'db', Port: 5433 },
    });
    expect(idx(await req('GET', '/v1/health/service/web'))).toBe(index);
    const blocked = req('GET', `/v1/health/service/web?index=${index}&wait=10s`);
    await new Promise((r) => setTimeout(r, 50));
    await req('PUT', '/v1/catalog/register', {
      ...web2,
      Check: { ...web2.Check, Status: 'passing', Output: 'ok' },
    });
    const r = await blocked;
    expect(idx(r)).toBeGreaterThan(index);
    expect((await json<{ Checks: { Status: string }[] }[]>(r))[1]!.Checks[0]!.Status).toBe('passing');
  });

  it('validates registrations', async () => {
    const bad: [object, string][] = [
      [{ Address: '1.2.3.4' }, 'Must provide node'],
      [{ Node: 'x' }, 'Must provide address'],
      [{ Node: 'x', Address: '1.2.3.4', Service: { Port: 1 } }, 'Must provide service name'],
      [{ Node: 'x', Address: '1.2.3.4', Service: { Service: 's', Port: 70000 } }, 'Service.Port'],
      [
        { Node: 'x', Address: '1.2.3.4', Check: { Name: 'c', ServiceID: 'missing' } },
        'Missing service registration',
      ],
      [{ Node: 'x', Address: '1.2.3.4', NodeMeta: { 'consul-x': 'y' } }, 'reserved prefix'],
    ];
    for (const [body, msg] of bad) {
      const r = await req('PUT', '/v1/catalog/register', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(await r.text()).toContain(msg);
    }
    expect((await req('PUT', '/v1/catalog/register', 'not json')).status).toBe(400);
    expect(await json(req('GET', '/v1/catalog/node/x'))).toBeNull();
  });

  it('deregisters a check, a service and a node', async () => {
    await req('PUT', '/v1/catalog/register', {
      Node: 'tmp',
      Address: '1.1.1.1',
      Service: { ID: 's1', Service: 'tmp-svc' },
      Checks: [
        { CheckID: 'c1', Name: 'c1', ServiceID: 's1' },
        { CheckID: 'c2', Name: 'c2' },
      ],
    });
    await req('PUT', '/v1/catalog/deregister', { Node: 'tmp', CheckID: 'c2' });
    expect(
      (await json<{ CheckID: string }[]>(req('GET', '/v1/health/node/tmp'))).map((c) => c.CheckID),
    ).toEqual(['c1']);
    await req('PUT', '/v1/catalog/deregister', { Node: 'tmp', ServiceID: 's1' });
    expect(await json(req('GET', '/v1/catalog/service/tmp-svc'))).toEqual([]);
    expect(await json(req('GET', '/v1/health/node/tmp'))).toEqual([]);
    await req('PUT', '/v1/catalog/deregister', { Node: 'tmp' });
    expect(await json(req('GET', '/v1/catalog/node/tmp'))).toBeNull();
    expect((await req('PUT', '/v1/catalog/deregister', {})).status).toBe(400);
  });
});

describe('status, operator and agent', () => {
  it('names the leader and the peers', async () => {
    const leader = await json<string>(req('GET', '/v1/status/leader'));
    expect(leader).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await json(req('GET', '/v1/status/peers'))).toEqual([leader]);
  });

  it('shows the Raft configuration', async () => {
    const r = await req('GET', '/v1/operator/raft/configuration');
    const cfg = (await r.json()) as {
      Servers: { ID: string; Node: string; Leader: boolean; Voter: boolean; ProtocolVersion: string }[];
      Index: number;
    };
    expect(cfg.Servers).toEqual([
      {
        ID: dev.agent.nodeId,
        Node: 'test-node',
        Address: expect.stringMatching(/:\d+$/),
        Leader: true,
        Voter: true,
        ProtocolVersion: '3',
      },
    ]);
    expect(idx(r)).toBeGreaterThan(0);
  });

  it('refuses peer removal without a target, and an unknown one', async () => {
    expect((await req('DELETE', '/v1/operator/raft/peer')).status).toBe(400);
    const r = await req('DELETE', '/v1/operator/raft/peer?id=nope');
    expect(r.status).toBe(404);
    expect(await r.text()).toContain('not found in the Raft configuration');
  });

  it('describes itself', async () => {
    const self = await json<{
      Config: { Datacenter: string; NodeName: string; NodeID: string; Server: boolean };
      Stats: { raft: { state: string } };
    }>(req('GET', '/v1/agent/self'));
    expect(self.Config).toMatchObject({
      Datacenter: 'dc1',
      NodeName: 'test-node',
      NodeID: dev.agent.nodeId,
      Server: true,
    });
    expect(self.Stats.raft.state).toBe('Leader');
  });
});

describe('gossip membership and user events', () => {
  interface Member {
    Name: string;
    Addr: string;
    Port: number;
    Status: number;
    Tags: Record<string, string>;
  }

  it('shows a member change at once, though the list is rendered once per membership version', async () => {
    const before = await json<Member[]>(req('GET', '/v1/agent/members'));
    expect(await json<Member[]>(req('GET', '/v1/agent/members'))).toEqual(before);
    const tags = dev.agent.lan.local().tags;
    dev.agent.lan.setTags({ ...tags, rack: 'r7' });
    try {
      const after = await json<Member[]>(req('GET', '/v1/agent/members'));
      expect(after[0]!.Tags['rack']).toBe('r7');
      const pretty = await (await req('GET', '/v1/agent/members?pretty')).text();
      expect(pretty).toContain('\n    {');
      expect(JSON.parse(pretty)).toEqual(after);
    } finally {
      dev.agent.lan.setTags(tags);
    }
    expect((await json<Member[]>(req('GET', '/v1/agent/members')))[0]!.Tags['rack']).toBeUndefined();
  });

  it('lists the members with serf tags, this agent alive', async () => {
    const ms = await json<Member[]>(req('GET', '/v1/agent/members'));
    expect(ms).toHaveLength(1);
    expect(ms[0]).toMatchObject({
      Name: 'test-node',
      Addr: '127.0.0.1',
      Status: 1,
      Tags: { role: 'consul', dc: 'dc1', id: dev.agent.nodeId, vsn: '2' },
      ProtocolCur: 2,
    });
    expect(ms[0]!.Tags['port']).toMatch(/^\d+$/);
    // The WAN pool: this server alone, as "<node>.<dc>", with its RPC and HTTP addresses in tags.
    const wan = await json<Member[]>(req('GET', '/v1/agent/members?wan=1'));
    expect(wan).toHaveLength(1);
    expect(wan[0]).toMatchObject({
      Name: 'test-node.dc1',
      Status: 1,
      Tags: { role: 'consul', dc: 'dc1', id: dev.agent.nodeId, port: ms[0]!.Tags['port'] },
    });
    expect(ms[0]!.Tags['wan_join_port']).toBe(String(wan[0]!.Port));
    const self = await json<{ Member: Member; Stats: { serf_lan: Record<string, string> } }>(
      req('GET', '/v1/agent/self'),
    );
    expect(self.Member.Name).toBe('test-node');
    expect(self.Stats.serf_lan['members']).toBe('1');
  });

  it('registers itself in the catalog with a passing serfHealth check (the leader reconciles)', async () => {
    const deadline = Date.now() + 5000;
    let checks: { CheckID: string; Status: string; Output: string }[] = [];
    while (Date.now() < deadline) {
      checks = await json(req('GET', '/v1/health/node/test-node'));
      if (checks.length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(checks).toEqual([
      expect.objectContaining({
        CheckID: 'serfHealth',
        Status: 'passing',
        Output: 'Agent alive and reachable',
      }),
    ]);
  });

  it('refuses force-leave of an unknown node and a join that reaches nobody', async () => {
    const r = await req('PUT', '/v1/agent/force-leave/nobody');
    expect(r.status).toBe(404);
    expect(await r.text()).toContain("No node found with name 'nobody'");
    const j = await req('PUT', '/v1/agent/join/127.0.0.1:1');
    expect(j.status).toBe(500);
    expect((await req('GET', '/v1/agent/leave')).status).toBe(405);
  });

  it('fires an event, lists it, and wakes a blocking list', async () => {
    const before = await req('GET', '/v1/event/list');
    const index = idx(before);
    expect(index).toBeGreaterThan(0);
    const waiting = req('GET', `/v1/event/list?name=deploy&index=${index}&wait=5s`);
    const fired = await json<{ ID: string; Name: string; Payload: string; Version: number; LTime: number }>(
      req('PUT', '/v1/event/fire/deploy?node=test', 'v1'),
    );
    expect(fired).toMatchObject({ Name: 'deploy', Payload: b64('v1'), NodeFilter: 'test', Version: 1 });
    expect(fired.ID).toMatch(/^[0-9a-f-]{36}$/);
    const r = await waiting;
    expect(idx(r)).toBeGreaterThan(index);
    const list = (await r.json()) as { ID: string }[];
    expect(list.map((e) => e.ID)).toContain(fired.ID);
    expect(await json(req('GET', '/v1/event/list?name=other'))).toEqual([]);
  });

  it('keeps an event whose node filter does not match out of this agent’s list', async () => {
    const fired = await json<{ ID: string }>(req('PUT', '/v1/event/fire/elsewhere?node=^other-node$', ''));
    await new Promise((r) => setTimeout(r, 100));
    const list = await json<{ ID: string }[]>(req('GET', '/v1/event/list?name=elsewhere'));
    expect(list.map((e) => e.ID)).not.toContain(fired.ID);
  });

  it('refuses bad events: a tag filter without a service, a bad regexp, a payload too large', async () => {
    const t = await req('PUT', '/v1/event/fire/x?tag=v1', '');
    expect(t.status).toBe(400);
    expect(await t.text()).toContain('tag filter without service filter');
    expect((await req('PUT', '/v1/event/fire/x?node=(', '')).status).toBe(400);
    expect((await req('PUT', '/v1/event/fire/x', 'p'.repeat(600))).status).toBe(413);
    expect((await req('GET', '/v1/event/fire/x')).status).toBe(405);
  });
});

describe('failures', () => {
  it('turns a handler exception into a 500 and keeps serving', async () => {
    let calls = 0;
    const broken = {
      ...dev.agent,
      config: dev.agent.config,
      forwarder: {
        call: async () => {
          calls++;
          throw new Error('boom');
        },
      },
    } as unknown as HttpAgent;
    const a = createApp({ agent: broken, logger: silentLogger() });
    const r = await a.request('/v1/kv/x');
    expect(r.status).toBe(500);
    expect(await r.text()).toContain('boom');
    expect((await a.request('/v1/kv/x')).status).toBe(500);
    expect(calls).toBe(2);
  });

  it('waits rpc_hold_timeout for a leader, then fails as Consul does; stale reads still work', async () => {
    const lonely = await import('../support/dev-agent.js').then(async () => {
      const { Agent } = await import('../../src/agent/agent.js');
      const { defaultConfig } = await import('../../src/config/config.js');
      const c = defaultConfig();
      c.server = true;
      c.dev = true;
      c.nodeName = 'lonely';
      c.bindAddr = '127.0.0.1';
      c.ports.http = -1;
      c.ports.dns = -1;
      c.ports.server = 0;
      c.ports.serfLan = 0;
      c.ports.serfWan = -1;
      c.rpcHoldTimeoutMs = 300;
      c.raft.multiplier = 1;
      const agent = new Agent(c, silentLogger());
      await agent.start();
      return agent;
    });
    try {
      const a = createApp({ agent: lonely, logger: silentLogger() });
      const t0 = Date.now();
      const r = await a.request('/v1/kv/x');
      expect(r.status).toBe(500);
      expect(await r.text()).toBe('No cluster leader\n');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      const stale = await a.request('/v1/kv/x?stale');
      expect(stale.status).toBe(404);
      expect(stale.headers.get('X-Consul-KnownLeader')).toBe('false');
      expect((await a.request('/v1/kv/x', { method: 'PUT', body: 'v' })).status).toBe(500);
    } finally {
      await lonely.stop();
    }
  });
});
