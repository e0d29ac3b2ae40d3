// Answer building, without sockets: catalog rows in, a prepared answer, assembled for a query and
// decoded by dns2. Health filtering, A and SRV, targets and ADDITIONAL, TXT, PTR, SOA, NS, TTLs.

import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/rng.js';
import { serviceTtl } from '../../src/dns/agent-dns.js';
import {
  buildAnswer,
  healthy,
  metaTxt,
  srvWeight,
  type AnswerSettings,
  type LookupData,
} from '../../src/dns/answers.js';
import { parseName, type Domains } from '../../src/dns/names.js';
import { RCODE, assemble, keyLabels, parseQuery } from '../../src/dns/wire.js';
import type { CheckServiceNode } from '../../src/state/types.js';
import { instance, node } from '../support/dns-fixtures.js';
import { T, addresses, buildQuery, decode, srvs, type Reply } from '../support/dns.js';

const domains: Domains = { domain: ['consul'], altDomain: [], datacenter: 'dc1' };
const settings: AnswerSettings = {
  nodeTtl: 5,
  serviceTtl: serviceTtl({ '*': 10_000, db: 20_000 }),
  onlyPassing: false,
  serial: () => 42,
  soa: { refresh: 3600, retry: 600, expire: 86400, minTtl: 0 },
};

function ask(name: string, type: number, data: LookupData, s = settings, edns?: number): Reply {
  const query = buildQuery(name, type, edns !== undefined ? { edns } : {});
  const q = parseQuery(query);
  const labels = keyLabels(q.key);
  const lookup = parseName(labels, domains);
  if (lookup.kind === 'outside') throw new Error('outside');
  const p = buildAnswer(lookup, labels, type, data, 'dc1', s);
  const rng = seededRng(3);
  return decode(
    assemble(query, q, p, {
      limit: edns ?? 512,
      maxUnits: 0,
      setTruncated: true,
      countTruncates: false,
      recursionAvailable: false,
      rng: () => rng.next(),
    }),
  );
}

const rows = (...r: CheckServiceNode[]): LookupData => ({ kind: 'service', rows: r });

describe('health filtering', () => {
  it('leaves out critical and maintenance; only_passing also warning', () => {
    const r = [
      instance('a', '10.0.0.1'),
      instance('b', '10.0.0.2', { checks: ['passing', 'warning'] }),
      instance('c', '10.0.0.3', { checks: ['critical'] }),
      instance('d', '10.0.0.4', { checks: ['passing', 'maintenance'] }),
    ];
    expect(healthy(r, false).map((x) => x.Node.Node)).toEqual(['a', 'b']);
    expect(healthy(r, true).map((x) => x.Node.Node)).toEqual(['a']);
    expect(addresses(ask('web.service.consul', T.A, rows(...r)))).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(addresses(ask('web.service.consul', T.A, rows(...r), { ...settings, onlyPassing: true }))).toEqual(
      ['10.0.0.1'],
    );
  });

  it('NXDOMAIN with the SOA when no instance is healthy', () => {
    const r = ask('web.service.consul', T.A, rows(instance('c', '10.0.0.3', { checks: ['critical'] })));
    expect(r.header.rcode).toBe(RCODE.NXDOMAIN);
    expect(r.authorities[0]?.type).toBe(T.SOA);
    expect(r.authorities[0]).toMatchObject({ primary: 'ns.consul', admin: 'hostmaster.consul', serial: 42 });
  });

  it('SRV weight: Passing, or Warning when a check warns', () => {
    const w = { Passing: 10, Warning: 3 };
    expect(srvWeight(instance('a', '1.1.1.1', { weights: w }))).toBe(10);
    expect(srvWeight(instance('a', '1.1.1.1', { weights: w, checks: ['warning'] }))).toBe(3);
  });
});

describe('service answers', () => {
  it('A: the service address, else the node address, each once, with the service TTL', () => {
    const r = ask(
      'web.service.consul',
      T.A,
      rows(
        instance('a', '10.0.0.1', { serviceAddress: '192.168.1.1' }),
        instance('b', '10.0.0.2'),
        instance('c', '10.0.0.2'),
      ),
    );
    expect(r.header.rcode).toBe(0);
    expect(r.header.aa).toBe(1);
    expect(addresses(r)).toEqual(['10.0.0.2', '192.168.1.1']);
    expect(r.answers.every((a) => a.ttl === 10)).toBe(true);
  });

  it('AAAA for IPv6 instances; NOERROR and the SOA when there are none', () => {
    const data = rows(instance('a', '10.0.0.1'), instance('b', '2001:db8::2'));
    expect(addresses(ask('web.service.consul', T.AAAA, data))).toEqual(['2001:db8::2']);
    const none = ask('web.service.consul', T.AAAA, rows(instance('a', '10.0.0.1')));
    expect(none.header.rcode).toBe(0);
    expect(none.answers).toHaveLength(0);
    expect(none.authorities[0]?.type).toBe(T.SOA);
    const txt = ask('web.service.consul', T.TXT, data);
    expect(txt.header.rcode).toBe(0);
    expect(txt.answers).toHaveLength(0);
  });

  it('SRV: priority 1, weight, port, node or addr target, addresses in ADDITIONAL', () => {
    const r = ask(
      'web.service.consul',
      T.SRV,
      rows(
        instance('a', '10.0.0.1', { port: 1111 }),
        instance('b', '10.0.0.2', {
          port: 2222,
          serviceAddress: '10.9.9.9',
          weights: { Passing: 5, Warning: 1 },
        }),
      ),
    );
    const s = srvs(r).sort((x, y) => x.port - y.port);
    expect(s).toMatchObject([
      { priority: 1, weight: 1, port: 1111, target: 'a.node.dc1.consul', ttl: 10 },
      { priority: 1, weight: 5, port: 2222, target: '0a090909.addr.dc1.consul', ttl: 10 },
    ]);
    const extra = r.additionals.map((a) => [a.name, (a as unknown as { address: string }).address]).sort();
    expect(extra).toEqual([
      ['0a090909.addr.dc1.consul', '10.9.9.9'],
      ['a.node.dc1.consul', '10.0.0.1'],
    ]);
  });

  it('SRV through the RFC 2782 name and the tag form, in another datacenter', () => {
    const r = ask('_web._tcp.service.dc2.consul', T.SRV, rows(instance('a', '10.0.0.1')));
    expect(srvs(r)[0]?.name).toBe('_web._tcp.service.dc2.consul');
    // The target names the datacenter asked for.
    expect(srvs(r)[0]?.target).toBe('a.node.dc2.consul');
  });

  it('per-service TTLs: exact name beats "*"', () => {
    const db = instance('a', '10.0.0.1');
    db.Service.Service = 'db';
    expect(ask('db.service.consul', T.A, rows(db)).answers[0]?.ttl).toBe(20);
    const f = serviceTtl({ '*': 1000, 'we*': 7000, web: 9000 });
    expect([f('web'), f('weasel'), f('api'), serviceTtl({})('x')]).toEqual([9, 7, 1, 0]);
  });

  it('40 SRV instances fit a 4096-byte EDNS0 answer with their ADDITIONAL records', () => {
    const many = Array.from({ length: 40 }, (_, i) => instance(`node-${i}`, `10.0.${i >> 8}.${i & 0xff}`));
    const r = ask('web.service.consul', T.SRV, rows(...many), settings, 4096);
    expect(r.header.tc).toBe(0);
    expect(srvs(r)).toHaveLength(40);
    expect(r.additionals.filter((a) => a.type === T.A)).toHaveLength(40);
    const small = ask('web.service.consul', T.SRV, rows(...many));
    expect(small.header.tc).toBe(1);
    // Each SRV kept brings its own address along.
    expect(small.additionals.filter((a) => a.type === T.A)).toHaveLength(srvs(small).length);
  });
});

describe('node, PTR, apex', () => {
  const n = { Node: node('foo', '10.1.1.1', { rack: 'r1', 'rfc1035-x': 'raw' }), Services: {} };

  it('node A with node_ttl, TXT from meta (RFC 1464), ANY gives both', () => {
    const a = ask('foo.node.consul', T.A, { kind: 'node', node: n });
    expect(addresses(a)).toEqual(['10.1.1.1']);
    expect(a.answers[0]?.ttl).toBe(5);
    const txt = ask('foo.node.consul', T.TXT, { kind: 'node', node: n });
    expect(txt.answers.map((x) => (x as unknown as { data: string[] }).data)).toEqual([['rack=r1'], ['raw']]);
    expect(metaTxt({ b: '2', a: '1' })).toEqual(['a=1', 'b=2']);
    const any = ask('foo.node.consul', T.ANY, { kind: 'node', node: n });
    expect(any.answers.map((x) => x.type)).toEqual([T.A, T.TXT, T.TXT]);
    expect(ask('bar.node.consul', T.A, { kind: 'node', node: null }).header.rcode).toBe(RCODE.NXDOMAIN);
    const six = ask('foo.node.consul', T.AAAA, { kind: 'node', node: n });
    expect([six.header.rcode, six.answers.length, six.authorities[0]?.type]).toEqual([0, 0, T.SOA]);
  });

  it('a node with a host name for an address answers a CNAME', () => {
    const h = { Node: node('h', 'host.example.com'), Services: {} };
    const r = ask('h.node.consul', T.A, { kind: 'node', node: h });
    expect(r.answers[0]).toMatchObject({ type: T.CNAME, domain: 'host.example.com' });
  });

  it('PTR for a known node address, NXDOMAIN for others', () => {
    const nodes: LookupData = { kind: 'nodes', nodes: [node('foo', '10.1.1.1'), node('bar', '10.1.1.2')] };
    const r = ask('1.1.1.10.in-addr.arpa', T.PTR, nodes);
    expect(r.answers).toMatchObject([{ type: T.PTR, domain: 'foo.node.dc1.consul' }]);
    expect(ask('9.1.1.10.in-addr.arpa', T.PTR, nodes).header.rcode).toBe(RCODE.NXDOMAIN);
  });

  it('SOA and NS at the apex; servers named with glue', () => {
    const soa = ask('consul', T.SOA, { kind: 'none' });
    expect(soa.answers[0]).toMatchObject({ type: T.SOA, primary: 'ns.consul', refresh: 3600, retry: 600 });
    const ns = ask('consul', T.NS, rows(instance('s1', '10.0.0.10')));
    expect(ns.answers).toMatchObject([{ type: T.NS, ns: 's1.node.dc1.consul' }]);
    expect(addresses({ ...ns, answers: ns.additionals } as Reply)).toEqual(['10.0.0.10']);
    const other = ask('consul', T.A, { kind: 'none' });
    expect([other.header.rcode, other.answers.length, other.authorities[0]?.type]).toEqual([0, 0, T.SOA]);
  });

  it('addr names and prepared queries (NXDOMAIN until they exist)', () => {
    expect(addresses(ask('0a000001.addr.dc1.consul', T.A, { kind: 'none' }))).toEqual(['10.0.0.1']);
    expect(ask('geo.query.consul', T.A, { kind: 'none' }).header.rcode).toBe(RCODE.NXDOMAIN);
    expect(ask('nope.consul', T.A, { kind: 'none' }).header.rcode).toBe(RCODE.NXDOMAIN);
  });
});
