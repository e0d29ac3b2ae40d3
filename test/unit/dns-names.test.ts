// Name parsing: every Consul name form, datacenters, alt_domain, reverse names, and the hex
// addresses SRV targets use.

import { describe, expect, it } from 'vitest';
import {
  hexFromIp,
  ipBytes,
  ipFromHex,
  normalIp,
  parseName,
  parseReverse,
  type Domains,
} from '../../src/dns/names.js';
import { keyLabels, parseQuery } from '../../src/dns/wire.js';
import { T, buildQuery } from '../support/dns.js';

const d: Domains = { domain: ['consul'], altDomain: ['consul', 'example', 'com'], datacenter: 'dc1' };
/** As the handler sees a name: through the wire parser, so case folding is tested too. */
const parse = (name: string): ReturnType<typeof parseName> =>
  parseName(keyLabels(parseQuery(buildQuery(name, T.A)).key), d);

describe('parseName', () => {
  it('services, with tag and datacenter, case-insensitively', () => {
    expect(parse('web.service.consul')).toEqual({
      kind: 'service',
      zone: ['consul'],
      dc: 'dc1',
      service: 'web',
      tag: '',
    });
    expect(parse('WEB.Service.CONSUL')).toMatchObject({ kind: 'service', service: 'web' });
    expect(parse('v1.web.service.consul')).toMatchObject({ service: 'web', tag: 'v1', dc: 'dc1' });
    expect(parse('web.service.dc2.consul')).toMatchObject({ service: 'web', tag: '', dc: 'dc2' });
    expect(parse('v1.web.service.dc2.consul')).toMatchObject({ service: 'web', tag: 'v1', dc: 'dc2' });
    expect(parse('web.service.dc2.dc.consul')).toMatchObject({ service: 'web', dc: 'dc2' });
  });

  it('RFC 2782 names: _tcp means no tag, anything else is the tag', () => {
    expect(parse('_web._tcp.service.consul')).toMatchObject({ kind: 'service', service: 'web', tag: '' });
    expect(parse('_web._v1.service.dc2.consul')).toMatchObject({ service: 'web', tag: 'v1', dc: 'dc2' });
    expect(parse('_._tcp.service.consul')).toMatchObject({ kind: 'unknown' });
    // ".service" may be left out.
    expect(parse('_web._tcp.consul')).toMatchObject({ kind: 'service', service: 'web', tag: '', dc: 'dc1' });
    expect(parse('_web._v2.dc3.consul')).toMatchObject({
      kind: 'service',
      service: 'web',
      tag: 'v2',
      dc: 'dc3',
    });
    expect(parse('_web.x.consul')).toMatchObject({ kind: 'unknown' });
  });

  it('nodes, prepared queries, hex addresses', () => {
    expect(parse('foo.node.consul')).toMatchObject({ kind: 'node', node: 'foo', dc: 'dc1' });
    expect(parse('foo.node.dc3.consul')).toMatchObject({ kind: 'node', node: 'foo', dc: 'dc3' });
    expect(parse('geo.query.consul')).toMatchObject({ kind: 'query', name: 'geo' });
    expect(parse('7f000001.addr.dc1.consul')).toMatchObject({ kind: 'addr', ip: '127.0.0.1' });
    expect(parse('20010db8000000000000000000000001.addr.dc1.consul')).toMatchObject({
      kind: 'addr',
      ip: '2001:db8::1',
    });
    expect(parse('xyz.addr.dc1.consul')).toMatchObject({ kind: 'unknown' });
  });

  it('the apex, unknown names inside, names outside', () => {
    expect(parse('consul')).toEqual({ kind: 'apex', zone: ['consul'] });
    expect(parse('service.consul')).toMatchObject({ kind: 'unknown' });
    expect(parse('a.b.consul')).toMatchObject({ kind: 'unknown' });
    expect(parse('example.com')).toEqual({ kind: 'outside' });
    expect(parse('consul.io')).toEqual({ kind: 'outside' });
  });

  it('alt_domain answers the same names in its own zone (the longer match wins)', () => {
    expect(parse('web.service.consul.example.com')).toMatchObject({
      kind: 'service',
      zone: ['consul', 'example', 'com'],
      service: 'web',
    });
    expect(parse('Foo.Node.DC1.Consul.Example.Com')).toMatchObject({ kind: 'node', node: 'foo', dc: 'dc1' });
  });

  it('reverse names', () => {
    expect(parse('4.3.2.1.in-addr.arpa')).toEqual({ kind: 'ptr', zone: ['consul'], ip: '1.2.3.4' });
    const v6 = '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa';
    expect(parse(v6)).toMatchObject({ kind: 'ptr', ip: '2001:db8::1' });
    expect(parseReverse(['3', '2', '1', 'in-addr', 'arpa'])).toBeNull();
    expect(parseReverse(['300', '3', '2', '1', 'in-addr', 'arpa'])).toBeNull();
    expect(parseReverse(['example', 'com'])).toBeUndefined();
  });
});

describe('addresses', () => {
  it('hex round trips', () => {
    expect(hexFromIp('10.1.2.3')).toBe('0a010203');
    expect(ipFromHex('0a010203')).toBe('10.1.2.3');
    expect(hexFromIp('2001:db8::1')).toBe('20010db8000000000000000000000001');
    expect(hexFromIp('web.example.com')).toBeNull();
    expect(ipFromHex('0a0102')).toBeNull();
  });

  it('parses IPv4 and IPv6 literals and nothing else', () => {
    expect(ipBytes('1.2.3.4')).toEqual(Uint8Array.from([1, 2, 3, 4]));
    expect(ipBytes('1.2.3.256')).toBeNull();
    expect(ipBytes('::1')?.[15]).toBe(1);
    expect(ipBytes('::ffff:1.2.3.4')?.slice(10)).toEqual(Uint8Array.from([255, 255, 1, 2, 3, 4]));
    expect(ipBytes('1::2::3')).toBeNull();
    expect(ipBytes('host')).toBeNull();
    expect(normalIp('2001:0db8:0:0:0:0:0:0001')).toBe('2001:db8::1');
  });
});
