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

  /** Service name → the union of its instances' tags (sorted, without repeats). */
  serviceMap(ws?: WatchSet): Indexed<Record<string, string[]>> {
    ws?.add(topic.services);
    const tags = new Map<string, Set<string>>();
    for (const byId of this.services.values()) {
      for (const s of byId.values()) {
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
    const rows: ServiceNode[] = [];
    for (const [n, s] of this.instancesOf(name, tags)) {
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
