// consulate kv get|put|delete|export|import: Consul's kv commands over the HTTP API.

import { readFile } from 'node:fs/promises';
import { ApiError, decodeValue, encodeKey } from '../../client/client.js';
import { clientFrom, flagBool, flagInt, flagString, parseArgs, UsageError, type Io } from '../common.js';

export async function kvCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'get':
      return kvGet(rest, io);
    case 'put':
      return kvPut(rest, io);
    case 'delete':
      return kvDelete(rest, io);
    case 'export':
      return (await import('./kv-transfer.js')).kvExport(rest, io);
    case 'import':
      return (await import('./kv-transfer.js')).kvImport(rest, io);
    default:
      throw new UsageError(
        `Usage: consulate kv <get|put|delete|export|import> [options] [KEY]${sub ? ` (unknown subcommand "${sub}")` : ''}`,
      );
  }
}

async function kvGet(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, {
    recurse: 'bool',
    keys: 'bool',
    separator: 'value',
    detailed: 'bool',
    base64: 'bool',
  });
  const key = p.args[0] ?? '';
  if (p.args.length > 1) throw new UsageError(`Too many arguments (expected 1, got ${p.args.length})`);
  const client = clientFrom(p, io);
  const show = (v: string | null): string =>
    flagBool(p, 'base64') ? (v ?? '') : decodeValue(v).toString('utf8');
  if (flagBool(p, 'keys')) {
    const sep = flagString(p, 'separator') ?? '/';
    for (const k of await client.kvKeys(key, sep)) io.out(`${k}\n`);
    return 0;
  }
  if (flagBool(p, 'recurse')) {
    for (const e of await client.kvList(key)) {
      if (flagBool(p, 'detailed')) io.out(detailed(e, show(e.Value)) + '\n');
      else io.out(`${e.Key}:${show(e.Value)}\n`);
    }
    return 0;
  }
  if (key === '') throw new UsageError('Error! Missing KEY argument');
  const e = await client.kvGet(key);
  if (!e) {
    io.err(`Error! No key exists at: ${key}\n`);
    return 1;
  }
  io.out(flagBool(p, 'detailed') ? detailed(e, show(e.Value)) : `${show(e.Value)}\n`);
  return 0;
}

function detailed(
  e: {
    Key: string;
    CreateIndex: number;
    ModifyIndex: number;
    LockIndex: number;
    Flags: number;
    Session?: string;
  },
  value: string,
): string {
  const rows: [string, string][] = [
    ['CreateIndex', String(e.CreateIndex)],
    ['Flags', String(e.Flags)],
    ['Key', e.Key],
    ['LockIndex', String(e.LockIndex)],
    ['ModifyIndex', String(e.ModifyIndex)],
    ['Session', e.Session ?? '-'],
    ['Value', value],
  ];
  return rows.map(([k, v]) => `${k.padEnd(16)}${v}`).join('\n') + '\n';
}

async function kvPut(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, {
    cas: 'bool',
    'modify-index': 'value',
    flags: 'value',
    base64: 'bool',
    acquire: 'bool',
    release: 'bool',
    session: 'value',
  });
  const [key, data] = p.args;
  if (!key) throw new UsageError('Error! Missing KEY argument');
  if (p.args.length > 2) throw new UsageError(`Too many arguments (expected 1 or 2, got ${p.args.length})`);
  let value: Buffer;
  if (data === undefined) value = Buffer.alloc(0);
  else if (data === '-') value = await io.stdin();
  else if (data.startsWith('@')) value = await readFile(data.slice(1));
  else value = Buffer.from(data, 'utf8');
  if (flagBool(p, 'base64')) value = Buffer.from(value.toString('utf8'), 'base64');
  const client = clientFrom(p, io);
  const flags = flagInt(p, 'flags');
  const q: { cas?: number; flags?: number } = {};
  if (flags !== undefined) q.flags = flags;
  if (flagBool(p, 'cas')) {
    const mi = flagInt(p, 'modify-index');
    if (mi === undefined) throw new UsageError('Must specify -modify-index with -cas!');
    q.cas = mi;
  }
  const session = flagString(p, 'session') ?? '';
  const acquire = flagBool(p, 'acquire');
  const release = flagBool(p, 'release');
  if ((acquire || release) && session === '')
    throw new UsageError(`Error! Missing -session (required with -${acquire ? 'acquire' : 'release'})`);
  if (acquire && release) throw new UsageError('Error! Cannot specify both -acquire and -release');
  if (session !== '' && !acquire && !release)
    throw new UsageError('Error! -session only applies with -acquire or -release');
  if ((acquire || release) && q.cas !== undefined)
    throw new UsageError(`Error! Cannot specify -cas with -${acquire ? 'acquire' : 'release'}`);
  if (acquire || release) {
    // Consul's kv put -acquire/-release: the write takes or gives up the session's lock.
    const lockQuery = { ...q, [acquire ? 'acquire' : 'release']: session };
    const got = await client.json<boolean>('PUT', `/v1/kv/${encodeKey(key)}`, {
      body: value,
      query: lockQuery,
    });
    if (!got) {
      io.err(`Error! Did not ${acquire ? 'acquire' : 'release'} lock\n`);
      return 1;
    }
    io.out(`Success! Lock ${acquire ? 'acquired' : 'released'} on: ${key}\n`);
    return 0;
  }
  const ok = await client.kvPut(key, value, q);
  if (!ok) {
    io.err(`Error! Did not write to ${key}: CAS failed\n`);
    return 1;
  }
  io.out(`Success! Data written to: ${key}\n`);
  return 0;
}

async function kvDelete(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, { recurse: 'bool', cas: 'bool', 'modify-index': 'value' });
  const key = p.args[0] ?? '';
  if (p.args.length > 1) throw new UsageError(`Too many arguments (expected 1, got ${p.args.length})`);
  const recurse = flagBool(p, 'recurse');
  if (key === '' && !recurse) throw new UsageError('Error! Missing KEY argument');
  if (recurse && flagBool(p, 'cas')) throw new UsageError('Cannot specify both -cas and -recurse!');
  const q: { recurse?: boolean; cas?: number } = {};
  if (recurse) q.recurse = true;
  if (flagBool(p, 'cas')) {
    const mi = flagInt(p, 'modify-index');
    if (mi === undefined) throw new UsageError('Must specify -modify-index with -cas!');
    q.cas = mi;
  }
  const client = clientFrom(p, io);
  let ok: boolean;
  try {
    ok = await client.kvDelete(key, q);
  } catch (err) {
    if (err instanceof ApiError) {
      io.err(`Error! Did not delete key ${key}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  if (!ok) {
    io.err(`Error! Did not delete key ${key}: CAS failed\n`);
    return 1;
  }
  io.out(recurse ? `Success! Deleted keys with prefix: ${key}\n` : `Success! Deleted key: ${key}\n`);
  return 0;
}
