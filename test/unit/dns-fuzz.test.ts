// Hostile input: random packets and mutated valid queries (flipped and set bytes, truncation,
// extension, bogus section counts, compression pointers and loops, broken label lengths) against
// the pure packet handler, 50,000+ runs; then a smaller batch over real UDP and TCP sockets. Every
// message gets a well-formed reply (dns2 decodes it, QR set, our ID, within the size limit) or,
// for runts and responses only, silence. Nothing throws.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { DnsServer } from '../../src/dns/server.js';
import { T, buildQuery, decode, tcpRaw, udpRaw } from '../support/dns.js';
import { testHandler, type TestHandler } from '../support/dns-handler.js';

let h: TestHandler;
beforeAll(() => {
  h = testHandler();
});
afterAll(() => h.stop());

const NAMES = [
  'web.service.consul',
  'WEB.service.dc1.consul',
  'v1.web.service.consul',
  '_web._tcp.service.consul',
  'web.service.dc2.consul',
  'foo.node.consul',
  'foo.node.dc1.consul',
  '0a000001.addr.dc1.consul',
  'geo.query.consul',
  'consul',
  'nope.consul',
  '1.1.1.10.in-addr.arpa',
  'web.service.alt.test',
  'example.com',
];
const TYPES = [T.A, T.AAAA, T.SRV, T.TXT, T.ANY, T.SOA, T.NS, T.PTR, T.CNAME, 99, 252];

const validQuery = fc
  .record({
    name: fc.constantFrom(...NAMES),
    type: fc.constantFrom(...TYPES),
    id: fc.integer({ min: 0, max: 0xffff }),
    edns: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }),
  })
  .map(({ name, type, id, edns }) => buildQuery(name, type, edns === undefined ? { id } : { id, edns }));

type Mutation = (b: Buffer) => Buffer;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }).map(({ at, bit }) => (b: Buffer) => {
    const c = Buffer.from(b);
    if (c.length > 0) c[at % c.length] = (c[at % c.length] as number) ^ (1 << bit);
    return c;
  }),
  fc.record({ at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }).map(({ at, v }) => (b: Buffer) => {
    const c = Buffer.from(b);
    if (c.length > 0) c[at % c.length] = v;
    return c;
  }),
  fc.nat().map((n) => (b: Buffer) => b.subarray(0, n % (b.length + 1))),
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((extra) => (b: Buffer) => Buffer.concat([b, extra])),
  fc
    .record({ field: fc.integer({ min: 0, max: 3 }), v: fc.integer({ min: 0, max: 0xffff }) })
    .map(({ field, v }) => (b: Buffer) => {
      const c = Buffer.from(b);
      if (c.length >= 12) c.writeUInt16BE(v, 4 + field * 2);
      return c;
    }),
  // A compression pointer somewhere in the name, often at itself or forwards: loops and overreach.
  fc
    .record({ at: fc.nat(), target: fc.integer({ min: 0, max: 0x3fff }) })
    .map(({ at, target }) => (b: Buffer) => {
      const c = Buffer.from(b);
      const i = 12 + (at % Math.max(1, c.length - 13));
      if (i + 1 < c.length) c.writeUInt16BE(0xc000 | (target % (c.length + 4)), i);
      return c;
    }),
  // A label length that overruns or is a reserved (0x40/0x80) form.
  fc.integer({ min: 0, max: 255 }).map((v) => (b: Buffer) => {
    const c = Buffer.from(b);
    if (c.length > 12) c[12] = v;
    return c;
  }),
  // The QR bit and opcode.
  fc.integer({ min: 0, max: 255 }).map((v) => (b: Buffer) => {
    const c = Buffer.from(b);
    if (c.length > 2) c[2] = v;
    return c;
  }),
);

const mutated = fc
  .tuple(validQuery, fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([q, ms]) => ms.reduce((b, m) => m(b), q));

async function checkReply(query: Buffer, tcp: boolean): Promise<void> {
  const reply = await h.handler.handle(query, tcp);
  if (reply === null) {
    // Silence only for what cannot be answered: a runt, or a response.
    expect(query.length < 12 || ((query[2] as number) & 0x80) !== 0).toBe(true);
    return;
  }
  const r = decode(reply);
  expect(r.header.qr).toBe(1);
  expect(r.header.id).toBe(query.readUInt16BE(0));
  expect(r.header.qdcount).toBeLessThanOrEqual(1);
  expect(reply.length).toBeLessThanOrEqual(tcp ? 65535 : 4096);
  const hasOpt = r.additionals.some((a) => a.type === 41);
  if (!tcp && !hasOpt) expect(reply.length).toBeLessThanOrEqual(512);
}

describe('the packet handler under hostile input', () => {
  it('answers every valid query (3,000 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(validQuery, fc.boolean(), async (q, tcp) => {
        await checkReply(q, tcp);
        const r = decode((await h.handler.handle(q, tcp)) as Buffer);
        expect(r.questions).toHaveLength(1);
      }),
      { numRuns: 3000 },
    );
  });

  it('survives mutated queries (35,000 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(mutated, fc.boolean(), (q, tcp) => checkReply(q, tcp)),
      { numRuns: 35_000 },
    );
  });

  it('survives random bytes (12,000 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 600 }), fc.boolean(), (bytes, tcp) =>
        checkReply(Buffer.from(bytes), tcp),
      ),
      { numRuns: 12_000 },
    );
  });

  it('survives random headers in front of valid questions (5,000 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 12, maxLength: 12 }), validQuery, (head, q) =>
        checkReply(Buffer.concat([Buffer.from(head), q.subarray(12)]), false),
      ),
      { numRuns: 5000 },
    );
  });
});

describe('over real sockets', () => {
  let server: DnsServer;
  let port = 0;
  beforeAll(async () => {
    server = new DnsServer({ address: '127.0.0.1', port: 0, handler: h.handler, logger: silentLogger() });
    port = await server.start();
  });
  afterAll(() => server.stop());

  it('keeps answering after 2,000 hostile UDP packets', async () => {
    const samples = fc.sample(
      fc.oneof(
        mutated,
        fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
      ),
      {
        numRuns: 2000,
        seed: 42,
      },
    );
    const dgram = await import('node:dgram');
    const s = dgram.createSocket('udp4');
    const replies: Buffer[] = [];
    s.on('message', (b) => replies.push(b));
    for (const [i, p] of samples.entries()) {
      s.send(p, port, '127.0.0.1');
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 300));
    s.close();
    for (const b of replies) expect(decode(b).header.qr).toBe(1);
    // Each packet that is a query got a reply, or (junk past the per-address rate) was counted and
    // left unanswered.
    expect(replies.length + server.errorRepliesDropped).toBeGreaterThan(500);
    expect(server.errorRepliesDropped).toBeGreaterThan(0);
    const ok = decode(await udpRaw(port, buildQuery('web.service.consul', T.A, { id: 4242 })));
    expect(ok.header.id).toBe(4242);
    expect(ok.answers.length).toBeGreaterThan(0);
  });

  it('closes TCP streams that are not DNS and keeps serving', async () => {
    const net = await import('node:net');
    const junk = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 200 }), { numRuns: 50, seed: 7 });
    await Promise.all(
      junk.map(
        (bytes) =>
          new Promise<void>((resolve) => {
            const c = net.connect({ port, host: '127.0.0.1' }, () => c.end(Buffer.from(bytes)));
            c.on('data', () => undefined);
            c.on('error', () => resolve());
            c.on('close', () => resolve());
          }),
      ),
    );
    const r = decode(await tcpRaw(port, buildQuery('web.service.consul', T.SRV)));
    expect(r.answers).toHaveLength(12);
  });

  it('answers pipelined TCP queries on one connection', async () => {
    const net = await import('node:net');
    const frames = [1, 2, 3].map((id) => {
      const q = buildQuery('foo.node.consul', T.A, { id });
      const f = Buffer.alloc(2);
      f.writeUInt16BE(q.length, 0);
      return Buffer.concat([f, q]);
    });
    const ids = await new Promise<number[]>((resolve, reject) => {
      const c = net.connect({ port, host: '127.0.0.1' }, () => c.write(Buffer.concat(frames)));
      let buf = Buffer.alloc(0);
      const got: number[] = [];
      c.on('error', reject);
      c.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          got.push(decode(buf.subarray(2, 2 + buf.readUInt16BE(0))).header.id);
          buf = buf.subarray(2 + buf.readUInt16BE(0));
        }
        if (got.length === 3) {
          c.destroy();
          resolve(got);
        }
      });
    });
    expect(ids.sort()).toEqual([1, 2, 3]);
  });
});
