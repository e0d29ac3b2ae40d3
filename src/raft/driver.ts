// The Raft driver: the only place where the pure core meets time, disk and network. It feeds the
// core ticks and messages, and for every Ready: sends the leader's replication messages at once,
// persists (one fsync for everything that arrived meanwhile: group commit), sends the rest, applies
// committed entries to the FSM, settles the promises of proposals and reads, then advances.

import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import { ConsulError, ErrorCode } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import { mustPersistBeforeSend, type Message } from './messages.js';
import { RawNode, Role, type ConfChange, type Ready, type SoftState, type Status } from './raw-node.js';
import type { RaftStorage } from './storage/storage.js';
import { EntryType, type Configuration, type Entry, type ServerId, type SnapshotMeta } from './types.js';

export interface StateMachine {
  /** Applies one committed command; the result settles the proposal's promise. Must not throw. */
  apply(index: number, data: Uint8Array): unknown;
  /** Notes that `index` was applied without a command (no-ops, configuration entries). */
  applyNoop?(index: number): void;
  snapshot(): Uint8Array;
  restore(data: Uint8Array, index: number): void;
}

export interface RaftTransport {
  /** Best effort: Raft tolerates loss. Resolves false when the message could not be handed to the peer. */
  send(m: Message): Promise<boolean> | boolean;
}

export interface RaftTimings {
  electionTimeoutMs: number;
  heartbeatIntervalMs: number;
  leaseTimeoutMs: number;
  /** How often to consider a snapshot (Consul: 30 s, jittered). */
  snapshotIntervalMs: number;
  /** New entries since the last snapshot before one is taken (Consul: 16384). */
  snapshotThreshold: number;
  /** Entries kept behind a snapshot so slightly-behind followers catch up from the log (Consul: 10240). */
  trailingLogs: number;
}

export interface DriverOptions {
  id: ServerId;
  storage: RaftStorage;
  fsm: StateMachine;
  transport: RaftTransport;
  clock: Clock;
  rng: Rng;
  timings: RaftTimings;
  logger: Logger;
}

interface PendingProposal {
  term: number;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface RaftDriverEvents {
  leader: [SoftState];
  fatal: [Error];
}

export class RaftDriver extends EventEmitter<RaftDriverEvents> {
  readonly id: ServerId;
  private raw!: RawNode;
  private readonly o: DriverOptions;
  private timer: TimerHandle | null = null;
  private busy = false;
  private stopped = false;
  private started = false;
  private readonly proposals = new Map<number, PendingProposal>();
  private readonly reads = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private readWaiters: { index: number; resolve: () => void }[] = [];
  private readCtx = 0;
  private snapshotTimer: TimerHandle | null = null;
  private snapshotIndex = 0;
  private snapshotting = false;
  private snapshotQueued = false;
  private soft: SoftState = { role: Role.Follower, leader: '', term: 0 };
  private lastLeaderChangeAt = 0;
  private readonly configWaiters: ((c: Configuration) => void)[] = [];

  constructor(o: DriverOptions) {
    super();
    this.o = o;
    this.id = o.id;
  }

  /** Loads durable state, rebuilds the FSM (snapshot, then the log replays as it commits), starts. */
  async start(): Promise<void> {
    const st = await this.o.storage.load();
    if (st.snapshot) {
      const snap = await this.o.storage.readSnapshot();
      if (!snap || snap.meta.index !== st.snapshot.index) {
        throw new ConsulError(ErrorCode.Corrupt, 'raft: snapshot metadata and data disagree');
      }
      this.o.fsm.restore(snap.data, snap.meta.index);
      this.snapshotIndex = snap.meta.index;
    }
    const t = this.o.timings;
    this.raw = new RawNode(
      {
        id: this.id,
        electionTimeoutMs: t.electionTimeoutMs,
        heartbeatIntervalMs: t.heartbeatIntervalMs,
        leaseTimeoutMs: t.leaseTimeoutMs,
        rng: this.o.rng,
        clock: () => this.o.clock.now(),
      },
      st,
    );
    this.soft = { role: this.raw.role, leader: this.raw.leader, term: this.raw.term };
    this.started = true;
    // A server that is the only voter (-bootstrap, -dev, -bootstrap-expect 1) need not wait out an
    // election timeout after a restart: nobody else can be leader.
    const voters = this.raw.log.config().config.servers.filter((s) => s.voter);
    if (voters.length === 1 && voters[0]?.id === this.id) this.raw.campaignNow();
    this.armTimer();
    this.scheduleSnapshotCheck();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.o.clock.clearTimeout(this.timer);
    if (this.snapshotTimer) this.o.clock.clearTimeout(this.snapshotTimer);
    const err = new ConsulError(ErrorCode.Unavailable, 'raft is shutting down');
    for (const p of this.proposals.values()) p.reject(err);
    this.proposals.clear();
    for (const r of this.reads.values()) r.reject(err);
    this.reads.clear();
    while (this.busy) await new Promise((r) => setImmediate(r));
    await this.o.storage.close().catch(() => undefined);
  }

  // ---------------------------------------------------------------- inputs

  step(m: Message): void {
    if (this.stopped || !this.started) return;
    this.raw.step(m);
    this.kick();
  }

  /** Proposes a command; resolves with the FSM's result once applied here. */
  propose(data: Uint8Array): Promise<unknown> {
    const at = this.raw.propose(data);
    const p = new Promise<unknown>((resolve, reject) =>
      this.proposals.set(at.index, { term: at.term, resolve, reject }),
    );
    this.kick();
    return p;
  }

  async changeConfig(change: ConfChange): Promise<void> {
    const at = this.raw.proposeConfChange(change);
    const p = new Promise((resolve, reject) =>
      this.proposals.set(at.index, { term: at.term, resolve, reject }),
    );
    this.kick();
    await p;
  }

  /** Resolves when a read started now may be served from this server's FSM linearizably. */
  verifyLeader(): Promise<void> {
    const ctx = ++this.readCtx;
    const p = new Promise<void>((resolve, reject) => this.reads.set(ctx, { resolve, reject }));
    this.raw.readIndex(ctx);
    this.kick();
    return p;
  }

  /** True when a default-consistency read may be answered here without a round trip. */
  leaseValid(): boolean {
    return this.raw.leaseValid();
  }

  /** A peer's connection closed; if it was the leader, prepare to elect another sooner. */
  peerDisconnected(id: ServerId): void {
    if (!this.started || this.stopped) return;
    this.raw.reportLeaderUnreachable(id);
    this.armTimer();
  }

  bootstrap(config: Configuration): void {
    this.raw.bootstrap(config);
    // A lone voter has nobody to wait for: elect itself now rather than after a timeout.
    const voters = config.servers.filter((s) => s.voter);
    if (voters.length === 1 && voters[0]?.id === this.id) this.raw.campaignNow();
    this.kick();
  }

  transferLeadership(to?: ServerId): void {
    const target = to ?? this.raw.bestTransferTarget();
    if (!target) throw new ConsulError(ErrorCode.BadRequest, 'no other voter to transfer leadership to');
    this.raw.transferLeadership(target);
    this.kick();
  }

  // ---------------------------------------------------------------- queries

  isLeader(): boolean {
    return this.raw.role === Role.Leader;
  }

  leaderId(): ServerId {
    return this.raw.leader;
  }

  term(): number {
    return this.raw.term;
  }

  status(): Status {
    return this.raw.status();
  }

  configuration(): { index: number; config: Configuration } {
    return this.raw.log.config();
  }

  lastContactMs(): number {
    return this.raw.lastContactMs();
  }

  lastIndex(): number {
    return this.raw.log.lastIndex();
  }

  appliedIndex(): number {
    return this.raw.log.applied;
  }

  hasState(): boolean {
    return this.raw.log.lastIndex() > 0 || this.raw.term > 0;
  }

  // ---------------------------------------------------------------- the loop

  private kick(): void {
    if (this.busy || this.stopped) return;
    if (!this.raw.hasReady()) {
      this.armTimer();
      return;
    }
    this.busy = true;
    this.runReadyLoop().then(
      () => {
        this.busy = false;
        this.armTimer();
      },
      (err: unknown) => {
        this.busy = false;
        const e = err instanceof Error ? err : new Error(String(err));
        this.o.logger.error({ err: e }, 'raft: fatal error in the ready loop');
        this.stopped = true;
        this.emit('fatal', e);
      },
    );
  }

  private async runReadyLoop(): Promise<void> {
    while (!this.stopped && this.raw.hasReady()) {
      const rd = this.raw.ready();
      for (const m of rd.messages) if (!mustPersistBeforeSend(m)) this.sendMessage(m);
      if (rd.snapshot) {
        await this.o.storage.installSnapshot(rd.snapshot.meta, rd.snapshot.data);
        this.o.fsm.restore(rd.snapshot.data, rd.snapshot.meta.index);
        this.snapshotIndex = rd.snapshot.meta.index;
        this.failProposalsUpTo(rd.snapshot.meta.index);
      }
      // Committed entries in a Ready are already durable here (the core hands out only entries up to
      // what an earlier Ready persisted), so they are applied before this Ready's own write: a commit
      // never waits behind the fsync of the next batch.
      this.applyEntries(rd.committed);
      this.snapshotIfLogIsLong();
      if (rd.entries.length > 0 || rd.hardState) await this.o.storage.append(rd.entries, rd.hardState);
      if (this.stopped) return;
      for (const m of rd.messages) if (mustPersistBeforeSend(m)) this.sendMessage(m);
      this.raw.advance(rd);
      this.handleReads(rd);
      if (rd.softState) this.onSoftState(rd.softState);
    }
  }

  private applyEntries(entries: Entry[]): void {
    for (const e of entries) {
      let result: unknown = true;
      if (e.type === EntryType.Command) result = this.o.fsm.apply(e.index, e.data);
      else this.o.fsm.applyNoop?.(e.index);
      if (e.type === EntryType.Config) {
        const cfg = this.raw.log.configAt(e.index);
        for (const w of this.configWaiters.splice(0)) w(cfg);
      }
      const p = this.proposals.get(e.index);
      if (!p) continue;
      this.proposals.delete(e.index);
      if (p.term !== e.term)
        p.reject(new ConsulError(ErrorCode.NotLeader, 'leadership lost while committing log'));
      else if (result instanceof Error) p.reject(result);
      else p.resolve(result);
    }
  }

  private handleReads(rd: Ready): void {
    const applied = this.raw.log.applied;
    for (const rs of rd.readStates) {
      const r = this.reads.get(rs.ctx);
      if (!r) continue;
      this.reads.delete(rs.ctx);
      if (applied >= rs.index) r.resolve();
      else this.readWaiters.push({ index: rs.index, resolve: r.resolve });
    }
    if (this.readWaiters.length > 0) {
      const ready = this.readWaiters.filter((w) => w.index <= applied);
      this.readWaiters = this.readWaiters.filter((w) => w.index > applied);
      for (const w of ready) w.resolve();
    }
  }

  private onSoftState(s: SoftState): void {
    const wasLeader = this.soft.role === Role.Leader;
    this.soft = s;
    if (wasLeader && s.role !== Role.Leader) {
      const err = new ConsulError(ErrorCode.NotLeader, 'leadership lost while verifying');
      for (const r of this.reads.values()) r.reject(err);
      this.reads.clear();
    }
    if (s.role === Role.Leader || wasLeader || s.leader !== '') {
      this.lastLeaderChangeAt = this.o.clock.now();
      this.emit('leader', s);
    }
  }

  /** Proposals at or below an installed snapshot can no longer be matched to their entries. */
  private failProposalsUpTo(index: number): void {
    for (const [i, p] of this.proposals) {
      if (i <= index) {
        p.reject(new ConsulError(ErrorCode.NotLeader, 'leadership lost while committing log'));
        this.proposals.delete(i);
      }
    }
  }

  private sendMessage(m: Message): void {
    if (m.type !== 'snapshot') {
      void this.o.transport.send(m);
      return;
    }
    // The core only names the snapshot; the bytes come from disk, newest first.
    void (async () => {
      let ok = false;
      try {
        const snap = await this.o.storage.readSnapshot();
        if (snap) ok = await this.o.transport.send({ ...m, meta: snap.meta, data: snap.data });
      } catch (err) {
        this.o.logger.warn({ err, to: m.to }, 'raft: sending snapshot failed');
      }
      if (this.stopped) return;
      this.raw.reportSnapshot(m.to, ok);
      this.kick();
    })();
  }

  private armTimer(): void {
    if (this.stopped) return;
    if (this.timer) this.o.clock.clearTimeout(this.timer);
    const delay = Math.max(1, this.raw.nextDeadline() - this.o.clock.now());
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = null;
      if (this.stopped) return;
      this.raw.tick();
      this.kick();
      this.armTimer();
    }, delay);
  }

  // ---------------------------------------------------------------- snapshots

  private scheduleSnapshotCheck(): void {
    if (this.stopped) return;
    const t = this.o.timings.snapshotIntervalMs;
    // Jitter so the servers of a cluster do not all snapshot at the same moment.
    this.snapshotTimer = this.o.clock.setTimeout(
      () => {
        void this.maybeSnapshot().finally(() => this.scheduleSnapshotCheck());
      },
      t + this.o.rng.int(Math.max(1, t)),
    );
  }

  /**
   * The log lives in memory until a snapshot compacts it. Under a heavy write load the interval
   * check alone would let it grow for 30 s; at twice the threshold we snapshot without waiting.
   */
  private snapshotIfLogIsLong(): void {
    const t = this.o.timings.snapshotThreshold;
    if (this.snapshotting || this.snapshotQueued || this.raw.log.applied - this.snapshotIndex < 2 * t) return;
    this.snapshotQueued = true;
    setImmediate(() => {
      this.snapshotQueued = false;
      this.maybeSnapshot().catch((err: unknown) => this.o.logger.warn({ err }, 'raft: snapshot failed'));
    });
  }

  /** Takes a snapshot if enough entries were applied since the last one (or `force`). */
  async maybeSnapshot(force = false): Promise<SnapshotMeta | null> {
    if (this.snapshotting || this.stopped) return null;
    const applied = this.raw.log.applied;
    if (applied === 0 || applied === this.snapshotIndex) return null;
    if (!force && applied - this.snapshotIndex < this.o.timings.snapshotThreshold) return null;
    const term = this.raw.log.term(applied);
    if (term === undefined) return null;
    this.snapshotting = true;
    try {
      const meta: SnapshotMeta = { index: applied, term, config: this.raw.log.configAt(applied) };
      const started = this.o.clock.now();
      const data = this.o.fsm.snapshot();
      await this.o.storage.saveSnapshot(meta, data);
      this.snapshotIndex = meta.index;
      const upTo = meta.index - this.o.timings.trailingLogs;
      if (upTo > 0) {
        this.raw.compact(meta, upTo);
        await this.o.storage.compact(this.raw.log.snap.index);
      }
      this.o.logger.info(
        { index: meta.index, bytes: data.byteLength, ms: Math.round(this.o.clock.now() - started) },
        'raft: snapshot taken',
      );
      return meta;
    } finally {
      this.snapshotting = false;
    }
  }

  sinceLeaderChangeMs(): number {
    return this.o.clock.now() - this.lastLeaderChangeAt;
  }
}
