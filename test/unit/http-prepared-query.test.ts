// /v1/query* through app.request() against an in-memory dev server: create, list, read, update,
// delete, execute (health, tags, ?limit, ?near) and explain, blocking list reads, the session
// binding, and the status codes and messages of the errors.
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';

let dev: DevAgent;
let app: Hono;

const req = (method: string, path: string, body?: string | object): Promise<Response> =>
  Promise.resolve(
    app.request(path, {
      method,
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    }),
  );

async function error(r: Promise<Response>): Promise<[number, string]> {
  const res = await r;
  return [res.status, (await res.text()).trim()];
}

async function register(body: object): Promise<void> {
  expect((await req('PUT', '/v1/catalog/register', body)).status).toBe(200);
}

async function create(body: object): Promise<string> {
  const r = await req('POST', '/v1/query', body);
  expect(r.status).toBe(200);
  const { ID } = (await r.json()) as { ID: string };
  expect(ID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  return ID;
}

interface ExecJson {
  Service: string;
  Nodes: { Node: { Node: string }; Service: { ID: string; Tags: string[] }; Checks: { Status: string }[] }[];
  DNS: { TTL: string };
  Datacenter: string;
  Failovers: number;
}

const execute = async (path: string): Promise<ExecJson> => {
  const r = await req('GET', path);
  expect(r.status).toBe(200);
  return (await r.json()) as ExecJson;
};
const names = (e: ExecJson): string[] => e.Nodes.map((n) => n.Node.Node).sort();

beforeAll(async () => {
  dev = await startDevAgent();
  app = dev.app;
  // Sessions need the dev node and its serfHealth check, which the leader's reconcile registers.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await req('GET', '/v1/health/node/test-node');
    const checks = (await r.json()) as { CheckID: string; Status: string }[];
    if (checks.some((c) => c.CheckID === 'serfHealth' && c.Status === 'passing')) break;
    if (Date.now() > deadline) throw new Error('the dev node never got its serfHealth check');
    await new Promise((res) => setTimeout(res, 50));
  }
  for (const [node, status, tags] of [
    ['api-1', 'passing', ['v1', 'blue']],
    ['api-2', 'warning', ['v1']],
    ['api-3', 'critical', ['v1']],
    ['api-4', 'passing', ['v2']],
  ] as const) {
    await register({
      Node: node,
      Address: `10.1.0.${node.slice(-1)}`,
      Service: { ID: 'api', Service: 'api', Port: 80, Tags: tags },
      Check: { CheckID: 'api-check', Name: 'api', Status: status, ServiceID: 'api' },
    });
  }
});

afterAll(async () => {
  await dev.stop();
});

describe('create, list, read, update, delete', () => {
  it('round-trips a definition in Consul’s shape', async () => {
    const id = await create({ Name: 'crud', Service: { Service: 'api', Tags: ['v1'] }, DNS: { TTL: '10s' } });
    const r = await req('GET', `/v1/query/${id}`);
    expect(r.status).toBe(200);
    expect(Number(r.headers.get('X-Consul-Index'))).toBeGreaterThan(0);
    const [q] = (await r.json()) as Record<string, unknown>[];
    expect(q).toMatchObject({
      ID: id,
      Name: 'crud',
      Session: '',
      Token: '',
      Template: { Type: '', Regexp: '', RemoveEmptyTags: false },
      Service: {
        Service: 'api',
        Failover: { NearestN: 0, Datacenters: null },
        OnlyPassing: false,
        Near: '',
        Tags: ['v1'],
        IgnoreCheckIDs: null,
        NodeMeta: null,
        ServiceMeta: null,
      },
      DNS: { TTL: '10s' },
    });
    expect(q?.['CreateIndex']).toBe(q?.['ModifyIndex']);

    const list = (await (await req('GET', '/v1/query')).json()) as { ID: string }[];
    expect(list.map((x) => x.ID)).toContain(id);

    // PUT replaces the whole definition; the ID comes from the URL, whatever the body says.
    const put = await req('PUT', `/v1/query/${id}`, {
      ID: 'ignored',
      Name: 'crud2',
      Service: { Service: 'api' },
    });
    expect(put.status).toBe(200);
    expect(await put.text()).toBe('');
    const [after] = (await (await req('GET', `/v1/query/${id}`)).json()) as Record<string, unknown>[];
    expect(after).toMatchObject({ ID: id, Name: 'crud2', DNS: { TTL: '' } });
    expect(after?.['ModifyIndex']).toBeGreaterThan(after?.['CreateIndex'] as number);

    expect((await req('DELETE', `/v1/query/${id}`)).status).toBe(200);
    expect(await error(req('GET', `/v1/query/${id}`))).toEqual([404, 'Query not found']);
    expect(await error(req('DELETE', `/v1/query/${id}`))).toEqual([
      404,
      `Cannot modify non-existent prepared query: '${id}'`,
    ]);
  });

  it('answers bad definitions with 400 and Consul’s messages', async () => {
    expect(await error(req('POST', '/v1/query', '{nope'))).toEqual([
      400,
      expect.stringMatching(/^Request decode failed: /) as unknown as string,
    ]);
    expect(await error(req('POST', '/v1/query', { Name: 'x' }))).toEqual([
      400,
      'Invalid prepared query: Must provide a Service name to query',
    ]);
    expect(await error(req('POST', '/v1/query', { Service: { Service: 'api' } }))).toEqual([
      400,
      'Invalid prepared query: Must be bound to a session',
    ]);
    expect(
      await error(req('POST', '/v1/query', { Name: 'x', Service: { Service: 'api' }, DNS: { TTL: 'x' } })),
    ).toEqual([400, 'Invalid prepared query: Bad DNS TTL \'x\': time: invalid duration "x"']);
    expect(
      await error(
        req('POST', '/v1/query', { Name: 'x', Service: { Service: 'api', Failover: { NearestN: -2 } } }),
      ),
    ).toEqual([400, "Invalid prepared query: Bad NearestN '-2', must be >= 0"]);
    expect(
      await error(req('POST', '/v1/query', { Name: 'x', Service: { Service: 'api' }, Session: 'nope' })),
    ).toEqual([400, 'invalid session "nope"']);
    const [status] = await error(
      req('POST', '/v1/query', { Name: 'x'.repeat(70_000), Service: { Service: 'api' } }),
    );
    expect(status).toBe(413);
    await create({ Name: 'taken', Service: { Service: 'api' } });
    expect(await error(req('POST', '/v1/query', { Name: 'TAKEN', Service: { Service: 'api' } }))).toEqual([
      400,
      "name 'TAKEN' aliases an existing query name",
    ]);
    expect((await req('PATCH', '/v1/query')).status).toBe(405);
    expect((await req('PUT', '/v1/query/taken/execute')).status).toBe(405);
  });

  it('blocks a list read until a query is created', async () => {
    const r0 = await req('GET', '/v1/query');
    const index = Number(r0.headers.get('X-Consul-Index'));
    let done = false;
    const waiting = req('GET', `/v1/query?index=${index}&wait=5s`).then((r) => ((done = true), r));
    await new Promise((r) => setTimeout(r, 100));
    expect(done).toBe(false);
    const id = await create({ Name: 'blocking', Service: { Service: 'api' } });
    const r = await waiting;
    expect(Number(r.headers.get('X-Consul-Index'))).toBeGreaterThan(index);
    expect(((await r.json()) as { ID: string }[]).map((x) => x.ID)).toContain(id);
  });

  it('deletes a query with the session it is bound to', async () => {
    const s = await req('PUT', '/v1/session/create', {});
    const { ID: session } = (await s.json()) as { ID: string };
    const id = await create({ Session: session, Service: { Service: 'api' } });
    expect((await req('GET', `/v1/query/${id}`)).status).toBe(200);
    expect((await req('PUT', `/v1/session/destroy/${session}`)).status).toBe(200);
    expect((await req('GET', `/v1/query/${id}`)).status).toBe(404);
  });
});

describe('execute and explain', () => {
  it('executes by name or ID: healthy instances, tags with "!", OnlyPassing, in Consul’s shape', async () => {
    const id = await create({
      Name: 'api-v1',
      Service: { Service: 'api', Tags: ['v1'] },
      DNS: { TTL: '3s' },
    });
    const byName = await execute('/v1/query/api-v1/execute');
    expect(names(byName)).toEqual(['api-1', 'api-2']);
    expect(byName).toMatchObject({ Service: 'api', DNS: { TTL: '3s' }, Datacenter: 'dc1', Failovers: 0 });
    expect(byName.Nodes[0]?.Checks.length).toBeGreaterThan(0);
    expect(names(await execute(`/v1/query/${id}/execute`))).toEqual(['api-1', 'api-2']);

    await create({ Name: 'api-not-blue', Service: { Service: 'api', Tags: ['!blue'], OnlyPassing: true } });
    expect(names(await execute('/v1/query/api-not-blue/execute'))).toEqual(['api-4']);
  });

  it('?limit, ?near and the errors of execute', async () => {
    await create({ Name: 'api-all', Service: { Service: 'api' } });
    const r = await req('GET', '/v1/query/api-all/execute?limit=1');
    expect(Number(r.headers.get('X-Consul-Index'))).toBeGreaterThan(0);
    expect(((await r.json()) as ExecJson).Nodes).toHaveLength(1);
    for (let i = 0; i < 5; i++) {
      expect((await execute('/v1/query/api-all/execute?near=api-4')).Nodes[0]?.Node.Node).toBe('api-4');
    }
    expect(await error(req('GET', '/v1/query/nothing/execute'))).toEqual([404, 'Query not found']);
    // Execute does not block, whatever ?index says.
    const started = Date.now();
    expect((await req('GET', '/v1/query/api-all/execute?index=999999&wait=10s')).status).toBe(200);
    expect((await req('GET', '/v1/query/api-all/explain?index=999999&wait=10s')).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await error(req('GET', '/v1/query/api-all/execute?limit=x')))[0]).toBe(400);
    expect((await error(req('GET', '/v1/query/api-all/execute?connect=true')))[0]).toBe(400);
    // No other datacenter is known: a failover has nowhere to go and the answer is empty.
    await create({
      Name: 'gone',
      Service: { Service: 'gone', Failover: { NearestN: 2, Datacenters: ['dc2'] } },
    });
    expect(await execute('/v1/query/gone/execute')).toEqual({
      Service: 'gone',
      Nodes: [],
      DNS: { TTL: '' },
      Datacenter: 'dc1',
      Failovers: 0,
    });
  });

  it('executes and explains a name_prefix_match template for the name asked', async () => {
    const id = await create({
      Name: 'tpl-',
      Template: { Type: 'name_prefix_match' },
      Service: { Service: '${name.suffix}', OnlyPassing: true },
    });
    expect(names(await execute('/v1/query/tpl-api/execute'))).toEqual(['api-1', 'api-4']);
    const ex = (await (await req('GET', '/v1/query/tpl-api/explain')).json()) as {
      Query: { ID: string; Service: { Service: string } };
    };
    expect(ex.Query).toMatchObject({ ID: id, Service: { Service: 'api' } });
    // Stored as written; by ID a template does not resolve.
    const [stored] = (await (await req('GET', `/v1/query/${id}`)).json()) as {
      Service: { Service: string };
    }[];
    expect(stored?.Service.Service).toBe('${name.suffix}');
    expect((await req('GET', `/v1/query/${id}/execute`)).status).toBe(400);
  });

  it('explains which query a name resolves to', async () => {
    const id = await create({ Name: 'explained', Service: { Service: 'api' } });
    const r = await req('GET', '/v1/query/EXPLAINED/explain');
    expect(r.status).toBe(200);
    const body = (await r.json()) as { Query: { ID: string; Name: string } };
    expect(body.Query).toMatchObject({ ID: id, Name: 'explained' });
    expect(await error(req('GET', '/v1/query/none/explain'))).toEqual([404, 'Query not found']);
  });
});
