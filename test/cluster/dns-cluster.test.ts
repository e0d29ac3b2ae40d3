// DNS on real processes: a server and a client agent, each answering on its own port. The client
// has no state of its own: its cache reads the servers over RPC with blocking queries, so a check
// turning critical on the client's own service reaches its DNS answers without any polling.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { T, addresses, srvs, tcp, udp } from '../support/dns.js';
import { TestCluster, eventually, type ServerProc } from './harness.js';

let cluster: TestCluster;
let server: ServerProc;
let client: ServerProc;

beforeAll(async () => {
  cluster = await TestCluster.start({ servers: 1, clients: 1, logLevel: 'info' });
  server = await cluster.waitForLeader(30_000);
  client = cluster.clients[0] as ServerProc;
  await eventually(
    async () => (await client.client.request('GET', '/v1/agent/self')).status === 200,
    40_000,
    'the client answering',
  );
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
});

const put = (a: ServerProc, path: string, body: unknown): Promise<unknown> =>
  a.client.ok('PUT', path, { body: JSON.stringify(body) });

describe('DNS on a client agent and a server', () => {
  it('answers for a service registered on the client, from both agents', async () => {
    await put(client, '/v1/agent/service/register', {
      Name: 'api',
      Port: 7070,
      Address: '127.0.0.9',
      Check: { CheckID: 'api-ttl', TTL: '60s', Status: 'passing' },
    });
    for (const a of [client, server]) {
      await eventually(
        async () => addresses(await udp(a.dnsPort, 'api.service.consul', T.A)).join() === '127.0.0.9',
        15_000,
        `api in ${a.name}'s DNS`,
      );
    }
    const s = srvs(await tcp(client.dnsPort, 'api.service.dc1.consul', T.SRV));
    expect(s).toMatchObject([{ port: 7070, target: '7f000009.addr.dc1.consul' }]);
    const n = await udp(client.dnsPort, `${client.name}.node.consul`, T.A);
    expect(addresses(n)).toEqual(['127.0.0.1']);
  });

  it('drops the instance when its check fails and brings it back when it passes', async () => {
    const ask = async (): Promise<number> =>
      (await udp(client.dnsPort, 'api.service.consul', T.A)).header.rcode;
    await put(client, '/v1/agent/check/fail/api-ttl', {});
    await eventually(async () => (await ask()) === 3, 15_000, 'api gone from DNS');
    await put(client, '/v1/agent/check/pass/api-ttl', {});
    await eventually(async () => (await ask()) === 0, 15_000, 'api back in DNS');
  });

  it('NXDOMAIN for a datacenter nobody knows (as Consul), REFUSED outside the domain', async () => {
    expect((await udp(client.dnsPort, 'api.service.dc2.consul', T.A)).header.rcode).toBe(3);
    expect((await udp(client.dnsPort, 'example.com', T.A)).header.rcode).toBe(5);
  });
});
