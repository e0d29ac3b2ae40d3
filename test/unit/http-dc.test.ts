// ?dc= on every HTTP route that runs an endpoint: the datacenter reaches the forwarder in the
// endpoint's args (each route family through app.request() against a recording forwarder), the
// agent's own dc and an empty one mean "here", no route calls the forwarder around http/endpoint.ts,
// and against a real server with no WAN pool another dc is Consul's "No path to datacenter".

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { createApp, type HttpAgent } from '../../src/http/app.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { allowAll } from '../../src/acl/authorizer.js';

interface Call {
  method: string;
  args: Record<string, unknown>;
}

const meta = { index: 5, knownLeader: true, lastContact: 0, consistency: 'leader' };
const txnResult = { Results: [], Errors: null };
/** What each endpoint answers, enough for its route to build a response. */
function reply(method: string): unknown {
  switch (method) {
    case 'Txn.Read':
      return { value: txnResult, meta };
    case 'Txn.Apply':
      return txnResult;
    case 'Session.Apply':
      return 'a-session';
    case 'Session.Renew':
      return null;
    case 'KVS.Apply':
    case 'Catalog.Register':
    case 'Catalog.Deregister':
    case 'Operator.RaftRemovePeer':
      return true;
    case 'Status.Leader':
      return '10.0.0.1:8300';
    case 'Status.Peers':
      return ['dc1'];
    case 'KVS.Get':
    case 'Session.Get':
    case 'Catalog.NodeServices':
      return { value: null, meta };
    case 'Operator.RaftGetConfiguration':
      return { value: { Servers: [], Index: 1 }, meta };
    default:
      return { value: [], meta };
  }
}

function recordingApp(): {
  request: (m: string, path: string, body?: unknown) => Promise<Call>;
  raw: (m: string, path: string, body?: string) => Promise<Response>;
  calls: Call[];
  fired: string[];
} {
  const calls: Call[] = [];
  const fired: string[] = [];
  const agent = {
    config: {
      datacenter: 'dc1',
      nodeName: 'n1',
      kvMaxValueSize: 512 * 1024,
      txnMaxReqLen: 512 * 1024,
      acl: { enabled: true, defaultPolicy: 'deny', tokens: { default: '' } },
    },
    // The agent's token resolver (a local event is checked before the agent fires it).
    acl: { resolve: () => Promise.resolve(allowAll) },
    fireEvent: (name: string) => {
      fired.push(name);
      return { ID: 'local-event', Name: name };
    },
    forwarder: {
      call: async (method: string, args: unknown) => {
        calls.push({ method, args: args as Record<string, unknown> });
        return reply(method);
      },
    },
  } as unknown as HttpAgent;
  const app = createApp({ agent, logger: silentLogger() });
  return {
    calls,
    fired,
    raw: async (m, path, body) => app.request(path, { method: m, ...(body === undefined ? {} : { body }) }),
    request: async (m, path, body) => {
      const before = calls.length;
      const r = await app.request(path, {
        method: m,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      if (r.status >= 500) throw new Error(`${m} ${path}: ${r.status} ${await r.text()}`);
      const call = calls[before];
      if (!call || calls.length !== before + 1)
        throw new Error(`${m} ${path}: ${calls.length - before} calls`);
      return call;
    },
  };
}

/** One request per route that runs an endpoint: [HTTP method, path, body, endpoint]. */
const ROUTES: [string, string, unknown, string][] = [
  ['GET', '/v1/kv/app/x', undefined, 'KVS.Get'],
  ['GET', '/v1/kv/app/?recurse', undefined, 'KVS.List'],
  ['GET', '/v1/kv/app/?keys', undefined, 'KVS.ListKeys'],
  ['PUT', '/v1/kv/app/x', 'v', 'KVS.Apply'],
  ['DELETE', '/v1/kv/app/x', undefined, 'KVS.Apply'],
  ['PUT', '/v1/txn', [{ KV: { Verb: 'get', Key: 'a' } }], 'Txn.Read'],
  ['PUT', '/v1/txn', [{ KV: { Verb: 'set', Key: 'a', Value: '' } }], 'Txn.Apply'],
  ['PUT', '/v1/session/create', {}, 'Session.Apply'],
  ['PUT', '/v1/session/destroy/abc', undefined, 'Session.Apply'],
  ['PUT', '/v1/session/renew/abc', undefined, 'Session.Renew'],
  ['GET', '/v1/session/info/abc', undefined, 'Session.Get'],
  ['GET', '/v1/session/node/n1', undefined, 'Session.NodeSessions'],
  ['GET', '/v1/session/list', undefined, 'Session.List'],
  ['PUT', '/v1/catalog/register', { Node: 'n', Address: '10.0.0.1' }, 'Catalog.Register'],
  ['PUT', '/v1/catalog/deregister', { Node: 'n' }, 'Catalog.Deregister'],
  ['GET', '/v1/catalog/nodes', undefined, 'Catalog.ListNodes'],
  ['GET', '/v1/catalog/services', undefined, 'Catalog.ListServices'],
  ['GET', '/v1/catalog/service/web', undefined, 'Catalog.ServiceNodes'],
  ['GET', '/v1/catalog/node/n1', undefined, 'Catalog.NodeServices'],
  ['GET', '/v1/catalog/node-services/n1', undefined, 'Catalog.NodeServiceList'],
  ['GET', '/v1/health/service/web', undefined, 'Health.ServiceNodes'],
  ['GET', '/v1/health/node/n1', undefined, 'Health.NodeChecks'],
  ['GET', '/v1/health/checks/web', undefined, 'Health.ServiceChecks'],
  ['GET', '/v1/health/state/any', undefined, 'Health.ChecksInState'],
  ['GET', '/v1/internal/ui/services', undefined, 'Internal.UIServices'],
  ['GET', '/v1/internal/ui/nodes', undefined, 'Internal.UINodes'],
  ['GET', '/v1/internal/ui/node/n1', undefined, 'Internal.UINodeInfo'],
  ['GET', '/v1/status/leader', undefined, 'Status.Leader'],
  ['GET', '/v1/status/peers', undefined, 'Status.Peers'],
  ['GET', '/v1/operator/raft/configuration', undefined, 'Operator.RaftGetConfiguration'],
  ['DELETE', '/v1/operator/raft/peer?id=abc', undefined, 'Operator.RaftRemovePeer'],
  // ACL writes go to this datacenter's leader (Consul sends them to the primary datacenter).
  ['PUT', '/v1/acl/bootstrap', undefined, 'ACL.Bootstrap'],
  ['PUT', '/v1/acl/token', {}, 'ACL.TokenSet'],
  ['GET', '/v1/acl/token/self', undefined, 'ACL.TokenRead'],
  ['GET', '/v1/acl/token/abc', undefined, 'ACL.TokenRead'],
  ['PUT', '/v1/acl/token/abc', {}, 'ACL.TokenSet'],
  ['DELETE', '/v1/acl/token/abc', undefined, 'ACL.TokenDelete'],
  ['PUT', '/v1/acl/token/abc/clone', {}, 'ACL.TokenClone'],
  ['GET', '/v1/acl/tokens', undefined, 'ACL.TokenList'],
  ['PUT', '/v1/acl/policy', { Name: 'p' }, 'ACL.PolicySet'],
  ['GET', '/v1/acl/policy/abc', undefined, 'ACL.PolicyRead'],
  ['GET', '/v1/acl/policy/name/p', undefined, 'ACL.PolicyRead'],
  ['PUT', '/v1/acl/policy/abc', { Name: 'p' }, 'ACL.PolicySet'],
  ['DELETE', '/v1/acl/policy/abc', undefined, 'ACL.PolicyDelete'],
  ['GET', '/v1/acl/policies', undefined, 'ACL.PolicyList'],
];

const withQuery = (path: string, q: string): string => `${path}${path.includes('?') ? '&' : '?'}${q}`;

describe('?dc= on every endpoint route', () => {
  const app = recordingApp();
  for (const [m, path, body, endpoint] of ROUTES) {
    it(`${m} ${path} carries ?dc= to ${endpoint}`, async () => {
      const there = await app.request(m, withQuery(path, 'dc=dc2'), body);
      expect(there.method).toBe(endpoint);
      expect(there.args['dc']).toBe('dc2');
      // The agent's own datacenter, an empty one, and none at all: no dc in the args.
      for (const q of ['dc=dc1', 'dc=', '']) {
        const here = await app.request(m, q === '' ? path : withQuery(path, q), body);
        expect(here.method).toBe(endpoint);
        expect(here.args).not.toHaveProperty('dc');
      }
    });
  }

  it('keeps blocking-query options alongside dc', async () => {
    const c = await app.request('GET', '/v1/health/service/web?dc=dc2&index=9&wait=1s&passing&tag=v1');
    expect(c.args).toMatchObject({
      dc: 'dc2',
      service: 'web',
      tags: ['v1'],
      passing: true,
      q: { minIndex: 9, maxWaitMs: 1000 },
    });
  });

  it('fires a user event in another datacenter through its servers (Internal.EventFire)', async () => {
    const c = await app.request('PUT', '/v1/event/fire/deploy?dc=dc2&node=web.*&service=api&tag=v1', 'go');
    expect(c).toEqual({
      method: 'Internal.EventFire',
      args: {
        dc: 'dc2',
        name: 'deploy',
        payload: expect.any(Uint8Array) as unknown,
        filters: { node: 'web.*', service: 'api', tag: 'v1' },
      },
    });
    expect(Buffer.from(c.args['payload'] as Uint8Array).toString()).toBe('"go"');
    expect(app.fired).toEqual([]);
    // Its own datacenter: the agent fires it itself, no endpoint.
    const before = app.calls.length;
    for (const path of ['/v1/event/fire/here', '/v1/event/fire/here?dc=dc1']) {
      const r = await app.raw('PUT', path);
      expect(await r.json()).toEqual({ ID: 'local-event', Name: 'here' });
    }
    expect(app.fired).toEqual(['here', 'here']);
    expect(app.calls.length).toBe(before);
    // A bad filter is refused here, before any round trip.
    const bad = await app.raw('PUT', '/v1/event/fire/x?dc=dc2&tag=v1');
    expect([bad.status, await bad.text()]).toEqual([
      400,
      'Cannot provide tag filter without service filter\n',
    ]);
    expect(app.calls.length).toBe(before);
  });

  it('no route calls the forwarder except through http/endpoint.ts (so new routes get ?dc= too)', () => {
    const dir = join(import.meta.dirname, '../../src/http/routes');
    const offenders = readdirSync(dir).filter((f) =>
      readFileSync(join(dir, f), 'utf8').includes('forwarder.'),
    );
    expect(offenders).toEqual([]);
  });
});

describe('?dc= against a server without a WAN pool', () => {
  let dev: DevAgent;
  beforeAll(async () => {
    dev = await startDevAgent();
  });
  afterAll(() => dev.stop());

  it('answers another datacenter with 500 "No path to datacenter", reads and writes alike', async () => {
    for (const [m, path] of [
      ['GET', '/v1/kv/x?dc=dc2'],
      ['PUT', '/v1/kv/x?dc=dc2'],
      ['GET', '/v1/catalog/nodes?dc=dc2&index=1'],
      ['GET', '/v1/status/leader?dc=dc2'],
      ['PUT', '/v1/event/fire/deploy?dc=dc2'],
    ] as const) {
      const r = await dev.app.request(path, { method: m });
      expect([r.status, await r.text()]).toEqual([500, 'No path to datacenter\n']);
    }
  });

  it('serves its own datacenter as if no dc were given', async () => {
    expect((await dev.app.request('/v1/kv/x?dc=dc1', { method: 'PUT', body: 'v' })).status).toBe(200);
    expect((await dev.app.request('/v1/kv/x?dc=dc1')).status).toBe(200);
  });
});
