// How a route runs an endpoint: through the agent's forwarder (its own server, or a server over
// RPC), with the request's ?dc= in the args, so the servers send it on to that datacenter. Every
// route that runs an endpoint comes through here, so ?dc= works on all of them without each one
// reading it (test/unit/http-dc.test.ts checks that no route calls the forwarder directly).

import type { Context } from 'hono';
import type { Authorizer } from '../acl/authorizer.js';
import type { AgentConfig } from '../config/config.js';
import type { EndpointName } from '../rpc/endpoints/index.js';
import type { HttpDeps } from './app.js';
import { requestToken, urlOf } from './request.js';

/** The datacenter a request names with ?dc=, or undefined for this agent's own (empty included). */
export function requestDc(c: Context, d: HttpDeps): string | undefined {
  const dc = urlOf(c).searchParams.get('dc');
  return dc === null || dc === '' || dc === d.agent.config.datacenter ? undefined : dc;
}

export function callEndpoint(
  c: Context,
  d: HttpDeps,
  method: EndpointName,
  args: object,
  signal: AbortSignal,
): Promise<unknown> {
  const dc = requestDc(c, d);
  // The token travels with every call, to the leader or another datacenter, and is checked by the
  // server that serves it (server/forward.ts); '' (anonymous) is left out of the frame.
  const token = 'token' in args ? '' : requestSecret(c, d);
  let full = token === '' ? args : { ...args, token };
  if (dc !== undefined) full = { ...full, dc };
  return d.agent.forwarder.call(method, full, signal);
}

/**
 * The token secret a request acts with: its own (`?token=`, X-Consul-Token, Bearer), else the
 * agent's `default` token, else '' (the anonymous token). What every route passes as `token`.
 */
export function requestSecret(c: Context, d: HttpDeps): string {
  // (Partial agents in tests may carry no acl block: ACLs off, no default token.)
  const acl = d.agent.config.acl as AgentConfig['acl'] | undefined;
  return requestToken(c) || (acl?.tokens.default ?? '');
}

/** What the request's token may do (Contract D), resolved by this agent (its server, or a cache). */
export function requestAuthorizer(c: Context, d: HttpDeps): Promise<Authorizer> {
  return d.agent.acl.resolve(requestSecret(c, d));
}
