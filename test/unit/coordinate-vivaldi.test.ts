// Vivaldi network coordinates: convergence on synthetic latency matrices (seeded), the distance
// rules, bad input refused or reset, and the ranking of datacenters and sort by distance.
import { describe, expect, it } from 'vitest';
import { seededRng, type Rng } from '../../src/core/rng.js';
import {
  VivaldiClient,
  defaultVivaldiConfig,
  distanceMs,
  isValidCoordinate,
  newCoordinate,
  rankDatacenters,
  sortByDistance,
  type Coordinate,
} from '../../src/coordinate/vivaldi.js';

/** A synthetic network: points in a plane (ms), each with an access-link height (ms). */
function network(rng: Rng, n: number, spanMs: number): { rtt: (i: number, j: number) => number } {
  const pts = Array.from({ length: n }, () => [rng.next() * spanMs, rng.next() * spanMs] as const);
  const heights = Array.from({ length: n }, () => 0.2 + rng.next() * 2);
  return {
    rtt: (i, j) => {
      const a = pts[i]!;
      const b = pts[j]!;
      return Math.hypot(a[0] - b[0], a[1] - b[1]) + heights[i]! + heights[j]!;
    },
  };
}

/** Every node measures random peers (with a little jitter) for `rounds` rounds. */
function simulate(
  rng: Rng,
  n: number,
  rtt: (i: number, j: number) => number,
  rounds: number,
  jitter = 0.05,
): VivaldiClient[] {
  const clients = Array.from({ length: n }, (_, i) => new VivaldiClient(seededRng(1000 + i)));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < n; i++) {
      let j = rng.int(n - 1);
      if (j >= i) j++;
      const measured = rtt(i, j) * (1 + (rng.next() - 0.5) * 2 * jitter);
      const res = clients[i]!.update(`n${j}`, clients[j]!.coordinate(), measured);
      expect(res.ok).toBe(true);
    }
  }
  return clients;
}

function relativeErrors(clients: VivaldiClient[], rtt: (i: number, j: number) => number): number[] {
  const errs: number[] = [];
  for (let i = 0; i < clients.length; i++) {
    for (let j = i + 1; j < clients.length; j++) {
      const est = distanceMs(clients[i]!.coordinate(), clients[j]!.coordinate());
      const truth = rtt(i, j);
      errs.push(Math.abs(est - truth) / truth);
    }
  }
  return errs.sort((a, b) => a - b);
}

const quantile = (sorted: number[], q: number): number => sorted[Math.floor(q * (sorted.length - 1))]!;

describe('vivaldi: convergence', () => {
  it('estimates the RTTs of a 30-node LAN-like network within a few percent', () => {
    const rng = seededRng(7);
    const { rtt } = network(rng, 30, 5);
    const clients = simulate(rng, 30, rtt, 300);
    const errs = relativeErrors(clients, rtt);
    // Seen: median 2.3%, p90 7%. Fresh coordinates (all at the origin) are off by ~100%.
    expect(quantile(errs, 0.5)).toBeLessThan(0.06);
    expect(quantile(errs, 0.9)).toBeLessThan(0.15);
    const fresh = relativeErrors(simulate(seededRng(7), 30, rtt, 0), rtt);
    expect(quantile(fresh, 0.5)).toBeGreaterThan(0.5);
  });

  it('estimates the RTTs of a 20-node WAN-like network (tens of ms)', () => {
    const rng = seededRng(8);
    const { rtt } = network(rng, 20, 150);
    const clients = simulate(rng, 20, rtt, 300);
    const errs = relativeErrors(clients, rtt);
    // Seen: median 1.6%, p90 5.6%.
    expect(quantile(errs, 0.5)).toBeLessThan(0.05);
    expect(quantile(errs, 0.9)).toBeLessThan(0.12);
    // The error estimate itself has come down from its maximum with the model's fit.
    for (const c of clients) expect(c.coordinate().Error).toBeLessThan(0.5);
  });
});

const coord = (vec: number[], over: Partial<Coordinate> = {}): Coordinate => ({
  Vec: [...vec, ...new Array<number>(8 - vec.length).fill(0)],
  Error: 0.5,
  Adjustment: 0,
  Height: 0,
  ...over,
});

describe('vivaldi: distances', () => {
  it('is the Euclidean distance plus both heights and adjustments, in ms, and symmetric', () => {
    const a = coord([0.003, 0.004], { Height: 0.0005, Adjustment: 0.0002 });
    const b = coord([0, 0], { Height: 0.0005, Adjustment: -0.0001 });
    expect(distanceMs(a, b)).toBeCloseTo(5 + 1 + 0.1, 9);
    expect(distanceMs(b, a)).toBe(distanceMs(a, b));
    const rng = seededRng(3);
    for (let i = 0; i < 100; i++) {
      const x = coord(
        Array.from({ length: 8 }, () => rng.next() - 0.5),
        { Height: rng.next() / 100 },
      );
      const y = coord(
        Array.from({ length: 8 }, () => rng.next() - 0.5),
        { Adjustment: rng.next() / 100 },
      );
      expect(distanceMs(x, y)).toBe(distanceMs(y, x));
      expect(distanceMs(x, x)).toBeCloseTo(2 * x.Height * 1000, 9);
    }
  });

  it('ignores adjustments that would make the distance zero or negative', () => {
    const a = coord([0.001], { Adjustment: -0.002 });
    const b = coord([0]);
    expect(distanceMs(a, b)).toBeCloseTo(1, 9);
  });

  it('is infinite for a missing or incompatible coordinate', () => {
    const a = coord([0.001]);
    expect(distanceMs(a, null)).toBe(Infinity);
    expect(distanceMs(undefined, a)).toBe(Infinity);
    expect(distanceMs(a, { ...a, Vec: [0.001, 0] })).toBe(Infinity);
  });

  it("starts at the origin with the maximal error and the minimal height (Consul's defaults)", () => {
    expect(newCoordinate()).toEqual({
      Vec: [0, 0, 0, 0, 0, 0, 0, 0],
      Error: 1.5,
      Adjustment: 0,
      Height: 10e-6,
    });
    expect(defaultVivaldiConfig).toMatchObject({
      ce: 0.25,
      cc: 0.25,
      adjustmentWindowSize: 20,
      latencyFilterSize: 3,
    });
  });
});

describe('vivaldi: updates and bad input', () => {
  it('moves towards the measured RTT, and a single slow sample does not move it (median filter)', () => {
    const c = new VivaldiClient(seededRng(1));
    const peer = coord([0.01], { Error: 0.1 });
    for (let i = 0; i < 200; i++) c.update('p', peer, 20);
    expect(c.distanceMs(peer)).toBeCloseTo(20, 0);
    const before = c.coordinate();
    // One 500 ms outlier among 20 ms samples: the median of the last three is still 20 ms.
    expect(c.update('p', peer, 500).ok).toBe(true);
    expect(Math.abs(c.distanceMs(peer) - distanceMs(before, peer))).toBeLessThan(0.5);
  });

  it('refuses an invalid or incompatible peer coordinate and an RTT out of range, changing nothing', () => {
    const c = new VivaldiClient(seededRng(1));
    c.update('p', coord([0.01]), 10);
    const before = c.coordinate();
    const bad: [unknown, number][] = [
      [coord([NaN]), 10],
      [coord([0.01], { Height: Infinity }), 10],
      [coord([0.01], { Error: NaN }), 10],
      [{ ...coord([0.01]), Vec: [0.01, 0] }, 10],
      [{ Vec: [] }, 10],
      [coord([0.01]), -1],
      [coord([0.01]), 10_001],
      [coord([0.01]), NaN],
    ];
    for (const [peer, rtt] of bad) {
      const r = c.update('p', peer as Coordinate, rtt);
      expect(r.ok).toBe(false);
    }
    expect(c.coordinate()).toEqual(before);
    expect(isValidCoordinate(c.coordinate())).toBe(true);
  });

  it('resets to the origin when the numbers blow up, and counts it', () => {
    const c = new VivaldiClient(seededRng(1));
    // Finite but absurd: the force overflows to Infinity.
    const huge = coord([1e308], { Error: 1e-300, Height: 1e308 });
    const r = c.update('p', huge, 10);
    expect(r.ok).toBe(true);
    expect(c.resets).toBe(1);
    expect(c.coordinate()).toEqual(newCoordinate());
  });

  it('nodes that start at the same point spread out (random direction from the injected Rng)', () => {
    const a = new VivaldiClient(seededRng(1));
    const b = new VivaldiClient(seededRng(2));
    a.update('b', b.coordinate(), 5);
    expect(a.coordinate().Vec.some((x) => x !== 0)).toBe(true);
    // The same seed replays the same direction.
    const a2 = new VivaldiClient(seededRng(1));
    a2.update('b', newCoordinate(), 5);
    expect(a2.coordinate()).toEqual(a.coordinate());
  });

  it('accepts and refuses coordinates by shape', () => {
    expect(isValidCoordinate(coord([1]))).toBe(true);
    for (const v of [
      null,
      1,
      'x',
      {},
      { Vec: [1], Error: 1, Adjustment: 0 },
      { ...coord([1]), Vec: ['1'] },
    ]) {
      expect(isValidCoordinate(v)).toBe(false);
    }
  });
});

describe('vivaldi: ranking', () => {
  const self = coord([0]);
  it('ranks datacenters by the median RTT to their servers, local first', () => {
    const servers = [
      { dc: 'dc1', coord: coord([0.5]) }, // local: zero whatever the coordinate says
      { dc: 'dc2', coord: coord([0.03]) },
      { dc: 'dc2', coord: coord([0.031]) },
      { dc: 'dc2', coord: coord([0.2]) }, // an outlier: the median ignores it
      { dc: 'dc3', coord: coord([0.01]) },
      { dc: 'dc3', coord: coord([0.05]) },
      { dc: 'dc3', coord: coord([0.06]) },
      { dc: 'dc4', coord: null },
    ];
    expect(rankDatacenters(self, servers, 'dc1')).toEqual(['dc1', 'dc2', 'dc3', 'dc4']);
  });

  it('without coordinates: the local datacenter, then the others by name', () => {
    const servers = ['dc9', 'dc3', 'dc1', 'dc2'].map((dc) => ({ dc, coord: coord([0.01]) }));
    expect(rankDatacenters(null, servers, 'dc2')).toEqual(['dc2', 'dc1', 'dc3', 'dc9']);
    const none = ['b', 'a', 'c'].map((dc) => ({ dc, coord: null }));
    expect(rankDatacenters(self, none, 'c')).toEqual(['c', 'a', 'b']);
  });

  it('sorts by distance, stable, without coordinates last, untouched without a source', () => {
    const items = [
      { n: 'far', c: coord([0.05]) },
      { n: 'none1', c: null },
      { n: 'near', c: coord([0.001]) },
      { n: 'none2', c: null },
      { n: 'near2', c: coord([0.001]) },
    ];
    expect(sortByDistance(items, self, (i) => i.c).map((i) => i.n)).toEqual([
      'near',
      'near2',
      'far',
      'none1',
      'none2',
    ]);
    expect(sortByDistance(items, null, (i) => i.c)).toBe(items);
  });
});
