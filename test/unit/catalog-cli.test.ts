// consulate catalog datacenters | nodes | services against a dev agent, with Consul's columns.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulClient } from '../../src/client/client.js';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/common.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { captureIo } from '../support/capture-io.js';

let dev: DevAgent;
let io: Io & { stdout: string; stderr: string };
const cli = async (...args: string[]): Promise<number> => {
  io.stdout = '';
  io.stderr = '';
  return main(args, io);
};

beforeAll(async () => {
  dev = await startDevAgent((c) => {
    c.ports.http = 0;
  });
  io = captureIo({ CONSUL_HTTP_ADDR: dev.agent.httpAddr ?? '' });
  const client = new ConsulClient({ address: dev.agent.httpAddr ?? '' });
  const register = (body: Record<string, unknown>): Promise<unknown> =>
    client.json('PUT', '/v1/catalog/register', { body: JSON.stringify(body) });
  await register({
    ID: '1b662d97-8b5c-3cc2-0ac0-96f55ad423b5',
    Node: 'worker-01',
    Address: '10.4.5.31',
    TaggedAddresses: { lan: '10.4.5.31', wan: '198.51.100.1' },
    NodeMeta: { rack: 'r1', env: 'prod' },
    Service: { ID: 'redis1', Service: 'redis', Tags: ['v1', 'primary'], Port: 6379 },
  });
  await register({
    Node: 'worker-01',
    Address: '10.4.5.31',
    SkipNodeUpdate: true,
    Service: { ID: 'web1', Service: 'web', Port: 80 },
  });
  await register({
    ID: 'd407a592-e93c-4d8e-8a6d-aba853d1e067',
    Node: 'worker-02',
    Address: '10.4.4.158',
    NodeMeta: { rack: 'r2' },
    Service: { ID: 'redis2', Service: 'redis', Tags: ['v1', 'replica'], Port: 6379 },
  });
});
afterAll(() => dev.stop());

describe('consulate catalog', () => {
  it('lists datacenters, one a line', async () => {
    expect(await cli('catalog', 'datacenters')).toBe(0);
    expect(io.stdout).toBe('dc1\n');
  });

  it('lists nodes in an aligned table with short IDs: Node  ID  Address  DC', async () => {
    expect(await cli('catalog', 'nodes')).toBe(0);
    const lines = io.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^Node\s+ID\s+Address\s+DC$/);
    expect(lines).toContain('worker-01  1b662d97  10.4.5.31   dc1');
    expect(lines).toContain('worker-02  d407a592  10.4.4.158  dc1');
    expect(lines.some((l) => l.startsWith('test-node '))).toBe(true);
    // Columns line up: every row puts the ID at the same offset as the header.
    const at = lines[0]!.indexOf('ID');
    for (const l of lines.slice(1)) expect(l[at - 1]).toBe(' ');
  });

  it('prints full IDs, tagged addresses and metadata with -detailed', async () => {
    expect(await cli('catalog', 'nodes', '-detailed')).toBe(0);
    const lines = io.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^Node\s+ID\s+Address\s+DC\s+TaggedAddresses\s+Meta$/);
    const w1 = lines.find((l) => l.startsWith('worker-01'));
    expect(w1).toMatch(
      /^worker-01\s+1b662d97-8b5c-3cc2-0ac0-96f55ad423b5\s+10\.4\.5\.31\s+dc1\s+lan=10\.4\.5\.31, wan=198\.51\.100\.1\s+env=prod, rack=r1$/,
    );
  });

  it('filters nodes by -service and -node-meta', async () => {
    expect(await cli('catalog', 'nodes', '-service=redis')).toBe(0);
    let nodes = io.stdout
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s+/)[0]);
    expect(nodes).toEqual(['worker-01', 'worker-02']);
    expect(await cli('catalog', 'nodes', '-service', 'web')).toBe(0);
    nodes = io.stdout
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s+/)[0]);
    expect(nodes).toEqual(['worker-01']);
    expect(await cli('catalog', 'nodes', '-node-meta', 'rack=r2')).toBe(0);
    nodes = io.stdout
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s+/)[0]);
    expect(nodes).toEqual(['worker-02']);
    expect(await cli('catalog', 'nodes', '-service=nothing')).toBe(0);
    expect(io.stdout).toBe('');
    expect(io.stderr).toBe('No nodes match the given query - try expanding your search.\n');
  });

  it('lists services, with -tags and for one -node', async () => {
    expect(await cli('catalog', 'services')).toBe(0);
    expect(io.stdout).toBe('consul\nredis\nweb\n');
    expect(await cli('catalog', 'services', '-tags')).toBe(0);
    expect(io.stdout).toBe('consul\nredis       primary,replica,v1\nweb\n');
    expect(await cli('catalog', 'services', '-node=worker-02', '-tags')).toBe(0);
    expect(io.stdout).toBe('redis      replica,v1\n');
    expect(await cli('catalog', 'services', '-node-meta=rack=r1')).toBe(0);
    expect(io.stdout).toBe('redis\nweb\n');
    expect(await cli('catalog', 'services', '-node=nobody')).toBe(0);
    expect(io.stderr).toBe('No services match the given query - try expanding your search.\n');
  });

  it('refuses unknown subcommands, stray arguments and bad flags with exit 1', async () => {
    expect(await cli('catalog', 'regions')).toBe(1);
    expect(io.stderr.split('\n')[0]).toBe('Unknown catalog subcommand "regions"');
    expect(await cli('catalog', 'nodes', 'extra')).toBe(1);
    expect(io.stderr).toBe('Too many arguments (expected 0, got 1)\n');
    expect(await cli('catalog', 'nodes', '-node-meta', 'novalue')).toBe(1);
    expect(io.stderr).toBe('invalid value "novalue" for -node-meta: expected key=value\n');
    expect(await cli('catalog', 'datacenters', '-http-addr=127.0.0.1:1')).toBe(1);
    expect(io.stderr.trim().split('\n')).toHaveLength(1);
  });
});
