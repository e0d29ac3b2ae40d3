// Validation and defaults for the catalog's register and deregister bodies, with Consul's messages.
// Field names match case-insensitively, as Go's JSON decoding does, so "node" works like "Node".

import { badRequest } from '../core/errors.js';
import type {
  CheckInput,
  CheckStatus,
  DeregisterRequest,
  RegisterRequest,
  ServiceAddress,
  ServiceInput,
} from './types.js';

type Obj = Record<string, unknown>;

/** A case-insensitive view of a JSON object. */
function view(v: unknown, what: string): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest(`${what} must be an object`);
  const out: Obj = {};
  for (const [k, val] of Object.entries(v)) out[k.toLowerCase().replace(/_/g, '')] = val;
  return out;
}

function str(o: Obj, key: string, what: string): string {
  const v = o[key.toLowerCase()];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw badRequest(`${what} must be a string`);
  return v;
}

function int(o: Obj, key: string, what: string, min: number, max: number): number {
  const v = o[key.toLowerCase()];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw badRequest(`${what} must be an integer from ${min} to ${max}`);
  return v;
}

function bool(o: Obj, key: string): boolean {
  return o[key.toLowerCase()] === true;
}

function strMap(v: unknown, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest(`${what} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw badRequest(`${what}.${k} must be a string`);
    out[k] = val;
  }
  return out;
}

function strList(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw badRequest(`${what} must be a list of strings`);
  return v;
}

const META_KEY = /^[a-zA-Z0-9_-]+$/;

/** Consul's metadata limits (agent/structs: 64 pairs, keys ≤128 chars, values ≤512, no consul- prefix). */
export function validateMeta(meta: Record<string, string>, what: string): void {
  const keys = Object.keys(meta);
  if (keys.length > 64) throw badRequest(`${what}: metadata cannot contain more than 64 key/value pairs`);
  for (const k of keys) {
    if (k === '') throw badRequest(`${what}: key cannot be blank`);
    if (k.length > 128) throw badRequest(`${what}: key is too long (limit: 128 characters)`);
    if (!META_KEY.test(k)) throw badRequest(`${what}: key "${k}" contains invalid characters`);
    if (k.startsWith('consul-')) throw badRequest(`${what}: key "${k}" uses the reserved prefix "consul-"`);
    if ((meta[k] as string).length > 512)
      throw badRequest(`${what}: value for key "${k}" is too long (limit: 512 characters)`);
  }
}

const STATUSES = new Set<CheckStatus>(['passing', 'warning', 'critical', 'maintenance']);

function parseService(v: unknown): ServiceInput {
  const o = view(v, 'Service');
  const name = str(o, 'service', 'Service.Service');
  if (name === '') throw badRequest('Must provide service name (Service.Service)');
  const tagged: Record<string, ServiceAddress> = {};
  for (const [k, val] of Object.entries(view(o['taggedaddresses'], 'Service.TaggedAddresses'))) {
    const a = view(val, `Service.TaggedAddresses.${k}`);
    tagged[k] = { Address: str(a, 'address', 'Address'), Port: int(a, 'port', 'Port', 0, 65535) };
  }
  const w = view(o['weights'], 'Service.Weights');
  const meta = strMap(o['meta'], 'Service.Meta');
  validateMeta(meta, 'Service.Meta');
  const s: ServiceInput = {
    ID: str(o, 'id', 'Service.ID') || name,
    Service: name,
    Tags: strList(o['tags'], 'Service.Tags'),
    Address: str(o, 'address', 'Service.Address'),
    TaggedAddresses: tagged,
    Meta: meta,
    Port: int(o, 'port', 'Service.Port', 0, 65535),
    Weights: {
      Passing: o['weights'] ? int(w, 'passing', 'Weights.Passing', 1, 65535) || 1 : 1,
      Warning: o['weights'] ? int(w, 'warning', 'Weights.Warning', 0, 65535) : 1,
    },
    EnableTagOverride: bool(o, 'enabletagoverride'),
  };
  const kind = str(o, 'kind', 'Service.Kind');
  if (kind) s.Kind = kind;
  return s;
}

function parseCheck(v: unknown, node: string, i: number): CheckInput {
  const o = view(v, `Checks[${i}]`);
  const name = str(o, 'name', 'Check.Name');
  const id = str(o, 'checkid', 'Check.CheckID') || name;
  if (id === '') throw badRequest('Must provide a check name (Check.Name) or ID (Check.CheckID)');
  const cnode = str(o, 'node', 'Check.Node') || node;
  if (cnode !== node)
    throw badRequest(`Check "${id}" is for node "${cnode}", but the request registers node "${node}"`);
  const status = (str(o, 'status', 'Check.Status') || 'critical') as CheckStatus;
  if (!STATUSES.has(status)) throw badRequest(`Check "${id}": invalid status "${status}"`);
  const def = o['definition'];
  return {
    Node: node,
    CheckID: id,
    Name: name || id,
    Status: status,
    Notes: str(o, 'notes', 'Check.Notes'),
    Output: str(o, 'output', 'Check.Output'),
    ServiceID: str(o, 'serviceid', 'Check.ServiceID'),
    Type: str(o, 'type', 'Check.Type'),
    Definition: def && typeof def === 'object' && !Array.isArray(def) ? (def as Record<string, unknown>) : {},
  };
}

export function validateRegister(body: unknown): RegisterRequest {
  const o = view(body, 'Request body');
  const node = str(o, 'node', 'Node');
  if (node === '') throw badRequest('Must provide node');
  const skip = bool(o, 'skipnodeupdate');
  const address = str(o, 'address', 'Address');
  if (address === '' && !skip) throw badRequest('Must provide address if SkipNodeUpdate is not set');
  const id = str(o, 'id', 'ID');
  if (id && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) {
    throw badRequest(`Invalid node ID: "${id}" is not a UUID`);
  }
  const nodeMeta = strMap(o['nodemeta'], 'NodeMeta');
  validateMeta(nodeMeta, 'NodeMeta');
  const checks: CheckInput[] = [];
  if (o['check'] !== undefined && o['check'] !== null) checks.push(parseCheck(o['check'], node, 0));
  if (o['checks'] !== undefined && o['checks'] !== null) {
    if (!Array.isArray(o['checks'])) throw badRequest('Checks must be a list');
    o['checks'].forEach((c, i) => checks.push(parseCheck(c, node, i)));
  }
  const service = o['service'] === undefined || o['service'] === null ? null : parseService(o['service']);
  return {
    ID: id.toLowerCase(),
    Node: node,
    Address: address,
    TaggedAddresses: strMap(o['taggedaddresses'], 'TaggedAddresses'),
    NodeMeta: nodeMeta,
    Service: service,
    Checks: checks,
    SkipNodeUpdate: skip,
  };
}

export function validateDeregister(body: unknown): DeregisterRequest {
  const o = view(body, 'Request body');
  const node = str(o, 'node', 'Node');
  if (node === '') throw badRequest('Must provide node');
  const serviceId = str(o, 'serviceid', 'ServiceID');
  const checkId = str(o, 'checkid', 'CheckID');
  if (serviceId && checkId) throw badRequest('Must provide either ServiceID or CheckID, not both');
  return { Node: node, ServiceID: serviceId, CheckID: checkId };
}
