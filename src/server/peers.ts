// Server discovery before LAN gossip exists: -retry-join reaches other servers' RPC port, each
// server answers with the servers it knows, and -bootstrap-expect N bootstraps Raft once N servers
// agree on N. Servers are known by node ID; the newest address seen for an ID wins, so a server
// that comes back on a new address is still itself.

import type { Logger } from 'pino';
import { sleep } from '../core/clock.js';
import { ConsulError, ErrorCode } from '../core/errors.js';
import type { PeerInfo } from '../rpc/codec.js';

export interface JoinReply {
  peers: PeerInfo[];
  /** The answering server already has Raft state (a cluster exists: ask to be added, never bootstrap). */
  bootstrapped: boolean;
}

export interface PeersDeps {
  self: () => PeerInfo;
  logger: Logger;
  retryJoin: string[];
  retryIntervalMs: number;
  retryMax: number;
  bootstrap: boolean;
  bootstrapExpect: number;
  /** Until the first join succeeds, try this often (a fresh cluster should form in seconds). */
  fastRetryMs: number;
  call(addr: string, method: string, args: unknown): Promise<unknown>;
  raftHasState(): boolean;
  bootstrapRaft(servers: PeerInfo[]): void;
  /** Asks the cluster's leader (through any server) to add this server. */
  requestAdd(self: PeerInfo, via: string): Promise<void>;
  /** Called on the leader when a known server shows up at a new address or a new server appears. */
  onServerSeen(peer: PeerInfo): void;
}

export class Peers {
  private readonly known = new Map<string, PeerInfo>();
  private stopped = false;
  private joined = false;
  private clusterSeen = false;

  constructor(private readonly d: PeersDeps) {}

  /** Every server known, this one first (always with its current address). */
  list(): PeerInfo[] {
    return [this.d.self(), ...this.known.values()];
  }

  get(id: string): PeerInfo | undefined {
    const me = this.d.self();
    return id === me.id ? me : this.known.get(id);
  }

  /** Records a server seen anywhere (a join, a connection's hello). */
  observe(p: PeerInfo): void {
    const me = this.d.self();
    if (!p.server || p.dc !== me.dc || p.id === me.id || p.addr === '') return;
    const prev = this.known.get(p.id);
    this.known.set(p.id, p);
    if (!prev || prev.addr !== p.addr) {
      if (prev) this.d.logger.info({ id: p.id, from: prev.addr, to: p.addr }, 'server changed address');
      this.d.onServerSeen(p);
      this.maybeBootstrap();
    }
  }

  /** The Server.Join handler. */
  join(peer: unknown): JoinReply {
    const p = peer as PeerInfo;
    if (!p || typeof p.id !== 'string' || typeof p.addr !== 'string') {
      throw new ConsulError(ErrorCode.BadRequest, 'join: malformed peer');
    }
    if (p.dc !== this.d.self().dc) {
      throw new ConsulError(
        ErrorCode.BadRequest,
        `join: server ${p.name} is in datacenter ${p.dc}, this one is in ${this.d.self().dc}`,
      );
    }
    this.observe(p);
    return { peers: this.list(), bootstrapped: this.d.raftHasState() };
  }

  start(): void {
    // -bootstrap, or -bootstrap-expect 1: nobody else to wait for.
    this.maybeBootstrap();
    if (this.d.retryJoin.length === 0) return;
    void this.joinLoop();
  }

  stop(): void {
    this.stopped = true;
  }

  private async joinLoop(): Promise<void> {
    let attempts = 0;
    while (!this.stopped) {
      attempts++;
      const ok = await this.joinOnce();
      if (ok && !this.joined) {
        this.joined = true;
        this.d.logger.info({ servers: this.known.size }, 'reached the cluster');
      }
      // Keep asking until Raft is bootstrapped here (servers learn of each other transitively).
      if (this.joined && this.d.raftHasState()) return;
      if (!ok && this.d.retryMax > 0 && attempts >= this.d.retryMax) {
        this.d.logger.error({ attempts }, 'giving up (retry_max reached)');
        return;
      }
      await sleep(this.joined || attempts < 30 ? this.d.fastRetryMs : this.d.retryIntervalMs);
    }
  }

  /** One round: every join address and every server learned so far, asked for the servers it knows. */
  private async joinOnce(): Promise<boolean> {
    const me = this.d.self();
    const targets = new Set<string>(this.d.retryJoin);
    for (const p of this.known.values()) targets.add(p.addr);
    targets.delete(me.addr);
    let any = false;
    await Promise.all(
      [...targets].map(async (addr) => {
        try {
          const r = (await this.d.call(addr, 'Server.Join', { peer: me })) as JoinReply;
          any = true;
          for (const p of r.peers) this.observe(p);
          if (r.bootstrapped && !this.d.raftHasState() && !this.clusterSeen) {
            this.clusterSeen = true;
            this.d.logger.info(
              { via: addr },
              'found an existing cluster; asking its leader to add this server',
            );
            await this.d.requestAdd(me, addr).catch((err: unknown) => {
              this.clusterSeen = false;
              this.d.logger.warn({ err }, 'could not be added yet; will retry');
            });
          }
        } catch (err) {
          this.d.logger.debug({ addr, err: (err as Error).message }, 'attempt failed');
        }
      }),
    );
    return any;
  }

  private maybeBootstrap(): void {
    if (this.d.raftHasState() || this.clusterSeen) return;
    const me = this.d.self();
    if (this.d.bootstrap) {
      this.d.logger.info('bootstrapping: this server elects itself (-bootstrap)');
      this.d.bootstrapRaft([me]);
      return;
    }
    const expect = this.d.bootstrapExpect;
    if (expect <= 0) return;
    const servers = this.list().filter((p) => p.server && p.dc === me.dc);
    for (const p of servers) {
      if (p.expect !== 0 && p.expect !== expect) {
        this.d.logger.error(
          { node: p.name, theirs: p.expect, ours: expect },
          'servers disagree on bootstrap_expect; not bootstrapping',
        );
        return;
      }
    }
    if (servers.length < expect) return;
    this.d.logger.info({ servers: servers.map((s) => s.name) }, 'found enough servers, bootstrapping');
    this.d.bootstrapRaft(servers.sort((a, b) => (a.id < b.id ? -1 : 1)));
  }
}
