// GET/PUT /v1/snapshot between two in-process dev agents with ACLs on (default deny): the snapshot
// of one restored into the other brings back every key, node, service, check, session, lock,
// prepared query, ACL token and policy, compared entry by entry through the HTTP API; a damaged
// archive is a 400 and changes nothing; only a management token may save or restore; and after a
// restore, indexes carry on past the snapshot's, blocked queries wake, the restored tokens are the
// ones that work, and the restored TTL sessions have timers on the leader. A snapshot without ACL
// state restored into an agent with ACLs on gets the built-ins back and can be bootstrapped anew.

import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS_TOKEN_ID } from '../../src/acl/authorizer.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';

interface Res {
  status: number;
  body: Uint8Array;
  text: string;
  headers: Headers;
  json: <T = unknown>() => T;
}

async function call(
  dev: DevAgent,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<Res> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers['X-Consul-Token'] = token;
  const payload =
    body === undefined
      ? undefined
      : body instanceof Uint8Array || typeof body === 'string'
        ? body
        : JSON.stringify(body);
  const res = await dev.app.request(path, {
    method,
    headers,
    ...(payload !== undefined ? { body: payload } : {}),
  });
  const buf = new Uint8Array(await res.arrayBuffer());
  const text = new TextDecoder().decode(buf);
  return { status: res.status, body: buf, text, headers: res.headers, json: <T>() => JSON.parse(text) as T };
}

async function ok(dev: DevAgent, method: string, path: string, token: string, body?: unknown): Promise<Res> {
  const r = await call(dev, method, path, token, body);
  if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r;
}

async function aclAgent(): Promise<{ dev: DevAgent; root: string }> {
  const dev = await startDevAgent((c) => {
    c.acl.enabled = true;
    c.acl.defaultPolicy = 'deny';
  });
  const store = dev.agent.server?.fsm.store;
  const deadline = Date.now() + 10_000;
  while (!store?.aclToken(ANONYMOUS_TOKEN_ID)) {
    if (Date.now() > deadline) throw new Error('the leader did not create the anonymous token');
    await new Promise((r) => setTimeout(r, 10));
  }
  const b = await call(dev, 'PUT', '/v1/acl/bootstrap');
  return { dev, root: b.json<{ SecretID: string }>().SecretID };
}

let a: DevAgent;
let b: DevAgent;
let rootA = '';
let rootB = '';
let appToken = '';
let ttlSession = '';
let archive: Uint8Array;

/** What the comparison reads on both sides (with the source's management token). */
const READS = [
  '/v1/kv/?recurse',
  '/v1/catalog/node/ext-1',
  '/v1/catalog/node/ext-2',
  '/v1/catalog/service/web',
  '/v1/catalog/service/db',
  '/v1/health/node/ext-1',
  '/v1/health/node/ext-2',
  '/v1/session/list',
  '/v1/query',
  '/v1/acl/tokens',
  '/v1/acl/policies',
];

beforeAll(async () => {
  ({ dev: a, root: rootA } = await aclAgent());
  ({ dev: b, root: rootB } = await aclAgent());

  // The source: something in every table a restore must bring back.
  await ok(a, 'PUT', '/v1/kv/app/config?flags=42', rootA, 'hello');
  await ok(a, 'PUT', '/v1/kv/app/bin', rootA, Uint8Array.from([0, 1, 2, 255]));
  await ok(a, 'PUT', '/v1/kv/empty', rootA);
  for (const [node, service, port] of [
    ['ext-1', 'web', 80],
    ['ext-2', 'db', 5432],
  ] as const) {
    await ok(a, 'PUT', '/v1/catalog/register', rootA, {
      Node: node,
      Address: `10.0.0.${port % 7}`,
      NodeMeta: { rack: 'r1' },
      Service: { ID: `${service}1`, Service: service, Tags: ['v1'], Port: port, Meta: { team: 'x' } },
      Checks: [
        { CheckID: `${service}-alive`, Name: 'alive', Status: 'passing', ServiceID: `${service}1` },
        { CheckID: 'disk', Name: 'disk', Status: 'warning', Output: 'almost full' },
      ],
    });
  }
  ttlSession = (
    await ok(a, 'PUT', '/v1/session/create', rootA, {
      Node: 'ext-1',
      NodeChecks: [],
      TTL: '60s',
      Name: 'ttl',
    })
  ).json<{ ID: string }>().ID;
  const locker = (
    await ok(a, 'PUT', '/v1/session/create', rootA, {
      Node: 'ext-2',
      NodeChecks: ['disk'],
      Behavior: 'delete',
      LockDelay: '0s',
    })
  ).json<{ ID: string }>().ID;
  expect((await ok(a, 'PUT', `/v1/kv/locks/leader?acquire=${locker}`, rootA, 'me')).text).toBe('true');
  await ok(a, 'POST', '/v1/query', rootA, { Name: 'web-q', Service: { Service: 'web', OnlyPassing: true } });
  const policy = (
    await ok(a, 'PUT', '/v1/acl/policy', rootA, {
      Name: 'app-write',
      Rules: 'key_prefix "app/" { policy = "write" }',
    })
  ).json<{ ID: string }>().ID;
  appToken = (
    await ok(a, 'PUT', '/v1/acl/token', rootA, { Description: 'app', Policies: [{ ID: policy }] })
  ).json<{ SecretID: string }>().SecretID;
  // Something in the target that the restore must replace.
  await ok(b, 'PUT', '/v1/kv/only-in-b', rootB, 'b');

  const saved = await ok(a, 'GET', '/v1/snapshot', rootA);
  expect(saved.headers.get('content-type')).toBe('application/x-gzip');
  expect(Number(saved.headers.get('x-consul-index'))).toBe(a.agent.server?.fsm.store.lastIndex);
  archive = saved.body;
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
});

describe('/v1/snapshot ACLs (management only)', () => {
  it('refuses to save or restore without a token, or with one that is not management', async () => {
    for (const token of [undefined, appToken]) {
      const save = await call(a, 'GET', '/v1/snapshot', token);
      expect(save.status).toBe(403);
      expect(save.text).toMatch(/lacks permission 'acl:write'/);
      const restore = await call(a, 'PUT', '/v1/snapshot', token, archive);
      expect(restore.status).toBe(403);
    }
  });
});

describe('a damaged archive', () => {
  it('is a 400 naming the damage, and the target is left exactly as it was', async () => {
    const store = b.agent.server!.fsm.store;
    const tar = Uint8Array.from(gunzipSync(archive));
    tar[512 * 3 + 20]! ^= 0x40; // a byte of state.bin
    const broken: [Uint8Array, RegExp][] = [
      [gzipSync(tar), /failed checking integrity of snapshot: hash check failed for "state.bin"/],
      [archive.subarray(0, archive.byteLength - 100), /failed to decompress snapshot/],
      [new TextEncoder().encode('not an archive'), /failed to decompress snapshot/],
    ];
    const generation = store.restoreGeneration;
    const before = (await ok(b, 'GET', '/v1/kv/?recurse', rootB)).text;
    for (const [body, message] of broken) {
      const r = await call(b, 'PUT', '/v1/snapshot', rootB, body);
      expect(r.status).toBe(400);
      expect(r.text).toMatch(message);
    }
    const empty = await call(b, 'PUT', '/v1/snapshot', rootB);
    expect(empty.status).toBe(400);
    expect(store.restoreGeneration).toBe(generation);
    expect((await ok(b, 'GET', '/v1/kv/?recurse', rootB)).text).toBe(before);
    expect((await ok(b, 'GET', '/v1/kv/only-in-b', rootB)).status).toBe(200);
  });
});

describe('restoring into a fresh agent', () => {
  it('brings back every entry, wakes blocked queries, and moves the tokens and indexes with it', async () => {
    const store = b.agent.server!.fsm.store;
    const sourceIndex = a.agent.server!.fsm.store.lastIndex;
    expect(store.lastIndex).toBeLessThan(sourceIndex);

    // A blocking query on the target, waiting for a change that only the restore brings.
    const nodes = await call(b, 'GET', '/v1/catalog/nodes', rootB);
    const blockedAt = Number(nodes.headers.get('x-consul-index'));
    const started = Date.now();
    let settled = false;
    const blocked = call(b, 'GET', `/v1/catalog/nodes?index=${blockedAt}&wait=30s`).finally(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);

    const r = await call(b, 'PUT', '/v1/snapshot', rootB, archive);
    expect(r.status, r.text).toBe(200);
    const woke = await blocked;
    expect(woke.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(10_000);

    for (const path of READS) {
      const want = (await ok(a, 'GET', path, rootA)).json();
      const got = (await ok(b, 'GET', path, rootA)).json();
      expect(got, path).toEqual(want);
    }
    // The comparison had something to compare in each table.
    const kv = (await ok(b, 'GET', '/v1/kv/?recurse', rootA)).json<{ Key: string; Session?: string }[]>();
    expect(kv.map((e) => e.Key)).toEqual(['app/bin', 'app/config', 'empty', 'locks/leader']);
    expect(kv[3]?.Session).toBeDefined();
    expect((await ok(b, 'GET', '/v1/session/list', rootA)).json<unknown[]>()).toHaveLength(2);
    expect((await ok(b, 'GET', '/v1/query', rootA)).json<unknown[]>()).toHaveLength(1);
    expect(
      (await ok(b, 'GET', '/v1/acl/policies', rootA)).json<{ Name: string }[]>().map((p) => p.Name),
    ).toContain('app-write');
    expect((await call(b, 'GET', '/v1/kv/only-in-b', rootA)).status).toBe(404);

    // Tokens: the target's own management token went with its old state; the source's work.
    expect((await call(b, 'GET', '/v1/kv/app/config', rootB)).status).toBe(403);
    expect((await call(b, 'PUT', '/v1/kv/app/x', appToken, 'y')).text).toBe('true');

    // Indexes: past everything the snapshot held, never back to the target's own.
    const x = (await ok(b, 'GET', '/v1/kv/app/x', rootA)).json<{ ModifyIndex: number }[]>();
    expect(x[0]!.ModifyIndex).toBeGreaterThan(sourceIndex);
    expect(store.lastIndex).toBeGreaterThan(sourceIndex);

    // The leader keeps a TTL timer for the restored session.
    expect(b.agent.server!.sessionTimers.has(ttlSession)).toBe(true);
  });
});

describe('restoring a snapshot without ACLs into an agent with ACLs on', () => {
  it('makes the built-ins again, and the cluster can be bootstrapped anew', async () => {
    const plain = await startDevAgent();
    try {
      await ok(plain, 'PUT', '/v1/kv/plain', '', 'p');
      const snap = await ok(plain, 'GET', '/v1/snapshot', '');
      // b holds a's state now (the restore above): a's management token is the one that works.
      expect((await call(b, 'PUT', '/v1/snapshot', rootA, snap.body)).status).toBe(200);
      const store = b.agent.server!.fsm.store;
      const deadline = Date.now() + 10_000;
      while (!store.aclToken(ANONYMOUS_TOKEN_ID)) {
        if (Date.now() > deadline) throw new Error('the leader did not make the anonymous token again');
        await new Promise((r) => setTimeout(r, 10));
      }
      expect((await call(b, 'GET', '/v1/kv/plain', rootA)).status).toBe(403);
      const boot = await call(b, 'PUT', '/v1/acl/bootstrap');
      expect(boot.status, boot.text).toBe(200);
      const root = boot.json<{ SecretID: string }>().SecretID;
      expect((await ok(b, 'GET', '/v1/kv/plain?raw', root)).text).toBe('p');
    } finally {
      await plain.stop();
    }
  });
});
