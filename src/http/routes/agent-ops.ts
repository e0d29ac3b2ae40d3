// /v1/agent/monitor (this agent's log, streamed) and /v1/agent/reload (config reload).

import type { Context } from 'hono';
import { ConsulError, ErrorCode } from '../../core/errors.js';
import { humanLine, LEVEL_VALUES, type LogLevelName } from '../../core/logger.js';
import type { HttpDeps } from '../app.js';
import { urlOf } from '../request.js';

/** Consul's names for the levels (hclog): warning/err are accepted as in config files. */
const LEVEL_ALIASES: Record<string, LogLevelName> = { warning: 'warn', err: 'error' };

export function monitorLevel(raw: string | null): LogLevelName {
  const s = (raw ?? 'info').trim().toLowerCase();
  const lvl = LEVEL_ALIASES[s] ?? s;
  if (!(lvl in LEVEL_VALUES)) throw new ConsulError(ErrorCode.BadRequest, `Unknown log level: ${raw ?? ''}`);
  return lvl as LogLevelName;
}

/**
 * A slow reader must not make the agent hold its log without bound: past this many bytes queued
 * for one client, lines are dropped and counted, and the count is reported once the client catches
 * up (Consul's monitor drops too, with a buffer of 512 lines).
 */
const MAX_QUEUED_BYTES = 1 << 20;

/**
 * GET /v1/agent/monitor?loglevel=debug&logjson: every log line this agent writes from now on, at the
 * requested level (independent of the agent's own), until the client goes away.
 */
export function agentMonitor(c: Context, d: HttpDeps): Response {
  const url = urlOf(c);
  const level = monitorLevel(url.searchParams.get('loglevel'));
  const json = url.searchParams.has('logjson');
  const hub = d.agent.logs;
  if (!hub) throw new ConsulError(ErrorCode.Unavailable, 'this agent has no log stream to monitor');
  const enc = new TextEncoder();
  let unsubscribe: () => void = () => undefined;
  let dropped = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      start(ctl) {
        unsubscribe = hub.subscribe({
          level,
          json,
          write: (line) => {
            if ((ctl.desiredSize ?? 0) <= 0) {
              dropped++;
              return;
            }
            if (dropped > 0) {
              ctl.enqueue(enc.encode(droppedLine(dropped, json)));
              dropped = 0;
            }
            ctl.enqueue(enc.encode(line));
          },
        });
        c.req.raw.signal.addEventListener('abort', () => {
          unsubscribe();
          try {
            ctl.close();
          } catch {
            // already closed by a cancel
          }
        });
      },
      cancel() {
        unsubscribe();
      },
    },
    { highWaterMark: MAX_QUEUED_BYTES, size: (chunk) => chunk.byteLength },
  );
  return new Response(stream, {
    status: 200,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' },
  });
}

/** The notice of lines a slow client missed, in the stream's own format (JSON stays parseable). */
function droppedLine(n: number, json: boolean): string {
  const o = {
    level: LEVEL_VALUES.warn,
    time: Date.now(),
    component: 'agent.monitor',
    msg: `dropped ${n} log lines (the client read too slowly)`,
  };
  return json ? `${JSON.stringify(o)}\n` : humanLine(o);
}

/** PUT /v1/agent/reload: 200 when the new config was applied; its warnings (if any) in the body. */
export async function agentReload(_c: Context, d: HttpDeps): Promise<Response> {
  const warnings = await d.agent.reload();
  return new Response(warnings.map((w) => `${w}\n`).join(''), {
    status: 200,
    headers: { 'Content-Type': 'text/plain; charset=utf-8' },
  });
}
