// The leader's side of LAN coordinates (Consul's Coordinate endpoint): agents send their coordinate
// every so often (Coordinate.Update), the leader keeps the latest per node and segment in memory
// and writes them through Raft in batches every update period, at most batchSize × maxBatches per
// period (the rest is dropped with a warning: the agents send again soon).

import type { Logger } from 'pino';
import { badRequest } from '../core/errors.js';
import type { FsmCommand } from '../state/commands.js';
import type { CoordinateEntry } from '../state/coordinates.js';
import { compatible, isValidCoordinate, type Coordinate } from './vivaldi.js';

/** Consul's coordinate_update_* (agent/consul/config.go), and -dev's 100 ms period. */
export interface CoordinateUpdateConfig {
  periodMs: number;
  batchSize: number;
  maxBatches: number;
}

export const defaultCoordinateUpdateConfig: CoordinateUpdateConfig = {
  periodMs: 5000,
  batchSize: 128,
  maxBatches: 5,
};

/**
 * A Coordinate.Update request ({Node, Segment, Coord}) checked as Consul does: a coordinate with
 * NaN or Infinity is "invalid coordinate", another dimensionality than this server's own
 * "incompatible coordinate" (400 here; Consul answers 500 with the same text).
 */
export function validateCoordinateUpdate(req: unknown, own: Coordinate | null): CoordinateEntry {
  if (typeof req !== 'object' || req === null || Array.isArray(req))
    throw badRequest('Request decode failed');
  const r = req as Record<string, unknown>;
  const node = r['Node'];
  const segment = r['Segment'] ?? '';
  if (typeof node !== 'string' || node === '') throw badRequest('Must provide node');
  if (typeof segment !== 'string') throw badRequest('Segment must be a string');
  const coord = r['Coord'];
  if (!isValidCoordinate(coord)) throw badRequest('invalid coordinate');
  if (own && !compatible(own, coord)) throw badRequest('incompatible coordinate');
  const c: Coordinate = {
    Vec: [...coord.Vec],
    Error: coord.Error,
    Adjustment: coord.Adjustment,
    Height: coord.Height,
  };
  return { Node: node, Segment: segment, Coord: c };
}

export interface CoordinateUpdatesOptions {
  config: CoordinateUpdateConfig;
  /** Proposes a command through Raft (this server must lead). */
  apply(cmd: FsmCommand): Promise<unknown>;
  logger: Logger;
}

export class CoordinateUpdates {
  private pending = new Map<string, CoordinateEntry>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(private readonly o: CoordinateUpdatesOptions) {}

  /** Keeps the latest update per node and segment until the next flush. */
  enqueue(e: CoordinateEntry): void {
    this.pending.set(`${e.Node.toLowerCase()}:${e.Segment}`, e);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Flushes every period while this server leads. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.o.config.periodMs);
    this.timer.unref();
  }

  /** Leadership lost: what is pending was sent to the wrong server; the agents send again. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.pending.clear();
  }

  /** Writes what is pending in batches (one flush at a time); failures are logged, not thrown. */
  flush(): Promise<void> {
    this.flushing ??= this.flushNow().finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async flushNow(): Promise<void> {
    const { batchSize, maxBatches } = this.o.config;
    const all = [...this.pending.values()];
    this.pending = new Map();
    if (all.length === 0) return;
    const limit = batchSize * maxBatches;
    if (all.length > limit) {
      this.o.logger.warn({ discarded: all.length - limit }, 'coordinate: discarded coordinate updates');
    }
    const updates = all.slice(0, limit);
    for (let i = 0; i < updates.length; i += batchSize) {
      try {
        const r = await this.o.apply({
          type: 'coordinateBatchUpdate',
          updates: updates.slice(i, i + batchSize),
        });
        if (r instanceof Error) throw r;
      } catch (err) {
        this.o.logger.warn({ err: (err as Error).message }, 'coordinate: batch update failed');
        return;
      }
    }
  }
}
