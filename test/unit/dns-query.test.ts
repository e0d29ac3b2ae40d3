// DNS <name>.query[.<dc>].<domain>: the handler with a fake executor (name and datacenter passed on,
// TTLs, targets in the answering datacenter, Execute's order kept, never cached, NXDOMAIN and
// SERVFAIL), then a running dev agent over UDP with queries made through the HTTP API.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';
import type { QueryResultData } from '../../src/dns/answers.js';
import { RCODE } from '../../src/dns/wire.js';
import { instance } from '../support/dns-fixtures.js';
import { T, addresses, buildQuery, decode, srvs, udp } from '../support/dns.js';
import { testHandler, type TestHandler } from '../support/dns-handler.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';

let h: TestHandler | null = null;
afterEach(() => {
  h?.stop();
  h = null;
});

async function ask(t: TestHandler, name: string, type: number = T.A): Promise<ReturnType<typeof decode>> {
  const r = await t.handler.handle(buildQuery(name, type), false);
  if (r === null) throw new Error('no reply');
  return decode(r);
}

const result = (over: Partial<QueryResultData> = {}): QueryResultData => ({
  Service: 'web',
  Nodes: [instance('n1', '10.0.0.1'), instance('n2', '10.0.0.2'), instance('n3', '10.0.0.3')],
  DNS: { TTL: '' },
  Datacenter: 'dc1',
  ...over,
});

describe('query names in the handler', () => {
  it('executes the query named, in the datacenter named, on every question (no cache)', async () => {
    const calls: [string, string][] = [];
    const t = (h = testHandler({
      executeQuery: (name, dc) => {
        calls.push([name, dc]);
        return Promise.resolve(result());
      },
    }));
    expect(addresses(await ask(t, 'Geo.Query.Consul'))).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    await ask(t, 'geo.query.dc2.consul');
    await ask(t, 'geo.query.consul');
    expect(calls).toEqual([
      ['geo', 'dc1'],
      ['geo', 'dc2'],
      ['geo', 'dc1'],
    ]);
    // Not served from the front cache: the question takes the slow path each time.
    expect(t.handler.handle(buildQuery('geo.query.consul', T.A), false)).toBeInstanceOf(Promise);
  });

  it('keeps Execute’s order (it is shuffled or sorted by RTT there)', async () => {
    const rows = result().Nodes;
    let n = 0;
    const t = (h = testHandler({
      executeQuery: () => {
        n++;
        return Promise.resolve(result({ Nodes: n % 2 ? [...rows].reverse() : rows }));
      },
    }));
    for (let i = 0; i < 6; i++) {
      const r = await ask(t, 'geo.query.consul');
      const got = r.answers.map((a) => (a as unknown as { address: string }).address);
      const want = ['10.0.0.1', '10.0.0.2', '10.0.0.3'];
      expect(got).toEqual(i % 2 === 0 ? [...want].reverse() : want);
    }
  });

  it('TTL: the query’s DNS.TTL, else service_ttl for its service', async () => {
    let ttl = '7s';
    const t = (h = testHandler({
      executeQuery: () => Promise.resolve(result({ DNS: { TTL: ttl } })),
      answers: {
        nodeTtl: 0,
        serviceTtl: (s) => (s === 'web' ? 30 : 0),
        onlyPassing: false,
        serial: () => 1,
        soa: { refresh: 3600, retry: 600, expire: 86400, minTtl: 0 },
      },
    }));
    expect((await ask(t, 'geo.query.consul')).answers.every((a) => a.ttl === 7)).toBe(true);
    ttl = '';
    expect((await ask(t, 'geo.query.consul')).answers.every((a) => a.ttl === 30)).toBe(true);
  });

  it('SRV targets name the datacenter that answered (after a failover)', async () => {
    const t = (h = testHandler({
      executeQuery: () =>
        Promise.resolve(result({ Datacenter: 'dc2', Nodes: [instance('far', '10.2.0.1', { port: 9000 })] })),
    }));
    const r = await ask(t, 'geo.query.consul', T.SRV);
    expect(srvs(r).map((s) => [s.target, s.port])).toEqual([['far.node.dc2.consul', 9000]]);
    expect(addresses({ ...r, answers: r.additionals } as typeof r)).toEqual(['10.2.0.1']);
  });

  it('NXDOMAIN for an unknown query or one without instances; SERVFAIL when execution fails', async () => {
    let answer: () => Promise<QueryResultData | null> = () => Promise.resolve(null);
    const t = (h = testHandler({ executeQuery: () => answer() }));
    let r = await ask(t, 'nope.query.consul');
    expect(r.header.rcode).toBe(RCODE.NXDOMAIN);
    expect(r.authorities.map((a) => a.type)).toEqual([T.SOA]);
    answer = () => Promise.resolve(result({ Nodes: [] }));
    expect((await ask(t, 'geo.query.consul')).header.rcode).toBe(RCODE.NXDOMAIN);
    answer = () => Promise.reject(new ConsulError(ErrorCode.NoDCPath, 'No path to datacenter'));
    expect((await ask(t, 'geo.query.dc9.consul')).header.rcode).toBe(RCODE.SERVFAIL);
    // A known query with instances but a type it has no records of: NOERROR and the SOA.
    answer = () => Promise.resolve(result());
    r = await ask(t, 'geo.query.consul', T.TXT);
    expect([r.header.rcode, r.answers.length]).toEqual([RCODE.NOERROR, 0]);
  });
});

describe('query names on a running agent', () => {
  let dev: DevAgent;
  let port = 0;

  const http = async (method: string, path: string, body?: object): Promise<Response> =>
    dev.app.request(path, { method, ...(body ? { body: JSON.stringify(body) } : {}) });

  beforeAll(async () => {
    dev = await startDevAgent((c) => {
      c.ports.dns = 0;
      c.dns.serviceTtlMs = { '*': 15_000 };
    });
    port = Number(dev.agent.dnsAddr?.split(':').at(-1));
    for (const [node, status] of [
      ['db-1', 'passing'],
      ['db-2', 'critical'],
      ['db-3', 'warning'],
    ] as const) {
      const r = await http('PUT', '/v1/catalog/register', {
        Node: node,
        Address: `10.5.0.${node.slice(-1)}`,
        Service: { ID: 'db', Service: 'db', Port: 5432 },
        Check: { CheckID: 'db', Name: 'db', Status: status, ServiceID: 'db' },
      });
      expect(r.status).toBe(200);
    }
  });

  afterAll(async () => {
    await dev.stop();
  });

  it('answers <name>.query.consul and <id>.query.consul from the query, and follows its changes', async () => {
    const r = await http('POST', '/v1/query', {
      Name: 'db-q',
      Service: { Service: 'db' },
      DNS: { TTL: '4s' },
    });
    const { ID } = (await r.json()) as { ID: string };
    const a = await udp(port, 'db-q.query.consul', T.A);
    expect(addresses(a)).toEqual(['10.5.0.1', '10.5.0.3']);
    expect(a.answers.every((x) => x.ttl === 4)).toBe(true);
    expect(addresses(await udp(port, `${ID}.query.dc1.consul`, T.A))).toEqual(['10.5.0.1', '10.5.0.3']);
    const srv = await udp(port, 'db-q.query.consul', T.SRV);
    expect(
      srvs(srv)
        .map((s) => s.target)
        .sort(),
    ).toEqual(['db-1.node.dc1.consul', 'db-3.node.dc1.consul']);

    // A changed definition is seen at once: OnlyPassing, and the service TTL without DNS.TTL.
    expect(
      (await http('PUT', `/v1/query/${ID}`, { Name: 'db-q', Service: { Service: 'db', OnlyPassing: true } }))
        .status,
    ).toBe(200);
    const b = await udp(port, 'db-q.query.consul', T.A);
    expect(addresses(b)).toEqual(['10.5.0.1']);
    expect(b.answers.every((x) => x.ttl === 15)).toBe(true);

    expect((await udp(port, 'nothing.query.consul', T.A)).header.rcode).toBe(RCODE.NXDOMAIN);
    // A template answers every name under its prefix.
    const t = await http('POST', '/v1/query', {
      Name: 'any-',
      Template: { Type: 'name_prefix_match' },
      Service: { Service: '${name.suffix}' },
    });
    expect(t.status).toBe(200);
    expect(addresses(await udp(port, 'any-db.query.consul', T.A))).toEqual(['10.5.0.1', '10.5.0.3']);
    expect((await udp(port, 'any-nothing.query.consul', T.A)).header.rcode).toBe(RCODE.NXDOMAIN);
    expect((await udp(port, 'db-q.query.dc2.consul', T.A)).header.rcode).toBe(RCODE.SERVFAIL);
    expect((await http('DELETE', `/v1/query/${ID}`)).status).toBe(200);
    expect((await udp(port, 'db-q.query.consul', T.A)).header.rcode).toBe(RCODE.NXDOMAIN);
  });
});
