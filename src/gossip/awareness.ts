// Lifeguard's local health awareness (Dadgar et al., "Lifeguard: Local Health Awareness for More
// Accurate Failure Detection"). A node that misses acks and nacks, or has to refute suspicions about
// itself, is more likely to be the slow one than its peers are to be dead; it then probes less often
// and waits longer before blaming anyone, which is what cuts false positives.

export class Awareness {
  private value = 0;
  private readonly max: number;

  /** `maxMultiplier`: the probe interval and timeout are scaled by at most this factor. */
  constructor(maxMultiplier: number) {
    this.max = Math.max(1, Math.floor(maxMultiplier));
  }

  /** Score in [0, maxMultiplier - 1]; 0 is healthy. */
  get score(): number {
    return this.value;
  }

  applyDelta(delta: number): void {
    this.value = Math.min(this.max - 1, Math.max(0, this.value + delta));
  }

  /** A probe interval or timeout stretched by how unhealthy this node believes it is. */
  scale(ms: number): number {
    return ms * (this.value + 1);
  }
}
