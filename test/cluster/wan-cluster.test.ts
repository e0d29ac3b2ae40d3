// Two datacenters as real processes on loopback (three servers each, and a client agent in dc1):
// one WAN join between one server of each brings every server of both into the WAN pool (flood
// join); the datacenters and the gateway directory follow, and a server killed with SIGKILL leaves
// the directory's alive servers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { TestCluster, eventually, type ServerProc } from './harness.js';
import { captureIo, type CapturedIo } from '../support/capture-io.js';

interface MemberJson {
  Name: string;
  Addr: string;
  Port: number;
  Status: number;
  Tags: Record<string, string>;
}
interface DirectoryJson {
  Datacenter: string;
  Datacenters: { Datacenter: string; Servers: { Node: string; RPC: string; HTTP: string }[] }[];
}

let dc1: TestCluster;
let dc2: TestCluster;

beforeAll(async () => {
  [dc1, dc2] = await Promise.all([
    TestCluster.start({ servers: 3, clients: 1, datacenter: 'dc1', wan: true }),
    TestCluster.start({ servers: 3, datacenter: 'dc2', wan: true }),
  ]);
  await Promise.all([dc1.waitForLeader(30_000), dc2.waitForLeader(30_000)]);
});

afterAll(async () => {
  await Promise.all([dc1?.stop(), dc2?.stop()]);
});

const wanMembers = (a: ServerProc): Promise<MemberJson[]> =>
  a.client.json<MemberJson[]>('GET', '/v1/agent/members', { query: { wan: '1' } });
const directory = async (a: ServerProc): Promise<{ index: number; body: DirectoryJson }> => {
  const r = await a.client.request('GET', '/v1/internal/gateway/directory');
  if (r.status !== 200) throw new Error(`directory: ${r.status} ${r.body.toString()}`);
  return { index: r.index, body: JSON.parse(r.body.toString()) as DirectoryJson };
};
const rpcOf = (s: ServerProc): string => `127.0.0.1:${s.rpcPort}`;

const cli = (): CapturedIo => captureIo();

describe('two datacenters in one WAN pool', () => {
  it('one WAN join brings every server of both datacenters into the pool (flood join)', async () => {
    const s1 = dc1.servers[0] as ServerProc;
    const t1 = dc2.servers[0] as ServerProc;
    const r = await s1.client.request('PUT', `/v1/agent/join/127.0.0.1:${t1.wanPort}`, {
      query: { wan: '1' },
    });
    expect(r.status).toBe(200);
    const all = [
      ...dc1.servers.map((s) => `${s.name}.dc1`),
      ...dc2.servers.map((s) => `${s.name}.dc2`),
    ].sort();
    for (const s of [...dc1.servers, ...dc2.servers]) {
      await eventually(
        async () => {
          const ms = await wanMembers(s);
          const alive = ms
            .filter((m) => m.Status === 1)
            .map((m) => m.Name)
            .sort();
          return alive.join() === all.join();
        },
        20_000,
        `${s.name} (${s === s1 || dc1.servers.includes(s) ? 'dc1' : 'dc2'}) to see all six servers`,
      );
    }
    // The tags say where each server's RPC and HTTP APIs are.
    const ms = await wanMembers(s1);
    const t = ms.find((m) => m.Name === `${t1.name}.dc2`);
    expect(t?.Tags).toMatchObject({ role: 'consul', dc: 'dc2', port: String(t1.rpcPort), http: t1.http });
    // The client agent is in no WAN pool.
    const client = dc1.clients[0] as ServerProc;
    expect(await wanMembers(client)).toEqual([]);
    // consulate members -wan
    const io = cli();
    expect(await main(['members', '-wan', `-http-addr=${s1.http}`], io)).toBe(0);
    expect(io.stdout.trim().split('\n')).toHaveLength(7);
    expect(io.stdout).toMatch(
      new RegExp(`${t1.name}\\.dc2\\s+127\\.0\\.0\\.1:${t1.wanPort}\\s+alive\\s+server`),
    );
  });

  it('lists both datacenters, local first, on every server and through the client agent', async () => {
    for (const s of dc1.servers)
      expect(await s.client.json('GET', '/v1/catalog/datacenters')).toEqual(['dc1', 'dc2']);
    for (const s of dc2.servers)
      expect(await s.client.json('GET', '/v1/catalog/datacenters')).toEqual(['dc2', 'dc1']);
    const client = dc1.clients[0] as ServerProc;
    expect(await client.client.json('GET', '/v1/catalog/datacenters')).toEqual(['dc1', 'dc2']);
    const io = cli();
    expect(await main(['catalog', 'datacenters', `-http-addr=${client.http}`], io)).toBe(0);
    expect(io.stdout).toBe('dc1\ndc2\n');
  });

  it('serves the directory with every server’s HTTP address; a killed dc2 server leaves it', async () => {
    const s1 = dc1.servers[0] as ServerProc;
    const entry = (s: ServerProc) => ({ Node: s.name, RPC: rpcOf(s), HTTP: s.http });
    const byName = (a: { Node: string }, b: { Node: string }) => (a.Node < b.Node ? -1 : 1);
    const want: DirectoryJson = {
      Datacenter: 'dc1',
      Datacenters: [
        { Datacenter: 'dc1', Servers: dc1.servers.map(entry).sort(byName) },
        { Datacenter: 'dc2', Servers: dc2.servers.map(entry).sort(byName) },
      ],
    };
    const { index, body } = await directory(s1);
    expect(body).toEqual(want);
    expect(index).toBeGreaterThan(0);
    // Through the client agent (its server answers), and from dc2's side (dc2 first).
    const viaClient = await (dc1.clients[0] as ServerProc).client.json<DirectoryJson>(
      'GET',
      '/v1/internal/gateway/directory',
    );
    expect(viaClient.Datacenters.map((d) => d.Datacenter)).toEqual(['dc1', 'dc2']);
    expect((await directory(dc2.servers[1] as ServerProc)).body.Datacenters.map((d) => d.Datacenter)).toEqual(
      ['dc2', 'dc1'],
    );

    // A blocking read of the directory, then kill -9 of one dc2 server: the read returns with a
    // newer index, and the server soon drops out of dc2's alive servers, everywhere.
    const blocked = s1.client.request('GET', '/v1/internal/gateway/directory', {
      query: { index: String(index), wait: '30s' },
      signal: AbortSignal.timeout(40_000),
    });
    const victim = dc2.servers[2] as ServerProc;
    const t0 = Date.now();
    await dc2.kill9(victim);
    const b = await blocked;
    expect(b.index).toBeGreaterThan(index);
    expect(Date.now() - t0).toBeLessThan(30_000);
    for (const s of [...dc1.servers, ...dc2.servers.filter((x) => x.proc)]) {
      await eventually(
        async () => {
          const d = (await directory(s)).body;
          const dc2Servers = d.Datacenters.find((x) => x.Datacenter === 'dc2')?.Servers ?? [];
          return dc2Servers.length === 2 && !dc2Servers.some((x) => x.Node === victim.name);
        },
        20_000,
        `${s.name} to drop ${victim.name}.dc2 from the directory`,
      );
    }
    // dc2 is still a datacenter, with its two other servers.
    expect(await s1.client.json('GET', '/v1/catalog/datacenters')).toEqual(['dc1', 'dc2']);
  });
});
