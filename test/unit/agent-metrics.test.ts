// /v1/agent/metrics from running agents: a dev server with DNS on and a client agent joined to it,
// after KV writes, a catalog registration, DNS queries and HTTP requests. The Prometheus text is
// parsed by an independent parser and every family the operators watch is checked for values that
// follow from what the test did; the JSON is checked for Consul's shape and the same numbers.

import { hostname } from 'node:os';
import parsePrometheus, { type PromFamily, type PromSample } from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { applyDev, defaultConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/core/logger.js';
import { createApp } from '../../src/http/app.js';
import type { MetricsJson, SampleJson } from '../../src/metrics/consul-json.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { T, udp } from '../support/dns.js';

/**
 * The text parsed twice: as it is (the families and their types), and with summaries declared
 * untyped, so that each of their lines is a sample of its own (`x{quantile=...}`, `x_sum`,
 * `x_count`): the parser folds a summary's label sets into one, which loses labelled series.
 */
interface Families {
  typed: Map<string, PromFamily>;
  flat: Map<string, PromFamily>;
  has(name: string): boolean;
  keys(): string[];
}

function families(text: string): Families {
  // Untyped, a summary's lines of one label set come as runs of their own: merged by name here.
  const byName = (t: string): Map<string, PromFamily> => {
    const m = new Map<string, PromFamily>();
    for (const f of parsePrometheus(t)) {
      const seen = m.get(f.name);
      if (seen) seen.metrics.push(...f.metrics);
      else m.set(f.name, f);
    }
    return m;
  };
  const typed = byName(text);
  const flat = byName(text.replace(/^# TYPE (\S+) summary$/gm, '# TYPE $1 untyped'));
  return { typed, flat, has: (n) => typed.has(n), keys: () => [...typed.keys()] };
}

function family(fs: Families, name: string, type: PromFamily['type']): PromFamily {
  const f = fs.typed.get(name);
  if (!f) throw new Error(`no metric family ${name}`);
  expect(f.type, name).toBe(type);
  return f;
}

function flatRows(fs: Families, name: string, labels: Record<string, string>): PromSample[] {
  const f = fs.flat.get(name);
  if (!f) throw new Error(`no samples ${name}`);
  return (f.metrics as PromSample[]).filter((m) => labelsMatch(m.labels, labels));
}

function labelsMatch(got: Record<string, string> | undefined, want: Record<string, string>): boolean {
  return Object.entries(want).every(([k, v]) => (got ?? {})[k] === v);
}

/** A counter's or gauge's value (the one series matching `labels`). */
function value(
  fs: Families,
  name: string,
  type: 'COUNTER' | 'GAUGE',
  labels: Record<string, string> = {},
): number {
  const rows = family(fs, name, type).metrics.filter((m) => labelsMatch(m.labels, labels)) as PromSample[];
  if (rows.length !== 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${rows.length} series`);
  return Number(rows[0]!.value);
}

function summary(
  fs: Families,
  name: string,
  labels: Record<string, string> = {},
): { count: number; sum: number; q: Record<string, number> } {
  family(fs, name, 'SUMMARY');
  const count = flatRows(fs, `${name}_count`, labels);
  const sum = flatRows(fs, `${name}_sum`, labels);
  if (count.length !== 1 || sum.length !== 1)
    throw new Error(`${name} ${JSON.stringify(labels)}: not one series`);
  const q: Record<string, number> = {};
  for (const r of flatRows(fs, name, labels)) q[r.labels?.['quantile'] ?? '?'] = Number(r.value);
  expect(Object.keys(q).sort(), name).toEqual(['0.5', '0.9', '0.99']);
  return { count: Number(count[0]!.value), sum: Number(sum[0]!.value), q };
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const LAN = { network: 'lan' };

describe('/v1/agent/metrics on a server with a client joined', () => {
  let d: DevAgent;
  let client: Agent;
  let prom: Families;
  let json: MetricsJson;
  let clientProm: Families;
  let dnsQueries = 0;

  beforeAll(async () => {
    d = await startDevAgent((c) => {
      c.ports.dns = 0;
      c.ports.http = 0;
    });
    const cc = defaultConfig();
    applyDev(cc);
    cc.server = false;
    cc.nodeName = 'metrics-client';
    cc.ports.http = -1;
    cc.ports.dns = -1;
    cc.ports.serfLan = 0;
    cc.ports.serfWan = -1;
    cc.rpcHoldTimeoutMs = 2000;
    client = new Agent(cc, silentLogger());
    await client.start();
    const l = d.agent.lan.local();
    await client.join([`${l.addr}:${l.port}`]);
    // Gossip between the two: both alive, and some probes answered.
    await until(
      'two alive members',
      () => d.agent.lan.members().filter((m) => m.status === 'alive').length === 2,
    );
    const probes = (): number => d.agent.lan.stats()['probes'] ?? 0;
    await until('probes', () => probes() - (d.agent.lan.stats()['probes.failed'] ?? 0) >= 2);

    const app = d.app;
    for (let i = 0; i < 5; i++) {
      const r = await app.request(`/v1/kv/metrics/k${i}`, { method: 'PUT', body: `v${i}` });
      expect(r.status).toBe(200);
    }
    expect((await app.request('/v1/kv/metrics/k0')).status).toBe(200);
    expect((await app.request('/v1/kv/metrics/none')).status).toBe(404);
    const reg = await app.request('/v1/catalog/register', {
      method: 'PUT',
      body: JSON.stringify({ Node: 'ext', Address: '10.1.2.3', Service: { Service: 'web', Port: 80 } }),
    });
    expect(reg.status).toBe(200);
    // No node: the endpoint refuses it (an RPC error and an HTTP 400).
    const bad = await app.request('/v1/catalog/register', {
      method: 'PUT',
      body: JSON.stringify({ Address: 'x' }),
    });
    expect(bad.status).toBe(400);

    const port = Number(d.agent.dnsAddr?.split(':').pop());
    for (const name of ['web.service.consul', 'web.service.consul', 'test-node.node.consul']) {
      const r = await udp(port, name, T.A);
      expect(r.answers.length).toBeGreaterThan(0);
      dnsQueries++;
    }

    // The client agent: one read through a server.
    const clientApp = createApp({ agent: client, logger: silentLogger() });
    expect((await clientApp.request('/v1/catalog/nodes')).status).toBe(200);

    // Garbage enough for the young generation to be collected at least once.
    const junk: number[][] = [];
    for (let i = 0; i < 600; i++) junk.push(new Array<number>(10_000).fill(i));
    junk.length = 0;
    // GC entries reach the observer asynchronously.
    await new Promise((r) => setTimeout(r, 100));

    const p = await app.request('/v1/agent/metrics?format=prometheus');
    expect(p.status).toBe(200);
    expect(p.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    prom = families(await p.text());
    const j = await app.request('/v1/agent/metrics');
    expect(j.status).toBe(200);
    json = (await j.json()) as MetricsJson;
    clientProm = families(await (await clientApp.request('/v1/agent/metrics?format=prometheus')).text());
  }, 60_000);

  afterAll(async () => {
    await client?.stop();
    await d?.stop();
  });

  it('raft: applies, commit and FSM times, leadership, indexes', () => {
    const applies = value(prom, 'consul_raft_apply', 'COUNTER');
    expect(applies).toBeGreaterThanOrEqual(6); // 5 KV writes and a registration, at least
    const commit = summary(prom, 'consul_raft_commitTime');
    expect(commit.count).toBeGreaterThanOrEqual(6);
    expect(commit.count).toBeLessThanOrEqual(applies);
    expect(commit.sum).toBeGreaterThan(0);
    expect(commit.q['0.5']).toBeGreaterThan(0);
    expect(commit.q['0.99']).toBeGreaterThanOrEqual(commit.q['0.5']!);
    const fsm = summary(prom, 'consul_raft_fsm_apply');
    expect(fsm.count).toBeGreaterThanOrEqual(commit.count);
    // FSM time is part of the commit time as measured here.
    expect(fsm.sum).toBeLessThan(commit.sum);
    expect(value(prom, 'consul_raft_state_leader', 'COUNTER')).toBe(1);
    expect(value(prom, 'consul_server_isLeader', 'GAUGE')).toBe(1);
    const applied = value(prom, 'consul_raft_applied_index', 'GAUGE');
    expect(applied).toBeGreaterThanOrEqual(applies);
    expect(value(prom, 'consul_raft_last_index', 'GAUGE')).toBeGreaterThanOrEqual(applied);
    const pending = value(prom, 'consul_raft_fsm_pending', 'GAUGE');
    expect(pending).toBeGreaterThanOrEqual(0);
    expect(pending).toBeLessThan(5);
    expect(value(prom, 'consul_raft_peers', 'GAUGE')).toBe(1);
    // The leader hears from no leader: no last-contact samples.
    expect(summary(prom, 'consul_raft_leader_lastContact').count).toBe(0);
  });

  it('gossip: members by status, probe times, messages and bytes', () => {
    expect(value(prom, 'consul_serf_lan_members', 'GAUGE', { status: 'alive' })).toBe(2);
    expect(value(prom, 'consul_serf_lan_members', 'GAUGE', { status: 'failed' })).toBe(0);
    expect(value(prom, 'consul_members_servers', 'GAUGE')).toBe(1);
    expect(value(prom, 'consul_members_clients', 'GAUGE')).toBe(1);
    expect(value(prom, 'consul_serf_member_join', 'COUNTER')).toBeGreaterThanOrEqual(1);
    expect(value(prom, 'consul_memberlist_health_score', 'GAUGE', LAN)).toBe(0);
    const probe = summary(prom, 'consul_memberlist_probeNode', LAN);
    expect(probe.count).toBeGreaterThanOrEqual(2);
    expect(probe.sum).toBeGreaterThan(0);
    expect(probe.q['0.5']).toBeLessThan(1000); // loopback: well under the probe timeout
    const sent = value(prom, 'consul_memberlist_msg_sent', 'COUNTER', LAN);
    expect(sent).toBeGreaterThanOrEqual(2);
    expect(value(prom, 'consul_memberlist_msg_received', 'COUNTER', LAN)).toBeGreaterThanOrEqual(2);
    expect(value(prom, 'consul_memberlist_bytes_sent', 'COUNTER', LAN)).toBeGreaterThan(sent);
    expect(value(prom, 'consul_memberlist_bytes_received', 'COUNTER', LAN)).toBeGreaterThan(0);
    // The client's join was a push/pull stream to the server.
    expect(value(prom, 'consul_memberlist_tcp_accept', 'COUNTER', LAN)).toBeGreaterThanOrEqual(1);
    expect(value(prom, 'consul_memberlist_probes', 'COUNTER', LAN)).toBeGreaterThanOrEqual(probe.count);
    // The server's WAN pool has only itself: no one to send to.
    expect(value(prom, 'consul_memberlist_msg_sent', 'COUNTER', { network: 'wan' })).toBe(0);
    expect(value(prom, 'consul_memberlist_health_score', 'GAUGE', { network: 'wan' })).toBe(0);
  });

  it('RPC: requests, errors, per-method latency', () => {
    const served = value(prom, 'consul_rpc_request', 'COUNTER');
    expect(served).toBeGreaterThanOrEqual(10);
    expect(value(prom, 'consul_rpc_request_error', 'COUNTER')).toBeGreaterThanOrEqual(1);
    const kv = summary(prom, 'consul_rpc_server_call', { method: 'KVS.Apply', errortype: '' });
    expect(kv.count).toBe(5);
    expect(summary(prom, 'consul_kvs_apply').count).toBe(5);
    expect(summary(prom, 'consul_catalog_register').count).toBe(1);
    expect(
      summary(prom, 'consul_rpc_server_call', { method: 'Catalog.Register', errortype: 'BadRequest' }).count,
    ).toBe(1);
    // A server makes no client calls.
    expect(value(prom, 'consul_client_rpc', 'COUNTER')).toBe(0);
  });

  it('blocking queries: counted when they start, in flight until they return', async () => {
    const first = await d.app.request('/v1/kv/metrics/k0');
    const index = first.headers.get('X-Consul-Index');
    expect(Number(index)).toBeGreaterThan(0);
    const scrape = async (): Promise<Families> =>
      families(await (await d.app.request('/v1/agent/metrics?format=prometheus')).text());
    const before = await scrape();
    const waiting = d.app.request(`/v1/kv/metrics/k0?index=${index}&wait=1s`);
    await new Promise((r) => setTimeout(r, 100));
    const during = await scrape();
    expect((await waiting).status).toBe(200);
    const after = await scrape();
    const inFlight = (f: Families): number => value(f, 'consul_rpc_queries_blocking', 'GAUGE');
    expect(inFlight(during)).toBe(inFlight(before) + 1);
    expect(inFlight(after)).toBe(inFlight(before));
    expect(value(during, 'consul_rpc_query', 'COUNTER')).toBe(
      value(before, 'consul_rpc_query', 'COUNTER') + 1,
    );
  });

  it('HTTP: latency by method and route, errors by code', () => {
    const put = summary(prom, 'consul_api_http', { method: 'PUT', path: 'v1_kv_' });
    expect(put.count).toBe(5);
    expect(put.sum).toBeGreaterThan(0);
    expect(summary(prom, 'consul_api_http', { method: 'GET', path: 'v1_kv_' }).count).toBe(2);
    expect(summary(prom, 'consul_api_http', { method: 'PUT', path: 'v1_catalog_register' }).count).toBe(2);
    expect(
      value(prom, 'consul_api_http_errors', 'COUNTER', { method: 'GET', path: 'v1_kv_', code: '404' }),
    ).toBe(1);
    expect(
      value(prom, 'consul_api_http_errors', 'COUNTER', {
        method: 'PUT',
        path: 'v1_catalog_register',
        code: '400',
      }),
    ).toBe(1);
    // Successful requests are not errors.
    const errs = family(prom, 'consul_api_http_errors', 'COUNTER').metrics as PromSample[];
    expect(errs.filter((e) => e.labels?.['method'] === 'PUT' && e.labels['path'] === 'v1_kv_')).toEqual([]);
  });

  it('DNS: queries timed, cache hits and misses', () => {
    expect(summary(prom, 'consul_dns_domain_query', { node: 'test-node' }).count).toBe(dnsQueries);
    const hits = value(prom, 'consul_dns_cache_hit', 'COUNTER');
    const misses = value(prom, 'consul_dns_cache_miss', 'COUNTER');
    expect(hits + misses).toBe(dnsQueries);
    expect(hits).toBeGreaterThanOrEqual(1); // the second web.service.consul
    expect(misses).toBeGreaterThanOrEqual(2);
  });

  it('state sizes: KV entries, nodes, services', () => {
    expect(value(prom, 'consul_state_kv_entries', 'GAUGE')).toBe(5);
    expect(value(prom, 'consul_state_nodes', 'GAUGE')).toBeGreaterThanOrEqual(2); // test-node, ext
    expect(value(prom, 'consul_state_services', 'GAUGE')).toBeGreaterThanOrEqual(2); // consul, web
    expect(value(prom, 'consul_state_sessions', 'GAUGE')).toBe(0);
  });

  it('runtime: heap, event loop, garbage collection', () => {
    const alloc = value(prom, 'consul_runtime_alloc_bytes', 'GAUGE');
    expect(alloc).toBeGreaterThan(1_000_000);
    expect(value(prom, 'consul_runtime_heap_total_bytes', 'GAUGE')).toBeGreaterThanOrEqual(alloc);
    expect(value(prom, 'consul_runtime_sys_bytes', 'GAUGE')).toBeGreaterThan(alloc);
    const p99 = value(prom, 'consul_runtime_event_loop_delay_ms', 'GAUGE', { stat: 'p99' });
    const max = value(prom, 'consul_runtime_event_loop_delay_ms', 'GAUGE', { stat: 'max' });
    expect(p99).toBeGreaterThanOrEqual(0);
    expect(max).toBeGreaterThanOrEqual(p99);
    const elu = value(prom, 'consul_runtime_event_loop_utilization', 'GAUGE');
    expect(elu).toBeGreaterThan(0);
    expect(elu).toBeLessThanOrEqual(1);
    const runs = value(prom, 'consul_runtime_total_gc_runs', 'COUNTER');
    expect(runs).toBeGreaterThanOrEqual(1);
    const pauses = summary(prom, 'consul_runtime_gc_pause_ns');
    expect(pauses.count).toBe(runs);
    expect(value(prom, 'consul_runtime_total_gc_pause_ns', 'COUNTER')).toBeCloseTo(pauses.sum, 0);
  });

  it("JSON: Consul's shape, with the same numbers", () => {
    expect(Object.keys(json)).toEqual(['Timestamp', 'Gauges', 'Points', 'Counters', 'Samples']);
    expect(json.Timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d0 \+0000 UTC$/);
    expect(json.Points).toEqual([]);
    for (const g of json.Gauges) {
      expect(Object.keys(g)).toEqual(['Name', 'Value', 'Labels']);
      expect(typeof g.Value).toBe('number');
    }
    const fields = ['Name', 'Count', 'Rate', 'Sum', 'Min', 'Max', 'Mean', 'Stddev', 'Labels'];
    for (const s of [...json.Counters, ...json.Samples]) expect(Object.keys(s)).toEqual(fields);
    // disable_hostname false (the default): gauges carry the host name, as Consul's do.
    const host = hostname().replace(/\./g, '_');
    const alloc = json.Gauges.find((g) => g.Name === `consul.${host}.runtime.alloc_bytes`);
    expect(alloc?.Value).toBeGreaterThan(1_000_000);
    const kvKeys = json.Gauges.find((g) => g.Name === `consul.${host}.state.kv_entries`);
    expect(kvKeys?.Value).toBe(5);

    const sample = (name: string, labels: Record<string, string> = {}): SampleJson => {
      const s = json.Samples.find((x) => x.Name === name && labelsMatch(x.Labels, labels));
      if (!s) throw new Error(`no sample ${name}`);
      return s;
    };
    const put = sample('consul.api.http', { method: 'PUT', path: 'v1_kv_' });
    expect(put.Count).toBe(5);
    expect(put.Min).toBeGreaterThan(0);
    expect(put.Min).toBeLessThanOrEqual(put.Mean);
    expect(put.Mean).toBeLessThanOrEqual(put.Max);
    expect(put.Mean * put.Count).toBeCloseTo(put.Sum, 6);
    expect(put.Stddev).toBeGreaterThanOrEqual(0);
    expect(put.Rate).toBeGreaterThan(0);
    expect(sample('consul.kvs.apply').Count).toBe(5);
    const join = json.Counters.find((x) => x.Name === 'consul.serf.member.join');
    expect(join?.Count).toBeGreaterThanOrEqual(1);
    const hits = json.Counters.find((x) => x.Name === 'consul.dns.cache_hit');
    expect(hits?.Sum).toBe(value(prom, 'consul_dns_cache_hit', 'COUNTER'));
  });

  it('a client agent counts its RPC calls and has no server metrics', () => {
    expect(value(clientProm, 'consul_client_rpc', 'COUNTER')).toBeGreaterThanOrEqual(1);
    expect(value(clientProm, 'consul_rpc_request', 'COUNTER')).toBe(0);
    expect(value(clientProm, 'consul_serf_lan_members', 'GAUGE', { status: 'alive' })).toBe(2);
    // A client has a LAN pool only.
    const sent = family(clientProm, 'consul_memberlist_msg_sent', 'COUNTER').metrics as PromSample[];
    expect(sent.map((m) => m.labels?.['network'])).toEqual(['lan']);
    for (const name of ['consul_raft_applied_index', 'consul_state_kv_entries', 'consul_server_isLeader']) {
      expect(clientProm.has(name), name).toBe(false);
    }
  });

  it('Prometheus text also for Accept: text/plain; version=0.0.4; another format is a 400', async () => {
    // Over the agent's own listener, with the Accept header a Prometheus server sends.
    const r = await fetch(`http://${d.agent.httpAddr}/v1/agent/metrics`, {
      headers: {
        Accept: 'application/openmetrics-text;version=1.0.0;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      },
    });
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(families(await r.text()).has('consul_raft_apply')).toBe(true);
    const bad = await d.app.request('/v1/agent/metrics?format=xml');
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/format/);
  });
});

describe('telemetry settings and one registry per agent', () => {
  it('metrics_prefix renames every metric; disable_hostname leaves gauge names alone', async () => {
    const a = await startDevAgent((c) => {
      c.telemetry.metricsPrefix = 'edge';
      c.telemetry.disableHostname = true;
    });
    try {
      const fs = families(await (await a.app.request('/v1/agent/metrics?format=prometheus')).text());
      expect(fs.keys().every((k) => k.startsWith('edge_'))).toBe(true);
      expect(value(fs, 'edge_server_isLeader', 'GAUGE')).toBe(1);
      // Its own registry: nothing of the other agents in this process.
      expect(summary(fs, 'edge_kvs_apply').count).toBe(0);
      const j = (await (await a.app.request('/v1/agent/metrics')).json()) as MetricsJson;
      expect(j.Gauges.some((g) => g.Name === 'edge.runtime.alloc_bytes')).toBe(true);
    } finally {
      await a.stop();
    }
  });
});

describe('ACL', () => {
  it('agent:read is needed: no token 403, the management token 200', async () => {
    const secret = 'b1e55ed0-1111-2222-3333-444444444444';
    const a = await startDevAgent((c) => {
      c.acl.enabled = true;
      c.acl.defaultPolicy = 'deny';
      c.acl.tokens.initialManagement = secret;
    });
    try {
      await until(
        'the management token',
        () => a.agent.server?.fsm.store.aclTokenBySecret(secret) !== undefined,
      );
      expect((await a.app.request('/v1/agent/metrics')).status).toBe(403);
      expect((await a.app.request('/v1/agent/metrics?format=prometheus')).status).toBe(403);
      const ok = await a.app.request('/v1/agent/metrics', { headers: { 'X-Consul-Token': secret } });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as MetricsJson).Gauges.length).toBeGreaterThan(0);
    } finally {
      await a.stop();
    }
  });
});
