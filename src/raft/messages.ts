// Messages between Raft servers: a discriminated union on `type`. Requests and responses are both
// one-way messages (as in etcd's raft), so the transport needs no request/response matching and
// replication pipelines naturally.

import type { Entry, ServerId, SnapshotMeta } from './types.js';

interface Envelope {
  from: ServerId;
  to: ServerId;
  term: number;
}

export interface AppendMsg extends Envelope {
  type: 'append';
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  commit: number;
  /** Leader-local sequence number, echoed in the response: proves contact for lease and read-index. */
  seq: number;
}

export interface AppendRespMsg extends Envelope {
  type: 'appendResp';
  /** On success: the last index now known to match. On reject: the prevIndex that did not match. */
  index: number;
  reject: boolean;
  /** On reject: a hint where the leader should probe next (the follower's best guess of the match). */
  hint: number;
  seq: number;
}

export interface HeartbeatMsg extends Envelope {
  type: 'heartbeat';
  /** min(leader commit, the follower's match): never lets a follower commit what it has not verified. */
  commit: number;
  seq: number;
}

export interface HeartbeatRespMsg extends Envelope {
  type: 'heartbeatResp';
  seq: number;
}

export interface VoteMsg extends Envelope {
  type: 'vote';
  /** A pre-vote asks "would you vote for me at `term`?" without anyone changing term. */
  pre: boolean;
  lastIndex: number;
  lastTerm: number;
  /** Leadership transfer: the old leader asked for this election, so followers' leases do not apply. */
  transfer: boolean;
}

export interface VoteRespMsg extends Envelope {
  type: 'voteResp';
  pre: boolean;
  granted: boolean;
}

export interface SnapshotMsg extends Envelope {
  type: 'snapshot';
  meta: SnapshotMeta;
  /** Filled by the driver from storage just before sending; the pure core never holds snapshot bytes. */
  data?: Uint8Array;
  seq: number;
}

export interface TimeoutNowMsg extends Envelope {
  type: 'timeoutNow';
}

export type Message =
  | AppendMsg
  | AppendRespMsg
  | HeartbeatMsg
  | HeartbeatRespMsg
  | VoteMsg
  | VoteRespMsg
  | SnapshotMsg
  | TimeoutNowMsg;

export type MessageType = Message['type'];

/**
 * Messages whose truth depends on this server's own persisted state (acknowledgements and votes,
 * and vote requests whose term and self-vote must survive a crash) are sent only after the Ready
 * they came with is durable. A leader's replication messages can go out before its own write
 * completes: the leader counts itself toward a quorum only once its own disk has the entries.
 */
export function mustPersistBeforeSend(m: Message): boolean {
  switch (m.type) {
    case 'appendResp':
    case 'heartbeatResp':
    case 'vote':
    case 'voteResp':
      return true;
    case 'append':
    case 'heartbeat':
    case 'snapshot':
    case 'timeoutNow':
      return false;
  }
}
