// The Node edge's UpstreamFetch: node:http with a keep-alive pool instead of the built-in fetch
// (undici). Measured on this machine (README-gateway.md), the proxy hop through it costs about half
// of what it costs through fetch, and it has no headers timeout (fetch's 300 s would cut blocking
// queries, which may wait up to 10 minutes plus jitter).
//
// Small answers (a Content-Length up to 64 KiB, which covers Consul's API and most service calls)
// are read whole and handed over as bytes, which @hono/node-server writes in one go; anything else
// (chunked, large, long-lived) is handed over as a web stream, with backpressure both ways.

import { readFileSync } from 'node:fs';
import { Agent, request, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import type { UpstreamFetch, UpstreamInit, UpstreamResponse } from './fetch.js';

const BUFFER_LIMIT = 64 * 1024;

export interface NodeFetchOptions {
  /** A connection not made within this time fails as a connect failure (5 s). */
  connectTimeoutMs?: number;
  /** Idle keep-alive connections kept per upstream (256). */
  maxFreeSockets?: number;
  /** For https:// upstreams: PEM file paths ('' or absent: system CAs, no client certificate). */
  tls?: { caFile?: string; certFile?: string; keyFile?: string; serverName?: string };
}

export interface NodeFetch extends UpstreamFetch {
  /** Closes the pooled connections. */
  close(): void;
}

function codeError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function headersOf(res: IncomingMessage): [string, string][] {
  const raw = res.rawHeaders;
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
}

/** The response body as a web stream that pauses the socket while the reader is behind. */
function streamOf(res: IncomingMessage): ReadableStream<Uint8Array> {
  let done = false;
  return new ReadableStream<Uint8Array>(
    {
      start(ctrl) {
        res.on('data', (chunk: Buffer) => {
          ctrl.enqueue(chunk);
          if ((ctrl.desiredSize ?? 1) <= 0) res.pause();
        });
        res.on('end', () => {
          done = true;
          ctrl.close();
        });
        res.on('close', () => {
          if (!done) {
            done = true;
            ctrl.error(codeError('upstream closed the connection mid-answer', 'ECONNRESET'));
          }
        });
      },
      pull() {
        res.resume();
      },
      cancel() {
        done = true;
        res.destroy();
      },
    },
    { highWaterMark: 16 },
  );
}

/**
 * host, port and path of a URL; most of the gateway's are http://host:port/path (parsed by hand,
 * this is on every request), agents that serve only HTTPS are https://.
 */
export function target(url: string): { host: string; port: number; path: string; https: boolean } {
  if (!url.startsWith('http://')) {
    const u = new URL(url);
    const https = u.protocol === 'https:';
    return {
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: Number(u.port) || (https ? 443 : 80),
      path: `${u.pathname}${u.search}`,
      https,
    };
  }
  const slash = url.indexOf('/', 7);
  const authority = slash < 0 ? url.slice(7) : url.slice(7, slash);
  const path = slash < 0 ? '/' : url.slice(slash);
  const colon = authority.lastIndexOf(':');
  const hasPort = colon > authority.lastIndexOf(']');
  const host = hasPort ? authority.slice(0, colon) : authority;
  return {
    host: host.startsWith('[') ? host.slice(1, -1) : host,
    port: hasPort ? Number(authority.slice(colon + 1)) : 80,
    path,
    https: false,
  };
}

export function createNodeFetch(o: NodeFetchOptions = {}): NodeFetch {
  const agent = new Agent({
    keepAlive: true,
    maxFreeSockets: o.maxFreeSockets ?? 256,
    scheduling: 'lifo',
  });
  // The files are read once, at start: a missing one stops the gateway with its path.
  const t = o.tls ?? {};
  const read = (f: string | undefined): Buffer | undefined => (f ? readFileSync(f) : undefined);
  const secure = new HttpsAgent({
    keepAlive: true,
    maxFreeSockets: o.maxFreeSockets ?? 256,
    scheduling: 'lifo',
    ...(t.caFile ? { ca: read(t.caFile) } : {}),
    ...(t.certFile && t.keyFile ? { cert: read(t.certFile), key: read(t.keyFile) } : {}),
    ...(t.serverName ? { servername: t.serverName } : {}),
  });
  const connectTimeout = o.connectTimeoutMs ?? 5000;

  const once = (url: string, init: UpstreamInit): Promise<{ res: UpstreamResponse; reused: boolean }> =>
    new Promise((resolve, reject) => {
      const u = target(url);
      const opts = {
        host: u.host,
        port: u.port,
        path: u.path,
        method: init.method,
        headers: init.headers,
        signal: init.signal,
      };
      const req = u.https ? httpsRequest({ ...opts, agent: secure }) : request({ ...opts, agent });
      let connectTimer: ReturnType<typeof setTimeout> | undefined;
      req.on('socket', (sock) => {
        if (!sock.connecting) return;
        connectTimer = setTimeout(
          () => req.destroy(codeError(`no connection within ${connectTimeout} ms`, 'ECONNECTTIMEOUT')),
          connectTimeout,
        );
        sock.once('connect', () => clearTimeout(connectTimer));
      });
      req.on('error', (err) => {
        clearTimeout(connectTimer);
        (err as Error & { reused?: boolean }).reused = req.reusedSocket;
        reject(err);
      });
      req.on('response', (res) => {
        clearTimeout(connectTimer);
        // Failures of the answer show as 'close' without 'end' below; an 'error' without a listener
        // would take the whole process down.
        res.on('error', () => undefined);
        const status = res.statusCode ?? 502;
        const headers = headersOf(res);
        const len = Number(res.headers['content-length'] ?? NaN);
        if (init.method === 'HEAD' || status === 204 || status === 304 || len === 0) {
          res.resume();
          resolve({ res: { status, headers, body: null }, reused: req.reusedSocket });
        } else if (len <= BUFFER_LIMIT) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              res: {
                status,
                headers,
                body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks),
              },
              reused: req.reusedSocket,
            }),
          );
          res.on('close', () => {
            if (!res.complete) reject(codeError('upstream closed the connection mid-answer', 'ECONNRESET'));
          });
        } else {
          resolve({ res: { status, headers, body: streamOf(res) }, reused: req.reusedSocket });
        }
      });
      const body = init.body;
      if (body === null) req.end();
      else if (body instanceof Uint8Array) req.end(body);
      else {
        const src = Readable.fromWeb(body);
        src.on('error', (err) => req.destroy(err));
        src.pipe(req);
      }
    });

  const f = (async (url: string, init: UpstreamInit): Promise<UpstreamResponse> => {
    try {
      return (await once(url, init)).res;
    } catch (err) {
      // A pooled connection the upstream had closed while idle: the request never reached it
      // (Node's documented case for a retry), so it is sent once more on a fresh connection when
      // its body can be sent again.
      const e = err as Error & { reused?: boolean; code?: string };
      if (
        e.reused &&
        e.code === 'ECONNRESET' &&
        !init.signal.aborted &&
        !(init.body instanceof ReadableStream)
      )
        return (await once(url, init)).res;
      throw err;
    }
  }) as NodeFetch;
  f.close = () => {
    agent.destroy();
    secure.destroy();
  };
  return f;
}
