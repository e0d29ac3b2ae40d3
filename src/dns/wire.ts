// DNS wire format, the parts on the hot path: a small strict parser for a query's header, question
// and EDNS0 OPT record, and the assembly of a reply from pre-encoded record slices.
//
// Why not dns2's Packet here: its parse builds an object per record through a bit-level reader and
// its encoder compresses every name against every earlier name in the message, which ties each
// record's bytes to its position. A repeated query should cost a header parse, one map lookup and a
// few memcpys. So a reply is assembled from slices that were encoded once, when the cache entry was
// filled, with names compressed *only against the question* (always at offset 12): every slice is
// then position-independent, and the shuffle is a permutation of whole slices, not a re-encoding.

export const QTYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended (RFC 6891): needs an OPT record to carry its high bits. */
  BADVERS: 16,
} as const;

export const CLASS_IN = 1;
export const CLASS_ANY = 255;
export const HEADER_SIZE = 12;
/** The question always starts right after the header: compression pointers aim here. */
export const QUESTION_OFFSET = 12;
/** RFC 1035: UDP answers without EDNS0. */
export const PLAIN_UDP_LIMIT = 512;
/** What we offer in our own OPT record, and the largest EDNS0 buffer we honour. */
export const EDNS_UDP_SIZE = 4096;
/** A TCP message's length prefix is 16 bits. */
export const TCP_LIMIT = 65535;
const MAX_NAME = 255;
const MAX_ADDITIONAL = 2;

/** Not a reply worth sending: a response, or too short to carry an ID. */
export const DROP = -1;

export interface Edns {
  udpSize: number;
  version: number;
  dnssecOk: boolean;
}

/**
 * A parsed query. `error` is 0 for a query we can answer, an RCODE (FORMERR, NOTIMP) to send back,
 * or DROP for silence. `qEnd` is where the question ends, so the reply can echo it byte for byte
 * (resolvers using 0x20 case randomisation compare the question's case).
 */
export interface Query {
  error: number;
  id: number;
  /** The query's second header byte's RD bit and opcode, echoed in the reply. */
  rd: boolean;
  opcode: number;
  qtype: number;
  qclass: number;
  qEnd: number;
  /** Lower-cased wire QNAME followed by QTYPE, as a latin1 string: the cache key. */
  key: string;
  edns: Edns | null;
}

const scratch = Buffer.alloc(MAX_NAME + 4);

function failed(error: number, id: number, rd: boolean, opcode: number): Query {
  return { error, id, rd, opcode, qtype: 0, qclass: 0, qEnd: HEADER_SIZE, key: '', edns: null };
}

/**
 * Parses a query strictly: one question with an uncompressed name, no answer or authority records,
 * at most two additional records (an OPT and, say, a TSIG we ignore), nothing after the last
 * record. Anything else is FORMERR; a response or a runt is dropped. Never throws.
 */
export function parseQuery(buf: Buffer): Query {
  const len = buf.length;
  // Nothing longer than a TCP message can be a query; nothing shorter than a header has an ID.
  if (len < HEADER_SIZE || len > TCP_LIMIT) return failed(DROP, 0, false, 0);
  const id = (buf[0] as number) * 256 + (buf[1] as number);
  const b2 = buf[2] as number;
  // A response sent to us is never answered: that is how reflection loops start.
  if (b2 & 0x80) return failed(DROP, id, false, 0);
  const opcode = (b2 >> 3) & 0x0f;
  const rd = (b2 & 1) === 1;
  if (opcode !== 0) return failed(RCODE.NOTIMP, id, rd, opcode);
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  if (qd !== 1 || an !== 0 || ns !== 0 || ar > MAX_ADDITIONAL) return failed(RCODE.FORMERR, id, rd, opcode);

  // QNAME: plain labels only (there is no earlier name a pointer could legitimately reach).
  let off = HEADER_SIZE;
  let n = 0;
  for (;;) {
    if (off >= len) return failed(RCODE.FORMERR, id, rd, opcode);
    const l = buf[off] as number;
    if (l === 0) {
      scratch[n++] = 0;
      off++;
      break;
    }
    if (l > 63 || off + 1 + l > len || n + 1 + l + 1 > MAX_NAME) return failed(RCODE.FORMERR, id, rd, opcode);
    scratch[n++] = l;
    off++;
    for (let i = 0; i < l; i++) {
      const c = buf[off++] as number;
      scratch[n++] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    }
  }
  if (off + 4 > len) return failed(RCODE.FORMERR, id, rd, opcode);
  const qtype = buf.readUInt16BE(off);
  const qclass = buf.readUInt16BE(off + 2);
  scratch[n++] = buf[off] as number;
  scratch[n++] = buf[off + 1] as number;
  off += 4;
  const qEnd = off;

  let edns: Edns | null = null;
  for (let i = 0; i < ar; i++) {
    const nameEnd = skipName(buf, off);
    if (nameEnd < 0 || nameEnd + 10 > len) return failed(RCODE.FORMERR, id, rd, opcode);
    const type = buf.readUInt16BE(nameEnd);
    const rdlen = buf.readUInt16BE(nameEnd + 8);
    const end = nameEnd + 10 + rdlen;
    if (end > len) return failed(RCODE.FORMERR, id, rd, opcode);
    if (type === QTYPE.OPT) {
      // RFC 6891: one OPT at most, owned by the root.
      if (edns !== null || nameEnd !== off + 1) return failed(RCODE.FORMERR, id, rd, opcode);
      const cls = buf.readUInt16BE(nameEnd + 2);
      edns = {
        udpSize: Math.min(Math.max(cls, PLAIN_UDP_LIMIT), EDNS_UDP_SIZE),
        version: buf[nameEnd + 5] as number,
        dnssecOk: ((buf[nameEnd + 6] as number) & 0x80) !== 0,
      };
    }
    off = end;
  }
  if (off !== len) return failed(RCODE.FORMERR, id, rd, opcode);
  return { error: 0, id, rd, opcode, qtype, qclass, qEnd, key: scratch.toString('latin1', 0, n), edns };
}

/** End of the (possibly compressed) name at `off` in a record we skip, or -1 when it is malformed. */
function skipName(buf: Buffer, off: number): number {
  let total = 0;
  for (;;) {
    if (off >= buf.length) return -1;
    const l = buf[off] as number;
    if (l === 0) return off + 1;
    if ((l & 0xc0) === 0xc0) return off + 2 <= buf.length ? off + 2 : -1; // the target is never followed
    if (l > 63) return -1;
    total += l + 1;
    if (total > MAX_NAME) return -1;
    off += l + 1;
  }
}

/** The labels of a key made by parseQuery (lower-cased, latin1: one char per byte). */
export function keyLabels(key: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    const l = key.charCodeAt(i);
    if (!(l > 0) || i + 1 + l > key.length) return out;
    out.push(key.slice(i + 1, i + 1 + l));
    i += l + 1;
  }
}

/** QTYPE as the key carries it (its last two chars). */
export function keyType(key: string): number {
  return key.charCodeAt(key.length - 2) * 256 + key.charCodeAt(key.length - 1);
}

// ---------------------------------------------------------------- encoding records (at fill time)

/**
 * Where each suffix of the question's name sits in a reply (the question is at offset 12). A name
 * is compressed only against these, never against another record, which keeps records movable.
 */
export class NameDict {
  private readonly offsets = new Map<string, number>();
  constructor(questionLabels: readonly string[]) {
    let off = QUESTION_OFFSET;
    for (let i = 0; i < questionLabels.length; i++) {
      this.offsets.set(suffixKey(questionLabels, i), off);
      off += (questionLabels[i] as string).length + 1;
    }
  }
  offsetOf(labels: readonly string[], from: number): number | undefined {
    return this.offsets.get(suffixKey(labels, from));
  }
}

/** An unambiguous key for labels[from..] (length-prefixed: a label may hold any byte, even a dot). */
function suffixKey(labels: readonly string[], from: number): string {
  let k = '';
  for (let i = from; i < labels.length; i++) {
    const l = (labels[i] as string).toLowerCase();
    k += `${l.length}:${l}`;
  }
  return k;
}

/** Splits a dotted name into labels; a trailing dot is allowed. */
export function labelsOf(name: string): string[] {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  return trimmed === '' ? [] : trimmed.split('.');
}

/** Appends bytes to a growing array (fill-time only: clarity over speed). */
export class ByteWriter {
  readonly bytes: number[] = [];
  u8(v: number): void {
    this.bytes.push(v & 0xff);
  }
  u16(v: number): void {
    this.bytes.push((v >>> 8) & 0xff, v & 0xff);
  }
  u32(v: number): void {
    this.bytes.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  }
  raw(b: ArrayLike<number>): void {
    for (let i = 0; i < b.length; i++) this.bytes.push((b[i] as number) & 0xff);
  }
  /** A name, compressed against the question when `dict` is given (never for SRV targets, RFC 2782). */
  name(labels: readonly string[], dict: NameDict | null): void {
    for (let i = 0; i < labels.length; i++) {
      const at = dict?.offsetOf(labels, i);
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      const bytes = Buffer.from(labels[i] as string, 'latin1');
      this.u8(Math.min(bytes.length, 63));
      this.raw(bytes.subarray(0, 63));
    }
    this.u8(0);
  }
  get length(): number {
    return this.bytes.length;
  }
  toBuffer(): Buffer {
    return Buffer.from(this.bytes);
  }
}

/** Writes one resource record; `rdata` writes the data (its length is filled in afterwards). */
export function writeRecord(
  w: ByteWriter,
  owner: readonly string[],
  dict: NameDict | null,
  type: number,
  ttl: number,
  rdata: (w: ByteWriter) => void,
): void {
  w.name(owner, dict);
  w.u16(type);
  w.u16(CLASS_IN);
  w.u32(Math.max(0, Math.min(ttl, 0x7fffffff)));
  const at = w.length;
  w.u16(0);
  rdata(w);
  const rdlen = w.length - at - 2;
  w.bytes[at] = (rdlen >>> 8) & 0xff;
  w.bytes[at + 1] = rdlen & 0xff;
}

// ---------------------------------------------------------------- prepared answers and assembly

/** One instance's records: kept or dropped whole, moved as a whole by the shuffle. */
export interface Unit {
  answer: Buffer;
  answerCount: number;
  extra: Buffer;
  extraCount: number;
}

/** Everything about a reply that does not depend on the query's ID, case, size or the shuffle. */
export interface Prepared {
  rcode: number;
  authoritative: boolean;
  /** Shuffle the units for every answer (service instances). */
  shuffle: boolean;
  units: Unit[];
  authority: Buffer;
  authorityCount: number;
  extra: Buffer;
  extraCount: number;
}

export function unitOf(answer: ByteWriter, answerCount: number, extra?: ByteWriter, extraCount = 0): Unit {
  return {
    answer: answer.toBuffer(),
    answerCount,
    extra: extra ? extra.toBuffer() : Buffer.alloc(0),
    extraCount,
  };
}

const EMPTY = Buffer.alloc(0);

export function prepared(
  rcode: number,
  units: Unit[],
  o: { shuffle?: boolean; authority?: ByteWriter; authorityCount?: number; authoritative?: boolean } = {},
): Prepared {
  return {
    rcode,
    authoritative: o.authoritative ?? true,
    shuffle: o.shuffle ?? false,
    units,
    authority: o.authority ? o.authority.toBuffer() : EMPTY,
    authorityCount: o.authorityCount ?? 0,
    extra: EMPTY,
    extraCount: 0,
  };
}

export interface AssembleOptions {
  /** The largest reply allowed (512, the EDNS0 buffer, or 65535 on TCP). */
  limit: number;
  /** At most this many units (0: no limit): udp_answer_limit, a_record_limit. */
  maxUnits: number;
  /** Set TC when units did not fit the limit (Consul's enable_truncate; always on TCP). */
  setTruncated: boolean;
  /** Set TC when maxUnits left units out too (udp_answer_limit with enable_truncate). */
  countTruncates: boolean;
  recursionAvailable: boolean;
  rng: () => number;
}

const OPT_SIZE = 11;
let order = new Uint32Array(64);

/**
 * The reply to `q` from a prepared answer: the query's ID, flags and question bytes, the units in a
 * fresh random order, as many as fit the limit (TC when some were left out), then the authority
 * and extra sections, and an OPT record when the query had one.
 */
export function assemble(query: Buffer, q: Query, p: Prepared, o: AssembleOptions): Buffer {
  const units = p.units;
  const n = units.length;
  const qLen = q.qEnd - HEADER_SIZE;
  const optLen = q.edns ? OPT_SIZE : 0;
  const fixed = HEADER_SIZE + qLen + p.authority.length + p.extra.length + optLen;
  if (order.length < n) order = new Uint32Array(Math.max(n, order.length * 2));
  for (let i = 0; i < n; i++) order[i] = i;
  let room = o.limit - fixed;
  let kept = 0;
  let size = 0;
  let anCount = 0;
  let exCount = 0;
  const cap = o.maxUnits > 0 ? Math.min(o.maxUnits, n) : n;
  let tooBig = false;
  // A partial Fisher-Yates: each pick is uniform among the units not yet placed; units that do not
  // fit are skipped, so a smaller one later can still go in.
  for (let i = 0; i < n && kept < cap; i++) {
    if (p.shuffle) {
      const j = i + Math.floor(o.rng() * (n - i));
      const t = order[i] as number;
      order[i] = order[j] as number;
      order[j] = t;
    }
    const u = units[order[i] as number] as Unit;
    const need = u.answer.length + u.extra.length;
    if (need > room) {
      tooBig = true;
      continue;
    }
    room -= need;
    size += need;
    anCount += u.answerCount;
    exCount += u.extraCount;
    order[kept++] = order[i] as number;
  }
  const truncated = (tooBig && o.setTruncated) || (kept === cap && cap < n && o.countTruncates);
  const out = Buffer.allocUnsafe(fixed + size);
  const rcode = p.rcode;
  out[0] = q.id >>> 8;
  out[1] = q.id & 0xff;
  out[2] = 0x80 | (p.authoritative ? 0x04 : 0) | (truncated ? 0x02 : 0) | (q.rd ? 0x01 : 0);
  out[3] = (o.recursionAvailable ? 0x80 : 0) | (rcode & 0x0f);
  // Plain byte stores: the counts are known to fit, and writeUInt16BE's checks cost more here.
  const ar = exCount + p.extraCount + (q.edns ? 1 : 0);
  out[4] = 0;
  out[5] = 1;
  out[6] = anCount >>> 8;
  out[7] = anCount & 0xff;
  out[8] = p.authorityCount >>> 8;
  out[9] = p.authorityCount & 0xff;
  out[10] = ar >>> 8;
  out[11] = ar & 0xff;
  // The question as the client spelled it: a short loop (a subarray would cost an allocation).
  for (let i = HEADER_SIZE; i < q.qEnd; i++) out[i] = query[i] as number;
  let off = q.qEnd;
  for (let i = 0; i < kept; i++) off = put((units[order[i] as number] as Unit).answer, out, off);
  off = put(p.authority, out, off);
  for (let i = 0; i < kept; i++) off = put((units[order[i] as number] as Unit).extra, out, off);
  off = put(p.extra, out, off);
  if (q.edns) writeOpt(out, off, rcode);
  return out;
}

/** Copies all of `src` into `dst` at `at` (TypedArray#set: no argument juggling); the next offset. */
function put(src: Buffer, dst: Buffer, at: number): number {
  if (src.length > 0) dst.set(src, at);
  return at + src.length;
}

function writeOpt(out: Buffer, off: number, rcode: number): void {
  out[off] = 0; // root
  out.writeUInt16BE(QTYPE.OPT, off + 1);
  out.writeUInt16BE(EDNS_UDP_SIZE, off + 3);
  out[off + 5] = rcode >>> 4; // extended RCODE, high bits
  out[off + 6] = 0; // version 0
  out.writeUInt16BE(0, off + 7); // DO and flags clear: we do not sign
  out.writeUInt16BE(0, off + 9);
}

/**
 * A reply with no records: FORMERR, NOTIMP, REFUSED, SERVFAIL, BADVERS. The question is echoed when
 * the query parsed far enough to have one; an OPT goes back when the query had one (always for
 * BADVERS, whose high bits live there).
 */
export function errorReply(query: Buffer, q: Query, rcode: number, recursionAvailable: boolean): Buffer {
  const withQuestion = q.error === 0;
  const qLen = withQuestion ? q.qEnd - HEADER_SIZE : 0;
  const opt = withQuestion && q.edns !== null;
  const out = Buffer.alloc(HEADER_SIZE + qLen + (opt ? OPT_SIZE : 0));
  out[0] = q.id >>> 8;
  out[1] = q.id & 0xff;
  out[2] = 0x80 | ((q.opcode & 0x0f) << 3) | (q.rd ? 1 : 0);
  out[3] = (recursionAvailable ? 0x80 : 0) | (rcode & 0x0f);
  out.writeUInt16BE(withQuestion ? 1 : 0, 4);
  out.writeUInt16BE(opt ? 1 : 0, 10);
  if (withQuestion) query.copy(out, HEADER_SIZE, HEADER_SIZE, q.qEnd);
  if (opt) writeOpt(out, HEADER_SIZE + qLen, rcode);
  return out;
}

/** The TCP length prefix in front of a message. */
export function framed(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(msg.length + 2);
  out.writeUInt16BE(msg.length, 0);
  msg.copy(out, 2);
  return out;
}
