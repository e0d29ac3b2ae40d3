// The authorizer against Consul's documented precedence: exact beats prefix, longest prefix wins,
// several policies merge with deny > write > list > read, list semantics and enable_key_list_policy,
// KeyWritePrefix, the default policy when nothing matches, and the 403 texts.

import { describe, expect, it } from 'vitest';
import {
  allowAll,
  compileAuthorizer,
  GLOBAL_MANAGEMENT_RULES,
  permissionDenied,
  type Access,
  type AuthorizerOptions,
  type SegmentedResource,
} from '../../src/acl/authorizer.js';
import { parseRules } from '../../src/acl/rules.js';

const deny: AuthorizerOptions = { defaultPolicy: 'deny', enableKeyListPolicy: false };
const allow: AuthorizerOptions = { defaultPolicy: 'allow', enableKeyListPolicy: false };

function authz(policies: string[], opts = deny) {
  return compileAuthorizer('acc-1', policies.map(parseRules), opts);
}

// The example of Consul's acl-rules docs (Key/Value section), with its stated outcomes.
const KV_DOC = `
key_prefix "" { policy = "read" }
key_prefix "foo/" { policy = "write" }
key_prefix "foo/private/" { policy = "deny" }
key_prefix "bar/" { policy = "list" }
key "foo/exact" { policy = "read" }
`;

type Row = [SegmentedResource, string, Access, boolean];

describe('one policy: exact beats prefix, longest prefix wins', () => {
  const a = authz([KV_DOC]);
  const rows: Row[] = [
    ['key', 'anything', 'read', true],
    ['key', 'anything', 'write', false],
    ['key', 'foo/bar', 'write', true],
    ['key', 'foo/private/x', 'read', false],
    ['key', 'foo/private/', 'read', false],
    ['key', 'foo/private', 'write', true], // "foo/private" is not under "foo/private/"
    ['key', 'foo/exact', 'write', false], // the exact rule (read) beats the prefix (write)
    ['key', 'foo/exact', 'read', true],
    ['key', 'foo/exactly', 'write', true], // exact rules match only themselves
    ['key', 'bar/x', 'read', true], // list grants read
    ['key', 'bar/x', 'write', false],
    ['service', 'web', 'read', false], // no service rules: the default (deny)
  ];
  for (const [r, name, access, want] of rows) {
    it(`${r}:${access} on ${name} -> ${want}`, () => expect(a.allowed(r, name, access)).toBe(want));
  }
});

describe('the default policy decides when nothing matches', () => {
  it('allow', () => {
    const a = authz(['key_prefix "secret/" { policy = "deny" }'], allow);
    expect(a.allowed('key', 'x', 'write')).toBe(true);
    expect(a.allowed('key', 'secret/x', 'read')).toBe(false);
    expect(a.allowedGlobal('operator', 'write')).toBe(true);
  });
  it('deny', () => {
    const a = authz([], deny);
    expect(a.allowed('node', 'n1', 'read')).toBe(false);
    expect(a.allowedGlobal('acl', 'read')).toBe(false);
  });
});

describe('several policies merge: deny > write > list > read', () => {
  const rows: [string, string, Access, boolean][] = [
    ['key "k" { policy = "read" }', 'key "k" { policy = "write" }', 'write', true],
    ['key "k" { policy = "write" }', 'key "k" { policy = "deny" }', 'read', false],
    ['key "k" { policy = "read" }', 'key "k" { policy = "list" }', 'list', true],
    ['key "k" { policy = "list" }', 'key "k" { policy = "write" }', 'write', true],
  ];
  for (const [p1, p2, access, want] of rows) {
    it(`${p1} + ${p2}: ${access} -> ${want}`, () => {
      const a = authz([p1, p2], { defaultPolicy: 'deny', enableKeyListPolicy: true });
      expect(a.allowed('key', 'k', access)).toBe(want);
      const b = authz([p2, p1], { defaultPolicy: 'deny', enableKeyListPolicy: true });
      expect(b.allowed('key', 'k', access)).toBe(want);
    });
  }
  it('merges exact and prefix rules separately (an exact read still beats a merged prefix write)', () => {
    const a = authz(['key "k" { policy = "read" }', 'key_prefix "k" { policy = "write" }']);
    expect(a.allowed('key', 'k', 'write')).toBe(false);
    expect(a.allowed('key', 'kk', 'write')).toBe(true);
  });
  it('merges the global resources', () => {
    const a = authz(['acl = "read"', 'acl = "write"', 'operator = "write"', 'operator = "deny"']);
    expect(a.allowedGlobal('acl', 'write')).toBe(true);
    expect(a.allowedGlobal('operator', 'read')).toBe(false);
    expect(a.allowedGlobal('keyring', 'read')).toBe(false);
  });
});

describe('list', () => {
  it('with enable_key_list_policy, listing needs list or write', () => {
    const a = authz([KV_DOC], { defaultPolicy: 'deny', enableKeyListPolicy: true });
    expect(a.allowed('key', 'bar/', 'list')).toBe(true);
    expect(a.allowed('key', 'foo/', 'list')).toBe(true);
    expect(a.allowed('key', 'other/', 'list')).toBe(false); // read does not grant list
    expect(a.allowed('key', 'foo/private/', 'list')).toBe(false);
  });
  it('without it (Consul default), listing is not checked: each key is filtered by read', () => {
    const a = authz([KV_DOC]);
    expect(a.allowed('key', 'foo/private/', 'list')).toBe(true);
    expect(a.allowed('key', 'foo/private/a', 'read')).toBe(false);
  });
  it('means read for resources other than key', () => {
    const a = authz(['service_prefix "" { policy = "read" }']);
    expect(a.allowed('service', 'web', 'list')).toBe(true);
  });
});

describe('keyWritePrefix (recursive delete)', () => {
  it('needs write on the prefix and nothing weaker below it', () => {
    const a = authz([KV_DOC]);
    expect(a.keyWritePrefix('foo/')).toBe(false); // foo/private/ (deny) and foo/exact (read) below
    expect(a.keyWritePrefix('foo/bar/')).toBe(true);
    expect(a.keyWritePrefix('foo/private/')).toBe(false);
    expect(a.keyWritePrefix('')).toBe(false);
    expect(a.keyWritePrefix('zzz/')).toBe(false); // the "" prefix rule is read
  });
  it('falls back to the default policy when no prefix rule applies', () => {
    expect(authz(['key "a/b" { policy = "write" }'], allow).keyWritePrefix('a/')).toBe(true);
    expect(authz(['key "a/b" { policy = "read" }'], allow).keyWritePrefix('a/')).toBe(false);
    expect(authz([], deny).keyWritePrefix('a/')).toBe(false);
  });
});

describe('built-ins', () => {
  it('global-management allows everything, even against default deny', () => {
    const a = authz([GLOBAL_MANAGEMENT_RULES]);
    for (const r of ['key', 'service', 'node', 'session', 'agent', 'event', 'query'] as const) {
      expect(a.allowed(r, 'anything', 'write')).toBe(true);
    }
    for (const g of ['acl', 'operator', 'keyring'] as const) expect(a.allowedGlobal(g, 'write')).toBe(true);
    expect(a.keyWritePrefix('')).toBe(true);
  });
  it('allowAll (ACLs off) allows everything', () => {
    expect(allowAll.allowed('key', 'x', 'write')).toBe(true);
    expect(allowAll.allowedGlobal('acl', 'write')).toBe(true);
    expect(allowAll.keyWritePrefix('')).toBe(true);
  });
});

describe('permissionDenied', () => {
  it("names the token, the permission and the resource in Consul's words", () => {
    const e = permissionDenied(authz([]), 'key', 'write', 'foo/bar');
    expect(e.message).toBe(
      `Permission denied: token with AccessorID 'acc-1' lacks permission 'key:write' on "foo/bar"`,
    );
    const g = permissionDenied(authz([]), 'acl', 'read');
    expect(g.message).toBe(`Permission denied: token with AccessorID 'acc-1' lacks permission 'acl:read'`);
  });
  it('speaks of the anonymous token when there is none', () => {
    const a = compileAuthorizer('', [], deny);
    expect(permissionDenied(a, 'service', 'read', 'web').message).toBe(
      `Permission denied: anonymous token lacks permission 'service:read' on "web". The anonymous token is used implicitly when a request does not specify a token.`,
    );
  });
});
