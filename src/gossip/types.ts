// The contract between the gossip core (SWIM with Lifeguard, plus serf-like user events, queries
// and member tags) and everything around it. The core is pure: it is driven by `now` (ms) and an
// injected Rng, and answers with Outputs; the driver (driver.ts) owns sockets, timers, encryption.

/** Consul's serf statuses, plus memberlist's `suspect` (reported as alive over the API). */
export type MemberStatus = 'alive' | 'suspect' | 'failed' | 'left';

export interface Member {
  name: string;
  /** IP address the member gossips on (what it advertises). */
  addr: string;
  /** Gossip port (UDP and TCP). */
  port: number;
  /** Serf tags: role, dc, port (server RPC), id (node ID), expect, build, vsn, ... */
  tags: Record<string, string>;
  incarnation: number;
  status: MemberStatus;
  /** Core time (ms) of the last status change. */
  since: number;
}

export interface UserEvent {
  /** Lamport time of the event. */
  ltime: number;
  name: string;
  payload: Uint8Array;
  /** Unique id chosen by the firing node (a UUID in production). */
  id: string;
  /** Name of the node that fired it. */
  origin: string;
}

export interface QueryRequest {
  /** Unique per origin; the pair (origin, id) identifies the query. */
  id: number;
  ltime: number;
  name: string;
  payload: Uint8Array;
  origin: string;
}

export type MemberEventType = 'join' | 'update' | 'failed' | 'leave' | 'reap';

export type Output =
  /** A UDP packet (plaintext; the driver seals it). `to` is "host:port". */
  | { type: 'send'; to: string; data: Uint8Array }
  /**
   * A TCP request/response exchange (push/pull state sync, the TCP fallback probe). The driver
   * sends `data` as one frame, reads one reply frame, and calls `core.streamReply(id, reply|null)`.
   */
  | { type: 'stream'; id: number; to: string; data: Uint8Array }
  /** A member changed: joined, was updated (tags/address), failed, left, or was reaped. */
  | { type: 'member'; event: MemberEventType; member: Member }
  /** A user event reached this node for the first time. */
  | { type: 'user'; event: UserEvent }
  /** A query reached this node; the driver may answer with `core.respond(query, payload)`. */
  | { type: 'query'; query: QueryRequest }
  /** A response to a query this node started. */
  | { type: 'queryResponse'; id: number; from: string; payload: Uint8Array }
  /** Something a human should see in the log (conflicts, refused joins). */
  | { type: 'log'; level: 'info' | 'warn'; msg: string; fields?: Record<string, unknown> };

export interface GossipTimings {
  probeIntervalMs: number;
  probeTimeoutMs: number;
  /** k members asked to probe indirectly. */
  indirectChecks: number;
  gossipIntervalMs: number;
  gossipNodes: number;
  /** Keep gossiping to a dead member this long so it learns it was declared dead. */
  gossipToTheDeadMs: number;
  suspicionMult: number;
  suspicionMaxTimeoutMult: number;
  retransmitMult: number;
  /** Base interval; scaled up with the cluster size like memberlist's pushPullScale. */
  pushPullIntervalMs: number;
  /** Lifeguard local health awareness: probe interval/timeout scaled by (score + 1), score < max. */
  awarenessMaxMultiplier: number;
  /** Try to reach a random failed member this often. */
  reconnectIntervalMs: number;
  /** Forget (reap) a failed member after this long. Consul: 72 h. */
  reconnectTimeoutMs: number;
  /** Forget (reap) a member that left after this long. Consul: 24 h. */
  tombstoneTimeoutMs: number;
}

export interface GossipConfig {
  name: string;
  addr: string;
  port: number;
  tags: Record<string, string>;
  timings: GossipTimings;
  /** Budget for one UDP payload before sealing (memberlist: 1400 minus encryption overhead). */
  packetBudget: number;
  /** How many recent user events (and queries) are remembered to drop duplicates. */
  recentEvents: number;
}

/** Consul's LAN profile (memberlist DefaultLANConfig, serf's reconnect/tombstone timeouts). */
export const lanTimings: GossipTimings = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  gossipToTheDeadMs: 30_000,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  retransmitMult: 4,
  pushPullIntervalMs: 30_000,
  awarenessMaxMultiplier: 8,
  reconnectIntervalMs: 30_000,
  reconnectTimeoutMs: 72 * 3600_000,
  tombstoneTimeoutMs: 24 * 3600_000,
};

/** Consul's WAN profile (memberlist DefaultWANConfig). */
export const wanTimings: GossipTimings = {
  ...lanTimings,
  probeIntervalMs: 5000,
  probeTimeoutMs: 3000,
  gossipIntervalMs: 500,
  gossipNodes: 4,
  gossipToTheDeadMs: 60_000,
  suspicionMult: 6,
  pushPullIntervalMs: 60_000,
};

/** `-dev` and tests: everything ten times faster than LAN. */
export const fastTimings: GossipTimings = {
  ...lanTimings,
  probeIntervalMs: 100,
  probeTimeoutMs: 50,
  gossipIntervalMs: 20,
  gossipToTheDeadMs: 3000,
  pushPullIntervalMs: 3000,
  reconnectIntervalMs: 1000,
};
