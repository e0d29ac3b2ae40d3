// One agent's metrics: its own prom-client Registry (several agents share a process in tests, so
// never the library's global one), the hooks the agent's edges call (hooks.ts), and pulled values
// read at scrape time from what already exists (gossip counters and members, Raft status, store
// sizes, the runtime). Both outputs come from here: Prometheus text and Consul's JSON.

import { hostname } from 'node:os';
import {
  Counter,
  Gauge,
  Registry,
  Summary,
  type MetricObjectWithValues,
  type MetricType,
  type MetricValueWithName,
} from 'prom-client';
import { ConsulError } from '../core/errors.js';
import { endpoints } from '../rpc/endpoints/index.js';
import type { GossipAgent } from '../gossip/driver.js';
import type { MemberEventType } from '../gossip/types.js';
import type { RaftDriver } from '../raft/driver.js';
import type { StateStore } from '../state/store.js';
import {
  aggAdd,
  byName,
  consulTimestamp,
  gaugeName,
  newAgg,
  sampleJson,
  totalJson,
  type Agg,
  type GaugeJson,
  type Labels,
  type MetricsJson,
  type SampleJson,
} from './consul-json.js';
import {
  COUNTERS,
  GAUGES,
  PULLED_COUNTERS,
  RPC_TIMERS,
  TIMERS,
  fullName,
  promName,
  routeLabel,
} from './defs.js';
import type { MetricDef } from './defs.js';
import type { DnsHooks, ServerHooks } from './hooks.js';
import { RuntimeWatch } from './runtime.js';
import { WindowQuantiles } from './window-quantiles.js';

/** Distinct label sets kept per metric; past it new ones are counted under "other". */
const MAX_SERIES = 256;
const OTHER = 'other';
const HTTP_METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS']);
/** Consul's Prometheus sink: these quantiles, over about the last 10 s. */
const PERCENTILES = [0.5, 0.9, 0.99];
const SUMMARY_WINDOW_MS = 10_000;
/** Values kept per half-window and label set for the quantiles. */
const SUMMARY_SAMPLE = 512;

export interface MetricsOptions {
  /** telemetry.metrics_prefix ("consul"). */
  prefix: string;
  /** telemetry.disable_hostname: false puts the host name in the JSON gauge names, as Consul. */
  disableHostname: boolean;
  /** This agent's node name (the DNS timer's label). */
  nodeName: string;
  /** Server mode: RPC calls count as served (rpc.*), else as a client's (client.rpc*). */
  server: boolean;
}

export interface Row {
  labels: Labels;
  value: number;
}

/** The aggregates of one pushed metric, per label set, bounded. */
class Series {
  readonly rows = new Map<string, Agg>();
  constructor(readonly def: MetricDef) {}

  /** The row for `labels`, or the shared "other" row once the metric holds MAX_SERIES. */
  row(labels: Labels): Agg {
    const key = this.def.labels ? this.def.labels.map((l) => labels[l] ?? '').join('\u0000') : '';
    let a = this.rows.get(key);
    if (a) return a;
    if (this.rows.size >= MAX_SERIES) return this.other();
    a = newAgg(labels);
    this.rows.set(key, a);
    return a;
  }

  private other(): Agg {
    const labels = Object.fromEntries((this.def.labels ?? []).map((l) => [l, OTHER]));
    const key = (this.def.labels ?? []).map(() => OTHER).join('\u0000');
    let a = this.rows.get(key);
    if (!a) this.rows.set(key, (a = newAgg(labels)));
    return a;
  }
}

type Rows = () => MetricValueWithName<string>[];
interface Meta {
  name: string;
  help: string;
}

/** A metric's output as prom-client's registry reads it. */
function exported(
  meta: Meta,
  type: 'summary' | 'counter',
  rows: Rows,
): MetricObjectWithValues<MetricValueWithName<string>> {
  return {
    ...meta,
    // The registry writes `type` as it is into "# TYPE"; the typings say an enum number.
    type: type as unknown as MetricType,
    values: rows(),
    aggregator: 'sum',
    collect: () => undefined,
  };
}

/**
 * A prom-client metric (Summary, Counter) whose values come from our own series: prom-client's
 * summaries feed a t-digest per age bucket on every observation (several microseconds, on every
 * HTTP request); here an observation is an array write and the values are built when scraped, and
 * a counter keeps one bookkeeping (ours), not two.
 */
function rowsBacked(
  Kind: typeof Summary | typeof Counter,
  type: 'summary' | 'counter',
  meta: Meta,
  labelNames: readonly string[],
  rows: Rows,
): Summary<string> | Counter<string> {
  const m = new Kind({ name: meta.name, help: meta.help, labelNames, registers: [] });
  m.get = () => Promise.resolve(exported(meta, type, rows));
  return m;
}

class Timer {
  private readonly series: Series;
  private readonly windows = new Map<Agg, WindowQuantiles>();
  constructor(registry: Registry, prefix: string, def: MetricDef) {
    this.series = new Series(def);
    const name = promName(fullName(prefix, def));
    registry.registerMetric(
      rowsBacked(Summary, 'summary', { name, help: def.help }, def.labels ?? [], () => this.promRows(name)),
    );
  }

  observe(v: number, labels: Labels = {}): void {
    const a = this.series.row(labels);
    aggAdd(a, v);
    const now = Date.now();
    let w = this.windows.get(a);
    if (!w)
      this.windows.set(a, (w = new WindowQuantiles(SUMMARY_WINDOW_MS, SUMMARY_SAMPLE, Math.random, now)));
    w.observe(v, now);
  }

  json(name: string, elapsedSec: number): SampleJson[] {
    return [...this.series.rows.values()].map((a) => sampleJson(name, a, elapsedSec));
  }

  /** Quantiles over the window, then the running sum and count, per label set (Prometheus' layout). */
  private promRows(name: string): MetricValueWithName<string>[] {
    const now = Date.now();
    const out: MetricValueWithName<string>[] = [];
    // A timer without labels is listed before its first value too (count 0), as Prometheus clients do.
    const rows =
      this.series.rows.size === 0 && !this.series.def.labels ? [newAgg({})] : this.series.rows.values();
    for (const a of rows) {
      const qs = this.windows.get(a)?.quantiles(PERCENTILES, now) ?? PERCENTILES.map(() => NaN);
      PERCENTILES.forEach((q, i) => out.push({ labels: { ...a.labels, quantile: q }, value: qs[i]! }));
      out.push({ metricName: `${name}_sum`, labels: a.labels, value: a.sum });
      out.push({ metricName: `${name}_count`, labels: a.labels, value: a.count });
    }
    return out;
  }
}

class Count {
  private readonly series: Series;
  constructor(registry: Registry, prefix: string, def: MetricDef) {
    this.series = new Series(def);
    const name = promName(fullName(prefix, def));
    registry.registerMetric(
      rowsBacked(Counter, 'counter', { name, help: def.help }, def.labels ?? [], () => this.promRows()),
    );
  }

  inc(labels: Labels = {}, n = 1): void {
    aggAdd(this.series.row(labels), n);
  }

  /** The running totals; a counter without labels is listed at 0 before its first increment. */
  private promRows(): MetricValueWithName<string>[] {
    if (this.series.rows.size === 0 && !this.series.def.labels) return [{ labels: {}, value: 0 }];
    return [...this.series.rows.values()].map((a) => ({ labels: a.labels, value: a.sum }));
  }

  json(name: string, elapsedSec: number): SampleJson[] {
    return [...this.series.rows.values()].map((a) => sampleJson(name, a, elapsedSec));
  }
}

type Timers = { [K in keyof typeof TIMERS]: Timer };
type Counts = { [K in keyof typeof COUNTERS]: Count };

interface Pulled {
  def: MetricDef;
  kind: 'gauge' | 'counter';
  metric: Gauge<string> | Counter<string>;
}

/** What the metrics read of the LAN pool. */
export type Network = 'lan' | 'wan';
export type GossipSource = Pick<GossipAgent, 'stats' | 'members' | 'healthScore' | 'drainProbeTimes' | 'on'>;
/** What the metrics read of a server: its Raft driver and its state store. */
export interface ServerSource {
  driver: Pick<RaftDriver, 'status' | 'lastContactMs' | 'isLeader'>;
  store: Pick<StateStore, 'kvCount' | 'nodeList' | 'serviceMap' | 'sessionList'>;
}

export class AgentMetrics implements ServerHooks, DnsHooks {
  readonly registry = new Registry();
  private readonly o: MetricsOptions;
  private readonly startedAt = Date.now();
  private readonly timers: Timers;
  private readonly counts: Counts;
  private readonly pulled: Pulled[] = [];
  private readonly runtime: RuntimeWatch;
  private readonly routeLabels = new Map<string, string>();
  private readonly pools: { network: Network; pool: GossipSource }[] = [];
  private lan: GossipSource | null = null;
  private server: ServerSource | null = null;
  private blockingNow = 0;

  constructor(o: MetricsOptions) {
    this.o = o;
    const r = this.registry;
    this.timers = mapValues(TIMERS, (d) => new Timer(r, o.prefix, d));
    this.counts = mapValues(COUNTERS, (d) => new Count(r, o.prefix, d));
    this.runtime = new RuntimeWatch((ns) => {
      this.timers.gcPause.observe(ns);
      this.counts.gcRuns.inc();
      this.counts.gcPauseTotal.inc({}, ns);
    });
    const mem = (): NodeJS.MemoryUsage => this.runtime.memory();
    this.gauge(GAUGES.allocBytes, () => one(mem().heapUsed));
    this.gauge(GAUGES.heapTotalBytes, () => one(mem().heapTotal));
    this.gauge(GAUGES.sysBytes, () => one(mem().rss));
    this.gauge(GAUGES.externalBytes, () => one(mem().external));
    this.gauge(GAUGES.loopDelay, () => {
      const s = this.runtime.loopStats();
      return [
        { labels: { stat: 'mean' }, value: s.meanMs },
        { labels: { stat: 'p99' }, value: s.p99Ms },
        { labels: { stat: 'max' }, value: s.maxMs },
      ];
    });
    this.gauge(GAUGES.loopUtilization, () => one(this.runtime.loopStats().utilization));
    this.gossipMetrics();
  }

  // ------------------------------------------------------------ sources (pulled at scrape time)

  /**
   * A gossip pool: its counters, health score and probe times, labelled network="lan" or "wan"
   * (a server's WAN pool); for the LAN pool also members by status and member events.
   */
  attachGossip(pool: GossipSource, network: Network = 'lan'): void {
    this.pools.push({ network, pool });
    if (network !== 'lan') return;
    this.lan = pool;
    pool.on('member', (event: MemberEventType) => this.memberEvent(event));
  }

  /** The gossip metrics, read from whichever pools are attached when scraped. */
  private gossipMetrics(): void {
    const perPool = (rows: (p: GossipSource) => Row[]) => (): Row[] =>
      this.pools.flatMap(({ network, pool }) =>
        rows(pool).map((r) => ({ labels: { network, ...r.labels }, value: r.value })),
      );
    const stat = (k: string) => perPool((p) => one(p.stats()[k] ?? 0));
    const P = PULLED_COUNTERS;
    this.pulledCounter(P.msgSent, stat('packets.out'));
    this.pulledCounter(P.msgReceived, stat('packets.in'));
    this.pulledCounter(P.bytesSent, stat('bytes.out'));
    this.pulledCounter(P.bytesReceived, stat('bytes.in'));
    this.pulledCounter(P.tcpConnect, stat('streams.out'));
    this.pulledCounter(P.tcpAccept, stat('streams.in'));
    this.pulledCounter(P.probes, stat('probes'));
    this.pulledCounter(P.probesFailed, stat('probes.failed'));
    this.pulledCounter(P.suspicions, stat('suspicions'));
    this.pulledCounter(
      P.dropped,
      perPool((p) =>
        Object.entries(p.stats())
          .filter(([k]) => k.startsWith('dropped.'))
          .map(([k, v]) => ({ labels: { reason: k.slice('dropped.'.length) }, value: v })),
      ),
    );
    this.gauge(
      GAUGES.healthScore,
      perPool((p) => one(p.healthScore())),
    );
    this.gauge(GAUGES.members, () => {
      if (!this.lan) return [];
      const by: Record<string, number> = { alive: 0, suspect: 0, failed: 0, left: 0 };
      for (const m of this.lan.members()) by[m.status] = (by[m.status] ?? 0) + 1;
      return Object.entries(by).map(([status, value]) => ({ labels: { status }, value }));
    });
  }

  /** A server's Raft and state store (client agents have neither: these metrics are absent there). */
  attachServer(s: ServerSource): void {
    this.server = s;
    const status = (): ReturnType<ServerSource['driver']['status']> => s.driver.status();
    this.gauge(GAUGES.isLeader, () => one(s.driver.isLeader() ? 1 : 0));
    this.gauge(GAUGES.queriesBlocking, () => one(this.blockingNow));
    this.gauge(GAUGES.appliedIndex, () => one(status().applied));
    this.gauge(GAUGES.lastIndex, () => one(status().lastIndex));
    this.gauge(GAUGES.fsmPending, () => {
      const st = status();
      return one(Math.max(0, st.commit - st.applied));
    });
    this.gauge(GAUGES.raftPeers, () => one(status().config.servers.filter((v) => v.voter).length));
    this.gauge(GAUGES.stateNodes, () => one(s.store.nodeList().value.length));
    this.gauge(GAUGES.stateServices, () => one(Object.keys(s.store.serviceMap().value).length));
    this.gauge(GAUGES.stateKvEntries, () => one(s.store.kvCount()));
    this.gauge(GAUGES.stateSessions, () => one(s.store.sessionList().value.length));
    const alive = (): { tags: Record<string, string> }[] =>
      this.lan?.members().filter((m) => m.status === 'alive') ?? [];
    this.gauge(GAUGES.membersServers, () => one(alive().filter((m) => m.tags['role'] === 'consul').length));
    this.gauge(GAUGES.membersClients, () => one(alive().filter((m) => m.tags['role'] !== 'consul').length));
  }

  // ------------------------------------------------------------ hooks (pushed as things happen)

  /** One HTTP API request, by the route pattern it matched. */
  http(rawMethod: string, route: string, status: number, ms: number): void {
    // Any word is a method to the route table (it answers 405): only HTTP's own are labels.
    const method = HTTP_METHODS.has(rawMethod) ? rawMethod : OTHER.toUpperCase();
    let path = this.routeLabels.get(route);
    if (path === undefined) this.routeLabels.set(route, (path = routeLabel(route)));
    this.timers.http.observe(ms, { method, path });
    if (status >= 400) this.counts.httpErrors.inc({ method, path, code: String(status) });
  }

  rpc(method: string, ms: number, err: unknown): void {
    if (!this.o.server) {
      this.counts.clientRpc.inc();
      if (err) this.counts.clientRpcFailed.inc();
      return;
    }
    this.counts.rpcRequest.inc();
    if (err) this.counts.rpcRequestError.inc();
    // A method name comes from the caller (over the network too): only the endpoint table's are labels.
    if (!Object.hasOwn(endpoints, method)) method = 'unknown';
    const errortype = err ? (err instanceof ConsulError ? err.code : 'internal') : '';
    this.timers.rpcServerCall.observe(ms, { method, errortype });
    const own = RPC_TIMERS[method];
    if (own && !err) this.timers[own].observe(ms);
  }

  blockingQuery(delta: 1 | -1): void {
    if (!this.o.server) return;
    this.blockingNow += delta;
    if (delta > 0) this.counts.rpcQuery.inc();
  }

  raftApply(): void {
    this.counts.raftApply.inc();
  }

  raftCommit(ms: number): void {
    this.timers.raftCommitTime.observe(ms);
  }

  fsmApply(ms: number): void {
    this.timers.raftFsmApply.observe(ms);
  }

  /** A Raft role change (the driver's 'leader' event). */
  raftRole(role: string): void {
    if (role === 'leader') this.counts.raftStateLeader.inc();
    else if (role === 'follower') this.counts.raftStateFollower.inc();
  }

  dnsQuery(ms: number, cached: boolean): void {
    this.timers.dnsQuery.observe(ms, { node: this.o.nodeName });
    if (cached) this.counts.dnsCacheHit.inc();
    else this.counts.dnsCacheMiss.inc();
  }

  private memberEvent(e: MemberEventType): void {
    switch (e) {
      case 'join':
        return this.counts.serfJoin.inc();
      case 'update':
        return this.counts.serfUpdate.inc();
      case 'failed':
        return this.counts.serfFailed.inc();
      case 'leave':
        return this.counts.serfLeft.inc();
      case 'reap':
        return;
    }
  }

  // ------------------------------------------------------------ outputs

  get prometheusContentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition (version 0.0.4). */
  async prometheus(): Promise<string> {
    this.refresh();
    return this.registry.metrics();
  }

  /** Consul's JSON: {Timestamp, Gauges, Points, Counters, Samples}. */
  async json(now = new Date()): Promise<MetricsJson> {
    this.refresh();
    const prefix = this.o.prefix;
    const elapsedSec = Math.max(0.001, (now.getTime() - this.startedAt) / 1000);
    const host = this.o.disableHostname ? null : hostname();
    const gauges: GaugeJson[] = [];
    const counters: SampleJson[] = [];
    for (const p of this.pulled) {
      const name = fullName(prefix, p.def);
      const got = await p.metric.get();
      for (const v of got.values) {
        const labels = stringLabels(v.labels);
        if (p.kind === 'gauge')
          gauges.push({ Name: gaugeName(prefix, name, host), Value: v.value, Labels: labels });
        else counters.push(totalJson(name, labels, v.value, elapsedSec));
      }
    }
    for (const [k, c] of Object.entries(this.counts)) {
      counters.push(...c.json(fullName(prefix, COUNTERS[k as keyof Counts]), elapsedSec));
    }
    const samples: SampleJson[] = [];
    for (const [k, t] of Object.entries(this.timers)) {
      samples.push(...t.json(fullName(prefix, TIMERS[k as keyof Timers]), elapsedSec));
    }
    // Consul stamps the start of its current 10 s interval.
    const interval = new Date(Math.floor(now.getTime() / 10_000) * 10_000);
    return {
      Timestamp: consulTimestamp(interval),
      Gauges: byName(gauges),
      Points: [],
      Counters: byName(counters),
      Samples: byName(samples),
    };
  }

  stop(): void {
    this.runtime.stop();
  }

  /** Values sampled at scrape time: the probes done since the last one, the leader's last contact. */
  private refresh(): void {
    for (const { network, pool } of this.pools) {
      for (const ms of pool.drainProbeTimes()) this.timers.probeNode.observe(ms, { network });
    }
    const d = this.server?.driver;
    if (d && !d.isLeader() && d.status().leader !== '')
      this.timers.raftLastContact.observe(d.lastContactMs());
  }

  private gauge(def: MetricDef, rows: () => Row[]): void {
    this.pull('gauge', def, rows);
  }

  private pulledCounter(def: MetricDef, rows: () => Row[]): void {
    this.pull('counter', def, rows);
  }

  /** A metric read at scrape time: its rows set on a gauge, or added to a reset counter. */
  private pull(kind: Pulled['kind'], def: MetricDef, rows: () => Row[]): void {
    const opts = {
      name: promName(fullName(this.o.prefix, def)),
      help: def.help,
      labelNames: def.labels ?? [],
      registers: [this.registry],
    };
    const metric =
      kind === 'gauge'
        ? new Gauge({
            ...opts,
            collect() {
              this.reset();
              for (const r of rows()) this.set(r.labels, r.value);
            },
          })
        : new Counter({
            ...opts,
            collect() {
              this.reset();
              for (const r of rows()) this.inc(r.labels, Math.max(0, r.value));
            },
          });
    this.pulled.push({ def, kind, metric });
  }
}

function one(value: number): Row[] {
  return [{ labels: {}, value }];
}

function stringLabels(l: Partial<Record<string, string | number>>): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(l)) if (v !== undefined) out[k] = String(v);
  return out;
}

function mapValues<T extends Record<string, MetricDef>, V>(
  t: T,
  f: (d: MetricDef) => V,
): { [K in keyof T]: V } {
  const out = {} as { [K in keyof T]: V };
  for (const k of Object.keys(t) as (keyof T)[]) out[k] = f(t[k] as MetricDef);
  return out;
}
