// What each RPC endpoint needs from the caller's token (issue 9, item 2): one spec per endpoint in
// the endpoint table, checked by the forwarder (server/forward.ts) on the server that serves the
// call, never on the one that merely passes it on. A spec says which permission the arguments need
// (`check`, which throws Consul's 403) and which parts of the answer the token may see (`filter`,
// which drops the rest and says so: X-Consul-Results-Filtered-By-ACLs). With ACLs off, or for an
// endpoint with no spec, nothing is resolved and nothing runs. Facts from Consul's
// agent/consul/kvs_endpoint.go and txn_endpoint.go.

import {
  allowAll,
  permissionDenied,
  type Access,
  type Authorizer,
  type SegmentedResource,
} from '../../acl/authorizer.js';
import { validateTxn, type TxnKVOp, type TxnOp, type TxnResult } from '../../state/txn.js';
import type {
  CheckServiceNode,
  HealthCheck,
  KVEntry,
  Node,
  NodeServiceList,
  NodeServices,
  ServiceNode,
} from '../../state/types.js';
import type { NodeDumpEntry } from '../../state/ui-summary.js';
import type { CoordinateEntry } from '../../state/coordinates.js';
import type { Session } from '../../state/sessions.js';
import { validateSessionRequest } from '../../state/session-validate.js';
import { REDACTED_TOKEN, decodeQuery, type PreparedQuery } from '../../state/prepared-queries.js';
import { ConsulError, ErrorCode } from '../../core/errors.js';
import type { PreparedQueryExecuteResponse } from './prepared-query.js';
import { validateDeregister, validateRegister } from '../../state/catalog-validate.js';
import type { EndpointContext } from './index.js';

export interface AclSpec<A> {
  /**
   * Throws `permissionDenied` when the token may not make this call. It may instead return an
   * answer to give without running the endpoint (a transaction's per-operation errors).
   */
  check?(authz: Authorizer, args: A, ctx: EndpointContext): { answer: unknown } | undefined | void;
  /**
   * The answer without what the token may not see, and whether anything was dropped. `ctx` is for
   * an answer that must be rebuilt from what remains (the UI's service summaries).
   */
  filter?(authz: Authorizer, value: unknown, args: A, ctx: EndpointContext): Filtered;
}

export interface Filtered {
  value: unknown;
  filtered: boolean;
}

/** Every call carries its caller's token secret ('' or absent: the anonymous token). */
export interface TokenArgs {
  token?: string;
}

/**
 * The caller's authorizer on the serving server: allowAll when ACLs are off there or the endpoint
 * has no spec (so neither costs a lookup); an unknown secret throws "ACL not found".
 */
export function callerAuthorizer(
  ctx: EndpointContext,
  spec: AclSpec<never> | undefined,
  args: unknown,
): Authorizer {
  if (!spec || !ctx.acl || !ctx.acl.config.enabled) return allowAll;
  const token = (args as TokenArgs | null)?.token;
  return ctx.acl.resolver.authorize(typeof token === 'string' ? token : '');
}

/** Throws Consul's 403 unless the token has `access` on the resource's `name`. */
export function need(authz: Authorizer, resource: SegmentedResource, name: string, access: Access): void {
  if (!authz.allowed(resource, name, access)) throw permissionDenied(authz, resource, access, name);
}

/** Keeps the items the token may see. */
export function keep<T>(items: T[], visible: (item: T) => boolean): Filtered {
  const value = items.filter(visible);
  return { value, filtered: value.length !== items.length };
}

// ---------------------------------------------------------------- KV

/** Consul's kvsPreApply: the permission a KV operation needs, as a 403 when it is missing. */
export function checkKvOp(authz: Authorizer, verb: TxnKVOp['Verb'], key: string): void {
  switch (verb) {
    case 'delete-tree':
      if (!authz.keyWritePrefix(key)) throw permissionDenied(authz, 'key', 'write', key);
      return;
    case 'get':
    case 'get-tree':
    case 'get-or-empty':
      return; // filtered on the way out
    case 'check-index':
    case 'check-session':
      need(authz, 'key', key, 'read'); // their outcome reveals the key
      return;
    default:
      need(authz, 'key', key, 'write');
  }
}

/** KVS.Apply's ops in the transaction verbs they correspond to. */
const APPLY_VERB: Record<string, TxnKVOp['Verb']> = {
  set: 'set',
  cas: 'cas',
  delete: 'delete',
  'delete-cas': 'delete-cas',
  'delete-tree': 'delete-tree',
  lock: 'lock',
  unlock: 'unlock',
};

export const kvGetAcl: AclSpec<{ key: string }> = {
  check: (authz, a) => need(authz, 'key', a.key, 'read'),
};

/** Recursive reads: `list` on the prefix (only checked with enable_key_list_policy), then read per key. */
export const kvListAcl: AclSpec<{ prefix: string }> = {
  check: (authz, a) => need(authz, 'key', a.prefix, 'list'),
  filter: (authz, v) => keep(v as KVEntry[], (e) => authz.allowed('key', e.Key, 'read')),
};

export const kvKeysAcl: AclSpec<{ prefix: string }> = {
  check: (authz, a) => need(authz, 'key', a.prefix, 'list'),
  filter: (authz, v) => keep(v as string[], (k) => authz.allowed('key', k, 'read')),
};

export const kvApplyAcl: AclSpec<{ op: string; key: string }> = {
  check: (authz, a) => checkKvOp(authz, APPLY_VERB[a.op] ?? 'set', a.key),
};

/**
 * Consul's Txn preCheck: every operation is checked; denied ones make the transaction fail before
 * it runs, as a 409 listing each one (OpIndex, What: the permission-denied text), not a 403.
 */
function txnCheck(authz: Authorizer, a: { ops: TxnOp[] }): { answer: TxnResult } | undefined {
  validateTxn(a.ops);
  const errors: TxnResult['Errors'] = [];
  a.ops.forEach((op, i) => {
    try {
      checkKvOp(authz, op.KV.Verb, op.KV.Key);
    } catch (err) {
      errors.push({ OpIndex: i, What: (err as Error).message });
    }
  });
  return errors.length > 0 ? { answer: { Results: null, Errors: errors } } : undefined;
}

/** Consul's FilterTxnResults: results of keys the token may not read are dropped. */
function txnFilter(authz: Authorizer, v: unknown): Filtered {
  const r = v as TxnResult;
  if (!r.Results) return { value: r, filtered: false };
  const kept = keep(r.Results, (x) => authz.allowed('key', x.KV.Key, 'read'));
  return { value: { ...r, Results: kept.value }, filtered: kept.filtered };
}

export const txnAcl: AclSpec<{ ops: TxnOp[] }> = { check: txnCheck, filter: txnFilter };

// ---------------------------------------------------------------- catalog and health reads

/** Consul's filterNodes: nodes the token may read. */
export const nodeListAcl: AclSpec<unknown> = {
  filter: (authz, v) => keep(v as Node[], (n) => authz.allowed('node', n.Node, 'read')),
};

/** Consul's filterServices: service names the token may read (the map's keys). */
export const serviceMapAcl: AclSpec<unknown> = {
  filter: (authz, v) => {
    const all = Object.entries(v as Record<string, string[]>);
    const kept = all.filter(([name]) => authz.allowed('service', name, 'read'));
    return { value: Object.fromEntries(kept), filtered: kept.length !== all.length };
  },
};

/** Consul's filterServiceNodes: instances whose service and node the token may both read. */
export const serviceNodesAcl: AclSpec<unknown> = {
  filter: (authz, v) =>
    keep(
      v as ServiceNode[],
      (s) => authz.allowed('service', s.ServiceName, 'read') && authz.allowed('node', s.Node, 'read'),
    ),
};

/** Consul's filterCheckServiceNodes: the same for health entries. */
export const checkServiceNodesAcl: AclSpec<unknown> = {
  filter: (authz, v) =>
    keep(
      v as CheckServiceNode[],
      (e) =>
        authz.allowed('service', e.Service.Service, 'read') && authz.allowed('node', e.Node.Node, 'read'),
    ),
};

/** Consul's filterNodeServices: nothing without node:read, then the services the token may read. */
export const nodeServicesAcl: AclSpec<unknown> = {
  filter: (authz, v) => {
    const ns = v as NodeServices | null;
    if (!ns) return { value: ns, filtered: false };
    if (!authz.allowed('node', ns.Node.Node, 'read')) return { value: null, filtered: true };
    const all = Object.entries(ns.Services);
    const kept = all.filter(([, s]) => authz.allowed('service', s.Service, 'read'));
    if (kept.length === all.length) return { value: ns, filtered: false };
    return { value: { ...ns, Services: Object.fromEntries(kept) }, filtered: true };
  },
};

/** Consul's filterNodeServiceList: nothing without node:read, then the services the token may read. */
export const nodeServiceListAcl: AclSpec<unknown> = {
  filter: (authz, v) => {
    const ns = v as NodeServiceList | null;
    if (!ns) return { value: ns, filtered: false };
    if (!authz.allowed('node', ns.Node.Node, 'read')) return { value: null, filtered: true };
    const kept = keep(ns.Services, (s) => authz.allowed('service', s.Service, 'read'));
    return kept.filtered
      ? { value: { ...ns, Services: kept.value }, filtered: true }
      : { value: ns, filtered: false };
  },
};

/** Consul's allowService: a node-level check (no service name) needs no service permission. */
const serviceVisible = (authz: Authorizer, name: string): boolean =>
  name === '' || authz.allowed('service', name, 'read');

/**
 * Consul's filterHealthChecks (Health.NodeChecks, ServiceChecks, ChecksInState): checks whose node
 * the token may read, and, for a service's check, whose service too.
 */
export const healthChecksAcl: AclSpec<unknown> = {
  filter: (authz, v) =>
    keep(
      v as HealthCheck[],
      (c) => authz.allowed('node', c.Node, 'read') && serviceVisible(authz, c.ServiceName),
    ),
};

/** Consul's filterNodeDump for one node: null without node:read, else its visible services and checks. */
function dumpEntry(authz: Authorizer, e: NodeDumpEntry): { value: NodeDumpEntry | null; filtered: boolean } {
  if (!authz.allowed('node', e.Node, 'read')) return { value: null, filtered: true };
  const services = keep(e.Services, (s) => authz.allowed('service', s.Service, 'read'));
  const checks = keep(e.Checks, (c) => serviceVisible(authz, c.ServiceName));
  if (!services.filtered && !checks.filtered) return { value: e, filtered: false };
  return {
    value: {
      ...e,
      Services: services.value as NodeDumpEntry['Services'],
      Checks: checks.value as HealthCheck[],
    },
    filtered: true,
  };
}

/** Internal.UINodes (Consul's Internal.NodeDump through filterNodeDump). */
export const nodeDumpAcl: AclSpec<unknown> = {
  filter: (authz, v) => {
    let filtered = false;
    const value: NodeDumpEntry[] = [];
    for (const e of v as NodeDumpEntry[]) {
      const f = dumpEntry(authz, e);
      filtered ||= f.filtered;
      if (f.value) value.push(f.value);
    }
    return { value, filtered };
  },
};

/** Internal.UINodeInfo: the same for one node (null, so a 404, when the token may not read it). */
export const nodeDumpOneAcl: AclSpec<unknown> = {
  filter: (authz, v) =>
    v === null ? { value: null, filtered: false } : dumpEntry(authz, v as NodeDumpEntry),
};

/**
 * Internal.UIServices: Consul summarizes Internal.ServiceDump after filterCheckServiceNodes, so an
 * instance whose service or node the token may not read counts nowhere (not in Nodes, tags or check
 * counts); the summaries are rebuilt from the same state with only the visible instances.
 */
export const serviceSummariesAcl: AclSpec<unknown> = {
  filter: (authz, v, _a, ctx) => {
    let filtered = false;
    const visible = (node: string, service: string): boolean => {
      const ok = authz.allowed('service', service, 'read') && authz.allowed('node', node, 'read');
      filtered ||= !ok;
      return ok;
    };
    const value = ctx.store.serviceSummaries(undefined, visible).value;
    return filtered ? { value, filtered } : { value: v, filtered: false };
  },
};

// ---------------------------------------------------------------- catalog writes

const sameMap = (a: Record<string, string>, b: Record<string, string>): boolean => {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
};

/**
 * Consul's vetRegisterWithACL: node:write when the request creates or changes the node (so a
 * service token may re-post the node's unchanged details), service:write on the service and on
 * the one it replaces under the same ID, and for each check node:write (node-level) or
 * service:write on the service it belongs to.
 */
function vetRegister(authz: Authorizer, a: { req: unknown }, ctx: EndpointContext): void {
  const req = validateRegister(a.req);
  const existing = ctx.store.nodeInfo(req.Node).value;
  const prev = existing?.Node;
  const changesNode =
    !prev ||
    (!req.SkipNodeUpdate &&
      !(
        prev.ID === req.ID &&
        prev.Node.toLowerCase() === req.Node.toLowerCase() &&
        prev.Address === req.Address &&
        sameMap(prev.TaggedAddresses, req.TaggedAddresses) &&
        sameMap(prev.Meta, req.NodeMeta)
      ));
  if (changesNode) need(authz, 'node', req.Node, 'write');
  if (req.Service) {
    need(authz, 'service', req.Service.Service, 'write');
    const replaced = existing?.Services[req.Service.ID];
    if (replaced) need(authz, 'service', replaced.Service, 'write');
  }
  for (const check of req.Checks) {
    if (check.ServiceID === '') need(authz, 'node', req.Node, 'write');
    else if (req.Service && req.Service.ID === check.ServiceID) continue;
    else {
      const other = existing?.Services[check.ServiceID];
      // An unknown service ID is refused by the store with its own error.
      if (other) need(authz, 'service', other.Service, 'write');
    }
  }
}

/**
 * Consul's vetDeregisterWithACL: node:write allows any deregistration on the node; without it, a
 * service (or a service's check) needs service:write on that service, and anything else is denied.
 */
function vetDeregister(authz: Authorizer, a: { req: unknown }, ctx: EndpointContext): void {
  const req = validateDeregister(a.req);
  if (authz.allowed('node', req.Node, 'write')) return;
  const denied = permissionDenied(authz, 'node', 'write', req.Node);
  const services = ctx.store.nodeInfo(req.Node).value?.Services ?? {};
  // Without node:write, an unknown ID is named as such, as Consul does (its error is a 500; a 404
  // here), before any service permission is asked.
  if (req.ServiceID) {
    const s = services[req.ServiceID];
    if (!s) throw new ConsulError(ErrorCode.NotFound, `Unknown service ID ${JSON.stringify(req.ServiceID)}`);
    need(authz, 'service', s.Service, 'write');
  } else if (req.CheckID) {
    const c = ctx.store.nodeChecks(req.Node).value.find((h) => h.CheckID === req.CheckID);
    if (!c) throw new ConsulError(ErrorCode.NotFound, `Unknown check ID ${JSON.stringify(req.CheckID)}`);
    if (c.ServiceID === '') throw denied;
    need(authz, 'service', c.ServiceName, 'write');
  } else throw denied;
}

export const registerAcl: AclSpec<{ req: unknown }> = { check: vetRegister };
export const deregisterAcl: AclSpec<{ req: unknown }> = { check: vetDeregister };

// ---------------------------------------------------------------- sessions

/**
 * Consul's Session.Apply: a create needs session:write on the node it names; a destroy needs it on
 * the node of the session it destroys (an unknown session destroys nothing, so nothing to check).
 */
function vetSessionApply(
  authz: Authorizer,
  a: { op: string; session?: unknown; id?: string },
  ctx: EndpointContext,
): void {
  if (a.op === 'create') {
    need(authz, 'session', validateSessionRequest(a.session).Node, 'write');
  } else if (a.op === 'destroy' && typeof a.id === 'string') {
    const existing = ctx.store.session(a.id);
    if (existing) need(authz, 'session', existing.Node, 'write');
  }
}

export const sessionApplyAcl: AclSpec<{ op: string; session?: unknown; id?: string }> = {
  check: vetSessionApply,
};

/** Consul's Session.Renew: session:write on the session's node (an unknown one answers null). */
export const sessionRenewAcl: AclSpec<{ id: string }> = {
  check: (authz, a, ctx) => {
    const existing = ctx.store.session(a.id);
    if (existing) need(authz, 'session', existing.Node, 'write');
  },
};

/** Consul's filterSessions: sessions whose node the token may read sessions of. */
export const sessionListAcl: AclSpec<unknown> = {
  filter: (authz, v) => keep(v as Session[], (x) => authz.allowed('session', x.Node, 'read')),
};

/** Session.Get: the same for the one session (null, an empty list, when hidden). */
export const sessionGetAcl: AclSpec<unknown> = {
  filter: (authz, v) => {
    const x = v as Session | null;
    if (!x || authz.allowed('session', x.Node, 'read')) return { value: x, filtered: false };
    return { value: null, filtered: true };
  },
};

// ---------------------------------------------------------------- prepared queries

/**
 * Consul's PreparedQuery.Apply: query rules match a query's name (a template's too); an unnamed
 * query needs no query permission. A create or update needs query:write on the name it proposes,
 * and an update or delete also on the name of the query it changes.
 */
function vetQueryApply(
  authz: Authorizer,
  a: { op: string; query?: unknown; id?: string },
  ctx: EndpointContext,
): void {
  let id: unknown = a.id;
  if (a.op === 'create' || a.op === 'update') {
    const q = decodeQuery(a.query);
    if (q.Name !== '') need(authz, 'query', q.Name, 'write');
    id = q.ID;
  }
  if (a.op === 'create' || typeof id !== 'string' || id === '') return;
  const existing = ctx.store.preparedQueryGet(id).value;
  if (existing && existing.Name !== '') need(authz, 'query', existing.Name, 'write');
}

export const queryApplyAcl: AclSpec<{ op: string; query?: unknown; id?: string }> = {
  check: vetQueryApply,
};

/**
 * Consul's filterPreparedQueries: a token with acl:read sees every query; any other sees the named
 * ones it has query:read on (never an unnamed one). The Token field shows only to acl:write.
 */
function visibleQueries(authz: Authorizer, queries: PreparedQuery[]): Filtered {
  const all = authz.allowedGlobal('acl', 'read');
  const kept = all
    ? { value: queries, filtered: false }
    : keep(queries, (q) => q.Name !== '' && authz.allowed('query', q.Name, 'read'));
  if (authz.allowedGlobal('acl', 'write')) return kept;
  const value = (kept.value as PreparedQuery[]).map((q) =>
    q.Token === '' ? q : { ...q, Token: REDACTED_TOKEN },
  );
  return { value, filtered: kept.filtered };
}

export const queryListAcl: AclSpec<unknown> = {
  filter: (authz, v) => visibleQueries(authz, v as PreparedQuery[]),
};

/** Consul's PreparedQuery.Get: a query that exists but is filtered out is a plain 403. */
export const queryGetAcl: AclSpec<unknown> = {
  filter: (authz, v) => {
    const f = visibleQueries(authz, v as PreparedQuery[]);
    if ((f.value as PreparedQuery[]).length === 0)
      throw new ConsulError(ErrorCode.PermissionDenied, 'Permission denied');
    return { value: f.value, filtered: false };
  },
};

/** Consul's PreparedQuery.Explain: the same for the query it explains. */
export const queryExplainAcl: AclSpec<unknown> = {
  filter: (authz, v) => {
    const r = v as { Query: PreparedQuery };
    const f = visibleQueries(authz, [r.Query]);
    const [q] = f.value as PreparedQuery[];
    if (!q) throw new ConsulError(ErrorCode.PermissionDenied, 'Permission denied');
    return { value: { ...r, Query: q }, filtered: false };
  },
};

/**
 * Consul's PreparedQuery.Execute: no query permission is needed (whoever knows the ID or name may
 * run it), but the instances are filtered as a health read's are, with the query's own Token when
 * it has one, else the caller's.
 */
export const queryExecuteAcl: AclSpec<{ idOrName?: unknown }> = {
  filter: (authz, v, a, ctx) => {
    const r = v as PreparedQueryExecuteResponse;
    const token =
      typeof a.idOrName === 'string' ? (ctx.store.preparedQueryResolve(a.idOrName).value?.Token ?? '') : '';
    const who = token !== '' && ctx.acl ? ctx.acl.resolver.authorize(token) : authz;
    const kept = checkServiceNodesAcl.filter?.(who, r.Nodes, a, ctx) as Filtered;
    return kept.filtered
      ? { value: { ...r, Nodes: kept.value }, filtered: true }
      : { value: r, filtered: false };
  },
};

/** What a failover runs in this datacenter: its instances filtered with the token it carries. */
export const queryExecuteRemoteAcl: AclSpec<unknown> = {
  filter: (authz, v, a, ctx) => {
    const r = v as PreparedQueryExecuteResponse;
    const kept = checkServiceNodesAcl.filter?.(authz, r.Nodes, a, ctx) as Filtered;
    return kept.filtered
      ? { value: { ...r, Nodes: kept.value }, filtered: true }
      : { value: r, filtered: false };
  },
};

// ---------------------------------------------------------------- user events

/** Consul's Internal.EventFire (every user event goes through it there): event:write on the name. */
export const eventFireAcl: AclSpec<{ name: string }> = {
  check: (authz, a) => need(authz, 'event', a.name, 'write'),
};

// ---------------------------------------------------------------- coordinates and operator

/** Consul's Coordinate.ListNodes: each node's coordinates shown only with node:read on it. */
export const coordinateListAcl: AclSpec<unknown> = {
  filter: (authz, v) => keep(v as CoordinateEntry[], (e) => authz.allowed('node', e.Node, 'read')),
};

/** Consul's Coordinate.Node: node:read on the node asked for, or 403. */
export const coordinateNodeAcl: AclSpec<{ node: string }> = {
  check: (authz, a) => need(authz, 'node', a.node, 'read'),
};

/** Consul's Coordinate.Update: node:write on the node whose coordinate it is. */
export const coordinateUpdateAcl: AclSpec<{ req: unknown }> = {
  check: (authz, a) => {
    const node = (a.req as { Node?: unknown } | null)?.Node;
    need(authz, 'node', typeof node === 'string' ? node : '', 'write');
  },
};

function needOperator(authz: Authorizer, access: 'read' | 'write'): void {
  if (!authz.allowedGlobal('operator', access)) throw permissionDenied(authz, 'operator', access);
}

/** Consul's keyring operations: keyring:read to list the keys, keyring:write to change them. */
export const keyringAcl: AclSpec<{ op: string }> = {
  check: (authz, a) => {
    const access = a.op === 'list' ? 'read' : 'write';
    if (!authz.allowedGlobal('keyring', access)) throw permissionDenied(authz, 'keyring', access);
  },
};

export const operatorReadAcl: AclSpec<unknown> = { check: (authz) => needOperator(authz, 'read') };
export const operatorWriteAcl: AclSpec<unknown> = { check: (authz) => needOperator(authz, 'write') };

// ---------------------------------------------------------------- snapshots

/** Consul's Snapshot endpoint: saving or restoring the whole state takes a management token (acl:write). */
export const snapshotAcl: AclSpec<unknown> = {
  check: (authz) => {
    if (!authz.allowedGlobal('acl', 'write')) throw permissionDenied(authz, 'acl', 'write');
  },
};
