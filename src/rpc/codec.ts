// Frames on the server RPC connection (a WebSocket, msgpack-encoded). Raft messages, requests,
// responses and cancellations share one connection per peer; request ids match responses.

import { Packr } from 'msgpackr';
import { ConsulError, ErrorCode } from '../core/errors.js';
import type { Message } from '../raft/messages.js';

export interface PeerInfo {
  /** The node ID (a UUID): a server is itself whatever address it comes from. */
  id: string;
  name: string;
  /** host:port of its RPC listener, as it advertises it. */
  addr: string;
  dc: string;
  server: boolean;
  /** -bootstrap-expect, 0 when not set. */
  expect: number;
}

export type Frame =
  | { t: 'hello'; peer: PeerInfo }
  | { t: 'raft'; m: Message }
  | { t: 'req'; id: number; method: string; args: unknown }
  | { t: 'res'; id: number; ok: true; v: unknown }
  | { t: 'res'; id: number; ok: false; code: ErrorCode; msg: string }
  | { t: 'cancel'; id: number };

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function encodeFrame(f: Frame): Buffer {
  return packr.pack(f);
}

const codes = new Set<string>(Object.values(ErrorCode));

/** Decodes and shape-checks a frame; anything malformed is a ConsulError, never a crash. */
export function decodeFrame(data: Buffer): Frame {
  let f: unknown;
  try {
    f = packr.unpack(data);
  } catch (err) {
    throw new ConsulError(ErrorCode.BadRequest, `rpc: undecodable frame: ${(err as Error).message}`);
  }
  if (typeof f !== 'object' || f === null)
    throw new ConsulError(ErrorCode.BadRequest, 'rpc: frame is not a map');
  const o = f as Record<string, unknown>;
  switch (o['t']) {
    case 'hello': {
      const p = o['peer'] as Record<string, unknown> | undefined;
      if (!p || typeof p['id'] !== 'string' || typeof p['addr'] !== 'string' || typeof p['dc'] !== 'string')
        break;
      return f as Frame;
    }
    case 'raft': {
      const m = o['m'] as Record<string, unknown> | undefined;
      if (
        !m ||
        typeof m['type'] !== 'string' ||
        typeof m['from'] !== 'string' ||
        typeof m['term'] !== 'number'
      )
        break;
      return f as Frame;
    }
    case 'req':
      if (typeof o['id'] !== 'number' || typeof o['method'] !== 'string') break;
      return f as Frame;
    case 'res':
      if (typeof o['id'] !== 'number' || typeof o['ok'] !== 'boolean') break;
      if (o['ok'] === false && !codes.has(String(o['code']))) o['code'] = ErrorCode.Internal;
      return f as Frame;
    case 'cancel':
      if (typeof o['id'] !== 'number') break;
      return f as Frame;
    default:
      break;
  }
  throw new ConsulError(ErrorCode.BadRequest, `rpc: malformed frame of type ${String(o['t'])}`);
}

/** RPC error frames carry the error code itself: the table from code to frame is the identity. */
export function errorFrame(id: number, err: ConsulError): Frame {
  return { t: 'res', id, ok: false, code: err.code, msg: err.message };
}
