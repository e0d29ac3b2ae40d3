// consulate acl bootstrap | token <create|read|update|delete|list|clone> | policy <create|read|
// update|delete|list>: Consul's acl commands over the HTTP API, with its output blocks
// ("AccessorID:  ...") or -format=json. IDs may be given as a unique prefix, as Consul allows.

import { readFile } from 'node:fs/promises';
import { ApiError, type ConsulClient } from '../../client/client.js';
import {
  clientFrom,
  flagBool,
  flagString,
  parseArgs,
  UsageError,
  type FlagSpec,
  type Io,
  type Parsed,
} from '../common.js';

interface TokenJson {
  AccessorID: string;
  SecretID: string;
  Description: string;
  Policies: { ID: string; Name: string }[] | null;
  Local: boolean;
  CreateTime: string;
}

interface PolicyJson {
  ID: string;
  Name: string;
  Description: string;
  Rules?: string;
  Datacenters: string[] | null;
}

const USAGE = `Usage: consulate acl <subcommand> [options]

Subcommands:
    bootstrap   Creates the first management token (once per cluster)
    token       create | read | update | delete | list | clone
    policy      create | read | update | delete | list
`;

export async function aclCommand(argv: string[], io: Io): Promise<number> {
  const [sub, op, ...rest] = argv;
  if (sub === 'bootstrap') return bootstrap(argv.slice(1), io);
  const table = sub === 'token' ? TOKEN : sub === 'policy' ? POLICY : undefined;
  const run = table && op !== undefined ? table[op] : undefined;
  if (!run)
    throw new UsageError(
      USAGE + (sub ? `\n(unknown subcommand "${[sub, op].filter(Boolean).join(' ')}")` : ''),
    );
  return run(rest, io);
}

type Sub = (argv: string[], io: Io) => Promise<number>;

const FORMAT: FlagSpec = { format: 'value' };

function asJson(p: Parsed): boolean {
  const f = flagString(p, 'format') ?? 'pretty';
  if (f !== 'pretty' && f !== 'json') throw new UsageError(`Invalid format: ${f} (pretty or json)`);
  return f === 'json';
}

/** Consul's CLI messages: what failed, then the API's answer. */
async function attempt<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ApiError) throw new ApiError(err.status, `${what}: ${err.message}`);
    throw err;
  }
}

function tokenBlock(t: TokenJson): string {
  const lines = [
    `AccessorID:       ${t.AccessorID}`,
    `SecretID:         ${t.SecretID}`,
    `Description:      ${t.Description}`,
    `Local:            ${String(t.Local)}`,
    `Create Time:      ${t.CreateTime}`,
  ];
  const policies = t.Policies ?? [];
  if (policies.length > 0) {
    lines.push('Policies:');
    for (const p of policies) lines.push(`   ${p.ID} - ${p.Name}`);
  }
  return lines.join('\n') + '\n';
}

function policyBlock(p: PolicyJson): string {
  return (
    [
      `ID:           ${p.ID}`,
      `Name:         ${p.Name}`,
      `Description:  ${p.Description}`,
      `Datacenters:  ${(p.Datacenters ?? []).join(', ')}`,
      'Rules:',
      p.Rules ?? '',
    ].join('\n') + (p.Rules?.endsWith('\n') ? '' : '\n')
  );
}

function print(io: Io, p: Parsed, value: unknown, pretty: () => string): void {
  io.out(asJson(p) ? JSON.stringify(value, null, 4) + '\n' : pretty());
}

async function bootstrap(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, FORMAT);
  const client = clientFrom(p, io);
  const t = await attempt('Failed ACL bootstrapping', () =>
    client.json<TokenJson>('PUT', '/v1/acl/bootstrap'),
  );
  print(io, p, t, () => tokenBlock(t));
  return 0;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A full ID, or the one ID in `list` starting with the prefix given. */
async function expandId(what: string, id: string, list: () => Promise<string[]>): Promise<string> {
  if (UUID.test(id) || id === 'anonymous') return id;
  const matches = (await list()).filter((x) => x.startsWith(id));
  if (matches.length === 1) return matches[0] as string;
  throw new UsageError(
    matches.length === 0
      ? `Error determining ${what} ID: No such ${what} ID with prefix: ${id}`
      : `Error determining ${what} ID: Multiple ${what} IDs found with prefix: ${id}`,
  );
}

function requireFlag(p: Parsed, name: string, msg: string): string {
  const v = flagString(p, name);
  if (v === undefined || v === '') throw new UsageError(msg);
  return v;
}

// ---------------------------------------------------------------- tokens

const tokenIds = (client: ConsulClient) => async (): Promise<string[]> =>
  (await client.json<TokenJson[]>('GET', '/v1/acl/tokens')).map((t) => t.AccessorID);

function policyLinks(p: Parsed): { ID?: string; Name?: string }[] {
  return [
    ...(p.flags.get('policy-id') ?? []).map((ID) => ({ ID })),
    ...(p.flags.get('policy-name') ?? []).map((Name) => ({ Name })),
  ];
}

const TOKEN_FLAGS: FlagSpec = {
  ...FORMAT,
  description: 'value',
  'policy-id': 'list',
  'policy-name': 'list',
  local: 'bool',
  secret: 'value',
  accessor: 'value',
};

const TOKEN: Record<string, Sub> = {
  create: async (argv, io) => {
    const p = parseArgs(argv, TOKEN_FLAGS);
    const client = clientFrom(p, io);
    const body = {
      Description: flagString(p, 'description') ?? '',
      Policies: policyLinks(p),
      Local: flagBool(p, 'local'),
      ...(flagString(p, 'secret') ? { SecretID: flagString(p, 'secret') } : {}),
      ...(flagString(p, 'accessor') ? { AccessorID: flagString(p, 'accessor') } : {}),
    };
    const t = await attempt('Failed to create new token', () =>
      client.json<TokenJson>('PUT', '/v1/acl/token', { body: JSON.stringify(body) }),
    );
    print(io, p, t, () => tokenBlock(t));
    return 0;
  },

  read: async (argv, io) => {
    const p = parseArgs(argv, { ...FORMAT, id: 'value', self: 'bool', expanded: 'bool' });
    const client = clientFrom(p, io);
    let t: TokenJson;
    if (flagBool(p, 'self')) {
      t = await attempt('Error reading token', () => client.json<TokenJson>('GET', '/v1/acl/token/self'));
    } else {
      const given = requireFlag(p, 'id', 'Must specify the -id parameter');
      const id = await expandId('token', given, tokenIds(client));
      t = await attempt(`Error reading token "${id}"`, () =>
        client.json<TokenJson>('GET', `/v1/acl/token/${encodeURIComponent(id)}`),
      );
    }
    print(io, p, t, () => tokenBlock(t));
    return 0;
  },

  update: async (argv, io) => {
    const p = parseArgs(argv, { ...TOKEN_FLAGS, id: 'value', 'merge-policies': 'bool' });
    const client = clientFrom(p, io);
    const id = await expandId(
      'token',
      requireFlag(p, 'id', 'Cannot update a token without specifying the -id parameter'),
      tokenIds(client),
    );
    const old = await attempt(`Error when retrieving current token`, () =>
      client.json<TokenJson>('GET', `/v1/acl/token/${encodeURIComponent(id)}`),
    );
    const links = policyLinks(p);
    const oldLinks = (old.Policies ?? []).map((l) => ({ ID: l.ID }));
    const body = {
      AccessorID: id,
      Description: flagString(p, 'description') ?? old.Description,
      Policies:
        links.length === 0 ? oldLinks : flagBool(p, 'merge-policies') ? [...oldLinks, ...links] : links,
      Local: old.Local,
    };
    const t = await attempt('Failed to update token', () =>
      client.json<TokenJson>('PUT', `/v1/acl/token/${encodeURIComponent(id)}`, {
        body: JSON.stringify(body),
      }),
    );
    if (!asJson(p)) io.out('Token updated successfully.\n');
    print(io, p, t, () => tokenBlock(t));
    return 0;
  },

  delete: async (argv, io) => {
    const p = parseArgs(argv, { id: 'value' });
    const client = clientFrom(p, io);
    const id = await expandId(
      'token',
      requireFlag(p, 'id', 'Must specify the -id parameter'),
      tokenIds(client),
    );
    await attempt(`Error deleting token "${id}"`, () =>
      client.ok('DELETE', `/v1/acl/token/${encodeURIComponent(id)}`),
    );
    io.out(`Token "${id}" deleted successfully\n`);
    return 0;
  },

  list: async (argv, io) => {
    const p = parseArgs(argv, FORMAT);
    const client = clientFrom(p, io);
    const list = await attempt('Failed to retrieve the token list', () =>
      client.json<TokenJson[]>('GET', '/v1/acl/tokens'),
    );
    print(io, p, list, () => list.map(tokenBlock).join('\n'));
    return 0;
  },

  clone: async (argv, io) => {
    const p = parseArgs(argv, { ...FORMAT, id: 'value', description: 'value' });
    const client = clientFrom(p, io);
    const id = await expandId(
      'token',
      requireFlag(p, 'id', 'Cannot clone a token without specifying the -id parameter'),
      tokenIds(client),
    );
    const t = await attempt('Failed to clone token', () =>
      client.json<TokenJson>('PUT', `/v1/acl/token/${encodeURIComponent(id)}/clone`, {
        body: JSON.stringify({ Description: flagString(p, 'description') ?? '' }),
      }),
    );
    if (!asJson(p)) io.out('Token cloned successfully.\n');
    print(io, p, t, () => tokenBlock(t));
    return 0;
  },
};

// ---------------------------------------------------------------- policies

/** -rules as Consul reads it: @file, - (stdin), or the rules themselves. */
async function rulesOf(p: Parsed, io: Io): Promise<string | undefined> {
  const r = flagString(p, 'rules');
  if (r === undefined) return undefined;
  if (r === '-') return (await io.stdin()).toString('utf8');
  if (r.startsWith('@')) {
    try {
      return await readFile(r.slice(1), 'utf8');
    } catch (err) {
      throw new UsageError(`Error loading rules: Failed to read file: ${(err as Error).message}`);
    }
  }
  return r;
}

const policyIds = (client: ConsulClient) => async (): Promise<string[]> =>
  (await client.json<PolicyJson[]>('GET', '/v1/acl/policies')).map((x) => x.ID);

/** The policy a read, update or delete names: -id (a prefix will do), else -name. */
async function policyOf(p: Parsed, client: ConsulClient): Promise<PolicyJson> {
  const id = flagString(p, 'id');
  if (id) {
    const full = await expandId('policy', id, policyIds(client));
    return attempt(`Error reading policy "${full}"`, () =>
      client.json<PolicyJson>('GET', `/v1/acl/policy/${encodeURIComponent(full)}`),
    );
  }
  const name = flagString(p, 'name');
  if (!name) throw new UsageError('Must specify either the -id or -name parameters');
  return attempt(`Error reading policy "${name}"`, () =>
    client.json<PolicyJson>('GET', `/v1/acl/policy/name/${encodeURIComponent(name)}`),
  );
}

const POLICY_FLAGS: FlagSpec = {
  ...FORMAT,
  id: 'value',
  name: 'value',
  description: 'value',
  rules: 'value',
  'valid-datacenter': 'list',
};

const POLICY: Record<string, Sub> = {
  create: async (argv, io) => {
    const p = parseArgs(argv, POLICY_FLAGS);
    const name = requireFlag(p, 'name', "Missing required '-name' flag");
    const rules = (await rulesOf(p, io)) ?? '';
    const client = clientFrom(p, io);
    const dcs = p.flags.get('valid-datacenter');
    const body = {
      Name: name,
      Description: flagString(p, 'description') ?? '',
      Rules: rules,
      ...(dcs ? { Datacenters: dcs } : {}),
    };
    const pol = await attempt('Failed to create new policy', () =>
      client.json<PolicyJson>('PUT', '/v1/acl/policy', { body: JSON.stringify(body) }),
    );
    print(io, p, pol, () => policyBlock(pol));
    return 0;
  },

  read: async (argv, io) => {
    const p = parseArgs(argv, POLICY_FLAGS);
    const pol = await policyOf(p, clientFrom(p, io));
    print(io, p, pol, () => policyBlock(pol));
    return 0;
  },

  update: async (argv, io) => {
    const p = parseArgs(argv, POLICY_FLAGS);
    const client = clientFrom(p, io);
    // -id names the policy and -name renames it; -name alone names it.
    const old = await policyOf(p, client);
    const rules = await rulesOf(p, io);
    const dcs = p.flags.get('valid-datacenter');
    const body = {
      ID: old.ID,
      Name: flagString(p, 'id') ? (flagString(p, 'name') ?? old.Name) : old.Name,
      Description: flagString(p, 'description') ?? old.Description,
      Rules: rules ?? old.Rules ?? '',
      Datacenters: dcs ?? old.Datacenters,
    };
    const pol = await attempt(`Failed to update policy ${old.ID}`, () =>
      client.json<PolicyJson>('PUT', `/v1/acl/policy/${encodeURIComponent(old.ID)}`, {
        body: JSON.stringify(body),
      }),
    );
    print(io, p, pol, () => policyBlock(pol));
    return 0;
  },

  delete: async (argv, io) => {
    const p = parseArgs(argv, POLICY_FLAGS);
    const client = clientFrom(p, io);
    const pol = await policyOf(p, client);
    await attempt(`Error deleting policy "${pol.ID}"`, () =>
      client.ok('DELETE', `/v1/acl/policy/${encodeURIComponent(pol.ID)}`),
    );
    io.out(`Policy "${pol.ID}" deleted successfully\n`);
    return 0;
  },

  list: async (argv, io) => {
    const p = parseArgs(argv, FORMAT);
    const client = clientFrom(p, io);
    const list = await attempt('Failed to retrieve the policy list', () =>
      client.json<PolicyJson[]>('GET', '/v1/acl/policies'),
    );
    print(io, p, list, () =>
      list
        .map(
          (x) =>
            `${x.Name}:\n   ID:           ${x.ID}\n   Description:  ${x.Description}\n   Datacenters:  ${(x.Datacenters ?? []).join(', ')}\n`,
        )
        .join(''),
    );
    return 0;
  },
};
