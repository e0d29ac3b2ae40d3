// Consul's /v1/txn for KV (agent/consul/state/txn.go, kvs.go): every operation applies or none
// does. Errors carry Consul's wording; results follow Consul: an op that names an entry returns it,
// with its value only for get / get-or-empty / get-tree; delete verbs and check-not-exists return
// nothing.

import { ConsulError, ErrorCode, badRequest } from '../core/errors.js';
import type { KvTable } from './kv.js';
import type { StateStore } from './store.js';
import type { KVEntry } from './types.js';

/** Consul's limit on operations per transaction (agent/txn_endpoint.go maxTxnOps). */
export const TXN_MAX_OPS = 128;

export const KV_VERBS = [
  'set',
  'cas',
  'lock',
  'unlock',
  'get',
  'get-or-empty',
  'get-tree',
  'check-index',
  'check-session',
  'check-not-exists',
  'delete',
  'delete-tree',
  'delete-cas',
] as const;
export type KVVerb = (typeof KV_VERBS)[number];

const VERBS = new Set<string>(KV_VERBS);
/** Verbs that do not write (agent/txn_endpoint.go isWrite): a transaction of only these skips Raft. */
const READ_VERBS = new Set<string>([
  'get',
  'get-or-empty',
  'get-tree',
  'check-index',
  'check-session',
  'check-not-exists',
]);

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

export interface TxnError {
  OpIndex: number;
  What: string;
}

export interface TxnResult {
  Results: { KV: KVEntry }[] | null;
  Errors: TxnError[] | null;
}

/**
 * The checks the HTTP/RPC layer makes before a transaction goes anywhere: a list of at most 128 KV
 * operations with known verbs, and a key wherever Consul requires one (every verb but delete-tree).
 * Too many operations is a 413, anything else a 400, with Consul's wording where it has one.
 */
export function validateTxn(ops: unknown): asserts ops is TxnOp[] {
  if (!Array.isArray(ops)) throw badRequest('Failed to parse body: expected a list of operations');
  if (ops.length > TXN_MAX_OPS) {
    throw new ConsulError(
      ErrorCode.TooLarge,
      `Transaction contains too many operations (${ops.length} > ${TXN_MAX_OPS})`,
    );
  }
  ops.forEach((op: unknown, i) => {
    const why = malformedOp(op);
    if (why) throw badRequest(`Operation ${i}: ${why}`);
    const kv = (op as TxnOp).KV;
    if (!VERBS.has(kv.Verb)) throw badRequest(`Operation ${i}: unknown KV verb "${kv.Verb}"`);
    if (kv.Key === '' && kv.Verb !== 'delete-tree') throw badRequest(`Operation ${i}: Must provide key`);
  });
}

/** Why `op` is not a well-formed KV operation (undefined if it is); the verb may still be unknown. */
export function malformedOp(op: unknown): string | undefined {
  if (typeof op !== 'object' || op === null) return 'expected an object';
  const kv = (op as { KV?: unknown }).KV;
  if (typeof kv !== 'object' || kv === null) return 'only KV operations are supported';
  const o = kv as Record<string, unknown>;
  if (typeof o['Verb'] !== 'string') return 'Verb must be a string';
  if (typeof o['Key'] !== 'string') return 'Key must be a string';
  if (o['Value'] !== null && !(o['Value'] instanceof Uint8Array)) return 'Value must be bytes or null';
  for (const f of ['Flags', 'Index']) {
    const v = o[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return `${f} must be a non-negative integer`;
  }
  if (typeof o['Session'] !== 'string') return 'Session must be a string';
  return undefined;
}

/** True when no operation writes, so the transaction can be served without Raft (Txn.Read). */
export function isReadOnlyTxn(ops: TxnOp[]): boolean {
  return ops.every((op) => READ_VERBS.has(op.KV.Verb));
}

/** A result: the entry as it now is, with its value only for reads (Consul clones and blanks it). */
function result(e: KVEntry, withValue: boolean): { KV: KVEntry } {
  return { KV: withValue ? e : { ...e, Value: null } };
}

/**
 * Runs one operation against the KV table at Raft index `index` (0 for a read-only transaction),
 * appending its results; returns Consul's error text, or null.
 */
function runOp(
  kv: KvTable,
  sessionExists: SessionExists,
  index: number,
  op: TxnKVOp,
  out: { KV: KVEntry }[],
): string | null {
  if (op.Key === '' && op.Verb !== 'delete-tree') return 'Must provide key';
  const cur = kv.entry(op.Key);
  switch (op.Verb) {
    case 'set':
      out.push(result(kv.set(index, op.Key, op.Value, op.Flags), false));
      return null;
    case 'cas': {
      const e = kv.cas(index, op.Key, op.Value, op.Flags, op.Index);
      if (!e) return `failed to set key "${op.Key}", index is stale`;
      out.push(result(e, false));
      return null;
    }
    case 'lock': {
      // Consul's kvsLockTxn: the session must exist; another holder makes the whole txn fail.
      if (op.Session === '') return 'missing session';
      if (!sessionExists(op.Session)) return `invalid session ${JSON.stringify(op.Session)}`;
      const e = kv.lock(index, op.Key, op.Value, op.Flags, op.Session);
      if (!e) return `failed to lock key "${op.Key}", lock is already held`;
      out.push(result(e, false));
      return null;
    }
    case 'unlock': {
      // Only the holder may unlock (kvsUnlockTxn); the session need not exist any more.
      if (op.Session === '') return 'missing session';
      const e = kv.unlock(index, op.Key, op.Value, op.Flags, op.Session);
      if (!e) return `failed to unlock key "${op.Key}", lock isn't held, or is held by another session`;
      out.push(result(e, false));
      return null;
    }
    case 'get':
      if (!cur) return `key "${op.Key}" doesn't exist`;
      out.push(result(cur, true));
      return null;
    case 'get-or-empty':
      out.push(
        result(
          cur ?? {
            Key: op.Key,
            Value: null,
            Flags: op.Flags,
            CreateIndex: 0,
            ModifyIndex: op.Index,
            LockIndex: 0,
          },
          true,
        ),
      );
      return null;
    case 'get-tree':
      for (const e of kv.range(op.Key)) out.push(result(e, true));
      return null;
    case 'check-index':
      if (!cur) return `failed to check index, key "${op.Key}" doesn't exist`;
      if (cur.ModifyIndex !== op.Index) {
        return `failed index check for key "${op.Key}", current modify index ${cur.ModifyIndex} != ${op.Index}`;
      }
      out.push(result(cur, false));
      return null;
    case 'check-session':
      if (!cur) return `failed to check session, key "${op.Key}" doesn't exist`;
      if ((cur.Session ?? '') !== op.Session) {
        return `failed session check for key "${op.Key}", current session "${cur.Session ?? ''}" != "${op.Session}"`;
      }
      out.push(result(cur, false));
      return null;
    case 'check-not-exists':
      if (cur) return `key "${op.Key}" exists`;
      return null;
    case 'delete':
      kv.delete(index, op.Key);
      return null;
    case 'delete-tree':
      kv.deleteTree(index, op.Key);
      return null;
    case 'delete-cas':
      if (!kv.deleteCas(index, op.Key, op.Index)) return `failed to delete key "${op.Key}", index is stale`;
      return null;
    default:
      return `unknown KV verb "${String((op as { Verb: unknown }).Verb)}"`;
  }
}

/** Whether a session exists in the store the transaction runs against (lock needs a live one). */
export type SessionExists = (id: string) => boolean;

/** Runs every operation, collecting results and errors (Consul's txnDispatch). */
export function dispatchTxn(
  kv: KvTable,
  sessionExists: SessionExists,
  index: number,
  ops: TxnOp[],
): TxnResult {
  const results: { KV: KVEntry }[] = [];
  const errors: TxnError[] = [];
  ops.forEach((op, i) => {
    const err = runOp(kv, sessionExists, index, op.KV, results);
    if (err !== null) errors.push({ OpIndex: i, What: err });
  });
  return errors.length > 0 ? { Results: null, Errors: errors } : { Results: results, Errors: null };
}

/**
 * Applies a transaction at `index` (FSM only, inside a write): all of it, or, if any operation
 * fails, none of it, and then no watcher hears of anything.
 */
export function applyTxn(store: StateStore, index: number, ops: TxnOp[]): TxnResult {
  return store.txn(index, ops);
}

/** A read-only transaction against the current state (no Raft round, no writes possible). */
export function readTxn(store: StateStore, ops: TxnOp[]): TxnResult {
  return store.txnRead(ops);
}
