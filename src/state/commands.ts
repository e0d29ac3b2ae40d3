// FSM commands: what a Raft log entry asks the state store to do, as a union on `type`. Encoded with
// msgpack (plain maps, no shared record structures, so any version can read any entry); the type
// selects the handler in fsm.ts's table.
//
// Results: kvSet, kvDelete, kvDeleteTree, register, deregister, tombstoneReap, sessionDestroy,
// coordinateBatchUpdate, preparedQuerySet, preparedQueryDelete, aclTokenDelete, aclPolicyDelete,
// snapshotRestore → true;
// autopilotSetConfig → boolean (false: the CAS failed);
// aclBootstrap, aclTokenSet → the stored token; aclPolicySet → the stored policy; kvCas, kvDeleteCas, kvLock, kvUnlock → boolean;
// txn → TxnResult; sessionCreate → the ID; a malformed command → an Error (never thrown).

import { Packr } from 'msgpackr';
import { malformedOp, TXN_MAX_OPS, type TxnOp } from './txn.js';
import type { PreparedQueryInput } from './prepared-queries.js';
import type { AclPolicyInput, AclTokenInput } from './acl.js';
import type { SessionInput } from './sessions.js';
import type { CoordinateEntry } from './coordinates.js';
import { isValidCoordinate } from '../coordinate/vivaldi.js';
import type { DeregisterRequest, RegisterRequest } from './types.js';
import { malformedAutopilotConfig, type AutopilotConfig } from './autopilot.js';

export type FsmCommand =
  | { type: 'kvSet'; key: string; value: Uint8Array | null; flags: number }
  /** index 0: set only if absent; otherwise only if the key's ModifyIndex is `index`. */
  | { type: 'kvCas'; key: string; value: Uint8Array | null; flags: number; index: number }
  | { type: 'kvDelete'; key: string }
  /** Consul's delete-cas: false only if the key exists with another ModifyIndex. */
  | { type: 'kvDeleteCas'; key: string; index: number }
  | { type: 'kvDeleteTree'; prefix: string }
  /** ?acquire: `session` takes the lock (false if another holds it). */
  | { type: 'kvLock'; key: string; value: Uint8Array | null; flags: number; session: string }
  /** ?release: the holder lets go (false if it does not hold it). */
  | { type: 'kvUnlock'; key: string; value: Uint8Array | null; flags: number; session: string }
  /** The session's ID was drawn by the proposer, so replicas agree on it. */
  | { type: 'sessionCreate'; session: SessionInput }
  /** Explicit destroy and every invalidation the leader decides (TTL expiry). */
  | { type: 'sessionDestroy'; id: string }
  | { type: 'txn'; ops: TxnOp[] }
  | { type: 'register'; req: RegisterRequest }
  | { type: 'deregister'; req: DeregisterRequest }
  /** Drops KV tombstones at or below `upTo` (the leader proposes it once they outlive their TTL). */
  | { type: 'tombstoneReap'; upTo: number }
  /** The leader's batch of nodes' LAN coordinates (Consul's CoordinateBatchUpdateType). */
  | { type: 'coordinateBatchUpdate'; updates: CoordinateEntry[] }
  /** Create or update; a new query's ID was drawn by the proposer, so replicas agree on it. */
  | { type: 'preparedQuerySet'; query: PreparedQueryInput }
  | { type: 'preparedQueryDelete'; id: string }
  /** The one ACL bootstrap; resetIndex 0, or the index of the last bootstrap to allow another. */
  | { type: 'aclBootstrap'; token: AclTokenInput; resetIndex: number }
  /** Create or update; IDs, secret, CreateTime and Hash were set by the proposer. */
  | { type: 'aclTokenSet'; token: AclTokenInput }
  | { type: 'aclTokenDelete'; accessorId: string }
  | { type: 'aclPolicySet'; policy: AclPolicyInput }
  | { type: 'aclPolicyDelete'; id: string }
  /**
   * A snapshot archive's state, already verified by the leader, replacing every table (Consul's
   * Snapshot.Restore, which goes through Raft so that every server takes it).
   */
  | { type: 'snapshotRestore'; state: Uint8Array }
  /** Consul's AutopilotRequestType; `cas` null: unconditional. */
  | { type: 'autopilotSetConfig'; config: AutopilotConfig; cas: number | null };

export type Command = FsmCommand;
export type FsmCommandType = FsmCommand['type'];

/**
 * Plain maps in, plain objects out; byte strings (msgpack bin) come back as plain Uint8Array copies
 * of their own, not views that would keep a whole log entry or snapshot alive.
 */
export const packr = new Packr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

/** A plain Uint8Array view of the same bytes (a Buffer would make msgpackr hand back Buffers). */
export function plainBytes(data: Uint8Array): Uint8Array {
  return data.constructor === Uint8Array
    ? data
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function encodeCommand(c: FsmCommand): Uint8Array {
  return packr.pack(c);
}

/** Throws on bytes that are not msgpack; does not check the shape (see checkCommand). */
export function decodeCommand(data: Uint8Array): FsmCommand {
  return packr.unpack(plainBytes(data)) as FsmCommand;
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isBytes = (v: unknown): boolean => v === null || v instanceof Uint8Array;
const isObj = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

type Shape = (c: Record<string, unknown>) => string | undefined;

const need = (ok: boolean, why: string): string | undefined => (ok ? undefined : why);

const shapes: Record<FsmCommandType, Shape> = {
  kvSet: (c) =>
    need(isStr(c['key']), 'key must be a string') ??
    need(isBytes(c['value']), 'value must be bytes or null') ??
    need(isNat(c['flags']), 'flags must be a non-negative integer'),
  kvCas: (c) => shapes.kvSet(c) ?? need(isNat(c['index']), 'index must be a non-negative integer'),
  kvDelete: (c) => need(isStr(c['key']), 'key must be a string'),
  kvDeleteCas: (c) =>
    need(isStr(c['key']), 'key must be a string') ??
    need(isNat(c['index']), 'index must be a non-negative integer'),
  kvDeleteTree: (c) => need(isStr(c['prefix']), 'prefix must be a string'),
  kvLock: (c) => shapes.kvSet(c) ?? need(isStr(c['session']), 'session must be a string'),
  kvUnlock: (c) => shapes.kvSet(c) ?? need(isStr(c['session']), 'session must be a string'),
  sessionCreate: (c) => malformedSession(c['session']),
  sessionDestroy: (c) => need(isStr(c['id']), 'id must be a string'),
  txn: (c) => {
    const ops = c['ops'];
    if (!Array.isArray(ops)) return 'ops must be a list';
    if (ops.length > TXN_MAX_OPS) return `more than ${TXN_MAX_OPS} operations`;
    for (let i = 0; i < ops.length; i++) {
      const why = malformedOp(ops[i]);
      if (why) return `operation ${i}: ${why}`;
    }
    return undefined;
  },
  register: (c) => need(isObj(c['req']), 'req must be an object'),
  deregister: (c) => need(isObj(c['req']), 'req must be an object'),
  tombstoneReap: (c) => need(isNat(c['upTo']), 'upTo must be a non-negative integer'),
  coordinateBatchUpdate: (c) => {
    const updates = c['updates'];
    if (!Array.isArray(updates)) return 'updates must be a list';
    for (let i = 0; i < updates.length; i++) {
      const u = updates[i] as Record<string, unknown> | null;
      if (!isObj(u) || !isStr(u?.['Node']) || u['Node'] === '' || !isStr(u['Segment'])) {
        return `update ${i}: Node and Segment must be strings`;
      }
      if (!isValidCoordinate(u['Coord'])) return `update ${i}: invalid coordinate`;
    }
    return undefined;
  },
  preparedQuerySet: (c) =>
    need(isObj(c['query']), 'query must be an object') ??
    need(isStr((c['query'] as { ID?: unknown }).ID), 'query ID must be a string'),
  preparedQueryDelete: (c) => need(isStr(c['id']), 'id must be a string'),
  aclBootstrap: (c) =>
    malformedToken(c['token']) ?? need(isNat(c['resetIndex']), 'resetIndex must be a non-negative integer'),
  aclTokenSet: (c) => malformedToken(c['token']),
  aclTokenDelete: (c) => need(isStr(c['accessorId']), 'accessorId must be a string'),
  aclPolicySet: (c) => malformedPolicy(c['policy']),
  aclPolicyDelete: (c) => need(isStr(c['id']), 'id must be a string'),
  snapshotRestore: (c) => need(c['state'] instanceof Uint8Array, 'state must be bytes'),
  autopilotSetConfig: (c) =>
    malformedAutopilotConfig(c['config']) ??
    need(c['cas'] === null || isNat(c['cas']), 'cas must be null or a non-negative integer'),
};

function malformedToken(v: unknown): string | undefined {
  if (!isObj(v)) return 'token must be an object';
  const t = v as Record<string, unknown>;
  const links = t['Policies'];
  return (
    need(isStr(t['AccessorID']) && t['AccessorID'] !== '', 'AccessorID must be a non-empty string') ??
    need(isStr(t['SecretID']) && t['SecretID'] !== '', 'SecretID must be a non-empty string') ??
    need(
      isStr(t['Description']) && isStr(t['CreateTime']) && isStr(t['Hash']),
      'Description, CreateTime and Hash must be strings',
    ) ??
    need(typeof t['Local'] === 'boolean', 'Local must be a boolean') ??
    need(
      Array.isArray(links) && links.every((l) => isObj(l) && isStr((l as { ID?: unknown }).ID)),
      'Policies must be a list of {ID}',
    )
  );
}

function malformedPolicy(v: unknown): string | undefined {
  if (!isObj(v)) return 'policy must be an object';
  const p = v as Record<string, unknown>;
  const dcs = p['Datacenters'];
  return (
    need(isStr(p['ID']) && p['ID'] !== '', 'ID must be a non-empty string') ??
    need(isStr(p['Name']) && p['Name'] !== '', 'Name must be a non-empty string') ??
    need(
      isStr(p['Description']) && isStr(p['Rules']) && isStr(p['Hash']),
      'Description, Rules and Hash must be strings',
    ) ??
    need(dcs === null || isStrList(dcs), 'Datacenters must be a list of strings or null')
  );
}

const isStrList = (v: unknown): boolean => Array.isArray(v) && v.every(isStr);

function malformedSession(v: unknown): string | undefined {
  if (!isObj(v)) return 'session must be an object';
  const s = v as Record<string, unknown>;
  const checks = s['ServiceChecks'];
  return (
    need(isStr(s['ID']) && s['ID'] !== '', 'session ID must be a non-empty string') ??
    need(isStr(s['Name']) && isStr(s['Node']) && isStr(s['TTL']), 'Name, Node and TTL must be strings') ??
    need(isStrList(s['NodeChecks']), 'NodeChecks must be a list of strings') ??
    need(
      checks === null ||
        (Array.isArray(checks) && checks.every((c) => isObj(c) && isStr((c as { ID?: unknown }).ID))),
      'ServiceChecks must be a list of {ID, Namespace}',
    ) ??
    need(isNat(s['LockDelay']), 'LockDelay must be a non-negative integer') ??
    need(s['Behavior'] === 'release' || s['Behavior'] === 'delete', 'Behavior must be release or delete')
  );
}

/** Why a decoded command cannot be applied (undefined when it is well-formed). */
export function checkCommand(c: unknown): string | undefined {
  if (!isObj(c)) return 'command must be a map';
  const type = (c as { type?: unknown }).type;
  if (!isStr(type) || !Object.hasOwn(shapes, type)) return `unknown command type ${JSON.stringify(type)}`;
  const why = shapes[type as FsmCommandType](c as Record<string, unknown>);
  return why === undefined ? undefined : `malformed ${type} command: ${why}`;
}
