// The pure parts of the metrics: Consul's JSON aggregates, names and labels, the Accept check, the
// bound on label sets, and the telemetry block of the config.

import { describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../src/metrics/agent-metrics.js';
import {
  aggAdd,
  consulTimestamp,
  gaugeName,
  newAgg,
  sampleJson,
  totalJson,
} from '../../src/metrics/consul-json.js';
import { promName, routeLabel } from '../../src/metrics/defs.js';
import { acceptsPrometheus } from '../../src/http/routes/metrics.js';
import { WindowQuantiles } from '../../src/metrics/window-quantiles.js';
import { configWith } from '../support/config.js';

describe("Consul's JSON aggregates", () => {
  it('count, sum, min, max, mean, sample stddev and rate over the elapsed time', () => {
    const a = newAgg({ method: 'GET' });
    for (const v of [2, 4, 4, 4, 5, 5, 7, 9]) aggAdd(a, v);
    const s = sampleJson('consul.x', a, 4);
    expect(s).toMatchObject({ Name: 'consul.x', Count: 8, Sum: 40, Min: 2, Max: 9, Mean: 5, Rate: 10 });
    // Sample (n - 1) standard deviation of the values above: sqrt(32 / 7).
    expect(s.Stddev).toBeCloseTo(Math.sqrt(32 / 7), 10);
    expect(s.Labels).toEqual({ method: 'GET' });
  });

  it('an empty aggregate is all zeros, one value has no spread', () => {
    expect(sampleJson('x', newAgg({}), 1)).toMatchObject({
      Count: 0,
      Sum: 0,
      Min: 0,
      Max: 0,
      Mean: 0,
      Stddev: 0,
    });
    const a = newAgg({});
    aggAdd(a, 3);
    expect(sampleJson('x', a, 1)).toMatchObject({ Count: 1, Min: 3, Max: 3, Mean: 3, Stddev: 0 });
  });

  it('a pulled total counts as that many increments of one', () => {
    expect(totalJson('x', {}, 12, 6)).toMatchObject({ Count: 12, Sum: 12, Min: 1, Max: 1, Mean: 1, Rate: 2 });
    expect(totalJson('x', {}, 0, 6)).toMatchObject({ Count: 0, Sum: 0, Min: 0, Max: 0 });
  });

  it("Go's time format, and the host name after the prefix of gauges", () => {
    expect(consulTimestamp(new Date(Date.UTC(2017, 7, 8, 2, 55, 10)))).toBe('2017-08-08 02:55:10 +0000 UTC');
    expect(gaugeName('consul', 'consul.runtime.alloc_bytes', 'web-1.example.com')).toBe(
      'consul.web-1_example_com.runtime.alloc_bytes',
    );
    expect(gaugeName('consul', 'consul.runtime.alloc_bytes', null)).toBe('consul.runtime.alloc_bytes');
    expect(gaugeName('my.app', 'my.app.raft.peers', 'h')).toBe('my.app.h.raft.peers');
  });
});

describe('quantiles over a sliding window', () => {
  it('exact while every value fits the sample', () => {
    const w = new WindowQuantiles(10_000, 512, () => 0.5, 0);
    for (let v = 1; v <= 100; v++) w.observe(v, 10);
    expect(w.quantiles([0.5, 0.9, 0.99, 1], 20)).toEqual([50, 90, 99, 100]);
  });

  it('forgets values older than the window; NaN when empty', () => {
    const w = new WindowQuantiles(10_000, 512, () => 0.5, 0);
    expect(w.quantiles([0.5], 0)).toEqual([NaN]);
    for (let i = 0; i < 10; i++) w.observe(1000, 100);
    w.observe(1, 6000); // a new half: the first one is still in the window
    expect(w.quantiles([0.5, 0.99], 6000)).toEqual([1000, 1000]);
    // 11 s after the first values: only the second half is left.
    w.observe(2, 11_500);
    expect(w.quantiles([0.5, 0.99], 11_500)).toEqual([1, 2]);
    expect(w.quantiles([0.5], 30_000)).toEqual([NaN]);
  });

  it('a capped sample stands for all the values its half saw', () => {
    let seed = 1;
    const rand = (): number => ((seed = (seed * 48271) % 2147483647) - 1) / 2147483646;
    const w = new WindowQuantiles(10_000, 64, rand, 0);
    // First half: 10 000 values of 100; second half: 100 values of 1. The median is 100.
    for (let i = 0; i < 10_000; i++) w.observe(100, 1000);
    for (let i = 0; i < 100; i++) w.observe(1, 6000);
    expect(w.quantiles([0.005, 0.5, 0.99], 6000)).toEqual([1, 100, 100]);
  });
});

describe('names and labels', () => {
  it("Prometheus names: dots and other characters become '_'", () => {
    expect(promName('consul.raft.commitTime')).toBe('consul_raft_commitTime');
    expect(promName('consul.rpc.request_error')).toBe('consul_rpc_request_error');
    expect(promName('edge.memberlist.health.score')).toBe('edge_memberlist_health_score');
  });

  it('route patterns as path labels: placeholders become empty parts', () => {
    expect(routeLabel('/v1/kv/*')).toBe('v1_kv_');
    expect(routeLabel('/v1/catalog/service/:service')).toBe('v1_catalog_service_');
    expect(routeLabel('/v1/agent/service/register')).toBe('v1_agent_service_register');
    expect(routeLabel('/v1/acl/token/:id/clone')).toBe('v1_acl_token__clone');
  });

  it('Accept: the Prometheus text format only when text/plain version 0.0.4 is listed', () => {
    expect(acceptsPrometheus('text/plain; version=0.0.4')).toBe(true);
    expect(
      acceptsPrometheus('application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5'),
    ).toBe(true);
    expect(acceptsPrometheus('text/plain')).toBe(false);
    expect(acceptsPrometheus('application/json')).toBe(false);
    expect(acceptsPrometheus('*/*')).toBe(false);
    expect(acceptsPrometheus(undefined)).toBe(false);
  });
});

describe('label sets are bounded', () => {
  it('past 256 label sets, new ones are counted under "other"', async () => {
    const m = new AgentMetrics({ prefix: 'consul', disableHostname: true, nodeName: 'n', server: true });
    try {
      for (let i = 0; i < 300; i++) m.http('GET', `/v1/r${i}/:id`, 200, 1);
      m.http('GET', '/v1/r0/:id', 200, 1);
      const j = await m.json();
      const calls = j.Samples.filter((s) => s.Name === 'consul.api.http');
      expect(calls.length).toBe(257);
      expect(calls.find((s) => s.Labels['path'] === 'v1_r0_')?.Count).toBe(2);
      const other = calls.find((s) => s.Labels['path'] === 'other');
      expect(other).toMatchObject({ Count: 44, Labels: { method: 'other', path: 'other' } });
      const text = await m.prometheus();
      expect(text).toContain('consul_api_http_count{method="other",path="other"} 44');
    } finally {
      m.stop();
    }
  });

  it('labels only what the agent knows: endpoint methods, HTTP methods', async () => {
    const m = new AgentMetrics({ prefix: 'consul', disableHostname: true, nodeName: 'n', server: true });
    try {
      m.rpc('KVS.Apply', 2, null);
      for (let i = 0; i < 5; i++) m.rpc(`Made.Up${i}`, 1, new Error('no such method'));
      m.http('BREW', '/v1/kv/*', 405, 1);
      const j = await m.json();
      const calls = j.Samples.filter((s) => s.Name === 'consul.rpc.server.call');
      expect(calls.map((s) => [s.Labels['method'], s.Labels['errortype'], s.Count])).toEqual([
        ['KVS.Apply', '', 1],
        ['unknown', 'internal', 5],
      ]);
      expect(j.Counters.find((c) => c.Name === 'consul.rpc.request_error')?.Count).toBe(5);
      expect(j.Samples.find((s) => s.Name === 'consul.api.http')?.Labels).toEqual({
        method: 'OTHER',
        path: 'v1_kv_',
      });
    } finally {
      m.stop();
    }
  });
});

describe('telemetry configuration', () => {
  it("Consul's defaults, and the keys of the telemetry block", () => {
    expect(configWith({}).telemetry).toEqual({
      disableHostname: false,
      prometheusRetentionMs: 0,
      metricsPrefix: 'consul',
    });
    const c = configWith({
      telemetry: { disable_hostname: true, prometheus_retention_time: '60s', metrics_prefix: 'edge.dc1' },
    });
    expect(c.telemetry).toEqual({
      disableHostname: true,
      prometheusRetentionMs: 60_000,
      metricsPrefix: 'edge.dc1',
    });
  });

  it('refuses a prefix that cannot make metric names, and unknown keys', () => {
    expect(() => configWith({ telemetry: { metrics_prefix: '' } })).toThrow(/metrics_prefix/);
    expect(() => configWith({ telemetry: { metrics_prefix: 'my-app' } })).toThrow(/metrics_prefix "my-app"/);
    expect(() => configWith({ telemetry: { metrics_prefix: 'a..b' } })).toThrow(/metrics_prefix/);
    expect(() => configWith({ telemetry: { statsd_address: '127.0.0.1:8125' } })).toThrow(
      /telemetry: unknown key "statsd_address"/,
    );
    expect(() => configWith({ telemetry: { disable_hostname: 'yes' } })).toThrow(/disable_hostname/);
  });
});
