// Anti-entropy decisions, pure (Consul's agent/ae/ae.go timings and local/state.go's
// updateSyncState and SyncChanges): compare the agent's services and checks with the catalog's
// record of this node, and list the register/deregister requests that make the catalog agree.
// The agent is authoritative for its node, except for what the leader owns there: the serfHealth
// check and, on servers, the `consul` service.

import type { Rng } from '../../core/rng.js';
import { deepEqual } from '../../state/context.js';
import type { HealthCheck, Node, NodeService } from '../../state/types.js';
import type { LocalCheck, LocalService } from './types.js';

/** Written by the leader's reconcile, never by an agent's sync. */
export const LEADER_OWNED_CHECKS = new Set(['serfHealth']);
export const LEADER_OWNED_SERVICES = new Set(['consul']);

/** What this agent says about its own node in the catalog. */
export interface NodeRecord {
  ID: string;
  Node: string;
  Address: string;
  TaggedAddresses: Record<string, string>;
  Meta: Record<string, string>;
}

export interface CatalogView {
  node: Node | null;
  services: NodeService[];
  checks: HealthCheck[];
}

export interface LocalView {
  services: LocalService[];
  checks: LocalCheck[];
  /** Checks whose output-only change is waiting for check_update_interval: output is not compared. */
  deferredChecks: Set<string>;
}

export interface SyncDiff {
  nodeInSync: boolean;
  dirtyServices: string[];
  dirtyChecks: string[];
  deleteServices: string[];
  deleteChecks: string[];
}

export function nodeMatches(want: NodeRecord, have: Node | null): boolean {
  return (
    have !== null &&
    have.ID === want.ID &&
    have.Address === want.Address &&
    deepEqual(have.TaggedAddresses, want.TaggedAddresses) &&
    deepEqual(have.Meta, want.Meta)
  );
}

export function serviceMatches(want: LocalService, have: NodeService): boolean {
  return (
    have.ID === want.ID &&
    have.Service === want.Service &&
    // enable_tag_override: tags changed in the catalog by others are left alone.
    (want.EnableTagOverride || deepEqual(have.Tags, want.Tags)) &&
    have.Address === want.Address &&
    deepEqual(have.TaggedAddresses, want.TaggedAddresses) &&
    deepEqual(have.Meta, want.Meta) &&
    have.Port === want.Port &&
    deepEqual(have.Weights, want.Weights) &&
    have.EnableTagOverride === want.EnableTagOverride &&
    (have.Kind ?? '') === (want.Kind ?? '')
  );
}

export function checkMatches(want: LocalCheck, have: HealthCheck, ignoreOutput: boolean): boolean {
  return (
    have.CheckID === want.CheckID &&
    have.Name === want.Name &&
    have.Status === want.Status &&
    have.Notes === want.Notes &&
    (ignoreOutput || have.Output === want.Output) &&
    have.ServiceID === want.ServiceID &&
    have.Type === want.Type &&
    deepEqual(have.Definition, want.Definition)
  );
}

/** A full sync's comparison (Consul's updateSyncState). */
export function diffWithCatalog(local: LocalView, remote: CatalogView, node: NodeRecord): SyncDiff {
  const remoteServices = new Map(remote.services.map((s) => [s.ID, s]));
  const remoteChecks = new Map(remote.checks.map((c) => [c.CheckID, c]));
  const localServiceIds = new Set(local.services.map((s) => s.ID));
  const localCheckIds = new Set(local.checks.map((c) => c.CheckID));
  const diff: SyncDiff = {
    nodeInSync: nodeMatches(node, remote.node),
    dirtyServices: [],
    dirtyChecks: [],
    deleteServices: [],
    deleteChecks: [],
  };
  for (const s of local.services) {
    const have = remoteServices.get(s.ID);
    if (!have || !serviceMatches(s, have)) diff.dirtyServices.push(s.ID);
  }
  for (const c of local.checks) {
    const have = remoteChecks.get(c.CheckID);
    if (!have || !checkMatches(c, have, local.deferredChecks.has(c.CheckID)))
      diff.dirtyChecks.push(c.CheckID);
  }
  for (const s of remote.services) {
    if (!localServiceIds.has(s.ID) && !LEADER_OWNED_SERVICES.has(s.ID)) diff.deleteServices.push(s.ID);
  }
  const deletedServices = new Set(diff.deleteServices);
  for (const c of remote.checks) {
    if (localCheckIds.has(c.CheckID) || LEADER_OWNED_CHECKS.has(c.CheckID)) continue;
    // Deregistering a service takes its checks with it.
    if (c.ServiceID !== '' && deletedServices.has(c.ServiceID)) continue;
    diff.deleteChecks.push(c.CheckID);
  }
  return diff;
}

export type SyncOp =
  | { op: 'node' }
  | { op: 'deregister-check'; id: string }
  | { op: 'deregister-service'; id: string }
  /** The service with those of its checks that are out of sync, in one request. */
  | { op: 'service'; id: string; checks: string[] }
  | { op: 'check'; id: string };

export interface PendingView {
  nodeInSync: boolean;
  services: { id: string; inSync: boolean }[];
  checks: { id: string; serviceId: string; inSync: boolean }[];
  deletedServices: Iterable<string>;
  deletedChecks: Iterable<string>;
}

/**
 * What a sync sends, in order (Consul's SyncChanges): the node first when the catalog's record of
 * it differs (every later request then skips the node update), deletions, then services carrying
 * their own out-of-sync checks, then the remaining checks.
 */
export function planSync(p: PendingView): SyncOp[] {
  const ops: SyncOp[] = [];
  if (!p.nodeInSync) ops.push({ op: 'node' });
  for (const id of p.deletedChecks) ops.push({ op: 'deregister-check', id });
  for (const id of p.deletedServices) ops.push({ op: 'deregister-service', id });
  const carried = new Set<string>();
  for (const s of p.services) {
    if (s.inSync) continue;
    const checks = p.checks.filter((c) => c.serviceId === s.id && !c.inSync).map((c) => c.id);
    for (const c of checks) carried.add(c);
    ops.push({ op: 'service', id: s.id, checks });
  }
  for (const c of p.checks) if (!c.inSync && !carried.has(c.id)) ops.push({ op: 'check', id: c.id });
  return ops;
}

// ---------------------------------------------------------------- timings (ae.go)

/** Above this many nodes, full syncs spread out: ×2 at 256, ×3 at 512 ... */
const SCALE_THRESHOLD = 128;

export function aeScale(nodes: number): number {
  if (nodes <= SCALE_THRESHOLD) return 1;
  return Math.ceil(Math.log2(nodes) - Math.log2(SCALE_THRESHOLD)) + 1;
}

/** A random delay in [0, d × scale), so agents that started together do not sync together. */
export function stagger(d: number, nodes: number, rng: Rng): number {
  return rng.next() * d * aeScale(nodes);
}

/** Until the next periodic full sync: interval plus a stagger scaled with the cluster's size. */
export function nextFullSyncDelay(intervalMs: number, nodes: number, rng: Rng): number {
  return intervalMs + stagger(intervalMs, nodes, rng);
}

/** Consul waits 15 s (plus stagger) after a failed sync; ours backs off from 1 s to those 15 s. */
export const RETRY_FAIL_MS = 15_000;

export function retryDelay(failures: number, nodes: number, rng: Rng): number {
  const base = Math.min(RETRY_FAIL_MS, 1000 * 2 ** Math.max(0, failures - 1));
  return base + stagger(base, nodes, rng) / 2;
}
