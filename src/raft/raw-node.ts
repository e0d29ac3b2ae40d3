// The Raft protocol as a pure state machine: no sockets, no disk, no timers, no clock. The driver
// feeds it time (`tick(now)`), peer messages (`step`) and client requests (`propose`, `readIndex`),
// and takes back a `Ready`: state to persist, messages to send, entries to apply. Everything that
// can vary between runs (election timeouts) comes from the injected Rng, so a simulation replays
// exactly from its seed.
//
// Beyond the Raft paper: pre-vote and check-quorum (Ongaro's thesis §9.6), leader stickiness (a
// follower that heard from a leader within the election timeout ignores vote requests), leader
// leases for reads, read-index for `?consistent` reads, leadership transfer, single-server
// configuration changes (thesis §4.1), and pipelined, batched replication with flow control.

import { ConsulError, ErrorCode } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import { RaftLog, encodeConfig } from './log.js';
import type {
  AppendMsg,
  AppendRespMsg,
  HeartbeatMsg,
  Message,
  SnapshotMsg,
  VoteMsg,
  VoteRespMsg,
} from './messages.js';
import { Progress } from './progress.js';
import type { Configuration, Entry, HardState, ServerId, SnapshotMeta } from './types.js';
import { EntryType } from './types.js';

export const Role = {
  Follower: 'follower',
  PreCandidate: 'pre-candidate',
  Candidate: 'candidate',
  Leader: 'leader',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

export interface RaftOptions {
  id: ServerId;
  /** Followers campaign after a random time in [T, 2T) without hearing from a leader. */
  electionTimeoutMs: number;
  /** How often a leader sends heartbeats. */
  heartbeatIntervalMs: number;
  /** A leader without contact with a quorum for this long steps down; lease reads need contact within it. Must be < electionTimeoutMs. */
  leaseTimeoutMs: number;
  rng: Rng;
  /** Milliseconds, monotonic: the driver's clock (a fake one in simulations). */
  clock: () => number;
  preVote?: boolean;
  checkQuorum?: boolean;
  /** Append messages in flight per follower in replicate state. */
  maxInflight?: number;
  maxMsgBytes?: number;
  maxEntriesPerMsg?: number;
  /** Committed entries handed to the FSM per Ready. */
  maxApplyBatch?: number;
}

export interface InitialState {
  hardState: HardState;
  snapshot: SnapshotMeta | null;
  entries: Entry[];
}

export interface ReadState {
  ctx: number;
  /** The read may be served once the FSM has applied this index. */
  index: number;
}

export interface SoftState {
  role: Role;
  leader: ServerId;
  term: number;
}

export interface Ready {
  /** Set when term, vote or commit changed: persist before sending `messages`. */
  hardState: HardState | null;
  /** Entries to append durably; the first one's index may overwrite a conflicting suffix. */
  entries: Entry[];
  /** A snapshot from the leader to install (persist it and restore the FSM from it). */
  snapshot: { meta: SnapshotMeta; data: Uint8Array } | null;
  /** Committed, durable entries to apply to the FSM, in order. */
  committed: Entry[];
  messages: Message[];
  readStates: ReadState[];
  softState: SoftState | null;
}

export interface ConfChange {
  type: 'addVoter' | 'addNonvoter' | 'removeServer';
  id: ServerId;
  address: string;
}

export interface Status {
  id: ServerId;
  term: number;
  role: Role;
  leader: ServerId;
  commit: number;
  applied: number;
  lastIndex: number;
  firstIndex: number;
  config: Configuration;
  /** `lastContactMs`: since the newest message this follower acknowledged was sent (-1: none this term). */
  progress: Record<ServerId, { match: number; next: number; state: string; lastContactMs: number }>;
}

const emptyConfig: Configuration = { servers: [] };
const AWAITING_ROUND = -2;

export class RawNode {
  readonly id: ServerId;
  term: number;
  vote: ServerId;
  leader: ServerId = '';
  role: Role = Role.Follower;
  readonly log: RaftLog;

  private readonly opts: Required<Omit<RaftOptions, 'id' | 'rng' | 'clock'>>;
  private readonly rng: Rng;
  private readonly clock: () => number;
  private electionDeadline = 0;
  /** Last time a leader of the current term was heard from. */
  private leaderContactAt = -Infinity;
  /** The leader whose connection the transport saw close (see reportLeaderUnreachable). */
  private leaderGone: ServerId = '';
  /** Votes are not granted before this time: one election timeout after start (see constructor). */
  private readonly startedAt: number;
  private heartbeatDeadline = 0;
  private becameLeaderAt = 0;
  /** Index of this leader's first entry in its term: reads are served only once it is applied. */
  private termStartIndex = 0;

  private prs = new Map<ServerId, Progress>();
  private votes = new Map<ServerId, boolean>();
  private msgs: Message[] = [];
  private seq = 0;
  private readonly seqSentAt = new Map<number, number>();
  /** seq -1: waiting for this term's first commit; AWAITING_ROUND: waiting for a heartbeat round. */
  private pendingReads: { ctx: number; index: number; seq: number }[] = [];
  private readRoundDue = false;
  private readStates: ReadState[] = [];
  private pendingConfIndex = 0;
  private transferee: ServerId = '';
  private transferDeadline = 0;
  private appendsDirty = false;
  private pendingSnapshot: { meta: SnapshotMeta; data: Uint8Array } | null = null;
  private prevHard: HardState;
  private prevSoft: SoftState;

  constructor(options: RaftOptions, init: InitialState) {
    if (options.leaseTimeoutMs >= options.electionTimeoutMs) {
      throw new ConsulError(
        ErrorCode.Config,
        'raft: the leader lease must be shorter than the election timeout',
      );
    }
    this.id = options.id;
    this.rng = options.rng;
    this.clock = options.clock;
    this.opts = {
      electionTimeoutMs: options.electionTimeoutMs,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      leaseTimeoutMs: options.leaseTimeoutMs,
      preVote: options.preVote ?? true,
      checkQuorum: options.checkQuorum ?? true,
      maxInflight: options.maxInflight ?? 256,
      maxMsgBytes: options.maxMsgBytes ?? 1 << 20,
      maxEntriesPerMsg: options.maxEntriesPerMsg ?? 1024,
      maxApplyBatch: options.maxApplyBatch ?? 4096,
    };
    const snap = init.snapshot ?? { index: 0, term: 0, config: emptyConfig };
    this.log = new RaftLog(snap, init.entries, init.hardState.commit);
    this.term = init.hardState.term;
    this.vote = init.hardState.vote;
    this.prevHard = { term: this.term, vote: this.vote, commit: this.log.committed };
    this.prevSoft = { role: this.role, leader: this.leader, term: this.term };
    // A server that restarts has forgotten which leader it was following. Refusing votes for one
    // election timeout after start keeps the promise behind a leader's lease (no follower that
    // acknowledged it votes for anyone else within that time) true across crashes.
    this.startedAt = this.now;
    this.resetElectionTimer();
  }

  // ---------------------------------------------------------------- inputs

  /** Called when nextDeadline() is reached (or any time): elections and heartbeats happen here. */
  tick(): void {
    if (this.role === Role.Leader) {
      this.tickLeader();
    } else if (this.now >= this.electionDeadline) {
      if (this.promotable()) this.campaign(this.opts.preVote ? 'pre' : 'real');
      else this.resetElectionTimer();
    }
  }

  /** The next time tick() has work to do; the driver sleeps until then. */
  nextDeadline(): number {
    if (this.role === Role.Leader) return this.heartbeatDeadline;
    return this.electionDeadline;
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === 'vote') {
        const inLease = this.inLease();
        if (!m.transfer && inLease) return; // leader stickiness: a live leader is not deposed
        if (m.pre) {
          this.handleVote(m);
          return;
        }
        this.becomeFollower(m.term, '');
      } else if (m.type === 'voteResp' && m.pre && m.granted) {
        // A granted pre-vote carries the term we asked for; nobody changes term yet.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, '');
      }
    } else if (m.term < this.term) {
      if (m.type === 'append' || m.type === 'heartbeat') {
        // A deposed leader still sending: tell it the term so it steps down (without this, a
        // partitioned old leader with check-quorum off would never learn).
        this.send({
          type: 'appendResp',
          from: this.id,
          to: m.from,
          term: this.term,
          index: 0,
          reject: true,
          hint: 0,
          seq: 0,
        });
      } else if (m.type === 'vote' && m.pre) {
        this.send({
          type: 'voteResp',
          from: this.id,
          to: m.from,
          term: this.term,
          pre: true,
          granted: false,
        });
      }
      return;
    }

    switch (m.type) {
      case 'vote':
        this.handleVote(m);
        return;
      case 'voteResp':
        this.handleVoteResp(m);
        return;
      case 'append':
        this.followLeader(m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.followLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.followLeader(m.from);
        this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        if (this.role !== Role.Leader && this.promotable()) this.campaign('transfer');
        return;
      case 'appendResp':
        if (this.role === Role.Leader) this.handleAppendResp(m);
        return;
      case 'heartbeatResp':
        if (this.role === Role.Leader) this.handleHeartbeatResp(m.from, m.seq);
        return;
    }
  }

  /** Appends a command to the leader's log. Returns where it will commit if leadership holds. */
  propose(data: Uint8Array): { index: number; term: number } {
    return this.appendLocal(EntryType.Command, data);
  }

  proposeConfChange(change: ConfChange): { index: number; term: number } {
    this.mustLead();
    if (this.pendingConfIndex > this.log.committed) {
      throw new ConsulError(ErrorCode.Conflict, 'a configuration change is already in progress');
    }
    const current = this.log.config().config;
    let servers = current.servers.filter((s) => s.id !== change.id);
    if (change.type !== 'removeServer') {
      servers = [...servers, { id: change.id, address: change.address, voter: change.type === 'addVoter' }];
    } else if (servers.length === current.servers.length) {
      throw new ConsulError(ErrorCode.NotFound, `server ${change.id} is not in the configuration`);
    }
    if (!servers.some((s) => s.voter)) {
      throw new ConsulError(ErrorCode.BadRequest, 'refusing to remove the last voter');
    }
    const r = this.appendLocal(EntryType.Config, encodeConfig({ servers }));
    this.pendingConfIndex = r.index;
    this.syncProgressWithConfig(); // a configuration takes effect when appended, not when committed
    return r;
  }

  /**
   * Starts a linearizable read: once a quorum confirms this server is still the leader, a ReadState
   * with the same ctx says which index the FSM must have applied before the read runs.
   */
  readIndex(ctx: number): void {
    this.mustLead();
    if (this.quorumSize() === 1) {
      this.readStates.push({ ctx, index: Math.max(this.log.committed, this.termStartIndex) });
      return;
    }
    // The read index is fixed once this term has committed an entry (before that the leader may
    // not know the full commit point); until then the read waits.
    // Reads arriving together share one confirmation round (sent at the next ready()).
    const ready = this.committedInTerm();
    this.pendingReads.push({ ctx, index: ready ? this.log.committed : -1, seq: ready ? AWAITING_ROUND : -1 });
    if (ready) this.readRoundDue = true;
  }

  /**
   * True when this leader may answer a read from its own state without a round trip: it heard from
   * a quorum, within the lease, in answer to messages sent at most `leaseTimeoutMs` ago, so no other
   * leader can have been elected since (followers refuse votes for a full election timeout after
   * hearing from it), and it has applied everything committed before its term.
   */
  leaseValid(): boolean {
    const now = this.now;
    if (this.role !== Role.Leader || this.transferee !== '') return false;
    if (this.log.applied < this.termStartIndex) return false;
    return this.quorumContactSince() >= now - this.opts.leaseTimeoutMs;
  }

  /** True once this leader has applied its first entry of the term (reads see every earlier write). */
  readyForReads(): boolean {
    return this.role === Role.Leader && this.log.applied >= this.termStartIndex;
  }

  transferLeadership(to: ServerId): void {
    this.mustLead();
    if (to === this.id) return;
    const target = this.log.config().config.servers.find((s) => s.id === to);
    if (!target?.voter)
      throw new ConsulError(ErrorCode.BadRequest, `cannot transfer leadership to ${to}: not a voter`);
    this.transferee = to;
    this.transferDeadline = this.now + this.opts.electionTimeoutMs;
    const pr = this.prs.get(to);
    if (pr && pr.match === this.log.lastIndex())
      this.send({ type: 'timeoutNow', from: this.id, to, term: this.term });
    else this.appendsDirty = true;
  }

  /** Picks the most up-to-date voter as the next leader (used for graceful leader shutdown). */
  bestTransferTarget(): ServerId | null {
    let best: ServerId | null = null;
    let bestMatch = -1;
    for (const s of this.log.config().config.servers) {
      if (s.id === this.id || !s.voter) continue;
      const pr = this.prs.get(s.id);
      if (pr && pr.match > bestMatch) {
        best = s.id;
        bestMatch = pr.match;
      }
    }
    return best;
  }

  /** Writes the first configuration into an empty log (Consul's bootstrap). */
  bootstrap(config: Configuration): void {
    if (this.log.lastIndex() !== 0 || this.term !== 0) {
      throw new ConsulError(ErrorCode.Conflict, 'raft: bootstrap only works on an empty log');
    }
    this.term = 1;
    this.log.appendAt([{ index: 1, term: 1, type: EntryType.Config, data: encodeConfig(config) }]);
    this.resetElectionTimer();
  }

  /** Starts an election now (tests, and a lone bootstrapped server that should not wait). */
  campaignNow(): void {
    if (this.role !== Role.Leader && this.promotable()) this.campaign(this.opts.preVote ? 'pre' : 'real');
  }

  /**
   * The transport saw the leader's connection close (its process died, say). This follower then
   * campaigns as soon as the leader's lease has certainly run out (see leaseWindow), plus a little
   * jitter against split votes, instead of a full random election timeout later.
   */
  reportLeaderUnreachable(id: ServerId): void {
    if (this.role !== Role.Follower || this.leader !== id || this.leaderContactAt === -Infinity) return;
    this.leaderGone = id;
    const soon = this.leaderContactAt + this.leaseWindow() + this.rng.int(2 * this.opts.heartbeatIntervalMs);
    this.electionDeadline = Math.min(this.electionDeadline, soon);
  }

  /** The transport could not reach a follower: stop pipelining to it until it answers again. */
  reportUnreachable(id: ServerId): void {
    const pr = this.prs.get(id);
    if (this.role === Role.Leader && pr?.state === 'replicate') pr.becomeProbe();
  }

  reportSnapshot(id: ServerId, ok: boolean): void {
    const pr = this.prs.get(id);
    if (this.role !== Role.Leader || pr?.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    pr.probeSent = ok; // after a success, wait for the follower's answer before probing again
  }

  /** The driver saved an FSM snapshot at meta.index: entries up to `upTo` may go. */
  compact(meta: SnapshotMeta, upTo: number): void {
    const index = Math.min(upTo, meta.index);
    if (index <= this.log.snap.index) return;
    const term = this.log.term(index);
    if (term === undefined) return;
    this.log.compact({ index, term, config: this.log.configAt(index) });
  }

  status(): Status {
    const progress: Status['progress'] = {};
    for (const [id, pr] of this.prs) {
      const lastContactMs = pr.ackSentAt === -Infinity ? -1 : Math.max(0, this.now - pr.ackSentAt);
      progress[id] = { match: pr.match, next: pr.next, state: pr.state, lastContactMs };
    }
    return {
      id: this.id,
      term: this.term,
      role: this.role,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      config: this.log.config().config,
      progress,
    };
  }

  /** Milliseconds since the leader was last heard from (0 on the leader itself). */
  lastContactMs(): number {
    if (this.role === Role.Leader) return 0;
    if (this.leaderContactAt === -Infinity) return -1;
    return Math.max(0, this.now - this.leaderContactAt);
  }

  // ---------------------------------------------------------------- output

  hasReady(): boolean {
    if (this.role === Role.Leader && (this.appendsDirty || this.readRoundDue)) return true;
    return (
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.pendingSnapshot !== null ||
      this.log.lastIndex() > this.log.stable ||
      Math.min(this.log.committed, this.log.stable) > this.log.applied ||
      this.hardChanged() ||
      this.softChanged()
    );
  }

  ready(): Ready {
    if (this.role === Role.Leader && this.appendsDirty) {
      this.appendsDirty = false;
      this.broadcastAppend();
    }
    if (this.role === Role.Leader && this.readRoundDue) {
      this.readRoundDue = false;
      this.broadcastHeartbeat();
      for (const r of this.pendingReads) if (r.seq === AWAITING_ROUND) r.seq = this.seq;
    }
    const hard = this.hardState();
    const soft: SoftState = { role: this.role, leader: this.leader, term: this.term };
    const rd: Ready = {
      hardState: this.hardChanged() ? hard : null,
      entries: this.log.unstable(),
      snapshot: this.pendingSnapshot,
      committed: this.pendingSnapshot ? [] : this.log.toApply(this.opts.maxApplyBatch),
      messages: this.msgs,
      readStates: this.readStates,
      softState: this.softChanged() ? soft : null,
    };
    this.msgs = [];
    this.readStates = [];
    this.pendingSnapshot = null;
    if (rd.hardState) this.prevHard = hard;
    if (rd.softState) this.prevSoft = soft;
    return rd;
  }

  /** The driver has persisted, sent and applied what `rd` asked for. */
  advance(rd: Ready): void {
    const last = rd.entries[rd.entries.length - 1];
    if (last) this.log.stableTo(last.index, last.term);
    const applied = rd.committed[rd.committed.length - 1];
    if (applied) this.log.applied = Math.max(this.log.applied, applied.index);
    if (this.role === Role.Leader) {
      const self = this.prs.get(this.id);
      if (self && self.maybeUpdate(this.log.stable, this.now) && this.maybeCommit()) this.onCommitAdvanced();
    }
  }

  // ---------------------------------------------------------------- roles

  private becomeFollower(term: number, leader: ServerId): void {
    const wasLeader = this.role === Role.Leader;
    if (term !== this.term) {
      this.term = term;
      this.vote = '';
    }
    this.role = Role.Follower;
    this.leader = leader;
    if (leader !== '') this.leaderContactAt = this.now;
    this.resetElectionTimer();
    if (wasLeader) this.clearLeaderState();
  }

  private clearLeaderState(): void {
    this.prs.clear();
    this.pendingReads = [];
    this.readRoundDue = false;
    this.transferee = '';
    this.appendsDirty = false;
    this.seqSentAt.clear();
  }

  private campaign(kind: 'pre' | 'real' | 'transfer'): void {
    const pre = kind === 'pre';
    if (pre) {
      this.role = Role.PreCandidate;
    } else {
      this.role = Role.Candidate;
      this.term += 1;
      this.vote = this.id;
    }
    this.leader = '';
    this.votes.clear();
    this.votes.set(this.id, true);
    this.resetElectionTimer();
    if (this.quorumSize() === 1) {
      if (pre) this.campaign('real');
      else this.becomeLeader();
      return;
    }
    const term = pre ? this.term + 1 : this.term;
    for (const s of this.log.config().config.servers) {
      if (s.id === this.id || !s.voter) continue;
      this.send({
        type: 'vote',
        from: this.id,
        to: s.id,
        term,
        pre,
        lastIndex: this.log.lastIndex(),
        lastTerm: this.log.lastTerm(),
        transfer: kind === 'transfer',
      });
    }
  }

  private becomeLeader(): void {
    this.role = Role.Leader;
    this.leader = this.id;
    this.becameLeaderAt = this.now;
    this.prs.clear();
    const next = this.log.lastIndex() + 1;
    for (const s of this.log.config().config.servers) this.prs.set(s.id, new Progress(next, this.now));
    const self = this.prs.get(this.id);
    if (self) self.match = this.log.stable;
    this.pendingReads = [];
    this.transferee = '';
    // Committing an entry of our own term is what lets us commit (and learn) everything before it.
    const noop = this.appendLocal(EntryType.Noop, new Uint8Array(0));
    this.termStartIndex = noop.index;
    // No configuration change until that entry commits: an earlier one may still be uncommitted.
    this.pendingConfIndex = this.log.lastIndex();
    this.heartbeatDeadline = this.now + this.opts.heartbeatIntervalMs;
  }

  private tickLeader(): void {
    if (this.now >= this.heartbeatDeadline) {
      this.heartbeatDeadline = this.now + this.opts.heartbeatIntervalMs;
      this.broadcastHeartbeat();
    }
    if (this.opts.checkQuorum && this.quorumSize() > 1) {
      const contact = Math.max(this.quorumContactSince(), this.becameLeaderAt);
      if (this.now - contact > this.opts.leaseTimeoutMs) {
        this.becomeFollower(this.term, '');
        return;
      }
    }
    if (this.transferee !== '' && this.now >= this.transferDeadline) this.transferee = '';
  }

  // ---------------------------------------------------------------- votes

  private handleVote(m: VoteMsg): void {
    const canVote =
      this.vote === m.from || (this.vote === '' && this.leader === '') || (m.pre && m.term > this.term);
    const upToDate =
      m.lastTerm > this.log.lastTerm() ||
      (m.lastTerm === this.log.lastTerm() && m.lastIndex >= this.log.lastIndex());
    const settled = this.now >= this.startedAt + this.opts.electionTimeoutMs || m.transfer;
    const granted = canVote && upToDate && settled;
    if (granted && !m.pre) {
      this.vote = m.from;
      this.resetElectionTimer();
    }
    this.send({
      type: 'voteResp',
      from: this.id,
      to: m.from,
      term: m.pre && granted ? m.term : this.term,
      pre: m.pre,
      granted,
    });
  }

  private handleVoteResp(m: VoteRespMsg): void {
    const expecting = m.pre ? Role.PreCandidate : Role.Candidate;
    if (this.role !== expecting) return;
    if (!this.isVoter(m.from)) return;
    this.votes.set(m.from, m.granted);
    let granted = 0;
    let rejected = 0;
    for (const v of this.votes.values()) {
      if (v) granted++;
      else rejected++;
    }
    const q = this.quorumSize();
    if (granted >= q) {
      if (m.pre) this.campaign('real');
      else this.becomeLeader();
    } else if (rejected >= q) {
      this.becomeFollower(this.term, '');
    }
  }

  // ---------------------------------------------------------------- follower side

  private followLeader(from: ServerId): void {
    if (this.role !== Role.Follower || this.leader !== from) this.becomeFollower(this.term, from);
    this.leaderContactAt = this.now;
    this.leaderGone = '';
    this.resetElectionTimer();
  }

  private handleAppend(m: AppendMsg): void {
    const reply = (index: number, reject: boolean, hint: number): void =>
      this.send({
        type: 'appendResp',
        from: this.id,
        to: m.from,
        term: this.term,
        index,
        reject,
        hint,
        seq: m.seq,
      });
    if (m.prevIndex < this.log.committed) {
      reply(this.log.committed, false, 0);
      return;
    }
    if (this.log.matchTerm(m.prevIndex, m.prevTerm)) {
      this.log.appendMaybeOverlap(m.entries);
      const lastNew = m.prevIndex + m.entries.length;
      this.log.commitTo(Math.min(m.commit, lastNew));
      reply(lastNew, false, 0);
      return;
    }
    reply(m.prevIndex, true, this.conflictHint(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm));
  }

  /** The largest index <= i whose term is <= t: where the leader's and our logs may still agree. */
  private conflictHint(i: number, t: number): number {
    let idx = i;
    while (idx > this.log.snap.index) {
      const term = this.log.term(idx);
      if (term === undefined || term <= t) break;
      idx--;
    }
    return idx;
  }

  private handleHeartbeat(m: HeartbeatMsg): void {
    this.log.commitTo(m.commit);
    this.send({ type: 'heartbeatResp', from: this.id, to: m.from, term: this.term, seq: m.seq });
  }

  private handleSnapshot(m: SnapshotMsg): void {
    const reply = (index: number): void =>
      this.send({
        type: 'appendResp',
        from: this.id,
        to: m.from,
        term: this.term,
        index,
        reject: false,
        hint: 0,
        seq: m.seq,
      });
    if (m.meta.index <= this.log.committed) {
      reply(this.log.committed);
      return;
    }
    if (this.log.matchTerm(m.meta.index, m.meta.term)) {
      // We already have the entries the snapshot covers: just learn they are committed.
      this.log.commitTo(m.meta.index);
      reply(m.meta.index);
      return;
    }
    if (!m.data) return;
    this.log.restore(m.meta);
    this.pendingSnapshot = { meta: m.meta, data: m.data };
    reply(m.meta.index);
  }

  // ---------------------------------------------------------------- leader side

  private appendLocal(type: EntryType, data: Uint8Array): { index: number; term: number } {
    this.mustLead();
    if (this.transferee !== '' && type !== EntryType.Noop) {
      throw new ConsulError(ErrorCode.NotLeader, 'leadership transfer in progress');
    }
    const index = this.log.lastIndex() + 1;
    this.log.appendAt([{ index, term: this.term, type, data }]);
    this.appendsDirty = true;
    return { index, term: this.term };
  }

  private broadcastAppend(): void {
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      this.sendAppend(id, pr, true);
    }
  }

  /**
   * Sends what the follower is missing, as far as flow control allows. With `carryCommit`, an
   * up-to-date follower still gets an empty append so it learns the new commit index promptly.
   */
  private sendAppend(to: ServerId, pr: Progress, carryCommit: boolean): void {
    const last = this.log.lastIndex();
    for (;;) {
      if (!pr.canSend(this.opts.maxInflight)) return;
      const prevIndex = pr.next - 1;
      const prevTerm = this.log.term(prevIndex);
      if (prevTerm === undefined) {
        this.sendSnapshot(to, pr);
        return;
      }
      const entries =
        pr.next <= last
          ? this.log.slice(pr.next, last, this.opts.maxMsgBytes, this.opts.maxEntriesPerMsg)
          : [];
      if (entries.length === 0 && pr.state === 'replicate' && !carryCommit) return;
      const seq = this.nextSeq();
      this.send({
        type: 'append',
        from: this.id,
        to,
        term: this.term,
        prevIndex,
        prevTerm,
        entries,
        commit: this.log.committed,
        seq,
      });
      const lastSent = entries[entries.length - 1];
      if (pr.state === 'probe') {
        pr.probeSent = true;
        return;
      }
      if (!lastSent) return;
      pr.next = lastSent.index + 1;
      pr.inflight.push(lastSent.index);
      if (pr.next > last) return;
      carryCommit = false;
    }
  }

  private sendSnapshot(to: ServerId, pr: Progress): void {
    pr.becomeSnapshot(this.log.snap.index, this.now);
    const m: SnapshotMsg = {
      type: 'snapshot',
      from: this.id,
      to,
      term: this.term,
      meta: this.log.snap,
      seq: this.nextSeq(),
    };
    this.send(m);
  }

  private broadcastHeartbeat(): void {
    const seq = this.nextSeq();
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      this.send({
        type: 'heartbeat',
        from: this.id,
        to: id,
        term: this.term,
        commit: Math.min(pr.match, this.log.committed),
        seq,
      });
    }
  }

  private handleAppendResp(m: AppendRespMsg): void {
    const pr = this.prs.get(m.from);
    if (!pr) return;
    this.ack(pr, m.seq);
    if (m.reject) {
      if (pr.maybeDecrTo(m.index, m.hint)) this.sendAppend(m.from, pr, false);
      return;
    }
    const wasSnapshot = pr.state === 'snapshot';
    if (!pr.maybeUpdate(m.index, this.now) && !wasSnapshot && pr.state !== 'probe') {
      this.sendAppend(m.from, pr, false);
      return;
    }
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (wasSnapshot && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    }
    if (this.maybeCommit()) this.onCommitAdvanced();
    this.sendAppend(m.from, pr, false);
    if (this.transferee === m.from && pr.match === this.log.lastIndex()) {
      this.send({ type: 'timeoutNow', from: this.id, to: m.from, term: this.term });
    }
  }

  private handleHeartbeatResp(from: ServerId, seq: number): void {
    const pr = this.prs.get(from);
    if (!pr) return;
    this.ack(pr, seq);
    const behind = pr.match < this.log.lastIndex();
    if (pr.state === 'probe') {
      pr.probeSent = false;
    } else if (
      pr.state === 'replicate' &&
      behind &&
      this.now - pr.lastProgressAt > 2 * this.opts.heartbeatIntervalMs
    ) {
      // The follower is alive but its match has not moved: an append was lost. Probe again.
      pr.becomeProbe();
    } else if (pr.state === 'snapshot' && this.now - pr.snapshotSentAt > 10 * this.opts.electionTimeoutMs) {
      pr.becomeProbe();
    }
    if (behind || pr.state === 'probe') this.sendAppend(from, pr, false);
  }

  private ack(pr: Progress, seq: number): void {
    if (seq > pr.ackedSeq) {
      pr.ackedSeq = seq;
      const sentAt = this.seqSentAt.get(seq);
      if (sentAt !== undefined && sentAt > pr.ackSentAt) pr.ackSentAt = sentAt;
    }
    this.resolveReads();
  }

  private nextSeq(): number {
    this.seq += 1;
    this.seqSentAt.set(this.seq, this.now);
    // Keep the map small: sequence numbers older than the oldest one any follower still owes us
    // no longer matter.
    if (this.seqSentAt.size > 4096) {
      let min = this.seq;
      for (const pr of this.prs.values()) min = Math.min(min, pr.ackedSeq);
      for (const k of this.seqSentAt.keys()) {
        if (k < min || this.seqSentAt.size > 8192) this.seqSentAt.delete(k);
        else break;
      }
    }
    return this.seq;
  }

  private maybeCommit(): boolean {
    const matches: number[] = [];
    for (const s of this.log.config().config.servers) {
      if (!s.voter) continue;
      matches.push(this.prs.get(s.id)?.match ?? 0);
    }
    if (matches.length === 0) return false;
    matches.sort((a, b) => b - a);
    const n = matches[this.quorumSize() - 1] as number;
    // Only entries of the current term commit by counting replicas (Raft §5.4.2).
    if (n > this.log.committed && this.log.term(n) === this.term) return this.log.commitTo(n);
    return false;
  }

  private onCommitAdvanced(): void {
    this.appendsDirty = true; // followers learn the new commit index with the next flush
    // Reads that waited for this term's first commit can now fix their index.
    if (this.committedInTerm()) {
      for (const r of this.pendingReads) {
        if (r.index === -1) {
          r.index = this.log.committed;
          r.seq = AWAITING_ROUND;
          this.readRoundDue = true;
        }
      }
    }
    const cfg = this.log.config();
    if (cfg.index <= this.log.committed && !cfg.config.servers.some((s) => s.id === this.id && s.voter)) {
      // We committed our own removal: hand over by stepping down (followers time out and elect).
      this.becomeFollower(this.term, '');
      return;
    }
    this.syncProgressWithConfig();
  }

  private resolveReads(): void {
    if (this.pendingReads.length === 0) return;
    const acked = this.quorumAckedSeq();
    const still: typeof this.pendingReads = [];
    for (const r of this.pendingReads) {
      if (r.seq >= 0 && r.seq <= acked)
        this.readStates.push({ ctx: r.ctx, index: Math.max(r.index, this.termStartIndex) });
      else still.push(r);
    }
    this.pendingReads = still;
  }

  /** The highest sequence number a quorum of voters (counting ourselves) has acknowledged. */
  private quorumAckedSeq(): number {
    const acks: number[] = [];
    for (const s of this.log.config().config.servers) {
      if (!s.voter) continue;
      acks.push(s.id === this.id ? this.seq : (this.prs.get(s.id)?.ackedSeq ?? 0));
    }
    acks.sort((a, b) => b - a);
    return acks[this.quorumSize() - 1] ?? 0;
  }

  /** The latest time T such that a quorum acknowledged messages sent at or after T. */
  private quorumContactSince(): number {
    const times: number[] = [];
    for (const s of this.log.config().config.servers) {
      if (!s.voter) continue;
      times.push(s.id === this.id ? this.now : (this.prs.get(s.id)?.ackSentAt ?? -Infinity));
    }
    times.sort((a, b) => b - a);
    return times[this.quorumSize() - 1] ?? -Infinity;
  }

  /** Adds progress for servers a new configuration brought in and drops the ones it removed. */
  private syncProgressWithConfig(): void {
    if (this.role !== Role.Leader) return;
    const servers = this.log.config().config.servers;
    const ids = new Set(servers.map((s) => s.id));
    for (const s of servers) {
      if (!this.prs.has(s.id)) this.prs.set(s.id, new Progress(this.log.lastIndex() + 1, this.now));
    }
    for (const id of this.prs.keys()) if (!ids.has(id) && id !== this.id) this.prs.delete(id);
  }

  // ---------------------------------------------------------------- helpers

  private get now(): number {
    return this.clock();
  }

  private committedInTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private inLease(): boolean {
    if (this.role === Role.Leader) return true;
    return this.leader !== '' && this.now - this.leaderContactAt < this.leaseWindow();
  }

  /**
   * How long after hearing from the leader we refuse to vote for anyone else: an election timeout,
   * or, once the leader's connection closed, 1.5 lease timeouts. That still outlasts the leader's
   * own lease (it counts from when it sent, we from when we received) with room for clocks that run
   * up to 50% apart, so a lease read can never overlap a newer leader.
   */
  private leaseWindow(): number {
    const t = this.opts.electionTimeoutMs;
    return this.leaderGone !== '' && this.leaderGone === this.leader
      ? Math.min(t, 1.5 * this.opts.leaseTimeoutMs)
      : t;
  }

  private promotable(): boolean {
    return this.isVoter(this.id);
  }

  private isVoter(id: ServerId): boolean {
    return this.log.config().config.servers.some((s) => s.id === id && s.voter);
  }

  private quorumSize(): number {
    let voters = 0;
    for (const s of this.log.config().config.servers) if (s.voter) voters++;
    return Math.floor(voters / 2) + 1;
  }

  private mustLead(): void {
    if (this.role !== Role.Leader) throw new ConsulError(ErrorCode.NotLeader, 'node is not the leader');
  }

  private resetElectionTimer(): void {
    const t = this.opts.electionTimeoutMs;
    this.electionDeadline = this.now + t + this.rng.int(t);
  }

  private send(m: Message): void {
    this.msgs.push(m);
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private hardChanged(): boolean {
    return (
      this.term !== this.prevHard.term ||
      this.vote !== this.prevHard.vote ||
      (this.log.committed !== this.prevHard.commit && this.log.lastIndex() > this.log.stable)
    );
  }

  private softChanged(): boolean {
    return (
      this.role !== this.prevSoft.role ||
      this.leader !== this.prevSoft.leader ||
      this.term !== this.prevSoft.term
    );
  }
}
