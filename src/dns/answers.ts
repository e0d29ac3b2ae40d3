// Answer building, pure: from a Lookup, the question's type and labels, and the catalog rows the
// cache fetched, to a Prepared answer (wire.ts) whose records are encoded once. Consul's rules:
// instances with a critical (or maintenance) check are left out, only_passing also drops warning;
// SRV carries weight and port and names a target whose address goes in ADDITIONAL; a known name
// without the asked type is NOERROR with the SOA; an unknown one NXDOMAIN with the SOA.

import { queryDnsTtl } from '../state/prepared-queries.js';
import type { CheckServiceNode, Node, NodeServices } from '../state/types.js';
import { hexFromIp, ipBytes, normalIp, type Lookup } from './names.js';
import {
  ByteWriter,
  NameDict,
  QTYPE,
  RCODE,
  labelsOf,
  prepared,
  unitOf,
  writeRecord,
  type Prepared,
  type Unit,
} from './wire.js';

export interface AnswerSettings {
  /** TTL of node records, seconds (node_ttl). */
  nodeTtl: number;
  /** TTL of a service's records, seconds (service_ttl with "*" and prefixes). */
  serviceTtl(service: string): number;
  onlyPassing: boolean;
  /** The SOA serial (Consul uses the time; ours is the time the answer was built). */
  serial(): number;
  /** SOA timers, seconds; minTtl is also the SOA record's own TTL (Consul's dns_config.soa). */
  soa: { refresh: number; retry: number; expire: number; minTtl: number };
}

/** What the cache fetched for a lookup. */
export type LookupData =
  | { kind: 'service'; rows: CheckServiceNode[] }
  | { kind: 'node'; node: NodeServices | null }
  | { kind: 'nodes'; nodes: Node[] }
  | { kind: 'none' };

/** Instances a DNS answer may name. */
export function healthy(rows: readonly CheckServiceNode[], onlyPassing: boolean): CheckServiceNode[] {
  return rows.filter((r) =>
    r.Checks.every(
      (c) =>
        c.Status !== 'critical' && c.Status !== 'maintenance' && !(onlyPassing && c.Status === 'warning'),
    ),
  );
}

/** Consul's SRV weight: Weights.Warning when any check warns, else Weights.Passing. */
export function srvWeight(r: CheckServiceNode): number {
  const w = r.Service.Weights ?? { Passing: 1, Warning: 1 };
  const warn = r.Checks.some((c) => c.Status === 'warning');
  return Math.max(0, Math.min(0xffff, Math.floor(warn ? w.Warning : w.Passing)));
}

function soa(zone: string[], dict: NameDict, s: AnswerSettings): ByteWriter {
  const w = new ByteWriter();
  writeRecord(w, zone, dict, QTYPE.SOA, s.soa.minTtl, (r) => {
    r.name(['ns', ...zone], dict);
    r.name(['hostmaster', ...zone], dict);
    r.u32(s.serial() >>> 0);
    r.u32(s.soa.refresh);
    r.u32(s.soa.retry);
    r.u32(s.soa.expire);
    r.u32(s.soa.minTtl); // the negative-caching TTL
  });
  return w;
}

const nxdomain = (zone: string[], dict: NameDict, s: AnswerSettings): Prepared =>
  prepared(RCODE.NXDOMAIN, [], { authority: soa(zone, dict, s), authorityCount: 1 });

const noData = (zone: string[], dict: NameDict, s: AnswerSettings): Prepared =>
  prepared(RCODE.NOERROR, [], { authority: soa(zone, dict, s), authorityCount: 1 });

/** Answers in our domain with records, or the SOA when there are none of that type. */
function answer(zone: string[], dict: NameDict, s: AnswerSettings, units: Unit[], shuffle = false): Prepared {
  return units.length === 0 ? noData(zone, dict, s) : prepared(RCODE.NOERROR, units, { shuffle });
}

const wantsA = (t: number): boolean => t === QTYPE.A || t === QTYPE.ANY;
const wantsAAAA = (t: number): boolean => t === QTYPE.AAAA || t === QTYPE.ANY;

/**
 * Address records of `owner` for `addr` that `qtype` asks for: A or AAAA for an IP, a CNAME for a
 * host name. Returns how many were written.
 */
function addressRecords(
  w: ByteWriter,
  owner: readonly string[],
  dict: NameDict,
  addr: string,
  ttl: number,
  qtype: number,
): number {
  const b = ipBytes(addr);
  if (b && b.length === 4 && wantsA(qtype)) {
    writeRecord(w, owner, dict, QTYPE.A, ttl, (r) => r.raw(b));
    return 1;
  }
  if (b && b.length === 16 && wantsAAAA(qtype)) {
    writeRecord(w, owner, dict, QTYPE.AAAA, ttl, (r) => r.raw(b));
    return 1;
  }
  if (!b && addr !== '' && (wantsA(qtype) || wantsAAAA(qtype) || qtype === QTYPE.CNAME)) {
    writeRecord(w, owner, dict, QTYPE.CNAME, ttl, (r) => r.name(labelsOf(addr), dict));
    return 1;
  }
  return 0;
}

/** RFC 1464 TXT strings from node meta; keys starting "rfc1035-" give the value alone (Consul). */
export function metaTxt(meta: Record<string, string>): string[] {
  return Object.keys(meta)
    .sort()
    .map((k) => (k.startsWith('rfc1035-') ? (meta[k] as string) : `${k}=${meta[k] as string}`));
}

function txtRecord(w: ByteWriter, owner: readonly string[], dict: NameDict, ttl: number, text: string): void {
  writeRecord(w, owner, dict, QTYPE.TXT, ttl, (r) => {
    const b = Buffer.from(text, 'utf8');
    if (b.length === 0) r.u8(0);
    for (let i = 0; i < b.length; i += 255) {
      const part = b.subarray(i, i + 255);
      r.u8(part.length);
      r.raw(part);
    }
  });
}

function single(build: (w: ByteWriter) => number): Unit | null {
  const w = new ByteWriter();
  const n = build(w);
  return n > 0 ? unitOf(w, n) : null;
}

const present = <T>(x: T | null): x is T => x !== null;

/** The target of an instance's SRV record, and the address its ADDITIONAL record gives. */
function srvTarget(r: CheckServiceNode, zone: string[], dc: string): { target: string[]; addr: string } {
  const sa = r.Service.Address;
  if (sa !== '') {
    const hex = hexFromIp(sa);
    return hex ? { target: [hex, 'addr', dc, ...zone], addr: sa } : { target: labelsOf(sa), addr: '' };
  }
  return { target: [...labelsOf(r.Node.Node), 'node', dc, ...zone], addr: r.Node.Address };
}

function serviceAnswer(
  l: Extract<Lookup, { kind: 'service' }>,
  qLabels: string[],
  qtype: number,
  rows: CheckServiceNode[],
  dict: NameDict,
  s: AnswerSettings,
  shuffle = true,
): Prepared {
  const ok = healthy(rows, s.onlyPassing);
  // Consul: a service with no instance to offer is not found at all.
  if (ok.length === 0) return nxdomain(l.zone, dict, s);
  const ttl = s.serviceTtl(l.service);
  if (qtype === QTYPE.SRV) {
    const units = ok.map((r) => {
      const { target, addr } = srvTarget(r, l.zone, l.dc);
      const an = new ByteWriter();
      writeRecord(an, qLabels, dict, QTYPE.SRV, ttl, (w) => {
        w.u16(1); // priority
        w.u16(srvWeight(r));
        w.u16(r.Service.Port & 0xffff);
        w.name(target, null); // RFC 2782: the target is never compressed
      });
      const ex = new ByteWriter();
      const exCount = addr === '' ? 0 : addressRecords(ex, target, dict, addr, ttl, QTYPE.ANY);
      return unitOf(an, 1, ex, exCount);
    });
    return answer(l.zone, dict, s, units, shuffle);
  }
  if (!(wantsA(qtype) || wantsAAAA(qtype))) return noData(l.zone, dict, s);
  const seen = new Set<string>();
  const units = ok
    .map((r) => {
      const addr = r.Service.Address !== '' ? r.Service.Address : r.Node.Address;
      if (seen.has(addr)) return null;
      seen.add(addr);
      return single((w) => addressRecords(w, qLabels, dict, addr, ttl, qtype));
    })
    .filter(present);
  return answer(l.zone, dict, s, units, shuffle);
}

/** What a prepared query's execution gave (PreparedQuery.Execute's answer, as DNS needs it). */
export interface QueryResultData {
  Service: string;
  Nodes: CheckServiceNode[];
  DNS: { TTL: string };
  Datacenter: string;
}

/**
 * `<name>.query[.<dc>].<domain>`: the executed query's instances as a service lookup answers them,
 * with targets in the datacenter that answered (another one after a failover). The TTL is the
 * query's DNS.TTL, else service_ttl for its service (Consul). The order is Execute's (shuffled, or
 * by RTT from Near), so it is kept; health was filtered by the query's own rules. An unknown query
 * or one without instances is NXDOMAIN.
 */
export function queryAnswer(
  l: Extract<Lookup, { kind: 'query' }>,
  qLabels: string[],
  qtype: number,
  r: QueryResultData | null,
  s: AnswerSettings,
): Prepared {
  const dict = new NameDict(qLabels);
  if (!r || r.Nodes.length === 0) return nxdomain(l.zone, dict, s);
  const ttl = queryDnsTtl(r.DNS.TTL) ?? s.serviceTtl(r.Service);
  const svc = { kind: 'service', zone: l.zone, dc: r.Datacenter, service: r.Service, tag: '' } as const;
  return serviceAnswer(
    svc,
    qLabels,
    qtype,
    r.Nodes,
    dict,
    { ...s, onlyPassing: false, serviceTtl: () => ttl },
    false,
  );
}

function nodeAnswer(
  l: Extract<Lookup, { kind: 'node' }>,
  qLabels: string[],
  qtype: number,
  node: NodeServices | null,
  dict: NameDict,
  s: AnswerSettings,
): Prepared {
  if (!node) return nxdomain(l.zone, dict, s);
  const n = node.Node;
  const units: Unit[] = [];
  const a = single((w) => addressRecords(w, qLabels, dict, n.Address, s.nodeTtl, qtype));
  if (a) units.push(a);
  if (qtype === QTYPE.TXT || qtype === QTYPE.ANY) {
    for (const t of metaTxt(n.Meta ?? {})) {
      const u = single((w) => {
        txtRecord(w, qLabels, dict, s.nodeTtl, t);
        return 1;
      });
      if (u) units.push(u);
    }
  }
  return answer(l.zone, dict, s, units);
}

function ptrAnswer(
  l: Extract<Lookup, { kind: 'ptr' }>,
  qLabels: string[],
  qtype: number,
  nodes: Node[],
  dc: string,
  dict: NameDict,
  s: AnswerSettings,
): Prepared {
  const hits = nodes.filter((n) => normalIp(n.Address) === l.ip);
  if (hits.length === 0) return nxdomain(l.zone, dict, s);
  if (qtype !== QTYPE.PTR && qtype !== QTYPE.ANY) return noData(l.zone, dict, s);
  const units = hits.map((n) => {
    const w = new ByteWriter();
    writeRecord(w, qLabels, dict, QTYPE.PTR, s.nodeTtl, (r) =>
      r.name([...labelsOf(n.Node), 'node', dc, ...l.zone], dict),
    );
    return unitOf(w, 1);
  });
  return answer(l.zone, dict, s, units);
}

function apexAnswer(
  zone: string[],
  qtype: number,
  servers: CheckServiceNode[],
  dc: string,
  dict: NameDict,
  s: AnswerSettings,
): Prepared {
  const units: Unit[] = [];
  if (qtype === QTYPE.SOA || qtype === QTYPE.ANY) units.push(unitOf(soa(zone, dict, s), 1));
  if (qtype === QTYPE.NS || qtype === QTYPE.ANY) {
    const live = healthy(servers, false);
    if (live.length === 0) {
      const w = new ByteWriter();
      writeRecord(w, zone, dict, QTYPE.NS, 0, (r) => r.name(['ns', ...zone], dict));
      units.push(unitOf(w, 1));
    }
    for (const r of live) {
      const target = [...labelsOf(r.Node.Node), 'node', dc, ...zone];
      const an = new ByteWriter();
      writeRecord(an, zone, dict, QTYPE.NS, 0, (w) => w.name(target, dict));
      const ex = new ByteWriter();
      const exCount = addressRecords(ex, target, dict, r.Node.Address, 0, QTYPE.ANY);
      units.push(unitOf(an, 1, ex, exCount));
    }
  }
  return answer(zone, dict, s, units);
}

/**
 * The prepared answer for a question in our domain. `qLabels` are the question's labels as the
 * cache key has them (lower-cased): records owned by the question name point back at it.
 */
export function buildAnswer(
  lookup: Exclude<Lookup, { kind: 'outside' }>,
  qLabels: string[],
  qtype: number,
  data: LookupData,
  datacenter: string,
  s: AnswerSettings,
): Prepared {
  const dict = new NameDict(qLabels);
  switch (lookup.kind) {
    case 'service':
      return serviceAnswer(lookup, qLabels, qtype, data.kind === 'service' ? data.rows : [], dict, s);
    case 'node':
      return nodeAnswer(lookup, qLabels, qtype, data.kind === 'node' ? data.node : null, dict, s);
    case 'ptr':
      return ptrAnswer(lookup, qLabels, qtype, data.kind === 'nodes' ? data.nodes : [], datacenter, dict, s);
    case 'apex':
      return apexAnswer(lookup.zone, qtype, data.kind === 'service' ? data.rows : [], datacenter, dict, s);
    case 'addr': {
      const u = single((w) => addressRecords(w, qLabels, dict, lookup.ip, s.nodeTtl, qtype));
      return answer(lookup.zone, dict, s, u ? [u] : []);
    }
    case 'query':
      // Executed by the handler (queryAnswer); without an executor no query name exists.
      return nxdomain(lookup.zone, dict, s);
    case 'unknown':
      return nxdomain(lookup.zone, dict, s);
  }
}
