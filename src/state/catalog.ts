// The catalog and health tables: nodes, the services and checks on each node, and the indexes that
// let a blocking query on one service or one node wake only for its own changes.
//
// Names are looked up case-insensitively, as Consul's memdb indexes do (node names, service names,
// service IDs and check IDs are lower-cased in the index); records keep the spelling they were
// registered with.
//
// Index rules (never 0; never backwards):
//   one service   a per-service index, bumped by any change to its instances, their checks, or the
//                 nodes they run on (a node's record or a node-level check changes the health of
//                 every service on it). Never deleted, so it survives the last instance. A service
//                 never seen answers with max(nodes, services, checks).
//   one node      a per-node index, bumped by any change to the node, its services or its checks;
//                 a node never seen answers with max(nodes, services, checks).
//   node list     the nodes table; service list: the services table; checks by state: checks table.

import { badRequest } from '../core/errors.js';
import { CatalogReads, key, sortedValues } from './catalog-reads.js';
import { cmp, deepEqual, type StoreContext } from './context.js';
import type { CheckRecord, HealthCheck, Node, NodeService, NormalRegister, ServiceRecord } from './types.js';
import { topic } from './watch.js';

/** The check Consul's gossip layer keeps on every agent's node. */
const SERF_CHECK = 'serfhealth';

export interface CatalogDump {
  nodes: Node[];
  /** [node key, service] */
  services: [string, NodeService][];
  checks: HealthCheck[];
  serviceIndex: [string, number][];
  nodeIndex: [string, number][];
}

export class Catalog extends CatalogReads {
  constructor(
    ctx: StoreContext,
    private readonly datacenter: string,
  ) {
    super(ctx);
  }

  // ================================================================ writes

  /**
   * Consul's ensureRegistration: the node (unless SkipNodeUpdate and it exists), the service and
   * the checks, all or nothing. Everything that can fail is checked before anything changes; a
   * part that changes nothing writes nothing and wakes nobody.
   */
  register(index: number, req: NormalRegister): void {
    const nk = key(req.Node);
    for (const c of req.Checks) {
      if (key(c.Node) !== nk) throw badRequest(`check node "${c.Node}" does not match node "${req.Node}"`);
    }
    const prev = this.nodes.get(nk);
    const writeNode = !prev || (!req.SkipNodeUpdate && !this.sameNode(prev, req));
    const renameFrom = writeNode ? this.planNodeId(req, nk) : undefined;
    const serviceKey = req.Service ? key(req.Service.ID) : undefined;
    for (const c of req.Checks) {
      if (c.ServiceID === '') continue;
      const sk = key(c.ServiceID);
      if (sk !== serviceKey && !this.services.get(nk)?.has(sk)) {
        throw badRequest(`failed inserting check on node "${req.Node}": Missing service registration`);
      }
    }

    if (renameFrom !== undefined) this.deleteNode(index, renameFrom);
    if (writeNode) this.ensureNode(index, req, nk);
    if (req.Service) this.ensureService(index, nk, req.Service);
    for (const c of req.Checks) this.ensureCheck(index, nk, c);
  }

  /** Consul's deregister: one service (and its checks), one check, or the node with everything on it. */
  deregister(index: number, req: { Node: string; ServiceID?: string; CheckID?: string }): void {
    const nk = key(req.Node);
    if (!this.nodes.has(nk)) return;
    if (req.ServiceID) this.deleteService(index, nk, key(req.ServiceID));
    else if (req.CheckID) this.deleteCheck(index, nk, key(req.CheckID));
    else this.deleteNode(index, nk);
  }

  private sameNode(n: Node, req: NormalRegister): boolean {
    return (
      n.ID === req.ID &&
      key(n.Node) === key(req.Node) &&
      n.Address === req.Address &&
      deepEqual(n.TaggedAddresses, req.TaggedAddresses) &&
      deepEqual(n.Meta, req.NodeMeta)
    );
  }

  /**
   * Consul's node-ID rules: an ID already held by a node of another name renames that node (the old
   * entry goes), unless the new name belongs to a live node (one whose serfHealth check is not
   * critical) with a different ID. Returns the node to delete for a rename.
   */
  private planNodeId(req: NormalRegister, nk: string): string | undefined {
    if (req.ID === '') return undefined;
    const holder = this.nodeIds.get(key(req.ID));
    if (holder !== undefined && holder !== nk) {
      this.checkNameFree(req, false, `Error while renaming Node ID: "${req.ID}" (${req.Address})`);
      return holder;
    }
    if (holder === undefined) this.checkNameFree(req, true, `Error while renaming Node ID: "${req.ID}"`);
    return undefined;
  }

  private checkNameFree(req: NormalRegister, allowClashWithoutId: boolean, context: string): void {
    const n = this.nodes.get(key(req.Node));
    if (!n || n.ID === req.ID || (n.ID === '' && allowClashWithoutId)) return;
    const serf = this.checks.get(key(n.Node))?.get(SERF_CHECK);
    if (serf && serf.Status !== 'critical') {
      throw badRequest(
        `failed inserting node: ${context}: Node name ${req.Node} is reserved by node ${n.ID} with name ${n.Node} (${n.Address})`,
      );
    }
  }

  private ensureNode(index: number, req: NormalRegister, nk: string): void {
    const prev = this.nodes.get(nk);
    const next: Node = {
      ID: req.ID,
      Node: req.Node,
      Address: req.Address,
      Datacenter: this.datacenter,
      TaggedAddresses: req.TaggedAddresses,
      Meta: req.NodeMeta,
      CreateIndex: prev?.CreateIndex ?? index,
      ModifyIndex: index,
    };
    if (prev && this.sameNode(prev, req)) return;
    if (prev?.ID && this.nodeIds.get(key(prev.ID)) === nk) this.nodeIds.delete(key(prev.ID));
    if (next.ID) this.nodeIds.set(key(next.ID), nk);
    this.nodes.set(nk, next);
    this.ctx.tables.nodes = index;
    this.ctx.touched.add(topic.nodes);
    this.touchNode(index, nk, true);
  }

  private ensureService(index: number, nk: string, s: ServiceRecord): void {
    let byId = this.services.get(nk);
    if (!byId) this.services.set(nk, (byId = new Map()));
    const sk = key(s.ID);
    const prev = byId.get(sk);
    const next: NodeService = { ...s, CreateIndex: prev?.CreateIndex ?? index, ModifyIndex: index };
    if (prev && sameRecord(prev, next)) return;
    byId.set(sk, next);
    if (prev && key(prev.Service) !== key(s.Service)) {
      this.removeInstance(prev.Service, nk, sk);
      this.touchService(index, prev.Service);
    }
    this.addInstance(s.Service, nk, sk);
    // Its checks carry its name and tags: keep them current (replaced, never changed in place).
    const checks = this.checks.get(nk);
    for (const [ck, c] of checks ?? []) {
      if (c.ServiceID === '' || key(c.ServiceID) !== sk) continue;
      if (c.ServiceName === next.Service && deepEqual(c.ServiceTags, next.Tags)) continue;
      checks?.set(ck, { ...c, ServiceName: next.Service, ServiceTags: [...next.Tags], ModifyIndex: index });
      this.ctx.tables.checks = index;
      this.ctx.touched.add(topic.checks);
    }
    this.ctx.tables.services = index;
    this.ctx.touched.add(topic.services);
    this.touchService(index, s.Service);
    this.touchNode(index, nk, false);
  }

  private ensureCheck(index: number, nk: string, c: CheckRecord): void {
    let byId = this.checks.get(nk);
    if (!byId) this.checks.set(nk, (byId = new Map()));
    const ck = key(c.CheckID);
    const prev = byId.get(ck);
    const svc = c.ServiceID ? this.services.get(nk)?.get(key(c.ServiceID)) : undefined;
    const next: HealthCheck = {
      Node: c.Node,
      CheckID: c.CheckID,
      Name: c.Name,
      Status: c.Status,
      Notes: c.Notes,
      Output: c.Output,
      ServiceID: c.ServiceID,
      ServiceName: svc?.Service ?? '',
      ServiceTags: svc ? [...svc.Tags] : [],
      Type: c.Type,
      Definition: c.Definition,
      CreateIndex: prev?.CreateIndex ?? index,
      ModifyIndex: index,
    };
    if (prev && sameRecord(prev, next)) return;
    byId.set(ck, next);
    this.ctx.tables.checks = index;
    this.ctx.touched.add(topic.checks);
    // A check that moved off a service changed that service's health too.
    if (prev?.ServiceName && (!svc || key(prev.ServiceName) !== key(svc.Service))) {
      this.touchService(index, prev.ServiceName);
    }
    if (svc) this.touchService(index, svc.Service);
    // A node-level check (or one that was node-level) is part of every service's health on the node.
    this.touchNode(index, nk, !svc || (prev !== undefined && prev.ServiceID === ''));
  }

  private deleteService(index: number, nk: string, sk: string): void {
    const byId = this.services.get(nk);
    const s = byId?.get(sk);
    if (!byId || !s) return;
    byId.delete(sk);
    if (byId.size === 0) this.services.delete(nk);
    this.removeInstance(s.Service, nk, sk);
    const checks = this.checks.get(nk);
    for (const [ck, c] of checks ?? []) {
      if (c.ServiceID === '' || key(c.ServiceID) !== sk) continue;
      checks?.delete(ck);
      this.ctx.tables.checks = index;
      this.ctx.touched.add(topic.checks);
    }
    if (checks?.size === 0) this.checks.delete(nk);
    this.ctx.tables.services = index;
    this.ctx.touched.add(topic.services);
    this.touchService(index, s.Service);
    this.touchNode(index, nk, false);
  }

  private deleteCheck(index: number, nk: string, ck: string): void {
    const byId = this.checks.get(nk);
    const c = byId?.get(ck);
    if (!byId || !c) return;
    byId.delete(ck);
    if (byId.size === 0) this.checks.delete(nk);
    this.ctx.tables.checks = index;
    this.ctx.touched.add(topic.checks);
    if (c.ServiceName) this.touchService(index, c.ServiceName);
    this.touchNode(index, nk, c.ServiceID === '');
  }

  private deleteNode(index: number, nk: string): void {
    const n = this.nodes.get(nk);
    if (!n) return;
    for (const sk of [...(this.services.get(nk)?.keys() ?? [])]) this.deleteService(index, nk, sk);
    if (this.checks.has(nk)) {
      this.checks.delete(nk);
      this.ctx.tables.checks = index;
      this.ctx.touched.add(topic.checks);
    }
    this.nodes.delete(nk);
    if (n.ID && this.nodeIds.get(key(n.ID)) === nk) this.nodeIds.delete(key(n.ID));
    this.ctx.tables.nodes = index;
    this.ctx.touched.add(topic.nodes);
    this.touchNode(index, nk, false);
  }

  /** The node changed; with `healthOfAll`, so did the health of every service instance on it. */
  private touchNode(index: number, nk: string, healthOfAll: boolean): void {
    this.nodeIndex.set(nk, index);
    this.ctx.touched.add(topic.node(nk));
    if (!healthOfAll) return;
    for (const s of this.services.get(nk)?.values() ?? []) this.touchService(index, s.Service);
  }

  private touchService(index: number, name: string): void {
    this.serviceIndex.set(key(name), index);
    this.ctx.touched.add(topic.service(name));
  }

  private addInstance(name: string, nk: string, sk: string): void {
    let byNode = this.instances.get(key(name));
    if (!byNode) this.instances.set(key(name), (byNode = new Map()));
    let ids = byNode.get(nk);
    if (!ids) byNode.set(nk, (ids = new Set()));
    ids.add(sk);
  }

  private removeInstance(name: string, nk: string, sk: string): void {
    const byNode = this.instances.get(key(name));
    const ids = byNode?.get(nk);
    if (!byNode || !ids) return;
    ids.delete(sk);
    if (ids.size === 0) byNode.delete(nk);
    if (byNode.size === 0) this.instances.delete(key(name));
  }

  // ================================================================ snapshot

  /** Everything in key order, so two replicas with the same state dump the same bytes. */
  dump(): CatalogDump {
    const nodeKeys = [...this.nodes.keys()].sort(cmp);
    const services: [string, NodeService][] = [];
    const checks: HealthCheck[] = [];
    for (const nk of [...new Set([...nodeKeys, ...this.services.keys(), ...this.checks.keys()])].sort(cmp)) {
      for (const s of sortedValues(this.services.get(nk))) services.push([nk, s]);
      checks.push(...sortedValues(this.checks.get(nk)));
    }
    return {
      nodes: nodeKeys.map((k) => this.nodes.get(k) as Node),
      services,
      checks,
      serviceIndex: [...this.serviceIndex].sort((a, b) => cmp(a[0], b[0])),
      nodeIndex: [...this.nodeIndex].sort((a, b) => cmp(a[0], b[0])),
    };
  }

  load(d: CatalogDump): void {
    this.nodes = new Map();
    this.nodeIds = new Map();
    for (const n of d.nodes) {
      this.nodes.set(key(n.Node), n);
      if (n.ID) this.nodeIds.set(key(n.ID), key(n.Node));
    }
    this.services = new Map();
    this.instances = new Map();
    for (const [nk, s] of d.services) {
      let byId = this.services.get(nk);
      if (!byId) this.services.set(nk, (byId = new Map()));
      byId.set(key(s.ID), s);
      this.addInstance(s.Service, nk, key(s.ID));
    }
    this.checks = new Map();
    for (const c of d.checks) {
      let byId = this.checks.get(key(c.Node));
      if (!byId) this.checks.set(key(c.Node), (byId = new Map()));
      byId.set(key(c.CheckID), c);
    }
    this.serviceIndex = new Map(d.serviceIndex);
    this.nodeIndex = new Map(d.nodeIndex);
  }
}

/** Equal apart from the Raft indexes: a re-registration of the same thing changes nothing. */
function sameRecord<T extends { CreateIndex: number; ModifyIndex: number }>(a: T, b: T): boolean {
  const { CreateIndex: _ac, ModifyIndex: _am, ...ra } = a;
  const { CreateIndex: _bc, ModifyIndex: _bm, ...rb } = b;
  return deepEqual(ra, rb);
}
