// A small typed client for the HTTP API, shared by the CLI and the tests (Consul's api/ package).

import { readFileSync } from 'node:fs';
import { ConsulError, ErrorCode } from '../core/errors.js';

export interface ClientOptions {
  /** host:port or a URL (CONSUL_HTTP_ADDR's forms). */
  address?: string;
  token?: string;
  datacenter?: string;
  stale?: boolean;
  timeoutMs?: number;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  index: number;
  knownLeader: boolean;
}

export interface KVPair {
  Key: string;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
  Flags: number;
  Value: string | null;
  Session?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function normalizeAddress(addr: string): string {
  const a = addr.trim();
  if (a.startsWith('http://') || a.startsWith('https://')) return a.replace(/\/+$/, '');
  return `http://${a}`;
}

export function clientOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ClientOptions {
  const o: ClientOptions = {};
  if (env['CONSUL_HTTP_ADDR']) {
    const ssl = env['CONSUL_HTTP_SSL'] === 'true' || env['CONSUL_HTTP_SSL'] === '1';
    const a = env['CONSUL_HTTP_ADDR'];
    o.address = ssl && !a.includes('://') ? `https://${a}` : a;
  }
  if (env['CONSUL_HTTP_TOKEN']) o.token = env['CONSUL_HTTP_TOKEN'];
  else if (env['CONSUL_HTTP_TOKEN_FILE']) {
    try {
      o.token = readFileSync(env['CONSUL_HTTP_TOKEN_FILE'], 'utf8').trim();
    } catch {
      // An unreadable token file leaves the request without a token (the server then says why).
    }
  }
  return o;
}

export class ConsulClient {
  readonly base: string;
  constructor(private readonly o: ClientOptions = {}) {
    this.base = normalizeAddress(o.address ?? '127.0.0.1:8500');
  }

  async request(
    method: string,
    path: string,
    opts: {
      query?: Record<string, string | number | boolean | undefined>;
      body?: string | Uint8Array;
      signal?: AbortSignal;
    } = {},
  ): Promise<ApiResponse> {
    const url = new URL(this.base + path);
    if (this.o.datacenter) url.searchParams.set('dc', this.o.datacenter);
    if (this.o.stale) url.searchParams.set('stale', '');
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v === undefined || v === false) continue;
      url.searchParams.set(k, v === true ? '' : String(v));
    }
    const headers: Record<string, string> = {};
    if (this.o.token) headers['X-Consul-Token'] = this.o.token;
    const signal = opts.signal ?? (this.o.timeoutMs ? AbortSignal.timeout(this.o.timeoutMs) : undefined);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        ...(opts.body !== undefined ? { body: opts.body } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      throw new ConsulError(
        ErrorCode.Unavailable,
        `error connecting to ${this.base}: ${cause?.code ?? (err as Error).message}`,
      );
    }
    const body = Buffer.from(await res.arrayBuffer());
    return {
      status: res.status,
      headers: res.headers,
      body,
      index: Number(res.headers.get('x-consul-index') ?? 0),
      knownLeader: res.headers.get('x-consul-knownleader') === 'true',
    };
  }

  /** A request that must succeed: non-2xx becomes an ApiError with the server's message. */
  async ok(
    method: string,
    path: string,
    opts: Parameters<ConsulClient['request']>[2] = {},
  ): Promise<ApiResponse> {
    const r = await this.request(method, path, opts);
    if (r.status < 200 || r.status >= 300) {
      throw new ApiError(
        r.status,
        `Unexpected response code: ${r.status} (${r.body.toString('utf8').trim()})`,
      );
    }
    return r;
  }

  async json<T>(method: string, path: string, opts: Parameters<ConsulClient['request']>[2] = {}): Promise<T> {
    const r = await this.ok(method, path, opts);
    return JSON.parse(r.body.toString('utf8')) as T;
  }

  // ---------------------------------------------------------------- KV

  async kvGet(
    key: string,
    q: Record<string, string | number | boolean | undefined> = {},
  ): Promise<KVPair | null> {
    const r = await this.request('GET', `/v1/kv/${encodeKey(key)}`, { query: q });
    if (r.status === 404) return null;
    if (r.status !== 200)
      throw new ApiError(r.status, `Unexpected response code: ${r.status} (${r.body.toString().trim()})`);
    return (JSON.parse(r.body.toString('utf8')) as KVPair[])[0] ?? null;
  }

  async kvList(prefix: string): Promise<KVPair[]> {
    const r = await this.request('GET', `/v1/kv/${encodeKey(prefix)}`, { query: { recurse: true } });
    if (r.status === 404) return [];
    if (r.status !== 200)
      throw new ApiError(r.status, `Unexpected response code: ${r.status} (${r.body.toString().trim()})`);
    return JSON.parse(r.body.toString('utf8')) as KVPair[];
  }

  async kvKeys(prefix: string, separator?: string): Promise<string[]> {
    const r = await this.request('GET', `/v1/kv/${encodeKey(prefix)}`, { query: { keys: true, separator } });
    if (r.status === 404) return [];
    if (r.status !== 200)
      throw new ApiError(r.status, `Unexpected response code: ${r.status} (${r.body.toString().trim()})`);
    return JSON.parse(r.body.toString('utf8')) as string[];
  }

  async kvPut(
    key: string,
    value: string | Uint8Array,
    q: { cas?: number; flags?: number } = {},
  ): Promise<boolean> {
    return this.json<boolean>('PUT', `/v1/kv/${encodeKey(key)}`, { body: value, query: q });
  }

  async kvDelete(key: string, q: { recurse?: boolean; cas?: number } = {}): Promise<boolean> {
    return this.json<boolean>('DELETE', `/v1/kv/${encodeKey(key)}`, { query: q });
  }
}

/** Keys keep their slashes in the path; everything else is escaped. */
export function encodeKey(key: string): string {
  return key
    .split('/')
    .map((p) => encodeURIComponent(p))
    .join('/');
}

export function decodeValue(v: string | null): Buffer {
  return v === null ? Buffer.alloc(0) : Buffer.from(v, 'base64');
}
