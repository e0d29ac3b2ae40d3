// Dead-server cleanup (Consul's autopilot CleanupDeadServers): which failed servers the leader may
// take out of the Raft configuration. A failed server still counts toward quorum while it is a
// voter, so removing it lets the cluster survive the next failure; removing too many at once could
// hand the cluster to a minority, so the rules are conservative: never more than a minority of the
// voters at a time, and never below min_quorum voters (which defaults to bootstrap_expect here, so
// a three-server cluster only drops its dead server once a replacement has joined).

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
