// Prepared queries (Consul's agent/consul/prepared_query_endpoint.go): Apply, Get, List, Explain,
// Execute and ExecuteRemote. Execute resolves a query by ID or name, runs its service query on this
// datacenter's state (health, tags with "!" exclusion, node and service meta), orders the result
// (shuffled, then by RTT from `Near` when coordinates are known), applies the limit, and when no
// instance is left fails over: first the NearestN other datacenters, then Failover.Datacenters,
// each asked with ExecuteRemote (which carries the whole query, runs it there and never fails over
// again, so a failover fans out one level at most).
//
// Execute is a 'query'-kind endpoint: a read that must await the other datacenters, so it cannot
// block on a watch set; it runs on the leader by default and on any server with ?stale.

import { ConsulError, ErrorCode, badRequest } from '../../core/errors.js';
import {
  checkQueryPolicy,
  decodeQuery,
  type PreparedQuery,
  type PreparedQueryInput,
  type ServiceQuery,
} from '../../state/prepared-queries.js';
import type { StateStore } from '../../state/store.js';
import type { CheckServiceNode } from '../../state/types.js';
import type { WatchSet } from '../../state/watch.js';
import type { EndpointContext, QueryEndpoint, ReadArgs, ReadEndpoint, WriteEndpoint } from './index.js';
import type { QueryMeta, QueryOptions } from './types.js';
import {
  queryApplyAcl,
  queryExecuteAcl,
  queryExecuteRemoteAcl,
  queryExplainAcl,
  queryGetAcl,
  queryListAcl,
  type AclSpec,
  type TokenArgs,
} from './acl-spec.js';

/** Consul's structs.ErrQueryNotFound text (its HTTP layer answers it with a 404). */
export const QUERY_NOT_FOUND = 'Query not found';

export type PreparedQueryApplyArgs =
  | { op: 'create'; query: unknown }
  /** The query's ID comes from the URL (Consul takes it from there, not the body). */
  | { op: 'update'; query: unknown }
  | { op: 'delete'; id: string };

/** Who asks (Consul's QuerySource): `_agent` means `agent.node`; `_ip` the node with `source.ip`. */
export interface QuerySourceArgs {
  agent?: { node: string; datacenter: string };
  source?: { node?: string; ip?: string };
}

export interface PreparedQueryExecuteArgs extends QuerySourceArgs {
  dc?: string;
  q?: QueryOptions;
  idOrName: string;
  /** At most this many instances (0: all). */
  limit?: number;
}

export interface PreparedQueryExecuteRemoteArgs extends TokenArgs {
  /** The datacenter asked (the forwarding sends the call there). */
  dc: string;
  q: QueryOptions;
  query: PreparedQuery;
  limit: number;
}

/** Consul's PreparedQueryExecuteResponse, as its HTTP API shows it. */
export interface PreparedQueryExecuteResponse {
  Service: string;
  Nodes: CheckServiceNode[];
  DNS: { TTL: string };
  /** Where the instances came from (another datacenter after a failover). */
  Datacenter: string;
  /** How many other datacenters were tried. */
  Failovers: number;
}

/**
 * Orders `rows` by estimated RTT from `node` (nearest first); null when `node` has no coordinate.
 * Supplied by the coordinates part; without it results stay shuffled, as Consul's are without
 * coordinates.
 */
export type NearSorter = (node: string, rows: CheckServiceNode[]) => CheckServiceNode[] | null;

// ---------------------------------------------------------------- the service query

const isCritical = (s: string): boolean => s === 'critical' || s === 'maintenance';

/** Consul's CheckServiceNodes.FilterIgnore: drop any instance with a critical (or, with onlyPassing, non-passing) check. */
export function healthFilter(
  rows: readonly CheckServiceNode[],
  onlyPassing: boolean,
  ignore: readonly string[] | null,
): CheckServiceNode[] {
  const skip = new Set(ignore ?? []);
  return rows.filter((r) =>
    r.Checks.every(
      (c) => skip.has(c.CheckID) || (!isCritical(c.Status) && !(onlyPassing && c.Status !== 'passing')),
    ),
  );
}

/** Every plain tag present, no "!tag" present; case-insensitive (Consul's tagFilter). */
export function tagFilter(rows: readonly CheckServiceNode[], tags: readonly string[]): CheckServiceNode[] {
  const must: string[] = [];
  const not: string[] = [];
  for (const t of tags) {
    const l = t.toLowerCase();
    if (l.startsWith('!')) not.push(l.slice(1));
    else must.push(l);
  }
  return rows.filter((r) => {
    const have = new Set((r.Service.Tags ?? []).map((t) => t.toLowerCase()));
    return must.every((t) => have.has(t)) && !not.some((t) => have.has(t));
  });
}

/** Every filter key present with exactly that value (Consul's SatisfiesMetaFilters). */
function metaMatches(
  meta: Record<string, string> | null | undefined,
  filters: Record<string, string>,
): boolean {
  return Object.entries(filters).every(([k, v]) => meta !== null && meta !== undefined && meta[k] === v);
}

/** Consul's execute(): the query's instances in this datacenter, unordered, no limit. */
export function runServiceQuery(store: StateStore, s: ServiceQuery, ws?: WatchSet): CheckServiceNode[] {
  let rows = store.checkServiceNodes(s.Service, [], false, ws).value;
  rows = healthFilter(rows, s.OnlyPassing, s.IgnoreCheckIDs);
  const nodeMeta = s.NodeMeta ?? {};
  if (Object.keys(nodeMeta).length > 0) rows = rows.filter((r) => metaMatches(r.Node.Meta, nodeMeta));
  const svcMeta = s.ServiceMeta ?? {};
  if (Object.keys(svcMeta).length > 0) rows = rows.filter((r) => metaMatches(r.Service.Meta, svcMeta));
  if (s.Tags && s.Tags.length > 0) rows = tagFilter(rows, s.Tags);
  return rows;
}

export function shuffle<T>(xs: T[], random: () => number = Math.random): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

function limited<T>(xs: T[], limit: number | undefined): T[] {
  return limit !== undefined && limit > 0 && xs.length > limit ? xs.slice(0, limit) : xs;
}

function localResponse(
  c: EndpointContext,
  q: PreparedQuery,
  rows: CheckServiceNode[],
): PreparedQueryExecuteResponse {
  return {
    Service: q.Service.Service,
    Nodes: rows,
    DNS: { TTL: q.DNS.TTL },
    Datacenter: c.store.datacenter,
    Failovers: 0,
  };
}

/** The node results are sorted from: the request's source, else the query's Near ("_agent", "_ip"). */
function nearNode(store: StateStore, q: PreparedQuery, a: QuerySourceArgs): string {
  let node = a.source?.node || q.Service.Near;
  if (node === '_agent') node = a.agent?.node ?? '';
  else if (node === '_ip') {
    const ip = a.source?.ip ?? '';
    node = ip === '' ? '' : (store.nodes().value.find((n) => n.Address === ip)?.Node ?? '');
  }
  return node;
}

/** Consul's ordering: shuffle, sort by RTT when possible, then the near node itself first. */
function order(
  c: EndpointContext,
  rows: CheckServiceNode[],
  near: string,
  sourceDc: string,
  sorter: NearSorter | undefined,
): CheckServiceNode[] {
  let out = shuffle([...rows]);
  if (near === '') return out;
  out = sorter?.(near, out) ?? out;
  // Consul looks no deeper than the first ten: after an RTT sort the node itself is near the top.
  if (sourceDc === c.store.datacenter) {
    const i = out.slice(0, 10).findIndex((r) => r.Node.Node === near);
    if (i > 0) [out[0], out[i]] = [out[i] as CheckServiceNode, out[0] as CheckServiceNode];
  }
  return out;
}

function unwrap(r: unknown): PreparedQueryExecuteResponse {
  // A read endpoint answers through the forwarding as {value, meta}; a fake may answer bare.
  const v =
    r !== null && typeof r === 'object' && 'value' in r && 'meta' in r ? (r as { value: unknown }).value : r;
  return v as PreparedQueryExecuteResponse;
}

/**
 * Consul's queryFailover: the first NearestN other datacenters (nearest first), then the listed ones
 * it knows that were not tried yet. A datacenter that fails is skipped; the first with instances
 * answers. Failovers counts the datacenters tried.
 */
export async function failover(
  c: EndpointContext,
  q: PreparedQuery,
  a: PreparedQueryExecuteArgs,
  local: PreparedQueryExecuteResponse,
): Promise<PreparedQueryExecuteResponse> {
  const here = c.datacenters.local;
  const others = c.datacenters.list().filter((dc) => dc !== here);
  const known = new Set(others);
  const dcs = q.Service.Failover.NearestN > 0 ? others.slice(0, q.Service.Failover.NearestN) : [];
  for (const dc of q.Service.Failover.Datacenters ?? []) {
    if (known.has(dc) && !dcs.includes(dc)) dcs.push(dc);
  }
  let last: PreparedQueryExecuteResponse | null = null;
  let tried = 0;
  for (const dc of dcs) {
    tried++;
    const args: PreparedQueryExecuteRemoteArgs = {
      dc,
      // Only the consistency mode goes along: ExecuteRemote must answer at once, never block.
      q: { minIndex: 0, stale: a.q?.stale ?? false, consistent: a.q?.consistent ?? false },
      query: q,
      limit: a.limit ?? 0,
    };
    // The remote datacenter filters its instances with the query's own token, else the caller's
    // (Consul's ExecuteRemote carries the same token).
    const token = q.Token !== '' ? q.Token : (a as TokenArgs).token;
    if (typeof token === 'string' && token !== '') args.token = token;
    try {
      const r = unwrap(await c.datacenters.call(dc, 'PreparedQuery.ExecuteRemote', args, c.signal));
      last = { ...r, Nodes: Array.isArray(r?.Nodes) ? r.Nodes : [] };
    } catch {
      // Consul logs and moves on: an unreachable datacenter must not hide the next one.
      c.signal.throwIfAborted();
      continue;
    }
    if (last.Nodes.length > 0) break;
  }
  return { ...(last ?? local), Nodes: last?.Nodes ?? [], Failovers: tried };
}

function resolveOrThrow(
  store: StateStore,
  idOrName: unknown,
  ws?: WatchSet,
): { index: number; query: PreparedQuery } {
  if (typeof idOrName !== 'string') throw badRequest('Missing query ID');
  const r = store.preparedQueryResolve(idOrName, ws);
  if (!r.value) throw new ConsulError(ErrorCode.NotFound, QUERY_NOT_FOUND);
  return { index: r.index, query: r.value };
}

export async function executeQuery(
  c: EndpointContext,
  a: PreparedQueryExecuteArgs,
): Promise<{ value: PreparedQueryExecuteResponse; meta: QueryMeta }> {
  const { query } = resolveOrThrow(c.store, a?.idOrName);
  // Consul: a limit of 0 or less means all instances.
  if (a.limit !== undefined && !Number.isSafeInteger(a.limit)) throw badRequest('Bad limit');
  const rows = runServiceQuery(c.store, query.Service);
  const near = nearNode(c.store, query, a);
  const nodes = limited(
    order(c, rows, near, a.agent?.datacenter ?? c.store.datacenter, c.preparedQueryNear),
    a.limit,
  );
  let value = localResponse(c, query, nodes);
  if (nodes.length === 0) value = await failover(c, query, a, value);
  return {
    value,
    meta: {
      index: Math.max(1, c.store.lastIndex),
      knownLeader: c.raft.leaderId() !== '',
      lastContact: 0,
      consistency: 'leader',
    },
  };
}

/** Consul's Apply: checks before Raft (the policy, that an update or delete names a query), then applies. */
export async function applyQuery(c: EndpointContext, a: PreparedQueryApplyArgs): Promise<string> {
  switch (a?.op) {
    case 'create': {
      const q = decodeQuery(a.query);
      if (q.ID !== '') throw badRequest('ID must be empty when creating a new prepared query');
      // Drawn here, not in the FSM: every replica must store the same ID.
      let id = c.sessions.newId();
      while (c.store.preparedQueryGet(id).value) id = c.sessions.newId();
      const query: PreparedQueryInput = { ...q, ID: id };
      checkQueryPolicy(query);
      await c.apply({ type: 'preparedQuerySet', query });
      return id;
    }
    case 'update': {
      const q = decodeQuery(a.query);
      mustExist(c, q.ID);
      checkQueryPolicy(q);
      await c.apply({ type: 'preparedQuerySet', query: q });
      return q.ID;
    }
    case 'delete': {
      if (typeof a.id !== 'string') throw badRequest('Missing query ID');
      mustExist(c, a.id);
      await c.apply({ type: 'preparedQueryDelete', id: a.id });
      return a.id;
    }
    default:
      throw badRequest(`Unknown prepared query operation: ${String((a as { op?: unknown } | null)?.op)}`);
  }
}

function mustExist(c: EndpointContext, id: string): void {
  if (id === '' || !c.store.preparedQueryGet(id).value) {
    throw new ConsulError(ErrorCode.NotFound, `Cannot modify non-existent prepared query: '${id}'`);
  }
}

const read = <A>(run: ReadEndpoint<A>['run'], acl?: AclSpec<A>): ReadEndpoint<A> =>
  acl ? { kind: 'read', run, acl } : { kind: 'read', run };
const write = <A>(run: WriteEndpoint<A>['run'], acl: AclSpec<A>): WriteEndpoint<A> => ({
  kind: 'write',
  run,
  acl,
});
export const preparedQueryEndpoints = {
  'PreparedQuery.Apply': write<PreparedQueryApplyArgs>(applyQuery, queryApplyAcl),
  'PreparedQuery.Get': read<ReadArgs & { id: string }>((c, a, ws) => {
    if (typeof a.id !== 'string') throw badRequest('Missing query ID');
    const r = c.store.preparedQueryGet(a.id, ws);
    if (!r.value) throw new ConsulError(ErrorCode.NotFound, QUERY_NOT_FOUND);
    return { index: r.index, value: [r.value] };
  }, queryGetAcl),
  'PreparedQuery.List': read<ReadArgs>((c, _a, ws) => c.store.preparedQueryList(ws), queryListAcl),
  'PreparedQuery.Explain': read<ReadArgs & { idOrName: string }>((c, a, ws) => {
    const r = resolveOrThrow(c.store, a.idOrName, ws);
    return { index: r.index, value: { Query: r.query } };
  }, queryExplainAcl),
  'PreparedQuery.Execute': {
    kind: 'query',
    run: executeQuery,
    acl: queryExecuteAcl,
  } satisfies QueryEndpoint<PreparedQueryExecuteArgs>,
  /** What a failover runs in another datacenter: the whole query, here only, shuffled and limited. */
  'PreparedQuery.ExecuteRemote': read<ReadArgs & PreparedQueryExecuteRemoteArgs>((c, a) => {
    const query = { ...decodeQuery(a.query), CreateIndex: 0, ModifyIndex: 0 };
    const rows = limited(shuffle(runServiceQuery(c.store, query.Service)), a.limit);
    return { index: Math.max(1, c.store.lastIndex), value: localResponse(c, query, rows) };
  }, queryExecuteRemoteAcl),
};
