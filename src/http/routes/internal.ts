// /v1/internal/*: endpoints that are not Consul's public API. The gateway's directory of
// datacenters and their servers (issue 6, contract 4), blocking on the directory's version; and the
// three reads the web UI lists services and nodes with, in Consul's shapes (agent/ui_endpoint.go).

import type { Context } from 'hono';
import { ConsulError, ErrorCode } from '../../core/errors.js';
import type { EndpointName } from '../../rpc/endpoints/index.js';
import type { QueryResult } from '../../rpc/endpoints/types.js';
import type { HttpDeps } from '../app.js';
import { callEndpoint } from '../endpoint.js';
import { pathParam, signalOf, urlOf } from '../request.js';
import { metaHeaders, parseQueryOptions } from '../query.js';
import { json, text } from '../respond.js';

export async function gatewayDirectory(c: Context, d: HttpDeps): Promise<Response> {
  const q = parseQueryOptions(urlOf(c));
  const r = (await callEndpoint(c, d, 'Internal.GatewayDirectory', { q }, signalOf(c, q.minIndex > 0))) as {
    index: number;
    value: unknown;
  };
  const res = json(c, r.value);
  res.headers.set('X-Consul-Index', String(Math.max(1, r.index)));
  return res;
}

/**
 * A UI read. As in Consul, a default-consistency read that finds no leader is asked again allowing
 * a stale answer, so the UI keeps showing the catalog during an election (X-Consul-KnownLeader says
 * false then). The stale answer comes at once even for a blocking read, so a waiting page hears
 * of the lost leader.
 */
async function uiRead(
  c: Context,
  d: HttpDeps,
  method: EndpointName,
  args: Record<string, unknown>,
): Promise<QueryResult<unknown>> {
  const q = parseQueryOptions(urlOf(c));
  const signal = signalOf(c, q.minIndex > 0);
  try {
    return (await callEndpoint(c, d, method, { ...args, q }, signal)) as QueryResult<unknown>;
  } catch (err) {
    const retry = err instanceof ConsulError && err.code === ErrorCode.NoLeader && !q.stale && !q.consistent;
    if (!retry) throw err;
    // Answered at once, not held: without a leader nothing changes what a held query waits on,
    // and an open UI page would not learn for the whole wait that the leader is gone.
    const stale = { ...q, stale: true, minIndex: 0 };
    return (await callEndpoint(c, d, method, { ...args, q: stale }, signal)) as QueryResult<unknown>;
  }
}

export async function uiServices(c: Context, d: HttpDeps): Promise<Response> {
  const r = await uiRead(c, d, 'Internal.UIServices', {});
  return json(c, r.value, { meta: r.meta });
}

export async function uiNodes(c: Context, d: HttpDeps): Promise<Response> {
  const r = await uiRead(c, d, 'Internal.UINodes', {});
  return json(c, r.value, { meta: r.meta });
}

export async function uiNodeInfo(c: Context, d: HttpDeps): Promise<Response> {
  const r = await uiRead(c, d, 'Internal.UINodeInfo', { node: pathParam(c, 'node') });
  if (r.value === null) return text(404, 'Node not found', metaHeaders(r.meta));
  return json(c, r.value, { meta: r.meta });
}
