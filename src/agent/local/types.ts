// What the agent keeps about its own services and checks (Consul's agent/local state): records in
// the catalog's shapes, so syncing them is a plain register request and the HTTP API shows them as
// Consul does.

import type { CheckDefinition } from '../checks/definition.js';
import type { HealthCheck, ServiceRecord } from '../../state/types.js';

/** A service as the catalog stores it, without the catalog's Raft indexes (the agent's are local). */
export type LocalService = ServiceRecord;

/** A check as the catalog stores it, without its node (always this one) and Raft indexes. */
export type LocalCheck = Omit<HealthCheck, 'Node' | 'CreateIndex' | 'ModifyIndex'>;

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
