// The state store: KV, catalog and health tables in memory, with the indexes that blocking queries
// and X-Consul-Index are built on. Only the FSM writes (one Raft index per write); everything else
// reads. Reads take a WatchSet and record the topics they depend on; each write notifies exactly
// the topics it touched once it is complete.
//
// Index rules (a query's index never goes backwards and is never 0):
//   one KV key        its ModifyIndex; if absent its tombstone, else the KV table's index
//   a KV prefix       max of ModifyIndex and tombstones under it and the reaped-tombstone floor
//   one service       a per-service index bumped by any change to its instances, their checks, or
//                     the nodes they run on (never deleted, so it survives the last instance)
//   one node          a per-node index, likewise
//   lists             their table's index

import BTreeModule from 'sorted-btree';
import { ConsulError, ErrorCode } from '../core/errors.js';
import type {
  CheckInput,
  CheckServiceNode,
  DeregisterRequest,
  HealthCheck,
  Indexed,
  KVEntry,
  Node,
  NodeService,
  RegisterRequest,
  ServiceInput,
  ServiceNode,
} from './types.js';
import { topic, Watchers, type WatchSet } from './watch.js';

// sorted-btree is CommonJS with a default export: Node's loader hands us the module object,
// bundlers (the test runner) the class itself.
const BTree: typeof BTreeModule.default =
  (BTreeModule as unknown as { default?: typeof BTreeModule.default }).default ??
  (BTreeModule as unknown as typeof BTreeModule.default);
type BTreeT<K, V> = BTreeModule.default<K, V>;

export type Table = 'kvs' | 'tombstones' | 'nodes' | 'services' | 'checks';

/** The tables as plain data: what a snapshot holds. */
export interface StoreData {
  lastIndex: number;
  kv: KVEntry[];
  tombstones: [string, number][];
  reapedFloor: number;
  nodes: Node[];
  services: [string, NodeService][];
  checks: HealthCheck[];
  tables: Record<Table, number>;
  serviceIndex: [string, number][];
  nodeIndex: [string, number][];
}

/** The smallest string greater than every string that starts with `p` ('' has none). */
function prefixEnd(p: string): string | undefined {
  let s = p;
  while (s.length > 0 && s.charCodeAt(s.length - 1) === 0xffff) s = s.slice(0, -1);
  if (s.length === 0) return undefined;
  return s.slice(0, -1) + String.fromCharCode(s.charCodeAt(s.length - 1) + 1);
}

export class StateStore {
  readonly datacenter: string;
  lastIndex = 0;
  readonly watchers = new Watchers();

  private kv: BTreeT<string, KVEntry> = new BTree<string, KVEntry>();
  private tombstones: BTreeT<string, number> = new BTree<string, number>();
  private reapedFloor = 0;
  private nodes = new Map<string, Node>();
  /** node name → service ID → service */
  private services = new Map<string, Map<string, NodeService>>();
  /** node name → check ID → check */
  private checks = new Map<string, Map<string, HealthCheck>>();
  /** service name → node name → service IDs: the instances of a service without a scan. */
  private instances = new Map<string, Map<string, Set<string>>>();
  private tables: Record<Table, number> = { kvs: 0, tombstones: 0, nodes: 0, services: 0, checks: 0 };
  private serviceIndex = new Map<string, number>();
  private nodeIndex = new Map<string, number>();
  /** Topics touched by the write in progress; notified when it completes. */
  private touched = new Set<string>();
  /** While a transaction runs: how to put every KV key it touched back. */
  private undo: (() => void)[] | null = null;

  constructor(datacenter: string) {
    this.datacenter = datacenter;
  }

  // ================================================================ writes (FSM only)

  /** Runs one write at Raft index `index`; watchers hear about it only once it is complete. */
  write<T>(index: number, fn: () => T): T {
    this.touched.clear();
    try {
      return fn();
    } finally {
      this.lastIndex = Math.max(this.lastIndex, index);
      if (this.touched.size > 0) {
        const t = this.touched;
        this.touched = new Set();
        this.watchers.notify(t);
      }
    }
  }

  // ---------------------------------------------------------------- KV

  /**
   * Runs KV writes all-or-nothing: `fn` returns false (or throws) to roll back every change it
   * made, and then no watcher hears of them.
   */
  atomically(fn: () => boolean): boolean {
    const undo: (() => void)[] = [];
    const tables = { ...this.tables };
    this.undo = undo;
    let ok = false;
    try {
      ok = fn();
    } finally {
      this.undo = null;
      if (!ok) {
        for (let i = undo.length - 1; i >= 0; i--) (undo[i] as () => void)();
        this.tables = tables;
        this.touched.clear();
      }
    }
    return ok;
  }

  private saveKey(key: string): void {
    if (!this.undo) return;
    const e = this.kv.get(key);
    const t = this.tombstones.get(key);
    this.undo.push(() => {
      if (e) this.kv.set(key, e);
      else this.kv.delete(key);
      if (t !== undefined) this.tombstones.set(key, t);
      else this.tombstones.delete(key);
    });
  }

  kvSet(
    index: number,
    key: string,
    value: Uint8Array | null,
    flags: number,
    extra: Partial<KVEntry> = {},
  ): KVEntry {
    this.saveKey(key);
    const prev = this.kv.get(key);
    const e: KVEntry = {
      Key: key,
      // Copied: the bytes may be a slice of a large network frame we should not keep alive.
      Value: value && value.byteLength > 0 ? new Uint8Array(value) : null,
      Flags: flags,
      CreateIndex: prev?.CreateIndex ?? index,
      ModifyIndex: index,
      LockIndex: prev?.LockIndex ?? 0,
      ...(prev?.Session ? { Session: prev.Session } : {}),
      ...extra,
    };
    this.kv.set(key, e);
    this.tombstones.delete(key);
    this.tables.kvs = index;
    this.watchers.kvTopics(key, this.touched);
    return e;
  }

  kvCas(index: number, key: string, value: Uint8Array | null, flags: number, cas: number): boolean {
    const prev = this.kv.get(key);
    if (cas === 0 ? prev !== undefined : prev?.ModifyIndex !== cas) return false;
    this.kvSet(index, key, value, flags);
    return true;
  }

  kvDelete(index: number, key: string): boolean {
    if (!this.kv.has(key)) return false;
    this.saveKey(key);
    this.kv.delete(key);
    this.tombstones.set(key, index);
    this.tables.kvs = index;
    this.tables.tombstones = index;
    this.watchers.kvTopics(key, this.touched);
    return true;
  }

  /** Consul's delete-cas: a key that does not exist counts as deleted. */
  kvDeleteCas(index: number, key: string, cas: number): boolean {
    const prev = this.kv.get(key);
    if (!prev) return true;
    if (prev.ModifyIndex !== cas) return false;
    return this.kvDelete(index, key);
  }

  kvDeleteTree(index: number, prefix: string): number {
    const keys = this.kvRange(prefix).map((e) => e.Key);
    for (const k of keys) this.kvDelete(index, k);
    return keys.length;
  }

  /** Drops tombstones up to `upTo`; the floor keeps prefix indexes from going back below them. */
  reapTombstones(upTo: number): void {
    const doomed: string[] = [];
    this.tombstones.forEach((idx, k) => {
      if (idx <= upTo) doomed.push(k);
    });
    for (const k of doomed) this.reapedFloor = Math.max(this.reapedFloor, this.tombstones.get(k) ?? 0);
    for (const k of doomed) this.tombstones.delete(k);
  }

  // ---------------------------------------------------------------- catalog

  register(index: number, req: RegisterRequest): void {
    // Check everything first: a register either applies whole or not at all.
    const existingNode = this.nodes.get(req.Node);
    if (req.ID) {
      for (const n of this.nodes.values()) {
        if (n.ID === req.ID && n.Node !== req.Node) {
          throw new ConsulError(
            ErrorCode.BadRequest,
            `failed inserting node: node ID "${req.ID}" is already used by node "${n.Node}"`,
          );
        }
      }
    }
    for (const c of req.Checks) {
      if (c.ServiceID && c.ServiceID !== req.Service?.ID && !this.services.get(req.Node)?.has(c.ServiceID)) {
        throw new ConsulError(
          ErrorCode.BadRequest,
          `Missing service registration for check "${c.CheckID}" (service "${c.ServiceID}")`,
        );
      }
    }
    if (!(req.SkipNodeUpdate && existingNode)) this.ensureNode(index, req);
    if (req.Service) this.ensureService(index, req.Node, req.Service);
    for (const c of req.Checks) this.ensureCheck(index, c);
  }

  deregister(index: number, req: DeregisterRequest): void {
    if (!this.nodes.has(req.Node)) return;
    if (req.ServiceID) this.deleteService(index, req.Node, req.ServiceID);
    else if (req.CheckID) this.deleteCheck(index, req.Node, req.CheckID);
    else this.deleteNode(index, req.Node);
  }

  private ensureNode(index: number, req: RegisterRequest): void {
    const prev = this.nodes.get(req.Node);
    const next: Node = {
      ID: req.ID || prev?.ID || '',
      Node: req.Node,
      Address: req.Address,
      Datacenter: this.datacenter,
      TaggedAddresses: req.TaggedAddresses,
      Meta: req.NodeMeta,
      CreateIndex: prev?.CreateIndex ?? index,
      ModifyIndex: index,
    };
    if (prev && sameJson(strip(prev), strip(next))) return;
    this.nodes.set(req.Node, next);
    this.tables.nodes = index;
    this.touchNode(index, req.Node, true);
    this.touched.add(topic.nodes);
  }

  private ensureService(index: number, node: string, s: ServiceInput): void {
    let byId = this.services.get(node);
    if (!byId) this.services.set(node, (byId = new Map()));
    const prev = byId.get(s.ID);
    const next: NodeService = { ...s, CreateIndex: prev?.CreateIndex ?? index, ModifyIndex: index };
    if (prev && sameJson(strip(prev), strip(next))) return;
    byId.set(s.ID, next);
    if (prev && prev.Service !== s.Service) {
      this.removeInstance(prev.Service, node, s.ID);
      this.touchService(index, prev.Service);
    }
    this.addInstance(s.Service, node, s.ID);
    // Checks of this service carry its name and tags.
    for (const c of this.checks.get(node)?.values() ?? []) {
      if (c.ServiceID === s.ID) {
        c.ServiceName = s.Service;
        c.ServiceTags = [...s.Tags];
      }
    }
    this.tables.services = index;
    this.touchService(index, s.Service);
    this.touchNode(index, node, false);
    this.touched.add(topic.services);
  }

  private ensureCheck(index: number, c: CheckInput): void {
    let byId = this.checks.get(c.Node);
    if (!byId) this.checks.set(c.Node, (byId = new Map()));
    const prev = byId.get(c.CheckID);
    const svc = c.ServiceID ? this.services.get(c.Node)?.get(c.ServiceID) : undefined;
    const next: HealthCheck = {
      ...c,
      ServiceName: svc?.Service ?? '',
      ServiceTags: svc ? [...svc.Tags] : [],
      CreateIndex: prev?.CreateIndex ?? index,
      ModifyIndex: index,
    };
    if (prev && sameJson(strip(prev), strip(next))) return;
    byId.set(c.CheckID, next);
    this.tables.checks = index;
    this.touched.add(topic.checks);
    if (prev?.ServiceName && prev.ServiceName !== next.ServiceName)
      this.touchService(index, prev.ServiceName);
    if (svc) this.touchService(index, svc.Service);
    this.touchNode(index, c.Node, !svc);
  }

  private deleteService(index: number, node: string, id: string): void {
    const byId = this.services.get(node);
    const s = byId?.get(id);
    if (!byId || !s) return;
    byId.delete(id);
    if (byId.size === 0) this.services.delete(node);
    this.removeInstance(s.Service, node, id);
    const checks = this.checks.get(node);
    for (const [cid, c] of checks ?? []) {
      if (c.ServiceID === id) {
        checks?.delete(cid);
        this.tables.checks = index;
        this.touched.add(topic.checks);
      }
    }
    this.tables.services = index;
    this.touched.add(topic.services);
    this.touchService(index, s.Service);
    this.touchNode(index, node, false);
  }

  private deleteCheck(index: number, node: string, id: string): void {
    const byId = this.checks.get(node);
    const c = byId?.get(id);
    if (!byId || !c) return;
    byId.delete(id);
    this.tables.checks = index;
    this.touched.add(topic.checks);
    if (c.ServiceName) this.touchService(index, c.ServiceName);
    this.touchNode(index, node, !c.ServiceID);
  }

  private deleteNode(index: number, node: string): void {
    for (const id of [...(this.services.get(node)?.keys() ?? [])]) this.deleteService(index, node, id);
    if (this.checks.get(node)?.size) {
      this.tables.checks = index;
      this.touched.add(topic.checks);
    }
    this.touchNode(index, node, true);
    this.checks.delete(node);
    this.nodes.delete(node);
    this.tables.nodes = index;
    this.touched.add(topic.nodes);
  }

  /** A node changed; with `healthOfAll`, so did the health of every service instance on it. */
  private touchNode(index: number, node: string, healthOfAll: boolean): void {
    this.nodeIndex.set(node, index);
    this.touched.add(topic.node(node));
    if (!healthOfAll) return;
    for (const s of this.services.get(node)?.values() ?? []) this.touchService(index, s.Service);
  }

  private touchService(index: number, name: string): void {
    this.serviceIndex.set(name, index);
    this.touched.add(topic.service(name));
  }

  private addInstance(name: string, node: string, id: string): void {
    let byNode = this.instances.get(name);
    if (!byNode) this.instances.set(name, (byNode = new Map()));
    let ids = byNode.get(node);
    if (!ids) byNode.set(node, (ids = new Set()));
    ids.add(id);
  }

  private removeInstance(name: string, node: string, id: string): void {
    const byNode = this.instances.get(name);
    const ids = byNode?.get(node);
    if (!byNode || !ids) return;
    ids.delete(id);
    if (ids.size === 0) byNode.delete(node);
    if (byNode.size === 0) this.instances.delete(name);
  }

  // ================================================================ reads

  kvGet(key: string, ws?: WatchSet): Indexed<KVEntry | null> {
    ws?.add(topic.key(key));
    const e = this.kv.get(key);
    if (e) return { index: e.ModifyIndex, value: e };
    const tomb = this.tombstones.get(key);
    return { index: tomb ?? (this.kvTableIndex() || 1), value: null };
  }

  kvList(prefix: string, ws?: WatchSet): Indexed<KVEntry[]> {
    ws?.add(topic.prefix(prefix));
    const entries = this.kvRange(prefix);
    return { index: this.prefixIndex(prefix, entries), value: entries };
  }

  kvKeys(prefix: string, separator: string, ws?: WatchSet): Indexed<string[]> {
    ws?.add(topic.prefix(prefix));
    const entries = this.kvRange(prefix);
    const keys: string[] = [];
    let last = '';
    for (const e of entries) {
      let k = e.Key;
      if (separator) {
        const at = k.indexOf(separator, prefix.length);
        if (at >= 0) k = k.slice(0, at + separator.length);
      }
      if (k !== last) keys.push(k);
      last = k;
    }
    return { index: this.prefixIndex(prefix, entries), value: keys };
  }

  private kvRange(prefix: string): KVEntry[] {
    const out: KVEntry[] = [];
    const end = prefixEnd(prefix);
    if (end === undefined) this.kv.forEach((v) => void out.push(v));
    else this.kv.forRange(prefix, end, false, (_k, v) => void out.push(v));
    return out;
  }

  private prefixIndex(prefix: string, entries: KVEntry[]): number {
    let max = this.reapedFloor;
    for (const e of entries) if (e.ModifyIndex > max) max = e.ModifyIndex;
    const end = prefixEnd(prefix);
    const visit = (idx: number): void => {
      if (idx > max) max = idx;
    };
    if (end === undefined) this.tombstones.forEach((idx) => visit(idx));
    else this.tombstones.forRange(prefix, end, false, (_k, idx) => visit(idx));
    return max || this.kvTableIndex() || 1;
  }

  private kvTableIndex(): number {
    return Math.max(this.tables.kvs, this.tables.tombstones);
  }

  kvCount(): number {
    return this.kv.size;
  }

  /** Everything under a prefix for txn get-tree (sorted by key). */
  kvTree(prefix: string): KVEntry[] {
    return this.kvRange(prefix);
  }

  nodeList(ws?: WatchSet): Indexed<Node[]> {
    ws?.add(topic.nodes);
    return { index: this.tables.nodes || 1, value: [...this.nodes.values()].sort(byName) };
  }

  serviceMap(ws?: WatchSet): Indexed<Record<string, string[]>> {
    ws?.add(topic.services);
    const out: Record<string, string[]> = {};
    for (const name of [...this.instances.keys()].sort()) {
      const tags = new Set<string>();
      for (const [node, ids] of this.instances.get(name) ?? []) {
        for (const id of ids) for (const t of this.services.get(node)?.get(id)?.Tags ?? []) tags.add(t);
      }
      out[name] = [...tags].sort();
    }
    return { index: this.tables.services || 1, value: out };
  }

  serviceNodes(name: string, tags: string[], ws?: WatchSet): Indexed<ServiceNode[]> {
    ws?.add(topic.service(name));
    const rows: ServiceNode[] = [];
    for (const [node, s] of this.instancesOf(name, tags)) {
      const n = this.nodes.get(node);
      if (!n) continue;
      rows.push({
        ID: n.ID,
        Node: n.Node,
        Address: n.Address,
        Datacenter: n.Datacenter,
        TaggedAddresses: n.TaggedAddresses,
        NodeMeta: n.Meta,
        ServiceKind: s.Kind ?? '',
        ServiceID: s.ID,
        ServiceName: s.Service,
        ServiceTags: s.Tags,
        ServiceAddress: s.Address,
        ServiceTaggedAddresses: s.TaggedAddresses,
        ServiceWeights: s.Weights,
        ServiceMeta: s.Meta,
        ServicePort: s.Port,
        ServiceEnableTagOverride: s.EnableTagOverride,
        CreateIndex: s.CreateIndex,
        ModifyIndex: s.ModifyIndex,
      });
    }
    return { index: this.serviceIdx(name), value: rows };
  }

  nodeInfo(
    node: string,
    ws?: WatchSet,
  ): Indexed<{ Node: Node; Services: Record<string, NodeService> } | null> {
    ws?.add(topic.node(node));
    const n = this.nodes.get(node);
    if (!n) return { index: this.nodeIdx(node), value: null };
    const services: Record<string, NodeService> = {};
    for (const s of [...(this.services.get(node)?.values() ?? [])].sort((a, b) => cmp(a.ID, b.ID)))
      services[s.ID] = s;
    return { index: this.nodeIdx(node), value: { Node: n, Services: services } };
  }

  nodeServiceList(node: string, ws?: WatchSet): Indexed<{ Node: Node; Services: NodeService[] } | null> {
    const r = this.nodeInfo(node, ws);
    return {
      index: r.index,
      value: r.value ? { Node: r.value.Node, Services: Object.values(r.value.Services) } : null,
    };
  }

  checkServiceNodes(
    name: string,
    tags: string[],
    passingOnly: boolean,
    ws?: WatchSet,
  ): Indexed<CheckServiceNode[]> {
    ws?.add(topic.service(name));
    const rows: CheckServiceNode[] = [];
    for (const [node, s] of this.instancesOf(name, tags)) {
      const n = this.nodes.get(node);
      if (!n) continue;
      const checks: HealthCheck[] = [];
      for (const c of this.checks.get(node)?.values() ?? [])
        if (c.ServiceID === '' || c.ServiceID === s.ID) checks.push(c);
      checks.sort((a, b) => cmp(a.CheckID, b.CheckID));
      if (passingOnly && checks.some((c) => c.Status !== 'passing')) continue;
      rows.push({ Node: n, Service: s, Checks: checks });
    }
    return { index: this.serviceIdx(name), value: rows };
  }

  nodeChecks(node: string, ws?: WatchSet): Indexed<HealthCheck[]> {
    ws?.add(topic.node(node));
    const list = [...(this.checks.get(node)?.values() ?? [])].sort((a, b) => cmp(a.CheckID, b.CheckID));
    return { index: this.nodeIdx(node), value: list };
  }

  serviceChecks(name: string, ws?: WatchSet): Indexed<HealthCheck[]> {
    ws?.add(topic.service(name));
    const out: HealthCheck[] = [];
    for (const [node, ids] of this.instances.get(name) ?? []) {
      for (const c of this.checks.get(node)?.values() ?? []) if (ids.has(c.ServiceID)) out.push(c);
    }
    out.sort((a, b) => cmp(a.Node, b.Node) || cmp(a.CheckID, b.CheckID));
    return { index: this.serviceIdx(name), value: out };
  }

  checksInState(state: 'any' | 'passing' | 'warning' | 'critical', ws?: WatchSet): Indexed<HealthCheck[]> {
    ws?.add(topic.checks);
    const out: HealthCheck[] = [];
    for (const byId of this.checks.values()) {
      for (const c of byId.values()) if (state === 'any' || c.Status === state) out.push(c);
    }
    out.sort((a, b) => cmp(a.Node, b.Node) || cmp(a.CheckID, b.CheckID));
    return { index: this.tables.checks || 1, value: out };
  }

  /** Instances of a service carrying every tag asked for (case-insensitive, as Consul matches tags). */
  private *instancesOf(name: string, tags: string[]): Generator<[string, NodeService]> {
    const want = tags.map((t) => t.toLowerCase());
    const byNode = this.instances.get(name);
    if (!byNode) return;
    for (const node of [...byNode.keys()].sort(cmp)) {
      for (const id of [...(byNode.get(node) ?? [])].sort(cmp)) {
        const s = this.services.get(node)?.get(id);
        if (!s) continue;
        if (want.length > 0) {
          const have = new Set(s.Tags.map((t) => t.toLowerCase()));
          if (!want.every((t) => have.has(t))) continue;
        }
        yield [node, s];
      }
    }
  }

  private serviceIdx(name: string): number {
    return (
      this.serviceIndex.get(name) ??
      (Math.max(this.tables.nodes, this.tables.services, this.tables.checks) || 1)
    );
  }

  private nodeIdx(node: string): number {
    return (
      this.nodeIndex.get(node) ?? (Math.max(this.tables.nodes, this.tables.services, this.tables.checks) || 1)
    );
  }

  // ================================================================ snapshot

  dump(): StoreData {
    const kv: KVEntry[] = [];
    this.kv.forEach((v) => void kv.push(v));
    const tombstones: [string, number][] = [];
    this.tombstones.forEach((v, k) => void tombstones.push([k, v]));
    const services: [string, NodeService][] = [];
    for (const [node, byId] of this.services) for (const s of byId.values()) services.push([node, s]);
    const checks: HealthCheck[] = [];
    for (const byId of this.checks.values()) checks.push(...byId.values());
    return {
      lastIndex: this.lastIndex,
      kv,
      tombstones,
      reapedFloor: this.reapedFloor,
      nodes: [...this.nodes.values()],
      services,
      checks,
      tables: { ...this.tables },
      serviceIndex: [...this.serviceIndex],
      nodeIndex: [...this.nodeIndex],
    };
  }

  /** Replaces every table and wakes every watcher (they read state that no longer exists). */
  load(d: StoreData): void {
    this.lastIndex = d.lastIndex;
    this.kv = new BTree<string, KVEntry>(d.kv.map((e) => [e.Key, e] as [string, KVEntry]));
    this.tombstones = new BTree<string, number>(d.tombstones);
    this.reapedFloor = d.reapedFloor;
    this.nodes = new Map(d.nodes.map((n) => [n.Node, n]));
    this.services = new Map();
    this.instances = new Map();
    for (const [node, s] of d.services) {
      let byId = this.services.get(node);
      if (!byId) this.services.set(node, (byId = new Map()));
      byId.set(s.ID, s);
      this.addInstance(s.Service, node, s.ID);
    }
    this.checks = new Map();
    for (const c of d.checks) {
      let byId = this.checks.get(c.Node);
      if (!byId) this.checks.set(c.Node, (byId = new Map()));
      byId.set(c.CheckID, c);
    }
    this.tables = { ...d.tables };
    this.serviceIndex = new Map(d.serviceIndex);
    this.nodeIndex = new Map(d.nodeIndex);
    this.watchers.notifyAll();
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byName(a: Node, b: Node): number {
  return cmp(a.Node, b.Node);
}

/** A record without its indexes, to tell a real change from a re-registration of the same thing. */
function strip<T extends { CreateIndex: number; ModifyIndex: number }>(
  x: T,
): Omit<T, 'CreateIndex' | 'ModifyIndex'> {
  const { CreateIndex: _c, ModifyIndex: _m, ...rest } = x;
  return rest;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
