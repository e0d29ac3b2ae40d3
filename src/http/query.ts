// Query-string parameters common to Consul reads, parsed once with Consul's error messages.

import { badRequest } from '../core/errors.js';
import { parseDuration } from '../core/duration.js';
import type { QueryMeta, QueryOptions } from '../rpc/endpoints/types.js';
import { compileFilter, type Predicate } from '../core/filter-expression.js';

/** Consul treats a parameter as set when it is present, whatever its value (?stale, ?recurse). */
export function has(url: URL, name: string): boolean {
  return url.searchParams.has(name);
}

export function uintParam(url: URL, name: string, what = name): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw badRequest(`Invalid ${what}: ${v}`);
  return Number(v);
}

/**
 * ?filter=: the expression as given and compiled (a malformed one is a 400 before any read runs),
 * or null when there is none.
 */
export function filterParam(url: URL): { expr: string; keep: Predicate } | null {
  const expr = url.searchParams.get('filter') ?? '';
  return expr === '' ? null : { expr, keep: compileFilter(expr) };
}

export function parseQueryOptions(url: URL): QueryOptions {
  const stale = has(url, 'stale');
  const consistent = has(url, 'consistent');
  if (stale && consistent) throw badRequest('Cannot specify ?stale with ?consistent, conflicting semantics.');
  const q: QueryOptions = { minIndex: 0, stale, consistent };
  const wait = url.searchParams.get('wait');
  if (wait !== null && wait !== '') {
    const ms = parseDuration(wait);
    if (ms === undefined || ms < 0) throw badRequest('Invalid wait time');
    q.maxWaitMs = ms;
  }
  const index = url.searchParams.get('index');
  if (index !== null && index !== '') {
    if (!/^\d+$/.test(index)) throw badRequest('Invalid index');
    q.minIndex = Number(index);
  }
  return q;
}

/** Consul's response headers for a read (index never 0: a 0 would make clients busy-loop). */
export function metaHeaders(meta: QueryMeta): Record<string, string> {
  const h: Record<string, string> = {
    'X-Consul-Index': String(Math.max(1, meta.index)),
    'X-Consul-KnownLeader': String(meta.knownLeader),
    'X-Consul-LastContact': String(Math.max(0, Math.round(meta.lastContact))),
    'X-Consul-Effective-Consistency': meta.consistency,
  };
  // Consul sets it only when something was dropped.
  if (meta.filteredByAcls === true) h['X-Consul-Results-Filtered-By-ACLs'] = 'true';
  return h;
}
