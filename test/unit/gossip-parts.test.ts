// The gossip core's building blocks: the transmit-limited broadcast queue, Lifeguard's suspicion
// timer and its local health awareness score.
import { describe, expect, it } from 'vitest';
import { Awareness } from '../../src/gossip/awareness.js';
import { BroadcastQueue, retransmitLimit } from '../../src/gossip/broadcasts.js';
import { Suspicion, suspicionParams, suspicionTimeout } from '../../src/gossip/suspicion.js';
import { fastTimings, lanTimings } from '../../src/gossip/types.js';

const msg = (tag: number, size = 10): Uint8Array => new Uint8Array(size).fill(tag);

describe('broadcast queue', () => {
  it('scales the retransmit limit with log10 of the cluster size', () => {
    expect(retransmitLimit(4, 1)).toBe(4);
    expect(retransmitLimit(4, 9)).toBe(4);
    expect(retransmitLimit(4, 10)).toBe(8);
    expect(retransmitLimit(4, 99)).toBe(8);
    expect(retransmitLimit(4, 100)).toBe(12);
  });

  it('sends each broadcast exactly its limit of times, then forgets it', () => {
    const q = new BroadcastQueue(4);
    q.enqueue('a', msg(1));
    let sent = 0;
    for (let i = 0; i < 20; i++) sent += q.take(1000, 3, 50).length;
    expect(sent).toBe(retransmitLimit(4, 50));
    expect(q.size).toBe(0);
  });

  it('sends the least transmitted first, and the newest among equals', () => {
    const q = new BroadcastQueue(4);
    q.enqueue('old', msg(1));
    q.take(1000, 3, 5); // 'old' sent once
    q.enqueue('b', msg(2));
    q.enqueue('c', msg(3));
    const first = q.take(13, 3, 5); // room for one
    expect(first).toEqual([msg(3)]);
    expect(q.take(13, 3, 5)).toEqual([msg(2)]);
    // Now all three were sent once: newest first again.
    expect(q.take(1000, 3, 5)).toEqual([msg(3), msg(2), msg(1)]);
  });

  it('replaces an older broadcast with the same key, counting transmissions afresh', () => {
    const q = new BroadcastQueue(4);
    q.enqueue('member:x', msg(1));
    q.take(1000, 3, 5);
    q.take(1000, 3, 5);
    q.take(1000, 3, 5);
    expect(q.size).toBe(1);
    q.enqueue('member:x', msg(2));
    expect(q.size).toBe(1);
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 10; i++) sent.push(...q.take(1000, 3, 5));
    // Only the newer message, and a full limit of times.
    expect(sent).toEqual([msg(2), msg(2), msg(2), msg(2)]);
  });

  it('fills the budget, skipping what does not fit for smaller items further down', () => {
    const q = new BroadcastQueue(4);
    q.enqueue('small-old', msg(1, 20));
    q.enqueue('big', msg(2, 100));
    q.enqueue('small-new', msg(3, 20));
    const got = q.take(60, 3, 5);
    expect(got).toEqual([msg(3, 20), msg(1, 20)]);
    expect(got.reduce((n, m) => n + m.length + 3, 0)).toBeLessThanOrEqual(60);
    expect(q.take(1000, 3, 5, 1)).toHaveLength(1);
  });

  it('retransmits weighted items proportionally more', () => {
    const q = new BroadcastQueue(4);
    q.enqueue('event', msg(1), 2);
    q.enqueue('member', msg(2));
    const counts = new Map<number, number>();
    for (let i = 0; i < 30; i++)
      for (const m of q.take(1000, 3, 5)) counts.set(m[0] as number, (counts.get(m[0] as number) ?? 0) + 1);
    expect(counts.get(1)).toBe(8);
    expect(counts.get(2)).toBe(4);
  });

  it('counts the items not sent even once, through sends, replacements and pruning', () => {
    const q = new BroadcastQueue(4, Infinity, 3);
    q.enqueue('a', msg(1));
    q.enqueue('b', msg(2));
    expect(q.unsent).toBe(2);
    q.take(13, 3, 5); // room for one: the newest, b
    expect(q.unsent).toBe(1);
    q.enqueue('b', msg(3)); // replaced: news again
    expect(q.unsent).toBe(2);
    q.take(1000, 3, 5);
    expect(q.unsent).toBe(0);
    for (let i = 0; i < 4; i++) q.enqueue(`k${i}`, msg(i)); // pruned back to 3 items
    expect(q.size).toBe(3);
    expect(q.unsent).toBe(3);
  });

  it('refuses a message that could never fit in a packet, and bounds the queue', () => {
    const q = new BroadcastQueue(4, 50, 3);
    expect(q.enqueue('huge', msg(1, 51))).toBe(false);
    expect(q.size).toBe(0);
    for (let i = 0; i < 5; i++) q.enqueue(`k${i}`, msg(i));
    expect(q.size).toBe(3);
    // The newest survive.
    expect(q.has('k4') && q.has('k3') && q.has('k2')).toBe(true);
  });
});

describe('suspicion timer', () => {
  it('follows memberlist: min = mult * max(1, log10 n) * probe interval, max = maxMult * min', () => {
    const p = suspicionParams(lanTimings, 50);
    expect(p.minMs).toBeCloseTo(4 * Math.log10(50) * 1000, 6);
    expect(p.maxMs).toBeCloseTo(6 * p.minMs, 6);
    expect(p.k).toBe(2);
    // Small clusters: log10 below 1 counts as 1, and too few members to confirm means no wait for them.
    const small = suspicionParams(lanTimings, 3);
    expect(small).toEqual({ k: 0, minMs: 4000, maxMs: 24_000 });
    expect(suspicionTimeout(0, small)).toBe(4000);
    expect(suspicionParams(fastTimings, 4).k).toBe(2);
  });

  it('shrinks from max toward min with each independent confirmation', () => {
    const p = { k: 3, minMs: 1000, maxMs: 6000 };
    const t = [0, 1, 2, 3, 4].map((c) => suspicionTimeout(c, p));
    expect(t[0]).toBe(6000);
    expect(t[1]).toBe(Math.floor(6000 - 5000 * (Math.log(2) / Math.log(4))));
    expect(t[3]).toBe(1000);
    expect(t[4]).toBe(1000);
    for (let i = 1; i < t.length; i++) expect(t[i]).toBeLessThanOrEqual(t[i - 1] as number);
  });

  it('counts each other member once, never the one that started it, and at most k', () => {
    const s = new Suspicion('a', { k: 2, minMs: 1000, maxMs: 6000 }, 500);
    expect(s.deadline()).toBe(6500);
    expect(s.confirm('a')).toBe(false);
    expect(s.confirm('b')).toBe(true);
    expect(s.confirm('b')).toBe(false);
    const afterOne = s.deadline();
    expect(afterOne).toBeLessThan(6500);
    expect(s.confirm('c')).toBe(true);
    expect(s.deadline()).toBe(1500);
    expect(s.confirm('d')).toBe(false);
    expect(s.confirmations).toBe(2);
  });
});

describe('awareness', () => {
  it('stays within [0, max - 1] and scales timeouts by score + 1', () => {
    const a = new Awareness(8);
    expect(a.score).toBe(0);
    a.applyDelta(-1);
    expect(a.score).toBe(0);
    a.applyDelta(3);
    expect(a.score).toBe(3);
    expect(a.scale(500)).toBe(2000);
    a.applyDelta(100);
    expect(a.score).toBe(7);
    expect(a.scale(1000)).toBe(8000);
    a.applyDelta(-2);
    expect(a.score).toBe(5);
    expect(new Awareness(1).scale(100)).toBe(100);
  });
});
