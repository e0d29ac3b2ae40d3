// The simulations' event queue: a binary heap of events ordered by simulated time, ties broken by
// scheduling order so a seed replays exactly. `now` is the simulated clock.

export interface SimEvent {
  at: number;
  seq: number;
  run: () => void;
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export class EventQueue {
  private heap: SimEvent[] = [];
  private seq = 0;
  now = 0;

  get size(): number {
    return this.heap.length;
  }

  schedule(delay: number, run: () => void): void {
    const e = { at: this.now + Math.max(0, delay), seq: this.seq++, run };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (before(h[p] as SimEvent, e)) break;
      h[i] = h[p] as SimEvent;
      i = p;
    }
    h[i] = e;
  }

  /** Runs the next event; false when none is due by `until`. */
  step(until: number): boolean {
    const h = this.heap;
    const top = h[0];
    if (!top || top.at > until) return false;
    const last = h.pop() as SimEvent;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let mv = last;
        if (l < h.length && before(h[l] as SimEvent, mv)) {
          m = l;
          mv = h[l] as SimEvent;
        }
        if (r < h.length && before(h[r] as SimEvent, mv)) m = r;
        if (m === i) break;
        h[i] = h[m] as SimEvent;
        i = m;
      }
      h[i] = last;
    }
    this.now = top.at;
    top.run();
    return true;
  }
}
