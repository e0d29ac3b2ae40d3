// The agent's side of LAN coordinates (Consul's agent.sendCoordinate): every agent sends its own
// coordinate to the servers (Coordinate.Update) at an interval that grows with the cluster, so the
// whole cluster sends about `rateTarget` updates per second (Consul: 64/s) and each agent at most
// once per `intervalMinMs` (Consul: 15 s), plus a random stagger of up to one interval.

import type { Logger } from 'pino';
import type { Rng } from '../core/rng.js';
import type { Coordinate } from './vivaldi.js';

/** Consul's sync_coordinate_rate_target and sync_coordinate_interval_min. */
export interface CoordinateSyncConfig {
  rateTarget: number;
  intervalMinMs: number;
}

export const defaultCoordinateSyncConfig: CoordinateSyncConfig = { rateTarget: 64, intervalMinMs: 15_000 };

/** Consul's lib.RateScaledInterval: n members at `rate` updates/s in all, never below `minMs`. */
export function rateScaledInterval(rate: number, minMs: number, n: number): number {
  if (!(rate > 0)) return minMs;
  return Math.max(minMs, (1000 * n) / rate);
}

export interface CoordinateSyncOptions {
  config: CoordinateSyncConfig;
  node: string;
  coordinate(): Coordinate;
  /** Members of the LAN pool (what the interval scales with). */
  clusterSize(): number;
  call(method: string, args: unknown, signal: AbortSignal): Promise<unknown>;
  rng: Rng;
  logger: Logger;
}

export class CoordinateSync {
  private timer: NodeJS.Timeout | null = null;
  private readonly abort = new AbortController();
  private stopped = false;
  /** Updates sent, and failed (for tests and stats). */
  sent = 0;
  failed = 0;

  constructor(private readonly o: CoordinateSyncOptions) {}

  start(): void {
    if (this.stopped || this.timer) return;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.abort.abort(new Error('coordinate sync stopped'));
  }

  /** The wait before the next update: the scaled interval plus a random stagger of up to as much. */
  nextDelayMs(): number {
    const { rateTarget, intervalMinMs } = this.o.config;
    const intv = rateScaledInterval(rateTarget, intervalMinMs, this.o.clusterSize());
    return intv + this.o.rng.next() * intv;
  }

  private schedule(): void {
    this.timer = setTimeout(() => void this.tick(), this.nextDelayMs());
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.timer = null;
    await this.sendNow();
    if (!this.stopped) this.schedule();
  }

  /** Sends this agent's coordinate once; a failure is logged and the next round tries again. */
  async sendNow(): Promise<boolean> {
    const req = { Node: this.o.node, Segment: '', Coord: this.o.coordinate() };
    try {
      await this.o.call('Coordinate.Update', { req }, this.abort.signal);
      this.sent++;
      return true;
    } catch (err) {
      if (this.stopped) return false;
      this.failed++;
      this.o.logger.warn({ err: (err as Error).message }, 'coordinate update error');
      return false;
    }
  }
}
