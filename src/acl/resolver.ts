// Contract D: token secret → Authorizer.
//
// On a server the answer comes from its own state store (StoreResolver): the token by its secret,
// its policies' rules, compiled; compiled authorizers are cached until a token or policy changes
// (the ACL tables' index) or the store is restored. On a client agent it comes from a server through
// the ACL.Resolve endpoint (the token's AccessorID and its policies' rules), cached for token_ttl,
// and when no server answers, acl.down_policy decides: `extend-cache` (default) keeps using what is
// cached however old (nothing cached: deny), `async-cache` answers from the cache at once and
// refreshes in the background, `allow` and `deny` say what they say.
//
// An empty secret means the agent's `default` token, and when that is empty too, the anonymous
// token. ACLs off: allowAll. An unknown secret is Consul's 403 "ACL not found", never the default.

import { ConsulError, ErrorCode } from '../core/errors.js';
import type { AclConfig } from '../config/config.js';
import type { StateStore } from '../state/store.js';
import {
  aclNotFound,
  allowAll,
  ANONYMOUS_TOKEN_ID,
  compileAuthorizer,
  denyAll,
  staticPolicy,
  type Authorizer,
  type AuthorizerOptions,
} from './authorizer.js';
import { parseRules, type PolicyRules } from './rules.js';

/** What ACL.Resolve answers: who the token is and its policies' rules. */
export interface ResolvedIdentity {
  accessorId: string;
  rules: string[];
}

function options(c: AclConfig): AuthorizerOptions {
  return { defaultPolicy: c.defaultPolicy, enableKeyListPolicy: c.enableKeyListPolicy };
}

/** The anonymous token's AccessorID shows as '' (Contract D); every other token as itself. */
const shownAccessor = (id: string): string => (id === ANONYMOUS_TOKEN_ID ? '' : id);

const MAX_CACHED = 10_000;

/** Server side: secrets resolved against this server's state store. */
export class StoreResolver {
  private cache = new Map<string, Authorizer>();
  private parsed = new Map<string, { modifyIndex: number; rules: PolicyRules | null }>();
  private cachedAt = { index: -1, generation: -1 };

  constructor(
    private readonly store: StateStore,
    private readonly config: AclConfig,
  ) {}

  /** The token's identity and rules; throws "ACL not found" for a secret nobody holds. */
  identity(secret: string): ResolvedIdentity {
    const s = this.store;
    const t = secret === '' ? s.aclToken(ANONYMOUS_TOKEN_ID) : s.aclTokenBySecret(secret);
    if (!t) {
      // Before the leader created the anonymous token, no token means no rules at all.
      if (secret === '') return { accessorId: ANONYMOUS_TOKEN_ID, rules: [] };
      throw aclNotFound();
    }
    const rules = t.Policies.flatMap((l) => {
      const p = s.aclPolicy(l.ID);
      return p ? [p.Rules] : [];
    });
    return { accessorId: t.AccessorID, rules };
  }

  /** The authorizer for a secret ('' = anonymous); throws "ACL not found" for an unknown one. */
  authorize(secret: string): Authorizer {
    if (!this.config.enabled) return allowAll;
    this.dropIfStale();
    const hit = this.cache.get(secret);
    if (hit) return hit;
    const s = this.store;
    const t = secret === '' ? s.aclToken(ANONYMOUS_TOKEN_ID) : s.aclTokenBySecret(secret);
    if (!t && secret !== '') throw aclNotFound();
    const rules: PolicyRules[] = [];
    for (const l of t?.Policies ?? []) {
      const p = s.aclPolicy(l.ID);
      if (!p) continue;
      let e = this.parsed.get(p.ID);
      if (!e || e.modifyIndex !== p.ModifyIndex) {
        let r: PolicyRules | null = null;
        try {
          r = parseRules(p.Rules);
        } catch {
          // Rules are checked before they are stored; one that no longer parses grants nothing.
        }
        this.parsed.set(p.ID, (e = { modifyIndex: p.ModifyIndex, rules: r }));
      }
      if (e.rules) rules.push(e.rules);
    }
    const a = compileAuthorizer(
      shownAccessor(t?.AccessorID ?? ANONYMOUS_TOKEN_ID),
      rules,
      options(this.config),
    );
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(secret, a);
    return a;
  }

  private dropIfStale(): void {
    const index = this.store.aclIndex();
    const generation = this.store.restoreGeneration;
    if (index === this.cachedAt.index && generation === this.cachedAt.generation) return;
    this.cache = new Map();
    if (generation !== this.cachedAt.generation) this.parsed = new Map();
    this.cachedAt = { index, generation };
  }
}

export interface TokenResolverDeps {
  config: AclConfig;
  /** On a server: its own state. */
  local?: StoreResolver;
  /** On a client: ACL.Resolve on a server. */
  remote?: (secret: string) => Promise<ResolvedIdentity>;
  now?: () => number;
  /** Hears of background refresh failures (async-cache) and down-policy decisions. */
  onDown?: (err: Error) => void;
}

interface Cached {
  authz: Authorizer;
  at: number;
  refreshing?: Promise<Authorizer>;
}

/** A server that could not be asked (as opposed to one that answered "no"). */
function isDown(err: unknown): boolean {
  if (!(err instanceof ConsulError)) return true;
  return (
    err.code === ErrorCode.Unavailable ||
    err.code === ErrorCode.Timeout ||
    err.code === ErrorCode.NoLeader ||
    err.code === ErrorCode.NotLeader ||
    err.code === ErrorCode.Internal
  );
}

export class TokenResolver {
  private readonly cache = new Map<string, Cached>();
  private readonly now: () => number;

  constructor(private readonly d: TokenResolverDeps) {
    this.now = d.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.d.config.enabled;
  }

  /** The secret a request stands for: its own, else the agent's default token, else '' (anonymous). */
  effectiveSecret(secret: string | undefined): string {
    return secret !== undefined && secret !== '' ? secret : this.d.config.tokens.default;
  }

  /** The agent's own token for its internal requests (anti-entropy, coordinates): agent, else default. */
  agentSecret(): string {
    return this.d.config.tokens.agent || this.d.config.tokens.default;
  }

  async resolve(secret: string | undefined): Promise<Authorizer> {
    if (!this.d.config.enabled) return allowAll;
    const s = this.effectiveSecret(secret);
    if (this.d.local) return this.d.local.authorize(s);
    return this.resolveRemote(s);
  }

  /** The authorizer of the agent's own token. */
  resolveAgent(): Promise<Authorizer> {
    return this.resolve(this.agentSecret());
  }

  private async resolveRemote(secret: string): Promise<Authorizer> {
    const c = this.d.config;
    const hit = this.cache.get(secret);
    if (hit && this.now() - hit.at < c.tokenTtlMs) return hit.authz;
    if (hit && c.downPolicy === 'async-cache') {
      // Stale but usable: answer now, refresh once in the background.
      if (!hit.refreshing) {
        hit.refreshing = this.fetch(secret).catch((err: unknown) => {
          this.d.onDown?.(err as Error);
          return hit.authz;
        });
        void hit.refreshing.finally(() => delete hit.refreshing);
      }
      return hit.authz;
    }
    try {
      return await (hit?.refreshing ?? this.fetch(secret));
    } catch (err) {
      if (!isDown(err)) throw err;
      this.d.onDown?.(err as Error);
      switch (c.downPolicy) {
        case 'allow':
          return staticPolicy('allow', hit?.authz.accessorId ?? '');
        case 'deny':
          return denyAll;
        case 'extend-cache':
        case 'async-cache':
          return hit?.authz ?? denyAll;
      }
    }
  }

  private async fetch(secret: string): Promise<Authorizer> {
    const remote = this.d.remote;
    if (!remote) throw new ConsulError(ErrorCode.Internal, 'no way to resolve ACL tokens on this agent');
    let id: ResolvedIdentity;
    try {
      id = await remote(secret);
    } catch (err) {
      // The server answered that this secret is nobody's: forget whatever was cached for it.
      if (!isDown(err)) this.cache.delete(secret);
      throw err;
    }
    if (typeof id?.accessorId !== 'string' || !Array.isArray(id.rules)) {
      throw new ConsulError(ErrorCode.Internal, 'ACL.Resolve: malformed answer');
    }
    const rules: PolicyRules[] = [];
    for (const text of id.rules) {
      try {
        rules.push(parseRules(text));
      } catch {
        // The server checked these rules before storing them; one that fails here grants nothing.
      }
    }
    const authz = compileAuthorizer(shownAccessor(id.accessorId), rules, options(this.d.config));
    if (!this.cache.has(secret) && this.cache.size >= MAX_CACHED) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(secret, { authz, at: this.now() });
    return authz;
  }
}
