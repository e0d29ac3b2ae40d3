// DNS over TCP: connections from one address are capped below the listener's total, so one address
// cannot take every slot: past its cap its connections are closed at once while another address
// (127.0.0.2) is still answered. The total cap and the idle timeout are in dns-server.test.ts.

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
