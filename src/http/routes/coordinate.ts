// /v1/coordinate/*: network coordinates (Consul's coordinate_endpoint.go). LAN coordinates of the
// nodes come from the catalog's coordinates table (blocking reads); the datacenters' from the
// answering server's WAN gossip pool.

import type { Context } from 'hono';
import type { HttpDeps } from '../app.js';
import { callEndpoint } from '../endpoint.js';
import { readJson } from '../body.js';
import { bodyOf, pathParam, signalOf } from '../request.js';
import { json } from '../respond.js';
import { query } from './catalog.js';

const MAX_UPDATE_BODY = 64 * 1024;

export async function coordinateDatacenters(c: Context, d: HttpDeps): Promise<Response> {
  return json(c, await callEndpoint(c, d, 'Coordinate.ListDatacenters', {}, signalOf(c, false)));
}

export const coordinateNodes = (c: Context, d: HttpDeps): Promise<Response> =>
  query(c, d, 'Coordinate.ListNodes', {});

/** One node's coordinates; a node without any answers 404 with the read headers, as in Consul. */
export async function coordinateNode(c: Context, d: HttpDeps): Promise<Response> {
  const r = await query(c, d, 'Coordinate.Node', { node: pathParam(c, 'node') });
  if (r.status !== 200) return r;
  const body = (await r.clone().json()) as unknown[];
  if (body.length > 0) return r;
  const headers = new Headers(r.headers);
  headers.delete('Content-Type');
  return new Response(null, { status: 404, headers });
}

/** PUT {Node, Segment, Coord}: queued on the leader, in the catalog within one update period. */
export async function coordinateUpdate(c: Context, d: HttpDeps): Promise<Response> {
  const req = await readJson(await bodyOf(c, MAX_UPDATE_BODY));
  await callEndpoint(c, d, 'Coordinate.Update', { req }, signalOf(c, false));
  return new Response(null, { status: 200 });
}
