// How a server reaches another datacenter (Consul's forwardDC): the request goes to a random alive
// server of that datacenter as the WAN pool shows it, which handles it as its own (a stale read
// there, or its leader). A server that cannot be reached is skipped for a while (or until gossip
// shows it gone and back), and another is tried: for reads always, for writes only when the
// request never left this server, since a write whose connection dropped may have been applied.
// Pure logic over a directory and a way to connect, so the rules are tested with fakes.

import type { Logger } from 'pino';
import { ConsulError, ErrorCode, messages } from '../core/errors.js';
import type { Rng } from '../core/rng.js';

import type { WanDirectory, WanServer } from './wan-directory.js';

export type { WanServer };

/** What forwarding reads from the WAN directory. */
export type WanView = Pick<WanDirectory, 'datacenters' | 'servers' | 'known'>;

/** A connection to a remote server; `isOpen` tells a dropped connection from a remote error. */
export interface RemoteConn {
  readonly isOpen: boolean;
  call(method: string, args: unknown, o: { signal?: AbortSignal }): Promise<unknown>;
}

export interface DcRouterDeps {
  wan: WanView;
  /** Dials (or reuses) a connection to a server of `dc`; a rejection means nothing was sent. */
  connect(addr: string, dc: string): Promise<RemoteConn>;
  rng: Rng;
  logger: Logger;
  now?: () => number;
  /** How long a server that could not be reached is skipped (Consul's WAN probes notice in ~30 s). */
  failedForMs?: number;
}

const FAILED_FOR_MS = 30_000;

interface Mark {
  dc: string;
  until: number;
  /** Gossip stopped listing it as alive since it was marked: its return means it is back. */
  seenGone: boolean;
}

const keyOf = (s: WanServer): string => `${s.dc}\0${s.name}\0${s.rpc}`;

export class DcRouter {
  private readonly marks = new Map<string, Mark>();
  private readonly now: () => number;
  private readonly failedForMs: number;

  constructor(private readonly d: DcRouterDeps) {
    this.now = d.now ?? Date.now;
    this.failedForMs = d.failedForMs ?? FAILED_FOR_MS;
  }

  /**
   * Runs `method` in datacenter `dc`. `safeToRepeat` (reads and local endpoints) allows another
   * server after a connection dropped mid-request; a write is only retried if it never left.
   */
  async call(
    dc: string,
    method: string,
    args: unknown,
    signal: AbortSignal,
    safeToRepeat: boolean,
  ): Promise<unknown> {
    if (!this.d.wan.known(dc)) throw new ConsulError(ErrorCode.NoDCPath, messages.noDCPath);
    const tried = new Set<string>();
    let triedMarked = false;
    let last: Error | null = null;
    for (;;) {
      signal.throwIfAborted();
      const next = this.pick(dc, tried, !triedMarked);
      if (!next) break;
      tried.add(keyOf(next.server));
      if (next.marked) triedMarked = true;
      const s = next.server;
      let conn: RemoteConn;
      try {
        conn = await this.d.connect(s.rpc, dc);
      } catch (err) {
        signal.throwIfAborted();
        last = this.failed(s, err);
        continue;
      }
      try {
        const v = await conn.call(method, args, { signal });
        this.marks.delete(keyOf(s));
        return v;
      } catch (err) {
        // The caller gave up (a blocking query whose client left): not the server's fault.
        if (signal.aborted) throw err;
        // The connection is still up: the remote datacenter answered, with an error. Its answer.
        if (conn.isOpen || !(err instanceof ConsulError)) throw forCaller(err);
        last = this.failed(s, err);
        if (!safeToRepeat) {
          throw new ConsulError(
            ErrorCode.DCUnavailable,
            `rpc error: lost the connection to server ${s.name} in datacenter "${dc}" with the ` +
              `request in flight (it may have been applied): ${err.message}`,
          );
        }
      }
    }
    throw new ConsulError(
      ErrorCode.DCUnavailable,
      `rpc error: no reachable server in datacenter "${dc}"${last ? ` (last error: ${last.message})` : ''}`,
    );
  }

  /** Servers currently skipped (for diagnostics and tests). */
  skipped(dc: string): string[] {
    return [...this.marks.entries()].filter(([, m]) => m.dc === dc).map(([k]) => k.split('\0')[1] as string);
  }

  /**
   * The next server to try: a random one not marked as failed; when none is left, the one marked
   * longest ago (once per call), so a datacenter that came back is found before its marks expire.
   */
  private pick(
    dc: string,
    tried: Set<string>,
    allowMarked: boolean,
  ): { server: WanServer; marked: boolean } | null {
    const alive = this.d.wan.servers(dc);
    this.expireMarks(dc, alive);
    const fresh: WanServer[] = [];
    let oldest: { server: WanServer; until: number } | null = null;
    for (const s of alive) {
      const k = keyOf(s);
      if (tried.has(k)) continue;
      const m = this.marks.get(k);
      if (!m) fresh.push(s);
      else if (!oldest || m.until < oldest.until) oldest = { server: s, until: m.until };
    }
    if (fresh.length > 0) return { server: fresh[this.d.rng.int(fresh.length)] as WanServer, marked: false };
    if (allowMarked && oldest) return { server: oldest.server, marked: true };
    return null;
  }

  /** Marks run out after failedForMs, or when gossip shows the server gone and then alive again. */
  private expireMarks(dc: string, alive: WanServer[]): void {
    if (this.marks.size === 0) return;
    const now = this.now();
    const present = new Set(alive.map(keyOf));
    for (const [k, m] of this.marks) {
      if (m.dc !== dc) continue;
      if (now >= m.until) this.marks.delete(k);
      else if (!present.has(k)) m.seenGone = true;
      else if (m.seenGone) this.marks.delete(k);
    }
  }

  private failed(s: WanServer, err: unknown): Error {
    const e = err instanceof Error ? err : new Error(String(err));
    this.marks.set(keyOf(s), { dc: s.dc, until: this.now() + this.failedForMs, seenGone: false });
    this.d.logger.warn(
      { server: s.name, dc: s.dc, addr: s.rpc, err: e.message },
      'cross-datacenter server unreachable; skipping it for a while',
    );
    return e;
  }
}

/**
 * A remote error as this server's caller should see it. A remote "Unavailable" (its own leader
 * could not be reached) must not reach a client agent as is: the client would take it for its own
 * server being unreachable and move off a healthy one.
 */
function forCaller(err: unknown): unknown {
  if (err instanceof ConsulError && err.code === ErrorCode.Unavailable)
    return new ConsulError(ErrorCode.DCUnavailable, err.message);
  return err;
}
