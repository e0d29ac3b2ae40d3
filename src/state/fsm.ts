// The finite state machine Raft drives: one table from command type to handler. Handlers are
// deterministic (no clock, no randomness), so every server that applies the same log holds the same
// state. A command whose semantics fail (a CAS mismatch) returns false; a malformed or failing one
// returns an Error as its result (the proposer sees it); nothing a log entry holds can stop a
// replica applying the rest of the log.

import { Packr } from 'msgpackr';
import { ConsulError, ErrorCode } from '../core/errors.js';
import type { StateMachine } from '../raft/driver.js';
import { checkCommand, decodeCommand, plainBytes, type FsmCommand, type FsmCommandType } from './commands.js';
import { StateStore, type StoreData } from './store.js';

type Handler<T extends FsmCommandType> = (
  store: StateStore,
  index: number,
  cmd: Extract<FsmCommand, { type: T }>,
) => unknown;

/** The command table: every command type, its handler, its result. */
export const commandTable: { [T in FsmCommandType]: Handler<T> } = {
  kvSet: (s, i, c) => (s.kvSet(i, c.key, c.value, c.flags), true),
  kvCas: (s, i, c) => s.kvCas(i, c.key, c.value, c.flags, c.index),
  kvDelete: (s, i, c) => s.kvDelete(i, c.key),
  kvDeleteCas: (s, i, c) => s.kvDeleteCas(i, c.key, c.index),
  kvDeleteTree: (s, i, c) => (s.kvDeleteTree(i, c.prefix), true),
  kvLock: (s, i, c) => s.kvLock(i, c.key, c.value, c.flags, c.session),
  kvUnlock: (s, i, c) => s.kvUnlock(i, c.key, c.value, c.flags, c.session),
  sessionCreate: (s, i, c) => s.sessionCreate(i, c.session),
  sessionDestroy: (s, i, c) => s.sessionDestroy(i, c.id),
  txn: (s, i, c) => s.txn(i, c.ops),
  register: (s, i, c) => (s.register(i, c.req), true),
  deregister: (s, i, c) => (s.deregister(i, c.req), true),
  tombstoneReap: (s, i, c) => (s.reapTombstones(c.upTo, i), true),
  coordinateBatchUpdate: (s, i, c) => (s.coordinateBatchUpdate(i, c.updates), true),
  preparedQuerySet: (s, i, c) => (s.preparedQuerySet(i, c.query), true),
  preparedQueryDelete: (s, i, c) => s.preparedQueryDelete(i, c.id),
  aclBootstrap: (s, i, c) => s.aclBootstrap(i, c.token, c.resetIndex),
  aclTokenSet: (s, i, c) => s.aclTokenSet(i, c.token),
  aclTokenDelete: (s, i, c) => s.aclTokenDelete(i, c.accessorId),
  aclPolicySet: (s, i, c) => s.aclPolicySet(i, c.policy),
  aclPolicyDelete: (s, i, c) => s.aclPolicyDelete(i, c.id),
  snapshotRestore: (s, i, c) => (s.restoreAt(i, decodeState(c.state)), true),
  autopilotSetConfig: (s, i, c) => s.autopilotSet(i, c.config, c.cas),
};

/** Snapshots: plain maps and columns; values come back as Uint8Array copies of their own. */
const snapshotOptions = { useRecords: false, mapsAsObjects: true, copyBuffers: true };
const snapshotPackr = new Packr(snapshotOptions);

/** The state as snapshot bytes (what Raft snapshots hold and a snapshot archive's state.bin is). */
export function encodeState(d: StoreData): Uint8Array {
  // A packer of its own each time: a reused one would keep its snapshot-sized buffer forever.
  return new Packr(snapshotOptions).pack(d);
}

/** Throws on bytes that are not msgpack; the shape is checked by StateStore.load. */
export function decodeState(data: Uint8Array): StoreData {
  return snapshotPackr.unpack(plainBytes(data)) as StoreData;
}

export class Fsm implements StateMachine {
  readonly store: StateStore;

  constructor(datacenter: string) {
    this.store = new StateStore(datacenter);
  }

  /**
   * `raftIndex` is the log's; the store's runs ahead of it by the offset a restored snapshot
   * introduced (StateStore.indexOffset), so every index a client sees only moves forward.
   */
  apply(raftIndex: number, data: Uint8Array): unknown {
    const index = raftIndex + this.store.indexOffset;
    let cmd: unknown;
    try {
      cmd = decodeCommand(data);
    } catch (err) {
      this.applyNoop(raftIndex);
      return new ConsulError(
        ErrorCode.Corrupt,
        `fsm: undecodable command at index ${raftIndex}: ${(err as Error).message}`,
      );
    }
    const why = checkCommand(cmd);
    if (why !== undefined) {
      this.applyNoop(raftIndex);
      return new ConsulError(ErrorCode.BadRequest, `fsm: ${why} (index ${raftIndex})`);
    }
    const c = cmd as FsmCommand;
    const handler = commandTable[c.type] as Handler<FsmCommandType>;
    try {
      return this.store.write(index, () => handler(this.store, index, c as never));
    } catch (err) {
      return err instanceof Error ? err : new ConsulError(ErrorCode.Internal, String(err));
    }
  }

  /** An index applied without a command (a no-op or configuration entry). */
  applyNoop(raftIndex: number): void {
    this.store.write(raftIndex + this.store.indexOffset, () => undefined);
  }

  snapshot(): Uint8Array {
    return encodeState(this.store.dump());
  }

  /** Replaces all state with a Raft snapshot's (taken at `raftIndex`) and wakes every watcher. */
  restore(data: Uint8Array, raftIndex = 0): void {
    const d = decodeState(data);
    const index = raftIndex + (d?.indexOffset ?? 0);
    if (d && index > d.lastIndex) d.lastIndex = index;
    this.store.load(d);
  }
}
