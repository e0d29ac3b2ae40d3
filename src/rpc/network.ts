// The server RPC port: a WebSocket listener for peers that dial us, and a pool of connections we
// dial, one per address. Raft and request forwarding share them.

import { createServer, type Server } from 'node:http';
import type { Server as TcpServer, Socket } from 'node:net';
import type { Logger } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { ConsulError, ErrorCode } from '../core/errors.js';
import { clientAddress, PerAddressCount } from '../core/per-address.js';
import type { Message } from '../raft/messages.js';
import type { PeerInfo } from './codec.js';
import { RpcConn, type ConnHandlers } from './connection.js';
import { RefusalLog, type RpcTls } from './tls.js';
import { Throttle } from '../core/throttle.js';

export interface RpcNetworkOptions {
  self: () => PeerInfo;
  /** A connection to or from this peer closed. */
  onPeerClosed?: (peer: PeerInfo) => void;
  handlers: ConnHandlers;
  logger: Logger;
  /**
   * Largest frame accepted, 512 MiB by default: a Raft snapshot travels in one frame. A larger one
   * closes that connection (WebSocket close 1009), nothing else.
   */
  maxFrameBytes?: number;
  /** TCP connections accepted from one remote IP (Consul's rpc_max_conns_per_client, 100; 0: no cap). */
  maxConnsPerClient?: number;
  /**
   * A connection must finish the WebSocket upgrade and send its first frame within this (Consul's
   * rpc_handshake_timeout, 5 s), or it is closed: a silent socket holds no slot for long.
   */
  handshakeTimeoutMs?: number;
  /** TLS on this port and for dialling (null or absent: plaintext, as without a tls block). */
  tls?: RpcTls | null;
}

const DIAL_TIMEOUT_MS = 5000;
const REDIAL_BACKOFF_MS = 250;
const MAX_QUEUED_WHILE_DIALING = 4096;

interface Dialing {
  promise: Promise<RpcConn>;
  queue: Message[];
}

export class RpcNetwork {
  private server: Server | null = null;
  /** The TCP listener in front of `server` when TLS is configured (it tells TLS from plaintext). */
  private tcp: TcpServer | null = null;
  private readonly refusals: RefusalLog;
  /** Every connection the TCP listener took, closed with the network (net.Server.close waits for them). */
  private readonly sockets = new Set<Socket>();
  private wss: WebSocketServer | null = null;
  private readonly conns = new Map<string, RpcConn>();
  private readonly dialing = new Map<string, Dialing>();
  private readonly lastDialFailure = new Map<string, number>();
  private readonly inbound = new Set<RpcConn>();
  private closed = false;

  constructor(private readonly o: RpcNetworkOptions) {
    this.refusals = new RefusalLog(o.logger);
  }

  async listen(host: string, port: number): Promise<number> {
    const server = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('consulate server RPC: WebSocket required\n');
    });
    const wss = new WebSocketServer({ server, maxPayload: this.o.maxFrameBytes ?? 512 << 20 });
    // ws re-emits the HTTP server's errors on the WebSocketServer; a failed listen (EADDRINUSE) is
    // reported by listen() below, and must not also crash the process as an unhandled 'error'.
    wss.on('error', () => undefined);
    // Counted and timed from the TCP accept, before any HTTP: a flood of sockets that never
    // upgrade is held to the per-address cap, and each is closed after the handshake timeout.
    const open = new PerAddressCount(this.o.maxConnsPerClient ?? 100);
    const handshakeMs = this.o.handshakeTimeoutMs ?? 5000;
    const handshakes = new WeakMap<Socket, NodeJS.Timeout>();
    const capWarnings = new Throttle(60_000);
    server.on('connection', (socket: Socket) => {
      const ip = clientAddress(socket.remoteAddress);
      if (!open.acquire(ip)) {
        if (capWarnings.due('cap')) {
          this.o.logger.warn(
            { client: ip, limit: this.o.maxConnsPerClient ?? 100 },
            'rpc: too many connections from one address (limits.rpc_max_conns_per_client); closing the excess',
          );
        }
        socket.destroy();
        return;
      }
      const timer = setTimeout(() => socket.destroy(), handshakeMs);
      handshakes.set(socket, timer);
      socket.once('close', () => {
        clearTimeout(timer);
        open.release(ip);
      });
    });
    wss.on('connection', (ws, req) => {
      const socket = req.socket;
      ws.once('message', () => clearTimeout(handshakes.get(socket)));
      const tls = this.o.tls;
      const mayBeServer = tls ? tls.peerMayBeServer(socket) : true;
      const remote = `${clientAddress(socket.remoteAddress)}:${socket.remotePort ?? 0}`;
      const conn = new RpcConn(ws, mayBeServer ? this.o.handlers : this.clientOnly(remote));
      this.inbound.add(conn);
      conn.onClosed(() => {
        this.inbound.delete(conn);
        if (conn.peer && !this.closed) this.o.onPeerClosed?.(conn.peer);
      });
      conn.hello(this.o.self());
    });
    this.server = server;
    this.wss = wss;
    const tls = this.o.tls;
    // With TLS the HTTP server listens on nothing: each connection comes through the TCP listener,
    // which refuses or unwraps it first.
    const listener: Server | TcpServer = tls
      ? (this.tcp = tls.listener(this.refusals, (s) => server.emit('connection', s)))
      : server;
    this.tcp?.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(port, host, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    const addr = listener.address();
    return typeof addr === 'object' && addr ? addr.port : port;
  }

  /**
   * Handlers for a connection whose certificate does not make it a server (verify_server_hostname):
   * it may send requests, as client agents do, but never Raft messages or a server's hello.
   */
  private clientOnly(remote: string): ConnHandlers {
    const h = this.o.handlers;
    const refuse = (conn: RpcConn, what: string): void => {
      this.refusals.warn(
        remote,
        `rpc: refused ${what} from a connection whose certificate is not a server's (verify_server_hostname)`,
      );
      conn.close();
    };
    return {
      request: (method, args, signal, conn) => h.request(method, args, signal, conn),
      raft: (_m, conn) => refuse(conn, 'Raft traffic'),
      hello: (peer, conn) => {
        if (peer.server) refuse(conn, 'a server hello');
        else h.hello?.(peer, conn);
      },
    };
  }

  /** A connection to `addr` (a server of datacenter `dc`, this one's by default), dialled if needed. */
  connect(addr: string, dc?: string): Promise<RpcConn> {
    const open = this.conns.get(addr);
    if (open?.isOpen) return Promise.resolve(open);
    const d = this.dialing.get(addr);
    if (d) return d.promise;
    if (this.closed) return Promise.reject(new ConsulError(ErrorCode.Unavailable, 'rpc: shutting down'));
    const queue: Message[] = [];
    const promise = this.dial(addr, dc).then(
      (conn) => {
        this.dialing.delete(addr);
        this.conns.set(addr, conn);
        conn.onClosed(() => {
          if (this.conns.get(addr) === conn) this.conns.delete(addr);
          if (conn.peer && !this.closed) this.o.onPeerClosed?.(conn.peer);
        });
        for (const m of queue) conn.sendRaft(m);
        return conn;
      },
      (err: unknown) => {
        this.dialing.delete(addr);
        this.lastDialFailure.set(addr, Date.now());
        throw err;
      },
    );
    promise.catch(() => undefined);
    this.dialing.set(addr, { promise, queue });
    return promise;
  }

  async call(
    addr: string,
    method: string,
    args: unknown,
    opts: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<unknown> {
    const conn = await this.connect(addr);
    return conn.call(method, args, opts);
  }

  /** Best-effort Raft send: queued briefly while the connection is dialled, else dropped. */
  sendRaft(addr: string, m: Message): boolean {
    const conn = this.conns.get(addr);
    if (conn?.isOpen) return conn.sendRaft(m);
    const d = this.dialing.get(addr);
    if (d) {
      if (d.queue.length < MAX_QUEUED_WHILE_DIALING) d.queue.push(m);
      return true;
    }
    if (Date.now() - (this.lastDialFailure.get(addr) ?? 0) < REDIAL_BACKOFF_MS) return false;
    void this.connect(addr).catch(() => undefined);
    this.dialing.get(addr)?.queue.push(m);
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.conns.values()) c.close();
    for (const c of this.inbound) c.close();
    this.conns.clear();
    if (this.wss) {
      for (const ws of this.wss.clients) ws.terminate();
      await new Promise<void>((r) => this.wss?.close(() => r()));
    }
    if (this.server) {
      this.server.closeAllConnections();
      // Never listening itself when TLS is on (the TCP listener is): close() would then throw.
      if (this.server.listening) await new Promise<void>((r) => this.server?.close(() => r()));
    }
    for (const s of this.sockets) s.destroy();
    if (this.tcp) await new Promise<void>((r) => this.tcp?.close(() => r()));
  }

  private dial(addr: string, dc?: string): Promise<RpcConn> {
    const tls = this.o.tls?.dialsTls ? this.o.tls : null;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${tls ? 'wss' : 'ws'}://${addr}/rpc`, {
        handshakeTimeout: DIAL_TIMEOUT_MS,
        maxPayload: this.o.maxFrameBytes ?? 512 << 20,
        perMessageDeflate: false,
        // ws hands these to tls.connect; its typing of checkServerIdentity is not node's.
        ...(tls ? (tls.dialOptions(dc) as unknown as WebSocket.ClientOptions) : {}),
      });
      const conn = new RpcConn(ws, this.o.handlers);
      ws.once('open', () => {
        ws.off('error', onError);
        this.refusals.ok(addr);
        conn.hello(this.o.self());
        resolve(conn);
      });
      const onError = (err: Error): void => {
        const refused = dialRefusal(err, tls !== null);
        if (refused) {
          this.refusals.warn(addr, `rpc: cannot use server ${addr}: ${refused}`, {}, addr);
          reject(new ConsulError(ErrorCode.PermissionDenied, `rpc: ${addr}: ${refused}`));
          return;
        }
        reject(new ConsulError(ErrorCode.Unavailable, `rpc: cannot reach ${addr}: ${err.message}`));
      };
      ws.once('error', onError);
    });
  }
}

/** TLS errors that mean "this peer is not acceptable" rather than "unreachable", in words. */
function dialRefusal(err: Error, usedTls: boolean): string | null {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return err.message;
  if (usedTls && /CERT|SIGNATURE|ISSUER|SELF_SIGNED|VERIFY/.test(code))
    return `its certificate is not signed by the CA (${code})`;
  if (!usedTls && /Unexpected server response: 403/.test(err.message))
    return 'it requires TLS (its verify_incoming is set); set verify_outgoing and a ca_file here';
  // A server that refuses our certificate (or our lack of one) ends the handshake with an alert or,
  // under TLS 1.3, closes the connection right after it.
  if (usedTls && (/alert|certificate required/i.test(err.message) || /socket hang up/.test(err.message)))
    return `it refused our TLS connection (${err.message.split('\n')[0]}): it wants a client certificate signed by its CA (cert_file and key_file here)`;
  return null;
}
