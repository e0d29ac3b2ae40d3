// -docker-sync: keeps the agent's local services in step with the published ports of the running
// Docker containers (what Registrator did for Consul). The I/O edge around two pure parts:
// services.ts (container -> service definitions) and reconcile.ts (the plan).
//
// One connection at a time to the Engine API: the container event stream. Once it is open, a full
// resync (every running container against every docker service of the agent, which also removes
// those left from before a restart); then each relevant event reconciles its container, and a full
// resync runs again every resync_interval. When the daemon cannot be reached, refuses, or the
// stream dies, the services stay as they are (containers may outlive a daemon restart), the state
// change is logged once, and the connection is tried again with capped exponential backoff.

import type { Logger } from 'pino';
import type { LocalAgent } from '../local/local-agent.js';
import { parseServiceDefinition, type ServiceDefinition } from '../local/definitions.js';
import { describeEndpoint, type ContainerEvent, type DockerApi } from './engine-api.js';
import { planReconcile, type CurrentService, type ReconcilePlan } from './reconcile.js';
import {
  containerServices,
  type ContainerInspect,
  type DockerServiceDef,
  type MapContext,
} from './services.js';
import { pause } from '../../core/clock.js';

/** Where the plan is applied: the agent's local services (localTarget), or a fake in tests. */
export interface DockerSyncTarget {
  current(): CurrentService[];
  register(def: DockerServiceDef): void;
  deregister(id: string): void;
}

export interface DockerSyncOptions {
  api: DockerApi;
  target: DockerSyncTarget;
  ctx: MapContext;
  /** A full resync this often while connected; 0: only after each (re)connect. */
  resyncIntervalMs: number;
  logger: Logger;
  /** Reconnect delays: doubling from minMs up to maxMs (500 ms, 15 s). */
  backoff?: { minMs: number; maxMs: number };
}

/**
 * Events that change what a container stands for; the daemon sends only these. Pause and unpause
 * are not among them: like Registrator, a paused container keeps its services (a check, if any,
 * turns critical while it is paused).
 */
const RELEVANT = new Set(['start', 'restart', 'die', 'stop', 'destroy', 'rename']);

/** A connection that stayed up this long resets the backoff. */
const STABLE_MS = 10_000;

interface Desired {
  raw: DockerServiceDef;
  parsed: ServiceDefinition;
}

/** The agent's local services, through the same operations as the HTTP API's. */
export function localTarget(local: LocalAgent): DockerSyncTarget {
  return {
    current: () => {
      const defs = new Map<string, CurrentService['checks']>();
      for (const c of local.state.checks()) {
        const def = local.state.check(c.CheckID)?.def;
        if (!def || c.ServiceID === '') continue;
        defs.set(c.ServiceID, [...(defs.get(c.ServiceID) ?? []), def]);
      }
      return local.state.services().map((service) => ({ service, checks: defs.get(service.ID) ?? [] }));
    },
    // replace-existing-checks: a check label taken away takes its check away.
    register: (def) => local.registerService(def, true),
    deregister: (id) => local.deregisterService(id),
  };
}

export class DockerSync {
  private readonly api: DockerApi;
  private readonly target: DockerSyncTarget;
  private readonly log: Logger;
  private readonly where: string;
  private readonly stopCtl = new AbortController();
  private stopped = false;
  /** The open event stream's controller (null while disconnected). */
  private conn: AbortController | null = null;
  /** Why a sync dropped the connection (reported instead of the stream's own end). */
  private failure: Error | null = null;
  private fullPending = false;
  private readonly dirty = new Set<string>();
  private working: Promise<void> | null = null;
  private loop: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** The connection's state as last logged: each change is logged once. */
  private state: 'starting' | 'up' | 'down' = 'starting';
  /** The warnings last logged per container, so that a resync does not repeat them. */
  private readonly warned = new Map<string, string>();
  /** Counters for tests and /v1/agent/self-style introspection. */
  readonly stats = { connects: 0, fullSyncs: 0, containerSyncs: 0, registered: 0, deregistered: 0 };

  constructor(private readonly o: DockerSyncOptions) {
    this.api = o.api;
    this.target = o.target;
    this.log = o.logger;
    this.where = describeEndpoint(o.api.endpoint);
  }

  start(): void {
    this.loop = this.run();
    if (this.o.resyncIntervalMs > 0) {
      this.timer = setInterval(() => this.requestFull(), this.o.resyncIntervalMs);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopCtl.abort();
    if (this.timer) clearInterval(this.timer);
    await this.loop;
    await this.working;
  }

  /** Whether the event stream is open. */
  connected(): boolean {
    return this.conn !== null;
  }

  // ---------------------------------------------------------------- the connection

  private async run(): Promise<void> {
    const { minMs, maxMs } = this.o.backoff ?? { minMs: 500, maxMs: 15_000 };
    let delay = minMs;
    while (!this.stopped) {
      const ctl = new AbortController();
      const onStop = (): void => ctl.abort();
      this.stopCtl.signal.addEventListener('abort', onStop);
      const since = Date.now();
      let reason: Error;
      try {
        const { closed } = await this.api.events([...RELEVANT], (e) => this.onEvent(e), ctl.signal);
        this.conn = ctl;
        this.failure = null;
        this.stats.connects++;
        this.setState(null);
        // Opened first, then listed: nothing that happens in between is missed.
        this.requestFull();
        reason = await closed;
        reason = this.failure ?? reason;
      } catch (err) {
        reason = err as Error;
      } finally {
        this.conn = null;
        ctl.abort();
        this.stopCtl.signal.removeEventListener('abort', onStop);
      }
      if (this.stopped) break;
      if (Date.now() - since >= STABLE_MS) delay = minMs;
      this.setState(reason, delay);
      await pause(delay, this.stopCtl.signal);
      delay = Math.min(delay * 2, maxMs);
    }
  }

  /**
   * Logs a change of connection state once (null: connected). Retries while down go to debug, with
   * their reason (it may change: the stream cut, then the socket absent while the daemon restarts).
   */
  private setState(err: Error | null, retryMs = 0): void {
    const prev = this.state;
    this.state = err ? 'down' : 'up';
    if (!err) {
      this.log.info({ docker: this.where }, 'connected to the Docker engine; syncing containers');
      return;
    }
    const fields = { docker: this.where, err: err.message, retryMs };
    if (prev === 'down') this.log.debug(fields, 'Docker engine still unreachable');
    else if (prev === 'up')
      this.log.warn(fields, 'lost the Docker engine; its services stay registered until it is back');
    else this.log.warn(fields, 'cannot reach the Docker engine; retrying');
  }

  private onEvent(e: ContainerEvent): void {
    if (!RELEVANT.has(e.action)) return;
    this.log.debug({ container: e.id.slice(0, 12), action: e.action }, 'container event');
    this.dirty.add(e.id);
    this.kick();
  }

  private requestFull(): void {
    if (!this.conn) return;
    this.fullPending = true;
    this.kick();
  }

  // ---------------------------------------------------------------- syncing

  /** Runs the pending syncs one at a time (never two at once, so plans never interleave). */
  private kick(): void {
    if (this.working || this.stopped) return;
    this.working = this.work().finally(() => {
      this.working = null;
      if (this.conn && (this.fullPending || this.dirty.size > 0)) this.kick();
    });
  }

  private async work(): Promise<void> {
    while (!this.stopped && (this.fullPending || this.dirty.size > 0)) {
      const ctl = this.conn;
      if (!ctl) return;
      try {
        if (this.fullPending) {
          this.fullPending = false;
          // A full resync covers every container an event named.
          this.dirty.clear();
          await this.fullSync(ctl.signal);
        } else {
          const ids = [...this.dirty];
          this.dirty.clear();
          for (const id of ids) await this.containerSync(id, ctl.signal);
        }
      } catch (err) {
        // The daemon failed mid-sync: drop the connection; the reconnect brings a full resync.
        if (ctl === this.conn && !this.stopped) {
          this.failure = err as Error;
          ctl.abort();
        }
        this.fullPending = false;
        this.dirty.clear();
        return;
      }
    }
  }

  private async fullSync(signal: AbortSignal): Promise<void> {
    this.stats.fullSyncs++;
    const desired: Desired[] = [];
    const seen = new Set<string>();
    for (const id of await this.api.runningContainers(signal)) {
      const c = await this.api.inspect(id, signal);
      if (!c) continue;
      seen.add(c.Id);
      desired.push(...this.desiredFor(c));
    }
    for (const id of this.warned.keys()) if (!seen.has(id)) this.warned.delete(id);
    this.apply(
      planReconcile(
        desired.map((d) => d.parsed),
        this.target.current(),
      ),
      desired,
    );
  }

  private async containerSync(id: string, signal: AbortSignal): Promise<void> {
    this.stats.containerSyncs++;
    const c = await this.api.inspect(id, signal);
    if (!c) this.warned.delete(id);
    const desired = c ? this.desiredFor(c) : [];
    this.apply(
      planReconcile(
        desired.map((d) => d.parsed),
        this.target.current(),
        c?.Id ?? id,
      ),
      desired,
    );
  }

  /** The container's services, checked as the HTTP API checks a registration. */
  private desiredFor(c: ContainerInspect): Desired[] {
    const mapped = containerServices(c, this.o.ctx);
    const warnings = [...mapped.warnings];
    const out: Desired[] = [];
    for (const raw of mapped.services) {
      try {
        out.push({ raw, parsed: parseServiceDefinition(raw) });
      } catch (err) {
        warnings.push(`service ${raw.ID}: ${(err as Error).message}; not registered`);
      }
    }
    const text = warnings.join('\n');
    if (text !== (this.warned.get(c.Id) ?? '')) {
      for (const w of warnings) this.log.warn({ container: c.Id.slice(0, 12) }, w);
    }
    this.warned.set(c.Id, text);
    return out;
  }

  private apply(plan: ReconcilePlan, desired: Desired[]): void {
    const byId = new Map(desired.map((d) => [d.raw.ID, d.raw]));
    for (const id of plan.deregister) {
      try {
        this.target.deregister(id);
        this.stats.deregistered++;
        this.log.info({ service: id }, 'container gone: deregistered its service');
      } catch (err) {
        this.log.warn({ service: id, err: (err as Error).message }, 'cannot deregister a docker service');
      }
    }
    for (const id of plan.register) {
      const raw = byId.get(id);
      if (!raw) continue;
      try {
        this.target.register(raw);
        this.stats.registered++;
        this.log.info(
          { service: id, name: raw.Name, addr: `${raw.Address}:${raw.Port}` },
          'registered a container port as a service',
        );
      } catch (err) {
        this.log.warn({ service: id, err: (err as Error).message }, 'cannot register a docker service');
      }
    }
  }
}
