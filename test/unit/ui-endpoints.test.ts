// The web UI's reads (/v1/internal/ui/services, /nodes, /node/:node) against an in-process dev
// agent: Consul's summary counts (node-level checks once per node), tags and nodes without repeats,
// external sources, node entries in the shapes /v1/health/node and /v1/catalog/node-services give,
// 404 for an unknown node, blocking on the right changes; and the stale retry without a leader.

import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { createApp, type HttpAgent } from '../../src/http/app.js';
import { validateRegister } from '../../src/state/catalog-validate.js';
import { encodeCommand } from '../../src/state/commands.js';
import { Fsm } from '../../src/state/fsm.js';
import type { ServiceSummary } from '../../src/state/ui-summary.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';

let dev: DevAgent;
let app: Hono;
beforeAll(async () => {
  dev = await startDevAgent();
  app = dev.app;
});
afterAll(() => dev.stop());

const get = (path: string): Promise<Response> => Promise.resolve(app.request(path));
const put = async (path: string, body: unknown): Promise<void> => {
  const r = await app.request(path, { method: 'PUT', body: JSON.stringify(body) });
  expect([path, r.status, await r.text()]).toEqual([path, 200, 'true']);
};
const json = async <T>(r: Response | Promise<Response>): Promise<T> => (await (await r).json()) as T;
const idx = (r: Response): number => Number(r.headers.get('X-Consul-Index'));

type Status = 'passing' | 'warning' | 'critical';
const check = (CheckID: string, Status: Status, ServiceID = ''): object => ({
  CheckID,
  Name: CheckID,
  Status,
  ServiceID,
});
const service = (ID: string, Tags: string[], Meta: Record<string, string> = {}): object => ({
  ID,
  Service: ID.replace(/\d+$/, ''),
  Tags,
  Meta,
  Port: 80,
});

async function seed(): Promise<void> {
  // n1: a warning node-level check, two web instances (one critical, one passing).
  await put('/v1/catalog/register', {
    Node: 'n1',
    Address: '10.0.0.1',
    NodeMeta: { rack: 'a' },
    Service: service('web1', ['v1', 'a'], { 'external-source': 'kubernetes' }),
    Checks: [check('mem', 'warning'), check('web1-http', 'critical', 'web1')],
  });
  await put('/v1/catalog/register', {
    Node: 'n1',
    Address: '10.0.0.1',
    NodeMeta: { rack: 'a' },
    Service: service('web2', ['v2', 'a', 'v2']),
    Checks: [check('web2-http', 'passing', 'web2')],
  });
  // n2: a critical node-level check, one web instance (passing) and a db without tags or checks.
  await put('/v1/catalog/register', {
    Node: 'n2',
    Address: '10.0.0.2',
    Service: service('web3', ['v1'], { 'external-source': 'nomad' }),
    Checks: [check('disk', 'critical'), check('web3-http', 'passing', 'web3')],
  });
  await put('/v1/catalog/register', { Node: 'n2', Address: '10.0.0.2', Service: service('db1', []) });
}

const byName = (list: ServiceSummary[], name: string): ServiceSummary | undefined =>
  list.find((s) => s.Name === name);

describe('/v1/internal/ui/services', () => {
  beforeAll(seed);

  it('summarises each service: tags, nodes, instances, external sources, check counts', async () => {
    const r = await get('/v1/internal/ui/services');
    expect(r.status).toBe(200);
    expect(r.headers.get('Content-Type')).toBe('application/json');
    expect(idx(r)).toBeGreaterThan(1);
    expect(r.headers.get('X-Consul-KnownLeader')).toBe('true');
    expect(r.headers.get('X-Consul-LastContact')).toBe('0');
    const list = (await r.json()) as ServiceSummary[];
    // Sorted by name; the dev agent's own `consul` service is there too.
    expect(list.map((s) => s.Name)).toEqual(['consul', 'db', 'web']);
    expect(byName(list, 'web')).toEqual({
      Kind: '',
      Name: 'web',
      Datacenter: 'dc1',
      Tags: ['a', 'v1', 'v2'],
      Nodes: ['n1', 'n2'],
      ExternalSources: ['kubernetes', 'nomad'],
      InstanceCount: 3,
      // web2 and web3; n1's node check once although n1 runs two instances; web1 and n2's node check.
      ChecksPassing: 2,
      ChecksWarning: 1,
      ChecksCritical: 2,
      GatewayConfig: {},
      TransparentProxy: false,
      ConnectNative: false,
      ConnectedWithProxy: false,
      ConnectedWithGateway: false,
    });
    expect(byName(list, 'db')).toMatchObject({
      Tags: [],
      Nodes: ['n2'],
      ExternalSources: null,
      InstanceCount: 1,
      ChecksPassing: 0,
      ChecksWarning: 0,
      ChecksCritical: 1,
    });
    // The dev agent's node: its serfHealth check (passing) counts for its consul service.
    expect(byName(list, 'consul')).toMatchObject({
      Nodes: ['test-node'],
      InstanceCount: 1,
      ChecksPassing: 1,
    });
  });

  it('blocks until a check changes, then answers with a higher index and the new counts', async () => {
    const first = await get('/v1/internal/ui/services');
    const index = idx(first);
    const quiet = Date.now();
    const unchanged = await get(`/v1/internal/ui/services?index=${index}&wait=200ms`);
    expect(Date.now() - quiet).toBeGreaterThanOrEqual(150);
    expect(idx(unchanged)).toBe(index);

    const blocked = get(`/v1/internal/ui/services?index=${index}&wait=10s`);
    let settled = false;
    void blocked.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    // web1's check goes from critical to passing.
    await put('/v1/catalog/register', {
      Node: 'n1',
      Address: '10.0.0.1',
      NodeMeta: { rack: 'a' },
      SkipNodeUpdate: true,
      Checks: [check('web1-http', 'passing', 'web1')],
    });
    const r = await blocked;
    expect(idx(r)).toBeGreaterThan(index);
    expect(byName(await json<ServiceSummary[]>(r), 'web')).toMatchObject({
      ChecksPassing: 3,
      ChecksWarning: 1,
      ChecksCritical: 1,
    });
  });

  it('refuses ?stale with ?consistent, and a bad index', async () => {
    for (const [q, msg] of [
      ['stale&consistent', 'Cannot specify ?stale with ?consistent, conflicting semantics.'],
      ['index=x', 'Invalid index'],
    ]) {
      const r = await get(`/v1/internal/ui/services?${q}`);
      expect([r.status, await r.text()]).toEqual([400, `${msg}\n`]);
    }
  });

  it('asks another datacenter through the servers (?dc=)', async () => {
    const r = await get('/v1/internal/ui/services?dc=dc2');
    expect([r.status, await r.text()]).toEqual([500, 'No path to datacenter\n']);
  });
});

interface NodeEntry {
  ID: string;
  Node: string;
  Address: string;
  Datacenter: string;
  TaggedAddresses: Record<string, string>;
  Meta: Record<string, string>;
  Services: { ID: string }[];
  Checks: { CheckID: string; Status: string }[];
}

describe('/v1/internal/ui/nodes and /v1/internal/ui/node/:node', () => {
  it('lists every node by name, with the services and checks the public reads give', async () => {
    const r = await get('/v1/internal/ui/nodes');
    expect(r.status).toBe(200);
    const nodes = (await r.json()) as NodeEntry[];
    expect(nodes.map((n) => n.Node)).toEqual(['n1', 'n2', 'test-node']);
    for (const n of nodes) {
      expect(Object.keys(n)).toEqual([
        'ID',
        'Node',
        'Address',
        'Datacenter',
        'TaggedAddresses',
        'Meta',
        'Services',
        'Checks',
      ]);
      expect(n.Checks).toEqual(await json(get(`/v1/health/node/${n.Node}`)));
      const listed = await json<{ Services: unknown[] }>(get(`/v1/catalog/node-services/${n.Node}`));
      expect(n.Services).toEqual(listed.Services);
    }
    const n1 = nodes[0] as NodeEntry;
    expect(n1).toMatchObject({ Node: 'n1', Address: '10.0.0.1', Datacenter: 'dc1', Meta: { rack: 'a' } });
    expect(n1.Services.map((s) => s.ID)).toEqual(['web1', 'web2']);
    expect(n1.Checks.map((c) => c.CheckID)).toEqual(['mem', 'web1-http', 'web2-http']);
  });

  it('gives one node as the list does, case-insensitively', async () => {
    const all = await json<NodeEntry[]>(get('/v1/internal/ui/nodes'));
    const r = await get('/v1/internal/ui/node/N2');
    expect(r.status).toBe(200);
    expect(idx(r)).toBeGreaterThan(1);
    expect(await r.json()).toEqual(all.find((n) => n.Node === 'n2'));
  });

  it('answers an unknown node with 404 "Node not found" and an index', async () => {
    const r = await get('/v1/internal/ui/node/nope');
    expect([r.status, await r.text()]).toEqual([404, 'Node not found\n']);
    expect(idx(r)).toBeGreaterThan(0);
  });

  it('node/:node blocks on its own node only; nodes on any node', async () => {
    const one = await get('/v1/internal/ui/node/n2');
    const all = await get('/v1/internal/ui/nodes');
    const blockedOne = get(`/v1/internal/ui/node/n2?index=${idx(one)}&wait=10s`);
    const blockedAll = get(`/v1/internal/ui/nodes?index=${idx(all)}&wait=10s`);
    let oneSettled = false;
    void blockedOne.then(() => (oneSettled = true));
    // A change on n1 wakes the list but not n2's page.
    await put('/v1/catalog/register', {
      Node: 'n1',
      Address: '10.0.0.1',
      SkipNodeUpdate: true,
      Checks: [check('mem', 'passing')],
    });
    const woke = await blockedAll;
    expect(idx(woke)).toBeGreaterThan(idx(all));
    const n1 = (await json<NodeEntry[]>(woke)).find((n) => n.Node === 'n1');
    expect(n1?.Checks.find((c) => c.CheckID === 'mem')?.Status).toBe('passing');
    await new Promise((r) => setTimeout(r, 100));
    expect(oneSettled).toBe(false);
    await put('/v1/catalog/register', {
      Node: 'n2',
      Address: '10.0.0.2',
      SkipNodeUpdate: true,
      Checks: [check('disk', 'passing')],
    });
    const r = await blockedOne;
    expect(idx(r)).toBeGreaterThan(idx(one));
    expect((await json<NodeEntry>(r)).Checks.find((c) => c.CheckID === 'disk')?.Status).toBe('passing');
  });
});

describe('without a leader', () => {
  interface Call {
    method: string;
    args: { q: { stale: boolean }; node?: string };
  }
  function leaderlessApp(): { app: Hono; calls: Call[] } {
    const calls: Call[] = [];
    const meta = { index: 7, knownLeader: false, lastContact: 1500, consistency: 'stale' };
    const agent = {
      config: { datacenter: 'dc1', nodeName: 'n1' },
      forwarder: {
        call: async (method: string, args: Call['args']) => {
          calls.push({ method, args });
          if (!args.q.stale) throw new ConsulError(ErrorCode.NoLeader, 'No cluster leader');
          return { value: method === 'Internal.UINodeInfo' ? { Node: args.node } : [], meta };
        },
      },
    } as unknown as HttpAgent;
    return { app: createApp({ agent, logger: silentLogger() }), calls };
  }

  it('asks again allowing a stale answer, as Consul does, and says no leader is known', async () => {
    for (const [path, method] of [
      ['/v1/internal/ui/services', 'Internal.UIServices'],
      ['/v1/internal/ui/nodes', 'Internal.UINodes'],
      ['/v1/internal/ui/node/n9', 'Internal.UINodeInfo'],
    ] as const) {
      const { app: a, calls } = leaderlessApp();
      const r = await a.request(path);
      expect([path, r.status]).toEqual([path, 200]);
      expect(r.headers.get('X-Consul-KnownLeader')).toBe('false');
      expect(r.headers.get('X-Consul-LastContact')).toBe('1500');
      expect(calls.map((c) => [c.method, c.args.q.stale])).toEqual([
        [method, false],
        [method, true],
      ]);
    }
  });

  it('does not retry a ?consistent read: the error reaches the client', async () => {
    const { app: a, calls } = leaderlessApp();
    const r = await a.request('/v1/internal/ui/services?consistent');
    expect([r.status, await r.text()]).toEqual([500, 'No cluster leader\n']);
    expect(calls).toHaveLength(1);
  });
});

describe('the summary over a large catalog (state store)', () => {
  it('covers thousands of services in one read, each with its own counts', () => {
    const fsm = new Fsm('dc1');
    let i = 0;
    const apply = (body: object): unknown =>
      fsm.apply(++i, encodeCommand({ type: 'register', req: validateRegister(body) }));
    const NODES = 200;
    const SERVICES = 1500;
    for (let n = 0; n < NODES; n++) {
      apply({ Node: `node-${n}`, Address: `10.1.${n >> 8}.${n & 255}`, Check: check('alive', 'passing') });
    }
    // Service s runs on nodes s % NODES and (s + 1) % NODES; its first instance is critical.
    for (let s = 0; s < SERVICES; s++) {
      for (const k of [0, 1]) {
        const node = `node-${(s + k) % NODES}`;
        const id = `svc-${s}-${k}`;
        apply({
          Node: node,
          SkipNodeUpdate: true,
          Service: { ID: id, Service: `svc-${s}`, Tags: [`t${k}`, 'all'] },
          Check: check(`${id}-c`, k === 0 ? 'critical' : 'passing', id),
        });
      }
    }
    const { index, value } = fsm.store.serviceSummaries();
    expect(index).toBe(i);
    expect(value).toHaveLength(SERVICES);
    const names = value.map((v) => v.Name);
    expect(names).toEqual([...names].sort());
    for (const s of [0, 1234, SERVICES - 1]) {
      expect(value.find((v) => v.Name === `svc-${s}`)).toMatchObject({
        Tags: ['all', 't0', 't1'],
        Nodes: [`node-${s % NODES}`, `node-${(s + 1) % NODES}`].sort(),
        InstanceCount: 2,
        ChecksPassing: 3,
        ChecksCritical: 1,
      });
    }
  });
});
