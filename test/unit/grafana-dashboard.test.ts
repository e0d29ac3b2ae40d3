// deploy/grafana-dashboard.json: every query names only metrics and labels the agents export (the
// tables in src/metrics/defs.ts), and every panel reads the datasource the importer chooses.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  COUNTERS,
  GAUGES,
  PULLED_COUNTERS,
  TIMERS,
  fullName,
  promName,
  type MetricDef,
} from '../../src/metrics/defs.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource: { uid: string } }[];
}

const dash = JSON.parse(
  readFileSync(new URL('../../deploy/grafana-dashboard.json', import.meta.url), 'utf8'),
) as {
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
};

/** Exported series names and the labels each may carry. */
function exported(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (name: string, labels: readonly string[]): void => {
    out.set(name, new Set(['instance', 'job', ...labels]));
  };
  const plain = (defs: Record<string, MetricDef>): void => {
    for (const d of Object.values(defs)) add(promName(fullName('consul', d)), d.labels ?? []);
  };
  plain(COUNTERS);
  plain(PULLED_COUNTERS);
  plain(GAUGES);
  for (const d of Object.values(TIMERS as Record<string, MetricDef>)) {
    const n = promName(fullName('consul', d));
    add(n, [...(d.labels ?? []), 'quantile']);
    add(`${n}_sum`, d.labels ?? []);
    add(`${n}_count`, d.labels ?? []);
  }
  return out;
}

describe('the Grafana dashboard', () => {
  const panels = dash.panels.filter((p) => p.type !== 'row');
  const known = exported();

  it('has a Prometheus datasource variable every panel and query uses', () => {
    const ds = dash.templating.list.find((v) => v.name === 'DS_PROMETHEUS');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(panels.length).toBeGreaterThan(20);
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource.uid).toBe('${DS_PROMETHEUS}');
    }
    expect(new Set(dash.panels.map((p) => p.id)).size).toBe(dash.panels.length);
  });

  it('queries only exported metrics, with their labels', () => {
    const used = new Set<string>();
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        for (const m of t.expr.matchAll(/\b(consul_[A-Za-z0-9_]+)(\{([^}]*)\})?/g)) {
          const name = m[1]!;
          used.add(name);
          const labels = known.get(name);
          expect(labels, `${p.title}: ${name}`).toBeDefined();
          for (const kv of (m[3] ?? '').split(',').filter((s) => s.trim() !== '')) {
            const label = kv.split(/[=!~]/)[0]!.trim();
            expect(labels?.has(label), `${p.title}: ${name} has no label ${label}`).toBe(true);
          }
        }
        for (const m of t.expr.matchAll(/\bby \(([^)]*)\)/g)) {
          for (const label of m[1]!.split(',').map((s) => s.trim())) {
            const somewhere = [...known.values()].some((s) => s.has(label));
            expect(somewhere, `${p.title}: by ${label}`).toBe(true);
          }
        }
      }
    }
    // Every family the issue names is on the dashboard.
    for (const name of [
      'consul_raft_commitTime',
      'consul_raft_apply',
      'consul_raft_state_leader',
      'consul_raft_leader_lastContact',
      'consul_raft_fsm_pending',
      'consul_serf_lan_members',
      'consul_memberlist_probeNode',
      'consul_memberlist_msg_sent',
      'consul_memberlist_bytes_sent',
      'consul_rpc_request',
      'consul_rpc_request_error',
      'consul_api_http_count',
      'consul_api_http_errors',
      'consul_dns_domain_query_count',
      'consul_dns_cache_hit',
      'consul_state_kv_entries',
      'consul_state_nodes',
      'consul_runtime_alloc_bytes',
      'consul_runtime_event_loop_delay_ms',
      'consul_runtime_total_gc_pause_ns',
    ]) {
      expect(used.has(name), name).toBe(true);
    }
  });
});
