// Service definitions as Consul accepts them (PUT /v1/agent/service/register, the `service` and
// `services` config keys): PascalCase or snake_case keys, ID defaulting to Name, the single `Check`
// and the `Checks` list, with Consul's validation messages. Check bodies are parsed by the checks
// module (agent/checks/definition.ts); this module only adds what a service gives them (their
// service ID, default IDs and names).

import { badRequest } from '../../core/errors.js';
import { fieldReader, view, type Obj } from '../../core/json-fields.js';
import { validateMeta } from '../../state/catalog-validate.js';
import type { ServiceAddress, Weights } from '../../state/types.js';
import { parseCheckDefinition, type CheckDefinition } from '../checks/definition.js';
import type { LocalService } from './types.js';

const { str, int, strList, strMap } = fieldReader('Request decode failed: ');

/** Keys a service definition may carry that this agent accepts and does not use (yet). */
const IGNORED = new Set(['token', 'namespace', 'partition', 'connect', 'proxy', 'socketpath', 'locality']);
const KNOWN = new Set([
  'id',
  'name',
  'tags',
  'address',
  'taggedaddresses',
  'meta',
  'port',
  'kind',
  'enabletagoverride',
  'weights',
  'check',
  'checks',
]);

/** Consul refuses a service address that means "any interface" (ipaddr.IsAny). */
const ANY_ADDRESS = new Set(['0.0.0.0', '::', '[::]']);

function weights(v: unknown): Weights {
  if (v === undefined || v === null) return { Passing: 1, Warning: 1 };
  const w = view(v, 'Weights');
  const passing = int(w, 'passing', 'Weights.Passing');
  const warning = int(w, 'warning', 'Weights.Warning');
  // Consul's ValidateWeights, with its messages.
  if (passing < 1) throw badRequest('Invalid Weights: Passing must be greater than 0');
  if (warning < 0) throw badRequest('Invalid Weights: Warning must be greater or equal than 0');
  if (passing > 65535 || warning > 65535) throw badRequest('Invalid Weights: weights must be at most 65535');
  return { Passing: passing, Warning: warning };
}

function checkPort(port: number, what: string): void {
  if (port < 0 || port > 65535) throw badRequest(`Validation failed: ${what} must be from 0 to 65535`);
}

export interface ServiceDefinition {
  service: LocalService;
  checks: CheckDefinition[];
}

/**
 * One service definition. `strict` (config files) refuses unknown keys, as the config loader does
 * for everything else; the HTTP API ignores them as Go's JSON decoding does.
 */
export function parseServiceDefinition(raw: unknown, opts: { strict?: boolean } = {}): ServiceDefinition {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw badRequest('Request decode failed: the service definition must be a JSON object');
  }
  const o = view(raw, 'service');
  if (opts.strict) {
    for (const k of Object.keys(raw)) {
      const n = k.toLowerCase().replace(/_/g, '');
      if (!KNOWN.has(n) && !IGNORED.has(n)) throw badRequest(`unknown service definition key "${k}"`);
    }
  }
  const name = str(o, 'name', 'Name');
  if (name === '') throw badRequest('Missing service name');
  const address = str(o, 'address', 'Address');
  if (ANY_ADDRESS.has(address)) throw badRequest('Invalid service address');
  const meta = strMap(o['meta'], 'Meta');
  try {
    validateMeta(meta, 'Meta');
  } catch (err) {
    throw badRequest(`Invalid Service Meta: ${(err as Error).message.replace(/^Meta: /, '')}`);
  }
  const port = int(o, 'port', 'Port');
  checkPort(port, 'Port');
  const tagged: Record<string, ServiceAddress> = {};
  for (const [k, val] of Object.entries(view(o['taggedaddresses'], 'TaggedAddresses'))) {
    const a = view(val, `TaggedAddresses.${k}`);
    const p = int(a, 'port', `TaggedAddresses.${k}.Port`);
    checkPort(p, `TaggedAddresses.${k}.Port`);
    tagged[k] = { Address: str(a, 'address', `TaggedAddresses.${k}.Address`), Port: p };
  }
  const eto = o['enabletagoverride'];
  if (eto !== undefined && eto !== null && typeof eto !== 'boolean') {
    throw badRequest('Request decode failed: EnableTagOverride must be a boolean');
  }
  const service: LocalService = {
    ID: str(o, 'id', 'ID') || name,
    Service: name,
    Tags: strList(o['tags'], 'Tags'),
    Address: address,
    TaggedAddresses: tagged,
    Meta: meta,
    Port: port,
    Weights: weights(o['weights']),
    EnableTagOverride: eto === true,
  };
  const kind = str(o, 'kind', 'Kind');
  if (kind !== '') service.Kind = kind;
  return { service, checks: serviceChecks(o, service) };
}

/** Consul's CheckTypes(): `Check` first, then `Checks`, with their service's defaults. */
function serviceChecks(o: Obj, s: LocalService): CheckDefinition[] {
  const raws: unknown[] = [];
  if (o['check'] !== undefined && o['check'] !== null) raws.push(o['check']);
  const list = o['checks'];
  if (list !== undefined && list !== null) {
    if (!Array.isArray(list)) throw badRequest('Request decode failed: Checks must be a list');
    raws.push(...(list as unknown[]));
  }
  return raws.map((raw, i) =>
    // Consul numbers the default IDs of a service with more than one check (service:<id>:1, :2 ...).
    parseCheckDefinition(raw, {
      serviceId: s.ID,
      serviceName: s.Service,
      defaultCheckId: raws.length > 1 ? `service:${s.ID}:${i + 1}` : `service:${s.ID}`,
    }),
  );
}
