// The gossip agent: the pure GossipCore bound to real sockets (transport.ts), real time and one
// timer. Every input (packet, stream, timer, API call) is handed to the core, then its outputs are
// drained and carried out: packets sent, streams dialled and their replies fed back, member and
// user events emitted, queries answered by registered handlers, log lines logged. The timer is
// always armed at the core's next deadline and nothing else runs while the cluster is idle.

import { randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { badRequest, ConsulError, ErrorCode } from '../core/errors.js';
import { cryptoRng, type Rng } from '../core/rng.js';
import { newCoordinate, type Coordinate } from '../coordinate/vivaldi.js';
import { GossipCore } from './core.js';
import type { Keyring } from './keyring.js';
import { Transport, type TransportOptions } from './transport.js';
import type { GossipConfig, Member, MemberEventType, Output, QueryRequest, UserEvent } from './types.js';

/** What the driver needs of the core (GossipCore's API); tests may supply their own. */
export interface GossipCoreApi {
  join(addrs: string[], now: number): number[];
  tick(now: number): void;
  nextDeadline(): number;
  receivePacket(from: string, data: Uint8Array, now: number): void;
  handleStream(from: string, data: Uint8Array, now: number): Uint8Array | null;
  streamReply(id: number, reply: Uint8Array | null, now: number): boolean;
  leave(now: number): void;
  forceLeave(name: string, now: number, prune?: boolean): boolean;
  setTags(tags: Record<string, string>, now: number): void;
  fireEvent(name: string, payload: Uint8Array, id: string, now: number): UserEvent;
  query(name: string, payload: Uint8Array, now: number): number;
  respond(query: QueryRequest, payload: Uint8Array, now: number): void;
  members(): Member[];
  member(name: string): Member | undefined;
  local(): Member;
  healthScore(): number;
  /** Network coordinates (optional so that test fakes need not have them). */
  coordinate?(): Coordinate;
  coordinateOf?(name: string): Coordinate | null;
  readonly counters: Record<string, number>;
  /** Recent successful probes' durations in ms (optional so that test fakes need not have them). */
  readonly probeTimes?: number[];
  drain(): Output[];
}

export interface GossipAgentOptions {
  config: GossipConfig;
  bindAddr: string;
  /** 0 picks a free port (the core is then configured with the port actually bound). */
  port: number;
  keyring: Keyring | null;
  verifyIncoming: boolean;
  verifyOutgoing: boolean;
  /** Where keyring changes are persisted (Consul: <data-dir>/serf/local.keyring); null: not at all. */
  keyringFile: string | null;
  logger: Logger;
  rng?: Rng;
  /** How long a push/pull or fallback-probe stream may take. memberlist's TCPTimeout: 10 s. */
  streamTimeoutMs?: number;
  /** Builds the core; tests substitute a fake. */
  createCore?: (config: GossipConfig, rng: Rng, now: number) => GossipCoreApi;
  /** Transport limits (frame and packet sizes, idle timeout, connection cap). */
  transport?: Pick<
    TransportOptions,
    'maxFrameBytes' | 'maxPacketBytes' | 'idleTimeoutMs' | 'maxInboundConns'
  >;
}

export interface GossipAgentEvents {
  member: [event: MemberEventType, member: Member];
  user: [event: UserEvent];
}

export type QueryHandler = (payload: Uint8Array, from: string) => Uint8Array | Promise<Uint8Array>;

export interface QueryResponse {
  from: string;
  payload: Uint8Array;
}

interface PendingQuery {
  responses: QueryResponse[];
  seen: Set<string>;
  expect: number;
  timer: NodeJS.Timeout;
  resolve: (r: QueryResponse[]) => void;
}

interface PendingStream {
  to: string;
  /** Why the stream failed, for join's error message. */
  why: string;
}

/** A join learning whether one of its push/pull exchanges worked. */
type JoinWaiter = (ok: boolean, to: string, why: string) => void;

/** Consul's default serf LAN port, for join addresses given without one. */
export const DEFAULT_SERF_LAN_PORT = 8301;
const DEFAULT_STREAM_TIMEOUT_MS = 10_000;
const DEFAULT_LEAVE_TIMEOUT_MS = 5_000;
/** Floor for re-arming right after a tick that left its own deadline in the past (never spin). */
const MIN_RETICK_MS = 2;

const now = (): number => performance.now();
const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class GossipAgent extends EventEmitter<GossipAgentEvents> {
  private readonly o: GossipAgentOptions;
  private readonly rng: Rng;
  private readonly log: Logger;
  private core: GossipCoreApi | null = null;
  private transport: Transport | null = null;
  private memberVersion = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private stopped = false;
  private ticking = false;
  private readonly handlers = new Map<string, QueryHandler>();
  private readonly queries = new Map<number, PendingQuery>();
  private readonly streams = new Map<number, PendingStream>();
  private readonly joinWaiters = new Map<number, JoinWaiter>();
  private readonly driverCounters: Record<string, number> = {};

  constructor(opts: GossipAgentOptions) {
    super();
    this.o = opts;
    this.rng = opts.rng ?? cryptoRng();
    this.log = opts.logger;
    const ring = opts.keyring;
    if (ring && opts.keyringFile && ring.persistedTo() !== opts.keyringFile) {
      // Every later change (keyring operations) lands in the file; write it now if it is missing.
      ring.persistTo(opts.keyringFile, !existsSync(opts.keyringFile));
    }
  }

  /** Binds the gossip port and starts the core; resolves with the bound port. */
  async start(): Promise<number> {
    if (this.transport) throw new ConsulError(ErrorCode.Internal, 'gossip: already started');
    const transport = new Transport({
      ...this.o.transport,
      bindAddr: this.o.bindAddr,
      port: this.o.port,
      keyring: this.o.keyring,
      verifyIncoming: this.o.verifyIncoming,
      verifyOutgoing: this.o.verifyOutgoing,
      logger: this.log,
      onPacket: (from, data) => this.input((c, t) => c.receivePacket(from, data, t)),
      onStream: (from, data) => this.input((c, t) => c.handleStream(from, data, t)) ?? null,
    });
    this.transport = transport;
    const port = await transport.start();
    const config: GossipConfig = { ...this.o.config, port };
    const create = this.o.createCore ?? ((c, r, t) => new GossipCore(c, r, t));
    try {
      this.core = create(config, this.rng, now());
    } catch (err) {
      // A config the core refuses: release the port rather than leak the sockets.
      await transport.close();
      throw err;
    }
    this.flush();
    this.arm();
    this.log.info(
      { addr: `${config.addr}:${port}`, encrypted: this.o.keyring !== null },
      'gossip: listening',
    );
    return port;
  }

  /**
   * Joins through any of `addrs` ("host" or "host:port", IPv4; port 8301 when missing): a
   * push/pull state exchange with each. Resolves with how many worked; throws when none did.
   */
  async join(addrs: string[]): Promise<number> {
    this.requireCore();
    if (addrs.length === 0) throw badRequest('at least one address to join is required');
    const failures: string[] = [];
    const resolved = await Promise.all(
      addrs.map(async (a) => {
        try {
          return await resolveJoinAddr(a);
        } catch (err) {
          failures.push(`Failed to join ${a}: ${errText(err)}`);
          return null;
        }
      }),
    );
    const targets = resolved.filter((t): t is string => t !== null);
    let ok = 0;
    if (targets.length > 0 && !this.stopped) {
      const waits: Array<Promise<void>> = [];
      const ids = this.call((c, t) => {
        const started = c.join(targets, t);
        // Registered before the outputs are dispatched (after this callback), so the dial of
        // each push/pull finds its waiter.
        for (const id of started) {
          waits.push(
            new Promise((resolve) =>
              this.joinWaiters.set(id, (good, to, why) => {
                if (good) ok++;
                else failures.push(`Failed to join ${to}: ${why}`);
                resolve();
              }),
            ),
          );
        }
        return started;
      });
      ids.forEach((id, i) => {
        // The core chose not to dial this one (our own address, say): not a success.
        const to = ids.length === targets.length ? targets[i] : undefined;
        if (!this.streams.has(id)) this.settleJoin(id, false, 'not contacted', to);
      });
      await Promise.all(waits);
    }
    if (ok === 0) {
      const list = failures.length > 0 ? failures : ['no address could be contacted'];
      throw new ConsulError(
        ErrorCode.Unavailable,
        `${list.length} error${list.length === 1 ? '' : 's'} occurred:\n${list.map((f) => `\t* ${f}`).join('\n')}\n\n`,
      );
    }
    this.log.info({ joined: ok, addrs }, 'gossip: join completed');
    return ok;
  }

  /**
   * Leaves gracefully: the core announces it, and gossip goes on long enough for the news to
   * spread (its retransmissions, bounded by `timeoutMs`) before the caller stops the agent.
   */
  async leave(timeoutMs = DEFAULT_LEAVE_TIMEOUT_MS): Promise<void> {
    const core = this.requireCore();
    this.call((c, t) => c.leave(t));
    const t = this.o.config.timings;
    const n = core.members().filter((m) => m.status === 'alive' || m.status === 'suspect').length;
    const rounds = t.retransmitMult * Math.max(1, Math.ceil(Math.log10(n + 1))) + 2;
    const wait = Math.min(timeoutMs, Math.max(t.gossipIntervalMs * rounds, t.probeIntervalMs));
    await new Promise((r) => setTimeout(r, wait));
  }

  /** Marks a failed member as left (Consul's force-leave); false when no such member. */
  forceLeave(name: string, prune = false): boolean {
    return this.call((c, t) => c.forceLeave(name, t, prune));
  }

  /**
   * Bumped on every member event (join, update, failed, leave, reap): everything the members list
   * shows changes only with one, so a rendering of the list can be kept until this moves.
   */
  membershipVersion(): number {
    return this.memberVersion;
  }

  members(): Member[] {
    return this.core?.members() ?? [];
  }

  member(name: string): Member | undefined {
    return this.core?.member(name);
  }

  local(): Member {
    return this.requireCore().local();
  }

  healthScore(): number {
    return this.core?.healthScore() ?? 0;
  }

  /** This node's network coordinate in this pool (the origin before the pool started). */
  coordinate(): Coordinate {
    return this.core?.coordinate?.() ?? newCoordinate();
  }

  /** A member's coordinate as last seen in its acks (this node's own for its name); null if none. */
  coordinateOf(name: string): Coordinate | null {
    return this.core?.coordinateOf?.(name) ?? null;
  }

  setTags(tags: Record<string, string>): void {
    this.call((c, t) => c.setTags(tags, t));
  }

  fireEvent(name: string, payload: Uint8Array): UserEvent {
    const id = randomUUID();
    return this.call((c, t) => c.fireEvent(name, payload, id, t));
  }

  /**
   * Asks every member; resolves with the responses once `expect` of them arrived, or with what
   * arrived by `timeoutMs`. Never rejects on a missing answer: the caller counts.
   */
  query(
    name: string,
    payload: Uint8Array,
    opts: { timeoutMs: number; expect?: number },
  ): Promise<QueryResponse[]> {
    this.requireCore();
    return new Promise((resolve) => {
      this.call((c, t) => {
        const id = c.query(name, payload, t);
        // Registered before the outputs are dispatched, so no response can slip past.
        const pending: PendingQuery = {
          responses: [],
          seen: new Set(),
          expect: opts.expect ?? 0,
          resolve,
          timer: setTimeout(() => this.finishQuery(id), opts.timeoutMs),
        };
        this.queries.set(id, pending);
      });
    });
  }

  /** Answers queries named `name` (one handler per name); the handler's result is the response. */
  onQuery(name: string, handler: QueryHandler): void {
    this.handlers.set(name, handler);
  }

  keyring(): Keyring | null {
    return this.o.keyring;
  }

  /** Core counters, the health score, transport counters (transport.*) and driver counters (driver.*). */
  stats(): Record<string, number> {
    const out: Record<string, number> = { ...(this.core?.counters ?? {}) };
    out['health_score'] = this.healthScore();
    for (const [k, v] of Object.entries(this.transport?.counters ?? {})) out[`transport.${k}`] = v;
    for (const [k, v] of Object.entries(this.driverCounters)) out[`driver.${k}`] = v;
    return out;
  }

  /** The durations (ms) of the probes that succeeded since the last call, oldest first. */
  drainProbeTimes(): number[] {
    return this.core?.probeTimes?.splice(0) ?? [];
  }

  /** Closes the sockets and the timer; pending queries resolve with what they have. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const id of [...this.queries.keys()]) this.finishQuery(id);
    for (const [id, s] of this.streams) this.settleJoin(id, false, 'agent stopped', s.to);
    for (const id of [...this.joinWaiters.keys()]) this.settleJoin(id, false, 'agent stopped');
    this.streams.clear();
    await this.transport?.close();
  }

  // ------------------------------------------------------------------ core plumbing

  private requireCore(): GossipCoreApi {
    if (!this.core) throw new ConsulError(ErrorCode.Unavailable, 'gossip: not started');
    if (this.stopped) throw new ConsulError(ErrorCode.Unavailable, 'gossip: agent stopped');
    return this.core;
  }

  private count(name: string): void {
    this.driverCounters[name] = (this.driverCounters[name] ?? 0) + 1;
  }

  /** An API call: the core's exceptions reach the caller, outputs are carried out either way. */
  private call<T>(fn: (core: GossipCoreApi, now: number) => T): T {
    const core = this.requireCore();
    try {
      return fn(core, now());
    } finally {
      this.flush();
      this.arm();
    }
  }

  /** Input from the network or the timer: nothing that arrives may throw out of here. */
  private input<T>(fn: (core: GossipCoreApi, now: number) => T): T | undefined {
    const core = this.core;
    if (!core || this.stopped) {
      this.count('inputDropped');
      return undefined;
    }
    try {
      return fn(core, now());
    } catch (err) {
      this.count('coreErrors');
      this.log.warn({ err }, 'gossip: core failed on an input; dropped');
      return undefined;
    } finally {
      this.flush();
      this.arm();
    }
  }

  private arm(): void {
    const core = this.core;
    if (!core || this.stopped) return;
    let deadline: number;
    try {
      deadline = core.nextDeadline();
    } catch {
      deadline = Infinity;
    }
    if (this.timer && deadline === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = deadline;
    if (!Number.isFinite(deadline)) return;
    let delay = Math.max(0, deadline - now());
    if (this.ticking && delay <= 0) {
      // The tick just run left its own deadline due: wait a little rather than spin.
      this.count('lateDeadlines');
      delay = MIN_RETICK_MS;
    }
    this.timer = setTimeout(() => this.onTimer(), Math.ceil(delay));
    // The sockets keep the process alive while the agent runs; the timer need not.
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = null;
    this.timerAt = Infinity;
    this.ticking = true;
    try {
      this.input((c, t) => c.tick(t));
    } finally {
      this.ticking = false;
    }
  }

  /** Carries out everything the core asked for, including what dispatching makes it ask. */
  private flush(): void {
    const core = this.core;
    if (!core) return;
    for (;;) {
      let outs: Output[];
      try {
        outs = core.drain();
      } catch (err) {
        this.count('coreErrors');
        this.log.warn({ err }, 'gossip: core failed to drain');
        return;
      }
      if (outs.length === 0) return;
      for (const o of outs) {
        if (this.stopped) return;
        this.dispatch(o);
      }
    }
  }

  private dispatch(o: Output): void {
    switch (o.type) {
      case 'send':
        this.transport?.send(o.to, o.data);
        return;
      case 'stream':
        this.dial(o.id, o.to, o.data);
        return;
      case 'member':
        this.memberVersion++;
        this.emitSafely('member', o.event, o.member);
        return;
      case 'user':
        this.emitSafely('user', o.event);
        return;
      case 'query':
        this.answer(o.query);
        return;
      case 'queryResponse':
        this.collect(o.id, o.from, o.payload);
        return;
      case 'log':
        this.log[o.level](o.fields ?? {}, o.msg);
        return;
    }
  }

  private emitSafely<K extends keyof GossipAgentEvents>(event: K, ...args: GossipAgentEvents[K]): void {
    try {
      // EventEmitter's typing wants the exact tuple per key; args is that tuple.
      (this.emit as (e: K, ...a: GossipAgentEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.count('listenerErrors');
      this.log.error({ err, event }, 'gossip: event listener failed');
    }
  }

  private dial(id: number, to: string, data: Uint8Array): void {
    const transport = this.transport;
    if (!transport) return;
    const pending: PendingStream = { to, why: 'connection failed' };
    this.streams.set(id, pending);
    void transport
      .stream(to, data, this.o.streamTimeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS, (why) => (pending.why = why))
      .then((reply) => {
        if (this.streams.get(id) !== pending) return;
        this.streams.delete(id);
        const ok = this.input((c, t) => c.streamReply(id, reply, t)) ?? false;
        if (reply && !ok) pending.why = 'invalid reply';
        this.settleJoin(id, ok, pending.why, to);
      });
  }

  private settleJoin(id: number, ok: boolean, why: string, to = '?'): void {
    const w = this.joinWaiters.get(id);
    if (!w) return;
    this.joinWaiters.delete(id);
    w(ok, to, why);
  }

  private answer(q: QueryRequest): void {
    const handler = this.handlers.get(q.name);
    if (!handler) {
      this.count('queriesUnhandled');
      return;
    }
    void (async () => {
      try {
        const payload = await handler(q.payload, q.origin);
        if (!this.stopped) this.call((c, t) => c.respond(q, payload, t));
      } catch (err) {
        this.count('queryHandlerErrors');
        this.log.warn({ err, query: q.name, origin: q.origin }, 'gossip: query handler failed');
      }
    })();
  }

  private collect(id: number, from: string, payload: Uint8Array): void {
    const p = this.queries.get(id);
    if (!p) {
      this.count('lateQueryResponses');
      return;
    }
    // A relayed copy of an answer already counted.
    if (p.seen.has(from)) return;
    p.seen.add(from);
    p.responses.push({ from, payload });
    if (p.expect > 0 && p.responses.length >= p.expect) this.finishQuery(id);
  }

  private finishQuery(id: number): void {
    const p = this.queries.get(id);
    if (!p) return;
    this.queries.delete(id);
    clearTimeout(p.timer);
    p.resolve(p.responses);
  }
}

/** "host" or "host:port" to "ip:port" (IPv4), resolving names as the system does. */
export async function resolveJoinAddr(addr: string): Promise<string> {
  let host = addr.trim();
  let port = DEFAULT_SERF_LAN_PORT;
  if (host.startsWith('[') || host.split(':').length > 2) {
    throw badRequest(`IPv6 addresses are not supported: ${addr}`);
  }
  const colon = host.lastIndexOf(':');
  if (colon >= 0) {
    const p = host.slice(colon + 1);
    if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535)
      throw badRequest(`invalid port in ${addr}`);
    port = Number(p);
    host = host.slice(0, colon);
  }
  if (!host) throw badRequest(`missing host in ${addr}`);
  if (isIP(host) === 4) return `${host}:${port}`;
  const { address } = await lookup(host, { family: 4 });
  return `${address}:${port}`;
}
