// consulate event -name NAME [-node RE] [-service RE] [-tag RE] [payload]

import { clientFrom, flagString, parseArgs, UsageError, type Io } from '../common.js';

export async function eventCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, { name: 'value', node: 'value', service: 'value', tag: 'value' });
  const name = flagString(p, 'name') ?? '';
  if (name === '') throw new UsageError('Event name must be specified (-name)');
  if (name.startsWith('_')) throw new UsageError('Event names starting with "_" are reserved');
  if (p.args.length > 1) throw new UsageError('Too many command line arguments (one payload at most).');
  const tag = flagString(p, 'tag');
  const service = flagString(p, 'service');
  if (tag && !service) throw new UsageError('Cannot provide tag filter without service filter.');
  const client = clientFrom(p, io);
  const ev = await client.json<{ ID: string }>('PUT', `/v1/event/fire/${encodeURIComponent(name)}`, {
    query: { node: flagString(p, 'node'), service, tag },
    body: p.args[0] ?? '',
  });
  io.out(`Event ID: ${ev.ID}\n`);
  return 0;
}
