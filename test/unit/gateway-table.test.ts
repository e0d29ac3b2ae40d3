// The gateway's table and app without sockets: an in-memory fetch stands for the servers and the
// instances, and the app is driven through app.request(), as an edge runtime would drive it. Also:
// the app and table import nothing from node:, the table keeps its last good data through errors,
// restarts its index when a server's goes backwards, and drops (and aborts) unused watches.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createGatewayApp } from '../../src/gateway/app.js';
import { DECODES, upstreamUrl, type UpstreamFetch, type UpstreamInit } from '../../src/gateway/fetch.js';
import { target } from '../../src/gateway/node-fetch.js';
import { parseHealth, RoutingTable } from '../../src/gateway/table.js';

const json = (body: unknown, index: number): Response =>
  new Response(JSON.stringify(body), {
    headers: { 'content-type': 'application/json', 'x-consul-index': String(index) },
  });

const directory = {
  Datacenter: 'dc1',
  Datacenters: [
    { Datacenter: 'dc1', Servers: [{ Node: 's1', RPC: '10.0.0.1:8300', HTTP: '10.0.0.1:8500' }] },
    { Datacenter: 'dc2', Servers: [{ Node: 't1', RPC: '10.0.1.1:8300', HTTP: '10.0.1.1:8500' }] },
  ],
};

const health = (addrs: [string, number][]): unknown[] =>
  addrs.map(([a, p], i) => ({
    Node: { Node: `n${i}`, Address: a },
    Service: { ID: `web-${i}`, Service: 'web', Address: '', Port: p },
    Checks: [{ Status: 'passing' }],
  }));

/** Answers at once unless the query blocks (index > 0): then it hangs until aborted. */
function memoryFetch(routes: (url: URL, init: UpstreamInit) => Response | null): {
  fetch: UpstreamFetch;
  calls: string[];
  aborted: string[];
} {
  const calls: string[] = [];
  const aborted: string[] = [];
  const fetch: UpstreamFetch = async (url, init) => {
    calls.push(url);
    const u = new URL(url);
    const r = routes(u, init);
    if (r) return r;
    return new Promise((_, reject) => {
      init.signal.addEventListener('abort', () => {
        aborted.push(url);
        reject(new DOMException('aborted', 'AbortError'));
      });
    });
  };
  return { fetch, calls, aborted };
}

const blocking = (u: URL): boolean => Number(u.searchParams.get('index') ?? 0) > 0;

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('gateway app and table, in memory', () => {
  it('imports nothing from node: in the app, the table and the fetch contract', () => {
    for (const f of ['app.ts', 'table.ts', 'fetch.ts']) {
      const src = readFileSync(join(import.meta.dirname, '../../src/gateway', f), 'utf8');
      expect(src, f).not.toMatch(/from\s+['"]node:/);
      expect(src, f).not.toMatch(/\b(process|Buffer|require)\b[.(]/);
    }
  });

  it('routes through app.request() with any fetch-shaped upstream', async () => {
    const m = memoryFetch((u) => {
      if (u.pathname === '/v1/internal/gateway/directory') return blocking(u) ? null : json(directory, 3);
      if (u.pathname === '/v1/health/service/web')
        return blocking(u) ? null : json(health([['10.0.1.7', 9000]]), 11);
      if (u.host === '10.0.1.7:9000')
        return new Response(`hello from ${u.pathname}${u.search}`, { headers: { 'x-app': '1' } });
      if (u.host === '10.0.0.1:8500') return json({ local: true, q: u.search }, 5);
      return new Response('nope', { status: 404 });
    });
    const table = new RoutingTable({ seeds: ['10.0.0.99:8500'], fetch: m.fetch });
    table.start();
    try {
      expect(await table.whenReady(1000)).toBe(true);
      const app = createGatewayApp({ table, fetch: m.fetch });
      // Host form, explicit dc: the health query goes to a server of dc2.
      const r = await app.request('http://gw/x/y?z=1', { headers: { Host: 'web.service.dc2.consul' } });
      expect(r.status).toBe(200);
      expect(await r.text()).toBe('hello from /x/y?z=1');
      expect(r.headers.get('x-consulate-datacenter')).toBe('dc2');
      expect(r.headers.get('x-consulate-upstream')).toBe('10.0.1.7:9000');
      expect(r.headers.get('x-app')).toBe('1');
      // The health query went to dc2's server, with dc=dc2, passing and stale.
      expect(m.calls).toContain('http://10.0.1.1:8500/v1/health/service/web?dc=dc2&passing&stale');
      const api = await app.request('http://gw/v1/kv/a?recurse');
      expect(await api.json()).toEqual({ local: true, q: '?recurse' });
      expect(api.headers.get('x-consulate-datacenter')).toBe('dc1');
    } finally {
      table.stop();
    }
  });

  it('drops the encoding headers of a body the platform fetch has decoded', async () => {
    const m = memoryFetch((u) => {
      if (u.pathname === '/v1/internal/gateway/directory') return blocking(u) ? null : json(directory, 3);
      return new Response('plain now', {
        headers: { 'content-encoding': 'gzip', 'content-length': '999', 'x-keep': 'y' },
      });
    });
    // Marked as the platform's fetch is: it hands over decoded bodies.
    const decoding: UpstreamFetch = Object.assign(m.fetch, { [DECODES]: true });
    const table = new RoutingTable({ seeds: ['10.0.0.99:8500'], fetch: decoding });
    table.start();
    try {
      await table.whenReady(1000);
      const r = await createGatewayApp({ table, fetch: decoding }).request('http://gw/v1/x');
      expect(r.headers.get('content-encoding')).toBeNull();
      expect(r.headers.get('x-keep')).toBe('y');
      expect(await r.text()).toBe('plain now');
    } finally {
      table.stop();
    }
  });

  it('passes several Set-Cookie headers on as they came, and joins other repeated headers', async () => {
    const m = memoryFetch((u) => {
      if (u.pathname === '/v1/internal/gateway/directory') return blocking(u) ? null : json(directory, 3);
      const h = new Headers([
        ['set-cookie', 'a=1'],
        ['set-cookie', 'b=2'],
        ['x-multi', 'one'],
        ['x-multi', 'two'],
      ]);
      return new Response('ok', { headers: h });
    });
    const table = new RoutingTable({ seeds: ['10.0.0.99:8500'], fetch: m.fetch });
    table.start();
    try {
      await table.whenReady(1000);
      const r = await createGatewayApp({ table, fetch: m.fetch }).request('http://gw/v1/x');
      expect(r.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
      expect(r.headers.get('x-multi')).toBe('one, two');
      expect(r.headers.get('x-consulate-upstream')).toBe('10.0.0.1:8500');
    } finally {
      table.stop();
    }
  });

  it('parses the upstream URLs it builds without new URL(), and https:// agents', () => {
    const http = { https: false };
    expect(target('http://10.0.0.1:8500/v1/kv/a?x=1')).toEqual({
      host: '10.0.0.1',
      port: 8500,
      path: '/v1/kv/a?x=1',
      ...http,
    });
    expect(target('http://[fe80::1]:81/p')).toEqual({ host: 'fe80::1', port: 81, path: '/p', ...http });
    expect(target('http://[fe80::1]/p')).toEqual({ host: 'fe80::1', port: 80, path: '/p', ...http });
    expect(target('http://web')).toEqual({ host: 'web', port: 80, path: '/', ...http });
    expect(target('https://10.0.0.1:8501/v1/kv/a')).toEqual({
      host: '10.0.0.1',
      port: 8501,
      path: '/v1/kv/a',
      https: true,
    });
    expect(target('https://web/p')).toEqual({ host: 'web', port: 443, path: '/p', https: true });
    expect(upstreamUrl('10.0.0.1:8500', '/v1/x')).toBe('http://10.0.0.1:8500/v1/x');
    expect(upstreamUrl('https://10.0.0.1:8501', '/v1/x')).toBe('https://10.0.0.1:8501/v1/x');
  });

  it('keeps its last good data through errors, and restarts its index when it goes backwards', async () => {
    // Errors keep the last good directory: a table whose server fails after one good answer.
    let good = true;
    const f = memoryFetch((u) =>
      good
        ? json(directory, Number(u.searchParams.get('index') ?? 0) + 1)
        : new Response('down', { status: 500 }),
    );
    const t3 = new RoutingTable({ seeds: ['a:1'], fetch: f.fetch, minBackoffMs: 5, maxBackoffMs: 10 });
    t3.start();
    try {
      await t3.whenReady(1000);
      good = false;
      await until(
        'an error to show',
        () => (t3.status() as { Directory: { Error: string | null } }).Directory.Error !== null,
      );
      expect(t3.datacenters()).toEqual(['dc1', 'dc2']);
      expect(t3.serversOf('dc2')).toEqual(['10.0.1.1:8500']);
    } finally {
      t3.stop();
    }
    // An index that goes backwards is not waited on: the next query asks from 0.
    let step = 0;
    const g = memoryFetch((u) => {
      const idx = Number(u.searchParams.get('index') ?? 0);
      step++;
      if (step === 1) return json(directory, 100);
      if (step === 2) return json(directory, 7);
      return idx === 0 ? json(directory, 7) : null;
    });
    const t4 = new RoutingTable({ seeds: ['a:1'], fetch: g.fetch });
    t4.start();
    try {
      await until('three queries', () => g.calls.length >= 3);
      expect(g.calls[1]).toContain('index=100');
      expect(g.calls[2]).not.toContain('index=');
    } finally {
      t4.stop();
    }
  });

  it('stops a (service, dc) watch unused for idle_timeout, aborting its held query', async () => {
    const m = memoryFetch((u) => {
      if (u.pathname === '/v1/internal/gateway/directory') return blocking(u) ? null : json(directory, 3);
      if (u.pathname === '/v1/health/service/web')
        return blocking(u) ? null : json(health([['10.0.0.5', 80]]), 4);
      return null;
    });
    const table = new RoutingTable({ seeds: ['x:1'], fetch: m.fetch, idleMs: 1200 });
    table.start();
    try {
      await table.whenReady(1000);
      expect((await table.instances('web', 'dc1')).addrs).toEqual(['10.0.0.5:80']);
      await until('the held health query', () =>
        m.calls.some((c) => c.includes('/health/') && c.includes('index=4')),
      );
      expect(m.aborted.filter((c) => c.includes('/health/'))).toEqual([]);
      await until('the watch to be dropped', () => m.aborted.some((c) => c.includes('/health/')), 4000);
      expect((table.status() as { Services: unknown[] }).Services).toEqual([]);
    } finally {
      table.stop();
    }
  });

  it('reads instance addresses: Service.Address, else Node.Address; IPv6 bracketed; failing ones out', () => {
    expect(
      parseHealth([
        {
          Node: { Node: 'a', Address: '10.0.0.1' },
          Service: { ID: 'w1', Address: '', Port: 80 },
          Checks: [],
        },
        { Node: { Node: 'b', Address: '10.0.0.2' }, Service: { ID: 'w2', Address: 'fe80::1', Port: 81 } },
        {
          Node: { Node: 'c', Address: '10.0.0.3' },
          Service: { ID: 'w3', Address: '10.9.9.9', Port: 82 },
          Checks: [{ Status: 'critical' }],
        },
        { Node: { Node: 'd', Address: '10.0.0.4' }, Service: { ID: 'w4', Port: 0 } },
      ]).map((i) => i.addr),
    ).toEqual(['10.0.0.1:80', '[fe80::1]:81']);
  });
});
