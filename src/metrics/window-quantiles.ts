// Quantiles over a sliding window (Consul's Prometheus summaries: the last 10 s), cheap to feed:
// each half-window keeps a uniform sample (reservoir) of at most `cap` values, so an observation is
// an array write (and, once the half is full, a random draw), and the work of sorting happens only
// when someone scrapes. The two halves are weighted by how many values each saw, so a busy half is
// not under-represented by its capped sample. Pure: the caller passes the time and the randomness.

interface Half {
  start: number;
  /** Values observed in this half. */
  seen: number;
  /** The sample: the first `cap` values, then each later one replaces a random slot. */
  kept: number[];
}

export class WindowQuantiles {
  private cur: Half;
  private prev: Half | null = null;

  constructor(
    private readonly windowMs: number,
    private readonly cap: number,
    private readonly random: () => number,
    now: number,
  ) {
    this.cur = { start: now, seen: 0, kept: [] };
  }

  observe(v: number, now: number): void {
    this.roll(now);
    const h = this.cur;
    h.seen++;
    if (h.kept.length < this.cap) {
      h.kept.push(v);
      return;
    }
    // Algorithm R: the n-th value replaces a random slot with probability cap / n.
    const j = Math.floor(this.random() * h.seen);
    if (j < this.cap) h.kept[j] = v;
  }

  /** The `qs` quantiles of the values seen in the window (NaN when none, as Prometheus clients). */
  quantiles(qs: readonly number[], now: number): number[] {
    this.roll(now);
    const items: [number, number][] = [];
    for (const h of [this.prev, this.cur]) {
      if (!h || h.kept.length === 0) continue;
      const w = h.seen / h.kept.length;
      for (const v of h.kept) items.push([v, w]);
    }
    if (items.length === 0) return qs.map(() => NaN);
    items.sort((a, b) => a[0] - b[0]);
    const total = items.reduce((s, [, w]) => s + w, 0);
    return qs.map((q) => {
      const target = q * total;
      let acc = 0;
      for (const [v, w] of items) {
        acc += w;
        if (acc >= target) return v;
      }
      return items[items.length - 1]![0];
    });
  }

  /** Starts a new half every windowMs / 2; the window is the current half and the one before. */
  private roll(now: number): void {
    const age = now - this.cur.start;
    if (age < this.windowMs / 2) return;
    this.prev = age < this.windowMs ? this.cur : null;
    this.cur = { start: now, seen: 0, kept: [] };
  }
}
