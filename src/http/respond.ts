// Response helpers: Consul's JSON (minified, or indented with ?pretty), its read headers, and
// plain-text errors.

import type { Context } from 'hono';
import { urlOf } from './request.js';
import type { QueryMeta } from '../rpc/endpoints/types.js';
import { metaHeaders } from './query.js';

export function json(c: Context, value: unknown, opts: { meta?: QueryMeta; status?: number } = {}): Response {
  const pretty = urlOf(c).searchParams.has('pretty');
  const body = pretty ? JSON.stringify(value, null, 4) : JSON.stringify(value);
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    ...(opts.meta ? metaHeaders(opts.meta) : {}),
  };
  return new Response(body ?? 'null', { status: opts.status ?? 200, headers });
}

export function text(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(message.endsWith('\n') ? message : `${message}\n`, {
    status,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', ...headers },
  });
}

export function b64(v: Uint8Array | null | undefined): string | null {
  if (!v || v.byteLength === 0) return null;
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}
