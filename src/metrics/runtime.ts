// The Node.js runtime as an agent watches it (Consul's consul.runtime.*, which are Go's): memory,
// garbage collections as they happen, and the event loop's delay and utilization over 10 s windows
// (the interval Consul aggregates over), so a scrape sees the recent past rather than an average
// since the start.

import {
  PerformanceObserver,
  monitorEventLoopDelay,
  performance,
  type IntervalHistogram,
} from 'node:perf_hooks';

const WINDOW_MS = 10_000;
const NS_PER_MS = 1e6;
/**
 * The delay monitor's sampling interval; what it records includes it, so it is taken off. Once a
 * second: at 10 ms (Node's default) the monitor's timer alone cost an idle client agent about
 * 0.35% of a core (measured: 1.6% against 1.2% for the agent in all), more than the gossip it
 * watches. A stall shows when it holds up that once-a-second timer.
 */
const RESOLUTION_MS = 1000;

export interface LoopStats {
  meanMs: number;
  p99Ms: number;
  maxMs: number;
  utilization: number;
}

export class RuntimeWatch {
  private readonly loop: IntervalHistogram;
  private readonly gc: PerformanceObserver;
  private readonly timer: NodeJS.Timeout;
  private elu = performance.eventLoopUtilization();
  private last: LoopStats | null = null;
  private mem: NodeJS.MemoryUsage | null = null;
  private memAt = 0;

  /** `onGc` gets each collection's pause in nanoseconds. */
  constructor(onGc: (pauseNs: number) => void) {
    this.loop = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.loop.enable();
    this.gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) onGc(e.duration * NS_PER_MS);
    });
    this.gc.observe({ entryTypes: ['gc'] });
    this.timer = setInterval(() => this.roll(), WINDOW_MS);
    this.timer.unref();
  }

  /** The last complete window; the current one until a window has completed. */
  loopStats(): LoopStats {
    return this.last ?? this.current();
  }

  /** Memory use, read at most once per second (one scrape reads it for four gauges, twice). */
  memory(now = Date.now()): NodeJS.MemoryUsage {
    if (!this.mem || now - this.memAt >= 1000) {
      this.mem = process.memoryUsage();
      this.memAt = now;
    }
    return this.mem;
  }

  stop(): void {
    clearInterval(this.timer);
    this.loop.disable();
    this.gc.disconnect();
  }

  private current(): LoopStats {
    const h = this.loop;
    // An empty histogram reports NaN / huge sentinels: nothing measured yet is 0.
    const ms = (ns: number): number =>
      Number.isFinite(ns) && h.count > 0 ? Math.max(0, ns / NS_PER_MS - RESOLUTION_MS) : 0;
    return {
      meanMs: ms(h.mean),
      p99Ms: ms(h.percentile(99)),
      maxMs: ms(h.max),
      utilization: performance.eventLoopUtilization(this.elu).utilization,
    };
  }

  private roll(): void {
    this.last = this.current();
    this.loop.reset();
    this.elu = performance.eventLoopUtilization();
  }
}
