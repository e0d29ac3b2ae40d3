// User events as an agent keeps them (Consul's agent/user_event.go): fired through gossip with
// optional node/service/tag filters, accepted only by agents the filters match, and kept in a ring
// of the 256 most recent for /v1/event/list, whose blocking index moves on every new event.

import { Packr } from 'msgpackr';
import { badRequest } from '../core/errors.js';
import { blockingTimeout } from '../state/blocking.js';
import type { Rng } from '../core/rng.js';

export const EVENT_RING = 256;

/** Consul's UserEvent JSON. */
export interface AgentEvent {
  ID: string;
  Name: string;
  Payload: string | null;
  NodeFilter: string;
  ServiceFilter: string;
  TagFilter: string;
  Version: number;
  LTime: number;
}

export interface EventFilters {
  node: string;
  service: string;
  tag: string;
}

/** What travels in the gossip event's payload: the user's payload and the filters. */
interface Envelope {
  p: Uint8Array | null;
  n: string;
  s: string;
  t: string;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function validateFilters(f: EventFilters): void {
  if (f.tag !== '' && f.service === '') throw badRequest('Cannot provide tag filter without service filter');
  for (const [what, re] of [
    ['node', f.node],
    ['service', f.service],
    ['tag', f.tag],
  ] as const) {
    if (re === '') continue;
    try {
      new RegExp(re);
    } catch {
      throw badRequest(`Invalid ${what} filter regexp: ${re}`);
    }
  }
}

export function packEnvelope(payload: Uint8Array, f: EventFilters): Uint8Array {
  const e: Envelope = { p: payload.byteLength > 0 ? payload : null, n: f.node, s: f.service, t: f.tag };
  return packr.pack(e);
}

/** Decodes an envelope from the wire; null for anything that is not one (dropped, never thrown). */
export function unpackEnvelope(data: Uint8Array): Envelope | null {
  let e: unknown;
  try {
    e = packr.unpack(data);
  } catch {
    return null;
  }
  if (typeof e !== 'object' || e === null) return null;
  const o = e as Record<string, unknown>;
  if (typeof o['n'] !== 'string' || typeof o['s'] !== 'string' || typeof o['t'] !== 'string') return null;
  const p = o['p'];
  if (p !== null && p !== undefined && !(p instanceof Uint8Array)) return null;
  return { p: p ?? null, n: o['n'], s: o['s'], t: o['t'] };
}

/** A local service as the filters see it. */
export interface LocalService {
  service: string;
  tags: string[];
}

/** Whether this agent accepts an event: every filter given must match something here. */
export function filtersMatch(f: EventFilters, nodeName: string, services: LocalService[]): boolean {
  try {
    if (f.node !== '' && !new RegExp(f.node).test(nodeName)) return false;
    if (f.service === '') return true;
    const sre = new RegExp(f.service);
    const tre = f.tag !== '' ? new RegExp(f.tag) : null;
    return services.some((s) => sre.test(s.service) && (!tre || s.tags.some((t) => tre.test(t))));
  } catch {
    return false; // a filter that does not compile matches nothing
  }
}

export function eventJson(
  id: string,
  name: string,
  payload: Uint8Array | null,
  f: EventFilters,
  ltime: number,
): AgentEvent {
  return {
    ID: id,
    Name: name,
    Payload: payload && payload.byteLength > 0 ? Buffer.from(payload).toString('base64') : null,
    NodeFilter: f.node,
    ServiceFilter: f.service,
    TagFilter: f.tag,
    Version: 1,
    LTime: ltime,
  };
}

export class EventLog {
  private readonly ring: AgentEvent[] = [];
  private readonly seen = new Set<string>();
  private indexValue = 1;
  private waiters = new Set<() => void>();

  /** The blocking index: moves by one for every accepted event (never 0). */
  get index(): number {
    return this.indexValue;
  }

  /** Adds an event once (by ID); the oldest falls out past 256. */
  add(e: AgentEvent): boolean {
    if (this.seen.has(e.ID)) return false;
    this.ring.push(e);
    this.seen.add(e.ID);
    if (this.ring.length > EVENT_RING) {
      const old = this.ring.shift() as AgentEvent;
      this.seen.delete(old.ID);
    }
    this.indexValue++;
    const w = this.waiters;
    this.waiters = new Set();
    for (const f of w) f();
    return true;
  }

  list(name = ''): AgentEvent[] {
    return name === '' ? [...this.ring] : this.ring.filter((e) => e.Name === name);
  }

  /** Waits until the index passes `minIndex` or the (jittered, clamped) wait runs out. */
  async wait(minIndex: number, waitMs: number | undefined, rng: Rng, signal: AbortSignal): Promise<void> {
    if (minIndex <= 0 || this.indexValue > minIndex) return;
    const ms = blockingTimeout(waitMs, rng);
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener('abort', onAbort);
      };
      const done = (): void => {
        cleanup();
        resolve();
      };
      const onAbort = (): void => {
        cleanup();
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
