// The hot-path wire code: the strict query parser, reply assembly (ID and question echo, size
// limits and the TC bit, the shuffle), and the position-independent record encoding, with replies
// decoded by dns2's parser as an independent check.

import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/rng.js';
import {
  ByteWriter,
  DROP,
  NameDict,
  QTYPE,
  RCODE,
  assemble,
  errorReply,
  keyLabels,
  keyType,
  parseQuery,
  prepared,
  unitOf,
  writeRecord,
  type AssembleOptions,
  type Prepared,
} from '../../src/dns/wire.js';
import { T, buildQuery, decode } from '../support/dns.js';

const rngOf = (seed: number): (() => number) => {
  const r = seededRng(seed);
  return () => r.next();
};

const opts = (o: Partial<AssembleOptions> = {}): AssembleOptions => ({
  limit: 512,
  maxUnits: 0,
  setTruncated: true,
  countTruncates: false,
  recursionAvailable: false,
  rng: rngOf(1),
  ...o,
});

/** A prepared answer of `n` A records (10.0.0.i) owned by the question name. */
function aRecords(qname: string, n: number, shuffle = true): Prepared {
  const labels = qname.split('.');
  const dict = new NameDict(labels);
  const units = Array.from({ length: n }, (_, i) => {
    const w = new ByteWriter();
    writeRecord(w, labels, dict, QTYPE.A, 30, (r) => r.raw([10, 0, i >> 8, i & 0xff]));
    return unitOf(w, 1);
  });
  return prepared(RCODE.NOERROR, units, { shuffle });
}

describe('parseQuery', () => {
  it('reads ID, flags, question and a lower-cased key', () => {
    const q = parseQuery(buildQuery('Web.SERVICE.consul', T.SRV, { id: 0xbeef }));
    expect(q.error).toBe(0);
    expect(q.id).toBe(0xbeef);
    expect(q.rd).toBe(true);
    expect(q.qtype).toBe(T.SRV);
    expect(q.qclass).toBe(1);
    expect(q.edns).toBeNull();
    expect(keyLabels(q.key)).toEqual(['web', 'service', 'consul']);
    expect(keyType(q.key)).toBe(T.SRV);
    // Case does not change the key: one cache entry for every spelling.
    expect(parseQuery(buildQuery('web.service.CONSUL', T.SRV)).key).toBe(q.key);
    expect(parseQuery(buildQuery('web.service.consul', T.A)).key).not.toBe(q.key);
  });

  it('reads the EDNS0 buffer size, clamped to [512, 4096]', () => {
    expect(parseQuery(buildQuery('a.consul', T.A, { edns: 1232 })).edns?.udpSize).toBe(1232);
    expect(parseQuery(buildQuery('a.consul', T.A, { edns: 100 })).edns?.udpSize).toBe(512);
    expect(parseQuery(buildQuery('a.consul', T.A, { edns: 65000 })).edns?.udpSize).toBe(4096);
  });

  it('drops responses and runts, FORMERRs malformed queries, NOTIMPs other opcodes', () => {
    const good = buildQuery('a.consul', T.A);
    expect(parseQuery(good.subarray(0, 11)).error).toBe(DROP);
    const resp = Buffer.from(good);
    resp[2] = (resp[2] as number) | 0x80;
    expect(parseQuery(resp).error).toBe(DROP);
    expect(parseQuery(good.subarray(0, good.length - 1)).error).toBe(RCODE.FORMERR);
    expect(parseQuery(Buffer.concat([good, Buffer.from([0])])).error).toBe(RCODE.FORMERR);
    const two = Buffer.from(good);
    two.writeUInt16BE(2, 4);
    expect(parseQuery(two).error).toBe(RCODE.FORMERR);
    const answers = Buffer.from(good);
    answers.writeUInt16BE(1, 6);
    expect(parseQuery(answers).error).toBe(RCODE.FORMERR);
    // A compression pointer in the question (here pointing at itself: a loop).
    const ptr = Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    expect(parseQuery(ptr).error).toBe(RCODE.FORMERR);
    const label64 = Buffer.concat([
      good.subarray(0, 12),
      Buffer.from([64]),
      Buffer.alloc(64, 97),
      Buffer.from([0, 0, 1, 0, 1]),
    ]);
    expect(parseQuery(label64).error).toBe(RCODE.FORMERR);
    const notify = Buffer.from(good);
    notify[2] = 4 << 3;
    expect(parseQuery(notify).error).toBe(RCODE.NOTIMP);
  });

  it('refuses names over 255 bytes and a second OPT', () => {
    const long = Array.from({ length: 5 }, () => 'x'.repeat(60)).join('.');
    expect(parseQuery(buildQuery(long, T.A)).error).toBe(RCODE.FORMERR);
    const q = buildQuery('a.consul', T.A, { edns: 1232 });
    const twice = Buffer.concat([q, q.subarray(q.length - 11)]);
    twice.writeUInt16BE(2, 10);
    expect(parseQuery(twice).error).toBe(RCODE.FORMERR);
  });
});

describe('assemble', () => {
  it('echoes the ID, RD and the question as the client spelled it', () => {
    const query = buildQuery('WeB.service.consul', T.A, { id: 77 });
    const q = parseQuery(query);
    const r = decode(assemble(query, q, aRecords('web.service.consul', 2), opts()));
    expect(r.header.id).toBe(77);
    expect(r.header.qr).toBe(1);
    expect(r.header.aa).toBe(1);
    expect(r.header.rd).toBe(1);
    expect(r.questions[0]?.name).toBe('WeB.service.consul');
    expect(r.answers.map((a) => a.name)).toEqual(['WeB.service.consul', 'WeB.service.consul']);
    expect(r.answers.map((a) => a.ttl)).toEqual([30, 30]);
  });

  it('fills 512 bytes without EDNS0 and sets TC; all of them with a larger buffer or on TCP', () => {
    const p = aRecords('web.service.consul', 40);
    const plain = buildQuery('web.service.consul', T.A);
    const small = assemble(plain, parseQuery(plain), p, opts());
    expect(small.length).toBeLessThanOrEqual(512);
    const r = decode(small);
    expect(r.header.tc).toBe(1);
    expect(r.answers.length).toBeGreaterThan(20);
    expect(r.answers.length).toBeLessThan(40);
    const big = buildQuery('web.service.consul', T.A, { edns: 4096 });
    const rb = decode(assemble(big, parseQuery(big), p, opts({ limit: 4096 })));
    expect(rb.header.tc).toBe(0);
    expect(rb.answers).toHaveLength(40);
    expect(rb.additionals.some((a) => a.type === 41)).toBe(true);
    const tcp = decode(assemble(plain, parseQuery(plain), p, opts({ limit: 65535 })));
    expect(tcp.answers).toHaveLength(40);
  });

  it('trims without TC when enable_truncate is off, and to udp_answer_limit', () => {
    const p = aRecords('web.service.consul', 40);
    const plain = buildQuery('web.service.consul', T.A);
    const q = parseQuery(plain);
    const quiet = decode(assemble(plain, q, p, opts({ setTruncated: false })));
    expect(quiet.header.tc).toBe(0);
    expect(quiet.answers.length).toBeLessThan(40);
    const three = decode(assemble(plain, q, p, opts({ maxUnits: 3, setTruncated: false })));
    expect(three.answers).toHaveLength(3);
    expect(three.header.tc).toBe(0);
    const threeTc = decode(assemble(plain, q, p, opts({ maxUnits: 3, countTruncates: true })));
    expect(threeTc.header.tc).toBe(1);
    // A limit that leaves nothing out sets no TC.
    const two = aRecords('web.service.consul', 2);
    expect(decode(assemble(plain, q, two, opts({ maxUnits: 3, countTruncates: true }))).header.tc).toBe(0);
  });

  it('shuffles: every instance comes first about equally often, and none is lost or repeated', () => {
    const p = aRecords('web.service.consul', 5);
    const query = buildQuery('web.service.consul', T.A);
    const q = parseQuery(query);
    const rng = rngOf(7);
    const first = new Map<string, number>();
    for (let i = 0; i < 5000; i++) {
      const r = decode(assemble(query, q, p, opts({ rng })));
      const addrs = r.answers.map((a) => (a as unknown as { address: string }).address);
      expect(new Set(addrs).size).toBe(5);
      first.set(addrs[0] as string, (first.get(addrs[0] as string) ?? 0) + 1);
    }
    expect(first.size).toBe(5);
    for (const n of first.values()) expect(n).toBeGreaterThan(850);
  });

  it('keeps the order when shuffling is off', () => {
    const p = aRecords('n.node.consul', 3, false);
    const query = buildQuery('n.node.consul', T.A);
    const r = decode(assemble(query, parseQuery(query), p, opts()));
    expect(r.answers.map((a) => (a as unknown as { address: string }).address)).toEqual([
      '10.0.0.0',
      '10.0.0.1',
      '10.0.0.2',
    ]);
  });
});

describe('errorReply', () => {
  it('echoes the question and carries the RCODE; BADVERS rides the OPT record', () => {
    const query = buildQuery('x.example', T.A, { id: 9, edns: 1232 });
    const q = parseQuery(query);
    const r = decode(errorReply(query, q, RCODE.REFUSED, false));
    expect(r.header.id).toBe(9);
    expect(r.header.rcode).toBe(RCODE.REFUSED);
    expect(r.questions[0]?.name).toBe('x.example');
    const bad = decode(errorReply(query, q, RCODE.BADVERS, false));
    expect(bad.header.rcode).toBe(RCODE.BADVERS);
  });

  it('answers FORMERR without a question when the question did not parse', () => {
    const query = buildQuery('x.example', T.A, { id: 5 });
    const cut = query.subarray(0, 14);
    const r = decode(errorReply(cut, parseQuery(cut), RCODE.FORMERR, false));
    expect(r.header.rcode).toBe(RCODE.FORMERR);
    expect(r.header.qdcount).toBe(0);
    expect(r.header.id).toBe(5);
  });
});

describe('NameDict', () => {
  it('compresses names only against the question, so records stay movable', () => {
    const dict = new NameDict(['web', 'service', 'dc1', 'consul']);
    const w = new ByteWriter();
    w.name(['node1', 'node', 'dc1', 'consul'], dict);
    // "node1" "node" then a pointer to "dc1.consul" at 12 + 4 + 8.
    expect(Buffer.from(w.bytes)).toEqual(
      Buffer.concat([
        Buffer.from([5]),
        Buffer.from('node1'),
        Buffer.from([4]),
        Buffer.from('node'),
        Buffer.from([0xc0, 24]),
      ]),
    );
    const plain = new ByteWriter();
    plain.name(['a', 'example'], dict);
    expect(plain.bytes.at(-1)).toBe(0);
  });
});
