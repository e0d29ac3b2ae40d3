// The agent's composition root, in either mode: node identity, the LAN gossip pool, user events,
// the HTTP API, and then either the server half (Raft, state, RPC; server/server.ts) or, on a client,
// the router that sends every request to a server found through gossip.

import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { Server as TlsServer } from 'node:tls';
import { join } from 'node:path';
import { createServer as createHttpsServer } from 'node:https';
import { serve, type ServerType } from '@hono/node-server';
import type { Logger } from 'pino';
import { exposedApiWarning, type AgentConfig } from '../config/config.js';
import { loadTlsMaterial, tlsSettings } from '../config/tls.js';
import type { ClientOptions, ClientTls } from '../client/client.js';
import { ConsulError, ErrorCode } from '../core/errors.js';
import { cryptoRng, type Rng } from '../core/rng.js';
import { GossipAgent } from '../gossip/driver.js';
import { keyringPath, openKeyring } from '../gossip/keyring.js';
import { registerKeyringHandlers, runKeyringOp } from '../gossip/keyring-ops.js';
import type { Member, MemberEventType, UserEvent } from '../gossip/types.js';
import { AgentDns } from '../dns/agent-dns.js';
import { createApp } from '../http/app.js';
import { httpServerOptions, limitConnections, type HttpConnLimits } from '../http/conn-limits.js';
import type { Status } from '../raft/raw-node.js';
import { RpcNetwork } from '../rpc/network.js';
import { rpcTlsOf } from '../rpc/tls.js';
import { advertiseAddress } from '../server/net.js';
import { ServerAgent } from '../server/server.js';
import {
  EventLog,
  eventJson,
  filtersMatch,
  packEnvelope,
  unpackEnvelope,
  validateFilters,
  type AgentEvent,
  type EventFilters,
} from './event-log.js';
import { datacenterRanker } from '../coordinate/pool.js';
import { DockerApi, parseDockerHost } from './docker/engine-api.js';
import { DockerSync, localTarget } from './docker/docker-sync.js';
import { loadNodeId } from './identity.js';
import { lanGossipConfig, lanTags, retryJoin, serverPeer } from './lan.js';
import { LAN_SNAPSHOT_FILE, MemberSnapshot, rejoinPrevious } from './member-snapshot.js';
import type { NodeRecord } from './local/ae-plan.js';
import { LocalAgent } from './local/local-agent.js';
import { ServerRouter } from './server-router.js';
import { httpTagAddr, WanPool } from './wan.js';
import { startWatches, type WatchSet } from '../watch/runner.js';
import { CoordinateSync } from '../coordinate/sync.js';
import { TokenResolver, type ResolvedIdentity } from '../acl/resolver.js';
import { loadPersistedTokens } from '../acl/agent-tokens.js';
import type { LogHub } from '../core/logger.js';
import { unreloadableChanges } from './reload.js';
import type { QueryResult } from '../rpc/endpoints/types.js';
import { AgentMetrics } from '../metrics/agent-metrics.js';
import { observedCalls } from '../metrics/hooks.js';

export interface AgentAddresses {
  http: string | null;
  /** "addr:port" of the HTTPS API; null when ports.https is -1 (the default). */
  https: string | null;
  /** "addr:port" of the DNS interface (UDP and TCP); null when disabled. */
  dns: string | null;
  rpc: string | null;
  serfLan: string;
  /** "addr:port" of the WAN gossip pool; null on a client or with ports.serf_wan -1. */
  serfWan: string | null;
}

/** What an agent may be given beyond its config and logger (the CLI's agent command gives both). */
export interface AgentOptions {
  /** The log fan-out behind `logger`: the monitor endpoint subscribes to it, a reload sets its level. */
  logs?: LogHub;
  /** Reads the config again as the agent was started (files and flags), checked; for reloads. */
  configSource?: () => Promise<AgentConfig>;
}

export class Agent {
  readonly config: AgentConfig;
  readonly logger: Logger;
  nodeId = '';
  readonly startedAt = Date.now();
  readonly rng: Rng = cryptoRng();
  readonly events = new EventLog();
  /** The server half; null on a client agent. */
  server: ServerAgent | null = null;
  lan!: GossipAgent;
  /** The WAN gossip pool (servers only; null on a client or with ports.serf_wan -1). */
  wanPool: WanPool | null = null;
  httpAddr: string | null = null;
  /** "addr:port" of the HTTPS API (null when ports.https is -1). */
  httpsAddr: string | null = null;
  /** "addr:port" of the DNS interface, UDP and TCP (null when ports.dns is -1). */
  dnsAddr: string | null = null;
  dns: AgentDns | null = null;
  /** How HTTP handlers reach the endpoints: the local server's forwarder, or a server over RPC. */
  forwarder!: { call(method: string, args: unknown, signal: AbortSignal): Promise<unknown> };
  /** Token secret → Authorizer (Contract D): from the local server's state, or a server's over RPC. */
  acl!: TokenResolver;
  /** This agent's metrics (its own registry): /v1/agent/metrics. */
  readonly metrics: AgentMetrics;
  /** This agent's own services and checks, their runners and anti-entropy (agent/local). */
  local!: LocalAgent;
  private router: ServerRouter | null = null;
  private clientNet: RpcNetwork | null = null;
  private http: ServerType | null = null;
  private https: ServerType | null = null;
  private watches: WatchSet | null = null;
  /** The LAN members to join again after a restart (null with -dev: nothing is kept). */
  private snapshot: MemberSnapshot | null = null;
  /** -docker-sync: containers' published ports as local services (null when off). */
  dockerSync: DockerSync | null = null;
  /** Sends this node's LAN coordinate to the servers (null with disable_coordinates). */
  coordinateSync: CoordinateSync | null = null;
  private stopping: Promise<void> | null = null;
  /** The log fan-out (null when the agent was given a bare logger: no monitor, no level changes). */
  readonly logs: LogHub | null;
  private readonly configSource: (() => Promise<AgentConfig>) | null;
  /** Reloads run one at a time, in the order asked. */
  private reloading: Promise<unknown> = Promise.resolve();
  private resolveStopped!: () => void;
  /** Resolves once the agent has stopped (a signal, or /v1/agent/leave). */
  readonly stopped = new Promise<void>((r) => (this.resolveStopped = r));

  constructor(config: AgentConfig, logger: Logger, opts: AgentOptions = {}) {
    this.config = config;
    this.logger = logger;
    this.logs = opts.logs ?? null;
    this.configSource = opts.configSource ?? null;
    this.metrics = new AgentMetrics({
      prefix: config.telemetry.metricsPrefix,
      disableHostname: config.telemetry.disableHostname,
      nodeName: config.nodeName,
      server: config.server,
    });
  }

  async start(): Promise<AgentAddresses> {
    const c = this.config;
    const log = this.logger;
    if (!c.dev) await mkdir(c.dataDir, { recursive: true, mode: 0o700 });
    this.nodeId = await loadNodeId(c);
    const advertise = advertiseAddress(c);
    this.local = new LocalAgent({
      config: c,
      node: () => this.nodeRecord(advertise),
      call: (method, args, signal) => this.callAsAgent(method, args, signal),
      clusterSize: () =>
        this.lan.members().filter((m) => m.status === 'alive' || m.status === 'suspect').length,
      rng: this.rng,
      logger: log.child({ component: 'agent.local' }),
    });
    // Before anything listens: an invalid service or check in the config files stops the agent.
    this.local.load();
    log.info(
      { node: c.nodeName, id: this.nodeId, dc: c.datacenter, mode: c.server ? 'server' : 'client' },
      'starting agent',
    );

    let rpc: string | null = null;
    if (c.server) {
      this.server = new ServerAgent(c, log, this.nodeId);
      this.server.hooks = this.metrics;
      rpc = await this.server.start();
      this.metrics.attachServer({ driver: this.server.driver, store: this.server.fsm.store });
      this.forwarder = observedCalls(this.server.forwarder, this.metrics);
    }
    loadPersistedTokens(c);
    this.acl = this.tokenResolver();

    const keyringFile = c.dev ? null : keyringPath(c.dataDir);
    const keyring = await openKeyring({
      file: keyringFile,
      encrypt: c.encrypt,
      logger: log.child({ component: 'agent.keyring' }),
    });
    const tags = lanTags(c, this.nodeId, this.server?.rpcPort() ?? 0);
    // The WAN pool binds first: the LAN tags carry its port, for the flood join (Consul's wan_join_port).
    let serfWan: string | null = null;
    const advertiseWan = c.advertiseAddrWan || advertise;
    if (this.server && c.ports.serfWan >= 0) {
      const wanPort = await this.startWan(advertiseWan);
      tags['wan_join_port'] = String(wanPort);
      serfWan = `${advertiseWan}:${wanPort}`;
    }
    this.lan = new GossipAgent({
      config: lanGossipConfig(c, advertise, c.ports.serfLan, tags),
      bindAddr: c.bindAddr,
      port: c.ports.serfLan,
      keyring,
      verifyIncoming: c.encryptVerifyIncoming,
      verifyOutgoing: c.encryptVerifyOutgoing,
      keyringFile,
      logger: log.child({ component: 'agent.client.memberlist.lan' }),
      rng: this.rng,
    });
    const serfPort = await this.lan.start();
    this.metrics.attachGossip(this.lan);
    registerKeyringHandlers(this.lan);
    if (!c.dev) {
      this.snapshot = new MemberSnapshot(
        join(c.dataDir, LAN_SNAPSHOT_FILE),
        c.nodeName,
        () => this.lan.members(),
        log.child({ component: 'agent.snapshot' }),
      );
    }
    const previous = this.snapshot?.load() ?? [];
    this.lan.on('member', (event: MemberEventType, m: Member) => {
      this.snapshot?.changed();
      log.info({ member: m.name, addr: `${m.addr}:${m.port}`, status: m.status }, `member ${event}`);
      this.server?.memberEvent(event, m);
      this.wanPool?.lanMemberEvent(event, m);
      // Consul syncs fully soon after a server joins: it may be the first one this agent can reach.
      if (event === 'join' && m.tags['role'] === 'consul' && m.tags['dc'] === c.datacenter) {
        this.local.ae.serverJoined();
      }
    });
    this.lan.on('user', (e: UserEvent) => this.receiveEvent(e));

    if (this.server) this.server.attachLan(this.lan);
    else this.startClientRouting();
    if (!c.coordinates.disabled) this.startCoordinateSync();
    this.server?.attachUserEvents({ fire: (name, payload, f) => this.fireEvent(name, payload, f) });
    this.server?.attachKeyring({
      hasWan: () => this.wanPool !== null,
      run: (op, key, wan) => {
        const pool = wan ? this.wanPool?.gossip : this.lan;
        if (!pool) throw new ConsulError(ErrorCode.Internal, 'this server is in no WAN pool');
        return runKeyringOp(pool, op, key, { datacenter: c.datacenter, wan });
      },
    });

    this.local.startSync();
    if (c.dockerSync.enabled) this.startDockerSync(advertise);
    if (c.ports.http >= 0) await this.startHttp();
    if (c.ports.https >= 0) await this.startHttps();
    if (c.ports.dns >= 0) await this.startDns();
    if (this.wanPool) {
      // Where other datacenters' gateways reach this server's API: HTTP, else HTTPS (as a URL).
      const https = httpTagAddr(c, advertiseWan, this.httpsAddr);
      this.wanPool.setHttp(httpTagAddr(c, advertiseWan, this.httpAddr) ?? (https && `https://${https}`));
      this.wanPool.startJoining();
    }
    this.watches = startWatches(c.watches, this.ownApi(), log.child({ component: 'agent.watch' }));

    if (c.retryJoin.length > 0) {
      void retryJoin({
        join: (addrs) => this.lan.join(addrs),
        addrs: c.retryJoin,
        intervalMs: c.retryIntervalMs,
        max: c.retryMax,
        logger: log.child({ component: 'agent.join' }),
        stopped: () => this.stopping !== null,
      });
    }
    rejoinPrevious(previous, {
      join: (addrs) => this.lan.join(addrs),
      logger: log.child({ component: 'agent.join.snapshot' }),
      stopped: () => this.stopping !== null,
    });
    const addrs = {
      http: this.httpAddr,
      https: this.httpsAddr,
      dns: this.dnsAddr,
      rpc,
      serfLan: `${advertise}:${serfPort}`,
      serfWan,
    };
    log.info(addrs, 'started');
    return addrs;
  }

  /** Server mode: the WAN gossip pool, feeding the server's directory of datacenters. */
  private async startWan(advertise: string): Promise<number> {
    const server = this.server as ServerAgent;
    const pool = new WanPool({
      config: this.config,
      nodeId: this.nodeId,
      rpcPort: server.rpcPort(),
      advertise,
      lanMembers: () => this.lan?.members() ?? [],
      onChange: () => server.wanMemberEvent(),
      logger: this.logger.child({ component: 'agent.server.memberlist.wan' }),
      rng: this.rng,
      stopped: () => this.stopping !== null,
    });
    const port = await pool.start();
    this.wanPool = pool;
    this.metrics.attachGossip(pool.gossip, 'wan');
    server.attachWan(pool);
    // The WAN probes' coordinates order the datacenters (nearest first) and answer
    // /v1/coordinate/datacenters.
    server.attachWanCoordinates(pool.gossip);
    server.wan.setRank(datacenterRanker(pool.gossip, this.config.datacenter));
    return port;
  }

  /** -docker-sync: registers containers' published ports through the agent's own API operations. */
  private startDockerSync(advertise: string): void {
    const c = this.config;
    this.dockerSync = new DockerSync({
      api: new DockerApi(parseDockerHost(c.dockerSync.host)),
      target: localTarget(this.local),
      ctx: { nodeName: c.nodeName, advertise },
      resyncIntervalMs: c.dockerSync.resyncIntervalMs,
      logger: this.logger.child({ component: 'agent.docker' }),
    });
    this.dockerSync.start();
  }

  /** On a server, its own state resolves tokens; a client asks a server (ACL.Resolve) and caches. */
  private tokenResolver(): TokenResolver {
    const acl = this.config.acl;
    if (this.server) return new TokenResolver({ config: acl, local: this.server.aclResolver });
    const log = this.logger.child({ component: 'agent.acl' });
    return new TokenResolver({
      config: acl,
      // Any server may answer from its own state (stale), as Consul's token resolution does.
      remote: async (token) => {
        const r = (await this.forwarder.call(
          'ACL.Resolve',
          { token, q: { minIndex: 0, stale: true, consistent: false } },
          AbortSignal.timeout(this.config.rpcHoldTimeoutMs + 5000),
        )) as QueryResult<ResolvedIdentity>;
        return r.value;
      },
      onDown: (err) =>
        log.warn({ err: err.message, downPolicy: acl.downPolicy }, 'acl: could not resolve a token'),
    });
  }

  /** Client mode: no Raft; every endpoint call goes to a server of this datacenter. */
  private startClientRouting(): void {
    const c = this.config;
    const log = this.logger.child({ component: 'agent.client' });
    const net = new RpcNetwork({
      self: () => ({
        id: this.nodeId,
        name: c.nodeName,
        addr: '',
        dc: c.datacenter,
        server: false,
        expect: 0,
      }),
      logger: log,
      tls: rpcTlsOf(c),
      handlers: {
        request: () => Promise.reject(new ConsulError(ErrorCode.BadRequest, 'client agents serve no RPC')),
        raft: () => undefined,
      },
    });
    this.clientNet = net;
    this.router = new ServerRouter({
      servers: () =>
        this.lan
          .members()
          .filter((m) => m.status === 'alive')
          .map((m) => serverPeer(m, c.datacenter)?.addr ?? '')
          .filter((a) => a !== ''),
      call: (addr, method, args, signal) => net.call(addr, method, args, { signal }),
      rng: this.rng,
      logger: log,
      holdTimeoutMs: c.rpcHoldTimeoutMs,
    });
    const router = this.router;
    this.forwarder = observedCalls(
      { call: (method, args, signal) => router.call(method, args, signal) },
      this.metrics,
    );
  }

  /**
   * How the agent's own clients (its watches) reach its API, as Consul's agent does: the HTTP
   * address, else HTTPS with the https interface's CA and the agent's own certificate as the
   * client's (for verify_incoming); null when neither listens.
   */
  private ownApi(): ClientOptions | null {
    if (this.httpAddr !== null) return { address: this.httpAddr };
    if (this.httpsAddr === null) return null;
    const t = tlsSettings(this.config.tls, 'https');
    const tls: ClientTls = {};
    if (t.caFile !== '') tls.caFile = t.caFile;
    if (t.caPath !== '') tls.caPath = t.caPath;
    if (t.certFile !== '' && t.keyFile !== '')
      Object.assign(tls, { certFile: t.certFile, keyFile: t.keyFile });
    return { address: `https://${this.httpsAddr}`, tls };
  }

  /**
   * A call the agent makes on its own behalf (anti-entropy, its coordinate) with its own token
   * (acl.tokens.agent, else default), read at each call so PUT /v1/agent/token applies at once.
   */
  private callAsAgent(method: string, args: unknown, signal: AbortSignal): Promise<unknown> {
    const t = this.config.acl.tokens;
    return this.forwarder.call(method, withToken(args, t.agent || t.default), signal);
  }

  /** Consul's sendCoordinate: this node's LAN coordinate to the catalog, rate-scaled by cluster size. */
  private startCoordinateSync(): void {
    this.coordinateSync = new CoordinateSync({
      config: this.config.coordinates.sync,
      node: this.config.nodeName,
      coordinate: () => this.lan.coordinate(),
      clusterSize: () => this.lan.members().length,
      call: (method, args, signal) => this.callAsAgent(method, args, signal),
      rng: this.rng,
      logger: this.logger.child({ component: 'agent.coordinate' }),
    });
    this.coordinateSync.start();
  }

  private async startHttp(): Promise<void> {
    const c = this.config;
    const log = this.logger.child({ component: 'agent.http' });
    const app = createApp({ agent: this, logger: log });
    const limits: HttpConnLimits = { maxConnsPerClient: c.limits.httpMaxConnsPerClient, ...c.httpTimeouts };
    this.http = await new Promise<ServerType>((resolve, reject) => {
      const srv = serve(
        {
          fetch: app.fetch,
          port: c.ports.http,
          hostname: c.clientAddr,
          serverOptions: httpServerOptions(limits),
        },
        () => resolve(srv),
      );
      limitConnections(srv as Server, limits, log);
      srv.once('error', reject);
    });
    this.httpAddr = this.apiListening(this.http);
    const exposed = exposedApiWarning(c);
    if (exposed) log.warn(exposed);
  }

  /**
   * The same API over TLS on ports.https (Consul's https listener), with tls.https's settings:
   * verify_incoming asks every client for a certificate signed by the CA and refuses the
   * connection without one. The same per-client limits and timeouts as plain HTTP, plus
   * limits.https_handshake_timeout for the handshake.
   */
  private async startHttps(): Promise<void> {
    const c = this.config;
    const m = loadTlsMaterial(c.tls, 'https');
    if (!m || m.cert === '')
      throw new ConsulError(ErrorCode.Config, 'ports.https is set but there is no certificate');
    const log = this.logger.child({ component: 'agent.https' });
    const app = createApp({ agent: this, logger: log });
    const limits: HttpConnLimits = { maxConnsPerClient: c.limits.httpMaxConnsPerClient, ...c.httpTimeouts };
    this.https = await new Promise<ServerType>((resolve, reject) => {
      const srv = serve(
        {
          fetch: app.fetch,
          port: c.ports.https,
          hostname: c.clientAddr,
          createServer: createHttpsServer,
          serverOptions: {
            ...httpServerOptions(limits),
            handshakeTimeout: c.limits.httpsHandshakeTimeoutMs,
            cert: m.cert,
            key: m.key,
            ...(m.ca.length > 0 ? { ca: m.ca } : {}),
            minVersion: m.minVersion,
            requestCert: m.verifyIncoming,
            rejectUnauthorized: m.verifyIncoming,
          },
        },
        () => resolve(srv),
      );
      limitConnections(srv as unknown as TlsServer, limits, log);
      srv.once('error', reject);
    });
    this.https.on('tlsClientError', (err: Error, sock: { remoteAddress?: string }) => {
      log.debug({ remote: sock.remoteAddress, err: err.message }, 'refused a TLS connection');
    });
    this.httpsAddr = this.apiListening(this.https);
  }

  /** An API listener's "addr:port". */
  private apiListening(srv: ServerType): string | null {
    const addr = srv.address();
    return typeof addr === 'object' && addr ? `${this.config.clientAddr}:${addr.port}` : null;
  }

  private async startDns(): Promise<void> {
    const c = this.config;
    const dns = new AgentDns({
      config: c,
      // DNS queries carry no token: they act with the agent's default token, as in Consul.
      call: (method, args, signal) =>
        this.forwarder.call(method, withToken(args, c.acl.tokens.default), signal),
      rng: this.rng,
      logger: this.logger.child({ component: 'agent.dns' }),
      hooks: this.metrics,
    });
    let port: number;
    try {
      port = await dns.start();
    } catch (err) {
      dns.cache.stop();
      throw new ConsulError(
        ErrorCode.Config,
        `DNS: cannot listen on ${c.clientAddr}:${c.ports.dns} (${(err as Error).message}); set -dns-port, or -1 to disable DNS`,
        { cause: err },
      );
    }
    this.dns = dns;
    this.dnsAddr = c.clientAddr.includes(':') ? `[${c.clientAddr}]:${port}` : `${c.clientAddr}:${port}`;
  }

  /** The local services as the event filters match them. */
  private eventServices(): { service: string; tags: string[] }[] {
    return this.local.state.services().map((s) => ({ service: s.Service, tags: s.Tags }));
  }

  /** How this agent describes its own node in the catalog (as the leader's reconcile does). */
  private nodeRecord(advertise: string): NodeRecord {
    return {
      ID: this.nodeId,
      Node: this.config.nodeName,
      Address: advertise,
      TaggedAddresses: { lan: advertise, lan_ipv4: advertise, wan: advertise, wan_ipv4: advertise },
      Meta: { ...this.config.nodeMeta },
    };
  }

  /** Raft as /v1/agent/self shows it; null on a client. */
  raftStatus(): { status: Status; lastContactMs: number } | null {
    if (!this.server) return null;
    return { status: this.server.driver.status(), lastContactMs: this.server.driver.lastContactMs() };
  }

  /** The server this client sends requests to ('' on a server or when none is known). */
  currentServer(): string {
    return this.router?.current() ?? '';
  }

  // ---------------------------------------------------------------- user events

  fireEvent(name: string, payload: Uint8Array, filters: EventFilters): AgentEvent {
    validateFilters(filters);
    const e = this.lan.fireEvent(name, packEnvelope(payload, filters));
    const ev = eventJson(e.id, name, payload, filters, 0);
    // The firing agent keeps its own event too, when its filters match it.
    if (filtersMatch(filters, this.config.nodeName, this.eventServices())) {
      this.events.add({ ...ev, LTime: e.ltime });
    }
    return ev;
  }

  private receiveEvent(e: UserEvent): void {
    const env = unpackEnvelope(e.payload);
    if (!env) {
      this.logger.debug({ name: e.name, origin: e.origin }, 'dropping a malformed user event');
      return;
    }
    const f = { node: env.n, service: env.s, tag: env.t };
    if (!filtersMatch(f, this.config.nodeName, this.eventServices())) return;
    this.events.add(eventJson(e.id, e.name, env.p, f, e.ltime));
  }

  // ---------------------------------------------------------------- membership

  join(addrs: string[]): Promise<number> {
    // The gossip driver resolves host names and adds the default port 8301.
    return this.lan.join(addrs);
  }

  /** WAN join (a server's /v1/agent/join?wan, consul join -wan). */
  joinWan(addrs: string[]): Promise<number> {
    if (!this.wanPool)
      throw new ConsulError(
        ErrorCode.Unavailable,
        this.server ? 'WAN gossip is disabled (ports.serf_wan = -1)' : 'Must be a server to join WAN cluster',
      );
    return this.wanPool.join(addrs);
  }

  /** How many datacenters this server knows (Consul's Stats.consul.known_datacenters); 1 on a client. */
  knownDatacenters(): number {
    return this.server?.wan.datacenters().length ?? 1;
  }

  // ---------------------------------------------------------------- reload

  /**
   * Reads the config again and applies what can change without a restart (reload.ts); returns
   * warnings for what changed and cannot be applied. A config that fails to load, or a service or
   * check definition that is refused, leaves the running agent exactly as it was.
   */
  reload(): Promise<string[]> {
    const run = this.reloading.then(() => this.reloadNow());
    this.reloading = run.catch(() => undefined);
    return run;
  }

  private async reloadNow(): Promise<string[]> {
    const log = this.logger;
    if (!this.configSource)
      throw new ConsulError(ErrorCode.BadRequest, 'this agent has no config source to reload from');
    let next: AgentConfig;
    try {
      next = await this.configSource();
    } catch (err) {
      log.error(
        { err: (err as Error).message },
        'reload: the new config was refused; keeping the running one',
      );
      throw new ConsulError(ErrorCode.BadRequest, `Failed to reload configs: ${(err as Error).message}`);
    }
    try {
      // Checked in full before anything changes; nothing below can fail after it.
      this.local.reloadDefinitions(next.services, next.checks);
    } catch (err) {
      log.error(
        { err: (err as Error).message },
        'reload: the new config was refused; keeping the running one',
      );
      throw new ConsulError(ErrorCode.BadRequest, `Failed to reload configs: ${(err as Error).message}`);
    }
    const c = this.config;
    const warnings: string[] = [];
    const unapplied = unreloadableChanges(c, next);
    if (unapplied.length > 0)
      warnings.push(`reload: these settings changed but need a restart to apply: ${unapplied.join(', ')}`);
    c.services = next.services;
    c.checks = next.checks;
    c.logLevel = next.logLevel;
    this.logs?.setLevel(next.logLevel);
    c.acl.tokens.agent = next.acl.tokens.agent;
    c.acl.tokens.default = next.acl.tokens.default;
    // As at start: tokens set over the API and persisted win over the config file's.
    try {
      loadPersistedTokens(c);
    } catch (err) {
      warnings.push(`reload: persisted ACL tokens not read: ${(err as Error).message}`);
    }
    if (JSON.stringify(c.nodeMeta) !== JSON.stringify(next.nodeMeta)) {
      c.nodeMeta = next.nodeMeta;
      this.local.nodeChanged();
    }
    c.watches = next.watches;
    await this.watches?.stop();
    this.watches = startWatches(c.watches, this.ownApi(), log.child({ component: 'agent.watch' }));
    log.info(
      {
        services: c.services.length,
        checks: c.checks.length,
        watches: c.watches.length,
        logLevel: c.logLevel,
      },
      'reloaded configuration',
    );
    for (const w of warnings) log.warn(w);
    return warnings;
  }

  /** Graceful leave (/v1/agent/leave, consul leave): tell the pools, then shut down. */
  async leave(): Promise<void> {
    // Anti-entropy first: once the leader has removed this node, nothing may register it again.
    await this.dockerSync?.stop();
    await this.local.pauseSync();
    // Both pools at once: each waits for its own news to spread (Consul leaves the WAN first).
    await Promise.all([this.lan.leave(), this.wanPool?.leave()]);
    this.snapshot?.close(true);
    setImmediate(() => void this.stop());
  }

  async stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.snapshot?.close(false);
      await this.watches?.stop();
      this.coordinateSync?.stop();
      await this.dns?.stop();
      await this.dockerSync?.stop();
      this.local?.stop();
      for (const srv of [this.http, this.https]) {
        if (!srv) continue;
        const h = srv as unknown as { closeAllConnections?: () => void };
        h.closeAllConnections?.();
        await new Promise<void>((r) => srv.close(() => r()));
      }
      await this.server?.stop();
      await this.clientNet?.close();
      await this.wanPool?.stop();
      await this.lan?.stop();
      this.metrics.stop();
      this.resolveStopped();
    })();
    return this.stopping;
  }
}

/** An internal call's args with the token it acts with ('' = anonymous, left out of the frame). */
function withToken(args: unknown, token: string): unknown {
  return token === '' ? args : { ...(args as Record<string, unknown>), token };
}
