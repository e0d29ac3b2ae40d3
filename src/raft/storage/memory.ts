// Raft storage in memory: for -dev (Consul's dev mode keeps nothing on disk) and for tests. Same rules as
// FileStorage (truncation, gap refusal, snapshot rotation, install discarding the log), so code tested on one
// behaves the same on the other. close() keeps the data: load() on the same instance plays "reopen".

import { ConsulError, ErrorCode } from '../../core/errors.js';
import { emptyHardState, type Entry, type HardState, type SnapshotMeta } from '../types.js';
import type { LoadedState, RaftStorage } from './storage.js';

interface Snap {
  meta: SnapshotMeta;
  data: Uint8Array;
}

export class MemoryStorage implements RaftStorage {
  private hard: HardState = { ...emptyHardState };
  /** Contiguous. */
  private log: Entry[] = [];
  /** Newest first, at most two. */
  private snaps: Snap[] = [];
  private lastIndex = 0;
  private open = false;

  async load(): Promise<LoadedState> {
    const snap = this.snaps[0]?.meta ?? null;
    const base = snap?.index ?? 0;
    let entries = this.log;
    const first = entries[0];
    if (first && first.index > base + 1) {
      throw new ConsulError(
        ErrorCode.Corrupt,
        `raft storage corrupt: memory: the log starts at index ${first.index} but the snapshot ends at ${base}`,
      );
    }
    if (first && first.index <= base) entries = entries.slice(base + 1 - first.index);
    this.lastIndex = Math.max(base, entries.at(-1)?.index ?? 0);
    this.open = true;
    return { hardState: { ...this.hard }, snapshot: snap, entries: [...entries] };
  }

  async append(entries: readonly Entry[], hardState: HardState | null): Promise<void> {
    this.check();
    const first = entries[0];
    if (first) {
      if (first.index < 1 || first.index > this.lastIndex + 1) {
        throw new ConsulError(
          ErrorCode.Internal,
          `raft storage: append at index ${first.index} would leave a gap after ${this.lastIndex}`,
        );
      }
      entries.forEach((e, i) => {
        if (e.index !== first.index + i) {
          throw new ConsulError(ErrorCode.Internal, 'raft storage: entries not contiguous');
        }
      });
      const head = this.log[0]?.index;
      if (head !== undefined) this.log.length = Math.max(0, Math.min(this.log.length, first.index - head));
      // Copies: the caller may reuse its objects, and a disk would not see later changes either.
      for (const e of entries) this.log.push({ ...e, data: e.data.slice() });
      this.lastIndex = first.index + entries.length - 1;
    }
    if (hardState) this.hard = { ...hardState };
  }

  async saveSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    this.check();
    this.keep({ meta, data: data.slice() });
  }

  async installSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    this.check();
    this.keep({ meta, data: data.slice() });
    this.log = [];
    this.lastIndex = meta.index;
  }

  async readSnapshot(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | null> {
    return this.snaps[0] ?? null;
  }

  async compact(upTo: number): Promise<void> {
    this.check();
    const head = this.log[0]?.index;
    if (head !== undefined && upTo >= head) this.log = this.log.slice(upTo + 1 - head);
  }

  async close(): Promise<void> {
    this.open = false;
  }

  private keep(s: Snap): void {
    this.snaps = this.snaps.filter((x) => x.meta.index !== s.meta.index || x.meta.term !== s.meta.term);
    this.snaps.push(s);
    this.snaps.sort((a, b) => b.meta.index - a.meta.index || b.meta.term - a.meta.term);
    this.snaps.length = Math.min(this.snaps.length, 2);
  }

  private check(): void {
    if (!this.open) throw new ConsulError(ErrorCode.Internal, 'raft storage: not loaded, or closed');
  }
}
