// Datacenters sorted nearest first, simulated: the servers of three datacenters in one WAN-like
// gossip pool (Consul's WAN timings, role=consul and dc tags as the agent's WAN tags) on a latency
// map where dc2 sits between dc1 and dc3. The coordinates their probe acks carry converge, and
// datacenterRanker (what /v1/catalog/datacenters, prepared-query NearestN and the gateway's
// failover order use) ranks from each server's point of view: its own dc first, then by RTT.
// Without coordinates the ranking falls back to names, which gets dc3's view wrong.
import { describe, expect, it } from 'vitest';
import { datacenterRanker } from '../../src/coordinate/pool.js';
import { distanceMs } from '../../src/coordinate/vivaldi.js';
import { seededRng } from '../../src/core/rng.js';
import { wanTimings } from '../../src/gossip/types.js';
import { GossipSim, defaultGossipSimOptions, type SimNode } from './gossip-harness.js';

const DCS = ['dc1', 'dc2', 'dc3'] as const;
/** One-way delays in ms between datacenters (symmetric); inside one, half a millisecond. */
const ONE_WAY: Record<string, number> = { 'dc1-dc2': 10, 'dc1-dc3': 60, 'dc2-dc3': 50 };
const dcOf = (name: string): string => name.slice(name.indexOf('.') + 1);
const oneWay = (a: string, b: string): number => {
  const [x, y] = [dcOf(a), dcOf(b)].sort() as [string, string];
  return x === y ? 0.5 : (ONE_WAY[`${x}-${y}`] as number);
};
/** What each datacenter's servers must rank: own first, then by the RTTs above. */
const WANT: Record<string, string[]> = {
  dc1: ['dc1', 'dc2', 'dc3'],
  dc2: ['dc2', 'dc1', 'dc3'],
  dc3: ['dc3', 'dc2', 'dc1'],
};

// GOSSIP_SEED=<n> replays one seed.
const seeds = process.env['GOSSIP_SEED'] ? [Number(process.env['GOSSIP_SEED'])] : [11, 12, 13];

describe('gossip simulation: datacenters ranked by WAN coordinates', () => {
  for (const seed of seeds) {
    it(`three datacenters of three servers rank each other nearest first (seed ${seed})`, () => {
      const hint = `seed ${seed}; replay: GOSSIP_SEED=${seed} npx vitest run test/sim/datacenter-ranking.test.ts`;
      const jitter = seededRng(seed * 31 + 1);
      const s = new GossipSim({
        ...defaultGossipSimOptions,
        lossRate: 0.01,
        timings: wanTimings,
        seed,
        // ±5% jitter per packet, as a real link has.
        linkDelayMs: (from, to) => oneWay(from, to) * (0.95 + jitter.next() * 0.1),
        tagsOf: (name) => ({ role: 'consul', dc: dcOf(name) }),
      });
      const nodes: SimNode[] = [];
      for (const dc of DCS) for (let i = 1; i <= 3; i++) nodes.push(s.add(`s${i}.${dc}`));
      const seedNode = nodes[0] as SimNode;
      for (const n of nodes.slice(1)) s.q.schedule(s.rng.next() * 200, () => s.join(n, seedNode));
      s.runUntil('convergence', () => s.joined() && s.converged(), 120_000, 100);
      // Ten simulated minutes at WAN timings: each server probes each other one ten times or so.
      s.run(600_000);

      // The estimates behind the ranking: each server's RTT to every other, against the map's.
      let worst = 0;
      for (const a of nodes)
        for (const b of nodes) {
          if (a === b || dcOf(a.name) === dcOf(b.name)) continue;
          const truth = 2 * oneWay(a.name, b.name);
          const est = distanceMs(a.core!.coordinate(), b.core!.coordinate());
          worst = Math.max(worst, Math.abs(est - truth) / truth);
        }
      console.log(
        `[gossip sim] seed ${seed}: worst cross-dc RTT estimate error ${(worst * 100).toFixed(1)}%`,
      );
      // Seen: 2.2% to 6.9% over seeds 1-15. The ranking needs under 10% (dc3's neighbours differ by 20%).
      expect(worst, hint).toBeLessThan(0.1);

      for (const n of nodes) {
        const core = n.core;
        expect(core, hint).not.toBeNull();
        if (!core) continue;
        expect(core.counters['coordinate.updates'], `${n.name}: ${hint}`).toBeGreaterThan(50);
        const rank = datacenterRanker(core, dcOf(n.name));
        // The order the caller gives must not matter.
        expect(rank(['dc3', 'dc1', 'dc2']), `${n.name}: ${hint}`).toEqual(WANT[dcOf(n.name)]);
        expect(rank(['dc1', 'dc2', 'dc3']), `${n.name}: ${hint}`).toEqual(WANT[dcOf(n.name)]);
      }
    });
  }
});
