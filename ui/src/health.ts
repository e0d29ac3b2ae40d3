// Health as the UI summarises it: the worst status wins (critical over warning over passing),
// the way Consul's health endpoints rank an instance by its checks.

import type { CheckStatus, HealthCheck, ServiceSummary } from './types.js';

/** 'none' when there is no check at all: neither healthy nor failing, said as such. */
export type Health = CheckStatus | 'none';

const RANK: Record<Health, number> = { none: 0, passing: 1, warning: 2, critical: 3 };

export function worst(statuses: Iterable<Health>): Health {
  let w: Health = 'none';
  for (const s of statuses) if (RANK[s] > RANK[w]) w = s;
  return w;
}

export function checksHealth(checks: readonly HealthCheck[] | null): Health {
  return worst((checks ?? []).map((c) => c.Status));
}

export function summaryHealth(s: ServiceSummary): Health {
  if (s.ChecksCritical > 0) return 'critical';
  if (s.ChecksWarning > 0) return 'warning';
  if (s.ChecksPassing > 0) return 'passing';
  return 'none';
}

/** Node-level checks (no ServiceID): they decide whether the node itself is healthy. */
export function nodeChecks(checks: readonly HealthCheck[] | null): HealthCheck[] {
  return (checks ?? []).filter((c) => c.ServiceID === '');
}

export function countByStatus(checks: readonly HealthCheck[] | null): Record<CheckStatus, number> {
  const n = { passing: 0, warning: 0, critical: 0 };
  for (const c of checks ?? []) n[c.Status]++;
  return n;
}
