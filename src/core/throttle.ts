// At most one "yes" per key per interval: for log lines about things a peer can repeat many
// times a second (refused connections, failed handshakes), so that one peer cannot flood the log.

export class Throttle {
  private readonly last = new Map<string, number>();

  /** @param maxKeys keys remembered at most; past it all are forgotten (a flood of new addresses). */
  constructor(
    private readonly everyMs: number,
    private readonly maxKeys = 1000,
  ) {}

  /** True when `key` has not been let through in the last interval (and records it now). */
  due(key: string, now = Date.now()): boolean {
    if (now - (this.last.get(key) ?? -Infinity) < this.everyMs) return false;
    if (this.last.size >= this.maxKeys) this.last.clear();
    this.last.set(key, now);
    return true;
  }

  /** Forgets every key starting with `prefix`: the next one is news again. */
  forget(prefix: string): void {
    for (const k of this.last.keys()) if (k.startsWith(prefix)) this.last.delete(k);
  }
}
