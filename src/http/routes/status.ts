// /v1/status/*, /v1/operator/raft/*: the Raft cluster, as a server of this datacenter sees it.

import type { Context } from 'hono';
import { badRequest } from '../../core/errors.js';
import type { QueryResult } from '../../rpc/endpoints/types.js';
import type { HttpDeps } from '../app.js';
import { callEndpoint } from '../endpoint.js';
import { signalOf, urlOf } from '../request.js';
import { parseQueryOptions } from '../query.js';
import { json } from '../respond.js';

export const statusLeader = async (c: Context, d: HttpDeps): Promise<Response> =>
  json(c, await callEndpoint(c, d, 'Status.Leader', {}, signalOf(c, false)));
export const statusPeers = async (c: Context, d: HttpDeps): Promise<Response> =>
  json(c, await callEndpoint(c, d, 'Status.Peers', {}, signalOf(c, false)));

export async function raftConfiguration(c: Context, d: HttpDeps): Promise<Response> {
  const q = parseQueryOptions(urlOf(c));
  const r = (await callEndpoint(
    c,
    d,
    'Operator.RaftGetConfiguration',
    { q },
    signalOf(c, q.minIndex > 0),
  )) as QueryResult<unknown>;
  return json(c, r.value, { meta: r.meta });
}

export async function raftRemovePeer(c: Context, d: HttpDeps): Promise<Response> {
  const url = urlOf(c);
  const id = url.searchParams.get('id') ?? '';
  const address = url.searchParams.get('address') ?? '';
  if ((id === '') === (address === ''))
    throw badRequest(
      "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove",
    );
  await callEndpoint(c, d, 'Operator.RaftRemovePeer', id ? { id } : { address }, signalOf(c, false));
  return new Response(null, { status: 200 });
}
