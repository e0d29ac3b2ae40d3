// ACL checks for the routes an agent answers itself (its members, its services and checks, its
// metrics and logs, its reload): these never reach a server's endpoint table, so the spec that
// guards them sits here, beside the route table. The token is resolved by this agent (its server's
// state, or a client's cache) with the same resolver as everything else, and a missing permission
// is Consul's 403. Facts from Consul's agent/agent_endpoint.go (which permission each route needs).

import type { Context } from 'hono';
import {
  permissionDenied,
  type Access,
  type Authorizer,
  type GlobalResource,
  type SegmentedResource,
} from '../acl/authorizer.js';
import type { AgentConfig } from '../config/config.js';
import type { HttpDeps, RouteHandler } from './app.js';
import { requestAuthorizer } from './endpoint.js';

/** Throws Consul's 403 when the token lacks what the route needs; may look at the request. */
export type LocalCheck = (authz: Authorizer, c: Context, d: HttpDeps) => void | Promise<void>;

/** Whether ACLs are on for this agent (partial agents in tests may carry no acl block: off). */
export function aclEnabled(d: HttpDeps): boolean {
  const acl = d.agent.config.acl as AgentConfig['acl'] | undefined;
  return acl?.enabled === true;
}

/**
 * The route's handler behind its check. With ACLs off nothing is resolved. The authorizer is kept
 * for the handler (`authorizerOf`) when it filters what it returns or checks what the body names.
 */
export function guarded(check: LocalCheck, handler: RouteHandler): RouteHandler {
  return async (c, d) => {
    if (aclEnabled(d)) {
      const authz = await requestAuthorizer(c, d);
      await check(authz, c, d);
      authorizers.set(c, authz);
    }
    return handler(c, d);
  };
}

/** For routes whose permission depends on what the body or the agent's state names. */
export const checkedInHandler: LocalCheck = () => undefined;

const authorizers = new WeakMap<Context, Authorizer>();

/** The authorizer `guarded` resolved for this request; undefined with ACLs off (allow all). */
export function authorizerOf(c: Context): Authorizer | undefined {
  return authorizers.get(c);
}

/** Throws Consul's 403 unless the request's token has `access` on `resource` `name`. */
export function need(c: Context, resource: SegmentedResource, name: string, access: Access): void {
  const authz = authorizers.get(c);
  if (authz && !authz.allowed(resource, name, access)) throw permissionDenied(authz, resource, access, name);
}

/** Whether the request's token may see an item (true with ACLs off). */
export function mayRead(c: Context, resource: SegmentedResource, name: string): boolean {
  const authz = authorizers.get(c);
  return !authz || authz.allowed(resource, name, 'read');
}

/** agent:<access> on this agent's own node name (Consul's vetAgent...). */
export function agentAccess(access: Access): LocalCheck {
  return (authz, _c, d) => {
    const name = d.agent.config.nodeName;
    if (!authz.allowed('agent', name, access)) throw permissionDenied(authz, 'agent', access, name);
  };
}

/** operator:read|write, keyring:read|write, acl:read|write. */
export function globalAccess(resource: GlobalResource, access: 'read' | 'write'): LocalCheck {
  return (authz) => {
    if (!authz.allowedGlobal(resource, access)) throw permissionDenied(authz, resource, access);
  };
}

export const agentRead = agentAccess('read');
export const agentWrite = agentAccess('write');
export const operatorRead = globalAccess('operator', 'read');
export const operatorWrite = globalAccess('operator', 'write');
