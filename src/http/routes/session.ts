// /v1/session/*: Consul's session API. Create fills Consul's defaults (this agent's node, the
// serfHealth check, a 15 s lock delay, release) and turns the body's LockDelay into nanoseconds the
// way Consul's FixupLockDelay does; every policy check happens on the server (Session.Apply).

import type { Context } from 'hono';
import { badRequest, notFound } from '../../core/errors.js';
import { parseDuration } from '../../core/duration.js';
import type { QueryResult } from '../../rpc/endpoints/types.js';
import type { Session } from '../../state/sessions.js';
import type { HttpDeps } from '../app.js';
import { callEndpoint } from '../endpoint.js';
import { readJson } from '../body.js';
import { parseQueryOptions } from '../query.js';
import { bodyOf, signalOf, urlOf } from '../request.js';
import { json } from '../respond.js';

/** Consul's lockDelayMinThreshold: a LockDelay under 1000 (ns) is taken to mean seconds. */
const LOCK_DELAY_MIN_THRESHOLD = 1000;
/** Session bodies are small; Consul caps request bodies, and so do we. */
const MAX_BODY = 64 * 1024;

/** The fields Consul reads from a create body, matched case-insensitively as Go's JSON does. */
const FIELDS = ['Name', 'Node', 'LockDelay', 'Behavior', 'TTL', 'NodeChecks', 'Checks', 'ServiceChecks'];

/** LockDelay as Consul's FixupLockDelay reads it: a Go duration string or a number, in ns. */
export function lockDelayNs(v: unknown): number {
  let ns: number;
  if (typeof v === 'string') {
    const ms = parseDuration(v);
    if (ms === undefined || !Number.isFinite(ms)) {
      throw badRequest(`Request decode failed: time: invalid duration ${JSON.stringify(v)}`);
    }
    ns = Math.round(ms * 1e6);
  } else if (typeof v === 'number' && Number.isFinite(v)) {
    ns = Math.trunc(v);
  } else {
    throw badRequest('Request decode failed: LockDelay must be a duration string or a number');
  }
  if (ns < LOCK_DELAY_MIN_THRESHOLD) ns *= 1e9;
  if (!Number.isSafeInteger(ns) || ns < 0) throw badRequest('Request decode failed: LockDelay out of range');
  return ns;
}

/** The create body as the Session.Apply endpoint takes it (no ID: the server draws one). */
export function parseSessionBody(body: unknown, agentNode: string): Record<string, unknown> {
  const obj = body ?? {};
  if (typeof obj !== 'object' || Array.isArray(obj)) {
    throw badRequest('Request decode failed: expected a JSON object');
  }
  const given: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const f = FIELDS.find((x) => x.toLowerCase() === k.toLowerCase());
    if (f) given[f] = v;
  }
  const out: Record<string, unknown> = { Node: agentNode };
  for (const f of ['Name', 'Node', 'Behavior', 'TTL', 'ServiceChecks']) {
    if (given[f] !== undefined && given[f] !== null) out[f] = given[f];
  }
  if (given['LockDelay'] !== undefined && given['LockDelay'] !== null) {
    out['LockDelay'] = lockDelayNs(given['LockDelay']);
  }
  // Naming checks at all (even an empty list) replaces the default serfHealth, as in Consul; the
  // pre-1.7 Checks field still counts as node checks.
  if ('NodeChecks' in given || 'Checks' in given) {
    const lists = [given['NodeChecks'], given['Checks']].filter((l) => l !== undefined && l !== null);
    for (const l of lists) {
      if (!Array.isArray(l) || !l.every((x) => typeof x === 'string')) {
        throw badRequest('Request decode failed: NodeChecks and Checks must be lists of check IDs');
      }
    }
    out['NodeChecks'] = [...new Set((lists as string[][]).flat())];
  }
  return out;
}

/** What follows `prefix` in the path, as Consul takes it (TrimPrefix); empty is a 400. */
function pathTail(c: Context, prefix: string, missing: string): string {
  const path = urlOf(c).pathname;
  let v: string;
  try {
    v = path.startsWith(prefix) ? decodeURIComponent(path.slice(prefix.length)) : '';
  } catch {
    throw badRequest(`${missing}: malformed escape`);
  }
  if (v === '') throw badRequest(missing);
  return v;
}

export function sessionJson(s: Session): Record<string, unknown> {
  return {
    ID: s.ID,
    Name: s.Name,
    Node: s.Node,
    LockDelay: s.LockDelay,
    Behavior: s.Behavior,
    TTL: s.TTL,
    NodeChecks: s.NodeChecks,
    ServiceChecks: s.ServiceChecks,
    CreateIndex: s.CreateIndex,
    ModifyIndex: s.ModifyIndex,
  };
}

export async function sessionCreate(c: Context, d: HttpDeps): Promise<Response> {
  const bytes = await bodyOf(c, MAX_BODY);
  const body = bytes.byteLength > 0 ? readJson(bytes) : {};
  const session = parseSessionBody(body, d.agent.config.nodeName);
  const id = (await callEndpoint(
    c,
    d,
    'Session.Apply',
    { op: 'create', session },
    signalOf(c, false),
  )) as string;
  return json(c, { ID: id });
}

export async function sessionDestroy(c: Context, d: HttpDeps): Promise<Response> {
  const id = pathTail(c, '/v1/session/destroy/', 'Missing session');
  await callEndpoint(c, d, 'Session.Apply', { op: 'destroy', id }, signalOf(c, false));
  return json(c, true);
}

export async function sessionRenew(c: Context, d: HttpDeps): Promise<Response> {
  const id = pathTail(c, '/v1/session/renew/', 'Missing session');
  const r = (await callEndpoint(c, d, 'Session.Renew', { id }, signalOf(c, false))) as Session[] | null;
  if (!r) throw notFound(`Session id '${id}' not found`);
  return json(c, r.map(sessionJson));
}

export async function sessionInfo(c: Context, d: HttpDeps): Promise<Response> {
  const id = pathTail(c, '/v1/session/info/', 'Missing session');
  const q = parseQueryOptions(urlOf(c));
  const r = (await callEndpoint(
    c,
    d,
    'Session.Get',
    { q, id },
    signalOf(c, q.minIndex > 0),
  )) as QueryResult<Session | null>;
  // Consul answers an unknown session with an empty list, not a 404.
  return json(c, r.value ? [sessionJson(r.value)] : [], { meta: r.meta });
}

export async function sessionNode(c: Context, d: HttpDeps): Promise<Response> {
  const node = pathTail(c, '/v1/session/node/', 'Missing node name');
  const q = parseQueryOptions(urlOf(c));
  const r = (await callEndpoint(
    c,
    d,
    'Session.NodeSessions',
    { q, node },
    signalOf(c, q.minIndex > 0),
  )) as QueryResult<Session[]>;
  return json(c, r.value.map(sessionJson), { meta: r.meta });
}

export async function sessionList(c: Context, d: HttpDeps): Promise<Response> {
  const q = parseQueryOptions(urlOf(c));
  const r = (await callEndpoint(c, d, 'Session.List', { q }, signalOf(c, q.minIndex > 0))) as QueryResult<
    Session[]
  >;
  return json(c, r.value.map(sessionJson), { meta: r.meta });
}
