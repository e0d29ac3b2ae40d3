// What each watch type asks the HTTP API (Consul's api/watch/funcs.go), and what its handler gets.
// One blocking GET per type; the loop (loop.ts) owns the index, this file owns paths and results.

import { encodeKey, type ConsulClient } from '../client/client.js';
import { ApiError } from '../client/client.js';
import type { WatchTarget } from './plan.js';

export interface WatchQuery {
  /** Path with its fixed query string (repeatable `tag` parameters are written here). */
  path: string;
  query: Record<string, string | boolean | undefined>;
  /** KV answers 404 when nothing matches; the handler then gets null, as Consul's does. */
  notFoundIsNull: boolean;
  /** /v1/kv/<key> answers a list of one; Consul's key watch hands over the pair itself. */
  single?: boolean;
}

export function queryFor(t: WatchTarget): WatchQuery {
  const tags = (list: string[]): string =>
    list.length === 0 ? '' : '?' + list.map((x) => `tag=${encodeURIComponent(x)}`).join('&');
  switch (t.type) {
    case 'key':
      return { path: `/v1/kv/${encodeKey(t.key)}`, query: {}, notFoundIsNull: true, single: true };
    case 'keyprefix':
      return { path: `/v1/kv/${encodeKey(t.prefix)}`, query: { recurse: true }, notFoundIsNull: true };
    case 'services':
      return { path: '/v1/catalog/services', query: {}, notFoundIsNull: false };
    case 'nodes':
      return { path: '/v1/catalog/nodes', query: {}, notFoundIsNull: false };
    case 'service':
      return {
        path: `/v1/health/service/${encodeURIComponent(t.service)}${tags(t.tags)}`,
        query: { passing: t.passingOnly },
        notFoundIsNull: false,
      };
    case 'checks':
      return t.service !== ''
        ? {
            path: `/v1/health/checks/${encodeURIComponent(t.service)}`,
            query: {},
            notFoundIsNull: false,
          }
        : {
            path: `/v1/health/state/${encodeURIComponent(t.state)}${tags(t.tags)}`,
            query: {},
            notFoundIsNull: false,
          };
    case 'event':
      return { path: '/v1/event/list', query: { name: t.name || undefined }, notFoundIsNull: false };
  }
}

export interface FetchResult {
  index: number;
  value: unknown;
}

/** One query at `index` (0: answer at once). Throws on a transport error or a non-2xx answer. */
export type WatchFetch = (index: number, signal: AbortSignal) => Promise<FetchResult>;

export function httpFetcher(client: ConsulClient, t: WatchTarget): WatchFetch {
  const q = queryFor(t);
  return async (index, signal) => {
    const r = await client.request('GET', q.path, {
      query: { ...q.query, index: index > 0 ? index : undefined },
      signal,
    });
    if (r.status === 404 && q.notFoundIsNull) return { index: r.index, value: null };
    if (r.status < 200 || r.status >= 300)
      throw new ApiError(r.status, `Unexpected response code: ${r.status} (${r.body.toString().trim()})`);
    const value = JSON.parse(r.body.toString('utf8')) as unknown;
    return { index: r.index, value: q.single ? ((value as unknown[])[0] ?? null) : value };
  };
}

/**
 * What the handler gets when a new result arrives, or undefined when nothing changed for it.
 * Consul hands over the whole result when it differs from the last one; for events it hands over
 * only the events not seen before (the list is a ring of the last 256, so it is compared by ID).
 */
export function deltaFor(t: WatchTarget): (prev: unknown, next: unknown, first: boolean) => unknown {
  if (t.type === 'event') {
    return (prev, next, first) => {
      const events = Array.isArray(next) ? (next as { ID?: unknown }[]) : [];
      if (first) return events;
      const seen = new Set(Array.isArray(prev) ? (prev as { ID?: unknown }[]).map((e) => e.ID) : []);
      const fresh = events.filter((e) => !seen.has(e.ID));
      return fresh.length > 0 ? fresh : undefined;
    };
  }
  return (prev, next, first) => (first || !sameJson(prev, next) ? next : undefined);
}

/** Results are plain JSON, so equal text is equal content (Consul uses reflect.DeepEqual). */
function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
