// The gossip wire format. Every message is one type byte followed by a MessagePack array of its
// fields (positional, so packets stay small); several messages bound for the same member travel in
// one UDP packet as a compound message. Decoding is total: anything that is not exactly a valid
// message (wrong type, wrong shape, out-of-range number, oversized string) is rejected with a reason
// and never throws, because these bytes come from the network and a gossip agent must survive
// whatever arrives (memberlist shipped several crash fixes for short or malformed packets).

import { Packr } from 'msgpackr';
import type { Coordinate } from '../coordinate/vivaldi.js';
import type { Member, MemberStatus } from './types.js';

/** memberlist's UDP budget (1400 bytes, safe under common MTUs) minus AES-GCM overhead (29 bytes). */
export const DEFAULT_PACKET_BUDGET = 1400 - 29;
/** The largest UDP payload anyone can send; bigger is not a packet. */
export const MAX_PACKET_BYTES = 65_507;
/** Push/pull state over TCP can be large (every member); the driver also limits frames. */
export const MAX_STREAM_BYTES = 10 * 1024 * 1024;
export const MAX_NAME_CHARS = 128;
export const MAX_ADDR_CHARS = 255;
export const MAX_TAGS = 64;
export const MAX_TAGS_BYTES = 512;
/** Consul's (serf's UserEventSizeLimit) limit on a user event's name plus payload. */
export const MAX_EVENT_BYTES = 512;
/** serf's QuerySizeLimit and QueryResponseSizeLimit, on the encoded message. */
export const MAX_QUERY_BYTES = 1024;
export const MAX_COMPOUND_PARTS = 64;
export const MAX_PUSH_PULL_MEMBERS = 100_000;
/** Recent user events carried in push/pull (serf's event buffer), at most. */
export const MAX_PUSH_PULL_EVENTS = 1024;
/** Bytes a compound packet spends on its header (type byte + array header), at most. */
export const COMPOUND_HEADER_OVERHEAD = 4;
/** Bytes a compound packet spends per part (a MessagePack bin header), at most. */
export const COMPOUND_PART_OVERHEAD = 3;
/** Dimensions a network coordinate may have on the wire (Consul's is 8). */
export const MAX_COORD_DIMENSIONS = 64;

export const MsgType = {
  Ping: 1,
  PingReq: 2,
  Ack: 3,
  Nack: 4,
  Alive: 5,
  Suspect: 6,
  Dead: 7,
  User: 8,
  Query: 9,
  Response: 10,
  Relay: 11,
  Compound: 12,
  PushPull: 13,
} as const;

/** A direct probe. `node` names the intended target so a new process on a reused address does not ack. */
export interface PingMsg {
  type: 'ping';
  seq: number;
  node: string;
  from: string;
}
/** Ask the receiver to probe `node` at addr:port for us; `nack`: report back if it gets no ack. */
export interface PingReqMsg {
  type: 'pingReq';
  seq: number;
  node: string;
  addr: string;
  port: number;
  nack: boolean;
  from: string;
}
/**
 * `coord`: the responder's network coordinate, on the ack of a direct probe (serf's ack payload).
 * Optional and trailing, so acks without it (relayed acks, the TCP fallback) decode as before.
 */
export interface AckMsg {
  type: 'ack';
  seq: number;
  coord?: Coordinate;
}
export interface NackMsg {
  type: 'nack';
  seq: number;
}
export interface AliveMsg {
  type: 'alive';
  node: string;
  addr: string;
  port: number;
  tags: Record<string, string>;
  incarnation: number;
}
export interface SuspectMsg {
  type: 'suspect';
  node: string;
  incarnation: number;
  from: string;
}
/**
 * `left`: the member left (gracefully, or forced by an operator) rather than failed. `prune`
 * (force-leave -prune, with `left`): every member forgets it at once instead of after the
 * tombstone timeout. Sent as a fifth field only when set, which older decoders skip.
 */
export interface DeadMsg {
  type: 'dead';
  node: string;
  incarnation: number;
  from: string;
  left: boolean;
  prune?: boolean;
}
export interface UserMsg {
  type: 'user';
  ltime: number;
  name: string;
  payload: Uint8Array;
  id: string;
  origin: string;
}
/** addr:port is where the origin wants responses, straight back over UDP. */
export interface QueryMsg {
  type: 'query';
  ltime: number;
  id: number;
  name: string;
  payload: Uint8Array;
  origin: string;
  addr: string;
  port: number;
}
export interface ResponseMsg {
  type: 'response';
  ltime: number;
  id: number;
  from: string;
  payload: Uint8Array;
}
/** Forward `inner` (a query response) to addr:port: a second path when the direct one loses it. */
export interface RelayMsg {
  type: 'relay';
  addr: string;
  port: number;
  inner: Uint8Array;
}

export type Message =
  | PingMsg
  | PingReqMsg
  | AckMsg
  | NackMsg
  | AliveMsg
  | SuspectMsg
  | DeadMsg
  | UserMsg
  | QueryMsg
  | ResponseMsg
  | RelayMsg;

/** A member as push/pull carries it: everything but the local time of its last change. */
export type PushPullMember = Omit<Member, 'since'>;

/** A recent user event as carried in push/pull. */
export type PushPullEvent = Omit<UserMsg, 'type'>;

/**
 * Full state exchange over TCP: every member, the Lamport clocks (so a new member starts from the
 * cluster's time), and the recent user events (serf's event buffer: a member that missed an event's
 * gossip gets it here).
 */
export interface PushPullMsg {
  type: 'pushPull';
  join: boolean;
  memberLtime: number;
  eventLtime: number;
  queryLtime: number;
  members: PushPullMember[];
  events: PushPullEvent[];
}

/** What travels over TCP: push/pull, and the fallback probe (a ping answered by an ack). */
export type StreamMessage = PushPullMsg | PingMsg | AckMsg;

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

// Plain MessagePack: no records or structured-clone extensions, and maps as Map objects so that
// a hostile key such as "__proto__" can never reach an object's prototype.
const packr = new Packr({ useRecords: false, mapsAsObjects: false, moreTypes: false, bundleStrings: false });

const STATUS_CODES: Record<MemberStatus, number> = { alive: 0, suspect: 1, failed: 2, left: 3 };
const STATUS_BY_CODE: MemberStatus[] = ['alive', 'suspect', 'failed', 'left'];

// ------------------------------------------------------------------ encoding

function frame(type: number, fields: unknown[]): Uint8Array {
  // pack() returns a view of a reused buffer: copy it out before the next call overwrites it.
  const body = packr.pack(fields);
  const out = new Uint8Array(body.length + 1);
  out[0] = type;
  out.set(body, 1);
  return out;
}

// ------------------------------------------------------------------ tags on the wire

// Every alive message and every push/pull entry carries a member's tags, and an agent's tags are
// mostly the same few strings (role, protocol versions, a node ID): spelled out, they were two thirds
// of an alive message, so a packet carried 9 alive messages where serf's untagged ones fit 17, and a
// 50-member join took 1.5x as long to spread. A small fixed dictionary makes them travel as codes:
//   - a code below KEY_CODE_BASE is a whole key and value (role=node, vsn=2, ...);
//   - a code from KEY_CODE_BASE is a known key, its value next;
//   - a string is any other key, its value next;
// and a value that is a canonical (lowercase) UUID travels as its 16 bytes. That array travels
// packed, as one bin field: a receiver hears the same few dozen tag sets over and over, and maps
// the bytes it has seen before straight to the (frozen) tags object they decoded to, with no
// MessagePack strings built and nothing validated twice. Decoding still accepts the plain
// [k, v, k, v, ...] array. The codes are wire format: append only, never renumber.

const TAG_PAIRS: ReadonlyArray<readonly [string, string]> = [
  ['role', 'node'],
  ['role', 'consul'],
  ['segment', ''],
  ['vsn', '2'],
  ['vsn_min', '2'],
  ['vsn_max', '3'],
  ['raft_vsn', '3'],
  ['bootstrap', '1'],
  ['expect', '3'],
  ['expect', '5'],
];
const KEY_CODE_BASE = 64;
const TAG_KEYS: readonly string[] = [
  'role',
  'dc',
  'segment',
  'id',
  'vsn',
  'vsn_min',
  'vsn_max',
  'build',
  'port',
  'raft_vsn',
  'expect',
  'bootstrap',
  'wan_join_port',
  'http',
  'nonvoter',
  'read_replica',
  'ft_fs',
  'ft_si',
  'use_tls',
  'grpc_port',
  'grpc_tls_port',
];
const PAIR_CODES = new Map(TAG_PAIRS.map(([k, v], i) => [`${k}\0${v}`, i]));
const KEY_CODES = new Map(TAG_KEYS.map((k, i) => [k, KEY_CODE_BASE + i]));
const UUID_FORM = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID_BYTES = 16;

function uuidBytes(u: string): Uint8Array {
  return new Uint8Array(Buffer.from(u.replaceAll('-', ''), 'hex'));
}

function uuidString(b: Uint8Array): string {
  const h = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Wire arrays by tags object: a member's tags object is replaced, never changed in place, and the
 * same tags go out in every alive and push/pull naming that member (building them each time cost a
 * seed member a tenth of its CPU while a 50-member pool joined it at once).
 */
const wireCache = new WeakMap<Record<string, string>, Uint8Array>();

/** Tags in the compact form above, sorted by key (deterministic, no maps on the wire), packed. */
function wireTags(tags: Record<string, string>): Uint8Array {
  let out = wireCache.get(tags);
  if (!out) {
    const items: unknown[] = [];
    for (const k of Object.keys(tags).sort()) {
      const v = tags[k] as string;
      const pair = PAIR_CODES.get(`${k}\0${v}`);
      if (pair !== undefined) items.push(pair);
      else items.push(KEY_CODES.get(k) ?? k, UUID_FORM.test(v) ? uuidBytes(v) : v);
    }
    out = Uint8Array.from(packr.pack(items)); // a copy: pack() reuses its buffer
    wireCache.set(tags, out);
  }
  return out;
}

/** Packed tags seen lately (key: their bytes as latin1) and what they decoded to. */
const decodedTags = new Map<string, Readonly<Record<string, string>>>();
/** Enough for every member of a large pool; past it the map starts over rather than grow. */
const DECODED_TAGS_MAX = 4096;

export function encodeMessage(m: Message): Uint8Array {
  switch (m.type) {
    case 'ping':
      return frame(MsgType.Ping, [m.seq, m.node, m.from]);
    case 'pingReq':
      return frame(MsgType.PingReq, [m.seq, m.node, m.addr, m.port, m.nack, m.from]);
    case 'ack':
      return frame(MsgType.Ack, m.coord ? [m.seq, packCoordinate(m.coord)] : [m.seq]);
    case 'nack':
      return frame(MsgType.Nack, [m.seq]);
    case 'alive':
      return frame(MsgType.Alive, [m.node, m.addr, m.port, wireTags(m.tags), m.incarnation]);
    case 'suspect':
      return frame(MsgType.Suspect, [m.node, m.incarnation, m.from]);
    case 'dead':
      return frame(
        MsgType.Dead,
        m.prune ? [m.node, m.incarnation, m.from, m.left, true] : [m.node, m.incarnation, m.from, m.left],
      );
    case 'user':
      return frame(MsgType.User, [m.ltime, m.name, m.payload, m.id, m.origin]);
    case 'query':
      return frame(MsgType.Query, [m.ltime, m.id, m.name, m.payload, m.origin, m.addr, m.port]);
    case 'response':
      return frame(MsgType.Response, [m.ltime, m.id, m.from, m.payload]);
    case 'relay':
      return frame(MsgType.Relay, [m.addr, m.port, m.inner]);
  }
}

/**
 * A coordinate as little-endian float32s: Error, Adjustment, Height, then the vector. 44 bytes for
 * Consul's 8 dimensions (float64 would take 88 of the ack's share of the packet budget): float32
 * keeps 24 bits of mantissa, a relative precision of 6e-8, sub-nanosecond for any RTT, far below
 * what a millisecond probe measures.
 */
function packCoordinate(c: Coordinate): Uint8Array {
  const out = new Uint8Array(4 * (3 + c.Vec.length));
  const view = new DataView(out.buffer);
  [c.Error, c.Adjustment, c.Height, ...c.Vec].forEach((v, i) => view.setFloat32(4 * i, v, true));
  return out;
}

export function encodeStream(m: StreamMessage): Uint8Array {
  if (m.type !== 'pushPull') return encodeMessage(m);
  const members = m.members.map((x) => [
    x.name,
    x.addr,
    x.port,
    wireTags(x.tags),
    x.incarnation,
    STATUS_CODES[x.status],
  ]);
  const events = m.events.map((e) => [e.ltime, e.name, e.payload, e.id, e.origin]);
  return frame(MsgType.PushPull, [m.join, m.memberLtime, m.eventLtime, m.queryLtime, members, events]);
}

/** One packet carrying every encoded message in `parts` (a compound one when there are several). */
export function encodePacket(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  if (parts.length === 0 || parts.length > MAX_COMPOUND_PARTS) {
    throw new RangeError(`a packet holds 1 to ${MAX_COMPOUND_PARTS} messages, not ${parts.length}`);
  }
  return frame(MsgType.Compound, parts);
}

/**
 * Packs encoded messages into as few packets as fit in `budget` bytes each, in order. A message
 * that alone exceeds the budget still goes, in a packet of its own: splitting one is impossible.
 */
export function packPackets(parts: Uint8Array[], budget: number = DEFAULT_PACKET_BUDGET): Uint8Array[] {
  const packets: Uint8Array[] = [];
  let batch: Uint8Array[] = [];
  let size = COMPOUND_HEADER_OVERHEAD;
  for (const p of parts) {
    const cost = p.length + COMPOUND_PART_OVERHEAD;
    if (batch.length > 0 && (size + cost > budget || batch.length >= MAX_COMPOUND_PARTS)) {
      packets.push(encodePacket(batch));
      batch = [];
      size = COMPOUND_HEADER_OVERHEAD;
    }
    batch.push(p);
    size += cost;
  }
  if (batch.length > 0) packets.push(encodePacket(batch));
  return packets;
}

// ------------------------------------------------------------------ validation

/** Thrown only inside this module, and always caught: the shape check's early exit. */
class Malformed extends Error {}

function fail(reason: string): never {
  throw new Malformed(reason);
}

function fields(v: unknown, min: number, what: string): unknown[] {
  // Extra trailing fields are tolerated so a later version can add one; a bounded number only.
  if (!Array.isArray(v) || v.length < min || v.length > min + 8) fail(`${what}: bad field list`);
  return v;
}

function uint(v: unknown, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) fail(`${what}: bad number`);
  return v;
}

const u32 = (v: unknown, what: string): number => uint(v, 0xffff_ffff, what);
const counter = (v: unknown, what: string): number => uint(v, Number.MAX_SAFE_INTEGER, what);
const port = (v: unknown, what: string): number => uint(v, 65_535, what);

function str(v: unknown, maxChars: number, what: string, allowEmpty = false): string {
  if (typeof v !== 'string' || v.length > maxChars || (!allowEmpty && v.length === 0))
    fail(`${what}: bad string`);
  return v;
}

const name = (v: unknown, what: string): string => str(v, MAX_NAME_CHARS, what);
const addr = (v: unknown, what: string): string => str(v, MAX_ADDR_CHARS, what);

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') fail(`${what}: bad boolean`);
  return v;
}

function bytes(v: unknown, max: number, what: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length > max) fail(`${what}: bad bytes`);
  // A copy: the decoded value may be a view of the caller's (reused) receive buffer.
  return new Uint8Array(v);
}

function strSize(s: string): number {
  const n = byteLength(s);
  return n + (n <= 31 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : 5);
}

/**
 * The MessagePack size of `tags` in their plain form (every key and value a string), the measure of
 * MAX_TAGS_BYTES: the compact form they travel in is never larger.
 */
export function tagsSize(tags: Record<string, string>): number {
  const keys = Object.keys(tags);
  let size = keys.length * 2 <= 15 ? 1 : 3;
  for (const k of keys) size += strSize(k) + strSize(tags[k] as string);
  return size;
}

/** Why `tags` cannot be gossiped, or null when they can. */
export function tagsProblem(tags: Record<string, string>): string | null {
  const keys = Object.keys(tags);
  if (keys.length > MAX_TAGS) return `more than ${MAX_TAGS} tags`;
  for (const k of keys) {
    if (k.length === 0 || k.length > MAX_NAME_CHARS) return `tag name of ${k.length} characters`;
    if (typeof tags[k] !== 'string') return `tag ${k} is not a string`;
  }
  const size = tagsSize(tags);
  if (size > MAX_TAGS_BYTES) return `tags take ${size} bytes encoded, more than ${MAX_TAGS_BYTES}`;
  return null;
}

function tags(v: unknown, what: string): Record<string, string> {
  if (!(v instanceof Uint8Array)) return tagList(v, what);
  // Coded tags are never larger than their plain form, which MAX_TAGS_BYTES bounds.
  if (v.length > MAX_TAGS_BYTES) fail(`${what}: tags too large`);
  const key = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1');
  let t = decodedTags.get(key);
  if (!t) {
    t = Object.freeze(tagList(unpack(v, `${what} tags`), what));
    if (decodedTags.size >= DECODED_TAGS_MAX) decodedTags.clear();
    decodedTags.set(key, t);
  }
  return t;
}

/** Tags as a list, coded or plain; a new object (frozen only when cached, by the caller). */
function tagList(v: unknown, what: string): Record<string, string> {
  if (!Array.isArray(v) || v.length > MAX_TAGS * 2) fail(`${what}: bad tags`);
  // Every alive and push/pull entry carries a member's tags, most of them news to no one: one
  // pass that checks and measures, with no message built unless something is wrong.
  const entries: [string, string][] = [];
  const seen = new Set<string>();
  let size = 0;
  for (let i = 0; i < v.length;) {
    const t: unknown = v[i++];
    let k: string;
    let val: unknown;
    if (typeof t === 'string') {
      if (t.length === 0 || t.length > MAX_NAME_CHARS) fail(`${what} tag name: bad string`);
      k = t;
      val = v[i++];
    } else if (
      typeof t === 'number' &&
      Number.isInteger(t) &&
      t >= 0 &&
      t < KEY_CODE_BASE + TAG_KEYS.length
    ) {
      const pair = t < KEY_CODE_BASE ? TAG_PAIRS[t] : undefined;
      if (pair) [k, val] = pair;
      else if (t >= KEY_CODE_BASE) {
        k = TAG_KEYS[t - KEY_CODE_BASE] as string;
        val = v[i++];
      } else fail(`${what}: unknown tag code ${t}`);
    } else fail(`${what} tag name: bad string`);
    if (val instanceof Uint8Array) {
      if (val.length !== UUID_BYTES) fail(`${what} tag value: bad bytes`);
      val = uuidString(val);
    } else if (typeof val !== 'string' || val.length > MAX_TAGS_BYTES) fail(`${what} tag value: bad string`);
    if (seen.has(k)) fail(`${what}: duplicate tag ${k}`);
    seen.add(k);
    entries.push([k, val as string]);
    size += strSize(k) + strSize(val as string);
  }
  if (entries.length > MAX_TAGS) fail(`${what}: more than ${MAX_TAGS} tags`);
  if (size + (entries.length * 2 <= 15 ? 1 : 3) > MAX_TAGS_BYTES) fail(`${what}: tags too large`);
  // fromEntries defines own properties, so even a "__proto__" tag stays a plain entry.
  return Object.fromEntries(entries);
}

/**
 * The shape only: numbers that are not finite decode as they are, and the receiver's Vivaldi
 * client refuses them, so that a bad coordinate costs its own update and not the whole packet.
 */
function coordinate(v: unknown, what: string): Coordinate {
  if (!(v instanceof Uint8Array) || v.length % 4 !== 0) fail(`${what}: bad coordinate`);
  const n = v.length / 4 - 3;
  if (n < 1 || n > MAX_COORD_DIMENSIONS) fail(`${what}: bad coordinate dimensions`);
  const view = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const at = (i: number): number => view.getFloat32(4 * i, true);
  return {
    Vec: Array.from({ length: n }, (_, i) => at(3 + i)),
    Error: at(0),
    Adjustment: at(1),
    Height: at(2),
  };
}

/** UTF-8 size without encoding (every decoded tag is measured: no copy per string). */
function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function unpack(data: Uint8Array, what: string): unknown {
  try {
    return packr.unpack(data);
  } catch {
    // Truncated, trailing garbage, nesting too deep for the stack, unknown extension: all malformed.
    return fail(`${what}: not MessagePack`);
  }
}

function parseEvent(v: unknown, what: string): PushPullEvent {
  const f = fields(v, 5, what);
  const ev: PushPullEvent = {
    ltime: counter(f[0], `${what} ltime`),
    name: name(f[1], `${what} name`),
    payload: bytes(f[2], MAX_EVENT_BYTES, `${what} payload`),
    id: name(f[3], `${what} id`),
    origin: name(f[4], `${what} origin`),
  };
  if (byteLength(ev.name) + ev.payload.length > MAX_EVENT_BYTES) fail(`${what}: event too large`);
  return ev;
}

function parseMessage(type: number, body: unknown): Message {
  switch (type) {
    case MsgType.Ping: {
      const f = fields(body, 3, 'ping');
      return {
        type: 'ping',
        seq: u32(f[0], 'ping seq'),
        node: name(f[1], 'ping node'),
        from: name(f[2], 'ping from'),
      };
    }
    case MsgType.PingReq: {
      const f = fields(body, 6, 'pingReq');
      return {
        type: 'pingReq',
        seq: u32(f[0], 'pingReq seq'),
        node: name(f[1], 'pingReq node'),
        addr: addr(f[2], 'pingReq addr'),
        port: port(f[3], 'pingReq port'),
        nack: bool(f[4], 'pingReq nack'),
        from: name(f[5], 'pingReq from'),
      };
    }
    case MsgType.Ack: {
      const f = fields(body, 1, 'ack');
      const seq = u32(f[0], 'ack seq');
      return f[1] === undefined ? { type: 'ack', seq } : { type: 'ack', seq, coord: coordinate(f[1], 'ack') };
    }
    case MsgType.Nack:
      return { type: 'nack', seq: u32(fields(body, 1, 'nack')[0], 'nack seq') };
    case MsgType.Alive: {
      const f = fields(body, 5, 'alive');
      return {
        type: 'alive',
        node: name(f[0], 'alive node'),
        addr: addr(f[1], 'alive addr'),
        port: port(f[2], 'alive port'),
        tags: tags(f[3], 'alive'),
        incarnation: counter(f[4], 'alive incarnation'),
      };
    }
    case MsgType.Suspect: {
      const f = fields(body, 3, 'suspect');
      return {
        type: 'suspect',
        node: name(f[0], 'suspect node'),
        incarnation: counter(f[1], 'suspect incarnation'),
        from: name(f[2], 'suspect from'),
      };
    }
    case MsgType.Dead: {
      const f = fields(body, 4, 'dead');
      return {
        type: 'dead',
        node: name(f[0], 'dead node'),
        incarnation: counter(f[1], 'dead incarnation'),
        from: name(f[2], 'dead from'),
        left: bool(f[3], 'dead left'),
        ...(f[4] === undefined ? {} : { prune: bool(f[4], 'dead prune') }),
      };
    }
    case MsgType.User:
      return { type: 'user', ...parseEvent(body, 'user') };
    case MsgType.Query: {
      const f = fields(body, 7, 'query');
      return {
        type: 'query',
        ltime: counter(f[0], 'query ltime'),
        id: u32(f[1], 'query id'),
        name: name(f[2], 'query name'),
        payload: bytes(f[3], MAX_QUERY_BYTES, 'query payload'),
        origin: name(f[4], 'query origin'),
        addr: addr(f[5], 'query addr'),
        port: port(f[6], 'query port'),
      };
    }
    case MsgType.Response: {
      const f = fields(body, 4, 'response');
      return {
        type: 'response',
        ltime: counter(f[0], 'response ltime'),
        id: u32(f[1], 'response id'),
        from: name(f[2], 'response from'),
        payload: bytes(f[3], MAX_QUERY_BYTES, 'response payload'),
      };
    }
    case MsgType.Relay: {
      const f = fields(body, 3, 'relay');
      const inner = bytes(f[2], MAX_QUERY_BYTES + 64, 'relay inner');
      // Only query responses may be relayed: a relay must not turn us into a sender of anything else.
      if (inner[0] !== MsgType.Response) fail('relay: inner message is not a response');
      parseMessage(MsgType.Response, unpack(inner.subarray(1), 'relay inner'));
      return { type: 'relay', addr: addr(f[0], 'relay addr'), port: port(f[1], 'relay port'), inner };
    }
    default:
      return fail(`unknown message type ${type}`);
  }
}

function parseOne(data: Uint8Array, what: string): Message {
  if (data.length < 2) fail(`${what}: too short`);
  const type = data[0] as number;
  if (type === MsgType.Compound) fail(`${what}: nested compound`);
  if (type === MsgType.PushPull) fail(`${what}: push/pull is not a packet`);
  return parseMessage(type, unpack(data.subarray(1), what));
}

function guard<T>(parse: () => T): Decoded<T> {
  try {
    return { ok: true, value: parse() };
  } catch (err) {
    if (err instanceof Malformed) return { ok: false, reason: err.message };
    // Anything else (a RangeError deep in the decoder, say) is still just a bad packet.
    return { ok: false, reason: `undecodable: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** Decodes one UDP packet into its messages. Never throws. */
export function decodePacket(data: Uint8Array): Decoded<Message[]> {
  return guard(() => {
    if (!(data instanceof Uint8Array)) fail('not bytes');
    if (data.length > MAX_PACKET_BYTES) fail('packet too large');
    if (data.length < 2) fail('packet too short');
    if (data[0] !== MsgType.Compound) return [parseOne(data, 'packet')];
    const parts = unpack(data.subarray(1), 'compound');
    if (!Array.isArray(parts) || parts.length < 1 || parts.length > MAX_COMPOUND_PARTS) {
      fail('compound: bad part list');
    }
    return parts.map((p: unknown, i) => {
      if (!(p instanceof Uint8Array)) fail(`compound part ${i}: not bytes`);
      return parseOne(p, `compound part ${i}`);
    });
  });
}

function parsePushPullMember(v: unknown, i: number): PushPullMember {
  const f = fields(v, 6, `member ${i}`);
  const code = uint(f[5], STATUS_BY_CODE.length - 1, `member ${i} status`);
  return {
    name: name(f[0], `member ${i} name`),
    addr: addr(f[1], `member ${i} addr`),
    port: port(f[2], `member ${i} port`),
    tags: tags(f[3], `member ${i}`),
    incarnation: counter(f[4], `member ${i} incarnation`),
    status: STATUS_BY_CODE[code] as MemberStatus,
  };
}

/** Decodes one TCP frame (push/pull, or a fallback ping or its ack). Never throws. */
export function decodeStream(data: Uint8Array): Decoded<StreamMessage> {
  return guard((): StreamMessage => {
    if (!(data instanceof Uint8Array)) fail('not bytes');
    if (data.length > MAX_STREAM_BYTES) fail('frame too large');
    if (data.length < 2) fail('frame too short');
    const type = data[0] as number;
    if (type === MsgType.Ping || type === MsgType.Ack) {
      return parseMessage(type, unpack(data.subarray(1), 'frame')) as PingMsg | AckMsg;
    }
    if (type !== MsgType.PushPull) fail(`frame type ${type} is not a stream message`);
    const f = fields(unpack(data.subarray(1), 'pushPull'), 6, 'pushPull');
    const list = f[4];
    if (!Array.isArray(list) || list.length > MAX_PUSH_PULL_MEMBERS) fail('pushPull: bad member list');
    const members = list.map(parsePushPullMember);
    const evList = f[5];
    if (!Array.isArray(evList) || evList.length > MAX_PUSH_PULL_EVENTS) fail('pushPull: bad event list');
    const events = evList.map((e: unknown, i) => parseEvent(e, `event ${i}`));
    const names = new Set(members.map((m) => m.name));
    if (names.size !== members.length) fail('pushPull: a member is listed twice');
    return {
      type: 'pushPull',
      join: bool(f[0], 'pushPull join'),
      memberLtime: counter(f[1], 'pushPull memberLtime'),
      eventLtime: counter(f[2], 'pushPull eventLtime'),
      queryLtime: counter(f[3], 'pushPull queryLtime'),
      members,
      events,
    };
  });
}

/** "host:port", with IPv6 hosts bracketed. */
export function hostPort(host: string, p: number): string {
  return host.includes(':') ? `[${host}]:${p}` : `${host}:${p}`;
}
