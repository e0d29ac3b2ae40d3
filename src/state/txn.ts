// Consul's /v1/txn for KV: every operation applies or none does. Errors use Consul's wording, and
// results follow Consul: each op that names an entry returns it, with the value only for reads.

import { ConsulError, ErrorCode, badRequest } from '../core/errors.js';
import type { StateStore } from './store.js';
import type { KVEntry } from './types.js';

export const TXN_MAX_OPS = 128;

export type KVVerb =
  | 'set'
  | 'cas'
  | 'lock'
  | 'unlock'
  | 'get'
  | 'get-tree'
  | 'check-index'
  | 'check-session'
  | 'check-not-exists'
  | 'delete'
  | 'delete-tree'
  | 'delete-cas';

const VERBS = new Set<string>([
  'set',
  'cas',
  'lock',
  'unlock',
  'get',
  'get-tree',
  'check-index',
  'check-session',
  'check-not-exists',
  'delete',
  'delete-tree',
  'delete-cas',
]);
const READ_VERBS = new Set<string>(['get', 'get-tree', 'check-index', 'check-session', 'check-not-exists']);

export interface TxnKVOp {
  Verb: KVVerb;
  Key: string;
  Value: Uint8Array | null;
  Flags: number;
  /** The ModifyIndex a cas / check-index / delete-cas expects. */
  Index: number;
  Session: string;
}

export interface TxnOp {
  KV: TxnKVOp;
}

export interface TxnResult {
  Results: { KV: KVEntry }[] | null;
  Errors: { OpIndex: number; What: string }[] | null;
}

export function validateTxn(ops: TxnOp[]): void {
  if (!Array.isArray(ops)) throw badRequest('Transaction must be a list of operations');
  if (ops.length > TXN_MAX_OPS) {
    throw new ConsulError(
      ErrorCode.TooLarge,
      `Transaction contains too many operations (${ops.length} > ${TXN_MAX_OPS})`,
    );
  }
  ops.forEach((op, i) => {
    const kv = op?.KV;
    if (!kv || !VERBS.has(kv.Verb))
      throw badRequest(`Operation ${i}: unknown KV verb ${JSON.stringify(kv?.Verb)}`);
    if (kv.Key === '' && kv.Verb !== 'get-tree' && kv.Verb !== 'delete-tree')
      throw badRequest(`Operation ${i}: Key is required for ${kv.Verb}`);
  });
}

export function isReadOnlyTxn(ops: TxnOp[]): boolean {
  return ops.every((op) => READ_VERBS.has(op.KV.Verb));
}

/** A result entry: the entry as it now is, with the value only for reads. */
function result(e: KVEntry, withValue: boolean): { KV: KVEntry } {
  return { KV: withValue ? e : { ...e, Value: null } };
}

function runOp(store: StateStore, index: number, op: TxnKVOp, out: { KV: KVEntry }[]): string | null {
  const cur = store.kvGet(op.Key).value;
  switch (op.Verb) {
    case 'set':
      out.push(result(store.kvSet(index, op.Key, op.Value, op.Flags), false));
      return null;
    case 'cas':
      if (!store.kvCas(index, op.Key, op.Value, op.Flags, op.Index))
        return `failed to set key "${op.Key}", index is stale`;
      out.push(result(store.kvGet(op.Key).value as KVEntry, false));
      return null;
    case 'lock':
    case 'unlock':
    case 'check-session':
      // No session can exist yet (sessions arrive with the agent's session API).
      if (op.Verb === 'check-session') {
        if (!cur) return `key "${op.Key}" doesn't exist`;
        if ((cur.Session ?? '') !== op.Session)
          return `current session "${cur.Session ?? ''}" != "${op.Session}"`;
        out.push(result(cur, false));
        return null;
      }
      return `failed to ${op.Verb} key "${op.Key}": invalid session "${op.Session}"`;
    case 'get':
      if (!cur) return `key "${op.Key}" doesn't exist`;
      out.push(result(cur, true));
      return null;
    case 'get-tree':
      for (const e of store.kvTree(op.Key)) out.push(result(e, true));
      return null;
    case 'check-index':
      if (!cur) return `key "${op.Key}" doesn't exist`;
      if (cur.ModifyIndex !== op.Index) return `current modify index ${cur.ModifyIndex} != ${op.Index}`;
      out.push(result(cur, false));
      return null;
    case 'check-not-exists':
      if (cur) return `key "${op.Key}" exists`;
      return null;
    case 'delete':
      store.kvDelete(index, op.Key);
      return null;
    case 'delete-tree':
      store.kvDeleteTree(index, op.Key);
      return null;
    case 'delete-cas':
      if (!store.kvDeleteCas(index, op.Key, op.Index))
        return `failed to delete key "${op.Key}", index is stale`;
      return null;
  }
}

/** Applies a transaction at `index` (FSM only): all of it, or none of it with every error listed. */
export function applyTxn(store: StateStore, index: number, ops: TxnOp[]): TxnResult {
  const results: { KV: KVEntry }[] = [];
  const errors: { OpIndex: number; What: string }[] = [];
  store.atomically(() => {
    ops.forEach((op, i) => {
      const err = runOp(store, index, op.KV, results);
      if (err) errors.push({ OpIndex: i, What: err });
    });
    return errors.length === 0;
  });
  return errors.length > 0 ? { Results: null, Errors: errors } : { Results: results, Errors: null };
}

/** A read-only transaction against current state (no Raft round). */
export function readTxn(store: StateStore, ops: TxnOp[]): TxnResult {
  const results: { KV: KVEntry }[] = [];
  const errors: { OpIndex: number; What: string }[] = [];
  ops.forEach((op, i) => {
    const err = runOp(store, 0, op.KV, results);
    if (err) errors.push({ OpIndex: i, What: err });
  });
  return errors.length > 0 ? { Results: null, Errors: errors } : { Results: results, Errors: null };
}
