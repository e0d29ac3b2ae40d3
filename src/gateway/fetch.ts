// How the gateway talks to its upstreams (servers and service instances), in web-standard terms
// only: no `node:` import here, so the app and its table can run in an edge runtime. The default is
// the platform's fetch; the Node edge (node-fetch.ts) injects a faster one built on node:http.
//
// The contract is narrower than fetch on purpose: an upstream answer only needs a status, headers
// and a body, and a body may be plain bytes. The gateway answers with `new Response(bytes)` then,
// which @hono/node-server writes without building a web stream (its fast path), while a real fetch
// Response fits the same shape unchanged.

/** What the gateway sends upstream. */
export interface UpstreamInit {
  method: string;
  headers: Record<string, string>;
  /** null for no body; bytes when the gateway buffered a small body (so it can be re-sent). */
  body: ReadableStream<Uint8Array> | Uint8Array | null;
  signal: AbortSignal;
}

/** An upstream's answer: a fetch Response fits, and so does a plain object. */
export interface UpstreamResponse {
  status: number;
  headers: Iterable<[string, string]>;
  body: ReadableStream<Uint8Array> | Uint8Array | null;
}

export type UpstreamFetch = (url: string, init: UpstreamInit) => Promise<UpstreamResponse>;

/**
 * The platform's fetch as an UpstreamFetch: no redirects followed (a proxy passes them on), and
 * `duplex: 'half'`, which fetch requires for a streamed request body.
 */
export const webFetch: UpstreamFetch = (url, init) =>
  fetch(url, {
    method: init.method,
    headers: init.headers,
    body: init.body,
    signal: init.signal,
    redirect: 'manual',
    duplex: 'half',
  });

/**
 * Whether an UpstreamFetch decodes compressed bodies itself (fetch does, and keeps the
 * Content-Encoding header): the gateway must then drop Content-Encoding and Content-Length.
 */
export const DECODES = Symbol('decodes');
(webFetch as UpstreamFetch & { [DECODES]?: boolean })[DECODES] = true;

export function decodesBodies(f: UpstreamFetch): boolean {
  return (f as UpstreamFetch & { [DECODES]?: boolean })[DECODES] === true;
}

/**
 * What went wrong on an upstream call, for the retry rules:
 *   connect - the connection was never made, so nothing was sent: always safe to try elsewhere;
 *   reset   - the connection failed after the request may have left: only idempotent requests
 *             are tried elsewhere;
 *   abort   - our own signal (the client went away): nothing to retry.
 */
export type FailureKind = 'connect' | 'reset' | 'abort';

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  // node-fetch.ts's own code for a connect that did not finish in time.
  'ECONNECTTIMEOUT',
]);

function codeOf(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Happy-eyeballs failures come as an AggregateError of the attempts.
  const errors = (e as { errors?: unknown }).errors;
  if (Array.isArray(errors) && errors.length > 0) return codeOf(errors[0]);
  return undefined;
}

export function failureKind(err: unknown, signal: AbortSignal): FailureKind {
  if (signal.aborted) return 'abort';
  const code = codeOf(err) ?? codeOf((err as { cause?: unknown } | null)?.cause);
  return code !== undefined && CONNECT_CODES.has(code) ? 'connect' : 'reset';
}

/** A short human description of an upstream failure, for 502 texts and logs. */
export function describeFailure(err: unknown): string {
  const cause = (err as { cause?: unknown } | null)?.cause;
  const code = codeOf(err) ?? codeOf(cause);
  const msg = cause instanceof Error ? cause.message : err instanceof Error ? err.message : String(err);
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET') return 'connection reset';
  return msg || code || 'request failed';
}

/**
 * The URL of `path` on an upstream: "host:port" is reached over HTTP (service instances, agents),
 * "https://host:port" over HTTPS (an agent that serves only HTTPS, as the directory and the
 * config name it).
 */
export function upstreamUrl(addr: string, path: string): string {
  return addr.startsWith('https://') ? `${addr}${path}` : `http://${addr}${path}`;
}
