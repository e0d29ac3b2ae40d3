// Watch handlers (Consul's agent/watch_handler.go): a process that reads the JSON result on stdin
// with CONSUL_INDEX in its environment, or an HTTP request carrying the JSON with X-Consul-Index.

import { spawn } from 'node:child_process';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { HttpHandlerConfig, WatchHandlerSpec } from './plan.js';

/** Consul keeps the last 4 KB of a handler's output for its log line. */
export const OUTPUT_TAIL = 4 * 1024;

export interface HandlerOutcome {
  ok: boolean;
  /** Why it failed (exit status, connection error, HTTP status). */
  error?: string;
  /** The tail of the output (process stdout+stderr, or the HTTP response body). */
  output: string;
}

export interface ProcessStreams {
  /** When given, output is streamed here instead of being kept (consulate watch prints it). */
  stdout?: (b: Buffer) => void;
  stderr?: (b: Buffer) => void;
}

/** Go's json.Encoder writes one value and a newline; handlers written for Consul may expect it. */
function encode(value: unknown): string {
  return JSON.stringify(value ?? null) + '\n';
}

class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  total = 0;
  push(b: Buffer): void {
    this.total += b.length;
    this.chunks.push(b);
    this.size += b.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= OUTPUT_TAIL) this.size -= this.chunks.shift()!.length;
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    const tail = all.subarray(Math.max(0, all.length - OUTPUT_TAIL)).toString('utf8');
    return this.total > OUTPUT_TAIL ? `Captured ${OUTPUT_TAIL} of ${this.total} bytes\n...\n${tail}` : tail;
  }
}

/** `args` run directly; a legacy `handler` string through $SHELL -c (Consul's exec.Script). */
export function runProcess(
  spec: { kind: 'args'; args: string[] } | { kind: 'shell'; script: string },
  index: number,
  value: unknown,
  streams: ProcessStreams = {},
): Promise<HandlerOutcome> {
  const [cmd, ...rest] =
    spec.kind === 'args' ? spec.args : [process.env['SHELL'] || '/bin/sh', '-c', spec.script];
  const tail = new Tail();
  return new Promise((resolve) => {
    const child = spawn(cmd as string, rest, {
      env: { ...process.env, CONSUL_INDEX: String(index) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (b: Buffer) => (streams.stdout ? streams.stdout(b) : tail.push(b)));
    child.stderr.on('data', (b: Buffer) => (streams.stderr ? streams.stderr(b) : tail.push(b)));
    // A handler that exits without reading its input must not fail the write (EPIPE).
    child.stdin.on('error', () => undefined);
    child.stdin.end(encode(value));
    child.once('error', (err) => resolve({ ok: false, error: err.message, output: tail.text() }));
    child.once('close', (code, signal) => {
      if (code === 0) resolve({ ok: true, output: tail.text() });
      else
        resolve({
          ok: false,
          error: signal ? `killed by ${signal}` : `exit status ${code}`,
          output: tail.text(),
        });
    });
  });
}

/** Sends the result to `path` (POST by default) with the plan's headers, within its timeout. */
export function runHttp(config: HttpHandlerConfig, index: number, value: unknown): Promise<HandlerOutcome> {
  const url = new URL(config.path);
  const body = Buffer.from(encode(value));
  // Node refuses a body on GET and HEAD; everything else carries the JSON.
  const withBody = config.method !== 'GET' && config.method !== 'HEAD';
  const headers: Record<string, string | string[]> = {
    'Content-Type': 'application/json',
    'X-Consul-Index': String(index),
  };
  for (const [k, v] of Object.entries(config.header)) headers[k] = v;
  if (withBody) headers['Content-Length'] = String(body.length);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (o: HandlerOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    const req = send(
      url,
      {
        method: config.method,
        headers,
        ...(url.protocol === 'https:' ? { rejectUnauthorized: !config.tlsSkipVerify } : {}),
      },
      (res: IncomingMessage) => {
        const tail = new Tail();
        res.on('data', (b: Buffer) => tail.push(b));
        res.on('error', (err) => finish({ ok: false, error: err.message, output: tail.text() }));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const ok = status >= 200 && status <= 299;
          finish({
            ok,
            ...(ok ? {} : { error: `${status} ${res.statusMessage ?? ''}`.trim() }),
            output: tail.text(),
          });
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`timed out after ${config.timeoutMs} ms`));
    }, config.timeoutMs);
    req.on('error', (err) => finish({ ok: false, error: err.message, output: '' }));
    req.end(withBody ? body : undefined);
  });
}

/** Runs whichever handler a plan names. */
export function runHandler(
  spec: WatchHandlerSpec,
  index: number,
  value: unknown,
  streams?: ProcessStreams,
): Promise<HandlerOutcome> {
  return spec.kind === 'http' ? runHttp(spec.config, index, value) : runProcess(spec, index, value, streams);
}
