// The pure gossip core: SWIM failure detection and dissemination with Lifeguard's refinements
// (memberlist's semantics), plus serf's layer on top (member tags, user events and queries on
// Lamport clocks, reconnecting to failed members, reaping). It owns no sockets and no timers: the
// driver feeds it packets, stream frames and the time, calls tick() at nextDeadline(), and carries
// out the Outputs it drains. Randomness comes only from the injected Rng, so a simulation replays
// exactly from a seed.

import { badRequest } from '../core/errors.js';
import { seededRng, shuffle, type Rng } from '../core/rng.js';
import { VivaldiClient, cloneCoordinate, type Coordinate } from '../coordinate/vivaldi.js';
import { Awareness } from './awareness.js';
import { BroadcastQueue } from './broadcasts.js';
import {
  COMPOUND_HEADER_OVERHEAD,
  COMPOUND_PART_OVERHEAD,
  MAX_COMPOUND_PARTS,
  MAX_EVENT_BYTES,
  MAX_NAME_CHARS,
  MAX_ADDR_CHARS,
  MAX_PUSH_PULL_EVENTS,
  MAX_QUERY_BYTES,
  decodePacket,
  decodeStream,
  encodeMessage,
  encodePacket,
  encodeStream,
  hostPort,
  tagsProblem,
  type AliveMsg,
  type DeadMsg,
  type Message,
  type PushPullEvent,
  type PushPullMsg,
  type QueryMsg,
  type ResponseMsg,
  type SuspectMsg,
  type UserMsg,
} from './codec.js';
import { Suspicion, suspicionParams } from './suspicion.js';
import type {
  GossipConfig,
  GossipTimings,
  Member,
  MemberEventType,
  Output,
  QueryRequest,
  UserEvent,
} from './types.js';

/** A name conflict is logged at most this often per name: it repeats with every gossip round. */
const CONFLICT_WARN_INTERVAL_MS = 10_000;
/** Bound on probes we run for others at once (ping-req), so a flood cannot grow memory. */
const MAX_PENDING_RELAYS = 1024;
/** Probe times kept for the metrics between two scrapes (older ones are dropped first). */
const MAX_PROBE_TIMES = 256;
/** A stream the driver never answered is forgotten after this long. */
const STREAM_EXPIRY_MS = 5 * 60_000;
/** serf's QueryTimeoutMult: a query waits gossipInterval * this * ceil(log10(n + 1)) for responses. */
const QUERY_TIMEOUT_MULT = 16;
/**
 * A query response goes straight to the origin, through this many other members (serf's relay
 * factor), and again directly after one and two gossip intervals: one lost UDP packet must not
 * lose a response, and the origin drops the duplicates.
 */
const RESPONSE_RELAYS = 2;
const RESPONSE_RESENDS = 2;
/** Gossip rounds after a join at which one push/pull with a random member repairs what it missed. */
const JOIN_SETTLE_ROUNDS = 5;

/** News is gossiped at most this many times per gossip interval (see gossipDueAt). */
const PROMPT_GOSSIP_DIVISOR = 4;

/** memberlist's pushPullScaleThreshold: the push/pull interval doubles per doubling beyond this. */
const PUSH_PULL_SCALE_THRESHOLD = 32;
const MAX_PENDING_SENDS = 1024;
/** The largest messages (a query, an alive with full tags) must fit in one packet. */
const MIN_PACKET_BUDGET = 1200;
/**
 * User events and queries are retransmitted twice as often as membership news: a member that
 * misses a state change hears it again at the next probe or push/pull, but a member that misses a
 * query never answers it, and a missed event waits for push/pull. At retransmitMult 4 and 10% loss,
 * about one member in 1,500 misses a given broadcast; twice the transmissions make that one in
 * millions, for little traffic (events and queries are rare and small).
 */
const EVENT_BROADCAST_WEIGHT = 2;

/** Serf's Lamport clock: time() is the next time to use; witness() moves past a time seen remotely. */
class LamportClock {
  private t = 0;
  time(): number {
    return this.t;
  }
  increment(): number {
    return ++this.t;
  }
  witness(t: number): void {
    if (t >= this.t) this.t = t + 1;
  }
}

interface MemberState {
  m: Member;
  /** Set while the member is suspect (never for this node). */
  suspicion: Suspicion | null;
}

interface Probe {
  seq: number;
  target: string;
  to: string;
  /** When the direct ping left: its ack's arrival minus this is the RTT sample for Vivaldi. */
  sentAt: number;
  timeoutAt: number;
  deadlineAt: number;
  /** The indirect probes and the TCP fallback have been sent. */
  indirect: boolean;
  expectedNacks: number;
  nacks: number;
  /** The TCP fallback ping was answered. */
  tcpAcked: boolean;
}

/** A probe we run on behalf of another member (its ping-req). */
interface Relay {
  requester: string;
  seq: number;
  nack: boolean;
  deadline: number;
}

type PendingStream =
  /** ignoreOld: a join by the operator; like Consul's, it does not replay events from before it. */
  | { kind: 'pushPull'; to: string; join: boolean; ignoreOld: boolean; at: number }
  | { kind: 'ping'; to: string; seq: number; target: string; at: number };

interface PendingQuery {
  ltime: number;
  expires: number;
  responders: Set<string>;
}

interface SeenQuery {
  addr: string;
  port: number;
}

const utf8 = new TextEncoder();

/**
 * A member's tags are frozen and replaced whole, never changed: copies of a member share them, and
 * the codec recognises the same object when the member's news goes out again (see codec's tags).
 */
function frozenTags(t: Record<string, string>): Record<string, string> {
  return Object.isFrozen(t) ? t : Object.freeze({ ...t });
}

function copyMember(m: Member): Member {
  return { ...m };
}

function sameTags(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && a[k] === b[k]);
}

/** The node ID in Consul's tags; two claims to one name with different IDs are different nodes. */
function nodeId(tags: Record<string, string>): string | undefined {
  return Object.prototype.hasOwnProperty.call(tags, 'id') ? tags['id'] : undefined;
}

function sameNode(a: Record<string, string>, b: Record<string, string>): boolean {
  const ia = nodeId(a);
  const ib = nodeId(b);
  return ia === undefined || ib === undefined || ia === ib;
}

/** memberlist's pushPullScale: fewer full-state exchanges per member as the cluster grows. */
export function pushPullInterval(baseMs: number, n: number): number {
  if (n <= PUSH_PULL_SCALE_THRESHOLD) return baseMs;
  const mult = Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1;
  return baseMs * mult;
}

export class GossipCore {
  readonly counters: Record<string, number> = {
    'packets.in': 0,
    'packets.out': 0,
    'bytes.in': 0,
    'bytes.out': 0,
    'streams.in': 0,
    'streams.out': 0,
    'streams.failed': 0,
    'dropped.malformed': 0,
    'dropped.stale': 0,
    'dropped.unknownAck': 0,
    'dropped.unknownStream': 0,
    'dropped.wrongNode': 0,
    'dropped.conflict': 0,
    'dropped.oldEvent': 0,
    'dropped.unknownQuery': 0,
    'dropped.overload': 0,
    'dropped.oversize': 0,
    'events.duplicate': 0,
    'queries.duplicate': 0,
    'responses.duplicate': 0,
    probes: 0,
    'probes.failed': 0,
    'probes.tcpOnly': 0,
    suspicions: 0,
    refutes: 0,
    'coordinate.updates': 0,
    'coordinate.rejected': 0,
  };

  private readonly cfg: GossipConfig;
  private readonly t: GossipTimings;
  private readonly rng: Rng;
  private readonly name: string;
  private readonly self: Member;
  private readonly states = new Map<string, MemberState>();
  private readonly awareness: Awareness;
  private readonly broadcasts: BroadcastQueue;
  private outputs: Output[] = [];

  private seq: number;
  private probe: Probe | null = null;
  /** The probe that just ended: its remaining acks and nacks (other paths) are expected, not unknown. */
  private lastProbeSeq = -1;
  /** How long each recent successful probe took (ms), oldest first; the agent's metrics drain it. */
  readonly probeTimes: number[] = [];
  private probeList: string[] = [];
  private probeIndex = 0;
  private nextProbeAt: number;
  private nextGossipAt: number;
  /** When gossip() last ran, and whether it found anyone to send to (see gossipDueAt). */
  private lastGossipAt: number;
  private lastGossipHadTargets = false;
  /** The last round left queued news out of a full packet. */
  private backlog = false;
  private nextPushPullAt: number;
  private nextReconnectAt: number;
  private readonly relays = new Map<number, Relay>();
  private readonly streams = new Map<number, PendingStream>();
  private nextStreamId = 1;

  private readonly memberClock = new LamportClock();
  private readonly eventClock = new LamportClock();
  private readonly queryClock = new LamportClock();
  /** Recent user events by id: to drop duplicates, and to hand on in push/pull. */
  private readonly seenEvents = new Map<string, PushPullEvent>();
  /** Events older than this are from before our join and are not delivered. */
  private eventMinTime = 0;
  private readonly seenQueries = new Map<string, SeenQuery>();
  private readonly pendingQueries = new Map<number, PendingQuery>();
  private nextQueryId: number;
  private pendingSends: { at: number; to: string; data: Uint8Array }[] = [];
  private readonly conflictWarned = new Map<string, number>();
  private readonly tcpWarned = new Map<string, number>();
  /** When we last told an address that it is alive / failed in our eyes (rate limit). */
  private readonly told = new Map<string, number>();
  private doubtedAddrs: Map<string, string> | null = null;
  /** This node's network coordinate, moved by every direct probe's RTT (serf's coordinate client). */
  private readonly vivaldi: VivaldiClient;
  /** Each member's coordinate as its last ack to our direct probe carried it (serf's coordCache). */
  private readonly peerCoords = new Map<string, Coordinate>();

  constructor(config: GossipConfig, rng: Rng, now: number) {
    const problem =
      nameProblem(config.name) ??
      (config.addr.length === 0 || config.addr.length > MAX_ADDR_CHARS ? 'bad address' : null) ??
      (!Number.isInteger(config.port) || config.port < 0 || config.port > 65_535 ? 'bad port' : null) ??
      tagsProblem(config.tags) ??
      timingsProblem(config.timings) ??
      (!(config.packetBudget >= MIN_PACKET_BUDGET) ? `packet budget below ${MIN_PACKET_BUDGET} bytes` : null);
    if (problem) throw badRequest(`invalid gossip config: ${problem}`);
    this.cfg = config;
    this.t = config.timings;
    this.rng = rng;
    this.name = config.name;
    this.awareness = new Awareness(this.t.awarenessMaxMultiplier);
    this.broadcasts = new BroadcastQueue(
      this.t.retransmitMult,
      config.packetBudget - COMPOUND_HEADER_OVERHEAD - COMPOUND_PART_OVERHEAD,
    );
    this.self = {
      name: config.name,
      addr: config.addr,
      port: config.port,
      tags: frozenTags(config.tags),
      // memberlist starts at 1 so that 0 never wins anything.
      incarnation: 1,
      status: 'alive',
      since: now,
    };
    this.states.set(this.name, { m: this.self, suspicion: null });
    // A stream of its own, seeded from the name: Vivaldi draws only when two coordinates coincide,
    // and the core's own draws (probe order, timers) stay exactly what a seeded simulation replays.
    this.vivaldi = new VivaldiClient(seededRng(fnv1a(config.name)));
    this.seq = rng.int(0x7fff_ffff);
    this.nextQueryId = rng.int(0x7fff_ffff);
    // Random phases, so members started together do not probe and gossip in lockstep.
    this.nextProbeAt = now + rng.int(this.t.probeIntervalMs);
    this.nextGossipAt = now + rng.int(this.t.gossipIntervalMs);
    this.lastGossipAt = now;
    this.nextPushPullAt = now + rng.int(this.t.pushPullIntervalMs);
    this.nextReconnectAt = now + rng.int(this.t.reconnectIntervalMs);
    this.emitMember('join', this.self);
    this.broadcastAlive(this.self);
  }

  // ---------------------------------------------------------------- public API

  /** Push/pull join with each address ("host:port"); returns the stream id of each. */
  join(addrs: string[], now: number): number[] {
    return addrs.map((to) =>
      this.openStream(to, this.localState(true), {
        kind: 'pushPull',
        to,
        join: true,
        ignoreOld: true,
        at: now,
      }),
    );
  }

  /** Runs every timer due at `now`. */
  tick(now: number): void {
    this.expireRelays(now);
    this.runProbe(now);
    this.expireSuspicions(now);
    if (now >= this.gossipDueAt()) {
      this.nextGossipAt = now + this.t.gossipIntervalMs;
      this.lastGossipAt = now;
      this.gossip(now);
    }
    if (now >= this.nextPushPullAt) {
      this.nextPushPullAt = now + pushPullInterval(this.t.pushPullIntervalMs, this.states.size);
      if (this.self.status !== 'left') this.pushPull(now);
    }
    if (now >= this.nextReconnectAt) {
      this.nextReconnectAt = now + this.t.reconnectIntervalMs;
      if (this.self.status !== 'left') this.reconnect(now);
    }
    this.reap(now);
    this.flushPendingSends(now);
    this.expireBookkeeping(now);
  }

  /** Earliest time at which tick() has work to do; Infinity when there is none. */
  nextDeadline(): number {
    let d = Infinity;
    if (this.self.status !== 'left') {
      const p = this.probe;
      d = p ? (p.indirect ? p.deadlineAt : Math.min(p.timeoutAt, p.deadlineAt)) : this.nextProbeAt;
      d = Math.min(d, this.nextPushPullAt);
    }
    if (this.broadcasts.size > 0) d = Math.min(d, this.gossipDueAt());
    for (const r of this.relays.values()) d = Math.min(d, r.deadline);
    for (const s of this.pendingSends) d = Math.min(d, s.at);
    let failed = false;
    for (const st of this.states.values()) {
      if (st.suspicion) d = Math.min(d, st.suspicion.deadline());
      const m = st.m;
      if (m.status === 'failed') {
        failed = true;
        d = Math.min(d, m.since + this.t.reconnectTimeoutMs);
      } else if (m.status === 'left' && m.name !== this.name) {
        d = Math.min(d, m.since + this.t.tombstoneTimeoutMs);
      }
    }
    if (failed && this.self.status !== 'left') d = Math.min(d, this.nextReconnectAt);
    return d;
  }

  receivePacket(from: string, data: Uint8Array, now: number): void {
    this.counters['packets.in']!++;
    this.counters['bytes.in']! += data.length;
    const decoded = decodePacket(data);
    if (!decoded.ok) {
      this.counters['dropped.malformed']!++;
      return;
    }
    for (const msg of decoded.value) this.handle(from, msg, now);
    if (this.doubtedIndex().size > 0) this.tellDoubted(from, now);
  }

  /** An incoming TCP frame (push/pull request or fallback ping); returns the reply frame or null. */
  handleStream(from: string, data: Uint8Array, now: number): Uint8Array | null {
    void from; // the TCP peer's port is ephemeral: nothing to learn from it
    this.counters['streams.in']!++;
    this.counters['bytes.in']! += data.length;
    const decoded = decodeStream(data);
    if (!decoded.ok) {
      this.counters['dropped.malformed']!++;
      return null;
    }
    const msg = decoded.value;
    switch (msg.type) {
      case 'pushPull': {
        // Merge first: a member that the requester believes failed is then already refuted, and the
        // reply carries the new incarnation that revives it over there.
        this.mergeState(msg, now);
        const reply = encodeStream(this.localState(false));
        this.counters['bytes.out']! += reply.length;
        return reply;
      }
      case 'ping':
        if (msg.node !== this.name) {
          this.counters['dropped.wrongNode']!++;
          return null;
        }
        return encodeStream({ type: 'ack', seq: msg.seq });
      case 'ack':
        this.counters['dropped.malformed']!++;
        return null;
    }
  }

  /** The reply to an Output 'stream' (null: connect/read failed or timed out). True when it was valid. */
  streamReply(id: number, reply: Uint8Array | null, now: number): boolean {
    const p = this.streams.get(id);
    if (!p) {
      this.counters['dropped.unknownStream']!++;
      return false;
    }
    this.streams.delete(id);
    if (reply === null) {
      this.counters['streams.failed']!++;
      return false;
    }
    this.counters['bytes.in']! += reply.length;
    const decoded = decodeStream(reply);
    if (!decoded.ok) {
      this.counters['dropped.malformed']!++;
      return false;
    }
    const msg = decoded.value;
    if (p.kind === 'pushPull') {
      if (msg.type !== 'pushPull') {
        this.counters['dropped.malformed']!++;
        return false;
      }
      this.mergeState(msg, now, p.ignoreOld);
      // A settling exchange soon after a join (memberlist waits for the periodic one, 30 s or more):
      // members that joined together hear of each other by gossip, whose retransmit limit lets a
      // member miss one of them now and then; one full-state exchange with a random member a few
      // rounds later repairs that in seconds instead of a push/pull interval.
      if (p.join) {
        const settle = now + this.t.gossipIntervalMs * JOIN_SETTLE_ROUNDS;
        this.nextPushPullAt = Math.min(this.nextPushPullAt, settle);
      }
      return true;
    }
    if (msg.type !== 'ack' || msg.seq !== p.seq) {
      this.counters['dropped.unknownAck']!++;
      return false;
    }
    // Like memberlist, the TCP answer only counts at the probe's deadline, if no UDP ack came by
    // then: that is the case worth a warning (UDP blocked, TCP open).
    if (this.probe?.seq === p.seq) this.probe.tcpAcked = true;
    return true;
  }

  /** Graceful leave: broadcast that this node left. */
  leave(now: number): void {
    if (this.self.status === 'left') return;
    this.self.incarnation++;
    this.setStatus(this.self, 'left', now);
    this.probe = null;
    this.memberClock.increment();
    this.broadcastDead({
      type: 'dead',
      node: this.name,
      incarnation: this.self.incarnation,
      from: this.name,
      left: true,
    });
    this.emitMember('leave', this.self);
  }

  /**
   * A failed member -> left, broadcast. False if unknown, this node, or neither failed nor left.
   * `prune` (Consul's force-leave -prune): every member forgets it at once instead of after the
   * tombstone timeout, a member already left included; the prune travels with the broadcast, as
   * serf's leave intent carries it.
   */
  forceLeave(name: string, now: number, prune = false): boolean {
    const st = this.states.get(name);
    if (!st || name === this.name) return false;
    if (st.m.status !== 'failed' && st.m.status !== 'left') return false;
    if (st.m.status === 'failed' || prune) {
      this.memberClock.increment();
      const d: DeadMsg = {
        type: 'dead',
        node: name,
        incarnation: st.m.incarnation,
        from: this.name,
        left: true,
      };
      this.deadNode(prune ? { ...d, prune } : d, now);
    }
    return true;
  }

  /** New tags for this node: bump the incarnation so they win everywhere, and broadcast. */
  setTags(tags: Record<string, string>, now: number): void {
    void now;
    const problem = tagsProblem(tags);
    if (problem) throw badRequest(`invalid tags: ${problem}`);
    this.self.tags = frozenTags(tags);
    this.self.incarnation++;
    this.broadcastAlive(this.self);
    this.emitMember('update', this.self);
  }

  fireEvent(name: string, payload: Uint8Array, id: string, now: number): UserEvent {
    const size = utf8.encode(name).length + payload.length;
    if (size > MAX_EVENT_BYTES) {
      throw badRequest(`user event exceeds limit of ${MAX_EVENT_BYTES} bytes (name + payload: ${size})`);
    }
    const problem = nameProblem(name, 'event name') ?? nameProblem(id, 'event id');
    if (problem) throw badRequest(problem);
    const ltime = this.eventClock.time();
    this.eventClock.increment();
    const msg: UserMsg = {
      type: 'user',
      ltime,
      name,
      payload: new Uint8Array(payload),
      id,
      origin: this.name,
    };
    this.handleUser(msg, now);
    return { ltime, name, payload: msg.payload, id, origin: this.name };
  }

  /** Broadcasts a query; returns its id. Responses arrive as Output 'queryResponse'. */
  query(name: string, payload: Uint8Array, now: number): number {
    const problem = nameProblem(name, 'query name');
    if (problem) throw badRequest(problem);
    const id = this.nextQueryId;
    this.nextQueryId = (this.nextQueryId + 1) >>> 0;
    const msg: QueryMsg = {
      type: 'query',
      ltime: this.queryClock.time(),
      id,
      name,
      payload: new Uint8Array(payload),
      origin: this.name,
      addr: this.self.addr,
      port: this.self.port,
    };
    const size = encodeMessage(msg).length;
    if (size > MAX_QUERY_BYTES) throw badRequest(`query exceeds limit of ${MAX_QUERY_BYTES} bytes (${size})`);
    this.queryClock.increment();
    this.pendingQueries.set(id, {
      ltime: msg.ltime,
      expires: now + this.queryTimeout(),
      responders: new Set(),
    });
    this.handleQuery(msg, now);
    return id;
  }

  /** Sends a response to the query's origin (UDP direct, plus relays and resends against loss). */
  respond(query: QueryRequest, payload: Uint8Array, now: number): void {
    const msg: ResponseMsg = {
      type: 'response',
      ltime: query.ltime,
      id: query.id,
      from: this.name,
      payload: new Uint8Array(payload),
    };
    const data = encodeMessage(msg);
    if (data.length > MAX_QUERY_BYTES) {
      throw badRequest(`query response exceeds limit of ${MAX_QUERY_BYTES} bytes (${data.length})`);
    }
    if (query.origin === this.name) {
      this.handleResponse(msg);
      return;
    }
    const seen = this.seenQueries.get(queryKey(query.origin, query.id));
    const origin = this.states.get(query.origin)?.m;
    const addr = seen?.addr ?? origin?.addr;
    const port = seen?.port ?? origin?.port;
    if (addr === undefined || port === undefined) {
      this.counters['dropped.unknownQuery']!++;
      return;
    }
    const to = hostPort(addr, port);
    this.send(to, data);
    const relay = encodeMessage({ type: 'relay', addr, port, inner: data });
    const relays = this.randomMembers(
      RESPONSE_RELAYS,
      (m) => m.status === 'alive' && m.name !== query.origin,
    );
    for (const r of relays) this.send(hostPort(r.addr, r.port), relay);
    for (let i = 1; i <= RESPONSE_RESENDS && this.pendingSends.length < MAX_PENDING_SENDS; i++) {
      this.pendingSends.push({ at: now + i * this.t.gossipIntervalMs, to, data });
    }
  }

  /** Every known member, this node included (copies). */
  members(): Member[] {
    return [...this.states.values()].map((st) => copyMember(st.m));
  }

  member(name: string): Member | undefined {
    const st = this.states.get(name);
    return st ? copyMember(st.m) : undefined;
  }

  local(): Member {
    return copyMember(this.self);
  }

  healthScore(): number {
    return this.awareness.score;
  }

  /** This node's network coordinate (a copy). */
  coordinate(): Coordinate {
    return this.vivaldi.coordinate();
  }

  /** A member's coordinate as last seen in its acks (this node's own for its name); null if none. */
  coordinateOf(name: string): Coordinate | null {
    if (name === this.name) return this.vivaldi.coordinate();
    const c = this.peerCoords.get(name);
    return c ? cloneCoordinate(c) : null;
  }

  /** Times this node's coordinate went invalid and was reset to the origin. */
  coordinateResets(): number {
    return this.vivaldi.resets;
  }

  drain(): Output[] {
    const out = this.outputs;
    this.outputs = [];
    return out;
  }

  // ---------------------------------------------------------------- message dispatch

  private handle(from: string, msg: Message, now: number): void {
    switch (msg.type) {
      case 'ping':
        if (msg.node !== this.name) {
          // Meant for whoever had this address before us.
          this.counters['dropped.wrongNode']!++;
          return;
        }
        this.sendWithPiggyback(from, [
          // Our coordinate rides on the ack (serf's ack payload): the prober times the round trip
          // and moves its own coordinate with the pair.
          encodeMessage({ type: 'ack', seq: msg.seq, coord: this.vivaldi.coordinate() }),
          // Still answering while we leave: make sure whoever probes us knows we are leaving.
          ...(this.self.status === 'left'
            ? [
                encodeMessage({
                  type: 'dead',
                  node: this.name,
                  incarnation: this.self.incarnation,
                  from: this.name,
                  left: true,
                }),
              ]
            : []),
        ]);
        // A member we have never heard of (it missed our gossip, or we missed its join): ask.
        if (msg.from !== this.name && !this.states.has(msg.from)) this.tellUnknown(from, msg.from, now);
        return;
      case 'pingReq':
        this.relayProbe(from, msg.seq, msg.node, hostPort(msg.addr, msg.port), msg.nack, now);
        return;
      case 'ack':
        this.handleAck(msg.seq, now, msg.coord);
        return;
      case 'nack':
        if (this.probe?.seq === msg.seq && this.probe.indirect) this.probe.nacks++;
        else if (msg.seq !== this.lastProbeSeq) this.counters['dropped.unknownAck']!++;
        return;
      case 'alive':
        this.aliveNode(msg, now);
        return;
      case 'suspect':
        this.suspectNode(msg, now, from);
        return;
      case 'dead':
        this.deadNode(msg, now, from);
        return;
      case 'user':
        this.handleUser(msg, now);
        return;
      case 'query':
        this.handleQuery(msg, now);
        return;
      case 'response':
        this.handleResponse(msg);
        return;
      case 'relay':
        this.send(hostPort(msg.addr, msg.port), msg.inner);
        return;
    }
  }

  // ---------------------------------------------------------------- probing

  private runProbe(now: number): void {
    if (this.self.status === 'left') return;
    const p = this.probe;
    if (p && !p.indirect && now >= p.timeoutAt) {
      this.probeIndirectly(p, now);
      // Woken up late (this process was paused): give the indirect probes their time before
      // blaming the target for our own stall.
      const indirectWindow = this.awareness.scale(this.t.probeIntervalMs - this.t.probeTimeoutMs);
      p.deadlineAt = Math.max(p.deadlineAt, now + Math.max(1, indirectWindow));
      this.nextProbeAt = Math.max(this.nextProbeAt, p.deadlineAt);
    }
    if (p && now >= p.deadlineAt) this.probeFailed(p, now);
    if (!this.probe && now >= this.nextProbeAt) this.startProbe(now);
  }

  private startProbe(now: number): void {
    const interval = this.awareness.scale(this.t.probeIntervalMs);
    this.nextProbeAt = now + interval;
    const target = this.nextProbeTarget();
    if (!target) return;
    const seq = this.nextSeq();
    const to = hostPort(target.addr, target.port);
    this.probe = {
      seq,
      target: target.name,
      to,
      sentAt: now,
      timeoutAt: now + this.awareness.scale(this.t.probeTimeoutMs),
      deadlineAt: now + interval,
      indirect: false,
      expectedNacks: 0,
      nacks: 0,
      tcpAcked: false,
    };
    this.counters['probes']!++;
    const msgs = [encodeMessage({ type: 'ping', seq, node: target.name, from: this.name })];
    // Lifeguard's buddy system: tell a suspect directly, so it can refute without waiting for gossip.
    if (target.status === 'suspect') {
      msgs.push(
        encodeMessage({
          type: 'suspect',
          node: target.name,
          incarnation: target.incarnation,
          from: this.name,
        }),
      );
    }
    this.sendWithPiggyback(to, msgs);
  }

  /** Round-robin over a shuffled list of live members, reshuffled at the end of each pass. */
  private nextProbeTarget(): Member | null {
    for (let pass = 0; pass < 2; pass++) {
      while (this.probeIndex < this.probeList.length) {
        const name = this.probeList[this.probeIndex++] as string;
        const st = this.states.get(name);
        if (st && name !== this.name && (st.m.status === 'alive' || st.m.status === 'suspect')) return st.m;
      }
      this.probeList = shuffle(
        this.rng,
        [...this.states.keys()].filter((n) => n !== this.name),
      );
      this.probeIndex = 0;
    }
    return null;
  }

  private probeIndirectly(p: Probe, now: number): void {
    p.indirect = true;
    const target = this.states.get(p.target)?.m;
    if (!target) return;
    const peers = this.randomMembers(
      this.t.indirectChecks,
      (m) => m.status === 'alive' && m.name !== p.target,
    );
    const req = encodeMessage({
      type: 'pingReq',
      seq: p.seq,
      node: target.name,
      addr: target.addr,
      port: target.port,
      nack: true,
      from: this.name,
    });
    for (const peer of peers) this.send(hostPort(peer.addr, peer.port), req);
    p.expectedNacks = peers.length;
    // memberlist's TCP fallback: a member behind a UDP-dropping firewall is not dead.
    const ping = encodeStream({ type: 'ping', seq: p.seq, node: target.name, from: this.name });
    this.openStream(p.to, ping, { kind: 'ping', to: p.to, seq: p.seq, target: target.name, at: now });
  }

  private probeFailed(p: Probe, now: number): void {
    this.probe = null;
    this.lastProbeSeq = p.seq;
    if (p.tcpAcked) {
      // UDP failed both ways but TCP got through: alive, and a firewall or MTU problem to look at.
      this.counters['probes.tcpOnly']!++;
      this.awareness.applyDelta(-1);
      const last = this.tcpWarned.get(p.target);
      if (last === undefined || now - last >= CONFLICT_WARN_INTERVAL_MS) {
        this.tcpWarned.set(p.target, now);
        this.log(
          'warn',
          `was able to connect to ${p.target} over TCP but UDP probes failed, network may be misconfigured`,
          { member: p.target, addr: p.to },
        );
      }
      return;
    }
    this.counters['probes.failed']!++;
    // Missing nacks mean our own links (or we) are the problem, not just the target; with nobody to
    // ask, every failed probe counts against us.
    const delta = p.expectedNacks > 0 ? Math.max(0, p.expectedNacks - p.nacks) : 1;
    this.awareness.applyDelta(delta);
    const st = this.states.get(p.target);
    if (!st || (st.m.status !== 'alive' && st.m.status !== 'suspect')) return;
    if (hostPort(st.m.addr, st.m.port) !== p.to) return; // it moved meanwhile: we probed a stale address
    this.suspectNode(
      { type: 'suspect', node: p.target, incarnation: st.m.incarnation, from: this.name },
      now,
    );
  }

  /** memberlist's probeNode timer: the newest successful probes, until the metrics take them. */
  private recordProbeTime(ms: number): void {
    if (this.probeTimes.length >= MAX_PROBE_TIMES) this.probeTimes.shift();
    this.probeTimes.push(ms);
  }

  private probeSucceeded(now: number): void {
    void now;
    if (this.probe) this.lastProbeSeq = this.probe.seq;
    this.probe = null;
    this.awareness.applyDelta(-1);
  }

  private handleAck(seq: number, now: number, coord: Coordinate | undefined): void {
    const p = this.probe;
    if (p?.seq === seq) {
      // Like memberlist, only an ack to the direct ping within its timeout is an RTT sample: a
      // late one, or one relayed by another member, measures something else.
      if (coord && !p.indirect) this.observeRtt(p.target, coord, now - p.sentAt);
      this.recordProbeTime(now - p.sentAt);
      this.probeSucceeded(now);
      return;
    }
    const relay = this.relays.get(seq);
    if (relay) {
      this.relays.delete(seq);
      this.send(relay.requester, encodeMessage({ type: 'ack', seq: relay.seq }));
      return;
    }
    if (seq !== this.lastProbeSeq) this.counters['dropped.unknownAck']!++;
  }

  /** serf's NotifyPingComplete: update our coordinate; remember the peer's if it was usable. */
  private observeRtt(peer: string, coord: Coordinate, rttMs: number): void {
    const r = this.vivaldi.update(peer, coord, rttMs);
    if (!r.ok) {
      this.counters['coordinate.rejected']!++;
      return;
    }
    this.counters['coordinate.updates']!++;
    this.peerCoords.set(peer, coord);
  }

  private relayProbe(
    requester: string,
    seq: number,
    node: string,
    to: string,
    nack: boolean,
    now: number,
  ): void {
    if (this.relays.size >= MAX_PENDING_RELAYS) {
      this.counters['dropped.overload']!++;
      return;
    }
    const own = this.nextSeq();
    this.relays.set(own, { requester, seq, nack, deadline: now + this.t.probeTimeoutMs });
    this.send(to, encodeMessage({ type: 'ping', seq: own, node, from: this.name }));
  }

  private expireRelays(now: number): void {
    for (const [seq, r] of this.relays) {
      if (now < r.deadline) continue;
      this.relays.delete(seq);
      // The nack tells the requester that we, its peer, are fine: the target did not answer.
      if (r.nack) this.send(r.requester, encodeMessage({ type: 'nack', seq: r.seq }));
    }
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  // ---------------------------------------------------------------- member state (memberlist rules)

  private aliveNode(a: AliveMsg, now: number): void {
    if (a.node === this.name) {
      this.aliveAboutSelf(a, now);
      return;
    }
    const st = this.states.get(a.node);
    if (!st) {
      const m: Member = {
        name: a.node,
        addr: a.addr,
        port: a.port,
        tags: frozenTags(a.tags),
        incarnation: a.incarnation,
        status: 'alive',
        since: now,
      };
      this.states.set(a.node, { m, suspicion: null });
      // Probe the newcomer during this pass, at a random position among those not yet probed.
      const pos = this.probeIndex + this.rng.int(this.probeList.length - this.probeIndex + 1);
      this.probeList.splice(pos, 0, a.node);
      this.emitMember('join', m);
      this.broadcastAlive(m);
      return;
    }
    const m = st.m;
    if (!sameNode(m.tags, a.tags)) {
      if (m.status === 'alive' || m.status === 'suspect') {
        this.conflict(m, a, now);
        return;
      }
      // The node that had this name failed or left: a new node (new ID) may take the name, whatever
      // incarnation it starts from.
      this.replaceMember(st, a, now, 'join');
      return;
    }
    if (a.incarnation <= m.incarnation) {
      this.counters['dropped.stale']!++;
      return;
    }
    const wasDown = m.status === 'failed' || m.status === 'left';
    const changed = m.addr !== a.addr || m.port !== a.port || !sameTags(m.tags, a.tags);
    this.replaceMember(st, a, now, wasDown ? 'join' : changed ? 'update' : null);
  }

  private replaceMember(st: MemberState, a: AliveMsg, now: number, event: MemberEventType | null): void {
    const m = st.m;
    m.addr = a.addr;
    m.port = a.port;
    m.tags = frozenTags(a.tags);
    m.incarnation = a.incarnation;
    st.suspicion = null;
    this.setStatus(m, 'alive', now);
    if (event) this.emitMember(event, m);
    this.broadcastAlive(m);
  }

  private aliveAboutSelf(a: AliveMsg, now: number): void {
    if (this.self.status === 'left') return;
    if (!sameNode(this.self.tags, a.tags)) {
      // Another node claims our name: log it; refuting would start an endless incarnation war.
      this.conflict(this.self, a, now);
      return;
    }
    if (a.incarnation < this.self.incarnation) {
      this.counters['dropped.stale']!++;
      return;
    }
    const same = a.addr === this.self.addr && a.port === this.self.port && sameTags(a.tags, this.self.tags);
    if (a.incarnation === this.self.incarnation && same) return; // our own news echoing back
    // Our previous life (an old address, old tags) or a newer incarnation than ours: take over.
    this.refute(a.incarnation);
  }

  /** `sender`: the address the message came from, when it came in a packet. */
  /**
   * What a suspect or dead message starts with: about this node, a refutation; about a member we do
   * not know, nothing; older than what we know, a correction to the sender. Otherwise the member's
   * state, for the caller to act on.
   */
  private accusedMember(
    node: string,
    incarnation: number,
    sender: string | undefined,
    now: number,
  ): MemberState | null {
    if (node === this.name) {
      this.accused(incarnation, sender, now);
      return null;
    }
    const st = this.states.get(node);
    if (!st) return null;
    if (incarnation < st.m.incarnation) {
      this.counters['dropped.stale']!++;
      this.correct(sender, st.m, now);
      return null;
    }
    return st;
  }

  private suspectNode(s: SuspectMsg, now: number, sender?: string): void {
    const st = this.accusedMember(s.node, s.incarnation, sender, now);
    if (!st) return;
    const m = st.m;
    if (st.suspicion) {
      // Already suspect: an independent confirmation shortens the timer, and is worth spreading.
      if (s.incarnation > m.incarnation) m.incarnation = s.incarnation;
      if (st.suspicion.confirm(s.from)) this.broadcastSuspect(s);
      return;
    }
    if (m.status !== 'alive') return;
    m.incarnation = s.incarnation;
    this.setStatus(m, 'suspect', now);
    st.suspicion = new Suspicion(s.from, suspicionParams(this.t, this.liveCount()), now);
    this.counters['suspicions']!++;
    this.broadcastSuspect(s);
  }

  private deadNode(d: DeadMsg, now: number, sender?: string): void {
    const st = this.accusedMember(d.node, d.incarnation, sender, now);
    if (!st) return;
    const m = st.m;
    const prune = d.left && d.prune === true;
    if (m.status === 'left' && !prune) return;
    if (m.status === 'failed' && !d.left) return;
    if (m.status !== 'left') {
      st.suspicion = null;
      m.incarnation = d.incarnation;
      this.setStatus(m, d.left ? 'left' : 'failed', now);
      this.emitMember(d.left ? 'leave' : 'failed', m);
    }
    this.broadcastDead(d);
    // Once forgotten, a repeat of this prune finds no member and is not spread again.
    if (prune) this.forget(d.node);
  }

  /** Someone believes this node suspect or dead (at `incarnation`). */
  private accused(incarnation: number, sender: string | undefined, now: number): void {
    if (this.self.status === 'left') return; // leaving: let them believe it
    if (incarnation >= this.self.incarnation) this.refute(incarnation);
    else this.counters['dropped.stale']!++;
    // Whoever sent it still holds the accusation (it would have dropped it for our newer alive):
    // answer it directly, so that our refutation does not depend on gossip alone reaching it. One
    // missed broadcast would otherwise let its suspicion timer run out, or leave it believing us
    // dead until its next push/pull.
    if (sender !== undefined) this.tellAlive(sender, now);
  }

  private tellAlive(to: string, now: number): void {
    const last = this.told.get(`a:${to}`);
    if (last !== undefined && now - last < this.t.probeIntervalMs) return;
    this.told.set(`a:${to}`, now);
    const m = this.self;
    this.sendWithPiggyback(to, [
      encodeMessage({
        type: 'alive',
        node: m.name,
        addr: m.addr,
        port: m.port,
        tags: m.tags,
        incarnation: m.incarnation,
      }),
    ]);
  }

  /**
   * `sender` spreads an old suspicion or death of `m`, whom we know at a newer incarnation as alive
   * (it missed the refutation) or as left (it missed the leave). Tell it, so that its suspicion
   * timer cannot run out on a live member, nor declare failed a member that left: anti-entropy
   * for the rumors that end in false failures.
   */
  private correct(sender: string | undefined, m: Member, now: number): void {
    if (sender === undefined || (m.status !== 'alive' && m.status !== 'left')) return;
    const key = `c:${sender}:${m.name}`;
    const last = this.told.get(key);
    if (last !== undefined && now - last < this.t.probeIntervalMs) return;
    this.told.set(key, now);
    const msg: Message =
      m.status === 'alive'
        ? {
            type: 'alive',
            node: m.name,
            addr: m.addr,
            port: m.port,
            tags: m.tags,
            incarnation: m.incarnation,
          }
        : { type: 'dead', node: m.name, incarnation: m.incarnation, from: m.name, left: true };
    this.send(sender, encodeMessage(msg));
  }

  /**
   * A packet from the address of a member we hold as suspect, failed or left: it runs after all (a
   * missed refutation, a healed partition, a restart after leaving). Tell it directly what we believe, so that it answers with its
   * current incarnation (see accused()) instead of our waiting for gossip or push/pull to come by.
   * Lifeguard's buddy system, the other way round.
   */
  private tellDoubted(from: string, now: number): void {
    const name = this.doubtedIndex().get(from);
    const m = name === undefined ? undefined : this.states.get(name)?.m;
    if (!m || m.status === 'alive') return;
    const key = `d:${from}`;
    const last = this.told.get(key);
    if (last !== undefined && now - last < this.t.probeIntervalMs) return;
    this.told.set(key, now);
    const msg: Message =
      m.status === 'suspect'
        ? { type: 'suspect', node: m.name, incarnation: m.incarnation, from: this.name }
        : {
            type: 'dead',
            node: m.name,
            incarnation: m.incarnation,
            from: this.name,
            left: m.status === 'left',
          };
    this.send(from, encodeMessage(msg));
  }

  /**
   * `name` pings us from `from` but we have no record of it (its join's gossip never reached us, or
   * we reaped it long ago). For us it is dead at incarnation 0: saying so makes it answer with its
   * alive (see accused()), which adds it here, rather than waiting for the next push/pull.
   */
  private tellUnknown(from: string, name: string, now: number): void {
    const key = `d:${from}`;
    const last = this.told.get(key);
    if (last !== undefined && now - last < this.t.probeIntervalMs) return;
    this.told.set(key, now);
    this.send(from, encodeMessage({ type: 'suspect', node: name, incarnation: 0, from: this.name }));
  }

  /** Suspect, failed and left members by address, rebuilt after any status change. */
  private doubtedIndex(): Map<string, string> {
    if (this.doubtedAddrs) return this.doubtedAddrs;
    const index = new Map<string, string>();
    for (const { m } of this.states.values()) {
      if (m.status !== 'alive' && m.name !== this.name) index.set(hostPort(m.addr, m.port), m.name);
    }
    this.doubtedAddrs = index;
    return index;
  }

  private refute(incarnation: number): void {
    this.self.incarnation = Math.max(incarnation, this.self.incarnation) + 1;
    this.counters['refutes']!++;
    // Having to defend ourselves hints that we are the slow one: probe more gently for a while.
    this.awareness.applyDelta(1);
    this.broadcastAlive(this.self);
  }

  private expireSuspicions(now: number): void {
    for (const st of this.states.values()) {
      const s = st.suspicion;
      if (!s || now < s.deadline()) continue;
      st.suspicion = null;
      if (st.m.status !== 'suspect') continue;
      this.deadNode(
        { type: 'dead', node: st.m.name, incarnation: st.m.incarnation, from: this.name, left: false },
        now,
      );
    }
  }

  private conflict(known: Member, other: AliveMsg, now: number): void {
    this.counters['dropped.conflict']!++;
    const last = this.conflictWarned.get(known.name);
    if (last !== undefined && now - last < CONFLICT_WARN_INTERVAL_MS) return;
    this.conflictWarned.set(known.name, now);
    this.log(
      'warn',
      `member name conflict: ${known.name} is claimed by ${hostPort(other.addr, other.port)} (node id ${nodeId(other.tags) ?? '?'}) while ${hostPort(known.addr, known.port)} (node id ${nodeId(known.tags) ?? '?'}) is ${known.status}`,
      {
        member: known.name,
        addr: hostPort(known.addr, known.port),
        id: nodeId(known.tags),
        otherAddr: hostPort(other.addr, other.port),
        otherId: nodeId(other.tags),
      },
    );
  }

  private setStatus(m: Member, status: Member['status'], now: number): void {
    if (m.status === status) return;
    m.since = now;
    m.status = status;
    this.doubtedAddrs = null;
  }

  /** Members that count for timeouts and retransmits: the ones that can still confirm and forward. */
  private liveCount(): number {
    let n = 0;
    for (const st of this.states.values()) if (st.m.status === 'alive' || st.m.status === 'suspect') n++;
    return n;
  }

  // ---------------------------------------------------------------- dissemination

  private broadcastAlive(m: Member): void {
    this.queueBroadcast(
      `m:${m.name}`,
      encodeMessage({
        type: 'alive',
        node: m.name,
        addr: m.addr,
        port: m.port,
        tags: m.tags,
        incarnation: m.incarnation,
      }),
    );
  }

  private broadcastSuspect(s: SuspectMsg): void {
    this.queueBroadcast(`m:${s.node}`, encodeMessage(s));
  }

  private broadcastDead(d: DeadMsg): void {
    // A missed leave is repaired by nothing quick, and ends as a member shown failed instead of
    // left (what Consul users see as "left nodes reported failed"): spread leaves like events.
    this.queueBroadcast(`m:${d.node}`, encodeMessage(d), d.left ? EVENT_BROADCAST_WEIGHT : 1);
  }

  private queueBroadcast(key: string, msg: Uint8Array, weight = 1): void {
    if (!this.broadcasts.enqueue(key, msg, weight)) this.counters['dropped.oversize']!++;
  }

  /**
   * When the next gossip round is due. memberlist gossips only on its fixed tick, so every hop of
   * a piece of news waits half an interval on average, and a member that learns many things at
   * once (the seed of fifty simultaneous joins) needs many ticks to send each of them even once.
   * We send on early, a fraction of the interval after the last round, while some queued news has
   * not been sent even once: joins, failures and events spread several times faster for a few
   * extra packets while news flows, and nothing changes when idle. A member with nobody to send to
   * waits for the normal tick, so a lone agent does not wake for nothing.
   */
  private gossipDueAt(): number {
    if (!this.lastGossipHadTargets || (this.broadcasts.unsent === 0 && !this.backlog))
      return this.nextGossipAt;
    const prompt = this.lastGossipAt + this.t.gossipIntervalMs / PROMPT_GOSSIP_DIVISOR;
    return Math.min(this.nextGossipAt, prompt);
  }

  /** Sends pending broadcasts to a few random members that can still use them. */
  private gossip(now: number): void {
    if (this.broadcasts.size === 0) return;
    const targets = this.randomMembers(this.t.gossipNodes, (m) => {
      if (m.status === 'alive' || m.status === 'suspect') return true;
      // Keep telling a failed member for a while, so it learns it was declared failed and refutes.
      return m.status === 'failed' && now - m.since <= this.t.gossipToTheDeadMs;
    });
    this.lastGossipHadTargets = targets.length > 0;
    this.backlog = false;
    const n = this.states.size;
    for (const target of targets) {
      const queued = this.broadcasts.size;
      const parts = this.broadcasts.take(
        this.cfg.packetBudget - COMPOUND_HEADER_OVERHEAD,
        COMPOUND_PART_OVERHEAD,
        n,
        MAX_COMPOUND_PARTS,
      );
      if (parts.length === 0) break;
      this.backlog = queued > parts.length;
      this.send(hostPort(target.addr, target.port), encodePacket(parts));
    }
  }

  /** Sends `msgs` in one packet, filling the remaining budget with pending broadcasts. */
  private sendWithPiggyback(to: string, msgs: Uint8Array[]): void {
    let used = COMPOUND_HEADER_OVERHEAD;
    for (const m of msgs) used += m.length + COMPOUND_PART_OVERHEAD;
    const extra = this.broadcasts.take(
      this.cfg.packetBudget - used,
      COMPOUND_PART_OVERHEAD,
      this.states.size,
      MAX_COMPOUND_PARTS - msgs.length,
    );
    this.send(to, encodePacket([...msgs, ...extra]));
  }

  private send(to: string, data: Uint8Array): void {
    this.counters['packets.out']!++;
    this.counters['bytes.out']! += data.length;
    this.outputs.push({ type: 'send', to, data });
  }

  private flushPendingSends(now: number): void {
    if (this.pendingSends.length === 0) return;
    const due = this.pendingSends.filter((s) => s.at <= now);
    if (due.length === 0) return;
    this.pendingSends = this.pendingSends.filter((s) => s.at > now);
    for (const s of due) this.send(s.to, s.data);
  }

  /** Up to k distinct random members (never this node) that pass `filter`. */
  private randomMembers(k: number, filter: (m: Member) => boolean): Member[] {
    const candidates: Member[] = [];
    for (const st of this.states.values()) if (st.m.name !== this.name && filter(st.m)) candidates.push(st.m);
    // Partial Fisher-Yates: only the first k positions need to be random.
    const n = Math.min(k, candidates.length);
    for (let i = 0; i < n; i++) {
      const j = i + this.rng.int(candidates.length - i);
      const tmp = candidates[i] as Member;
      candidates[i] = candidates[j] as Member;
      candidates[j] = tmp;
    }
    return candidates.slice(0, n);
  }

  // ---------------------------------------------------------------- push/pull, reconnect, reaping

  private openStream(to: string, msg: PushPullMsg | Uint8Array, pending: PendingStream): number {
    const data = msg instanceof Uint8Array ? msg : encodeStream(msg);
    const id = this.nextStreamId++;
    this.streams.set(id, pending);
    this.counters['streams.out']!++;
    this.counters['bytes.out']! += data.length;
    this.outputs.push({ type: 'stream', id, to, data });
    return id;
  }

  private localState(join: boolean): PushPullMsg {
    return {
      type: 'pushPull',
      join,
      memberLtime: this.memberClock.time(),
      eventLtime: this.eventClock.time(),
      queryLtime: this.queryClock.time(),
      members: [...this.states.values()].map(({ m }) => ({
        name: m.name,
        addr: m.addr,
        port: m.port,
        tags: m.tags,
        incarnation: m.incarnation,
        status: m.status,
      })),
      events: [...this.seenEvents.values()].slice(-MAX_PUSH_PULL_EVENTS),
    };
  }

  /** `ignoreOld`: the reply to an operator's join, whose events predate us and are not delivered. */
  private mergeState(pp: PushPullMsg, now: number, ignoreOld = false): void {
    // A clock's time is the next one to be used: nothing has been sent at it yet (serf's rule).
    if (pp.memberLtime > 0) this.memberClock.witness(pp.memberLtime - 1);
    if (pp.eventLtime > 0) this.eventClock.witness(pp.eventLtime - 1);
    if (pp.queryLtime > 0) this.queryClock.witness(pp.queryLtime - 1);
    if (ignoreOld) this.eventMinTime = Math.max(this.eventMinTime, pp.eventLtime);
    else for (const ev of pp.events) this.handleUser({ type: 'user', ...ev }, now);
    for (const r of pp.members) {
      switch (r.status) {
        case 'alive':
          this.aliveNode(
            {
              type: 'alive',
              node: r.name,
              addr: r.addr,
              port: r.port,
              tags: r.tags,
              incarnation: r.incarnation,
            },
            now,
          );
          break;
        case 'left':
          this.deadNode(
            { type: 'dead', node: r.name, incarnation: r.incarnation, from: r.name, left: true },
            now,
          );
          break;
        case 'suspect':
        case 'failed':
          // Second-hand full state never declares death here: at most we start suspecting, and our
          // own timer (and the member's chance to refute) decides.
          this.suspectNode(
            { type: 'suspect', node: r.name, incarnation: r.incarnation, from: this.name },
            now,
          );
          break;
      }
    }
  }

  private pushPull(now: number): void {
    const [peer] = this.randomMembers(1, (m) => m.status === 'alive');
    if (!peer) return;
    const to = hostPort(peer.addr, peer.port);
    this.openStream(to, this.localState(false), {
      kind: 'pushPull',
      to,
      join: false,
      ignoreOld: false,
      at: now,
    });
  }

  /**
   * serf's reconnect: try one random failed member, with a probability that makes the cluster as a
   * whole try each failed member about once per interval. A reply revives it through the usual
   * alive path; this is how the two halves of a healed partition find each other again.
   */
  private reconnect(now: number): void {
    let failed = 0;
    let left = 0;
    for (const st of this.states.values()) {
      if (st.m.status === 'failed') failed++;
      else if (st.m.status === 'left') left++;
    }
    if (failed === 0) return;
    const alive = Math.max(1, this.states.size - failed - left);
    if (this.rng.next() > failed / alive) return;
    const [peer] = this.randomMembers(1, (m) => m.status === 'failed');
    if (!peer) return;
    const to = hostPort(peer.addr, peer.port);
    this.openStream(to, this.localState(true), {
      kind: 'pushPull',
      to,
      join: true,
      ignoreOld: false,
      at: now,
    });
  }

  private reap(now: number): void {
    for (const [name, st] of this.states) {
      if (name === this.name) continue;
      const m = st.m;
      const expired =
        (m.status === 'failed' && now >= m.since + this.t.reconnectTimeoutMs) ||
        (m.status === 'left' && now >= m.since + this.t.tombstoneTimeoutMs);
      if (!expired) continue;
      this.forget(name);
    }
  }

  /** Drops a member from the list (reaped, or pruned by force-leave). */
  private forget(name: string): void {
    const st = this.states.get(name);
    if (!st) return;
    this.states.delete(name);
    this.doubtedAddrs = null;
    this.peerCoords.delete(name);
    this.vivaldi.forget(name);
    this.emitMember('reap', st.m);
  }

  private expireBookkeeping(now: number): void {
    for (const [id, q] of this.pendingQueries) if (now >= q.expires) this.pendingQueries.delete(id);
    for (const [id, s] of this.streams) if (now - s.at >= STREAM_EXPIRY_MS) this.streams.delete(id);
    if (this.conflictWarned.size > 1024) {
      for (const [k, at] of this.conflictWarned)
        if (now - at >= CONFLICT_WARN_INTERVAL_MS) this.conflictWarned.delete(k);
    }
    if (this.tcpWarned.size > 1024) this.tcpWarned.clear();
    if (this.told.size > 1024) {
      for (const [k, at] of this.told) if (now - at >= this.t.probeIntervalMs) this.told.delete(k);
    }
  }

  // ---------------------------------------------------------------- user events and queries

  private handleUser(ev: UserMsg, now: number): void {
    void now;
    this.eventClock.witness(ev.ltime);
    if (ev.ltime < this.eventMinTime || this.tooOld(ev.ltime, this.eventClock)) {
      this.counters['dropped.oldEvent']!++;
      return;
    }
    if (this.seenEvents.has(ev.id)) {
      this.counters['events.duplicate']!++;
      return;
    }
    remember(
      this.seenEvents,
      ev.id,
      { ltime: ev.ltime, name: ev.name, payload: ev.payload, id: ev.id, origin: ev.origin },
      this.cfg.recentEvents,
    );
    const event: UserEvent = {
      ltime: ev.ltime,
      name: ev.name,
      payload: ev.payload,
      id: ev.id,
      origin: ev.origin,
    };
    this.outputs.push({ type: 'user', event });
    this.queueBroadcast(`e:${ev.id}`, encodeMessage(ev), EVENT_BROADCAST_WEIGHT);
  }

  private handleQuery(q: QueryMsg, now: number): void {
    void now;
    this.queryClock.witness(q.ltime);
    if (this.tooOld(q.ltime, this.queryClock)) {
      this.counters['dropped.oldEvent']!++;
      return;
    }
    const key = queryKey(q.origin, q.id);
    if (this.seenQueries.has(key)) {
      this.counters['queries.duplicate']!++;
      return;
    }
    remember(this.seenQueries, key, { addr: q.addr, port: q.port }, this.cfg.recentEvents);
    const query: QueryRequest = {
      id: q.id,
      ltime: q.ltime,
      name: q.name,
      payload: q.payload,
      origin: q.origin,
    };
    this.outputs.push({ type: 'query', query });
    this.queueBroadcast(`q:${key}`, encodeMessage(q), EVENT_BROADCAST_WEIGHT);
  }

  private handleResponse(r: ResponseMsg): void {
    const q = this.pendingQueries.get(r.id);
    if (!q || q.ltime !== r.ltime) {
      this.counters['dropped.unknownQuery']!++;
      return;
    }
    if (q.responders.has(r.from)) {
      this.counters['responses.duplicate']!++;
      return;
    }
    q.responders.add(r.from);
    this.outputs.push({ type: 'queryResponse', id: r.id, from: r.from, payload: r.payload });
  }

  /** serf drops events older than its recent-event window: they may have been delivered and forgotten. */
  private tooOld(ltime: number, clock: LamportClock): boolean {
    const window = Math.max(1, this.cfg.recentEvents);
    const cur = clock.time();
    return cur > window && ltime < cur - window;
  }

  private queryTimeout(): number {
    const n = this.states.size;
    return this.t.gossipIntervalMs * QUERY_TIMEOUT_MULT * Math.max(1, Math.ceil(Math.log10(n + 1)));
  }

  // ---------------------------------------------------------------- outputs

  private emitMember(event: MemberEventType, m: Member): void {
    this.outputs.push({ type: 'member', event, member: copyMember(m) });
  }

  private log(level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void {
    this.outputs.push(fields ? { type: 'log', level, msg, fields } : { type: 'log', level, msg });
  }
}

/** FNV-1a of a string's UTF-16 code units: a stable seed from a name. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function queryKey(origin: string, id: number): string {
  return `${origin}\u0000${id}`;
}

/** Inserts into an insertion-ordered map used as a bounded "recently seen" set. */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.set(key, value);
  const limit = Math.max(1, max);
  while (map.size > limit) {
    const oldest = map.keys().next().value as string;
    map.delete(oldest);
  }
}

/** Intervals that must be positive, or the core would have work due at every instant. */
function timingsProblem(t: GossipTimings): string | null {
  const positive: (keyof GossipTimings)[] = [
    'probeIntervalMs',
    'probeTimeoutMs',
    'gossipIntervalMs',
    'pushPullIntervalMs',
    'reconnectIntervalMs',
    'retransmitMult',
    'awarenessMaxMultiplier',
    'suspicionMult',
  ];
  for (const k of positive) if (!(t[k] > 0)) return `${k} must be positive`;
  return null;
}

function nameProblem(name: string, what = 'name'): string | null {
  if (typeof name !== 'string' || name.length === 0) return `${what} is empty`;
  if (name.length > MAX_NAME_CHARS) return `${what} is longer than ${MAX_NAME_CHARS} characters`;
  return null;
}
