// A linearizability checker for key-value histories (read, write, compare-and-set).
//
// Algorithm: the Wing–Gong search as refined by Lowe, with memoisation of (linearized set,
// state) pairs, run separately for each key (P-compositionality: a history of independent
// objects is linearizable iff each object's sub-history is). Written from the description in
// ../shared/reference/reliability.md §3.
//
// Per key, every op becomes a CALL event (at `call`) and a RETURN event (at `ret`, +∞ when the
// outcome is unknown), kept in a doubly linked list sorted by time with calls before returns on
// ties. The search walks the list: at a CALL it tries to linearize that op now (the model must
// accept it and the configuration (set, state) must be new); if so the op's two events are
// lifted out of the list and the walk restarts from the head. Reaching a RETURN means the op it
// closes was not linearized in time: undo the most recent choice (unlift it) and try the op
// after it, or its next alternative when the model branches (a cas with an unknown outcome
// either applied or not). Linearizing every op proves the history linearizable; backtracking
// past the first choice proves it is not. Configurations seen before were fully explored
// without success, so a cache of them prunes the search to (reachable sets × states).
//
// Ops with an unknown outcome ('info') stay open forever and would double the search space
// each; two reductions, proved sound where they are applied in `checkKey`, keep them cheap
// without changing any verdict.
//
// Data layout, to keep the inner loop allocation-free: the list is two Int32Arrays (node 0 is
// the head, op i has call node 2i+1 and return node 2i+2); values are interned to small
// integers (0 = absent); the linearized set is a Uint32Array bitset with an incrementally
// maintained 32-bit Zobrist hash; the cache is an open-addressing table over arenas that store
// each set trimmed to its "window" (ops are numbered in call order, so the set is nearly always
// a run of full words, a few partial words, then zeros: only the partial words are kept).
// Exact equality of (set, state) is checked on every hash match.

export type OpKind = 'read' | 'write' | 'cas';

export interface Op {
  /** Client id. */
  process: number;
  key: string;
  kind: OpKind;
  /** read: the value observed (null = key absent). write: the value written. cas: the new value. */
  value: string | null;
  /** cas: the value expected. */
  expected?: string | null;
  /** Invocation time (any monotonic clock). */
  call: number;
  /** Completion time; Infinity when the outcome is unknown. */
  ret: number;
  /** fail: certainly had no effect. info: unknown (it may take effect at any time after its call). */
  outcome: 'ok' | 'fail' | 'info';
}

export type CheckResult =
  | { result: 'ok' }
  | { result: 'illegal'; key: string; longestPrefix: Op[]; message: string }
  | { result: 'unknown'; key: string; message: string };

export interface CheckOptions {
  /** Budget for the whole history (all keys); default 30 s. Running out gives 'unknown'. */
  timeoutMs?: number;
  /** The value of every key before the history starts; default null (absent). */
  initial?: string | null;
  /** Memory budget of one key's memo cache; default 512 MiB. Running out gives 'unknown'. */
  maxCacheBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_CACHE_BYTES = 512 * 1024 * 1024;

/**
 * Checks that `ops` is linearizable with respect to a map of registers supporting read, write
 * and compare-and-set. Never returns 'ok' unless a linearization of every key was found.
 */
export function checkHistory(ops: Op[], opts: CheckOptions = {}): CheckResult {
  const initial = opts.initial ?? null;
  const deadline = performance.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const maxCacheBytes = opts.maxCacheBytes ?? DEFAULT_MAX_CACHE_BYTES;

  const byKey = new Map<string, Op[]>();
  for (const op of ops) {
    if (!(op.call <= op.ret)) {
      throw new Error(`linearizability: op returns before it is called: ${describe(op)}`);
    }
    if (!relevant(op)) continue;
    let list = byKey.get(op.key);
    if (!list) byKey.set(op.key, (list = []));
    list.push(op);
  }

  // Small keys first: a cheap illegal key is found even if a big one would exhaust the budget.
  const keys = [...byKey].sort((a, b) => a[1].length - b[1].length);
  let unknown: CheckResult | null = null;
  for (const [key, list] of keys) {
    const r = checkKey(key, list, initial, deadline, maxCacheBytes);
    if (r.result === 'illegal') return r;
    if (r.result === 'unknown') unknown ??= r;
  }
  return unknown ?? { result: 'ok' };
}

/** Ops that cannot matter are dropped: reads that did not complete, writes that certainly failed. */
function relevant(op: Op): boolean {
  switch (op.kind) {
    case 'read':
      return op.outcome === 'ok';
    case 'write':
      return op.outcome !== 'fail';
    case 'cas':
      return true; // a failed cas still observed that the value differed from `expected`
  }
}

// Op codes of the model.
const READ = 0;
const WRITE = 1; // ok or info: a write always succeeds
const CAS_OK = 2;
const CAS_FAIL = 3;
const CAS_INFO = 4;

/** No (further) successor state: the op is illegal here, or its alternatives are used up. */
const NONE = -1;

/** Int32s of a cache entry's metadata: hash, state, pending, lo, hi - lo, hiB - WA, pool offset. */
const META = 7;

function checkKey(
  key: string,
  keyOps: Op[],
  initial: string | null,
  deadline: number,
  maxCacheBytes: number,
): CheckResult {
  // Number ops in call order, so that the linearized set stays close to a prefix, but info ops
  // last: they are linearized late or never (see the reductions below), and would otherwise
  // break that prefix.
  const ops = keyOps
    .slice()
    .sort((a, b) => Number(a.outcome === 'info') - Number(b.outcome === 'info') || a.call - b.call);
  const n = ops.length;
  let m = 0; // ops 0..m-1 are not info
  while (m < n && (ops[m] as Op).outcome !== 'info') m++;

  // ---- Values interned to integers; 0 is "absent".
  const valueNames: (string | null)[] = [null];
  const valueIds = new Map<string, number>();
  const intern = (v: string | null | undefined): number => {
    if (v === null || v === undefined) return 0;
    let id = valueIds.get(v);
    if (id === undefined) {
      id = valueNames.length;
      valueIds.set(v, id);
      valueNames.push(v);
    }
    return id;
  };
  const code = new Uint8Array(n);
  const val = new Int32Array(n);
  const exp = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const op = ops[i] as Op;
    val[i] = intern(op.value);
    if (op.kind === 'read') code[i] = READ;
    else if (op.kind === 'write') code[i] = WRITE;
    else {
      exp[i] = intern(op.expected);
      code[i] = op.outcome === 'ok' ? CAS_OK : op.outcome === 'fail' ? CAS_FAIL : CAS_INFO;
    }
  }
  const initialState = intern(initial);

  /** The model: the `alt`-th possible state after op `i` in state `s`, or NONE. */
  const successor = (i: number, s: number, alt: number): number => {
    switch (code[i]) {
      case READ:
        return alt === 0 && val[i] === s ? s : NONE;
      case WRITE:
        return alt === 0 ? (val[i] as number) : NONE;
      case CAS_OK:
        return alt === 0 && exp[i] === s ? (val[i] as number) : NONE;
      case CAS_FAIL:
        return alt === 0 && exp[i] !== s ? s : NONE;
      default: // CAS_INFO: applied, or not; only "not" if the value differed
        if (exp[i] === s) return alt === 0 ? (val[i] as number) : alt === 1 ? s : NONE;
        return alt === 0 ? s : NONE;
    }
  };

  // ---- Event list. Node 0 is the head; op i has call node 2i+1 and return node 2i+2.
  const nodes = 2 * n + 1;
  const time = new Float64Array(nodes);
  for (let i = 0; i < n; i++) {
    const op = ops[i] as Op;
    time[2 * i + 1] = op.call;
    time[2 * i + 2] = op.outcome === 'info' ? Infinity : op.ret;
  }
  const order: number[] = [];
  for (let k = 1; k < nodes; k++) order.push(k);
  order.sort((a, b) => {
    const ta = time[a] as number;
    const tb = time[b] as number;
    if (ta !== tb) return ta < tb ? -1 : 1;
    return (b & 1) - (a & 1) || a - b; // calls (odd) first, then by op number
  });
  const next = new Int32Array(nodes).fill(-1);
  const prev = new Int32Array(nodes).fill(-1);
  let last = 0;
  for (const k of order) {
    next[last] = k;
    prev[k] = last;
    last = k;
  }

  const unlink = (k: number): void => {
    const p = prev[k] as number;
    const q = next[k] as number;
    next[p] = q;
    if (q !== -1) prev[q] = p;
  };
  const relink = (k: number): void => {
    const p = prev[k] as number;
    const q = next[k] as number;
    next[p] = k;
    if (q !== -1) prev[q] = k;
  };
  /** Removes a call and its return (dancing links: undone exactly in LIFO order by unlift). */
  const lift = (c: number): void => {
    unlink(c);
    unlink(c + 1);
  };
  const unlift = (c: number): void => {
    relink(c + 1);
    relink(c);
  };

  // ---- Linearized set: a bitset in two zones, ops 0..m-1 in words [0, WA) and info ops in
  // words [WA, W); a Zobrist hash; and the part that a cache entry stores: in zone A the window
  // [lo, hi) between the all-ones words and the zero words, in zone B the words up to hiB.
  const WA = (m + 31) >>> 5;
  const W = WA + ((n - m + 31) >>> 5);
  const bitOf = new Int32Array(n);
  for (let i = 0; i < n; i++) bitOf[i] = i < m ? i : 32 * WA + (i - m);
  const bits = new Uint32Array(W);
  let lo = 0;
  let hi = 0;
  let hiB = WA;
  let h = 0;
  const rng = xorshift32(0x2545f491 ^ n);
  const z = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    z[i] = rng();
  }

  const setBit = (i: number): void => {
    const b = bitOf[i] as number;
    const w = b >>> 5;
    const x = ((bits[w] as number) | (1 << (b & 31))) >>> 0;
    bits[w] = x;
    h ^= z[i] as number;
    if (w >= WA) {
      if (w >= hiB) hiB = w + 1;
      return;
    }
    if (w >= hi) hi = w + 1;
    if (x === 0xffffffff && w === lo) while (lo < WA && bits[lo] === 0xffffffff) lo++;
  };
  const clearBit = (i: number): void => {
    const b = bitOf[i] as number;
    const w = b >>> 5;
    const x = (bits[w] as number) & ~(1 << (b & 31));
    bits[w] = x;
    h ^= z[i] as number;
    if (w >= WA) {
      if (x === 0 && w === hiB - 1) while (hiB > WA && bits[hiB - 1] === 0) hiB--;
      return;
    }
    if (w < lo) lo = w;
    if (x === 0 && w === hi - 1) while (hi > lo && bits[hi - 1] === 0) hi--;
  };

  // ---- Memo cache of configurations (set, state, pending): open addressing over entry
  // numbers, entries in arenas. `pending` is explained with the search below.
  let slots = new Int32Array(1 << 12).fill(-1);
  let mask = slots.length - 1;
  let meta = new Int32Array(META * 1024);
  let pool = new Uint32Array(4096);
  let entries = 0;
  let poolUsed = 0;
  let outOfMemory = false;
  const zState = new Int32Array(valueNames.length);
  const zPending = new Int32Array(valueNames.length + 1);
  for (let v = 0; v < zState.length; v++) zState[v] = rng();
  for (let v = 0; v < zPending.length; v++) zPending[v] = rng();

  /** -1 if (current set, s, p) is cached, else the free slot where it would go. */
  const lookup = (s: number, p: number): number => {
    const k = h ^ (zState[s] as number) ^ (zPending[p] as number);
    const lenA = hi - lo;
    const lenB = hiB - WA;
    let slot = k & mask;
    for (let e = slots[slot] as number; e !== -1; e = slots[slot] as number) {
      const x = e * META;
      if (
        meta[x] === k &&
        meta[x + 1] === s &&
        meta[x + 2] === p &&
        meta[x + 3] === lo &&
        meta[x + 4] === lenA &&
        meta[x + 5] === lenB
      ) {
        const off = meta[x + 6] as number;
        let j = 0;
        while (j < lenA && pool[off + j] === bits[lo + j]) j++;
        if (j === lenA) {
          let q = 0;
          while (q < lenB && pool[off + lenA + q] === bits[WA + q]) q++;
          if (q === lenB) return -1;
        }
      }
      slot = (slot + 1) & mask;
    }
    return slot;
  };

  const insert = (s: number, p: number, slot: number): void => {
    const lenA = hi - lo;
    const lenB = hiB - WA;
    const len = lenA + lenB;
    if (poolUsed + len > pool.length) {
      const grown = new Uint32Array(Math.max(Math.ceil(pool.length * 1.5), poolUsed + len));
      grown.set(pool);
      pool = grown;
    }
    if ((entries + 1) * META > meta.length) {
      const grown = new Int32Array(META * Math.ceil((meta.length / META) * 1.5));
      grown.set(meta);
      meta = grown;
    }
    const x = entries * META;
    meta[x] = h ^ (zState[s] as number) ^ (zPending[p] as number);
    meta[x + 1] = s;
    meta[x + 2] = p;
    meta[x + 3] = lo;
    meta[x + 4] = lenA;
    meta[x + 5] = lenB;
    meta[x + 6] = poolUsed;
    for (let j = 0; j < lenA; j++) pool[poolUsed + j] = bits[lo + j] as number;
    for (let j = 0; j < lenB; j++) pool[poolUsed + lenA + j] = bits[WA + j] as number;
    poolUsed += len;
    slots[slot] = entries++;
    if (entries * 2 > slots.length) {
      slots = new Int32Array(slots.length * 2).fill(-1);
      mask = slots.length - 1;
      for (let e = 0; e < entries; e++) {
        let t = (meta[e * META] as number) & mask;
        while (slots[t] !== -1) t = (t + 1) & mask;
        slots[t] = e;
      }
    }
    if (slots.byteLength + meta.byteLength + pool.byteLength > maxCacheBytes) outOfMemory = true;
  };

  /**
   * True if the configuration (current set, state s, pending p) was visited before, or one that
   * allows strictly more continuations: (set, s, no obligation). Otherwise records it.
   *
   * A hit means that configuration was fully explored without success: along the current path
   * the set only grows, so it cannot be an ancestor, and a success would have ended the search.
   */
  const seen = (s: number, p: number): boolean => {
    if (p !== 0 && lookup(s, 0) === -1) return true;
    const slot = lookup(s, p);
    if (slot === -1) return true;
    insert(s, p, slot);
    return false;
  };

  // ---- The search, with an explicit stack of choices.
  //
  // Info ops (outcome unknown) stay open forever, which would multiply the search space by two
  // for each of them. Two reductions avoid that; both keep the search exact, because any
  // linearization can be rewritten into one that obeys them, by moving info ops to the end
  // (where an info op is always legal: a write always is, and a cas can "not apply"):
  //  (a) An info op whose transition leaves the state unchanged (a cas that did not apply, or
  //      rewrote the same value) is never linearized in place: removing it changes nothing. So
  //      the search succeeds as soon as only info ops remain.
  //  (b) An info op I that changed the state from u must be *observed* before the next blind
  //      write: some op that is legal now but would be illegal in state u (a read of the new
  //      value, a cas that expects it or fails because the value is not u). If I is followed
  //      only by ops that are also legal in u (cas that fail on a third value) up to a blind
  //      write or the end, removing I leaves them legal and the state after the write equal.
  //      `pending` is u + 1 while such an obligation is open, else 0: it is part of the
  //      configuration, as it restricts what may come next.
  const deferrable = new Uint8Array(n).fill(1, m); // the info ops
  let remaining = m; // ops left to linearize that are not deferrable
  // Ops not linearized yet that could discharge an obligation (b): per value v, those needing
  // the state to be v (reads of v, cas expecting v); per value u, cas that failed expecting u.
  // An info op changing u to v is not linearized when there are none: that is a dead end, or
  // a success that the same linearization without the op reaches as well.
  const needs = new Int32Array(valueNames.length);
  const needsNot = new Int32Array(valueNames.length);
  const count = (i: number, d: number): void => {
    const k = code[i];
    if (k === WRITE) return;
    const counts = k === CAS_FAIL ? needsNot : needs;
    const v = (k === READ ? val[i] : exp[i]) as number;
    counts[v] = (counts[v] as number) + d;
  };
  for (let i = 0; i < n; i++) count(i, 1);
  const stackCall = new Int32Array(n);
  const stackState = new Int32Array(n);
  const stackAlt = new Uint8Array(n);
  const stackPending = new Int32Array(n);
  let depth = 0;
  let state = initialState;
  let pending = 0;

  /** Linearizes call node c with its first usable alternative from `from` on; false if none. */
  const tryLinearize = (c: number, from: number): boolean => {
    const i = (c - 1) >>> 1;
    if (pending !== 0 && code[i] === WRITE) return false; // (b): a blind write would end it unobserved
    for (let alt = from; ; alt++) {
      const s = successor(i, state, alt);
      if (s === NONE) return false;
      let p: number;
      if (deferrable[i] === 1) {
        if (s === state) continue; // (a)
        if (needs[s] === 0 && needsNot[state] === 0) continue; // (b): nothing left could observe it
        p = state + 1; // (b): a new obligation (an open one is discharged: this is a cas on its value)
      } else {
        // (b): an op that is legal in the obligation's state u as well leaves it open.
        p = pending !== 0 && successor(i, pending - 1, 0) !== NONE ? pending : 0;
      }
      setBit(i);
      if (!seen(s, p)) {
        stackCall[depth] = c;
        stackState[depth] = state;
        stackAlt[depth] = alt;
        stackPending[depth] = pending;
        depth++;
        state = s;
        pending = p;
        if (deferrable[i] === 0) remaining--;
        count(i, -1);
        lift(c);
        return true;
      }
      clearBit(i);
    }
  };

  // The deepest failure, for the report. `longest` is a copy of the stack at that point, kept
  // up to date incrementally: entries below `intact` have not changed since it was taken.
  const longest = new Int32Array(n);
  let longestLen = 0;
  let intact = 0;
  let blockedOp = -1;
  let blockedState = initialState;
  let failed = false;

  let steps = 0;
  let e = next[0] as number;
  while (remaining > 0) {
    if ((++steps & 0x3ff) === 0 && performance.now() > deadline) {
      return {
        result: 'unknown',
        key,
        message: `key ${JSON.stringify(key)}: deadline reached after ${steps} steps (${n} ops, ${entries} cached configurations); no verdict`,
      };
    }
    if (outOfMemory) {
      return {
        result: 'unknown',
        key,
        message: `key ${JSON.stringify(key)}: memo cache exceeded ${maxCacheBytes} bytes after ${steps} steps (${n} ops, ${entries} cached configurations); no verdict`,
      };
    }
    if (e !== -1 && (e & 1) === 1) {
      // A call: linearize it here if the model allows, otherwise look further along.
      e = tryLinearize(e, 0) ? (next[0] as number) : (next[e] as number);
      continue;
    }
    if (e !== -1 && deferrable[(e - 1) >>> 1] === 1) {
      e = next[e] as number; // an info op's return (at +∞) imposes nothing
      continue;
    }
    // The return of an op that is not linearized yet (or the end of the list): the current
    // prefix cannot be extended. Backtrack.
    if (!failed || depth > longestLen) {
      failed = true;
      longest.set(stackCall.subarray(intact, depth), intact);
      longestLen = intact = depth;
      blockedOp = e === -1 ? -1 : (e - 1) >>> 1;
      blockedState = state;
    }
    if (depth === 0) {
      const prefix = Array.from(longest.subarray(0, longestLen), (c) => ops[(c - 1) >>> 1] as Op);
      const stuck =
        blockedOp === -1
          ? 'no remaining op can take effect'
          : `${describe(ops[blockedOp] as Op)} cannot take effect before it returns`;
      return {
        result: 'illegal',
        key,
        longestPrefix: prefix,
        message:
          `key ${JSON.stringify(key)} is not linearizable: the longest linearizable prefix has ` +
          `${prefix.length} of ${n} ops and leaves the value ${show(valueNames[blockedState])}; ` +
          `after it, ${stuck}`,
      };
    }
    depth--;
    if (depth < intact) intact = depth;
    const c = stackCall[depth] as number;
    const i = (c - 1) >>> 1;
    unlift(c);
    clearBit(i);
    if (deferrable[i] === 0) remaining++;
    count(i, 1);
    state = stackState[depth] as number;
    pending = stackPending[depth] as number;
    e = tryLinearize(c, (stackAlt[depth] as number) + 1) ? (next[0] as number) : (next[c] as number);
  }
  return { result: 'ok' };
}

/** A deterministic 32-bit xorshift generator (for Zobrist keys). */
function xorshift32(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x;
  };
}

function show(v: string | null | undefined): string {
  return v === null || v === undefined ? 'nil' : JSON.stringify(v);
}

function describe(op: Op): string {
  const what =
    op.kind === 'cas' ? `cas(${show(op.expected)} -> ${show(op.value)})` : `${op.kind}(${show(op.value)})`;
  return `process ${op.process} ${what} [${op.outcome}] over [${op.call}, ${op.ret}]`;
}

/**
 * Records a history as clients run: call `invoke` just before sending a request and `ok`,
 * `fail` or `info` once the outcome is known. The clock must be monotonic.
 */
export class HistoryRecorder {
  private readonly list: Op[] = [];
  private readonly done: boolean[] = [];
  private readonly discarded = new Set<number>();

  constructor(private readonly now: () => number) {}

  /** Starts an op; returns its handle. For reads `value` is ignored (set by `ok`). */
  invoke(process: number, key: string, kind: OpKind, value: string | null, expected?: string | null): number {
    const op: Op = {
      process,
      key,
      kind,
      value: kind === 'read' ? null : value,
      call: this.now(),
      ret: Infinity,
      outcome: 'info',
    };
    if (kind === 'cas') op.expected = expected ?? null;
    this.list.push(op);
    this.done.push(false);
    return this.list.length - 1;
  }

  /** The op succeeded (a cas applied); for reads, `readValue` is what was read (null = absent). */
  ok(handle: number, readValue?: string | null): void {
    const op = this.complete(handle);
    op.ret = this.now();
    op.outcome = 'ok';
    if (op.kind === 'read') op.value = readValue ?? null;
  }

  /** The op certainly had no effect (a cas whose expected value did not match, a 4xx). */
  fail(handle: number): void {
    const op = this.complete(handle);
    op.ret = this.now();
    op.outcome = 'fail';
  }

  /** The outcome is unknown (timeout, no leader, connection reset): it may take effect at any later time. */
  info(handle: number): void {
    const op = this.complete(handle);
    op.ret = Infinity;
    op.outcome = 'info';
  }

  /** The op certainly never executed (e.g. its Raft entry was overwritten): it is left out entirely. */
  discard(handle: number): void {
    this.complete(handle);
    this.discarded.add(handle);
  }

  /** A copy of the history so far; ops still pending are 'info'. */
  ops(): Op[] {
    return this.list.filter((_o, i) => !this.discarded.has(i)).map((o) => ({ ...o }));
  }

  private complete(handle: number): Op {
    const op = this.list[handle];
    if (op === undefined) throw new Error(`HistoryRecorder: unknown handle ${handle}`);
    if (this.done[handle]) throw new Error(`HistoryRecorder: op ${handle} completed twice`);
    this.done[handle] = true;
    return op;
  }
}
