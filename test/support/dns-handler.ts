// A packet handler over an in-memory catalog, for tests that need no agent: the fetch answers at
// once for a first read and then blocks (like a blocking query) until aborted or `bump()` is called.

import { seededRng } from '../../src/core/rng.js';
import { answerSettings } from '../../src/dns/agent-dns.js';
import { DnsCache, type CacheOptions, type DataRequest } from '../../src/dns/cache.js';
import { DnsHandler, type HandlerOptions } from '../../src/dns/handler.js';
import { defaultConfig } from '../../src/config/config.js';
import type { CheckServiceNode, Node, NodeServices } from '../../src/state/types.js';
import { instance, node } from './dns-fixtures.js';

export interface MemCatalog {
  services: Record<string, CheckServiceNode[]>;
  nodes: Node[];
  /** Datacenters the fake servers can reach. */
  dcs: string[];
}

export function defaultCatalog(): MemCatalog {
  const web = Array.from({ length: 12 }, (_, i) => instance(`n${i}`, `10.0.0.${i + 1}`, { port: 8000 + i }));
  return {
    services: { web, consul: [instance('s1', '10.0.1.1')] },
    nodes: [node('foo', '10.1.1.1', { rack: 'r1' }), ...web.map((w) => w.Node)],
    dcs: ['dc1'],
  };
}

export interface TestHandler {
  handler: DnsHandler;
  cache: DnsCache;
  catalog: MemCatalog;
  /** A catalog write: every blocking read returns with a new index. */
  bump(): void;
  fetches: number;
  /** Blocking reads waiting now. */
  waiting(): number;
  stop(): void;
}

export function testHandler(
  over: Partial<HandlerOptions> = {},
  catalog = defaultCatalog(),
  cacheOpts: Partial<CacheOptions> = {},
): TestHandler {
  let index = 1;
  let waiters: (() => void)[] = [];
  const t: TestHandler = {
    handler: null as unknown as DnsHandler,
    cache: null as unknown as DnsCache,
    catalog,
    fetches: 0,
    bump() {
      index++;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
    stop() {
      t.cache.stop();
    },
    waiting: () => waiters.length,
  };
  const read = (req: DataRequest): unknown => {
    const a = req.args as { service?: string; node?: string; tags?: string[] };
    switch (req.method) {
      case 'Health.ServiceNodes': {
        const rows = catalog.services[a.service ?? ''] ?? [];
        const tags = a.tags ?? [];
        return rows.filter((r) => tags.every((tag) => r.Service.Tags.includes(tag)));
      }
      case 'Catalog.NodeServices': {
        const n = catalog.nodes.find((x) => x.Node.toLowerCase() === a.node);
        return n ? ({ Node: n, Services: {} } satisfies NodeServices) : null;
      }
      case 'Catalog.ListNodes':
        return catalog.nodes;
    }
  };
  const cache = new DnsCache({
    fetch: async (req, minIndex, signal) => {
      t.fetches++;
      const dc = (req.args as { dc: string }).dc;
      if (!catalog.dcs.includes(dc)) throw new Error('No path to datacenter');
      if (minIndex >= index) {
        await new Promise<void>((resolve, reject) => {
          waiters.push(resolve);
          signal.addEventListener(
            'abort',
            () => {
              waiters = waiters.filter((w) => w !== resolve);
              reject(new Error('aborted'));
            },
            { once: true },
          );
        });
      }
      return { index, value: read(req) };
    },
    maxPending: 100_000,
    ...cacheOpts,
  });
  const rng = seededRng(11);
  const cfg = defaultConfig().dns;
  t.cache = cache;
  t.handler = new DnsHandler({
    domains: { domain: ['consul'], altDomain: ['alt', 'test'], datacenter: 'dc1' },
    answers: answerSettings(cfg),
    udpAnswerLimit: 0,
    aRecordLimit: 0,
    enableTruncate: true,
    cache,
    recurse: null,
    rng: () => rng.next(),
    ...over,
  });
  return t;
}
