// Consul's Operator endpoints for autopilot and leadership: the autopilot configuration (in Raft,
// readable stale from any server), the leader's judgement of every server's health (Consul's
// /v1/operator/autopilot/health and /state shapes) and a leadership transfer. All need operator:read
// or operator:write.

import { ConsulError, ErrorCode } from '../../core/errors.js';
import { formatDuration } from '../../core/duration.js';
import { failureTolerance, type ServerHealth } from '../../server/autopilot.js';
import type { AutopilotConfig } from '../../state/autopilot.js';
import { operatorReadAcl, operatorWriteAcl } from './acl-spec.js';
import type { QueryMeta } from './types.js';
import type { EndpointContext, QueryEndpoint, ReadArgs, ReadEndpoint, WriteEndpoint } from './index.js';

/** The stored configuration in Consul's JSON (durations as Go durations). */
export interface AutopilotConfigJson {
  CleanupDeadServers: boolean;
  LastContactThreshold: string;
  MaxTrailingLogs: number;
  MinQuorum: number;
  ServerStabilizationTime: string;
  RedundancyZoneTag: string;
  DisableUpgradeMigration: boolean;
  UpgradeVersionTag: string;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface AutopilotSetArgs {
  config: AutopilotConfig;
  /** null: unconditional; a number: only over that ModifyIndex (Consul's ?cas). */
  cas: number | null;
}

function autopilotOf(c: EndpointContext): NonNullable<EndpointContext['autopilot']> {
  if (!c.autopilot) throw new ConsulError(ErrorCode.Internal, 'autopilot is not running on this server');
  return c.autopilot;
}

/** Go's time.Time in UTC rounded to the second, as Consul prints StableSince. */
const stableSince = (ms: number): string =>
  new Date(Math.round(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

const lastContact = (s: ServerHealth): string =>
  s.lastContactMs < 0 ? '0s' : formatDuration(s.lastContactMs);

/** Consul's OperatorHealthReply. */
export function healthReply(servers: ServerHealth[]): unknown {
  return {
    Healthy: servers.every((s) => s.healthy),
    FailureTolerance: failureTolerance(servers),
    Servers: servers.map((s) => ({
      ID: s.id,
      Name: s.name,
      Address: s.address,
      SerfStatus: s.serfStatus,
      Version: s.version,
      Leader: s.leader,
      LastContact: lastContact(s),
      LastTerm: s.lastTerm,
      LastIndex: s.lastIndex,
      Healthy: s.healthy,
      Voter: s.voter,
      StableSince: stableSince(s.stableSince),
    })),
  };
}

/** Consul's AutopilotState (the open-source part: no zones, read replicas or upgrades). */
export function stateReply(servers: ServerHealth[], leaderId: string): unknown {
  const byId: Record<string, unknown> = {};
  for (const s of servers) {
    byId[s.id] = {
      ID: s.id,
      Name: s.name,
      Address: s.address,
      NodeStatus: s.serfStatus,
      Version: s.version,
      LastContact: lastContact(s),
      LastTerm: s.lastTerm,
      LastIndex: s.lastIndex,
      Healthy: s.healthy,
      StableSince: stableSince(s.stableSince),
      ReadReplica: false,
      Status: s.leader ? 'leader' : s.voter ? 'voter' : 'non-voter',
      Meta: s.meta,
      NodeType: 'voter',
    };
  }
  return {
    Healthy: servers.every((s) => s.healthy),
    FailureTolerance: failureTolerance(servers),
    OptimisticFailureTolerance: 0,
    Servers: byId,
    Leader: leaderId,
    Voters: servers.filter((s) => s.voter).map((s) => s.id),
  };
}

export function configJson(
  c: AutopilotConfig & { CreateIndex: number; ModifyIndex: number },
): AutopilotConfigJson {
  return {
    CleanupDeadServers: c.CleanupDeadServers,
    LastContactThreshold: formatDuration(c.LastContactThresholdMs),
    MaxTrailingLogs: c.MaxTrailingLogs,
    MinQuorum: c.MinQuorum,
    ServerStabilizationTime: formatDuration(c.ServerStabilizationTimeMs),
    RedundancyZoneTag: c.RedundancyZoneTag,
    DisableUpgradeMigration: c.DisableUpgradeMigration,
    UpgradeVersionTag: c.UpgradeVersionTag,
    CreateIndex: c.CreateIndex,
    ModifyIndex: c.ModifyIndex,
  };
}

/** The leader answers from its own view (serveQuery overwrites what it knows better). */
const leaderView = (c: EndpointContext): QueryMeta => ({
  index: Math.max(1, c.store.lastIndex),
  knownLeader: true,
  lastContact: 0,
  consistency: 'leader',
});

export const operatorEndpoints = {
  'Operator.AutopilotGetConfiguration': {
    kind: 'read',
    acl: operatorReadAcl,
    run: (c) => {
      const stored = c.store.autopilotConfig();
      // Consul's answer before the first leader stored it.
      if (!stored) throw new ConsulError(ErrorCode.Internal, 'autopilot config not initialized yet');
      return { index: Math.max(1, stored.ModifyIndex), value: configJson(stored) };
    },
  } satisfies ReadEndpoint<ReadArgs>,
  'Operator.AutopilotSetConfiguration': {
    kind: 'write',
    acl: operatorWriteAcl,
    run: (c, a) => c.apply({ type: 'autopilotSetConfig', config: a.config, cas: a.cas }),
  } satisfies WriteEndpoint<AutopilotSetArgs>,
  'Operator.ServerHealth': {
    kind: 'query',
    acl: operatorReadAcl,
    run: (c) => Promise.resolve({ value: healthReply(autopilotOf(c).health().servers), meta: leaderView(c) }),
  } satisfies QueryEndpoint<unknown>,
  'Operator.AutopilotState': {
    kind: 'query',
    acl: operatorReadAcl,
    run: (c) => {
      const h = autopilotOf(c).health();
      return Promise.resolve({ value: stateReply(h.servers, h.leaderId), meta: leaderView(c) });
    },
  } satisfies QueryEndpoint<unknown>,
  /** Consul's Operator.RaftLeaderTransfer: answers once the leadership has moved. */
  'Operator.RaftTransferLeader': {
    kind: 'write',
    acl: operatorWriteAcl,
    run: async (c, a) => {
      if (!c.raft.transferLeadership)
        throw new ConsulError(ErrorCode.Internal, 'this server cannot transfer leadership');
      const to = await c.raft.transferLeadership(a.id === undefined || a.id === '' ? undefined : a.id);
      return { Success: true, Leader: to };
    },
  } satisfies WriteEndpoint<{ id?: string }>,
};
