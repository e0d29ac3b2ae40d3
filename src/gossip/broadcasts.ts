// memberlist's transmit-limited queue. Every piece of news (a member's state, a user event, a query)
// is piggybacked on gossip packets a bounded number of times: enough for epidemic spread to reach
// every member with high probability (retransmitMult * ceil(log10(n + 1))), not so many that old
// news crowds out new. The least-transmitted items go first so fresh news spreads fastest, and a
// newer item with the same key (same member, same event) replaces the older one, which is obsolete.

export interface Broadcast {
  key: string;
  msg: Uint8Array;
  transmits: number;
  /** This item's retransmit limit is multiplied by this. */
  weight: number;
  /** Insertion order: among equally transmitted items the newest goes first. */
  id: number;
}

/** Bound on queued items so a flood of news cannot grow memory without limit. */
export const MAX_QUEUED_BROADCASTS = 4096;

export function retransmitLimit(retransmitMult: number, n: number): number {
  return retransmitMult * Math.max(1, Math.ceil(Math.log10(n + 1)));
}

export class BroadcastQueue {
  private items = new Map<string, Broadcast>();
  private nextId = 0;
  /** Queued items not sent even once yet (see unsent). */
  private fresh = 0;
  private readonly retransmitMult: number;
  private readonly maxQueued: number;
  private readonly maxMessageBytes: number;

  /** `maxMessageBytes`: the most a message can take and still fit in a packet on its own. */
  constructor(retransmitMult: number, maxMessageBytes = Infinity, maxQueued = MAX_QUEUED_BROADCASTS) {
    this.retransmitMult = retransmitMult;
    this.maxMessageBytes = maxMessageBytes;
    this.maxQueued = maxQueued;
  }

  get size(): number {
    return this.items.size;
  }

  /** How many queued items have not been sent even once: news nobody has heard from us yet. */
  get unsent(): number {
    return this.fresh;
  }

  /**
   * Queues `msg`, replacing any queued item with the same key. `weight` multiplies its retransmit
   * limit, for news that nothing else repairs if a member misses it.
   */
  enqueue(key: string, msg: Uint8Array, weight = 1): boolean {
    // It could never be sent, and would sit in the queue forever.
    if (msg.length > this.maxMessageBytes) return false;
    this.remove(key);
    this.items.set(key, { key, msg, transmits: 0, weight, id: ++this.nextId });
    this.fresh++;
    if (this.items.size > this.maxQueued) this.prune();
    return true;
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  /**
   * Picks queued messages to send in one packet: at most `maxCount` of them, whose sizes plus
   * `overhead` each fit in `budget` bytes. Each pick counts as a transmission; an item that has
   * reached the limit for a cluster of `n` members is dropped.
   */
  take(budget: number, overhead: number, n: number, maxCount = Infinity): Uint8Array[] {
    if (this.items.size === 0 || budget <= overhead || maxCount <= 0) return [];
    const limit = retransmitLimit(this.retransmitMult, n);
    // Fewest transmissions relative to the item's own limit first, then the newest.
    const ordered = [...this.items.values()].sort(
      (a, b) => a.transmits / a.weight - b.transmits / b.weight || b.id - a.id,
    );
    const out: Uint8Array[] = [];
    let room = budget;
    for (const b of ordered) {
      if (out.length >= maxCount || room <= overhead) break;
      const cost = b.msg.length + overhead;
      if (cost > room) continue; // a smaller item further down may still fit
      room -= cost;
      out.push(b.msg);
      if (b.transmits === 0) this.fresh--;
      b.transmits++;
      if (b.transmits >= limit * b.weight) this.items.delete(b.key);
    }
    return out;
  }

  /** Drops the most-transmitted (then oldest) items until the queue is back under its bound. */
  private prune(): void {
    const ordered = [...this.items.values()].sort((a, b) => b.transmits - a.transmits || a.id - b.id);
    for (const b of ordered) {
      if (this.items.size <= this.maxQueued) break;
      this.remove(b.key);
    }
  }

  private remove(key: string): void {
    const old = this.items.get(key);
    if (!old) return;
    if (old.transmits === 0) this.fresh--;
    this.items.delete(key);
  }
}
