// The DNS answer cache. Two levels:
//  - data entries: one per catalog read a name needs (a service with a tag in a datacenter, a node,
//    the node list), each kept fresh by its own blocking query, the same mechanism HTTP watchers
//    use, so it wakes on exactly the data it read and costs nothing while that data is still;
//  - front entries: the prepared answer (wire.ts) for one question (lower-cased name and type),
//    linked to the data entry it was built from and dropped the moment that entry changes.
// A repeated question is one Map lookup. Entries nobody asked for in `idleMs` stop their blocking
// query and go; both levels are bounded.

import { sleep } from '../core/clock.js';
import { ConsulError, ErrorCode } from '../core/errors.js';
import type { CheckServiceNode, Node, NodeServices } from '../state/types.js';
import type { LookupData } from './answers.js';
import type { Lookup } from './names.js';
import type { Prepared } from './wire.js';

/** Too many first fetches in flight: the question is dropped and its client retries. */
export class CacheBusyError extends ConsulError {
  constructor() {
    super(ErrorCode.Unavailable, 'too many DNS lookups in flight');
  }
}

/** A catalog read, as the endpoint table names it (args without `q`). */
export interface DataRequest {
  key: string;
  method: 'Health.ServiceNodes' | 'Catalog.NodeServices' | 'Catalog.ListNodes';
  args: Record<string, unknown>;
  kind: LookupData['kind'];
}

/** What the cache needs from the agent: one read, blocking while its index is still `minIndex`. */
export type Fetch = (
  req: DataRequest,
  minIndex: number,
  signal: AbortSignal,
) => Promise<{ index: number; value: unknown }>;

/** The read a lookup needs; null when the answer needs no catalog data. */
export function dataRequest(l: Lookup, datacenter: string): DataRequest | null {
  switch (l.kind) {
    case 'service':
      return {
        key: `s\0${l.dc}\0${l.service}\0${l.tag}`,
        method: 'Health.ServiceNodes',
        args: { dc: l.dc, service: l.service, tags: l.tag === '' ? [] : [l.tag], passing: false },
        kind: 'service',
      };
    case 'node':
      return {
        key: `n\0${l.dc}\0${l.node}`,
        method: 'Catalog.NodeServices',
        args: { dc: l.dc, node: l.node },
        kind: 'node',
      };
    case 'ptr':
      return {
        key: `ns\0${datacenter}`,
        method: 'Catalog.ListNodes',
        args: { dc: datacenter },
        kind: 'nodes',
      };
    case 'apex':
      // NS names the servers: the instances of the "consul" service.
      return {
        key: `s\0${datacenter}\0consul\0`,
        method: 'Health.ServiceNodes',
        args: { dc: datacenter, service: 'consul', tags: [], passing: false },
        kind: 'service',
      };
    case 'addr':
    case 'query':
    case 'unknown':
    case 'outside':
      return null;
  }
}

function toData(kind: LookupData['kind'], value: unknown): LookupData {
  switch (kind) {
    case 'service':
      return { kind, rows: Array.isArray(value) ? (value as CheckServiceNode[]) : [] };
    case 'node':
      return { kind, node: (value as NodeServices | null) ?? null };
    case 'nodes':
      return { kind, nodes: Array.isArray(value) ? (value as Node[]) : [] };
    case 'none':
      return { kind };
  }
}

export interface DataEntry {
  readonly req: DataRequest;
  index: number;
  data: LookupData;
  lastUsed: number;
  /** Front keys built from this entry. */
  readonly fronts: Set<string>;
  readonly ctrl: AbortController;
}

interface FrontEntry {
  prepared: Prepared;
  entry: DataEntry | null;
}

export interface CacheOptions {
  fetch: Fetch;
  /** Data entries kept at most (each holds one blocking query). */
  maxEntries?: number;
  /** Front entries kept at most. */
  maxFronts?: number;
  /** An entry nobody asked for in this long stops its blocking query and goes. */
  idleMs?: number;
  /** A first fetch taking longer than this fails (the question gets SERVFAIL, not a hang). */
  fillTimeoutMs?: number;
  /** First fetches in flight at most; past it a question is dropped (its client retries). */
  maxPending?: number;
  now?: () => number;
}

export class DnsCache {
  private readonly data = new Map<string, DataEntry>();
  private readonly pending = new Map<string, Promise<DataEntry>>();
  private readonly front = new Map<string, FrontEntry>();
  private readonly fetch: Fetch;
  private readonly maxEntries: number;
  private readonly maxFronts: number;
  private readonly idleMs: number;
  private readonly fillTimeoutMs: number;
  private readonly maxPending: number;
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;
  private readonly ticker: NodeJS.Timeout;
  /** The time to a second, for lastUsed: a hit need not read the clock. */
  private coarseNow: number;
  private stopped = false;

  constructor(o: CacheOptions) {
    this.fetch = o.fetch;
    this.maxEntries = o.maxEntries ?? 1024;
    this.maxFronts = o.maxFronts ?? 16384;
    this.idleMs = o.idleMs ?? 5 * 60_000;
    this.fillTimeoutMs = o.fillTimeoutMs ?? 3000;
    this.maxPending = o.maxPending ?? 512;
    this.now = o.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, this.idleMs / 4));
    this.sweeper.unref();
    this.coarseNow = this.now();
    this.ticker = setInterval(() => (this.coarseNow = this.now()), 1000);
    this.ticker.unref();
  }

  /** The prepared answer for a question key, if one is cached (the hot path). */
  hit(key: string): Prepared | undefined {
    const f = this.front.get(key);
    if (f === undefined) return undefined;
    if (f.entry !== null) f.entry.lastUsed = this.coarseNow;
    return f.prepared;
  }

  /** Remembers a prepared answer built from `entry`'s current data (or from no data at all). */
  put(key: string, p: Prepared, entry: DataEntry | null): void {
    if (this.stopped) return;
    // Built from an entry that went meanwhile: answer with it once, do not keep it.
    if (entry !== null && this.data.get(entry.req.key) !== entry) return;
    if (this.front.size >= this.maxFronts) this.clearFronts();
    this.front.set(key, { prepared: p, entry });
    entry?.fronts.add(key);
  }

  /** The entry for a read, fetching it (once, however many ask at the same time) if needed. */
  load(req: DataRequest): Promise<DataEntry> {
    const e = this.data.get(req.key);
    if (e) {
      e.lastUsed = this.now();
      return Promise.resolve(e);
    }
    const waiting = this.pending.get(req.key);
    if (waiting) return waiting;
    if (this.stopped) return Promise.reject(new ConsulError(ErrorCode.Unavailable, 'DNS cache stopped'));
    if (this.pending.size >= this.maxPending) return Promise.reject(new CacheBusyError());
    const p = this.fill(req).finally(() => this.pending.delete(req.key));
    this.pending.set(req.key, p);
    return p;
  }

  private async fill(req: DataRequest): Promise<DataEntry> {
    const r = await this.fetch(req, 0, AbortSignal.timeout(this.fillTimeoutMs));
    const e: DataEntry = {
      req,
      index: r.index,
      data: toData(req.kind, r.value),
      lastUsed: this.now(),
      fronts: new Set(),
      ctrl: new AbortController(),
    };
    if (this.stopped) return e;
    if (this.data.size >= this.maxEntries) this.evictLeastRecent();
    this.data.set(req.key, e);
    void this.refresh(e);
    return e;
  }

  /** The entry's blocking query: each time its index moves, new data and its answers are dropped. */
  private async refresh(e: DataEntry): Promise<void> {
    const signal = e.ctrl.signal;
    while (!signal.aborted) {
      const started = this.now();
      let r: { index: number; value: unknown };
      try {
        r = await this.fetch(e.req, e.index, signal);
      } catch {
        // The servers could not answer: forget the entry, so the next question asks afresh and
        // gets SERVFAIL if they still cannot (an answer never outlives its data source for long).
        if (!signal.aborted) this.evict(e);
        return;
      }
      if (signal.aborted) return;
      const moved = r.index !== e.index;
      if (moved) {
        e.index = r.index;
        e.data = toData(e.req.kind, r.value);
        this.dropFronts(e);
      }
      // A read that did not block: either the index moved meanwhile (a name that is in no table
      // carries the whole catalog's index, which every write moves) or the other side misbehaves.
      // Pause before the next one, so a busy catalog costs each entry at most ten reads a second.
      if (this.now() - started < 100) await sleep(moved ? 100 : 1000, signal).catch(() => undefined);
    }
  }

  private dropFronts(e: DataEntry): void {
    for (const k of e.fronts) {
      const f = this.front.get(k);
      if (f?.entry === e) this.front.delete(k);
    }
    e.fronts.clear();
  }

  private evict(e: DataEntry): void {
    e.ctrl.abort();
    if (this.data.get(e.req.key) === e) this.data.delete(e.req.key);
    this.dropFronts(e);
  }

  private evictLeastRecent(): void {
    let oldest: DataEntry | null = null;
    for (const e of this.data.values()) if (!oldest || e.lastUsed < oldest.lastUsed) oldest = e;
    if (oldest) this.evict(oldest);
  }

  private clearFronts(): void {
    this.front.clear();
    for (const e of this.data.values()) e.fronts.clear();
  }

  /** Drops entries nobody asked for in idleMs, and answers built from no data (cheap to redo). */
  sweep(): void {
    const cutoff = this.now() - this.idleMs;
    for (const e of [...this.data.values()]) if (e.lastUsed < cutoff) this.evict(e);
  }

  /**
   * Forgets every entry (their blocking queries stop): answers depend on the agent's default token,
   * which changes outside the catalog (PUT /v1/agent/token/default), so nothing would wake them.
   */
  flush(): void {
    for (const e of [...this.data.values()]) this.evict(e);
    this.front.clear();
  }

  /** Sizes, for tests and /v1/agent/self-style diagnostics. */
  stats(): { entries: number; fronts: number; pending: number } {
    return { entries: this.data.size, fronts: this.front.size, pending: this.pending.size };
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.sweeper);
    clearInterval(this.ticker);
    for (const e of [...this.data.values()]) this.evict(e);
    this.front.clear();
  }
}
