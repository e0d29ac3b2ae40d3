// The HTTP API's connection limits through real sockets on loopback: the per-address cap
// (limits.http_max_conns_per_client) refuses the 201st connection from one address with Consul's
// 429 while another address (127.0.0.2, any 127/8 source works on Linux) is served; the headers
// timeout closes a slowloris connection; a silent connection is closed when idle; a blocking query
// outlives every one of these timeouts. Outcomes only: deadlines are generous, nothing is timed.

import { request } from 'node:http';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOO_MANY_CONNECTIONS } from '../../src/http/conn-limits.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';

// Two agents: one with the default cap (200) and timeouts, whose held connections must not time
// out while the test opens them on a loaded machine; one with short timeouts to see them act.
let capped: DevAgent;
let timed: DevAgent;
let port = 0;
const held: net.Socket[] = [];

const httpPort = (d: DevAgent): number => Number(d.agent.httpAddr?.split(':').at(-1));

beforeAll(async () => {
  capped = await startDevAgent((c) => {
    c.ports.http = 0;
  });
  timed = await startDevAgent((c) => {
    c.ports.http = 0;
    c.httpTimeouts = { readHeaderTimeoutMs: 300, readTimeoutMs: 1000, idleTimeoutMs: 500 };
  });
});

afterAll(async () => {
  for (const s of held) s.destroy();
  await capped.stop();
  await timed.stop();
});

function open(localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the server sends until it closes the connection (or 15 s pass: then `closed` is false). */
function untilClosed(s: net.Socket): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    let text = '';
    const t = setTimeout(() => resolve({ text, closed: false }), 15_000);
    s.on('data', (d: Buffer) => (text += d.toString()));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve({ text, closed: true });
    });
  });
}

/** One GET with a fresh connection from `localAddress`; the status, or the error code. */
function get(path: string, localAddress: string): Promise<{ status: number; body: string } | string> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path, localAddress, agent: false, timeout: 15_000 },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

describe('HTTP API connection limits', () => {
  it('refuses the 201st connection from one address with a 429, serves another address, and never runs the refused request', async () => {
    port = httpPort(capped);
    for (let i = 0; i < 200; i++) held.push(await open('127.0.0.1'));
    const extra = await open('127.0.0.1');
    const seen = untilClosed(extra);
    extra.write('PUT /v1/kv/refused HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nv');
    const r = await seen;
    expect(r.closed).toBe(true);
    expect(r.text.startsWith('HTTP/1.1 429 ')).toBe(true);
    expect(r.text.endsWith(TOO_MANY_CONNECTIONS)).toBe(true);

    // Another address is served while 127.0.0.1 is at its cap.
    const other = await get('/v1/status/leader', '127.0.0.2');
    expect(other).toMatchObject({ status: 200 });
    // The refused connection's PUT never reached the store.
    expect(await get('/v1/kv/refused', '127.0.0.2')).toMatchObject({ status: 404 });

    // Slots come back as connections close.
    for (const s of held.splice(0)) s.destroy();
    let again: Awaited<ReturnType<typeof get>> = '';
    for (let i = 0; i < 100; i++) {
      again = await get('/v1/status/leader', '127.0.0.1');
      if (typeof again !== 'string' && again.status === 200) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(again).toMatchObject({ status: 200 });
  });

  it('closes a slowloris connection after the headers timeout while serving others', async () => {
    port = httpPort(timed);
    const s = await open('127.0.0.3');
    const seen = untilClosed(s);
    s.write('GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n');
    // A header line every 100 ms: traffic never stops, the headers never end.
    const drip = setInterval(() => {
      if (!s.destroyed) s.write(`X-Drip-${Date.now()}: 1\r\n`);
    }, 100);
    try {
      const r = await seen;
      expect(r.closed).toBe(true);
      // node:http answers 408 when it can; either way no request was served.
      expect(r.text === '' || r.text.startsWith('HTTP/1.1 408')).toBe(true);
    } finally {
      clearInterval(drip);
    }
    expect(await get('/v1/status/leader', '127.0.0.3')).toMatchObject({ status: 200 });
  });

  it('closes a connection that never sends anything', async () => {
    port = httpPort(timed);
    const s = await open('127.0.0.4');
    const r = await untilClosed(s);
    expect(r.closed).toBe(true);
    // Whichever comes first: the headers timeout (node:http's 408) or the idle timeout (a close).
    expect(r.text === '' || r.text.startsWith('HTTP/1.1 408')).toBe(true);
  });

  it('never times a response: a blocking query outlives the read and idle timeouts', async () => {
    port = httpPort(timed);
    const first = await get('/v1/kv/blocking', '127.0.0.5');
    expect(first).toMatchObject({ status: 404 });
    const index = await new Promise<string>((resolve) => {
      request({ host: '127.0.0.1', port, path: '/v1/kv/blocking', agent: false }, (res) => {
        res.resume();
        resolve(String(res.headers['x-consul-index']));
      }).end();
    });
    // 2 s of waiting with no bytes moving: longer than the 1 s read and 0.5 s idle timeouts.
    const r = await get(`/v1/kv/blocking?index=${index}&wait=2s`, '127.0.0.5');
    expect(r).toMatchObject({ status: 404 });
  });
});
