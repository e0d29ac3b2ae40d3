// consulate rtt [-wan] node1 [node2] against a dev agent, with Consul's output and errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulClient } from '../../src/client/client.js';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/common.js';
import type { CoordinatePool } from '../../src/coordinate/pool.js';
import { newCoordinate, type Coordinate } from '../../src/coordinate/vivaldi.js';
import type { Member } from '../../src/gossip/types.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { captureIo } from '../support/capture-io.js';

let dev: DevAgent;
let io: Io & { stdout: string; stderr: string };
const cli = async (...args: string[]): Promise<number> => {
  io.stdout = '';
  io.stderr = '';
  return main(args, io);
};

/** `ms` milliseconds from the origin along the first axis, with no height. */
const at = (ms: number): Coordinate => ({
  ...newCoordinate(),
  Vec: [ms / 1000, 0, 0, 0, 0, 0, 0, 0],
  Height: 0,
});

beforeAll(async () => {
  dev = await startDevAgent((c) => {
    c.ports.http = 0;
  });
  io = captureIo({ CONSUL_HTTP_ADDR: dev.agent.httpAddr ?? '' });
  const client = new ConsulClient({ address: dev.agent.httpAddr ?? '' });
  for (const node of ['alpha', 'beta', 'nocoord']) {
    await client.json('PUT', '/v1/catalog/register', {
      body: JSON.stringify({ Node: node, Address: '10.0.0.2' }),
    });
  }
  const coords: Record<string, Coordinate> = { alpha: at(1), beta: at(2.5), 'test-node': at(-0.5) };
  for (const [Node, Coord] of Object.entries(coords)) {
    await client.ok('PUT', '/v1/coordinate/update', { body: JSON.stringify({ Node, Segment: '', Coord }) });
  }
  // The leader applies updates in batches (every 100 ms in -dev), so the three may land in different
  // ones: follow the list with blocking reads until all three are there.
  let index = '0';
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    const r = await fetch(`http://${dev.agent.httpAddr}/v1/coordinate/nodes?index=${index}&wait=2s`);
    index = r.headers.get('X-Consul-Index') ?? '0';
    const have = new Set(((await r.json()) as { Node: string }[]).map((e) => e.Node));
    if (Object.keys(coords).every((n) => have.has(n))) break;
  }
});
afterAll(() => dev.stop());

describe('consulate rtt', () => {
  it('estimates the RTT between two nodes from LAN coordinates', async () => {
    expect(await cli('rtt', 'alpha', 'beta')).toBe(0);
    expect(io.stdout).toBe('Estimated alpha <-> beta rtt: 1.500 ms (using LAN coordinates)\n');
    expect(await cli('rtt', 'BETA', 'alpha')).toBe(0);
    expect(io.stdout).toBe('Estimated BETA <-> alpha rtt: 1.500 ms (using LAN coordinates)\n');
  });

  it('uses the agent\u2019s own node when given one node', async () => {
    expect(await cli('rtt', 'beta')).toBe(0);
    expect(io.stdout).toBe('Estimated beta <-> test-node rtt: 3.000 ms (using LAN coordinates)\n');
  });

  it('says which node has no coordinate, and wants one or two nodes', async () => {
    expect(await cli('rtt', 'alpha', 'nocoord')).toBe(1);
    expect(io.stderr).toBe('Could not find a coordinate for node "nocoord"\n');
    expect(await cli('rtt', 'ghost', 'alpha')).toBe(1);
    expect(io.stderr).toBe('Could not find a coordinate for node "ghost"\n');
    expect(await cli('rtt')).toBe(1);
    expect(await cli('rtt', 'a', 'b', 'c')).toBe(1);
    expect(io.stderr).toContain('One or two node names must be specified');
  });

  it('-wan: servers by <node>.<dc>, from /v1/coordinate/datacenters', async () => {
    const member = (name: string, dc: string): Member => ({
      name,
      addr: '10.0.0.1',
      port: 8302,
      tags: { role: 'consul', dc },
      incarnation: 1,
      status: 'alive',
      since: 0,
    });
    const coords: Record<string, Coordinate> = { 'test-node.dc1': at(0), 's1.dc2': at(40.25) };
    const pool: CoordinatePool = {
      members: () => [member('test-node.dc1', 'dc1'), member('s1.dc2', 'dc2')],
      coordinate: () => at(0),
      coordinateOf: (n) => coords[n] ?? null,
    };
    dev.agent.server!.attachWanCoordinates(pool);
    try {
      expect(await cli('rtt', '-wan', 's1.dc2', 'test-node.dc1')).toBe(0);
      expect(io.stdout).toBe('Estimated s1.dc2 <-> test-node.dc1 rtt: 40.250 ms (using WAN coordinates)\n');
      // One node: the other is this agent, as <node>.<dc>.
      expect(await cli('rtt', '-wan', 's1.dc2')).toBe(0);
      expect(io.stdout).toBe('Estimated s1.dc2 <-> test-node.dc1 rtt: 40.250 ms (using WAN coordinates)\n');
      expect(await cli('rtt', '-wan', 's1', 'test-node.dc1')).toBe(1);
      expect(io.stderr).toBe('Node names must be specified as <node name>.<datacenter> with -wan\n');
      expect(await cli('rtt', '-wan', 's9.dc2')).toBe(1);
      expect(io.stderr).toBe('Could not find a coordinate for node "s9.dc2"\n');
    } finally {
      dev.agent.server!.attachWanCoordinates(null);
    }
  });

  it('-wan without a WAN pool: this datacenter\u2019s servers by their LAN coordinates', async () => {
    expect(await cli('rtt', '-wan', 'test-node.dc1')).toBe(0);
    expect(io.stdout).toMatch(
      /^Estimated test-node\.dc1 <-> test-node\.dc1 rtt: \d+\.\d{3} ms \(using WAN coordinates\)\n$/,
    );
  });
});
