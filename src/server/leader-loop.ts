// The leader's membership work (Consul's leader.go): while this server leads, every gossip member
// change is reconciled into the catalog (serfHealth) and into the Raft configuration (alive servers
// added, servers that left removed, dead servers cleaned up by autopilot's rules), and a full pass
// runs on taking office and every reconcile interval to catch anything missed. Work is serial: one
// change at a time, in order, so two passes never race on the same node. A new server enters Raft
// as a non-voter; autopilot's pass (every second while leading) judges every server's health and
// promotes a non-voter once it has been healthy for the configured stabilization time.

import type { Logger } from 'pino';
import type { Member } from '../gossip/types.js';
import { serverPeer } from '../agent/lan.js';
import type { FsmCommand } from '../state/commands.js';
import type { StateStore } from '../state/store.js';
import type { AutopilotConfig } from '../state/autopilot.js';
import {
  deadServersToRemove,
  HealthTracker,
  stableNonvoters,
  type RaftServer,
  type ServerHealth,
  type ServerObservation,
} from './autopilot.js';
import { planMember, reapedNodes, type ReconcileMember } from './reconcile.js';

export interface LeaderLoopDeps {
  isLeader(): boolean;
  members(): Member[];
  store: StateStore;
  apply(cmd: FsmCommand): Promise<unknown>;
  raftServers(): RaftServer[];
  raftHasState(): boolean;
  addVoter(id: string, address: string): Promise<void>;
  addNonvoter(id: string, address: string): Promise<void>;
  /** What the leader knows of every server of the Raft configuration, with its term and last index. */
  observeServers(): { servers: ServerObservation[]; term: number; lastIndex: number };
  now(): number;
  removeServer(id: string): Promise<void>;
  self: { id: string; name: string };
  dc: string;
  /** The configuration in force: Raft's, or the agent's until a leader has written it there. */
  autopilot(): AutopilotConfig;
  /** Writes the agent's configuration into Raft when there is none yet (a new leader's duty). */
  seedAutopilot(): Promise<void>;
  /** How often autopilot's pass runs while leading. */
  autopilotIntervalMs: number;
  /** Raft's heartbeat interval: how old a healthy follower's last contact may be beyond the threshold. */
  contactGraceMs: number;
  intervalMs: number;
  logger: Logger;
}

export class LeaderLoop {
  /** Members waiting to be reconciled; a reaped member is carried as such (gossip forgot it). */
  private readonly pending = new Map<string, ReconcileMember | null>();
  private fullPass = false;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private autopilotTimer: NodeJS.Timeout | null = null;
  private autopilotDue = false;
  private stopped = false;
  private readonly tracker = new HealthTracker();

  constructor(private readonly d: LeaderLoopDeps) {}

  /** Called when leadership changes. */
  leadership(isLeader: boolean): void {
    if (this.timer) clearInterval(this.timer);
    if (this.autopilotTimer) clearInterval(this.autopilotTimer);
    this.timer = null;
    this.autopilotTimer = null;
    this.tracker.reset();
    if (!isLeader || this.stopped) return;
    this.timer = setInterval(() => this.requestFull(), this.d.intervalMs);
    this.timer.unref();
    this.autopilotTimer = setInterval(() => {
      this.autopilotDue = true;
      this.kick();
    }, this.d.autopilotIntervalMs);
    this.autopilotTimer.unref();
    this.requestFull();
  }

  /** A member event from gossip. */
  memberChanged(event: string, m: Member): void {
    if (!this.d.isLeader()) return;
    this.pending.set(m.name, event === 'reap' ? { ...m, status: 'reaped' } : null);
    this.kick();
  }

  requestFull(): void {
    this.fullPass = true;
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.autopilotTimer) clearInterval(this.autopilotTimer);
  }

  /** Every server's health as this leader judges it now (the health and state endpoints). */
  health(): ServerHealth[] {
    const o = this.d.observeServers();
    const rules = { ...this.d.autopilot(), contactGraceMs: this.d.contactGraceMs };
    return this.tracker.observe(o.servers, rules, o.term, o.lastIndex, this.d.now());
  }

  private kick(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    void this.run().finally(() => {
      this.running = false;
      const more = this.pending.size > 0 || this.fullPass || this.autopilotDue;
      if (more && this.d.isLeader() && !this.stopped) this.kick();
    });
  }

  private async run(): Promise<void> {
    while (this.d.isLeader() && !this.stopped) {
      if (this.fullPass) {
        this.fullPass = false;
        this.pending.clear();
        await this.reconcileAll();
        continue;
      }
      if (this.autopilotDue) {
        this.autopilotDue = false;
        await this.promoteStableServers();
        // A promotion may be what lets a dead voter go (min_quorum counts voters).
        await this.cleanupDeadServers();
        continue;
      }
      const next = this.pending.entries().next();
      if (next.done) return;
      const [name, carried] = next.value;
      this.pending.delete(name);
      const m = carried ?? this.toReconcile(this.d.members().find((x) => x.name === name));
      if (m) await this.reconcileMember(m);
      await this.cleanupDeadServers();
    }
  }

  private toReconcile(m: Member | undefined): ReconcileMember | null {
    return m ? { name: m.name, addr: m.addr, status: m.status, tags: m.tags } : null;
  }

  private async reconcileAll(): Promise<void> {
    try {
      await this.d.seedAutopilot();
    } catch (err) {
      this.d.logger.warn(
        { err: (err as Error).message },
        'autopilot: could not store the initial configuration',
      );
    }
    const members = this.d.members();
    for (const m of members) {
      if (!this.d.isLeader() || this.stopped) return;
      await this.reconcileMember(this.toReconcile(m) as ReconcileMember);
    }
    const gone = reapedNodes(
      this.d.store,
      members.map((m) => m.name),
      this.d.self.name,
    );
    for (const name of gone) {
      await this.reconcileMember({ name, addr: '', status: 'reaped', tags: {} });
    }
    await this.cleanupDeadServers();
  }

  private async reconcileMember(m: ReconcileMember): Promise<void> {
    try {
      await this.reconcileRaft(m);
      const cmd = planMember(m, this.d.store, this.d.dc);
      if (cmd) {
        this.d.logger.debug({ node: m.name, status: m.status, op: cmd.type }, 'reconciling member');
        await this.d.apply(cmd);
      }
    } catch (err) {
      // Leadership may have moved mid-way; the next leader's full pass picks it up.
      this.d.logger.warn({ node: m.name, err: (err as Error).message }, 'reconcile failed');
    }
  }

  /** Alive servers join the Raft configuration; servers that left (or were reaped) leave it. */
  private async reconcileRaft(m: ReconcileMember): Promise<void> {
    if (m.status === 'reaped' || !this.d.raftHasState()) return;
    const peer = serverPeer(m, this.d.dc);
    if (!peer || peer.id === this.d.self.id) return;
    const entry = this.d.raftServers().find((s) => s.id === peer.id);
    if ((m.status === 'alive' || m.status === 'suspect') && !entry) {
      // Consul's autopilot: a new server starts as a non-voter and earns its vote by staying healthy
      // (promoteStableServers); with no stabilization time it votes at once.
      const stabilize = this.d.autopilot().ServerStabilizationTimeMs > 0;
      this.d.logger.info(
        { node: m.name, addr: peer.addr, voter: !stabilize },
        'adding server to the Raft configuration',
      );
      if (stabilize) await this.d.addNonvoter(peer.id, peer.addr);
      else await this.d.addVoter(peer.id, peer.addr);
    } else if (m.status === 'left' && entry) {
      this.d.logger.info({ node: m.name }, 'removing a server that left from the Raft configuration');
      await this.d.removeServer(peer.id);
    }
  }

  /** Autopilot's pass: non-voters healthy for the stabilization time become voters. */
  private async promoteStableServers(): Promise<void> {
    if (!this.d.raftHasState()) return;
    const health = this.health();
    for (const id of stableNonvoters(health, this.d.autopilot(), this.d.now())) {
      if (!this.d.isLeader() || this.stopped) return;
      const s = health.find((h) => h.id === id) as ServerHealth;
      this.d.logger.info({ node: s.name, id }, 'autopilot: promoting a stable server to voter');
      try {
        await this.d.addVoter(id, s.address);
      } catch (err) {
        this.d.logger.warn({ id, err: (err as Error).message }, 'autopilot: could not promote a server');
      }
    }
  }

  private async cleanupDeadServers(): Promise<void> {
    const cfg = this.d.autopilot();
    if (!cfg.CleanupDeadServers || !this.d.raftHasState()) return;
    const failed = new Set<string>();
    for (const m of this.d.members()) {
      const p = m.status === 'failed' ? serverPeer(m, this.d.dc) : null;
      if (p) failed.add(p.id);
    }
    const remove = deadServersToRemove(this.d.raftServers(), failed, cfg.MinQuorum, this.d.self.id);
    for (const id of remove) {
      if (!this.d.isLeader()) return;
      this.d.logger.info({ id }, 'autopilot: removing a dead server');
      try {
        await this.d.removeServer(id);
      } catch (err) {
        this.d.logger.warn({ id, err: (err as Error).message }, 'autopilot: could not remove a dead server');
      }
    }
  }
}
