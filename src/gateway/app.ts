// The edge gateway as a stateless Hono app, in web-standard APIs only (Request, Response, URL,
// AbortSignal and an injected fetch; no `node:` import), so the same app could run in an edge
// runtime; the Node adapter is main.ts. What it routes:
//
//   /v1/*[?dc=X]       the Consul HTTP API: to a random alive server of X (which handles it as its
//                      own dc: a stale read, or its leader), or of this gateway's dc without dc=X.
//                      The query string goes on unchanged, dc included.
//   /svc/<name>[.<dc>]/<path>, and any path with Host: <name>.service[.<dc>].<domain>
//                      to a healthy instance of <name>, round-robin; without an explicit dc, in the
//                      nearest dc (this one first, then the directory's RTT order) that has one.
//   GET /gateway/status  the routing table as JSON (200 once the directory was read, else 503).
//
// Every proxied answer carries X-Consulate-Datacenter (the dc that answered) and
// X-Consulate-Upstream (the host:port it came from). An upstream that cannot be reached is tried
// elsewhere when that is safe; when every try failed, 502; when there is nowhere to go, 503; bad
// input, 400. All errors are text/plain, as Consul's are.
//
// One catch-all route does the dispatching: the Host form must win over every path, and one
// handler keeps the hop lean (Hono's router would only add a step in front of it).

import { Hono, type Context } from 'hono';
import {
  decodesBodies,
  describeFailure,
  failureKind,
  upstreamUrl,
  webFetch,
  type UpstreamFetch,
  type UpstreamResponse,
} from './fetch.js';
import { isValidName, quietLog, type GatewayLog, type RoutingTable, type Upstream } from './table.js';

export interface GatewayAppOptions {
  table: RoutingTable;
  /** How upstreams are called: the platform's fetch unless an edge injects a faster one. */
  fetch?: UpstreamFetch;
  /** The DNS domain of the Host form (consul). */
  domain?: string;
  /** Upstreams tried per request, at most (3). */
  maxAttempts?: number;
  /** The client's IP, for X-Forwarded-For, when the runtime can tell it. */
  clientAddress?: (c: Context) => string | undefined;
  log?: GatewayLog;
}

// Hop-by-hop headers (RFC 9110 7.6.1) are the connection's, not the message's; Host is the upstream's.
const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/** Methods HTTP calls idempotent: a service request that may have reached a dead instance is re-sent. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/**
 * For the Consul API, only reads: Consul uses PUT for writes that are not idempotent
 * (session/create, txn, event/fire), so a PUT that may have arrived is never sent twice.
 */
const API_READS = new Set(['GET', 'HEAD']);
/** Bodies up to this size (with a Content-Length) are read first, so a retry can send them again. */
const REPLAY_LIMIT = 64 * 1024;

function text(status: number, msg: string): Response {
  return new Response(`${msg}\n`, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

/** Never thrown past the app: a 400 with its message. */
class BadInput extends Error {}

export function createGatewayApp(o: GatewayAppOptions): Hono {
  const table = o.table;
  const call = o.fetch ?? webFetch;
  const decodes = decodesBodies(call);
  const domain = `.${(o.domain ?? 'consul').toLowerCase().replace(/^\.+|\.+$/g, '')}`;
  const maxAttempts = Math.max(1, o.maxAttempts ?? 3);
  const log = o.log ?? quietLog;
  const app = new Hono();

  /**
   * The request's headers for the upstream: hop-by-hop ones out, X-Forwarded-* in. A plain record:
   * Headers iterates repeated names joined already, and a record is what the node:http client and
   * @hono/node-server take without a conversion.
   */
  function upstreamHeaders(c: Context, req: Request): Record<string, string> {
    const out: Record<string, string> = Object.create(null);
    let connection = '';
    let host = '';
    let xff = '';
    for (const [k, v] of req.headers) {
      if (HOP.has(k)) {
        if (k === 'connection') connection = v;
        else if (k === 'host') host = v;
      } else if (k === 'x-forwarded-for') xff = v;
      else out[k] = v;
    }
    if (connection)
      for (const n of connection.toLowerCase().split(',')) Reflect.deleteProperty(out, n.trim());
    const client = o.clientAddress?.(c);
    if (client) xff = xff ? `${xff}, ${client}` : client;
    if (xff) out['x-forwarded-for'] = xff;
    if (host) out['x-forwarded-host'] = host;
    out['x-forwarded-proto'] = req.url.startsWith('https:') ? 'https' : 'http';
    return out;
  }

  /** The upstream's answer as ours: hop-by-hop headers out, who answered in. */
  function respond(r: UpstreamResponse, up: Upstream, method: string): Response {
    // A record (what @hono/node-server writes without building a Headers); repeated names are
    // joined, except Set-Cookie, which cannot be: several of those switch to a list of pairs.
    const h: Record<string, string> = Object.create(null);
    let cookies: string[] | null = null;
    let connection = '';
    for (const [k0, v] of r.headers) {
      const k = k0.toLowerCase();
      if (HOP.has(k)) {
        if (k === 'connection') connection = v.toLowerCase();
      } else if (k === 'set-cookie') (cookies ??= []).push(v);
      else {
        const prev = h[k];
        h[k] = prev === undefined ? v : `${prev}, ${v}`;
      }
    }
    if (connection) for (const n of connection.split(',')) Reflect.deleteProperty(h, n.trim());
    // fetch has decoded the body already: its encoding and length no longer describe it.
    if (decodes && h['content-encoding'] !== undefined) {
      Reflect.deleteProperty(h, 'content-encoding');
      Reflect.deleteProperty(h, 'content-length');
    }
    if (up.dc) h['x-consulate-datacenter'] = up.dc;
    h['x-consulate-upstream'] = up.addr;
    let headers: Record<string, string> | [string, string][] = h;
    if (cookies?.length === 1) h['set-cookie'] = cookies[0] as string;
    else if (cookies)
      headers = [...Object.entries(h), ...cookies.map((v): [string, string] => ['set-cookie', v])];
    const s = r.status;
    const noBody = method === 'HEAD' || s === 204 || s === 205 || s === 304;
    if (noBody && r.body instanceof ReadableStream) void r.body.cancel().catch(() => undefined);
    return new Response(noBody ? null : r.body, { status: s, headers });
  }

  /**
   * Sends the request to the upstreams next() yields, one after the other, until one answers (any
   * HTTP status is an answer) or a retry would not be safe; maxAttempts at most.
   */
  async function forward(
    c: Context,
    next: () => Promise<Upstream | null> | Upstream | null,
    path: string,
    resetSafe: Set<string>,
    nowhere: () => string,
  ): Promise<Response> {
    const req = c.req.raw;
    const method = req.method;
    const headers = upstreamHeaders(c, req);
    let body: ReadableStream<Uint8Array> | Uint8Array | null = null;
    let replayable = true;
    if (method !== 'GET' && method !== 'HEAD') {
      const declared = req.headers.get('content-length');
      if (declared !== null && Number(declared) <= REPLAY_LIMIT) {
        body = Number(declared) > 0 ? new Uint8Array(await req.arrayBuffer()) : null;
      } else if (declared !== null || req.headers.has('transfer-encoding')) {
        body = req.body;
        replayable = false;
      }
    }
    const signal = req.signal;
    const failures: string[] = [];
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const up = await next();
      if (!up) break;
      try {
        const r = await call(upstreamUrl(up.addr, path), { method, headers, body, signal });
        return respond(r, up, method);
      } catch (err) {
        const kind = failureKind(err, signal);
        // Nobody is left to read an answer; the status only shows in our own logs.
        if (kind === 'abort') return text(499, 'client closed the request');
        table.markDown(up.addr);
        const why = describeFailure(err);
        failures.push(`${up.addr} (${up.dc || 'local'}): ${why}`);
        log.warn({ upstream: up.addr, dc: up.dc, err: why, method, path }, 'upstream failed');
        if (!replayable || (kind === 'reset' && !resetSafe.has(method))) break;
      }
    }
    if (failures.length === 0) return text(503, nowhere());
    return text(502, `bad gateway: ${failures.join('; ')}`);
  }

  /** /v1/*: the Consul API, to a server of ?dc= (or of this dc). */
  function api(c: Context, pathAndQuery: string): Promise<Response> | Response {
    let dc: string | undefined;
    const q = pathAndQuery.indexOf('?');
    if (q >= 0 && pathAndQuery.includes('dc=', q)) {
      dc = new URLSearchParams(pathAndQuery.slice(q + 1)).get('dc') ?? undefined;
      // Consul reads an empty dc= as its own.
      if (dc === '') dc = undefined;
      if (dc !== undefined && !isValidName(dc)) throw new BadInput(`invalid datacenter name "${dc}"`);
    }
    const local = table.localDc() ?? '';
    let target = local;
    let servers: string[];
    if (dc !== undefined && dc !== local && table.known(dc)) {
      target = dc;
      servers = table.serverOrder(dc);
      if (servers.length === 0) return text(503, `no reachable server in datacenter "${dc}"`);
    } else {
      // An unknown dc goes to a local server too: it answers Consul's "No path to datacenter".
      servers = table.serverOrder(local || undefined);
    }
    let i = 0;
    return forward(
      c,
      () => (i < servers.length ? { dc: target, addr: servers[i++] as string } : null),
      pathAndQuery,
      API_READS,
      () => `no reachable server in datacenter "${target}"`,
    );
  }

  /** Service routing: a healthy instance of `name`, in `dc` only, or the nearest dc that has one. */
  function service(
    c: Context,
    name: string,
    dc: string | undefined,
    pathAndQuery: string,
  ): Promise<Response> {
    if (!isValidName(name)) throw new BadInput(`invalid service name "${name}"`);
    if (dc !== undefined && !isValidName(dc)) throw new BadInput(`invalid datacenter name "${dc}"`);
    if (dc !== undefined && dc !== table.localDc() && table.ready && !table.known(dc))
      return Promise.resolve(text(503, `no path to datacenter "${dc}"`));
    const dcs = dc !== undefined ? [dc] : table.datacenters();
    const errors: string[] = [];
    // DCs whose instances are all marked down (they just refused connections) come after every
    // other dc with instances: the gateway routes around them until their checks catch up.
    const deferred: { dc: string; addrs: string[] }[] = [];
    let di = 0;
    let cur: { dc: string; addrs: string[] } | null = null;
    let ci = 0;
    const next = async (): Promise<Upstream | null> => {
      for (;;) {
        if (cur && ci < cur.addrs.length) return { dc: cur.dc, addr: cur.addrs[ci++] as string };
        cur = null;
        ci = 0;
        if (di < dcs.length) {
          const d = dcs[di++] as string;
          const r = await table.instances(name, d);
          if (r.error) errors.push(`${d}: ${r.error}`);
          if (r.addrs.length === 0) continue;
          if (r.addrs.every((a) => table.isDown(a))) deferred.push({ dc: d, addrs: r.addrs });
          else cur = { dc: d, addrs: r.addrs };
        } else {
          const d = deferred.shift();
          if (!d) return null;
          cur = d;
        }
      }
    };
    return forward(c, next, pathAndQuery, IDEMPOTENT, () => {
      if (dcs.length === 0) return `no datacenter known yet: the gateway has not read the directory`;
      const where = dc !== undefined ? `datacenter "${dc}"` : `any datacenter (${dcs.join(', ')})`;
      return `no healthy instance of service "${name}" in ${where}${errors.length ? ` [${errors.join('; ')}]` : ''}`;
    });
  }

  /** Host: <name>.service[.<dc>].<domain>[:port] → [name, dc]; null when the Host is not ours. */
  function serviceHost(host: string): [string, string | undefined] | null {
    let h = host.toLowerCase();
    const colon = h.lastIndexOf(':');
    if (colon >= 0 && !h.endsWith(']')) h = h.slice(0, colon);
    if (h.endsWith('.')) h = h.slice(0, -1);
    if (!h.endsWith(domain)) return null;
    const labels = h.slice(0, -domain.length).split('.');
    if (labels.length === 2 && labels[1] === 'service') return [labels[0] as string, undefined];
    if (labels.length === 3 && labels[1] === 'service') return [labels[0] as string, labels[2]];
    throw new BadInput(
      `cannot route Host "${host}": the gateway serves <service>.service[.<datacenter>]${domain}`,
    );
  }

  app.all('*', (c) => {
    const url = c.req.url;
    const pathAndQuery = url.slice(url.indexOf('/', url.indexOf('//') + 2));
    const host = c.req.raw.headers.get('host');
    const byHost = host ? serviceHost(host) : null;
    if (byHost) return service(c, byHost[0], byHost[1], pathAndQuery);
    if (pathAndQuery.startsWith('/v1/')) return api(c, pathAndQuery);
    if (pathAndQuery.startsWith('/svc/')) {
      const rest = pathAndQuery.slice(5);
      const end = rest.search(/[/?]/);
      const target = end < 0 ? rest : rest.slice(0, end);
      let upstream = end < 0 ? '/' : rest.slice(end);
      if (upstream.startsWith('?')) upstream = `/${upstream}`;
      const dot = target.indexOf('.');
      return dot < 0
        ? service(c, target, undefined, upstream)
        : service(c, target.slice(0, dot), target.slice(dot + 1), upstream);
    }
    if (pathAndQuery === '/gateway/status' || pathAndQuery.startsWith('/gateway/status?')) {
      if (c.req.method !== 'GET') return text(405, `method ${c.req.method} not allowed`);
      const s = table.status() as { Ready: boolean };
      return new Response(JSON.stringify(s, null, 2), {
        status: s.Ready ? 200 : 503,
        headers: { 'content-type': 'application/json' },
      });
    }
    return text(
      404,
      `not found: the gateway routes /v1/*, /svc/<service>[.<datacenter>]/* and Host: <service>.service[.<datacenter>]${domain}`,
    );
  });

  app.onError((err, c) => {
    if (err instanceof BadInput) return text(400, err.message);
    log.warn({ err: err.message, path: c.req.path }, 'request failed');
    return text(502, `bad gateway: ${err.message}`);
  });

  return app;
}
