// Cross-datacenter forwarding on real processes: two datacenters of three servers each (and a
// client agent in dc1) in one WAN pool. ?dc=dc2 from the dc1 client agent, for reads (blocking
// ones too), writes and the CLI's -datacenter; DNS web.service.dc2.consul at the dc1 client; an
// unknown dc; kill -9 of one dc2 server and of dc2's leader, and answers again after re-election.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { T, addresses, udp } from '../support/dns.js';
import { TestCluster, eventually, type ClusterOptions, type ServerProc } from './harness.js';
import { captureIo, type CapturedIo } from '../support/capture-io.js';

let dc1: TestCluster;
let dc2: TestCluster;
let client: ServerProc;

// The WAN options of the harness (datacenter, wan, wanPort) arrive with the WAN pool; typed loosely
// here so this file compiles on its own branch too.
const options = (dc: string, clients: number): ClusterOptions => {
  const o = { servers: 3, clients, datacenter: dc, wan: true };
  return o;
};
const wanPort = (s: ServerProc): number => (s as unknown as { wanPort: number }).wanPort;

beforeAll(async () => {
  [dc1, dc2] = await Promise.all([
    TestCluster.start(options('dc1', 1)),
    TestCluster.start(options('dc2', 0)),
  ]);
  await Promise.all([dc1.waitForLeader(30_000), dc2.waitForLeader(30_000)]);
  const s1 = dc1.servers[0] as ServerProc;
  const t1 = dc2.servers[0] as ServerProc;
  await s1.client.ok('PUT', `/v1/agent/join/127.0.0.1:${wanPort(t1)}`, { query: { wan: '1' } });
  client = dc1.clients[0] as ServerProc;
  // Every dc1 server sees all three dc2 servers alive: whichever one the client asks can forward.
  await eventually(
    async () => {
      for (const s of dc1.servers) {
        const r = await s.client.json<{ Datacenters: { Datacenter: string; Servers: unknown[] }[] }>(
          'GET',
          '/v1/internal/gateway/directory',
        );
        if (r.Datacenters.find((d) => d.Datacenter === 'dc2')?.Servers.length !== 3) return false;
      }
      return (await client.client.request('GET', '/v1/agent/self')).status === 200;
    },
    30_000,
    'dc1 to see every dc2 server',
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([dc1?.stop(), dc2?.stop()]);
});

const kvValue = async (a: ServerProc, key: string, dc?: string): Promise<string | null> => {
  const r = await a.client.request('GET', `/v1/kv/${key}`, { query: { dc } });
  if (r.status === 404) return null;
  if (r.status !== 200) throw new Error(`${r.status} ${r.body.toString()}`);
  const [e] = JSON.parse(r.body.toString()) as { Value: string | null }[];
  return Buffer.from(e?.Value ?? '', 'base64').toString();
};

const cli = (): CapturedIo => captureIo();

describe('?dc= across two datacenters', () => {
  it('writes and reads dc2 from a dc1 client agent; dc1 stays untouched', async () => {
    const w = await client.client.request('PUT', '/v1/kv/where', { query: { dc: 'dc2' }, body: 'dc2 value' });
    expect([w.status, w.body.toString()]).toEqual([200, 'true']);
    expect(await kvValue(client, 'where', 'dc2')).toBe('dc2 value');
    expect(await kvValue(dc2.servers[1] as ServerProc, 'where')).toBe('dc2 value');
    expect(await kvValue(client, 'where')).toBeNull();
    expect(await kvValue(client, 'where', 'dc1')).toBeNull();
    // Served in dc2: its index, and a known leader there.
    const r = await client.client.request('GET', '/v1/kv/where', { query: { dc: 'dc2' } });
    expect(r.knownLeader).toBe(true);
  });

  it('passes a blocking query through: it returns when dc2 changes', async () => {
    const first = await client.client.request('GET', '/v1/kv/watched', { query: { dc: 'dc2' } });
    const t0 = Date.now();
    const blocked = client.client.request('GET', '/v1/kv/watched', {
      query: { dc: 'dc2', index: first.index, wait: '20s' },
    });
    await new Promise((r) => setTimeout(r, 300));
    await (dc2.servers[2] as ServerProc).client.ok('PUT', '/v1/kv/watched', { body: 'changed' });
    const r = await blocked;
    expect(r.status).toBe(200);
    expect(r.index).toBeGreaterThan(first.index);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('takes -datacenter on the CLI', async () => {
    const io = cli();
    expect(await main(['kv', 'get', '-datacenter=dc2', `-http-addr=${client.http}`, 'where'], io)).toBe(0);
    expect(io.stdout).toBe('dc2 value\n');
  });

  it('answers DNS web.service.dc2.consul at the dc1 client', async () => {
    await (dc2.servers[0] as ServerProc).client.ok('PUT', '/v1/catalog/register', {
      body: JSON.stringify({ Node: 'web-node', Address: '10.2.0.7', Service: { Service: 'web', Port: 80 } }),
    });
    await eventually(
      async () => addresses(await udp(client.dnsPort, 'web.service.dc2.consul', T.A)).join() === '10.2.0.7',
      15_000,
      'web.service.dc2.consul',
    );
    expect((await udp(client.dnsPort, 'web.service.consul', T.A)).header.rcode).toBe(3);
  });

  it('fires a user event in dc2 from the dc1 client: dc2’s agents get it, dc1’s do not', async () => {
    const io = cli();
    const code = await main(
      ['event', '-datacenter=dc2', `-http-addr=${client.http}`, '-name=deploy', 'v2'],
      io,
    );
    expect([code, io.stderr]).toEqual([0, '']);
    const names = async (a: ServerProc): Promise<string[]> =>
      (await a.client.json<{ Name: string }[]>('GET', '/v1/event/list')).map((e) => e.Name);
    for (const s of dc2.servers)
      await eventually(async () => (await names(s)).includes('deploy'), 10_000, `the event at ${s.name}`);
    for (const a of [client, ...dc1.servers]) expect(await names(a)).not.toContain('deploy');
  });

  it('an unknown datacenter: 500 "No path to datacenter" over HTTP, NXDOMAIN over DNS', async () => {
    const r = await client.client.request('GET', '/v1/kv/where', { query: { dc: 'dc9' } });
    expect([r.status, r.body.toString()]).toEqual([500, 'No path to datacenter\n']);
    const d = await udp(client.dnsPort, 'web.service.dc9.consul', T.A);
    expect([d.header.rcode, d.authorities[0]?.type]).toEqual([3, T.SOA]);
  });

  it('routes around a dc2 server killed with SIGKILL, and answers again after dc2 re-elects', async () => {
    const leader = await dc2.waitForLeader();
    const follower = dc2.followers(leader)[0] as ServerProc;
    await dc2.kill9(follower);
    // Right away, before gossip notices: every request answers (the dead server is tried at most once).
    for (let i = 0; i < 15; i++) expect(await kvValue(client, 'where', 'dc2')).toBe('dc2 value');
    for (let i = 0; i < 5; i++) {
      const w = await client.client.request('PUT', `/v1/kv/w${i}`, { query: { dc: 'dc2' }, body: 'x' });
      expect([w.status, w.body.toString()]).toEqual([200, 'true']);
    }
    dc2.spawn(follower);
    await dc2.waitForLeader(30_000);

    // Now dc2's leader: the two left elect a new one, and cross-DC requests are answered again.
    const old = await dc2.waitForLeader();
    await dc2.kill9(old);
    await eventually(
      async () => (await kvValue(client, 'where', 'dc2')) === 'dc2 value',
      30_000,
      'dc2 again',
    );
    const next = await dc2.waitForLeader(30_000);
    expect(next).not.toBe(old);
    const w = await client.client.request('PUT', '/v1/kv/after', { query: { dc: 'dc2' }, body: 'x' });
    expect([w.status, w.body.toString()]).toEqual([200, 'true']);
    expect(await kvValue(next, 'after')).toBe('x');
  }, 90_000);
});
