// Durable Raft state: the log, the hard state (term, vote, commit) and snapshots. The core never
// touches storage; the driver writes what each Ready asks for and reads everything back at start.

import type { Entry, HardState, SnapshotMeta } from '../types.js';

export interface LoadedState {
  /** emptyHardState if never written. */
  hardState: HardState;
  /** The newest valid snapshot's metadata. */
  snapshot: SnapshotMeta | null;
  /** Contiguous entries with index > snapshot.index (or from 1), in order. */
  entries: Entry[];
}

export interface RaftStorage {
  load(): Promise<LoadedState>;
  /** Durably appends entries and/or sets the hard state; resolves after fsync. entries[0].index may be <= the
   * current last index: the log is truncated from that index first (a leader overwrote a conflicting suffix).
   * Calls made while a write is in flight are coalesced: one write + one fdatasync for all of them (group commit),
   * and each promise resolves when its own data is durable. Order of calls is preserved. */
  append(entries: readonly Entry[], hardState: HardState | null): Promise<void>;
  /** A snapshot of the FSM at meta.index (taken locally). Written to a temp file, fsynced, renamed, dir fsynced.
   * Keeps the log (compaction is separate). Keeps the 2 newest snapshots, deletes older. */
  saveSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void>;
  /** A snapshot received from the leader: saved like saveSnapshot, and the whole log is discarded (the log
   * continues at meta.index + 1). */
  installSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void>;
  readSnapshot(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | null>;
  /** Entries with index <= upTo are no longer needed; whole segments may be deleted. Never deletes anything
   * load() would still need (the newest hard state, entries > upTo). */
  compact(upTo: number): Promise<void>;
  close(): Promise<void>;
}
