// The agent's own services and checks and what the catalog has yet to learn of them (Consul's
// agent/local/state.go). Plain data and rules, no timers and no I/O: the caller passes `now`, runs
// the checks, persists, and syncs (local-agent.ts, anti-entropy.ts).
//
// Sync bookkeeping: every service and check is in sync or not; removed ones stay listed as deleted
// until the catalog has forgotten them. Records are replaced, never changed in place, so a sync can
// tell whether what it sent is still current when the answer comes back.

import { ConsulError, ErrorCode, badRequest } from '../../core/errors.js';
import type { CheckStatus } from '../../state/types.js';
import {
  DEFAULT_NODE_MAINT_REASON,
  DEFAULT_SERVICE_MAINT_REASON,
  NODE_MAINT_CHECK_ID,
  SERVICE_MAINT_PREFIX,
  serviceMaintCheckId,
  type CheckEntry,
  type LocalCheck,
  type LocalService,
  type Source,
} from './types.js';

export interface ServiceSlot {
  service: LocalService;
  source: Source;
  inSync: boolean;
}

export interface CheckSlot {
  entry: CheckEntry;
  inSync: boolean;
  /** When the check last turned critical (null while it is not critical). */
  criticalSince: number | null;
  /** When the catalog last received this check (output throttling counts from here). */
  syncedAt: number;
  /** An output-only change waits until then before it is synced (check_update_interval). */
  deferredUntil: number | null;
}

export type StatusChange = 'unchanged' | 'changed' | 'deferred';

export type AggregatedStatus = 'passing' | 'warning' | 'critical' | 'maintenance';

export class LocalState {
  private readonly svcs = new Map<string, ServiceSlot>();
  private readonly chks = new Map<string, CheckSlot>();
  /** Removed locally; the catalog still has to forget them. */
  readonly deletedServices = new Set<string>();
  readonly deletedChecks = new Set<string>();
  /** Whether the catalog's record of this node (ID, address, meta) matches ours. */
  nodeInSync = false;

  constructor(
    /** 0 disables output throttling (every change is synced at once). */
    private readonly checkUpdateIntervalMs: number,
  ) {}

  // ---------------------------------------------------------------- reads

  services(): LocalService[] {
    return [...this.svcs.values()].map((s) => s.service);
  }

  service(id: string): LocalService | undefined {
    return this.svcs.get(id)?.service;
  }

  serviceSlot(id: string): ServiceSlot | undefined {
    return this.svcs.get(id);
  }

  serviceSlots(): [string, ServiceSlot][] {
    return [...this.svcs.entries()];
  }

  checks(): LocalCheck[] {
    return [...this.chks.values()].map((c) => c.entry.check);
  }

  check(id: string): CheckEntry | undefined {
    return this.chks.get(id)?.entry;
  }

  checkSlot(id: string): CheckSlot | undefined {
    return this.chks.get(id);
  }

  checkSlots(): [string, CheckSlot][] {
    return [...this.chks.entries()];
  }

  /** A service's checks plus the node-level ones (which decide every service's health too). */
  checksForService(serviceId: string): LocalCheck[] {
    return this.checks().filter((c) => c.ServiceID === serviceId || c.ServiceID === '');
  }

  servicesByName(name: string): LocalService[] {
    return this.services().filter((s) => s.Service === name);
  }

  // ---------------------------------------------------------------- services

  /** Adds or replaces a service; its checks keep running and take its new name and tags. */
  addService(service: LocalService, source: Source): void {
    this.svcs.set(service.ID, { service, source, inSync: false });
    this.deletedServices.delete(service.ID);
    for (const slot of this.chks.values()) {
      const c = slot.entry.check;
      if (c.ServiceID !== service.ID) continue;
      // The catalog derives these itself, so the check stays in sync.
      slot.entry = {
        ...slot.entry,
        check: { ...c, ServiceName: service.Service, ServiceTags: [...service.Tags] },
      };
    }
  }

  /** Removes a service and its checks; returns the IDs of the checks removed, or null if unknown. */
  removeService(id: string): string[] | null {
    if (!this.svcs.delete(id)) return null;
    this.deletedServices.add(id);
    const removed: string[] = [];
    for (const [cid, slot] of this.chks) {
      if (slot.entry.check.ServiceID !== id) continue;
      this.chks.delete(cid);
      // Deregistering the service removes its checks from the catalog too.
      removed.push(cid);
    }
    return removed;
  }

  // ---------------------------------------------------------------- checks

  /** Adds or replaces a check. A service check needs its service registered here first. */
  addCheck(entry: CheckEntry, now: number): void {
    const c = entry.check;
    let check = c;
    if (c.ServiceID !== '') {
      const s = this.svcs.get(c.ServiceID);
      if (!s) throw badRequest(`ServiceID "${c.ServiceID}" does not exist`);
      check = { ...c, ServiceName: s.service.Service, ServiceTags: [...s.service.Tags] };
    }
    const prev = this.chks.get(c.CheckID);
    const stillCritical = prev?.entry.check.Status === 'critical' && check.Status === 'critical';
    this.chks.set(c.CheckID, {
      entry: { ...entry, check },
      inSync: false,
      // Registered again while critical: the time it has been critical keeps counting.
      criticalSince: stillCritical ? (prev?.criticalSince ?? now) : check.Status === 'critical' ? now : null,
      syncedAt: Number.NEGATIVE_INFINITY,
      deferredUntil: null,
    });
    this.deletedChecks.delete(c.CheckID);
  }

  removeCheck(id: string): boolean {
    if (!this.chks.delete(id)) return false;
    this.deletedChecks.add(id);
    return true;
  }

  /**
   * A new result for a check. A status change is synced at once; an output-only change waits until
   * check_update_interval has passed since the check was last synced ('deferred': the caller wakes
   * releaseDeferred() at nextDeferredAt()).
   */
  setStatus(id: string, status: CheckStatus, output: string, now: number): StatusChange {
    const slot = this.chks.get(id);
    if (!slot) return 'unchanged';
    const c = slot.entry.check;
    if (c.Status === status && c.Output === output) return 'unchanged';
    const statusChanged = c.Status !== status;
    if (statusChanged) slot.criticalSince = status === 'critical' ? now : null;
    slot.entry = { ...slot.entry, check: { ...c, Status: status, Output: output } };
    if (
      statusChanged ||
      this.checkUpdateIntervalMs <= 0 ||
      now - slot.syncedAt >= this.checkUpdateIntervalMs
    ) {
      slot.inSync = false;
      slot.deferredUntil = null;
      return 'changed';
    }
    if (!slot.inSync) return 'changed';
    slot.deferredUntil ??= slot.syncedAt + this.checkUpdateIntervalMs;
    return 'deferred';
  }

  /** The earliest moment a deferred output change is due, or null. */
  nextDeferredAt(): number | null {
    let next: number | null = null;
    for (const s of this.chks.values()) {
      if (s.deferredUntil !== null && (next === null || s.deferredUntil < next)) next = s.deferredUntil;
    }
    return next;
  }

  /** Marks the deferred output changes that are due as out of sync; true if any was. */
  releaseDeferred(now: number): boolean {
    let any = false;
    for (const s of this.chks.values()) {
      if (s.deferredUntil !== null && s.deferredUntil <= now) {
        s.deferredUntil = null;
        s.inSync = false;
        any = true;
      }
    }
    return any;
  }

  /** Services whose check has been critical for its deregister_critical_service_after (at least minMs). */
  servicesToReap(now: number, minMs: number): string[] {
    const out = new Set<string>();
    for (const s of this.chks.values()) {
      const { def, check } = s.entry;
      if (!def || def.DeregisterCriticalServiceAfterMs <= 0 || check.ServiceID === '') continue;
      if (check.Status !== 'critical' || s.criticalSince === null) continue;
      if (now - s.criticalSince >= Math.max(def.DeregisterCriticalServiceAfterMs, minMs))
        out.add(check.ServiceID);
    }
    return [...out];
  }

  // ---------------------------------------------------------------- maintenance

  /** Node maintenance: a critical check on the node (Consul's _node_maintenance); false if already on. */
  enableNodeMaintenance(reason: string, now: number): boolean {
    if (this.chks.has(NODE_MAINT_CHECK_ID)) return false;
    this.addCheck(
      maintenanceEntry(NODE_MAINT_CHECK_ID, 'Node Maintenance Mode', reason || DEFAULT_NODE_MAINT_REASON, ''),
      now,
    );
    return true;
  }

  disableNodeMaintenance(): boolean {
    return this.removeCheck(NODE_MAINT_CHECK_ID);
  }

  /** Service maintenance: a critical check on the service; false if already on. */
  enableServiceMaintenance(serviceId: string, reason: string, now: number): boolean {
    this.requireService(serviceId);
    const id = serviceMaintCheckId(serviceId);
    if (this.chks.has(id)) return false;
    this.addCheck(
      maintenanceEntry(id, 'Service Maintenance Mode', reason || DEFAULT_SERVICE_MAINT_REASON, serviceId),
      now,
    );
    return true;
  }

  disableServiceMaintenance(serviceId: string): boolean {
    this.requireService(serviceId);
    return this.removeCheck(serviceMaintCheckId(serviceId));
  }

  private requireService(id: string): void {
    if (!this.svcs.has(id))
      throw new ConsulError(ErrorCode.NotFound, `No service registered with ID "${id}"`);
  }

  // ---------------------------------------------------------------- sync bookkeeping

  /** After a successful register: in sync, unless it changed while the request was out. */
  serviceSynced(id: string, sent: LocalService): void {
    const s = this.svcs.get(id);
    if (s && s.service === sent) s.inSync = true;
  }

  checkSynced(id: string, sent: LocalCheck, now: number): void {
    const s = this.chks.get(id);
    if (!s || s.entry.check !== sent) return;
    s.inSync = true;
    s.syncedAt = now;
    s.deferredUntil = null;
  }

  serviceDeregistered(id: string): void {
    this.deletedServices.delete(id);
  }

  checkDeregistered(id: string): void {
    this.deletedChecks.delete(id);
  }

  /** A full sync's view of the catalog: what differs becomes out of sync, extras are to delete. */
  applyDiff(diff: {
    nodeInSync: boolean;
    dirtyServices: string[];
    dirtyChecks: string[];
    deleteServices: string[];
    deleteChecks: string[];
  }): void {
    this.nodeInSync = diff.nodeInSync;
    for (const id of diff.dirtyServices) {
      const s = this.svcs.get(id);
      if (s) s.inSync = false;
    }
    for (const id of diff.dirtyChecks) {
      const s = this.chks.get(id);
      if (s) s.inSync = false;
    }
    for (const id of diff.deleteServices) if (!this.svcs.has(id)) this.deletedServices.add(id);
    for (const id of diff.deleteChecks) if (!this.chks.has(id)) this.deletedChecks.add(id);
  }

  /** Check IDs whose output change is waiting (a full sync ignores their output). */
  deferredChecks(): Set<string> {
    const out = new Set<string>();
    for (const [id, s] of this.chks) if (s.deferredUntil !== null) out.add(id);
    return out;
  }
}

function maintenanceEntry(id: string, name: string, notes: string, serviceId: string): CheckEntry {
  return {
    check: {
      CheckID: id,
      Name: name,
      Status: 'critical',
      Notes: notes,
      Output: '',
      ServiceID: serviceId,
      ServiceName: '',
      ServiceTags: [],
      Type: '',
      Definition: {},
    },
    def: null,
    source: 'api',
  };
}

export function isMaintenanceCheck(id: string): boolean {
  return id === NODE_MAINT_CHECK_ID || id.startsWith(SERVICE_MAINT_PREFIX);
}

/**
 * Consul's AggregatedStatus: maintenance wins, then critical, warning, passing (also for no checks).
 * The checks given should include the node-level ones.
 */
export function aggregatedStatus(checks: LocalCheck[]): AggregatedStatus {
  let critical = false;
  let warning = false;
  for (const c of checks) {
    if (isMaintenanceCheck(c.CheckID)) return 'maintenance';
    if (c.Status === 'critical' || c.Status === 'maintenance') critical = true;
    else if (c.Status === 'warning') warning = true;
  }
  return critical ? 'critical' : warning ? 'warning' : 'passing';
}

/** The HTTP status of /v1/agent/health/service/*: 200 passing, 429 warning, 503 otherwise. */
export function healthHttpStatus(s: AggregatedStatus): number {
  return s === 'passing' ? 200 : s === 'warning' ? 429 : 503;
}
