// -docker-sync's reconcile, as a plan: what Docker says should be registered against the agent's
// local services that carry Meta external-source=docker (those -docker-sync registered, in this run
// or before a restart). Pure: the caller applies the plan through the agent's register and
// deregister operations. Services without that mark are never touched.

import type { CheckDefinition } from '../checks/definition.js';
import type { ServiceDefinition } from '../local/definitions.js';
import type { LocalService } from '../local/types.js';
import { EXTERNAL_SOURCE, META_CONTAINER, META_SOURCE } from './services.js';

/** A local service as the agent holds it, with the definitions of its checks. */
export interface CurrentService {
  service: LocalService;
  checks: CheckDefinition[];
}

export interface ReconcilePlan {
  /** IDs of desired services that are new or differ from the agent's copy. */
  register: string[];
  /** IDs of docker services that no container stands for any more. */
  deregister: string[];
}

export function isDockerService(s: LocalService): boolean {
  return s.Meta[META_SOURCE] === EXTERNAL_SOURCE;
}

function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => b[i] === x);
}

/** What a label can change in a check (its status belongs to the check runner, not to Docker). */
function checkKey(c: CheckDefinition): string {
  return JSON.stringify([c.CheckID, c.kind, c.HTTP, c.TCP, c.IntervalMs, c.TimeoutMs]);
}

/** Whether the agent's copy already is what Docker asks for. */
export function sameRegistration(want: ServiceDefinition, have: CurrentService): boolean {
  const a = want.service;
  const b = have.service;
  return (
    a.Service === b.Service &&
    a.Address === b.Address &&
    a.Port === b.Port &&
    sameList(a.Tags, b.Tags) &&
    sameMap(a.Meta, b.Meta) &&
    sameList(want.checks.map(checkKey).sort(), have.checks.map(checkKey).sort())
  );
}

/**
 * The plan for every container (`containerId` undefined: a full resync, which also removes what
 * was left from before a restart) or for one container (after one of its events): then only the
 * docker services of that container are compared, so that other containers' services stay as they
 * are whatever this container's state.
 */
export function planReconcile(
  desired: ServiceDefinition[],
  current: CurrentService[],
  containerId?: string,
): ReconcilePlan {
  const inScope = (s: LocalService): boolean =>
    isDockerService(s) && (containerId === undefined || s.Meta[META_CONTAINER] === containerId);
  const have = new Map(current.filter((c) => inScope(c.service)).map((c) => [c.service.ID, c]));
  const want = new Map(desired.map((d) => [d.service.ID, d]));
  const register: string[] = [];
  for (const [id, d] of want) {
    const h = have.get(id);
    if (!h || !sameRegistration(d, h)) register.push(id);
  }
  const deregister = [...have.keys()].filter((id) => !want.has(id));
  return { register: register.sort(), deregister: deregister.sort() };
}
