// The gateway end to end on loopback, against in-process fake servers (gateway-fakes.ts): API
// routing (?dc= and local), service routing and balancing, failover to the next dc by a blocking
// query's update, retries and 502, 503, the response headers, aborting an upstream blocking query
// when the client leaves, and 400 for bad input. Every case runs with both upstream fetches: the
// Node edge's (node:http) and the platform's fetch, which an edge runtime would use.

import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { defaultGatewayConfig, type GatewayConfig } from '../../src/gateway/config.js';
import { startGateway, type RunningGateway } from '../../src/gateway/main.js';
import { deadPort, fakeInstance, World, type FakeServer } from './gateway-fakes.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(
  gw: RunningGateway,
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: string | undefined } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: gw.port, path, method: o.method ?? 'GET', headers: o.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

const parse = (a: Answer): Record<string, unknown> => JSON.parse(a.body) as Record<string, unknown>;

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.each(['node', 'web'] as const)('gateway with the %s upstream fetch', (kind) => {
  let world: World;
  let dc1: FakeServer[];
  let dc2: FakeServer[];
  let gw: RunningGateway;
  const closers: (() => Promise<void>)[] = [];

  async function gateway(over: Partial<GatewayConfig> = {}): Promise<RunningGateway> {
    const cfg: GatewayConfig = {
      ...defaultGatewayConfig(),
      port: 0,
      datacenter: 'dc1',
      servers: [dc1[0]?.addr as string],
      ...over,
    };
    const g = await startGateway(cfg, silentLogger(), kind);
    closers.push(() => g.stop());
    expect(await g.table.whenReady(3000)).toBe(true);
    return g;
  }

  async function instance(
    dc: string,
    service: string,
    name: string,
  ): Promise<{ hits: number; port: number }> {
    const i = await fakeInstance(name);
    closers.push(i.close);
    const list = world.services.get(dc)?.get(service) ?? [];
    world.setInstances(dc, service, [
      ...list,
      { id: name, node: `${name}-node`, address: '127.0.0.1', port: i.port, status: 'passing' },
    ]);
    return i;
  }

  beforeEach(async () => {
    world = new World();
    dc1 = await world.addDc('dc1', 3);
    dc2 = await world.addDc('dc2', 3);
    gw = await gateway();
  });

  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    await world.close();
  });

  it('sends /v1/* without dc to a local server, query string unchanged, and says who answered', async () => {
    const a = await call(gw, '/v1/kv/foo?recurse&index=3');
    expect(a.status).toBe(200);
    const b = parse(a);
    expect(b['dc']).toBe('dc1');
    expect(b['url']).toBe('/v1/kv/foo?recurse&index=3');
    expect(a.headers['x-consulate-datacenter']).toBe('dc1');
    expect(dc1.map((s) => s.addr)).toContain(a.headers['x-consulate-upstream']);
    // The upstream's own headers come through (X-Consul-Index), hop-by-hop ones do not.
    expect(a.headers['x-consul-index']).toBe('7');
  });

  it('sends /v1/*?dc=dc2 to random dc2 servers, dc= passed on, and dc=dc1 stays local', async () => {
    const servers = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const a = await call(gw, '/v1/catalog/nodes?dc=dc2&stale');
      expect(a.status).toBe(200);
      expect(parse(a)['dc']).toBe('dc2');
      expect(parse(a)['url']).toBe('/v1/catalog/nodes?dc=dc2&stale');
      expect(a.headers['x-consulate-datacenter']).toBe('dc2');
      servers.add(a.headers['x-consulate-upstream'] as string);
    }
    expect(servers.size).toBeGreaterThan(1);
    for (const s of servers) expect(dc2.map((x) => x.addr)).toContain(s);
    const local = await call(gw, '/v1/catalog/nodes?dc=dc1');
    expect(parse(local)['dc']).toBe('dc1');
  });

  it('passes method, headers and body on, minus hop-by-hop headers, plus X-Forwarded-*', async () => {
    const a = await call(gw, '/v1/kv/x?cas=0', {
      method: 'PUT',
      headers: { 'X-Consul-Token': 'tok', Connection: 'keep-alive, X-Secret-Hop', 'X-Secret-Hop': '1' },
      body: 'hello',
    });
    expect(a.status).toBe(200);
    const seen = [...dc1].flatMap((s) => s.seen).find((s) => s.url === '/v1/kv/x?cas=0');
    expect(seen?.method).toBe('PUT');
    expect(seen?.body).toBe('hello');
    expect(seen?.headers['x-consul-token']).toBe('tok');
    expect(seen?.headers['x-secret-hop']).toBeUndefined();
    expect(seen?.headers['x-forwarded-host']).toBe(`127.0.0.1:${gw.port}`);
    expect(seen?.headers['x-forwarded-for']).toMatch(/127\.0\.0\.1/);
  });

  it('streams a large request body through', async () => {
    const big = 'x'.repeat(300_000);
    const a = await call(gw, '/v1/txn', { method: 'PUT', body: big });
    expect(a.status).toBe(200);
    const seen = dc1.flatMap((s) => s.seen).find((s) => s.url === '/v1/txn');
    expect(seen?.body.length).toBe(big.length);
  });

  it('sends an unknown dc to a local server (which answers for it) and refuses a bad dc name', async () => {
    const a = await call(gw, '/v1/kv/foo?dc=dc9');
    expect(parse(a)['dc']).toBe('dc1');
    const bad = await call(gw, '/v1/kv/foo?dc=dc%2F..');
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('invalid datacenter name');
  });

  it('routes /svc/<name>/<path> and Host: <name>.service.consul round-robin over healthy instances', async () => {
    const a = await instance('dc1', 'web', 'web-a');
    const b = await instance('dc1', 'web', 'web-b');
    await instance('dc2', 'web', 'web-remote');
    const first = await call(gw, '/svc/web/hello/there?x=1');
    expect(first.status).toBe(200);
    expect(parse(first)['url']).toBe('/hello/there?x=1');
    expect(first.headers['x-consulate-datacenter']).toBe('dc1');
    expect([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]).toContain(first.headers['x-consulate-upstream']);
    for (let i = 0; i < 7; i++) {
      const r = await call(gw, '/anything', { headers: { Host: 'web.service.consul:8080' } });
      expect(r.status).toBe(200);
      expect(parse(r)['url']).toBe('/anything');
    }
    // Round-robin: 8 requests over two instances, 4 each; none to the other dc.
    expect([a.hits, b.hits]).toEqual([4, 4]);
    const root = await call(gw, '/svc/web');
    expect(parse(root)['url']).toBe('/');
  });

  it('streams a large answer back, and HEAD gets no body', async () => {
    await instance('dc1', 'web', 'web-a');
    const a = await call(gw, '/svc/web/big');
    expect(a.status).toBe(200);
    expect(a.body.length).toBe(300_000);
    const h = await call(gw, '/svc/web/x', { method: 'HEAD' });
    expect(h.status).toBe(200);
    expect(h.body).toBe('');
  });

  it('answers 503 for a service in a dc nobody knows', async () => {
    const a = await call(gw, '/x', { headers: { Host: 'web.service.dc9.consul' } });
    expect(a.status).toBe(503);
    expect(a.body).toContain('no path to datacenter "dc9"');
  });

  it('routes Host: <name>.service.<dc>.consul and /svc/<name>.<dc>/ to that dc only', async () => {
    await instance('dc1', 'web', 'web-local');
    await instance('dc2', 'web', 'web-remote');
    const h = await call(gw, '/p', { headers: { Host: 'web.service.dc2.consul' } });
    expect(parse(h)['instance']).toBe('web-remote');
    expect(h.headers['x-consulate-datacenter']).toBe('dc2');
    const p = await call(gw, '/svc/web.dc2/p');
    expect(parse(p)['instance']).toBe('web-remote');
    world.setStatus('dc2', 'web', 'critical');
    await until('dc2 to have no healthy web', async () => (await call(gw, '/svc/web.dc2/p')).status === 503);
    const none = await call(gw, '/svc/web.dc2/p');
    expect(none.body).toContain('no healthy instance of service "web" in datacenter "dc2"');
  });

  it('fails over to the next dc as soon as a blocking query reports the local instances critical', async () => {
    await instance('dc1', 'web', 'web-local');
    await instance('dc2', 'web', 'web-remote');
    expect(parse(await call(gw, '/svc/web/'))['instance']).toBe('web-local');
    // The table now holds a blocking query on dc1's health (index > 0, wait of five minutes).
    await until('a blocking health query', () =>
      world.healthQueries.some(
        (q) => q.dc === 'dc1' && /[?&]index=[1-9]/.test(q.url) && /wait=300s/.test(q.url),
      ),
    );
    const t0 = Date.now();
    world.setStatus('dc1', 'web', 'critical');
    await until(
      'failover to dc2',
      async () => parse(await call(gw, '/svc/web/'))['instance'] === 'web-remote',
      2000,
    );
    // Far below any poll interval: the answer to the held query brought the change.
    expect(Date.now() - t0).toBeLessThan(1500);
    const r = await call(gw, '/svc/web/');
    expect(r.headers['x-consulate-datacenter']).toBe('dc2');
    // And back once dc1 is healthy again.
    world.setStatus('dc1', 'web', 'passing');
    await until(
      'back to dc1',
      async () => parse(await call(gw, '/svc/web/'))['instance'] === 'web-local',
      2000,
    );
  });

  it('follows the directory by blocking query: a dc2 server that leaves is no longer used', async () => {
    const gone = dc2[0] as FakeServer;
    world.dropServer(gone);
    await until(
      'the directory update',
      () => JSON.stringify(gw.table.status()).includes(gone.addr) === false,
    );
    for (let i = 0; i < 20; i++) {
      const a = await call(gw, '/v1/kv/k?dc=dc2');
      expect(a.headers['x-consulate-upstream']).not.toBe(gone.addr);
    }
  });

  it('retries a dead instance on another one, and answers 502 when every instance is dead', async () => {
    const live = await instance('dc1', 'web', 'web-live');
    const dead1 = await deadPort();
    const dead2 = await deadPort();
    world.setInstances('dc1', 'web', [
      { id: 'd1', node: 'n1', address: '127.0.0.1', port: dead1, status: 'passing' },
      { id: 'd2', node: 'n2', address: '127.0.0.1', port: dead2, status: 'passing' },
      { id: 'ok', node: 'n3', address: '127.0.0.1', port: live.port, status: 'passing' },
    ]);
    for (let i = 0; i < 6; i++) {
      const a = await call(gw, '/svc/web/x', {
        method: i % 2 ? 'POST' : 'GET',
        body: i % 2 ? 'b' : undefined,
      });
      expect(a.status).toBe(200);
      expect(parse(a)['instance']).toBe('web-live');
    }
    world.setInstances('dc1', 'web', [
      { id: 'd1', node: 'n1', address: '127.0.0.1', port: dead1, status: 'passing' },
      { id: 'd2', node: 'n2', address: '127.0.0.1', port: dead2, status: 'passing' },
    ]);
    await until('the table to drop the live one', async () => (await call(gw, '/svc/web/x')).status === 502);
    const bad = await call(gw, '/svc/web/x');
    expect(bad.status).toBe(502);
    expect(bad.headers['content-type']).toMatch(/^text\/plain/);
    expect(bad.body).toContain(`127.0.0.1:${dead1}`);
    expect(bad.body).toContain(`127.0.0.1:${dead2}`);
    expect(bad.body).toContain('connection refused');
  });

  it('routes around a dead server for /v1/* and answers 502 when all servers of the dc are dead', async () => {
    await (dc2[0] as FakeServer).close();
    for (let i = 0; i < 10; i++) expect((await call(gw, '/v1/kv/k?dc=dc2')).status).toBe(200);
    await (dc2[1] as FakeServer).close();
    await (dc2[2] as FakeServer).close();
    const a = await call(gw, '/v1/kv/k?dc=dc2');
    expect(a.status).toBe(502);
    expect(a.body).toContain('(dc2): connection refused');
  });

  it('answers 503 when no dc has a healthy instance, and when a known dc has no server', async () => {
    const a = await call(gw, '/svc/nothing/');
    expect(a.status).toBe(503);
    expect(a.body).toContain('no healthy instance of service "nothing" in any datacenter (dc1, dc2)');
    for (const s of dc2) world.dropServer(s);
    await until('dc2 to have no servers', async () => (await call(gw, '/v1/kv/k?dc=dc2')).status === 503);
    expect((await call(gw, '/v1/kv/k?dc=dc2')).body).toContain('no reachable server in datacenter "dc2"');
  });

  it('proxies a blocking query that answers only after its wait', async () => {
    const t0 = Date.now();
    const a = await call(gw, '/v1/kv/slow?index=3&wait=1200ms&dc=dc2');
    expect(a.status).toBe(200);
    expect(parse(a)['slow']).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1150);
  });

  it('aborts the upstream blocking query when the client goes away', async () => {
    const ac = new AbortController();
    const pending = fetch(`http://127.0.0.1:${gw.port}/v1/kv/block?index=42`, { signal: ac.signal }).catch(
      () => 'aborted',
    );
    await until('the upstream to hold the query', () => dc1.some((s) => s.blockedOpen === 1));
    ac.abort();
    expect(await pending).toBe('aborted');
    await until('the upstream request to be closed', () => dc1.some((s) => s.blockedClosed === 1));
  });

  it('answers 400 for bad input and never falls over', async () => {
    for (const [path, host, msg] of [
      ['/svc/we%20b/', undefined, 'invalid service name'],
      ['/svc/web.dc$/', undefined, 'invalid datacenter name'],
      ['/', 'web.node.consul', 'cannot route Host'],
      ['/', 'a.b.web.service.consul', 'cannot route Host'],
      ['/', 'we_b!.service.consul', 'invalid service name'],
      ['/', 'web.service.d+c.consul', 'invalid datacenter name'],
    ] as const) {
      const a = await call(gw, path, host ? { headers: { Host: host } } : {});
      expect(a.status, `${path} ${host}`).toBe(400);
      expect(a.body).toContain(msg);
    }
    expect((await call(gw, '/elsewhere')).status).toBe(404);
    expect((await call(gw, '/v1/kv/x')).status).toBe(200);
  });

  it('shows its routing table at GET /gateway/status', async () => {
    await instance('dc1', 'web', 'web-a');
    await call(gw, '/svc/web/');
    const s = parse(await call(gw, '/gateway/status'));
    expect(s['Datacenter']).toBe('dc1');
    expect(s['Ready']).toBe(true);
    const d = s['Directory'] as { Datacenters: { Datacenter: string; Servers: string[] }[] };
    expect(d.Datacenters.map((x) => x.Datacenter)).toEqual(['dc1', 'dc2']);
    expect(d.Datacenters[1]?.Servers).toEqual(dc2.map((x) => x.addr));
    const svc = s['Services'] as { Service: string; Datacenter: string; Instances: string[] }[];
    expect(svc[0]).toMatchObject({ Service: 'web', Datacenter: 'dc1' });
    expect(svc[0]?.Instances).toHaveLength(1);
  });

  it('finds the directory through another configured agent when the first is down', async () => {
    const dead = await deadPort();
    const g = await gateway({
      servers: [`127.0.0.1:${dead}`, dc1[1]?.addr as string],
      datacenter: undefined,
    });
    expect(g.table.localDc()).toBe('dc1');
    expect((await call(g, '/v1/kv/x')).status).toBe(200);
  });
});
