// The agent's local service and check endpoints through app.request() against an in-memory server,
// with anti-entropy carrying them to its catalog.
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

const req = (method: string, path: string, body?: unknown): Promise<Response> =>
  Promise.resolve(
    app.request(path, {
      method,
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    }),
  );
const put = (path: string, body?: unknown): Promise<Response> => req('PUT', path, body);
const json = async <T = Record<string, unknown>>(r: Promise<Response>): Promise<T> =>
  (await (await r).json()) as T;
const text = async (r: Promise<Response>): Promise<[number, string]> => {
  const res = await r;
  return [res.status, await res.text()];
};

async function eventually<T>(fn: () => Promise<T | null | undefined | false>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('services', () => {
  it('registers PascalCase and snake_case bodies and lists them in the AgentService shape', async () => {
    expect((await put('/v1/agent/service/register', { Name: 'web', Port: 8080, Tags: ['v1'] })).status).toBe(
      200,
    );
    expect(
      (
        await put('/v1/agent/service/register', {
          name: 'db',
          id: 'db-1',
          port: 5432,
          enable_tag_override: true,
        })
      ).status,
    ).toBe(200);
    const all = await json<Record<string, Record<string, unknown>>>(req('GET', '/v1/agent/services'));
    expect(all['web']).toEqual({
      ID: 'web',
      Service: 'web',
      Tags: ['v1'],
      Meta: {},
      Port: 8080,
      Address: '',
      Weights: { Passing: 1, Warning: 1 },
      EnableTagOverride: false,
      Datacenter: 'dc1',
    });
    expect(all['db-1']).toMatchObject({ ID: 'db-1', Service: 'db', EnableTagOverride: true });
    const one = await req('GET', '/v1/agent/service/db-1');
    expect(one.status).toBe(200);
    const body = (await one.json()) as Record<string, unknown>;
    expect(body['ContentHash']).toBe(one.headers.get('X-Consul-ContentHash'));
    expect(await text(req('GET', '/v1/agent/service/nope'))).toEqual([404, 'unknown service ID: nope\n']);
  });

  it('refuses bad input with 400 and oversized bodies with 413', async () => {
    expect(await text(put('/v1/agent/service/register', { Port: 1 }))).toEqual([
      400,
      'Missing service name\n',
    ]);
    const [code, msg] = await text(put('/v1/agent/service/register', { Name: 'x', Check: { TTL: 'later' } }));
    expect(code).toBe(400);
    expect(msg).toContain('invalid duration');
    expect((await put('/v1/agent/service/register', '{not json')).status).toBe(400);
    expect((await put('/v1/agent/service/register', '')).status).toBe(400);
    expect((await put('/v1/agent/service/register', [1, 2])).status).toBe(400);
    expect((await put('/v1/agent/service/register', { Name: 'x', Tags: 'a' })).status).toBe(400);
    const big = { Name: 'big', Meta: { k: 'x'.repeat(600 * 1024) } };
    expect((await put('/v1/agent/service/register', big)).status).toBe(413);
    expect((await req('GET', '/v1/agent/service/register')).status).toBe(405);
    expect((await put('/v1/agent/services')).status).toBe(405);
    expect(await text(put('/v1/agent/service/deregister/nope'))).toEqual([
      404,
      'Unknown service ID "nope". Ensure that the service ID is passed, not the service name.\n',
    ]);
  });

  it('replaces existing checks only when asked', async () => {
    await put('/v1/agent/service/register', { Name: 'rep', Checks: [{ TTL: '1m' }, { TTL: '1m' }] });
    await put('/v1/agent/service/register', { Name: 'rep', Check: { CheckID: 'only', TTL: '1m' } });
    const ids = async (): Promise<string[]> =>
      Object.values(
        await json<Record<string, { CheckID: string; ServiceID: string }>>(req('GET', '/v1/agent/checks')),
      )
        .filter((c) => c.ServiceID === 'rep')
        .map((c) => c.CheckID)
        .sort();
    expect(await ids()).toEqual(['only', 'service:rep:1', 'service:rep:2']);
    await put('/v1/agent/service/register?replace-existing-checks', {
      Name: 'rep',
      Check: { CheckID: 'only', TTL: '1m' },
    });
    expect(await ids()).toEqual(['only']);
    await put('/v1/agent/service/deregister/rep');
    expect(await ids()).toEqual([]);
  });
});

describe('checks and aggregated health', () => {
  it('drives a TTL check with pass, warn, fail and update, and answers health with Consul codes', async () => {
    await put('/v1/agent/service/register', {
      Name: 'api',
      Check: { CheckID: 'api-ttl', TTL: '10m', Notes: 'n' },
    });
    const health = (q = ''): Promise<Response> => req('GET', `/v1/agent/health/service/id/api${q}`);
    expect(await text(health('?format=text'))).toEqual([503, 'critical']);

    expect((await put('/v1/agent/check/pass/api-ttl?note=all+good')).status).toBe(200);
    const ok = await health();
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as {
      AggregatedStatus: string;
      Service: { ID: string };
      Checks: { Output: string }[];
    };
    expect(body.AggregatedStatus).toBe('passing');
    expect(body.Service.ID).toBe('api');
    expect(body.Checks[0]?.Output).toBe('all good');

    await put('/v1/agent/check/warn/api-ttl');
    expect(await text(health('?format=text'))).toEqual([429, 'warning']);
    await put('/v1/agent/check/fail/api-ttl?note=down');
    expect(await text(req('GET', '/v1/agent/health/service/name/api?format=text'))).toEqual([
      503,
      'critical',
    ]);

    expect((await put('/v1/agent/check/update/api-ttl', { Status: 'passing', Output: 'back' })).status).toBe(
      200,
    );
    const checks = await json<Record<string, Record<string, unknown>>>(req('GET', '/v1/agent/checks'));
    expect(checks['api-ttl']).toMatchObject({
      Node: 'test-node',
      CheckID: 'api-ttl',
      Status: 'passing',
      Output: 'back',
      Notes: 'n',
      ServiceID: 'api',
      ServiceName: 'api',
      Type: 'ttl',
    });
    expect(await text(put('/v1/agent/check/update/api-ttl', { Status: 'bogus' }))).toEqual([
      400,
      "Invalid check status: 'bogus'\n",
    ]);
    // Registered again, the check keeps its state (Consul: no flapping on re-registration).
    await put('/v1/agent/service/register', {
      Name: 'api',
      Check: { CheckID: 'api-ttl', TTL: '10m', Notes: 'n' },
    });
    expect(await text(health('?format=text'))).toEqual([200, 'passing']);
    const byName = await req('GET', '/v1/agent/health/service/name/api');
    expect(byName.status).toBe(200);
    expect(((await byName.json()) as unknown[]).length).toBe(1);
  });

  it('answers unknown services and checks as Consul does', async () => {
    expect(await text(req('GET', '/v1/agent/health/service/name/ghost?format=text'))).toEqual([
      404,
      'ServiceName ghost Not Found',
    ]);
    const r = await req('GET', '/v1/agent/health/service/name/ghost');
    expect([r.status, await r.json()]).toEqual([404, []]);
    const id = await req('GET', '/v1/agent/health/service/id/ghost');
    expect([id.status, await id.json()]).toEqual([
      404,
      { AggregatedStatus: 'critical', Service: null, Checks: null },
    ]);
    for (const verb of ['pass', 'warn', 'fail', 'deregister']) {
      expect(await text(put(`/v1/agent/check/${verb}/ghost`))).toEqual([
        404,
        'Unknown check ID "ghost". Ensure that the check ID is passed, not the check name.\n',
      ]);
    }
    expect((await put('/v1/agent/check/update/ghost', { Status: 'passing' })).status).toBe(404);
  });

  it('registers and deregisters node checks, and refuses what Consul refuses', async () => {
    expect(await text(put('/v1/agent/check/register', { TTL: '1m' }))).toEqual([400, 'Missing check name\n']);
    const [c1, m1] = await text(put('/v1/agent/check/register', { Name: 'x', TTL: '1 minute' }));
    expect([c1, m1.includes('invalid duration')]).toEqual([400, true]);
    const [c2, m2] = await text(put('/v1/agent/check/register', { Name: 'x', HTTP: 'http://127.0.0.1:1' }));
    expect([c2, m2]).toEqual([400, 'Invalid check: Interval must be > 0 for Script, HTTP, or TCP checks\n']);
    expect((await put('/v1/agent/check/register', { Name: 'x', TTL: '1m', ServiceID: 'ghost' })).status).toBe(
      400,
    );
    expect(
      (await put('/v1/agent/check/register', { Name: 's', Args: ['true'], Interval: '10s' })).status,
    ).toBe(400);
    // A non-TTL check cannot be passed by hand: Consul's message, and its 500.
    expect(
      (await put('/v1/agent/check/register', { Name: 'tcp', TCP: '127.0.0.1:1', Interval: '1h' })).status,
    ).toBe(200);
    expect(await text(put('/v1/agent/check/pass/tcp'))).toEqual([
      500,
      'CheckID "tcp" does not have associated TTL\n',
    ]);
    expect((await put('/v1/agent/check/deregister/tcp')).status).toBe(200);
    expect(
      (await put('/v1/agent/check/register', { Name: 'disk', TTL: '1m', Status: 'passing' })).status,
    ).toBe(200);
    expect(await json(req('GET', '/v1/agent/checks'))).toHaveProperty('disk');
  });

  it('a node-level critical check makes every local service critical', async () => {
    await put('/v1/agent/service/register', {
      Name: 'solo',
      Check: { CheckID: 'solo-ttl', TTL: '10m', Status: 'passing' },
    });
    expect(await text(req('GET', '/v1/agent/health/service/id/solo?format=text'))).toEqual([200, 'passing']);
    await put('/v1/agent/check/register', { Name: 'node-bad', TTL: '10m', Status: 'critical' });
    expect(await text(req('GET', '/v1/agent/health/service/id/solo?format=text'))).toEqual([503, 'critical']);
    await put('/v1/agent/check/deregister/node-bad');
    expect(await text(req('GET', '/v1/agent/health/service/id/solo?format=text'))).toEqual([200, 'passing']);
  });
});

describe('maintenance', () => {
  it('puts the node and a service in maintenance with Consul checks and messages', async () => {
    await put('/v1/agent/service/register', {
      Name: 'maint',
      Check: { CheckID: 'maint-ttl', TTL: '10m', Status: 'passing' },
    });
    expect(await text(put('/v1/agent/maintenance'))).toEqual([400, 'Missing value for enable\n']);
    expect(await text(put('/v1/agent/maintenance?enable=maybe'))).toEqual([
      400,
      'Invalid value for enable: "maybe"\n',
    ]);
    expect(await text(put('/v1/agent/service/maintenance/ghost?enable=true'))).toEqual([
      404,
      'No service registered with ID "ghost"\n',
    ]);
    expect((await put('/v1/agent/service/maintenance/maint?enable=true&reason=upgrade')).status).toBe(200);
    let checks = await json<Record<string, Record<string, unknown>>>(req('GET', '/v1/agent/checks'));
    expect(checks['_service_maintenance:maint']).toMatchObject({
      Status: 'critical',
      Notes: 'upgrade',
      Name: 'Service Maintenance Mode',
      ServiceID: 'maint',
    });
    expect(await text(req('GET', '/v1/agent/health/service/id/maint?format=text'))).toEqual([
      503,
      'maintenance',
    ]);
    await put('/v1/agent/service/maintenance/maint?enable=false');
    expect(await text(req('GET', '/v1/agent/health/service/id/maint?format=text'))).toEqual([200, 'passing']);

    expect((await put('/v1/agent/maintenance?enable=true')).status).toBe(200);
    checks = await json(req('GET', '/v1/agent/checks'));
    expect(checks['_node_maintenance']).toMatchObject({
      Status: 'critical',
      Name: 'Node Maintenance Mode',
      ServiceID: '',
    });
    expect(await text(req('GET', '/v1/agent/health/service/id/maint?format=text'))).toEqual([
      503,
      'maintenance',
    ]);
    await put('/v1/agent/maintenance?enable=false');
    expect(await text(req('GET', '/v1/agent/health/service/id/maint?format=text'))).toEqual([200, 'passing']);
  });
});

describe('anti-entropy against the catalog', () => {
  interface CatalogNode {
    Services: Record<string, { ID: string; Port: number }>;
  }
  const catalogServices = async (): Promise<Record<string, { ID: string; Port: number }>> =>
    (await json<CatalogNode>(req('GET', '/v1/catalog/node/test-node'))).Services;

  it('syncs a registration, restores what was deleted behind its back, removes what it does not know', async () => {
    await put('/v1/agent/service/register', {
      Name: 'synced',
      Port: 7,
      Check: { CheckID: 'synced-ttl', TTL: '10m' },
    });
    await eventually(async () => (await catalogServices())['synced']?.Port === 7);
    const checks = await json<{ CheckID: string; Status: string }[]>(req('GET', '/v1/health/node/test-node'));
    expect(checks.find((c) => c.CheckID === 'synced-ttl')?.Status).toBe('critical');
    expect(checks.some((c) => c.CheckID === 'serfHealth')).toBe(true);

    // Status changes reach the catalog at once.
    await put('/v1/agent/check/pass/synced-ttl');
    await eventually(async () =>
      (await json<{ CheckID: string; Status: string }[]>(req('GET', '/v1/health/node/test-node'))).some(
        (c) => c.CheckID === 'synced-ttl' && c.Status === 'passing',
      ),
    );

    // Behind the agent's back: one of its services deleted, one it never had added.
    await put('/v1/catalog/deregister', { Node: 'test-node', ServiceID: 'synced' });
    await put('/v1/catalog/register', {
      Node: 'test-node',
      Address: '127.0.0.1',
      Service: { Service: 'stray' },
    });
    expect(await catalogServices()).not.toHaveProperty('synced');
    dev.agent.local.ae.triggerFull();
    await eventually(async () => {
      const s = await catalogServices();
      return s['synced'] !== undefined && s['stray'] === undefined;
    });
    const after = await json<{ CheckID: string }[]>(req('GET', '/v1/health/node/test-node'));
    expect(after.map((c) => c.CheckID)).toEqual(expect.arrayContaining(['serfHealth', 'synced-ttl']));
    expect(after.map((c) => c.CheckID)).not.toContain('_service_maintenance:maint');

    await put('/v1/agent/service/deregister/synced');
    await eventually(async () => (await catalogServices())['synced'] === undefined);
    const self = await json<{ Stats: { agent: Record<string, string> } }>(req('GET', '/v1/agent/self'));
    expect(self.Stats.agent['sync_failures']).toBe('0');
    expect(Number(self.Stats.agent['services'])).toBeGreaterThan(0);
  });
});

describe('hostile input', () => {
  it('answers odd bodies with 4xx and keeps serving', async () => {
    const bodies: unknown[] = [
      'null',
      '"text"',
      '42',
      { Name: null },
      { Name: 5 },
      { Name: 'x', Check: 'ttl' },
      { Name: 'x', Checks: [null] },
      { Name: 'x', Checks: {} },
      { Name: 'x', Check: { TTL: 5 } },
      { Name: 'x', Check: { TTL: '-1s' } },
      { Name: 'x', Weights: 'heavy' },
      { Name: 'x', Meta: { a: 1 } },
      { Name: 'x', TaggedAddresses: { lan: 'addr' } },
      { Name: 'x', Port: 1.5 },
      { Name: 'x', Check: { HTTP: 'http://127.0.0.1:1', Interval: '10s', Header: 'h' } },
      { Name: '__proto__', ID: 'constructor' },
    ];
    for (const b of bodies) {
      for (const path of ['/v1/agent/service/register', '/v1/agent/check/register']) {
        const r = await put(path, b);
        expect(r.status, `${path} ${JSON.stringify(b)}`).toBeLessThan(500);
      }
    }
    for (const b of ['null', '[]', '{"Status":5}', '{"Status":"passing","Output":7}']) {
      expect((await put('/v1/agent/check/update/x', b)).status).toBeLessThan(500);
    }
    expect((await put('/v1/agent/service/register', { Name: 'p', ID: '__proto__' })).status).toBe(200);
    const all = await json(req('GET', '/v1/agent/services'));
    expect(Object.keys(all)).toEqual(expect.arrayContaining(['constructor', '__proto__']));
    await put('/v1/agent/service/deregister/constructor');
    await put('/v1/agent/service/deregister/__proto__');
  });
});

describe('user events', () => {
  it('match the service and tag filters against the local services', async () => {
    await put('/v1/agent/service/register', { Name: 'evsvc', Tags: ['blue'] });
    expect((await put('/v1/event/fire/ev-match?service=evsvc&tag=bl')).status).toBe(200);
    expect((await put('/v1/event/fire/ev-miss?service=evsvc&tag=green')).status).toBe(200);
    const names = (await json<{ Name: string }[]>(req('GET', '/v1/event/list'))).map((e) => e.Name);
    expect(names).toContain('ev-match');
    expect(names).not.toContain('ev-miss');
  });
});
