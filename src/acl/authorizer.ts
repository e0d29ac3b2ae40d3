// Contract D: what a token may do. Its policies' rules are merged (when several give the same
// resource and segment, deny > write > list > read, as Consul's policy merger), then compiled per
// resource into exact and prefix rules. A lookup takes the exact rule for the name if there is one,
// else the longest prefix rule; when nothing matches, the agent's default policy (acl.default_policy)
// decides. Facts from Consul's acl/policy_authorizer.go; nothing here knows about tokens or state.

import { ConsulError, ErrorCode } from '../core/errors.js';
import {
  mergeDisposition,
  SEGMENTED,
  type Disposition,
  type PolicyRules,
  type RuleResource,
} from './rules.js';

export type Access = 'read' | 'list' | 'write';
/** Resources with a segment (a name or prefix): `key`, `service`, ... as in Consul's rules. */
export type SegmentedResource = RuleResource;
export type GlobalResource = 'operator' | 'keyring' | 'acl';

export interface Authorizer {
  /** The token's AccessorID for error messages ('' for the anonymous token or ACLs off). */
  readonly accessorId: string;
  /**
   * `list` is a key-only access (recursive reads and key listings). With enable_key_list_policy off
   * (Consul's default) listing is not checked at all: `allowed('key', p, 'list')` is true and each
   * key returned is filtered by `read`. For other resources `list` means `read`.
   */
  allowed(resource: SegmentedResource, name: string, access: Access): boolean;
  allowedGlobal(resource: GlobalResource, access: 'read' | 'write'): boolean;
  /** Write on every key under prefix (recursive delete): no deny/read-only rule below it. */
  keyWritePrefix(prefix: string): boolean;
}

export type DefaultPolicy = 'allow' | 'deny';

/** Built-in IDs (Consul's structs): the global-management policy and the anonymous token. */
export const GLOBAL_MANAGEMENT_POLICY_ID = '00000000-0000-0000-0000-000000000001';
export const GLOBAL_MANAGEMENT_POLICY_NAME = 'global-management';
export const ANONYMOUS_TOKEN_ID = '00000000-0000-0000-0000-000000000002';
export const ANONYMOUS_TOKEN_SECRET = 'anonymous';

/** The global-management policy's rules: write on everything (Consul's text, without intentions). */
export const GLOBAL_MANAGEMENT_RULES = `acl = "write"
agent_prefix "" {
  policy = "write"
}
event_prefix "" {
  policy = "write"
}
key_prefix "" {
  policy = "write"
}
keyring = "write"
node_prefix "" {
  policy = "write"
}
operator = "write"
mesh = "write"
peering = "write"
query_prefix "" {
  policy = "write"
}
service_prefix "" {
  policy = "write"
}
session_prefix "" {
  policy = "write"
}
`;

/** Consul's enforce(): does a rule's disposition grant the access asked for? */
function grants(rule: Disposition, access: Access): boolean {
  switch (rule) {
    case 'write':
      return true;
    case 'list':
      return access === 'read' || access === 'list';
    case 'read':
      return access === 'read';
    case 'deny':
      return false;
  }
}

/** One resource's rules: exact names, and prefixes with the lengths present (longest first). */
class RuleTable {
  readonly exact = new Map<string, Disposition>();
  readonly prefix = new Map<string, Disposition>();
  private lengths: number[] = [];

  add(segment: string, prefix: boolean, d: Disposition): void {
    const m = prefix ? this.prefix : this.exact;
    m.set(segment, mergeDisposition(m.get(segment), d));
  }

  seal(): void {
    this.lengths = [...new Set([...this.prefix.keys()].map((p) => p.length))].sort((a, b) => b - a);
  }

  /** Consul's getPolicy: the exact rule for the name, else the longest prefix rule. */
  lookup(name: string): Disposition | undefined {
    const e = this.exact.get(name);
    if (e !== undefined) return e;
    for (const len of this.lengths) {
      if (len > name.length) continue;
      const p = this.prefix.get(name.slice(0, len));
      if (p !== undefined) return p;
    }
    return undefined;
  }

  /** The longest prefix rule that applies to `name` (exact rules do not count). */
  longestPrefix(name: string): Disposition | undefined {
    for (const len of this.lengths) {
      if (len > name.length) continue;
      const p = this.prefix.get(name.slice(0, len));
      if (p !== undefined) return p;
    }
    return undefined;
  }

  /** Whether any rule (exact or prefix) at or below `prefix` grants less than write. */
  anyBelowWithoutWrite(prefix: string): boolean {
    for (const m of [this.exact, this.prefix]) {
      for (const [seg, d] of m) if (d !== 'write' && seg.startsWith(prefix)) return true;
    }
    return false;
  }
}

export interface AuthorizerOptions {
  defaultPolicy: DefaultPolicy;
  /** Consul's acl.enable_key_list_policy: recursive reads need `list` on the prefix. */
  enableKeyListPolicy: boolean;
}

class PolicyAuthorizer implements Authorizer {
  private readonly tables = new Map<RuleResource, RuleTable>();
  private readonly global = new Map<GlobalResource, Disposition>();
  private readonly fallback: boolean;

  constructor(
    readonly accessorId: string,
    rules: PolicyRules[],
    private readonly opts: AuthorizerOptions,
  ) {
    this.fallback = opts.defaultPolicy === 'allow';
    for (const r of SEGMENTED) this.tables.set(r, new RuleTable());
    for (const p of rules) {
      for (const s of p.segments)
        (this.tables.get(s.resource) as RuleTable).add(s.segment, s.prefix, s.policy);
      for (const g of ['acl', 'operator', 'keyring'] as const) {
        const d = p.global[g];
        if (d !== undefined) this.global.set(g, mergeDisposition(this.global.get(g), d));
      }
    }
    for (const t of this.tables.values()) t.seal();
  }

  allowed(resource: SegmentedResource, name: string, access: Access): boolean {
    const table = this.tables.get(resource);
    if (!table) return false;
    if (access === 'list') {
      if (resource !== 'key') access = 'read';
      else if (!this.opts.enableKeyListPolicy) return true;
    }
    const rule = table.lookup(name);
    return rule === undefined ? this.fallback : grants(rule, access);
  }

  allowedGlobal(resource: GlobalResource, access: 'read' | 'write'): boolean {
    const rule = this.global.get(resource);
    return rule === undefined ? this.fallback : grants(rule, access);
  }

  keyWritePrefix(prefix: string): boolean {
    const keys = this.tables.get('key') as RuleTable;
    const base = keys.longestPrefix(prefix);
    if (base !== undefined && base !== 'write') return false;
    if (keys.anyBelowWithoutWrite(prefix)) return false;
    return base === 'write' ? true : this.fallback;
  }
}

/** A token's authorizer from its policies' parsed rules (none: the default policy decides all). */
export function compileAuthorizer(
  accessorId: string,
  rules: PolicyRules[],
  opts: AuthorizerOptions,
): Authorizer {
  return new PolicyAuthorizer(accessorId, rules, opts);
}

/** A fixed answer for everything (Consul's allow/deny root authorizers). */
function staticAuthorizer(accessorId: string, allow: boolean): Authorizer {
  return {
    accessorId,
    allowed: () => allow,
    allowedGlobal: () => allow,
    keyWritePrefix: () => allow,
  };
}

/** ACLs off: everything is allowed. */
export const allowAll: Authorizer = staticAuthorizer('', true);
/** down_policy deny with nothing cached, and similar: nothing is allowed. */
export const denyAll: Authorizer = staticAuthorizer('', false);

export function staticPolicy(policy: DefaultPolicy, accessorId = ''): Authorizer {
  return staticAuthorizer(accessorId, policy === 'allow');
}

/**
 * Consul's 403 text: Permission denied: token with AccessorID '<id>' lacks permission
 * '<resource>:<access>' on "<name>" (for the anonymous token: "anonymous token", and a hint).
 */
export function permissionDenied(
  a: Authorizer,
  resource: string,
  access: string,
  name?: string,
): ConsulError {
  const anonymous = a.accessorId === '' || a.accessorId === ANONYMOUS_TOKEN_ID;
  let msg = anonymous
    ? 'Permission denied: anonymous token'
    : `Permission denied: token with AccessorID '${a.accessorId}'`;
  msg += ` lacks permission '${resource}:${access}'`;
  if (name !== undefined && name !== '') msg += ` on ${JSON.stringify(name)}`;
  if (anonymous) msg += '. The anonymous token is used implicitly when a request does not specify a token.';
  return new ConsulError(ErrorCode.PermissionDenied, msg);
}

/** Consul's ErrNotFound over HTTP: a token secret nobody knows is a 403 "ACL not found". */
export function aclNotFound(): ConsulError {
  return new ConsulError(ErrorCode.PermissionDenied, 'ACL not found');
}

/** Consul's ErrDisabled: every ACL endpoint answers 401 "ACL support disabled" with ACLs off. */
export function aclDisabled(): ConsulError {
  return new ConsulError(ErrorCode.ACLDisabled, 'ACL support disabled');
}
