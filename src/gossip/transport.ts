// The gossip port: one UDP socket for packets and one TCP listener for request/reply streams,
// both on the same port as memberlist has them. Everything leaving is sealed with the keyring's
// primary key (when encryption is on and outgoing verification is enabled); everything arriving
// is opened with any key of the ring. What cannot be opened, is too big, or is garbled is dropped
// and counted: the network is untrusted and nothing it sends may crash the agent.
//
// Streams carry one request frame and one reply frame per connection. A frame is a 4-byte
// big-endian length followed by that many bytes (sealed the same way as packets).

import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { createServer, connect, isIP, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { ConsulError, ErrorCode } from '../core/errors.js';
import { looksSealed, open, seal } from './crypto.js';
import type { Keyring } from './keyring.js';

export interface TransportOptions {
  bindAddr: string;
  /** 0 picks a port that is free for both UDP and TCP. */
  port: number;
  /** Read on every message, so key changes apply at once. null: no encryption. */
  keyring: Keyring | null;
  /** Refuse anything that does not open under one of our keys. */
  verifyIncoming: boolean;
  /** Seal what we send (otherwise plaintext, during a rollout of encryption). */
  verifyOutgoing: boolean;
  onPacket: (from: string, data: Uint8Array) => void;
  /** An incoming request frame; the reply frame to send back, or null to hang up. */
  onStream: (from: string, data: Uint8Array) => Uint8Array | null | Promise<Uint8Array | null>;
  logger?: Logger;
  /** Largest stream frame accepted, either way (push/pull state of a big cluster fits easily). */
  maxFrameBytes?: number;
  /** Largest datagram accepted. We send at most ~1400 bytes; others may be more generous. */
  maxPacketBytes?: number;
  /** An incoming connection that has not delivered its request frame by then is closed. */
  idleTimeoutMs?: number;
  /** Incoming connections served at once; more are refused (a flood must not exhaust us). */
  maxInboundConns?: number;
}

export const DEFAULT_MAX_FRAME_BYTES = 16 << 20;
export const DEFAULT_MAX_PACKET_BYTES = 64 << 10;
const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_INBOUND = 256;
/** The most a UDP/IPv4 datagram can carry. */
const UDP_MAX_PAYLOAD = 65_507;
const FRAME_HEADER = 4;
/** Attempts to find a port free for both protocols when asked for any port. */
const PORT_ATTEMPTS = 20;

/** Splits "host:port" ("[v6]:port" too); null when it is not an address. */
export function splitHostPort(addr: string): { host: string; port: number } | null {
  const i = addr.lastIndexOf(':');
  if (i <= 0) return null;
  let host = addr.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const portText = addr.slice(i + 1);
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535 || !host) return null;
  return { host, port };
}

/** Accumulates TCP chunks into one length-prefixed frame. */
class FrameReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private want = -1;

  constructor(private readonly max: number) {}

  /** Whether any byte of a frame has arrived. */
  started(): boolean {
    return this.have > 0;
  }

  /** The frame once complete; 'oversize' when the header announces more than allowed. */
  push(chunk: Buffer): Uint8Array | 'oversize' | null {
    this.chunks.push(chunk);
    this.have += chunk.length;
    if (this.want < 0) {
      if (this.have < FRAME_HEADER) return null;
      const all = this.flatten();
      this.want = all.readUInt32BE(0);
      if (this.want > this.max) return 'oversize';
    }
    if (this.have < FRAME_HEADER + this.want) return null;
    const all = this.flatten();
    return all.subarray(FRAME_HEADER, FRAME_HEADER + this.want);
  }

  private flatten(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] as Buffer;
  }
}

function frame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, FRAME_HEADER);
  return out;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class Transport {
  /** packets.in/out, bytes.in/out, streams.in/out, dropped.* and errors.* */
  readonly counters: Record<string, number> = {};
  keyring: Keyring | null;
  private udp: UdpSocket | null = null;
  private tcp: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private inbound = 0;
  private closed = false;
  private boundPort = 0;
  private readonly maxFrame: number;
  private readonly maxPacket: number;

  constructor(private readonly o: TransportOptions) {
    this.keyring = o.keyring;
    this.maxFrame = o.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxPacket = o.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Binds UDP and TCP on the same port; resolves with that port. */
  async start(): Promise<number> {
    const family = this.o.bindAddr.includes(':') ? 'udp6' : 'udp4';
    for (let attempt = 0; ; attempt++) {
      const tcp = createServer((s) => this.accept(s));
      tcp.on('error', (err) => this.o.logger?.warn({ err }, 'gossip: TCP listener error'));
      try {
        await listenTcp(tcp, this.o.port, this.o.bindAddr);
      } catch (err) {
        throw new ConsulError(
          ErrorCode.Unavailable,
          `Failed to start TCP listener on "${this.o.bindAddr}" port ${this.o.port}: ${message(err)}`,
          { cause: err },
        );
      }
      const port = (tcp.address() as { port: number }).port;
      const udp = createSocket({ type: family, lookup: literalLookup });
      try {
        await bindUdp(udp, port, this.o.bindAddr);
      } catch (err) {
        await closeServer(tcp);
        udp.close();
        // The kernel picked a TCP port whose UDP twin is taken: pick again.
        if (this.o.port === 0 && attempt < PORT_ATTEMPTS) continue;
        throw new ConsulError(
          ErrorCode.Unavailable,
          `Failed to start UDP listener on "${this.o.bindAddr}" port ${port}: ${message(err)}`,
          { cause: err },
        );
      }
      udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
      udp.on('error', (err) => {
        this.count('errors.udp');
        this.o.logger?.warn({ err }, 'gossip: UDP socket error');
      });
      this.udp = udp;
      this.tcp = tcp;
      this.boundPort = port;
      return port;
    }
  }

  /** Sends one datagram to "host:port". Best effort: failures are counted, never thrown. */
  send(to: string, data: Uint8Array): void {
    const udp = this.udp;
    if (!udp || this.closed) return;
    const dest = splitHostPort(to);
    if (!dest) {
      this.count('errors.address');
      return;
    }
    const out = this.sealOut(data);
    if (out.length > UDP_MAX_PAYLOAD) {
      this.count('dropped.oversize.out');
      return;
    }
    this.count('packets.out');
    this.count('bytes.out', out.length);
    try {
      udp.send(out, dest.port, dest.host, (err) => {
        if (err) this.count('errors.send');
      });
    } catch {
      this.count('errors.send');
    }
  }

  /**
   * Sends one request frame to "host:port" and resolves with the reply frame; null on any
   * failure (refused, reset, timeout, bad reply, closed transport). Never rejects. `onFailure`
   * learns why, for error messages.
   */
  stream(
    to: string,
    data: Uint8Array,
    timeoutMs: number,
    onFailure?: (reason: string) => void,
  ): Promise<Uint8Array | null> {
    return new Promise((resolve) => {
      const dest = splitHostPort(to);
      if (!dest || this.closed) {
        this.count('errors.address');
        onFailure?.(this.closed ? 'transport closed' : `invalid address ${to}`);
        resolve(null);
        return;
      }
      this.count('streams.out');
      const reader = new FrameReader(this.maxFrame);
      const socket = connect({ host: dest.host, port: dest.port });
      this.sockets.add(socket);
      let done = false;
      const finish = (reply: Uint8Array | null, why?: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.sockets.delete(socket);
        socket.destroy();
        if (reply === null) {
          this.count('streams.failed');
          onFailure?.(why ?? 'connection closed');
        }
        resolve(reply);
      };
      const timer = setTimeout(() => finish(null, `i/o timeout after ${timeoutMs}ms`), timeoutMs);
      socket.on('connect', () => {
        const out = frame(this.sealOut(data));
        this.count('bytes.out', out.length);
        socket.write(out);
      });
      socket.on('data', (chunk: Buffer) => {
        this.count('bytes.in', chunk.length);
        const got = reader.push(chunk);
        if (got === 'oversize') {
          this.count('dropped.oversize');
          finish(null, 'reply frame too large');
        } else if (got) {
          const plain = this.openIn(got);
          finish(plain, 'reply could not be decrypted');
        }
      });
      socket.on('error', (err) => finish(null, err.message));
      socket.on('close', () => finish(null, 'connection closed before a reply'));
      // Closing the transport destroys the socket, which lands in 'close' above.
    });
  }

  /** Closes both sockets and every open connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const udp = this.udp;
    this.udp = null;
    if (udp) await new Promise<void>((r) => udp.close(() => r()));
    const tcp = this.tcp;
    this.tcp = null;
    if (tcp) await closeServer(tcp);
  }

  private count(name: string, n = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + n;
  }

  private sealOut(data: Uint8Array): Uint8Array {
    const ring = this.keyring;
    if (!ring || !this.o.verifyOutgoing) return data;
    return seal(ring.keys()[0] as Uint8Array, data);
  }

  /** The plaintext of what arrived, or null (counted) when it must be dropped. */
  private openIn(data: Uint8Array): Uint8Array | null {
    const ring = this.keyring;
    if (!ring) return data;
    const plain = open(ring.keys(), data);
    if (plain) return plain;
    // memberlist's rollout mode: without incoming verification a message that does not open is
    // taken as plaintext (the decoder behind us drops it if it is neither).
    if (!this.o.verifyIncoming) {
      this.count('in.plaintext');
      return data;
    }
    this.count(looksSealed(data) ? 'dropped.decrypt' : 'dropped.plaintext');
    return null;
  }

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    this.count('packets.in');
    this.count('bytes.in', msg.length);
    if (msg.length > this.maxPacket) {
      this.count('dropped.oversize');
      return;
    }
    const plain = this.openIn(msg);
    if (!plain) return;
    const from =
      rinfo.family === 'IPv6' ? `[${rinfo.address}]:${rinfo.port}` : `${rinfo.address}:${rinfo.port}`;
    try {
      this.o.onPacket(from, plain);
    } catch (err) {
      this.count('errors.handler');
      this.o.logger?.debug({ err }, 'gossip: packet handler failed');
    }
  }

  private accept(socket: Socket): void {
    if (this.closed || this.inbound >= (this.o.maxInboundConns ?? DEFAULT_MAX_INBOUND)) {
      this.count('dropped.conns');
      socket.destroy();
      return;
    }
    this.count('streams.in');
    this.inbound++;
    this.sockets.add(socket);
    const from = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const reader = new FrameReader(this.maxFrame);
    // Set once the request frame is complete or the connection was dropped for a counted reason.
    let gotRequest = false;
    socket.setTimeout(this.o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, () => {
      if (!gotRequest) this.count('dropped.idle');
      gotRequest = true;
      socket.destroy();
    });
    socket.on('error', () => this.count('errors.conn'));
    socket.on('close', () => {
      this.inbound--;
      this.sockets.delete(socket);
      if (!gotRequest && reader.started()) this.count('dropped.truncated');
    });
    socket.on('data', (chunk: Buffer) => {
      this.count('bytes.in', chunk.length);
      // One request per connection: anything after the first frame is ignored.
      if (gotRequest) return;
      const got = reader.push(chunk);
      if (got === null) return;
      gotRequest = true;
      if (got === 'oversize') {
        this.count('dropped.oversize');
        socket.destroy();
        return;
      }
      const plain = this.openIn(got);
      if (!plain) {
        socket.destroy();
        return;
      }
      void this.serve(socket, from, plain);
    });
  }

  private async serve(socket: Socket, from: string, request: Uint8Array): Promise<void> {
    let reply: Uint8Array | null = null;
    try {
      reply = await this.o.onStream(from, request);
    } catch (err) {
      this.count('errors.handler');
      this.o.logger?.debug({ err }, 'gossip: stream handler failed');
    }
    if (socket.destroyed) return;
    if (!reply) {
      socket.destroy();
      return;
    }
    const out = frame(this.sealOut(reply));
    this.count('bytes.out', out.length);
    socket.end(out);
  }
}

function listenTcp(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function bindUdp(socket: UdpSocket, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port, address: host, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * dgram resolves every destination through dns.lookup, even an IP literal, which costs an async
 * round of its own per packet: a fifth of a member's CPU while a pool joins. Gossip addresses are
 * IP literals (names are resolved once, at join); anything else still goes to the resolver.
 */
function literalLookup(
  host: string,
  options: LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(host);
  if (family !== 0) callback(null, host, family);
  else dnsLookup(host, options, callback);
}
