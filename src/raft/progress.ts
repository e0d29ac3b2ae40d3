// What a leader knows about one follower's log, and how it paces replication to it (etcd's
// probe / replicate / snapshot states): probe sends one message at a time until the match point is
// found; replicate pipelines optimistically up to a window; snapshot waits for InstallSnapshot.

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: a message is out and unanswered. */
  probeSent = false;
  /** Last index of each append in flight, oldest first (replicate state). */
  inflight: number[] = [];
  pendingSnapshot = 0;
  snapshotSentAt = 0;
  /** Highest leader sequence number this follower has acknowledged. */
  ackedSeq = 0;
  /** When the acknowledged message was sent: the basis of lease reads and check-quorum. */
  ackSentAt = -Infinity;
  /** When the match point last moved: replicate messages lost in transit are detected by its age. */
  lastProgressAt = 0;

  constructor(next: number, now: number) {
    this.next = next;
    this.lastProgressAt = now;
  }

  becomeProbe(): void {
    // After a snapshot the follower has at least the snapshot; otherwise restart just past the match.
    this.next =
      this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.state = 'probe';
    this.probeSent = false;
    this.inflight = [];
    this.pendingSnapshot = 0;
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflight = [];
    this.pendingSnapshot = 0;
  }

  becomeSnapshot(index: number, now: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = index;
    this.snapshotSentAt = now;
    this.inflight = [];
  }

  /** A successful append response: returns false when it told us nothing new. */
  maybeUpdate(index: number, now: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      this.lastProgressAt = now;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = index + 1;
    while (this.inflight.length > 0 && (this.inflight[0] as number) <= index) this.inflight.shift();
    return updated;
  }

  /**
   * A rejected append for `rejected` (its prevIndex) with the follower's hint. Returns false for a
   * stale rejection (one answering a message sent before we already moved on).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.becomeProbe();
      this.next = Math.max(this.match + 1, Math.min(rejected, hint + 1));
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(this.match + 1, Math.min(rejected, hint + 1));
    this.probeSent = false;
    return true;
  }

  canSend(maxInflight: number): boolean {
    switch (this.state) {
      case 'probe':
        return !this.probeSent;
      case 'replicate':
        return this.inflight.length < maxInflight;
      case 'snapshot':
        return false;
    }
  }
}
