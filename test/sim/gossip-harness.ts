// A deterministic simulation of a gossip cluster: N GossipCores in one process over a simulated
// network (per-packet loss, 1-10 ms delay with jitter and so reordering, partitions), with the
// faults gossip must survive: killed members, members restarted on a new address, stalled members
// (a paused process that wakes up to a backlog), and members that handle their input late. One
// seeded Rng drives the network and one per core drives the core, so a seed replays exactly.

import { seededRng, type Rng } from '../../src/core/rng.js';
import { hostPort } from '../../src/gossip/codec.js';
import { GossipCore } from '../../src/gossip/core.js';
import type { GossipTimings, Member, Output, QueryRequest } from '../../src/gossip/types.js';
import { EventQueue } from '../support/event-queue.js';

// ------------------------------------------------------------------ nodes

export interface GossipSimOptions {
  seed: number;
  timings: GossipTimings;
  /** Probability that a UDP packet, or a whole TCP exchange, is lost. */
  lossRate: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** The driver's TCP timeout: a stream with no reply by then gets null. */
  streamTimeoutMs: number;
  packetBudget?: number;
  recentEvents?: number;
  /** Any member declaring a member failed while that member runs is a violation (throws). */
  forbidFalseFailures: boolean;
  /** Answer every query with the responder's name. */
  autoRespond: boolean;
  /** Extra member tags (the agent's serf tags make alive messages about 150 bytes bigger). */
  tags?: Record<string, string>;
  /** A UDP packet's one-way delay between two members by name, instead of min..max at random. */
  linkDelayMs?: (from: string, to: string) => number;
  /** Tags of one member by name, over the others (e.g. a WAN pool's role=consul and dc per server). */
  tagsOf?: (name: string) => Record<string, string>;
}

export const defaultGossipSimOptions: Omit<GossipSimOptions, 'seed' | 'timings'> = {
  lossRate: 0.1,
  minDelayMs: 1,
  maxDelayMs: 10,
  streamTimeoutMs: 2000,
  forbidFalseFailures: false,
  autoRespond: true,
};

export interface SimNode {
  name: string;
  id: string;
  host: string;
  port: number;
  core: GossipCore | null;
  /** Bumped on every kill/restart so events for an earlier life are ignored. */
  life: number;
  left: boolean;
  timerAt: number | null;
  timerToken: number;
  /** While set, the node processes nothing and sends nothing; input queues up (a paused process). */
  stalledUntil: number | null;
  inbox: (() => void)[];
  /** Extra delay before this node handles any input (a node too slow to keep up). */
  inboundDelayMs: number;
  /** Join targets of join streams in flight, retried when they fail (like retry_join). */
  joins: Map<number, string>;
  /** join() was called and no join has succeeded yet. */
  joining: boolean;
}

export interface Observed {
  at: number;
  /** The member that produced the output. */
  by: string;
  out: Output;
}

export class InvariantError extends Error {}

export class GossipSim {
  readonly opts: GossipSimOptions;
  readonly q = new EventQueue();
  readonly rng: Rng;
  readonly nodes: SimNode[] = [];
  /** Every non-packet output, in order: member events, user events, queries, responses, logs. */
  readonly observed: Observed[] = [];
  private readonly byAddr = new Map<string, SimNode>();
  private readonly group = new Map<string, number>();
  /** Members whose UDP traffic (both ways) is dropped while TCP still works: a bad firewall. */
  private readonly udpBlocked = new Set<string>();
  private hostCounter = 0;
  private coreSeeds = 0;
  private nextCheck = 0;
  readonly stats = { packetsSent: 0, packetsLost: 0, streams: 0, streamsLost: 0, events: 0 };

  constructor(opts: GossipSimOptions) {
    this.opts = opts;
    this.rng = seededRng(opts.seed);
  }

  get now(): number {
    return this.q.now;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Starts a member (not yet joined to anyone). */
  add(name: string, id = `id-${name}`): SimNode {
    const n: SimNode = {
      name,
      id,
      host: this.newHost(),
      port: 8301,
      core: null,
      life: 0,
      left: false,
      timerAt: null,
      timerToken: 0,
      stalledUntil: null,
      inbox: [],
      inboundDelayMs: 0,
      joins: new Map(),
      joining: false,
    };
    this.nodes.push(n);
    this.start(n);
    return n;
  }

  private newHost(): string {
    const i = ++this.hostCounter;
    return `10.${(i >> 8) & 0xff}.${i & 0xff}.1`;
  }

  private start(n: SimNode): void {
    n.life++;
    n.left = false;
    n.timerAt = null;
    n.stalledUntil = null;
    n.inbox = [];
    n.joins.clear();
    n.joining = false;
    n.core = new GossipCore(
      {
        name: n.name,
        addr: n.host,
        port: n.port,
        tags: { ...this.opts.tags, id: n.id, role: 'node', ...this.opts.tagsOf?.(n.name) },
        timings: this.opts.timings,
        packetBudget: this.opts.packetBudget ?? 1371,
        recentEvents: this.opts.recentEvents ?? 256,
      },
      seededRng(this.opts.seed * 7919 + ++this.coreSeeds),
      this.now,
    );
    this.byAddr.set(addrOf(n), n);
    this.pump(n);
  }

  /** Joins `n` to the cluster through `target`, retrying every 500 ms until a join succeeds. */
  join(n: SimNode, target: SimNode): void {
    const core = n.core;
    if (!core) return;
    const to = addrOf(target);
    n.joining = true;
    for (const id of core.join([to], this.now)) n.joins.set(id, to);
    this.pump(n);
  }

  kill(n: SimNode): void {
    if (!n.core) return;
    n.core = null;
    n.life++;
    this.byAddr.delete(addrOf(n));
  }

  /** A new process under the same name and node ID, on a new address. */
  restart(n: SimNode, newAddress = true): void {
    this.kill(n);
    if (newAddress) n.host = this.newHost();
    this.start(n);
  }

  /** Calls into a member's core from outside (an operator, an API call) and carries out its outputs. */
  act<T>(n: SimNode, fn: (core: GossipCore, now: number) => T): T {
    const core = n.core;
    if (!core) throw new Error(`${n.name} is not running`);
    const result = fn(core, this.now);
    this.pump(n);
    return result;
  }

  leave(n: SimNode): void {
    n.core?.leave(this.now);
    n.left = true;
    this.pump(n);
  }

  stall(n: SimNode, ms: number): void {
    const life = n.life;
    n.stalledUntil = this.now + ms;
    this.q.schedule(ms, () => {
      if (n.life !== life) return;
      n.stalledUntil = null;
      const inbox = n.inbox;
      n.inbox = [];
      // The backlog first (as a woken process reads its socket buffers), then overdue timers.
      for (const run of inbox) run();
      const core = n.core;
      if (core && this.now >= core.nextDeadline()) this.tick(n);
      this.pump(n);
    });
  }

  /** Partitions the named groups from each other; members not listed form group 0. */
  partition(groups: string[][]): void {
    this.group.clear();
    groups.forEach((g, i) => g.forEach((name) => this.group.set(name, i + 1)));
  }

  heal(): void {
    this.group.clear();
  }

  blockUdp(n: SimNode, blocked = true): void {
    if (blocked) this.udpBlocked.add(n.name);
    else this.udpBlocked.delete(n.name);
  }

  private blocked(a: SimNode, b: SimNode): boolean {
    return (this.group.get(a.name) ?? 0) !== (this.group.get(b.name) ?? 0);
  }

  // ---------------------------------------------------------------- running

  /** Runs the simulation for `ms` of simulated time. */
  run(ms: number): void {
    const until = this.now + ms;
    while (this.q.step(until)) this.afterEvent();
    this.q.now = until;
  }

  /**
   * Runs until `pred` holds (checked every `everyMs`); returns the simulated time it took. Throws
   * when it does not hold within `timeoutMs`.
   */
  runUntil(what: string, pred: () => boolean, timeoutMs: number, everyMs = 50): number {
    const start = this.now;
    while (this.now - start <= timeoutMs) {
      if (pred()) return this.now - start;
      this.run(everyMs);
    }
    if (pred()) return this.now - start;
    throw new InvariantError(`${what}: not reached within ${timeoutMs} ms (simulated, t=${this.now})`);
  }

  private afterEvent(): void {
    this.stats.events++;
    // A full cross-check of every view once per simulated second: cheap enough, and it catches a
    // failure that slipped past the per-output check.
    if (this.now >= this.nextCheck) {
      this.nextCheck = this.now + 1000;
      this.checkViews();
    }
  }

  private tick(n: SimNode): void {
    const core = n.core as GossipCore;
    core.tick(this.now);
    const next = core.nextDeadline();
    if (next <= this.now) {
      throw new InvariantError(`${n.name}: tick(${this.now}) left work due at ${next} (it would spin)`);
    }
  }

  private arm(n: SimNode): void {
    const core = n.core;
    if (!core || n.stalledUntil !== null) return;
    const d = core.nextDeadline();
    if (!Number.isFinite(d)) return;
    const at = Math.max(d, this.now);
    if (n.timerAt !== null && n.timerAt <= at) return;
    n.timerAt = at;
    const token = ++n.timerToken;
    const life = n.life;
    this.q.schedule(at - this.now, () => {
      if (n.timerToken !== token || n.life !== life) return;
      n.timerAt = null;
      const c = n.core;
      if (!c || n.stalledUntil !== null) return;
      if (this.now >= c.nextDeadline()) this.tick(n);
      this.pump(n);
    });
  }

  /** Runs `fn` as input to `n` in its life `life`: late if the node is slow, queued if it is stalled. */
  private input(n: SimNode, life: number, fn: (core: GossipCore) => void): void {
    const run = (): void => {
      if (n.life !== life || !n.core) return;
      if (n.stalledUntil !== null) {
        n.inbox.push(run);
        return;
      }
      fn(n.core);
      this.pump(n);
    };
    if (n.inboundDelayMs > 0) this.q.schedule(n.inboundDelayMs, run);
    else run();
  }

  private pump(n: SimNode): void {
    const core = n.core;
    if (!core) return;
    for (const out of core.drain()) this.output(n, out);
    this.arm(n);
  }

  private delay(): number {
    const { minDelayMs, maxDelayMs } = this.opts;
    return minDelayMs + this.rng.next() * (maxDelayMs - minDelayMs);
  }

  private output(n: SimNode, out: Output): void {
    switch (out.type) {
      case 'send':
        this.sendPacket(n, out.to, out.data);
        return;
      case 'stream':
        this.openStream(n, out.id, out.to, out.data);
        return;
      case 'member':
        this.observed.push({ at: this.now, by: n.name, out });
        if (out.event === 'failed') this.checkFailure(n, out.member);
        return;
      case 'query':
        this.observed.push({ at: this.now, by: n.name, out });
        if (this.opts.autoRespond) this.respondLater(n, out.query);
        return;
      case 'user':
      case 'queryResponse':
      case 'log':
        this.observed.push({ at: this.now, by: n.name, out });
        return;
    }
  }

  private respondLater(n: SimNode, query: QueryRequest): void {
    const life = n.life;
    this.q.schedule(0, () => {
      if (n.life !== life || !n.core) return;
      n.core.respond(query, new TextEncoder().encode(`ack from ${n.name}`), this.now);
      this.pump(n);
    });
  }

  private sendPacket(src: SimNode, to: string, data: Uint8Array): void {
    this.stats.packetsSent++;
    if (this.rng.next() < this.opts.lossRate) {
      this.stats.packetsLost++;
      return;
    }
    const from = addrOf(src);
    const link = this.opts.linkDelayMs;
    const target = link ? this.byAddr.get(to) : undefined;
    this.q.schedule(link && target ? link(src.name, target.name) : this.delay(), () => {
      const dst = this.byAddr.get(to);
      if (!dst || this.blocked(src, dst)) return;
      if (this.udpBlocked.has(src.name) || this.udpBlocked.has(dst.name)) return;
      this.input(dst, dst.life, (core) => core.receivePacket(from, data, this.now));
    });
  }

  private openStream(src: SimNode, id: number, to: string, data: Uint8Array): void {
    this.stats.streams++;
    const life = src.life;
    let settled = false;
    const settle = (reply: Uint8Array | null): void => {
      if (settled) return;
      settled = true;
      this.input(src, life, (core) => {
        const ok = core.streamReply(id, reply, this.now);
        const joinTarget = src.joins.get(id);
        if (joinTarget === undefined) return;
        src.joins.delete(id);
        if (ok) src.joining = false;
        else this.retryJoin(src, joinTarget);
      });
    };
    // The driver's timeout: whatever happens below, no reply by then is a failure.
    this.q.schedule(this.opts.streamTimeoutMs, () => settle(null));
    if (this.rng.next() < this.opts.lossRate) {
      this.stats.streamsLost++;
      return;
    }
    const tcpFrom = `${src.host}:${40_000 + this.rng.int(20_000)}`;
    this.q.schedule(this.delay(), () => {
      const dst = this.byAddr.get(to);
      if (!dst || this.blocked(src, dst)) return;
      this.input(dst, dst.life, (core) => {
        const reply = core.handleStream(tcpFrom, data, this.now);
        this.q.schedule(this.delay(), () => {
          if (this.blocked(src, dst)) return;
          settle(reply);
        });
      });
    });
  }

  private retryJoin(n: SimNode, to: string): void {
    const life = n.life;
    this.q.schedule(500, () => {
      if (n.life !== life || !n.core) return;
      for (const id of n.core.join([to], this.now)) n.joins.set(id, to);
      this.pump(n);
    });
  }

  // ---------------------------------------------------------------- observation and invariants

  /** Members that are running and have not left. */
  live(): SimNode[] {
    return this.nodes.filter((n) => n.core && !n.left);
  }

  node(name: string): SimNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** `viewer`'s opinion of `name`. */
  view(viewer: SimNode, name: string): Member | undefined {
    return viewer.core?.member(name);
  }

  /** Every live member sees every other live member as up (alive or suspect) at its current address. */
  converged(): boolean {
    const live = this.live();
    return live.every((v) =>
      live.every((m) => {
        const seen = v.core?.member(m.name);
        return seen !== undefined && isUp(seen) && seen.addr === m.host && seen.port === m.port;
      }),
    );
  }

  /** Every member that was asked to join has joined (its join push/pull succeeded). */
  joined(): boolean {
    return this.live().every((n) => !n.joining);
  }

  /** Every live member other than `target` sees it with status `status`. */
  allSee(target: string, pred: (m: Member | undefined) => boolean): boolean {
    return this.live()
      .filter((v) => v.name !== target)
      .every((v) => pred(v.core?.member(target)));
  }

  outputsOf<T extends Output['type']>(type: T): (Observed & { out: Extract<Output, { type: T }> })[] {
    return this.observed.filter((o) => o.out.type === type) as (Observed & {
      out: Extract<Output, { type: T }>;
    })[];
  }

  private checkFailure(viewer: SimNode, m: Member): void {
    if (!this.opts.forbidFalseFailures) return;
    const subject = this.nodes.find((x) => x.name === m.name);
    if (subject?.core && !subject.left) {
      throw new InvariantError(
        `${viewer.name} declared ${m.name} failed at t=${this.now} while it runs (incarnation ${m.incarnation}, its own ${subject.core.local().incarnation})`,
      );
    }
  }

  /** Cross-checks every live member's view of every other; also the core's own invariants. */
  checkViews(): void {
    const live = this.live();
    for (const v of live) {
      const core = v.core as GossipCore;
      const self = core.local();
      if (self.status !== 'alive') throw new InvariantError(`${v.name} sees itself ${self.status}`);
      if (self.addr !== v.host)
        throw new InvariantError(`${v.name} advertises ${self.addr}, runs on ${v.host}`);
      if (!this.opts.forbidFalseFailures) continue;
      for (const m of live) {
        const seen = core.member(m.name);
        if (seen?.status === 'failed') {
          throw new InvariantError(`${v.name} holds running member ${m.name} as failed (t=${this.now})`);
        }
      }
    }
  }
}

export function addrOf(n: SimNode): string {
  return hostPort(n.host, n.port);
}

export function isUp(m: Member | undefined): boolean {
  return m !== undefined && (m.status === 'alive' || m.status === 'suspect');
}

/** Starts `count` members named n0..n{count-1} and joins them all through n0, staggered. */
export function startCluster(sim: GossipSim, count: number, staggerMs = 20): SimNode[] {
  const nodes: SimNode[] = [];
  for (let i = 0; i < count; i++) nodes.push(sim.add(`n${i}`));
  const seed = nodes[0] as SimNode;
  for (let i = 1; i < count; i++) {
    const n = nodes[i] as SimNode;
    sim.q.schedule(i * staggerMs * sim.rng.next(), () => sim.join(n, seed));
  }
  return nodes;
}

/** How to replay a failing seed, for error messages. */
export function replayHint(seed: number, test: string): string {
  return `replay: GOSSIP_SEED=${seed} npx vitest run test/sim/gossip.test.ts -t "${test}"`;
}
