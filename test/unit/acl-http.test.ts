// The ACL API through app.request() against an in-process dev agent with ACLs on (default deny):
// bootstrap once then 403, policies and tokens CRUD in Consul's shapes, hidden secrets, token/self,
// acl:read versus acl:write, unknown tokens, the three places a token may travel, and an agent with
// ACLs off answering 401.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import { startAclDevAgent, startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { ANONYMOUS_TOKEN_ID, GLOBAL_MANAGEMENT_POLICY_ID } from '../../src/acl/authorizer.js';

let dev: DevAgent;
let app: Hono;
let root: string;

type J = Record<string, unknown>;

async function call(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string; json: () => J & J[]; headers: Headers }> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers['X-Consul-Token'] = opts.token;
  const res = await app.request(path, {
    method,
    headers,
    ...(opts.body !== undefined
      ? { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) }
      : {}),
  });
  const body = await res.text();
  return { status: res.status, body, json: () => JSON.parse(body) as J & J[], headers: res.headers };
}

beforeAll(async () => {
  dev = await startAclDevAgent();
  app = dev.app;
});
afterAll(() => dev.stop());

describe('bootstrap', () => {
  it('answers with a management token once, then 403 with the reset index', async () => {
    const r = await call('PUT', '/v1/acl/bootstrap');
    expect(r.status).toBe(200);
    const t = r.json();
    expect(t).toMatchObject({
      Description: 'Bootstrap Token (Global Management)',
      Policies: [{ ID: GLOBAL_MANAGEMENT_POLICY_ID, Name: 'global-management' }],
      Local: false,
    });
    expect(Object.keys(t)).toEqual([
      'AccessorID',
      'SecretID',
      'Description',
      'Policies',
      'Local',
      'CreateTime',
      'Hash',
      'CreateIndex',
      'ModifyIndex',
    ]);
    expect(t['SecretID']).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(t['CreateTime'] as string).getTime()).toBeGreaterThan(0);
    root = t['SecretID'] as string;

    const again = await call('PUT', '/v1/acl/bootstrap');
    expect(again.status).toBe(403);
    expect(again.body).toMatch(
      new RegExp(
        `^Permission denied: ACL bootstrap no longer allowed \\(reset index: ${String(t['CreateIndex'])}\\)`,
      ),
    );
  });

  it('says the default policy on every response', async () => {
    const r = await call('GET', '/v1/acl/policies', { token: root });
    expect(r.headers.get('X-Consul-Default-ACL-Policy')).toBe('deny');
  });

  it('says the default policy on every response over the agent HTTP listener', async () => {
    // The listener sets the header on Node's response (the app.request() path above does not).
    const served = await startAclDevAgent((c) => {
      c.ports.http = 0;
    });
    try {
      const base = `http://${served.agent.httpAddr ?? '?'}`;
      const answers = [
        await fetch(`${base}/v1/status/leader`), // 200, JSON
        await fetch(`${base}/v1/kv/x`), // 403, no token
        await fetch(`${base}/v1/nope`), // 404
        await fetch(`${base}/v1/kv/x`, { method: 'PATCH' }), // 405
      ];
      expect(answers.map((a) => a.status)).toEqual([200, 403, 404, 405]);
      for (const a of answers) expect(a.headers.get('X-Consul-Default-ACL-Policy')).toBe('deny');
      expect(answers[0]?.headers.get('Content-Type')).toBe('application/json');
      expect(answers[3]?.headers.get('Allow')).toBe('GET, PUT, DELETE');
    } finally {
      await served.stop();
    }
  });
});

let readOnlyPolicy: J;
let readOnly: J;
let writer: J;

describe('policies', () => {
  it('creates, reads by ID and by name, lists stubs', async () => {
    const rules = '# ACL readers\nacl = "read"\nkey_prefix "" { policy = "read" }\n';
    const r = await call('PUT', '/v1/acl/policy', {
      token: root,
      body: { Name: 'acl-read', Description: 'reads ACLs', Rules: rules },
    });
    expect(r.status).toBe(200);
    readOnlyPolicy = r.json();
    expect(Object.keys(readOnlyPolicy)).toEqual([
      'ID',
      'Name',
      'Description',
      'Rules',
      'Datacenters',
      'Hash',
      'CreateIndex',
      'ModifyIndex',
    ]);
    expect(readOnlyPolicy).toMatchObject({ Name: 'acl-read', Rules: rules, Datacenters: null });

    const byId = await call('GET', `/v1/acl/policy/${String(readOnlyPolicy['ID'])}`, { token: root });
    expect(byId.json()).toEqual(readOnlyPolicy);
    expect(Number(byId.headers.get('X-Consul-Index'))).toBeGreaterThan(0);
    const byName = await call('GET', '/v1/acl/policy/name/acl-read', { token: root });
    expect(byName.json()).toEqual(readOnlyPolicy);

    const list = (await call('GET', '/v1/acl/policies', { token: root })).json();
    expect(list.map((p) => p['Name']).sort()).toEqual(['acl-read', 'global-management']);
    expect(list.every((p) => !('Rules' in p))).toBe(true);
  });

  it('refuses rules that do not parse (400 with the position), duplicate names and bad names', async () => {
    const bad = await call('PUT', '/v1/acl/policy', {
      token: root,
      body: { Name: 'bad', Rules: 'key "a" {\n  policy = "sometimes"\n}' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/at 2:12: "sometimes" is not one of/);
    const dup = await call('PUT', '/v1/acl/policy', { token: root, body: { Name: 'ACL-READ' } });
    expect(dup.status).toBe(400);
    expect(dup.body).toMatch(/already exists/);
    const name = await call('PUT', '/v1/acl/policy', { token: root, body: { Name: 'no spaces' } });
    expect(name.body).toMatch(/invalid Name/);
    const id = await call('PUT', '/v1/acl/policy', { token: root, body: { Name: 'x', ID: 'abc' } });
    expect(id.body).toMatch(/Cannot specify the ID when creating a new policy/);
  });

  it('keeps global-management: its rules fixed, never deleted', async () => {
    const gm = (await call('GET', `/v1/acl/policy/${GLOBAL_MANAGEMENT_POLICY_ID}`, { token: root })).json();
    const change = await call('PUT', `/v1/acl/policy/${GLOBAL_MANAGEMENT_POLICY_ID}`, {
      token: root,
      body: { ...gm, Rules: 'acl = "read"' },
    });
    expect(change.status).toBe(400);
    expect(change.body).toMatch(
      /Changing the Rules for the builtin global-management policy is not permitted/,
    );
    const del = await call('DELETE', `/v1/acl/policy/${GLOBAL_MANAGEMENT_POLICY_ID}`, { token: root });
    expect(del.body).toMatch(/Delete operation not permitted on the builtin global-management policy/);
  });
});

describe('tokens', () => {
  it('creates tokens linked by policy name or ID, with names resolved on read', async () => {
    const r = await call('PUT', '/v1/acl/token', {
      token: root,
      body: { Description: 'reader', Policies: [{ Name: 'acl-read' }] },
    });
    expect(r.status).toBe(200);
    readOnly = r.json();
    expect(readOnly['Policies']).toEqual([{ ID: readOnlyPolicy['ID'], Name: 'acl-read' }]);
    const w = await call('PUT', '/v1/acl/token', {
      token: root,
      body: { Description: 'writer', Policies: [{ ID: GLOBAL_MANAGEMENT_POLICY_ID }] },
    });
    writer = w.json();
    expect(writer['SecretID']).not.toBe('<hidden>');

    const missing = await call('PUT', '/v1/acl/token', {
      token: root,
      body: { Policies: [{ Name: 'nope' }] },
    });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatch(/No such ACL policy with name "nope"/);
    const roles = await call('PUT', '/v1/acl/token', { token: root, body: { Roles: [{ Name: 'r' }] } });
    expect(roles.status).toBe(400);
  });

  it('shows secrets to acl:write, hides them from acl:read', async () => {
    const asRoot = (
      await call('GET', `/v1/acl/token/${String(readOnly['AccessorID'])}`, { token: root })
    ).json();
    expect(asRoot['SecretID']).toBe(readOnly['SecretID']);
    const secret = readOnly['SecretID'] as string;
    const asReader = await call('GET', `/v1/acl/token/${String(writer['AccessorID'])}`, { token: secret });
    expect(asReader.status).toBe(200);
    expect(asReader.json()['SecretID']).toBe('<hidden>');
    const list = (await call('GET', '/v1/acl/tokens', { token: secret })).json();
    expect(list.length).toBe(4); // anonymous, bootstrap, reader, writer
    expect(list.every((t) => t['SecretID'] === '<hidden>')).toBe(true);
    const listRoot = (await call('GET', '/v1/acl/tokens', { token: root })).json();
    expect(listRoot.find((t) => t['AccessorID'] === ANONYMOUS_TOKEN_ID)?.['SecretID']).toBe('anonymous');
  });

  it('filters the list by ?policy=', async () => {
    const list = (
      await call('GET', `/v1/acl/tokens?policy=${String(readOnlyPolicy['ID'])}`, { token: root })
    ).json();
    expect(list.map((t) => t['AccessorID'])).toEqual([readOnly['AccessorID']]);
  });

  it('reads the caller itself at /token/self with no permission needed', async () => {
    const r = await call('GET', '/v1/acl/token/self', { token: readOnly['SecretID'] as string });
    expect(r.status).toBe(200);
    expect(r.json()['AccessorID']).toBe(readOnly['AccessorID']);
    expect(r.json()['SecretID']).toBe(readOnly['SecretID']);
  });

  it('needs acl:write to change anything', async () => {
    const r = await call('PUT', '/v1/acl/token', { token: readOnly['SecretID'] as string, body: {} });
    expect(r.status).toBe(403);
    expect(r.body).toBe(
      `Permission denied: token with AccessorID '${String(readOnly['AccessorID'])}' lacks permission 'acl:write'\n`,
    );
  });

  it('needs acl:read to read: the anonymous token has none under default deny', async () => {
    const r = await call('GET', '/v1/acl/tokens');
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/^Permission denied: anonymous token lacks permission 'acl:read'/);
  });

  it('answers 403 "ACL not found" for a secret nobody holds, and for an unknown accessor', async () => {
    const r = await call('GET', '/v1/acl/policies', { token: '6a1253d2-1785-24fd-91c2-f8e78c745511' });
    expect(r.status).toBe(403);
    expect(r.body).toBe('ACL not found\n');
    const self = await call('GET', '/v1/acl/token/self', { token: 'nobody' });
    expect(self.status).toBe(403);
    const t = await call('GET', '/v1/acl/token/6a1253d2-1785-24fd-91c2-f8e78c745511', { token: root });
    expect(t.status).toBe(403);
    expect(t.body).toBe('ACL not found\n');
  });

  it('takes the token from Authorization: Bearer and from ?token=', async () => {
    const bearer = await call('GET', '/v1/acl/token/self', { headers: { Authorization: `Bearer ${root}` } });
    expect(bearer.status).toBe(200);
    const query = await call('GET', `/v1/acl/token/self?token=${root}`);
    expect(query.status).toBe(200);
    expect(query.json()['SecretID']).toBe(root);
  });

  it('updates (SecretID kept), clones and deletes', async () => {
    const id = readOnly['AccessorID'] as string;
    const up = await call('PUT', `/v1/acl/token/${id}`, {
      token: root,
      body: { Description: 'reader v2', Policies: [{ Name: 'acl-read' }] },
    });
    expect(up.status).toBe(200);
    expect(up.json()).toMatchObject({ Description: 'reader v2', SecretID: readOnly['SecretID'] });
    expect(up.json()['CreateIndex']).toBe(readOnly['CreateIndex']);
    expect(up.json()['ModifyIndex']).toBeGreaterThan(readOnly['ModifyIndex'] as number);
    const mismatch = await call('PUT', `/v1/acl/token/${id}`, {
      token: root,
      body: { AccessorID: writer['AccessorID'] },
    });
    expect(mismatch.body).toMatch(/Token Accessor ID in URL and payload do not match/);
    const resecret = await call('PUT', `/v1/acl/token/${id}`, {
      token: root,
      body: { SecretID: '6a1253d2-1785-24fd-91c2-f8e78c745511' },
    });
    expect(resecret.body).toMatch(/Changing a tokens SecretID is not permitted/);

    const clone = await call('PUT', `/v1/acl/token/${id}/clone`, {
      token: root,
      body: { Description: 'copy' },
    });
    expect(clone.status).toBe(200);
    const c = clone.json();
    expect(c['AccessorID']).not.toBe(id);
    expect(c['SecretID']).not.toBe(readOnly['SecretID']);
    expect(c).toMatchObject({ Description: 'copy', Policies: readOnly['Policies'] });

    const del = await call('DELETE', `/v1/acl/token/${String(c['AccessorID'])}`, { token: root });
    expect(del.status).toBe(200);
    expect(del.body).toBe('true');
    const gone = await call('GET', `/v1/acl/token/${String(c['AccessorID'])}`, { token: root });
    expect(gone.status).toBe(403);
  });

  it('refuses to delete the anonymous token and the caller itself', async () => {
    const anon = await call('DELETE', `/v1/acl/token/${ANONYMOUS_TOKEN_ID}`, { token: root });
    expect(anon.body).toMatch(/Delete operation not permitted on the anonymous token/);
    const self = await call('DELETE', `/v1/acl/token/${String(writer['AccessorID'])}`, {
      token: writer['SecretID'] as string,
    });
    expect(self.body).toMatch(/Deletion of the request's authorization token is not permitted/);
  });

  it('renames a policy: tokens show the new name; deleting it drops the link', async () => {
    const p = readOnlyPolicy;
    const up = await call('PUT', `/v1/acl/policy/${String(p['ID'])}`, {
      token: root,
      body: { ...p, Name: 'readers' },
    });
    expect(up.status).toBe(200);
    const t = (await call('GET', `/v1/acl/token/${String(readOnly['AccessorID'])}`, { token: root })).json();
    expect(t['Policies']).toEqual([{ ID: p['ID'], Name: 'readers' }]);
    expect((await call('DELETE', `/v1/acl/policy/${String(p['ID'])}`, { token: root })).body).toBe('true');
    const after = (
      await call('GET', `/v1/acl/token/${String(readOnly['AccessorID'])}`, { token: root })
    ).json();
    expect(after['Policies']).toEqual([]);
    // Without its policy, the token can no longer read ACLs (default deny).
    const r = await call('GET', '/v1/acl/policies', { token: readOnly['SecretID'] as string });
    expect(r.status).toBe(403);
  });
});

describe('agent tokens', () => {
  it('PUT /v1/agent/token/default makes requests without a token act as that token', async () => {
    const t = await call('PUT', '/v1/acl/token', {
      token: root,
      body: { Description: 'default', Policies: [{ ID: GLOBAL_MANAGEMENT_POLICY_ID }] },
    });
    const secret = String(t.json()['SecretID']);
    expect((await call('GET', '/v1/acl/token/self')).status).toBe(403);
    const denied = await call('PUT', '/v1/agent/token/default', {
      token: String(readOnly['SecretID']),
      body: { Token: secret },
    });
    expect(denied.status).toBe(403);
    const set = await call('PUT', '/v1/agent/token/acl_token', { token: root, body: { Token: secret } });
    expect(set.status).toBe(200);
    expect(set.body).toBe('');
    const self = await call('GET', '/v1/acl/token/self');
    expect(self.status).toBe(200);
    expect(self.json()['SecretID']).toBe(secret);
    expect((await call('PUT', '/v1/agent/token/bogus', { token: root, body: { Token: 'x' } })).status).toBe(
      404,
    );
    expect(
      (await call('PUT', '/v1/agent/token/replication', { token: root, body: { Token: 'x' } })).status,
    ).toBe(400);
    await call('PUT', '/v1/agent/token/default', { token: root, body: { Token: '' } });
    expect((await call('GET', '/v1/acl/token/self')).status).toBe(403);
  });
});

describe('initial_management', () => {
  it('the leader creates it from the config, and it counts as the bootstrap', async () => {
    const secret = 'c0ffee00-1111-2222-3333-444444444444';
    const im = await startDevAgent((c) => {
      c.acl.enabled = true;
      c.acl.tokens.initialManagement = secret;
    });
    try {
      const store = im.agent.server?.fsm.store;
      const deadline = Date.now() + 10_000;
      while (!store?.aclTokenBySecret(secret)) {
        if (Date.now() > deadline) throw new Error('no initial management token');
        await new Promise((r) => setTimeout(r, 10));
      }
      const self = await im.app.request('/v1/acl/token/self', { headers: { 'X-Consul-Token': secret } });
      expect(self.status).toBe(200);
      expect(await self.json()).toMatchObject({
        SecretID: secret,
        Description: 'Initial Management Token',
        Policies: [{ ID: GLOBAL_MANAGEMENT_POLICY_ID, Name: 'global-management' }],
      });
      const boot = await im.app.request('/v1/acl/bootstrap', { method: 'PUT' });
      expect(boot.status).toBe(403);
      // default_policy allow (Consul's default): the header says so.
      expect(boot.headers.get('X-Consul-Default-ACL-Policy')).toBe('allow');
    } finally {
      await im.stop();
    }
  });
});

describe('ACLs off', () => {
  it('every ACL endpoint answers 401 "ACL support disabled"; the default policy header says allow', async () => {
    const off = await startDevAgent();
    try {
      for (const [method, path] of [
        ['PUT', '/v1/acl/bootstrap'],
        ['GET', '/v1/acl/tokens'],
        ['GET', '/v1/acl/token/self'],
        ['PUT', '/v1/acl/policy'],
        ['GET', '/v1/acl/policies'],
      ] as const) {
        const res = await off.app.request(path, { method, ...(method === 'PUT' ? { body: '{}' } : {}) });
        expect(res.status).toBe(401);
        expect(await res.text()).toBe('ACL support disabled\n');
        expect(res.headers.get('X-Consul-Default-ACL-Policy')).toBe('allow');
      }
    } finally {
      await off.stop();
    }
  });
});
