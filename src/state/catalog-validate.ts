// Validation and defaults for the catalog's register and deregister bodies, with Consul's messages
// (agent/consul/catalog_endpoint.go, agent/structs). Field names match case-insensitively and with
// or without underscores, as Go's JSON decoding and Consul's key translation accept them.
//
// validateRegister is the RPC layer's gate (every policy check); normalizeRegister is what the FSM
// applies to a command (shapes and defaults only, so an old log entry replays the same way even if
// the policy changes).

import { badRequest } from '../core/errors.js';
import { fieldReader, view, type Obj } from '../core/json-fields.js';
import type {
  CheckRecord,
  CheckStatus,
  DeregisterRequest,
  NormalRegister,
  RegisterRequest,
  ServiceAddress,
  ServiceRecord,
  Weights,
} from './types.js';

const { str, int: num, bool, strMap, strList } = fieldReader('');

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
    if ((meta[k] as string).length > 512) {
      throw badRequest(`${what}: value for key "${k}" is too long (limit: 512 characters)`);
    }
  }
}

const STATUSES = new Set<string>(['passing', 'warning', 'critical', 'maintenance']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Consul refuses a service address that means "any interface" (ipaddr.IsAny). */
const ANY_ADDRESS = new Set(['0.0.0.0', '::', '[::]']);

function checkPort(p: number, what: string): void {
  if (p < 0 || p > 65535) throw badRequest(`${what} must be an integer from 0 to 65535`);
}

/**
 * Consul's ToServiceNode: weights that are missing or invalid (Passing < 1, Warning < 0, either
 * above 65535) become the default {Passing: 1, Warning: 1}.
 */
function weights(v: unknown): Weights {
  const w = view(v, 'Service.Weights');
  const passing = w['passing'];
  const warning = w['warning'];
  if (
    v !== undefined &&
    v !== null &&
    Number.isInteger(passing) &&
    Number.isInteger(warning) &&
    (passing as number) >= 1 &&
    (passing as number) <= 65535 &&
    (warning as number) >= 0 &&
    (warning as number) <= 65535
  ) {
    return { Passing: passing as number, Warning: warning as number };
  }
  return { Passing: 1, Warning: 1 };
}

function parseService(v: unknown, strict: boolean): ServiceRecord {
  const o = view(v, 'Service');
  const name = str(o, 'service', 'Service.Service');
  const id = str(o, 'id', 'Service.ID');
  if (name === '') {
    throw badRequest(id ? 'Must provide service name with ID' : 'Must provide service name');
  }
  const tagged: Record<string, ServiceAddress> = {};
  for (const [k, val] of Object.entries(view(o['taggedaddresses'], 'Service.TaggedAddresses'))) {
    const a = view(val, `Service.TaggedAddresses.${k}`);
    const port = num(a, 'port', `Service.TaggedAddresses.${k}.Port`);
    if (strict) checkPort(port, `Service.TaggedAddresses.${k}.Port`);
    tagged[k] = { Address: str(a, 'address', `Service.TaggedAddresses.${k}.Address`), Port: port };
  }
  const meta = strMap(o['meta'], 'Service.Meta');
  const port = num(o, 'port', 'Service.Port');
  const address = str(o, 'address', 'Service.Address');
  if (strict) {
    validateMeta(meta, 'Service.Meta');
    checkPort(port, 'Service.Port');
    if (ANY_ADDRESS.has(address)) throw badRequest('Invalid service address');
  }
  const s: ServiceRecord = {
    ID: id || name,
    Service: name,
    Tags: strList(o['tags'], 'Service.Tags'),
    Address: address,
    TaggedAddresses: tagged,
    Meta: meta,
    Port: port,
    Weights: weights(o['weights']),
    EnableTagOverride: bool(o, 'enabletagoverride', 'Service.EnableTagOverride'),
  };
  const kind = str(o, 'kind', 'Service.Kind');
  if (kind) s.Kind = kind;
  return s;
}

/** Consul's HealthCheck.CheckType().Type() for a catalog check: from its definition. */
function checkType(def: Obj): string {
  const has = (k: string): boolean => typeof def[k] === 'string' && def[k] !== '';
  if (has('http')) return 'http';
  if (has('tcp')) return 'tcp';
  if (has('udp')) return 'udp';
  if (has('grpc')) return 'grpc';
  if (has('h2ping')) return 'h2ping';
  if (has('osservice')) return 'os_service';
  return '';
}

function parseCheck(v: unknown, node: string, i: number): CheckRecord {
  const what = i < 0 ? 'Check' : `Checks[${i}]`;
  const o = view(v, what);
  const name = str(o, 'name', `${what}.Name`);
  // checkPreApply: the ID defaults to the name.
  const id = str(o, 'checkid', `${what}.CheckID`) || name;
  if (id === '') throw badRequest('Must provide a check name (Check.Name) or ID (Check.CheckID)');
  const status = str(o, 'status', `${what}.Status`) || 'critical';
  if (!STATUSES.has(status)) {
    throw badRequest(
      `${what}.Status must be one of passing, warning, critical, maintenance (got "${status}")`,
    );
  }
  const defRaw = o['definition'];
  const def = view(defRaw, `${what}.Definition`);
  return {
    Node: str(o, 'node', `${what}.Node`) || node,
    CheckID: id,
    Name: name,
    Status: status as CheckStatus,
    Notes: str(o, 'notes', `${what}.Notes`),
    Output: str(o, 'output', `${what}.Output`),
    ServiceID: str(o, 'serviceid', `${what}.ServiceID`),
    Type: str(o, 'type', `${what}.Type`) || checkType(def),
    Definition: defRaw === undefined || defRaw === null ? {} : { ...(defRaw as Record<string, unknown>) },
  };
}

function parseRegister(body: unknown, strict: boolean): NormalRegister {
  const o = view(body, 'Request body');
  const node = str(o, 'node', 'Node');
  if (node === '') throw badRequest('Must provide node');
  const skip = bool(o, 'skipnodeupdate', 'SkipNodeUpdate');
  const address = str(o, 'address', 'Address');
  const id = str(o, 'id', 'ID');
  const nodeMeta = strMap(o['nodemeta'], 'NodeMeta');
  if (strict) {
    if (address === '' && !skip) throw badRequest('Must provide address if SkipNodeUpdate is not set');
    if (id !== '' && !UUID.test(id)) {
      throw badRequest(
        `Bad node ID: ${id.length !== 36 ? 'uuid string is wrong length' : 'uuid is improperly formatted'}`,
      );
    }
    validateMeta(nodeMeta, 'NodeMeta');
  }
  // Consul moves the single Check into Checks, and every check's Node defaults to the request's.
  const checks: CheckRecord[] = [];
  if (o['check'] !== undefined && o['check'] !== null) checks.push(parseCheck(o['check'], node, -1));
  if (o['checks'] !== undefined && o['checks'] !== null) {
    if (!Array.isArray(o['checks'])) throw badRequest('Checks must be a list');
    o['checks'].forEach((c, i) => checks.push(parseCheck(c, node, i)));
  }
  for (const c of checks) {
    if (c.Node.toLowerCase() !== node.toLowerCase()) {
      throw badRequest(`check node "${c.Node}" does not match node "${node}"`);
    }
  }
  return {
    ID: id,
    Node: node,
    Address: address,
    Datacenter: str(o, 'datacenter', 'Datacenter'),
    TaggedAddresses: strMap(o['taggedaddresses'], 'TaggedAddresses'),
    NodeMeta: nodeMeta,
    Service: o['service'] === undefined || o['service'] === null ? null : parseService(o['service'], strict),
    Checks: checks,
    SkipNodeUpdate: skip,
  };
}

/**
 * A register body (any JSON) checked with Consul's rules and with every default filled: service ID
 * = service name, Tags [], Weights {1,1}, check ID = check name, check Status critical, check Node =
 * the request's node, check Type from its definition. Throws BadRequest with Consul's message.
 */
export function validateRegister(body: unknown): NormalRegister {
  return parseRegister(body, true);
}

/** The defaults of validateRegister without its policy checks (what the FSM applies). */
export function normalizeRegister(req: RegisterRequest): NormalRegister {
  return parseRegister(req, false);
}

export function validateDeregister(
  body: unknown,
): DeregisterRequest & { ServiceID: string; CheckID: string } {
  const o = view(body, 'Request body');
  const node = str(o, 'node', 'Node');
  if (node === '') throw badRequest('Must provide node');
  // Consul takes ServiceID over CheckID when both are given; neither means the whole node.
  return { Node: node, ServiceID: str(o, 'serviceid', 'ServiceID'), CheckID: str(o, 'checkid', 'CheckID') };
}
