// The sessions table (Consul's state/session.go): sessions by ID, and by node so a catalog write can
// find the sessions it may invalidate without a scan. Only the store changes it, inside a write;
// everything here is deterministic (the ID comes from the proposer, never from here).
//
// Index rule: every session read answers with the sessions table index (Consul's maxIndex
// "sessions"), never 0.

import { cmp, type StoreContext } from './context.js';
import { topic, type WatchSet } from './watch.js';
import type { Indexed } from './types.js';

export type SessionBehavior = 'release' | 'delete';

export interface ServiceCheckRef {
  ID: string;
  Namespace: string;
}

/** A session in Consul's JSON shape (LockDelay in nanoseconds, as Go's time.Duration). */
export interface Session {
  ID: string;
  Name: string;
  Node: string;
  NodeChecks: string[];
  ServiceChecks: ServiceCheckRef[] | null;
  LockDelay: number;
  Behavior: SessionBehavior;
  TTL: string;
  CreateIndex: number;
  ModifyIndex: number;
}

/** A session as a create command carries it: everything but the Raft indexes. */
export type SessionInput = Omit<Session, 'CreateIndex' | 'ModifyIndex'>;

/** Consul's structs.MaxLockDelay: a longer delay is honoured only up to this. */
export const MAX_LOCK_DELAY_NS = 60e9;
export const DEFAULT_LOCK_DELAY_NS = 15e9;
/** Consul's session_ttl_min default and structs.SessionTTLMax. */
export const SESSION_TTL_MIN_MS = 10_000;
export const SESSION_TTL_MAX_MS = 86_400_000;
/** Consul's SessionTTLMultiplier: the leader invalidates a TTL session at twice its TTL. */
export const SESSION_TTL_MULTIPLIER = 2;

const nodeKey = (n: string): string => n.toLowerCase();

export class SessionTable {
  private byId = new Map<string, Session>();
  /** node key → session IDs on it */
  private byNode = new Map<string, Set<string>>();

  constructor(private readonly ctx: StoreContext) {}

  // ---------------------------------------------------------------- writes

  insert(index: number, s: SessionInput): Session {
    const rec: Session = { ...s, CreateIndex: index, ModifyIndex: index };
    this.byId.set(s.ID, rec);
    this.index(rec);
    this.touch(index, rec);
    return rec;
  }

  remove(index: number, id: string): Session | undefined {
    const s = this.byId.get(id);
    if (!s) return undefined;
    this.byId.delete(id);
    const nk = nodeKey(s.Node);
    const ids = this.byNode.get(nk);
    ids?.delete(id);
    if (ids?.size === 0) this.byNode.delete(nk);
    this.touch(index, s);
    return s;
  }

  private touch(index: number, s: Session): void {
    this.ctx.tables.sessions = index;
    this.ctx.touched.add(topic.sessions);
    this.ctx.touched.add(topic.session(s.ID));
    this.ctx.touched.add(topic.sessionNode(s.Node));
  }

  private index(s: Session): void {
    const nk = nodeKey(s.Node);
    let ids = this.byNode.get(nk);
    if (!ids) this.byNode.set(nk, (ids = new Set()));
    ids.add(s.ID);
  }

  // ---------------------------------------------------------------- reads

  get(id: string): Session | undefined {
    return this.byId.get(id);
  }

  /** Sessions on a node (case-insensitive), in ID order. */
  onNode(node: string): Session[] {
    const ids = [...(this.byNode.get(nodeKey(node)) ?? [])].sort(cmp);
    return ids.map((id) => this.byId.get(id) as Session);
  }

  info(id: string, ws?: WatchSet): Indexed<Session | null> {
    ws?.add(topic.session(id));
    return { index: this.tableIndex(), value: this.byId.get(id) ?? null };
  }

  list(ws?: WatchSet): Indexed<Session[]> {
    ws?.add(topic.sessions);
    return { index: this.tableIndex(), value: this.all() };
  }

  nodeSessions(node: string, ws?: WatchSet): Indexed<Session[]> {
    ws?.add(topic.sessionNode(node));
    return { index: this.tableIndex(), value: this.onNode(node) };
  }

  /** Every session in ID order. */
  all(): Session[] {
    return [...this.byId.keys()].sort(cmp).map((id) => this.byId.get(id) as Session);
  }

  get size(): number {
    return this.byId.size;
  }

  private tableIndex(): number {
    return this.ctx.tables.sessions || 1;
  }

  // ---------------------------------------------------------------- snapshot

  dump(): Session[] {
    return this.all();
  }

  load(list: Session[]): void {
    this.byId = new Map();
    this.byNode = new Map();
    for (const s of list) {
      this.byId.set(s.ID, s);
      this.index(s);
    }
  }
}
