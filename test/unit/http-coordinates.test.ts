// /v1/coordinate/* and ?near= through app.request() against an in-memory dev server (whose leader
// writes queued coordinate updates every 100 ms, as Consul's dev mode does).
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoordinatePool } from '../../src/coordinate/pool.js';
import { newCoordinate, type Coordinate } from '../../src/coordinate/vivaldi.js';
import type { Member } from '../../src/gossip/types.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';

let dev: DevAgent;
let app: Hono;
beforeAll(async () => {
  // No WAN pool: the LAN fallback of /v1/coordinate/datacenters is tested here, and a fake WAN
  // pool is attached where the WAN answer is.
  dev = await startDevAgent((c) => {
    c.ports.serfWan = -1;
  });
  app = dev.app;
});
afterAll(async () => {
  await dev.stop();
});

const req = (method: string, path: string, body?: object): Promise<Response> =>
  Promise.resolve(
    app.request(path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }),
  );
const json = async <T = unknown>(r: Promise<Response>): Promise<T> => (await (await r).json()) as T;
const idx = (r: Response): number => Number(r.headers.get('X-Consul-Index'));

/** A coordinate `ms` milliseconds along the first axis (seconds on the wire, as Consul's). */
const at = (ms: number): Coordinate => ({ ...newCoordinate(), Vec: [ms / 1000, 0, 0, 0, 0, 0, 0, 0] });

interface Entry {
  Node: string;
  Segment: string;
  Coord: Coordinate;
}

async function register(node: string): Promise<void> {
  const r = await req('PUT', '/v1/catalog/register', {
    Node: node,
    Address: '10.1.0.1',
    Service: { Service: 'web', Port: 80 },
    Check: { CheckID: 'web-check', Name: 'web', ServiceID: 'web', Status: 'passing' },
  });
  expect(r.status).toBe(200);
}

/**
 * PUTs coordinates and follows the list with blocking queries until the leader's batches have written
 * every node in `present` (all of them unless told): updates sent one after another may land in two
 * batches, so one blocking read that wakes at the first is not enough.
 */
async function putCoordinates(
  coords: Record<string, Coordinate>,
  present: string[] = Object.keys(coords),
): Promise<void> {
  const before = await req('GET', '/v1/coordinate/nodes');
  for (const [Node, Coord] of Object.entries(coords)) {
    const r = await req('PUT', '/v1/coordinate/update', { Node, Segment: '', Coord });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('');
  }
  let index = idx(before);
  for (const deadline = Date.now() + 10_000; ;) {
    const r = await req('GET', `/v1/coordinate/nodes?index=${index}&wait=2s`);
    index = idx(r);
    const have = new Set((await json<Entry[]>(Promise.resolve(r))).map((e) => e.Node));
    if (present.every((n) => have.has(n))) break;
    if (Date.now() > deadline) throw new Error(`coordinates of ${present.join(', ')} never listed`);
  }
  expect(index).toBeGreaterThan(idx(before));
}

describe('/v1/coordinate', () => {
  it('takes an update, batches it through Raft and lists it (blocking on the index)', async () => {
    await register('c1');
    await putCoordinates({ c1: at(2) });
    const r = await req('GET', '/v1/coordinate/nodes');
    expect(r.status).toBe(200);
    expect(r.headers.get('X-Consul-KnownLeader')).toBe('true');
    const list = (await r.json()) as Entry[];
    expect(list).toContainEqual({ Node: 'c1', Segment: '', Coord: at(2) });

    const one = await req('GET', '/v1/coordinate/node/c1');
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual([{ Node: 'c1', Segment: '', Coord: at(2) }]);
  });

  it('answers 404 with an index for a node without coordinates', async () => {
    const r = await req('GET', '/v1/coordinate/node/nobody');
    expect(r.status).toBe(404);
    expect(await r.text()).toBe('');
    expect(idx(r)).toBeGreaterThan(0);
  });

  it('refuses invalid and incompatible coordinates, and a missing node', async () => {
    const cases: [object, string][] = [
      [{ Node: 'c1', Coord: { ...at(1), Vec: [0, 0, 0] } }, 'incompatible coordinate'],
      [{ Node: 'c1', Coord: { ...at(1), Vec: ['x'] } }, 'invalid coordinate'],
      [{ Node: 'c1', Coord: { Vec: [0, 0, 0, 0, 0, 0, 0, 0] } }, 'invalid coordinate'],
      [{ Coord: at(1) }, 'Must provide node'],
    ];
    for (const [body, msg] of cases) {
      const r = await req('PUT', '/v1/coordinate/update', body);
      expect(r.status).toBe(400);
      expect(await r.text()).toContain(msg);
    }
    expect((await req('GET', '/v1/coordinate/update')).status).toBe(405);
  });

  it('never stores a coordinate for a node the catalog does not know, and drops it with the node', async () => {
    await register('c2');
    // The ghost's update goes first: once c2's is listed, the batch that held the ghost's was applied.
    await putCoordinates({ ghost: at(4), c2: at(3) }, ['c2']);
    const nodes = (await json<Entry[]>(req('GET', '/v1/coordinate/nodes'))).map((e) => e.Node);
    expect(nodes).toContain('c2');
    expect(nodes).not.toContain('ghost');
    expect((await req('PUT', '/v1/catalog/deregister', { Node: 'c2' })).status).toBe(200);
    expect((await req('GET', '/v1/coordinate/node/c2')).status).toBe(404);
  });

  it('lists the datacenters: the LAN coordinates of this DC\u2019s servers without a WAN pool', async () => {
    const dcs = await json<{ Datacenter: string; AreaID: string; Coordinates: { Node: string }[] }[]>(
      req('GET', '/v1/coordinate/datacenters'),
    );
    expect(dcs).toEqual([
      {
        Datacenter: 'dc1',
        AreaID: 'lan',
        Coordinates: [{ Node: 'test-node', Coord: dev.agent.lan.coordinate() }],
      },
    ]);
  });

  it('lists the WAN pool\u2019s servers by datacenter, node names without the .dc suffix', async () => {
    const member = (name: string, dc: string, status: Member['status'] = 'alive'): Member => ({
      name,
      addr: '10.0.0.1',
      port: 8302,
      tags: { role: 'consul', dc },
      incarnation: 1,
      status,
      since: 0,
    });
    const coords: Record<string, Coordinate> = { 's1.dc1': at(1), 's1.dc2': at(30), 's2.dc2': at(31) };
    const pool: CoordinatePool = {
      members: () => [
        member('s2.dc2', 'dc2'),
        member('s1.dc1', 'dc1'),
        member('s1.dc2', 'dc2'),
        member('s3.dc3', 'dc3'),
        member('gone.dc4', 'dc4', 'left'),
      ],
      coordinate: () => at(1),
      coordinateOf: (n) => coords[n] ?? null,
    };
    dev.agent.server!.attachWanCoordinates(pool);
    try {
      expect(await json(req('GET', '/v1/coordinate/datacenters'))).toEqual([
        { Datacenter: 'dc1', AreaID: 'wan', Coordinates: [{ Node: 's1', Coord: at(1) }] },
        {
          Datacenter: 'dc2',
          AreaID: 'wan',
          Coordinates: [
            { Node: 's1', Coord: at(30) },
            { Node: 's2', Coord: at(31) },
          ],
        },
        // Known but without coordinates yet: listed empty, as in Consul.
        { Datacenter: 'dc3', AreaID: 'wan', Coordinates: [] },
      ]);
    } finally {
      dev.agent.server!.attachWanCoordinates(null);
    }
  });

  it('shows this agent\u2019s coordinate in /v1/agent/self', async () => {
    const self = await json<{ Coord: Coordinate }>(req('GET', '/v1/agent/self'));
    expect(self.Coord).toEqual(dev.agent.lan.coordinate());
  });
});

describe('?near', () => {
  beforeAll(async () => {
    for (const n of ['n-far', 'n-none', 'n-mid', 'n-near']) await register(n);
    await putCoordinates({ 'n-far': at(50), 'n-mid': at(20), 'n-near': at(6), 'test-node': at(5) });
  });

  const order = (names: string[]): string[] => names.filter((n) => n.startsWith('n-') || n === 'test-node');

  it('sorts /v1/catalog/nodes by RTT from the node, nodes without coordinates last', async () => {
    const plain = order((await json<{ Node: string }[]>(req('GET', '/v1/catalog/nodes'))).map((n) => n.Node));
    expect(plain).toEqual(['n-far', 'n-mid', 'n-near', 'n-none', 'test-node']);
    const near = order(
      (await json<{ Node: string }[]>(req('GET', '/v1/catalog/nodes?near=n-far'))).map((n) => n.Node),
    );
    expect(near).toEqual(['n-far', 'n-mid', 'n-near', 'test-node', 'n-none']);
    const agent = order(
      (await json<{ Node: string }[]>(req('GET', '/v1/catalog/nodes?near=_agent'))).map((n) => n.Node),
    );
    expect(agent).toEqual(['test-node', 'n-near', 'n-mid', 'n-far', 'n-none']);
  });

  it('leaves the order alone when the source node has no coordinate', async () => {
    const r = order(
      (await json<{ Node: string }[]>(req('GET', '/v1/catalog/nodes?near=n-none'))).map((n) => n.Node),
    );
    expect(r).toEqual(['n-far', 'n-mid', 'n-near', 'n-none', 'test-node']);
  });

  it('sorts the catalog service, health service, service checks and checks in a state', async () => {
    const want = ['n-near', 'n-mid', 'n-far', 'n-none'];
    const svc = await json<{ Node: string }[]>(req('GET', '/v1/catalog/service/web?near=_agent'));
    expect(order(svc.map((s) => s.Node))).toEqual(want);
    const health = await json<{ Node: { Node: string } }[]>(req('GET', '/v1/health/service/web?near=_agent'));
    expect(order(health.map((e) => e.Node.Node))).toEqual(want);
    const checks = await json<{ Node: string }[]>(req('GET', '/v1/health/checks/web?near=_agent'));
    expect(order(checks.map((h) => h.Node))).toEqual(want);
    const state = await json<{ Node: string; CheckID: string }[]>(
      req('GET', '/v1/health/state/passing?near=_agent'),
    );
    const stateNodes = order(state.filter((h) => h.CheckID === 'web-check').map((h) => h.Node));
    expect(stateNodes).toEqual(want);
    // From the far end, the other way round.
    const far = await json<{ Node: string }[]>(req('GET', '/v1/catalog/service/web?near=n-far'));
    expect(order(far.map((s) => s.Node))).toEqual(['n-far', 'n-mid', 'n-near', 'n-none']);
  });
});
