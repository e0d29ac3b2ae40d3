// /v1/kv/<key>: Consul's KV API.

import type { Context } from 'hono';
import { badRequest } from '../../core/errors.js';
import type { KVApplyArgs } from '../../rpc/endpoints/index.js';
import type { QueryResult } from '../../rpc/endpoints/types.js';
import type { KVEntry } from '../../state/types.js';
import type { HttpDeps } from '../app.js';
import { callEndpoint } from '../endpoint.js';
import { bodyOf, signalOf, urlOf } from '../request.js';
import { b64, json } from '../respond.js';
import { has, metaHeaders, parseQueryOptions, uintParam } from '../query.js';

export function kvKey(c: Context): string {
  const path = urlOf(c).pathname;
  const raw = path.slice('/v1/kv/'.length);
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest('Invalid key: malformed escape');
  }
}

export function kvJson(e: KVEntry): Record<string, unknown> {
  const out: Record<string, unknown> = {
    LockIndex: e.LockIndex,
    Key: e.Key,
    Flags: e.Flags,
    Value: b64(e.Value),
    CreateIndex: e.CreateIndex,
    ModifyIndex: e.ModifyIndex,
  };
  if (e.Session) out['Session'] = e.Session;
  return out;
}

export async function kvGet(c: Context, d: HttpDeps): Promise<Response> {
  const url = urlOf(c);
  const key = kvKey(c);
  const q = parseQueryOptions(url);
  const signal = signalOf(c, q.minIndex > 0);
  if (has(url, 'keys')) {
    const separator = url.searchParams.get('separator') ?? '';
    const r = (await callEndpoint(
      c,
      d,
      'KVS.ListKeys',
      { q, prefix: key, separator },
      signal,
    )) as QueryResult<string[]>;
    if (r.value.length === 0) return new Response(null, { status: 404, headers: metaHeaders(r.meta) });
    return json(c, r.value, { meta: r.meta });
  }
  if (has(url, 'recurse')) {
    const r = (await callEndpoint(c, d, 'KVS.List', { q, prefix: key }, signal)) as QueryResult<KVEntry[]>;
    if (r.value.length === 0) return new Response(null, { status: 404, headers: metaHeaders(r.meta) });
    return json(c, r.value.map(kvJson), { meta: r.meta });
  }
  if (key === '') throw badRequest('Missing key name');
  const r = (await callEndpoint(c, d, 'KVS.Get', { q, key }, signal)) as QueryResult<KVEntry | null>;
  if (!r.value) return new Response(null, { status: 404, headers: metaHeaders(r.meta) });
  if (has(url, 'raw')) {
    // Raw values are served as opaque text and never sniffed, so a stored page cannot run as HTML.
    const v = r.value.Value ?? new Uint8Array(0);
    return new Response(Buffer.from(v), {
      status: 200,
      headers: {
        ...metaHeaders(r.meta),
        'Content-Type': 'text/plain; charset=utf-8',
        'X-Content-Type-Options': 'nosniff',
      },
    });
  }
  return json(c, [kvJson(r.value)], { meta: r.meta });
}

export async function kvPut(c: Context, d: HttpDeps): Promise<Response> {
  const url = urlOf(c);
  const key = kvKey(c);
  if (key === '') throw badRequest('Missing key name');
  const flags = uintParam(url, 'flags', 'flags') ?? 0;
  const limit = d.agent.config.kvMaxValueSize;
  const body = await bodyOf(c, limit, 'Value');
  const value = body.byteLength === 0 ? new Uint8Array(0) : body;
  // As in Consul, ?release wins over ?acquire, which wins over ?cas.
  const release = url.searchParams.get('release');
  const acquire = url.searchParams.get('acquire');
  const cas = uintParam(url, 'cas', 'cas index');
  let args: KVApplyArgs;
  if (release !== null) args = { op: 'unlock', key, value, flags, session: release };
  else if (acquire !== null) args = { op: 'lock', key, value, flags, session: acquire };
  else if (cas !== undefined) args = { op: 'cas', key, value, flags, index: cas };
  else args = { op: 'set', key, value, flags };
  const ok = (await callEndpoint(c, d, 'KVS.Apply', args, signalOf(c, false))) as boolean;
  return json(c, ok);
}

export async function kvDelete(c: Context, d: HttpDeps): Promise<Response> {
  const url = urlOf(c);
  const key = kvKey(c);
  let args: KVApplyArgs;
  if (has(url, 'recurse')) args = { op: 'delete-tree', key };
  else {
    if (key === '') throw badRequest('Missing key name');
    const cas = uintParam(url, 'cas', 'cas index');
    args = cas !== undefined ? { op: 'delete-cas', key, index: cas } : { op: 'delete', key };
  }
  const ok = (await callEndpoint(c, d, 'KVS.Apply', args, signalOf(c, false))) as boolean;
  return json(c, ok);
}
