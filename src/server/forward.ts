// The forwarding guard every RPC endpoint passes through (Consul's rpc.go forward): a read that may
// be stale runs here; anything else runs on the leader, which this server either is or forwards to.
// With no leader the request waits up to rpc_hold_timeout for one, then fails as Consul does.
// A request naming another datacenter goes there first (server/dc-router.ts).

import type { Logger } from 'pino';
import { retryBackoffMs, sleep } from '../core/clock.js';
import { ConsulError, ErrorCode, messages } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import type { RaftDriver } from '../raft/driver.js';
import { blockingQuery } from '../state/blocking.js';
import { topic } from '../state/watch.js';
import type { StateStore } from '../state/store.js';
import {
  endpoints,
  type EndpointContext,
  type EndpointName,
  type QueryEndpoint,
  type ReadArgs,
} from '../rpc/endpoints/index.js';
import type { QueryMeta, QueryResult } from '../rpc/endpoints/types.js';
import { allowAll } from '../acl/authorizer.js';
import { callerAuthorizer, type AclSpec } from '../rpc/endpoints/acl-spec.js';
import { DcRouter, type RemoteConn, type WanView } from './dc-router.js';

export interface ForwardDeps {
  /** This server's datacenter: a request naming another goes there. */
  datacenter: string;
  /** The WAN pool's datacenters and servers; without it every other datacenter is NoDCPath. */
  wan?: WanView;
  driver: RaftDriver;
  store: StateStore;
  rng: Rng;
  logger: Logger;
  rpcHoldTimeoutMs: number;
  leaderAddress(): string | undefined;
  /**
   * A connection to another server (of `dc`, when it is another datacenter's: its certificate
   * names that one); a rejection means the request never left (safe to retry).
   */
  connect(addr: string, dc?: string): Promise<RemoteConn>;
  context(signal: AbortSignal): EndpointContext;
}

/** The envelope a follower uses to hand a request to the leader; the leader never forwards it again. */
export interface ForwardedCall {
  method: EndpointName;
  args: unknown;
}

export class Forwarder {
  private readonly dcs: DcRouter | null;
  /** Other datacenters, for endpoints that run one another there (EndpointContext.datacenters). */
  readonly datacenters: EndpointContext['datacenters'];

  constructor(private readonly d: ForwardDeps) {
    const { wan, datacenter: local } = d;
    this.dcs = wan
      ? new DcRouter({ wan, connect: (a, dc) => d.connect(a, dc), rng: d.rng, logger: d.logger })
      : null;
    this.datacenters = {
      local,
      list: () => {
        const dcs = wan ? wan.datacenters() : [];
        return dcs.includes(local) ? dcs : [local, ...dcs];
      },
      call: (dc, method, args, signal) =>
        this.call(method, { ...(args as Record<string, unknown>), dc }, signal),
    };
  }

  /** Runs an endpoint for a local caller (HTTP) or a remote one (RPC frame), forwarding as needed. */
  async call(method: string, args: unknown, signal: AbortSignal, forwarded = false): Promise<unknown> {
    const ep = (endpoints as Record<string, (typeof endpoints)[EndpointName]>)[method];
    if (!ep) throw new ConsulError(ErrorCode.BadRequest, `rpc: unknown method ${method}`);
    // Consul's forwardRequestToOtherDatacenter: the remote server sees its own dc in the args and
    // handles the request as local. A server with no WAN pool has no route to any other.
    const dc = (args as { dc?: unknown } | null)?.dc;
    if (typeof dc === 'string' && dc !== '' && dc !== this.d.datacenter) {
      if (!this.dcs) throw new ConsulError(ErrorCode.NoDCPath, messages.noDCPath);
      return this.dcs.call(dc, method, args, signal, ep.kind !== 'write');
    }
    switch (ep.kind) {
      case 'local': {
        const ctx = this.d.context(signal);
        return guarded(ep.acl, ctx, args, () => ep.run(ctx, args as never));
      }
      case 'read': {
        const q = (args as ReadArgs).q;
        if (q.stale) return this.serveRead(method as EndpointName, args as ReadArgs, signal, 'stale');
        return this.onLeader(method as EndpointName, args, signal, forwarded, () =>
          this.serveRead(
            method as EndpointName,
            args as ReadArgs,
            signal,
            q.consistent ? 'consistent' : 'leader',
          ),
        );
      }
      case 'query': {
        const q = (args as Partial<ReadArgs> | null)?.q;
        if (q?.stale) return this.serveQuery(ep, args, signal, 'stale');
        return this.onLeader(method as EndpointName, args, signal, forwarded, () =>
          this.serveQuery(ep, args, signal, q?.consistent ? 'consistent' : 'leader'),
        );
      }
      case 'write':
        return this.onLeader(method as EndpointName, args, signal, forwarded, () => {
          const ctx = this.d.context(signal);
          return guarded(ep.acl, ctx, args, () => ep.run(ctx, args as never));
        });
    }
  }

  /** A query endpoint under the read rules (lease or quorum check unless stale), its meta set here. */
  private async serveQuery(
    ep: QueryEndpoint<never>,
    args: unknown,
    signal: AbortSignal,
    mode: QueryMeta['consistency'],
  ): Promise<QueryResult<unknown>> {
    const { driver } = this.d;
    if (mode === 'consistent' || (mode === 'leader' && !driver.leaseValid())) await driver.verifyLeader();
    const ctx = this.d.context(signal);
    const authz = callerAuthorizer(ctx, ep.acl, args);
    const early = authz === allowAll ? undefined : ep.acl?.check?.(authz, args as never, ctx);
    const r = early
      ? { value: early.answer, meta: { index: Math.max(1, this.d.store.lastIndex) } }
      : await ep.run(ctx, args as never);
    const f =
      authz === allowAll || !ep.acl?.filter
        ? { value: r.value, filtered: false }
        : ep.acl.filter(authz, r.value, args as never, ctx);
    return {
      value: f.value,
      meta: {
        ...r.meta,
        ...(f.filtered ? { filteredByAcls: true } : {}),
        knownLeader: driver.leaderId() !== '',
        lastContact: mode === 'stale' ? Math.max(0, driver.lastContactMs()) : 0,
        consistency: mode,
      },
    };
  }

  private async serveRead(
    method: EndpointName,
    args: ReadArgs,
    signal: AbortSignal,
    mode: QueryMeta['consistency'],
  ): Promise<QueryResult<unknown>> {
    const ep = endpoints[method];
    if (ep.kind !== 'read') throw new ConsulError(ErrorCode.Internal, `${method} is not a read`);
    const { driver, store } = this.d;
    // Default reads ride the leader lease; when it lapsed (or ?consistent), a quorum round proves
    // leadership first, so even the default mode never serves a stale read here.
    if (mode === 'consistent' || (mode === 'leader' && !driver.leaseValid())) await driver.verifyLeader();
    const ctx = this.d.context(signal);
    const spec = ep.acl as AclSpec<unknown> | undefined;
    let authz = callerAuthorizer(ctx, spec, args);
    const early = authz === allowAll ? undefined : spec?.check?.(authz, args, ctx);
    if (early) return this.readMeta({ index: store.lastIndex, value: early.answer, filtered: false }, mode);
    const q = args.q;
    const enforced = authz !== allowAll;
    let filtered = false;
    let rerun = false;
    const r = await blockingQuery(
      {
        minIndex: q.minIndex,
        ...(q.maxWaitMs !== undefined ? { waitMs: q.maxWaitMs } : {}),
        signal,
        rng: this.d.rng,
        store,
      },
      (ws) => {
        if (enforced) {
          // A blocked reader also wakes when tokens or policies change, and is then checked again
          // with what its token may do now (the resolver caches, so this costs a lookup).
          ws.add(topic.aclTokens);
          ws.add(topic.aclPolicies);
          if (rerun) {
            authz = callerAuthorizer(ctx, spec, args);
            const again = spec?.check?.(authz, args, ctx);
            if (again) return { index: store.lastIndex, value: again.answer };
          }
          rerun = true;
        }
        const out = ep.run(ctx, args as never, ws);
        if (!enforced) return out;
        // The index moves with the ACL state too, or the blocked reader would go back to sleep.
        const index = Math.max(out.index, store.aclIndex());
        if (!spec?.filter) return { index, value: out.value };
        // Filtered on every wake-up, so a blocked reader sees what it may see of each new state.
        const f = spec.filter(authz, out.value, args, ctx);
        filtered = f.filtered;
        return { index, value: f.value };
      },
    );
    return this.readMeta({ index: r.index, value: r.value, filtered }, mode);
  }

  private readMeta(
    r: { index: number; value: unknown; filtered: boolean },
    mode: QueryMeta['consistency'],
  ): QueryResult<unknown> {
    const { driver } = this.d;
    return {
      value: r.value,
      meta: {
        index: Math.max(1, r.index),
        knownLeader: driver.leaderId() !== '',
        lastContact: mode === 'stale' ? Math.max(0, driver.lastContactMs()) : 0,
        consistency: mode,
        ...(r.filtered ? { filteredByAcls: true } : {}),
      },
    };
  }

  /** Runs `here` if this server leads, else hands the request to the leader; waits out elections. */
  private async onLeader<T>(
    method: EndpointName,
    args: unknown,
    signal: AbortSignal,
    forwarded: boolean,
    here: () => Promise<T>,
  ): Promise<unknown> {
    const deadline = Date.now() + this.d.rpcHoldTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted();
      if (this.d.driver.isLeader()) {
        try {
          return await here();
        } catch (err) {
          // Leadership moved between the check and the proposal: nothing was applied, try again.
          if (!(err instanceof ConsulError && err.code === ErrorCode.NotLeader) || forwarded) throw err;
        }
      } else if (forwarded) {
        throw new ConsulError(ErrorCode.NotLeader, 'node is not the leader');
      } else {
        const addr = this.d.leaderAddress();
        if (addr) {
          let conn;
          try {
            conn = await this.d.connect(addr);
          } catch {
            conn = null; // could not reach it: nothing was sent, so retrying is safe
          }
          if (conn) {
            try {
              return await conn.call('Forward', { method, args } satisfies ForwardedCall, { signal });
            } catch (err) {
              const retryable =
                err instanceof ConsulError &&
                (err.code === ErrorCode.NotLeader ||
                  err.code === ErrorCode.NoLeader ||
                  (err.code === ErrorCode.Unavailable && isRead(method)));
              if (!retryable) throw err;
            }
          }
        }
      }
      if (Date.now() >= deadline) throw new ConsulError(ErrorCode.NoLeader, messages.noLeader);
      await sleep(Math.min(retryBackoffMs(attempt, this.d.rng), Math.max(1, deadline - Date.now())), signal);
    }
  }
}

/**
 * Runs a write or local endpoint under its ACL spec: the check first (a 403, or an answer that
 * replaces running it), then the filter on its answer. Without a spec or with ACLs off: just runs.
 */
async function guarded(
  spec: AclSpec<never> | undefined,
  ctx: EndpointContext,
  args: unknown,
  run: () => unknown,
): Promise<unknown> {
  const authz = callerAuthorizer(ctx, spec, args);
  if (authz === allowAll || !spec) return run();
  const s = spec as AclSpec<unknown>;
  const early = s.check?.(authz, args, ctx);
  if (early) return early.answer;
  const value = await run();
  return s.filter ? s.filter(authz, value, args, ctx).value : value;
}

function isRead(method: EndpointName): boolean {
  const kind = endpoints[method].kind;
  return kind === 'read' || kind === 'query';
}
