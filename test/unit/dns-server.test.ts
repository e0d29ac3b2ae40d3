// The listeners' limits: concurrent TCP connections are capped, an idle TCP connection is closed, a
// length prefix shorter than a header ends the stream, and one UDP and TCP port is shared.

import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { DnsServer } from '../../src/dns/server.js';
import { T, buildQuery, decode, tcpRaw, udpRaw } from '../support/dns.js';
import { testHandler, type TestHandler } from '../support/dns-handler.js';

let h: TestHandler;
let server: DnsServer;
let port = 0;

beforeAll(async () => {
  h = testHandler();
  server = new DnsServer({
    address: '127.0.0.1',
    port: 0,
    handler: h.handler,
    logger: silentLogger(),
    maxTcpConnections: 2,
    tcpIdleMs: 200,
  });
  port = await server.start();
});

afterAll(async () => {
  await server.stop();
  h.stop();
});

/** Resolves when the connection is closed by the other side (or errors); with how long it took. */
function closed(c: net.Socket): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    c.on('close', () => resolve(Date.now() - t0));
    c.on('error', () => undefined);
    c.on('data', () => undefined);
  });
}

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ port, host: '127.0.0.1' }, () => resolve(c));
    c.once('error', reject);
  });
}

describe('DnsServer', () => {
  it('serves UDP and TCP on the same port', async () => {
    expect(decode(await udpRaw(port, buildQuery('foo.node.consul', T.A))).answers).toHaveLength(1);
    expect(decode(await tcpRaw(port, buildQuery('foo.node.consul', T.A))).answers).toHaveLength(1);
  });

  it('closes an idle TCP connection', async () => {
    const c = await connect();
    const ms = await closed(c);
    expect(ms).toBeGreaterThanOrEqual(150);
    expect(ms).toBeLessThan(2000);
  });

  it('ends a stream whose length prefix cannot hold a header', async () => {
    const c = await connect();
    const done = closed(c);
    c.write(Buffer.from([0, 5, 1, 2, 3, 4, 5]));
    expect(await done).toBeLessThan(150);
  });

  it('caps concurrent TCP connections', async () => {
    const a = await connect();
    const b = await connect();
    // Let the server count them before the third arrives.
    await new Promise((r) => setTimeout(r, 20));
    const c = net.connect({ port, host: '127.0.0.1' });
    const third = closed(c);
    expect(await third).toBeLessThan(150);
    a.destroy();
    b.destroy();
    await new Promise((r) => setTimeout(r, 20));
    expect(decode(await tcpRaw(port, buildQuery('foo.node.consul', T.A))).answers).toHaveLength(1);
  });
});
