// /v1/event/*: user events, fired through gossip and listed from this agent's ring of the last 256.

import type { Context } from 'hono';
import { validateFilters, type EventFilters } from '../../agent/event-log.js';
import type { HttpDeps } from '../app.js';
import { callEndpoint, requestAuthorizer, requestDc } from '../endpoint.js';
import { permissionDenied } from '../../acl/authorizer.js';
import { bodyOf, pathParam, signalOf, urlOf } from '../request.js';
import { json } from '../respond.js';
import { parseQueryOptions } from '../query.js';

/** Gossip carries an event in one packet; its name, payload and filters share 512 bytes. */
const MAX_EVENT_BODY = 512;

export async function eventFire(c: Context, d: HttpDeps): Promise<Response> {
  const url = urlOf(c);
  const name = pathParam(c, 'name', 'Missing name');
  const payload = await bodyOf(c, MAX_EVENT_BODY, 'Event payload');
  const filters: EventFilters = {
    node: url.searchParams.get('node') ?? '',
    service: url.searchParams.get('service') ?? '',
    tag: url.searchParams.get('tag') ?? '',
  };
  // Another datacenter's event is fired there, by one of its servers (as Consul does); checked here
  // first so a bad filter costs no round trip.
  if (requestDc(c, d) !== undefined) {
    validateFilters(filters);
    const args = { name, payload, filters };
    return json(c, await callEndpoint(c, d, 'Internal.EventFire', args, signalOf(c, false)));
  }
  // In this datacenter the agent fires it itself, after the check Consul's Internal.EventFire makes.
  validateFilters(filters);
  const authz = await requestAuthorizer(c, d);
  if (!authz.allowed('event', name, 'write')) throw permissionDenied(authz, 'event', 'write', name);
  return json(c, d.agent.fireEvent(name, payload, filters));
}

export async function eventList(c: Context, d: HttpDeps): Promise<Response> {
  const url = urlOf(c);
  const q = parseQueryOptions(url);
  const name = url.searchParams.get('name') ?? '';
  const events = d.agent.events;
  const authz = await requestAuthorizer(c, d);
  await events.wait(q.minIndex, q.maxWaitMs, d.agent.rng, signalOf(c, q.minIndex > 0));
  // As Consul's agent does: only the events the token has event:read on, and a header when any
  // was left out.
  const all = events.list(name);
  const visible = all.filter((e) => authz.allowed('event', e.Name, 'read'));
  // The index is this agent's own (events are not in Raft), so only X-Consul-Index is set.
  const res = json(c, visible);
  res.headers.set('X-Consul-Index', String(events.index));
  if (visible.length !== all.length) res.headers.set('X-Consul-Results-Filtered-By-ACLs', 'true');
  return res;
}
