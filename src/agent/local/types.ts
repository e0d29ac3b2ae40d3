// What the agent keeps about its own services and checks (Consul's agent/local state): records in
// the catalog's shapes, so syncing them is a plain register request and the HTTP API shows them as
// Consul does.

import type { CheckDefinition } from '../checks/definition.js';
import type { CheckStatus, ServiceAddress, Weights } from '../../state/types.js';

export interface LocalService {
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
}

export interface LocalCheck {
  CheckID: string;
  Name: string;
  Status: CheckStatus;
  Notes: string;
  Output: string;
  /** '' for a node-level check. */
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  Type: string;
  /** The check's definition as Consul shows it (HealthCheck.Definition). */
  Definition: Record<string, unknown>;
}

/**
 * Where a registration came from: config files are re-read at every start and never persisted;
 * API registrations are persisted in the data dir and restored.
 */
export type Source = 'config' | 'api';

/** A check and how to run it (null: a check nothing runs, such as a maintenance check). */
export interface CheckEntry {
  check: LocalCheck;
  def: CheckDefinition | null;
  source: Source;
}

export const NODE_MAINT_CHECK_ID = '_node_maintenance';
export const SERVICE_MAINT_PREFIX = '_service_maintenance:';
export const DEFAULT_NODE_MAINT_REASON =
  'Maintenance mode is enabled for this node, but no reason was provided. This is a default message.';
export const DEFAULT_SERVICE_MAINT_REASON =
  'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.';

export const serviceMaintCheckId = (serviceId: string): string => `${SERVICE_MAINT_PREFIX}${serviceId}`;
