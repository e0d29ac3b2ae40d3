// The in-memory Raft log: a snapshot point plus the entries after it, and the marks that say how
// far the entries are durable (`stable`), agreed (`committed`) and applied (`applied`). The core
// owns the whole log in memory (bounded by snapshot threshold + trailing logs); storage only writes
// it down and reads it back at start.

import type { Configuration, Entry, SnapshotMeta } from './types.js';
import { EntryType } from './types.js';

export class RaftLog {
  /** The compaction point: entries up to snap.index are folded into a snapshot. */
  snap: SnapshotMeta;
  /** entries[i].index === snap.index + 1 + i */
  private entries: Entry[];
  stable: number;
  committed: number;
  applied: number;
  /** Configurations found in the log, oldest first, each with its entry index (base is the snapshot's). */
  private configs: { index: number; config: Configuration }[];

  constructor(snap: SnapshotMeta, entries: Entry[], committed: number) {
    this.snap = snap;
    // Storage may hand back entries the snapshot already covers; the log starts right after it.
    this.entries = entries.filter((e) => e.index > snap.index);
    this.entries.forEach((e, i) => {
      if (e.index !== snap.index + 1 + i)
        throw new Error(
          `raft: log entries not contiguous after snapshot ${snap.index} (found ${e.index} at position ${i})`,
        );
    });
    this.stable = this.lastIndex();
    this.committed = Math.min(Math.max(committed, snap.index), this.lastIndex());
    this.applied = snap.index;
    this.configs = [{ index: snap.index, config: snap.config }];
    for (const e of this.entries)
      if (e.type === EntryType.Config) this.configs.push({ index: e.index, config: decodeConfig(e) });
  }

  firstIndex(): number {
    return this.snap.index + 1;
  }

  lastIndex(): number {
    return this.snap.index + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** The term of entry i, or undefined when i is compacted away or beyond the end. */
  term(i: number): number | undefined {
    if (i === this.snap.index) return this.snap.term;
    if (i < this.snap.index || i > this.lastIndex()) return undefined;
    return (this.entries[i - this.snap.index - 1] as Entry).term;
  }

  entry(i: number): Entry | undefined {
    if (i <= this.snap.index) return undefined;
    return this.entries[i - this.snap.index - 1];
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** Entries in [lo, hi] (inclusive), at most maxBytes of data (always at least one entry). */
  slice(lo: number, hi: number, maxBytes = Infinity, maxCount = Infinity): Entry[] {
    if (lo > hi) return [];
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i <= hi; i++) {
      const e = this.entry(i);
      if (!e) break;
      bytes += e.data.byteLength + 24;
      if (out.length > 0 && (bytes > maxBytes || out.length >= maxCount)) break;
      out.push(e);
    }
    return out;
  }

  /** Entries not yet durable, in order. */
  unstable(): Entry[] {
    return this.entries.slice(this.stable - this.snap.index);
  }

  /** Committed, durable entries not yet applied (at most `max`). */
  toApply(max = Infinity): Entry[] {
    const hi = Math.min(this.committed, this.stable, this.applied + max);
    return this.slice(this.applied + 1, hi);
  }

  /**
   * Appends entries that may overlap the log: entries already present with the same term are
   * skipped; the first conflict truncates the log from there (never below `committed`). Returns the
   * index of the last entry, or throws if the caller tried to rewrite a committed entry (a bug).
   */
  appendMaybeOverlap(incoming: Entry[]): number {
    let start = 0;
    for (; start < incoming.length; start++) {
      const e = incoming[start] as Entry;
      if (e.index <= this.snap.index) continue;
      const t = this.term(e.index);
      if (t === undefined || t !== e.term) break;
    }
    const rest = incoming.slice(start);
    if (rest.length > 0) this.appendAt(rest);
    const last = incoming[incoming.length - 1];
    return last ? last.index : this.lastIndex();
  }

  /** Appends entries at their indexes, truncating any suffix from the first one's index. */
  appendAt(es: Entry[]): void {
    const first = es[0];
    if (!first) return;
    if (first.index <= this.committed) {
      throw new Error(
        `raft: refusing to overwrite committed entry ${first.index} (commit ${this.committed})`,
      );
    }
    if (first.index > this.lastIndex() + 1) {
      throw new Error(`raft: gap appending ${first.index} after ${this.lastIndex()}`);
    }
    const keep = first.index - this.snap.index - 1;
    if (keep < this.entries.length) {
      this.entries.length = keep;
      this.stable = Math.min(this.stable, first.index - 1);
      while (
        this.configs.length > 1 &&
        (this.configs[this.configs.length - 1] as { index: number }).index >= first.index
      ) {
        this.configs.pop();
      }
    }
    for (const e of es) {
      this.entries.push(e);
      if (e.type === EntryType.Config) this.configs.push({ index: e.index, config: decodeConfig(e) });
    }
  }

  /** Marks entries durable up to i, provided the entry there is still the one that was written. */
  stableTo(i: number, t: number): void {
    if (i > this.stable && this.term(i) === t) this.stable = i;
  }

  commitTo(i: number): boolean {
    const to = Math.min(i, this.lastIndex());
    if (to > this.committed) {
      this.committed = to;
      return true;
    }
    return false;
  }

  /** Folds entries up to i into the snapshot point (after the FSM snapshot at i was saved). */
  compact(meta: SnapshotMeta): void {
    if (meta.index <= this.snap.index) return;
    if (meta.index > this.applied)
      throw new Error(`raft: compact ${meta.index} beyond applied ${this.applied}`);
    const drop = meta.index - this.snap.index;
    this.entries = this.entries.slice(drop);
    this.snap = meta;
    this.configs = [
      { index: meta.index, config: meta.config },
      ...this.configs.filter((c) => c.index > meta.index),
    ];
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(meta: SnapshotMeta): void {
    this.snap = meta;
    this.entries = [];
    this.stable = meta.index;
    this.committed = meta.index;
    this.applied = meta.index;
    this.configs = [{ index: meta.index, config: meta.config }];
  }

  /** The configuration in effect: the latest one in the log, committed or not (Raft §4.1). */
  config(): { index: number; config: Configuration } {
    return this.configs[this.configs.length - 1] as { index: number; config: Configuration };
  }

  /** The configuration at or before index i (what a snapshot at i must record). */
  configAt(i: number): Configuration {
    let found = (this.configs[0] as { config: Configuration }).config;
    for (const c of this.configs) if (c.index <= i) found = c.config;
    return found;
  }
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

// Configurations are small and rare; JSON keeps them readable in a hex dump of the log.
export function encodeConfig(c: Configuration): Uint8Array {
  return textEncoder.encode(JSON.stringify(c));
}

export function decodeConfig(e: Entry): Configuration {
  return JSON.parse(textDecoder.decode(e.data)) as Configuration;
}
