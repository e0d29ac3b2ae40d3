// Network coordinates through gossip, simulated: members on a synthetic latency map (a plane plus
// an access-link height per member) probe each other at Consul's LAN timings; the coordinates
// their acks carry converge until each member's estimate of every other is close to the truth.
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/rng.js';
import { distanceMs } from '../../src/coordinate/vivaldi.js';
import { lanTimings } from '../../src/gossip/types.js';
import { GossipSim, defaultGossipSimOptions, startCluster } from './gossip-harness.js';

describe('gossip simulation: network coordinates', () => {
  it('16 members on a 20 ms latency map estimate each other\u2019s RTT within ~10% after 3 minutes', () => {
    const n = 16;
    const map = seededRng(42);
    const pos = Array.from({ length: n }, () => [map.next() * 20, map.next() * 20] as const);
    const height = Array.from({ length: n }, () => 0.1 + map.next() * 0.5);
    const idx = (name: string): number => Number(name.slice(1));
    const rtt = (a: number, b: number): number =>
      Math.hypot(pos[a]![0] - pos[b]![0], pos[a]![1] - pos[b]![1]) + height[a]! + height[b]!;
    const jitter = seededRng(43);
    const s = new GossipSim({
      ...defaultGossipSimOptions,
      lossRate: 0.02,
      timings: lanTimings,
      seed: 7,
      // Half the round trip each way, with ±5% jitter.
      linkDelayMs: (from, to) => (rtt(idx(from), idx(to)) / 2) * (0.95 + jitter.next() * 0.1),
    });
    const nodes = startCluster(s, n);
    s.runUntil('convergence', () => s.joined() && s.converged(), 60_000, 100);
    s.run(180_000);

    const errors: number[] = [];
    let known = 0;
    for (const a of nodes) {
      const core = a.core!;
      for (const b of nodes) {
        if (a === b) continue;
        const est = distanceMs(core.coordinate(), b.core!.coordinate());
        errors.push(Math.abs(est - rtt(idx(a.name), idx(b.name))) / rtt(idx(a.name), idx(b.name)));
        if (core.coordinateOf(b.name)) known++;
      }
      expect(core.counters['coordinate.updates']).toBeGreaterThan(100);
      expect(core.counters['coordinate.rejected']).toBe(0);
    }
    errors.sort((x, y) => x - y);
    const median = errors[Math.floor(errors.length / 2)]!;
    const p90 = errors[Math.floor(errors.length * 0.9)]!;
    console.log(
      `[gossip sim] coordinates: median error ${(median * 100).toFixed(1)}%, p90 ${(p90 * 100).toFixed(1)}%`,
    );
    // Seen: median 2.2%, p90 10%.
    expect(median).toBeLessThan(0.06);
    expect(p90).toBeLessThan(0.2);
    // Every member has probed (and so holds the coordinate of) nearly every other.
    expect(known).toBeGreaterThan(0.9 * n * (n - 1));
  });
});
