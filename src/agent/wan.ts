// The WAN gossip pool of a server agent (Consul's serf WAN): every server of every datacenter in
// one pool on port 8302, with Consul's WAN timings, member names "<node>.<dc>", and tags saying
// where each server's RPC and HTTP APIs are. Besides the gossip agent this holds the joins:
// -retry-join-wan, the API's join, and the flood join that brings every server of this datacenter
// into the pool once one of them is in it.

import { join as joinPath } from 'node:path';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config/config.js';
import type { Rng } from '../core/rng.js';
import { GossipAgent } from '../gossip/driver.js';
import { openKeyring } from '../gossip/keyring.js';
import { registerKeyringHandlers } from '../gossip/keyring-ops.js';
import type { GossipConfig, Member, MemberEventType } from '../gossip/types.js';
import { hostPort } from '../server/wan-directory.js';
import { VERSION } from '../version.js';
import { gossipConfig, retryJoin } from './lan.js';
import { MemberSnapshot, rejoinPrevious, WAN_SNAPSHOT_FILE } from './member-snapshot.js';

/** Consul's default serf WAN port, for WAN join addresses given without one. */
export const DEFAULT_SERF_WAN_PORT = 8302;
/** Where Consul keeps the WAN keyring, relative to the data directory. */
export const WAN_KEYRING_FILE = joinPath('serf', 'remote.keyring');
/** A flood-join pass also runs this often, for LAN events that came while a join was failing. */
const FLOOD_INTERVAL_MS = 60_000;

/** The WAN pool's member name of a node: Consul's "<node>.<dc>". */
export function wanName(node: string, dc: string): string {
  return `${node}.${dc}`;
}

/**
 * Where this agent's HTTP API can be reached from elsewhere: its -client address, or the advertise
 * address when it listens on every interface; null without HTTP.
 */
export function httpTagAddr(
  c: Pick<AgentConfig, 'clientAddr'>,
  advertise: string,
  httpAddr: string | null,
): string | null {
  if (httpAddr === null) return null;
  const port = Number(httpAddr.slice(httpAddr.lastIndexOf(':') + 1));
  const host = c.clientAddr === '0.0.0.0' || c.clientAddr === '::' ? advertise : c.clientAddr;
  return hostPort(host, port);
}

/**
 * Consul's WAN tags of a server, plus ours: `http`, where its API is: "host:port" over HTTP, or
 * "https://host:port" for a server that serves only HTTPS (absent with neither).
 */
export function wanTags(
  c: Pick<AgentConfig, 'datacenter'>,
  nodeId: string,
  rpcPort: number,
  http: string | null,
): Record<string, string> {
  const t: Record<string, string> = {
    role: 'consul',
    dc: c.datacenter,
    id: nodeId,
    port: String(rpcPort),
    vsn: '2',
    vsn_min: '2',
    vsn_max: '3',
    build: `${VERSION}:consulate`,
    raft_vsn: '3',
  };
  if (http !== null) t['http'] = http;
  return t;
}

export function wanGossipConfig(
  c: AgentConfig,
  addr: string,
  port: number,
  tags: Record<string, string>,
): GossipConfig {
  return gossipConfig(wanName(c.nodeName, c.datacenter), addr, port, tags, {
    ...c.gossipWan,
    reconnectTimeoutMs: c.reconnectTimeoutWanMs,
  });
}

/** "host" → "host:8302"; an address with a port is left alone (IPv6 is refused by the driver). */
export function withWanPort(addr: string): string {
  const a = addr.trim();
  if (a.startsWith('[') || a.split(':').length > 2) return a;
  return a.includes(':') ? a : `${a}:${DEFAULT_SERF_WAN_PORT}`;
}

type FloodMember = Pick<Member, 'name' | 'addr' | 'status' | 'tags'>;

/**
 * Consul's flood join, decided: the WAN addresses ("<lan addr>:<wan_join_port>") of the alive
 * servers of this datacenter in the LAN pool that are not alive in the WAN pool. Servers without a
 * wan_join_port tag have WAN gossip off and are left out, as is this server itself.
 */
export function floodJoinTargets(
  dc: string,
  self: string,
  lan: readonly FloodMember[],
  wan: readonly Pick<Member, 'name' | 'status'>[],
): string[] {
  const inPool = new Set(
    wan.filter((m) => m.status === 'alive' || m.status === 'suspect').map((m) => m.name),
  );
  const out: string[] = [];
  for (const m of lan) {
    const t = m.tags;
    if (m.name === self || m.status !== 'alive' || t['role'] !== 'consul' || t['dc'] !== dc) continue;
    const port = Number(t['wan_join_port']);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) continue;
    if (inPool.has(wanName(m.name, dc))) continue;
    out.push(hostPort(m.addr, port));
  }
  return out;
}

export interface WanPoolDeps {
  config: AgentConfig;
  nodeId: string;
  rpcPort: number;
  /** The address other datacenters reach this server's WAN gossip at. */
  advertise: string;
  lanMembers(): Member[];
  /** A WAN member joined, failed, left, changed its tags, or was reaped. */
  onChange(event: MemberEventType, m: Member): void;
  logger: Logger;
  rng: Rng;
  /** True once the agent is shutting down (stops the join loops). */
  stopped(): boolean;
}

export class WanPool {
  gossip!: GossipAgent;
  private readonly d: WanPoolDeps;
  private readonly joining = new Set<string>();
  private floodTimer: NodeJS.Timeout | null = null;
  private http: string | null = null;
  private snapshot: MemberSnapshot | null = null;
  /** The WAN members the snapshot listed at start, joined again by startJoining(). */
  private previous: string[] = [];

  constructor(d: WanPoolDeps) {
    this.d = d;
  }

  /** Binds the WAN gossip port; resolves with it. */
  async start(): Promise<number> {
    const c = this.d.config;
    const log = this.d.logger;
    // Consul keeps the WAN keys apart from the LAN keys (serf/remote.keyring), both seeded from
    // -encrypt on the first start.
    const keyringFile = c.dev ? null : joinPath(c.dataDir, WAN_KEYRING_FILE);
    const keyring = await openKeyring({ file: keyringFile, encrypt: c.encrypt, logger: log });
    this.gossip = new GossipAgent({
      config: wanGossipConfig(c, this.d.advertise, c.ports.serfWan, this.tags()),
      bindAddr: c.bindAddr,
      port: c.ports.serfWan,
      keyring,
      verifyIncoming: c.encryptVerifyIncoming,
      verifyOutgoing: c.encryptVerifyOutgoing,
      keyringFile,
      logger: log,
      rng: this.d.rng,
    });
    const port = await this.gossip.start();
    registerKeyringHandlers(this.gossip);
    if (!c.dev) {
      this.snapshot = new MemberSnapshot(
        joinPath(c.dataDir, WAN_SNAPSHOT_FILE),
        wanName(c.nodeName, c.datacenter),
        () => this.gossip.members(),
        log.child({ component: 'agent.snapshot.wan' }),
      );
      // Read before any member event can have the file written again.
      this.previous = this.snapshot.load();
    }
    this.gossip.on('member', (event, m) => {
      this.snapshot?.changed();
      log.info({ member: m.name, addr: `${m.addr}:${m.port}`, status: m.status }, `(WAN) member ${event}`);
      this.d.onChange(event, m);
    });
    return port;
  }

  /** Announces the HTTP API's address (known only once HTTP listens) in the `http` tag. */
  setHttp(addr: string | null): void {
    if (addr === this.http) return;
    this.http = addr;
    this.gossip.setTags(this.tags());
  }

  /**
   * Starts the joins: one flood pass now and periodically, -retry-join-wan, and the WAN members
   * seen alive before a restart (serf/remote.members, as Consul rejoins from its serf snapshot).
   */
  startJoining(): void {
    const c = this.d.config;
    this.flood();
    this.floodTimer = setInterval(() => this.flood(), FLOOD_INTERVAL_MS);
    this.floodTimer.unref();
    rejoinPrevious(this.previous, {
      join: (addrs) => this.join(addrs),
      logger: this.d.logger.child({ component: 'agent.join.wan.snapshot' }),
      stopped: () => this.d.stopped(),
    });
    if (c.retryJoinWan.length > 0) {
      void retryJoin({
        join: (addrs) => this.join(addrs),
        addrs: c.retryJoinWan,
        intervalMs: c.retryIntervalWanMs,
        max: c.retryMaxWan,
        logger: this.d.logger.child({ component: 'agent.join.wan' }),
        stopped: () => this.d.stopped(),
      });
    }
  }

  /** A LAN member event: a server of this datacenter may need bringing into the WAN pool. */
  lanMemberEvent(event: MemberEventType, m: Member): void {
    if ((event === 'join' || event === 'update') && m.tags['role'] === 'consul') this.flood();
  }

  /** WAN join ("host[:port]", port 8302 when missing); resolves with how many answered. */
  join(addrs: string[]): Promise<number> {
    return this.gossip.join(addrs.map(withWanPort));
  }

  membershipVersion(): number {
    return this.gossip?.membershipVersion() ?? 0;
  }

  members(): Member[] {
    return this.gossip?.members() ?? [];
  }

  forceLeave(name: string, prune = false): boolean {
    return this.gossip.forceLeave(name, prune);
  }

  async leave(): Promise<void> {
    await this.gossip.leave();
    this.snapshot?.close(true);
  }

  async stop(): Promise<void> {
    this.snapshot?.close(false);
    if (this.floodTimer) clearInterval(this.floodTimer);
    this.floodTimer = null;
    await this.gossip?.stop();
  }

  private tags(): Record<string, string> {
    return wanTags(this.d.config, this.d.nodeId, this.d.rpcPort, this.http);
  }

  /** Joins, one at a time per address, every server of this DC that the WAN pool is missing. */
  private flood(): void {
    if (this.d.stopped()) return;
    const c = this.d.config;
    const targets = floodJoinTargets(c.datacenter, c.nodeName, this.d.lanMembers(), this.members());
    for (const addr of targets) {
      if (this.joining.has(addr)) continue;
      this.joining.add(addr);
      this.gossip
        .join([addr])
        .then(() => this.d.logger.info({ addr }, '(WAN) flood join: joined a server of this datacenter'))
        .catch((err: unknown) =>
          this.d.logger.debug({ addr, err: (err as Error).message }, '(WAN) flood join failed'),
        )
        .finally(() => this.joining.delete(addr));
    }
  }
}
