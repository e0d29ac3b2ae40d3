// Metrics of a real three-server cluster (separate processes): what only a cluster shows, the
// followers' view of Raft (last contact with the leader, follower transitions, replicated indexes)
// and gossip probes between servers, scraped over HTTP and parsed as Prometheus would.

import parsePrometheus, { type PromSample } from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, eventually, type ServerProc } from './harness.js';

let cluster: TestCluster;
let leader: ServerProc;

/** Every line of the text as a sample (summaries declared untyped), by series name. */
async function scrape(s: ServerProc): Promise<Map<string, PromSample[]>> {
  const r = await fetch(`http://${s.http}/v1/agent/metrics?format=prometheus`);
  expect(r.status).toBe(200);
  const text = (await r.text()).replace(/^# TYPE (\S+) summary$/gm, '# TYPE $1 untyped');
  const out = new Map<string, PromSample[]>();
  for (const f of parsePrometheus(text)) {
    out.set(f.name, [...(out.get(f.name) ?? []), ...(f.metrics as PromSample[])]);
  }
  return out;
}

function one(m: Map<string, PromSample[]>, name: string, labels: Record<string, string> = {}): number {
  const rows = (m.get(name) ?? []).filter((s) =>
    Object.entries(labels).every(([k, v]) => s.labels?.[k] === v),
  );
  if (rows.length !== 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${rows.length} series`);
  return Number(rows[0]!.value);
}

beforeAll(async () => {
  cluster = await TestCluster.start({ servers: 3 });
  leader = await cluster.waitForLeader();
  for (let i = 0; i < 5; i++) expect(await leader.client.kvPut(`m/${i}`, `v${i}`)).toBe(true);
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('a three-server cluster', () => {
  it('one leader; followers sample their last contact with it and replicate its index', async () => {
    const followers = cluster.followers(leader);
    expect(followers).toHaveLength(2);
    const lm = await scrape(leader);
    expect(one(lm, 'consul_server_isLeader')).toBe(1);
    expect(one(lm, 'consul_raft_peers')).toBe(3);
    expect(one(lm, 'consul_raft_commitTime_count')).toBeGreaterThanOrEqual(5);
    expect(one(lm, 'consul_kvs_apply_count')).toBe(5);
    const applied = one(lm, 'consul_raft_applied_index');
    for (const f of followers) {
      // A follower's FSM catches up with what the leader had applied.
      const fm = await eventually(
        async () => {
          const m = await scrape(f);
          return one(m, 'consul_raft_applied_index') >= applied ? m : null;
        },
        10_000,
        `${f.name} applied index`,
      );
      expect(one(fm, 'consul_server_isLeader')).toBe(0);
      expect(one(fm, 'consul_raft_state_follower')).toBeGreaterThanOrEqual(1);
      expect(one(fm, 'consul_raft_state_leader')).toBe(0);
      // Sampled at each scrape; the leader's heartbeats keep it well under the election timeout.
      expect(one(fm, 'consul_raft_leader_lastContact_count')).toBeGreaterThanOrEqual(1);
      expect(one(fm, 'consul_raft_leader_lastContact', { quantile: '0.5' })).toBeLessThan(1000);
      // The KV writes went to the leader: none were served here.
      expect(one(fm, 'consul_kvs_apply_count')).toBe(0);
      expect(one(fm, 'consul_state_kv_entries')).toBe(5);
      expect(one(fm, 'consul_serf_lan_members', { status: 'alive' })).toBe(3);
      expect(one(fm, 'consul_members_servers')).toBe(3);
    }
  });

  it('servers probe each other over LAN gossip', async () => {
    const m = await eventually(
      async () => {
        const s = await scrape(leader);
        return one(s, 'consul_memberlist_probeNode_count', { network: 'lan' }) >= 3 ? s : null;
      },
      15_000,
      'probes',
    );
    expect(one(m, 'consul_memberlist_probeNode', { network: 'lan', quantile: '0.99' })).toBeLessThan(1000);
    expect(one(m, 'consul_memberlist_msg_sent', { network: 'lan' })).toBeGreaterThan(3);
    expect(one(m, 'consul_memberlist_health_score', { network: 'lan' })).toBe(0);
  });
});
