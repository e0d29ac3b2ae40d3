// Watches by topic. A read adds the topics it depends on to a WatchSet; a write notifies the topics
// it touched once it is complete; a blocking query waits on its set. Topics are exact (one KV key,
// one key prefix, one service, one node, or one whole list), so writes elsewhere never wake a
// watcher. A snapshot restore wakes everyone (Consul's AbandonCh): what they read is gone.

export class WatchSet {
  readonly topics = new Set<string>();
  add(topic: string): void {
    this.topics.add(topic);
  }
}

/**
 * Topic names. KV topics carry the key as given (keys are case-sensitive); catalog topics carry the
 * lower-cased name, because Consul looks nodes and services up case-insensitively.
 */
export const topic = {
  key: (k: string): string => `k:${k}`,
  prefix: (p: string): string => `p:${p}`,
  service: (s: string): string => `svc:${s.toLowerCase()}`,
  node: (n: string): string => `node:${n.toLowerCase()}`,
  nodes: 'nodes',
  services: 'services',
  checks: 'checks',
  /** One session by ID (IDs are exact), the sessions on one node, and the whole session list. */
  session: (id: string): string => `sess:${id}`,
  sessionNode: (n: string): string => `sessnode:${n.toLowerCase()}`,
  sessions: 'sessions',
  /** Every node's network coordinates, and one node's. */
  coordinates: 'coords',
  coordinate: (n: string): string => `coord:${n.toLowerCase()}`,
  /** One prepared query by ID, and the whole list (name lookups watch the list). */
  preparedQuery: (id: string): string => `pq:${id}`,
  preparedQueries: 'pqs',
  /** The ACL tables as wholes (few rows, rarely written: every ACL read watches its list). */
  aclTokens: 'acl-tokens',
  aclPolicies: 'acl-policies',
} as const;

const PREFIX = 'p:';

type Listener = () => void;

/**
 * Runs a listener; one that throws must neither keep the others from hearing of the write nor turn a
 * write that was applied into a failed one (notifications run after the FSM applied the command).
 */
function safely(f: Listener): void {
  try {
    f();
  } catch {
    // Nothing to undo: the listener is already unsubscribed and the write stands.
  }
}

export class Watchers {
  private readonly byTopic = new Map<string, Set<Listener>>();
  /** Every live subscription (a restore wakes them all). */
  private readonly all = new Set<Listener>();
  /**
   * Lengths of the key prefixes someone watches, with how many distinct prefixes have that length.
   * A KV write looks up only these lengths of its key, and nothing at all when nobody watches a
   * prefix, instead of walking every prefix of the key.
   */
  private readonly prefixLengths = new Map<number, number>();

  /** Calls `fn` once, on the first notification of any topic in `ws` (or on notifyAll). */
  subscribe(ws: WatchSet, fn: Listener): () => void {
    // The topics as they are now: a set that grows later cannot strand a listener.
    const topics = [...ws.topics];
    let done = false;
    const once = (): void => {
      if (done) return;
      done = true;
      unsubscribe();
      fn();
    };
    const unsubscribe = (): void => {
      for (const t of topics) {
        const set = this.byTopic.get(t);
        if (!set) continue;
        set.delete(once);
        if (set.size === 0) {
          this.byTopic.delete(t);
          if (t.startsWith(PREFIX)) this.countPrefix(t.length - PREFIX.length, -1);
        }
      }
      this.all.delete(once);
    };
    for (const t of topics) {
      let set = this.byTopic.get(t);
      if (!set) {
        this.byTopic.set(t, (set = new Set()));
        if (t.startsWith(PREFIX)) this.countPrefix(t.length - PREFIX.length, 1);
      }
      set.add(once);
    }
    this.all.add(once);
    return () => {
      done = true;
      unsubscribe();
    };
  }

  private countPrefix(len: number, delta: number): void {
    const n = (this.prefixLengths.get(len) ?? 0) + delta;
    if (n > 0) this.prefixLengths.set(len, n);
    else this.prefixLengths.delete(len);
  }

  notify(topics: Iterable<string>): void {
    const fire: Listener[] = [];
    for (const t of topics) {
      const set = this.byTopic.get(t);
      if (set) for (const f of set) fire.push(f);
    }
    // Each listener runs once even if several of its topics were touched.
    for (const f of fire) safely(f);
  }

  /** The topics a write to KV key `k` touches: the key, and each watched prefix of it. */
  kvTopics(k: string, out: Set<string>): void {
    out.add(topic.key(k));
    if (this.prefixLengths.size === 0) return;
    for (const len of this.prefixLengths.keys()) {
      if (len > k.length) continue;
      const t = topic.prefix(k.slice(0, len));
      if (this.byTopic.has(t)) out.add(t);
    }
  }

  /** Wakes every watcher (a snapshot restore replaced everything they read). */
  notifyAll(): void {
    for (const f of [...this.all]) safely(f);
  }

  /** Live subscriptions. */
  get size(): number {
    return this.all.size;
  }

  /** Topics with at least one subscription (0 when nobody waits: nothing leaks). */
  get topicCount(): number {
    return this.byTopic.size;
  }
}
