// The RPC endpoint table: every server operation by name, whether it reads or writes, and its
// handler. HTTP routes call these through the same path a remote caller uses; the forwarding guard
// in server/forward.ts runs before every handler (another DC, a stale read allowed here, or the
// leader), so no handler repeats it.

import { ConsulError, ErrorCode, badRequest } from '../../core/errors.js';
import type { FsmCommand } from '../../state/commands.js';
import { validateDeregister, validateRegister } from '../../state/catalog-validate.js';
import { validateSessionRequest, sessionTtlMs } from '../../state/session-validate.js';
import type { Session } from '../../state/sessions.js';
import { isReadOnlyTxn, readTxn, validateTxn, type TxnOp, type TxnResult } from '../../state/txn.js';
import type { StateStore } from '../../state/store.js';
import type { WatchSet } from '../../state/watch.js';
import { preparedQueryEndpoints, type NearSorter } from './prepared-query.js';
import { operatorEndpoints } from './operator.js';
import type { AutopilotConfig } from '../../state/autopilot.js';
import type { ServerHealth } from '../../server/autopilot.js';
import { aclEndpoints, type AclContext } from './acl.js';
import { snapshotEndpoints } from './snapshot.js';
import { keyringEndpoints } from './keyring.js';
import { compileFilter, type Predicate } from '../../core/filter-expression.js';
import type { KeyringOp, KeyringResponse } from '../../gossip/keyring-ops.js';
import type { QueryMeta, QueryOptions } from './types.js';
import { blockingTimeout } from '../../state/blocking.js';
import { cryptoRng } from '../../core/rng.js';
import { gatewayDirectory, type WanDirectory } from '../../server/wan-directory.js';
import type { CoordinateEntry } from '../../state/coordinates.js';
import { datacenterMaps, type CoordinatePool, type DatacenterMap } from '../../coordinate/pool.js';
import { withNear, type NearArgs } from '../../coordinate/near.js';
import { validateCoordinateUpdate } from '../../coordinate/updates.js';
import type { AgentEvent, EventFilters } from '../../agent/event-log.js';
import {
  checkServiceNodesAcl,
  deregisterAcl,
  eventFireAcl,
  healthChecksAcl,
  kvApplyAcl,
  kvGetAcl,
  kvKeysAcl,
  kvListAcl,
  nodeDumpAcl,
  nodeDumpOneAcl,
  nodeListAcl,
  nodeServiceListAcl,
  nodeServicesAcl,
  registerAcl,
  serviceMapAcl,
  serviceNodesAcl,
  serviceSummariesAcl,
  sessionApplyAcl,
  sessionGetAcl,
  sessionListAcl,
  sessionRenewAcl,
  txnAcl,
  coordinateListAcl,
  coordinateNodeAcl,
  coordinateUpdateAcl,
  operatorReadAcl,
  operatorWriteAcl,
  type AclSpec,
} from './acl-spec.js';

/** What an endpoint may use on the server that runs it. */
export interface EndpointContext {
  store: StateStore;
  /** Proposes an FSM command through Raft (on the leader); resolves with the FSM's result. */
  apply(cmd: FsmCommand): Promise<unknown>;
  raft: {
    configuration(): { servers: { id: string; address: string; voter: boolean }[]; index: number };
    leaderId(): string;
    addressOf(id: string): string | undefined;
    nodeNameOf(id: string): string | undefined;
    removeServer(id: string): Promise<void>;
    addServer(id: string, address: string): Promise<void>;
    /** Whether this server has Raft state (it was bootstrapped or joined a cluster). */
    hasState(): boolean;
    /** RPC address of the leader as this server knows it ('' when none). */
    leaderAddress(): string;
    /** RPC addresses of the voters. */
    peerAddresses(): string[];
    /** The current Raft term (absent in fakes: 0), which a snapshot's metadata records. */
    term?(): number;
    /** Hands leadership to `id` (or the best voter); resolves with the new leader's ID. */
    transferLeadership?(id: string | undefined): Promise<string>;
  };
  /** Autopilot on this server (absent in fakes); health is the leader's view (NotLeader elsewhere). */
  autopilot?: {
    config(): AutopilotConfig;
    health(): { servers: ServerHealth[]; leaderId: string };
  };
  /** The leader's session bookkeeping, kept outside the FSM (server/lock-delay, session-timers). */
  sessions: {
    /** True while `key` is in the lock delay of a session invalidated on this server's clock. */
    lockDelayed(key: string): boolean;
    /** Arms (or re-arms) a session's TTL timer at its full length. */
    resetTimer(id: string, ttlMs: number): void;
    clearTimer(id: string): void;
    /** A fresh random UUID (session IDs are drawn before Raft so the FSM stays deterministic). */
    newId(): string;
  };
  /** Datacenters, for an endpoint that runs another endpoint elsewhere (prepared-query failover). */
  datacenters: {
    local: string;
    /** Known datacenters, nearest first (local first). */
    list(): string[];
    /** Runs an endpoint in another datacenter (through the same forwarding). */
    call(dc: string, method: EndpointName, args: unknown, signal: AbortSignal): Promise<unknown>;
  };
  /** Prepared-query `Near` ordering by RTT, when coordinates exist (absent: results stay shuffled). */
  preparedQueryNear?: NearSorter;
  /** Fires a user event into this server's datacenter, as its agent does (absent in fakes). */
  userEvents?: { fire(name: string, payload: Uint8Array, filters: EventFilters): AgentEvent };
  /**
   * This agent's gossip keyrings (absent in fakes): a keyring operation over its LAN or WAN pool,
   * answered as that pool's tally (marked WAN: true for the WAN pool).
   */
  keyring?: {
    hasWan(): boolean;
    run(op: KeyringOp, key: string | null, wan: boolean): Promise<KeyringResponse[]>;
  };
  /** The ACL system on this server (absent in fakes: ACLs off). */
  acl?: AclContext;
  signal: AbortSignal;
  /** Datacenters and their servers from the WAN pool (server/wan-directory.ts); null in fakes. */
  wan: WanDirectory | null;
  /** Network coordinates on this server (src/coordinate); absent in fakes (updates then apply at once). */
  coordinates?: {
    /** Queues a node's LAN coordinate for the leader's next batch (Consul's Coordinate.Update). */
    enqueue(e: CoordinateEntry): void;
    /** The LAN pool (this server's own coordinate; the fallback for /v1/coordinate/datacenters). */
    lan(): CoordinatePool | null;
    /** The WAN pool of every datacenter's servers, once one is attached. */
    wan(): CoordinatePool | null;
  };
}

export interface ReadEndpoint<A> {
  kind: 'read';
  /** What the caller's token needs (acl-spec.ts); absent: not enforced yet. */
  acl?: AclSpec<A>;
  /** Runs against the local store; `ws` collects what it read so a blocking query can wait on it. */
  run(ctx: EndpointContext, args: A, ws: WatchSet): { index: number; value: unknown };
}

export interface WriteEndpoint<A> {
  kind: 'write';
  acl?: AclSpec<A>;
  run(ctx: EndpointContext, args: A): Promise<unknown>;
}

/**
 * A read that awaits other work (a prepared query failing over to other datacenters): it cannot
 * block on a watch set, but like a read it may be served stale by any server and may be repeated.
 */
export interface QueryEndpoint<A> {
  kind: 'query';
  acl?: AclSpec<A>;
  run(ctx: EndpointContext, args: A): Promise<{ value: unknown; meta: QueryMeta }>;
}

/** Handled by whichever server receives it (no forwarding): status and membership plumbing. */
export interface LocalEndpoint<A> {
  kind: 'local';
  acl?: AclSpec<A>;
  run(ctx: EndpointContext, args: A): unknown;
}

export type Endpoint =
  ReadEndpoint<never> | WriteEndpoint<never> | QueryEndpoint<never> | LocalEndpoint<never>;

export interface ReadArgs {
  q: QueryOptions;
}

// ---------------------------------------------------------------- argument shapes

export type KVApplyArgs =
  | { op: 'set'; key: string; value: Uint8Array; flags: number }
  | { op: 'cas'; key: string; value: Uint8Array; flags: number; index: number }
  | { op: 'delete'; key: string }
  | { op: 'delete-cas'; key: string; index: number }
  | { op: 'delete-tree'; key: string }
  | { op: 'lock'; key: string; value: Uint8Array; flags: number; session: string }
  | { op: 'unlock'; key: string; value: Uint8Array; flags: number; session: string };

export type SessionApplyArgs = { op: 'create'; session: unknown } | { op: 'destroy'; id: string };

function kvCommand(a: KVApplyArgs): FsmCommand {
  switch (a.op) {
    case 'set':
      return { type: 'kvSet', key: a.key, value: a.value, flags: a.flags };
    case 'cas':
      return { type: 'kvCas', key: a.key, value: a.value, flags: a.flags, index: a.index };
    case 'delete':
      return { type: 'kvDelete', key: a.key };
    case 'delete-cas':
      return { type: 'kvDeleteCas', key: a.key, index: a.index };
    case 'delete-tree':
      return { type: 'kvDeleteTree', prefix: a.key };
    case 'lock':
      return { type: 'kvLock', key: a.key, value: a.value, flags: a.flags, session: a.session };
    case 'unlock':
      return { type: 'kvUnlock', key: a.key, value: a.value, flags: a.flags, session: a.session };
  }
}

/**
 * Consul's Session.Apply: a create is checked (policy here, node and checks against this leader's
 * state, so a bad request costs no Raft round), given a fresh UUID, and applied; its TTL timer starts.
 */
async function sessionApply(c: EndpointContext, a: SessionApplyArgs): Promise<unknown> {
  if (a.op === 'destroy') {
    if (typeof a.id !== 'string' || a.id === '') throw badRequest('Missing session');
    await c.apply({ type: 'sessionDestroy', id: a.id });
    c.sessions.clearTimer(a.id);
    return a.id;
  }
  if (a.op !== 'create')
    throw badRequest(`Invalid session operation ${JSON.stringify((a as { op: unknown }).op)}`);
  const req = validateSessionRequest(a.session);
  c.store.checkSessionBinding(req);
  let id = c.sessions.newId();
  while (c.store.session(id)) id = c.sessions.newId();
  const created = await c.apply({ type: 'sessionCreate', session: { ID: id, ...req } });
  if (req.TTL !== '') c.sessions.resetTimer(id, sessionTtlMs(req.TTL));
  return created;
}

/** Consul's Session.Renew: runs on the leader, resets the timer, no Raft write; null when unknown. */
function sessionRenew(c: EndpointContext, a: { id: string }): Session[] | null {
  const s = c.store.session(a.id);
  if (!s) return null;
  c.sessions.resetTimer(s.ID, sessionTtlMs(s.TTL));
  return [s];
}

/** Lock ops on keys still in a lock delay fail the transaction before it goes to Raft. */
function lockDelayErrors(c: EndpointContext, ops: TxnOp[]): TxnResult | null {
  const errors = ops.flatMap((op, i) =>
    op.KV.Verb === 'lock' && c.sessions.lockDelayed(op.KV.Key)
      ? [{ OpIndex: i, What: `failed to lock key "${op.KV.Key}", lock delay in effect` }]
      : [],
  );
  return errors.length > 0 ? { Results: null, Errors: errors } : null;
}

/** Jitter for the directory's blocking waits (as every blocking query gets). */
const waitRng = cryptoRng();

/**
 * Internal.GatewayDirectory: contract 4 of issue 6, blocking on the directory's version the way a
 * blocking query blocks on its index (?index, ?wait with Consul's default, cap and jitter).
 */
async function directory(c: EndpointContext, a: { q?: QueryOptions }): Promise<unknown> {
  const wan = c.wan;
  if (!wan) throw new ConsulError(ErrorCode.Internal, 'this server has no directory of datacenters');
  const minIndex = a.q?.minIndex ?? 0;
  if (minIndex > 0) await wan.waitForChange(minIndex, blockingTimeout(a.q?.maxWaitMs, waitRng), c.signal);
  c.signal.throwIfAborted();
  return { index: wan.version(), value: gatewayDirectory(wan) };
}

/**
 * Consul's Coordinate.ListDatacenters: the WAN coordinates of every datacenter's servers. Without a
 * WAN pool (a server of a single datacenter), this datacenter's servers with their LAN coordinates,
 * marked AreaID "lan" (Consul's name for the LAN area), so `rtt -wan` still works among them.
 */
function listDatacenters(c: EndpointContext): DatacenterMap[] {
  const wan = c.coordinates?.wan();
  if (wan) return datacenterMaps(wan, 'wan');
  const lan = c.coordinates?.lan();
  return lan ? datacenterMaps(lan, 'lan', c.store.datacenter) : [];
}

/** A ?filter carried in the arguments: compiled (a 400 when malformed), or none. */
function filterArg(f: unknown): Predicate | undefined {
  if (f === undefined || f === '') return undefined;
  if (typeof f !== 'string') throw badRequest('filter must be a string');
  return compileFilter(f);
}

const read = <A>(run: ReadEndpoint<A>['run'], acl?: AclSpec<A>): ReadEndpoint<A> =>
  acl ? { kind: 'read', run, acl } : { kind: 'read', run };
const write = <A>(run: WriteEndpoint<A>['run'], acl?: AclSpec<A>): WriteEndpoint<A> =>
  acl ? { kind: 'write', run, acl } : { kind: 'write', run };
const local = <A>(run: LocalEndpoint<A>['run'], acl?: AclSpec<A>): LocalEndpoint<A> =>
  acl ? { kind: 'local', run, acl } : { kind: 'local', run };

export const endpoints = {
  'KVS.Get': read<ReadArgs & { key: string }>((c, a, ws) => c.store.kvGet(a.key, ws), kvGetAcl),
  'KVS.List': read<ReadArgs & { prefix: string }>((c, a, ws) => c.store.kvList(a.prefix, ws), kvListAcl),
  'KVS.ListKeys': read<ReadArgs & { prefix: string; separator: string }>(
    (c, a, ws) => c.store.kvKeys(a.prefix, a.separator, ws),
    kvKeysAcl,
  ),
  'KVS.Apply': write<KVApplyArgs>(async (c, a) => {
    // Consul's KVS.Apply: an acquire during the key's lock delay is refused with false, not queued.
    if (a.op === 'lock' && c.sessions.lockDelayed(a.key)) return false;
    return c.apply(kvCommand(a));
  }, kvApplyAcl),

  'Txn.Apply': write<{ ops: TxnOp[] }>(async (c, a) => {
    validateTxn(a.ops);
    return lockDelayErrors(c, a.ops) ?? c.apply({ type: 'txn', ops: a.ops });
  }, txnAcl),

  'Session.Apply': write<SessionApplyArgs>(sessionApply, sessionApplyAcl),
  'Session.Renew': write<{ id: string }>(async (c, a) => sessionRenew(c, a), sessionRenewAcl),
  'Session.Get': read<ReadArgs & { id: string }>((c, a, ws) => c.store.sessionInfo(a.id, ws), sessionGetAcl),
  'Session.List': read<ReadArgs>((c, _a, ws) => c.store.sessionList(ws), sessionListAcl),
  'Session.NodeSessions': read<ReadArgs & { node: string }>(
    (c, a, ws) => c.store.nodeSessions(a.node, ws),
    sessionListAcl,
  ),
  'Txn.Read': read<ReadArgs & { ops: TxnOp[] }>((c, a) => {
    validateTxn(a.ops);
    if (!isReadOnlyTxn(a.ops)) throw badRequest('transaction is not read-only');
    return { index: c.store.lastIndex || 1, value: readTxn(c.store, a.ops) };
  }, txnAcl),

  'Catalog.Register': write<{ req: unknown }>(
    (c, a) => c.apply({ type: 'register', req: validateRegister(a.req) }),
    registerAcl,
  ),
  'Catalog.Deregister': write<{ req: unknown }>(
    (c, a) => c.apply({ type: 'deregister', req: validateDeregister(a.req) }),
    deregisterAcl,
  ),
  'Catalog.ListNodes': read<ReadArgs & NearArgs>(
    (c, a, ws) => withNear(c.store, a.near, c.store.nodeList(ws), (n) => n.Node),
    nodeListAcl,
  ),
  /** `filter` (?filter=) sees each instance, so it runs here, where the instances are. */
  'Catalog.ListServices': read<ReadArgs & { filter?: unknown }>(
    (c, a, ws) => c.store.serviceMap(ws, filterArg(a.filter)),
    serviceMapAcl,
  ),
  'Catalog.ServiceNodes': read<ReadArgs & NearArgs & { service: string; tags: string[] }>(
    (c, a, ws) => withNear(c.store, a.near, c.store.serviceNodes(a.service, a.tags, ws), (s) => s.Node),
    serviceNodesAcl,
  ),
  'Catalog.NodeServices': read<ReadArgs & { node: string }>(
    (c, a, ws) => c.store.nodeInfo(a.node, ws),
    nodeServicesAcl,
  ),
  'Catalog.NodeServiceList': read<ReadArgs & { node: string }>(
    (c, a, ws) => c.store.nodeServiceList(a.node, ws),
    nodeServiceListAcl,
  ),

  'Health.ServiceNodes': read<ReadArgs & NearArgs & { service: string; tags: string[]; passing: boolean }>(
    (c, a, ws) =>
      withNear(
        c.store,
        a.near,
        c.store.checkServiceNodes(a.service, a.tags, a.passing, ws),
        (e) => e.Node.Node,
      ),
    checkServiceNodesAcl,
  ),
  'Health.NodeChecks': read<ReadArgs & { node: string }>(
    (c, a, ws) => c.store.nodeChecks(a.node, ws),
    healthChecksAcl,
  ),
  'Health.ServiceChecks': read<ReadArgs & NearArgs & { service: string }>(
    (c, a, ws) => withNear(c.store, a.near, c.store.serviceChecks(a.service, ws), (h) => h.Node),
    healthChecksAcl,
  ),
  'Health.ChecksInState': read<ReadArgs & NearArgs & { state: 'any' | 'passing' | 'warning' | 'critical' }>(
    (c, a, ws) => withNear(c.store, a.near, c.store.checksInState(a.state, ws), (h) => h.Node),
    healthChecksAcl,
  ),

  /** Consul's Coordinate endpoint: updates queue on the leader and reach Raft in batches. */
  'Coordinate.Update': write<{ req: unknown }>(async (c, a) => {
    const e = validateCoordinateUpdate(a.req, c.coordinates?.lan()?.coordinate() ?? null);
    if (c.coordinates) c.coordinates.enqueue(e);
    else await c.apply({ type: 'coordinateBatchUpdate', updates: [e] });
    return null;
  }, coordinateUpdateAcl),
  'Coordinate.ListNodes': read<ReadArgs>((c, _a, ws) => c.store.coordinateList(ws), coordinateListAcl),
  'Coordinate.Node': read<ReadArgs & { node: string }>(
    (c, a, ws) => c.store.nodeCoordinates(a.node, ws),
    coordinateNodeAcl,
  ),
  /** Served from this server's own gossip state (never forwarded), as in Consul. */
  'Coordinate.ListDatacenters': local<Record<string, never>>((c) => listDatacenters(c)),

  'Operator.RaftGetConfiguration': read<ReadArgs>((c) => {
    const cfg = c.raft.configuration();
    const leader = c.raft.leaderId();
    return {
      index: Math.max(1, cfg.index),
      value: {
        Servers: cfg.servers.map((s) => ({
          ID: s.id,
          Node: c.raft.nodeNameOf(s.id) ?? '',
          Address: c.raft.addressOf(s.id) ?? s.address,
          Leader: s.id === leader,
          Voter: s.voter,
          ProtocolVersion: '3',
        })),
        Index: cfg.index,
      },
    };
  }, operatorReadAcl),
  'Operator.RaftRemovePeer': write<{ id?: string; address?: string }>(async (c, a) => {
    const servers = c.raft.configuration().servers;
    const target = a.id
      ? servers.find((s) => s.id === a.id)
      : servers.find((s) => s.address === a.address || c.raft.addressOf(s.id) === a.address);
    if (!target) {
      throw new ConsulError(
        ErrorCode.NotFound,
        a.id
          ? `id "${a.id}" was not found in the Raft configuration`
          : `address "${a.address}" was not found in the Raft configuration`,
      );
    }
    await c.raft.removeServer(target.id);
    return true;
  }, operatorWriteAcl),

  /** Asked before -bootstrap-expect bootstraps: is there a cluster already? */
  'Server.RaftState': local<Record<string, never>>((c) => ({ bootstrapped: c.raft.hasState() })),
  /**
   * Consul's Internal.EventFire: a user event for another datacenter, fired there by the server
   * that receives it (?dc= on /v1/event/fire; in its own datacenter an agent fires it itself).
   */
  'Internal.EventFire': local<{ name: string; payload: Uint8Array; filters: EventFilters }>((c, a) => {
    if (!c.userEvents) throw new ConsulError(ErrorCode.Internal, 'this server cannot fire user events');
    return c.userEvents.fire(a.name, a.payload, a.filters);
  }, eventFireAcl),
  'Status.Leader': local<Record<string, never>>((c) => c.raft.leaderAddress()),
  'Status.Peers': local<Record<string, never>>((c) => c.raft.peerAddresses()),
  /** Known datacenters, nearest first (from the WAN pool, on the server that receives it). */
  'Catalog.ListDatacenters': local<Record<string, never>>((c) => c.wan?.datacenters() ?? []),
  'Internal.GatewayDirectory': local<{ q?: QueryOptions }>(directory),
  /** The web UI's reads (Consul's /v1/internal/ui/services, /nodes, /node/:node), blocking like any. */
  'Internal.UIServices': read<ReadArgs>((c, _a, ws) => c.store.serviceSummaries(ws), serviceSummariesAcl),
  'Internal.UINodes': read<ReadArgs>((c, _a, ws) => c.store.nodeDump(ws), nodeDumpAcl),
  'Internal.UINodeInfo': read<ReadArgs & { node: string }>(
    (c, a, ws) => c.store.nodeDumpOne(a.node, ws),
    nodeDumpOneAcl,
  ),

  ...preparedQueryEndpoints,
  ...aclEndpoints,
  ...snapshotEndpoints,
  ...keyringEndpoints,
  ...operatorEndpoints,
} satisfies Record<string, Endpoint>;

export type EndpointName = keyof typeof endpoints;
