// Catalog, health and KV records in Consul's shapes (PascalCase): the HTTP layer serialises them
// as they are, turning KV values into base64.

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

export interface NodeService {
  ID: string;
  Service: string;
  Tags: string[];
  Address: string;
  TaggedAddresses: Record<string, ServiceAddress>;
  Meta: Record<string, string>;
  Port: number;
  Weights: { Passing: number; Warning: number };
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

/** A check as given in a register request (before the store fills indexes and service fields). */
export interface CheckInput {
  Node: string;
  CheckID: string;
  Name: string;
  Status: CheckStatus;
  Notes: string;
  Output: string;
  ServiceID: string;
  Type: string;
  Definition: Record<string, unknown>;
}

export interface ServiceInput {
  ID: string;
  Service: string;
  Tags: string[];
  Address: string;
  TaggedAddresses: Record<string, ServiceAddress>;
  Meta: Record<string, string>;
  Port: number;
  Weights: { Passing: number; Warning: number };
  EnableTagOverride: boolean;
  Kind?: string;
}

/** /v1/catalog/register after validation and defaults. */
export interface RegisterRequest {
  ID: string;
  Node: string;
  Address: string;
  TaggedAddresses: Record<string, string>;
  NodeMeta: Record<string, string>;
  Service: ServiceInput | null;
  Checks: CheckInput[];
  SkipNodeUpdate: boolean;
}

export interface DeregisterRequest {
  Node: string;
  ServiceID: string;
  CheckID: string;
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
  ServiceWeights: { Passing: number; Warning: number };
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

export interface Indexed<T> {
  index: number;
  value: T;
}
