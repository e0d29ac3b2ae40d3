// Open connections counted by remote address, for the per-client caps of the HTTP API, the server
// RPC port and DNS over TCP: one address filling a listener must not lock everyone else out.

/** The address as counted: an IPv4 client seen through a dual-stack socket counts as itself. */
export function clientAddress(remote: string | undefined): string {
  if (!remote) return '?';
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
}

export class PerAddressCount {
  private readonly open = new Map<string, number>();

  /** @param max at most this many at once from one address; 0: no cap (still counted). */
  constructor(private readonly max: number) {}

  /** Takes a slot for `addr`; false (and nothing taken) when the address is at its cap. */
  acquire(addr: string): boolean {
    const n = this.open.get(addr) ?? 0;
    if (this.max > 0 && n >= this.max) return false;
    this.open.set(addr, n + 1);
    return true;
  }

  release(addr: string): void {
    const n = (this.open.get(addr) ?? 0) - 1;
    if (n <= 0) this.open.delete(addr);
    else this.open.set(addr, n);
  }

  count(addr: string): number {
    return this.open.get(addr) ?? 0;
  }
}
