// The graveyard: deleted KV keys and the Raft index that deleted them. Without it, deleting the key
// that carried a prefix's highest ModifyIndex would make the prefix's index go backwards, and a
// blocking client would miss the delete. Tombstones are reaped later (Consul: after 15 minutes, by a
// tombstoneReap command the leader proposes); the highest reaped index becomes a floor under every
// prefix index, so even reaping never moves an index back.

import { BTree, forPrefix } from './btree.js';

export class Graveyard {
  private stones: BTree<string, number>;
  /** The highest index of any tombstone ever reaped. */
  reapedFloor = 0;

  constructor(stones?: BTree<string, number>, reapedFloor = 0) {
    this.stones = stones ?? new BTree<string, number>();
    this.reapedFloor = reapedFloor;
  }

  get(key: string): number | undefined {
    return this.stones.get(key);
  }

  bury(key: string, index: number): void {
    this.stones.set(key, index);
  }

  /** A key that exists again needs no tombstone: its entry's ModifyIndex is higher. */
  remove(key: string): void {
    this.stones.delete(key);
  }

  /** The highest tombstone under `prefix` (0 if none). */
  maxUnder(prefix: string): number {
    let max = 0;
    forPrefix(this.stones, prefix, (_k, idx) => {
      if (idx > max) max = idx;
    });
    return max;
  }

  /** Drops every tombstone at or below `upTo`; returns how many went. */
  reap(upTo: number): number {
    const doomed: string[] = [];
    this.stones.forEach((idx, k) => {
      if (idx <= upTo) {
        doomed.push(k);
        if (idx > this.reapedFloor) this.reapedFloor = idx;
      }
    });
    for (const k of doomed) this.stones.delete(k);
    return doomed.length;
  }

  get size(): number {
    return this.stones.size;
  }

  /** O(1) copy-on-write copy (transactions keep one to roll back to). */
  clone(): Graveyard {
    return new Graveyard(this.stones.clone(), this.reapedFloor);
  }

  /** Columns for a snapshot, in key order. */
  dump(): { keys: string[]; index: number[]; reapedFloor: number } {
    const keys: string[] = [];
    const index: number[] = [];
    this.stones.forEach((idx, k) => {
      keys.push(k);
      index.push(idx);
    });
    return { keys, index, reapedFloor: this.reapedFloor };
  }

  static load(d: { keys: string[]; index: number[]; reapedFloor: number }): Graveyard {
    const t = new BTree<string, number>();
    d.keys.forEach((k, i) => t.set(k, d.index[i] ?? 0));
    return new Graveyard(t, d.reapedFloor);
  }
}
