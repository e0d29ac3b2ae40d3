// /v1/catalog/* and /v1/health/*: the catalog through Consul's low-level API.

import type { Context } from 'hono';
import { badRequest } from '../../core/errors.js';
import type { EndpointName } from '../../rpc/endpoints/index.js';
import type { QueryResult } from '../../rpc/endpoints/types.js';
import type { HttpDeps } from '../app.js';
import { callEndpoint } from '../endpoint.js';
import { bodyOf, pathParam, signalOf, urlOf } from '../request.js';
import { readJson } from '../body.js';
import { filterParam, has, parseQueryOptions } from '../query.js';
import { json } from '../respond.js';
import { applyFilter } from '../../core/filter-expression.js';

const MAX_REGISTER_BODY = 512 * 1024;

/**
 * Where ?filter= applies in each read's answer, as in Consul: each entry of a list, the node's
 * services, or (the service list, built from instances) on the server, over each instance.
 * Reads not named here take no filter (Consul ignores it there too).
 */
const FILTERED: Partial<Record<EndpointName, 'entries' | 'Services' | 'server'>> = {
  'Catalog.ListNodes': 'entries',
  'Catalog.ListServices': 'server',
  'Catalog.ServiceNodes': 'entries',
  'Catalog.NodeServices': 'Services',
  'Catalog.NodeServiceList': 'Services',
  'Health.ServiceNodes': 'entries',
  'Health.NodeChecks': 'entries',
  'Health.ServiceChecks': 'entries',
  'Health.ChecksInState': 'entries',
};

export async function query(
  c: Context,
  d: HttpDeps,
  method: EndpointName,
  args: Record<string, unknown>,
): Promise<Response> {
  const url = urlOf(c);
  const q = parseQueryOptions(url);
  const near = nearParam(url, d);
  const where = FILTERED[method];
  // Compiled before the call: a malformed filter is a 400 at once, even on a blocking query.
  const f = where ? filterParam(url) : null;
  const r = (await callEndpoint(
    c,
    d,
    method,
    { ...args, q, ...(near ? { near } : {}), ...(where === 'server' && f ? { filter: f.expr } : {}) },
    signalOf(c, q.minIndex > 0),
  )) as QueryResult<unknown>;
  let value = r.value;
  if (f && where === 'entries') value = applyFilter(value, f.keep);
  if (f && where === 'Services' && value !== null && typeof value === 'object') {
    const v = value as { Services: unknown };
    value = { ...v, Services: applyFilter(v.Services, f.keep) };
  }
  return json(c, value, { meta: r.meta });
}

export async function catalogRegister(c: Context, d: HttpDeps): Promise<Response> {
  const req = await readJson(await bodyOf(c, MAX_REGISTER_BODY));
  return json(c, await callEndpoint(c, d, 'Catalog.Register', { req }, signalOf(c, false)));
}

export async function catalogDeregister(c: Context, d: HttpDeps): Promise<Response> {
  const req = await readJson(await bodyOf(c, MAX_REGISTER_BODY));
  return json(c, await callEndpoint(c, d, 'Catalog.Deregister', { req }, signalOf(c, false)));
}

/** Known datacenters, nearest first: the server's directory (a client asks its server). */
export const catalogDatacenters = async (c: Context, d: HttpDeps): Promise<Response> =>
  json(c, await callEndpoint(c, d, 'Catalog.ListDatacenters', {}, signalOf(c, false)));
export const catalogNodes = (c: Context, d: HttpDeps): Promise<Response> =>
  query(c, d, 'Catalog.ListNodes', {});
export const catalogServices = (c: Context, d: HttpDeps): Promise<Response> =>
  query(c, d, 'Catalog.ListServices', {});
export const catalogService = (c: Context, d: HttpDeps): Promise<Response> =>
  query(c, d, 'Catalog.ServiceNodes', { service: pathParam(c, 'service'), tags: c.req.queries('tag') ?? [] });
export const catalogNode = (c: Context, d: HttpDeps): Promise<Response> =>
  query(c, d, 'Catalog.NodeServices', { node: pathParam(c, 'node') });
export const catalogNodeServices = (c: Context, d: HttpDeps): Promise<Response> =>
  query(c, d, 'Catalog.NodeServiceList', { node: pathParam(c, 'node') });

export const healthService = (c: Context, d: HttpDeps): Promise<Response> =>
  query(c, d, 'Health.ServiceNodes', {
    service: pathParam(c, 'service'),
    tags: c.req.queries('tag') ?? [],
    passing: passingParam(urlOf(c)),
  });
export const healthNode = (c: Context, d: HttpDeps): Promise<Response> =>
  query(c, d, 'Health.NodeChecks', { node: pathParam(c, 'node') });
export const healthChecks = (c: Context, d: HttpDeps): Promise<Response> =>
  query(c, d, 'Health.ServiceChecks', { service: pathParam(c, 'service') });

const STATES = new Set(['any', 'passing', 'warning', 'critical']);
export function healthState(c: Context, d: HttpDeps): Promise<Response> {
  const state = pathParam(c, 'state');
  if (!STATES.has(state)) throw badRequest(`Invalid check state: ${state}`);
  return query(c, d, 'Health.ChecksInState', { state });
}

/**
 * ?near=<node> (Consul's parseSource): `_agent` is this agent's own node. Passed to every read; the
 * endpoints that sort by it (catalog nodes and service, health service, checks and state, as in
 * Consul) do, the others ignore it.
 */
function nearParam(url: URL, d: HttpDeps): string | undefined {
  const near = url.searchParams.get('near');
  if (!near) return undefined;
  return near === '_agent' ? d.agent.config.nodeName : near;
}

/** ?passing, ?passing=true and ?passing=1 filter; ?passing=false does not (Consul parses it as a bool). */
function passingParam(url: URL): boolean {
  if (!has(url, 'passing')) return false;
  const v = url.searchParams.get('passing') ?? '';
  if (v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw badRequest(`Invalid value for ?passing: ${v}`);
}
