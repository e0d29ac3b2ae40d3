// Tokens and policies as the API speaks them: decoding request bodies (Go's case-insensitive field
// matching, Consul's messages), the hashes Consul shows, the redacted secret, and the built-in
// global-management policy and anonymous token.

import { createHash } from 'node:crypto';
import { badRequest } from '../core/errors.js';
import { fieldReader, view, type Obj } from '../core/json-fields.js';
import type { AclPolicy, AclPolicyInput, AclTokenInput, AclTokenView } from '../state/acl.js';
import {
  ANONYMOUS_TOKEN_ID,
  ANONYMOUS_TOKEN_SECRET,
  GLOBAL_MANAGEMENT_POLICY_ID,
  GLOBAL_MANAGEMENT_POLICY_NAME,
  GLOBAL_MANAGEMENT_RULES,
} from './authorizer.js';

/** Consul's redactedToken: what a reader without acl:write sees instead of a SecretID. */
export const REDACTED_SECRET = '<hidden>';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID.test(s);

/** Consul's ACLReservedPrefix: IDs of built-ins; nobody else may take one. */
export const RESERVED_PREFIX = '00000000-0000-0000-0000-0000000000';

/** Consul's validPolicyName. */
export const POLICY_NAME_RE = /^[A-Za-z0-9\-_]{1,128}$/;

/** An object body (absent: an empty one) as a case- and underscore-insensitive view. */
function body(raw: unknown, fail: (m: string) => Error): Obj {
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw)))
    throw fail('expected a JSON object');
  return view(raw, 'body');
}

/** Features of Consul's tokens this build has not (a request using one is refused, not ignored). */
const UNSUPPORTED_TOKEN_FIELDS = [
  'Roles',
  'ServiceIdentities',
  'NodeIdentities',
  'TemplatedPolicies',
  'ExpirationTime',
  'ExpirationTTL',
  'AuthMethod',
  'Namespace',
  'Partition',
];

export interface TokenRequest {
  AccessorID: string;
  SecretID: string;
  Description: string;
  /** Links as given: by ID or by Name. */
  Policies: { ID: string; Name: string }[];
  Local: boolean;
}

export function decodeTokenBody(raw: unknown): TokenRequest {
  const prefix = 'Token decoding failed: ';
  const r = fieldReader(prefix);
  const o = body(raw, (m) => badRequest(prefix + m));
  for (const f of UNSUPPORTED_TOKEN_FIELDS) {
    const v = o[f.toLowerCase()];
    if (v === undefined || v === null || v === '' || v === 0 || (Array.isArray(v) && v.length === 0))
      continue;
    throw badRequest(`${f} is not supported by Consulate (only policies link tokens to rules)`);
  }
  if (r.str(o, 'rules', 'Rules') !== '') throw badRequest('Rules cannot be specified for this token');
  if (r.str(o, 'type', 'Type') !== '') throw badRequest('Type cannot be specified for this token');
  const links = o['policies'];
  const Policies: TokenRequest['Policies'] = [];
  if (links !== undefined && links !== null) {
    const bad = (): Error => badRequest(`${prefix}Policies must be a list of {ID, Name}`);
    if (!Array.isArray(links)) throw bad();
    for (const l of links) {
      if (typeof l !== 'object' || l === null || Array.isArray(l)) throw bad();
      const link = view(l, 'Policies');
      Policies.push({ ID: r.str(link, 'id', 'ID'), Name: r.str(link, 'name', 'Name') });
    }
  }
  return {
    AccessorID: r.str(o, 'accessorid', 'AccessorID'),
    SecretID: r.str(o, 'secretid', 'SecretID'),
    Description: r.str(o, 'description', 'Description'),
    Policies,
    Local: r.bool(o, 'local', 'Local'),
  };
}

export interface PolicyRequest {
  ID: string;
  Name: string;
  Description: string;
  Rules: string;
  Datacenters: string[] | null;
}

export function decodePolicyBody(raw: unknown): PolicyRequest {
  const prefix = 'Policy decoding failed: ';
  const r = fieldReader(prefix);
  if (raw === undefined || raw === null) throw badRequest(`${prefix}expected a JSON object`);
  const o = body(raw, (m) => badRequest(prefix + m));
  for (const f of ['Namespace', 'Partition']) {
    if (r.str(o, f.toLowerCase(), f) !== '') throw badRequest(`${f} is not supported by Consulate`);
  }
  const dcs = r.strList(o['datacenters'], 'Datacenters');
  return {
    ID: r.str(o, 'id', 'ID'),
    Name: r.str(o, 'name', 'Name'),
    Description: r.str(o, 'description', 'Description'),
    Rules: r.str(o, 'rules', 'Rules'),
    Datacenters: dcs.length === 0 ? null : dcs,
  };
}

const hash = (parts: unknown): string =>
  createHash('sha256').update(JSON.stringify(parts), 'utf8').digest('base64');

/** What changes a token's meaning, hashed (Consul shows a blake2b hash; ours is SHA-256). */
export function tokenHash(t: Pick<AclTokenInput, 'Description' | 'Policies' | 'Local'>): string {
  return hash([t.Description, t.Policies.map((p) => p.ID), t.Local]);
}

export function policyHash(
  p: Pick<AclPolicyInput, 'Name' | 'Description' | 'Rules' | 'Datacenters'>,
): string {
  return hash([p.Name, p.Description, p.Rules, p.Datacenters]);
}

/** The token as Consul's JSON shows it (SecretID hidden unless `showSecret`). */
export function tokenJson(t: AclTokenView, showSecret: boolean): Record<string, unknown> {
  return {
    AccessorID: t.AccessorID,
    SecretID: showSecret ? t.SecretID : REDACTED_SECRET,
    Description: t.Description,
    Policies: t.Policies.map((p) => ({ ID: p.ID, Name: p.Name })),
    Local: t.Local,
    CreateTime: t.CreateTime,
    Hash: t.Hash,
    CreateIndex: t.CreateIndex,
    ModifyIndex: t.ModifyIndex,
  };
}

export function policyJson(p: AclPolicy): Record<string, unknown> {
  return {
    ID: p.ID,
    Name: p.Name,
    Description: p.Description,
    Rules: p.Rules,
    Datacenters: p.Datacenters,
    Hash: p.Hash,
    CreateIndex: p.CreateIndex,
    ModifyIndex: p.ModifyIndex,
  };
}

/** Consul's ACLPolicyListStub: a policy without its rules. */
export function policyStubJson(p: AclPolicy): Record<string, unknown> {
  const { Rules: _rules, ...stub } = policyJson(p);
  return stub;
}

export function globalManagementPolicy(): AclPolicyInput {
  const p = {
    ID: GLOBAL_MANAGEMENT_POLICY_ID,
    Name: GLOBAL_MANAGEMENT_POLICY_NAME,
    Description: 'Builtin Policy that grants unlimited access',
    Rules: GLOBAL_MANAGEMENT_RULES,
    Datacenters: null,
  };
  return { ...p, Hash: policyHash(p) };
}

export function anonymousToken(createTime: string): AclTokenInput {
  const t = { Description: 'Anonymous Token', Policies: [], Local: false };
  return {
    AccessorID: ANONYMOUS_TOKEN_ID,
    SecretID: ANONYMOUS_TOKEN_SECRET,
    ...t,
    CreateTime: createTime,
    Hash: tokenHash(t),
  };
}

/** A management token (bootstrap, initial_management): linked to global-management. */
export function managementToken(
  accessorId: string,
  secretId: string,
  description: string,
  createTime: string,
): AclTokenInput {
  const t = { Description: description, Policies: [{ ID: GLOBAL_MANAGEMENT_POLICY_ID }], Local: false };
  return { AccessorID: accessorId, SecretID: secretId, ...t, CreateTime: createTime, Hash: tokenHash(t) };
}
