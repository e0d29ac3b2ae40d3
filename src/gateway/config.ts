// The gateway's configuration: defaults, then JSON config files (-config-file, in order), then flags,
// as the agent's (config/load.ts). Keys follow the agent's where they mean the same thing
// (datacenter, client_addr, ports.http, log_level, domain); `servers` is the gateway's own.

import { readFileSync } from 'node:fs';
import { parseDuration } from '../core/duration.js';
import { configError, type LogLevel } from '../config/config.js';

export interface GatewayConfig {
  /** This gateway's datacenter; learnt from the directory when unset. */
  datacenter: string | undefined;
  /** Address the gateway listens on (127.0.0.1, as the agent's HTTP API). */
  clientAddr: string;
  /** Port it listens on (8080). */
  port: number;
  /**
   * Local agents' APIs, where the directory is read (127.0.0.1:8500): "host:port" over HTTP, or
   * "https://host:port" over HTTPS (with `tls`).
   */
  servers: string[];
  /** How HTTPS agents are reached: the CA to trust, and a client certificate for verify_incoming. */
  tls: GatewayTls;
  /** DNS domain of the Host form (consul). */
  domain: string;
  logLevel: LogLevel;
  logJson: boolean;
  /** Upstreams tried per request (3). */
  maxAttempts: number;
  /** `wait` of the gateway's blocking queries (5 m, Consul's default). */
  blockingWaitMs: number;
  /** A (service, dc) watch unused this long is stopped (5 m). */
  idleTimeoutMs: number;
  /** An upstream that refused a connection is skipped this long (10 s). */
  downTimeMs: number;
  /** Connecting to an upstream gives up after this long (5 s). */
  connectTimeoutMs: number;
  /**
   * How upstreams are called: node (node:http with a keep-alive pool, the default) or web (the
   * platform's fetch, as the app would use in an edge runtime; slower, kept for comparison).
   */
  upstreamFetch: 'node' | 'web';
}

export interface GatewayTls {
  /** PEM CA file the agents' certificates must chain to ('' : the system's CAs). */
  caFile: string;
  /** The gateway's client certificate and key ('' : none), for agents with verify_incoming. */
  certFile: string;
  keyFile: string;
  /** The name the agents' certificates must carry ('' : the address's host). */
  serverName: string;
}

export const DEFAULT_GATEWAY_PORT = 8080;

export function defaultGatewayConfig(): GatewayConfig {
  return {
    datacenter: undefined,
    clientAddr: '127.0.0.1',
    port: DEFAULT_GATEWAY_PORT,
    servers: [],
    domain: 'consul',
    logLevel: 'info',
    logJson: false,
    maxAttempts: 3,
    blockingWaitMs: 300_000,
    idleTimeoutMs: 300_000,
    downTimeMs: 10_000,
    connectTimeoutMs: 5000,
    upstreamFetch: 'node',
    tls: { caFile: '', certFile: '', keyFile: '', serverName: '' },
  };
}

const DC = /^[A-Za-z0-9_-]{1,64}$/;

function asString(v: unknown, what: string): string {
  if (typeof v !== 'string') throw configError(`${what}: expected a string, got ${JSON.stringify(v)}`);
  return v;
}

function asBool(v: unknown, what: string): boolean {
  if (v === true || v === 'true' || v === '1') return true;
  if (v === false || v === 'false' || v === '0') return false;
  throw configError(`${what}: expected true or false, got ${JSON.stringify(v)}`);
}

function asInt(v: unknown, what: string, min: number, max: number): number {
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max)
    throw configError(`${what}: expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return n;
}

function asDuration(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v / 1e6; // Go: nanoseconds
  const ms = typeof v === 'string' ? parseDuration(v) : undefined;
  if (ms === undefined || ms < 0)
    throw configError(`${what}: expected a duration like "30s", got ${JSON.stringify(v)}`);
  return ms;
}

function asLogLevel(v: unknown, what: string): LogLevel {
  const s = asString(v, what).toLowerCase();
  const lvl = s === 'warning' ? 'warn' : s === 'err' ? 'error' : s;
  if (!['trace', 'debug', 'info', 'warn', 'error'].includes(lvl))
    throw configError(`${what}: unknown log level "${s}"`);
  return lvl as LogLevel;
}

function asDc(v: unknown, what: string): string {
  const s = asString(v, what);
  if (!DC.test(s)) throw configError(`${what}: invalid datacenter name "${s}"`);
  return s;
}

/**
 * An agent's API address: host:port, [v6]:port, a bare host (port 8500) or an http:// URL, as
 * "host:port"; an https:// URL (port 8501 by default) as "https://host:port".
 */
export function parseServerAddr(v: string, what: string): string {
  const https = /^\s*https:\/\//i.test(v);
  const s = v
    .trim()
    .replace(/^https?:\/\//i, '')
    .replace(/\/+$/, '');
  let host: string;
  let port = https ? '8501' : '8500';
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(s);
  if (v6) [host, port] = [`[${v6[1]}]`, v6[2] ?? port];
  else if ((s.match(/:/g) ?? []).length > 1) host = `[${s}]`;
  else {
    const i = s.indexOf(':');
    host = i < 0 ? s : s.slice(0, i);
    if (i >= 0) port = s.slice(i + 1);
  }
  const n = Number(port);
  if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)$/.test(host) || !/^\d+$/.test(port) || n < 1 || n > 65535)
    throw configError(`${what}: invalid agent address "${v}"`);
  return `${https ? 'https://' : ''}${host}:${n}`;
}

function asServers(v: unknown, what: string): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string'))
    throw configError(`${what}: expected a list of addresses`);
  return list.map((x: string, i) => parseServerAddr(x, `${what}[${i}]`));
}

type Setter = (c: GatewayConfig, v: unknown, what: string) => void;

const FILE_KEYS: Record<string, Setter> = {
  datacenter: (c, v, w) => (c.datacenter = asDc(v, w)),
  client_addr: (c, v, w) => (c.clientAddr = asString(v, w)),
  bind_addr: (c, v, w) => (c.clientAddr = asString(v, w)),
  ports: (c, v, w) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw configError(`${w}: expected an object`);
    for (const [k, x] of Object.entries(v)) {
      if (k !== 'http') throw configError(`${w}: unknown key "${k}" (the gateway has one port: http)`);
      c.port = asInt(x, `${w}.http`, 0, 65535);
    }
  },
  servers: (c, v, w) => c.servers.push(...asServers(v, w)),
  // The agent's name for "addresses to find the cluster through", accepted for the same list.
  retry_join: (c, v, w) => c.servers.push(...asServers(v, w)),
  domain: (c, v, w) => (c.domain = asString(v, w)),
  log_level: (c, v, w) => (c.logLevel = asLogLevel(v, w)),
  log_json: (c, v, w) => (c.logJson = asBool(v, w)),
  max_attempts: (c, v, w) => (c.maxAttempts = asInt(v, w, 1, 10)),
  blocking_wait: (c, v, w) => (c.blockingWaitMs = Math.min(600_000, asDuration(v, w))),
  idle_timeout: (c, v, w) => (c.idleTimeoutMs = asDuration(v, w)),
  down_time: (c, v, w) => (c.downTimeMs = asDuration(v, w)),
  connect_timeout: (c, v, w) => (c.connectTimeoutMs = asDuration(v, w)),
  upstream_fetch: (c, v, w) => {
    const s = asString(v, w);
    if (s !== 'node' && s !== 'web')
      throw configError(`${w}: expected "node" or "web", got ${JSON.stringify(s)}`);
    c.upstreamFetch = s;
  },
  // The agent's CLI names (and Consul's api package's) for the same settings.
  ca_file: (c, v, w) => (c.tls.caFile = asString(v, w)),
  cert_file: (c, v, w) => (c.tls.certFile = asString(v, w)),
  key_file: (c, v, w) => (c.tls.keyFile = asString(v, w)),
  tls_server_name: (c, v, w) => (c.tls.serverName = asString(v, w)),
};

interface Flag {
  kind: 'bool' | 'value';
  help: string;
  apply: (c: GatewayConfig, v: string, what: string) => void;
}

const value = (help: string, apply: Flag['apply']): Flag => ({ kind: 'value', help, apply });

export const GATEWAY_FLAGS: Record<string, Flag> = {
  datacenter: value('Datacenter of this gateway (default: that of the servers it reads).', (c, v, w) => {
    c.datacenter = asDc(v, w);
  }),
  'http-port': value(`Port to listen on (${DEFAULT_GATEWAY_PORT}).`, (c, v, w) => {
    c.port = asInt(v, w, 0, 65535);
  }),
  client: value('Address to listen on (127.0.0.1).', (c, v) => (c.clientAddr = v)),
  bind: value('Same as -client.', (c, v) => (c.clientAddr = v)),
  server: value(
    'Address of a local agent, client or server: host:port, or https://host:port; repeatable (127.0.0.1:8500).',
    (c, v, w) => c.servers.push(parseServerAddr(v, w)),
  ),
  'ca-file': value('CA file to verify HTTPS agents with (default: the system CAs).', (c, v) => {
    c.tls.caFile = v;
  }),
  'client-cert': value('Client certificate for HTTPS agents with verify_incoming.', (c, v) => {
    c.tls.certFile = v;
  }),
  'client-key': value('Key of -client-cert.', (c, v) => (c.tls.keyFile = v)),
  'tls-server-name': value("Name the agents' certificates must carry (default: the address).", (c, v) => {
    c.tls.serverName = v;
  }),
  domain: value('DNS domain of the Host form <service>.service[.<dc>].<domain> (consul).', (c, v) => {
    c.domain = v;
  }),
  'log-level': value('trace, debug, info, warn or error (info).', (c, v, w) => {
    c.logLevel = asLogLevel(v, w);
  }),
  'log-json': { kind: 'bool', help: 'Log JSON lines.', apply: (c, v, w) => (c.logJson = asBool(v, w)) },
  'config-file': value('A JSON config file; repeatable.', () => undefined),
};

function loadFile(c: GatewayConfig, path: string): void {
  let obj: unknown;
  try {
    obj = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw configError(`config file ${path}: ${(err as Error).message}`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw configError(`config file ${path}: the top level must be a JSON object`);
  for (const [k, v] of Object.entries(obj)) {
    const set = FILE_KEYS[k];
    if (!set) throw configError(`config file ${path}: unknown config key "${k}"`);
    set(c, v, `config file ${path}: ${k}`);
  }
}

/** defaults → config files (in order) → flags. */
export function loadGatewayConfig(args: string[]): GatewayConfig {
  const flags: { name: string; value: string }[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith('-') || arg === '-' || arg === '--')
      throw configError(`unexpected argument "${arg}" (flags start with -)`);
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const flag = GATEWAY_FLAGS[name];
    if (!flag) throw configError(`unknown flag: -${name}`);
    if (eq >= 0) flags.push({ name, value: body.slice(eq + 1) });
    else if (flag.kind === 'bool') flags.push({ name, value: 'true' });
    else {
      const v = args[++i];
      if (v === undefined) throw configError(`flag needs an argument: -${name}`);
      flags.push({ name, value: v });
    }
  }
  const c = defaultGatewayConfig();
  for (const f of flags) if (f.name === 'config-file') loadFile(c, f.value);
  // -server flags replace the files' list rather than add to it: the command line wins.
  if (flags.some((f) => f.name === 'server')) c.servers = [];
  for (const f of flags) (GATEWAY_FLAGS[f.name] as Flag).apply(c, f.value, `flag -${f.name}`);
  if (c.servers.length === 0) c.servers.push('127.0.0.1:8500');
  c.servers = [...new Set(c.servers)];
  if ((c.tls.certFile === '') !== (c.tls.keyFile === ''))
    throw configError('-client-cert and -client-key go together');
  const tlsSet = c.tls.caFile !== '' || c.tls.certFile !== '' || c.tls.serverName !== '';
  if (tlsSet && c.upstreamFetch === 'web')
    throw configError('upstream_fetch "web" cannot use a CA file or client certificate; use "node"');
  return c;
}

export function gatewayUsage(): string {
  const lines = Object.entries(GATEWAY_FLAGS).map(
    ([n, f]) => `  -${n}${f.kind === 'value' ? ' <value>' : ''}\n      ${f.help}`,
  );
  return `Usage: consulate gateway [options]\n\n  Runs the edge gateway of a datacenter.\n\nOptions:\n\n${lines.join('\n')}\n`;
}
