// Lifeguard's suspicion timer. A suspect member is declared failed when its timer runs out; the
// timer starts long (max) and shrinks toward min as independent members confirm the suspicion, so a
// member that only one slow node suspects gets plenty of time to refute, while a member that many
// peers cannot reach is declared failed quickly.

import type { GossipTimings } from './types.js';

export interface SuspicionParams {
  /** Independent confirmations expected before the timeout reaches min. */
  k: number;
  minMs: number;
  maxMs: number;
}

/** Timeouts for a cluster of `n` members (memberlist's suspicionTimeout and Lifeguard's k). */
export function suspicionParams(t: GossipTimings, n: number): SuspicionParams {
  // Larger clusters need more time for a refutation to spread, logarithmically like gossip itself.
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  const minMs = t.suspicionMult * nodeScale * t.probeIntervalMs;
  const maxMs = Math.max(minMs, t.suspicionMaxTimeoutMult * minMs);
  let k = Math.max(0, t.suspicionMult - 2);
  // Too few other members to ever collect k confirmations: do not wait for them.
  if (n - 2 < k) k = 0;
  return { k, minMs, maxMs };
}

/** The timeout after `c` confirmations: max at 0, min at k, logarithmic in between. */
export function suspicionTimeout(c: number, p: SuspicionParams): number {
  if (p.k < 1) return p.minMs;
  const frac = Math.log(c + 1) / Math.log(p.k + 1);
  return Math.max(p.minMs, Math.floor(p.maxMs - (p.maxMs - p.minMs) * frac));
}

export class Suspicion {
  readonly start: number;
  readonly params: SuspicionParams;
  private confirmers = new Set<string>();
  private count = 0;

  /** `from`: the member whose suspicion started the timer; it cannot also confirm it. */
  constructor(from: string, params: SuspicionParams, start: number) {
    this.start = start;
    this.params = params;
    this.confirmers.add(from);
  }

  get confirmations(): number {
    return this.count;
  }

  /** Records a suspicion from another member; true when it was new (worth re-gossiping). */
  confirm(from: string): boolean {
    if (this.count >= this.params.k || this.confirmers.has(from)) return false;
    this.confirmers.add(from);
    this.count++;
    return true;
  }

  /** Time (same clock as `start`) at which the member is declared failed. */
  deadline(): number {
    return this.start + suspicionTimeout(this.count, this.params);
  }
}
