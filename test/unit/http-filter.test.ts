// ?filter= on the catalog, health and agent reads of a dev agent, as a Consul user writes it: each
// read filters what it lists (the service list over its instances, on the server), a blocking read
// with a filter still answers with the index, and a malformed filter is a 400 before anything runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';

let dev: DevAgent;

const get = (path: string, filter?: string): Promise<Response> =>
  Promise.resolve(
    dev.app.request(
      filter === undefined
        ? path
        : `${path}${path.includes('?') ? '&' : '?'}filter=${encodeURIComponent(filter)}`,
    ),
  );
const json = async <T>(path: string, filter?: string): Promise<T> => {
  const r = await get(path, filter);
  expect(r.status, await r.clone().text()).toBe(200);
  return (await r.json()) as T;
};

beforeAll(async () => {
  dev = await startDevAgent();
  const register = async (body: object): Promise<void> => {
    const r = await dev.app.request('/v1/catalog/register', { method: 'PUT', body: JSON.stringify(body) });
    expect(r.status).toBe(200);
  };
  await register({
    Node: 'web-1',
    Address: '10.0.0.1',
    NodeMeta: { env: 'prod' },
    Service: { ID: 'web-1', Service: 'web', Tags: ['primary'], Port: 8080, Meta: { version: '2' } },
    Checks: [
      { CheckID: 'web-1-http', Name: 'http', ServiceID: 'web-1', Status: 'critical', Output: 'refused' },
    ],
  });
  await register({
    Node: 'web-2',
    Address: '10.0.0.2',
    NodeMeta: { env: 'test' },
    Service: { ID: 'web-2', Service: 'web', Tags: [], Port: 9090, Meta: { version: '1' } },
    Checks: [{ CheckID: 'web-2-http', Name: 'http', ServiceID: 'web-2', Status: 'passing' }],
  });
  await register({
    Node: 'web-2',
    Address: '10.0.0.2',
    NodeMeta: { env: 'test' },
    Service: { ID: 'db-1', Service: 'db', Tags: ['primary'], Port: 5432 },
  });
  const svc = await dev.app.request('/v1/agent/service/register', {
    method: 'PUT',
    body: JSON.stringify({ Name: 'local-api', ID: 'api-1', Port: 7000, Meta: { team: 'a' } }),
  });
  expect(svc.status).toBe(200);
  const svc2 = await dev.app.request('/v1/agent/service/register', {
    method: 'PUT',
    body: JSON.stringify({ Name: 'local-api', ID: 'api-2', Port: 7001, Meta: { team: 'b' } }),
  });
  expect(svc2.status).toBe(200);
});
afterAll(() => dev.stop());

describe('?filter=', () => {
  it('/v1/catalog/nodes and /v1/catalog/service/:s filter their entries', async () => {
    const nodes = await json<{ Node: string }[]>('/v1/catalog/nodes', 'Meta.env == prod');
    expect(nodes.map((n) => n.Node)).toEqual(['web-1']);
    const web = await json<{ ServiceID: string }[]>('/v1/catalog/service/web', 'ServiceMeta.version == "1"');
    expect(web.map((s) => s.ServiceID)).toEqual(['web-2']);
    const tagged = await json<{ ServiceID: string }[]>('/v1/catalog/service/web', '"primary" in ServiceTags');
    expect(tagged.map((s) => s.ServiceID)).toEqual(['web-1']);
  });

  it('/v1/catalog/services lists only the services with an instance the filter keeps', async () => {
    const all = await json<Record<string, string[]>>('/v1/catalog/services');
    expect(Object.keys(all)).toEqual(expect.arrayContaining(['consul', 'db', 'web']));
    expect(await json('/v1/catalog/services', 'ServiceTags contains primary')).toEqual({
      db: ['primary'],
      web: ['primary'],
    });
    expect(await json('/v1/catalog/services', 'NodeMeta.env == test')).toEqual({ db: ['primary'], web: [] });
  });

  it('/v1/health/service/:s over node, service and checks; /v1/health/state filters checks', async () => {
    const crit = await json<{ Service: { ID: string } }[]>(
      '/v1/health/service/web',
      'Checks.Status == critical',
    );
    expect(crit.map((e) => e.Service.ID)).toEqual(['web-1']);
    const at = await json<{ Service: { ID: string } }[]>(
      '/v1/health/service/web',
      'Node.Address == "10.0.0.2"',
    );
    expect(at.map((e) => e.Service.ID)).toEqual(['web-2']);
    const checks = await json<{ CheckID: string }[]>(
      '/v1/health/state/any',
      'ServiceName == web and Status == passing',
    );
    expect(checks.map((c) => c.CheckID)).toEqual(['web-2-http']);
    const byNode = await json<{ CheckID: string }[]>('/v1/health/node/web-1', 'Output contains refused');
    expect(byNode.map((c) => c.CheckID)).toEqual(['web-1-http']);
    const bySvc = await json<{ CheckID: string }[]>('/v1/health/checks/web', 'Node == web-2');
    expect(bySvc.map((c) => c.CheckID)).toEqual(['web-2-http']);
  });

  it('/v1/catalog/node/:n and /v1/catalog/node-services/:n filter the node’s services', async () => {
    const node = await json<{ Services: Record<string, unknown> }>('/v1/catalog/node/web-2', 'Service == db');
    expect(Object.keys(node.Services)).toEqual(['db-1']);
    const list = await json<{ Services: { ID: string }[] }>(
      '/v1/catalog/node-services/web-2',
      'Port == 9090',
    );
    expect(list.Services.map((s) => s.ID)).toEqual(['web-2']);
  });

  it('/v1/agent/services and /v1/agent/checks filter the map’s values', async () => {
    const svcs = await json<Record<string, unknown>>('/v1/agent/services', 'Meta.team == b');
    expect(Object.keys(svcs)).toEqual(['api-2']);
    expect(await json('/v1/agent/checks', 'Status == critical')).toEqual({});
  });

  it('a blocking read with a filter answers with the index; a malformed filter is a 400', async () => {
    const first = await get('/v1/catalog/nodes', 'Meta.env == prod');
    const index = first.headers.get('X-Consul-Index');
    const r = await get(`/v1/catalog/nodes?index=${index}&wait=100ms`, 'Meta.env == prod');
    expect([r.status, r.headers.get('X-Consul-Index')]).toEqual([200, index]);
    for (const path of [
      '/v1/catalog/nodes',
      '/v1/catalog/services',
      '/v1/health/service/web',
      '/v1/agent/services',
    ]) {
      const bad = await get(path, 'Meta.env ==');
      expect(bad.status, path).toBe(400);
      expect(await bad.text()).toMatch(/^Failed to create boolean expression evaluator/);
    }
    // Reads that take no filter ignore it, as Consul's do.
    expect((await get('/v1/status/leader', 'nonsense ((')).status).toBe(200);
  });
});
