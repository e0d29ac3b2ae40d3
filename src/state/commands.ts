// FSM commands: what a Raft log entry asks the state store to do. Encoded with msgpack; the type
// field selects the handler in fsm.ts's table.

import { Packr } from 'msgpackr';
import type { TxnOp } from './txn.js';
import type { DeregisterRequest, RegisterRequest } from './types.js';

export type FsmCommand =
  | { type: 'kvSet'; key: string; value: Uint8Array; flags: number }
  | { type: 'kvCas'; key: string; value: Uint8Array; flags: number; index: number }
  | { type: 'kvDelete'; key: string }
  | { type: 'kvDeleteCas'; key: string; index: number }
  | { type: 'kvDeleteTree'; prefix: string }
  | { type: 'txn'; ops: TxnOp[] }
  | { type: 'register'; req: RegisterRequest }
  | { type: 'deregister'; req: DeregisterRequest }
  | { type: 'tombstoneReap'; upTo: number };

export type FsmCommandType = FsmCommand['type'];

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function encodeCommand(c: FsmCommand): Uint8Array {
  return packr.pack(c);
}

export function decodeCommand(data: Uint8Array): FsmCommand {
  return packr.unpack(data) as FsmCommand;
}
