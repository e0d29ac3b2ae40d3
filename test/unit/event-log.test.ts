import { describe, expect, it } from 'vitest';
import {
  EVENT_RING,
  EventLog,
  eventJson,
  filtersMatch,
  packEnvelope,
  unpackEnvelope,
  validateFilters,
} from '../../src/agent/event-log.js';
import { seededRng } from '../../src/core/rng.js';

const none = { node: '', service: '', tag: '' };
const ev = (i: number, name = 'deploy') => eventJson(`id-${i}`, name, new Uint8Array([i]), none, i);

describe('the agent’s user event log', () => {
  it('keeps the 256 most recent events once each, and moves its index on every new one', () => {
    const log = new EventLog();
    expect(log.index).toBe(1);
    for (let i = 0; i < EVENT_RING + 10; i++) expect(log.add(ev(i))).toBe(true);
    expect(log.add(ev(EVENT_RING + 9))).toBe(false); // a duplicate (same ID) changes nothing
    const all = log.list();
    expect(all).toHaveLength(EVENT_RING);
    expect(all[0]?.ID).toBe('id-10');
    expect(log.index).toBe(1 + EVENT_RING + 10);
    log.add(ev(1000, 'other'));
    expect(log.list('other').map((e) => e.ID)).toEqual(['id-1000']);
  });

  it('wakes a blocked wait on the next event, and times out otherwise', async () => {
    const log = new EventLog();
    const rng = seededRng(1);
    const signal = new AbortController().signal;
    const t0 = Date.now();
    await log.wait(log.index, 50, rng, signal);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    const waiting = log.wait(log.index, 10_000, rng, signal);
    setTimeout(() => log.add(ev(1)), 20);
    await waiting;
    expect(log.index).toBe(2);
  });

  it('matches node, service and tag filters; a service filter needs a matching local service', () => {
    expect(filtersMatch({ ...none, node: '^web' }, 'web-1', [])).toBe(true);
    expect(filtersMatch({ ...none, node: '^db' }, 'web-1', [])).toBe(false);
    const svc = [{ service: 'api', tags: ['v2'] }];
    expect(filtersMatch({ node: '', service: 'api', tag: 'v2' }, 'n', svc)).toBe(true);
    expect(filtersMatch({ node: '', service: 'api', tag: 'v1' }, 'n', svc)).toBe(false);
    expect(filtersMatch({ ...none, service: 'api' }, 'n', [])).toBe(false);
    expect(() => validateFilters({ ...none, tag: 'x' })).toThrow('tag filter without service filter');
    expect(() => validateFilters({ ...none, node: '(' })).toThrow('Invalid node filter regexp');
  });

  it('round-trips the envelope and drops anything that is not one', () => {
    const env = unpackEnvelope(packEnvelope(new Uint8Array([1, 2]), { node: 'a', service: 'b', tag: 'c' }));
    expect(env).toMatchObject({ n: 'a', s: 'b', t: 'c' });
    expect([...(env?.p ?? [])]).toEqual([1, 2]);
    expect(unpackEnvelope(new Uint8Array([0xc1]))).toBeNull();
    expect(unpackEnvelope(packEnvelope(new Uint8Array(0), none))?.p).toBeNull();
  });
});
