// The anti-entropy driver (Consul's agent/ae/ae.go around local/state.go): a full sync at start and
// then every interval (scaled with the cluster's size, plus stagger), a partial sync after every
// local change, and a retry with backoff after a failure. One sync runs at a time; requests that
// arrive meanwhile are coalesced into the next run. The decisions are ae-plan.ts's; this file owns
// the timers and the endpoint calls, which go through the agent's forwarder, so a client agent and
// a server agent sync the same way.

import type { Logger } from 'pino';
import { ConsulError, ErrorCode } from '../../core/errors.js';
import type { Rng } from '../../core/rng.js';
import { defaultQuery, type QueryResult } from '../../rpc/endpoints/types.js';
import type { HealthCheck, NodeServices, RegisterRequest } from '../../state/types.js';
import {
  diffWithCatalog,
  nextFullSyncDelay,
  planSync,
  retryDelay,
  stagger,
  type NodeRecord,
  type SyncOp,
} from './ae-plan.js';
import type { LocalState } from './state.js';
import type { LocalCheck } from './types.js';

export interface AntiEntropyDeps {
  state: LocalState;
  node: () => NodeRecord;
  call(method: string, args: unknown, signal: AbortSignal): Promise<unknown>;
  clusterSize: () => number;
  rng: Rng;
  logger: Logger;
  intervalMs: number;
  now: () => number;
}

/** What /v1/agent/self reports about syncing. */
export interface SyncStatus {
  /** Epoch ms of the last successful full sync (0: none yet). */
  lastFullSync: number;
  /** Epoch ms of the last successful sync of any kind. */
  lastSync: number;
  /** Failed syncs in a row. */
  failures: number;
  lastError: string;
}

export class AntiEntropy {
  private wantFull = false;
  private wantPartial = false;
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly abort = new AbortController();
  private stopped = false;
  private readonly st: SyncStatus = { lastFullSync: 0, lastSync: 0, failures: 0, lastError: '' };

  constructor(private readonly d: AntiEntropyDeps) {}

  /** The first full sync runs at once. */
  start(): void {
    this.triggerFull();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.abort.abort(new ConsulError(ErrorCode.Unavailable, 'agent stopping'));
  }

  /**
   * Stops syncing without cutting short a sync already under way, and resolves once it is done (or
   * after `maxWaitMs`). Before a graceful leave: a sync finishing after the leader removed this node
   * would register it again, and nothing would ever remove it.
   */
  async pause(maxWaitMs = 5000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((r) => (t = setTimeout(r, maxWaitMs)))]);
    clearTimeout(t);
  }

  status(): SyncStatus {
    return { ...this.st };
  }

  /** A local change: push what is out of sync (soon, coalesced with other changes). */
  triggerPartial(): void {
    this.wantPartial = true;
    this.kick();
  }

  triggerFull(): void {
    this.wantFull = true;
    this.kick();
  }

  /** A server joined: Consul runs a full sync within a few seconds (serverUpIntv 3 s, staggered). */
  serverJoined(): void {
    this.schedule(stagger(3000, this.d.clusterSize(), this.d.rng));
  }

  /** Resolves once no sync is running (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private kick(): void {
    if (this.stopped || this.running) return;
    this.running = (async () => {
      // Let the changes of one request (a service and its checks) go out together.
      await new Promise((r) => setImmediate(r));
      try {
        await this.loop();
      } finally {
        this.running = null;
      }
      if (!this.stopped && (this.wantFull || this.wantPartial) && this.st.failures === 0) this.kick();
    })();
  }

  private async loop(): Promise<void> {
    while (!this.stopped && (this.wantFull || this.wantPartial)) {
      const full = this.wantFull;
      this.wantFull = false;
      this.wantPartial = false;
      try {
        if (full) await this.fullSync();
        else await this.syncChanges();
        const now = this.d.now();
        this.st.lastSync = now;
        if (full) this.st.lastFullSync = now;
        this.st.failures = 0;
        this.st.lastError = '';
        if (full) this.schedule(nextFullSyncDelay(this.d.intervalMs, this.d.clusterSize(), this.d.rng));
      } catch (err) {
        if (this.stopped) return;
        this.st.failures++;
        this.st.lastError = (err as Error).message;
        const delay = retryDelay(this.st.failures, this.d.clusterSize(), this.d.rng);
        this.d.logger.warn(
          { err: (err as Error).message, retryInMs: Math.round(delay) },
          `failed to sync ${full ? 'with the catalog' : 'changes'}`,
        );
        // A retry is a full sync: the catalog may have changed while we could not reach it.
        this.schedule(delay);
        return;
      }
    }
  }

  /** Runs a full sync after `ms` (replacing any sooner or later one already planned). */
  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.triggerFull();
    }, ms);
    this.timer.unref();
  }

  /** Reads the catalog's record of this node, marks what differs, then pushes it. */
  private async fullSync(): Promise<void> {
    const me = this.d.node();
    const signal = this.abort.signal;
    const [nodeInfo, checks] = await Promise.all([
      this.d.call('Catalog.NodeServices', { node: me.Node, q: defaultQuery }, signal) as Promise<
        QueryResult<NodeServices | null>
      >,
      this.d.call('Health.NodeChecks', { node: me.Node, q: defaultQuery }, signal) as Promise<
        QueryResult<HealthCheck[]>
      >,
    ]);
    const st = this.d.state;
    const diff = diffWithCatalog(
      { services: st.services(), checks: st.checks(), deferredChecks: st.deferredChecks() },
      {
        node: nodeInfo.value?.Node ?? null,
        services: Object.values(nodeInfo.value?.Services ?? {}),
        checks: checks.value,
      },
      me,
    );
    st.applyDiff(diff);
    await this.syncChanges();
  }

  private async syncChanges(): Promise<void> {
    const st = this.d.state;
    const ops = planSync({
      nodeInSync: st.nodeInSync,
      services: st.serviceSlots().map(([id, s]) => ({ id, inSync: s.inSync })),
      checks: st
        .checkSlots()
        .map(([id, c]) => ({ id, serviceId: c.entry.check.ServiceID, inSync: c.inSync })),
      deletedServices: [...st.deletedServices],
      deletedChecks: [...st.deletedChecks],
    });
    for (const op of ops) {
      if (this.stopped) return;
      try {
        await this.apply(op);
      } catch (err) {
        // The catalog refusing one registration must not hold back the others; it stays out of
        // sync and is tried again at the next sync.
        if (err instanceof ConsulError && err.code === ErrorCode.BadRequest) {
          this.d.logger.warn({ op, err: err.message }, 'the catalog refused a local registration');
          continue;
        }
        throw err;
      }
    }
  }

  private async apply(op: SyncOp): Promise<void> {
    const st = this.d.state;
    const me = this.d.node();
    const signal = this.abort.signal;
    const base: RegisterRequest = {
      ID: me.ID,
      Node: me.Node,
      Address: me.Address,
      TaggedAddresses: me.TaggedAddresses,
      NodeMeta: me.Meta,
      SkipNodeUpdate: st.nodeInSync,
    };
    switch (op.op) {
      case 'node':
        await this.d.call('Catalog.Register', { req: { ...base, SkipNodeUpdate: false } }, signal);
        st.nodeInSync = true;
        this.d.logger.debug('synced node info');
        return;
      case 'deregister-check':
        await this.d.call('Catalog.Deregister', { req: { Node: me.Node, CheckID: op.id } }, signal);
        st.checkDeregistered(op.id);
        this.d.logger.info({ check: op.id }, 'deregistered check');
        return;
      case 'deregister-service':
        await this.d.call('Catalog.Deregister', { req: { Node: me.Node, ServiceID: op.id } }, signal);
        st.serviceDeregistered(op.id);
        this.d.logger.info({ service: op.id }, 'deregistered service');
        return;
      case 'service': {
        const svc = st.service(op.id);
        if (!svc) return;
        const checks = op.checks.map((id) => st.checkSlot(id)?.entry.check).filter((c) => c !== undefined);
        await this.d.call(
          'Catalog.Register',
          { req: { ...base, Service: { ...svc }, Checks: checks.map((c) => checkRecord(c, me.Node)) } },
          signal,
        );
        st.serviceSynced(op.id, svc);
        const now = this.d.now();
        for (const c of checks) st.checkSynced(c.CheckID, c, now);
        this.d.logger.info({ service: op.id }, 'synced service');
        return;
      }
      case 'check': {
        const c = st.checkSlot(op.id)?.entry.check;
        if (!c) return;
        await this.d.call('Catalog.Register', { req: { ...base, Check: checkRecord(c, me.Node) } }, signal);
        st.checkSynced(op.id, c, this.d.now());
        this.d.logger.debug({ check: op.id }, 'synced check');
        return;
      }
    }
  }
}

function checkRecord(c: LocalCheck, node: string): NonNullable<RegisterRequest['Check']> {
  return {
    Node: node,
    CheckID: c.CheckID,
    Name: c.Name,
    Status: c.Status,
    Notes: c.Notes,
    Output: c.Output,
    ServiceID: c.ServiceID,
    Type: c.Type,
    Definition: c.Definition,
  };
}
