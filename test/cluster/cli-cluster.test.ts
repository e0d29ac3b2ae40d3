// The CLI against real processes (three servers, two clients): members, kv export on one agent
// and import through another, catalog, and force-leave -prune of a client killed -9, forgotten everywhere.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeValue } from '../../src/client/client.js';
import { main } from '../../src/cli/main.js';
import { captureIo } from '../support/capture-io.js';
import { TestCluster, eventually, type ServerProc } from './harness.js';

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start({ servers: 3, clients: 2, logLevel: 'info' });
  await cluster.waitForLeader();
});
afterAll(() => cluster.stop());

const cli = async (
  a: ServerProc,
  args: string[],
  stdin = '',
): Promise<{ code: number; out: string; err: string }> => {
  const io = captureIo({ CONSUL_HTTP_ADDR: a.http }, Buffer.from(stdin));
  const code = await main(args, io);
  return { code, out: io.stdout, err: io.stderr };
};

describe('the CLI on a cluster', () => {
  it('members lists every agent alive, servers and clients', async () => {
    const client = cluster.clients[0] as ServerProc;
    const rows = await eventually(
      async () => {
        const r = await cli(client, ['members']);
        const lines = r.out.trim().split('\n').slice(1);
        return r.code === 0 && lines.length === 5 && lines.every((l) => /\salive\s/.test(l)) && lines;
      },
      20_000,
      'five alive members',
    );
    expect(rows.filter((l) => /\sserver\s/.test(l))).toHaveLength(3);
    expect(rows.filter((l) => /\sclient\s/.test(l))).toHaveLength(2);
  });

  it('kv export through a client, import through a server: the same entries', async () => {
    const [client] = cluster.clients as [ServerProc];
    const server = cluster.servers[1] as ServerProc;
    for (let i = 0; i < 20; i++) await server.client.kvPut(`cfg/k${i}`, `v${i}`);
    const exp = await cli(client, ['kv', 'export', 'cfg/']);
    expect(exp.code).toBe(0);
    expect(JSON.parse(exp.out)).toHaveLength(20);
    const imp = await cli(server, ['kv', 'import', '-prefix=copy/', '-'], exp.out);
    expect(imp.code).toBe(0);
    expect(imp.out.trim().split('\n')).toHaveLength(20);
    const copy = await client.client.kvList('copy/cfg/');
    expect(copy.map((e) => [e.Key, decodeValue(e.Value).toString()])).toEqual(
      Array.from({ length: 20 }, (_, i) => i)
        .map((i) => [`copy/cfg/k${i}`, `v${i}`])
        .sort((a, b) => (a[0] as string).localeCompare(b[0] as string)),
    );
  });

  it('catalog sees every agent', async () => {
    const [client] = cluster.clients as [ServerProc];
    const dcs = await cli(client, ['catalog', 'datacenters']);
    expect(dcs).toEqual({ code: 0, out: 'dc1\n', err: '' });
    const nodes = await eventually(
      async () => {
        const r = await cli(client, ['catalog', 'nodes']);
        return r.out.trim().split('\n').length === 6 && r.out;
      },
      20_000,
      'five nodes in the catalog',
    );
    expect(nodes).toMatch(/^Node\s+ID\s+Address\s+DC\n/);
  });

  it('force-leave -prune drops a client killed -9 from the member list', async () => {
    const [client, victim] = cluster.clients as [ServerProc, ServerProc];
    await cluster.kill9(victim);
    await eventually(
      async () => (await cli(client, ['members', '-status=failed'])).out.includes(victim.name),
      20_000,
      'the victim failed',
    );
    const r = await cli(client, ['force-leave', '-prune', victim.name]);
    expect(r).toEqual({ code: 0, out: '', err: '' });
    const after = await cli(client, ['members']);
    expect(after.out).not.toContain(victim.name);
    // The prune is gossiped, as Consul's is: every other agent forgets the victim too, long before
    // the 24 h tombstone timeout would.
    for (const other of cluster.servers) {
      await eventually(
        async () => !(await cli(other, ['members'])).out.includes(victim.name),
        10_000,
        `${other.name} forgets ${victim.name}`,
      );
    }
  });
});
