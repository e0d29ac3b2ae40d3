// consulate services register [flags | FILE] and consulate services deregister [-id ID | FILE]:
// Consul's `consul services` commands, through the local agent's HTTP API. A file holds JSON with a
// `service` object or a `services` list, as in an agent config file.

import { readFileSync } from 'node:fs';
import { clientFrom, flagString, parseArgs, UsageError, type Io, type Parsed } from '../common.js';

const USAGE = `Usage: consulate services <subcommand> [options] [FILE]

Subcommands:
    register      Registers a service with the local agent (flags, or a definition file)
    deregister    Deregisters a service from the local agent (-id, or a definition file)
`;

export async function servicesCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'register') return register(rest, io);
  if (sub === 'deregister') return deregister(rest, io);
  io.err(USAGE);
  return 1;
}

/** The services of a definition file (`service` or `services`), as raw JSON objects. */
function servicesFromFile(path: string): Record<string, unknown>[] {
  let obj: unknown;
  try {
    obj = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`Error reading ${path}: ${(err as Error).message}`);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new UsageError(`Error reading ${path}: the top level must be a JSON object`);
  }
  const o = obj as Record<string, unknown>;
  const out: Record<string, unknown>[] = [];
  const one = o['service'];
  if (one !== undefined) out.push(asService(one, path));
  const many = o['services'];
  if (many !== undefined) {
    if (!Array.isArray(many)) throw new UsageError(`Error reading ${path}: "services" must be a list`);
    for (const s of many) out.push(asService(s, path));
  }
  if (out.length === 0)
    throw new UsageError(`No services found in ${path} (expected "service" or "services")`);
  return out;
}

/** The first of these fields that is a non-empty string (definitions come in either case). */
function field(d: Record<string, unknown>, ...names: string[]): string {
  for (const n of names) {
    const v = d[n];
    if (typeof v === 'string' && v !== '') return v;
  }
  return '';
}

function asService(v: unknown, path: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new UsageError(`Error reading ${path}: a service definition must be an object`);
  }
  return v as Record<string, unknown>;
}

/** -meta key=value and -tagged-address key=value, repeatable. */
function pairs(p: Parsed, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of p.flags.get(flag) ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`Invalid -${flag} value "${kv}": expected key=value`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

async function register(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, {
    id: 'value',
    name: 'value',
    address: 'value',
    port: 'value',
    tag: 'list',
    meta: 'list',
    'tagged-address': 'list',
  });
  const name = flagString(p, 'name');
  let defs: Record<string, unknown>[];
  if (p.args.length > 0) {
    if (name !== undefined || flagString(p, 'id') !== undefined) {
      throw new UsageError('Flags and a definition file cannot both be given');
    }
    defs = p.args.flatMap(servicesFromFile);
  } else {
    if (!name) throw new UsageError('Service name must be given with -name or in a definition file');
    const port = flagString(p, 'port');
    if (port !== undefined && !/^\d+$/.test(port)) throw new UsageError(`Invalid -port value "${port}"`);
    const tagged: Record<string, { Address: string; Port: number }> = {};
    for (const [k, v] of Object.entries(pairs(p, 'tagged-address'))) {
      const m = /^(.*):(\d+)$/.exec(v);
      tagged[k] = m ? { Address: m[1] as string, Port: Number(m[2]) } : { Address: v, Port: 0 };
    }
    defs = [
      {
        Name: name,
        ...(flagString(p, 'id') ? { ID: flagString(p, 'id') } : {}),
        Address: flagString(p, 'address') ?? '',
        Port: port === undefined ? 0 : Number(port),
        Tags: p.flags.get('tag') ?? [],
        Meta: pairs(p, 'meta'),
        TaggedAddresses: tagged,
      },
    ];
  }
  const client = clientFrom(p, io);
  for (const d of defs) {
    const label = field(d, 'name', 'Name');
    try {
      await client.ok('PUT', '/v1/agent/service/register', { body: JSON.stringify(d) });
    } catch (err) {
      io.err(`Error registering service "${label}": ${(err as Error).message}\n`);
      return 1;
    }
    io.out(`Registered service: ${label}\n`);
  }
  return 0;
}

async function deregister(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, { id: 'value' });
  const id = flagString(p, 'id');
  if ((id === undefined) === (p.args.length === 0)) {
    throw new UsageError('Either -id or a definition file must be given, not both');
  }
  const ids =
    id !== undefined
      ? [id]
      : p.args.flatMap(servicesFromFile).map((d) => field(d, 'id', 'ID', 'name', 'Name'));
  const client = clientFrom(p, io);
  for (const sid of ids) {
    try {
      await client.ok('PUT', `/v1/agent/service/deregister/${encodeURIComponent(sid)}`);
    } catch (err) {
      io.err(`Error deregistering service "${sid}": ${(err as Error).message}\n`);
      return 1;
    }
    io.out(`Deregistered service: ${sid}\n`);
  }
  return 0;
}
