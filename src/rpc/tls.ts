// TLS on the server RPC port, with Consul's three switches:
// - a listener with a certificate accepts TLS; it also accepts plaintext unless verify_incoming is
//   set (the first byte tells them apart: 0x16 opens a TLS handshake), which is how a cluster moves
//   to TLS without downtime, as in Consul: certificates everywhere, then verify_outgoing, then
//   verify_incoming;
// - verify_incoming: a TLS client must present a certificate signed by the CA;
// - verify_outgoing: dial wss:// and check the server's certificate against the CA;
// - verify_server_hostname: that certificate must also be valid for server.<dc>.<domain>, and an
//   incoming connection may only speak Raft (or claim to be a server) when its client certificate
//   is; a client agent's certificate (client.<dc>.<domain>) can then never act as a server.

import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import {
  checkServerIdentity,
  createServer as createTlsServer,
  TLSSocket,
  type Server as TlsServer,
  type PeerCertificate,
} from 'node:tls';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config/config.js';
import { loadRpcTlsMaterial, type RpcTlsMaterial } from '../config/tls.js';
import { Throttle } from '../core/throttle.js';

/** The name a server certificate must carry with verify_server_hostname. */
export function serverName(dc: string, domain: string): string {
  return `server.${dc}.${domain}`;
}

const HANDSHAKE_TIMEOUT_MS = 10_000;
const TLS_HANDSHAKE_BYTE = 0x16;

/** What the WebSocket client needs to dial wss:// (ws passes these to tls.connect). */
export interface DialTls {
  ca: string[];
  cert?: string;
  key?: string;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  rejectUnauthorized: true;
  servername?: string;
  checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
}

/**
 * One line per peer and reason at most every 30 s: a peer that redials every 250 ms does not flood
 * the log. Incoming connections are counted by their host (each comes from a new port); the
 * servers this one dials by their address (`peer`).
 */
export class RefusalLog {
  private readonly throttle = new Throttle(30_000);
  constructor(private readonly logger: Logger) {}

  warn(remote: string, reason: string, fields: Record<string, unknown> = {}, peer = hostOf(remote)): void {
    if (this.throttle.due(`${peer} ${reason}`)) this.logger.warn({ remote, ...fields }, reason);
  }

  /** Forgets a dialled server's refusals (it answered): the next failure is news again. */
  ok(peer: string): void {
    this.throttle.forget(`${peer} `);
  }
}

function hostOf(remote: string): string {
  return remote.replace(/:\d+$/, '');
}

export class RpcTls {
  private readonly hasCert: boolean;

  constructor(
    readonly m: RpcTlsMaterial,
    private readonly dc: string,
    private readonly domain: string,
  ) {
    this.hasCert = m.cert !== '';
  }

  /** Outgoing connections use TLS (verify_outgoing, or implied by verify_server_hostname). */
  get dialsTls(): boolean {
    return this.m.verifyOutgoing;
  }

  /** Options for dialling a server of `dc` (this agent's by default). */
  dialOptions(dc = this.dc): DialTls {
    const name = serverName(dc, this.domain);
    return {
      ca: this.m.ca,
      ...(this.m.cert !== '' ? { cert: this.m.cert, key: this.m.key } : {}),
      minVersion: this.m.minVersion,
      rejectUnauthorized: true,
      ...(this.m.verifyServerHostname ? { servername: name } : {}),
      // Without verify_server_hostname Consul checks the chain only, not the address dialled.
      checkServerIdentity: (_host, cert) => (this.m.verifyServerHostname ? nameError(name, cert) : undefined),
    };
  }

  /**
   * Whether an accepted connection may act as a server: always without verify_server_hostname;
   * with it, a TLS connection only with a client certificate from the CA valid for
   * server.<dc>.<domain>. A plaintext one only gets here while verify_incoming is off (the
   * migration window, where Consul too lets plaintext servers talk).
   */
  peerMayBeServer(sock: Socket): boolean {
    if (!this.m.verifyServerHostname || !(sock instanceof TLSSocket)) return true;
    const cert = sock.getPeerCertificate();
    if (!sock.authorized || !cert || Object.keys(cert).length === 0) return false;
    return nameError(serverName(this.dc, this.domain), cert) === undefined;
  }

  /**
   * The RPC port's TCP listener: each connection is handed to `accept` as it is (plaintext) or as
   * its TLS layer once the handshake and the client certificate check passed, or refused with one
   * log line (per remote and reason, see RefusalLog).
   */
  listener(log: RefusalLog, accept: (s: Socket) => void): TcpServer {
    const secure = this.secureServer(log, accept);
    return createTcpServer((sock) => {
      const remote = remoteOf(sock);
      sock.on('error', () => sock.destroy());
      const timer = setTimeout(() => {
        log.warn(remote, 'rpc: closed a connection that sent nothing within 10s');
        sock.destroy();
      }, HANDSHAKE_TIMEOUT_MS);
      sock.once('data', (first: Buffer) => {
        clearTimeout(timer);
        sock.pause();
        sock.unshift(first);
        if (first[0] === TLS_HANDSHAKE_BYTE && secure) {
          // The TLS server reads the handshake (the byte put back included) from here on.
          secure.emit('connection', sock);
          return;
        }
        if (this.m.verifyIncoming) {
          log.warn(remote, 'rpc: refused a plaintext connection: this server requires TLS (verify_incoming)');
          sock.end(
            'HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n' +
              'consulate server RPC: TLS required (verify_incoming)\n',
            () => sock.destroy(),
          );
          return;
        }
        accept(sock);
        sock.resume();
      });
    });
  }

  /** The TLS half (null without a certificate: such an agent only dials). */
  private secureServer(log: RefusalLog, accept: (s: Socket) => void): TlsServer | null {
    if (!this.hasCert) return null;
    const server = createTlsServer({
      cert: this.m.cert,
      key: this.m.key,
      ...(this.m.ca.length > 0 ? { ca: this.m.ca } : {}),
      minVersion: this.m.minVersion,
      // Asked of every TLS client (servers send theirs, for verify_server_hostname); only
      // required with verify_incoming, and checked below so that a refusal says why.
      requestCert: true,
      rejectUnauthorized: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    server.on('tlsClientError', (err: Error, s: TLSSocket) => {
      log.warn(remoteOf(s), 'rpc: refused a TLS connection: the handshake failed', {
        err: err.message,
      });
      s.destroy();
    });
    server.on('secureConnection', (s: TLSSocket) => {
      s.on('error', () => s.destroy());
      if (this.m.verifyIncoming && !s.authorized) {
        log.warn(
          remoteOf(s),
          'rpc: refused a TLS connection: no client certificate signed by the CA (verify_incoming)',
          { err: String(s.authorizationError ?? 'no client certificate') },
        );
        s.destroy();
        return;
      }
      accept(s);
    });
    return server;
  }
}

/**
 * "addr:port" of a connection; a TLS socket the peer already closed knows it no more, the TCP
 * socket beneath it (node's `_parent`) still does.
 */
function remoteOf(s: Socket): string {
  const parent = (s as Socket & { _parent?: Socket })._parent;
  const addr = s.remoteAddress ?? parent?.remoteAddress ?? '?';
  return `${addr}:${s.remotePort ?? parent?.remotePort ?? 0}`;
}

function nameError(name: string, cert: PeerCertificate): Error | undefined {
  const err = checkServerIdentity(name, cert);
  if (!err) return undefined;
  return Object.assign(
    new Error(`certificate is not valid for ${name} (verify_server_hostname): ${err.message}`),
    { code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
  );
}

/** The agent's RPC TLS (null: plaintext only, as without any tls settings). */
export function rpcTlsOf(c: AgentConfig): RpcTls | null {
  const m = loadRpcTlsMaterial(c.tls);
  return m ? new RpcTls(m, c.datacenter, c.dns.domain) : null;
}
