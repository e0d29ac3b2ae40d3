// Token resolution: the client-side cache and down_policy against a fake server (every policy, TTL
// expiry, async refresh, "ACL not found" never cached), then a real in-process client agent
// resolving through a dev server with ACLs on, before and after the server goes away.

import { describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { defaultConfig, type AclConfig } from '../../src/config/config.js';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { createApp } from '../../src/http/app.js';
import { aclNotFound, ANONYMOUS_TOKEN_ID } from '../../src/acl/authorizer.js';
import { TokenResolver, type ResolvedIdentity } from '../../src/acl/resolver.js';
import { clientConfigFor, startDevAgent } from '../support/dev-agent.js';

function aclConfig(over: Partial<AclConfig> = {}): AclConfig {
  return { ...defaultConfig().acl, enabled: true, defaultPolicy: 'deny', ...over };
}

const KEYS_READ: ResolvedIdentity = { accessorId: 'acc-1', rules: ['key_prefix "app/" { policy = "read" }'] };

function fakeServer() {
  const s = {
    up: true,
    calls: 0,
    known: new Map<string, ResolvedIdentity>([['s1', KEYS_READ]]),
    remote: async (secret: string): Promise<ResolvedIdentity> => {
      s.calls++;
      await Promise.resolve();
      if (!s.up) throw new ConsulError(ErrorCode.Unavailable, 'rpc: no servers');
      const id = secret === '' ? { accessorId: ANONYMOUS_TOKEN_ID, rules: [] } : s.known.get(secret);
      if (!id) throw aclNotFound();
      return id;
    },
  };
  return s;
}

describe('TokenResolver on a client', () => {
  it('caches for token_ttl, then asks again', async () => {
    let now = 0;
    const srv = fakeServer();
    const r = new TokenResolver({ config: aclConfig(), remote: srv.remote, now: () => now });
    const a = await r.resolve('s1');
    expect(a.accessorId).toBe('acc-1');
    expect(a.allowed('key', 'app/x', 'read')).toBe(true);
    expect(a.allowed('key', 'other', 'read')).toBe(false);
    await r.resolve('s1');
    expect(srv.calls).toBe(1);
    now = 30_000;
    await r.resolve('s1');
    expect(srv.calls).toBe(2);
  });

  it('never caches "ACL not found" and forgets a token the server no longer knows', async () => {
    let now = 0;
    const srv = fakeServer();
    const r = new TokenResolver({ config: aclConfig(), remote: srv.remote, now: () => now });
    await expect(r.resolve('nobody')).rejects.toThrow('ACL not found');
    await r.resolve('s1');
    srv.known.delete('s1');
    now = 60_000;
    await expect(r.resolve('s1')).rejects.toThrow('ACL not found');
    srv.up = false; // even extend-cache has nothing left to extend
    const after = await r.resolve('s1');
    expect(after.allowed('key', 'app/x', 'read')).toBe(false);
  });

  it('an empty secret is the default token, else anonymous', async () => {
    const srv = fakeServer();
    const seen: string[] = [];
    const remote = (s: string): Promise<ResolvedIdentity> => (seen.push(s), srv.remote(s));
    await new TokenResolver({ config: aclConfig(), remote }).resolve(undefined);
    const withDefault = aclConfig();
    withDefault.tokens.default = 's1';
    const a = await new TokenResolver({ config: withDefault, remote }).resolve('');
    expect(seen).toEqual(['', 's1']);
    expect(a.accessorId).toBe('acc-1');
  });

  const down: [AclConfig['downPolicy'], boolean, boolean][] = [
    // policy, cached token still works, uncached token works
    ['extend-cache', true, false],
    ['async-cache', true, false],
    ['deny', false, false],
    ['allow', true, true],
  ];
  for (const [policy, cachedOk, uncachedOk] of down) {
    it(`down_policy ${policy}`, async () => {
      let now = 0;
      const srv = fakeServer();
      srv.known.set('s2', KEYS_READ);
      const r = new TokenResolver({
        config: aclConfig({ downPolicy: policy }),
        remote: srv.remote,
        now: () => now,
      });
      await r.resolve('s1');
      srv.up = false;
      now = 31_000;
      const cached = await r.resolve('s1');
      expect(cached.allowed('key', 'app/x', 'read')).toBe(cachedOk);
      const fresh = await r.resolve('s2');
      expect(fresh.allowed('key', 'app/x', 'read')).toBe(uncachedOk);
      // allow means allow everything; the others never grant more than the token had.
      expect(cached.allowed('key', 'other', 'write')).toBe(policy === 'allow');
    });
  }

  it('async-cache answers from the stale cache at once and refreshes in the background', async () => {
    let now = 0;
    const srv = fakeServer();
    const r = new TokenResolver({
      config: aclConfig({ downPolicy: 'async-cache' }),
      remote: srv.remote,
      now: () => now,
    });
    await r.resolve('s1');
    srv.known.set('s1', { accessorId: 'acc-1', rules: ['key_prefix "" { policy = "write" }'] });
    now = 31_000;
    const stale = await r.resolve('s1');
    expect(stale.allowed('key', 'x', 'write')).toBe(false);
    await new Promise((res) => setTimeout(res, 10));
    const fresh = await r.resolve('s1');
    expect(fresh.allowed('key', 'x', 'write')).toBe(true);
    expect(srv.calls).toBe(2);
  });

  it("the agent's own requests use acl.tokens.agent, else the default token", async () => {
    const srv = fakeServer();
    const c = aclConfig();
    c.tokens.default = 's1';
    const r = new TokenResolver({ config: c, remote: srv.remote });
    expect(r.agentSecret()).toBe('s1');
    c.tokens.agent = 's9';
    expect(r.agentSecret()).toBe('s9');
    srv.known.set('s9', { accessorId: 'agent-acc', rules: ['node_prefix "" { policy = "write" }'] });
    const a = await r.resolveAgent();
    expect(a.accessorId).toBe('agent-acc');
    expect(a.allowed('node', 'n1', 'write')).toBe(true);
  });

  it('ACLs off: allowAll without asking anyone', async () => {
    const srv = fakeServer();
    const r = new TokenResolver({ config: aclConfig({ enabled: false }), remote: srv.remote });
    expect((await r.resolve('whatever')).allowedGlobal('acl', 'write')).toBe(true);
    expect(srv.calls).toBe(0);
  });
});

it('a client agent resolves tokens through its server, and keeps its cache when the server is gone', async () => {
  const dev = await startDevAgent((c) => {
    c.acl.enabled = true;
    c.acl.defaultPolicy = 'deny';
  });
  const c = clientConfigFor(dev, 'client-1', (x) => {
    x.rpcHoldTimeoutMs = 500;
    x.acl = { ...x.acl, enabled: true, defaultPolicy: 'deny', tokenTtlMs: 200 };
  });
  const client = new Agent(c, silentLogger());
  let serverStopped = false;
  try {
    const boot = await dev.app.request('/v1/acl/bootstrap', { method: 'PUT' });
    const root = ((await boot.json()) as { SecretID: string }).SecretID;
    const headers = { 'X-Consul-Token': root };
    await dev.app.request('/v1/acl/policy', {
      method: 'PUT',
      headers,
      body: JSON.stringify({ Name: 'kv-read', Rules: 'key_prefix "app/" { policy = "read" }' }),
    });
    const tok = await dev.app.request('/v1/acl/token', {
      method: 'PUT',
      headers,
      body: JSON.stringify({ Policies: [{ Name: 'kv-read' }] }),
    });
    const t = (await tok.json()) as { AccessorID: string; SecretID: string };

    await client.start();
    const deadline = Date.now() + 15_000;
    // Until gossip has found the server, resolution is "down": extend-cache with nothing cached denies.
    while ((await client.acl.resolve(t.SecretID)).accessorId !== t.AccessorID) {
      if (Date.now() > deadline) throw new Error('the client never resolved the token');
      await new Promise((r) => setTimeout(r, 100));
    }
    const a = await client.acl.resolve(t.SecretID);
    expect(a.accessorId).toBe(t.AccessorID);
    expect(a.allowed('key', 'app/config', 'read')).toBe(true);
    expect(a.allowed('key', 'app/config', 'write')).toBe(false);
    expect((await client.acl.resolve(root)).allowedGlobal('acl', 'write')).toBe(true);
    await expect(client.acl.resolve('00000000-1111-2222-3333-444444444444')).rejects.toThrow('ACL not found');
    const anon = await client.acl.resolve('');
    expect(anon.accessorId).toBe('');
    expect(anon.allowed('key', 'app/config', 'read')).toBe(false);

    // The client's own HTTP API reaches the ACL endpoints through its server.
    const app = createApp({ agent: client, logger: silentLogger() });
    const self = await app.request('/v1/acl/token/self', { headers: { 'X-Consul-Token': t.SecretID } });
    expect(self.status).toBe(200);
    expect(((await self.json()) as { AccessorID: string }).AccessorID).toBe(t.AccessorID);
    expect(self.headers.get('X-Consul-Default-ACL-Policy')).toBe('deny');

    await dev.stop();
    serverStopped = true;
    await new Promise((r) => setTimeout(r, 300)); // past token_ttl
    const cached = await client.acl.resolve(t.SecretID); // extend-cache
    expect(cached.allowed('key', 'app/config', 'read')).toBe(true);
    c.acl.downPolicy = 'deny';
    const denied = await client.acl.resolve(t.SecretID);
    expect(denied.allowed('key', 'app/config', 'read')).toBe(false);
  } finally {
    await client.stop();
    if (!serverStopped) await dev.stop();
  }
});
