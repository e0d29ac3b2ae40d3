// Shapes shared by the RPC endpoints and their callers (HTTP routes, forwarding peers).

export interface QueryOptions {
  /** Blocking: return when the result's index exceeds this (0 = answer at once). */
  minIndex: number;
  maxWaitMs?: number;
  /** Any server may answer from its own state. */
  stale: boolean;
  /** The leader confirms it still leads (a quorum round) before answering. */
  consistent: boolean;
}

export type Consistency = 'leader' | 'stale' | 'consistent';

export interface QueryMeta {
  index: number;
  knownLeader: boolean;
  /** Milliseconds since the answering server last heard from the leader (0 on the leader). */
  lastContact: number;
  consistency: Consistency;
  /** Something was left out of the answer because the token may not see it (Consul's ResultsFilteredByACLs). */
  filteredByAcls?: boolean;
}

export interface QueryResult<T> {
  value: T;
  meta: QueryMeta;
}

export const defaultQuery: QueryOptions = { minIndex: 0, stale: false, consistent: false };
