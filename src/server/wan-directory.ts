// The directory of datacenters and their servers, read from the WAN gossip pool: which datacenters
// exist, which of their servers are alive, and where their RPC and HTTP APIs are. Cross-DC
// forwarding, /v1/catalog/datacenters and the gateway's directory all read it. It is pure over its
// inputs (a members() function, a clock and a ranking), so tests drive it with fake members.

import type { Member } from '../gossip/types.js';

export interface WanServer {
  /** Node name, without the ".<dc>" suffix the WAN pool adds. */
  name: string;
  dc: string;
  /** Node ID (the `id` tag). */
  id: string;
  /** Server RPC address, "host:port". */
  rpc: string;
  /**
   * HTTP API address, "host:port", or "https://host:port" when it serves only HTTPS; null when the
   * server announces none (both disabled).
   */
  http: string | null;
}

export interface WanDirectory {
  /** This server's own datacenter (always among datacenters()). */
  readonly local: string;
  /** Every datacenter with at least one known server (alive or not), nearest first. */
  datacenters(): string[];
  /** Alive servers of `dc` (empty for an unknown dc or when all failed). */
  servers(dc: string): WanServer[];
  /** Whether any server of `dc` was ever seen (known but maybe unreachable). */
  known(dc: string): boolean;
  /** Bumped on every WAN membership change; never 0. */
  version(): number;
  /** Resolves when version() > index, or after waitMs, or on abort. */
  waitForChange(index: number, waitMs: number, signal: AbortSignal): Promise<void>;
}

/** Orders datacenter names, nearest first (coord's rankDatacenters, once wired). */
export type RankDatacenters = (dcs: string[]) => string[];

/** Without coordinates: the local datacenter first, then the others by name. */
export function localFirst(local: string): RankDatacenters {
  return (dcs) => [...dcs].sort((a, b) => (a === local ? -1 : b === local ? 1 : a < b ? -1 : a > b ? 1 : 0));
}

/** A WAN member as a server of some datacenter; null for anything that is not a usable server. */
export function wanServerOf(m: Pick<Member, 'name' | 'addr' | 'tags'>): WanServer | null {
  const t = m.tags;
  const dc = t['dc'];
  const port = Number(t['port']);
  if (t['role'] !== 'consul' || !dc || !Number.isInteger(port) || port <= 0 || port > 65535) return null;
  const suffix = `.${dc}`;
  const name = m.name.endsWith(suffix) ? m.name.slice(0, -suffix.length) : m.name;
  const http = t['http'];
  return {
    name,
    dc,
    id: t['id'] ?? '',
    rpc: hostPort(m.addr, port),
    http: http && http !== '' ? http : null,
  };
}

/** "host:port", with brackets around an IPv6 host. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

const alive = (m: Member): boolean => m.status === 'alive' || m.status === 'suspect';

interface View {
  /** Datacenters with a server not known to have left, unranked. */
  dcs: string[];
  alive: Map<string, WanServer[]>;
}

export interface MemberDirectoryOptions {
  local: string;
  /** The WAN pool's members (an empty list while there is no pool). */
  members(): Member[];
  rank?: RankDatacenters;
  /** Wall clock in ms (versions are built from it; see version()). */
  now?: () => number;
}

/**
 * The WanDirectory over a gossip pool's members. The owner calls changed() on every member event;
 * the grouping is rebuilt lazily once per change.
 *
 * Versions are wall-clock milliseconds of the last change (at least one more than the previous):
 * a client that moves to another server, or comes back to a restarted one, presents an index that
 * is comparable with that server's own, so it is neither answered in a loop nor left blocking on a
 * view that is older than what it already has.
 */
export class MemberDirectory implements WanDirectory {
  readonly local: string;
  private readonly o: MemberDirectoryOptions;
  private rank: RankDatacenters;
  private readonly now: () => number;
  private v: number;
  private view: View | null = null;
  private readonly seen = new Set<string>();
  private readonly waiters = new Set<() => void>();

  constructor(o: MemberDirectoryOptions) {
    this.o = o;
    this.local = o.local;
    this.rank = o.rank ?? localFirst(o.local);
    this.now = o.now ?? Date.now;
    this.v = Math.max(1, this.now());
    this.seen.add(o.local);
  }

  /**
   * Replaces the ordering (coord's rankDatacenters, wired once coordinates exist). Applied on every
   * datacenters() call: coordinates move without membership changes.
   */
  setRank(rank: RankDatacenters): void {
    this.rank = rank;
  }

  /** The pool's membership changed: bump the version and wake blocked readers. */
  changed(): void {
    this.view = null;
    this.v = Math.max(this.v + 1, this.now());
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  version(): number {
    return this.v;
  }

  datacenters(): string[] {
    return this.rank(this.current().dcs);
  }

  servers(dc: string): WanServer[] {
    return [...(this.current().alive.get(dc) ?? [])];
  }

  known(dc: string): boolean {
    this.current();
    return this.seen.has(dc);
  }

  waitForChange(index: number, waitMs: number, signal: AbortSignal): Promise<void> {
    if (this.v > index || signal.aborted || waitMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.waiters.delete(wake);
        resolve();
      };
      // A change that leaves the version at or below the index (cannot happen today) waits on.
      const wake = (): void => {
        if (this.v > index) done();
        else this.waiters.add(wake);
      };
      const timer = setTimeout(done, waitMs);
      signal.addEventListener('abort', done, { once: true });
      this.waiters.add(wake);
    });
  }

  private current(): View {
    if (this.view) return this.view;
    const dcs = new Set<string>([this.local]);
    const byDc = new Map<string, WanServer[]>();
    for (const m of this.o.members()) {
      const s = wanServerOf(m);
      if (!s) continue;
      this.seen.add(s.dc);
      // A server that left is gone on purpose; one that failed may come back (and still counts).
      if (m.status !== 'left') dcs.add(s.dc);
      if (!alive(m)) continue;
      let list = byDc.get(s.dc);
      if (!list) byDc.set(s.dc, (list = []));
      list.push(s);
    }
    for (const list of byDc.values()) list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.view = { dcs: [...dcs], alive: byDc };
    return this.view;
  }
}

/** Contract 4: GET /v1/internal/gateway/directory, as one server answers it. */
export interface GatewayDirectoryJson {
  Datacenter: string;
  Datacenters: { Datacenter: string; Servers: { Node: string; RPC: string; HTTP: string }[] }[];
}

export function gatewayDirectory(d: WanDirectory): GatewayDirectoryJson {
  return {
    Datacenter: d.local,
    Datacenters: d.datacenters().map((dc) => ({
      Datacenter: dc,
      Servers: d
        .servers(dc)
        .filter((s) => s.http !== null)
        .map((s) => ({ Node: s.name, RPC: s.rpc, HTTP: s.http as string })),
    })),
  };
}
