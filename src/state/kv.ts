// The KV table: entries in a B-tree sorted by key (prefix scans are range scans), the graveyard of
// deleted keys, and Consul's write semantics (kvs.go): CreateIndex survives updates, a set that
// changes nothing writes nothing, CAS with index 0 means "only if absent", and a delete-cas of a key
// that is already gone succeeds.
//
// Index rules (never 0, never backwards while the key or prefix is watched):
//   one key     its ModifyIndex; if absent, its tombstone; else max(kvs, tombstones) table index
//   a prefix    max(ModifyIndex under it, tombstones under it, the reaped floor);
//               if that is 0, max(kvs, tombstones) table index

import { BTree, forPrefix } from './btree.js';
import { bytesEqual, cmp, type StoreContext, type TableIndexes } from './context.js';
import { Graveyard } from './tombstones.js';
import type { KVEntry } from './types.js';

/** What a transaction keeps to roll back to: O(1) copy-on-write clones. */
export interface KvSavepoint {
  tree: BTree<string, KVEntry>;
  graveyard: Graveyard;
  locked: Map<string, string>;
  tables: TableIndexes;
}

/** A snapshot of the table, column by column (smaller than one map per entry). */
export interface KvDump {
  keys: string[];
  values: (Uint8Array | null)[];
  flags: number[];
  create: number[];
  modify: number[];
  lock: number[];
  /** [position in keys, session] for the few entries that carry one. */
  sessions: [number, string][];
  tombstones: { keys: string[]; index: number[]; reapedFloor: number };
}

/**
 * The stored form of a value: null for empty (Consul returns `"Value": null` for an empty PUT), and
 * otherwise a private copy, never a view into a larger buffer we must not keep alive (a network
 * frame, a log entry). Small values are copied into Node's shared buffer pool rather than each into
 * an ArrayBuffer of its own: for 256-byte values that halves their memory.
 */
export function ownBytes(v: Uint8Array | null | undefined): Uint8Array | null {
  if (v === null || v === undefined || v.byteLength === 0) return null;
  return v.byteLength < POOLED_MAX ? Buffer.from(v) : new Uint8Array(v);
}

/** Node pools allocations under half its 8 KiB pool size. */
const POOLED_MAX = 4096;

export class KvTable {
  private tree = new BTree<string, KVEntry>();
  private graveyard = new Graveyard();
  /**
   * Key → session for the keys a session holds, so invalidating a session finds its keys without a
   * scan. Locks are few, so a transaction's savepoint copies it whole.
   */
  private locked = new Map<string, string>();

  constructor(private readonly ctx: StoreContext) {}

  // ---------------------------------------------------------------- writes

  /**
   * Consul's kvsSetTxn. The session is kept unless `session` is given (lock/unlock); an update that
   * changes nothing leaves the entry, its index and every watcher alone and returns the entry as is.
   */
  set(
    index: number,
    key: string,
    value: Uint8Array | null,
    flags: number,
    opts: { session?: string; lockIndex?: number } = {},
  ): KVEntry {
    const prev = this.tree.get(key);
    const bytes = ownBytes(value);
    const session = opts.session ?? prev?.Session ?? '';
    const lockIndex = opts.lockIndex ?? prev?.LockIndex ?? 0;
    if (
      prev &&
      prev.Flags === flags &&
      prev.LockIndex === lockIndex &&
      (prev.Session ?? '') === session &&
      bytesEqual(prev.Value, bytes)
    ) {
      return prev;
    }
    const e: KVEntry = {
      Key: key,
      Value: bytes,
      Flags: flags,
      CreateIndex: prev?.CreateIndex ?? index,
      ModifyIndex: index,
      LockIndex: lockIndex,
    };
    if (session !== '') {
      e.Session = session;
      this.locked.set(key, session);
    } else this.locked.delete(key);
    this.tree.set(key, e);
    this.graveyard.remove(key);
    this.ctx.tables.kvs = index;
    this.ctx.watchers.kvTopics(key, this.ctx.touched);
    return e;
  }

  /** Consul's kvsSetCASTxn: index 0 sets only if the key is absent, else ModifyIndex must match. */
  cas(index: number, key: string, value: Uint8Array | null, flags: number, cas: number): KVEntry | null {
    const prev = this.tree.get(key);
    if (cas === 0 ? prev !== undefined : prev?.ModifyIndex !== cas) return null;
    return this.set(index, key, value, flags);
  }

  /**
   * Consul's kvsLockTxn: `session` (which the caller checked exists) takes the lock on `key`, setting
   * its value. A new holder bumps LockIndex (1 for a new key), the holder re-acquiring keeps it;
   * null when another session holds the lock. LockIndex is the lock's fencing token.
   */
  lock(index: number, key: string, value: Uint8Array | null, flags: number, session: string): KVEntry | null {
    const prev = this.tree.get(key);
    if (prev?.Session && prev.Session !== session) return null;
    const lockIndex = prev ? (prev.Session === session ? prev.LockIndex : prev.LockIndex + 1) : 1;
    return this.set(index, key, value, flags, { session, lockIndex });
  }

  /** Consul's kvsUnlockTxn: only the holder releases (null otherwise); LockIndex stays. */
  unlock(
    index: number,
    key: string,
    value: Uint8Array | null,
    flags: number,
    session: string,
  ): KVEntry | null {
    const prev = this.tree.get(key);
    if (!prev || prev.Session !== session) return null;
    return this.set(index, key, value, flags, { session: '' });
  }

  /** The entries a session holds, in key order. */
  heldBy(session: string): KVEntry[] {
    const keys: string[] = [];
    for (const [k, s] of this.locked) if (s === session) keys.push(k);
    return keys.sort(cmp).map((k) => this.tree.get(k) as KVEntry);
  }

  /** Deletes one key, leaving a tombstone; false if it did not exist (then nothing changes). */
  delete(index: number, key: string): boolean {
    if (!this.tree.has(key)) return false;
    this.tree.delete(key);
    this.locked.delete(key);
    this.graveyard.bury(key, index);
    this.ctx.tables.kvs = index;
    this.ctx.tables.tombstones = index;
    this.ctx.watchers.kvTopics(key, this.ctx.touched);
    return true;
  }

  /** Consul's kvsDeleteCASTxn: a key that is already gone counts as deleted (true). */
  deleteCas(index: number, key: string, cas: number): boolean {
    const prev = this.tree.get(key);
    if (!prev) return true;
    if (prev.ModifyIndex !== cas) return false;
    return this.delete(index, key);
  }

  /** Deletes every key under `prefix` ('' = everything), each with its own tombstone. */
  deleteTree(index: number, prefix: string): number {
    const keys: string[] = [];
    forPrefix(this.tree, prefix, (k) => keys.push(k));
    for (const k of keys) this.delete(index, k);
    return keys.length;
  }

  reap(upTo: number): number {
    return this.graveyard.reap(upTo);
  }

  // ---------------------------------------------------------------- reads

  entry(key: string): KVEntry | undefined {
    return this.tree.get(key);
  }

  /** One key with its index (see the rules at the top). */
  get(key: string): { index: number; value: KVEntry | null } {
    const e = this.tree.get(key);
    if (e) return { index: e.ModifyIndex, value: e };
    return { index: this.graveyard.get(key) ?? (this.tableIndex() || 1), value: null };
  }

  /** Entries under `prefix` in key order. */
  range(prefix: string): KVEntry[] {
    const out: KVEntry[] = [];
    forPrefix(this.tree, prefix, (_k, e) => out.push(e));
    return out;
  }

  list(prefix: string): { index: number; value: KVEntry[] } {
    const entries = this.range(prefix);
    let max = 0;
    for (const e of entries) if (e.ModifyIndex > max) max = e.ModifyIndex;
    return { index: this.prefixIndex(prefix, max), value: entries };
  }

  /**
   * Consul's ?keys&separator=: the keys under `prefix`; with a separator, each key is cut after the
   * first separator that follows the prefix, and repeats are dropped ("a/b/c" under "a/" → "a/b/").
   */
  keys(prefix: string, separator: string): { index: number; value: string[] } {
    const keys: string[] = [];
    let max = 0;
    let last: string | undefined;
    forPrefix(this.tree, prefix, (k, e) => {
      if (e.ModifyIndex > max) max = e.ModifyIndex;
      if (separator === '') {
        keys.push(k);
        return;
      }
      const at = k.indexOf(separator, prefix.length);
      if (at < 0) {
        keys.push(k);
        return;
      }
      const cut = k.slice(0, at + separator.length);
      if (cut !== last) keys.push(cut);
      last = cut;
    });
    return { index: this.prefixIndex(prefix, max), value: keys };
  }

  private prefixIndex(prefix: string, maxModify: number): number {
    const idx = Math.max(maxModify, this.graveyard.maxUnder(prefix), this.graveyard.reapedFloor);
    return idx || this.tableIndex() || 1;
  }

  private tableIndex(): number {
    return Math.max(this.ctx.tables.kvs, this.ctx.tables.tombstones);
  }

  get size(): number {
    return this.tree.size;
  }

  get tombstoneCount(): number {
    return this.graveyard.size;
  }

  tombstone(key: string): number | undefined {
    return this.graveyard.get(key);
  }

  get reapedFloor(): number {
    return this.graveyard.reapedFloor;
  }

  // ---------------------------------------------------------------- transactions

  savepoint(): KvSavepoint {
    return {
      tree: this.tree.clone(),
      graveyard: this.graveyard.clone(),
      locked: new Map(this.locked),
      tables: { ...this.ctx.tables },
    };
  }

  rollback(sp: KvSavepoint): void {
    this.tree = sp.tree;
    this.graveyard = sp.graveyard;
    this.locked = sp.locked;
    Object.assign(this.ctx.tables, sp.tables);
  }

  // ---------------------------------------------------------------- snapshot

  dump(): KvDump {
    const d: KvDump = {
      keys: [],
      values: [],
      flags: [],
      create: [],
      modify: [],
      lock: [],
      sessions: [],
      tombstones: this.graveyard.dump(),
    };
    this.tree.forEach((e, k) => {
      if (e.Session) d.sessions.push([d.keys.length, e.Session]);
      d.keys.push(k);
      d.values.push(e.Value);
      d.flags.push(e.Flags);
      d.create.push(e.CreateIndex);
      d.modify.push(e.ModifyIndex);
      d.lock.push(e.LockIndex);
    });
    return d;
  }

  load(d: KvDump): void {
    const sessions = new Map(d.sessions);
    this.locked = new Map();
    const pairs: [string, KVEntry][] = d.keys.map((k, i) => {
      const e: KVEntry = {
        Key: k,
        Value: ownBytes(d.values[i]),
        Flags: d.flags[i] ?? 0,
        CreateIndex: d.create[i] ?? 0,
        ModifyIndex: d.modify[i] ?? 0,
        LockIndex: d.lock[i] ?? 0,
      };
      const s = sessions.get(i);
      if (s) {
        e.Session = s;
        this.locked.set(k, s);
      }
      return [k, e];
    });
    this.tree = new BTree<string, KVEntry>(pairs);
    this.graveyard = Graveyard.load(d.tombstones);
  }
}
