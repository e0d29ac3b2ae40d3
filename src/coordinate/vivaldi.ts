// Network coordinates: Vivaldi (Dabek et al., SIGCOMM 2004) with the refinements serf uses and
// Consul exposes: a height term (the access link every path crosses), an error estimate that
// weighs each observation, an adjustment term averaged over recent observations (Lee et al.,
// "On suitability of Euclidean embedding for host-based network coordinate systems"), a median
// filter over each peer's recent RTTs (Ledlie et al., "Network Coordinates in the Wild") and a
// little gravity towards the origin so a cluster does not drift away forever.
//
// Everything is in seconds, as in Consul's JSON ({Vec, Error, Adjustment, Height}); distanceMs()
// gives milliseconds. Pure: randomness (only needed to pick a direction when two coordinates sit
// on top of each other) comes from an injected Rng, and nothing reads a clock.

import type { Rng } from '../core/rng.js';

/** Consul's coordinate JSON (serf's coordinate.Coordinate); every length in seconds. */
export interface Coordinate {
  Vec: number[];
  Error: number;
  Adjustment: number;
  Height: number;
}

export interface VivaldiConfig {
  dimensionality: number;
  /** Error of a fresh coordinate, and the cap on the error. */
  errorMax: number;
  /** How much one observation may move the error estimate (Vivaldi's c_e). */
  ce: number;
  /** How much one observation may move the coordinate (Vivaldi's c_c). */
  cc: number;
  /** Observations averaged into the adjustment term; 0 turns the term off. */
  adjustmentWindowSize: number;
  /** The smallest height (seconds). */
  heightMin: number;
  /** RTT samples kept per peer; the median of them is what an update uses. */
  latencyFilterSize: number;
  /** Gravity's scale (seconds): the pull towards the origin grows with (distance / rho)². */
  gravityRho: number;
}

/** serf's coordinate.DefaultConfig(), which Consul uses for the LAN and WAN pools alike. */
export const defaultVivaldiConfig: VivaldiConfig = {
  dimensionality: 8,
  errorMax: 1.5,
  ce: 0.25,
  cc: 0.25,
  adjustmentWindowSize: 20,
  heightMin: 10e-6,
  latencyFilterSize: 3,
  gravityRho: 150,
};

/** Below this (seconds) two points coincide and an RTT counts as this much. */
const ZERO_THRESHOLD = 1e-6;
/** An RTT above this is not a measurement of the network (a paused process): refused. */
export const MAX_RTT_MS = 10_000;

/** A coordinate at the origin, knowing nothing (maximal error). */
export function newCoordinate(cfg: VivaldiConfig = defaultVivaldiConfig): Coordinate {
  return {
    Vec: new Array<number>(cfg.dimensionality).fill(0),
    Error: cfg.errorMax,
    Adjustment: 0,
    Height: cfg.heightMin,
  };
}

export function cloneCoordinate(c: Coordinate): Coordinate {
  return { Vec: [...c.Vec], Error: c.Error, Adjustment: c.Adjustment, Height: c.Height };
}

/**
 * The shape of a coordinate with finite numbers everywhere (serf's IsValid, plus the shape check a
 * value from the network or a JSON body needs). Any dimensionality of at least 1.
 */
export function isValidCoordinate(c: unknown): c is Coordinate {
  if (typeof c !== 'object' || c === null) return false;
  const x = c as Record<string, unknown>;
  const vec = x['Vec'];
  if (!Array.isArray(vec) || vec.length === 0) return false;
  if (!vec.every((v) => typeof v === 'number' && Number.isFinite(v))) return false;
  return [x['Error'], x['Adjustment'], x['Height']].every((v) => typeof v === 'number' && Number.isFinite(v));
}

/** Same dimensionality: only such coordinates can be compared. */
export function compatible(a: Coordinate, b: Coordinate): boolean {
  return a.Vec.length === b.Vec.length;
}

function magnitudeOfDiff(a: number[], b: number[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    sum += d * d;
  }
  return Math.sqrt(sum);
}

/** Euclidean distance plus both heights, without the adjustment terms (seconds). */
function rawDistance(a: Coordinate, b: Coordinate): number {
  return magnitudeOfDiff(a.Vec, b.Vec) + a.Height + b.Height;
}

/**
 * Estimated RTT in seconds (serf's DistanceTo): the raw distance plus both adjustments, unless the
 * adjustments would make it zero or negative. Infinity for incompatible coordinates, so that
 * anything sorted by distance puts them last instead of failing.
 */
export function distanceSeconds(a: Coordinate, b: Coordinate): number {
  if (!compatible(a, b)) return Infinity;
  const raw = rawDistance(a, b);
  const adjusted = raw + a.Adjustment + b.Adjustment;
  return adjusted > 0 ? adjusted : raw;
}

/** Estimated RTT in milliseconds; Infinity when either coordinate is missing or incompatible. */
export function distanceMs(a: Coordinate | null | undefined, b: Coordinate | null | undefined): number {
  if (!a || !b) return Infinity;
  return distanceSeconds(a, b) * 1000;
}

/** The unit vector from b towards a, and the distance between them (0 when they coincide). */
function unitVectorAt(rng: Rng, a: number[], b: number[]): { unit: number[]; mag: number } {
  const d = a.map((x, i) => x - (b[i] as number));
  const mag = Math.hypot(...d);
  if (mag > ZERO_THRESHOLD) return { unit: d.map((x) => x / mag), mag };
  // On top of each other: any direction will do, but a random one, so that nodes that all start
  // at the origin spread out instead of moving in lockstep.
  const r = d.map(() => rng.next() - 0.5);
  const rmag = Math.hypot(...r);
  if (rmag > ZERO_THRESHOLD) return { unit: r.map((x) => x / rmag), mag: 0 };
  const unit = new Array<number>(a.length).fill(0);
  unit[0] = 1;
  return { unit, mag: 0 };
}

/**
 * Moves `c` by `force` seconds along the line from `other` (a positive force pushes away, a
 * negative one pulls closer). The height moves in proportion, never below the minimum.
 */
function applyForce(
  cfg: VivaldiConfig,
  rng: Rng,
  c: Coordinate,
  force: number,
  other: Coordinate,
): Coordinate {
  const { unit, mag } = unitVectorAt(rng, c.Vec, other.Vec);
  const out = cloneCoordinate(c);
  out.Vec = c.Vec.map((x, i) => x + (unit[i] as number) * force);
  if (mag > ZERO_THRESHOLD) {
    out.Height = Math.max(((c.Height + other.Height) * force) / mag + c.Height, cfg.heightMin);
  }
  return out;
}

function finite(c: Coordinate): boolean {
  return (
    c.Vec.every(Number.isFinite) &&
    Number.isFinite(c.Error) &&
    Number.isFinite(c.Adjustment) &&
    Number.isFinite(c.Height)
  );
}

export type UpdateResult = { ok: true; coordinate: Coordinate } | { ok: false; reason: string };

/**
 * One node's view of its own coordinate, moved by every RTT it measures to a peer whose coordinate
 * it learned with the measurement (serf's coordinate.Client).
 */
export class VivaldiClient {
  /** How many times the coordinate went invalid (NaN, Infinity) and was reset to the origin. */
  resets = 0;
  private coord: Coordinate;
  private readonly origin: Coordinate;
  private readonly adjustmentSamples: number[];
  private adjustmentIndex = 0;
  private readonly latencySamples = new Map<string, number[]>();

  constructor(
    private readonly rng: Rng,
    private readonly cfg: VivaldiConfig = defaultVivaldiConfig,
  ) {
    if (!(Number.isInteger(cfg.dimensionality) && cfg.dimensionality > 0)) {
      throw new RangeError('vivaldi: dimensionality must be a positive integer');
    }
    this.coord = newCoordinate(cfg);
    this.origin = newCoordinate(cfg);
    this.adjustmentSamples = new Array<number>(cfg.adjustmentWindowSize).fill(0);
  }

  /** A copy of this node's coordinate. */
  coordinate(): Coordinate {
    return cloneCoordinate(this.coord);
  }

  /** Replaces this node's coordinate (a restart that kept it); false when it is unusable. */
  setCoordinate(c: Coordinate): boolean {
    if (!isValidCoordinate(c) || !compatible(this.coord, c)) return false;
    this.coord = cloneCoordinate(c);
    return true;
  }

  /** Estimated RTT from this node to `other`, in milliseconds. */
  distanceMs(other: Coordinate | null | undefined): number {
    return distanceMs(this.coord, other);
  }

  /** Drops what is kept about `peer` (its RTT samples): it left the pool. */
  forget(peer: string): void {
    this.latencySamples.delete(peer);
  }

  /**
   * A probe to `peer` took `rttMs` and its ack carried `peerCoord`. A peer coordinate that is
   * invalid or of another dimensionality, or an RTT out of range, changes nothing and is refused.
   */
  update(peer: string, peerCoord: Coordinate, rttMs: number): UpdateResult {
    if (!isValidCoordinate(peerCoord)) return { ok: false, reason: 'coordinate is invalid' };
    if (!compatible(this.coord, peerCoord)) return { ok: false, reason: "dimensions aren't compatible" };
    if (!(rttMs >= 0 && rttMs <= MAX_RTT_MS)) {
      return { ok: false, reason: `round trip time ${rttMs} ms not in range 0..${MAX_RTT_MS} ms` };
    }
    const rtt = this.latencyFilter(peer, rttMs / 1000);
    this.updateVivaldi(peerCoord, rtt);
    this.updateAdjustment(peerCoord, rtt);
    this.updateGravity();
    if (!finite(this.coord)) {
      // Numbers blew up (a pathological input): start over rather than spread NaNs to everyone.
      this.resets++;
      this.coord = newCoordinate(this.cfg);
    }
    return { ok: true, coordinate: this.coordinate() };
  }

  /** The median of the peer's last few RTTs: one slow ack (a GC pause) does not move us. */
  private latencyFilter(peer: string, rttSeconds: number): number {
    const samples = this.latencySamples.get(peer) ?? [];
    samples.push(rttSeconds);
    while (samples.length > Math.max(1, this.cfg.latencyFilterSize)) samples.shift();
    this.latencySamples.set(peer, samples);
    const sorted = [...samples].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] as number;
  }

  /** Vivaldi proper: a spring between us and the peer, its rest length the measured RTT. */
  private updateVivaldi(other: Coordinate, rttSeconds: number): void {
    const cfg = this.cfg;
    const rtt = Math.max(rttSeconds, ZERO_THRESHOLD);
    const dist = distanceSeconds(this.coord, other);
    const wrongness = Math.abs(dist - rtt) / rtt;
    const totalError = Math.max(this.coord.Error + other.Error, ZERO_THRESHOLD);
    // Trust the sample in proportion to how unsure we are compared with the peer.
    const weight = this.coord.Error / totalError;
    this.coord.Error = Math.min(
      cfg.ce * weight * wrongness + this.coord.Error * (1 - cfg.ce * weight),
      cfg.errorMax,
    );
    const force = cfg.cc * weight * (rtt - dist);
    this.coord = applyForce(cfg, this.rng, this.coord, force, other);
  }

  /**
   * The adjustment term: half the mean of the recent (measured - raw estimated) differences, which
   * absorbs what a Euclidean space cannot express (triangle inequality violations).
   */
  private updateAdjustment(other: Coordinate, rttSeconds: number): void {
    const n = this.cfg.adjustmentWindowSize;
    if (n <= 0) return;
    this.adjustmentSamples[this.adjustmentIndex] = rttSeconds - rawDistance(this.coord, other);
    this.adjustmentIndex = (this.adjustmentIndex + 1) % n;
    let sum = 0;
    for (const s of this.adjustmentSamples) sum += s;
    this.coord.Adjustment = sum / (2 * n);
  }

  /** A pull towards the origin, negligible near it, so the whole system cannot drift away. */
  private updateGravity(): void {
    const dist = distanceSeconds(this.origin, this.coord);
    const force = -1 * Math.pow(dist / this.cfg.gravityRho, 2);
    this.coord = applyForce(this.cfg, this.rng, this.coord, force, this.origin);
  }
}

/**
 * `items` sorted by estimated RTT from `source`, nearest first (a stable sort: equal distances keep
 * their order). Items without a coordinate go last, as in Consul; with no source coordinate
 * nothing can be estimated and the order is left as it is.
 */
export function sortByDistance<T>(
  items: T[],
  source: Coordinate | null | undefined,
  coordOf: (item: T) => Coordinate | null | undefined,
): T[] {
  if (!source) return items;
  const keyed = items.map((item, i) => ({ item, i, d: distanceMs(source, coordOf(item)) }));
  keyed.sort((a, b) => (a.d === b.d ? a.i - b.i : a.d < b.d ? -1 : 1));
  return keyed.map((k) => k.item);
}

/**
 * Datacenters nearest first (Consul's GetDatacentersByDistance): the local one counts as zero, any
 * other as the median estimated RTT from `self` to its servers (unknown coordinates count as
 * infinitely far). Ties, and every datacenter when nothing is known, go by name, so with no
 * coordinates at all the order is the local datacenter, then the others by name.
 */
export function rankDatacenters(
  self: Coordinate | null,
  servers: { dc: string; coord: Coordinate | null }[],
  local: string,
): string[] {
  const rtts = new Map<string, number[]>();
  for (const s of servers) {
    const d = s.dc === local ? 0 : distanceMs(self, s.coord);
    const list = rtts.get(s.dc);
    if (list) list.push(d);
    else rtts.set(s.dc, [d]);
  }
  const ranked = [...rtts].map(([dc, list]) => {
    list.sort((a, b) => a - b);
    return { dc, rtt: list[Math.floor(list.length / 2)] as number };
  });
  ranked.sort((a, b) =>
    a.rtt === b.rtt ? (a.dc < b.dc ? -1 : a.dc > b.dc ? 1 : 0) : a.rtt < b.rtt ? -1 : 1,
  );
  return ranked.map((r) => r.dc);
}
