// Raft storage in memory: for -dev (Consul's dev mode keeps nothing on disk) and for tests.

import { emptyHardState, type Entry, type HardState, type SnapshotMeta } from '../types.js';
import type { LoadedState, RaftStorage } from './storage.js';

export class MemoryStorage implements RaftStorage {
  private hard: HardState = { ...emptyHardState };
  private entries: Entry[] = [];
  private snaps: { meta: SnapshotMeta; data: Uint8Array }[] = [];

  async load(): Promise<LoadedState> {
    const snap = this.snaps.at(-1)?.meta ?? null;
    const after = snap?.index ?? 0;
    return {
      hardState: { ...this.hard },
      snapshot: snap,
      entries: this.entries.filter((e) => e.index > after),
    };
  }

  async append(entries: readonly Entry[], hardState: HardState | null): Promise<void> {
    const first = entries[0];
    if (first) {
      const cut = this.entries.findIndex((e) => e.index >= first.index);
      if (cut >= 0) this.entries.length = cut;
      this.entries.push(...entries);
    }
    if (hardState) this.hard = { ...hardState };
  }

  async saveSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    this.snaps.push({ meta, data });
    if (this.snaps.length > 2) this.snaps.shift();
  }

  async installSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    await this.saveSnapshot(meta, data);
    this.entries = [];
  }

  async readSnapshot(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | null> {
    return this.snaps.at(-1) ?? null;
  }

  async compact(upTo: number): Promise<void> {
    this.entries = this.entries.filter((e) => e.index > upTo);
  }

  async close(): Promise<void> {}
}
