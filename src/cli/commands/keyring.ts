// consulate keygen, and consulate keyring -list | -install KEY | -use KEY | -remove KEY over
// /v1/operator/keyring (every member of the pool answers for its own keyring).

import { generateKey } from '../../gossip/keyring.js';
import { clientFrom, flagBool, flagString, parseArgs, UsageError, type Io } from '../common.js';

interface KeyringResponse {
  WAN: boolean;
  Datacenter: string;
  Segment?: string;
  Keys: Record<string, number>;
  PrimaryKeys?: Record<string, number>;
  NumNodes: number;
  Messages?: Record<string, string>;
}

export async function keygenCommand(argv: string[], io: Io): Promise<number> {
  if (argv.length > 0) throw new UsageError('keygen takes no arguments');
  io.out(`${generateKey()}\n`);
  return 0;
}

export async function keyringCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, {
    list: 'bool',
    'list-primary': 'bool',
    install: 'value',
    use: 'value',
    remove: 'value',
    'relay-factor': 'value',
    'local-only': 'bool',
  });
  const install = flagString(p, 'install');
  const use = flagString(p, 'use');
  const remove = flagString(p, 'remove');
  const list = flagBool(p, 'list');
  const listPrimary = flagBool(p, 'list-primary');
  const ops = [list, listPrimary, install, use, remove].filter((x) => x !== undefined && x !== false);
  if (ops.length !== 1)
    throw new UsageError(
      'Exactly one operation must be specified: -list, -list-primary, -install, -use or -remove',
    );
  const client = clientFrom(p, io);
  if (list || listPrimary) {
    io.out('==> Gathering installed encryption keys...\n');
    const rs = await client.json<KeyringResponse[]>('GET', '/v1/operator/keyring');
    for (const r of rs) {
      // Consul's headings: "WAN:" for the servers' pool, "<dc> (LAN):" for a datacenter's.
      io.out(r.WAN ? '\nWAN:\n' : `\n${r.Datacenter} (LAN):\n`);
      const keys = listPrimary ? (r.PrimaryKeys ?? {}) : r.Keys;
      for (const [k, n] of Object.entries(keys)) io.out(`  ${k} [${n}/${r.NumNodes}]\n`);
    }
    return 0;
  }
  const [method, verb, key] = install
    ? (['POST', 'Installing new gossip encryption key...', install] as const)
    : use
      ? (['PUT', 'Changing primary gossip encryption key...', use] as const)
      : (['DELETE', 'Removing gossip encryption key...', remove as string] as const);
  io.out(`==> ${verb}\n`);
  await client.ok(method, '/v1/operator/keyring', { body: JSON.stringify({ Key: key }) });
  return 0;
}
