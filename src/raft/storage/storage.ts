// Durable Raft state: the log, the hard state (term, vote, commit) and snapshots. The core never
// touches storage; the driver writes what each Ready asks for and reads everything back at start.

import type { Entry, HardState, SnapshotMeta } from '../types.js';

export interface LoadedState {
  hardState: HardState;
  /** The newest valid snapshot's metadata. */
  snapshot: SnapshotMeta | null;
  /** Contiguous entries after the snapshot (or from index 1), in order. */
  entries: Entry[];
}

export interface RaftStorage {
  load(): Promise<LoadedState>;
  /**
   * Durably appends entries and/or sets the hard state; resolves after fsync. entries[0].index may
   * be <= the last index: the log is truncated from there first. Calls made while a write is in
   * flight are coalesced into one write and one fsync (group commit), in call order.
   */
  append(entries: readonly Entry[], hardState: HardState | null): Promise<void>;
  /** A snapshot taken here: temp file, fsync, rename, directory fsync. Keeps the two newest. */
  saveSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void>;
  /** A snapshot from the leader: saved as above, and the whole log is discarded. */
  installSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void>;
  readSnapshot(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | null>;
  /** Entries up to `upTo` are no longer needed (whole segments may go). */
  compact(upTo: number): Promise<void>;
  close(): Promise<void>;
}
