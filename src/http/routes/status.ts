// /v1/status/*, /v1/operator/raft/*, /v1/agent/self: the cluster as this server sees it.

import type { Context } from 'hono';
import { badRequest } from '../../core/errors.js';
import type { QueryResult } from '../../rpc/endpoints/types.js';
import type { HttpDeps } from '../app.js';
import { signalOf, urlOf } from '../request.js';
import { parseQueryOptions } from '../query.js';
import { json } from '../respond.js';
import { VERSION } from '../../version.js';

export const statusLeader = (c: Context, d: HttpDeps): Response => json(c, d.agent.leaderAddress());
export const statusPeers = (c: Context, d: HttpDeps): Response => json(c, d.agent.peerAddresses());

export async function raftConfiguration(c: Context, d: HttpDeps): Promise<Response> {
  const q = parseQueryOptions(urlOf(c));
  const r = (await d.agent.forwarder.call(
    'Operator.RaftGetConfiguration',
    { q },
    signalOf(c, q.minIndex > 0),
  )) as QueryResult<unknown>;
  return json(c, r.value, { meta: r.meta });
}

export async function raftRemovePeer(c: Context, d: HttpDeps): Promise<Response> {
  const url = urlOf(c);
  const id = url.searchParams.get('id') ?? '';
  const address = url.searchParams.get('address') ?? '';
  if ((id === '') === (address === ''))
    throw badRequest(
      "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove",
    );
  await d.agent.forwarder.call('Operator.RaftRemovePeer', id ? { id } : { address }, signalOf(c, false));
  return new Response(null, { status: 200 });
}

export function agentSelf(c: Context, d: HttpDeps): Response {
  const a = d.agent;
  const st = a.driver.status();
  const cfg = a.config;
  return json(c, {
    Config: {
      Datacenter: cfg.datacenter,
      PrimaryDatacenter: cfg.datacenter,
      NodeName: cfg.nodeName,
      NodeID: a.nodeId,
      Server: cfg.server,
      Revision: '',
      Version: VERSION,
    },
    Member: {
      Name: cfg.nodeName,
      Addr: a.self().addr.split(':')[0],
      Port: Number(a.self().addr.split(':')[1]),
      Status: 1,
      Tags: { role: 'consul', dc: cfg.datacenter, id: a.nodeId },
    },
    Stats: {
      agent: { check_monitors: '0', checks: '0', services: '0' },
      consul: {
        server: String(cfg.server),
        leader: String(st.role === 'leader'),
        leader_addr: a.leaderAddress(),
        bootstrap: String(cfg.bootstrap),
        known_datacenters: '1',
      },
      raft: {
        state: st.role === 'leader' ? 'Leader' : st.role === 'follower' ? 'Follower' : 'Candidate',
        term: String(st.term),
        commit_index: String(st.commit),
        applied_index: String(st.applied),
        last_log_index: String(st.lastIndex),
        num_peers: String(Math.max(0, st.config.servers.filter((s) => s.voter).length - 1)),
        last_contact: st.role === 'leader' ? '0' : `${Math.max(0, a.driver.lastContactMs())}ms`,
        protocol_version: '3',
      },
      runtime: {
        os: process.platform,
        arch: process.arch,
        version: process.version,
        uptime_seconds: String(Math.round((Date.now() - a.startedAt) / 1000)),
        ...memoryStats(),
      },
    },
    Meta: {},
  });
}

function memoryStats(): Record<string, string> {
  const m = process.memoryUsage();
  return {
    rss_bytes: String(m.rss),
    heap_used_bytes: String(m.heapUsed),
    heap_total_bytes: String(m.heapTotal),
    external_bytes: String(m.external),
    array_buffers_bytes: String(m.arrayBuffers),
  };
}
