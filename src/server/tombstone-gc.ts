// Tombstone garbage collection, run by the leader (Consul's TombstoneGC): deleted KV keys leave
// tombstones so prefix indexes never go backwards; once a tombstone is older than the TTL (15 min)
// no blocking query can still be waiting on an index that old, and the leader proposes a reap.
// Time never enters the FSM: the leader turns "15 minutes ago" into a Raft index and proposes that.

export interface TombstoneGcDeps {
  ttlMs: number;
  /** How often the index is sampled (Consul's granularity: 30 s). */
  granularityMs: number;
  lastIndex(): number;
  reap(upTo: number): Promise<unknown>;
  now(): number;
}

export class TombstoneGc {
  private samples: { at: number; index: number }[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly d: TombstoneGcDeps) {}

  /** Starts when this server becomes leader; a new leader starts its own clock (tombstones wait longer, never less). */
  start(): void {
    if (this.timer) return;
    this.samples = [];
    this.timer = setInterval(() => void this.tick(), this.d.granularityMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.samples = [];
  }

  async tick(): Promise<void> {
    const now = this.d.now();
    this.samples.push({ at: now, index: this.d.lastIndex() });
    let upTo = 0;
    while (this.samples.length > 0 && now - (this.samples[0] as { at: number }).at >= this.d.ttlMs) {
      upTo = (this.samples.shift() as { index: number }).index;
    }
    if (upTo > 0) await this.d.reap(upTo).catch(() => undefined);
  }
}
