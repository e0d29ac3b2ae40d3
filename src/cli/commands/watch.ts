// consulate watch -type TYPE [params] [handler...]: Consul's watch command. With a handler, runs it
// on every change (the JSON result on its stdin) until interrupted; without one, prints the JSON
// result once and exits.

import { runProcess } from '../../watch/handlers.js';
import { WatchLoop } from '../../watch/loop.js';
import { parsePlan, type WatchPlan } from '../../watch/plan.js';
import { deltaFor, httpFetcher } from '../../watch/queries.js';
import { clientFrom, flagBool, flagString, parseArgs, UsageError, type Io } from '../common.js';

const FLAGS = {
  type: 'value',
  key: 'value',
  prefix: 'value',
  service: 'value',
  tag: 'list',
  passingonly: 'value',
  passing: 'bool',
  state: 'value',
  name: 'value',
  shell: 'bool',
} as const;

function planFrom(p: ReturnType<typeof parseArgs>, io: Io): WatchPlan {
  const type = flagString(p, 'type') ?? '';
  if (type === '') throw new UsageError('Watch type must be specified');
  const params: Record<string, unknown> = { type };
  const dc = flagString(p, 'datacenter');
  if (dc) params['datacenter'] = dc;
  const token = flagString(p, 'token') ?? io.env['CONSUL_HTTP_TOKEN'];
  if (token) params['token'] = token;
  for (const name of ['key', 'prefix', 'service', 'state', 'name'] as const) {
    const v = flagString(p, name);
    if (v) params[name] = v;
  }
  const tags = p.flags.get('tag') ?? [];
  if (tags.length > 0) params['tag'] = tags;
  if (flagBool(p, 'stale')) params['stale'] = true;
  const passingOnly = flagString(p, 'passingonly');
  if (passingOnly !== undefined) {
    if (!['true', 'false', '1', '0'].includes(passingOnly))
      throw new UsageError(`Failed to parse passingonly flag: invalid value "${passingOnly}"`);
    params['passingonly'] = passingOnly === 'true' || passingOnly === '1';
  }
  // -passing: the name the health API uses, accepted as a shorthand for -passingonly=true.
  if (flagBool(p, 'passing')) params['passingonly'] = true;
  try {
    return parsePlan(params, false);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export async function watchCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, FLAGS);
  const plan = planFrom(p, io);
  const client = clientFrom(p, io);
  // Like Consul, check the agent answers before watching: a wrong address is one line and exit 1,
  // not a loop of retries.
  try {
    await client.ok('GET', '/v1/agent/self');
  } catch (err) {
    io.err(`Error querying Consul agent: ${(err as Error).message}\n`);
    return 1;
  }
  const useShell = p.flags.has('shell') ? flagBool(p, 'shell') : true;
  const child = p.args;
  let exitCode = 0;
  const loop: WatchLoop = new WatchLoop({
    fetch: httpFetcher(client, plan.target),
    delta: deltaFor(plan.target),
    onError: (err, retryMs) =>
      io.err(`Watch errored: ${(err as Error).message} (retrying in ${Math.round(retryMs / 1000)}s)\n`),
    handler: async (index, value) => {
      if (child.length === 0) {
        io.out(JSON.stringify(value ?? null, null, 4) + '\n');
        void loop.stop();
        return;
      }
      const spec = useShell
        ? ({ kind: 'shell', script: child.join(' ') } as const)
        : ({ kind: 'args', args: child } as const);
      const r = await runProcess(spec, index, value, {
        stdout: (b) => io.out(b.toString('utf8')),
        stderr: (b) => io.err(b.toString('utf8')),
      });
      if (!r.ok) {
        // Consul stops watching when the handler fails, and exits 1.
        io.err(`Error executing handler: ${r.error ?? 'failed'}\n`);
        exitCode = 1;
        void loop.stop();
      }
    },
  });
  const onSignal = (): void => void loop.stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await loop.run();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return exitCode;
}
