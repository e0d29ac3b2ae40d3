// A deterministic simulation of a Raft cluster: N RawNodes in one process, a simulated network
// (loss, delay, duplication, reordering, partitions), simulated disks whose unsynced writes are lost
// on a crash, simulated time and one seeded Rng. Invariants are checked on every event; any
// violation throws with enough context to replay the seed.

import { seededRng, type Rng } from '../../src/core/rng.js';
import { RawNode, Role, type Ready } from '../../src/raft/raw-node.js';
import { mustPersistBeforeSend, type Message } from '../../src/raft/messages.js';
import {
  EntryType,
  type Entry,
  type HardState,
  type SnapshotMeta,
  type Configuration,
} from '../../src/raft/types.js';
import { EventQueue } from '../support/event-queue.js';
import { HistoryRecorder, type Op } from '../support/linearizability.js';

// ------------------------------------------------------------------ the simulated state machine

type Cmd =
  | { op: 'put'; key: string; value: string }
  | { op: 'cas'; key: string; expected: string | null; value: string };

class SimFsm {
  data = new Map<string, string>();
  apply(cmd: Cmd): boolean {
    if (cmd.op === 'put') {
      this.data.set(cmd.key, cmd.value);
      return true;
    }
    const cur = this.data.get(cmd.key) ?? null;
    if (cur !== cmd.expected) return false;
    this.data.set(cmd.key, cmd.value);
    return true;
  }
  snapshot(): string {
    return JSON.stringify([...this.data.entries()].sort());
  }
  restore(s: string): void {
    this.data = new Map(JSON.parse(s) as [string, string][]);
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

// ------------------------------------------------------------------ disks and nodes

interface Disk {
  hard: HardState;
  snapshot: { meta: SnapshotMeta; data: string } | null;
  entries: Entry[];
}

interface SimNode {
  id: string;
  disk: Disk;
  raw: RawNode | null;
  fsm: SimFsm;
  /** The Ready being persisted, if any: lost if the node crashes first. */
  busy: boolean;
  timer: number;
  /** Bumped on every crash so events scheduled for an earlier life are ignored. */
  life: number;
  pendingWrites: Map<number, { term: number; done: (ok: boolean | null | 'overwritten') => void }>;
  pendingReads: Map<number, (index: number | null) => void>;
  readWaiters: { index: number; run: () => void }[];
}

export interface SimOptions {
  seed: number;
  servers: 3 | 5;
  durationMs: number;
  clients: number;
  keys: number;
  lossRate: number;
  dupRate: number;
  maxDelayMs: number;
  /** Mean time between nemesis actions (partitions, crashes). 0 disables faults. */
  faultEveryMs: number;
  snapshotEvery: number;
  electionTimeoutMs: number;
  heartbeatIntervalMs: number;
  leaseTimeoutMs: number;
  diskLatencyMs: number;
  /** Deliberately broken reads (a leader answers without its lease): the checker must catch them. */
  unsafeReads?: boolean;
}

export const defaultSimOptions: Omit<SimOptions, 'seed'> = {
  servers: 3,
  durationMs: 8000,
  clients: 4,
  keys: 3,
  lossRate: 0.02,
  dupRate: 0.01,
  maxDelayMs: 8,
  faultEveryMs: 700,
  snapshotEvery: 40,
  electionTimeoutMs: 300,
  heartbeatIntervalMs: 50,
  leaseTimeoutMs: 150,
  diskLatencyMs: 1,
};

export class InvariantError extends Error {}

export interface SimResult {
  ops: Op[];
  leaders: number;
  committed: number;
  faults: string[];
  finalState: string;
}

export class Simulation {
  readonly rng: Rng;
  readonly q = new EventQueue();
  readonly nodes: SimNode[] = [];
  readonly opts: SimOptions;
  private blocked = new Set<string>(); // "from>to"
  readonly faults: string[] = [];
  private leaderOfTerm = new Map<number, string>();
  private appliedLog: string[] = []; // index -> term:data of the entry every FSM applied there
  private entryRegistry = new Map<string, string>(); // "index:term" -> prevTerm:data
  private readonly history: HistoryRecorder;
  private readCtx = 1;
  private checks = 0;

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.rng = seededRng(opts.seed);
    this.history = new HistoryRecorder(() => this.q.now);
    const config: Configuration = {
      servers: Array.from({ length: opts.servers }, (_, i) => ({
        id: `s${i + 1}`,
        address: `s${i + 1}:8300`,
        voter: true,
      })),
    };
    for (const s of config.servers) {
      // Every server bootstraps with the same configuration, as -bootstrap-expect does.
      const n: SimNode = {
        id: s.id,
        disk: { hard: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] },
        raw: null,
        fsm: new SimFsm(),
        busy: false,
        timer: 0,
        life: 0,
        pendingWrites: new Map(),
        pendingReads: new Map(),
        readWaiters: [],
      };
      this.nodes.push(n);
      this.start(n, config);
    }
  }

  // ---------------------------------------------------------------- node lifecycle

  private start(n: SimNode, bootstrap?: Configuration): void {
    n.life++;
    n.busy = false;
    n.fsm = new SimFsm();
    n.pendingWrites.clear();
    n.pendingReads.clear();
    n.readWaiters = [];
    const snap = n.disk.snapshot;
    if (snap) n.fsm.restore(snap.data);
    n.raw = new RawNode(
      {
        id: n.id,
        electionTimeoutMs: this.opts.electionTimeoutMs,
        heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
        leaseTimeoutMs: this.opts.leaseTimeoutMs,
        rng: this.rng,
        clock: () => this.q.now,
        maxInflight: 8,
        maxEntriesPerMsg: 16,
      },
      { hardState: { ...n.disk.hard }, snapshot: snap?.meta ?? null, entries: [...n.disk.entries] },
    );
    if (bootstrap) n.raw.bootstrap(bootstrap);
    // Whatever this server knew to be committed must still be in its log, unchanged, after the restart.
    for (const e of n.disk.entries) if (e.index <= n.disk.hard.commit) this.checkEntryAgainstApplied(n, e);
    this.armTimer(n);
    this.process(n);
  }

  crash(n: SimNode): void {
    if (!n.raw) return;
    n.raw = null;
    // Its connections close: peers that can still reach it on the network notice at once.
    for (const other of this.nodes) {
      if (other.raw && !this.blocked.has(`${n.id}>${other.id}`)) {
        other.raw.reportLeaderUnreachable(n.id);
        this.armTimer(other);
      }
    }
    n.life++;
    n.busy = false;
    for (const w of n.pendingWrites.values()) w.done(null);
    for (const r of n.pendingReads.values()) r(null);
    n.pendingWrites.clear();
    n.pendingReads.clear();
    n.readWaiters = [];
  }

  restart(n: SimNode): void {
    if (n.raw) return;
    this.start(n);
  }

  private armTimer(n: SimNode): void {
    const raw = n.raw;
    if (!raw) return;
    const life = n.life;
    const timer = ++n.timer;
    const at = Math.max(raw.nextDeadline(), this.q.now + 1);
    this.q.schedule(at - this.q.now, () => {
      if (n.life !== life || n.timer !== timer || !n.raw) return;
      n.raw.tick();
      this.after(n);
    });
  }

  /** After any input to a node: process its Ready, re-arm its timer, check invariants. */
  private after(n: SimNode): void {
    this.process(n);
    this.armTimer(n);
    this.checkInvariants();
  }

  private process(n: SimNode): void {
    const raw = n.raw;
    if (!raw || n.busy || !raw.hasReady()) return;
    const rd = raw.ready();
    this.checkReady(n, rd);
    n.busy = true;
    for (const m of rd.messages) if (!mustPersistBeforeSend(m)) this.send(m);
    const life = n.life;
    // The disk write takes time; a crash before it completes loses it (unsynced data).
    this.q.schedule(this.opts.diskLatencyMs * (1 + this.rng.next()), () => {
      if (n.life !== life || !n.raw) return;
      this.persist(n, rd);
      for (const m of rd.messages) if (mustPersistBeforeSend(m)) this.send(m);
      this.apply(n, rd);
      n.raw.advance(rd);
      n.busy = false;
      this.maybeSnapshot(n);
      this.after(n);
    });
  }

  private persist(n: SimNode, rd: Ready): void {
    const d = n.disk;
    if (rd.snapshot) {
      d.snapshot = { meta: rd.snapshot.meta, data: dec.decode(rd.snapshot.data) };
      d.entries = [];
    }
    const first = rd.entries[0];
    if (first) {
      const keep = d.entries.findIndex((e) => e.index >= first.index);
      if (keep >= 0) d.entries.length = keep;
      d.entries.push(...rd.entries);
    }
    if (rd.hardState) d.hard = { ...rd.hardState };
  }

  private apply(n: SimNode, rd: Ready): void {
    if (rd.snapshot) n.fsm.restore(dec.decode(rd.snapshot.data));
    for (const e of rd.committed) {
      this.checkApplied(n, e);
      let result = true;
      if (e.type === EntryType.Command) result = n.fsm.apply(JSON.parse(dec.decode(e.data)) as Cmd);
      if (
        globalThis.process.env['SIM_TRACE'] &&
        (dec.decode(e.data).includes(globalThis.process.env['SIM_TRACE']) || n.pendingWrites.has(e.index))
      )
        console.log(
          this.q.now.toFixed(1),
          n.id,
          'applied',
          e.index,
          e.term,
          dec.decode(e.data),
          result,
          n.fsm.data.get('k2'),
        );
      const w = n.pendingWrites.get(e.index);
      if (w) {
        n.pendingWrites.delete(e.index);
        // A different entry at our index means ours was overwritten: it never executed.
        w.done(e.term === w.term ? result : 'overwritten');
      }
    }
    for (const rs of rd.readStates) n.pendingReads.get(rs.ctx)?.(rs.index);
    const applied = n.raw?.log.applied ?? 0;
    const lastApplied = rd.committed[rd.committed.length - 1]?.index ?? applied;
    const ready = n.readWaiters.filter((w) => w.index <= lastApplied);
    n.readWaiters = n.readWaiters.filter((w) => w.index > lastApplied);
    for (const w of ready) w.run();
    if (rd.softState && rd.softState.role !== Role.Leader) {
      for (const r of n.pendingReads.values()) r(null);
      n.pendingReads.clear();
      for (const w of n.readWaiters) w.run();
      n.readWaiters = [];
    }
  }

  private maybeSnapshot(n: SimNode): void {
    const raw = n.raw;
    if (!raw) return;
    const applied = raw.log.applied;
    const snapIndex = n.disk.snapshot?.meta.index ?? 0;
    if (applied - snapIndex < this.opts.snapshotEvery) return;
    const term = raw.log.term(applied);
    if (term === undefined) return;
    const meta: SnapshotMeta = { index: applied, term, config: raw.log.configAt(applied) };
    n.disk.snapshot = { meta, data: n.fsm.snapshot() };
    // Keep a few trailing entries so slightly-behind followers catch up from the log.
    const upTo = applied - 5;
    raw.compact(meta, upTo);
    n.disk.entries = n.disk.entries.filter((e) => e.index > raw.log.snap.index);
  }

  // ---------------------------------------------------------------- network

  private send(m: Message): void {
    const lost = this.blocked.has(`${m.from}>${m.to}`) || this.rng.next() < this.opts.lossRate;
    const copies = lost ? 0 : this.rng.next() < this.opts.dupRate ? 2 : 1;
    const from = this.nodes.find((x) => x.id === m.from);
    let msg = m;
    if (m.type === 'snapshot' && from) {
      // The driver attaches the newest snapshot on disk (it may be newer than the core's marker).
      const s = from.disk.snapshot;
      if (!s) return;
      msg = { ...m, meta: s.meta, data: enc.encode(s.data) };
    }
    if (m.type === 'snapshot') {
      // The real driver reports whether the transfer went through once the send completes.
      const delivered = copies > 0;
      this.q.schedule(this.opts.maxDelayMs, () => {
        if (from?.raw) {
          from.raw.reportSnapshot(m.to, delivered);
          this.after(from);
        }
      });
    }
    for (let i = 0; i < copies; i++) {
      this.q.schedule(1 + this.rng.next() * this.opts.maxDelayMs, () => {
        if (this.blocked.has(`${m.from}>${m.to}`)) return;
        const to = this.nodes.find((x) => x.id === m.to);
        if (!to?.raw) return;
        to.raw.step(msg);
        this.after(to);
      });
    }
  }

  partition(groups: string[][]): void {
    this.blocked.clear();
    for (const g of groups) {
      for (const a of this.nodes) {
        for (const b of this.nodes) {
          if (g.includes(a.id) !== g.includes(b.id)) this.blocked.add(`${a.id}>${b.id}`);
        }
      }
    }
  }

  blockOneWay(from: string, to: string): void {
    this.blocked.add(`${from}>${to}`);
  }

  heal(): void {
    this.blocked.clear();
  }

  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes) {
      if (n.raw?.role === Role.Leader && (!best || n.raw.term > (best.raw?.term ?? 0))) best = n;
    }
    return best;
  }

  // ---------------------------------------------------------------- clients

  /** A client's request reaches a server after a delay; clients are never partitioned. */
  private clientRequest(run: () => void): void {
    this.q.schedule(1 + this.rng.next() * this.opts.maxDelayMs, run);
  }

  private runClient(process: number): void {
    if (this.q.now > this.opts.durationMs) return; // clients stop when the faults do
    const key = `k${this.rng.int(this.opts.keys)}`;
    const r = this.rng.next();
    const value = `v${process}-${Math.floor(this.q.now)}-${this.rng.int(1000)}`;
    const kind: 'read' | 'write' | 'cas' = r < 0.45 ? 'read' : r < 0.8 ? 'write' : 'cas';
    const expectedPick = this.rng.next();
    const mode = this.rng.next() < 0.5 ? 'lease' : 'consistent';
    let expected: string | null = null;
    if (kind === 'cas') {
      // Expect the value some server currently has, so that a fair share of CAS calls succeed.
      const any = this.nodes.find((x) => x.raw);
      expected = expectedPick < 0.2 ? null : (any?.fsm.data.get(key) ?? null);
    }
    const handle = this.history.invoke(process, key, kind, kind === 'read' ? null : value, expected);
    const deadline = this.q.now + 4 * this.opts.electionTimeoutMs;
    let proposed = false;
    let finished = false;
    const finish = (outcome: 'ok' | 'fail' | 'info' | 'discard', read?: string | null): void => {
      if (finished) return;
      finished = true;
      if (outcome === 'ok') this.history.ok(handle, read);
      else if (outcome === 'fail') this.history.fail(handle);
      else if (outcome === 'discard') this.history.discard(handle);
      else this.history.info(handle);
      // An op with an unknown outcome retires its process (Jepsen's rule): start a fresh one.
      const next = outcome === 'info' ? process + 1000 : process;
      this.q.schedule(1 + this.rng.next() * 20, () => this.runClient(next));
    };
    const attempt = (target: SimNode): void => {
      if (finished) return;
      if (this.q.now > deadline) {
        finish(kind !== 'read' && proposed ? 'info' : 'discard');
        return;
      }
      this.clientRequest(() => {
        const raw = target.raw;
        const retry = (): void => {
          const hint = raw?.leader ? this.nodes.find((x) => x.id === raw.leader) : undefined;
          const next = hint ?? this.randomNode();
          this.q.schedule(5 + this.rng.next() * 20, () => attempt(next));
        };
        if (!raw || raw.role !== Role.Leader) {
          retry();
          return;
        }
        if (kind === 'read') {
          if (this.opts.unsafeReads || (mode === 'lease' && raw.leaseValid())) {
            const v = target.fsm.data.get(key) ?? null;
            this.clientReply(() => finish('ok', v));
            return;
          }
          const ctx = this.readCtx++;
          target.pendingReads.set(ctx, (index) => {
            target.pendingReads.delete(ctx);
            if (index === null) {
              retry();
              return;
            }
            const run = (): void => {
              if (target.raw?.role !== Role.Leader) {
                retry();
                return;
              }
              const v = target.fsm.data.get(key) ?? null;
              this.clientReply(() => finish('ok', v));
            };
            if ((target.raw?.log.applied ?? 0) >= index) run();
            else target.readWaiters.push({ index, run });
          });
          raw.readIndex(ctx);
          this.after(target);
          return;
        }
        const cmd: Cmd = kind === 'write' ? { op: 'put', key, value } : { op: 'cas', key, expected, value };
        let at: { index: number; term: number };
        try {
          at = raw.propose(enc.encode(JSON.stringify(cmd)));
        } catch {
          retry();
          return;
        }
        proposed = true;
        if (
          globalThis.process.env['SIM_TRACE'] &&
          JSON.stringify(cmd).includes(globalThis.process.env['SIM_TRACE'])
        )
          console.log(this.q.now.toFixed(1), target.id, 'proposed', at.index, at.term, JSON.stringify(cmd));
        target.pendingWrites.set(at.index, {
          term: at.term,
          done: (res) => {
            if (res === null) this.clientReply(() => finish('info'));
            else if (res === 'overwritten') this.clientReply(() => finish('discard'));
            else if (res) this.clientReply(() => finish('ok'));
            else this.clientReply(() => finish('fail')); // the CAS ran and saw another value
          },
        });
        this.after(target);
      });
    };
    attempt(this.nodes[this.rng.int(this.nodes.length)] as SimNode);
  }

  private clientReply(fn: () => void): void {
    this.q.schedule(1 + this.rng.next() * this.opts.maxDelayMs, fn);
  }

  // ---------------------------------------------------------------- nemesis

  private nemesis(): void {
    const ids = this.nodes.map((n) => n.id);
    const leader = this.leader();
    const pick = this.rng.int(9);
    const q = this.q.now.toFixed(0);
    switch (pick) {
      case 0:
        if (leader) {
          this.partition([[leader.id], ids.filter((i) => i !== leader.id)]);
          this.faults.push(`${q} isolate leader ${leader.id}`);
        }
        break;
      case 1: {
        const minority = this.sample(ids, Math.floor(ids.length / 2));
        this.partition([minority, ids.filter((i) => !minority.includes(i))]);
        this.faults.push(`${q} partition minority ${minority.join(',')}`);
        break;
      }
      case 2: {
        const a = this.sample(ids, 1)[0] as string;
        const b = this.sample(
          ids.filter((i) => i !== a),
          1,
        )[0] as string;
        this.blockOneWay(a, b);
        this.faults.push(`${q} one-way ${a}->${b}`);
        break;
      }
      case 3: {
        const victim = leader && this.rng.next() < 0.6 ? leader : (this.sample(this.nodes, 1)[0] as SimNode);
        this.crash(victim);
        this.faults.push(`${q} crash ${victim.id}`);
        this.q.schedule(50 + this.rng.next() * 2 * this.opts.electionTimeoutMs, () => {
          this.restart(victim);
          this.faults.push(`${this.q.now.toFixed(0)} restart ${victim.id}`);
        });
        break;
      }
      case 4: {
        // Bridge: two halves that share one server.
        const shuffled = this.sample(ids, ids.length);
        const mid = Math.floor(ids.length / 2);
        const bridge = shuffled[mid] as string;
        const left = shuffled.slice(0, mid);
        const right = shuffled.slice(mid + 1);
        this.heal();
        for (const l of left)
          for (const r of right) {
            this.blockOneWay(l, r);
            this.blockOneWay(r, l);
          }
        this.faults.push(`${q} bridge via ${bridge}`);
        break;
      }
      case 5: {
        // Crash several servers at once (even all), then restart them.
        const victims = this.sample(this.nodes, 1 + this.rng.int(this.nodes.length));
        for (const v of victims) this.crash(v);
        this.faults.push(`${q} crash ${victims.map((v) => v.id).join(',')}`);
        this.q.schedule(50 + this.rng.next() * 2 * this.opts.electionTimeoutMs, () => {
          for (const v of victims) this.restart(v);
          this.faults.push(`${this.q.now.toFixed(0)} restart ${victims.map((v) => v.id).join(',')}`);
        });
        break;
      }
      case 6:
        if (leader) {
          // The leader's connections reset while it stays alive and cut off: followers see the
          // close and shorten their wait, the leader keeps serving lease reads until its lease ends.
          this.partition([[leader.id], ids.filter((i) => i !== leader.id)]);
          for (const n of this.nodes)
            if (n !== leader && n.raw) {
              n.raw.reportLeaderUnreachable(leader.id);
              this.armTimer(n);
            }
          this.faults.push(`${q} reset+isolate leader ${leader.id}`);
        }
        break;
      default:
        this.heal();
        this.faults.push(`${q} heal`);
    }
  }

  private randomNode(): SimNode {
    const n = this.nodes[this.rng.int(this.nodes.length)];
    if (!n) throw new Error('no nodes');
    return n;
  }

  private sample<T>(xs: T[], k: number): T[] {
    const copy = [...xs];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
    }
    return copy.slice(0, k);
  }

  // ---------------------------------------------------------------- invariants

  private fail(msg: string): never {
    throw new InvariantError(
      `${msg} (at t=${this.q.now.toFixed(1)}ms; faults: ${this.faults.slice(-8).join(' | ')})`,
    );
  }

  private checkReady(n: SimNode, rd: Ready): void {
    const raw = n.raw as RawNode;
    // Election safety: at most one leader per term.
    if (rd.softState?.role === Role.Leader) {
      const prev = this.leaderOfTerm.get(rd.softState.term);
      if (prev && prev !== n.id) this.fail(`two leaders in term ${rd.softState.term}: ${prev} and ${n.id}`);
      this.leaderOfTerm.set(rd.softState.term, n.id);
      // Leader completeness: every entry any FSM applied is in the new leader's log.
      for (let i = raw.log.snap.index + 1; i < this.appliedLog.length; i++) {
        const want = this.appliedLog[i];
        const e = raw.log.entry(i);
        if (want !== undefined && (!e || entryKey(e) !== want)) {
          this.fail(`leader ${n.id} (term ${raw.term}) lacks applied entry ${i}`);
        }
      }
    }
    // Log matching, checked locally: an (index, term) pair names exactly one command and one
    // predecessor term, so two logs that share a pair share the whole prefix.
    for (const e of rd.entries) {
      const prevTerm = raw.log.term(e.index - 1) ?? -1;
      const key = `${e.index}:${e.term}`;
      const val = `${prevTerm}|${entryKey(e)}`;
      const seen = this.entryRegistry.get(key);
      if (seen === undefined) this.entryRegistry.set(key, val);
      else if (seen !== val && !seen.startsWith('-1|') && !val.startsWith('-1|')) {
        this.fail(`log matching violated at ${key} on ${n.id}: ${seen} vs ${val}`);
      }
    }
  }

  /** State machine safety: every server applies the same entry at each index. */
  private checkApplied(n: SimNode, e: Entry): void {
    const key = entryKey(e);
    const prev = this.appliedLog[e.index];
    if (prev === undefined) this.appliedLog[e.index] = key;
    else if (prev !== key) this.fail(`${n.id} applied ${key} at ${e.index}, another server applied ${prev}`);
  }

  private checkEntryAgainstApplied(n: SimNode, e: Entry): void {
    const prev = this.appliedLog[e.index];
    if (prev !== undefined && prev !== entryKey(e)) {
      this.fail(`${n.id} restarted with ${entryKey(e)} at ${e.index}, which was applied as ${prev}`);
    }
  }

  private checkInvariants(): void {
    this.checks++;
    for (const n of this.nodes) {
      const raw = n.raw;
      if (!raw) continue;
      if (raw.log.applied > raw.log.committed)
        this.fail(`${n.id} applied ${raw.log.applied} > committed ${raw.log.committed}`);
      // Committed entries never change: whatever this node has committed agrees with what was applied anywhere.
      const hi = Math.min(raw.log.committed, this.appliedLog.length - 1);
      const lo = Math.max(raw.log.snap.index + 1, hi - 3);
      for (let i = lo; i <= hi; i++) {
        const want = this.appliedLog[i];
        const e = raw.log.entry(i);
        if (want !== undefined && e && entryKey(e) !== want)
          this.fail(`${n.id} committed ${entryKey(e)} at ${i}, applied elsewhere as ${want}`);
      }
    }
  }

  // ---------------------------------------------------------------- run

  run(): SimResult {
    for (let c = 0; c < this.opts.clients; c++)
      this.q.schedule(this.opts.electionTimeoutMs * 2 + c, () => this.runClient(c));
    if (this.opts.faultEveryMs > 0) {
      const loop = (): void => {
        if (this.q.now > this.opts.durationMs) return;
        this.nemesis();
        this.q.schedule(this.opts.faultEveryMs * (0.5 + this.rng.next()), loop);
      };
      this.q.schedule(this.opts.faultEveryMs, loop);
    }
    while (this.q.step(this.opts.durationMs)) {
      /* events */
    }
    // Heal everything, restart the dead, stop the clients' faults and let the cluster settle.
    this.heal();
    this.opts.lossRate = 0;
    this.opts.dupRate = 0;
    for (const n of this.nodes) this.restart(n);
    const settle = this.opts.durationMs + 20 * this.opts.electionTimeoutMs;
    while (this.q.step(settle)) {
      /* events */
    }
    // Liveness after healing: a leader exists and every server applied the same prefix.
    const leader = this.leader();
    if (!leader?.raw) this.fail('no leader after healing');
    const maxApplied = Math.max(...this.nodes.map((n) => n.raw?.log.applied ?? 0));
    const states = new Set(
      this.nodes.map((n) => (n.raw?.log.applied === maxApplied ? n.fsm.snapshot() : 'lagging')),
    );
    if (states.has('lagging') || states.size !== 1) {
      this.fail(
        `servers did not converge: applied ${this.nodes.map((n) => `${n.id}=${n.raw?.log.applied}`).join(' ')}`,
      );
    }
    return {
      ops: this.history.ops(),
      leaders: this.leaderOfTerm.size,
      committed: maxApplied,
      faults: this.faults,
      finalState: [...states][0] as string,
    };
  }
}

function entryKey(e: Entry): string {
  return `${e.term}:${e.type}:${dec.decode(e.data)}`;
}
