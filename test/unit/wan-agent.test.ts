// The WAN pool in real agents, in process: servers of three datacenters (one joins through
// retry_join_wan, one through the join API) and a client agent, through each agent's HTTP API.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { defaultConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/core/logger.js';
import { fastTimings } from '../../src/gossip/types.js';
import { createApp } from '../../src/http/app.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';

interface MemberJson {
  Name: string;
  Addr: string;
  Port: number;
  Status: number;
  Tags: Record<string, string>;
}
interface DirectoryJson {
  Datacenter: string;
  Datacenters: { Datacenter: string; Servers: { Node: string; RPC: string; HTTP: string }[] }[];
}

const dir = mkdtempSync(join(tmpdir(), 'consulate-wan-agent-'));
let dc1: DevAgent;
let dc2: DevAgent;
let client: Agent;
let clientApp: Hono;

const get = async <T>(app: Hono, path: string): Promise<T> => {
  const r = await app.request(path);
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
};

async function eventually<T>(
  fn: () => Promise<T | false | undefined>,
  what: string,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

const wanAddr = (a: Agent): string => `127.0.0.1:${a.wanPool?.gossip.local().port}`;
const names = (ms: MemberJson[]): string[] => ms.map((m) => m.Name);

beforeAll(async () => {
  dc1 = await startDevAgent((c) => {
    c.nodeName = 'alpha';
    c.ports.http = 0;
  });
  const first = wanAddr(dc1.agent);
  dc2 = await startDevAgent((c) => {
    c.nodeName = 'bravo';
    c.datacenter = 'dc2';
    c.ports.http = 0;
    c.retryJoinWan = [first];
  });
  const c = defaultConfig();
  c.nodeName = 'client-1';
  c.dataDir = join(dir, 'client-1');
  c.bindAddr = '127.0.0.1';
  c.ports.http = -1;
  c.ports.dns = -1;
  c.ports.serfLan = 0;
  c.gossipLan = { ...fastTimings };
  c.retryJoin = [dc1.agent.lan.local().addr + ':' + String(dc1.agent.lan.local().port)];
  client = new Agent(c, silentLogger());
  await client.start();
  clientApp = createApp({ agent: client, logger: silentLogger() });
});

afterAll(async () => {
  await client?.stop();
  await dc2?.stop();
  await dc1?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('WAN pool', () => {
  it('joins through retry_join_wan; both servers list both, named <node>.<dc>', async () => {
    for (const a of [dc1, dc2]) {
      const ms = await eventually(async () => {
        const m = await get<MemberJson[]>(a.app, '/v1/agent/members?wan=1');
        return m.length === 2 && m.every((x) => x.Status === 1) && m;
      }, 'two WAN members');
      expect(names(ms)).toEqual(['alpha.dc1', 'bravo.dc2']);
      expect(ms[1]!.Tags).toMatchObject({ role: 'consul', dc: 'dc2', http: dc2.agent.httpAddr });
    }
    // The LAN pools stay apart.
    expect(names(await get<MemberJson[]>(dc2.app, '/v1/agent/members'))).toEqual(['bravo']);
  });

  it('?filter= travels with a read from a client agent to its server, and to another datacenter', async () => {
    const r = await dc2.app.request('/v1/catalog/register', {
      method: 'PUT',
      body: JSON.stringify({
        Node: 'far-1',
        Address: '10.2.0.1',
        Service: { Service: 'far', Tags: ['blue'], Port: 1 },
      }),
    });
    expect(r.status).toBe(200);
    const q = (filter: string): string => `filter=${encodeURIComponent(filter)}`;
    await eventually(
      async () => (await clientApp.request('/v1/catalog/services')).status === 200,
      'the client to reach its server',
    );
    // dc1's own list, through the client: the server filtered the instances.
    expect(await get(clientApp, `/v1/catalog/services?${q('ServiceName == consul')}`)).toEqual({
      consul: [],
    });
    expect(await get(clientApp, `/v1/catalog/services?${q('ServiceName == far')}`)).toEqual({});
    // dc2's, through the client and dc1's server.
    expect(await get(clientApp, `/v1/catalog/services?dc=dc2&${q('"blue" in ServiceTags')}`)).toEqual({
      far: ['blue'],
    });
    const nodes = await get<{ Node: string }[]>(
      clientApp,
      `/v1/catalog/nodes?dc=dc2&${q('Address == 10.2.0.1')}`,
    );
    expect(nodes.map((n) => n.Node)).toEqual(['far-1']);
    expect((await clientApp.request(`/v1/catalog/services?dc=dc2&${q('((')}`)).status).toBe(400);
  });

  it('keyring without gossip encryption: a 500 that names each pool, the WAN one as WAN', async () => {
    const r = await dc1.app.request('/v1/operator/keyring');
    expect(r.status).toBe(500);
    const text = await r.text();
    expect(text).toContain('dc1 (WAN) error: 2/2 nodes reported failure');
    expect(text).toContain('alpha.dc1: Keyring is empty (encryption not enabled)');
  });

  it('lists the datacenters, local first, on servers and through a client agent', async () => {
    expect(await get(dc1.app, '/v1/catalog/datacenters')).toEqual(['dc1', 'dc2']);
    expect(await get(dc2.app, '/v1/catalog/datacenters')).toEqual(['dc2', 'dc1']);
    await eventually(
      async () => (await get<string[]>(clientApp, '/v1/catalog/datacenters')).length === 2,
      'the client to reach its server',
    );
    expect(await get(clientApp, '/v1/catalog/datacenters')).toEqual(['dc1', 'dc2']);
    const self = await get<{ Stats: { consul: Record<string, string>; serf_wan: Record<string, string> } }>(
      dc1.app,
      '/v1/agent/self',
    );
    expect(self.Stats.consul['known_datacenters']).toBe('2');
    expect(self.Stats.serf_wan['members']).toBe('2');
  });

  it('serves the gateway directory with an index, and blocks on it until the WAN pool changes', async () => {
    const r = await dc1.app.request('/v1/internal/gateway/directory');
    expect(r.status).toBe(200);
    const index = Number(r.headers.get('X-Consul-Index'));
    expect(index).toBeGreaterThan(0);
    const want: DirectoryJson = {
      Datacenter: 'dc1',
      Datacenters: [
        {
          Datacenter: 'dc1',
          Servers: [{ Node: 'alpha', RPC: dc1.agent.server!.self().addr, HTTP: dc1.agent.httpAddr! }],
        },
        {
          Datacenter: 'dc2',
          Servers: [{ Node: 'bravo', RPC: dc2.agent.server!.self().addr, HTTP: dc2.agent.httpAddr! }],
        },
      ],
    };
    expect(await r.json()).toEqual(want);
    // Through the client agent: the same answer (its server's).
    expect(await get(clientApp, '/v1/internal/gateway/directory')).toEqual(want);

    // Nothing changes: the wait runs out and the index stays.
    let t0 = Date.now();
    const idle = await dc1.app.request(`/v1/internal/gateway/directory?index=${index}&wait=200ms`);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(Number(idle.headers.get('X-Consul-Index'))).toBe(index);

    // A third datacenter joins through the API while a query blocks (on the client agent, too).
    const blocked = dc1.app.request(`/v1/internal/gateway/directory?index=${index}&wait=30s`);
    const blockedViaClient = clientApp.request(`/v1/internal/gateway/directory?index=${index}&wait=30s`);
    const dc3 = await startDevAgent((c) => {
      c.nodeName = 'charlie';
      c.datacenter = 'dc3';
      c.ports.http = 0;
    });
    try {
      t0 = Date.now();
      const j = await dc3.app.request(`/v1/agent/join/${wanAddr(dc2.agent)}?wan=1`, { method: 'PUT' });
      expect(j.status).toBe(200);
      for (const p of [blocked, blockedViaClient]) {
        const b = await p;
        expect(Date.now() - t0).toBeLessThan(10_000);
        expect(Number(b.headers.get('X-Consul-Index'))).toBeGreaterThan(index);
      }
      await eventually(
        async () =>
          (await get<DirectoryJson>(dc1.app, '/v1/internal/gateway/directory')).Datacenters.map(
            (d) => d.Datacenter,
          ).join() === 'dc1,dc2,dc3',
        'dc3 in dc1’s directory',
      );

      // dc3 stops without leaving: it stays known (failed), with no alive server.
      const before = Number(
        (await dc1.app.request('/v1/internal/gateway/directory')).headers.get('X-Consul-Index'),
      );
      await dc3.agent.wanPool!.gossip.stop();
      await eventually(async () => {
        const d = await get<DirectoryJson>(dc1.app, '/v1/internal/gateway/directory');
        return d.Datacenters.find((x) => x.Datacenter === 'dc3')?.Servers.length === 0;
      }, 'dc3’s server to fail');
      const after = await dc1.app.request(`/v1/internal/gateway/directory?index=${before}&wait=1s`);
      expect(Number(after.headers.get('X-Consul-Index'))).toBeGreaterThan(before);
      expect(await get(dc1.app, '/v1/catalog/datacenters')).toEqual(['dc1', 'dc2', 'dc3']);

      // force-leave -wan takes the failed member out of the pool (names are <node>.<dc>).
      const fl = await dc1.app.request('/v1/agent/force-leave/charlie.dc3?wan', { method: 'PUT' });
      expect(fl.status).toBe(200);
      await eventually(
        async () => (await get<string[]>(dc1.app, '/v1/catalog/datacenters')).join() === 'dc1,dc2',
        'dc3 to be gone once its server left',
      );
    } finally {
      await dc3.stop();
    }
  });

  it('answers WAN questions on a client agent as Consul does', async () => {
    expect(await get(clientApp, '/v1/agent/members?wan=1')).toEqual([]);
    const j = await clientApp.request('/v1/agent/join/127.0.0.1:8302?wan=1', { method: 'PUT' });
    expect(j.status).toBe(500);
    expect(await j.text()).toBe('Must be a server to join WAN cluster\n');
    const f = await clientApp.request('/v1/agent/force-leave/alpha.dc1?wan=1', { method: 'PUT' });
    expect(f.status).toBe(500);
    expect(await f.text()).toBe('Must be a server to force-leave a node from the WAN cluster\n');
  });

  it('refuses a segment with ?wan, an unknown WAN member, and a WAN join that reaches nobody', async () => {
    const s = await dc1.app.request('/v1/agent/members?wan=1&segment=alpha');
    expect(s.status).toBe(400);
    expect(await s.text()).toBe('Cannot provide a segment with wan=true\n');
    expect((await dc1.app.request('/v1/agent/members?wan=1&segment=_all')).status).toBe(200);
    const f = await dc1.app.request('/v1/agent/force-leave/nobody.dc9?wan=1', { method: 'PUT' });
    expect(f.status).toBe(404);
    const j = await dc1.app.request('/v1/agent/join/127.0.0.1:1?wan=1', { method: 'PUT' });
    expect(j.status).toBe(500);
    expect(await j.text()).toContain('Failed to join 127.0.0.1:1');
  });
});

describe('WAN gossip encryption', () => {
  it('keeps the WAN keys in serf/remote.keyring, and rotates them with every datacenter\u2019s LAN keys from one server', async () => {
    const key = randomBytes(32).toString('base64');
    const data = join(dir, 'enc-1');
    const a = await startDevAgent((c) => {
      c.nodeName = 'enc-1';
      c.encrypt = key;
      // Not in memory: the keyrings go to files.
      c.dev = false;
      c.dataDir = data;
    });
    const b = await startDevAgent((c) => {
      c.nodeName = 'enc-2';
      c.datacenter = 'dc2';
      c.encrypt = key;
    });
    try {
      expect(JSON.parse(readFileSync(join(data, 'serf', 'remote.keyring'), 'utf8'))).toEqual([key]);
      expect(JSON.parse(readFileSync(join(data, 'serf', 'local.keyring'), 'utf8'))).toEqual([key]);
      await b.agent.joinWan([wanAddr(a.agent)]);
      await eventually(
        async () => (await get<MemberJson[]>(a.app, '/v1/agent/members?wan')).length === 2,
        'the encrypted WAN join',
      );

      interface Ring {
        WAN: boolean;
        Datacenter: string;
        Keys: Record<string, number>;
        NumNodes: number;
      }
      const list = await get<Ring[]>(a.app, '/v1/operator/keyring');
      // The WAN pool, then every datacenter's LAN pool (dc2's through its server), as Consul lists.
      expect(list.map((r) => [r.WAN, r.Datacenter, r.Keys, r.NumNodes])).toEqual([
        [true, 'dc1', { [key]: 2 }, 2],
        [false, 'dc1', { [key]: 1 }, 1],
        [false, 'dc2', { [key]: 1 }, 1],
      ]);
      // A malformed key is refused before any pool is asked: a 400 that says why.
      const bad = await a.app.request('/v1/operator/keyring', {
        method: 'POST',
        body: JSON.stringify({ Key: 'not-base64!' }),
      });
      expect(bad.status).toBe(400);
      expect(await bad.text()).toMatch(/base64/i);
      const next = randomBytes(32).toString('base64');
      for (const [method, k] of [
        ['POST', next],
        ['PUT', next],
        ['DELETE', key],
      ] as const) {
        const r = await a.app.request('/v1/operator/keyring', { method, body: JSON.stringify({ Key: k }) });
        expect(r.status).toBe(200);
      }
      expect(b.agent.wanPool?.gossip.keyring()?.list()).toEqual([next]);
      // Rotated in the other datacenter's LAN pool too, from dc1 alone.
      expect(b.agent.lan.keyring()?.list()).toEqual([next]);
      expect(a.agent.lan.keyring()?.list()).toEqual([next]);
      expect(JSON.parse(readFileSync(join(data, 'serf', 'remote.keyring'), 'utf8'))).toEqual([next]);
      // The pool still works under the new key alone: probes go on answering for many intervals.
      await new Promise((r) => setTimeout(r, 1500));
      for (const x of [a, b]) {
        const ms = await get<MemberJson[]>(x.app, '/v1/agent/members?wan');
        expect(ms.map((m) => [m.Name, m.Status])).toEqual([
          ['enc-1.dc1', 1],
          ['enc-2.dc2', 1],
        ]);
      }
    } finally {
      await b.stop();
      await a.stop();
    }
  });
});

describe('WAN snapshot', () => {
  it('a server alone in its datacenter rejoins the WAN pool after a restart on a new port, from serf/remote.members', async () => {
    const data = join(dir, 'snap-1');
    const config = (c: ReturnType<typeof defaultConfig>): void => {
      c.nodeName = 'snap-1';
      c.datacenter = 'dcx';
      c.dev = false;
      c.dataDir = data;
    };
    const file = join(data, 'serf', 'remote.members');
    let a = await startDevAgent(config);
    const b = await startDevAgent((c) => {
      c.nodeName = 'snap-2';
      c.datacenter = 'dcy';
    });
    try {
      await b.agent.joinWan([wanAddr(a.agent)]);
      // The other datacenter's server, as the file lists it once the join's burst is written.
      await eventually(
        async () => existsSync(file) && readFileSync(file, 'utf8').includes(wanAddr(b.agent)),
        'serf/remote.members to list snap-2',
      );
      const oldAddr = wanAddr(a.agent);
      await a.stop();
      // Back with a new WAN port (0: a free one) and no retry_join_wan: snap-2 cannot find it, so
      // only its own saved list brings it back.
      a = await startDevAgent(config);
      expect(wanAddr(a.agent)).not.toBe(oldAddr);
      await eventually(async () => {
        const ms = await get<MemberJson[]>(b.app, '/v1/agent/members?wan');
        const back = ms.find((m) => m.Name === 'snap-1.dcx');
        return back?.Status === 1 && `127.0.0.1:${back.Port}` === wanAddr(a.agent);
      }, 'snap-2 to see snap-1 alive at its new port');
      expect(await get<string[]>(a.app, '/v1/catalog/datacenters')).toEqual(
        expect.arrayContaining(['dcx', 'dcy']),
      );
      // A graceful leave forgets the list, as Consul does not rejoin after a leave by default.
      await a.agent.leave();
      expect(existsSync(file)).toBe(false);
    } finally {
      await b.stop();
      await a.stop();
    }
  });
});
