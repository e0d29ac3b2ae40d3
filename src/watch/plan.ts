// A watch plan (Consul's api/watch Plan): a type, its parameters, and how to hand results over.
// Plans come from two places, the agent's `watches` config block and `consulate watch`; both go
// through parsePlan, so the same keys are accepted and the same mistakes refused in one line.

import { ConsulError, ErrorCode } from '../core/errors.js';
import { parseDuration } from '../core/duration.js';

export const WATCH_TYPES = ['key', 'keyprefix', 'services', 'nodes', 'service', 'checks', 'event'] as const;
export type WatchType = (typeof WATCH_TYPES)[number];

export const CHECK_STATES = ['any', 'passing', 'warning', 'critical'] as const;

/** What each type watches; exactly the parameters Consul's watch funcs take. */
export type WatchTarget =
  | { type: 'key'; key: string }
  | { type: 'keyprefix'; prefix: string }
  | { type: 'services' }
  | { type: 'nodes' }
  | { type: 'service'; service: string; tags: string[]; passingOnly: boolean }
  | { type: 'checks'; service: string; state: string; tags: string[] }
  | { type: 'event'; name: string };

export interface HttpHandlerConfig {
  path: string;
  method: string;
  header: Record<string, string[]>;
  timeoutMs: number;
  tlsSkipVerify: boolean;
}

export type WatchHandlerSpec =
  | { kind: 'args'; args: string[] }
  /** Consul's deprecated `handler`: one string run through the shell. */
  | { kind: 'shell'; script: string }
  | { kind: 'http'; config: HttpHandlerConfig };

export interface WatchPlan {
  target: WatchTarget;
  datacenter: string;
  token: string;
  stale: boolean;
  /** null: the caller supplies the handler (consulate watch). */
  handler: WatchHandlerSpec | null;
}

/** Consul's DefaultTimeout for HTTP handlers. */
export const DEFAULT_HTTP_HANDLER_TIMEOUT_MS = 10_000;

export function watchError(msg: string): ConsulError {
  return new ConsulError(ErrorCode.Config, msg);
}

type Params = Record<string, unknown>;

/** Takes a parameter out of the bag, so whatever is left at the end is unknown. */
function take(p: Params, name: string): unknown {
  const v = p[name];
  delete p[name];
  return v;
}

function str(p: Params, name: string): string {
  const v = take(p, name);
  if (v === undefined) return '';
  if (typeof v !== 'string') throw watchError(`Expecting ${name} to be a string`);
  return v;
}

function bool(p: Params, name: string): boolean {
  const v = take(p, name);
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw watchError(`Expecting ${name} to be a boolean`);
  return v;
}

function strList(p: Params, name: string): string[] {
  const v = take(p, name);
  if (v === undefined) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  throw watchError(`Expecting ${name} to be a string or a list of strings`);
}

function parseTarget(type: string, p: Params): WatchTarget {
  switch (type) {
    case 'key': {
      const key = str(p, 'key');
      if (key === '') throw watchError('Must specify a single key to watch');
      return { type, key };
    }
    case 'keyprefix': {
      const prefix = str(p, 'prefix');
      if (prefix === '') throw watchError('Must specify a single prefix to watch');
      return { type, prefix };
    }
    case 'services':
    case 'nodes':
      return { type };
    case 'service': {
      const service = str(p, 'service');
      if (service === '') throw watchError('Must specify a single service to watch');
      return { type, service, tags: strList(p, 'tag'), passingOnly: bool(p, 'passingonly') };
    }
    case 'checks': {
      const service = str(p, 'service');
      let state = str(p, 'state');
      if (service !== '' && state !== '') throw watchError('Cannot specify service and state');
      if (service === '' && state === '') state = 'any';
      if (state !== '' && !(CHECK_STATES as readonly string[]).includes(state))
        throw watchError(`Invalid check state "${state}": expected one of ${CHECK_STATES.join(', ')}`);
      return { type, service, state, tags: strList(p, 'tag') };
    }
    case 'event':
      return { type, name: str(p, 'name') };
    default:
      throw watchError(`Unsupported watch type: ${type}`);
  }
}

function parseHttpConfig(v: unknown): HttpHandlerConfig {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw watchError("Failed to parse 'http_handler_config': expected an object");
  const p: Params = { ...(v as Params) };
  const path = str(p, 'path');
  if (path === '') throw watchError("Failed to parse 'http_handler_config': Requires 'path' to be set");
  let url: URL;
  try {
    url = new URL(path);
  } catch {
    throw watchError(`Failed to parse 'http_handler_config': path "${path}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw watchError(`Failed to parse 'http_handler_config': path "${path}" must be http or https`);
  const method = (str(p, 'method') || 'POST').toUpperCase();
  const rawTimeout = take(p, 'timeout');
  let timeoutMs = DEFAULT_HTTP_HANDLER_TIMEOUT_MS;
  if (rawTimeout !== undefined && rawTimeout !== '') {
    const ms = typeof rawTimeout === 'string' ? parseDuration(rawTimeout) : undefined;
    if (ms === undefined || ms <= 0)
      throw watchError(
        `Failed to parse 'http_handler_config': invalid timeout ${JSON.stringify(rawTimeout)}`,
      );
    timeoutMs = ms;
  }
  const header: Record<string, string[]> = {};
  const rawHeader = take(p, 'header');
  if (rawHeader !== undefined) {
    if (typeof rawHeader !== 'object' || rawHeader === null || Array.isArray(rawHeader))
      throw watchError("Failed to parse 'http_handler_config': header must be an object of lists");
    for (const [k, val] of Object.entries(rawHeader)) {
      // Consul's header is map[string][]string; a bare string is taken as a list of one.
      if (typeof val === 'string') header[k] = [val];
      else if (Array.isArray(val) && val.every((x) => typeof x === 'string')) header[k] = val;
      else throw watchError(`Failed to parse 'http_handler_config': header "${k}" must be a list of strings`);
    }
  }
  const tlsSkipVerify = bool(p, 'tls_skip_verify');
  const left = Object.keys(p);
  if (left.length > 0) throw watchError(`Failed to parse 'http_handler_config': unknown key "${left[0]}"`);
  return { path, method, header, timeoutMs, tlsSkipVerify };
}

/**
 * Parses one plan from Consul's parameter bag. `requireHandler`: the agent's config block needs a
 * handler on every watch (Consul: "Must define a watch handler"); consulate watch takes its own.
 */
export function parsePlan(raw: unknown, requireHandler: boolean): WatchPlan {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw watchError('a watch must be an object');
  const p: Params = { ...(raw as Params) };
  const type = str(p, 'type');
  if (type === '') throw watchError('Watch type must be specified');
  const datacenter = str(p, 'datacenter');
  const token = str(p, 'token');
  // Events live on each agent, so Consul's event watch takes no consistency mode.
  const stale = type === 'event' ? false : bool(p, 'stale');
  const handlerType = str(p, 'handler_type') || (requireHandler ? 'script' : '');
  if (handlerType !== '' && handlerType !== 'script' && handlerType !== 'http')
    throw watchError(`Handler type '${handlerType}' not recognized`);
  const hasHttpConfig = 'http_handler_config' in p;
  const httpConfig = take(p, 'http_handler_config');
  const hasArgs = 'args' in p;
  const args = take(p, 'args');
  const hasScript = 'handler' in p;
  const script = take(p, 'handler');
  const target = parseTarget(type, p);
  const left = Object.keys(p);
  if (left.length > 0) throw watchError(`Invalid parameters: ${left.join(', ')}`);

  let handler: WatchHandlerSpec | null = null;
  if (handlerType === 'http') {
    if (!hasHttpConfig) throw watchError("Handler type 'http' requires 'http_handler_config' to be set");
    if (hasArgs || hasScript) throw watchError('Only one watch handler allowed');
    handler = { kind: 'http', config: parseHttpConfig(httpConfig) };
  } else {
    if (hasHttpConfig) throw watchError("'http_handler_config' needs handler_type 'http'");
    if (hasArgs && hasScript) throw watchError('Only one watch handler allowed');
    if (hasArgs) {
      if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === 'string'))
        throw watchError('Watch args must be a non-empty list of strings');
      handler = { kind: 'args', args };
    } else if (hasScript) {
      if (typeof script !== 'string' || script.trim() === '')
        throw watchError('Watch handler must be a string');
      handler = { kind: 'shell', script };
    } else if (requireHandler) {
      throw watchError('Must define a watch handler (args, handler or http_handler_config)');
    }
  }
  return { target, datacenter, token, stale, handler };
}

/** A short name for logs: "key foo/bar", "service web". */
export function describeTarget(t: WatchTarget): string {
  switch (t.type) {
    case 'key':
      return `key ${t.key}`;
    case 'keyprefix':
      return `keyprefix ${t.prefix}`;
    case 'services':
    case 'nodes':
      return t.type;
    case 'service':
      return `service ${t.service}`;
    case 'checks':
      return t.service !== '' ? `checks of service ${t.service}` : `checks in state ${t.state}`;
    case 'event':
      return t.name !== '' ? `event ${t.name}` : 'event';
  }
}
