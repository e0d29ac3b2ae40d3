// One HTTP check run, as Consul's: method (GET by default), headers, body, one deadline for the
// whole exchange; 2xx passing, 429 warning, anything else critical. Redirects are followed (Go's
// client does, up to 10) unless DisableRedirects, when the 3xx answer itself decides. Output is
// "HTTP <METHOD> <url>: <code> <reason> Output: <body>", the body cut at OutputMaxSize bytes.

import * as http from 'node:http';
import * as https from 'node:https';
import type { CheckDefinition } from './definition.js';
import type { CheckResult } from './runner.js';
import { setLongTimeout } from './timers.js';

const USER_AGENT = 'Consul Health Check';
const ACCEPT = 'text/plain, text/*, */*';
const MAX_REDIRECTS = 10;

interface Answer {
  status: number;
  statusText: string;
  location: string | undefined;
  body: Buffer;
}

/** Go's url.Error prefix: the method with only its first letter upper-case, then the quoted URL. */
function goUrlError(method: string, url: string, detail: string): string {
  const op = method.charAt(0).toUpperCase() + method.slice(1).toLowerCase();
  return `${op} ${JSON.stringify(url)}: ${detail}`;
}

/** A socket error in Go's words where users know them (connection refused), else Node's message. */
function describe(err: unknown, url: URL): string {
  const e = err as NodeJS.ErrnoException;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const addr = `${url.hostname}:${port}`;
  switch (e.code) {
    case 'ECONNREFUSED':
      return `dial tcp ${addr}: connect: connection refused`;
    case 'ENOTFOUND':
      return `dial tcp: lookup ${url.hostname}: no such host`;
    default:
      return e.message;
  }
}

// Credentials that Go's client does not carry over a redirect to another host.
const SENSITIVE = new Set(['authorization', 'www-authenticate', 'cookie', 'cookie2']);

function requestOnce(
  url: URL,
  method: string,
  def: CheckDefinition,
  body: string,
  signal: AbortSignal,
  foreignHost: boolean,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(def.Header)) {
      if (!(foreignHost && SENSITIVE.has(k.toLowerCase()))) headers[k] = v;
    }
    const has = (name: string): boolean => Object.keys(headers).some((k) => k.toLowerCase() === name);
    if (!has('user-agent')) headers['User-Agent'] = USER_AGENT;
    if (!has('accept')) headers['Accept'] = ACCEPT;
    if (body !== '') headers['Content-Length'] = String(Buffer.byteLength(body));
    const isHttps = url.protocol === 'https:';
    const options: https.RequestOptions = {
      method,
      headers,
      signal,
      // No keep-alive, as Consul's checks: a pooled connection the server has closed would fail a
      // check that should pass.
      agent: false,
    };
    if (isHttps) {
      options.rejectUnauthorized = !def.TLSSkipVerify;
      if (def.TLSServerName !== '') options.servername = def.TLSServerName;
    }
    const req = (isHttps ? https : http).request(url, options, (res) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          location: res.headers.location,
          body: Buffer.concat(chunks, kept),
        });
      };
      res.on('data', (chunk: Buffer) => {
        const room = def.OutputMaxSize - kept;
        if (room > 0) {
          const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
          chunks.push(part);
          kept += part.length;
        }
        // Enough for the output: stop reading rather than pull an endless body to the deadline.
        if (kept >= def.OutputMaxSize) {
          finish();
          res.destroy();
        }
      });
      res.on('end', finish);
      // A body cut short still has a status line; Consul logs the read error and keeps the status.
      res.on('error', finish);
      res.on('close', finish);
    });
    req.on('error', reject);
    req.end(body === '' ? undefined : body);
  });
}

/** Go's client: 301/302/303 turn into GET without a body (HEAD stays HEAD); 307/308 resend as is. */
function redirected(status: number, method: string): { method: string; keepBody: boolean } | undefined {
  if (status === 301 || status === 302 || status === 303) {
    return { method: method === 'HEAD' ? 'HEAD' : 'GET', keepBody: false };
  }
  if (status === 307 || status === 308) return { method, keepBody: true };
  return undefined;
}

export async function runHttpCheck(def: CheckDefinition, signal: AbortSignal): Promise<CheckResult> {
  const method = def.Method === '' ? 'GET' : def.Method;
  let url: URL;
  try {
    url = new URL(def.HTTP);
  } catch {
    return { status: 'critical', output: goUrlError(method, def.HTTP, 'invalid URL') };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return {
      status: 'critical',
      output: goUrlError(
        method,
        def.HTTP,
        `unsupported protocol scheme ${JSON.stringify(url.protocol.slice(0, -1))}`,
      ),
    };
  }

  // One deadline for the whole exchange, redirects and body included (Go's Client.Timeout).
  const deadline = new AbortController();
  const timer = setLongTimeout(() => deadline.abort(), def.TimeoutMs);
  const both = AbortSignal.any([signal, deadline.signal]);
  try {
    return await follow(def, method, url, both, deadline.signal);
  } finally {
    timer.clear();
  }
}

async function follow(
  def: CheckDefinition,
  method: string,
  start: URL,
  signal: AbortSignal,
  deadline: AbortSignal,
): Promise<CheckResult> {
  let url = start;
  let currentMethod = method;
  let body = def.Body;
  for (let hop = 0; ; hop++) {
    let answer: Answer;
    try {
      answer = await requestOnce(url, currentMethod, def, body, signal, url.host !== start.host);
    } catch (err) {
      const detail = deadline.aborted
        ? 'context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
        : describe(err, url);
      return { status: 'critical', output: goUrlError(method, url.href, detail) };
    }
    const next = def.DisableRedirects ? undefined : redirected(answer.status, currentMethod);
    if (next !== undefined && answer.location !== undefined) {
      let target: URL;
      try {
        target = new URL(answer.location, url);
      } catch {
        return {
          status: 'critical',
          output: goUrlError(
            method,
            url.href,
            `failed to parse Location header ${JSON.stringify(answer.location)}`,
          ),
        };
      }
      if (hop + 1 >= MAX_REDIRECTS) {
        return {
          status: 'critical',
          output: goUrlError(method, target.href, `stopped after ${MAX_REDIRECTS} redirects`),
        };
      }
      url = target;
      if (!next.keepBody) body = '';
      currentMethod = next.method;
      continue;
    }
    // Consul reports the URL it was given, whatever redirects led elsewhere.
    const output = `HTTP ${method} ${def.HTTP}: ${answer.status} ${answer.statusText} Output: ${answer.body.toString('utf8')}`;
    const status =
      answer.status >= 200 && answer.status <= 299
        ? 'passing'
        : answer.status === 429
          ? 'warning'
          : 'critical';
    return { status, output };
  }
}
