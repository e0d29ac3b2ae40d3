// At most `perInterval` "yes" per key per interval: for log lines about things a peer can repeat
// many times a second (refused connections, failed handshakes), so that one peer cannot flood the
// log, and for replies a peer can make us send (DNS errors to junk), so that it cannot make us
// spend our time answering it.

export class Throttle {
  /** Per key: when its current interval began, and how many were let through in it. */
  private readonly windows = new Map<string, { start: number; n: number }>();

  /**
   * @param maxKeys keys remembered at most; past it all are forgotten (a flood of new addresses).
   * @param perInterval how many are let through per key in one interval.
   */
  constructor(
    private readonly everyMs: number,
    private readonly maxKeys = 1000,
    private readonly perInterval = 1,
  ) {}

  /** True when `key` still has room in its interval (and takes it). */
  due(key: string, now = Date.now()): boolean {
    let w = this.windows.get(key);
    if (w === undefined || now - w.start >= this.everyMs) {
      if (w === undefined && this.windows.size >= this.maxKeys) this.windows.clear();
      w = { start: now, n: 0 };
      this.windows.set(key, w);
    }
    if (w.n >= this.perInterval) return false;
    w.n++;
    return true;
  }

  /** Forgets every key starting with `prefix`: the next one is news again. */
  forget(prefix: string): void {
    for (const k of this.windows.keys()) if (k.startsWith(prefix)) this.windows.delete(k);
  }
}
