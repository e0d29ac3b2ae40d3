// The HTTP API listener's defences against clients that hold connections rather than use them:
// a cap on open connections per remote address (Consul's limits.http_max_conns_per_client), and
// timeouts for the request's headers, its body, and idle connections. The response is never
// timed: a blocking query may rightly keep one waiting for ten minutes and more.

import type { Server as HttpServer, IncomingMessage, ServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { clientAddress, PerAddressCount } from '../core/per-address.js';
import { Throttle } from '../core/throttle.js';

export interface HttpConnLimits {
  /** 0: no cap. */
  maxConnsPerClient: number;
  readHeaderTimeoutMs: number;
  readTimeoutMs: number;
  idleTimeoutMs: number;
}

/** Consul's answer to one connection too many (then it closes); clients that read it say why. */
export const TOO_MANY_CONNECTIONS =
  'Your IP is issuing too many concurrent connections, please rate limit your calls\n';

const REFUSAL = Buffer.from(
  'HTTP/1.1 429 Too Many Requests\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(TOO_MANY_CONNECTIONS)}\r\n` +
    'Connection: close\r\n\r\n' +
    TOO_MANY_CONNECTIONS,
);

/** A refused connection gets this long to read the 429 before it is cut. */
const REFUSED_LINGER_MS = 2000;
/** One warning per address this often at most: a flood must not flood the log too. */
const WARN_EVERY_MS = 60_000;

/**
 * node:http server options for the timeouts; `serve()` passes them to createServer, where
 * connectionsCheckingInterval can only be set. Node checks headers and body deadlines on that
 * interval (30 s by default, far too coarse for a 10 s deadline).
 */
export function httpServerOptions(l: HttpConnLimits): ServerOptions {
  return {
    headersTimeout: l.readHeaderTimeoutMs,
    requestTimeout: l.readTimeoutMs,
    keepAliveTimeout: l.idleTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(l.readHeaderTimeoutMs / 4))),
  };
}

/**
 * Counts connections per remote address on `server` (HTTP or HTTPS) and refuses those over the
 * cap at once: plain HTTP gets Consul's 429 and a close, HTTPS a close (there is no one to talk to
 * before a handshake, and a handshake is what the cap saves). A refused connection's requests are
 * never handled. A connection with no request in flight and no traffic for idleTimeoutMs is
 * closed: one that never sends anything, or a kept-alive one between requests.
 */
export function limitConnections(server: HttpServer | TlsServer, l: HttpConnLimits, log: Logger): void {
  const tls = server instanceof TlsServer;
  const open = new PerAddressCount(l.maxConnsPerClient);
  const refused = new WeakSet<Socket>();
  const inFlight = new WeakMap<Socket, number>();
  const warnings = new Throttle(WARN_EVERY_MS, 10_000);

  server.on('connection', (socket: Socket) => {
    const addr = clientAddress(socket.remoteAddress);
    if (!open.acquire(addr)) {
      refuse(socket, addr);
      return;
    }
    socket.once('close', () => open.release(addr));
    if (!tls) socket.setTimeout(l.idleTimeoutMs);
  });
  // Behind TLS the HTTP layer's socket is the TLS one: the idle clock runs there.
  if (tls) server.on('secureConnection', (socket: Socket) => socket.setTimeout(l.idleTimeoutMs));

  // With a listener here node:http no longer destroys a socket on 'timeout' by itself: it is ours
  // to decide. A request in flight (a blocking query) keeps its connection.
  server.on('timeout', (socket: Socket) => {
    if ((inFlight.get(socket) ?? 0) === 0) socket.destroy();
  });

  // Requests reach the app only through this wrapper: counted, and dropped on a refused socket
  // (one that sent its request before the 429 went out).
  const handlers = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    if (refused.has(socket)) {
      socket.destroy();
      return;
    }
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    res.once('close', () => inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1));
    for (const h of handlers) h(req, res);
  });

  function refuse(socket: Socket, addr: string): void {
    refused.add(socket);
    if (warnings.due(addr)) {
      log.warn(
        { client: addr, limit: l.maxConnsPerClient },
        'http: too many connections from one address (limits.http_max_conns_per_client); refusing the excess',
      );
    }
    socket.on('error', () => socket.destroy());
    if (tls) {
      socket.destroy();
      return;
    }
    // A half-close, not a reset: the client reads the 429 before it sees the end.
    socket.end(REFUSAL);
    socket.setTimeout(REFUSED_LINGER_MS, () => socket.destroy());
    socket.once('end', () => socket.destroy());
  }
}
