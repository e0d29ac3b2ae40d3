// Catalog, health and KV records in Consul's shapes (PascalCase): the HTTP layer serialises them
// as they are, turning KV values into base64. Records held by the store are never changed in place
// (a write replaces them), so a reader may keep what it got; it must not modify it.

export interface KVEntry {
  Key: string;
  Value: Uint8Array | null;
  Flags: number;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
  Session?: string;
}

export interface Node {
  ID: string;
  Node: string;
  Address: string;
  Datacenter: string;
  TaggedAddresses: Record<string, string>;
  Meta: Record<string, string>;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface ServiceAddress {
  Address: string;
  Port: number;
}

export interface Weights {
  Passing: number;
  Warning: number;
}

export interface NodeService {
  ID: string;
  Service: string;
  Tags: string[];
  Address: string;
  TaggedAddresses: Record<string, ServiceAddress>;
  Meta: Record<string, string>;
  Port: number;
  Weights: Weights;
  EnableTagOverride: boolean;
  Kind?: string;
  CreateIndex: number;
  ModifyIndex: number;
}

export type CheckStatus = 'passing' | 'warning' | 'critical' | 'maintenance';

export interface HealthCheck {
  Node: string;
  CheckID: string;
  Name: string;
  Status: CheckStatus;
  Notes: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  Type: string;
  Definition: Record<string, unknown>;
  CreateIndex: number;
  ModifyIndex: number;
}

/** A service as a register request gives it: only the name is required. */
export interface ServiceInput {
  ID?: string;
  Service: string;
  Tags?: string[] | null;
  Address?: string;
  TaggedAddresses?: Record<string, ServiceAddress> | null;
  Meta?: Record<string, string> | null;
  Port?: number;
  Weights?: Weights | null;
  EnableTagOverride?: boolean;
  Kind?: string;
}

/** A check as a register request gives it (the store fills Node, defaults and service fields). */
export interface CheckInput {
  Node?: string;
  CheckID?: string;
  Name?: string;
  Status?: CheckStatus | '';
  Notes?: string;
  Output?: string;
  ServiceID?: string;
  Type?: string;
  Definition?: Record<string, unknown> | null;
}

/** The body of PUT /v1/catalog/register (Consul's structs.RegisterRequest, minus ACL/enterprise). */
export interface RegisterRequest {
  ID?: string;
  Node: string;
  Address?: string;
  Datacenter?: string;
  TaggedAddresses?: Record<string, string> | null;
  NodeMeta?: Record<string, string> | null;
  Service?: ServiceInput | null;
  Check?: CheckInput | null;
  Checks?: CheckInput[] | null;
  SkipNodeUpdate?: boolean;
}

/** The body of PUT /v1/catalog/deregister: a node, or one of its services or checks. */
export interface DeregisterRequest {
  Node: string;
  ServiceID?: string;
  CheckID?: string;
}

/** A service without its indexes, as the store is about to save it. */
export type ServiceRecord = Omit<NodeService, 'CreateIndex' | 'ModifyIndex'>;

/** A check with every default filled, before the store adds its service fields and indexes. */
export type CheckRecord = Omit<HealthCheck, 'CreateIndex' | 'ModifyIndex' | 'ServiceName' | 'ServiceTags'>;

/** A register request with every default filled and the single Check folded into Checks. */
export interface NormalRegister {
  ID: string;
  Node: string;
  Address: string;
  Datacenter: string;
  TaggedAddresses: Record<string, string>;
  NodeMeta: Record<string, string>;
  Service: ServiceRecord | null;
  Checks: CheckRecord[];
  SkipNodeUpdate: boolean;
}

/** A row of /v1/catalog/service/:name. */
export interface ServiceNode {
  ID: string;
  Node: string;
  Address: string;
  Datacenter: string;
  TaggedAddresses: Record<string, string>;
  NodeMeta: Record<string, string>;
  ServiceKind: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  ServiceAddress: string;
  ServiceTaggedAddresses: Record<string, ServiceAddress>;
  ServiceWeights: Weights;
  ServiceMeta: Record<string, string>;
  ServicePort: number;
  ServiceEnableTagOverride: boolean;
  CreateIndex: number;
  ModifyIndex: number;
}

/** A row of /v1/health/service/:name. */
export interface CheckServiceNode {
  Node: Node;
  Service: NodeService;
  Checks: HealthCheck[];
}

/** /v1/catalog/node/:node. */
export interface NodeServices {
  Node: Node;
  Services: Record<string, NodeService>;
}

/** /v1/catalog/node-services/:node. */
export interface NodeServiceList {
  Node: Node;
  Services: NodeService[];
}

/** A read's result with the index X-Consul-Index reports (always ≥ 1). */
export interface Indexed<T> {
  index: number;
  value: T;
}

export type CheckStateFilter = 'any' | 'passing' | 'warning' | 'critical';
