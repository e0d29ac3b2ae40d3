// The HTTP API client: every request names its datacenter (?dc=), carries the ACL token as a
// header, and reports whether the datacenter has a leader, so the layout can say so once instead
// of each view guessing from its own errors.

import { createStore } from './store.js';
import { readToken } from './token.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(body.trim() === '' ? `HTTP ${status}` : body.trim());
  }
}

/** The agent's answer to a request when the datacenter's servers have no leader (Consul's text). */
export function isNoLeader(err: unknown): boolean {
  return err instanceof ApiError && err.status === 500 && /no cluster leader/i.test(err.body);
}

/** Datacenters seen answering "No cluster leader" and not yet answering anything else. */
export const leaderless = createStore<ReadonlySet<string>>(new Set());

function markLeader(dc: string, hasLeader: boolean): void {
  const cur = leaderless.get();
  if (cur.has(dc) !== hasLeader) return;
  const next = new Set(cur);
  if (hasLeader) next.delete(dc);
  else next.add(dc);
  leaderless.set(next);
}

export interface ApiResult<T> {
  /** null for a 404 that is an answer (a KV prefix with no keys), not an error. */
  data: T | null;
  /** X-Consul-Index, 0 when absent. */
  index: number;
}

export interface RequestOptions {
  dc: string;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
  body?: string;
  /** A 404 answers "nothing there" (data null) instead of throwing. */
  notFoundIsEmpty?: boolean;
}

function buildUrl(path: string, o: RequestOptions): string {
  const params = new URLSearchParams();
  // The agent's own DC needs no ?dc, but naming it is harmless and keeps every URL explicit.
  if (o.dc !== '') params.set('dc', o.dc);
  for (const [k, v] of Object.entries(o.query ?? {})) {
    if (v === undefined || v === false) continue;
    // Flags such as ?keys and ?recurse are present-or-absent: true writes the bare name.
    params.set(k, v === true ? '' : String(v));
  }
  const qs = params.toString().replace(/=(&|$)/g, '$1');
  return qs === '' ? path : `${path}?${qs}`;
}

async function request(method: string, path: string, o: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = {};
  const token = readToken();
  if (token !== '') headers['X-Consul-Token'] = token;
  const init: RequestInit = { method, headers };
  if (o.signal) init.signal = o.signal;
  if (o.body !== undefined) init.body = o.body;
  const res = await fetch(buildUrl(path, o), init);
  if (res.ok || (o.notFoundIsEmpty && res.status === 404)) {
    // A read the servers answered without a leader (stale, as the UI reads may be) says so in
    // this header; any other answer came through a leader.
    markLeader(o.dc, res.headers.get('X-Consul-KnownLeader') !== 'false');
    return res;
  }
  const err = new ApiError(res.status, await res.text());
  if (isNoLeader(err)) markLeader(o.dc, false);
  throw err;
}

export async function apiGet<T>(path: string, o: RequestOptions): Promise<ApiResult<T>> {
  const res = await request('GET', path, o);
  const index = Number(res.headers.get('X-Consul-Index') ?? '0');
  const data = res.status === 404 ? null : ((await res.json()) as T);
  return { data, index: Number.isFinite(index) ? index : 0 };
}

/** A PUT or DELETE; returns the decoded JSON answer (KV writes answer true or false). */
export async function apiWrite(method: 'PUT' | 'DELETE', path: string, o: RequestOptions): Promise<unknown> {
  const res = await request(method, path, o);
  const text = await res.text();
  return text === '' ? null : JSON.parse(text);
}

/** A path segment for the API (service, node and KV names may hold any character). */
export function seg(s: string): string {
  return encodeURIComponent(s);
}

/** A KV key in an API path: each segment encoded, the slashes kept as the key's separators. */
export function kvPath(key: string): string {
  return `/v1/kv/${key.split('/').map(encodeURIComponent).join('/')}`;
}
