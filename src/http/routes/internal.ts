// /v1/internal/*: endpoints of ours that are not Consul's public API. The gateway's directory of
// datacenters and their servers (issue 6, contract 4), blocking on the directory's version.

import type { Context } from 'hono';
import type { HttpDeps } from '../app.js';
import { callEndpoint } from '../endpoint.js';
import { signalOf, urlOf } from '../request.js';
import { parseQueryOptions } from '../query.js';
import { json } from '../respond.js';

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
