// A small typed client for the HTTP API, shared by the CLI and the tests (Consul's api/ package).

import { readFileSync, readdirSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import { ConsulError, ErrorCode } from '../core/errors.js';

/** How an https:// agent is checked and what this client presents (Consul's -ca-file etc.). */
export interface ClientTls {
  /** PEM CA file (CONSUL_CACERT, -ca-file); default: the system's CAs. */
  caFile?: string;
  /** A directory of PEM CA files (CONSUL_CAPATH, -ca-path). */
  caPath?: string;
  /** This client's certificate and key, for an agent with verify_incoming (CONSUL_CLIENT_CERT/KEY). */
  certFile?: string;
  keyFile?: string;
  /** The name the agent's certificate must carry (CONSUL_TLS_SERVER_NAME); default: the URL's host. */
  serverName?: string;
  /** Skip verifying the agent's certificate (CONSUL_HTTP_SSL_VERIFY=false). */
  insecure?: boolean;
}

export interface ClientOptions {
  /** host:port or a URL (CONSUL_HTTP_ADDR's forms). */
  address?: string;
  token?: string;
  datacenter?: string;
  stale?: boolean;
  timeoutMs?: number;
  tls?: ClientTls;
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

const envTrue = (v: string | undefined): boolean => v === 'true' || v === '1';

export function clientOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ClientOptions {
  const o: ClientOptions = {};
  const ssl = envTrue(env['CONSUL_HTTP_SSL']);
  if (env['CONSUL_HTTP_ADDR']) {
    const a = env['CONSUL_HTTP_ADDR'];
    o.address = ssl && !a.includes('://') ? `https://${a}` : a;
  } else if (ssl) o.address = 'https://127.0.0.1:8501';
  if (env['CONSUL_HTTP_TOKEN']) o.token = env['CONSUL_HTTP_TOKEN'];
  else if (env['CONSUL_HTTP_TOKEN_FILE']) {
    try {
      o.token = readFileSync(env['CONSUL_HTTP_TOKEN_FILE'], 'utf8').trim();
    } catch {
      // An unreadable token file leaves the request without a token (the server then says why).
    }
  }
  const tls: ClientTls = {};
  if (env['CONSUL_CACERT']) tls.caFile = env['CONSUL_CACERT'];
  if (env['CONSUL_CAPATH']) tls.caPath = env['CONSUL_CAPATH'];
  if (env['CONSUL_CLIENT_CERT']) tls.certFile = env['CONSUL_CLIENT_CERT'];
  if (env['CONSUL_CLIENT_KEY']) tls.keyFile = env['CONSUL_CLIENT_KEY'];
  if (env['CONSUL_TLS_SERVER_NAME']) tls.serverName = env['CONSUL_TLS_SERVER_NAME'];
  const verify = env['CONSUL_HTTP_SSL_VERIFY'];
  if (verify === 'false' || verify === '0') tls.insecure = true;
  if (Object.keys(tls).length > 0) o.tls = tls;
  return o;
}

function readTlsFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConsulError(ErrorCode.BadRequest, `cannot read the ${what} ${path}: ${(err as Error).message}`);
  }
}

/** node:https options for the client's TLS settings (files read once, when the client is made). */
function httpsOptions(t: ClientTls): RequestOptions {
  const ca: string[] = [];
  if (t.caFile) ca.push(readTlsFile(t.caFile, 'CA file'));
  if (t.caPath) {
    for (const n of readdirSync(t.caPath).sort())
      if (/\.(pem|crt)$/i.test(n)) ca.push(readTlsFile(join(t.caPath, n), 'CA file'));
  }
  if ((t.certFile === undefined) !== (t.keyFile === undefined))
    throw new ConsulError(
      ErrorCode.BadRequest,
      'a client certificate needs both -client-cert and -client-key',
    );
  return {
    ...(ca.length > 0 ? { ca } : {}),
    ...(t.certFile ? { cert: readTlsFile(t.certFile, 'client certificate') } : {}),
    ...(t.keyFile ? { key: readTlsFile(t.keyFile, 'client key') } : {}),
    ...(t.serverName ? { servername: t.serverName } : {}),
    rejectUnauthorized: !t.insecure,
  };
}

interface RawResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** A fetch response's body, read chunk by chunk so that `onBody` hears of each. */
async function readCounting(
  r: Response,
  onBody: (received: number, total?: number) => void,
): Promise<Buffer> {
  const total = Number(r.headers.get('content-length') ?? NaN);
  const chunks: Uint8Array[] = [];
  let received = 0;
  if (r.body) {
    for await (const c of r.body) {
      chunks.push(c);
      received += c.byteLength;
      onBody(received, Number.isFinite(total) ? total : undefined);
    }
  }
  return Buffer.concat(chunks);
}

/** How a large request body is handed over when its sending is followed (`onSent`). */
const SEND_CHUNK = 64 * 1024;

/** A body as a stream of chunks, each reported to `onSent` as the connection takes it. */
function sendingStream(
  body: Uint8Array,
  onSent: (sent: number, total: number) => void,
): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (off >= body.byteLength) {
        ctl.close();
        return;
      }
      const end = Math.min(off + SEND_CHUNK, body.byteLength);
      ctl.enqueue(body.subarray(off, end));
      off = end;
      onSent(off, body.byteLength);
    },
  });
}

/** One request over node:https (fetch cannot take a CA or a client certificate per request). */
function httpsFetch(
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: string | Uint8Array; signal?: AbortSignal },
  tls: RequestOptions,
  onBody?: (received: number, total?: number) => void,
  onSent?: (sent: number, total: number) => void,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, {
      ...tls,
      method: init.method,
      headers: init.headers,
      ...(init.signal ? { signal: init.signal } : {}),
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      const total = Number(res.headers['content-length'] ?? NaN);
      let received = 0;
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        received += c.length;
        onBody?.(received, Number.isFinite(total) ? total : undefined);
      });
      res.on('error', reject);
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (v === undefined) continue;
          for (const x of Array.isArray(v) ? v : [v]) headers.append(k, x);
        }
        resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
      });
    });
    const body = init.body;
    if (!onSent || !(body instanceof Uint8Array)) {
      req.end(body);
      return;
    }
    let off = 0;
    const writeMore = (): void => {
      while (off < body.byteLength) {
        const end = Math.min(off + SEND_CHUNK, body.byteLength);
        const more = req.write(body.subarray(off, end));
        off = end;
        onSent(off, body.byteLength);
        if (!more) {
          req.once('drain', writeMore);
          return;
        }
      }
      req.end();
    };
    writeMore();
  });
}

export class ConsulClient {
  readonly base: string;
  /** node:https options for an https:// agent (null: plain fetch). */
  private readonly tls: RequestOptions | null;
  constructor(private readonly o: ClientOptions = {}) {
    this.base = normalizeAddress(o.address ?? '127.0.0.1:8500');
    this.tls = this.base.startsWith('https://') ? httpsOptions(o.tls ?? {}) : null;
  }

  async request(
    method: string,
    path: string,
    opts: {
      query?: Record<string, string | number | boolean | undefined>;
      body?: string | Uint8Array;
      signal?: AbortSignal;
      /** Hears of the response body as it arrives: bytes so far, of Content-Length when sent. */
      onBody?: (received: number, total?: number) => void;
      /** Hears of a Uint8Array body as it is sent: bytes so far, of its length. */
      onSent?: (sent: number, total: number) => void;
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
    const followed = opts.onSent !== undefined && opts.body instanceof Uint8Array;
    if (followed) headers['Content-Length'] = String((opts.body as Uint8Array).byteLength);
    const signal = opts.signal ?? (this.o.timeoutMs ? AbortSignal.timeout(this.o.timeoutMs) : undefined);
    let res: RawResponse;
    try {
      if (this.tls) {
        res = await httpsFetch(
          url,
          {
            method,
            headers,
            ...(opts.body !== undefined ? { body: opts.body } : {}),
            ...(signal ? { signal } : {}),
          },
          this.tls,
          opts.onBody,
          opts.onSent,
        );
      } else {
        const sent =
          followed && opts.onSent ? sendingStream(opts.body as Uint8Array, opts.onSent) : opts.body;
        const r = await fetch(url, {
          method,
          headers,
          ...(sent !== undefined ? { body: sent } : {}),
          // A streamed body must say so (Node's fetch sends it as it is pulled).
          ...(followed ? { duplex: 'half' as const } : {}),
          ...(signal ? { signal } : {}),
        });
        const body = opts.onBody ? await readCounting(r, opts.onBody) : Buffer.from(await r.arrayBuffer());
        res = { status: r.status, headers: r.headers, body };
      }
    } catch (err) {
      // fetch wraps the reason in `cause`; node:https's error is the reason (a TLS one says why).
      const cause = (err as { cause?: { code?: string } }).cause;
      const why = this.tls ? (err as Error).message : (cause?.code ?? (err as Error).message);
      throw new ConsulError(ErrorCode.Unavailable, `error connecting to ${this.base}: ${why}`);
    }
    const body = res.body;
    return {
      status: res.status,
      headers: res.headers,
      body,
      index: Number(res.headers.get('x-consul-index') ?? 0),
      knownLeader: res.headers.get('x-consul-knownleader') === 'true',
    };
  }

  /**
   * A GET whose body is read as it arrives (the agent's log stream, /v1/agent/monitor): resolves
   * once the answer's headers are in; a non-2xx answer is an ApiError with the server's message.
   */
  async stream(
    path: string,
    opts: { query?: Record<string, string | boolean | undefined>; signal?: AbortSignal } = {},
  ): Promise<AsyncIterable<Uint8Array>> {
    const url = new URL(this.base + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v === undefined || v === false) continue;
      url.searchParams.set(k, v === true ? '' : v);
    }
    const headers: Record<string, string> = {};
    if (this.o.token) headers['X-Consul-Token'] = this.o.token;
    let status: number;
    let body: AsyncIterable<Uint8Array>;
    try {
      if (this.tls) {
        const tls = this.tls;
        const res = await new Promise<IncomingMessage>((resolve, reject) => {
          const req = httpsRequest(url, {
            ...tls,
            method: 'GET',
            headers,
            ...(opts.signal ? { signal: opts.signal } : {}),
          });
          req.on('error', reject);
          req.on('response', resolve);
          req.end();
        });
        status = res.statusCode ?? 0;
        body = res;
      } else {
        const r = await fetch(url, { headers, ...(opts.signal ? { signal: opts.signal } : {}) });
        status = r.status;
        body = r.body ?? (async function* () {})();
      }
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      const why = this.tls ? (err as Error).message : (cause?.code ?? (err as Error).message);
      throw new ConsulError(ErrorCode.Unavailable, `error connecting to ${this.base}: ${why}`);
    }
    if (status < 200 || status >= 300) {
      const chunks: Uint8Array[] = [];
      for await (const c of body) chunks.push(c);
      const msg = Buffer.concat(chunks).toString('utf8').trim();
      throw new ApiError(status, `Unexpected response code: ${status} (${msg})`);
    }
    return body;
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
