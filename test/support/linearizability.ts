// A linearizability checker for key-value histories (read, write, compare-and-set): the
// Wing–Gong/Lowe search with memoisation of (linearized set, state), run separately per key
// (P-compositionality: a history is linearizable iff each key's sub-history is).

export type OpKind = 'read' | 'write' | 'cas';

export interface Op {
  process: number;
  key: string;
  kind: OpKind;
  /** read: the value observed (null = absent). write: the value written. cas: the new value. */
  value: string | null;
  /** cas: the value expected. */
  expected?: string | null;
  call: number;
  /** Infinity when the outcome is unknown. */
  ret: number;
  /** fail: certainly had no effect. info: unknown (it may take effect at any time after its call). */
  outcome: 'ok' | 'fail' | 'info';
}

export type CheckResult =
  | { result: 'ok' }
  | { result: 'illegal'; key: string; longestPrefix: Op[]; message: string }
  | { result: 'unknown'; key: string; message: string };

type State = string | null;

/** The KV model: possible next states after `op` in state `s` (empty = illegal here). */
function step(s: State, op: Op): State[] {
  switch (op.kind) {
    case 'read':
      return op.value === s ? [s] : [];
    case 'write':
      return [op.value];
    case 'cas': {
      const matches = s === (op.expected ?? null);
      if (op.outcome === 'ok') return matches ? [op.value] : [];
      if (op.outcome === 'fail') return matches ? [] : [s];
      // Unknown outcome: it either applied (if it could) or did not.
      return matches ? [op.value, s] : [s];
    }
  }
}

interface Node {
  op: Op | null; // null for the head sentinel
  id: number;
  isCall: boolean;
  match: Node | null; // a call's return event
  prev: Node | null;
  next: Node | null;
}

/** Keeps only ops that can matter: reads and failed writes that certainly had no effect are dropped. */
function relevant(op: Op): boolean {
  if (op.kind === 'read') return op.outcome === 'ok';
  if (op.kind === 'write') return op.outcome !== 'fail';
  return true; // a failed cas still constrains the state (it saw a different value)
}

export function checkHistory(
  ops: Op[],
  opts: { timeoutMs?: number; initial?: string | null } = {},
): CheckResult {
  const byKey = new Map<string, Op[]>();
  for (const op of ops) {
    if (!relevant(op)) continue;
    let list = byKey.get(op.key);
    if (!list) byKey.set(op.key, (list = []));
    list.push(op);
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let unknown: CheckResult | null = null;
  for (const [key, list] of byKey) {
    const r = checkKey(key, list, opts.initial ?? null, deadline);
    if (r.result === 'illegal') return r;
    if (r.result === 'unknown') unknown ??= r;
  }
  return unknown ?? { result: 'ok' };
}

function checkKey(key: string, ops: Op[], initial: State, deadline: number): CheckResult {
  const n = ops.length;
  // Events: calls and returns, sorted by time; a call sorts before a return at the same instant
  // (the two overlap, so either order of linearization is allowed).
  const events: { t: number; call: boolean; id: number }[] = [];
  ops.forEach((op, id) => {
    events.push({ t: op.call, call: true, id });
    events.push({ t: op.outcome === 'info' ? Infinity : op.ret, call: false, id });
  });
  events.sort((a, b) => a.t - b.t || (a.call === b.call ? 0 : a.call ? -1 : 1));

  const head: Node = { op: null, id: -1, isCall: false, match: null, prev: null, next: null };
  const calls: Node[] = new Array<Node>(n);
  let tail = head;
  const pendingCall = new Map<number, Node>();
  for (const ev of events) {
    const node: Node = {
      op: ops[ev.id] as Op,
      id: ev.id,
      isCall: ev.call,
      match: null,
      prev: tail,
      next: null,
    };
    tail.next = node;
    tail = node;
    if (ev.call) {
      calls[ev.id] = node;
      pendingCall.set(ev.id, node);
    } else {
      const c = pendingCall.get(ev.id) as Node;
      c.match = node;
    }
  }

  const lift = (c: Node): void => {
    (c.prev as Node).next = c.next;
    if (c.next) c.next.prev = c.prev;
    const r = c.match as Node;
    (r.prev as Node).next = r.next;
    if (r.next) r.next.prev = r.prev;
  };
  const unlift = (c: Node): void => {
    const r = c.match as Node;
    (r.prev as Node).next = r;
    if (r.next) r.next.prev = r;
    (c.prev as Node).next = c;
    if (c.next) c.next.prev = c;
  };

  // The linearized set as a bitset with an incrementally maintained hash for the cache.
  const words = new Uint32Array((n + 31) >>> 5);
  const rnd = new Uint32Array(n);
  let seed = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    rnd[i] = seed >>> 0;
  }
  let hash = 0;
  const cache = new Map<string, { bits: Uint32Array; state: State }[]>();
  const seen = (state: State): boolean => {
    const k = `${hash}|${state === null ? '\u0000' : state}`;
    const list = cache.get(k);
    if (list) {
      for (const e of list) if (e.state === state && equalBits(e.bits, words)) return true;
    }
    const entry = { bits: words.slice(), state };
    if (list) list.push(entry);
    else cache.set(k, [entry]);
    return false;
  };

  interface Frame {
    call: Node;
    prevState: State;
    alternatives: State[];
  }
  const stack: Frame[] = [];
  let state: State = initial;
  let longest: Op[] = [];
  /** The op whose return could not be reached at the deepest point of the search: where it went wrong. */
  let blocked: Op | null = null;
  let steps = 0;
  let entry = head.next;

  const setBit = (id: number, on: boolean): void => {
    const w = id >>> 5;
    const b = 1 << (id & 31);
    words[w] = on ? (words[w] as number) | b : (words[w] as number) & ~b;
    hash = (hash ^ (rnd[id] as number)) >>> 0;
  };

  /** Tries the next untried alternative of a call; true if it linearized it. */
  const tryLinearize = (call: Node, alternatives: State[], prevState: State): boolean => {
    while (alternatives.length > 0) {
      const s2 = alternatives.shift() as State;
      setBit(call.id, true);
      if (!seen(s2)) {
        stack.push({ call, prevState, alternatives });
        state = s2;
        lift(call);
        return true;
      }
      setBit(call.id, false);
    }
    return false;
  };

  while (head.next !== null) {
    if ((++steps & 0xfff) === 0 && Date.now() > deadline) {
      return { result: 'unknown', key, message: `gave up after ${steps} steps (${n} ops on this key)` };
    }
    if (entry === null) throw new Error('linearizability: event list ended on a call (bug)');
    if (entry.isCall) {
      if (tryLinearize(entry, step(state, entry.op as Op), state)) {
        if (stack.length > longest.length) longest = stack.map((f) => f.call.op as Op);
        entry = head.next;
      } else {
        entry = entry.next;
      }
      continue;
    }
    // A return whose call is not linearized yet: undo the last choice and try the next one.
    const ret = entry;
    if (stack.length >= longest.length) blocked = ret.op;
    let resumed = false;
    while (stack.length > 0) {
      const top = stack.pop() as Frame;
      unlift(top.call);
      setBit(top.call.id, false);
      state = top.prevState;
      if (tryLinearize(top.call, top.alternatives, top.prevState)) {
        entry = head.next;
        resumed = true;
        break;
      }
      entry = top.call.next;
      resumed = true;
      break;
    }
    if (!resumed) {
      const stuck = blocked ?? ret.op;
      return {
        result: 'illegal',
        key,
        longestPrefix: longest,
        message: `no linearization: after ${longest.length} ops, ${describe(stuck)} cannot be placed`,
      };
    }
  }
  return { result: 'ok' };
}

function equalBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describe(op: Op | null): string {
  if (!op) return 'an operation';
  const v = (x: string | null | undefined): string =>
    x === null || x === undefined ? 'nil' : JSON.stringify(x);
  const what = op.kind === 'cas' ? `cas(${v(op.expected)} -> ${v(op.value)})` : `${op.kind}(${v(op.value)})`;
  return `process ${op.process} ${what} [${op.outcome}] in [${op.call}, ${op.ret}]`;
}

/** Records a history as clients run: invoke before sending, complete after the reply. */
export class HistoryRecorder {
  private readonly list: Op[] = [];
  private readonly discarded = new Set<number>();
  constructor(private readonly now: () => number) {}

  invoke(process: number, key: string, kind: OpKind, value: string | null, expected?: string | null): number {
    const op: Op = { process, key, kind, value, call: this.now(), ret: Infinity, outcome: 'info' };
    if (kind === 'cas') op.expected = expected ?? null;
    this.list.push(op);
    return this.list.length - 1;
  }

  ok(handle: number, readValue?: string | null): void {
    const op = this.list[handle] as Op;
    op.ret = this.now();
    op.outcome = 'ok';
    if (op.kind === 'read') op.value = readValue ?? null;
  }

  fail(handle: number): void {
    const op = this.list[handle] as Op;
    op.ret = this.now();
    op.outcome = 'fail';
  }

  /** The op certainly never executed (e.g. its Raft entry was overwritten): it neither changed nor observed anything. */
  discard(handle: number): void {
    this.discarded.add(handle);
  }

  info(handle: number): void {
    const op = this.list[handle] as Op;
    op.ret = Infinity;
    op.outcome = 'info';
  }

  ops(): Op[] {
    return this.list.filter((_o, i) => !this.discarded.has(i)).map((o) => ({ ...o }));
  }
}
