// The server RPC port: a WebSocket listener for peers that dial us, and a pool of connections we
// dial, one per address. Raft and request forwarding share them.

import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { ConsulError, ErrorCode } from '../core/errors.js';
import { clientAddress, PerAddressCount } from '../core/per-address.js';
import type { Message } from '../raft/messages.js';
import type { PeerInfo } from './codec.js';
import { RpcConn, type ConnHandlers } from './connection.js';

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
  private wss: WebSocketServer | null = null;
  private readonly conns = new Map<string, RpcConn>();
  private readonly dialing = new Map<string, Dialing>();
  private readonly lastDialFailure = new Map<string, number>();
  private readonly inbound = new Set<RpcConn>();
  private closed = false;

  constructor(private readonly o: RpcNetworkOptions) {}

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
    let lastWarn = 0;
    server.on('connection', (socket: Socket) => {
      const ip = clientAddress(socket.remoteAddress);
      if (!open.acquire(ip)) {
        if (Date.now() - lastWarn >= 60_000) {
          lastWarn = Date.now();
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
      const conn = new RpcConn(ws, this.o.handlers);
      this.inbound.add(conn);
      conn.onClosed(() => {
        this.inbound.delete(conn);
        if (conn.peer && !this.closed) this.o.onPeerClosed?.(conn.peer);
      });
      conn.hello(this.o.self());
    });
    this.server = server;
    this.wss = wss;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    return typeof addr === 'object' && addr ? addr.port : port;
  }

  /** A connection to `addr`, dialled if needed. */
  connect(addr: string): Promise<RpcConn> {
    const open = this.conns.get(addr);
    if (open?.isOpen) return Promise.resolve(open);
    const d = this.dialing.get(addr);
    if (d) return d.promise;
    if (this.closed) return Promise.reject(new ConsulError(ErrorCode.Unavailable, 'rpc: shutting down'));
    const queue: Message[] = [];
    const promise = this.dial(addr).then(
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
      await new Promise<void>((r) => this.server?.close(() => r()));
    }
  }

  private dial(addr: string): Promise<RpcConn> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${addr}/rpc`, {
        handshakeTimeout: DIAL_TIMEOUT_MS,
        maxPayload: this.o.maxFrameBytes ?? 512 << 20,
        perMessageDeflate: false,
      });
      const conn = new RpcConn(ws, this.o.handlers);
      ws.once('open', () => {
        ws.off('error', onError);
        conn.hello(this.o.self());
        resolve(conn);
      });
      const onError = (err: Error): void => {
        reject(new ConsulError(ErrorCode.Unavailable, `rpc: cannot reach ${addr}: ${err.message}`));
      };
      ws.once('error', onError);
    });
  }
}
