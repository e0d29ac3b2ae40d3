// The ACL tables (Consul's state/acl.go): tokens by AccessorID, by SecretID and by the policies they
// link to; policies by ID and by (case-insensitive) name; and the bootstrap marker, the Raft index
// of the one bootstrap allowed (0 while none happened). Only the store changes them, inside a write;
// IDs, secrets and times arrive with the command (drawn by the proposer), so replicas agree.
//
// Index rule: every read answers with its table's index (tokens or policies), never 0.

import { badRequest, ConsulError, ErrorCode } from '../core/errors.js';
import { cmp, type StoreContext } from './context.js';
import { topic, type WatchSet } from './watch.js';
import type { Indexed } from './types.js';

/** A token as stored: policy links by ID only (names are looked up when read: policies rename). */
export interface AclToken {
  AccessorID: string;
  SecretID: string;
  Description: string;
  Policies: { ID: string }[];
  Local: boolean;
  /** RFC 3339, from the proposer's clock. */
  CreateTime: string;
  Hash: string;
  CreateIndex: number;
  ModifyIndex: number;
}

export type AclTokenInput = Omit<AclToken, 'CreateIndex' | 'ModifyIndex'>;

/** A token as the API shows it: links carry the policy's current name; dangling links are left out. */
export type AclTokenView = Omit<AclToken, 'Policies'> & { Policies: { ID: string; Name: string }[] };

export interface AclPolicy {
  ID: string;
  Name: string;
  Description: string;
  Rules: string;
  Datacenters: string[] | null;
  Hash: string;
  CreateIndex: number;
  ModifyIndex: number;
}

export type AclPolicyInput = Omit<AclPolicy, 'CreateIndex' | 'ModifyIndex'>;

export interface AclDump {
  tokens: AclToken[];
  policies: AclPolicy[];
  bootstrapIndex: number;
}

const nameKey = (n: string): string => n.toLowerCase();

export class AclTable {
  private tokens = new Map<string, AclToken>();
  private bySecret = new Map<string, string>();
  /** policy ID → AccessorIDs of the tokens that link to it. */
  private byPolicy = new Map<string, Set<string>>();
  private policies = new Map<string, AclPolicy>();
  private byName = new Map<string, string>();
  private bootstrapIndex = 0;

  constructor(private readonly ctx: StoreContext) {}

  // ---------------------------------------------------------------- writes

  /**
   * Consul's ACLBootstrap: once only, unless `resetIndex` names the index of the bootstrap that
   * happened (the operator's way back in after losing every management token).
   */
  bootstrap(index: number, token: AclTokenInput, resetIndex: number): AclToken {
    if (this.bootstrapIndex !== 0 && resetIndex !== this.bootstrapIndex) {
      throw new ConsulError(
        ErrorCode.PermissionDenied,
        `Permission denied: ACL bootstrap no longer allowed (reset index: ${this.bootstrapIndex})`,
      );
    }
    const t = this.setToken(index, token);
    this.bootstrapIndex = index;
    return t;
  }

  /** Creates or replaces a token; its secret must be its own and its policies must exist. */
  setToken(index: number, input: AclTokenInput): AclToken {
    const holder = this.bySecret.get(input.SecretID);
    if (holder !== undefined && holder !== input.AccessorID) {
      throw badRequest('Invalid Token: SecretID is already in use');
    }
    for (const l of input.Policies) {
      if (!this.policies.has(l.ID)) throw badRequest(`No such ACL policy with ID ${JSON.stringify(l.ID)}`);
    }
    const old = this.tokens.get(input.AccessorID);
    if (old) this.unindexToken(old);
    const t: AclToken = {
      ...input,
      Policies: input.Policies.map((l) => ({ ID: l.ID })),
      CreateIndex: old ? old.CreateIndex : index,
      ModifyIndex: index,
    };
    this.tokens.set(t.AccessorID, t);
    this.indexToken(t);
    this.touchTokens(index);
    return t;
  }

  deleteToken(index: number, accessorId: string): boolean {
    const t = this.tokens.get(accessorId);
    if (!t) return false;
    this.tokens.delete(accessorId);
    this.unindexToken(t);
    this.touchTokens(index);
    return true;
  }

  setPolicy(index: number, input: AclPolicyInput): AclPolicy {
    const other = this.byName.get(nameKey(input.Name));
    if (other !== undefined && other !== input.ID) {
      throw badRequest(`Invalid Policy: A Policy with Name ${JSON.stringify(input.Name)} already exists`);
    }
    const old = this.policies.get(input.ID);
    if (old) this.byName.delete(nameKey(old.Name));
    const p: AclPolicy = { ...input, CreateIndex: old ? old.CreateIndex : index, ModifyIndex: index };
    this.policies.set(p.ID, p);
    this.byName.set(nameKey(p.Name), p.ID);
    this.touchPolicies(index);
    // Tokens linking to it read differently now (the name they show, what they grant).
    if (old && old.Name !== p.Name && this.byPolicy.has(p.ID)) this.touchTokens(index);
    return p;
  }

  deletePolicy(index: number, id: string): boolean {
    const p = this.policies.get(id);
    if (!p) return false;
    this.policies.delete(id);
    this.byName.delete(nameKey(p.Name));
    this.touchPolicies(index);
    if (this.byPolicy.has(id)) this.touchTokens(index);
    return true;
  }

  private touchTokens(index: number): void {
    this.ctx.tables.aclTokens = index;
    this.ctx.touched.add(topic.aclTokens);
  }

  private touchPolicies(index: number): void {
    this.ctx.tables.aclPolicies = index;
    this.ctx.touched.add(topic.aclPolicies);
  }

  private indexToken(t: AclToken): void {
    this.bySecret.set(t.SecretID, t.AccessorID);
    for (const l of t.Policies) {
      let s = this.byPolicy.get(l.ID);
      if (!s) this.byPolicy.set(l.ID, (s = new Set()));
      s.add(t.AccessorID);
    }
  }

  private unindexToken(t: AclToken): void {
    if (this.bySecret.get(t.SecretID) === t.AccessorID) this.bySecret.delete(t.SecretID);
    for (const l of t.Policies) {
      const s = this.byPolicy.get(l.ID);
      s?.delete(t.AccessorID);
      if (s?.size === 0) this.byPolicy.delete(l.ID);
    }
  }

  // ---------------------------------------------------------------- reads

  /** Consul's CanBootstrapACLToken: allowed while no bootstrap happened; else the reset index. */
  canBootstrap(): { allowed: boolean; resetIndex: number } {
    return { allowed: this.bootstrapIndex === 0, resetIndex: this.bootstrapIndex };
  }

  token(accessorId: string): AclToken | undefined {
    return this.tokens.get(accessorId);
  }

  /** A token by its secret: a map lookup, so no secret is compared character by character. */
  tokenBySecret(secret: string): AclToken | undefined {
    const id = this.bySecret.get(secret);
    return id === undefined ? undefined : this.tokens.get(id);
  }

  policy(id: string): AclPolicy | undefined {
    return this.policies.get(id);
  }

  policyByName(name: string): AclPolicy | undefined {
    const id = this.byName.get(nameKey(name));
    return id === undefined ? undefined : this.policies.get(id);
  }

  /** The token with its links named (and links to deleted policies dropped). */
  view(t: AclToken): AclTokenView {
    const Policies = t.Policies.flatMap((l) => {
      const p = this.policies.get(l.ID);
      return p ? [{ ID: p.ID, Name: p.Name }] : [];
    });
    return { ...t, Policies };
  }

  tokenInfo(accessorId: string, ws?: WatchSet): Indexed<AclTokenView | null> {
    ws?.add(topic.aclTokens);
    ws?.add(topic.aclPolicies);
    const t = this.tokens.get(accessorId);
    return { index: this.tokenIndex(), value: t ? this.view(t) : null };
  }

  tokenInfoBySecret(secret: string, ws?: WatchSet): Indexed<AclTokenView | null> {
    ws?.add(topic.aclTokens);
    ws?.add(topic.aclPolicies);
    const t = this.tokenBySecret(secret);
    return { index: this.tokenIndex(), value: t ? this.view(t) : null };
  }

  /** Every token in AccessorID order; `policy` keeps only the tokens linking to that policy ID. */
  tokenList(policy: string, ws?: WatchSet): Indexed<AclTokenView[]> {
    ws?.add(topic.aclTokens);
    ws?.add(topic.aclPolicies);
    const ids = policy === '' ? [...this.tokens.keys()] : [...(this.byPolicy.get(policy) ?? [])];
    return {
      index: this.tokenIndex(),
      value: ids.sort(cmp).map((id) => this.view(this.tokens.get(id) as AclToken)),
    };
  }

  policyInfo(id: string, ws?: WatchSet): Indexed<AclPolicy | null> {
    ws?.add(topic.aclPolicies);
    return { index: this.policyIndex(), value: this.policies.get(id) ?? null };
  }

  policyInfoByName(name: string, ws?: WatchSet): Indexed<AclPolicy | null> {
    ws?.add(topic.aclPolicies);
    return { index: this.policyIndex(), value: this.policyByName(name) ?? null };
  }

  /** Every policy in ID order. */
  policyList(ws?: WatchSet): Indexed<AclPolicy[]> {
    ws?.add(topic.aclPolicies);
    const ids = [...this.policies.keys()].sort(cmp);
    return { index: this.policyIndex(), value: ids.map((id) => this.policies.get(id) as AclPolicy) };
  }

  tokenIndex(): number {
    return Math.max(this.ctx.tables.aclTokens, this.ctx.tables.aclPolicies) || 1;
  }

  policyIndex(): number {
    return this.ctx.tables.aclPolicies || 1;
  }

  get tokenCount(): number {
    return this.tokens.size;
  }

  // ---------------------------------------------------------------- snapshot

  dump(): AclDump {
    return {
      tokens: [...this.tokens.keys()].sort(cmp).map((id) => this.tokens.get(id) as AclToken),
      policies: [...this.policies.keys()].sort(cmp).map((id) => this.policies.get(id) as AclPolicy),
      bootstrapIndex: this.bootstrapIndex,
    };
  }

  load(d: AclDump | undefined): void {
    this.tokens = new Map();
    this.bySecret = new Map();
    this.byPolicy = new Map();
    this.policies = new Map();
    this.byName = new Map();
    this.bootstrapIndex = d?.bootstrapIndex ?? 0;
    for (const p of d?.policies ?? []) {
      this.policies.set(p.ID, p);
      this.byName.set(nameKey(p.Name), p.ID);
    }
    for (const t of d?.tokens ?? []) {
      this.tokens.set(t.AccessorID, t);
      this.indexToken(t);
    }
  }
}
