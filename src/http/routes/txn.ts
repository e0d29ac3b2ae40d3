// PUT /v1/txn: atomic KV transactions. Read-only transactions skip Raft, as in Consul.

import type { Context } from 'hono';
import { badRequest } from '../../core/errors.js';
import type { QueryResult } from '../../rpc/endpoints/types.js';
import { isReadOnlyTxn, type TxnOp, type TxnResult } from '../../state/txn.js';
import type { HttpDeps } from '../app.js';
import { callEndpoint } from '../endpoint.js';
import { bodyOf, signalOf, urlOf } from '../request.js';
import { readJson } from '../body.js';
import { parseQueryOptions } from '../query.js';
import { json } from '../respond.js';
import { kvJson } from './kv.js';

const KV_FIELDS = new Set(['Verb', 'Key', 'Value', 'Flags', 'Index', 'Session', 'Namespace', 'Partition']);

/** Turns Consul's JSON ops (base64 values) into store ops, with a 400 for anything malformed. */
export function parseTxnOps(body: unknown): TxnOp[] {
  if (!Array.isArray(body)) throw badRequest('Failed to parse body: expected a JSON array of operations');
  return body.map((raw, i) => {
    if (typeof raw !== 'object' || raw === null) throw badRequest(`Operation ${i}: expected an object`);
    const keys = Object.keys(raw as object);
    if (keys.length !== 1 || keys[0] !== 'KV') {
      throw badRequest(
        `Operation ${i}: only KV operations are supported (got ${keys.join(', ') || 'nothing'})`,
      );
    }
    const kv = (raw as { KV: unknown }).KV;
    if (typeof kv !== 'object' || kv === null) throw badRequest(`Operation ${i}: KV must be an object`);
    const o = kv as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (!KV_FIELDS.has(k)) throw badRequest(`Operation ${i}: unknown KV field "${k}"`);
    if (typeof o['Verb'] !== 'string') throw badRequest(`Operation ${i}: missing Verb`);
    let value: Uint8Array | null = null;
    if (o['Value'] !== undefined && o['Value'] !== null) {
      if (typeof o['Value'] !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(o['Value'])) {
        throw badRequest(`Operation ${i}: Value must be base64`);
      }
      value = new Uint8Array(Buffer.from(o['Value'], 'base64'));
    }
    const num = (f: string): number => {
      const v = o[f];
      if (v === undefined || v === null) return 0;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
        throw badRequest(`Operation ${i}: ${f} must be a non-negative integer`);
      return v;
    };
    return {
      KV: {
        Verb: o['Verb'],
        Key: typeof o['Key'] === 'string' ? o['Key'] : '',
        Value: value,
        Flags: num('Flags'),
        Index: num('Index'),
        Session: typeof o['Session'] === 'string' ? o['Session'] : '',
      },
    } as TxnOp;
  });
}

export async function txnPut(c: Context, d: HttpDeps): Promise<Response> {
  const url = urlOf(c);
  const ops = parseTxnOps(await readJson(await bodyOf(c, d.agent.config.txnMaxReqLen)));
  let result: TxnResult;
  let meta;
  if (isReadOnlyTxn(ops)) {
    const r = (await callEndpoint(
      c,
      d,
      'Txn.Read',
      { q: parseQueryOptions(url), ops },
      signalOf(c, false),
    )) as QueryResult<TxnResult>;
    result = r.value;
    meta = r.meta;
  } else {
    result = (await callEndpoint(c, d, 'Txn.Apply', { ops }, signalOf(c, false))) as TxnResult;
  }
  const body = {
    Results: result.Results ? result.Results.map((r) => ({ KV: kvJson(r.KV) })) : null,
    Errors: result.Errors,
  };
  return json(c, body, {
    status: result.Errors && result.Errors.length > 0 ? 409 : 200,
    ...(meta ? { meta } : {}),
  });
}
