// The policy checks of a session create request (Consul's Session.Apply endpoint), made on the
// server before the command goes to Raft, with Consul's messages. The FSM re-checks only what
// depends on state (node and checks), so an old log entry replays the same way whatever the policy.

import { badRequest } from '../core/errors.js';
import { formatDuration, parseDuration } from '../core/duration.js';
import {
  DEFAULT_LOCK_DELAY_NS,
  SESSION_TTL_MAX_MS,
  SESSION_TTL_MIN_MS,
  type SessionInput,
} from './sessions.js';

/** A create request as the HTTP layer hands it on: everything but the ID, which the server draws. */
export type SessionRequest = Omit<SessionInput, 'ID'>;

/** The TTL in milliseconds (0 for none); throws Consul's error for a bad or out-of-range TTL. */
export function sessionTtlMs(ttl: string): number {
  if (ttl === '') return 0;
  const ms = parseDuration(ttl);
  if (ms === undefined || !Number.isFinite(ms)) {
    throw badRequest(`Session TTL '${ttl}' invalid: time: invalid duration ${JSON.stringify(ttl)}`);
  }
  if (ms !== 0 && (ms < SESSION_TTL_MIN_MS || ms > SESSION_TTL_MAX_MS)) {
    throw badRequest(
      `Invalid Session TTL '${Math.round(ms * 1e6)}', must be between [${formatDuration(SESSION_TTL_MIN_MS)}=${formatDuration(SESSION_TTL_MAX_MS)}]`,
    );
  }
  return ms;
}

/** Fills defaults and checks every field's policy; returns the request as the FSM will store it. */
export function validateSessionRequest(raw: unknown): SessionRequest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw badRequest('Must provide a session');
  const r = raw as Partial<Record<keyof SessionRequest, unknown>>;
  const str = (v: unknown, what: string): string => {
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw badRequest(`${what} must be a string`);
    return v;
  };
  const node = str(r.Node, 'Node');
  if (node === '') throw badRequest('Must provide Node');
  const behavior = str(r.Behavior, 'Behavior') || 'release';
  if (behavior !== 'release' && behavior !== 'delete') {
    throw badRequest(`Invalid Behavior setting '${behavior}'`);
  }
  const ttl = str(r.TTL, 'TTL');
  sessionTtlMs(ttl);
  const lockDelay = r.LockDelay ?? DEFAULT_LOCK_DELAY_NS;
  if (typeof lockDelay !== 'number' || !Number.isSafeInteger(lockDelay) || lockDelay < 0) {
    throw badRequest('LockDelay must be a non-negative duration');
  }
  const nodeChecks = r.NodeChecks ?? ['serfHealth'];
  if (!Array.isArray(nodeChecks) || !nodeChecks.every((c) => typeof c === 'string')) {
    throw badRequest('NodeChecks must be a list of check IDs');
  }
  let serviceChecks: SessionInput['ServiceChecks'] = null;
  if (r.ServiceChecks !== undefined && r.ServiceChecks !== null) {
    if (!Array.isArray(r.ServiceChecks)) throw badRequest('ServiceChecks must be a list');
    serviceChecks = r.ServiceChecks.map((c: unknown) => {
      const o = (typeof c === 'object' && c !== null ? c : {}) as Record<string, unknown>;
      const id = str(o['ID'], 'ServiceChecks ID');
      if (id === '') throw badRequest('ServiceChecks entries must have an ID');
      return { ID: id, Namespace: str(o['Namespace'], 'ServiceChecks Namespace') };
    });
  }
  return {
    Name: str(r.Name, 'Name'),
    Node: node,
    NodeChecks: [...new Set(nodeChecks)],
    ServiceChecks: serviceChecks,
    LockDelay: lockDelay,
    Behavior: behavior,
    TTL: ttl,
  };
}
