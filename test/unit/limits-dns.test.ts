// DNS over TCP: connections from one address are capped below the listener's total, so one address
// cannot take every slot: past its cap its connections are closed at once while another address
// (127.0.0.2) is still answered. The total cap and the idle timeout are in dns-server.test.ts.
// Over UDP, error replies to one address are rate-limited: junk gets silence past a few a second,
// while that address's real queries are still answered.

import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { DnsServer } from '../../src/dns/server.js';
import { framed } from '../../src/dns/wire.js';
import { T, buildQuery, decode } from '../support/dns.js';
import { testHandler, type TestHandler } from '../support/dns-handler.js';

let h: TestHandler;
let server: DnsServer;
let port = 0;
const held: net.Socket[] = [];

beforeAll(async () => {
  h = testHandler();
  server = new DnsServer({
    address: '127.0.0.1',
    port: 0,
    handler: h.handler,
    logger: silentLogger(),
    maxTcpConnections: 10,
    maxTcpConnectionsPerClient: 3,
    tcpIdleMs: 60_000,
  });
  port = await server.start();
});

afterAll(async () => {
  for (const s of held) s.destroy();
  await server.stop();
  h.stop();
});

function connect(localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ port, host: '127.0.0.1', localAddress }, () => resolve(c));
    c.once('error', reject);
    held.push(c);
  });
}

/** One query on `c`: the answer, or null if the server closes the connection first (or 15 s pass). */
function ask(c: net.Socket): Promise<Buffer | null> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => resolve(null), 15_000);
    c.on('error', () => undefined);
    c.on('close', () => {
      clearTimeout(t);
      resolve(null);
    });
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(t);
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      }
    });
    c.write(framed(buildQuery('foo.node.consul', T.A)));
  });
}

describe('DNS over TCP, per address', () => {
  it('closes connections past the per-address cap; another address is answered', async () => {
    const mine = [await connect('127.0.0.1'), await connect('127.0.0.1'), await connect('127.0.0.1')];
    // The three are counted before the fourth is accepted (accept order), and each is served.
    for (const c of mine) expect(await ask(c)).not.toBeNull();
    expect(await ask(await connect('127.0.0.1'))).toBeNull();
    const other = await ask(await connect('127.0.0.2'));
    expect(other).not.toBeNull();
    expect(decode(other as Buffer).answers).toHaveLength(1);
    // A slot freed is a slot taken again.
    (mine[0] as net.Socket).destroy();
    let again: Buffer | null = null;
    for (let i = 0; i < 50 && !again; i++) {
      await new Promise((r) => setTimeout(r, 20));
      again = await ask(await connect('127.0.0.1'));
    }
    expect(again).not.toBeNull();
  });
});

describe('DNS over UDP, junk from one address', () => {
  it('answers the first NOTIMP/FORMERR replies of a second, then no more; real queries still', async () => {
    const sock = dgram.createSocket('udp4');
    const replies: Buffer[] = [];
    sock.on('message', (m) => replies.push(m));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    try {
      // 100 queries with opcode 2 (STATUS): NOTIMP each, and 100 runts of header plus junk: FORMERR.
      const notimp = buildQuery('foo.node.consul', T.A);
      notimp[2] = ((notimp[2] ?? 0) & 0x87) | (2 << 3);
      const formerr = Buffer.concat([
        buildQuery('foo.node.consul', T.A).subarray(0, 12),
        Buffer.from([0xff, 0xff]),
      ]);
      for (let i = 0; i < 100; i++) {
        sock.send(notimp, port, '127.0.0.1');
        sock.send(formerr, port, '127.0.0.1');
      }
      await new Promise((r) => setTimeout(r, 300));
      const errors = replies.filter((m) => ((m[3] ?? 0) & 0x0f) !== 0);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.length).toBeLessThanOrEqual(20);
      expect(server.errorRepliesDropped).toBeGreaterThanOrEqual(200 - errors.length - 20);
      // The same address's real query is answered at once.
      replies.length = 0;
      sock.send(buildQuery('foo.node.consul', T.A), port, '127.0.0.1');
      const until = Date.now() + 5000;
      while (replies.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      expect(replies).toHaveLength(1);
      expect(decode(replies[0] as Buffer).answers).toHaveLength(1);
    } finally {
      sock.close();
    }
  });
});
