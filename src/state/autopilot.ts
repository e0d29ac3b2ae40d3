// The autopilot configuration of a datacenter (Consul's autopilot.Config), kept in Raft so every
// server applies the same settings and an operator's change outlives any one leader. The agent's
// `autopilot {}` block is only the value the first leader writes when there is none yet.
// Durations are milliseconds here; the HTTP API shows them as Go durations ("200ms", "10s").

export interface AutopilotConfig {
  CleanupDeadServers: boolean;
  LastContactThresholdMs: number;
  MaxTrailingLogs: number;
  MinQuorum: number;
  ServerStabilizationTimeMs: number;
  RedundancyZoneTag: string;
  DisableUpgradeMigration: boolean;
  UpgradeVersionTag: string;
}

export interface StoredAutopilotConfig extends AutopilotConfig {
  CreateIndex: number;
  ModifyIndex: number;
}

const isNat = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Why a value is not an AutopilotConfig (undefined when it is one): the FSM's shape check. */
export function malformedAutopilotConfig(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'config must be an object';
  const c = v as Record<string, unknown>;
  for (const k of ['CleanupDeadServers', 'DisableUpgradeMigration'] as const)
    if (typeof c[k] !== 'boolean') return `${k} must be a boolean`;
  for (const k of [
    'LastContactThresholdMs',
    'MaxTrailingLogs',
    'MinQuorum',
    'ServerStabilizationTimeMs',
  ] as const)
    if (!isNat(c[k])) return `${k} must be a non-negative integer`;
  for (const k of ['RedundancyZoneTag', 'UpgradeVersionTag'] as const)
    if (typeof c[k] !== 'string') return `${k} must be a string`;
  return undefined;
}

/** Only the configuration's own fields (a command may carry others; they are not stored). */
export function pickAutopilotConfig(c: AutopilotConfig): AutopilotConfig {
  return {
    CleanupDeadServers: c.CleanupDeadServers,
    LastContactThresholdMs: c.LastContactThresholdMs,
    MaxTrailingLogs: c.MaxTrailingLogs,
    MinQuorum: c.MinQuorum,
    ServerStabilizationTimeMs: c.ServerStabilizationTimeMs,
    RedundancyZoneTag: c.RedundancyZoneTag,
    DisableUpgradeMigration: c.DisableUpgradeMigration,
    UpgradeVersionTag: c.UpgradeVersionTag,
  };
}

/**
 * The table of one row. `cas` null: always written; a number: written only when the stored
 * ModifyIndex equals it (0: only when there is none yet, how a new leader seeds it).
 */
export class AutopilotTable {
  private config: StoredAutopilotConfig | null = null;

  get(): StoredAutopilotConfig | null {
    return this.config;
  }

  set(index: number, c: AutopilotConfig, cas: number | null): boolean {
    if (cas !== null && (this.config?.ModifyIndex ?? 0) !== cas) return false;
    this.config = {
      ...pickAutopilotConfig(c),
      CreateIndex: this.config?.CreateIndex ?? index,
      ModifyIndex: index,
    };
    return true;
  }

  dump(): StoredAutopilotConfig | null {
    return this.config;
  }

  load(c: StoredAutopilotConfig | null | undefined): void {
    this.config = c && malformedAutopilotConfig(c) === undefined ? { ...c } : null;
  }
}
