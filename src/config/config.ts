// The agent's configuration: one typed object built from defaults, then config files (in order),
// then command-line flags. Keys and flags carry Consul's names so existing configs and habits work;
// anything unknown or invalid is refused with one clear line.

import { ConsulError, ErrorCode } from '../core/errors.js';
import { parseUpstream } from '../dns/recursor.js';
import { DEFAULT_DOCKER_HOST, parseDockerHost } from '../agent/docker/engine-api.js';
import { decodeKey } from '../gossip/keyring.js';
import { fastTimings, lanTimings, wanTimings, type GossipTimings } from '../gossip/types.js';
import type { RaftTimings } from '../raft/driver.js';
import type { WatchPlan } from '../watch/plan.js';
import { defaultCoordinateSyncConfig, type CoordinateSyncConfig } from '../coordinate/sync.js';
import { defaultCoordinateUpdateConfig, type CoordinateUpdateConfig } from '../coordinate/updates.js';
import { defaultTlsConfig, loadTlsMaterial, type TlsConfig } from './tls.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface Ports {
  http: number;
  https: number;
  dns: number;
  server: number;
  serfLan: number;
  serfWan: number;
  grpc: number;
}

export interface RaftTuning {
  /** Consul's performance.raft_multiplier: scales every Raft timeout (1 = the fastest safe setting). */
  multiplier: number;
  /** Per multiplier unit: election (follower heartbeat) timeout 1 s, heartbeat every 100 ms, lease 500 ms. */
  electionTimeoutMs: number;
  heartbeatIntervalMs: number;
  leaseTimeoutMs: number;
  snapshotThreshold: number;
  snapshotIntervalMs: number;
  trailingLogs: number;
}

/** Consul's autopilot block (the parts that apply before upgrades and zones exist). */
export interface Autopilot {
  cleanupDeadServers: boolean;
  /**
   * Never remove a dead server while fewer than this many voters would remain. Consul's default is
   * 0; ours is bootstrap_expect when it is set, so a failed server is only cleaned up once a
   * replacement has joined (see README).
   */
  minQuorum: number;
  /** A server that has not heard from the leader for longer is unhealthy (Consul: 200ms). */
  lastContactThresholdMs: number;
  /** A server more entries than this behind the leader is unhealthy (Consul: 250). */
  maxTrailingLogs: number;
  /** How long a new server must be healthy before it is promoted to voter (Consul: 10s). */
  serverStabilizationTimeMs: number;
  /** Enterprise settings in Consul: stored and shown, not acted on. */
  redundancyZoneTag: string;
  disableUpgradeMigration: boolean;
  upgradeVersionTag: string;
}

/** Consul's dns_config block, with -domain, alt_domain and recursors. */
export interface DnsConfig {
  /** The domain served, lower-case without dots at either end ("consul"). */
  domain: string;
  /** A second domain answered like the first ('' when none). */
  altDomain: string;
  nodeTtlMs: number;
  /** Service name, name prefix ending in "*", or "*" alone → TTL. */
  serviceTtlMs: Record<string, number>;
  /** Let any server answer from its own state (Consul's default). */
  allowStale: boolean;
  /** A stale answer older than this is asked again of the leader. */
  maxStaleMs: number;
  /** Leave out instances with a warning check too. */
  onlyPassing: boolean;
  /** At most this many instances in a UDP answer without EDNS0; 0: no limit (Consul: 3). */
  udpAnswerLimit: number;
  /** At most this many A/AAAA records in any answer; 0: no limit. */
  aRecordLimit: number;
  /** Set TC when a UDP answer was trimmed, so resolvers retry over TCP (Consul: false; ours: true). */
  enableTruncate: boolean;
  /** Upstream DNS servers ("ip", "ip:port", "[ip6]:port") for names outside our domains. */
  recursors: string[];
  recursorTimeoutMs: number;
  /** "sequential" (in order) or "random" (a random order for each query). */
  recursorStrategy: 'sequential' | 'random';
  soa: { refresh: number; retry: number; expire: number; minTtl: number };
}

/**
 * Consul's `limits` block: what one client address may hold open, and how long a connection may
 * take to say who it is. Defaults are Consul's (agent/config/default.go).
 */
export interface Limits {
  /** Open HTTP(S) API connections from one remote IP; the next is answered 429 and closed (0: no cap). */
  httpMaxConnsPerClient: number;
  /** Open server RPC connections from one remote IP; the next is closed at once (0: no cap). */
  rpcMaxConnsPerClient: number;
  /** A server RPC connection must finish the WebSocket upgrade and send its first frame in this time. */
  rpcHandshakeTimeoutMs: number;
  /** A TLS handshake on the HTTPS port must finish in this time (used by the HTTPS listener). */
  httpsHandshakeTimeoutMs: number;
}

/**
 * The HTTP API server's timeouts against slow or silent clients (Consul 1.22's http_config
 * read_header_timeout, read_timeout and idle_timeout; the defaults are ours).
 */
export interface HttpTimeouts {
  /** From the connection (or the previous response) to the end of the request's headers. */
  readHeaderTimeoutMs: number;
  /** From the connection (or the previous response) to the end of the request's body; never the response. */
  readTimeoutMs: number;
  /** A connection with no request in flight and no bytes moving is closed after this. */
  idleTimeoutMs: number;
}

/** -docker-sync: containers' published ports as local services (agent/docker). */
export interface DockerSyncConfig {
  enabled: boolean;
  /** The Engine API: unix:///path or tcp://host:port (default: DOCKER_HOST, else the local socket). */
  host: string;
  /** A full resync this often while connected (0: only after each reconnect, and events). */
  resyncIntervalMs: number;
}

/**
 * Consul's telemetry block, as far as /v1/agent/metrics goes (no statsd/dogstatsd sinks). Prometheus
 * text is always served here; Consul serves it only with prometheus_retention_time > 0, which is
 * accepted and kept for compatibility (series never expire here).
 */
export interface TelemetryConfig {
  /** false (Consul's default): the JSON gauge names carry the host name after the prefix. */
  disableHostname: boolean;
  prometheusRetentionMs: number;
  /** The first part of every metric name ("consul"). */
  metricsPrefix: string;
}

/** Consul's acl block (tokens, roles and auth methods beyond these are not supported). */
export interface AclConfig {
  enabled: boolean;
  /** What a request may do when no rule of its token matches (Consul: allow; deny when hardened). */
  defaultPolicy: 'allow' | 'deny';
  /** A client agent that cannot reach a server to resolve a token. */
  downPolicy: 'allow' | 'deny' | 'extend-cache' | 'async-cache';
  /** How long a client agent caches a resolved token (Consul's token_ttl, 30 s). */
  tokenTtlMs: number;
  /** Recursive KV reads need `list` on the prefix (Consul's enable_key_list_policy). */
  enableKeyListPolicy: boolean;
  /** Tokens set over /v1/agent/token are kept in the data dir (acl-tokens.json, mode 0600). */
  enableTokenPersistence: boolean;
  tokens: {
    /** A management token's secret the leader creates at startup (Consul's initial_management). */
    initialManagement: string;
    /** The agent's own token for its internal requests (anti-entropy, coordinates, ...). */
    agent: string;
    /** The token of requests that bring none. */
    default: string;
  };
}

export interface AgentConfig {
  server: boolean;
  bootstrap: boolean;
  bootstrapExpect: number;
  retryJoin: string[];
  retryIntervalMs: number;
  retryMax: number;
  /** WAN gossip addresses to join (-retry-join-wan, -join-wan; servers only). */
  retryJoinWan: string[];
  retryIntervalWanMs: number;
  retryMaxWan: number;
  datacenter: string;
  nodeName: string;
  nodeId: string;
  bindAddr: string;
  advertiseAddr: string;
  /** The address other datacenters reach this server at (WAN gossip, the `http` WAN tag); '' = advertiseAddr. */
  advertiseAddrWan: string;
  clientAddr: string;
  dataDir: string;
  ports: Ports;
  logLevel: LogLevel;
  logJson: boolean;
  /** -log-file: also write the log to this file ('' = stdout only); a path ending in / is a directory. */
  logFile: string;
  /** Rotate the log file at this size (0: no size limit). */
  logRotateBytes: number;
  /** Rotate the log file at this age (Consul: 24 h). */
  logRotateDurationMs: number;
  /** Rotated log files kept: 0 all, -1 none, N the newest N. */
  logRotateMaxFiles: number;
  dev: boolean;
  /** Serve the web UI (Consul's -ui / ui_config.enabled; a uiDir turns it on too, as in Consul). */
  ui: boolean;
  /** The built UI's directory (-ui-dir, ui_config.dir); '' = dist/ui/ under the package root. */
  uiDir: string;
  /** Where the UI is served (-ui-content-path, ui_config.content_path), '/ui/' as in Consul. */
  uiContentPath: string;
  raft: RaftTuning;
  rpcHoldTimeoutMs: number;
  /** LAN gossip timings (Consul's gossip_lan block); -dev uses the fast profile. */
  gossipLan: GossipTimings;
  /** WAN gossip timings (Consul's gossip_wan block); -dev uses the fast profile. */
  gossipWan: GossipTimings;
  /** Base64 gossip key (-encrypt); empty: no encryption unless a keyring file exists. */
  encrypt: string;
  encryptVerifyIncoming: boolean;
  encryptVerifyOutgoing: boolean;
  /** Serf's reconnect_timeout: how long a failed node is remembered (and retried) before it is reaped. */
  reconnectTimeoutMs: number;
  /** The same for the WAN pool (Consul's reconnect_timeout_wan). */
  reconnectTimeoutWanMs: number;
  /** How often the leader reconciles gossip membership into the catalog (Consul: 60 s). */
  reconcileIntervalMs: number;
  autopilot: Autopilot;
  /** Largest KV value (Consul's kv_max_value_size). */
  kvMaxValueSize: number;
  /** Largest transaction body (Consul's txn_max_req_len). */
  txnMaxReqLen: number;
  /** Consul's `watches` block, parsed and checked at load; run against the agent's own HTTP API. */
  watches: WatchPlan[];
  /** Service definitions from config files (`service`, `services`), parsed when the agent starts. */
  services: unknown[];
  /** Check definitions from config files (`check`, `checks`), parsed when the agent starts. */
  checks: unknown[];
  /** Script checks registered over HTTP (and from config files) may run. */
  enableScriptChecks: boolean;
  /** Script checks from config files only may run. */
  enableLocalScriptChecks: boolean;
  /** Output-only check changes reach the catalog at most this often (Consul's check_update_interval). */
  checkUpdateIntervalMs: number;
  /** Anti-entropy full sync interval before scaling and stagger (Consul's non-user ae_interval, 1 m). */
  aeIntervalMs: number;
  /** This node's metadata in the catalog (Consul's node_meta). */
  nodeMeta: Record<string, string>;
  dns: DnsConfig;
  /**
   * Network coordinates: `disabled` is Consul's disable_coordinates (no LAN coordinates sent to the
   * catalog); `sync` the agent's sending (sync_coordinate_*), `update` the leader's batching
   * (Consul's non-user coordinate_update_*; -dev flushes every 100 ms as Consul's dev mode does).
   */
  coordinates: { disabled: boolean; sync: CoordinateSyncConfig; update: CoordinateUpdateConfig };
  dockerSync: DockerSyncConfig;
  limits: Limits;
  httpTimeouts: HttpTimeouts;
  acl: AclConfig;
  /** Agent TLS (Consul's tls block and the older top-level keys): HTTPS and the server RPC port. */
  tls: TlsConfig;
  telemetry: TelemetryConfig;
}

// Consul's defaults (agent/config/default.go), with ours noted where they differ.
export function defaultConfig(): AgentConfig {
  return {
    server: false,
    bootstrap: false,
    bootstrapExpect: 0,
    retryJoin: [],
    retryIntervalMs: 30_000,
    retryMax: 0,
    retryJoinWan: [],
    retryIntervalWanMs: 30_000,
    retryMaxWan: 0,
    datacenter: 'dc1',
    nodeName: '',
    nodeId: '',
    bindAddr: '0.0.0.0',
    advertiseAddr: '',
    advertiseAddrWan: '',
    clientAddr: '127.0.0.1',
    dataDir: '',
    ports: { http: 8500, https: -1, dns: 8600, server: 8300, serfLan: 8301, serfWan: 8302, grpc: -1 },
    logLevel: 'info',
    logJson: false,
    logFile: '',
    logRotateBytes: 0,
    logRotateDurationMs: 24 * 3_600_000,
    logRotateMaxFiles: 0,
    dev: false,
    ui: false,
    uiDir: '',
    uiContentPath: '/ui/',
    raft: {
      multiplier: 5,
      electionTimeoutMs: 1000,
      heartbeatIntervalMs: 100,
      leaseTimeoutMs: 500,
      snapshotThreshold: 16384,
      snapshotIntervalMs: 30_000,
      trailingLogs: 10240,
    },
    rpcHoldTimeoutMs: 7000,
    gossipLan: { ...lanTimings },
    gossipWan: { ...wanTimings },
    encrypt: '',
    encryptVerifyIncoming: true,
    encryptVerifyOutgoing: true,
    reconnectTimeoutMs: lanTimings.reconnectTimeoutMs,
    reconnectTimeoutWanMs: wanTimings.reconnectTimeoutMs,
    reconcileIntervalMs: 60_000,
    autopilot: {
      cleanupDeadServers: true,
      minQuorum: 0,
      lastContactThresholdMs: 200,
      maxTrailingLogs: 250,
      serverStabilizationTimeMs: 10_000,
      redundancyZoneTag: '',
      disableUpgradeMigration: false,
      upgradeVersionTag: '',
    },
    kvMaxValueSize: 512 * 1024,
    txnMaxReqLen: 512 * 1024,
    watches: [],
    services: [],
    checks: [],
    enableScriptChecks: false,
    enableLocalScriptChecks: false,
    checkUpdateIntervalMs: 5 * 60_000,
    aeIntervalMs: 60_000,
    nodeMeta: {},
    dns: {
      domain: 'consul',
      altDomain: '',
      nodeTtlMs: 0,
      serviceTtlMs: {},
      allowStale: true,
      maxStaleMs: 87600 * 3_600_000,
      onlyPassing: false,
      // Consul trims UDP answers without EDNS0 to 3 records and sets no TC unless enable_truncate;
      // ours fills the 512 bytes and sets TC, so resolvers retry over TCP and see every instance.
      udpAnswerLimit: 0,
      aRecordLimit: 0,
      enableTruncate: true,
      recursors: [],
      recursorTimeoutMs: 2000,
      recursorStrategy: 'sequential',
      soa: { refresh: 3600, retry: 600, expire: 86400, minTtl: 0 },
    },
    coordinates: {
      disabled: false,
      sync: { ...defaultCoordinateSyncConfig },
      update: { ...defaultCoordinateUpdateConfig },
    },
    // Registrator resyncs only when asked (-resync); ours every 30 s, which also repairs anything
    // an event stream cut short missed: a list plus one inspect per running container.
    dockerSync: { enabled: false, host: DEFAULT_DOCKER_HOST, resyncIntervalMs: 30_000 },
    limits: {
      httpMaxConnsPerClient: 200,
      rpcMaxConnsPerClient: 100,
      rpcHandshakeTimeoutMs: 5000,
      httpsHandshakeTimeoutMs: 5000,
    },
    // Headers and body must arrive within these; the response (a blocking query may take 10 min
    // and more) is never timed. Idle: a silent new connection, or a kept-alive one between requests.
    httpTimeouts: { readHeaderTimeoutMs: 10_000, readTimeoutMs: 60_000, idleTimeoutMs: 30_000 },
    acl: {
      enabled: false,
      defaultPolicy: 'allow',
      downPolicy: 'extend-cache',
      tokenTtlMs: 30_000,
      enableKeyListPolicy: false,
      enableTokenPersistence: false,
      tokens: { initialManagement: '', agent: '', default: '' },
    },
    tls: defaultTlsConfig(),
    telemetry: { disableHostname: false, prometheusRetentionMs: 0, metricsPrefix: 'consul' },
  };
}

/**
 * -dev: one in-memory server. Consul's dev mode runs Raft at ~50 ms; a single server has nobody to
 * time out on, so ours keeps raft_multiplier 1 timings, which also survive GC pauses when a dev
 * agent is later joined by others.
 */
export function applyDev(c: AgentConfig): void {
  c.dev = true;
  c.server = true;
  c.bootstrap = true;
  c.bindAddr = '127.0.0.1';
  c.ui = true;
  c.logLevel = c.logLevel === 'info' ? 'debug' : c.logLevel;
  c.raft.multiplier = 1;
  c.gossipLan = { ...fastTimings };
  c.gossipWan = { ...fastTimings };
  c.coordinates.update.periodMs = 100;
}

/** Timings in milliseconds after raft_multiplier. */
export function raftTimings(c: AgentConfig): RaftTimings {
  const m = c.raft.multiplier;
  return {
    electionTimeoutMs: c.raft.electionTimeoutMs * m,
    heartbeatIntervalMs: c.raft.heartbeatIntervalMs * m,
    leaseTimeoutMs: c.raft.leaseTimeoutMs * m,
    snapshotIntervalMs: c.raft.snapshotIntervalMs,
    snapshotThreshold: c.raft.snapshotThreshold,
    trailingLogs: c.raft.trailingLogs,
  };
}

const DC_RE = /^[a-z0-9_-]+$/;
const LABEL_RE = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** A domain as we keep it: lower-case, no dots at either end; '' stays ''. */
function normalDomain(d: string, what: string): string {
  const n = d
    .trim()
    .toLowerCase()
    .replace(/^\.+|\.+$/g, '');
  if (n === '') return '';
  if (n.length > 200 || !n.split('.').every((l) => LABEL_RE.test(l)))
    throw configError(`${what} "${d}" is not a valid DNS domain`);
  return n;
}

function validateDns(d: DnsConfig): void {
  d.domain = normalDomain(d.domain, 'domain');
  if (d.domain === '') throw configError('domain cannot be empty');
  d.altDomain = normalDomain(d.altDomain, 'alt_domain');
  if (d.altDomain === d.domain) throw configError('alt_domain cannot be the same as domain');
  for (const r of d.recursors) {
    if (parseUpstream(r) === null)
      throw configError(`recursors: "${r}" is not an address (ip, ip:port or [ipv6]:port)`);
  }
  if (d.udpAnswerLimit < 0) throw configError('dns_config.udp_answer_limit cannot be negative');
  if (d.aRecordLimit < 0) throw configError('dns_config.a_record_limit cannot be negative');
  if (d.recursorTimeoutMs <= 0) throw configError('dns_config.recursor_timeout must be positive');
}
function validateTelemetry(t: TelemetryConfig): void {
  // Dots separate the name's parts; each part must make a valid Prometheus name once joined by "_".
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*(\.[a-zA-Z0-9_]+)*$/.test(t.metricsPrefix))
    throw configError(
      `telemetry.metrics_prefix "${t.metricsPrefix}" must be letters, digits and "_" in dot-separated parts`,
    );
  if (t.prometheusRetentionMs < 0)
    throw configError('telemetry.prometheus_retention_time cannot be negative');
}

/** Consul's form of ui_config.content_path: one slash at each end; never / or the API's /v1/. */
function normalContentPath(p: string): string {
  const n = `/${p.trim().replace(/^\/+|\/+$/g, '')}/`;
  if (n === '//' || n === '/v1/' || n.startsWith('/v1/'))
    throw configError(`ui_config.content_path "${p}" would hide the HTTP API; use a path like /ui/`);
  return n;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function configError(msg: string): ConsulError {
  return new ConsulError(ErrorCode.Config, msg);
}

/** Checks the combination of settings; returns warnings worth logging. */
export function validateConfig(c: AgentConfig): string[] {
  const warnings: string[] = [];
  c.datacenter = c.datacenter.toLowerCase();
  if (!DC_RE.test(c.datacenter))
    throw configError(`datacenter "${c.datacenter}" must be alphanumeric with dashes and underscores`);
  if (c.nodeName === '') throw configError('node name is empty (set -node)');
  if (c.nodeId !== '' && !UUID_RE.test(c.nodeId)) throw configError(`node_id "${c.nodeId}" is not a UUID`);
  if (!c.dev && c.dataDir === '') throw configError('data_dir is required (set -data-dir), except with -dev');
  if (c.bootstrap && c.bootstrapExpect > 0)
    throw configError('bootstrap_expect and bootstrap are mutually exclusive');
  if ((c.bootstrap || c.bootstrapExpect > 0) && !c.server) {
    throw configError('bootstrap and bootstrap_expect require server mode (-server)');
  }
  if (c.bootstrapExpect < 0) throw configError('bootstrap_expect cannot be negative');
  if (c.bootstrapExpect === 1)
    warnings.push('bootstrap_expect = 1: this server will elect itself leader alone (same as -bootstrap)');
  if (c.bootstrapExpect === 2)
    warnings.push('bootstrap_expect = 2: a cluster of 2 servers cannot tolerate the loss of either');
  if (c.bootstrapExpect > 2 && c.bootstrapExpect % 2 === 0) {
    warnings.push(
      `bootstrap_expect is even (${c.bootstrapExpect}): an odd number of servers tolerates the same failures with fewer machines`,
    );
  }
  if (c.encrypt !== '') {
    try {
      decodeKey(c.encrypt);
    } catch (err) {
      throw configError(
        `encrypt: the gossip key must be base64 of 16, 24 or 32 bytes (consulate keygen makes one): ${(err as Error).message}`,
      );
    }
  }
  for (const [block, g] of [
    ['gossip_lan', c.gossipLan],
    ['gossip_wan', c.gossipWan],
  ] as const) {
    for (const [k, v] of Object.entries(g) as [string, number][]) {
      if (!Number.isFinite(v) || v <= 0) throw configError(`${block}.${k} must be positive, got ${v}`);
    }
    if (g.probeTimeoutMs >= g.probeIntervalMs)
      throw configError(`${block}.probe_timeout must be shorter than ${block}.probe_interval`);
  }
  // Consul refuses a reconnect_timeout under 8 h; we allow shorter ones (labs, tests) but not < 1 s.
  if (c.reconnectTimeoutMs < 1000) throw configError('reconnect_timeout must be at least 1s');
  if (c.reconnectTimeoutWanMs < 1000) throw configError('reconnect_timeout_wan must be at least 1s');
  // Consul logs this and goes on: only servers are in the WAN pool.
  if (!c.server && c.retryJoinWan.length > 0)
    warnings.push("(WAN) couldn't join: Err: Must be a server to join WAN cluster");
  if (c.ports.serfLan === 0 && !c.dev)
    warnings.push('ports.serf_lan = 0: a random port; others must be told it');
  if (!Number.isInteger(c.raft.multiplier) || c.raft.multiplier < 1 || c.raft.multiplier > 10) {
    throw configError(`performance.raft_multiplier must be between 1 and 10, got ${c.raft.multiplier}`);
  }
  for (const [name, port] of Object.entries(c.ports) as [string, number][]) {
    if (!Number.isInteger(port) || port < -1 || port > 65535)
      throw configError(`ports.${name} must be a port number or -1, got ${port}`);
  }
  if (c.ports.server <= 0 && c.server) throw configError('ports.server cannot be disabled on a server');
  if (c.ports.serfLan < 0)
    throw configError('ports.serf_lan cannot be disabled: agents find each other through it');
  if (c.aeIntervalMs < 100) throw configError('ae_interval must be at least 100ms');
  if (!(c.coordinates.sync.rateTarget > 0)) throw configError('sync_coordinate_rate_target must be positive');
  if (c.coordinates.sync.intervalMinMs < 100)
    throw configError('sync_coordinate_interval_min must be at least 100ms');
  validateDns(c.dns);
  validateTelemetry(c.telemetry);
  c.uiContentPath = normalContentPath(c.uiContentPath);
  if (c.dockerSync.enabled) {
    try {
      parseDockerHost(c.dockerSync.host);
    } catch (err) {
      throw configError(
        `docker host (-docker-host, docker_sync.host, DOCKER_HOST): ${(err as Error).message}`,
      );
    }
    const r = c.dockerSync.resyncIntervalMs;
    if (r !== 0 && r < 1000) throw configError('docker_sync.resync_interval must be 0 (off) or at least 1s');
  }
  validateLimits(c);
  validateLogFile(c);
  if (!(c.acl.tokenTtlMs >= 0)) throw configError('acl.token_ttl cannot be negative');
  if (c.server && c.autopilot.minQuorum === 0) c.autopilot.minQuorum = c.bootstrapExpect;
  validateTls(c);
  return warnings;
}

function validateLogFile(c: AgentConfig): void {
  if (!Number.isInteger(c.logRotateBytes) || c.logRotateBytes < 0)
    throw configError(`log_rotate_bytes must be 0 (no limit) or a positive integer, got ${c.logRotateBytes}`);
  if (!(c.logRotateDurationMs >= 1000)) throw configError('log_rotate_duration must be at least 1s');
  if (!Number.isInteger(c.logRotateMaxFiles) || c.logRotateMaxFiles < -1)
    throw configError(
      `log_rotate_max_files must be -1 (keep none), 0 (keep all) or a positive integer, got ${c.logRotateMaxFiles}`,
    );
}

function validateLimits(c: AgentConfig): void {
  const l = c.limits;
  for (const [k, v] of [
    ['limits.http_max_conns_per_client', l.httpMaxConnsPerClient],
    ['limits.rpc_max_conns_per_client', l.rpcMaxConnsPerClient],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw configError(`${k} must be 0 (no cap) or a positive integer, got ${v}`);
  }
  for (const [k, v] of [
    ['limits.rpc_handshake_timeout', l.rpcHandshakeTimeoutMs],
    ['limits.https_handshake_timeout', l.httpsHandshakeTimeoutMs],
    ['http_config.read_header_timeout', c.httpTimeouts.readHeaderTimeoutMs],
    ['http_config.read_timeout', c.httpTimeouts.readTimeoutMs],
    ['http_config.idle_timeout', c.httpTimeouts.idleTimeoutMs],
  ] as const) {
    if (!(v >= 100)) throw configError(`${k} must be at least 100ms`);
  }
  if (c.httpTimeouts.readHeaderTimeoutMs > c.httpTimeouts.readTimeoutMs)
    throw configError('http_config.read_header_timeout cannot be longer than http_config.read_timeout');
}

/**
 * Whether anything stops a stranger who can reach the HTTP API from reading and rewriting
 * everything: ACLs with default_policy deny. With default_policy allow, a request without a token
 * may still do anything the anonymous token is not denied, which by default is everything.
 */
export function apiAccessControlled(c: AgentConfig): boolean {
  return c.acl.enabled && c.acl.defaultPolicy === 'deny';
}

/** True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopback(addr: string): boolean {
  const a = addr
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return (
    a === 'localhost' ||
    a === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a) ||
    a.startsWith('::ffff:127.')
  );
}

/**
 * The start warning when the HTTP API is reachable from other machines and nothing controls
 * access to it; null when the API is loopback-only, disabled, or access is controlled.
 */
export function exposedApiWarning(c: AgentConfig): string | null {
  if (c.ports.http < 0 && c.ports.https < 0) return null;
  if (isLoopback(c.clientAddr) || apiAccessControlled(c)) return null;
  const ports = [
    c.ports.http >= 0 ? `http ${c.ports.http}` : '',
    c.ports.https >= 0 ? `https ${c.ports.https}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return (
    `the HTTP API listens on ${c.clientAddr} (${ports}), beyond loopback, and ` +
    `${c.acl.enabled ? 'ACLs default to allow' : 'ACLs are off'}: ` +
    'anyone who can reach it can read and change every service, check and key. ' +
    'Bind it to 127.0.0.1 (-client), or turn on ACLs with default_policy deny, or firewall the port'
  );
}

/** Reads and checks the TLS files of every interface in use (HTTPS only when its port is on). */
function validateTls(c: AgentConfig): void {
  const https = loadTlsMaterial(c.tls, 'https');
  if (c.ports.https >= 0 && (!https || https.cert === ''))
    throw configError(
      'ports.https is set but there is no certificate: set tls.defaults (or tls.https) cert_file and key_file',
    );
  loadTlsMaterial(c.tls, 'internalRpc');
}
