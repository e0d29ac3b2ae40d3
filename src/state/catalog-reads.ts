// The catalog's read side: the tables as the catalog keeps them, and every query over them, each
// with the index rules described in catalog.ts. Reads never change anything; they record the topics
// they depend on in the WatchSet they are given.

import { cmp, type StoreContext } from './context.js';
import type {
  CheckServiceNode,
  CheckStateFilter,
  HealthCheck,
  Indexed,
  Node,
  NodeService,
  NodeServiceList,
  NodeServices,
  ServiceNode,
} from './types.js';
import { topic, type WatchSet } from './watch.js';
import {
  countCheck,
  nodeDumpEntry,
  SummaryBuilder,
  type Counts,
  type NodeDumpEntry,
  type ServiceSummary,
} from './ui-summary.js';

/** Catalog names are looked up case-insensitively. */
export const key = (s: string): string => s.toLowerCase();

export class CatalogReads {
  /** node key → node */
  protected nodes = new Map<string, Node>();
  /** lower-cased node ID → node key */
  protected nodeIds = new Map<string, string>();
  /** node key → service ID key → service */
  protected services = new Map<string, Map<string, NodeService>>();
  /** node key → check ID key → check */
  protected checks = new Map<string, Map<string, HealthCheck>>();
  /** service name key → node key → service ID keys: a service's instances without a scan */
  protected instances = new Map<string, Map<string, Set<string>>>();
  protected serviceIndex = new Map<string, number>();
  protected nodeIndex = new Map<string, number>();

  constructor(protected readonly ctx: StoreContext) {}

  nodeList(ws?: WatchSet): Indexed<Node[]> {
    ws?.add(topic.nodes);
    const keys = [...this.nodes.keys()].sort(cmp);
    return { index: this.ctx.tables.nodes || 1, value: keys.map((k) => this.nodes.get(k) as Node) };
  }

  /**
   * Service name → the union of its instances' tags (sorted, without repeats). `keep` (a ?filter)
   * sees each instance as /v1/catalog/service shows it, and leaves out the ones it refuses (a
   * service with none left is not listed), as Consul filters this list.
   */
  serviceMap(ws?: WatchSet, keep?: (row: ServiceNode) => boolean): Indexed<Record<string, string[]>> {
    ws?.add(topic.services);
    const tags = new Map<string, Set<string>>();
    for (const [nk, byId] of this.services) {
      const n = keep ? this.nodes.get(nk) : undefined;
      for (const s of byId.values()) {
        if (keep && (!n || !keep(serviceNodeRow(n, s)))) continue;
        let set = tags.get(s.Service);
        if (!set) tags.set(s.Service, (set = new Set()));
        for (const t of s.Tags) set.add(t);
      }
    }
    const out: Record<string, string[]> = {};
    for (const name of [...tags.keys()].sort(cmp)) out[name] = [...(tags.get(name) ?? [])].sort(cmp);
    return { index: this.ctx.tables.services || 1, value: out };
  }

  serviceNodes(name: string, tags: string[], ws?: WatchSet): Indexed<ServiceNode[]> {
    ws?.add(topic.service(name));
    const rows = this.instancesOf(name, tags).map(([n, s]) => serviceNodeRow(n, s));
    return { index: this.serviceIdx(name), value: rows };
  }

  nodeInfo(node: string, ws?: WatchSet): Indexed<NodeServices | null> {
    ws?.add(topic.node(node));
    const n = this.nodes.get(key(node));
    if (!n) return { index: this.nodeIdx(node), value: null };
    const services: Record<string, NodeService> = {};
    for (const s of this.servicesOn(key(node))) services[s.ID] = s;
    return { index: this.nodeIdx(node), value: { Node: n, Services: services } };
  }

  nodeServiceList(node: string, ws?: WatchSet): Indexed<NodeServiceList | null> {
    ws?.add(topic.node(node));
    const n = this.nodes.get(key(node));
    return {
      index: this.nodeIdx(node),
      value: n ? { Node: n, Services: this.servicesOn(key(node)) } : null,
    };
  }

  /**
   * /v1/health/service/:name: each instance with its node's checks then its own; with `passingOnly`
   * only instances whose every check is passing.
   */
  checkServiceNodes(
    name: string,
    tags: string[],
    passingOnly: boolean,
    ws?: WatchSet,
  ): Indexed<CheckServiceNode[]> {
    ws?.add(topic.service(name));
    const rows: CheckServiceNode[] = [];
    for (const [n, s] of this.instancesOf(name, tags)) {
      const nodeLevel: HealthCheck[] = [];
      const own: HealthCheck[] = [];
      const sk = key(s.ID);
      for (const ck of [...(this.checks.get(key(n.Node))?.keys() ?? [])].sort(cmp)) {
        const c = this.checks.get(key(n.Node))?.get(ck) as HealthCheck;
        if (c.ServiceID === '') nodeLevel.push(c);
        else if (key(c.ServiceID) === sk) own.push(c);
      }
      const checks = nodeLevel.concat(own);
      if (passingOnly && checks.some((c) => c.Status !== 'passing')) continue;
      rows.push({ Node: n, Service: s, Checks: checks });
    }
    return { index: this.serviceIdx(name), value: rows };
  }

  nodeChecks(node: string, ws?: WatchSet): Indexed<HealthCheck[]> {
    ws?.add(topic.node(node));
    return { index: this.nodeIdx(node), value: sortedValues(this.checks.get(key(node))) };
  }

  /** Every check of every instance of a service (not the node-level ones), by node then check ID. */
  serviceChecks(name: string, ws?: WatchSet): Indexed<HealthCheck[]> {
    ws?.add(topic.service(name));
    const out: HealthCheck[] = [];
    const byNode = this.instances.get(key(name));
    for (const nk of [...(byNode?.keys() ?? [])].sort(cmp)) {
      const ids = byNode?.get(nk);
      for (const c of sortedValues(this.checks.get(nk))) {
        if (c.ServiceID !== '' && ids?.has(key(c.ServiceID))) out.push(c);
      }
    }
    return { index: this.serviceIdx(name), value: out };
  }

  checksInState(state: CheckStateFilter, ws?: WatchSet): Indexed<HealthCheck[]> {
    ws?.add(topic.checks);
    const out: HealthCheck[] = [];
    for (const nk of [...this.checks.keys()].sort(cmp)) {
      for (const c of sortedValues(this.checks.get(nk)))
        if (state === 'any' || c.Status === state) out.push(c);
    }
    return { index: this.ctx.tables.checks || 1, value: out };
  }

  /**
   * The web UI's service list (Consul's /v1/internal/ui/services): one summary per service name,
   * sorted by name. One pass over the checks (counted per node and per service instance), then one
   * over the instances: O(services + instances + checks) plus the sorts. Any catalog write can
   * change it, so it watches the three tables and answers with their highest index. With `visible`,
   * only the instances it accepts count (ACL filtering: an instance hidden from the token leaves no
   * trace in the summary, as in Consul, which summarizes an already filtered dump).
   */
  serviceSummaries(
    ws?: WatchSet,
    visible?: (node: string, service: string) => boolean,
  ): Indexed<ServiceSummary[]> {
    ws?.add(topic.nodes);
    ws?.add(topic.services);
    ws?.add(topic.checks);
    const nodeLevel = new Map<string, Counts>();
    const perInstance = new Map<string, Map<string, Counts>>();
    for (const [nk, byId] of this.checks) {
      for (const c of byId.values()) {
        let counts: Counts | undefined;
        if (c.ServiceID === '') {
          counts = nodeLevel.get(nk);
          if (!counts) nodeLevel.set(nk, (counts = [0, 0, 0]));
        } else {
          let bySvc = perInstance.get(nk);
          if (!bySvc) perInstance.set(nk, (bySvc = new Map()));
          counts = bySvc.get(key(c.ServiceID));
          if (!counts) bySvc.set(key(c.ServiceID), (counts = [0, 0, 0]));
        }
        countCheck(counts, c.Status);
      }
    }
    const out: ServiceSummary[] = [];
    for (const byNode of this.instances.values()) {
      let b: SummaryBuilder | undefined;
      for (const nk of byNode.size > 1 ? [...byNode.keys()].sort(cmp) : byNode.keys()) {
        const n = this.nodes.get(nk);
        const onNode = this.services.get(nk);
        const ids = byNode.get(nk);
        if (!n || !onNode || !ids || ids.size === 0) continue;
        const own = perInstance.get(nk);
        let first = true;
        for (const sk of ids.size > 1 ? [...ids].sort(cmp) : ids) {
          const s = onNode.get(sk);
          if (!s || (visible && !visible(n.Node, s.Service))) continue;
          b ??= new SummaryBuilder(s.Service);
          if (first) b.addNode(n, nodeLevel.get(nk));
          first = false;
          b.addInstance(s, own?.get(sk));
        }
      }
      if (b) out.push(b.build());
    }
    out.sort((x, y) => cmp(x.Name, y.Name));
    return { index: this.catalogIndex(), value: out };
  }

  /** The web UI's node list (Consul's Internal.NodeDump): every node with its services and checks. */
  nodeDump(ws?: WatchSet): Indexed<NodeDumpEntry[]> {
    ws?.add(topic.nodes);
    ws?.add(topic.services);
    ws?.add(topic.checks);
    const value = [...this.nodes.keys()].sort(cmp).map((nk) => this.dumpOf(nk, this.nodes.get(nk) as Node));
    return { index: this.catalogIndex(), value };
  }

  /** One node as nodeDump gives it (Consul's Internal.NodeInfo), or null when unknown. */
  nodeDumpOne(node: string, ws?: WatchSet): Indexed<NodeDumpEntry | null> {
    ws?.add(topic.node(node));
    const n = this.nodes.get(key(node));
    return { index: this.nodeIdx(node), value: n ? this.dumpOf(key(node), n) : null };
  }

  private dumpOf(nk: string, n: Node): NodeDumpEntry {
    return nodeDumpEntry(n, this.servicesOn(nk), sortedValues(this.checks.get(nk)));
  }

  /** [node, service] for each instance of `name` carrying every tag asked for (case-insensitive). */
  protected instancesOf(name: string, tags: string[]): [Node, NodeService][] {
    const want = tags.map(key);
    const byNode = this.instances.get(key(name));
    const out: [Node, NodeService][] = [];
    if (!byNode) return out;
    for (const nk of [...byNode.keys()].sort(cmp)) {
      const n = this.nodes.get(nk);
      if (!n) continue;
      for (const sk of [...(byNode.get(nk) ?? [])].sort(cmp)) {
        const s = this.services.get(nk)?.get(sk);
        if (!s) continue;
        if (want.length > 0) {
          const have = new Set(s.Tags.map(key));
          if (!want.every((t) => have.has(t))) continue;
        }
        out.push([n, s]);
      }
    }
    return out;
  }

  protected servicesOn(nk: string): NodeService[] {
    return sortedValues(this.services.get(nk));
  }

  protected serviceIdx(name: string): number {
    return this.serviceIndex.get(key(name)) ?? this.catalogIndex();
  }

  protected nodeIdx(node: string): number {
    return this.nodeIndex.get(key(node)) ?? this.catalogIndex();
  }

  protected catalogIndex(): number {
    const t = this.ctx.tables;
    return Math.max(t.nodes, t.services, t.checks) || 1;
  }

  /** Test and diagnostics: the raw per-service index (undefined if never touched). */
  serviceIndexOf(name: string): number | undefined {
    return this.serviceIndex.get(key(name));
  }
}

/** A map's values in key order. */
export function sortedValues<T>(m: Map<string, T> | undefined): T[] {
  if (!m) return [];
  return [...m.keys()].sort(cmp).map((k) => m.get(k) as T);
}

/** One instance as /v1/catalog/service/:name shows it (Consul's ServiceNode). */
function serviceNodeRow(n: Node, s: NodeService): ServiceNode {
  return {
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
  };
}
