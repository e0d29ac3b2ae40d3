// The shapes of the API answers the UI reads (field names as the HTTP API spells them).

export type CheckStatus = 'passing' | 'warning' | 'critical';

export interface HealthCheck {
  Node: string;
  CheckID: string;
  Name: string;
  Status: CheckStatus;
  Notes?: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  Type?: string;
}

export interface NodeService {
  ID: string;
  Service: string;
  Tags: string[] | null;
  Address: string;
  Port: number;
  Meta: Record<string, string> | null;
}

/** One entry of /v1/internal/ui/services. */
export interface ServiceSummary {
  Kind?: string;
  Name: string;
  Datacenter: string;
  Tags: string[] | null;
  Nodes: string[] | null;
  ExternalSources: string[] | null;
  InstanceCount: number;
  ChecksPassing: number;
  ChecksWarning: number;
  ChecksCritical: number;
}

/** One entry of /v1/internal/ui/nodes, and /v1/internal/ui/node/:node. */
export interface NodeInfo {
  ID: string;
  Node: string;
  Address: string;
  Datacenter: string;
  TaggedAddresses: Record<string, string> | null;
  Meta: Record<string, string> | null;
  Services: NodeService[] | null;
  Checks: HealthCheck[] | null;
}

/** One entry of /v1/health/service/:service. */
export interface ServiceInstance {
  Node: { Node: string; Address: string; Datacenter: string; ID?: string };
  Service: NodeService;
  Checks: HealthCheck[] | null;
}

export interface RaftServer {
  ID: string;
  Node: string;
  Address: string;
  Leader: boolean;
  Voter: boolean;
}

export interface RaftConfiguration {
  Servers: RaftServer[];
  Index: number;
}

export interface KvEntry {
  Key: string;
  Value: string | null;
  Flags: number;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
  Session?: string;
}
