// The answer cache: a repeated question costs no read, a change to the data read drops exactly the
// answers built from it, concurrent first questions share one read, idle entries stop their
// blocking query, sizes are bounded, failures are not cached.

import { afterEach, describe, expect, it } from 'vitest';
import { CacheBusyError, DnsCache } from '../../src/dns/cache.js';
import { instance } from '../support/dns-fixtures.js';
import { T, addresses, buildQuery, decode } from '../support/dns.js';
import { testHandler, type TestHandler } from '../support/dns-handler.js';

let h: TestHandler | null = null;
afterEach(() => {
  h?.stop();
  h = null;
});

async function ask(t: TestHandler, name: string, type: number = T.A): Promise<ReturnType<typeof decode>> {
  const r = await t.handler.handle(buildQuery(name, type), false);
  if (r === null) throw new Error('no reply');
  return decode(r);
}

/** Lets pending promise callbacks (the refresh loops) run. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

describe('DnsCache', () => {
  it('answers a repeated question synchronously, without another read, in any case spelling', async () => {
    const t = (h = testHandler());
    await ask(t, 'web.service.consul');
    // The first read, then the entry's blocking read, which waits.
    expect(t.fetches).toBe(2);
    expect(t.waiting()).toBe(1);
    const reads = t.fetches - 1;
    await settle();
    expect(t.fetches).toBe(reads + 1);
    for (const name of ['web.service.consul', 'WEB.SERVICE.CONSUL', 'Web.Service.Consul']) {
      const r = t.handler.handle(buildQuery(name, T.A), false);
      expect(r).toBeInstanceOf(Buffer);
      expect(decode(r as Buffer).questions[0]?.name).toBe(name);
    }
    expect(t.fetches).toBe(reads + 1);
    // Another type of the same name builds a new answer from the same data: still no read.
    await ask(t, 'web.service.consul', T.SRV);
    expect(t.fetches).toBe(reads + 1);
  });

  it('drops the answers of an entry when its data changes, and only those', async () => {
    const t = (h = testHandler());
    expect(addresses(await ask(t, 'web.service.consul'))).toHaveLength(12);
    await ask(t, 'foo.node.consul');
    await settle();
    expect(t.handler.handle(buildQuery('web.service.consul', T.A), false)).toBeInstanceOf(Buffer);
    (t.catalog.services['web'] ?? []).splice(2);
    t.bump();
    await settle();
    // Rebuilt on the next question (the slow path), from the new data.
    const r = t.handler.handle(buildQuery('web.service.consul', T.A), false);
    expect(r).toBeInstanceOf(Promise);
    expect(addresses(decode((await r) as Buffer))).toEqual(['10.0.0.1', '10.0.0.2']);
    // A new critical instance is left out as soon as it is seen.
    t.catalog.services['web']?.push(instance('bad', '10.0.0.99', { checks: ['critical'] }));
    t.bump();
    await settle();
    expect(addresses(await ask(t, 'web.service.consul'))).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('reads at most about ten times a second while the catalog changes all the time', async () => {
    const t = (h = testHandler());
    await ask(t, 'web.service.consul');
    const before = t.fetches;
    const t0 = Date.now();
    while (Date.now() - t0 < 500) {
      t.bump();
      await settle();
    }
    const reads = t.fetches - before;
    expect(reads).toBeGreaterThanOrEqual(2);
    expect(reads).toBeLessThanOrEqual(8);
  });

  it('shares one read among concurrent first questions', async () => {
    const t = (h = testHandler());
    const before = t.fetches;
    await Promise.all(Array.from({ length: 20 }, () => ask(t, 'v1.web.service.consul')));
    // One first read and one blocking read.
    expect(t.fetches).toBe(before + 2);
  });

  it('lets idle entries go, ending their blocking read', async () => {
    let now = 1_000_000;
    const t = (h = testHandler({}, undefined, { idleMs: 60_000, now: () => now }));
    await ask(t, 'web.service.consul');
    await settle();
    expect(t.cache.stats().entries).toBe(1);
    expect(t.waiting()).toBe(1);
    now += 30_000;
    t.cache.sweep();
    expect(t.cache.stats().entries).toBe(1);
    now += 31_000;
    t.cache.sweep();
    expect(t.cache.stats()).toMatchObject({ entries: 0, fronts: 0 });
    await settle();
    expect(t.waiting()).toBe(0);
  });

  it('keeps at most maxEntries entries, evicting the least recently used', async () => {
    let now = 0;
    const t = (h = testHandler({}, undefined, { maxEntries: 3, now: () => ++now }));
    for (const n of ['n0', 'n1', 'n2', 'n3', 'n4']) await ask(t, `${n}.node.consul`);
    await settle();
    expect(t.cache.stats().entries).toBe(3);
    expect(t.waiting()).toBe(3);
  });

  it('keeps at most maxFronts answers', async () => {
    const t = (h = testHandler({}, undefined, { maxFronts: 10 }));
    for (let i = 0; i < 25; i++) await ask(t, `x${i}.consul`);
    expect(t.cache.stats().fronts).toBeLessThanOrEqual(10);
  });

  it('does not cache failures: SERVFAIL, then an answer once the datacenter is reachable', async () => {
    const t = (h = testHandler());
    expect((await ask(t, 'web.service.dc2.consul')).header.rcode).toBe(2);
    t.catalog.dcs.push('dc2');
    expect(addresses(await ask(t, 'web.service.dc2.consul'))).toHaveLength(12);
  });

  it('forgets an entry whose blocking read fails', async () => {
    const t = (h = testHandler());
    await ask(t, 'web.service.consul');
    await settle();
    t.catalog.dcs.length = 0;
    t.bump();
    // The entry's next read fails (after the short pause that follows a read that did not block).
    const deadline = Date.now() + 2000;
    while (t.cache.stats().entries > 0 && Date.now() < deadline) await settle();
    expect(t.cache.stats().entries).toBe(0);
    expect((await ask(t, 'web.service.consul')).header.rcode).toBe(2);
  });

  it('refuses new reads past maxPending, and the handler stays silent', async () => {
    const cache = new DnsCache({
      fetch: () => new Promise(() => undefined),
      maxPending: 1,
      fillTimeoutMs: 60_000,
    });
    try {
      const req = {
        key: 'a',
        method: 'Catalog.ListNodes' as const,
        args: { dc: 'dc1' },
        kind: 'nodes' as const,
      };
      void cache.load(req).catch(() => undefined);
      await expect(cache.load({ ...req, key: 'b' })).rejects.toBeInstanceOf(CacheBusyError);
    } finally {
      cache.stop();
    }
  });

  it('times out a first read that hangs (the question gets SERVFAIL, not a hang)', async () => {
    const cache = new DnsCache({
      fetch: (_req, _min, signal) =>
        new Promise((_resolve, reject) =>
          signal.addEventListener('abort', () => reject(new Error('timeout'))),
        ),
      fillTimeoutMs: 50,
    });
    try {
      await expect(
        cache.load({ key: 'a', method: 'Catalog.ListNodes', args: { dc: 'dc1' }, kind: 'nodes' }),
      ).rejects.toThrow('timeout');
      expect(cache.stats().pending).toBe(0);
    } finally {
      cache.stop();
    }
  });
});
