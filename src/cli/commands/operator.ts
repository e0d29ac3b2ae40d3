// consulate operator raft list-peers|remove-peer.

import { clientFrom, flagString, parseArgs, table, UsageError, type Io } from '../common.js';

interface RaftServer {
  ID: string;
  Node: string;
  Address: string;
  Leader: boolean;
  Voter: boolean;
  ProtocolVersion: string;
}

export async function operatorCommand(argv: string[], io: Io): Promise<number> {
  const [area, sub, ...rest] = argv;
  if (area !== 'raft')
    throw new UsageError('Usage: consulate operator raft <list-peers|remove-peer> [options]');
  switch (sub) {
    case 'list-peers': {
      const p = parseArgs(rest, {});
      const client = clientFrom(p, io);
      const cfg = await client.json<{ Servers: RaftServer[] }>('GET', '/v1/operator/raft/configuration');
      const rows = [['Node', 'ID', 'Address', 'State', 'Voter', 'RaftProtocol']];
      for (const s of cfg.Servers) {
        rows.push([
          s.Node,
          s.ID,
          s.Address,
          s.Leader ? 'leader' : 'follower',
          String(s.Voter),
          s.ProtocolVersion || '3',
        ]);
      }
      io.out(table(rows));
      return 0;
    }
    case 'remove-peer': {
      const p = parseArgs(rest, { id: 'value', address: 'value' });
      const id = flagString(p, 'id');
      const address = flagString(p, 'address');
      if (!id === !address) throw new UsageError('Must specify exactly one of -id or -address');
      const client = clientFrom(p, io);
      await client.ok('DELETE', '/v1/operator/raft/peer', { query: id ? { id } : { address } });
      io.out(`Removed peer with ${id ? `id "${id}"` : `address "${address}"`}\n`);
      return 0;
    }
    default:
      throw new UsageError('Usage: consulate operator raft <list-peers|remove-peer> [options]');
  }
}
