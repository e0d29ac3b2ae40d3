// consulate catalog datacenters | nodes | services: Consul's catalog commands, same columns.

import { ApiError } from '../../client/client.js';
import { clientFrom, flagBool, flagString, parseArgs, table, UsageError, type Io } from '../common.js';

interface NodeJson {
  ID: string;
  Node: string;
  Address: string;
  Datacenter: string;
  TaggedAddresses: Record<string, string> | null;
  Meta: Record<string, string> | null;
}

interface ServiceNodeJson {
  ID: string;
  Node: string;
  Address: string;
  Datacenter: string;
  TaggedAddresses: Record<string, string> | null;
  NodeMeta: Record<string, string> | null;
}

interface NodeServicesJson {
  Services: Record<string, { Service: string; Tags: string[] | null }> | null;
}

const USAGE = `Usage: consulate catalog <subcommand> [options]

Subcommands:
    datacenters    Lists all known datacenters
    nodes          Lists all nodes in the given datacenter (-service, -detailed, -node-meta)
    services       Lists all registered services in a datacenter (-node, -tags, -node-meta)`;

export async function catalogCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'datacenters':
      return datacenters(rest, io);
    case 'nodes':
      return nodes(rest, io);
    case 'services':
      return services(rest, io);
    default:
      throw new UsageError(sub ? `Unknown catalog subcommand "${sub}"\n${USAGE}` : USAGE);
  }
}

function noArgs(args: string[]): void {
  if (args.length > 0) throw new UsageError(`Too many arguments (expected 0, got ${args.length})`);
}

/** -node-meta key=value (repeatable), as Consul's flag takes it. */
function nodeMeta(p: ReturnType<typeof parseArgs>): [string, string][] {
  return (p.flags.get('node-meta') ?? []).map((kv) => {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid value "${kv}" for -node-meta: expected key=value`);
    return [kv.slice(0, eq), kv.slice(eq + 1)];
  });
}

/** The query parameters Consul sends for -node-meta (node-meta=key:value, repeatable). */
function metaQuery(meta: [string, string][]): string {
  return meta.length === 0
    ? ''
    : '?' + meta.map(([k, v]) => `node-meta=${encodeURIComponent(`${k}:${v}`)}`).join('&');
}

/**
 * The server does not filter on node metadata yet, so the CLI does it on the answer (the same
 * result, one round trip, at the cost of reading the whole list).
 */
function metaMatches(meta: Record<string, string> | null, want: [string, string][]): boolean {
  return want.every(([k, v]) => meta?.[k] === v);
}

/** Consul's mapToKV: key=value pairs sorted by key. */
function kv(m: Record<string, string> | null, joiner: string): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${m?.[k] ?? ''}`)
    .join(joiner);
}

async function datacenters(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, {});
  noArgs(p.args);
  const dcs = await clientFrom(p, io).json<string[]>('GET', '/v1/catalog/datacenters');
  for (const dc of dcs) io.out(`${dc}\n`);
  return 0;
}

async function nodes(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, { service: 'value', detailed: 'bool', 'node-meta': 'list', near: 'value' });
  noArgs(p.args);
  const meta = nodeMeta(p);
  const client = clientFrom(p, io);
  const service = flagString(p, 'service');
  const near = flagString(p, 'near');
  let list: NodeJson[];
  if (service) {
    const entries = await client.json<ServiceNodeJson[]>(
      'GET',
      `/v1/catalog/service/${encodeURIComponent(service)}${metaQuery(meta)}`,
      { query: { near } },
    );
    list = entries.map((s) => ({
      ID: s.ID,
      Node: s.Node,
      Address: s.Address,
      Datacenter: s.Datacenter,
      TaggedAddresses: s.TaggedAddresses,
      Meta: s.NodeMeta,
    }));
  } else {
    list = await client.json<NodeJson[]>('GET', `/v1/catalog/nodes${metaQuery(meta)}`, { query: { near } });
  }
  list = list.filter((n) => metaMatches(n.Meta, meta));
  if (list.length === 0) {
    io.err('No nodes match the given query - try expanding your search.\n');
    return 0;
  }
  const detailed = flagBool(p, 'detailed');
  const rows = [
    detailed ? ['Node', 'ID', 'Address', 'DC', 'TaggedAddresses', 'Meta'] : ['Node', 'ID', 'Address', 'DC'],
  ];
  for (const n of list) {
    if (detailed)
      rows.push([n.Node, n.ID, n.Address, n.Datacenter, kv(n.TaggedAddresses, ', '), kv(n.Meta, ', ')]);
    // Without -detailed Consul shortens the ID to its first group.
    else rows.push([n.Node, n.ID.split('-')[0] ?? '', n.Address, n.Datacenter]);
  }
  io.out(table(rows));
  return 0;
}

async function services(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, { node: 'value', tags: 'bool', 'node-meta': 'list' });
  noArgs(p.args);
  const meta = nodeMeta(p);
  const client = clientFrom(p, io);
  const node = flagString(p, 'node');
  let byName: Record<string, string[]>;
  if (node) {
    // An unknown node answers null (Consul) or 404: either way, no services.
    const r = await client.request('GET', `/v1/catalog/node/${encodeURIComponent(node)}`);
    if (r.status !== 200 && r.status !== 404)
      throw new ApiError(
        r.status,
        `Error listing services for node: ${r.status} (${r.body.toString().trim()})`,
      );
    const ns = r.status === 200 ? (JSON.parse(r.body.toString('utf8')) as NodeServicesJson | null) : null;
    byName = {};
    for (const s of Object.values(ns?.Services ?? {}))
      byName[s.Service] = [...(byName[s.Service] ?? []), ...(s.Tags ?? [])];
  } else if (meta.length > 0) {
    // No server-side node-meta filter yet: the services of the matching nodes, from their entries.
    const nodesList = await client.json<NodeJson[]>('GET', `/v1/catalog/nodes${metaQuery(meta)}`);
    byName = {};
    for (const n of nodesList.filter((x) => metaMatches(x.Meta, meta))) {
      const ns = await client.json<NodeServicesJson | null>(
        'GET',
        `/v1/catalog/node/${encodeURIComponent(n.Node)}`,
      );
      for (const s of Object.values(ns?.Services ?? {}))
        byName[s.Service] = [...new Set([...(byName[s.Service] ?? []), ...(s.Tags ?? [])])];
    }
  } else {
    byName = await client.json<Record<string, string[]>>('GET', '/v1/catalog/services');
  }
  const names = Object.keys(byName).sort();
  if (names.length === 0) {
    io.err('No services match the given query - try expanding your search.\n');
    return 0;
  }
  if (!flagBool(p, 'tags')) {
    for (const n of names) io.out(`${n}\n`);
    return 0;
  }
  // Consul prints -tags through a tabwriter with a padding of 6 spaces.
  const width = Math.max(...names.map((n) => n.length));
  const lines = names.map((n) => {
    const tags = [...(byName[n] ?? [])].sort().join(',');
    return tags === '' ? n : n.padEnd(width + 6) + tags;
  });
  io.out(lines.join('\n').trim() + '\n');
  return 0;
}
