// The DNS interface of a running agent (an in-memory dev server with DNS on a free port), through
// real UDP and TCP: every name form and record type, health changes reaching answers through the
// cache's blocking queries, truncation and TCP, TTLs, recursors, errors, and configuration.

import * as dgram from 'node:dgram';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import DNS, { Packet } from 'dns2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/config.js';
import { freePort } from '../cluster/harness.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { T, addresses, buildQuery, decode, srvs, tcp, udp, udpMaybe, udpRaw } from '../support/dns.js';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/consulate.js');

let dev: DevAgent;
let port = 0;

beforeAll(async () => {
  dev = await startDevAgent((c) => {
    c.ports.dns = 0;
    c.dns.nodeTtlMs = 7000;
    c.dns.serviceTtlMs = { '*': 15_000, db: 30_000 };
    c.dns.altDomain = 'alt.test';
  });
  port = Number(dev.agent.dnsAddr?.split(':').at(-1));
  await register({
    Node: 'web-1',
    Address: '10.0.0.1',
    NodeMeta: { rack: 'r1', 'rfc1035-note': 'hello' },
    Service: { ID: 'web', Service: 'web', Port: 8080, Tags: ['v1'], Weights: { Passing: 7, Warning: 1 } },
    Check: { CheckID: 'web-ok', Name: 'ok', Status: 'passing', ServiceID: 'web' },
  });
  await register({
    Node: 'web-2',
    Address: '10.0.0.2',
    Service: { ID: 'web', Service: 'web', Port: 9090, Address: '10.9.9.9', Tags: ['v2'] },
  });
  await register({ Node: 'db-1', Address: '2001:db8::5', Service: { ID: 'db', Service: 'db', Port: 5432 } });
});

afterAll(async () => {
  await dev.stop();
});

async function register(body: object): Promise<void> {
  const r = await dev.app.request('/v1/catalog/register', { method: 'PUT', body: JSON.stringify(body) });
  expect(r.status).toBe(200);
}

async function eventually(what: string, f: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('names and record types', () => {
  it('listens on the -client address, UDP and TCP', () => {
    expect(dev.agent.dnsAddr).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('service A: healthy instances, service address first, case-insensitive, shuffled', async () => {
    const r = await udp(port, 'WEB.Service.Consul', T.A, { id: 321 });
    expect(r.header.id).toBe(321);
    expect(r.header.aa).toBe(1);
    expect(r.questions[0]?.name).toBe('WEB.Service.Consul');
    expect(addresses(r)).toEqual(['10.0.0.1', '10.9.9.9']);
    expect(r.answers.every((a) => a.ttl === 15)).toBe(true);
    const firsts = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const a = (await udp(port, 'web.service.consul', T.A)).answers[0] as unknown as { address: string };
      firsts.add(a.address);
    }
    expect(firsts.size).toBe(2);
  });

  it('service SRV with weights, node and addr targets, and ADDITIONAL addresses', async () => {
    const r = await udp(port, 'web.service.dc1.consul', T.SRV);
    const s = srvs(r).sort((a, b) => a.port - b.port);
    expect(s).toMatchObject([
      { priority: 1, weight: 7, port: 8080, target: 'web-1.node.dc1.consul', ttl: 15 },
      { priority: 1, weight: 1, port: 9090, target: '0a090909.addr.dc1.consul' },
    ]);
    expect(addresses({ ...r, answers: r.additionals } as never)).toEqual(['10.0.0.1', '10.9.9.9']);
    // The target names resolve too.
    expect(addresses(await udp(port, 'web-1.node.dc1.consul', T.A))).toEqual(['10.0.0.1']);
    expect(addresses(await udp(port, '0a090909.addr.dc1.consul', T.A))).toEqual(['10.9.9.9']);
  });

  it('tags, RFC 2782 names, alt_domain', async () => {
    expect(addresses(await udp(port, 'v2.web.service.consul', T.A))).toEqual(['10.9.9.9']);
    expect(srvs(await udp(port, '_web._v1.service.consul', T.SRV)).map((s) => s.port)).toEqual([8080]);
    expect(srvs(await udp(port, '_web._tcp.service.consul', T.SRV))).toHaveLength(2);
    const alt = await udp(port, 'web.service.alt.test', T.SRV);
    expect(
      srvs(alt)
        .map((s) => s.target)
        .sort(),
    ).toEqual(['0a090909.addr.dc1.alt.test', 'web-1.node.dc1.alt.test']);
    expect((await udp(port, 'nosuchtag.web.service.consul', T.A)).header.rcode).toBe(3);
  });

  it('AAAA, node lookups with TXT from meta, ANY', async () => {
    expect(addresses(await udp(port, 'db.service.consul', T.AAAA))).toEqual(['2001:db8::5']);
    expect((await udp(port, 'db.service.consul', T.AAAA)).answers[0]?.ttl).toBe(30);
    const n = await udp(port, 'web-1.node.consul', T.ANY);
    expect(n.answers.map((a) => a.type)).toEqual([T.A, T.TXT, T.TXT]);
    expect(n.answers[0]?.ttl).toBe(7);
    const txt = await udp(port, 'web-1.node.consul', T.TXT);
    expect(txt.answers.map((a) => (a as unknown as { data: string[] }).data[0])).toEqual([
      'rack=r1',
      'hello',
    ]);
  });

  it('PTR for node addresses, SOA and NS at the apex', async () => {
    const ptr = await udp(port, '1.0.0.10.in-addr.arpa', T.PTR);
    expect(ptr.answers).toMatchObject([{ type: T.PTR, domain: 'web-1.node.dc1.consul' }]);
    const v6 = '5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa';
    expect((await udp(port, v6, T.PTR)).answers).toMatchObject([{ domain: 'db-1.node.dc1.consul' }]);
    expect((await udp(port, '9.9.9.9.in-addr.arpa', T.PTR)).header.rcode).toBe(3);
    const soa = await udp(port, 'consul', T.SOA);
    expect(soa.answers[0]).toMatchObject({ type: T.SOA, primary: 'ns.consul', admin: 'hostmaster.consul' });
    // The leader registers itself as the "consul" service soon after it starts.
    await eventually('the server in NS', async () =>
      (await udp(port, 'consul', T.NS)).answers.some(
        (a) => (a as unknown as { ns: string }).ns === 'test-node.node.dc1.consul',
      ),
    );
    const ns = await udp(port, 'consul', T.NS);
    expect(ns.answers).toMatchObject([{ type: T.NS, ns: 'test-node.node.dc1.consul' }]);
    expect(ns.additionals.some((a) => a.type === T.A && a.name === 'test-node.node.dc1.consul')).toBe(true);
  });
});

describe('errors', () => {
  it('NXDOMAIN with the SOA for unknown names; NOERROR and the SOA for a missing type', async () => {
    for (const name of ['nope.service.consul', 'nope.node.consul', 'whatever.consul', 'geo.query.consul']) {
      const r = await udp(port, name, T.A);
      expect([name, r.header.rcode, r.authorities[0]?.type]).toEqual([name, 3, T.SOA]);
    }
    const r = await udp(port, 'web.service.consul', T.TXT);
    expect([r.header.rcode, r.answers.length, r.authorities[0]?.type]).toEqual([0, 0, T.SOA]);
  });

  it('REFUSED outside the domain without recursors; FORMERR for malformed packets; silence for runts', async () => {
    const r = await udp(port, 'example.com', T.A);
    expect(r.header.rcode).toBe(5);
    expect(r.header.ra).toBe(0);
    const bad = buildQuery('web.service.consul', T.A, { id: 99 });
    bad.writeUInt16BE(3, 4);
    const f = decode(await udpRaw(port, bad));
    expect([f.header.id, f.header.rcode]).toEqual([99, 1]);
    expect(await udpMaybe(port, Buffer.from([1, 2, 3]))).toBeNull();
  });

  it('NXDOMAIN with the SOA for a datacenter nobody knows (Consul: ErrNoDCPath), quickly', async () => {
    // This agent has no WAN pool, so no other datacenter exists for it. A known datacenter that
    // cannot be reached is SERVFAIL (dns-handler-dc.test.ts).
    const t0 = Date.now();
    const r = await udp(port, 'web.service.dc2.consul', T.A);
    expect([r.header.rcode, r.answers.length, r.authorities[0]?.type]).toEqual([3, 0, T.SOA]);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect((await udp(port, 'web-1.node.dc9.consul', T.A)).header.rcode).toBe(3);
  });
});

describe('health and the cache', () => {
  it('leaves a critical instance out and brings it back when it passes', async () => {
    const ask = async (): Promise<string[]> => addresses(await udp(port, 'web.service.consul', T.A));
    expect(await ask()).toEqual(['10.0.0.1', '10.9.9.9']);
    await register({
      Node: 'web-1',
      Address: '10.0.0.1',
      Check: { CheckID: 'web-ok', Name: 'ok', Status: 'critical', ServiceID: 'web' },
    });
    await eventually('web-1 gone', async () => (await ask()).join() === '10.9.9.9');
    // A node-level critical check hides every service on the node.
    await register({
      Node: 'web-2',
      Address: '10.0.0.2',
      Check: { CheckID: 'node-bad', Name: 'n', Status: 'critical' },
    });
    await eventually(
      'no instance left',
      async () => (await udp(port, 'web.service.consul', T.A)).header.rcode === 3,
    );
    await register({
      Node: 'web-1',
      Address: '10.0.0.1',
      Check: { CheckID: 'web-ok', Name: 'ok', Status: 'passing', ServiceID: 'web' },
    });
    await register({
      Node: 'web-2',
      Address: '10.0.0.2',
      Check: { CheckID: 'node-bad', Name: 'n', Status: 'passing' },
    });
    await eventually('both back', async () => (await ask()).join() === '10.0.0.1,10.9.9.9');
  });

  it('a service registered after an NXDOMAIN shows up, through the same cache entry', async () => {
    expect((await udp(port, 'late.service.consul', T.A)).header.rcode).toBe(3);
    await register({ Node: 'late-1', Address: '10.2.0.1', Service: { Service: 'late', Port: 1 } });
    await eventually(
      'late appears',
      async () => addresses(await udp(port, 'late.service.consul', T.A)).join() === '10.2.0.1',
    );
    expect(dev.agent.dns?.cache.stats().entries).toBeGreaterThan(0);
  });

  it('maintenance hides an instance', async () => {
    await register({
      Node: 'late-1',
      Address: '10.2.0.1',
      Check: { CheckID: '_node_maintenance', Name: 'Node Maintenance Mode', Status: 'critical' },
    });
    await eventually(
      'late hidden',
      async () => (await udp(port, 'late.service.consul', T.A)).header.rcode === 3,
    );
  });
});

describe('size: UDP, EDNS0, TCP', () => {
  beforeAll(async () => {
    for (let i = 0; i < 40; i++) {
      await register({
        Node: `big-${i}`,
        Address: `10.50.0.${i + 1}`,
        Service: { ID: 'big', Service: 'big', Port: 7000 + i },
      });
    }
  });

  it('UDP without EDNS0: at most 512 bytes, TC set', async () => {
    for (const type of [T.A, T.SRV]) {
      const raw = await udpRaw(port, buildQuery('big.service.consul', type));
      expect(raw.length).toBeLessThanOrEqual(512);
      const r = decode(raw);
      expect(r.header.tc).toBe(1);
      expect(r.answers.length).toBeGreaterThan(0);
      expect(r.answers.length).toBeLessThan(40);
    }
  });

  it('TCP returns all 40, and so does UDP with a 4096-byte EDNS0 buffer', async () => {
    for (const type of [T.A, T.SRV]) {
      const t = await tcp(port, 'big.service.consul', type);
      expect(t.header.tc).toBe(0);
      expect(t.answers).toHaveLength(40);
      const e = await udp(port, 'big.service.consul', type, { edns: 4096 });
      expect(e.header.tc).toBe(0);
      expect(e.answers).toHaveLength(40);
      if (type === T.SRV) expect(e.additionals.filter((a) => a.type === T.A)).toHaveLength(40);
    }
  });

  it('a resolver that retries over TCP on TC gets everything (dns2 client)', async () => {
    const resolve = DNS.UDPClient({ dns: '127.0.0.1', port, retryOverTCP: true, timeout: 3000 });
    const r = await resolve('big.service.consul', 'A');
    expect(r.answers).toHaveLength(40);
  });

  it("udp_answer_limit keeps Consul's trimming as an option", async () => {
    const d = await startDevAgent((c) => {
      c.ports.dns = 0;
      c.dns.udpAnswerLimit = 3;
      c.dns.enableTruncate = false;
    });
    try {
      const p = Number(d.agent.dnsAddr?.split(':').at(-1));
      await d.app.request('/v1/catalog/register', {
        method: 'PUT',
        body: JSON.stringify({ Node: 'x', Address: '10.0.0.1', Service: { Service: 'w', Port: 1 } }),
      });
      for (let i = 2; i <= 6; i++) {
        await d.app.request('/v1/catalog/register', {
          method: 'PUT',
          body: JSON.stringify({ Node: `x${i}`, Address: `10.0.0.${i}`, Service: { Service: 'w', Port: 1 } }),
        });
      }
      const r = await udp(p, 'w.service.consul', T.A);
      expect([r.answers.length, r.header.tc]).toEqual([3, 0]);
      expect((await tcp(p, 'w.service.consul', T.A)).answers).toHaveLength(6);
      expect((await udp(p, 'w.service.consul', T.A, { edns: 1232 })).answers).toHaveLength(6);
    } finally {
      await d.stop();
    }
  });
});

describe('recursors', () => {
  let upstream: ReturnType<typeof DNS.createServer>;
  let upPort = 0;
  let hole: dgram.Socket;
  let holePort = 0;
  let rec: DevAgent;
  let recPort = 0;

  beforeAll(async () => {
    upstream = DNS.createServer({
      udp: true,
      tcp: true,
      handle: (request, send) => {
        const res = Packet.createResponseFromRequest(request);
        const q = request.questions[0];
        if (q)
          res.answers.push({
            name: q.name,
            type: Packet.TYPE.A,
            class: Packet.CLASS.IN,
            ttl: 60,
            address: '192.0.2.7',
          } as never);
        void send(res);
      },
    });
    // One port for both, as a real server has (the recursor uses the same port over TCP).
    upPort = await freePort();
    await upstream.listen({
      udp: { port: upPort, address: '127.0.0.1' },
      tcp: { port: upPort, address: '127.0.0.1' },
    });
    // A black hole: receives and never answers.
    hole = dgram.createSocket('udp4');
    await new Promise<void>((r) => hole.bind(0, '127.0.0.1', () => r()));
    holePort = hole.address().port;
    rec = await startDevAgent((c) => {
      c.ports.dns = 0;
      // Tried in order: the black hole times out, then the stub answers.
      c.dns.recursors = [`127.0.0.1:${holePort}`, `127.0.0.1:${upPort}`];
      c.dns.recursorTimeoutMs = 200;
    });
    recPort = Number(rec.agent.dnsAddr?.split(':').at(-1));
  });

  afterAll(async () => {
    await rec.stop();
    hole.close();
    await upstream.close();
  });

  it('forwards names outside the domain, in order, over UDP and TCP, with RA set', async () => {
    const r = await udp(recPort, 'www.example.org', T.A, { id: 555 });
    expect(r.header.id).toBe(555);
    expect(r.header.ra).toBe(1);
    expect(addresses(r)).toEqual(['192.0.2.7']);
    expect(addresses(await tcp(recPort, 'www.example.org', T.A))).toEqual(['192.0.2.7']);
    // Our own names are still ours.
    expect((await udp(recPort, 'consul', T.SOA)).answers[0]?.type).toBe(T.SOA);
  });

  it('SERVFAIL when every recursor fails', async () => {
    const d = await startDevAgent((c) => {
      c.ports.dns = 0;
      c.dns.recursors = [`127.0.0.1:${holePort}`];
      c.dns.recursorTimeoutMs = 150;
    });
    try {
      const p = Number(d.agent.dnsAddr?.split(':').at(-1));
      const t0 = Date.now();
      expect((await udp(p, 'www.example.org', T.A)).header.rcode).toBe(2);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect((await tcp(p, 'www.example.org', T.A)).header.rcode).toBe(2);
    } finally {
      await d.stop();
    }
  });
});

describe('configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'consulate-dns-cfg-'));
  const file = (name: string, body: object): string => {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify(body));
    return p;
  };

  it('reads dns_config, domain, alt_domain, recursors and the flags', () => {
    const f = file('dns.json', {
      domain: 'Example.',
      alt_domain: 'alt.test',
      recursors: ['10.0.0.53', '[::1]:5353'],
      ports: { dns: 8653 },
      dns_config: {
        node_ttl: '10s',
        service_ttl: { '*': '5s', web: '30s' },
        allow_stale: false,
        max_stale: '5s',
        only_passing: true,
        udp_answer_limit: 3,
        a_record_limit: 10,
        enable_truncate: false,
        recursor_timeout: '500ms',
        recursor_strategy: 'random',
        soa: { min_ttl: 5 },
      },
    });
    const c = loadAgentConfig([`-config-file=${f}`, '-node=n', '-data-dir=/tmp/x', '-recursor=1.1.1.1']);
    validateConfig(c);
    expect(c.ports.dns).toBe(8653);
    expect(c.dns).toMatchObject({
      domain: 'example',
      altDomain: 'alt.test',
      recursors: ['10.0.0.53', '[::1]:5353', '1.1.1.1'],
      nodeTtlMs: 10_000,
      serviceTtlMs: { '*': 5000, web: 30_000 },
      allowStale: false,
      maxStaleMs: 5000,
      onlyPassing: true,
      udpAnswerLimit: 3,
      aRecordLimit: 10,
      enableTruncate: false,
      recursorTimeoutMs: 500,
      recursorStrategy: 'random',
    });
    expect(c.dns.soa.minTtl).toBe(5);
    const flags = loadAgentConfig(['-node=n', '-dns-port=-1', '-domain=corp', '-alt-domain=corp.example']);
    expect([flags.ports.dns, flags.dns.domain, flags.dns.altDomain]).toEqual([-1, 'corp', 'corp.example']);
  });

  it('refuses unknown keys and bad values with one clear line', () => {
    expect(() => loadAgentConfig([`-config-file=${file('u.json', { dns_config: { colour: 1 } })}`])).toThrow(
      'dns_config: unknown key "colour"',
    );
    const bad =
      (body: object): (() => void) =>
      () =>
        validateConfig(
          loadAgentConfig([`-config-file=${file('b.json', body)}`, '-node=n', '-data-dir=/tmp/x']),
        );
    expect(bad({ recursors: ['1.2.3.4:99999'] })).toThrow('recursors: "1.2.3.4:99999" is not an address');
    expect(bad({ domain: 'bad domain' })).toThrow('domain "bad domain" is not a valid DNS domain');
    expect(bad({ dns_config: { udp_answer_limit: -1 } })).toThrow('udp_answer_limit cannot be negative');
  });

  it('a DNS port in use stops the agent with one line and exit 1', async () => {
    const held = dgram.createSocket('udp4');
    await new Promise<void>((r) => held.bind(0, '127.0.0.1', () => r()));
    const p = held.address().port;
    try {
      const args = [
        'agent',
        '-dev',
        '-http-port=-1',
        `-server-port=${await freePort()}`,
        `-serf-lan-port=${await freePort()}`,
        '-serf-wan-port=-1',
        `-dns-port=${p}`,
      ];
      const err = (await run(process.execPath, [BIN, ...args]).catch((e: unknown) => e)) as {
        code: number;
        stderr: string;
      };
      expect(err.code).toBe(1);
      const lines = err.stderr.trim().split('\n');
      expect(lines.at(-1)).toMatch(new RegExp(`DNS: cannot listen on 127\\.0\\.0\\.1:${p} .*-dns-port`));
    } finally {
      held.close();
    }
  });

  it('-dns-port -1 starts no DNS listener', async () => {
    const d = await startDevAgent();
    try {
      expect(d.agent.dnsAddr).toBeNull();
    } finally {
      await d.stop();
    }
  });
});
