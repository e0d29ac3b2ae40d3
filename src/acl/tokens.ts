// Tokens and policies as the API speaks them: decoding request bodies (Go's case-insensitive field
// matching, Consul's messages), the hashes Consul shows, the redacted secret, and the built-in
// global-management policy and anonymous token.

import { createHash } from 'node:crypto';
import { badRequest } from '../core/errors.js';
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

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function field(o: Obj, name: string): unknown {
  if (Object.hasOwn(o, name)) return o[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(o)) if (k.toLowerCase() === lower) return o[k];
  return undefined;
}

function str(o: Obj, name: string, fail: (m: string) => Error): string {
  const v = field(o, name);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw fail(`${name} must be a string`);
  return v;
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
  const fail = (m: string): Error => badRequest(`Token decoding failed: ${m}`);
  if (raw === undefined || raw === null) raw = {};
  if (!isObj(raw)) throw fail('expected a JSON object');
  for (const f of UNSUPPORTED_TOKEN_FIELDS) {
    const v = field(raw, f);
    if (v === undefined || v === null || v === '' || v === 0 || (Array.isArray(v) && v.length === 0))
      continue;
    throw badRequest(`${f} is not supported by Consulate (only policies link tokens to rules)`);
  }
  if (str(raw, 'Rules', fail) !== '') throw badRequest('Rules cannot be specified for this token');
  if (str(raw, 'Type', fail) !== '') throw badRequest('Type cannot be specified for this token');
  const links = field(raw, 'Policies');
  const Policies: TokenRequest['Policies'] = [];
  if (links !== undefined && links !== null) {
    if (!Array.isArray(links)) throw fail('Policies must be a list of {ID, Name}');
    for (const l of links) {
      if (!isObj(l)) throw fail('Policies must be a list of {ID, Name}');
      Policies.push({ ID: str(l, 'ID', fail), Name: str(l, 'Name', fail) });
    }
  }
  const local = field(raw, 'Local');
  if (local !== undefined && local !== null && typeof local !== 'boolean')
    throw fail('Local must be a boolean');
  return {
    AccessorID: str(raw, 'AccessorID', fail),
    SecretID: str(raw, 'SecretID', fail),
    Description: str(raw, 'Description', fail),
    Policies,
    Local: local === true,
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
  const fail = (m: string): Error => badRequest(`Policy decoding failed: ${m}`);
  if (!isObj(raw)) throw fail('expected a JSON object');
  for (const f of ['Namespace', 'Partition']) {
    if (str(raw, f, fail) !== '') throw badRequest(`${f} is not supported by Consulate`);
  }
  const dcs = field(raw, 'Datacenters');
  let Datacenters: string[] | null = null;
  if (dcs !== undefined && dcs !== null) {
    if (!Array.isArray(dcs) || !dcs.every((d) => typeof d === 'string'))
      throw fail('Datacenters must be a list of strings');
    Datacenters = dcs.length === 0 ? null : [...dcs];
  }
  return {
    ID: str(raw, 'ID', fail),
    Name: str(raw, 'Name', fail),
    Description: str(raw, 'Description', fail),
    Rules: str(raw, 'Rules', fail),
    Datacenters,
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
