// The agent's local services and checks as one component: the state (state.ts), the check runners
// that feed it, persistence of API registrations (persist.ts), the reaper of services critical for
// longer than their deregister_critical_service_after, output throttling timers, and anti-entropy
// (anti-entropy.ts). HTTP handlers call the methods here; nothing else changes the local state.

import type { Logger } from 'pino';
import type { AgentConfig } from '../../config/config.js';
import { configError } from '../../config/config.js';
import { ConsulError, ErrorCode, badRequest, notFound } from '../../core/errors.js';
import type { Rng } from '../../core/rng.js';
import type { CheckStatus } from '../../state/types.js';
import {
  checkDefinitionJson,
  checkType,
  healthCheckDefinition,
  parseCheckDefinition,
  type CheckDefinition,
} from '../checks/definition.js';
import { truncateTtlOutput } from '../checks/output.js';
import { startCheck as defaultStartCheck, type CheckResult, type RunningCheck } from '../checks/runner.js';
import type { NodeRecord } from './ae-plan.js';
import { AntiEntropy } from './anti-entropy.js';
import { parseServiceDefinition, type ServiceDefinition } from './definitions.js';
import { LocalStore, type Persisted, type PersistedCheckState } from './persist.js';
import { LocalState, isMaintenanceCheck } from './state.js';
import {
  NODE_MAINT_CHECK_ID,
  serviceMaintCheckId,
  type CheckEntry,
  type LocalCheck,
  type Source,
} from './types.js';

/** Consul's check_reap_interval and check_deregister_interval_min. */
const REAP_INTERVAL_MS = 30_000;
const DEREGISTER_MIN_MS = 60_000;
/** Consul's CheckBufSize: the most output a TTL update keeps. */
const DEFAULT_OUTPUT_MAX = 4096;
const TTL_EXPIRED = 'TTL expired';

export interface LocalAgentDeps {
  config: AgentConfig;
  node: () => NodeRecord;
  call(method: string, args: unknown, signal: AbortSignal): Promise<unknown>;
  clusterSize: () => number;
  rng: Rng;
  logger: Logger;
  /** The check runners (agent/checks); replaceable in tests. */
  startCheck?: typeof defaultStartCheck;
  now?: () => number;
}

export class LocalAgent {
  readonly state: LocalState;
  readonly ae: AntiEntropy;
  private readonly store: LocalStore | null;
  private readonly startCheck: typeof defaultStartCheck;
  private readonly now: () => number;
  private readonly log: Logger;
  /** The runner of each check, with a token so a stopped runner's late results are ignored. */
  private readonly runners = new Map<string, { running: RunningCheck; token: object }>();
  /** Restored TTL checks: when their persisted status runs out unless a heartbeat comes first. */
  private readonly restoredExpiry = new Map<string, NodeJS.Timeout>();
  private deferTimer: NodeJS.Timeout | null = null;
  private reapTimer: NodeJS.Timeout | null = null;

  constructor(private readonly d: LocalAgentDeps) {
    this.log = d.logger;
    this.now = d.now ?? Date.now;
    this.startCheck = d.startCheck ?? defaultStartCheck;
    this.state = new LocalState(d.config.checkUpdateIntervalMs);
    this.store = d.config.dev || d.config.dataDir === '' ? null : new LocalStore(d.config.dataDir, d.logger);
    this.ae = new AntiEntropy({
      state: this.state,
      node: d.node,
      call: (method, args, signal) => d.call(method, args, signal),
      clusterSize: d.clusterSize,
      rng: d.rng,
      logger: d.logger.child({ component: 'agent.anti_entropy' }),
      intervalMs: d.config.aeIntervalMs,
      now: this.now,
    });
  }

  /**
   * Loads the config files' definitions (an invalid one stops the agent with one clear line) and
   * the persisted API registrations. Anti-entropy starts separately (startSync), once the agent
   * can reach a server.
   */
  load(): void {
    const c = this.d.config;
    // TTL states are kept for config-file checks too: they survive a restart like API ones.
    const persisted = this.store?.load() ?? null;
    const states = persisted?.states ?? new Map<string, PersistedCheckState>();
    const fromConfig = { services: new Set<string>(), checks: new Set<string>() };
    c.services.forEach((raw, i) => {
      let def: ServiceDefinition;
      try {
        def = parseServiceDefinition(raw, { strict: true });
      } catch (err) {
        throw configError(`service definition ${i + 1}: ${(err as Error).message}`);
      }
      this.addService(def, 'config', false, states);
      fromConfig.services.add(def.service.ID);
      for (const ch of def.checks) fromConfig.checks.add(ch.CheckID);
    });
    c.checks.forEach((raw, i) => {
      let def: CheckDefinition;
      try {
        def = parseCheckDefinition(raw);
        this.addCheck(def, 'config', states.get(def.CheckID));
      } catch (err) {
        throw configError(`check definition ${i + 1}: ${(err as Error).message}`);
      }
      fromConfig.checks.add(def.CheckID);
    });
    if (persisted) this.restore(persisted, fromConfig);
    this.reapTimer = setInterval(() => this.reap(this.now()), REAP_INTERVAL_MS);
    this.reapTimer.unref();
  }

  /**
   * A reload's definitions take the place of the config files' ones: services and checks no longer
   * in the config go, new ones come, changed ones are replaced (a check keeps its status, as when
   * it is registered again). Everything is parsed and checked first: a refused definition throws
   * and nothing changes. A definition whose ID an API registration holds replaces it, as at start.
   */
  reloadDefinitions(services: unknown[], checks: unknown[]): void {
    const svcDefs = services.map((raw, i) =>
      refusedAs(`service definition ${i + 1}`, () => {
        const def = parseServiceDefinition(raw, { strict: true });
        for (const ch of def.checks) this.checkScriptsAllowed(ch, 'config');
        return def;
      }),
    );
    const svcIds = new Set(svcDefs.map((d) => d.service.ID));
    const chkDefs = checks.map((raw, i) =>
      refusedAs(`check definition ${i + 1}`, () => {
        const def = parseCheckDefinition(raw);
        this.checkScriptsAllowed(def, 'config');
        const owner = def.ServiceID;
        if (owner !== '' && !svcIds.has(owner) && this.state.serviceSlot(owner)?.source !== 'api')
          throw badRequest(`ServiceID "${owner}" does not exist`);
        return def;
      }),
    );
    const chkIds = new Set([
      ...svcDefs.flatMap((d) => d.checks.map((c) => c.CheckID)),
      ...chkDefs.map((d) => d.CheckID),
    ]);
    for (const [id, slot] of this.state.serviceSlots()) {
      if (slot.source === 'config' && !svcIds.has(id)) this.removeService(id);
    }
    for (const [id, slot] of this.state.checkSlots()) {
      if (slot.entry.source === 'config' && !chkIds.has(id) && this.state.check(id)) this.removeCheck(id);
    }
    for (const def of svcDefs) {
      if (this.state.serviceSlot(def.service.ID)?.source === 'api') this.store?.removeService(def.service.ID);
      // Its config checks no longer listed went above; checks registered over the API stay.
      this.addService(def, 'config', false);
    }
    for (const def of chkDefs) {
      if (this.state.check(def.CheckID)?.source === 'api') this.store?.removeCheck(def.CheckID);
      this.addCheck(def, 'config');
    }
    this.ae.triggerPartial();
  }

  /** The node's own record (its metadata) changed: the catalog learns it at the next sync. */
  nodeChanged(): void {
    this.state.nodeInSync = false;
    this.ae.triggerPartial();
  }

  startSync(): void {
    this.ae.start();
  }

  /** Before a graceful leave: no more syncs, the one under way finished. */
  pauseSync(): Promise<void> {
    return this.ae.pause();
  }

  stop(): void {
    this.ae.stop();
    for (const { running } of this.runners.values()) running.stop();
    this.runners.clear();
    for (const t of this.restoredExpiry.values()) clearTimeout(t);
    this.restoredExpiry.clear();
    if (this.deferTimer) clearTimeout(this.deferTimer);
    if (this.reapTimer) clearInterval(this.reapTimer);
  }

  // ---------------------------------------------------------------- the HTTP API's operations

  registerService(raw: unknown, replaceExistingChecks: boolean): void {
    this.addService(parseServiceDefinition(raw), 'api', replaceExistingChecks);
    this.ae.triggerPartial();
  }

  deregisterService(id: string): void {
    if (!this.removeService(id)) {
      throw notFound(
        `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`,
      );
    }
    this.ae.triggerPartial();
  }

  registerCheck(raw: unknown): void {
    this.addCheck(parseCheckDefinition(raw), 'api');
    this.ae.triggerPartial();
  }

  deregisterCheck(id: string): void {
    if (!this.state.check(id)) throw unknownCheck(id);
    this.removeCheck(id);
    this.ae.triggerPartial();
  }

  /** PUT /v1/agent/check/{pass,warn,fail,update}/:id: only for TTL checks, as in Consul. */
  updateTtl(id: string, status: 'passing' | 'warning' | 'critical', output: string): void {
    const entry = this.state.check(id);
    if (!entry) throw unknownCheck(id);
    const def = entry.def;
    if (!def || def.kind !== 'ttl') {
      throw new ConsulError(ErrorCode.Internal, `CheckID "${id}" does not have associated TTL`);
    }
    const out = truncateTtlOutput(output, def.OutputMaxSize > 0 ? def.OutputMaxSize : DEFAULT_OUTPUT_MAX);
    this.clearRestoredExpiry(id);
    this.runners.get(id)?.running.heartbeat(out);
    this.setStatus(id, status, out);
    this.store?.saveCheckState({ CheckID: id, Status: status, Output: out, Expires: this.now() + def.TTLMs });
  }

  nodeMaintenance(enable: boolean, reason: string): void {
    const changed = enable
      ? this.state.enableNodeMaintenance(reason, this.now())
      : this.state.disableNodeMaintenance();
    if (!changed) return;
    this.persistMaintenance(NODE_MAINT_CHECK_ID, enable);
    this.log.info(enable ? 'node entered maintenance mode' : 'node left maintenance mode');
    this.ae.triggerPartial();
  }

  serviceMaintenance(serviceId: string, enable: boolean, reason: string): void {
    const changed = enable
      ? this.state.enableServiceMaintenance(serviceId, reason, this.now())
      : this.state.disableServiceMaintenance(serviceId);
    if (!changed) return;
    this.persistMaintenance(serviceMaintCheckId(serviceId), enable);
    this.log.info(
      { service: serviceId },
      enable ? 'service entered maintenance mode' : 'service left maintenance mode',
    );
    this.ae.triggerPartial();
  }

  /** Deregisters services whose check stayed critical past deregister_critical_service_after. */
  reap(now: number): string[] {
    const ids = this.state.servicesToReap(now, DEREGISTER_MIN_MS);
    for (const id of ids) {
      this.log.info({ service: id }, 'check critical for too long: deregistering service');
      this.removeService(id);
    }
    if (ids.length > 0) this.ae.triggerPartial();
    return ids;
  }

  // ---------------------------------------------------------------- internals

  private addService(
    def: ServiceDefinition,
    source: Source,
    replaceExistingChecks: boolean,
    states?: Map<string, PersistedCheckState>,
  ): void {
    // Everything that can be refused is checked before anything changes.
    for (const ch of def.checks) this.checkScriptsAllowed(ch, source);
    const svc = def.service;
    this.state.addService(svc, source);
    const keep = new Set(def.checks.map((c) => c.CheckID));
    if (replaceExistingChecks) {
      for (const c of this.state.checks()) {
        if (c.ServiceID === svc.ID && !keep.has(c.CheckID) && !isMaintenanceCheck(c.CheckID))
          this.removeCheck(c.CheckID);
      }
    }
    if (source === 'api') this.store?.saveService(svc);
    for (const ch of def.checks) this.addCheck(ch, source, states?.get(ch.CheckID));
  }

  private removeService(id: string): boolean {
    const removed = this.state.removeService(id);
    if (removed === null) return false;
    for (const cid of removed) this.stopRunner(cid);
    this.store?.removeService(id);
    for (const cid of removed) this.store?.removeCheck(cid);
    return true;
  }

  private addCheck(def: CheckDefinition, source: Source, restored?: PersistedCheckState): void {
    // Refused before anything changes (a check registered again keeps running until replaced).
    this.checkScriptsAllowed(def, source);
    if (def.ServiceID !== '' && !this.state.service(def.ServiceID)) {
      throw badRequest(`ServiceID "${def.ServiceID}" does not exist`);
    }
    const now = this.now();
    let status: CheckStatus = def.Status;
    let output = '';
    const live = restored && restored.Expires > now;
    const prev = this.state.check(def.CheckID)?.check;
    if (live) {
      status = restored.Status;
      output = restored.Output;
    } else if (prev) {
      // Consul keeps the state of a check registered again (a service re-registered by a deploy
      // tool must not flap to critical and back).
      status = prev.Status;
      output = prev.Output;
    }
    const entry: CheckEntry = {
      check: {
        CheckID: def.CheckID,
        Name: def.Name,
        Status: status,
        Notes: def.Notes,
        Output: output,
        ServiceID: def.ServiceID,
        ServiceName: '',
        ServiceTags: [],
        Type: checkType(def),
        Definition: healthCheckDefinition(def),
      },
      def,
      source,
    };
    this.stopRunner(def.CheckID);
    this.state.addCheck(entry, now);
    if (source === 'api') {
      this.store?.saveCheck(this.state.check(def.CheckID)?.check ?? entry.check, checkDefinitionJson(def));
    }
    const token = {};
    const running = this.startCheck(def, {
      update: (r: CheckResult) => this.onResult(def.CheckID, token, r),
      logger: this.log.child({ check: def.CheckID }),
      allowScripts: this.scriptsAllowed(source),
    });
    this.runners.set(def.CheckID, { running, token });
    if (live && def.kind === 'ttl') {
      // The persisted status holds for what was left of its TTL, as if the agent had not restarted.
      // (A damaged file cannot stretch it past one TTL.)
      const left = Math.min(restored.Expires - now, def.TTLMs);
      const t = setTimeout(() => {
        this.restoredExpiry.delete(def.CheckID);
        this.setStatus(def.CheckID, 'critical', TTL_EXPIRED);
      }, left);
      t.unref();
      this.restoredExpiry.set(def.CheckID, t);
    }
  }

  private onResult(id: string, token: object, r: CheckResult): void {
    // A result that raced the runner's start is accepted; one from a replaced runner is not.
    const cur = this.runners.get(id);
    if (cur && cur.token !== token) return;
    this.clearRestoredExpiry(id);
    this.setStatus(id, r.status, r.output);
  }

  private setStatus(id: string, status: CheckStatus, output: string): void {
    const change = this.state.setStatus(id, status, output, this.now());
    if (change === 'changed') this.ae.triggerPartial();
    else if (change === 'deferred') this.scheduleDeferred();
  }

  private removeCheck(id: string): void {
    this.stopRunner(id);
    this.state.removeCheck(id);
    this.store?.removeCheck(id);
  }

  private stopRunner(id: string): void {
    this.runners.get(id)?.running.stop();
    this.runners.delete(id);
    this.clearRestoredExpiry(id);
  }

  private clearRestoredExpiry(id: string): void {
    const t = this.restoredExpiry.get(id);
    if (t) clearTimeout(t);
    this.restoredExpiry.delete(id);
  }

  private scheduleDeferred(): void {
    if (this.deferTimer) clearTimeout(this.deferTimer);
    const at = this.state.nextDeferredAt();
    if (at === null) return;
    this.deferTimer = setTimeout(
      () => {
        this.deferTimer = null;
        if (this.state.releaseDeferred(this.now())) this.ae.triggerPartial();
        this.scheduleDeferred();
      },
      Math.max(0, at - this.now()),
    );
    this.deferTimer.unref();
  }

  private persistMaintenance(id: string, enabled: boolean): void {
    const entry = this.state.check(id);
    if (enabled && entry) this.store?.saveCheck(entry.check, null);
    else this.store?.removeCheck(id);
  }

  private scriptsAllowed(source: Source): boolean {
    const c = this.d.config;
    return source === 'config' ? c.enableScriptChecks || c.enableLocalScriptChecks : c.enableScriptChecks;
  }

  private checkScriptsAllowed(def: CheckDefinition, source: Source): void {
    if (def.kind !== 'script' || this.scriptsAllowed(source)) return;
    throw new ConsulError(
      ErrorCode.BadRequest,
      source === 'config'
        ? `Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true`
        : `Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true`,
    );
  }

  /** Brings back the API registrations of the last run (config files win over them). */
  private restore(p: Persisted, fromConfig: { services: Set<string>; checks: Set<string> }): void {
    const store = this.store;
    if (!store) return;
    for (const { Service: s } of p.services) {
      if (fromConfig.services.has(s.ID)) {
        // The config file's definition replaces the one registered over the API (Consul purges it).
        store.removeService(s.ID);
        continue;
      }
      this.state.addService(s, 'api');
    }
    for (const { Check: c, Definition: def } of p.checks) {
      if (fromConfig.checks.has(c.CheckID)) {
        store.removeCheck(c.CheckID);
        continue;
      }
      if (c.ServiceID !== '' && !this.state.service(c.ServiceID)) {
        store.removeCheck(c.CheckID);
        continue;
      }
      try {
        // Read back through the parser: a damaged file is refused like bad input, not run.
        if (def) this.addCheck(parseCheckDefinition(def), 'api', p.states.get(c.CheckID));
        else this.state.addCheck({ check: restoredMaintenance(c), def: null, source: 'api' }, this.now());
      } catch (err) {
        this.log.warn({ check: c.CheckID, err: (err as Error).message }, 'skipping a persisted check');
      }
    }
    const n = p.services.length + p.checks.length;
    if (n > 0)
      this.log.info({ services: p.services.length, checks: p.checks.length }, 'restored local registrations');
  }
}

/** Runs a definition's checks; a refusal names the definition, as the start-up load does. */
function refusedAs<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw configError(`${what}: ${(err as Error).message}`);
  }
}

function restoredMaintenance(c: LocalCheck): LocalCheck {
  return { ...c, Status: 'critical' };
}

function unknownCheck(id: string): ConsulError {
  return notFound(`Unknown check ID "${id}". Ensure that the check ID is passed, not the check name.`);
}
