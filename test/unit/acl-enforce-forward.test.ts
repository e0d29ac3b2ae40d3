// Where ACL enforcement runs: on the server that serves a call. A follower passes a write on to the
// leader with the caller's token in the envelope and resolves nothing itself; a ?stale read it
// serves itself is checked there, against its own resolver. Endpoints without an ACL spec, and
// every endpoint with ACLs off, never resolve the token at all. Also enable_key_list_policy.

import { describe, expect, it } from 'vitest';
import { aclNotFound, compileAuthorizer, type Authorizer } from '../../src/acl/authorizer.js';
import { parseRules } from '../../src/acl/rules.js';
import type { QueryResult } from '../../src/rpc/endpoints/types.js';
import { followerForwarder } from '../support/follower-forwarder.js';
import { encodeCommand, type FsmCommand } from '../../src/state/commands.js';
import { Fsm } from '../../src/state/fsm.js';
import type { KVEntry } from '../../src/state/types.js';

const signal = new AbortController().signal;
const stale = { minIndex: 0, stale: true, consistent: false };

function follower(opts: { enabled: boolean; keyList: boolean; rules: string }) {
  const fsm = new Fsm('dc1');
  let i = 0;
  const apply = (c: FsmCommand): void => {
    expect(fsm.apply(++i, encodeCommand(c))).toBe(true);
  };
  for (const key of ['a/1', 'a/2', 'b/1'])
    apply({ type: 'kvSet', key, value: new Uint8Array([1]), flags: 0 });
  const authz: Authorizer = compileAuthorizer('acc-1', [parseRules(opts.rules)], {
    defaultPolicy: 'deny',
    enableKeyListPolicy: opts.keyList,
  });
  const resolved: string[] = [];
  const sent: unknown[] = [];
  const acl = {
    config: { enabled: opts.enabled },
    resolver: {
      authorize: (secret: string): Authorizer => {
        resolved.push(secret);
        if (secret !== 'good') throw aclNotFound();
        return authz;
      },
    },
  };
  const fwd = followerForwarder({
    store: fsm.store,
    toLeader: (method, envelope) => {
      sent.push(envelope);
      return Promise.resolve(true);
    },
    context: { acl },
  });
  return { fwd, resolved, sent };
}

describe('ACL checks in the forwarding guard', () => {
  it('a follower sends a write on with its token and checks nothing itself', async () => {
    const f = follower({ enabled: true, keyList: false, rules: '' });
    const args = { op: 'set', key: 'b/2', value: new Uint8Array([2]), flags: 0, token: 'secret-x' };
    expect(await f.fwd.call('KVS.Apply', args, signal)).toBe(true);
    expect(f.sent).toEqual([{ method: 'KVS.Apply', args }]);
    expect(f.resolved).toEqual([]);
  });

  it('a stale read is checked and filtered by the follower that serves it', async () => {
    const f = follower({ enabled: true, keyList: false, rules: 'key_prefix "a/" { policy = "read" }' });
    const r = (await f.fwd.call('KVS.List', { q: stale, prefix: '', token: 'good' }, signal)) as QueryResult<
      KVEntry[]
    >;
    expect(r.value.map((e) => e.Key)).toEqual(['a/1', 'a/2']);
    expect(r.meta.filteredByAcls).toBe(true);
    const own = (await f.fwd.call(
      'KVS.List',
      { q: stale, prefix: 'a/', token: 'good' },
      signal,
    )) as QueryResult<KVEntry[]>;
    expect(own.meta.filteredByAcls).toBeUndefined();
    await expect(f.fwd.call('KVS.Get', { q: stale, key: 'b/1', token: 'good' }, signal)).rejects.toThrow(
      `Permission denied: token with AccessorID 'acc-1' lacks permission 'key:read' on "b/1"`,
    );
    await expect(f.fwd.call('KVS.Get', { q: stale, key: 'a/1', token: 'nope' }, signal)).rejects.toThrow(
      'ACL not found',
    );
    expect(f.resolved).toEqual(['good', 'good', 'good', 'nope']);
    expect(f.sent).toEqual([]);
  });

  it('endpoints without a spec, and everything with ACLs off, resolve no token', async () => {
    const f = follower({ enabled: true, keyList: false, rules: '' });
    await f.fwd.call('Catalog.ListDatacenters', { token: 'nope' }, signal);
    expect(f.resolved).toEqual([]);
    const off = follower({ enabled: false, keyList: false, rules: '' });
    const r = (await off.fwd.call(
      'KVS.List',
      { q: stale, prefix: '', token: 'nope' },
      signal,
    )) as QueryResult<KVEntry[]>;
    expect(r.value).toHaveLength(3);
    expect(r.meta.filteredByAcls).toBeUndefined();
    expect(off.resolved).toEqual([]);
  });

  it('with enable_key_list_policy a recursive read needs key:list on the prefix', async () => {
    const f = follower({ enabled: true, keyList: true, rules: 'key_prefix "a/" { policy = "list" }' });
    const r = (await f.fwd.call(
      'KVS.ListKeys',
      { q: stale, prefix: 'a/', separator: '', token: 'good' },
      signal,
    )) as QueryResult<string[]>;
    expect(r.value).toEqual(['a/1', 'a/2']);
    await expect(f.fwd.call('KVS.List', { q: stale, prefix: '', token: 'good' }, signal)).rejects.toThrow(
      `Permission denied: token with AccessorID 'acc-1' lacks permission 'key:list'`,
    );
    const read = follower({ enabled: true, keyList: true, rules: 'key_prefix "a/" { policy = "read" }' });
    await expect(
      read.fwd.call('KVS.List', { q: stale, prefix: 'a/', token: 'good' }, signal),
    ).rejects.toThrow(`lacks permission 'key:list' on "a/"`);
  });
});
