// The shapes the web UI reads (Consul's /v1/internal/ui/*, facts from agent/ui_endpoint.go): one
// summary per service name, and each node with its services and checks. Built in one pass over the
// catalog by catalog-reads.ts; the records inside (NodeService, HealthCheck) are the catalog's own.

import { cmp } from './context.js';
import type { CheckStatus, HealthCheck, Node, NodeService } from './types.js';

/** Consul's ServiceListingSummary, without the enterprise and peering fields. */
export interface ServiceSummary {
  Kind: string;
  Name: string;
  Datacenter: string;
  /** Union of the instances' tags, sorted, without repeats. */
  Tags: string[];
  /** The nodes running an instance, sorted, without repeats. */
  Nodes: string[];
  /** The instances' Meta["external-source"] values in catalog order, or null when none has one. */
  ExternalSources: string[] | null;
  InstanceCount: number;
  /** Checks by status: each instance's own checks, and once per node the node's node-level checks. */
  ChecksPassing: number;
  ChecksWarning: number;
  ChecksCritical: number;
  // Connect and gateway fields Consul's UI reads; this catalog has no proxies or gateways.
  GatewayConfig: Record<string, never>;
  TransparentProxy: boolean;
  ConnectNative: boolean;
  ConnectedWithProxy: boolean;
  ConnectedWithGateway: boolean;
}

/** Consul's NodeInfo (Internal.NodeDump): a node with its services and checks. */
export interface NodeDumpEntry extends Omit<Node, 'CreateIndex' | 'ModifyIndex'> {
  Services: NodeService[];
  Checks: HealthCheck[];
}

export function nodeDumpEntry(n: Node, services: NodeService[], checks: HealthCheck[]): NodeDumpEntry {
  return {
    ID: n.ID,
    Node: n.Node,
    Address: n.Address,
    Datacenter: n.Datacenter,
    TaggedAddresses: n.TaggedAddresses,
    Meta: n.Meta,
    Services: services,
    Checks: checks,
  };
}

/** Passing, warning, critical. */
export type Counts = [number, number, number];

const SLOT: Partial<Record<CheckStatus, 0 | 1 | 2>> = { passing: 0, warning: 1, critical: 2 };

export function countCheck(counts: Counts, status: CheckStatus): void {
  const i = SLOT[status];
  if (i !== undefined) counts[i]++;
}

/** Consul's structs.MetaExternalSource. */
const EXTERNAL_SOURCE = 'external-source';

/** One service name's summary as its instances are added (node by node, each node once). */
export class SummaryBuilder {
  private readonly tags = new Set<string>();
  private readonly sources = new Set<string>();
  private readonly nodes: string[] = [];
  private kind = '';
  private datacenter = '';
  private instances = 0;
  private readonly counts: Counts = [0, 0, 0];

  constructor(private readonly name: string) {}

  /** A node running this service (each node once), with its node-level check counts. */
  addNode(n: Node, nodeChecks: Counts | undefined): void {
    this.nodes.push(n.Node);
    this.datacenter = n.Datacenter;
    if (nodeChecks) this.add(nodeChecks);
  }

  /** One instance on the node added last, with its own check counts. */
  addInstance(s: NodeService, own: Counts | undefined): void {
    this.instances++;
    this.kind = s.Kind ?? '';
    for (const t of s.Tags) this.tags.add(t);
    const src = s.Meta[EXTERNAL_SOURCE];
    if (src) this.sources.add(src);
    if (own) this.add(own);
  }

  private add(c: Counts): void {
    this.counts[0] += c[0];
    this.counts[1] += c[1];
    this.counts[2] += c[2];
  }

  build(): ServiceSummary {
    return {
      Kind: this.kind,
      Name: this.name,
      Datacenter: this.datacenter,
      Tags: [...this.tags].sort(cmp),
      Nodes: this.nodes.sort(cmp),
      ExternalSources: this.sources.size > 0 ? [...this.sources] : null,
      InstanceCount: this.instances,
      ChecksPassing: this.counts[0],
      ChecksWarning: this.counts[1],
      ChecksCritical: this.counts[2],
      GatewayConfig: {},
      TransparentProxy: false,
      ConnectNative: false,
      ConnectedWithProxy: false,
      ConnectedWithGateway: false,
    };
  }
}
