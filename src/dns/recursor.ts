// Recursors: names outside our domains go to the configured upstream servers, tried in order, each
// with recursor_timeout. The client's packet is forwarded as it came (its EDNS0 buffer, DO bit and
// flags intact) under a fresh random ID, and the upstream's reply goes back with the client's ID
// restored: relaying bytes keeps every record type and option upstream answers with, where
// re-encoding through a generic client (dns2's) would only keep the types it knows. A query that
// came over TCP is forwarded over TCP, so a large answer stays whole.

import { randomInt } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { HEADER_SIZE, TCP_LIMIT } from './wire.js';

export interface Upstream {
  host: string;
  port: number;
}

/** "1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:5353", "dns.example" → host and port (53 by default). */
export function parseUpstream(s: string): Upstream | null {
  const t = s.trim();
  let m = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (m) return upstream(m[1] as string, m[2]);
  if (net.isIPv6(t)) return { host: t, port: 53 };
  m = /^([^:]+)(?::(\d+))?$/.exec(t);
  return m ? upstream(m[1] as string, m[2]) : null;
}

function upstream(host: string, port: string | undefined): Upstream | null {
  const p = port === undefined ? 53 : Number(port);
  if (!Number.isInteger(p) || p < 1 || p > 65535 || host === '') return null;
  return { host, port: p };
}

export class Recursor {
  constructor(
    private readonly upstreams: Upstream[],
    private readonly timeoutMs: number,
    /** Consul's recursor_strategy: in order, or a random order for each query. */
    private readonly strategy: 'sequential' | 'random' = 'sequential',
  ) {}

  get enabled(): boolean {
    return this.upstreams.length > 0;
  }

  /** The first upstream's reply, with the client's ID; null when every one failed or timed out. */
  async forward(query: Buffer, tcp: boolean): Promise<Buffer | null> {
    if (query.length < HEADER_SIZE) return null;
    const order = [...this.upstreams];
    if (this.strategy === 'random') {
      for (let i = order.length - 1; i > 0; i--) {
        const j = randomInt(i + 1);
        [order[i], order[j]] = [order[j] as Upstream, order[i] as Upstream];
      }
    }
    for (const u of order) {
      const id = randomInt(0x10000);
      const out = Buffer.from(query);
      out.writeUInt16BE(id, 0);
      try {
        const reply = tcp
          ? await tcpExchange(u, out, id, this.timeoutMs)
          : await udpExchange(u, out, id, this.timeoutMs);
        const back = Buffer.from(reply);
        back.writeUInt16BE(query.readUInt16BE(0), 0);
        // We offer recursion to the client whatever the upstream said about itself.
        back[3] = (back[3] as number) | 0x80;
        return back;
      } catch {
        // The next upstream, as Consul's sequential strategy does.
      }
    }
    return null;
  }
}

/** A reply is one for us: a response (QR) carrying our ID. */
function matches(b: Buffer, id: number): boolean {
  return b.length >= HEADER_SIZE && b.readUInt16BE(0) === id && ((b[2] as number) & 0x80) !== 0;
}

function udpExchange(u: Upstream, msg: Buffer, id: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(u.host) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (err: Error | null, b?: Buffer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(b as Buffer);
    };
    const timer = setTimeout(() => finish(new Error('recursor timed out')), timeoutMs);
    sock.on('error', (err) => finish(err));
    sock.on('message', (b, rinfo) => {
      // Only the upstream we asked may answer (an IP literal is checked; a name was resolved by dgram).
      if (net.isIP(u.host) && (rinfo.port !== u.port || !sameHost(rinfo.address, u.host))) return;
      if (matches(b, id)) finish(null, b);
    });
    sock.send(msg, u.port, u.host, (err) => {
      if (err) finish(err);
    });
  });
}

function sameHost(a: string, b: string): boolean {
  return a === b || a.replace(/^::ffff:/, '') === b.replace(/^::ffff:/, '');
}

function tcpExchange(u: Upstream, msg: Buffer, id: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: u.host, port: u.port });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | null, b?: Buffer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(b as Buffer);
    };
    const timer = setTimeout(() => finish(new Error('recursor timed out')), timeoutMs);
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(new Error('recursor closed the connection')));
    sock.on('connect', () => {
      const framed = Buffer.allocUnsafe(msg.length + 2);
      framed.writeUInt16BE(msg.length, 0);
      msg.copy(framed, 2);
      sock.write(framed);
    });
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length > TCP_LIMIT + 2) return finish(new Error('recursor reply too large'));
      if (buf.length < 2) return;
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) return;
      const b = buf.subarray(2, 2 + len);
      if (matches(b, id)) finish(null, b);
      else finish(new Error('recursor replied to another query'));
    });
  });
}
