// The finite state machine Raft drives: one table from command type to handler. Handlers are
// deterministic (no clock, no randomness), so every server that applies the same log holds the same
// state. A malformed or failing command yields an Error as its result (the proposer sees it) and
// never stops a server from applying the rest of the log.

import { Packr } from 'msgpackr';
import { ConsulError, ErrorCode } from '../core/errors.js';
import type { StateMachine } from '../raft/driver.js';
import { decodeCommand, type FsmCommand, type FsmCommandType } from './commands.js';
import { StateStore, type StoreData } from './store.js';
import { applyTxn } from './txn.js';

type Handler<T extends FsmCommandType> = (
  store: StateStore,
  index: number,
  cmd: Extract<FsmCommand, { type: T }>,
) => unknown;

const commands: { [T in FsmCommandType]: Handler<T> } = {
  kvSet: (s, i, c) => (s.kvSet(i, c.key, c.value, c.flags), true),
  kvCas: (s, i, c) => s.kvCas(i, c.key, c.value, c.flags, c.index),
  kvDelete: (s, i, c) => (s.kvDelete(i, c.key), true),
  kvDeleteCas: (s, i, c) => s.kvDeleteCas(i, c.key, c.index),
  kvDeleteTree: (s, i, c) => (s.kvDeleteTree(i, c.prefix), true),
  txn: (s, i, c) => applyTxn(s, i, c.ops),
  register: (s, i, c) => (s.register(i, c.req), true),
  deregister: (s, i, c) => (s.deregister(i, c.req), true),
  tombstoneReap: (s, _i, c) => (s.reapTombstones(c.upTo), true),
};

const snapshotPackr = new Packr({ useRecords: false, mapsAsObjects: true });

export class Fsm implements StateMachine {
  readonly store: StateStore;

  constructor(datacenter: string) {
    this.store = new StateStore(datacenter);
  }

  apply(index: number, data: Uint8Array): unknown {
    let cmd: FsmCommand;
    try {
      cmd = decodeCommand(data);
    } catch (err) {
      this.store.lastIndex = Math.max(this.store.lastIndex, index);
      return new ConsulError(
        ErrorCode.Internal,
        `fsm: undecodable command at index ${index}: ${(err as Error).message}`,
      );
    }
    const handler = commands[cmd?.type] as Handler<FsmCommandType> | undefined;
    if (!handler) {
      this.store.lastIndex = Math.max(this.store.lastIndex, index);
      return new ConsulError(
        ErrorCode.Internal,
        `fsm: unknown command ${String(cmd?.type)} at index ${index}`,
      );
    }
    try {
      return this.store.write(index, () => handler(this.store, index, cmd as never));
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  applyNoop(index: number): void {
    this.store.lastIndex = Math.max(this.store.lastIndex, index);
  }

  snapshot(): Uint8Array {
    return snapshotPackr.pack(this.store.dump());
  }

  restore(data: Uint8Array, index: number): void {
    const d = snapshotPackr.unpack(data) as StoreData;
    d.lastIndex = Math.max(d.lastIndex, index);
    this.store.load(d);
  }
}
