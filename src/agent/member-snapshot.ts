// What Consul's serf snapshots give a restarted agent, reduced to that: the gossip addresses of the
// pool's members last seen alive, kept in the data dir (<data-dir>/serf/local.members for the LAN,
// serf/remote.members for a server's WAN pool) and joined again at start. Without it an agent started
// with no -retry-join (the first server of Consul's Docker tutorial, `docker start node1`) would come
// back alone and wait for the others' reconnect attempts at an address that may have changed; a
// server alone in its datacenter would lose the other datacenters the same way. A graceful leave
// removes the file, as Consul does not rejoin after a leave by default (rejoin_after_leave).

import { readFileSync, rmSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { Member } from '../gossip/types.js';
import { retryJoin, type JoinLoopDeps } from './lan.js';

export const LAN_SNAPSHOT_FILE = join('serf', 'local.members');
export const WAN_SNAPSHOT_FILE = join('serf', 'remote.members');
/** Member events come in bursts (a join brings the whole pool): one write per burst. */
const WRITE_DELAY_MS = 1000;

/**
 * Consul's rejoin from its serf snapshot: a few attempts (five, a second apart) at the members a
 * snapshot listed before the restart; -retry-join, if any, keeps going on its own.
 */
export function rejoinPrevious(
  previous: string[],
  d: Pick<JoinLoopDeps, 'join' | 'logger' | 'stopped'>,
): void {
  if (previous.length === 0) return;
  d.logger.info({ addrs: previous }, 're-joining the members known before the restart');
  void retryJoin({ ...d, addrs: previous, intervalMs: 1000, max: 5 });
}

export class MemberSnapshot {
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** What the file holds (or is being written with): most bursts change who is there, not the list. */
  private written = '';
  private writing: Promise<void> = Promise.resolve();
  /** The directory exists: made once, not on every write of a join's burst. */
  private dirMade = false;

  constructor(
    private readonly file: string,
    private readonly self: string,
    private readonly members: () => Member[],
    private readonly logger: Logger,
  ) {}

  /** "ip:port" of the members alive when the file was last written; [] without one. */
  load(): string[] {
    try {
      const list = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      return Array.isArray(list) ? list.filter((a): a is string => typeof a === 'string') : [];
    } catch {
      return [];
    }
  }

  /** A member changed: write the alive list soon. */
  changed(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.write();
    }, WRITE_DELAY_MS);
    this.timer.unref();
  }

  /** Stops writing; `forget` also removes the file (after a graceful leave). */
  close(forget: boolean): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!forget) return;
    rmSync(this.file, { force: true });
    // A write already past its closed check may still land: remove whatever it leaves.
    void this.writing.then(() => rm(this.file, { force: true })).catch(() => undefined);
  }

  /** Asynchronous, so a slow disk never stalls gossip; writes never overlap. */
  private write(): void {
    if (this.closed) return;
    const addrs = this.members()
      .filter((m) => m.status === 'alive' && m.name !== this.self)
      .map((m) => `${m.addr}:${m.port}`)
      .sort();
    const text = `${JSON.stringify(addrs)}\n`;
    if (text === this.written) return;
    this.written = text;
    this.writing = this.writing.then(async () => {
      if (this.closed) return;
      try {
        if (!this.dirMade) await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
        this.dirMade = true;
        const tmp = `${this.file}.tmp`;
        await writeFile(tmp, text, { mode: 0o600 });
        if (!this.closed) await rename(tmp, this.file);
      } catch (err) {
        // Only a restart's convenience is lost: log, never fail the agent for it.
        this.written = '';
        this.dirMade = false;
        this.logger.warn(
          { err: (err as Error).message, file: this.file },
          'cannot write the member snapshot',
        );
      }
    });
  }
}
