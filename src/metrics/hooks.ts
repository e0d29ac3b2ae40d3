// What the edges of the agent report to its metrics, as plain callbacks: the HTTP middleware, the
// RPC entry points, the DNS listener and the Raft proposal path call these and know nothing of the
// metrics library (agent-metrics.ts implements them; `noHooks` is the default where none is wired).

import type { StateMachine } from '../raft/driver.js';

export interface RpcHooks {
  /** One endpoint call served by this agent: its method, how long it took, and whether it failed. */
  rpc(method: string, ms: number, err: unknown): void;
  /** A blocking query (a read with a minimum index) started (+1) or ended (-1). */
  blockingQuery(delta: 1 | -1): void;
}

export interface RaftHooks {
  /** A proposal went out through Raft (Consul's raft.apply). */
  raftApply(): void;
  /** A proposal committed and applied here, `ms` after it was proposed (raft.commitTime). */
  raftCommit(ms: number): void;
  /** The FSM applied one command in `ms` (raft.fsm.apply). */
  fsmApply(ms: number): void;
  /** The Raft driver's 'leader' event: this server's role now. */
  raftRole(role: string): void;
}

export interface DnsHooks {
  /** One DNS message answered in `ms`; `cached` when the answer came without a catalog read. */
  dnsQuery(ms: number, cached: boolean): void;
}

export type ServerHooks = RpcHooks & RaftHooks;

export const noHooks: ServerHooks & DnsHooks = {
  rpc: () => undefined,
  blockingQuery: () => undefined,
  raftApply: () => undefined,
  raftCommit: () => undefined,
  fsmApply: () => undefined,
  raftRole: () => undefined,
  dnsQuery: () => undefined,
};

/** Runs an endpoint call and reports it to `hooks`, whatever its outcome. */
export async function observeRpc<T>(
  hooks: RpcHooks,
  method: string,
  args: unknown,
  run: () => Promise<T>,
): Promise<T> {
  const blocking = isBlockingQuery(args);
  if (blocking) hooks.blockingQuery(1);
  const t0 = performance.now();
  try {
    const r = await run();
    hooks.rpc(method, performance.now() - t0, null);
    return r;
  } catch (err) {
    hooks.rpc(method, performance.now() - t0, err);
    throw err;
  } finally {
    if (blocking) hooks.blockingQuery(-1);
  }
}

/** Whether an endpoint call's args make it a blocking query (QueryOptions with minIndex > 0). */
export function isBlockingQuery(args: unknown): boolean {
  const q = (args as { q?: { minIndex?: unknown } } | null | undefined)?.q;
  return typeof q?.minIndex === 'number' && q.minIndex > 0;
}

/** An endpoint caller whose every call is reported to `hooks` (the agent's own calls). */
export function observedCalls<
  C extends { call(method: string, args: unknown, signal: AbortSignal): Promise<unknown> },
>(inner: C, hooks: RpcHooks): { call(method: string, args: unknown, signal: AbortSignal): Promise<unknown> } {
  return {
    call: (method, args, signal) => observeRpc(hooks, method, args, () => inner.call(method, args, signal)),
  };
}

/** The state machine with each command's apply timed; `hooks` is read at each call. */
export function timedStateMachine(sm: StateMachine, hooks: () => RaftHooks): StateMachine {
  const timed: StateMachine = {
    apply: (index, data) => {
      const t0 = performance.now();
      try {
        return sm.apply(index, data);
      } finally {
        hooks().fsmApply(performance.now() - t0);
      }
    },
    snapshot: () => sm.snapshot(),
    restore: (data, index) => sm.restore(data, index),
  };
  if (sm.applyNoop) timed.applyNoop = (index) => sm.applyNoop?.(index);
  return timed;
}
