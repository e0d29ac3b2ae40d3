// /v1/acl/*: Consul's ACL API (agent/acl_endpoint.go): bootstrap, tokens and policies. With ACLs
// off every one of them answers 401 "ACL support disabled" without asking a server. Permissions
// are the servers' to check (rpc/endpoints/acl.ts); here the body is read, the URL parsed and the
// request's token passed on.

import type { Context } from 'hono';
import { aclDisabled, permissionDenied } from '../../acl/authorizer.js';
import { agentTokenKind, setAgentToken } from '../../acl/agent-tokens.js';
import { badRequest } from '../../core/errors.js';
import type { EndpointName } from '../../rpc/endpoints/index.js';
import type { QueryResult } from '../../rpc/endpoints/types.js';
import type { HttpDeps } from '../app.js';
import { readJson } from '../body.js';
import { callEndpoint, requestAuthorizer, requestSecret } from '../endpoint.js';
import { parseQueryOptions } from '../query.js';
import { bodyOf, signalOf, urlOf } from '../request.js';
import { json } from '../respond.js';

/** Policies are text; Consul caps request bodies, and so do we. */
const MAX_BODY = 512 * 1024;

function enabled(d: HttpDeps): void {
  if (!d.agent.config.acl.enabled) throw aclDisabled();
}

/** The path segment after `prefix` (the rest of the path, as Consul's TrimPrefix takes it). */
function tail(c: Context, prefix: string, suffix = ''): string {
  const path = urlOf(c).pathname;
  let v = path.startsWith(prefix) ? path.slice(prefix.length) : '';
  if (suffix !== '' && v.endsWith(suffix)) v = v.slice(0, -suffix.length);
  try {
    return decodeURIComponent(v);
  } catch {
    throw badRequest('Malformed escape in the URL path');
  }
}

async function body(c: Context, what: 'Token' | 'Policy', optional: boolean): Promise<unknown> {
  const bytes = await bodyOf(c, MAX_BODY);
  if (bytes.byteLength === 0) {
    if (optional) return {};
    throw badRequest(`${what} decoding failed: empty body`);
  }
  try {
    return readJson(bytes);
  } catch (err) {
    throw badRequest(
      `${what} decoding failed: ${(err as Error).message.replace(/^Request decode failed: /, '')}`,
    );
  }
}

async function write(c: Context, d: HttpDeps, method: EndpointName, args: object): Promise<Response> {
  enabled(d);
  const value = await callEndpoint(c, d, method, { ...args, token: requestSecret(c, d) }, signalOf(c, false));
  return json(c, value);
}

async function read(c: Context, d: HttpDeps, method: EndpointName, args: object): Promise<Response> {
  enabled(d);
  const q = parseQueryOptions(urlOf(c));
  const r = (await callEndpoint(
    c,
    d,
    method,
    { ...args, q, token: requestSecret(c, d) },
    signalOf(c, q.minIndex > 0),
  )) as QueryResult<unknown>;
  return json(c, r.value, { meta: r.meta });
}

export const aclBootstrap = (c: Context, d: HttpDeps): Promise<Response> => write(c, d, 'ACL.Bootstrap', {});

export async function tokenCreate(c: Context, d: HttpDeps): Promise<Response> {
  enabled(d);
  return write(c, d, 'ACL.TokenSet', { body: await body(c, 'Token', false), create: true });
}

export const tokenSelf = (c: Context, d: HttpDeps): Promise<Response> =>
  read(c, d, 'ACL.TokenRead', { self: true });

export function tokenRead(c: Context, d: HttpDeps): Promise<Response> {
  return read(c, d, 'ACL.TokenRead', { accessorId: tail(c, '/v1/acl/token/') });
}

export async function tokenUpdate(c: Context, d: HttpDeps): Promise<Response> {
  enabled(d);
  const accessorId = tail(c, '/v1/acl/token/');
  return write(c, d, 'ACL.TokenSet', { body: await body(c, 'Token', false), create: false, accessorId });
}

export function tokenDelete(c: Context, d: HttpDeps): Promise<Response> {
  return write(c, d, 'ACL.TokenDelete', { accessorId: tail(c, '/v1/acl/token/') });
}

export async function tokenClone(c: Context, d: HttpDeps): Promise<Response> {
  enabled(d);
  const b = (await body(c, 'Token', true)) as { Description?: unknown } | null;
  const description = typeof b?.Description === 'string' ? b.Description : '';
  const accessorId = tail(c, '/v1/acl/token/', '/clone');
  return write(c, d, 'ACL.TokenClone', { accessorId, description });
}

export function tokenList(c: Context, d: HttpDeps): Promise<Response> {
  return read(c, d, 'ACL.TokenList', { policy: urlOf(c).searchParams.get('policy') ?? '' });
}

export async function policyCreate(c: Context, d: HttpDeps): Promise<Response> {
  enabled(d);
  return write(c, d, 'ACL.PolicySet', { body: await body(c, 'Policy', false), create: true });
}

export function policyRead(c: Context, d: HttpDeps): Promise<Response> {
  return read(c, d, 'ACL.PolicyRead', { policyId: tail(c, '/v1/acl/policy/') });
}

export function policyReadByName(c: Context, d: HttpDeps): Promise<Response> {
  return read(c, d, 'ACL.PolicyRead', { name: tail(c, '/v1/acl/policy/name/') });
}

export async function policyUpdate(c: Context, d: HttpDeps): Promise<Response> {
  enabled(d);
  const policyId = tail(c, '/v1/acl/policy/');
  return write(c, d, 'ACL.PolicySet', { body: await body(c, 'Policy', false), create: false, policyId });
}

export function policyDelete(c: Context, d: HttpDeps): Promise<Response> {
  return write(c, d, 'ACL.PolicyDelete', { policyId: tail(c, '/v1/acl/policy/') });
}

export const policyList = (c: Context, d: HttpDeps): Promise<Response> => read(c, d, 'ACL.PolicyList', {});

/**
 * PUT /v1/agent/token/<kind>: sets this agent's default or agent token (Consul needs acl:write on
 * the caller), persisted with acl.enable_token_persistence. Answers 200 with an empty body.
 */
export async function agentTokenSet(c: Context, d: HttpDeps): Promise<Response> {
  enabled(d);
  const kind = agentTokenKind(c.req.param('kind') ?? '');
  const authz = await requestAuthorizer(c, d);
  if (!authz.allowedGlobal('acl', 'write')) throw permissionDenied(authz, 'acl', 'write');
  const b = await body(c, 'Token', false);
  const fields = typeof b === 'object' && b !== null ? (b as Record<string, unknown>) : {};
  const key = Object.keys(fields).find((k) => k.toLowerCase() === 'token');
  const token = key === undefined ? '' : fields[key];
  if (typeof token !== 'string') throw badRequest('Token decoding failed: Token must be a string');
  await setAgentToken(d.agent.config, kind, token);
  // DNS answers were filtered with the old default token (absent in partial test agents).
  if (kind === 'default') d.agent.dns?.cache.flush();
  d.logger.info({ kind }, 'acl: agent token updated');
  return new Response('', { status: 200 });
}
