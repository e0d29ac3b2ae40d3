// A health check's definition as the agent holds it: parsed once from what a user gave (the HTTP
// API, a service definition or a config file), validated with Consul's messages, and turned back
// into JSON for HealthCheck.Definition and for the agent's persisted copy.
//
// Consul decodes these with Go's JSON (field names case-insensitive) after translating snake_case
// keys, so "TLSSkipVerify", "tls_skip_verify" and "tlsskipverify" are one field here too. Durations
// are Go duration strings or integers of nanoseconds, as in Consul.

import { badRequest } from '../../core/errors.js';
import { fieldReader, view, type Obj } from '../../core/json-fields.js';
import { formatDuration, parseDuration } from '../../core/duration.js';

export type CheckKind = 'http' | 'tcp' | 'ttl' | 'script' | 'none';

export type InitialStatus = 'passing' | 'warning' | 'critical';

export interface CheckDefinition {
  /** Default: the Name; a service check defaults to "service:<serviceId>" (or ctx.defaultCheckId). */
  CheckID: string;
  Name: string;
  /** '' for a node-level check. */
  ServiceID: string;
  Notes: string;
  /** Initial status; default critical (Consul: a new check is critical until it proves otherwise). */
  Status: InitialStatus;
  kind: CheckKind;
  HTTP: string;
  /** As given ('' when absent); the runner sends GET for ''. */
  Method: string;
  Header: Record<string, string[]>;
  Body: string;
  TLSSkipVerify: boolean;
  /** SNI and certificate name for https checks ('' = the URL's host). */
  TLSServerName: string;
  /** Consul 1.12+: when true a 3xx answer decides the status instead of being followed. */
  DisableRedirects: boolean;
  TCP: string;
  /** Script checks: Args or ScriptArgs. */
  Args: string[];
  /** TTL checks. */
  TTLMs: number;
  /** http/tcp/script; required for them. */
  IntervalMs: number;
  /** 10 s by default (Consul's HTTP/TCP client); 30 s for script checks, as Consul's script runner. */
  TimeoutMs: number;
  /** 0 = never. Consul raises values under 1m to 1m; the caller's reaper does that. */
  DeregisterCriticalServiceAfterMs: number;
  /** Default 4096 (Consul's check_output_max_size). */
  OutputMaxSize: number;
}

export interface ParseContext {
  /** The service a check belongs to (a service definition's Check/Checks); wins over ServiceID. */
  serviceId?: string;
  /** The CheckID when the definition has none ("service:<id>" or "service:<id>:<n>"). */
  defaultCheckId?: string;
  /** The service's name: a service check without Name is called "Service '<name>' check". */
  serviceName?: string;
  /**
   * Accept a definition with no check type as kind 'none' (for catalog-style checks whose status
   * only the API sets). Consul's agent refuses those ("TTL must be > 0 for TTL checks"), and so do
   * we by default.
   */
  allowNone?: boolean;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_SCRIPT_TIMEOUT_MS = 30_000;
export const DEFAULT_OUTPUT_MAX_SIZE = 4096;

// Check types Consul has and we do not run yet: refused by name rather than silently ignored, so a
// user never believes a check is watching something when nothing is.
const UNSUPPORTED: Record<string, string> = {
  grpc: 'GRPC',
  h2ping: 'H2PING',
  udp: 'UDP',
  aliasnode: 'Alias',
  aliasservice: 'Alias',
  dockercontainerid: 'Docker',
  osservice: 'OSService',
  script: 'Script (use Args)',
};

/** Keys folded the way Consul's decoding sees them: case-insensitive, snake_case or not. */
function fold(raw: unknown): Obj {
  if (raw === undefined || raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw badRequest('Request decode failed: check definition must be an object');
  }
  return view(raw, 'check definition');
}

const present = (v: unknown): boolean => v !== undefined && v !== null;

const { str, bool, strList } = fieldReader('Request decode failed: ');

/** Header is Go's map[string][]string; a bare string value is taken as a one-element list. */
function headers(v: unknown): Record<string, string[]> {
  if (!present(v)) return {};
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw badRequest('Request decode failed: Header must be an object of string lists');
  }
  const out: Record<string, string[]> = {};
  for (const [k, val] of Object.entries(v as Obj)) {
    out[k] = typeof val === 'string' ? [val] : strList(val, `Header.${k}`);
  }
  return out;
}

/** A duration in ms: a Go duration string, or a number of nanoseconds (Go's time.Duration). */
function duration(o: Obj, key: string, field: string): number {
  const v = o[key];
  if (!present(v)) return 0;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw badRequest(`Request decode failed: ${field} is not a duration`);
    return v / 1e6;
  }
  if (typeof v === 'string') {
    if (v === '') return 0;
    const ms = parseDuration(v);
    // Go's own wording, as Consul's decoder passes it through.
    if (ms === undefined)
      throw badRequest(`Request decode failed: time: invalid duration ${JSON.stringify(v)}`);
    return ms;
  }
  throw badRequest(`Request decode failed: ${field} is not a duration`);
}

const invalid = (msg: string): Error => badRequest(`Invalid check: ${msg}`);

/** Parses one check definition as Consul accepts it; throws BadRequest with Consul's messages. */
export function parseCheckDefinition(raw: unknown, ctx: ParseContext = {}): CheckDefinition {
  const o = fold(raw);

  let name = str(o, 'name', 'Name');
  if (name === '' && ctx.serviceName) name = `Service '${ctx.serviceName}' check`;
  if (name === '') throw badRequest('Missing check name');

  const statusText = str(o, 'status', 'Status');
  if (
    statusText !== '' &&
    statusText !== 'passing' &&
    statusText !== 'warning' &&
    statusText !== 'critical'
  ) {
    throw badRequest('Bad check status');
  }
  const status: InitialStatus = statusText === '' ? 'critical' : statusText;

  for (const [key, what] of Object.entries(UNSUPPORTED)) {
    const v = o[key];
    if (present(v) && v !== '' && v !== false)
      throw invalid(`${what} checks are not supported by this agent`);
  }

  const http = str(o, 'http', 'HTTP');
  const tcp = str(o, 'tcp', 'TCP');
  // Consul's CheckDefinition takes both spellings; ScriptArgs is the older one.
  const args = present(o['args']) ? strList(o['args'], 'Args') : strList(o['scriptargs'], 'ScriptArgs');
  const ttl = duration(o, 'ttl', 'TTL');
  const interval = duration(o, 'interval', 'Interval');
  const timeout = duration(o, 'timeout', 'Timeout');
  const dcsa = duration(o, 'deregistercriticalserviceafter', 'DeregisterCriticalServiceAfter');

  const outputMax = o['outputmaxsize'];
  if (present(outputMax) && (typeof outputMax !== 'number' || !Number.isInteger(outputMax))) {
    throw badRequest('Request decode failed: OutputMaxSize must be an integer');
  }

  // Consul's CheckType.Validate, in its order and words.
  const intervalKinds = [http !== '', tcp !== '', args.length > 0].filter(Boolean).length;
  if (interval > 0 && ttl > 0) throw invalid('Interval and TTL cannot both be specified');
  if (intervalKinds > 0 && interval <= 0)
    throw invalid('Interval must be > 0 for Script, HTTP, or TCP checks');
  if (intervalKinds === 0 && ttl <= 0 && !ctx.allowNone) throw invalid('TTL must be > 0 for TTL checks');
  if (typeof outputMax === 'number' && outputMax < 0) throw invalid('MaxOutputMaxSize must be positive');
  // Consul silently runs the first type it recognises and ignores the rest; we say so instead.
  if (intervalKinds > 1) throw invalid('only one of HTTP, TCP or Args may be set');
  // Consul ignores negative values here (they mean "default"/"never"); a typo deserves an answer.
  if (timeout < 0) throw invalid('Timeout must not be negative');
  if (dcsa < 0) throw invalid('DeregisterCriticalServiceAfter must not be negative');
  if (interval < 0) throw invalid('Interval must not be negative');

  const kind: CheckKind =
    http !== '' ? 'http' : tcp !== '' ? 'tcp' : args.length > 0 ? 'script' : ttl > 0 ? 'ttl' : 'none';

  const serviceId = ctx.serviceId ?? str(o, 'serviceid', 'ServiceID');
  const explicitId = present(o['checkid']) ? str(o, 'checkid', 'CheckID') : str(o, 'id', 'ID');
  const checkId =
    explicitId !== ''
      ? explicitId
      : (ctx.defaultCheckId ??
        (ctx.serviceId !== undefined && ctx.serviceId !== '' ? `service:${ctx.serviceId}` : name));

  return {
    CheckID: checkId,
    Name: name,
    ServiceID: serviceId,
    Notes: str(o, 'notes', 'Notes'),
    Status: status,
    kind,
    HTTP: http,
    Method: str(o, 'method', 'Method'),
    Header: headers(o['header']),
    Body: str(o, 'body', 'Body'),
    TLSSkipVerify: bool(o, 'tlsskipverify', 'TLSSkipVerify'),
    TLSServerName: str(o, 'tlsservername', 'TLSServerName'),
    // Ours differs from Consul on purpose: a redirect is reported, not followed, unless asked for.
    DisableRedirects: bool(o, 'disableredirects', 'DisableRedirects', true),
    TCP: tcp,
    Args: args,
    TTLMs: kind === 'ttl' ? ttl : 0,
    IntervalMs: kind === 'ttl' || kind === 'none' ? 0 : interval,
    TimeoutMs: timeout > 0 ? timeout : kind === 'script' ? DEFAULT_SCRIPT_TIMEOUT_MS : DEFAULT_TIMEOUT_MS,
    DeregisterCriticalServiceAfterMs: dcsa,
    OutputMaxSize: typeof outputMax === 'number' && outputMax > 0 ? outputMax : DEFAULT_OUTPUT_MAX_SIZE,
  };
}

/**
 * Consul's HealthCheckDefinition as /v1/agent/checks and /v1/health show it in `Definition`: only
 * the type's fields, zero values left out, durations as Go strings.
 */
export function healthCheckDefinition(def: CheckDefinition): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const put = (k: string, v: unknown, keep: boolean): void => {
    if (keep) out[k] = v;
  };
  put('HTTP', def.HTTP, def.HTTP !== '');
  put('TLSServerName', def.TLSServerName, def.TLSServerName !== '');
  put('TLSSkipVerify', def.TLSSkipVerify, def.TLSSkipVerify);
  put('Header', def.Header, Object.keys(def.Header).length > 0);
  put('Method', def.Method, def.Method !== '');
  put('Body', def.Body, def.Body !== '');
  // Shown for every HTTP check, false included: absent means true here (see parseCheckDefinition).
  put('DisableRedirects', def.DisableRedirects, def.HTTP !== '');
  put('TCP', def.TCP, def.TCP !== '');
  put('Interval', formatDuration(def.IntervalMs), def.IntervalMs > 0);
  put('OutputMaxSize', def.OutputMaxSize, def.OutputMaxSize > 0);
  put(
    'Timeout',
    formatDuration(def.TimeoutMs),
    def.TimeoutMs > 0 && def.kind !== 'ttl' && def.kind !== 'none',
  );
  put(
    'DeregisterCriticalServiceAfter',
    formatDuration(def.DeregisterCriticalServiceAfterMs),
    def.DeregisterCriticalServiceAfterMs > 0,
  );
  put('ScriptArgs', def.Args, def.Args.length > 0);
  put('TTL', formatDuration(def.TTLMs), def.TTLMs > 0);
  return out;
}

/**
 * The whole definition as JSON (identity, initial status and the type's fields, PascalCase as the
 * HTTP API takes them): what the agent persists, and parseCheckDefinition reads it back unchanged.
 */
export function checkDefinitionJson(def: CheckDefinition): Record<string, unknown> {
  return {
    CheckID: def.CheckID,
    Name: def.Name,
    ServiceID: def.ServiceID,
    Notes: def.Notes,
    Status: def.Status,
    ...healthCheckDefinition(def),
  };
}

/** HealthCheck.Type: 'http' | 'tcp' | 'ttl' | 'script' | '' like Consul. */
export function checkType(def: CheckDefinition): string {
  return def.kind === 'none' ? '' : def.kind;
}
