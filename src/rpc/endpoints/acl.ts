// The ACL endpoints (Consul's agent/consul/acl_endpoint.go): bootstrap, tokens and policies. Each
// resolves the caller's token against this server's state and checks its own permission: acl:read
// to read, acl:write to change (a token read by its own secret, /token/self, needs none). Writes run
// on this datacenter's leader; Consul sends global ACL writes to the primary datacenter instead (see
// README-acl.md). Checks that depend on state run here, before Raft, and again in the store where a
// race could matter (secret and name uniqueness, the one bootstrap).

import { badRequest, ConsulError, ErrorCode } from '../../core/errors.js';
import type { AclConfig } from '../../config/config.js';
import {
  aclDisabled,
  aclNotFound,
  ANONYMOUS_TOKEN_ID,
  GLOBAL_MANAGEMENT_POLICY_ID,
  permissionDenied,
  type Authorizer,
} from '../../acl/authorizer.js';
import type { ResolvedIdentity, StoreResolver } from '../../acl/resolver.js';
import { parseRules } from '../../acl/rules.js';
import { secretsEqual } from '../../acl/secret.js';
import {
  decodePolicyBody,
  decodeTokenBody,
  globalManagementPolicy,
  isUuid,
  managementToken,
  anonymousToken,
  policyHash,
  policyJson,
  policyStubJson,
  POLICY_NAME_RE,
  RESERVED_PREFIX,
  tokenHash,
  tokenJson,
  type TokenRequest,
} from '../../acl/tokens.js';
import type { AclPolicy, AclToken, AclTokenInput, AclTokenView } from '../../state/acl.js';
import type { StateStore } from '../../state/store.js';
import { topic } from '../../state/watch.js';
import type { EndpointContext, ReadArgs, ReadEndpoint, WriteEndpoint } from './index.js';

/** What the ACL endpoints need from the server they run on (absent: ACLs are off). */
export interface AclContext {
  config: AclConfig;
  resolver: StoreResolver;
  /** A fresh random UUID (drawn before Raft, as every ID is). */
  newId(): string;
  /** The proposer's clock, RFC 3339 (CreateTime). */
  now(): string;
  /**
   * Consul's acl-bootstrap-reset file in the data dir: the reset index an operator wrote there to
   * allow one more bootstrap (0 when there is none); `consume` removes it once read.
   */
  bootstrapReset?: { read(): number; consume(): void };
}

/** Every ACL request carries the caller's token secret ('' = anonymous). */
export interface TokenArgs {
  token?: string;
}

function aclOf(c: EndpointContext): AclContext {
  if (!c.acl || !c.acl.config.enabled) throw aclDisabled();
  return c.acl;
}

function authorize(c: EndpointContext, a: TokenArgs): Authorizer {
  return aclOf(c).resolver.authorize(typeof a.token === 'string' ? a.token : '');
}

function requireAcl(authz: Authorizer, access: 'read' | 'write'): void {
  if (!authz.allowedGlobal('acl', access)) throw permissionDenied(authz, 'acl', access);
}

function newUniqueId(acl: AclContext, taken: (id: string) => boolean): string {
  for (;;) {
    const id = acl.newId();
    if (!id.startsWith(RESERVED_PREFIX) && !taken(id)) return id;
  }
}

const idTaken = (s: StateStore) => (id: string) =>
  s.aclToken(id) !== undefined || s.aclTokenBySecret(id) !== undefined;

/**
 * The built-ins Consul creates when a leader takes office with ACLs on: the global-management
 * policy (its rules restored if they differ) and the anonymous token; and the initial_management
 * token when the config names one (it counts as the bootstrap when none happened yet).
 */
export async function ensureAclBuiltins(
  store: StateStore,
  apply: EndpointContext['apply'],
  acl: AclContext,
): Promise<string[]> {
  const done: string[] = [];
  const gm = store.aclPolicy(GLOBAL_MANAGEMENT_POLICY_ID);
  const want = globalManagementPolicy();
  if (!gm || gm.Rules !== want.Rules) {
    const p = gm ? { ...want, Name: gm.Name, Description: gm.Description } : want;
    await apply({ type: 'aclPolicySet', policy: { ...p, Hash: policyHash(p) } });
    done.push('created the global-management policy');
  }
  if (!store.aclToken(ANONYMOUS_TOKEN_ID)) {
    await apply({ type: 'aclTokenSet', token: anonymousToken(acl.now()) });
    done.push('created the anonymous token');
  }
  const secret = acl.config.tokens.initialManagement;
  if (secret !== '' && !store.aclTokenBySecret(secret)) {
    const token = managementToken(
      newUniqueId(acl, idTaken(store)),
      secret,
      'Initial Management Token',
      acl.now(),
    );
    if (store.aclCanBootstrap().allowed) await apply({ type: 'aclBootstrap', token, resetIndex: 0 });
    else await apply({ type: 'aclTokenSet', token });
    done.push('created the initial management token from the configuration');
  }
  return done;
}

// ---------------------------------------------------------------- tokens

async function bootstrap(c: EndpointContext, _a: TokenArgs): Promise<unknown> {
  const acl = aclOf(c);
  const can = c.store.aclCanBootstrap();
  let resetIndex = 0;
  if (!can.allowed) {
    resetIndex = acl.bootstrapReset?.read() ?? 0;
    if (resetIndex === 0) {
      throw new ConsulError(
        ErrorCode.PermissionDenied,
        `Permission denied: ACL bootstrap no longer allowed (reset index: ${can.resetIndex})`,
      );
    }
    if (resetIndex !== can.resetIndex) {
      throw badRequest(
        `Invalid bootstrap reset index (specified ${resetIndex}, reset index: ${can.resetIndex})`,
      );
    }
  }
  // A valid reset is used once: a snapshot restored later must not find the file still there.
  if (resetIndex !== 0) acl.bootstrapReset?.consume();
  // The leader makes the built-ins as it takes office; a bootstrap may come first.
  if (!c.store.aclPolicy(GLOBAL_MANAGEMENT_POLICY_ID))
    await ensureAclBuiltins(c.store, (cmd) => c.apply(cmd), acl);
  const taken = idTaken(c.store);
  const accessor = newUniqueId(acl, taken);
  const secret = newUniqueId(acl, (id) => taken(id) || id === accessor);
  const token = managementToken(accessor, secret, 'Bootstrap Token (Global Management)', acl.now());
  await c.apply({ type: 'aclBootstrap', token, resetIndex });
  const stored = c.store.aclToken(accessor) as AclToken;
  return tokenJson(c.store.aclTokenView(stored), true);
}

/** Policy links by name or ID → IDs that exist, deduplicated (Consul's messages). */
function resolveLinks(s: StateStore, links: TokenRequest['Policies']): { ID: string }[] {
  const out: { ID: string }[] = [];
  for (const l of links) {
    let id = l.ID;
    if (id === '') {
      const p = s.aclPolicyByName(l.Name);
      if (!p) throw badRequest(`No such ACL policy with name ${JSON.stringify(l.Name)}`);
      id = p.ID;
    } else if (!s.aclPolicy(id)) {
      throw badRequest(`No such ACL policy with ID ${JSON.stringify(id)}`);
    }
    if (!out.some((x) => x.ID === id)) out.push({ ID: id });
  }
  return out;
}

/** Consul's tokenSetInternal: create (IDs drawn or checked) or update (the token must exist). */
async function setToken(c: EndpointContext, req: TokenRequest, create: boolean): Promise<unknown> {
  const acl = aclOf(c);
  const s = c.store;
  let accessor = req.AccessorID;
  let secret = req.SecretID;
  let createTime = acl.now();
  if (accessor === '' || create) {
    const taken = idTaken(s);
    if (accessor === '') accessor = newUniqueId(acl, taken);
    else if (!isUuid(accessor)) throw badRequest('Invalid Token: AccessorID is not a valid UUID');
    else if (taken(accessor)) throw badRequest('Invalid Token: AccessorID is already in use');
    else if (accessor.startsWith(RESERVED_PREFIX))
      throw badRequest(
        `Invalid Token: UUIDs with the prefix ${JSON.stringify(RESERVED_PREFIX)} are reserved`,
      );
    if (secret === '') secret = newUniqueId(acl, (id) => taken(id) || id === accessor);
    else if (!isUuid(secret)) throw badRequest('Invalid Token: SecretID is not a valid UUID');
    else if (taken(secret) || secret === accessor)
      throw badRequest('Invalid Token: SecretID is already in use');
    else if (secret.startsWith(RESERVED_PREFIX))
      throw badRequest(
        `Invalid Token: UUIDs with the prefix ${JSON.stringify(RESERVED_PREFIX)} are reserved`,
      );
  } else {
    if (!isUuid(accessor)) throw badRequest('AccessorID is not a valid UUID');
    const old = s.aclToken(accessor);
    if (!old) throw badRequest(`Cannot find token ${JSON.stringify(accessor)}`);
    if (secret === '') secret = old.SecretID;
    else if (!secretsEqual(secret, old.SecretID))
      throw badRequest('Changing a tokens SecretID is not permitted');
    if (req.Local !== old.Local) throw badRequest(`cannot toggle local mode of ${accessor}`);
    createTime = old.CreateTime;
  }
  const body = { Description: req.Description, Policies: resolveLinks(s, req.Policies), Local: req.Local };
  const token: AclTokenInput = {
    AccessorID: accessor,
    SecretID: secret,
    ...body,
    CreateTime: createTime,
    Hash: tokenHash(body),
  };
  await c.apply({ type: 'aclTokenSet', token });
  return tokenJson(s.aclTokenView(s.aclToken(accessor) as AclToken), true);
}

export interface TokenSetArgs extends TokenArgs {
  body: unknown;
  create: boolean;
  /** The AccessorID in the URL of an update ('' on create). */
  accessorId?: string;
}

async function tokenSet(c: EndpointContext, a: TokenSetArgs): Promise<unknown> {
  requireAcl(authorize(c, a), 'write');
  const req = decodeTokenBody(a.body);
  if (!a.create) {
    const id = a.accessorId ?? '';
    if (req.AccessorID !== '' && req.AccessorID !== id)
      throw badRequest('Token Accessor ID in URL and payload do not match');
    req.AccessorID = id;
  }
  return setToken(c, req, a.create);
}

async function tokenClone(
  c: EndpointContext,
  a: TokenArgs & { accessorId: string; description?: string },
): Promise<unknown> {
  requireAcl(authorize(c, a), 'write');
  const t = c.store.aclToken(a.accessorId);
  if (!t) throw aclNotFound();
  return setToken(
    c,
    {
      AccessorID: '',
      SecretID: '',
      Description: a.description ? a.description : t.Description,
      Policies: t.Policies.map((l) => ({ ID: l.ID, Name: '' })),
      Local: t.Local,
    },
    true,
  );
}

async function tokenDelete(c: EndpointContext, a: TokenArgs & { accessorId: string }): Promise<unknown> {
  requireAcl(authorize(c, a), 'write');
  if (typeof a.accessorId !== 'string' || !isUuid(a.accessorId))
    throw badRequest('Accessor ID is missing or an invalid UUID');
  if (a.accessorId === ANONYMOUS_TOKEN_ID)
    throw badRequest('Delete operation not permitted on the anonymous token');
  const t = c.store.aclToken(a.accessorId);
  if (!t) return true;
  if (secretsEqual(a.token ?? '', t.SecretID))
    throw badRequest("Deletion of the request's authorization token is not permitted");
  await c.apply({ type: 'aclTokenDelete', accessorId: a.accessorId });
  return true;
}

export type TokenReadArgs = ReadArgs & TokenArgs & ({ accessorId: string } | { self: true });

function tokenRead(c: EndpointContext, a: TokenReadArgs, ws: Parameters<ReadEndpoint<never>['run']>[2]) {
  if ('self' in a) {
    // Whoever holds the secret may read its token (Consul's TokenRead by secret).
    aclOf(c);
    const r = c.store.aclTokenGetBySecret(a.token ?? '', ws);
    if (!r.value) throw aclNotFound();
    return { index: r.index, value: tokenJson(r.value, true) };
  }
  const authz = authorize(c, a);
  requireAcl(authz, 'read');
  const r = c.store.aclTokenGet(a.accessorId, ws);
  if (!r.value) throw aclNotFound();
  return { index: r.index, value: tokenJson(r.value, authz.allowedGlobal('acl', 'write')) };
}

function tokenList(
  c: EndpointContext,
  a: ReadArgs & TokenArgs & { policy?: string },
  ws: Parameters<ReadEndpoint<never>['run']>[2],
) {
  const authz = authorize(c, a);
  requireAcl(authz, 'read');
  const show = authz.allowedGlobal('acl', 'write');
  const r = c.store.aclTokenList(a.policy ?? '', ws);
  return { index: r.index, value: r.value.map((t: AclTokenView) => tokenJson(t, show)) };
}

// ---------------------------------------------------------------- policies

export interface PolicySetArgs extends TokenArgs {
  body: unknown;
  create: boolean;
  policyId?: string;
}

async function policySet(c: EndpointContext, a: PolicySetArgs): Promise<unknown> {
  const acl = aclOf(c);
  requireAcl(authorize(c, a), 'write');
  const req = decodePolicyBody(a.body);
  if (a.create) {
    if (req.ID !== '') throw badRequest('Cannot specify the ID when creating a new policy');
  } else {
    const id = a.policyId ?? '';
    if (req.ID !== '' && req.ID !== id) throw badRequest('Policy ID in URL and payload do not match');
    req.ID = id;
  }
  const s = c.store;
  if (req.Name === '') throw badRequest('Invalid Policy: no Name is set');
  if (!POLICY_NAME_RE.test(req.Name))
    throw badRequest("Invalid Policy: invalid Name. Only alphanumeric characters, '-' and '_' are allowed");
  const byName = s.aclPolicyByName(req.Name);
  if (req.ID === '') {
    if (byName)
      throw badRequest(`Invalid Policy: A Policy with Name ${JSON.stringify(req.Name)} already exists`);
    req.ID = newUniqueId(acl, (id) => s.aclPolicy(id) !== undefined);
  } else {
    if (!isUuid(req.ID)) throw badRequest('Policy ID invalid UUID');
    const old = s.aclPolicy(req.ID);
    if (!old) throw badRequest(`cannot find policy ${req.ID}`);
    if (byName && byName.ID !== req.ID)
      throw badRequest(`Invalid Policy: A policy with name ${JSON.stringify(req.Name)} already exists`);
    if (req.ID === GLOBAL_MANAGEMENT_POLICY_ID) {
      if (req.Datacenters !== null)
        throw badRequest('Changing the Datacenters of the builtin global-management policy is not permitted');
      if (req.Rules !== old.Rules)
        throw badRequest('Changing the Rules for the builtin global-management policy is not permitted');
    }
  }
  parseRules(req.Rules);
  const policy = { ...req, Hash: policyHash(req) };
  await c.apply({ type: 'aclPolicySet', policy });
  return policyJson(s.aclPolicy(req.ID) as AclPolicy);
}

async function policyDelete(c: EndpointContext, a: TokenArgs & { policyId: string }): Promise<unknown> {
  requireAcl(authorize(c, a), 'write');
  const p = c.store.aclPolicy(a.policyId);
  if (!p) return true;
  if (p.ID === GLOBAL_MANAGEMENT_POLICY_ID)
    throw badRequest('Delete operation not permitted on the builtin global-management policy');
  await c.apply({ type: 'aclPolicyDelete', id: p.ID });
  return true;
}

const read = <A>(run: ReadEndpoint<A>['run']): ReadEndpoint<A> => ({ kind: 'read', run });
const write = <A>(run: WriteEndpoint<A>['run']): WriteEndpoint<A> => ({ kind: 'write', run });

export const aclEndpoints = {
  'ACL.Bootstrap': write<TokenArgs>(bootstrap),
  'ACL.TokenSet': write<TokenSetArgs>(tokenSet),
  'ACL.TokenClone': write<TokenArgs & { accessorId: string; description?: string }>(tokenClone),
  'ACL.TokenDelete': write<TokenArgs & { accessorId: string }>(tokenDelete),
  'ACL.TokenRead': read<TokenReadArgs>(tokenRead),
  'ACL.TokenList': read<ReadArgs & TokenArgs & { policy?: string }>(tokenList),
  'ACL.PolicySet': write<PolicySetArgs>(policySet),
  'ACL.PolicyDelete': write<TokenArgs & { policyId: string }>(policyDelete),
  'ACL.PolicyRead': read<ReadArgs & TokenArgs & ({ policyId: string } | { name: string })>((c, a, ws) => {
    requireAcl(authorize(c, a), 'read');
    const r = 'name' in a ? c.store.aclPolicyGetByName(a.name, ws) : c.store.aclPolicyGet(a.policyId, ws);
    if (!r.value) throw aclNotFound();
    return { index: r.index, value: policyJson(r.value) };
  }),
  'ACL.PolicyList': read<ReadArgs & TokenArgs>((c, a, ws) => {
    requireAcl(authorize(c, a), 'read');
    const r = c.store.aclPolicyList(ws);
    return { index: r.index, value: r.value.map(policyStubJson) };
  }),
  /**
   * How a client agent learns what a token may do: its AccessorID and its policies' rules (the
   * client compiles them with its own default policy). Anyone holding a secret may resolve it.
   */
  'ACL.Resolve': read<ReadArgs & TokenArgs>((c, a, ws) => {
    const acl = aclOf(c);
    ws.add(topic.aclTokens);
    ws.add(topic.aclPolicies);
    const value: ResolvedIdentity = acl.resolver.identity(a.token ?? '');
    return { index: c.store.aclIndex() || 1, value };
  }),
};
