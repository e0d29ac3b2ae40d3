// Dead-server cleanup (Consul's autopilot CleanupDeadServers): which failed servers the leader may
// take out of the Raft configuration. A failed server still counts toward quorum while it is a
// voter, so removing it lets the cluster survive the next failure; removing too many at once could
// hand the cluster to a minority, so the rules are conservative: never more than a minority of the
// voters at a time, and never below min_quorum voters (which defaults to bootstrap_expect here, so
// a three-server cluster only drops its dead server once a replacement has joined).

import type { Autopilot } from '../config/config.js';
import type { AutopilotConfig } from '../state/autopilot.js';

export interface RaftServer {
  id: string;
  voter: boolean;
}

/** Ids of the voters that may be removed now. `failed`: the ids gossip reports as failed. */
export function deadServersToRemove(
  servers: RaftServer[],
  failed: ReadonlySet<string>,
  minQuorum: number,
  selfId: string,
): string[] {
  const voters = servers.filter((s) => s.voter);
  const dead = voters.filter((s) => failed.has(s.id) && s.id !== selfId).map((s) => s.id);
  if (dead.length === 0) return [];
  // Removing half or more at once could leave the remaining voters in a minority of the old set.
  if (dead.length * 2 >= voters.length) return [];
  if (voters.length - dead.length < Math.max(1, minQuorum)) return [];
  return dead;
}

// ---------------------------------------------------------------- server health (Consul's
// raft-autopilot): the leader judges every server in the Raft configuration from what it knows
// itself (gossip status, the follower's replication progress), remembers since when each has been
// healthy, and promotes a non-voter once it has been healthy for ServerStabilizationTime.

/** What the leader knows of one server of the Raft configuration. */
export interface ServerObservation {
  id: string;
  name: string;
  address: string;
  voter: boolean;
  leader: boolean;
  /** Serf's word for the member: alive, leaving, left, failed, none (not in the pool). */
  serfStatus: string;
  version: string;
  /** Milliseconds since the leader last heard from it (0 for the leader; -1 never). */
  lastContactMs: number;
  lastTerm: number;
  lastIndex: number;
  meta: Record<string, string>;
}

export interface ServerHealth extends ServerObservation {
  healthy: boolean;
  /** Epoch milliseconds since which `healthy` has held. */
  stableSince: number;
}

/** The settings health is judged by (a subset of the stored configuration). */
export interface HealthRules {
  LastContactThresholdMs: number;
  MaxTrailingLogs: number;
  ServerStabilizationTimeMs: number;
  /**
   * Added to the threshold: the leader measures contact as the age of the newest message a follower
   * acknowledged, and messages go out once per heartbeat interval, so an up-to-date follower's
   * contact is up to one interval old (Consul's followers time their own last contact instead).
   */
  contactGraceMs?: number;
}

/** Consul's rules: alive in gossip, heard from recently, in the leader's term, not far behind. */
export function isHealthy(
  s: ServerObservation,
  rules: HealthRules,
  term: number,
  leaderIndex: number,
): boolean {
  if (s.serfStatus !== 'alive') return false;
  const limit = rules.LastContactThresholdMs + (rules.contactGraceMs ?? 0);
  if (!s.leader && (s.lastContactMs < 0 || s.lastContactMs > limit)) return false;
  if (s.lastTerm !== term) return false;
  return leaderIndex - s.lastIndex <= rules.MaxTrailingLogs;
}

/** Remembers when each server's health last changed; the leader keeps one while it leads. */
export class HealthTracker {
  private readonly since = new Map<string, { healthy: boolean; at: number }>();

  observe(
    servers: ServerObservation[],
    rules: HealthRules,
    term: number,
    leaderIndex: number,
    now: number,
  ): ServerHealth[] {
    const out: ServerHealth[] = [];
    const seen = new Set<string>();
    for (const s of servers) {
      seen.add(s.id);
      const healthy = isHealthy(s, rules, term, leaderIndex);
      let prev = this.since.get(s.id);
      if (!prev || prev.healthy !== healthy) {
        prev = { healthy, at: now };
        this.since.set(s.id, prev);
      }
      out.push({ ...s, healthy, stableSince: prev.at });
    }
    for (const id of [...this.since.keys()]) if (!seen.has(id)) this.since.delete(id);
    return out;
  }

  reset(): void {
    this.since.clear();
  }
}

/** How many voters could fail without losing quorum: healthy voters beyond a majority. */
export function failureTolerance(servers: ServerHealth[]): number {
  const voters = servers.filter((s) => s.voter);
  const healthy = voters.filter((s) => s.healthy).length;
  return Math.max(0, healthy - (Math.floor(voters.length / 2) + 1));
}

/** Non-voters healthy for at least the stabilization time: the ones to promote now. */
export function stableNonvoters(servers: ServerHealth[], rules: HealthRules, now: number): string[] {
  return servers
    .filter((s) => !s.voter && s.healthy && now - s.stableSince >= rules.ServerStabilizationTimeMs)
    .map((s) => s.id);
}

/** The agent's `autopilot {}` block as the configuration a new leader stores in Raft. */
export function autopilotFromAgent(a: Autopilot): AutopilotConfig {
  return {
    CleanupDeadServers: a.cleanupDeadServers,
    LastContactThresholdMs: Math.round(a.lastContactThresholdMs),
    MaxTrailingLogs: a.maxTrailingLogs,
    MinQuorum: a.minQuorum,
    ServerStabilizationTimeMs: Math.round(a.serverStabilizationTimeMs),
    RedundancyZoneTag: a.redundancyZoneTag,
    DisableUpgradeMigration: a.disableUpgradeMigration,
    UpgradeVersionTag: a.upgradeVersionTag,
  };
}
