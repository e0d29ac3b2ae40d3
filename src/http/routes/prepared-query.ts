// /v1/query*: Consul's prepared query API (agent/prepared_query_endpoint.go). The path after
// /v1/query/ is taken as Consul takes it (TrimPrefix, then a trailing /execute or /explain), so a
// query name may hold any character a URL can carry. Every check happens on the server
// (PreparedQuery.Apply); here only the body is read and the URL's options parsed.

import type { Context } from 'hono';
import type { IncomingMessage } from 'node:http';
import { ConsulError, ErrorCode, badRequest } from '../../core/errors.js';
import type {
  PreparedQueryExecuteArgs,
  PreparedQueryExecuteResponse,
} from '../../rpc/endpoints/prepared-query.js';
import type { QueryResult } from '../../rpc/endpoints/types.js';
import type { PreparedQuery } from '../../state/prepared-queries.js';
import type { HttpDeps } from '../app.js';
import { callEndpoint } from '../endpoint.js';
import { readJson } from '../body.js';
import { parseQueryOptions } from '../query.js';
import { bodyOf, signalOf, urlOf } from '../request.js';
import { json, text } from '../respond.js';

/** A definition is a few hundred bytes; Consul caps request bodies, and so do we. */
const MAX_BODY = 64 * 1024;
const PREFIX = '/v1/query/';

/** The datacenter a request names (?dc), passed on so the forwarding can send it there. */
function dcArg(url: URL): { dc?: string } {
  const dc = url.searchParams.get('dc');
  return dc ? { dc } : {};
}

/** The body as an object (an empty body is an empty definition, as Go's decoder leaves it). */
async function definition(c: Context): Promise<Record<string, unknown>> {
  const bytes = await bodyOf(c, MAX_BODY);
  if (bytes.byteLength === 0) return {};
  const body = readJson(bytes);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('Request decode failed: expected a JSON object');
  }
  return body as Record<string, unknown>;
}

export async function queryCreate(c: Context, d: HttpDeps): Promise<Response> {
  const query = await definition(c);
  const id = (await callEndpoint(
    c,
    d,
    'PreparedQuery.Apply',
    { op: 'create', query, ...dcArg(urlOf(c)) },
    signalOf(c, false),
  )) as string;
  return json(c, { ID: id });
}

export async function queryList(c: Context, d: HttpDeps): Promise<Response> {
  const url = urlOf(c);
  const q = parseQueryOptions(url);
  const r = (await callEndpoint(
    c,
    d,
    'PreparedQuery.List',
    { q, ...dcArg(url) },
    signalOf(c, q.minIndex > 0),
  )) as QueryResult<PreparedQuery[]>;
  return json(c, r.value, { meta: r.meta });
}

type Action = 'execute' | 'explain' | 'query';

/** The query's ID (or name) and what is asked of it, from the path. */
function target(c: Context): { id: string; action: Action } {
  const path = urlOf(c).pathname;
  let rest: string;
  try {
    rest = decodeURIComponent(path.slice(PREFIX.length));
  } catch {
    throw badRequest('Missing query ID: malformed escape');
  }
  for (const action of ['execute', 'explain'] as const) {
    if (rest.endsWith(`/${action}`)) return { id: rest.slice(0, -action.length - 1), action };
  }
  return { id: rest, action: 'query' };
}

/** Consul's parseLimit: a decimal integer (a bad one is a 500 "Bad limit" there; a 400 here). */
function limitOf(url: URL): number {
  const v = url.searchParams.get('limit');
  if (v === null || v === '') return 0;
  if (!/^-?\d+$/.test(v))
    throw badRequest(`Bad limit: strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax`);
  return Math.max(0, Number(v));
}

/** The request's address for near=_ip: the first X-Forwarded-For hop, else the peer's address. */
function clientIp(c: Context): string {
  const fwd = c.req.header('X-Forwarded-For');
  if (fwd) return (fwd.split(',')[0] as string).trim();
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress?.replace(/^::ffff:/, '') ?? '';
}

function executeArgs(c: Context, d: HttpDeps, id: string): PreparedQueryExecuteArgs {
  const url = urlOf(c);
  const near = url.searchParams.get('near') ?? '';
  const source = near === '_ip' ? { node: near, ip: clientIp(c) } : near !== '' ? { node: near } : {};
  return {
    idOrName: id,
    // Execute and Explain never block (as in Consul): only the consistency mode is kept.
    q: { ...parseQueryOptions(url), minIndex: 0 },
    limit: limitOf(url),
    agent: { node: d.agent.config.nodeName, datacenter: d.agent.config.datacenter },
    source,
    ...dcArg(url),
  };
}

export async function querySpecific(c: Context, d: HttpDeps): Promise<Response> {
  const { id, action } = target(c);
  const method = c.req.method;
  if (action !== 'query' && method !== 'GET') {
    return text(405, `method ${method} not allowed`, { Allow: 'GET' });
  }
  const url = urlOf(c);
  if (action === 'execute') {
    // Connect-capable lookups need Connect's catalog, which Consulate does not have.
    if (url.searchParams.has('connect')) throw badRequest('?connect is not supported by Consulate');
    const r = (await callEndpoint(
      c,
      d,
      'PreparedQuery.Execute',
      executeArgs(c, d, id),
      signalOf(c, false),
    )) as QueryResult<PreparedQueryExecuteResponse>;
    return json(c, r.value, { meta: r.meta });
  }
  if (action === 'explain') {
    const r = (await callEndpoint(
      c,
      d,
      'PreparedQuery.Explain',
      executeArgs(c, d, id),
      signalOf(c, false),
    )) as QueryResult<unknown>;
    return json(c, r.value, { meta: r.meta });
  }
  switch (method) {
    case 'GET': {
      const q = parseQueryOptions(url);
      const r = (await callEndpoint(
        c,
        d,
        'PreparedQuery.Get',
        { q, id, ...dcArg(url) },
        signalOf(c, q.minIndex > 0),
      )) as QueryResult<PreparedQuery[]>;
      return json(c, r.value, { meta: r.meta });
    }
    case 'PUT': {
      // The ID comes from the URL, whatever the body says (as Consul).
      const body = await definition(c);
      for (const k of Object.keys(body)) if (k.toLowerCase() === 'id') delete body[k];
      const query = { ...body, ID: id };
      await callEndpoint(
        c,
        d,
        'PreparedQuery.Apply',
        { op: 'update', query, ...dcArg(url) },
        signalOf(c, false),
      );
      return new Response(null, { status: 200 });
    }
    case 'DELETE':
      await callEndpoint(
        c,
        d,
        'PreparedQuery.Apply',
        { op: 'delete', id, ...dcArg(url) },
        signalOf(c, false),
      );
      return new Response(null, { status: 200 });
    default:
      throw new ConsulError(ErrorCode.MethodNotAllowed, `method ${method} not allowed`);
  }
}
