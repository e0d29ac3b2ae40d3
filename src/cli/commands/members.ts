// consulate members | join | leave | force-leave: the LAN gossip pool, through the agent's HTTP API.

import { clientFrom, flagBool, flagString, parseArgs, table, UsageError, type Io } from '../common.js';

interface MemberJson {
  Name: string;
  Addr: string;
  Port: number;
  Tags: Record<string, string>;
  Status: number;
}

const STATUS_NAME: Record<number, string> = { 0: 'none', 1: 'alive', 2: 'leaving', 3: 'left', 4: 'failed' };

export async function membersCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, { detailed: 'bool', wan: 'bool', status: 'value', segment: 'value' });
  if (p.args.length > 0) throw new UsageError('members takes no arguments');
  const statusRe = new RegExp(flagString(p, 'status') ?? '.*');
  const client = clientFrom(p, io);
  const members = await client.json<MemberJson[]>('GET', '/v1/agent/members', {
    query: { wan: flagBool(p, 'wan') },
  });
  const shown = members
    .map((m) => ({ m, status: STATUS_NAME[m.Status] ?? 'unknown' }))
    .filter((x) => statusRe.test(x.status));
  if (shown.length === 0) return 2; // Consul's exit code when nothing matches the filter
  if (flagBool(p, 'detailed')) {
    const rows = [['Node', 'Address', 'Status', 'Tags']];
    for (const { m, status } of shown) {
      const tags = Object.keys(m.Tags)
        .sort()
        .map((k) => `${k}=${m.Tags[k]}`)
        .join(',');
      rows.push([m.Name, `${m.Addr}:${m.Port}`, status, tags]);
    }
    io.out(table(rows));
    return 0;
  }
  const rows = [['Node', 'Address', 'Status', 'Type', 'Build', 'Protocol', 'DC', 'Partition', 'Segment']];
  for (const { m, status } of shown) {
    const server = m.Tags['role'] === 'consul';
    rows.push([
      m.Name,
      `${m.Addr}:${m.Port}`,
      status,
      server ? 'server' : 'client',
      (m.Tags['build'] ?? '').split(':')[0] ?? '',
      m.Tags['vsn'] ?? '2',
      m.Tags['dc'] ?? '',
      'default',
      server ? '<all>' : '<default>',
    ]);
  }
  io.out(table(rows));
  return 0;
}

export async function joinCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, { wan: 'bool' });
  if (p.args.length === 0) throw new UsageError('At least one address to join must be specified.');
  const client = clientFrom(p, io);
  let joined = 0;
  for (const addr of p.args) {
    try {
      await client.ok('PUT', `/v1/agent/join/${encodeURIComponent(addr)}`, {
        query: { wan: flagBool(p, 'wan') },
      });
      joined++;
    } catch (err) {
      io.err(`Error joining address '${addr}': ${(err as Error).message}\n`);
    }
  }
  if (joined === 0) {
    io.err('Failed to join any nodes.\n');
    return 1;
  }
  io.out(`Successfully joined cluster by contacting ${joined} nodes.\n`);
  return 0;
}

export async function leaveCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, {});
  if (p.args.length > 0) throw new UsageError('leave takes no arguments');
  await clientFrom(p, io).ok('PUT', '/v1/agent/leave');
  io.out('Graceful leave complete\n');
  return 0;
}

export async function forceLeaveCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, { prune: 'bool', wan: 'bool' });
  if (p.args.length !== 1) throw new UsageError('A single node name must be specified to force leave.');
  await clientFrom(p, io).ok('PUT', `/v1/agent/force-leave/${encodeURIComponent(p.args[0] as string)}`, {
    query: { prune: flagBool(p, 'prune'), wan: flagBool(p, 'wan') },
  });
  return 0;
}
