// Watches by topic. A read adds the topics it depends on to a WatchSet; a write notifies the topics
// it touched; a blocking query waits on its set. Topics are exact (one KV key, one key prefix, one
// service, one node), so writes elsewhere never wake a watcher.

export class WatchSet {
  readonly topics = new Set<string>();
  add(topic: string): void {
    this.topics.add(topic);
  }
}

export const topic = {
  key: (k: string) => `k:${k}`,
  prefix: (p: string) => `p:${p}`,
  service: (s: string) => `svc:${s}`,
  node: (n: string) => `node:${n}`,
  nodes: 'nodes',
  services: 'services',
  checks: 'checks',
} as const;

type Listener = () => void;

export class Watchers {
  private readonly byTopic = new Map<string, Set<Listener>>();
  /** How many prefix topics are watched: writes walk a key's prefixes only when some are. */
  private prefixWatches = 0;
  private readonly all = new Set<Listener>();

  /** Calls `fn` once, on the first notification of any topic in `ws` (or on notifyAll). */
  subscribe(ws: WatchSet, fn: Listener): () => void {
    let done = false;
    const once = (): void => {
      if (done) return;
      done = true;
      unsubscribe();
      fn();
    };
    const unsubscribe = (): void => {
      for (const t of ws.topics) {
        const set = this.byTopic.get(t);
        if (!set) continue;
        if (set.delete(once) && t.startsWith('p:')) this.prefixWatches--;
        if (set.size === 0) this.byTopic.delete(t);
      }
      this.all.delete(once);
    };
    for (const t of ws.topics) {
      let set = this.byTopic.get(t);
      if (!set) this.byTopic.set(t, (set = new Set()));
      if (!set.has(once)) {
        set.add(once);
        if (t.startsWith('p:')) this.prefixWatches++;
      }
    }
    this.all.add(once);
    return () => {
      done = true;
      unsubscribe();
    };
  }

  notify(topics: Iterable<string>): void {
    const fire: Listener[] = [];
    for (const t of topics) {
      const set = this.byTopic.get(t);
      if (set) fire.push(...set);
    }
    for (const f of fire) f();
  }

  /** The topics a write to KV key `k` touches: the key and every prefix of it that is watched. */
  kvTopics(k: string, out: Set<string>): void {
    out.add(topic.key(k));
    if (this.prefixWatches === 0) return;
    for (let i = 0; i <= k.length; i++) {
      const t = topic.prefix(k.slice(0, i));
      if (this.byTopic.has(t)) out.add(t);
    }
  }

  /** Wakes every watcher (a snapshot restore replaced everything they read). */
  notifyAll(): void {
    for (const f of [...this.all]) f();
  }

  get size(): number {
    return this.all.size;
  }
}
