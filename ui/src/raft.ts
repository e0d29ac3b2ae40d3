// Which servers vote and which one leads, from /v1/operator/raft/configuration, keyed by node name.

import type { RaftConfiguration } from './types.js';

export type RaftRole = 'leader' | 'voter' | 'non-voter';

export function raftRoles(cfg: RaftConfiguration | null): Map<string, RaftRole> {
  const roles = new Map<string, RaftRole>();
  for (const s of cfg?.Servers ?? [])
    roles.set(s.Node, s.Leader ? 'leader' : s.Voter ? 'voter' : 'non-voter');
  return roles;
}

export const ROLE_LABEL: Record<RaftRole, string> = {
  leader: 'Leader',
  voter: 'Voter',
  'non-voter': 'Non-voter',
};
