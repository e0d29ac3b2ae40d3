// /v1/agent/*: this agent and its gossip pool (members, join, leave, force-leave, self).

import { availableParallelism } from 'node:os';
import type { Context } from 'hono';
import { ConsulError, ErrorCode } from '../../core/errors.js';
import type { Member } from '../../gossip/types.js';
import { VERSION } from '../../version.js';
import type { AgentConfig } from '../../config/config.js';
import type { HttpDeps } from '../app.js';
import { pathParam, urlOf } from '../request.js';
import { json } from '../respond.js';
import { authorizerOf, mayRead } from '../local-acl.js';

/** serf's MemberStatus numbers, as Consul reports them (a suspect member is still alive). */
const STATUS_CODE: Record<Member['status'], number> = { alive: 1, suspect: 1, left: 3, failed: 4 };

export function memberJson(m: Member): Record<string, unknown> {
  return {
    Name: m.name,
    Addr: m.addr,
    Port: m.port,
    Tags: m.tags,
    Status: STATUS_CODE[m.status],
    ProtocolMin: 1,
    ProtocolMax: 5,
    ProtocolCur: 2,
    DelegateMin: 2,
    DelegateMax: 5,
    DelegateCur: 4,
  };
}

/**
 * ?wan on members and join. Consul wants a non-empty value (its clients send wan=1); we also take
 * the bare key (?wan), as force-leave does in Consul and as our CLI sends it.
 */
const wanParam = (c: Context): boolean => urlOf(c).searchParams.has('wan');
/** ?prune: forget the member now rather than after the tombstone timeout. */
const pruneParam = (c: Context): boolean => urlOf(c).searchParams.has('prune');

interface MemberPool {
  members(): Member[];
  membershipVersion(): number;
}

/** The last rendering of each pool's list, valid while its membership version stays the same. */
const rendered = new WeakMap<MemberPool, { version: number; body: string }>();

/**
 * Members poll this often (tools, dashboards, our benchmark every 50 ms on every agent): the sorted
 * JSON is kept per pool until a member event changes what it shows, so a poll costs no rebuild.
 */
function membersBody(pool: MemberPool): string {
  const version = pool.membershipVersion();
  const hit = rendered.get(pool);
  if (hit && hit.version === version) return hit.body;
  const members = [...pool.members()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const body = JSON.stringify(members.map(memberJson));
  rendered.set(pool, { version, body });
  return body;
}

export function agentMembers(c: Context, d: HttpDeps): Response {
  const url = urlOf(c);
  const wan = wanParam(c);
  const segment = url.searchParams.get('segment') ?? '';
  if (wan && segment !== '' && segment !== '_all')
    throw new ConsulError(ErrorCode.BadRequest, 'Cannot provide a segment with wan=true');
  // A client agent is in no WAN pool: Consul answers null there, we an empty list.
  const pool: MemberPool | null = wan ? d.agent.wanPool : d.agent.lan;
  if (!pool) return json(c, []);
  if (authorizerOf(c)) {
    // With ACLs on, each member is shown only to a token with node:read on it (a WAN member,
    // "<node>.<dc>", by its node name), as Consul's filterMembers does; no cached body then.
    const all = [...pool.members()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const nodeOf = (m: Member): string =>
      wan ? m.name.slice(0, Math.max(0, m.name.lastIndexOf('.'))) || m.name : m.name;
    const kept = all.filter((m) => mayRead(c, 'node', nodeOf(m)));
    const r = json(c, kept.map(memberJson));
    if (kept.length !== all.length) r.headers.set('X-Consul-Results-Filtered-By-ACLs', 'true');
    return r;
  }
  if (url.searchParams.has('pretty')) return json(c, JSON.parse(membersBody(pool)));
  return new Response(membersBody(pool), { headers: { 'Content-Type': 'application/json' } });
}

export async function agentJoin(c: Context, d: HttpDeps): Promise<Response> {
  const addr = pathParam(c, 'address', 'Missing address to join');
  if (wanParam(c)) await d.agent.joinWan([addr]);
  else await d.agent.join([addr]);
  return new Response(null, { status: 200 });
}

export async function agentLeave(_c: Context, d: HttpDeps): Promise<Response> {
  await d.agent.leave();
  return new Response(null, { status: 200 });
}

export function agentForceLeave(c: Context, d: HttpDeps): Response {
  const node = pathParam(c, 'node');
  if (wanParam(c)) {
    const wan = d.agent.wanPool;
    if (!wan) {
      throw new ConsulError(
        ErrorCode.Unavailable,
        d.agent.config.server
          ? 'WAN gossip is disabled (ports.serf_wan = -1)'
          : 'Must be a server to force-leave a node from the WAN cluster',
      );
    }
    // WAN members are named "<node>.<dc>".
    if (!wan.forceLeave(node, pruneParam(c)))
      throw new ConsulError(ErrorCode.NotFound, `agent: No node found with name '${node}'`);
    return new Response(null, { status: 200 });
  }
  if (!d.agent.lan.forceLeave(node, pruneParam(c))) {
    throw new ConsulError(ErrorCode.NotFound, `agent: No node found with name '${node}'`);
  }
  return new Response(null, { status: 200 });
}

export function agentSelf(c: Context, d: HttpDeps): Response {
  const a = d.agent;
  const cfg = a.config;
  const raft = a.raftStatus();
  const me = a.lan.local();
  const consul: Record<string, string> = {
    server: String(cfg.server),
    known_datacenters: String(a.knownDatacenters()),
    acl: (cfg.acl as AgentConfig['acl'] | undefined)?.enabled === true ? 'enabled' : 'disabled',
  };
  if (raft) {
    const st = raft.status;
    consul['leader'] = String(st.role === 'leader');
    consul['leader_addr'] = st.config.servers.find((s) => s.id === st.leader)?.address ?? '';
    consul['bootstrap'] = String(cfg.bootstrap);
  } else {
    consul['known_servers'] = String(
      a.lan.members().filter((m) => m.tags['role'] === 'consul' && m.status === 'alive').length,
    );
    // Not in Consul: which server this client sends its requests to now.
    consul['rpc_server'] = a.currentServer();
  }
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
    // This node's LAN coordinate, as Consul's /v1/agent/self shows it.
    Coord: a.lan.coordinate(),
    Member: memberJson(me),
    Stats: {
      agent: agentStats(a),
      consul,
      ...(raft ? { raft: raftStats(raft.status, raft.lastContactMs) } : {}),
      serf_lan: serfStats(a.lan.members(), a.lan.stats()),
      ...(a.wanPool ? { serf_wan: serfStats(a.wanPool.members(), a.wanPool.gossip.stats()) } : {}),
      // Consul's build section (no pre-release or revision stamped into this build).
      build: { prerelease: '', revision: '', version: VERSION, version_metadata: '' },
      runtime: {
        os: process.platform,
        arch: process.arch,
        cpu_count: String(availableParallelism()),
        version: process.version,
        uptime_seconds: String(Math.round((Date.now() - a.startedAt) / 1000)),
        ...memoryStats(),
      },
    },
    Meta: {},
  });
}

/** Consul's Stats.agent counts, plus (ours) how anti-entropy is doing. */
function agentStats(a: HttpDeps['agent']): Record<string, string> {
  const checks = [...a.local.state.checkSlots()].map(([, s]) => s);
  const ttl = checks.filter((s) => s.entry.def?.kind === 'ttl').length;
  const sync = a.local.ae.status();
  const pending =
    !a.local.state.nodeInSync ||
    a.local.state.deletedServices.size > 0 ||
    a.local.state.deletedChecks.size > 0 ||
    checks.some((s) => !s.inSync) ||
    a.local.state.serviceSlots().some(([, s]) => !s.inSync);
  return {
    check_monitors: String(checks.filter((s) => s.entry.def && s.entry.def.kind !== 'ttl').length),
    check_ttls: String(ttl),
    checks: String(checks.length),
    services: String(a.local.state.services().length),
    sync_in_sync: String(!pending),
    sync_last_full: sync.lastFullSync > 0 ? new Date(sync.lastFullSync).toISOString() : '',
    sync_failures: String(sync.failures),
  };
}

type RaftStatus = NonNullable<ReturnType<HttpDeps['agent']['raftStatus']>>['status'];

function raftStats(st: RaftStatus, lastContactMs: number): Record<string, string> {
  return {
    state: st.role === 'leader' ? 'Leader' : st.role === 'follower' ? 'Follower' : 'Candidate',
    term: String(st.term),
    commit_index: String(st.commit),
    applied_index: String(st.applied),
    last_log_index: String(st.lastIndex),
    fsm_pending: String(Math.max(0, st.commit - st.applied)),
    // Consul prints hashicorp/raft's Configuration with Go's %+v.
    latest_configuration: `[${st.config.servers
      .map((s) => `{Suffrage:${s.voter ? 'Voter' : 'Nonvoter'} ID:${s.id} Address:${s.address}}`)
      .join(' ')}]`,
    num_peers: String(Math.max(0, st.config.servers.filter((s) => s.voter).length - 1)),
    last_contact: st.role === 'leader' ? '0' : `${Math.max(0, lastContactMs)}ms`,
    protocol_version: '3',
  };
}

function serfStats(members: Member[], counters: Record<string, number>): Record<string, string> {
  const count = (s: Member['status']): string => String(members.filter((m) => m.status === s).length);
  const out: Record<string, string> = {
    members: String(members.length),
    failed: count('failed'),
    left: count('left'),
  };
  for (const [k, v] of Object.entries(counters)) out[k] = String(v);
  return out;
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
