// A client agent's own services and checks, as real processes on loopback (one server, one client):
// an HTTP check against a server run by this test, a TTL check expiring, a TTL status surviving a
// kill -9 and restart, and anti-entropy putting back what was changed in the catalog behind the
// client's back. Anti-entropy runs every 2 s here (ae_interval) instead of every minute.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, eventually, type ServerProc } from './harness.js';

interface CheckJson {
  CheckID: string;
  Status: string;
  Output: string;
}
interface HealthRow {
  Node: { Node: string };
  Service: { ID: string };
  Checks: CheckJson[];
}

let cluster: TestCluster;
let server: ServerProc;
let client: ServerProc;
let web: Server;
let healthy = true;
let webPort = 0;

beforeAll(async () => {
  web = createServer((_req, res) => {
    res.writeHead(healthy ? 200 : 500);
    res.end(healthy ? 'ok' : 'broken');
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  const a = web.address();
  webPort = typeof a === 'object' && a ? a.port : 0;
  cluster = await TestCluster.start({ servers: 1, clients: 1, extraConfig: { ae_interval: '2s' } });
  server = await cluster.waitForLeader(30_000);
  client = cluster.clients[0] as ServerProc;
  // The client answers, and is in the catalog (an unknown node reads as 200 null, as in Consul).
  await eventually(
    async () => (await client.client.request('GET', '/v1/agent/self')).status === 200,
    40_000,
    'the client answering',
  );
  await eventually(
    async () => {
      const r = await server.client.request('GET', `/v1/catalog/node/${client.name}`);
      return r.status === 200 && JSON.parse(r.body.toString()) !== null;
    },
    40_000,
    'the client in the catalog',
  );
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
  await new Promise<void>((r) => web.close(() => r()));
});

const put = (a: ServerProc, path: string, body?: unknown): Promise<unknown> =>
  a.client.ok('PUT', path, body === undefined ? {} : { body: JSON.stringify(body) });

const passing = (name: string): Promise<HealthRow[]> =>
  server.client.json<HealthRow[]>('GET', `/v1/health/service/${name}`, { query: { passing: true } });

const nodeCheck = async (id: string): Promise<CheckJson | undefined> =>
  (await server.client.json<CheckJson[]>('GET', `/v1/health/node/${client.name}`)).find(
    (c) => c.CheckID === id,
  );

const catalogServices = async (): Promise<Record<string, unknown>> =>
  (await server.client.json<{ Services: Record<string, unknown> }>('GET', `/v1/catalog/node/${client.name}`))
    .Services;

describe('agent-local services and checks on a client agent', () => {
  it('an HTTP check takes a service out of ?passing and back', async () => {
    await put(client, '/v1/agent/service/register', {
      Name: 'web',
      Port: webPort,
      Check: { HTTP: `http://127.0.0.1:${webPort}/health`, Interval: '1s' },
    });
    await eventually(async () => (await passing('web')).length === 1, 40_000, 'web passing in the catalog');
    healthy = false;
    await eventually(async () => (await passing('web')).length === 0, 30_000, 'web out of ?passing');
    const all = await server.client.json<HealthRow[]>('GET', '/v1/health/service/web');
    expect(all[0]?.Checks.find((c) => c.CheckID === 'service:web')?.Status).toBe('critical');
    healthy = true;
    const back = await eventually(
      async () => {
        const rows = await passing('web');
        return rows.length === 1 ? rows : null;
      },
      30_000,
      'web back in ?passing',
    );
    expect(back[0]?.Node.Node).toBe(client.name);
  });

  it('a TTL check turns critical when its TTL runs out', async () => {
    await put(client, '/v1/agent/check/register', { Name: 'short', TTL: '2s' });
    await put(client, '/v1/agent/check/pass/short?note=fine');
    await eventually(async () => (await nodeCheck('short'))?.Status === 'passing', 30_000, 'short passing');
    const expired = await eventually(
      async () => {
        const c = await nodeCheck('short');
        return c?.Status === 'critical' ? c : null;
      },
      30_000,
      'short expired',
    );
    expect(expired.Output).toContain('TTL expired');
    // A critical node-level check would make every service on the node critical: remove it.
    await put(client, '/v1/agent/check/deregister/short');
    await eventually(async () => (await nodeCheck('short')) === undefined, 30_000, 'short deregistered');
  });

  it("a TTL check's status survives a kill -9 and restart of its agent", async () => {
    await put(client, '/v1/agent/check/register', { Name: 'keep', TTL: '10m' });
    await put(client, '/v1/agent/check/pass/keep?note=alive');
    await eventually(async () => (await nodeCheck('keep'))?.Status === 'passing', 30_000, 'keep passing');
    await cluster.kill9(client);
    cluster.spawn(client);
    const restored = await eventually(
      async () => (await client.client.json<Record<string, CheckJson>>('GET', '/v1/agent/checks'))['keep'],
      40_000,
      'the restarted agent answering',
    );
    expect([restored.Status, restored.Output]).toEqual(['passing', 'alive']);
    const services = await client.client.json<Record<string, unknown>>('GET', '/v1/agent/services');
    expect(Object.keys(services)).toContain('web');
    await eventually(
      async () => (await passing('web')).length === 1,
      40_000,
      'web passing after the restart',
    );
  });

  it('anti-entropy restores a service deleted behind its back and removes one it does not know', async () => {
    await put(server, '/v1/catalog/deregister', { Node: client.name, ServiceID: 'web' });
    await put(server, '/v1/catalog/register', {
      Node: client.name,
      Address: '127.0.0.1',
      SkipNodeUpdate: true,
      Service: { Service: 'stray', Port: 1 },
    });
    expect(Object.keys(await catalogServices())).toContain('stray');
    await eventually(
      async () => {
        const s = await catalogServices();
        return s['web'] !== undefined && s['stray'] === undefined;
      },
      40_000,
      'web back and stray gone',
    );
    // The leader's serfHealth check is left alone.
    expect((await nodeCheck('serfHealth'))?.Status).toBe('passing');
  });
});
