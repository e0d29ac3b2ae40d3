// The servers of this datacenter as gossip shows them, by node ID (so a server that comes back on a
// new address is still itself), and -bootstrap-expect: once N servers that agree on N are seen and
// none of them has Raft state yet, Raft is bootstrapped with all of them (each server computes the
// same configuration). A server that finds an existing cluster instead waits to be added by its
// leader, which adds every alive server it sees in gossip.

import type { Logger } from 'pino';
import type { PeerInfo } from '../rpc/codec.js';

export interface PeersDeps {
  self: () => PeerInfo;
  logger: Logger;
  bootstrap: boolean;
  bootstrapExpect: number;
  raftHasState(): boolean;
  bootstrapRaft(servers: PeerInfo[]): void;
  /** Asks a server whether it already has Raft state (Consul asks Status.Peers). */
  hasRaftState(addr: string): Promise<boolean>;
  /** A known server appeared at a new address, or a new one appeared. */
  onServerSeen(peer: PeerInfo): void;
}

export class Peers {
  private readonly known = new Map<string, PeerInfo>();
  private bootstrapping = false;
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

  /** Records a server seen in gossip (or on a connection's hello). */
  observe(p: PeerInfo): void {
    const me = this.d.self();
    if (!p.server || p.dc !== me.dc || p.id === me.id || p.id === '' || p.addr === '') return;
    const prev = this.known.get(p.id);
    this.known.set(p.id, p);
    if (!prev || prev.addr !== p.addr) {
      if (prev) this.d.logger.info({ id: p.id, from: prev.addr, to: p.addr }, 'server changed address');
      this.d.onServerSeen(p);
      this.maybeBootstrap();
    }
  }

  start(): void {
    // -bootstrap, or -bootstrap-expect 1: nobody else to wait for.
    this.maybeBootstrap();
  }

  private maybeBootstrap(): void {
    if (this.d.raftHasState() || this.clusterSeen || this.bootstrapping) return;
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
    this.bootstrapping = true;
    void this.bootstrapUnlessClusterExists(servers).finally(() => (this.bootstrapping = false));
  }

  private async bootstrapUnlessClusterExists(servers: PeerInfo[]): Promise<void> {
    const me = this.d.self();
    const others = servers.filter((s) => s.id !== me.id);
    const answers = await Promise.all(
      others.map((s) =>
        this.d.hasRaftState(s.addr).then(
          (has) => ({ s, has, ok: true }),
          () => ({ s, has: false, ok: false }),
        ),
      ),
    );
    if (this.d.raftHasState()) return;
    const existing = answers.find((a) => a.has);
    if (existing) {
      this.clusterSeen = true;
      this.d.logger.info(
        { via: existing.s.name },
        'found an existing cluster; waiting for its leader to add this server',
      );
      return;
    }
    if (answers.some((a) => !a.ok)) {
      // Someone we count on is not answering yet: try again shortly rather than bootstrap blind.
      setTimeout(() => this.maybeBootstrap(), 1000).unref();
      return;
    }
    this.d.logger.info({ servers: servers.map((s) => s.name) }, 'found enough servers, bootstrapping');
    this.d.bootstrapRaft([...servers].sort((a, b) => (a.id < b.id ? -1 : 1)));
  }
}
