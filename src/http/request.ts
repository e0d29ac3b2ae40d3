// The request's body and cancellation signal, taken from Node's own request and response when the
// app runs under @hono/node-server: building a web Request (which Hono's raw body and signal need)
// costs more than the rest of a small request's handling. Under app.request() (tests) the web
// Request is used as it is.

import { setMaxListeners } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'hono';
import { ConsulError, ErrorCode, badRequest } from '../core/errors.js';
import { readBody } from './body.js';

interface NodeEnv {
  incoming?: IncomingMessage;
  outgoing?: ServerResponse;
}

function nodeEnv(c: Context): NodeEnv {
  return (c.env ?? {}) as NodeEnv;
}

/** Node's response under @hono/node-server; undefined under app.request() (tests). */
export function outgoingOf(c: Context): ServerResponse | undefined {
  return nodeEnv(c).outgoing;
}

const urls = new WeakMap<Context, URL>();

/** The request URL, parsed once per request. */
export function urlOf(c: Context): URL {
  let u = urls.get(c);
  if (!u) urls.set(c, (u = new URL(c.req.url)));
  return u;
}

const never = new AbortController().signal;
// Shared by every request that cannot block; each waits on it briefly (and removes its listener).
setMaxListeners(0, never);

/**
 * What cancels a request's work: for a blocking query (?index=N), the client going away before its
 * answer is sent; anything else finishes quickly and is never cancelled (no listener to set up).
 */
export function signalOf(c: Context, blocking = true): AbortSignal {
  if (!blocking) return never;
  const { outgoing } = nodeEnv(c);
  if (!outgoing) return c.req.raw.signal;
  const ac = new AbortController();
  outgoing.once('close', () => {
    if (!outgoing.writableFinished)
      ac.abort(new ConsulError(ErrorCode.Timeout, 'client closed the connection'));
  });
  return ac.signal;
}

export async function bodyOf(c: Context, limit: number, what = 'Request body'): Promise<Uint8Array> {
  const { incoming } = nodeEnv(c);
  if (!incoming) return readBody(c.req.raw, limit, what);
  const declared = Number(incoming.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    incoming.resume();
    throw new ConsulError(
      ErrorCode.TooLarge,
      `${what} too large (${declared} bytes), max size: ${limit} bytes`,
    );
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of incoming) {
    const b = chunk as Buffer;
    total += b.length;
    if (total > limit) {
      incoming.resume();
      throw new ConsulError(
        ErrorCode.TooLarge,
        `${what} too large (${total} bytes), max size: ${limit} bytes`,
      );
    }
    chunks.push(b);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

/** A path parameter (Hono has already percent-decoded it); a missing one is a 400. */
export function pathParam(c: Context, name: string, missing = `Missing ${name} name`): string {
  const v = c.req.param(name);
  if (!v) throw badRequest(missing);
  return v;
}

/**
 * The ACL token a request carries, found where Consul looks: the deprecated `?token=` first, then
 * `X-Consul-Token`, then `Authorization: Bearer <token>`; '' when none (the agent's default token,
 * then anonymous, stand in: TokenResolver.effectiveSecret). The one place tokens are read from HTTP.
 */
export function requestToken(c: Context): string {
  const q = urlOf(c).searchParams.get('token');
  if (q) return q;
  const h = c.req.header('X-Consul-Token');
  if (h) return h;
  const auth = c.req.header('Authorization');
  if (auth) {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return (m[1] as string).trim();
  }
  return '';
}
