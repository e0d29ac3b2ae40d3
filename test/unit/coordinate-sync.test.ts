// The agent's coordinate sending (rate-scaled interval), the leader's batching (batch size, the
// per-period cap, a failed batch), and the WAN pool's ranking of datacenters.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { seededRng } from '../../src/core/rng.js';
import { datacenterRanker, type CoordinatePool } from '../../src/coordinate/pool.js';
import { CoordinateSync, rateScaledInterval } from '../../src/coordinate/sync.js';
import { CoordinateUpdates, validateCoordinateUpdate } from '../../src/coordinate/updates.js';
import { newCoordinate, type Coordinate } from '../../src/coordinate/vivaldi.js';
import type { FsmCommand } from '../../src/state/commands.js';
import type { Member } from '../../src/gossip/types.js';
import { startDevAgent } from '../support/dev-agent.js';

const at = (ms: number): Coordinate => ({ ...newCoordinate(), Vec: [ms / 1000, 0, 0, 0, 0, 0, 0, 0] });

describe('coordinate sync (agent side)', () => {
  it('scales the interval with the cluster: 15 s up to 960 members, then n / 64 per second', () => {
    expect(rateScaledInterval(64, 15_000, 1)).toBe(15_000);
    expect(rateScaledInterval(64, 15_000, 960)).toBe(15_000);
    expect(rateScaledInterval(64, 15_000, 6400)).toBe(100_000);
  });

  it('waits the interval plus a stagger of up to one interval, and sends this node\u2019s coordinate', async () => {
    const calls: { method: string; args: unknown }[] = [];
    let fail = false;
    const sync = new CoordinateSync({
      config: { rateTarget: 64, intervalMinMs: 15_000 },
      node: 'n1',
      coordinate: () => at(3),
      clusterSize: () => 10_000,
      call: async (method, args) => {
        if (fail) throw new Error('No cluster leader');
        calls.push({ method, args });
        return null;
      },
      rng: seededRng(1),
      logger: silentLogger(),
    });
    for (let i = 0; i < 50; i++) {
      const d = sync.nextDelayMs();
      expect(d).toBeGreaterThanOrEqual(156_250);
      expect(d).toBeLessThan(312_500);
    }
    expect(await sync.sendNow()).toBe(true);
    expect(calls).toEqual([
      { method: 'Coordinate.Update', args: { req: { Node: 'n1', Segment: '', Coord: at(3) } } },
    ]);
    fail = true;
    expect(await sync.sendNow()).toBe(false);
    expect([sync.sent, sync.failed]).toEqual([1, 1]);
    sync.stop();
  });
});

describe('coordinate updates (leader side)', () => {
  const entry = (i: number): { Node: string; Segment: string; Coord: Coordinate } => ({
    Node: `n${i}`,
    Segment: '',
    Coord: at(i),
  });

  it('keeps the latest per node, writes batches of batchSize, at most maxBatches per period', async () => {
    const applied: FsmCommand[] = [];
    const u = new CoordinateUpdates({
      config: { periodMs: 1000, batchSize: 3, maxBatches: 2 },
      apply: async (cmd) => (applied.push(cmd), true),
      logger: silentLogger(),
    });
    for (let i = 0; i < 8; i++) u.enqueue(entry(i));
    u.enqueue({ ...entry(0), Node: 'N0', Coord: at(99) }); // same node (names are case-insensitive)
    expect(u.size).toBe(8);
    await u.flush();
    expect(applied.map((c) => (c.type === 'coordinateBatchUpdate' ? c.updates.length : -1))).toEqual([3, 3]);
    const first = applied[0];
    expect(first?.type === 'coordinateBatchUpdate' && first.updates[0]).toEqual({
      ...entry(0),
      Node: 'N0',
      Coord: at(99),
    });
    // The two over the cap were dropped, not kept for later.
    expect(u.size).toBe(0);
    applied.length = 0;
    await u.flush();
    expect(applied).toEqual([]);
  });

  it('stops at a failed batch and forgets what was pending when leadership is lost', async () => {
    let calls = 0;
    const u = new CoordinateUpdates({
      config: { periodMs: 1000, batchSize: 1, maxBatches: 5 },
      apply: async () => {
        calls++;
        return new Error('not the leader');
      },
      logger: silentLogger(),
    });
    u.enqueue(entry(1));
    u.enqueue(entry(2));
    await u.flush();
    expect(calls).toBe(1);
    u.enqueue(entry(3));
    u.stop();
    expect(u.size).toBe(0);
  });

  it('checks an update as Consul does', () => {
    const own = newCoordinate();
    expect(validateCoordinateUpdate({ Node: 'a', Coord: at(1) }, own)).toEqual({
      Node: 'a',
      Segment: '',
      Coord: at(1),
    });
    expect(() => validateCoordinateUpdate({ Node: 'a', Coord: { ...at(1), Vec: [1] } }, own)).toThrow(
      'incompatible coordinate',
    );
    expect(() => validateCoordinateUpdate({ Node: 'a', Coord: { ...at(1), Height: null } }, own)).toThrow(
      'invalid coordinate',
    );
    expect(() => validateCoordinateUpdate({ Coord: at(1) }, own)).toThrow('Must provide node');
    expect(() => validateCoordinateUpdate([], own)).toThrow('Request decode failed');
  });
});

describe('datacenterRanker (for the WAN directory)', () => {
  const member = (name: string, dc: string, role = 'consul'): Member => ({
    name,
    addr: '10.0.0.1',
    port: 8302,
    tags: { role, dc },
    incarnation: 1,
    status: 'alive',
    since: 0,
  });
  it('ranks the datacenters it is given by the median RTT of their servers in the pool', () => {
    const coords: Record<string, Coordinate> = {
      'a.dc1': at(0),
      'a.dc2': at(80),
      'b.dc2': at(81),
      'a.dc3': at(20),
      'b.dc3': at(200),
      'c.dc3': at(21),
    };
    const pool: CoordinatePool = {
      members: () => [
        ...Object.keys(coords).map((n) => member(n, n.split('.')[1] as string)),
        member('x.dc0', 'dc0', 'node'), // not a server: ignored
      ],
      coordinate: () => at(0),
      coordinateOf: (n) => coords[n] ?? null,
    };
    const rank = datacenterRanker(pool, 'dc1');
    expect(rank(['dc2', 'dc3', 'dc1'])).toEqual(['dc1', 'dc3', 'dc2']);
    // A datacenter with no server in the pool comes last; only the ones asked about are ranked.
    expect(rank(['dc9', 'dc2', 'dc1'])).toEqual(['dc1', 'dc2', 'dc9']);
  });
});

describe('an agent sends its own coordinate to the catalog', () => {
  it('reaches /v1/coordinate/node/<self> through the agent\u2019s forwarder and the leader\u2019s batch', async () => {
    const dev = await startDevAgent((c) => {
      c.coordinates.sync.intervalMinMs = 100;
    });
    try {
      const deadline = Date.now() + 10_000;
      let r: Response;
      do {
        await new Promise((res) => setTimeout(res, 50));
        r = await dev.app.request('/v1/coordinate/node/test-node');
      } while (r.status === 404 && Date.now() < deadline);
      expect(r.status).toBe(200);
      const [e] = (await r.json()) as { Node: string; Coord: Coordinate }[];
      expect(e?.Node).toBe('test-node');
      expect(e?.Coord.Vec).toHaveLength(8);
      expect(dev.agent.coordinateSync?.sent).toBeGreaterThan(0);
    } finally {
      await dev.stop();
    }
  });

  it('sends nothing with disable_coordinates', async () => {
    const dev = await startDevAgent((c) => {
      c.coordinates.disabled = true;
      c.coordinates.sync.intervalMinMs = 100;
    });
    try {
      await new Promise((res) => setTimeout(res, 500));
      expect(dev.agent.coordinateSync).toBeNull();
      expect((await dev.app.request('/v1/coordinate/node/test-node')).status).toBe(404);
    } finally {
      await dev.stop();
    }
  });
});
