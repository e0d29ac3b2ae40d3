// Bounded capture of what a check prints, the way Consul's circular buffer does it: the last N
// bytes are kept and the total counted, so a chatty script cannot grow the agent's memory and the
// user still sees how its output ended.

export class TailBuffer {
  private chunks: Buffer[] = [];
  private kept = 0;
  total = 0;

  constructor(readonly size: number) {}

  write(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.size <= 0) return;
    const part = chunk.length > this.size ? chunk.subarray(chunk.length - this.size) : chunk;
    this.chunks.push(part);
    this.kept += part.length;
    while (this.kept > this.size) {
      const first = this.chunks[0] as Buffer;
      const excess = this.kept - this.size;
      if (first.length <= excess) {
        this.chunks.shift();
        this.kept -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.kept -= excess;
      }
    }
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.kept);
  }

  /** The kept text, announced as Consul's script checks do when bytes were dropped. */
  text(): string {
    const s = this.bytes().toString('utf8');
    return this.total > this.kept ? `Captured ${this.kept} of ${this.total} bytes\n...\n${s}` : s;
  }
}

/** Consul's TTL check cut for an output given through the API (pass/warn/fail/update). */
export function truncateTtlOutput(output: string, max: number): string {
  const buf = Buffer.from(output, 'utf8');
  if (max <= 0 || buf.length <= max) return output;
  return `${buf.subarray(0, max).toString('utf8')} ... (captured ${max} of ${buf.length} bytes)`;
}
