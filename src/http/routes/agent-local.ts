// /v1/agent/service*, /v1/agent/check*, /v1/agent/health/service/*, /v1/agent/maintenance: this
// agent's own services and checks (agent/local), in Consul's shapes and status codes. These act on
// the agent alone; anti-entropy carries the changes to the catalog. With ACLs on, every route is
// `guarded` in the route table and checks here what Consul's vet* functions check: service:write
// on the service a registration or check names (its existing one too), node:write for node-level
// checks and maintenance, and reads filtered by service:read / node:read.

import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { badRequest, notFound } from '../../core/errors.js';
import { formatDuration } from '../../core/duration.js';
import { aggregatedStatus, healthHttpStatus, type AggregatedStatus } from '../../agent/local/state.js';
import type { LocalCheck, LocalService } from '../../agent/local/types.js';
import { parseServiceDefinition } from '../../agent/local/definitions.js';
import { parseCheckDefinition } from '../../agent/checks/definition.js';
import type { HttpDeps } from '../app.js';
import { mayRead, need } from '../local-acl.js';
import { readJson } from '../body.js';
import { filterParam } from '../query.js';
import { bodyOf, pathParam, urlOf } from '../request.js';
import { json } from '../respond.js';

/** The same cap as the catalog's register body. */
const MAX_BODY = 512 * 1024;

const ok = (): Response => new Response(null, { status: 200 });

// ---------------------------------------------------------------- shapes

/** Consul's AgentService (api.AgentService) for a local service. */
export function agentServiceJson(s: LocalService, dc: string): Record<string, unknown> {
  return {
    ...(s.Kind ? { Kind: s.Kind } : {}),
    ID: s.ID,
    Service: s.Service,
    Tags: s.Tags,
    Meta: s.Meta,
    Port: s.Port,
    Address: s.Address,
    ...(Object.keys(s.TaggedAddresses).length > 0 ? { TaggedAddresses: s.TaggedAddresses } : {}),
    Weights: s.Weights,
    EnableTagOverride: s.EnableTagOverride,
    Datacenter: dc,
  };
}

/** Consul's HealthCheck as the agent shows its own checks (no Raft indexes: they are local). */
export function agentCheckJson(c: LocalCheck, node: string): Record<string, unknown> {
  const d = c.Definition;
  const dur = (k: string): string => {
    const v = d[k];
    return typeof v === 'string' ? v : typeof v === 'number' && v > 0 ? formatDuration(v) : '';
  };
  return {
    Node: node,
    CheckID: c.CheckID,
    Name: c.Name,
    Status: c.Status,
    Notes: c.Notes,
    Output: c.Output,
    ServiceID: c.ServiceID,
    ServiceName: c.ServiceName,
    ServiceTags: c.ServiceTags,
    Type: c.Type,
    Interval: dur('Interval'),
    Timeout: dur('Timeout'),
    ExposedPort: 0,
    Definition: c.Definition,
    CreateIndex: 0,
    ModifyIndex: 0,
  };
}

// ---------------------------------------------------------------- services

/** A list without what the token may not read, marked as Consul marks it when anything went. */
function filteredJson<T>(
  c: Context,
  all: T[],
  visible: (t: T) => boolean,
  entry: (t: T) => [string, unknown],
) {
  const f = filterParam(urlOf(c));
  const kept = all.filter(visible);
  // ?filter= sees each entry as the answer shows it (Consul filters the map's values).
  const entries = kept.map(entry).filter(([, v]) => !f || f.keep(v));
  // fromEntries defines own properties, so even an ID such as "__proto__" is listed as itself.
  const r = json(c, Object.fromEntries(entries));
  if (kept.length !== all.length) r.headers.set('X-Consul-Results-Filtered-By-ACLs', 'true');
  return r;
}

export function agentServices(c: Context, d: HttpDeps): Response {
  const dc = d.agent.config.datacenter;
  return filteredJson(
    c,
    d.agent.local.state.services(),
    (s) => mayRead(c, 'service', s.Service),
    (s) => [s.ID, agentServiceJson(s, dc)],
  );
}

export function agentService(c: Context, d: HttpDeps): Response {
  const id = pathParam(c, 'id', 'Missing service ID');
  const s = d.agent.local.state.service(id);
  if (!s) throw notFound(`unknown service ID: ${id}`);
  need(c, 'service', s.Service, 'read');
  const body = agentServiceJson(s, d.agent.config.datacenter);
  // Consul's ContentHash: changes whenever the service does (hash-based blocking uses it).
  const hash = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16);
  const r = json(c, { ...body, ContentHash: hash });
  r.headers.set('X-Consul-ContentHash', hash);
  return r;
}

export async function agentServiceRegister(c: Context, d: HttpDeps): Promise<Response> {
  const raw = readJson(await bodyOf(c, MAX_BODY));
  const { service } = parseServiceDefinition(raw);
  need(c, 'service', service.Service, 'write');
  // Replacing a service of another name needs write on that one too (Consul's vetServiceRegister).
  const existing = d.agent.local.state.service(service.ID);
  if (existing) need(c, 'service', existing.Service, 'write');
  const url = urlOf(c);
  // Consul: ?replace-existing-checks, =true or empty.
  const v = url.searchParams.get('replace-existing-checks');
  d.agent.local.registerService(raw, v !== null && (v === '' || v === 'true'));
  return ok();
}

/** service:write on a local service by ID; an unknown ID is left to the operation's own 404. */
function needServiceWrite(c: Context, d: HttpDeps, id: string): void {
  const s = d.agent.local.state.service(id);
  if (s) need(c, 'service', s.Service, 'write');
}

/** A check's permission: service:write on its service, node:write for a node-level check. */
function needCheckWrite(c: Context, d: HttpDeps, serviceId: string): void {
  if (serviceId === '') need(c, 'node', d.agent.config.nodeName, 'write');
  else needServiceWrite(c, d, serviceId);
}

function needExistingCheckWrite(c: Context, d: HttpDeps, checkId: string): void {
  const e = d.agent.local.state.check(checkId);
  if (e) needCheckWrite(c, d, e.check.ServiceID);
}

export function agentServiceDeregister(c: Context, d: HttpDeps): Response {
  needServiceWrite(c, d, pathParam(c, 'id', 'Missing service ID'));
  d.agent.local.deregisterService(pathParam(c, 'id', 'Missing service ID'));
  return ok();
}

export function agentServiceMaintenance(c: Context, d: HttpDeps): Response {
  const id = pathParam(c, 'id', 'Missing service ID');
  needServiceWrite(c, d, id);
  const enable = enableParam(urlOf(c));
  d.agent.local.serviceMaintenance(id, enable, urlOf(c).searchParams.get('reason') ?? '');
  return ok();
}

export function agentNodeMaintenance(c: Context, d: HttpDeps): Response {
  need(c, 'node', d.agent.config.nodeName, 'write');
  const enable = enableParam(urlOf(c));
  d.agent.local.nodeMaintenance(enable, urlOf(c).searchParams.get('reason') ?? '');
  return ok();
}

/** Go's strconv.ParseBool, with Consul's messages. */
function enableParam(url: URL): boolean {
  const raw = url.searchParams.get('enable');
  if (raw === null) throw badRequest('Missing value for enable');
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  throw badRequest(`Invalid value for enable: "${raw}"`);
}

// ---------------------------------------------------------------- health of local services

function isText(c: Context): boolean {
  return urlOf(c).searchParams.get('format') === 'text';
}

/** Consul writes the status (or the not-found reason) as the whole body, without a newline. */
function plain(status: number, body: string): Response {
  return new Response(body, { status, headers: { 'Content-Type': 'text/plain' } });
}

function serviceHealth(
  d: HttpDeps,
  s: LocalService,
): { status: AggregatedStatus; body: Record<string, unknown> } {
  const node = d.agent.config.nodeName;
  const checks = d.agent.local.state.checksForService(s.ID);
  const status = aggregatedStatus(checks);
  return {
    status,
    body: {
      AggregatedStatus: status,
      Service: agentServiceJson(s, d.agent.config.datacenter),
      Checks: checks.map((ch) => agentCheckJson(ch, node)),
    },
  };
}

export function agentHealthServiceById(c: Context, d: HttpDeps): Response {
  const id = pathParam(c, 'id', 'Missing serviceID');
  const s = d.agent.local.state.service(id);
  if (!s) {
    const reason = `ServiceId ${id} not found`;
    if (isText(c)) return plain(404, reason);
    return json(c, { AggregatedStatus: 'critical', Service: null, Checks: null }, { status: 404 });
  }
  need(c, 'service', s.Service, 'read');
  const h = serviceHealth(d, s);
  const code = healthHttpStatus(h.status);
  return isText(c) ? plain(code, h.status) : json(c, h.body, { status: code });
}

export function agentHealthServiceByName(c: Context, d: HttpDeps): Response {
  const name = pathParam(c, 'name', 'Missing service Name');
  need(c, 'service', name, 'read');
  let code = 404;
  let status: string = `ServiceName ${name} Not Found`;
  const out: Record<string, unknown>[] = [];
  for (const s of d.agent.local.state.servicesByName(name)) {
    const h = serviceHealth(d, s);
    out.push(h.body);
    // The worst of them: passing 200 < warning 429 < critical 503.
    const sc = healthHttpStatus(h.status);
    if (code === 404 || sc > code) {
      code = sc;
      status = h.status;
    }
  }
  return isText(c) ? plain(code, status) : json(c, out, { status: code });
}

// ---------------------------------------------------------------- checks

export function agentChecks(c: Context, d: HttpDeps): Response {
  const node = d.agent.config.nodeName;
  return filteredJson(
    c,
    d.agent.local.state.checks(),
    (ch) => (ch.ServiceID === '' ? mayRead(c, 'node', node) : mayRead(c, 'service', ch.ServiceName)),
    (ch) => [ch.CheckID, agentCheckJson(ch, node)],
  );
}

export async function agentCheckRegister(c: Context, d: HttpDeps): Promise<Response> {
  const raw = readJson(await bodyOf(c, MAX_BODY));
  const def = parseCheckDefinition(raw);
  needCheckWrite(c, d, def.ServiceID);
  needExistingCheckWrite(c, d, def.CheckID);
  d.agent.local.registerCheck(raw);
  return ok();
}

export function agentCheckDeregister(c: Context, d: HttpDeps): Response {
  needExistingCheckWrite(c, d, pathParam(c, 'id', 'Missing check ID'));
  d.agent.local.deregisterCheck(pathParam(c, 'id', 'Missing check ID'));
  return ok();
}

const ttlVerb =
  (status: 'passing' | 'warning' | 'critical') =>
  (c: Context, d: HttpDeps): Response => {
    needExistingCheckWrite(c, d, pathParam(c, 'id', 'Missing check ID'));
    d.agent.local.updateTtl(
      pathParam(c, 'id', 'Missing check ID'),
      status,
      urlOf(c).searchParams.get('note') ?? '',
    );
    return ok();
  };

export const agentCheckPass = ttlVerb('passing');
export const agentCheckWarn = ttlVerb('warning');
export const agentCheckFail = ttlVerb('critical');

export async function agentCheckUpdate(c: Context, d: HttpDeps): Promise<Response> {
  const id = pathParam(c, 'id', 'Missing check ID');
  needExistingCheckWrite(c, d, id);
  const body = readJson(await bodyOf(c, MAX_BODY));
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('Request decode failed: the body must be a JSON object');
  }
  // Go's JSON decoding matches field names case-insensitively.
  let status: unknown = '';
  let output: unknown = '';
  for (const [k, v] of Object.entries(body)) {
    if (k.toLowerCase() === 'status') status = v;
    else if (k.toLowerCase() === 'output') output = v;
  }
  if (typeof output !== 'string') throw badRequest('Request decode failed: Output must be a string');
  if (status !== 'passing' && status !== 'warning' && status !== 'critical') {
    throw badRequest(
      `Invalid check status: '${typeof status === 'string' ? status : JSON.stringify(status)}'`,
    );
  }
  d.agent.local.updateTtl(id, status, output);
  return ok();
}
