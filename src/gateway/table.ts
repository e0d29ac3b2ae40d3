// The gateway's routing table: the datacenters and their servers' HTTP addresses, and the healthy
// instances of each service in use, per datacenter. Kept current by blocking queries, never by
// polling: one long GET of the directory (/v1/internal/gateway/directory?index=N) at a configured
// local agent, and one long GET of /v1/health/service/<name>?passing&index=N per (service, dc) in
// use, at a server of that dc. A (service, dc) watch starts on first use and stops after it has
// been unused for idleMs. Errors back off (exponentially, with jitter) and keep the last good data.
//
// Web-standard only (fetch through an injected UpstreamFetch, AbortController, timers): no `node:`
// import, so the table can run wherever the app runs.

import { upstreamUrl, type UpstreamFetch } from './fetch.js';
import { pause } from '../core/clock.js';

/** The slice of a pino logger the gateway uses (so the table needs no Node logger). */
export interface GatewayLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export const quietLog: GatewayLog = { debug: () => undefined, info: () => undefined, warn: () => undefined };

export interface TableOptions {
  /** host:port of local agents' HTTP APIs (clients or servers): where the directory is read. */
  seeds: string[];
  /** This gateway's datacenter; learnt from the directory when not configured. */
  datacenter?: string | undefined;
  fetch: UpstreamFetch;
  log?: GatewayLog;
  /** `wait` of every blocking query (Consul's default and ours: 5 minutes). */
  waitMs?: number;
  /** A (service, dc) watch unused this long is stopped (5 minutes). */
  idleMs?: number;
  /** An upstream that refused a connection is skipped this long, unless nothing else is left (10 s). */
  downMs?: number;
  /** Backoff after a failed query: from minBackoffMs, doubling, up to maxBackoffMs (250 ms, 10 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long a request waits for the first answer of a new (service, dc) watch (10 s). */
  firstLoadMs?: number;
  random?: () => number;
  now?: () => number;
}

export interface DirectoryServer {
  node: string;
  rpc: string;
  http: string;
}

export interface DirectoryDc {
  name: string;
  servers: DirectoryServer[];
}

export interface Instance {
  node: string;
  id: string;
  /** host:port to connect to ([v6]:port for IPv6). */
  addr: string;
}

/** Where a request may go: a dc and the address of a server or instance in it. */
export interface Upstream {
  dc: string;
  addr: string;
}

const NAME = /^[A-Za-z0-9_-]{1,128}$/;
export const isValidName = (s: string): boolean => NAME.test(s);

/** host:port, bracketing an IPv6 host. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

function unref(t: unknown): void {
  (t as { unref?: () => void }).unref?.();
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Answer<T> {
  value: T;
  index: number;
}

/** One blocking-query loop: keeps `value` as the latest answer, backs off on errors. */
class Watch<T> {
  value: T | undefined;
  index = 0;
  error: string | null = null;
  source: string | null = null;
  updatedAt = 0;
  lastUsed: number;
  /** Round-robin position among this watch's instances. */
  next = 0;
  private readonly ac = new AbortController();
  private waiters: (() => void)[] = [];
  private settled = false;

  constructor(
    private readonly t: RoutingTable,
    private readonly what: string,
    /** The address to ask next, excluding those that just failed; null when none is known. */
    private readonly pick: (failed: Set<string>) => string | null,
    private readonly query: (addr: string, index: number, signal: AbortSignal) => Promise<Answer<T>>,
  ) {
    this.lastUsed = t.now();
  }

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.ac.abort();
    this.settle();
  }

  get stopped(): boolean {
    return this.ac.signal.aborted;
  }

  /** Resolves once the first query has answered, every server has failed once, or after ms. */
  first(ms: number): Promise<void> {
    if (this.settled) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private settle(): void {
    this.settled = true;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async loop(): Promise<void> {
    const signal = this.ac.signal;
    const o = this.t.opts;
    let backoff = o.minBackoffMs;
    const failed = new Set<string>();
    while (!signal.aborted) {
      const addr = this.pick(failed);
      if (addr === null) {
        this.error = 'no known server to ask';
        this.settle();
        await pause(backoff, signal);
        backoff = Math.min(o.maxBackoffMs, backoff * 2);
        failed.clear();
        continue;
      }
      const started = this.t.now();
      try {
        const a = await this.query(addr, this.index, signal);
        failed.clear();
        backoff = o.minBackoffMs;
        const unchanged = a.index === this.index && this.value !== undefined;
        // An index that goes backwards (another server, or a restored snapshot) restarts the
        // sequence, as Consul's clients do; 0 is never a valid index.
        this.index = a.index < this.index ? 0 : Math.max(1, a.index);
        this.value = a.value;
        this.error = null;
        this.source = addr;
        this.updatedAt = this.t.now();
        this.settle();
        // A server that answers at once with an unchanged index is not blocking: do not spin on it.
        if (unchanged && this.t.now() - started < 50) await pause(o.minBackoffMs * 4, signal);
      } catch (err) {
        if (signal.aborted) break;
        failed.add(addr);
        this.error = `${addr}: ${(err as Error).message}`;
        this.t.log.debug({ what: this.what, addr, err: (err as Error).message }, 'query failed');
        // A server that cannot be reached is skipped by the proxy too for a while; one that answers
        // with an error is only left for the others here. A full round of failures backs off.
        if (!(err instanceof HttpError)) this.t.markDown(addr);
        if (this.pick(failed) === null) {
          // Only a full round of failures ends a first wait: another server may still answer.
          this.settle();
          await pause(backoff * (0.75 + 0.5 * this.t.random()), signal);
          backoff = Math.min(o.maxBackoffMs, backoff * 2);
          failed.clear();
        }
      }
    }
  }
}

interface DirectoryValue {
  datacenter: string;
  dcs: DirectoryDc[];
}

type Required2<T> = { [K in keyof T]-?: Exclude<T[K], undefined> };

export class RoutingTable {
  readonly opts: Required2<Omit<TableOptions, 'datacenter'>>;
  readonly log: GatewayLog;
  readonly random: () => number;
  readonly now: () => number;
  private readonly configuredDc: string | undefined;
  private directory: Watch<DirectoryValue> | null = null;
  private readonly services = new Map<string, Watch<Instance[]>>();
  private readonly down = new Map<string, number>();
  private seedNext = 0;
  private sweeper: ReturnType<typeof setInterval> | null = null;

  constructor(o: TableOptions) {
    if (o.seeds.length === 0) throw new Error('the gateway needs at least one local agent address');
    this.opts = {
      seeds: o.seeds,
      fetch: o.fetch,
      log: o.log ?? quietLog,
      waitMs: o.waitMs ?? 300_000,
      idleMs: o.idleMs ?? 300_000,
      downMs: o.downMs ?? 10_000,
      minBackoffMs: o.minBackoffMs ?? 250,
      maxBackoffMs: o.maxBackoffMs ?? 10_000,
      firstLoadMs: o.firstLoadMs ?? 10_000,
      random: o.random ?? Math.random,
      now: o.now ?? Date.now,
    };
    this.configuredDc = o.datacenter;
    this.log = this.opts.log;
    this.random = this.opts.random;
    this.now = this.opts.now;
  }

  /** Starts the directory watch and the sweeper of unused service watches. */
  start(): void {
    if (this.directory) return;
    this.directory = new Watch<DirectoryValue>(
      this,
      'directory',
      (failed) => this.pickSeed(failed),
      (addr, index, signal) => this.readDirectory(addr, index, signal),
    );
    this.directory.start();
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, this.opts.idleMs / 4));
    unref(this.sweeper);
  }

  stop(): void {
    this.directory?.stop();
    for (const w of this.services.values()) w.stop();
    this.services.clear();
    if (this.sweeper) clearInterval(this.sweeper);
  }

  /** Resolves when the directory has been read once (or ms passed); true when it has. */
  async whenReady(ms = 10_000): Promise<boolean> {
    await this.directory?.first(ms);
    return this.directory?.value !== undefined;
  }

  /** Whether the directory has been read at least once. */
  get ready(): boolean {
    return this.directory?.value !== undefined;
  }

  /** This gateway's datacenter: configured, else the one the directory's server belongs to. */
  localDc(): string | undefined {
    return this.configuredDc ?? this.directory?.value?.datacenter;
  }

  /** Known datacenters, nearest first (the directory's order), this gateway's own first. */
  datacenters(): string[] {
    const dcs = (this.directory?.value?.dcs ?? []).map((d) => d.name);
    const local = this.localDc();
    if (local === undefined) return dcs;
    return [local, ...dcs.filter((d) => d !== local)];
  }

  /** Whether the directory lists `dc` (known, maybe without any reachable server). */
  known(dc: string): boolean {
    return (this.directory?.value?.dcs ?? []).some((d) => d.name === dc);
  }

  /**
   * HTTP addresses of the alive servers of `dc`. For the local dc, when the directory has none
   * (not read yet, or servers without HTTP), the configured agents: they serve the API too.
   */
  serversOf(dc: string | undefined): string[] {
    const entry = dc === undefined ? undefined : this.directory?.value?.dcs.find((d) => d.name === dc);
    const addrs = entry ? entry.servers.map((s) => s.http) : [];
    if (addrs.length === 0 && (dc === undefined || dc === this.localDc())) return this.opts.seeds;
    return addrs;
  }

  markDown(addr: string): void {
    this.down.set(addr, this.now() + this.opts.downMs);
  }

  isDown(addr: string): boolean {
    const until = this.down.get(addr);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.down.delete(addr);
    return false;
  }

  /**
   * Orders candidates for one request: those not marked down first (starting at `start`, so
   * callers can rotate), then the down ones as a last resort.
   */
  order(addrs: string[], start: number): string[] {
    const n = addrs.length;
    const up: string[] = [];
    const down: string[] = [];
    for (let i = 0; i < n; i++) {
      const a = addrs[(start + i) % n] as string;
      (this.isDown(a) ? down : up).push(a);
    }
    return down.length ? [...up, ...down] : up;
  }

  /** A random order of the servers of `dc` (random, as cross-DC forwarding picks), up ones first. */
  serverOrder(dc: string | undefined): string[] {
    const s = this.serversOf(dc);
    return this.order(s, Math.floor(this.random() * s.length));
  }

  /**
   * The healthy instances of `service` in `dc` in the order to try them (round-robin: each call
   * starts one further along), or an error text when they could not be read. The first call for a
   * (service, dc) starts its watch and waits for its first answer.
   */
  async instances(service: string, dc: string): Promise<{ addrs: string[]; error: string | null }> {
    const key = `${service}\u0000${dc}`;
    let w = this.services.get(key);
    if (!w || w.stopped) {
      const watch = new Watch<Instance[]>(
        this,
        `service ${service} in ${dc}`,
        (failed) => this.serverOrder(dc).find((a) => !failed.has(a)) ?? null,
        (addr, index, signal) => this.readHealth(addr, service, dc, index, signal),
      );
      this.services.set(key, watch);
      watch.start();
      w = watch;
    }
    w.lastUsed = this.now();
    if (w.value === undefined) await w.first(this.opts.firstLoadMs);
    const list = (w.value ?? []).map((i) => i.addr);
    if (w.value === undefined) return { addrs: [], error: w.error ?? 'no answer yet' };
    return { addrs: this.order(list, w.next++ % Math.max(1, list.length)), error: null };
  }

  /** The table as JSON, for GET /gateway/status. */
  status(): object {
    const d = this.directory;
    return {
      Datacenter: this.localDc() ?? null,
      Ready: d?.value !== undefined,
      Directory: {
        Index: d?.index ?? 0,
        Source: d?.source ?? null,
        Error: d?.error ?? null,
        Datacenters: (d?.value?.dcs ?? []).map((x) => ({
          Datacenter: x.name,
          Servers: x.servers.map((s) => s.http),
        })),
      },
      Services: [...this.services.entries()].map(([key, w]) => {
        const [service, dc] = key.split('\u0000');
        return {
          Service: service,
          Datacenter: dc,
          Index: w.index,
          Instances: (w.value ?? []).map((i) => i.addr),
          Error: w.error,
          IdleSeconds: Math.round((this.now() - w.lastUsed) / 1000),
        };
      }),
      Down: [...this.down.keys()].filter((a) => this.isDown(a)),
    };
  }

  private sweep(): void {
    const cutoff = this.now() - this.opts.idleMs;
    for (const [key, w] of this.services) {
      if (w.lastUsed < cutoff) {
        w.stop();
        this.services.delete(key);
        this.log.debug({ watch: key.replace('\u0000', ' in ') }, 'dropped an unused watch');
      }
    }
  }

  private pickSeed(failed: Set<string>): string | null {
    const seeds = this.opts.seeds;
    // Stay on the seed that worked last; move on (round the list) when it fails.
    for (let i = 0; i < seeds.length; i++) {
      const s = seeds[(this.seedNext + i) % seeds.length] as string;
      if (!failed.has(s)) {
        this.seedNext = (this.seedNext + i) % seeds.length;
        return s;
      }
    }
    return null;
  }

  private async get(
    addr: string,
    path: string,
    signal: AbortSignal,
  ): Promise<{ body: unknown; index: number }> {
    // A server that went silent (a partition, not a refused connection) must not hold a watch for
    // good: a server answers by wait plus its jitter (wait/16), so a little more than that is the
    // most a healthy answer can take.
    const limit = AbortSignal.timeout(this.opts.waitMs + this.opts.waitMs / 16 + 10_000);
    const r = await this.opts.fetch(upstreamUrl(addr, path), {
      method: 'GET',
      headers: { accept: 'application/json' },
      body: null,
      signal: AbortSignal.any([signal, limit]),
    });
    const text = await new Response(r.body).text();
    if (r.status !== 200) throw new HttpError(r.status, `HTTP ${r.status}: ${text.trim().slice(0, 200)}`);
    let index = 0;
    for (const [k, v] of r.headers) if (k.toLowerCase() === 'x-consul-index') index = Number(v) || 0;
    try {
      return { body: JSON.parse(text), index };
    } catch {
      throw new HttpError(502, 'invalid JSON in the answer');
    }
  }

  private waitParam(): string {
    return `${Math.max(1, Math.round(this.opts.waitMs / 1000))}s`;
  }

  private async readDirectory(
    addr: string,
    index: number,
    signal: AbortSignal,
  ): Promise<Answer<DirectoryValue>> {
    const q = index > 0 ? `?index=${index}&wait=${this.waitParam()}` : '';
    const { body, index: idx } = await this.get(addr, `/v1/internal/gateway/directory${q}`, signal);
    const value = parseDirectory(body);
    const before = this.directory?.value;
    if (!before || JSON.stringify(before) !== JSON.stringify(value)) {
      this.log.info(
        {
          dc: value.datacenter,
          datacenters: value.dcs.map((d) => `${d.name}(${d.servers.length})`).join(' '),
        },
        'directory updated',
      );
    }
    return { value, index: idx };
  }

  private async readHealth(
    addr: string,
    service: string,
    dc: string,
    index: number,
    signal: AbortSignal,
  ): Promise<Answer<Instance[]>> {
    // stale: any server of the dc answers from its own state, so routing keeps working while that
    // dc elects a leader; the index still orders the answers.
    const q = `?dc=${encodeURIComponent(dc)}&passing&stale${index > 0 ? `&index=${index}&wait=${this.waitParam()}` : ''}`;
    const { body, index: idx } = await this.get(
      addr,
      `/v1/health/service/${encodeURIComponent(service)}${q}`,
      signal,
    );
    return { value: parseHealth(body), index: idx };
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Contract 4's JSON: {Datacenter, Datacenters: [{Datacenter, Servers: [{Node, RPC, HTTP}]}]}. */
export function parseDirectory(body: unknown): DirectoryValue {
  const b = (body ?? {}) as { Datacenter?: unknown; Datacenters?: unknown };
  if (typeof b.Datacenter !== 'string' || !Array.isArray(b.Datacenters))
    throw new HttpError(502, 'the directory answer lacks Datacenter or Datacenters');
  const dcs: DirectoryDc[] = [];
  for (const d of b.Datacenters as { Datacenter?: unknown; Servers?: unknown }[]) {
    const name = str(d?.Datacenter);
    if (!name) continue;
    const servers = (Array.isArray(d.Servers) ? d.Servers : []) as Record<string, unknown>[];
    dcs.push({
      name,
      servers: servers
        .map((s) => ({ node: str(s['Node']), rpc: str(s['RPC']), http: str(s['HTTP']) }))
        .filter((s) => s.http !== ''),
    });
  }
  return { datacenter: b.Datacenter, dcs };
}

/** /v1/health/service/<name>?passing: each entry's Service.Address (else Node.Address) and port. */
export function parseHealth(body: unknown): Instance[] {
  if (!Array.isArray(body)) throw new HttpError(502, 'the health answer is not a list');
  const out: Instance[] = [];
  for (const e of body as Record<string, unknown>[]) {
    const node = (e?.['Node'] ?? {}) as Record<string, unknown>;
    const svc = (e?.['Service'] ?? {}) as Record<string, unknown>;
    const checks = Array.isArray(e?.['Checks']) ? (e['Checks'] as Record<string, unknown>[]) : [];
    // ?passing asks the server for this already; checked again so an older server cannot slip a
    // failing instance in.
    if (checks.some((c) => c?.['Status'] !== 'passing')) continue;
    const host = str(svc['Address']) || str(node['Address']);
    const port = svc['Port'];
    if (!host || typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) continue;
    out.push({ node: str(node['Node']), id: str(svc['ID']), addr: hostPort(host, port) });
  }
  return out;
}
