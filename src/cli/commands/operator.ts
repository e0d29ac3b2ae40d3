// consulate operator raft list-peers|remove-peer|transfer-leader and
// operator autopilot get-config|set-config|state: Consul's flags and output.

import { formatDuration, parseDuration } from '../../core/duration.js';
import {
  clientFrom,
  CommandError,
  flagBool,
  flagString,
  parseArgs,
  table,
  UsageError,
  type Io,
  type Parsed,
} from '../common.js';
import type { AutopilotConfigJson } from '../../rpc/endpoints/operator.js';

export interface RaftServer {
  ID: string;
  Node: string;
  Address: string;
  Leader: boolean;
  Voter: boolean;
  ProtocolVersion: string;
}

const RAFT_USAGE = 'Usage: consulate operator raft <list-peers|remove-peer|transfer-leader> [options]';
const AUTOPILOT_USAGE = 'Usage: consulate operator autopilot <get-config|set-config|state> [options]';
const USAGE = `Usage: consulate operator <raft|autopilot> <subcommand> [options]\n  ${RAFT_USAGE}\n  ${AUTOPILOT_USAGE}`;

export async function operatorCommand(argv: string[], io: Io): Promise<number> {
  const [area, sub, ...rest] = argv;
  if (area === 'raft') return raftCommand(sub, rest, io);
  if (area === 'autopilot') return autopilotCommand(sub, rest, io);
  throw new UsageError(USAGE);
}

async function raftCommand(sub: string | undefined, rest: string[], io: Io): Promise<number> {
  switch (sub) {
    case 'list-peers': {
      const p = noArgs(parseArgs(rest, {}));
      const client = clientFrom(p, io);
      const cfg = await client
        .json<{ Servers: RaftServer[] }>('GET', '/v1/operator/raft/configuration')
        .catch(wrap('Error getting peers: Failed to retrieve raft configuration'));
      io.out(formatPeers(cfg.Servers, await healthIndexes(client)));
      return 0;
    }
    case 'remove-peer': {
      const p = noArgs(parseArgs(rest, { id: 'value', address: 'value' }));
      const id = flagString(p, 'id');
      const address = flagString(p, 'address');
      if (!id === !address) throw new UsageError('Must specify exactly one of -id or -address');
      const client = clientFrom(p, io);
      await client.ok('DELETE', '/v1/operator/raft/peer', { query: id ? { id } : { address } });
      io.out(`Removed peer with ${id ? `id "${id}"` : `address "${address}"`}\n`);
      return 0;
    }
    case 'transfer-leader': {
      const p = noArgs(parseArgs(rest, { id: 'value' }));
      const id = flagString(p, 'id') ?? '';
      const client = clientFrom(p, io);
      const r = await client
        .json<{ Success: boolean }>('POST', '/v1/operator/raft/transfer-leader', { query: id ? { id } : {} })
        .catch((err: unknown) => {
          throw new CommandError(`Error transferring leadership: ${(err as Error).message}`);
        });
      if (!r.Success) {
        io.err('Error transferring leadership: Failed to transfer leadership\n');
        return 1;
      }
      io.out('Success\n');
      return 0;
    }
    default:
      throw new UsageError(RAFT_USAGE);
  }
}

/**
 * Each server's last index from autopilot's health (429 still carries it). Consul's list-peers
 * fails without it; here the two columns show "_" instead, so the command still works on a
 * cluster without a leader (-stale), which is when it is needed most.
 */
async function healthIndexes(client: ReturnType<typeof clientFrom>): Promise<Map<string, number> | null> {
  try {
    const r = await client.request('GET', '/v1/operator/autopilot/health');
    if (r.status !== 200 && r.status !== 429) return null;
    const h = JSON.parse(r.body.toString('utf8')) as { Servers: { ID: string; LastIndex: number }[] };
    return new Map(h.Servers.map((s) => [s.ID, s.LastIndex]));
  } catch {
    return null;
  }
}

/** Consul's list-peers table, with its Commit Index and Trails Leader By columns. */
export function formatPeers(servers: RaftServer[], lastIndex: Map<string, number> | null): string {
  const leader = servers.find((s) => s.Leader);
  const leaderIndex = (leader && lastIndex?.get(leader.ID)) ?? 0;
  const rows = [
    ['Node', 'ID', 'Address', 'State', 'Voter', 'RaftProtocol', 'Commit Index', 'Trails Leader By'],
  ];
  for (const s of servers) {
    const index = lastIndex?.get(s.ID);
    // Consul's text: "-" for the leader (and here, when autopilot's health cannot be had),
    // else "N commits" ("1 commit").
    let trails = '-';
    if (index !== undefined && !s.Leader) {
      const behind = Math.max(0, leaderIndex - index);
      trails = `${behind} ${behind === 1 ? 'commit' : 'commits'}`;
    }
    rows.push([
      s.Node,
      s.ID,
      s.Address,
      s.Leader ? 'leader' : 'follower',
      String(s.Voter),
      s.ProtocolVersion || '<=1',
      index === undefined ? '-' : String(index),
      trails,
    ]);
  }
  return table(rows);
}

function noArgs(p: Parsed): Parsed {
  if (p.args.length > 0) throw new UsageError(`Too many arguments (expected 0, got ${p.args.length})`);
  return p;
}

/** Consul's get-config lines (strings quoted as Go's %q). */
export function formatAutopilotConfig(c: AutopilotConfigJson): string {
  return (
    [
      `CleanupDeadServers = ${c.CleanupDeadServers}`,
      `LastContactThreshold = ${c.LastContactThreshold}`,
      `MaxTrailingLogs = ${c.MaxTrailingLogs}`,
      `MinQuorum = ${c.MinQuorum}`,
      `ServerStabilizationTime = ${c.ServerStabilizationTime}`,
      `RedundancyZoneTag = ${JSON.stringify(c.RedundancyZoneTag)}`,
      `DisableUpgradeMigration = ${c.DisableUpgradeMigration}`,
      `UpgradeVersionTag = ${JSON.stringify(c.UpgradeVersionTag)}`,
    ].join('\n') + '\n'
  );
}

interface StateServer {
  ID: string;
  Name: string;
  Address: string;
  NodeStatus: string;
  Version: string;
  LastContact: string;
  LastTerm: number;
  LastIndex: number;
  Healthy: boolean;
  Status: string;
  NodeType: string;
  Meta: Record<string, string> | null;
}

export interface AutopilotStateJson {
  Healthy: boolean;
  FailureTolerance: number;
  OptimisticFailureTolerance: number;
  Servers: Record<string, StateServer>;
  Leader: string;
  Voters: string[];
}

/** Consul's pretty form of `operator autopilot state`: the summary, voters, then servers by ID. */
export function formatAutopilotState(s: AutopilotStateJson): string {
  const out: string[] = [
    `Healthy:                      ${s.Healthy}`,
    `Failure Tolerance:            ${s.FailureTolerance}`,
    `Optimistic Failure Tolerance: ${s.OptimisticFailureTolerance}`,
    `Leader:                       ${s.Leader}`,
    'Voters:',
    ...s.Voters.map((id) => `   ${id}`),
    'Servers:',
  ];
  for (const id of Object.keys(s.Servers).sort()) {
    const v = s.Servers[id] as StateServer;
    const field = (k: string, x: string | number | boolean): string => `      ${`${k}:`.padEnd(17)}${x}`;
    out.push(
      `   ${id}`,
      field('Name', v.Name),
      field('Address', v.Address),
      field('Version', v.Version),
      field('Status', v.Status),
      field('Node Type', v.NodeType),
      field('Node Status', v.NodeStatus),
      field('Healthy', v.Healthy),
      field('Last Contact', v.LastContact),
      field('Last Term', v.LastTerm),
      field('Last Index', v.LastIndex),
    );
    const meta = Object.keys(v.Meta ?? {}).sort();
    if (meta.length > 0) {
      out.push('      Meta');
      for (const k of meta) out.push(`         ${JSON.stringify(k)}: ${JSON.stringify(v.Meta?.[k])}`);
    }
  }
  return out.join('\n') + '\n';
}

const SET_FLAGS = {
  'cleanup-dead-servers': 'bool',
  'max-trailing-logs': 'value',
  'min-quorum': 'value',
  'last-contact-threshold': 'value',
  'server-stabilization-time': 'value',
  'redundancy-zone-tag': 'value',
  'disable-upgrade-migration': 'bool',
  'upgrade-version-tag': 'value',
} as const;

/** The configuration with the flags given on the command line applied (the rest unchanged). */
export function mergeAutopilotFlags(c: AutopilotConfigJson, p: Parsed): AutopilotConfigJson {
  const out = { ...c };
  const given = (f: string): boolean => p.flags.has(f);
  const uint = (f: string): number => {
    const v = flagString(p, f) as string;
    if (!/^\d+$/.test(v))
      throw new UsageError(`invalid value "${v}" for flag -${f}: expected a non-negative integer`);
    return Number(v);
  };
  const duration = (f: string): string => {
    const v = flagString(p, f) as string;
    const ms = parseDuration(v);
    if (ms === undefined || ms < 0)
      throw new UsageError(`invalid value "${v}" for flag -${f}: expected a duration such as 10s`);
    return formatDuration(ms);
  };
  if (given('cleanup-dead-servers')) out.CleanupDeadServers = flagBool(p, 'cleanup-dead-servers');
  if (given('max-trailing-logs')) out.MaxTrailingLogs = uint('max-trailing-logs');
  if (given('min-quorum')) out.MinQuorum = uint('min-quorum');
  if (given('last-contact-threshold')) out.LastContactThreshold = duration('last-contact-threshold');
  if (given('server-stabilization-time')) out.ServerStabilizationTime = duration('server-stabilization-time');
  if (given('redundancy-zone-tag')) out.RedundancyZoneTag = flagString(p, 'redundancy-zone-tag') as string;
  if (given('disable-upgrade-migration'))
    out.DisableUpgradeMigration = flagBool(p, 'disable-upgrade-migration');
  if (given('upgrade-version-tag')) out.UpgradeVersionTag = flagString(p, 'upgrade-version-tag') as string;
  return out;
}

async function autopilotCommand(sub: string | undefined, rest: string[], io: Io): Promise<number> {
  switch (sub) {
    case 'get-config': {
      const p = noArgs(parseArgs(rest, {}));
      const c = await clientFrom(p, io)
        .json<AutopilotConfigJson>('GET', '/v1/operator/autopilot/configuration')
        .catch(wrap('Error querying Autopilot configuration'));
      io.out(formatAutopilotConfig(c));
      return 0;
    }
    case 'set-config': {
      const p = noArgs(parseArgs(rest, SET_FLAGS));
      const client = clientFrom(p, io);
      const current = await client
        .json<AutopilotConfigJson>('GET', '/v1/operator/autopilot/configuration')
        .catch(wrap('Error querying Autopilot configuration'));
      const next = mergeAutopilotFlags(current, p);
      // Check-and-set against what was read, so a concurrent change is not overwritten.
      const ok = await client
        .json<boolean>('PUT', '/v1/operator/autopilot/configuration', {
          query: { cas: current.ModifyIndex },
          body: JSON.stringify(next),
        })
        .catch(wrap('Error setting Autopilot configuration'));
      if (ok) {
        io.out('Configuration updated!\n');
        return 0;
      }
      io.out('Configuration could not be atomically updated, please try again\n');
      return 1;
    }
    case 'state': {
      const p = noArgs(parseArgs(rest, { format: 'value' }));
      const format = flagString(p, 'format') ?? 'pretty';
      if (format !== 'pretty' && format !== 'json')
        throw new UsageError(`Invalid format "${format}": must be one of pretty, json`);
      const s = await clientFrom(p, io)
        .json<AutopilotStateJson>('GET', '/v1/operator/autopilot/state')
        .catch(wrap('Error querying Autopilot state'));
      io.out(format === 'json' ? JSON.stringify(s, null, 3) + '\n' : formatAutopilotState(s));
      return 0;
    }
    default:
      throw new UsageError(AUTOPILOT_USAGE);
  }
}

const wrap =
  (what: string) =>
  (err: unknown): never => {
    throw new CommandError(`${what}: ${(err as Error).message}`);
  };
