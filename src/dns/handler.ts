// The packet handler: bytes in, bytes (or silence) out, with no sockets of its own. A cached
// question is answered synchronously (parse, one Map lookup, assemble); anything else takes the
// slow path: name → Lookup → the cache's catalog read → a prepared answer, cached for next time.
// Every failure becomes an RCODE: FORMERR for a malformed packet, REFUSED outside our domains
// without recursors, SERVFAIL when the catalog (or a datacenter) cannot answer, NXDOMAIN with the
// SOA for a datacenter nobody knows (Consul's rCodeFromError: ErrNoDCPath). It never throws.

import { ConsulError, ErrorCode } from '../core/errors.js';
import { buildAnswer, queryAnswer, type AnswerSettings, type QueryResultData } from './answers.js';
import { CacheBusyError, dataRequest, type DataEntry, type DnsCache } from './cache.js';
import { parseName, type Domains } from './names.js';
import {
  CLASS_ANY,
  CLASS_IN,
  DROP,
  PLAIN_UDP_LIMIT,
  QTYPE,
  RCODE,
  TCP_LIMIT,
  assemble,
  errorReply,
  keyLabels,
  parseQuery,
  type Prepared,
  type Query,
} from './wire.js';

export interface HandlerOptions {
  domains: Domains;
  answers: AnswerSettings;
  /** Consul's udp_answer_limit: at most this many instances in a UDP answer without EDNS0 (0: no limit). */
  udpAnswerLimit: number;
  /** Consul's a_record_limit: at most this many instances in an A, AAAA or ANY answer (0: no limit). */
  aRecordLimit: number;
  /** Consul's enable_truncate: set TC when a UDP answer was trimmed. */
  enableTruncate: boolean;
  cache: DnsCache;
  /** Forwards a query outside our domains; null when no recursor is set (REFUSED). */
  recurse: ((packet: Buffer, tcp: boolean) => Promise<Buffer | null>) | null;
  rng: () => number;
  /**
   * Runs a prepared query by ID or name in `dc` (null: no such query). Its answers are never cached:
   * they depend on the definition and on health in other datacenters after a failover, which no
   * local watch can follow. Absent: query names are NXDOMAIN.
   */
  executeQuery?: (name: string, dc: string) => Promise<QueryResultData | null>;
  /** Called with what failed on the slow path (for a debug log line). */
  onError?: (err: unknown) => void;
}

export type Reply = Buffer | null;

export class DnsHandler {
  private readonly ra: boolean;

  constructor(private readonly o: HandlerOptions) {
    this.ra = o.recurse !== null;
  }

  /** The reply to one message from a client; synchronous when the answer is cached. */
  handle(packet: Buffer, tcp: boolean): Reply | Promise<Reply> {
    const q = parseQuery(packet);
    if (q.error === DROP) return null;
    if (q.error !== 0) return errorReply(packet, q, q.error, this.ra);
    if (q.edns !== null && q.edns.version > 0) return errorReply(packet, q, RCODE.BADVERS, this.ra);
    // Chaos-class and the like: not ours (and not in the cache key, which assumes IN).
    if (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY) return errorReply(packet, q, RCODE.REFUSED, this.ra);
    const p = this.o.cache.hit(q.key);
    if (p !== undefined) return this.reply(packet, q, p, tcp);
    return this.slow(packet, q, tcp);
  }

  private reply(packet: Buffer, q: Query, p: Prepared, tcp: boolean): Buffer {
    const udpLimit = q.edns !== null ? q.edns.udpSize : PLAIN_UDP_LIMIT;
    const udpCount = !tcp && q.edns === null ? this.o.udpAnswerLimit : 0;
    const t = q.qtype;
    const aCount =
      this.o.aRecordLimit > 0 && (t === QTYPE.A || t === QTYPE.AAAA || t === QTYPE.ANY)
        ? this.o.aRecordLimit
        : 0;
    // a_record_limit is a policy, not a size problem: TC only when udp_answer_limit is what cut.
    const maxUnits = udpCount > 0 && aCount > 0 ? Math.min(udpCount, aCount) : udpCount || aCount;
    const countTruncates = this.o.enableTruncate && udpCount > 0 && (aCount === 0 || udpCount < aCount);
    return assemble(packet, q, p, {
      limit: tcp ? TCP_LIMIT : udpLimit,
      maxUnits,
      setTruncated: tcp || this.o.enableTruncate,
      countTruncates,
      recursionAvailable: this.ra,
      rng: this.o.rng,
    });
  }

  private async slow(packet: Buffer, q: Query, tcp: boolean): Promise<Reply> {
    try {
      const labels = keyLabels(q.key);
      const lookup = parseName(labels, this.o.domains);
      if (lookup.kind === 'outside') return await this.outside(packet, q, tcp);
      if (q.qtype === QTYPE.AXFR || q.qtype === QTYPE.IXFR)
        return errorReply(packet, q, RCODE.NOTIMP, this.ra);
      if (lookup.kind === 'query' && this.o.executeQuery) {
        const r = await this.o.executeQuery(lookup.name, lookup.dc);
        return this.reply(packet, q, queryAnswer(lookup, labels, q.qtype, r, this.o.answers), tcp);
      }
      const req = dataRequest(lookup, this.o.domains.datacenter);
      let entry: DataEntry | null;
      try {
        entry = req ? await this.o.cache.load(req) : null;
      } catch (err) {
        if (!(err instanceof ConsulError && err.code === ErrorCode.NoDCPath)) throw err;
        // No such datacenter: the name does not exist. Not cached: the datacenter may join later.
        const none = { kind: 'unknown', zone: lookup.zone } as const;
        const p = buildAnswer(
          none,
          labels,
          q.qtype,
          { kind: 'none' },
          this.o.domains.datacenter,
          this.o.answers,
        );
        return this.reply(packet, q, p, tcp);
      }
      const p = buildAnswer(
        lookup,
        labels,
        q.qtype,
        entry ? entry.data : { kind: 'none' },
        this.o.domains.datacenter,
        this.o.answers,
      );
      // An unknown address may still be known upstream: reverse lookups fall through to recursors.
      if (lookup.kind === 'ptr' && p.rcode === RCODE.NXDOMAIN && this.o.recurse)
        return await this.outside(packet, q, tcp);
      this.o.cache.put(q.key, p, entry);
      return this.reply(packet, q, p, tcp);
    } catch (err) {
      this.o.onError?.(err);
      // Too many lookups in flight: silence, and the client's retry finds a quieter moment.
      if (err instanceof CacheBusyError) return null;
      return errorReply(packet, q, RCODE.SERVFAIL, this.ra);
    }
  }

  private async outside(packet: Buffer, q: Query, tcp: boolean): Promise<Reply> {
    if (!this.o.recurse) return errorReply(packet, q, RCODE.REFUSED, this.ra);
    const r = await this.o.recurse(packet, tcp);
    return r ?? errorReply(packet, q, RCODE.SERVFAIL, this.ra);
  }
}
