// An agent's DNS interface, put together from its configuration: the cache (whose catalog reads go
// through the agent's forwarder, like every HTTP read, so a client agent asks a server and a server
// reads its own state), the packet handler, the recursors and the listeners.

import type { Logger } from 'pino';
import type { AgentConfig, DnsConfig } from '../config/config.js';
import { ConsulError, ErrorCode } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import type { QueryOptions, QueryResult } from '../rpc/endpoints/types.js';
import type { AnswerSettings, QueryResultData } from './answers.js';
import { DnsCache, type Fetch } from './cache.js';
import { DnsHandler } from './handler.js';
import { labelsOf } from './wire.js';
import { Recursor, parseUpstream, type Upstream } from './recursor.js';
import { DnsServer, type PacketHandler } from './server.js';
import type { DnsHooks } from '../metrics/hooks.js';

export interface AgentDnsDeps {
  config: AgentConfig;
  /** The agent's way to the endpoint table (its own server's forwarder, or a server over RPC). */
  call(method: string, args: unknown, signal: AbortSignal): Promise<unknown>;
  rng: Rng;
  logger: Logger;
  /** Where each answered query is reported (the agent's metrics). */
  hooks?: DnsHooks;
}

/**
 * service_ttl lookup in seconds, as Consul resolves it: the exact name, else the longest "prefix*"
 * that matches, else "*", else 0.
 */
export function serviceTtl(table: Record<string, number>): (service: string) => number {
  const exact = new Map<string, number>();
  const prefixes: [string, number][] = [];
  for (const [k, ms] of Object.entries(table)) {
    const secs = Math.floor(ms / 1000);
    if (k.endsWith('*')) prefixes.push([k.slice(0, -1).toLowerCase(), secs]);
    else exact.set(k.toLowerCase(), secs);
  }
  prefixes.sort((a, b) => b[0].length - a[0].length);
  return (service) => {
    const s = service.toLowerCase();
    const e = exact.get(s);
    if (e !== undefined) return e;
    for (const [p, secs] of prefixes) if (s.startsWith(p)) return secs;
    return 0;
  };
}

export function answerSettings(d: DnsConfig): AnswerSettings {
  return {
    nodeTtl: Math.floor(d.nodeTtlMs / 1000),
    serviceTtl: serviceTtl(d.serviceTtlMs),
    onlyPassing: d.onlyPassing,
    serial: () => Math.floor(Date.now() / 1000),
    soa: { ...d.soa },
  };
}

/** The cache's reads: stale when allow_stale (any server answers), again from the leader past max_stale. */
export function catalogFetch(d: DnsConfig, call: AgentDnsDeps['call']): Fetch {
  return async (req, minIndex, signal) => {
    const q: QueryOptions = { minIndex, stale: d.allowStale, consistent: false };
    let r = (await call(req.method, { ...req.args, q }, signal)) as QueryResult<unknown>;
    if (d.allowStale && r.meta.lastContact > d.maxStaleMs) {
      r = (await call(
        req.method,
        { ...req.args, q: { ...q, stale: false } },
        signal,
      )) as QueryResult<unknown>;
    }
    return { index: r.meta.index, value: r.value };
  };
}

/** A prepared query's execution for DNS (Consul's preparedQueryLookup); null for an unknown query. */
export function queryExecutor(
  c: AgentConfig,
  call: AgentDnsDeps['call'],
  timeoutMs = 3000,
): (name: string, dc: string) => Promise<QueryResultData | null> {
  return async (name, dc) => {
    const args = {
      idOrName: name,
      dc,
      q: { minIndex: 0, stale: c.dns.allowStale, consistent: false },
      agent: { node: c.nodeName, datacenter: c.datacenter },
    };
    try {
      const r = (await call(
        'PreparedQuery.Execute',
        args,
        AbortSignal.timeout(timeoutMs),
      )) as QueryResult<QueryResultData>;
      return r.value;
    } catch (err) {
      if (err instanceof ConsulError && err.code === ErrorCode.NotFound) return null;
      throw err;
    }
  };
}

export class AgentDns {
  readonly cache: DnsCache;
  readonly handler: DnsHandler;
  private readonly server: DnsServer;

  constructor(deps: AgentDnsDeps) {
    const c = deps.config;
    const d = c.dns;
    const log = deps.logger;
    this.cache = new DnsCache({ fetch: catalogFetch(d, (m, a, s) => deps.call(m, a, s)) });
    const upstreams = d.recursors.map(parseUpstream).filter((u): u is Upstream => u !== null);
    const recursor =
      upstreams.length > 0 ? new Recursor(upstreams, d.recursorTimeoutMs, d.recursorStrategy) : null;
    this.handler = new DnsHandler({
      domains: { domain: labelsOf(d.domain), altDomain: labelsOf(d.altDomain), datacenter: c.datacenter },
      answers: answerSettings(d),
      udpAnswerLimit: d.udpAnswerLimit,
      aRecordLimit: d.aRecordLimit,
      enableTruncate: d.enableTruncate,
      cache: this.cache,
      recurse: recursor ? (packet, tcp) => recursor.forward(packet, tcp) : null,
      rng: () => deps.rng.next(),
      executeQuery: queryExecutor(c, (m, a, s) => deps.call(m, a, s)),
      onError: (err) => log.debug({ err: (err as Error).message }, 'dns: lookup failed'),
    });
    this.server = new DnsServer({
      address: c.clientAddr,
      port: c.ports.dns,
      handler: deps.hooks ? timedHandler(this.handler, deps.hooks) : this.handler,
      logger: log,
    });
  }

  /** Starts listening; returns the port (UDP and TCP). */
  start(): Promise<number> {
    return this.server.start();
  }

  async stop(): Promise<void> {
    this.cache.stop();
    await this.server.stop();
  }
}

/**
 * The handler with each answer timed. A synchronous answer came from the prepared-answer cache (or
 * is an immediate error reply); one that had to wait read the catalog.
 */
export function timedHandler(h: PacketHandler, hooks: DnsHooks): PacketHandler {
  return {
    handle: (packet, tcp) => {
      const t0 = performance.now();
      const r = h.handle(packet, tcp);
      if (!(r instanceof Promise)) {
        hooks.dnsQuery(performance.now() - t0, true);
        return r;
      }
      return r.finally(() => hooks.dnsQuery(performance.now() - t0, false));
    },
  };
}
