// The edge gateway, prepared-query failover and the nearest-first datacenter order on real
// processes: dc1 (one server, one client agent, a `consulate gateway`) and dc2 (three servers) in
// one WAN pool on 127.0.0.1. A service `web` has one instance per datacenter, each a tiny node:http
// server in this process answering with its datacenter's name, registered with a TTL check through
// an agent of that datacenter; the tests turn those checks critical and passing again and watch
// the gateway, prepared queries and DNS follow.
//
// One file and one cluster for all of it: six processes are what a 2-core CI machine can start
// once, not three times. The tests share state and run in order (vitest runs a file's tests one
// after the other); the destructive one (kill -9 of a dc2 server) comes last. dc1 needs no quorum
// to survive anything, so it has one server; dc2 has three so that losing one keeps its leader.
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distanceMs, type Coordinate } from '../../src/coordinate/vivaldi.js';
import { T, addresses, srvs, udp } from '../support/dns.js';
import { TestCluster, eventually, type GatewayProc, type ServerProc } from './harness.js';

let dc1: TestCluster;
let dc2: TestCluster;
let client: ServerProc;
let gw: GatewayProc;
/** The dc2 server the dc2 instance is registered through (never the one killed). */
let dc2Agent: ServerProc;

interface Instance {
  server: Server;
  host: string;
  port: number;
  addr: string;
}
const web: Record<'dc1' | 'dc2', Instance | null> = { dc1: null, dc2: null };
const extra: Instance[] = [];

/** An HTTP server answering every request with `answer` (its datacenter's name). */
async function instance(host: string, answer: string): Promise<Instance> {
  const server = createServer((req, res) => {
    req.resume();
    res.setHeader('content-type', 'text/plain');
    res.end(answer);
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(0, host, () => res());
  });
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return { server, host, port, addr: `${host}:${port}` };
}

const close = (i: Instance): Promise<void> =>
  new Promise((res) => {
    i.server.closeAllConnections();
    i.server.close(() => res());
  });

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * GET through node:http rather than fetch: the Host form needs a Host header of our choosing,
 * which fetch does not let a caller set. No keep-alive, so every call is a fresh request.
 */
function get(addr: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const [host, port] = addr.split(':') as [string, string];
  return new Promise((res, rej) => {
    const req = request(
      { host, port: Number(port), path, method: 'GET', headers, agent: false, timeout: 15_000 },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () =>
          res({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks).toString() }),
        );
        r.on('error', rej);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${addr}${path}: timed out`)));
    req.on('error', rej);
    req.end();
  });
}

const gwGet = (path: string, headers: Record<string, string> = {}): Promise<Answer> =>
  get(gw.http, path, headers);

/** Registers `service` (id `id`) at `agent` with a TTL check `id-ttl` that starts passing. */
async function register(agent: ServerProc, service: string, id: string, i: Instance): Promise<void> {
  await agent.client.ok('PUT', '/v1/agent/service/register', {
    body: JSON.stringify({
      ID: id,
      Name: service,
      Address: i.host,
      Port: i.port,
      Check: { CheckID: `${id}-ttl`, TTL: '10m', Status: 'passing' },
    }),
  });
}

const setCheck = async (agent: ServerProc, check: string, state: 'pass' | 'fail'): Promise<void> => {
  await agent.client.ok('PUT', `/v1/agent/check/${state}/${check}`);
};

interface DirectoryJson {
  Datacenters: { Datacenter: string; Servers: { HTTP: string }[] }[];
}
interface GatewayStatus {
  Ready: boolean;
  Directory: { Datacenters: { Datacenter: string; Servers: string[] }[] };
  Services: { Service: string; Datacenter: string; Instances: string[] }[];
  Down: string[];
}
const gwStatus = async (): Promise<GatewayStatus> =>
  JSON.parse((await gwGet('/gateway/status')).body) as GatewayStatus;

beforeAll(async () => {
  [dc1, dc2] = await Promise.all([
    TestCluster.start({ servers: 1, clients: 1, datacenter: 'dc1', wan: true, logLevel: 'info' }),
    TestCluster.start({ servers: 3, datacenter: 'dc2', wan: true, logLevel: 'info' }),
  ]);
  await Promise.all([dc1.waitForLeader(40_000), dc2.waitForLeader(40_000)]);
  const s1 = dc1.servers[0] as ServerProc;
  client = dc1.clients[0] as ServerProc;
  dc2Agent = dc2.servers[0] as ServerProc;
  await s1.client.ok('PUT', `/v1/agent/join/127.0.0.1:${dc2Agent.wanPort}`, { query: { wan: '1' } });
  // Every server of both datacenters has the other's servers in its directory (the flood join).
  await eventually(
    async () => {
      for (const [s, other, n] of [
        ...dc1.servers.map((s) => [s, 'dc2', 3] as const),
        ...dc2.servers.map((s) => [s, 'dc1', 1] as const),
      ]) {
        const d = await s.client.json<DirectoryJson>('GET', '/v1/internal/gateway/directory');
        if (d.Datacenters.find((x) => x.Datacenter === other)?.Servers.length !== n) return false;
      }
      return (await client.client.request('GET', '/v1/agent/self')).status === 200;
    },
    40_000,
    'both datacenters in every server’s directory',
  );
  // dc2's instance on another loopback address, so that DNS answers tell the two apart.
  web.dc1 = await instance('127.0.0.1', 'dc1');
  web.dc2 = await instance('127.0.0.2', 'dc2');
  await register(client, 'web', 'web-dc1', web.dc1);
  await register(dc2Agent, 'web', 'web-dc2', web.dc2);
  // The agents sync their services to the catalog a moment later: wait for both to be there.
  for (const dc of ['dc1', 'dc2'])
    await eventually(
      async () =>
        (
          await client.client.json<unknown[]>('GET', '/v1/health/service/web', {
            query: { dc, passing: true },
          })
        ).length === 1,
      15_000,
      `web in ${dc}'s catalog`,
    );
  // A failed upstream is tried last for 3 s instead of 10 s: the restarted server of the last test
  // gets requests again within seconds.
  gw = await dc1.startGateway([client, s1], { down_time: '3s' });
}, 150_000);

afterAll(async () => {
  await Promise.all([dc1?.stop(), dc2?.stop()]);
  await Promise.all([web.dc1, web.dc2, ...extra].map((i) => (i ? close(i) : Promise.resolve())));
});

describe('two datacenters: the gateway, prepared-query failover, nearest-first datacenters', () => {
  it('the dc1 gateway serves ?dc=dc2 from a dc2 server, and plain /v1/* from dc1', async () => {
    const dc2Http = dc2.servers.map((s) => s.http);
    for (let i = 0; i < 6; i++) {
      const r = await gwGet('/v1/catalog/nodes?dc=dc2');
      expect(r.status).toBe(200);
      expect(r.headers['x-consulate-datacenter']).toBe('dc2');
      expect(dc2Http).toContain(r.headers['x-consulate-upstream']);
      const nodes = (JSON.parse(r.body) as { Node: string; Datacenter: string }[]).map((n) => n.Node).sort();
      expect(nodes).toEqual(dc2.servers.map((s) => s.name).sort());
    }
    // A datacenter nobody knows goes to a dc1 server, which answers Consul's error.
    const unknown = await gwGet('/v1/catalog/nodes?dc=dc9');
    expect([unknown.status, unknown.body]).toEqual([500, 'No path to datacenter\n']);
    const local = await gwGet('/v1/catalog/nodes');
    expect([local.status, local.headers['x-consulate-datacenter']]).toEqual([200, 'dc1']);
    const nodes = (JSON.parse(local.body) as { Node: string }[]).map((n) => n.Node).sort();
    expect(nodes).toEqual(dc1.agents.map((a) => a.name).sort());
  });

  it('lists datacenters nearest first, in the order their WAN coordinates give', async () => {
    interface DcMap {
      Datacenter: string;
      AreaID: string;
      Coordinates: { Node: string; Coord: Coordinate }[];
    }
    // The order /v1/coordinate/datacenters implies from `self` (a server, by its bare node name):
    // its own datacenter first, then by the median estimated RTT to each one's servers.
    const expected = (maps: DcMap[], self: string, local: string): string[] | null => {
      const own = maps.find((m) => m.Datacenter === local)?.Coordinates.find((c) => c.Node === self);
      if (!own) return null;
      const median = (m: DcMap): number => {
        const d = m.Coordinates.map((c) => distanceMs(own.Coord, c.Coord)).sort((a, b) => a - b);
        return d.length ? (d[Math.floor((d.length - 1) / 2)] as number) : Infinity;
      };
      const others = maps.filter((m) => m.Datacenter !== local);
      others.sort((a, b) => median(a) - median(b) || (a.Datacenter < b.Datacenter ? -1 : 1));
      return [local, ...others.map((m) => m.Datacenter)];
    };
    const s1 = dc1.servers[0] as ServerProc;
    // A dc1 client agent asks its server (dc1's only one): that server's view is the one to compare.
    for (const [agent, self, local, first] of [
      [dc2.servers[1] as ServerProc, (dc2.servers[1] as ServerProc).name, 'dc2', ['dc2', 'dc1']],
      [client, s1.name, 'dc1', ['dc1', 'dc2']],
    ] as const) {
      await eventually(
        async () => {
          const list = await agent.client.json<string[]>('GET', '/v1/catalog/datacenters');
          const maps = await agent.client.json<DcMap[]>('GET', '/v1/coordinate/datacenters');
          expect(list).toEqual(first);
          expect(maps.map((m) => m.Datacenter).sort()).toEqual([...list].sort());
          expect(maps.every((m) => m.AreaID === 'wan')).toBe(true);
          // Coordinates arrive with the first WAN probes: wait for every server's.
          if (maps.reduce((n, m) => n + m.Coordinates.length, 0) < 4) return false;
          return JSON.stringify(expected(maps, self, local)) === JSON.stringify(list);
        },
        20_000,
        `datacenters at ${agent.name} (${local}) in coordinate order`,
      );
    }
  });

  it('routes /svc/web and Host: web.service.consul to dc1, to dc2 while dc1 is critical, back to dc1', async () => {
    const w1 = web.dc1 as Instance;
    const w2 = web.dc2 as Instance;
    const expectFrom = (r: Answer, dc: 'dc1' | 'dc2', i: Instance): void => {
      expect([
        r.status,
        r.body,
        r.headers['x-consulate-datacenter'],
        r.headers['x-consulate-upstream'],
      ]).toEqual([200, dc, dc, i.addr]);
    };
    expectFrom(await gwGet('/svc/web/'), 'dc1', w1);
    expectFrom(await gwGet('/svc/web/some/path?x=1'), 'dc1', w1);
    expectFrom(await gwGet('/', { host: 'web.service.consul' }), 'dc1', w1);
    expectFrom(await gwGet('/', { host: 'web.service.dc2.consul' }), 'dc2', w2);
    expectFrom(await gwGet('/svc/web.dc2/'), 'dc2', w2);

    await setCheck(client, 'web-dc1-ttl', 'fail');
    // The table follows a blocking query on dc1's health: poll until it has moved.
    await eventually(async () => (await gwGet('/svc/web/')).body === 'dc2', 20_000, 'web from dc2');
    for (let i = 0; i < 4; i++) expectFrom(await gwGet('/svc/web/'), 'dc2', w2);
    expectFrom(await gwGet('/', { host: 'web.service.consul' }), 'dc2', w2);
  });

  it('prepared queries fail over to dc2 while dc1’s instance is critical (HTTP, DNS A and SRV)', async () => {
    const w2 = web.dc2 as Instance;
    const create = async (def: object): Promise<void> => {
      await client.client.ok('POST', '/v1/query', { body: JSON.stringify(def) });
    };
    await create({ Name: 'web-nearest', Service: { Service: 'web', Failover: { NearestN: 1 } } });
    await create({ Name: 'web-listed', Service: { Service: 'web', Failover: { Datacenters: ['dc2'] } } });
    await create({ Name: 'web-here', Service: { Service: 'web' } });
    interface Executed {
      Datacenter: string;
      Failovers: number;
      Nodes: { Node: { Node: string }; Service: { ID: string; Address: string; Port: number } }[];
    }
    const execute = (name: string): Promise<Executed> =>
      client.client.json<Executed>('GET', `/v1/query/${name}/execute`);
    for (const name of ['web-nearest', 'web-listed']) {
      const r = await eventually(
        async () => {
          const e = await execute(name);
          return e.Datacenter === 'dc2' ? e : null;
        },
        15_000,
        `${name} from dc2`,
      );
      expect([r.Failovers, r.Nodes.length]).toEqual([1, 1]);
      expect(r.Nodes[0]?.Service).toMatchObject({ ID: 'web-dc2', Address: '127.0.0.2', Port: w2.port });
      expect(r.Nodes[0]?.Node.Node).toBe(dc2Agent.name);
    }
    // Without a failover policy the same query stays in dc1 and finds nothing.
    const here = await execute('web-here');
    expect([here.Datacenter, here.Failovers, here.Nodes.length]).toEqual(['dc1', 0, 0]);

    for (const name of ['web-nearest', 'web-listed']) {
      expect(addresses(await udp(client.dnsPort, `${name}.query.consul`, T.A))).toEqual(['127.0.0.2']);
      const srv = srvs(await udp(client.dnsPort, `${name}.query.consul`, T.SRV));
      expect(srv.map((s) => s.port)).toEqual([w2.port]);
      expect(srv[0]?.target).toMatch(/\.dc2\.consul$/);
    }
    expect((await udp(client.dnsPort, 'web-here.query.consul', T.A)).header.rcode).toBe(3);

    // A query defined in dc2 (created from dc1 with ?dc=dc2), asked for by its dc over DNS.
    await client.client.ok('POST', '/v1/query', {
      query: { dc: 'dc2' },
      body: JSON.stringify({ Name: 'web-there', Service: { Service: 'web' } }),
    });
    // DNS reads are stale by default (Consul's allow_stale), so the dc2 server that answers may not
    // have applied the new query yet: ask until it has, as a Consul user would see it too.
    const there = await eventually(
      async () => {
        const a = addresses(await udp(client.dnsPort, 'web-there.query.dc2.consul', T.A));
        return a.length > 0 ? a : null;
      },
      10_000,
      'web-there from dc2 over DNS',
    );
    expect(there).toEqual(['127.0.0.2']);
    expect((await udp(client.dnsPort, 'web-there.query.consul', T.A)).header.rcode).toBe(3);
  });

  it('comes back to dc1 when dc1’s instance passes again (gateway and prepared query)', async () => {
    await setCheck(client, 'web-dc1-ttl', 'pass');
    await eventually(async () => (await gwGet('/svc/web/')).body === 'dc1', 20_000, 'web from dc1 again');
    for (let i = 0; i < 4; i++) {
      const r = await gwGet('/', { host: 'web.service.consul' });
      expect([r.status, r.body, r.headers['x-consulate-upstream']]).toEqual([200, 'dc1', web.dc1?.addr]);
    }
    const e = await client.client.json<{ Datacenter: string; Failovers: number }>(
      'GET',
      '/v1/query/web-nearest/execute',
    );
    expect([e.Datacenter, e.Failovers]).toEqual(['dc1', 0]);
  });

  it('nothing healthy anywhere: 503 with a message', async () => {
    await setCheck(client, 'web-dc1-ttl', 'fail');
    await setCheck(dc2Agent, 'web-dc2-ttl', 'fail');
    const r = await eventually(
      async () => {
        const a = await gwGet('/svc/web/');
        return a.status === 503 ? a : null;
      },
      20_000,
      '503 for web',
    );
    expect(r.body).toContain('no healthy instance of service "web" in any datacenter (dc1, dc2)');
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    await setCheck(client, 'web-dc1-ttl', 'pass');
    await setCheck(dc2Agent, 'web-dc2-ttl', 'pass');
    await eventually(async () => (await gwGet('/svc/web/')).body === 'dc1', 20_000, 'web healthy again');
  });

  it('a dead instance still passing in the catalog: retried on another instance, or 502 with a message', async () => {
    const alive = await instance('127.0.0.1', 'api');
    const dead = await instance('127.0.0.1', 'never');
    const lone = await instance('127.0.0.1', 'never');
    extra.push(alive);
    await register(client, 'api', 'api-1', alive);
    await register(client, 'api', 'api-2', dead);
    await register(client, 'gone', 'gone-1', lone);
    await Promise.all([close(dead), close(lone)]);
    // The first request starts the table's watch; wait until it holds both instances, so that
    // the round robin does reach the dead one.
    await gwGet('/svc/api/');
    await eventually(
      async () =>
        (await gwStatus()).Services.find((s) => s.Service === 'api' && s.Datacenter === 'dc1')?.Instances
          .length === 2,
      15_000,
      'both api instances in the gateway’s table',
    );
    for (let i = 0; i < 6; i++) {
      const r = await gwGet('/svc/api/');
      expect([r.status, r.body, r.headers['x-consulate-upstream']]).toEqual([200, 'api', alive.addr]);
    }
    // It was tried (and refused): the gateway marked it down.
    expect((await gwStatus()).Down).toContain(dead.addr);

    // 503 until the agent has synced gone-1 to the catalog and the table has it; then 502.
    const r = await eventually(
      async () => {
        const a = await gwGet('/svc/gone/');
        expect([502, 503]).toContain(a.status);
        return a.status === 502 ? a : null;
      },
      15_000,
      '502 for gone',
    );
    expect(r.body).toMatch(/^bad gateway: /);
    expect(r.body).toContain(`${lone.addr} (dc1)`);

    // dc1's only instance dead, dc2's alive: the retry goes on to the next datacenter.
    const there = await instance('127.0.0.2', 'mixed-dc2');
    const here = await instance('127.0.0.1', 'never');
    extra.push(there);
    await register(dc2Agent, 'mixed', 'mixed-dc2', there);
    await register(client, 'mixed', 'mixed-dc1', here);
    await close(here);
    // As above: the table must hold dc1's dead instance (the agent syncs it to the catalog a
    // moment after registering) before the requests that are to be retried.
    await gwGet('/svc/mixed/');
    await eventually(
      async () =>
        (await gwStatus()).Services.find((x) => x.Service === 'mixed' && x.Datacenter === 'dc1')?.Instances
          .length === 1,
      15_000,
      'dc1’s dead mixed instance in the gateway’s table',
    );
    for (let i = 0; i < 3; i++) {
      const m = await gwGet('/svc/mixed/');
      expect([m.status, m.body, m.headers['x-consulate-datacenter']]).toEqual([200, 'mixed-dc2', 'dc2']);
    }
    expect((await gwStatus()).Down).toContain(here.addr);
  });

  it('kill -9 of a dc2 server: ?dc=dc2 keeps answering through the gateway and a dc1 agent; the gateway drops it, and takes it back once restarted', async () => {
    const leader = await dc2.waitForLeader();
    const victim = dc2.followers(leader).find((s) => s !== dc2Agent) as ServerProc;
    const before = await gwStatus();
    expect(before.Directory.Datacenters.find((d) => d.Datacenter === 'dc2')?.Servers).toContain(victim.http);
    await dc2.kill9(victim);
    // Right away, before the WAN pool notices: a refused connection is tried elsewhere.
    for (let i = 0; i < 15; i++) {
      const r = await gwGet('/v1/catalog/nodes?dc=dc2');
      expect([r.status, r.headers['x-consulate-datacenter']]).toEqual([200, 'dc2']);
      expect(r.headers['x-consulate-upstream']).not.toBe(victim.http);
      const a = await client.client.request('GET', '/v1/catalog/nodes', { query: { dc: 'dc2' } });
      expect(a.status).toBe(200);
    }
    await eventually(
      async () => {
        const servers = (await gwStatus()).Directory.Datacenters.find((d) => d.Datacenter === 'dc2')?.Servers;
        return servers !== undefined && servers.length === 2 && !servers.includes(victim.http);
      },
      30_000,
      'the gateway’s directory without the dead server',
    );
    for (let i = 0; i < 5; i++) {
      const r = await gwGet('/v1/catalog/nodes?dc=dc2');
      expect(r.status).toBe(200);
    }

    // Restarted (same ports and data), it rejoins the WAN pool through its dc's servers (flood
    // join) and the gateway lists it, and sends it requests, again.
    dc2.spawn(victim);
    await eventually(
      async () =>
        (await gwStatus()).Directory.Datacenters.find((d) => d.Datacenter === 'dc2')?.Servers.includes(
          victim.http,
        ),
      30_000,
      'the gateway’s directory with the restarted server',
    );
    await eventually(
      async () => {
        const r = await gwGet('/v1/catalog/nodes?dc=dc2');
        expect(r.status).toBe(200);
        return r.headers['x-consulate-upstream'] === victim.http;
      },
      30_000,
      'a request answered by the restarted server',
    );
  }, 90_000);
});
