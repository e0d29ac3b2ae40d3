// Reads config files and command-line flags into an AgentConfig. Two tables: config-file keys
// (Consul's JSON names) and agent flags (Consul's flag names). Flags win over files; files are
// merged in the order given, as Consul does.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseDuration } from '../core/duration.js';
import { parsePlan } from '../watch/plan.js';
import {
  applyDev,
  configError,
  defaultConfig,
  type AgentConfig,
  type LogLevel,
  type Ports,
} from './config.js';
import type { TlsInterface, TlsSettings } from './tls.js';

type Json = unknown;

// ---------------------------------------------------------------- value coercion

function asBool(v: Json, what: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw configError(`${what}: expected true or false, got ${JSON.stringify(v)}`);
}

function asInt(v: Json, what: string): number {
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n))
    throw configError(`${what}: expected an integer, got ${JSON.stringify(v)}`);
  return n;
}

function asString(v: Json, what: string): string {
  if (typeof v !== 'string') throw configError(`${what}: expected a string, got ${JSON.stringify(v)}`);
  return v;
}

function asList(v: Json, what: string): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  throw configError(`${what}: expected a list of strings`);
}

function asObject(v: Json, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw configError(`${what}: expected an object`);
  return v as Record<string, unknown>;
}

function asObjectList(v: Json, what: string): Record<string, unknown>[] {
  if (!Array.isArray(v)) throw configError(`${what}: expected a list of objects`);
  return v.map((x, i) => asObject(x, `${what}[${i}]`));
}

function asStringMap(v: Json, what: string): Record<string, string> {
  const o = asObject(v, what);
  for (const [k, x] of Object.entries(o)) {
    if (typeof x !== 'string') throw configError(`${what}.${k}: expected a string`);
  }
  return o as Record<string, string>;
}

function asDuration(v: Json, what: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v / 1e6; // Go durations in JSON numbers are nanoseconds
  const ms = typeof v === 'string' ? parseDuration(v) : undefined;
  if (ms === undefined || ms < 0)
    throw configError(`${what}: expected a duration like "30s", got ${JSON.stringify(v)}`);
  return ms;
}

function asOneOf<T extends string>(v: Json, what: string, allowed: readonly T[]): T {
  const s = asString(v, what);
  if (!(allowed as readonly string[]).includes(s))
    throw configError(`${what}: expected one of ${allowed.join(', ')}, got ${JSON.stringify(s)}`);
  return s as T;
}

const DEFAULT_POLICIES = ['allow', 'deny'] as const;
const DOWN_POLICIES = ['allow', 'deny', 'extend-cache', 'async-cache'] as const;

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

function asLogLevel(v: Json, what: string): LogLevel {
  const s = asString(v, what).toLowerCase();
  const lvl = s === 'warning' ? 'warn' : s === 'err' ? 'error' : s;
  if (!(LOG_LEVELS as readonly string[]).includes(lvl))
    throw configError(`${what}: unknown log level "${s}"`);
  return lvl as LogLevel;
}

// ---------------------------------------------------------------- config-file keys

type Setter = (c: AgentConfig, v: Json, what: string) => void;

function objectOf(table: Record<string, Setter>): Setter {
  return (c, v, what) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw configError(`${what}: expected an object`);
    for (const [k, val] of Object.entries(v)) {
      const set = table[k];
      if (!set) throw configError(`${what}: unknown key "${k}"`);
      set(c, val, `${what}.${k}`);
    }
  };
}

const port =
  (k: keyof Ports): Setter =>
  (c, v, w) => {
    c.ports[k] = asInt(v, w);
  };

/** gossip_lan and gossip_wan: the same keys, each for its own pool's timings. */
function gossipBlock(pool: 'gossipLan' | 'gossipWan'): Setter {
  return objectOf({
    gossip_nodes: (c, v, w) => (c[pool].gossipNodes = asInt(v, w)),
    gossip_interval: (c, v, w) => (c[pool].gossipIntervalMs = asDuration(v, w)),
    probe_interval: (c, v, w) => (c[pool].probeIntervalMs = asDuration(v, w)),
    probe_timeout: (c, v, w) => (c[pool].probeTimeoutMs = asDuration(v, w)),
    suspicion_mult: (c, v, w) => (c[pool].suspicionMult = asInt(v, w)),
    retransmit_mult: (c, v, w) => (c[pool].retransmitMult = asInt(v, w)),
    // Not Consul keys: the rest of the profile, for labs and tests that want every timer short.
    push_pull_interval: (c, v, w) => (c[pool].pushPullIntervalMs = asDuration(v, w)),
    reconnect_interval: (c, v, w) => (c[pool].reconnectIntervalMs = asDuration(v, w)),
    gossip_to_the_dead_time: (c, v, w) => (c[pool].gossipToTheDeadMs = asDuration(v, w)),
  });
}

/** tls_min_version in Consul's spellings (1.12+ and the older ones). */
function asTlsVersion(v: Json, what: string): TlsSettings['minVersion'] {
  const s = asString(v, what);
  if (s === 'TLSv1_2' || s === 'tls12') return 'TLSv1.2';
  if (s === 'TLSv1_3' || s === 'tls13') return 'TLSv1.3';
  throw configError(`${what}: expected "TLSv1_2" or "TLSv1_3", got ${JSON.stringify(s)}`);
}

/** The keys every tls block has, each setting its own interface's value. */
function tlsKeys(block: 'defaults' | TlsInterface): Record<string, Setter> {
  const set =
    <K extends keyof TlsSettings>(k: K, conv: (v: Json, w: string) => TlsSettings[K]): Setter =>
    (c, v, w) => {
      c.tls[block][k] = conv(v, w);
    };
  return {
    ca_file: set('caFile', asString),
    ca_path: set('caPath', asString),
    cert_file: set('certFile', asString),
    key_file: set('keyFile', asString),
    verify_incoming: set('verifyIncoming', asBool),
    verify_outgoing: set('verifyOutgoing', asBool),
    tls_min_version: set('minVersion', asTlsVersion),
  };
}

const FILE_KEYS: Record<string, Setter> = {
  server: (c, v, w) => (c.server = asBool(v, w)),
  bootstrap: (c, v, w) => (c.bootstrap = asBool(v, w)),
  bootstrap_expect: (c, v, w) => (c.bootstrapExpect = asInt(v, w)),
  retry_join: (c, v, w) => c.retryJoin.push(...asList(v, w)),
  // start_join was folded into retry_join in Consul 1.15; both are accepted.
  start_join: (c, v, w) => c.retryJoin.push(...asList(v, w)),
  retry_interval: (c, v, w) => (c.retryIntervalMs = asDuration(v, w)),
  retry_max: (c, v, w) => (c.retryMax = asInt(v, w)),
  retry_join_wan: (c, v, w) => c.retryJoinWan.push(...asList(v, w)),
  start_join_wan: (c, v, w) => c.retryJoinWan.push(...asList(v, w)),
  retry_interval_wan: (c, v, w) => (c.retryIntervalWanMs = asDuration(v, w)),
  retry_max_wan: (c, v, w) => (c.retryMaxWan = asInt(v, w)),
  datacenter: (c, v, w) => (c.datacenter = asString(v, w)),
  node_name: (c, v, w) => (c.nodeName = asString(v, w)),
  node_id: (c, v, w) => (c.nodeId = asString(v, w)),
  bind_addr: (c, v, w) => (c.bindAddr = asString(v, w)),
  advertise_addr: (c, v, w) => (c.advertiseAddr = asString(v, w)),
  advertise_addr_wan: (c, v, w) => (c.advertiseAddrWan = asString(v, w)),
  client_addr: (c, v, w) => (c.clientAddr = asString(v, w)),
  data_dir: (c, v, w) => (c.dataDir = asString(v, w)),
  log_level: (c, v, w) => (c.logLevel = asLogLevel(v, w)),
  log_json: (c, v, w) => (c.logJson = asBool(v, w)),
  log_file: (c, v, w) => (c.logFile = asString(v, w)),
  log_rotate_bytes: (c, v, w) => (c.logRotateBytes = asInt(v, w)),
  log_rotate_duration: (c, v, w) => (c.logRotateDurationMs = asDuration(v, w)),
  log_rotate_max_files: (c, v, w) => (c.logRotateMaxFiles = asInt(v, w)),
  ui: (c, v, w) => (c.ui = asBool(v, w)),
  ui_config: objectOf({
    enabled: (c, v, w) => (c.ui = asBool(v, w)),
    dir: (c, v, w) => (c.uiDir = asString(v, w)),
    content_path: (c, v, w) => (c.uiContentPath = asString(v, w)),
  }),
  // Consul's pre-1.9 names for the same two settings.
  ui_dir: (c, v, w) => (c.uiDir = asString(v, w)),
  ui_content_path: (c, v, w) => (c.uiContentPath = asString(v, w)),
  ports: objectOf({
    http: port('http'),
    https: port('https'),
    dns: port('dns'),
    server: port('server'),
    serf_lan: port('serfLan'),
    serf_wan: port('serfWan'),
    grpc: port('grpc'),
    // The CLI RPC port was removed in Consul 0.8; old configs still carry it.
    rpc: () => undefined,
  }),
  performance: objectOf({
    raft_multiplier: (c, v, w) => (c.raft.multiplier = asInt(v, w)),
    rpc_hold_timeout: (c, v, w) => (c.rpcHoldTimeoutMs = asDuration(v, w)),
  }),
  raft_snapshot_threshold: (c, v, w) => (c.raft.snapshotThreshold = asInt(v, w)),
  raft_snapshot_interval: (c, v, w) => (c.raft.snapshotIntervalMs = asDuration(v, w)),
  raft_trailing_logs: (c, v, w) => (c.raft.trailingLogs = asInt(v, w)),
  kv_max_value_size: (c, v, w) => (c.kvMaxValueSize = asInt(v, w)),
  txn_max_req_len: (c, v, w) => (c.txnMaxReqLen = asInt(v, w)),
  encrypt: (c, v, w) => (c.encrypt = asString(v, w).trim()),
  encrypt_verify_incoming: (c, v, w) => (c.encryptVerifyIncoming = asBool(v, w)),
  encrypt_verify_outgoing: (c, v, w) => (c.encryptVerifyOutgoing = asBool(v, w)),
  reconnect_timeout: (c, v, w) => (c.reconnectTimeoutMs = asDuration(v, w)),
  gossip_lan: gossipBlock('gossipLan'),
  gossip_wan: gossipBlock('gossipWan'),
  reconnect_timeout_wan: (c, v, w) => (c.reconnectTimeoutWanMs = asDuration(v, w)),
  // Appended across files, as Consul merges lists; every plan is checked here, not when it runs.
  watches: (c, v, w) => {
    if (!Array.isArray(v)) throw configError(`${w}: expected a list of watch objects`);
    v.forEach((plan, i) => {
      try {
        c.watches.push(parsePlan(plan, true));
      } catch (err) {
        throw configError(`${w}[${i}]: ${(err as Error).message}`);
      }
    });
  },
  // Service and check definitions are kept raw here and parsed (with Consul's rules and messages)
  // when the agent starts: agent/local/definitions.ts owns their shape.
  service: (c, v, w) => c.services.push(asObject(v, w)),
  services: (c, v, w) => c.services.push(...asObjectList(v, w)),
  check: (c, v, w) => c.checks.push(asObject(v, w)),
  checks: (c, v, w) => c.checks.push(...asObjectList(v, w)),
  enable_script_checks: (c, v, w) => (c.enableScriptChecks = asBool(v, w)),
  enable_local_script_checks: (c, v, w) => (c.enableLocalScriptChecks = asBool(v, w)),
  check_update_interval: (c, v, w) => (c.checkUpdateIntervalMs = asDuration(v, w)),
  // Not a user key in Consul (ae_interval is fixed at 1 m there); for labs and tests.
  ae_interval: (c, v, w) => (c.aeIntervalMs = asDuration(v, w)),
  node_meta: (c, v, w) => (c.nodeMeta = { ...c.nodeMeta, ...asStringMap(v, w) }),
  disable_coordinates: (c, v, w) => (c.coordinates.disabled = asBool(v, w)),
  // Not user keys in Consul (fixed at 64/s and 15 s there); for labs and tests.
  sync_coordinate_rate_target: (c, v, w) => (c.coordinates.sync.rateTarget = asInt(v, w)),
  sync_coordinate_interval_min: (c, v, w) => (c.coordinates.sync.intervalMinMs = asDuration(v, w)),
  domain: (c, v, w) => (c.dns.domain = asString(v, w)),
  alt_domain: (c, v, w) => (c.dns.altDomain = asString(v, w)),
  // Appended across files, as Consul merges lists.
  recursors: (c, v, w) => c.dns.recursors.push(...asList(v, w)),
  dns_config: objectOf({
    allow_stale: (c, v, w) => (c.dns.allowStale = asBool(v, w)),
    max_stale: (c, v, w) => (c.dns.maxStaleMs = asDuration(v, w)),
    node_ttl: (c, v, w) => (c.dns.nodeTtlMs = asDuration(v, w)),
    service_ttl: (c, v, w) => {
      for (const [name, d] of Object.entries(asObject(v, w)))
        c.dns.serviceTtlMs[name] = asDuration(d, `${w}.${name}`);
    },
    only_passing: (c, v, w) => (c.dns.onlyPassing = asBool(v, w)),
    udp_answer_limit: (c, v, w) => (c.dns.udpAnswerLimit = asInt(v, w)),
    a_record_limit: (c, v, w) => (c.dns.aRecordLimit = asInt(v, w)),
    enable_truncate: (c, v, w) => (c.dns.enableTruncate = asBool(v, w)),
    recursor_timeout: (c, v, w) => (c.dns.recursorTimeoutMs = asDuration(v, w)),
    recursor_strategy: (c, v, w) => {
      const s = asString(v, w);
      if (s !== 'sequential' && s !== 'random')
        throw configError(`${w}: expected "sequential" or "random", got ${JSON.stringify(s)}`);
      c.dns.recursorStrategy = s;
    },
    soa: objectOf({
      refresh: (c, v, w) => (c.dns.soa.refresh = asInt(v, w)),
      retry: (c, v, w) => (c.dns.soa.retry = asInt(v, w)),
      expire: (c, v, w) => (c.dns.soa.expire = asInt(v, w)),
      min_ttl: (c, v, w) => (c.dns.soa.minTtl = asInt(v, w)),
    }),
  }),
  telemetry: objectOf({
    disable_hostname: (c, v, w) => (c.telemetry.disableHostname = asBool(v, w)),
    prometheus_retention_time: (c, v, w) => (c.telemetry.prometheusRetentionMs = asDuration(v, w)),
    metrics_prefix: (c, v, w) => (c.telemetry.metricsPrefix = asString(v, w)),
  }),
  // Not a Consul key: -docker-sync (Registrator's job, in the agent).
  docker_sync: objectOf({
    enabled: (c, v, w) => (c.dockerSync.enabled = asBool(v, w)),
    host: (c, v, w) => (c.dockerSync.host = asString(v, w)),
    resync_interval: (c, v, w) => (c.dockerSync.resyncIntervalMs = asDuration(v, w)),
  }),
  limits: objectOf({
    http_max_conns_per_client: (c, v, w) => (c.limits.httpMaxConnsPerClient = asInt(v, w)),
    rpc_max_conns_per_client: (c, v, w) => (c.limits.rpcMaxConnsPerClient = asInt(v, w)),
    rpc_handshake_timeout: (c, v, w) => (c.limits.rpcHandshakeTimeoutMs = asDuration(v, w)),
    https_handshake_timeout: (c, v, w) => (c.limits.httpsHandshakeTimeoutMs = asDuration(v, w)),
  }),
  http_config: objectOf({
    read_header_timeout: (c, v, w) => (c.httpTimeouts.readHeaderTimeoutMs = asDuration(v, w)),
    read_timeout: (c, v, w) => (c.httpTimeouts.readTimeoutMs = asDuration(v, w)),
    idle_timeout: (c, v, w) => (c.httpTimeouts.idleTimeoutMs = asDuration(v, w)),
  }),
  acl: objectOf({
    enabled: (c, v, w) => (c.acl.enabled = asBool(v, w)),
    default_policy: (c, v, w) => (c.acl.defaultPolicy = asOneOf(v, w, DEFAULT_POLICIES)),
    down_policy: (c, v, w) => (c.acl.downPolicy = asOneOf(v, w, DOWN_POLICIES)),
    token_ttl: (c, v, w) => (c.acl.tokenTtlMs = asDuration(v, w)),
    enable_key_list_policy: (c, v, w) => (c.acl.enableKeyListPolicy = asBool(v, w)),
    enable_token_persistence: (c, v, w) => (c.acl.enableTokenPersistence = asBool(v, w)),
    // Policies and roles are resolved from the servers' state each time here (no separate caches).
    policy_ttl: (_c, v, w) => void asDuration(v, w),
    role_ttl: (_c, v, w) => void asDuration(v, w),
    tokens: objectOf({
      initial_management: (c, v, w) => (c.acl.tokens.initialManagement = asString(v, w)),
      master: (c, v, w) => (c.acl.tokens.initialManagement = asString(v, w)),
      agent: (c, v, w) => (c.acl.tokens.agent = asString(v, w)),
      default: (c, v, w) => (c.acl.tokens.default = asString(v, w)),
      // No agent-local recovery token and no replication here; accepted so configs load.
      agent_recovery: (_c, v, w) => void asString(v, w),
      agent_master: (_c, v, w) => void asString(v, w),
      replication: (_c, v, w) => void asString(v, w),
    }),
  }),
  // Consul's pre-1.4 names for the same settings (acl_datacenter turned ACLs on).
  acl_datacenter: (c, v, w) => ((c.acl.enabled = true), void asString(v, w)),
  primary_datacenter: (_c, v, w) => void asString(v, w),
  acl_default_policy: (c, v, w) => (c.acl.defaultPolicy = asOneOf(v, w, DEFAULT_POLICIES)),
  acl_down_policy: (c, v, w) => (c.acl.downPolicy = asOneOf(v, w, DOWN_POLICIES)),
  acl_ttl: (c, v, w) => (c.acl.tokenTtlMs = asDuration(v, w)),
  acl_enable_key_list_policy: (c, v, w) => (c.acl.enableKeyListPolicy = asBool(v, w)),
  acl_master_token: (c, v, w) => (c.acl.tokens.initialManagement = asString(v, w)),
  acl_agent_token: (c, v, w) => (c.acl.tokens.agent = asString(v, w)),
  acl_token: (c, v, w) => (c.acl.tokens.default = asString(v, w)),
  // Consul 1.12's tls block; the gRPC interface is not served (ports.grpc stays -1).
  tls: objectOf({
    defaults: objectOf(tlsKeys('defaults')),
    https: objectOf(tlsKeys('https')),
    internal_rpc: objectOf({
      ...tlsKeys('internalRpc'),
      verify_server_hostname: (c, v, w) => (c.tls.verifyServerHostname = asBool(v, w)),
    }),
  }),
  // The keys before the tls block (deprecated in Consul 1.12, still accepted there).
  ...tlsKeys('defaults'),
  verify_incoming_rpc: (c, v, w) => (c.tls.internalRpc.verifyIncoming = asBool(v, w)),
  verify_incoming_https: (c, v, w) => (c.tls.https.verifyIncoming = asBool(v, w)),
  verify_server_hostname: (c, v, w) => (c.tls.verifyServerHostname = asBool(v, w)),
  autopilot: objectOf({
    cleanup_dead_servers: (c, v, w) => (c.autopilot.cleanupDeadServers = asBool(v, w)),
    min_quorum: (c, v, w) => (c.autopilot.minQuorum = asInt(v, w)),
    last_contact_threshold: (c, v, w) => (c.autopilot.lastContactThresholdMs = asDuration(v, w)),
    max_trailing_logs: (c, v, w) => (c.autopilot.maxTrailingLogs = asInt(v, w)),
    server_stabilization_time: (c, v, w) => (c.autopilot.serverStabilizationTimeMs = asDuration(v, w)),
    redundancy_zone_tag: (c, v, w) => (c.autopilot.redundancyZoneTag = asString(v, w)),
    disable_upgrade_migration: (c, v, w) => (c.autopilot.disableUpgradeMigration = asBool(v, w)),
    upgrade_version_tag: (c, v, w) => (c.autopilot.upgradeVersionTag = asString(v, w)),
  }),
};

export function applyConfigObject(c: AgentConfig, obj: Json, source: string): void {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw configError(`${source}: the top level must be a JSON object`);
  }
  for (const [k, v] of Object.entries(obj)) {
    const set = FILE_KEYS[k];
    if (!set) throw configError(`${source}: unknown config key "${k}"`);
    set(c, v, `${source}: ${k}`);
  }
}

function loadFile(c: AgentConfig, path: string): void {
  if (path.endsWith('.hcl')) throw configError(`${path}: HCL config files are not supported yet; use JSON`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw configError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let obj: Json;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    throw configError(`config file ${path}: invalid JSON: ${(err as Error).message}`);
  }
  applyConfigObject(c, obj, `config file ${path}`);
}

function loadDir(c: AgentConfig, dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw configError(`cannot read config dir ${dir}: ${(err as Error).message}`);
  }
  for (const name of names.sort()) {
    const p = join(dir, name);
    if (!statSync(p).isFile()) continue;
    if (name.endsWith('.json') || name.endsWith('.hcl')) loadFile(c, p);
  }
}

// ---------------------------------------------------------------- flags

type FlagKind = 'bool' | 'value';
interface Flag {
  kind: FlagKind;
  apply: (c: AgentConfig, v: string, name: string) => void;
  help: string;
}

const valueFlag = (help: string, apply: Flag['apply']): Flag => ({ kind: 'value', apply, help });
const boolFlag = (help: string, apply: (c: AgentConfig, v: boolean) => void): Flag => ({
  kind: 'bool',
  apply: (c, v, n) => apply(c, asBool(v, `flag -${n}`)),
  help,
});

export const AGENT_FLAGS: Record<string, Flag> = {
  server: boolFlag('Run in server mode (Raft voter).', (c, v) => (c.server = v)),
  bootstrap: boolFlag(
    'Let this one server elect itself (legacy manual bootstrap).',
    (c, v) => (c.bootstrap = v),
  ),
  'bootstrap-expect': valueFlag(
    'Bootstrap Raft once this many servers are seen.',
    (c, v, n) => (c.bootstrapExpect = asInt(v, `flag -${n}`)),
  ),
  'retry-join': valueFlag(
    'Gossip address (host[:port], port 8301) of any agent to join; repeatable; retried until it works.',
    (c, v) => c.retryJoin.push(v),
  ),
  join: valueFlag('Like -retry-join (agents may start in any order).', (c, v) => c.retryJoin.push(v)),
  'retry-interval': valueFlag(
    'Time between join attempts (30s).',
    (c, v, n) => (c.retryIntervalMs = asDuration(v, `flag -${n}`)),
  ),
  'retry-max': valueFlag(
    'Join attempts before giving up (0 = forever).',
    (c, v, n) => (c.retryMax = asInt(v, `flag -${n}`)),
  ),
  'retry-join-wan': valueFlag(
    'WAN gossip address (host[:port], port 8302) of a server to join; repeatable; servers only.',
    (c, v) => c.retryJoinWan.push(v),
  ),
  'join-wan': valueFlag('Like -retry-join-wan.', (c, v) => c.retryJoinWan.push(v)),
  'retry-interval-wan': valueFlag(
    'Time between WAN join attempts (30s).',
    (c, v, n) => (c.retryIntervalWanMs = asDuration(v, `flag -${n}`)),
  ),
  'retry-max-wan': valueFlag(
    'WAN join attempts before giving up (0 = forever).',
    (c, v, n) => (c.retryMaxWan = asInt(v, `flag -${n}`)),
  ),
  datacenter: valueFlag('Datacenter of this agent (dc1).', (c, v) => (c.datacenter = v)),
  node: valueFlag('Node name (default: the host name).', (c, v) => (c.nodeName = v)),
  'node-id': valueFlag(
    'Node ID (UUID); default: generated once and kept in the data dir.',
    (c, v) => (c.nodeId = v),
  ),
  bind: valueFlag(
    'Address to bind the gossip and server RPC listeners to (0.0.0.0).',
    (c, v) => (c.bindAddr = v),
  ),
  advertise: valueFlag('Address other servers use to reach this one.', (c, v) => (c.advertiseAddr = v)),
  'advertise-wan': valueFlag(
    'Address servers of other datacenters use to reach this one (default: -advertise).',
    (c, v) => (c.advertiseAddrWan = v),
  ),
  client: valueFlag('Address for the HTTP API and DNS (127.0.0.1).', (c, v) => (c.clientAddr = v)),
  'data-dir': valueFlag('Where the Raft log, snapshots and node ID live.', (c, v) => (c.dataDir = v)),
  'http-port': valueFlag(
    'HTTP API port (8500; -1 disables).',
    (c, v, n) => (c.ports.http = asInt(v, `flag -${n}`)),
  ),
  'https-port': valueFlag(
    'HTTPS API port (-1: off; needs a certificate in the tls block).',
    (c, v, n) => (c.ports.https = asInt(v, `flag -${n}`)),
  ),
  'server-port': valueFlag('Server RPC port (8300).', (c, v, n) => (c.ports.server = asInt(v, `flag -${n}`))),
  'serf-lan-port': valueFlag(
    'LAN gossip port, UDP and TCP (8301).',
    (c, v, n) => (c.ports.serfLan = asInt(v, `flag -${n}`)),
  ),
  'serf-wan-port': valueFlag(
    'WAN gossip port, UDP and TCP (8302; servers only; -1 disables).',
    (c, v, n) => (c.ports.serfWan = asInt(v, `flag -${n}`)),
  ),
  encrypt: valueFlag(
    'Gossip encryption key: base64 of 16, 24 or 32 bytes.',
    (c, v) => (c.encrypt = v.trim()),
  ),
  'dns-port': valueFlag(
    'DNS port, UDP and TCP, at the -client address (8600; -1 disables).',
    (c, v, n) => (c.ports.dns = asInt(v, `flag -${n}`)),
  ),
  domain: valueFlag('The DNS domain served (consul).', (c, v) => (c.dns.domain = v)),
  'alt-domain': valueFlag('A second DNS domain answered like -domain.', (c, v) => (c.dns.altDomain = v)),
  recursor: valueFlag(
    'Upstream DNS server for names outside the domain (ip[:port]); repeatable, tried in order.',
    (c, v) => c.dns.recursors.push(v),
  ),
  'config-file': valueFlag('A JSON config file; repeatable.', () => undefined),
  'config-dir': valueFlag('A directory of JSON config files; repeatable.', () => undefined),
  'log-level': valueFlag(
    'trace, debug, info, warn or error (info).',
    (c, v, n) => (c.logLevel = asLogLevel(v, `flag -${n}`)),
  ),
  'log-json': boolFlag('Log JSON lines.', (c, v) => (c.logJson = v)),
  'log-file': valueFlag(
    'Also write the log to this file (a path ending in / is a directory: consul.log in it).',
    (c, v) => (c.logFile = v),
  ),
  'log-rotate-bytes': valueFlag(
    'Rotate the log file at this many bytes (0: no size limit).',
    (c, v, n) => (c.logRotateBytes = asInt(v, `flag -${n}`)),
  ),
  'log-rotate-duration': valueFlag(
    'Rotate the log file at this age (24h).',
    (c, v, n) => (c.logRotateDurationMs = asDuration(v, `flag -${n}`)),
  ),
  'log-rotate-max-files': valueFlag(
    'Rotated log files to keep (0: all, -1: none).',
    (c, v, n) => (c.logRotateMaxFiles = asInt(v, `flag -${n}`)),
  ),
  dev: boolFlag('One in-memory server, for development.', () => undefined),
  ui: boolFlag('Serve the web UI at /ui/ (on with -dev).', (c, v) => (c.ui = v)),
  'ui-dir': valueFlag(
    'Serve the web UI from this directory instead of the built one (dist/ui/); turns the UI on.',
    (c, v) => (c.uiDir = v),
  ),
  'ui-content-path': valueFlag('Path the web UI is served under (/ui/).', (c, v) => (c.uiContentPath = v)),
  'enable-script-checks': boolFlag(
    'Let script checks run, including those registered over HTTP.',
    (c, v) => (c.enableScriptChecks = v),
  ),
  'enable-local-script-checks': boolFlag(
    'Let script checks from config files run.',
    (c, v) => (c.enableLocalScriptChecks = v),
  ),
  'docker-sync': boolFlag(
    "Register the published ports of running Docker containers as services (Registrator's SERVICE_* labels).",
    (c, v) => (c.dockerSync.enabled = v),
  ),
  'docker-host': valueFlag(
    'Docker Engine API for -docker-sync: unix:///path or tcp://host:port (default: DOCKER_HOST, else unix:///var/run/docker.sock).',
    (c, v) => (c.dockerSync.host = v),
  ),
};

interface ParsedFlag {
  name: string;
  value: string;
}

/** Splits Go-style flags (-name value, -name=value, --name, booleans without a value). */
export function parseFlags(args: string[], table: Record<string, Flag>): ParsedFlag[] {
  const out: ParsedFlag[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith('-') || arg === '-' || arg === '--') {
      throw configError(`unexpected argument "${arg}" (flags start with -)`);
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const flag = table[name];
    if (!flag) throw configError(`unknown flag: -${name}`);
    if (eq >= 0) out.push({ name, value: body.slice(eq + 1) });
    else if (flag.kind === 'bool') out.push({ name, value: 'true' });
    else {
      const v = args[i + 1];
      if (v === undefined) throw configError(`flag needs an argument: -${name}`);
      out.push({ name, value: v });
      i++;
    }
  }
  return out;
}

/** defaults (and DOCKER_HOST) → -dev → config files and dirs (in order) → flags. */
export function loadAgentConfig(args: string[], env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const flags = parseFlags(args, AGENT_FLAGS);
  const c = defaultConfig();
  // As the docker CLI: DOCKER_HOST stands in for the default socket; a file or flag wins over it.
  const dockerHost = env['DOCKER_HOST']?.trim();
  if (dockerHost) c.dockerSync.host = dockerHost;
  if (flags.some((f) => f.name === 'dev' && asBool(f.value, 'flag -dev'))) applyDev(c);
  for (const f of flags) {
    if (f.name === 'config-file') loadFile(c, f.value);
    else if (f.name === 'config-dir') loadDir(c, f.value);
  }
  for (const f of flags) (AGENT_FLAGS[f.name] as Flag).apply(c, f.value, f.name);
  if (c.nodeName === '') c.nodeName = hostname();
  return c;
}
