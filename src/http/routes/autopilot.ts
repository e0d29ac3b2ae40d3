// /v1/operator/autopilot/* and /v1/operator/raft/transfer-leader: autopilot's configuration (kept in
// Raft), the leader's view of every server's health, and a leadership transfer. Shapes and status
// codes as Consul's agent/operator_endpoint.go (health answers 429 when a server is unhealthy).

import type { Context } from 'hono';
import { badRequest } from '../../core/errors.js';
import { parseDuration } from '../../core/duration.js';
import type { AutopilotConfig } from '../../state/autopilot.js';
import type { QueryResult } from '../../rpc/endpoints/types.js';
import type { HttpDeps } from '../app.js';
import { readJson } from '../body.js';
import { callEndpoint } from '../endpoint.js';
import { parseQueryOptions, uintParam } from '../query.js';
import { bodyOf, signalOf, urlOf } from '../request.js';
import { json } from '../respond.js';

export async function autopilotGetConfiguration(c: Context, d: HttpDeps): Promise<Response> {
  const q = parseQueryOptions(urlOf(c));
  const r = (await callEndpoint(
    c,
    d,
    'Operator.AutopilotGetConfiguration',
    { q: { ...q, minIndex: 0 } },
    signalOf(c, false),
  )) as QueryResult<unknown>;
  return json(c, r.value, { meta: r.meta });
}

/**
 * Consul decodes the body into its struct: a field left out is its zero value (the CLI reads the
 * configuration first and sends it whole). Durations are Go durations, or nanoseconds as numbers.
 */
export function parseAutopilotBody(body: unknown): AutopilotConfig {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw badRequest('Error parsing autopilot config: the body must be a JSON object');
  const o = body as Record<string, unknown>;
  const bool = (k: string): boolean => {
    const v = o[k] ?? false;
    if (typeof v !== 'boolean') throw badRequest(`Error parsing autopilot config: ${k} must be a boolean`);
    return v;
  };
  const uint = (k: string): number => {
    const v = o[k] ?? 0;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      throw badRequest(`Error parsing autopilot config: ${k} must be a non-negative integer`);
    return v;
  };
  const str = (k: string): string => {
    const v = o[k] ?? '';
    if (typeof v !== 'string') throw badRequest(`Error parsing autopilot config: ${k} must be a string`);
    return v;
  };
  const duration = (k: string): number => {
    const v = o[k] ?? 0;
    const ms = typeof v === 'number' ? v / 1e6 : typeof v === 'string' ? parseDuration(v) : undefined;
    if (ms === undefined || !Number.isFinite(ms) || ms < 0)
      throw badRequest(`Error parsing autopilot config: ${k} must be a duration such as "10s"`);
    return Math.round(ms);
  };
  return {
    CleanupDeadServers: bool('CleanupDeadServers'),
    LastContactThresholdMs: duration('LastContactThreshold'),
    MaxTrailingLogs: uint('MaxTrailingLogs'),
    MinQuorum: uint('MinQuorum'),
    ServerStabilizationTimeMs: duration('ServerStabilizationTime'),
    RedundancyZoneTag: str('RedundancyZoneTag'),
    DisableUpgradeMigration: bool('DisableUpgradeMigration'),
    UpgradeVersionTag: str('UpgradeVersionTag'),
  };
}

export async function autopilotSetConfiguration(c: Context, d: HttpDeps): Promise<Response> {
  const url = urlOf(c);
  const cas = url.searchParams.has('cas') ? (uintParam(url, 'cas', 'cas value') ?? null) : null;
  if (url.searchParams.has('cas') && cas === null) throw badRequest('Error parsing cas value: empty');
  const config = parseAutopilotBody(await readJson(await bodyOf(c, 64 * 1024)));
  const ok = await callEndpoint(
    c,
    d,
    'Operator.AutopilotSetConfiguration',
    { config, cas },
    signalOf(c, false),
  );
  // Without ?cas Consul answers true whatever happened.
  return json(c, cas === null ? true : ok === true);
}

async function leaderQuery(
  c: Context,
  d: HttpDeps,
  method: 'Operator.ServerHealth' | 'Operator.AutopilotState',
): Promise<QueryResult<{ Healthy: boolean }>> {
  parseQueryOptions(urlOf(c)); // the usual parameters are checked, but the leader always answers
  return (await callEndpoint(
    c,
    d,
    method,
    { q: { minIndex: 0, stale: false, consistent: false } },
    signalOf(c, false),
  )) as QueryResult<{ Healthy: boolean }>;
}

export async function autopilotHealth(c: Context, d: HttpDeps): Promise<Response> {
  const r = await leaderQuery(c, d, 'Operator.ServerHealth');
  return json(c, r.value, { status: r.value.Healthy ? 200 : 429 });
}

export async function autopilotState(c: Context, d: HttpDeps): Promise<Response> {
  const r = await leaderQuery(c, d, 'Operator.AutopilotState');
  return json(c, r.value);
}

export async function raftTransferLeader(c: Context, d: HttpDeps): Promise<Response> {
  const id = urlOf(c).searchParams.get('id') ?? '';
  const r = (await callEndpoint(c, d, 'Operator.RaftTransferLeader', { id }, signalOf(c, false))) as {
    Success: boolean;
  };
  return json(c, { Success: r.Success });
}
