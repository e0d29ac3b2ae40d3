// What the KV, catalog, session and prepared-query tables share inside one store: the per-table
// max indexes and the topics the write in progress touched (notified by the store once the write
// is complete).

import type { Watchers } from './watch.js';

export const TABLES = [
  'kvs',
  'tombstones',
  'nodes',
  'services',
  'checks',
  'sessions',
  'coordinates',
  'preparedQueries',
  'aclTokens',
  'aclPolicies',
] as const;
export type Table = (typeof TABLES)[number];
export type TableIndexes = Record<Table, number>;

export interface StoreContext {
  /** The highest Raft index that changed each table. */
  tables: TableIndexes;
  /** Topics touched by the write in progress. */
  touched: Set<string>;
  readonly watchers: Watchers;
}

export function emptyTables(): TableIndexes {
  return {
    kvs: 0,
    tombstones: 0,
    nodes: 0,
    services: 0,
    checks: 0,
    sessions: 0,
    coordinates: 0,
    preparedQueries: 0,
    aclTokens: 0,
    aclPolicies: 0,
  };
}

/** Code-unit order, the same for every replica (no locale). */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Structural equality for plain JSON-like records (key order does not matter, as in Go's DeepEqual). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && bytesEqual(a, b);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ak = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const bk = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ak.length !== bk.length) return false;
  return ak.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

export function bytesEqual(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === b) return true;
  if (a === null || b === null || a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
