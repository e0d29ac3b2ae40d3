// Raft's data: log entries, persistent state, configuration and snapshot metadata. Shared by the pure
// core (raw-node.ts), the storage implementations and the transport.

/** A server's identity: its node ID (a UUID). Addresses can change; the ID never does. */
export type ServerId = string;

export const EntryType = {
  /** An FSM command (opaque bytes to Raft). */
  Command: 0,
  /** A configuration change: data is an encoded Configuration. */
  Config: 1,
  /** The empty entry a new leader appends to commit entries from earlier terms. */
  Noop: 2,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  data: Uint8Array;
}

/** What must survive a crash before the server answers anything that depends on it. */
export interface HardState {
  term: number;
  /** The server voted for in `term`, or '' for none. */
  vote: ServerId;
  commit: number;
}

export interface ServerEntry {
  id: ServerId;
  /** The address last known for this server (host:port of its RPC listener). */
  address: string;
  voter: boolean;
}

export interface Configuration {
  servers: ServerEntry[];
}

export interface SnapshotMeta {
  index: number;
  term: number;
  /** The configuration in effect at `index`. */
  config: Configuration;
}

export const emptyHardState: HardState = { term: 0, vote: '', commit: 0 };
