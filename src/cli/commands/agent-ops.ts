// consulate monitor | info | reload: an agent's log stream, its Stats, and a config reload, over
// the HTTP API with Consul's flags and output.

import { ApiError } from '../../client/client.js';
import { LEVEL_VALUES } from '../../core/logger.js';
import { clientFrom, flagBool, flagString, parseArgs, UsageError, type Io } from '../common.js';

function noArgs(args: string[], cmd: string): void {
  if (args.length > 0) throw new UsageError(`${cmd}: unexpected argument "${args[0] as string}"`);
}

/**
 * consulate monitor [-log-level info] [-log-json]: the agent's log lines from now on, until
 * interrupted (exit 0) or the agent goes away (exit 1, as Consul's monitor).
 */
export async function monitorCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, { 'log-level': 'value', 'log-json': 'bool' });
  noArgs(p.args, 'monitor');
  const level = (flagString(p, 'log-level') ?? 'info').toLowerCase();
  const known = [...Object.keys(LEVEL_VALUES), 'warning', 'err'];
  if (!known.includes(level)) throw new UsageError(`Unknown log level: ${level}`);
  const client = clientFrom(p, io);
  const interrupted = new AbortController();
  const onSignal = (): void => interrupted.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let body: AsyncIterable<Uint8Array>;
    try {
      body = await client.stream('/v1/agent/monitor', {
        query: { loglevel: level, logjson: flagBool(p, 'log-json') },
        signal: interrupted.signal,
      });
    } catch (err) {
      if (interrupted.signal.aborted) return 0;
      throw err;
    }
    const dec = new TextDecoder();
    try {
      for await (const chunk of body) io.out(dec.decode(chunk, { stream: true }));
    } catch {
      // A connection cut mid-stream (the agent stopped, or Ctrl-C) ends the monitor like the end
      // of the stream: fetch says "terminated", node:https "aborted".
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (interrupted.signal.aborted) return 0;
  io.err('Remote side ended the monitor! This usually means that the\nremote side has exited or crashed.\n');
  return 1;
}

/** consulate info: /v1/agent/self's Stats, Consul's layout (sections and keys sorted). */
export async function infoCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, {});
  noArgs(p.args, 'info');
  let self: { Stats?: Record<string, Record<string, unknown>> };
  try {
    self = await clientFrom(p, io).json('GET', '/v1/agent/self');
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    io.err(`Error querying agent: ${err.message}\n`);
    return 1;
  }
  io.out(formatStats(self.Stats ?? {}));
  return 0;
}

export function formatStats(stats: Record<string, Record<string, unknown>>): string {
  const lines: string[] = [];
  for (const section of Object.keys(stats).sort()) {
    lines.push(`${section}:`);
    const vals = stats[section] ?? {};
    for (const k of Object.keys(vals).sort()) lines.push(`\t${k} = ${String(vals[k])}`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** consulate reload: the agent reads its config files again (what it could not apply: stderr). */
export async function reloadCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, {});
  noArgs(p.args, 'reload');
  let r;
  try {
    r = await clientFrom(p, io).ok('PUT', '/v1/agent/reload');
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    io.err(`Error reloading: ${err.message}\n`);
    return 1;
  }
  io.out('Configuration reload triggered\n');
  const warnings = r.body.toString('utf8');
  if (warnings.trim() !== '') io.err(warnings.endsWith('\n') ? warnings : `${warnings}\n`);
  return 0;
}
