// /v1/session/* and KV ?acquire / ?release through app.request() against an in-memory server:
// shapes, defaults, status codes, Consul's messages, lock delay, TTL expiry and blocking reads.
import fc from 'fast-check';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';

let dev: DevAgent;
let app: Hono;
beforeAll(async () => {
  dev = await startDevAgent();
  app = dev.app;
  // The leader registers its own node (with serfHealth) once its reconcile runs.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await app.request('/v1/health/node/test-node');
    const checks = (await r.json()) as { CheckID: string; Status: string }[];
    if (checks.some((c) => c.CheckID === 'serfHealth' && c.Status === 'passing')) break;
    if (Date.now() > deadline) throw new Error('the dev node never got its serfHealth check');
    await new Promise((res) => setTimeout(res, 50));
  }
});
afterAll(async () => {
  await dev.stop();
});

const req = (method: string, path: string, body?: string | object): Promise<Response> =>
  Promise.resolve(
    app.request(path, {
      method,
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    }),
  );
const json = async <T = unknown>(r: Promise<Response>): Promise<T> => (await (await r).json()) as T;

interface SessionJson {
  ID: string;
  Name: string;
  Node: string;
  LockDelay: number;
  Behavior: string;
  TTL: string;
  NodeChecks: string[];
  ServiceChecks: { ID: string; Namespace: string }[] | null;
  CreateIndex: number;
  ModifyIndex: number;
}
interface KV {
  Key: string;
  LockIndex: number;
  Session?: string;
  ModifyIndex: number;
}

async function create(body?: object): Promise<string> {
  const r = await req('PUT', '/v1/session/create', body);
  expect(r.status).toBe(200);
  const { ID } = (await r.json()) as { ID: string };
  expect(ID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  return ID;
}

async function error(r: Promise<Response>): Promise<[number, string]> {
  const res = await r;
  return [res.status, (await res.text()).trim()];
}

describe('session create, info, list, node, destroy', () => {
  it('creates with Consul’s defaults and reads it back in Consul’s shape', async () => {
    const id = await create();
    const r = await req('GET', `/v1/session/info/${id}`);
    expect(r.status).toBe(200);
    expect(Number(r.headers.get('X-Consul-Index'))).toBeGreaterThan(0);
    const [s] = (await r.json()) as SessionJson[];
    expect(s).toEqual({
      ID: id,
      Name: '',
      Node: 'test-node',
      LockDelay: 15_000_000_000,
      Behavior: 'release',
      TTL: '',
      NodeChecks: ['serfHealth'],
      ServiceChecks: null,
      CreateIndex: s!.CreateIndex,
      ModifyIndex: s!.CreateIndex,
    });
    expect(Object.keys(s!)).toEqual([
      'ID',
      'Name',
      'Node',
      'LockDelay',
      'Behavior',
      'TTL',
      'NodeChecks',
      'ServiceChecks',
      'CreateIndex',
      'ModifyIndex',
    ]);
    expect((await json<SessionJson[]>(req('GET', '/v1/session/list'))).map((x) => x.ID)).toContain(id);
    expect((await json<SessionJson[]>(req('GET', '/v1/session/node/test-node'))).map((x) => x.ID)).toContain(
      id,
    );
    expect(await json(req('PUT', `/v1/session/destroy/${id}`))).toBe(true);
    // Unknown sessions answer an empty list, as Consul does; destroy is idempotent.
    expect(await json(req('GET', `/v1/session/info/${id}`))).toEqual([]);
    expect(await json(req('PUT', `/v1/session/destroy/${id}`))).toBe(true);
    expect(await json(req('GET', '/v1/session/node/nobody'))).toEqual([]);
  });

  it('reads the body’s fields case-insensitively and LockDelay as Consul does', async () => {
    const cases: [unknown, number][] = [
      ['15s', 15e9],
      ['500ms', 5e8],
      [5, 5e9],
      [2_000_000_000, 2e9],
      [0, 0],
    ];
    for (const [lockDelay, ns] of cases) {
      const id = await create({
        lockdelay: lockDelay,
        name: 'n',
        behavior: 'delete',
        ttl: '10s',
        Checks: [],
      });
      const [s] = await json<SessionJson[]>(req('GET', `/v1/session/info/${id}`));
      expect(s).toMatchObject({ LockDelay: ns, Name: 'n', Behavior: 'delete', TTL: '10s', NodeChecks: [] });
    }
  });

  it('answers bad input with 400 and Consul’s messages', async () => {
    expect(await error(req('PUT', '/v1/session/create', { TTL: '5s' }))).toEqual([
      400,
      "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]",
    ]);
    expect(await error(req('PUT', '/v1/session/create', { Behavior: 'keep' }))).toEqual([
      400,
      "Invalid Behavior setting 'keep'",
    ]);
    expect(await error(req('PUT', '/v1/session/create', { LockDelay: 'soon' }))).toEqual([
      400,
      'Request decode failed: time: invalid duration "soon"',
    ]);
    expect(await error(req('PUT', '/v1/session/create', { Node: 'ghost' }))).toEqual([
      400,
      'Missing node registration',
    ]);
    expect(await error(req('PUT', '/v1/session/create', { NodeChecks: ['nope'] }))).toEqual([
      400,
      "Missing check 'nope' registration",
    ]);
    const [status, text] = await error(req('PUT', '/v1/session/create', '{not json'));
    expect(status).toBe(400);
    expect(text).toMatch(/^Request decode failed/);
    expect((await error(req('PUT', '/v1/session/create', '[1]')))[0]).toBe(400);
    expect((await error(req('PUT', '/v1/session/create', { TTL: 10 })))[0]).toBe(400);
    expect(await error(req('GET', '/v1/session/info/'))).toEqual([400, 'Missing session']);
    expect(await error(req('PUT', '/v1/session/destroy/'))).toEqual([400, 'Missing session']);
    expect(await error(req('PUT', '/v1/session/renew/'))).toEqual([400, 'Missing session']);
    expect(await error(req('GET', '/v1/session/node/'))).toEqual([400, 'Missing node name']);
    expect((await req('GET', '/v1/session/create')).status).toBe(405);
    expect((await req('PUT', '/v1/session/list')).status).toBe(405);
  });

  it('never answers anything but 200 or 400 to any JSON body, and a 200 is a session that exists', async () => {
    const field = fc.constantFrom(
      'Name',
      'Node',
      'LockDelay',
      'Behavior',
      'TTL',
      'NodeChecks',
      'Checks',
      'ServiceChecks',
      'ID',
    );
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom(
        '10s',
        '15s',
        'release',
        'delete',
        'test-node',
        'serfHealth',
        ['serfHealth'],
        [],
        5,
        -5,
        1e30,
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.dictionary(field, value), fc.jsonValue({ maxDepth: 2 })), async (body) => {
        const r = await req('PUT', '/v1/session/create', JSON.stringify(body));
        expect([200, 400]).toContain(r.status);
        if (r.status === 200) {
          const { ID } = (await r.json()) as { ID: string };
          expect(await json<SessionJson[]>(req('GET', `/v1/session/info/${ID}`))).toHaveLength(1);
          await req('PUT', `/v1/session/destroy/${ID}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('renews a session (200 with it) and answers 404 for an unknown one', async () => {
    const id = await create({ TTL: '15s' });
    const [s] = await json<SessionJson[]>(req('PUT', `/v1/session/renew/${id}`));
    expect(s).toMatchObject({ ID: id, TTL: '15s' });
    expect(await error(req('PUT', '/v1/session/renew/00000000-0000-0000-0000-000000000000'))).toEqual([
      404,
      "Session id '00000000-0000-0000-0000-000000000000' not found",
    ]);
  });

  it('wakes a blocking info query when the session is destroyed', async () => {
    const id = await create();
    const first = await req('GET', `/v1/session/info/${id}`);
    const index = Number(first.headers.get('X-Consul-Index'));
    const waiting = req('GET', `/v1/session/info/${id}?index=${index}&wait=20s`);
    let settled = false;
    void waiting.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    await req('PUT', `/v1/session/destroy/${id}`);
    const r = await waiting;
    expect(Number(r.headers.get('X-Consul-Index'))).toBeGreaterThan(index);
    expect(await r.json()).toEqual([]);
  });

  it('invalidates a TTL session when its leader timer runs out, releasing its lock', async () => {
    const id = await create({ TTL: '10s', LockDelay: 0 });
    expect(await json(req('PUT', `/v1/kv/ttl-lock?acquire=${id}`, 'x'))).toBe(true);
    // Stand in for 2×TTL passing without a renew: fire the leader's timer now.
    dev.agent.server!.sessionTimers.arm(id, 1);
    const deadline = Date.now() + 10_000;
    while ((await json<SessionJson[]>(req('GET', `/v1/session/info/${id}`))).length > 0) {
      if (Date.now() > deadline) throw new Error('the session was not invalidated');
      await new Promise((r) => setTimeout(r, 20));
    }
    const [e] = await json<KV[]>(req('GET', '/v1/kv/ttl-lock'));
    expect(e!.Session).toBeUndefined();
  });
});

describe('KV locks', () => {
  it('acquires and releases with Consul’s rules and shows Session in the KV JSON', async () => {
    const a = await create();
    const b = await create();
    expect(await json(req('PUT', `/v1/kv/svc/leader?acquire=${a}`, 'a'))).toBe(true);
    let [e] = await json<KV[]>(req('GET', '/v1/kv/svc/leader'));
    expect(e).toMatchObject({ Session: a, LockIndex: 1 });
    expect(await json(req('PUT', `/v1/kv/svc/leader?acquire=${a}`, 'a2'))).toBe(true);
    expect((await json<KV[]>(req('GET', '/v1/kv/svc/leader')))[0]!.LockIndex).toBe(1);
    expect(await json(req('PUT', `/v1/kv/svc/leader?acquire=${b}`, 'b'))).toBe(false);
    expect(await json(req('PUT', `/v1/kv/svc/leader?release=${b}`))).toBe(false);
    expect(await json(req('PUT', `/v1/kv/svc/leader?release=${a}`))).toBe(true);
    [e] = await json<KV[]>(req('GET', '/v1/kv/svc/leader'));
    expect(e!.Session).toBeUndefined();
    expect(e!.LockIndex).toBe(1);
    expect(await json(req('PUT', `/v1/kv/svc/leader?acquire=${b}`, 'b'))).toBe(true);
    expect((await json<KV[]>(req('GET', '/v1/kv/svc/leader')))[0]).toMatchObject({
      Session: b,
      LockIndex: 2,
    });
    expect(await error(req('PUT', '/v1/kv/svc/other?acquire=nope'))).toEqual([400, 'invalid session "nope"']);
    expect(await error(req('PUT', '/v1/kv/svc/other?acquire='))).toEqual([400, 'missing session']);
  });

  it('honours the lock delay after an invalidation: acquire and txn lock refused, then allowed', async () => {
    const a = await create({ LockDelay: '2s' });
    const b = await create();
    expect(await json(req('PUT', `/v1/kv/delayed?acquire=${a}`, 'a'))).toBe(true);
    expect(await json(req('PUT', `/v1/session/destroy/${a}`))).toBe(true);
    const released = Date.now();
    expect((await json<KV[]>(req('GET', '/v1/kv/delayed')))[0]!.Session).toBeUndefined();
    expect(await json(req('PUT', `/v1/kv/delayed?acquire=${b}`, 'b'))).toBe(false);
    const t = await req('PUT', '/v1/txn', [{ KV: { Verb: 'lock', Key: 'delayed', Session: b } }]);
    expect(t.status).toBe(409);
    expect(await t.json()).toEqual({
      Results: null,
      Errors: [{ OpIndex: 0, What: 'failed to lock key "delayed", lock delay in effect' }],
    });
    let ok = false;
    while (!ok && Date.now() - released < 15_000) {
      await new Promise((r) => setTimeout(r, 200));
      ok = await json<boolean>(req('PUT', `/v1/kv/delayed?acquire=${b}`, 'b'));
    }
    expect(ok).toBe(true);
    expect(Date.now() - released).toBeGreaterThanOrEqual(1500);
  });

  it('deletes the held keys of a delete-behaviour session when it is destroyed', async () => {
    const d = await create({ Behavior: 'delete', LockDelay: 0 });
    expect(await json(req('PUT', `/v1/kv/ephemeral?acquire=${d}`, 'x'))).toBe(true);
    await req('PUT', `/v1/session/destroy/${d}`);
    expect((await req('GET', '/v1/kv/ephemeral')).status).toBe(404);
  });

  it('runs txn lock, check-session and unlock', async () => {
    const a = await create();
    let r = await req('PUT', '/v1/txn', [
      { KV: { Verb: 'lock', Key: 'tx/lock', Value: Buffer.from('v').toString('base64'), Session: a } },
      { KV: { Verb: 'check-session', Key: 'tx/lock', Session: a } },
    ]);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { Results: { KV: KV }[] };
    expect(body.Results[0]!.KV).toMatchObject({ Key: 'tx/lock', Session: a, LockIndex: 1 });
    r = await req('PUT', '/v1/txn', [{ KV: { Verb: 'check-session', Key: 'tx/lock', Session: a } }]);
    expect(r.status).toBe(200);
    r = await req('PUT', '/v1/txn', [{ KV: { Verb: 'unlock', Key: 'tx/lock', Session: a } }]);
    expect(r.status).toBe(200);
    r = await req('PUT', '/v1/txn', [{ KV: { Verb: 'check-session', Key: 'tx/lock', Session: a } }]);
    expect(r.status).toBe(409);
  });
});
