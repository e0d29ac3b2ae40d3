// The DNS listeners: UDP and TCP on one port at the client address. They own the sockets and
// nothing else: every message goes to the packet handler, and what it returns goes back. Limits:
// a TCP message's length prefix is checked (at least a header), each TCP connection closes after
// `tcpIdleMs` without traffic, at most `maxTcpConnections` at once and `maxTcpConnectionsPerClient`
// from one address (so one address cannot take every slot), and at most `maxInflightPerConnection`
// unanswered queries per connection (the socket pauses past it). Over UDP, error replies (to junk)
// are rate-limited per source address.

import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { Logger } from 'pino';
import { clientAddress, PerAddressCount } from '../core/per-address.js';
import type { DnsHandler, Reply } from './handler.js';
import { HEADER_SIZE, RCODE, framed } from './wire.js';
import { Throttle } from '../core/throttle.js';

/**
 * FORMERR/NOTIMP replies per second to one address over UDP. A real resolver sends few malformed
 * queries; a flood of junk (often from a spoofed address) is answered this many times, then not.
 */
const ERROR_REPLIES_PER_SECOND = 20;

export interface DnsServerOptions {
  address: string;
  /** 0: any free port (the same one for UDP and TCP). */
  port: number;
  handler: PacketHandler;
  logger: Logger;
  /** Open TCP connections in all (256). */
  maxTcpConnections?: number;
  /** Open TCP connections from one remote address (64; 0: no cap of its own). */
  maxTcpConnectionsPerClient?: number;
  tcpIdleMs?: number;
  maxInflightPerConnection?: number;
}

/** What the listeners need of the packet handler (handler.ts; agent-dns.ts may wrap it). */
export type PacketHandler = Pick<DnsHandler, 'handle'>;

/** A lookup for sockets that only ever see IP literals; anything else is refused, not resolved. */
function literalLookup(family: 4 | 6): NonNullable<dgram.SocketOptions['lookup']> {
  return (host, _opts, cb) => {
    if (net.isIP(host) === 0)
      cb(Object.assign(new Error(`not an IP address: ${host}`), { code: 'EINVAL' }), '', family);
    else cb(null, host, family);
  };
}

export class DnsServer {
  private udp: dgram.Socket | null = null;
  /** Error replies per source address: ERROR_REPLIES_PER_SECOND, then silence until the next second. */
  private readonly errorReplies = new Throttle(1000, 10_000, ERROR_REPLIES_PER_SECOND);
  /** Error replies not sent because their address was past its rate. */
  errorRepliesDropped = 0;
  private tcp: net.Server | null = null;
  private readonly conns = new Set<net.Socket>();
  private perClient = new PerAddressCount(0);
  private closed = false;

  constructor(private readonly o: DnsServerOptions) {}

  /** Binds UDP then TCP on the same port; returns it. */
  async start(): Promise<number> {
    // With port 0 the kernel picks the UDP port; TCP may find it taken, so try a few.
    for (let attempt = 0; ; attempt++) {
      let port: number;
      try {
        port = await this.bindUdp(this.o.port);
      } catch (err) {
        await this.closeUdp();
        throw err;
      }
      try {
        await this.bindTcp(port);
        return port;
      } catch (err) {
        await this.closeUdp();
        this.tcp = null;
        if (this.o.port !== 0 || attempt >= 5) throw err;
      }
    }
  }

  private bindUdp(port: number): Promise<number> {
    const v6 = net.isIPv6(this.o.address);
    // Every reply goes to an address the kernel gave us (an IP literal): resolving it through
    // dns.lookup, as send() otherwise does for each datagram, costs a tick and buys nothing.
    const sock = net.isIP(this.o.address)
      ? dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', lookup: literalLookup(v6 ? 6 : 4) })
      : dgram.createSocket({ type: v6 ? 'udp6' : 'udp4' });
    this.udp = sock;
    const h = this.o.handler;
    const log = this.o.logger;
    const send = (b: Buffer, rinfo: dgram.RemoteInfo): void => {
      // Source port 0 cannot be answered (and send() would throw on it): a spoofed packet.
      if (this.closed || rinfo.port === 0) return;
      // Junk gets FORMERR or NOTIMP; past a few a second from one address it gets silence, so a
      // flood of it costs us a parse per packet and not a send too (real queries get through).
      const rcode = (b[3] ?? 0) & 0x0f;
      if ((rcode === RCODE.FORMERR || rcode === RCODE.NOTIMP) && !this.errorReplies.due(rinfo.address)) {
        this.errorRepliesDropped++;
        return;
      }
      try {
        sock.send(b, rinfo.port, rinfo.address);
      } catch (err) {
        log.debug({ err }, 'dns: cannot send a reply');
      }
    };
    sock.on('message', (msg, rinfo) => {
      let r: Reply | Promise<Reply>;
      try {
        r = h.handle(msg, false);
      } catch (err) {
        log.warn({ err }, 'dns: handler failed');
        return;
      }
      if (r === null) return;
      if (!(r instanceof Promise)) send(r, rinfo);
      else
        r.then(
          (b) => {
            if (b) send(b, rinfo);
          },
          (err: unknown) => log.warn({ err }, 'dns: handler failed'),
        );
    });
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      sock.once('error', onError);
      sock.bind(port, this.o.address, () => {
        sock.off('error', onError);
        // A send to a client that went away reports here; it must not take the agent down.
        sock.on('error', (err) => log.debug({ err }, 'dns: udp socket error'));
        // Room for bursts while the event loop is busy elsewhere (the kernel caps it at rmem_max).
        try {
          sock.setRecvBufferSize(4 << 20);
          sock.setSendBufferSize(1 << 20);
        } catch {
          // Not allowed here: the defaults still work.
        }
        resolve(sock.address().port);
      });
    });
  }

  private bindTcp(port: number): Promise<void> {
    this.perClient = new PerAddressCount(this.o.maxTcpConnectionsPerClient ?? 64);
    const srv = net.createServer((s) => this.serveTcp(s));
    srv.maxConnections = this.o.maxTcpConnections ?? 256;
    this.tcp = srv;
    return new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, this.o.address, () => {
        srv.off('error', reject);
        srv.on('error', (err) => this.o.logger.warn({ err }, 'dns: tcp listener error'));
        resolve();
      });
    });
  }

  private serveTcp(s: net.Socket): void {
    const addr = clientAddress(s.remoteAddress);
    if (!this.perClient.acquire(addr)) {
      s.destroy();
      return;
    }
    s.once('close', () => this.perClient.release(addr));
    this.conns.add(s);
    s.setNoDelay(true);
    s.setTimeout(this.o.tcpIdleMs ?? 10_000, () => s.destroy());
    s.on('error', () => s.destroy());
    s.on('close', () => this.conns.delete(s));
    const maxInflight = this.o.maxInflightPerConnection ?? 64;
    let inflight = 0;
    let buf: Buffer = Buffer.alloc(0);
    const write = (b: Buffer | null): void => {
      inflight--;
      if (b && !s.destroyed) s.write(framed(b));
      if (inflight < maxInflight && s.isPaused()) s.resume();
    };
    s.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        // Shorter than a header cannot be a DNS message: the stream is not DNS, close it.
        if (len < HEADER_SIZE) {
          s.destroy();
          return;
        }
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        inflight++;
        let r: Reply | Promise<Reply>;
        try {
          r = this.o.handler.handle(msg, true);
        } catch {
          r = null;
        }
        if (r instanceof Promise) r.then(write, () => write(null));
        else write(r);
      }
      if (inflight >= maxInflight) s.pause();
    });
  }

  private closeUdp(): Promise<void> {
    const u = this.udp;
    this.udp = null;
    return new Promise((resolve) => {
      if (!u) return resolve();
      try {
        u.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  async stop(): Promise<void> {
    this.closed = true;
    await this.closeUdp();
    for (const s of this.conns) s.destroy();
    const t = this.tcp;
    this.tcp = null;
    if (t) await new Promise<void>((r) => t.close(() => r()));
  }
}
