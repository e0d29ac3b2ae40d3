// GossipCore's rules, one at a time, with hand-made packets: probing (direct, indirect with nacks,
// TCP fallback), suspicion and refutation, incarnation ordering, restarts and name conflicts,
// leave and force-leave, user events, queries, push/pull merging, reconnects and reaping.
import { describe, expect, it } from 'vitest';
import { ConsulError } from '../../src/core/errors.js';
import { seededRng } from '../../src/core/rng.js';
import {
  decodePacket,
  decodeStream,
  encodeMessage,
  encodePacket,
  encodeStream,
  type Message,
  type PushPullMember,
} from '../../src/gossip/codec.js';
import { GossipCore } from '../../src/gossip/core.js';
import { fastTimings, type GossipTimings, type Output } from '../../src/gossip/types.js';

// fastTimings: probe every 100 ms, timeout 50 ms, gossip every 20 ms, push/pull every 3 s,
// reconnect every 1 s.
const T = fastTimings;
const ME = '10.0.0.1:8301';

function makeCore(timings: GossipTimings = T, seed = 1): GossipCore {
  return new GossipCore(
    {
      name: 'me',
      addr: '10.0.0.1',
      port: 8301,
      tags: { id: 'id-me', role: 'node' },
      timings,
      packetBudget: 1371,
      recentEvents: 64,
    },
    seededRng(seed),
    0,
  );
}

const host = (name: string): string => `10.0.1.${name.charCodeAt(0)}`;
const addrOf = (name: string): string => `${host(name)}:8301`;

function alive(
  name: string,
  incarnation: number,
  over: Partial<{ addr: string; id: string; tags: Record<string, string> }> = {},
): Message {
  return {
    type: 'alive',
    node: name,
    addr: over.addr ?? host(name),
    port: 8301,
    tags: over.tags ?? { id: over.id ?? `id-${name}`, role: 'node' },
    incarnation,
  };
}

function deliver(core: GossipCore, from: string, now: number, ...msgs: Message[]): void {
  core.receivePacket(from, encodePacket(msgs.map(encodeMessage)), now);
}

/** Every message the core sent, decoded, with its destination. */
function sent(outs: Output[]): { to: string; msg: Message }[] {
  const res: { to: string; msg: Message }[] = [];
  for (const o of outs) {
    if (o.type !== 'send') continue;
    const d = decodePacket(o.data);
    if (!d.ok) throw new Error(`core sent a malformed packet: ${d.reason}`);
    for (const msg of d.value) res.push({ to: o.to, msg });
  }
  return res;
}

function memberEvents(outs: Output[]): string[] {
  return outs.flatMap((o) => (o.type === 'member' ? [`${o.event}:${o.member.name}`] : []));
}

/**
 * Runs the core's timers up to `until` and returns everything it output. `answer`: every member it
 * pings acks at once (healthy peers), so its own probes do not interfere with the rule under test.
 */
function runTo(core: GossipCore, from: number, until: number, answer = true): Output[] {
  const outs: Output[] = [];
  let now = from;
  for (;;) {
    const d = core.nextDeadline();
    if (d > until) break;
    now = Math.max(now, d);
    core.tick(now);
    expect(core.nextDeadline()).toBeGreaterThan(now);
    const batch = core.drain();
    outs.push(...batch);
    if (!answer) continue;
    for (const s of sent(batch)) {
      if (s.msg.type === 'ping') deliver(core, s.to, now, { type: 'ack', seq: s.msg.seq });
    }
    outs.push(...core.drain());
  }
  return outs;
}

/** Runs the core, answering nothing, until it outputs something `pred` likes; returns the time. */
function runUntil(core: GossipCore, from: number, pred: (o: Output) => boolean, outs: Output[]): number {
  let now = from;
  for (let i = 0; i < 10_000; i++) {
    now = Math.max(now, core.nextDeadline());
    core.tick(now);
    const batch = core.drain();
    outs.push(...batch);
    if (batch.some(pred)) return now;
  }
  throw new Error('never happened');
}

/** A core that knows `names` (alive), with its startup outputs drained. */
function withMembers(names: string[], timings: GossipTimings = T): GossipCore {
  const core = makeCore(timings);
  deliver(core, addrOf(names[0] as string), 0, ...names.map((n) => alive(n, 1)));
  core.drain();
  return core;
}

describe('gossip core: startup', () => {
  it('announces itself: a join output and an alive broadcast', () => {
    const core = makeCore();
    expect(memberEvents(core.drain())).toEqual(['join:me']);
    expect(core.local()).toMatchObject({ name: 'me', status: 'alive', incarnation: 1 });
    deliver(core, addrOf('a'), 0, alive('a', 1));
    const outs = runTo(core, 0, 100);
    const alives = sent(outs).filter((s) => s.msg.type === 'alive' && s.msg.node === 'me');
    expect(alives.length).toBeGreaterThan(0);
  });

  it('refuses a bad config', () => {
    const bad =
      (over: object): (() => GossipCore) =>
      () =>
        new GossipCore(
          {
            name: 'x',
            addr: 'h',
            port: 1,
            tags: {},
            timings: T,
            packetBudget: 1371,
            recentEvents: 8,
            ...over,
          },
          seededRng(1),
          0,
        );
    expect(bad({ name: '' })).toThrow(ConsulError);
    expect(bad({ name: 'x'.repeat(129) })).toThrow(/name/);
    expect(bad({ tags: { big: 'x'.repeat(600) } })).toThrow(/tags/);
    expect(bad({ timings: { ...T, probeIntervalMs: 0 } })).toThrow(/probeIntervalMs/);
    expect(bad({ packetBudget: 500 })).toThrow(/budget/);
  });
});

describe('gossip core: probing', () => {
  it('probes a member by name and is satisfied by its ack', () => {
    const core = withMembers(['a']);
    const outs: Output[] = [];
    const at = runUntil(core, 0, (o) => sent([o]).some((s) => s.msg.type === 'ping'), outs);
    const ping = sent(outs).find((s) => s.msg.type === 'ping');
    expect(ping?.to).toBe(addrOf('a'));
    expect(ping?.msg).toMatchObject({ node: 'a', from: 'me' });
    const seq = (ping?.msg as { seq: number }).seq;
    deliver(core, addrOf('a'), at + 3, { type: 'ack', seq });
    runTo(core, at + 3, at + 99, false);
    expect(core.member('a')?.status).toBe('alive');
    expect(core.counters['probes.failed']).toBe(0);
    expect(core.healthScore()).toBe(0);
  });

  it('answers a ping meant for it, and drops one meant for whoever had its address before', () => {
    const core = makeCore();
    core.drain();
    deliver(core, '10.9.9.9:8301', 1, { type: 'ping', seq: 5, node: 'me', from: 'x' });
    expect(sent(core.drain()).find((s) => s.msg.type === 'ack')).toMatchObject({
      to: '10.9.9.9:8301',
      msg: { seq: 5 },
    });
    deliver(core, '10.9.9.9:8301', 2, { type: 'ping', seq: 6, node: 'someone-else', from: 'x' });
    expect(sent(core.drain()).filter((s) => s.msg.type === 'ack')).toEqual([]);
    expect(core.counters['dropped.wrongNode']).toBe(1);
    deliver(core, '10.9.9.9:8301', 3, { type: 'ack', seq: 12345 });
    expect(core.counters['dropped.unknownAck']).toBe(1);
  });

  it('goes indirect and over TCP after the probe timeout, then suspects; missing nacks count against itself', () => {
    const core = withMembers(['a', 'b', 'c', 'd']);
    const outs: Output[] = [];
    const started = runUntil(core, 0, (o) => sent([o]).some((s) => s.msg.type === 'ping'), outs);
    const ping = sent(outs).find((s) => s.msg.type === 'ping');
    const target = (ping?.msg as { node: string }).node;
    const seq = (ping?.msg as { seq: number }).seq;
    // Nobody answers: after the probe timeout, ping-req to the three others, and a TCP ping.
    const later: Output[] = [];
    const indirectAt = runUntil(core, started, (o) => o.type === 'stream', later);
    expect(indirectAt).toBe(started + T.probeTimeoutMs);
    const reqs = sent(later).filter((s) => s.msg.type === 'pingReq');
    expect(reqs.length).toBe(3);
    expect(new Set(reqs.map((r) => r.to)).has(addrOf(target))).toBe(false);
    for (const r of reqs) expect(r.msg).toMatchObject({ seq, node: target, nack: true });
    const tcp = later.find((o) => o.type === 'stream');
    if (tcp?.type !== 'stream') throw new Error('no fallback probe');
    expect(tcp.to).toBe(addrOf(target));
    const d = decodeStream(tcp.data);
    expect(d.ok && d.value).toMatchObject({ type: 'ping', seq, node: target });
    core.streamReply(tcp.id, null, indirectAt + 5);
    // One of three peers says "no ack from the target either": two nacks are missing.
    deliver(core, reqs[0]?.to as string, indirectAt + 10, { type: 'nack', seq });
    expect(core.member(target)?.status).toBe('alive');
    runUntil(core, indirectAt + 10, () => true, []);
    expect(core.member(target)?.status).toBe('suspect');
    expect(core.healthScore()).toBe(2);
    expect(core.counters['suspicions']).toBe(1);
  });

  it('counts a TCP-only answer as alive, with a warning about the network', () => {
    const core = withMembers(['a']);
    const outs: Output[] = [];
    const at = runUntil(core, 0, (o) => o.type === 'stream', outs);
    const tcp = outs.find((o) => o.type === 'stream');
    if (tcp?.type !== 'stream') throw new Error('no fallback probe');
    const d = decodeStream(tcp.data);
    if (!d.ok || d.value.type !== 'ping') throw new Error('not a ping');
    expect(core.streamReply(tcp.id, encodeStream({ type: 'ack', seq: d.value.seq }), at + 1)).toBe(true);
    // Not over yet: UDP acks may still come until the probe's deadline.
    expect(core.counters['probes.tcpOnly']).toBe(0);
    const rest = runTo(core, at + 1, at + T.probeIntervalMs);
    expect(core.member('a')?.status).toBe('alive');
    expect(core.counters['probes.tcpOnly']).toBe(1);
    expect(
      rest.some((o) => o.type === 'log' && o.level === 'warn' && o.msg.includes('over TCP but UDP')),
    ).toBe(true);
  });

  it('probes on behalf of others: forwards the ack, or nacks when the target is silent', () => {
    const core = makeCore();
    core.drain();
    deliver(core, addrOf('r'), 10, {
      type: 'pingReq',
      seq: 77,
      node: 't',
      addr: host('t'),
      port: 8301,
      nack: true,
      from: 'r',
    });
    const ping = sent(core.drain()).find((s) => s.msg.type === 'ping');
    expect(ping?.to).toBe(addrOf('t'));
    deliver(core, addrOf('t'), 15, { type: 'ack', seq: (ping?.msg as { seq: number }).seq });
    expect(sent(core.drain())).toContainEqual({ to: addrOf('r'), msg: { type: 'ack', seq: 77 } });

    deliver(core, addrOf('r'), 20, {
      type: 'pingReq',
      seq: 78,
      node: 't',
      addr: host('t'),
      port: 8301,
      nack: true,
      from: 'r',
    });
    core.drain();
    const outs = runTo(core, 20, 100, false);
    expect(sent(outs)).toContainEqual({ to: addrOf('r'), msg: { type: 'nack', seq: 78 } });
  });
});

describe('gossip core: suspicion, refutation and incarnations', () => {
  it('declares a suspect failed when its timer runs out, sooner with confirmations', () => {
    // 6 members: k = 2, min = 4 * 100 ms (log10(6) < 1), max = 2400 ms.
    const lone = withMembers(['a', 'b', 'c', 'd', 'e']);
    deliver(lone, addrOf('b'), 1000, { type: 'suspect', node: 'a', incarnation: 1, from: 'b' });
    expect(lone.member('a')?.status).toBe('suspect');
    runTo(lone, 1000, 1000 + 2399);
    expect(lone.member('a')?.status).toBe('suspect');
    const outs = runTo(lone, 1000 + 2399, 1000 + 2400);
    expect(lone.member('a')?.status).toBe('failed');
    expect(memberEvents(outs)).toEqual(['failed:a']);
    expect(sent(outs).some((s) => s.msg.type === 'dead' && s.msg.node === 'a' && !s.msg.left)).toBe(true);

    const confirmed = withMembers(['a', 'b', 'c', 'd', 'e']);
    deliver(confirmed, addrOf('b'), 1000, { type: 'suspect', node: 'a', incarnation: 1, from: 'b' });
    deliver(confirmed, addrOf('c'), 1001, { type: 'suspect', node: 'a', incarnation: 1, from: 'c' });
    deliver(confirmed, addrOf('d'), 1002, { type: 'suspect', node: 'a', incarnation: 1, from: 'd' });
    runTo(confirmed, 1002, 1000 + 400);
    expect(confirmed.member('a')?.status).toBe('failed');
  });

  it('an alive with a higher incarnation clears a suspicion; older news is stale', () => {
    const core = withMembers(['a', 'b', 'c']);
    deliver(core, addrOf('b'), 10, { type: 'suspect', node: 'a', incarnation: 1, from: 'b' });
    deliver(core, addrOf('a'), 11, alive('a', 1));
    expect(core.member('a')?.status).toBe('suspect');
    deliver(core, addrOf('a'), 12, alive('a', 2));
    expect(core.member('a')).toMatchObject({ status: 'alive', incarnation: 2 });
    const stale = core.counters['dropped.stale'] as number;
    deliver(core, addrOf('b'), 13, { type: 'suspect', node: 'a', incarnation: 1, from: 'b' });
    deliver(core, addrOf('b'), 14, { type: 'dead', node: 'a', incarnation: 1, from: 'b', left: false });
    expect(core.member('a')?.status).toBe('alive');
    expect(core.counters['dropped.stale']).toBe(stale + 2);
    // dead at the current incarnation wins; alive needs more; failed -> alive is a join.
    deliver(core, addrOf('b'), 15, { type: 'dead', node: 'a', incarnation: 2, from: 'b', left: false });
    expect(core.member('a')?.status).toBe('failed');
    deliver(core, addrOf('b'), 16, { type: 'suspect', node: 'a', incarnation: 5, from: 'b' });
    expect(core.member('a')?.status).toBe('failed');
    core.drain();
    deliver(core, addrOf('a'), 17, alive('a', 3, { tags: { id: 'id-a', role: 'web' } }));
    expect(core.member('a')).toMatchObject({ status: 'alive', incarnation: 3, tags: { role: 'web' } });
    expect(memberEvents(core.drain())).toEqual(['join:a']);
    deliver(core, addrOf('a'), 18, alive('a', 4, { tags: { id: 'id-a', role: 'db' } }));
    expect(memberEvents(core.drain())).toEqual(['update:a']);
  });

  it('refutes a suspicion or death about itself with a higher incarnation, and grows less sure of itself', () => {
    const core = withMembers(['a']);
    deliver(core, addrOf('a'), 10, { type: 'suspect', node: 'me', incarnation: 1, from: 'a' });
    expect(core.local()).toMatchObject({ status: 'alive', incarnation: 2 });
    expect(core.healthScore()).toBe(1);
    deliver(core, addrOf('a'), 11, { type: 'dead', node: 'me', incarnation: 7, from: 'a', left: false });
    expect(core.local()).toMatchObject({ status: 'alive', incarnation: 8 });
    const outs = runTo(core, 11, 60);
    expect(
      sent(outs).some((s) => s.msg.type === 'alive' && s.msg.node === 'me' && s.msg.incarnation === 8),
    ).toBe(true);
    expect(core.counters['refutes']).toBe(2);
  });

  it('answers an accusation directly to whoever sent it, fresh or stale', () => {
    const core = withMembers(['a', 'b']);
    deliver(core, addrOf('a'), 10, { type: 'suspect', node: 'me', incarnation: 1, from: 'x' });
    const toA = sent(core.drain()).filter((s) => s.to === addrOf('a') && s.msg.type === 'alive');
    expect(toA.map((s) => s.msg)).toContainEqual(expect.objectContaining({ node: 'me', incarnation: 2 }));
    // b still spreads the old suspicion: it gets our current incarnation, and we do not bump it again.
    deliver(core, addrOf('b'), 11, { type: 'suspect', node: 'me', incarnation: 1, from: 'x' });
    const toB = sent(core.drain()).filter((s) => s.to === addrOf('b') && s.msg.type === 'alive');
    expect(toB.map((s) => s.msg)).toContainEqual(expect.objectContaining({ node: 'me', incarnation: 2 }));
    expect(core.local().incarnation).toBe(2);
    // At most once per probe interval per sender.
    deliver(core, addrOf('b'), 12, { type: 'dead', node: 'me', incarnation: 1, from: 'x', left: false });
    expect(sent(core.drain()).filter((s) => s.to === addrOf('b'))).toEqual([]);
  });

  it('corrects a member that spreads an old suspicion of someone it knows alive', () => {
    const core = withMembers(['a', 'b']);
    deliver(core, addrOf('a'), 5, alive('a', 3));
    core.drain();
    deliver(core, addrOf('b'), 10, { type: 'suspect', node: 'a', incarnation: 1, from: 'b' });
    expect(core.member('a')).toMatchObject({ status: 'alive', incarnation: 3 });
    expect(sent(core.drain())).toContainEqual({ to: addrOf('b'), msg: alive('a', 3) });
    deliver(core, addrOf('b'), 11, { type: 'dead', node: 'a', incarnation: 2, from: 'b', left: false });
    expect(sent(core.drain())).toEqual([]); // rate-limited
    deliver(core, addrOf('b'), 10 + T.probeIntervalMs, {
      type: 'dead',
      node: 'a',
      incarnation: 2,
      from: 'b',
      left: false,
    });
    expect(sent(core.drain())).toContainEqual({ to: addrOf('b'), msg: alive('a', 3) });
  });

  it('tells a member it holds as suspect or failed, when that member talks to it', () => {
    const core = withMembers(['a', 'b', 'c']);
    deliver(core, addrOf('b'), 10, { type: 'suspect', node: 'a', incarnation: 1, from: 'b' });
    deliver(core, addrOf('b'), 10, { type: 'dead', node: 'c', incarnation: 1, from: 'b', left: false });
    core.drain();
    deliver(core, addrOf('a'), 20, { type: 'ping', seq: 1, node: 'me', from: 'a' });
    expect(sent(core.drain())).toContainEqual({
      to: addrOf('a'),
      msg: { type: 'suspect', node: 'a', incarnation: 1, from: 'me' },
    });
    deliver(core, addrOf('c'), 21, { type: 'ack', seq: 5 });
    expect(sent(core.drain())).toContainEqual({
      to: addrOf('c'),
      msg: { type: 'dead', node: 'c', incarnation: 1, from: 'me', left: false },
    });
    // Its answer (a newer incarnation) clears it.
    deliver(core, addrOf('a'), 22, alive('a', 2));
    deliver(core, addrOf('c'), 23, alive('c', 2));
    expect(core.member('a')?.status).toBe('alive');
    expect(core.member('c')?.status).toBe('alive');
  });

  it('asks a member it never heard of, when that member pings it, and learns it from the answer', () => {
    const core = withMembers(['a']);
    deliver(core, addrOf('z'), 10, { type: 'ping', seq: 3, node: 'me', from: 'z' });
    const out = sent(core.drain());
    // (The ack carries this node's network coordinate too: see gossip-coordinates.test.ts.)
    expect(out).toContainEqual({ to: addrOf('z'), msg: expect.objectContaining({ type: 'ack', seq: 3 }) });
    expect(out).toContainEqual({
      to: addrOf('z'),
      msg: { type: 'suspect', node: 'z', incarnation: 0, from: 'me' },
    });
    // What z does with that: it answers with its alive, which adds it here.
    const z = makeCore();
    z.drain();
    deliver(z, ME, 11, { type: 'suspect', node: 'me', incarnation: 0, from: 'me' });
    expect(sent(z.drain()).some((s) => s.to === ME && s.msg.type === 'alive' && s.msg.node === 'me')).toBe(
      true,
    );
    expect(z.local().incarnation).toBe(1);
  });

  it('tells those who still spread old news of a member that left', () => {
    const core = withMembers(['a', 'b']);
    deliver(core, addrOf('a'), 10, { type: 'dead', node: 'a', incarnation: 2, from: 'a', left: true });
    core.drain();
    deliver(core, addrOf('b'), 11, { type: 'suspect', node: 'a', incarnation: 1, from: 'b' });
    expect(sent(core.drain())).toContainEqual({
      to: addrOf('b'),
      msg: { type: 'dead', node: 'a', incarnation: 2, from: 'a', left: true },
    });
  });

  it('after a restart, takes over from its previous life (old address, higher incarnation)', () => {
    const core = withMembers(['a']);
    deliver(core, addrOf('a'), 10, alive('me', 9, { addr: '10.0.0.99', id: 'id-me' }));
    expect(core.local()).toMatchObject({ addr: '10.0.0.1', incarnation: 10 });
    // Our own news echoing back changes nothing.
    deliver(
      core,
      addrOf('a'),
      11,
      alive('me', 10, { addr: '10.0.0.1', tags: { id: 'id-me', role: 'node' } }),
    );
    expect(core.local().incarnation).toBe(10);
  });

  it('takes a known member at a new address when its node ID matches and its incarnation is higher', () => {
    const core = withMembers(['a']);
    deliver(core, addrOf('a'), 10, alive('a', 5, { addr: '10.7.7.7' }));
    expect(core.member('a')).toMatchObject({ addr: '10.7.7.7', incarnation: 5, status: 'alive' });
    expect(memberEvents(core.drain())).toEqual(['update:a']);
  });

  it("refuses a different node ID under a running member's name, warning once per 10 s", () => {
    const core = withMembers(['a']);
    const impostor = (t: number, inc: number): void =>
      deliver(core, '10.6.6.6:8301', t, alive('a', inc, { addr: '10.6.6.6', id: 'other' }));
    impostor(10, 50);
    impostor(5000, 51);
    impostor(10_010, 52);
    expect(core.member('a')).toMatchObject({ addr: host('a'), tags: { id: 'id-a' }, incarnation: 1 });
    const warns = core
      .drain()
      .filter((o) => o.type === 'log' && o.level === 'warn' && o.msg.startsWith('member name conflict'));
    expect(warns).toHaveLength(2);
    expect(core.counters['dropped.conflict']).toBe(3);
    // The same about our own name: logged, never refuted (that would be an endless war).
    deliver(core, '10.6.6.6:8301', 20_000, alive('me', 3, { addr: '10.6.6.6', id: 'other' }));
    expect(core.local()).toMatchObject({ incarnation: 1, addr: '10.0.0.1' });
    expect(core.drain().some((o) => o.type === 'log' && o.msg.startsWith('member name conflict: me'))).toBe(
      true,
    );
  });

  it('lets a new node take the name of a failed or left member, whatever its incarnation', () => {
    const core = withMembers(['a', 'b']);
    deliver(core, addrOf('b'), 10, { type: 'dead', node: 'a', incarnation: 4, from: 'b', left: false });
    core.drain();
    deliver(core, '10.6.6.6:8301', 20, alive('a', 1, { addr: '10.6.6.6', id: 'new-id' }));
    expect(core.member('a')).toMatchObject({
      status: 'alive',
      addr: '10.6.6.6',
      tags: { id: 'new-id' },
      incarnation: 1,
    });
    expect(memberEvents(core.drain())).toEqual(['join:a']);
  });
});

describe('gossip core: leaving', () => {
  it('leaves gracefully: left with a higher incarnation, broadcast, never refuted', () => {
    const core = withMembers(['a']);
    core.leave(10);
    expect(core.local()).toMatchObject({ status: 'left', incarnation: 2 });
    const outs = core.drain().concat(runTo(core, 10, 100));
    expect(memberEvents(outs)).toEqual(['leave:me']);
    expect(sent(outs).some((s) => s.msg.type === 'dead' && s.msg.node === 'me' && s.msg.left)).toBe(true);
    deliver(core, addrOf('a'), 101, { type: 'suspect', node: 'me', incarnation: 5, from: 'a' });
    expect(core.local()).toMatchObject({ status: 'left', incarnation: 2 });
    // Whoever probes it while it is leaving hears that it left, with the ack.
    deliver(core, addrOf('a'), 102, { type: 'ping', seq: 4, node: 'me', from: 'a' });
    expect(sent(core.drain())).toContainEqual({
      to: addrOf('a'),
      msg: { type: 'dead', node: 'me', incarnation: 2, from: 'me', left: true },
    });
    // And it stops probing.
    expect(sent(runTo(core, 101, 1000)).filter((s) => s.msg.type === 'ping')).toEqual([]);
  });

  it('sees another member leave as left, not failed', () => {
    const core = withMembers(['a']);
    deliver(core, addrOf('a'), 10, { type: 'dead', node: 'a', incarnation: 2, from: 'a', left: true });
    expect(core.member('a')?.status).toBe('left');
    expect(memberEvents(core.drain())).toEqual(['leave:a']);
  });

  it('force-leaves only failed members', () => {
    const core = withMembers(['a', 'b']);
    expect(core.forceLeave('nobody', 1)).toBe(false);
    expect(core.forceLeave('me', 1)).toBe(false);
    expect(core.forceLeave('a', 1)).toBe(false);
    deliver(core, addrOf('b'), 2, { type: 'dead', node: 'a', incarnation: 1, from: 'b', left: false });
    core.drain();
    expect(core.forceLeave('a', 3)).toBe(true);
    expect(core.member('a')?.status).toBe('left');
    const outs = core.drain().concat(runTo(core, 3, 50));
    expect(memberEvents(outs)).toEqual(['leave:a']);
    expect(
      sent(outs).some(
        (s) => s.msg.type === 'dead' && s.msg.node === 'a' && s.msg.left && s.msg.from === 'me',
      ),
    ).toBe(true);
    // Another member that hears it turns its failed member into left too.
    const other = withMembers(['a', 'b']);
    deliver(other, addrOf('b'), 2, { type: 'dead', node: 'a', incarnation: 1, from: 'b', left: false });
    deliver(other, ME, 4, { type: 'dead', node: 'a', incarnation: 1, from: 'me', left: true });
    expect(other.member('a')?.status).toBe('left');
  });

  it('force-leave -prune: forgets the member, sends the prune on, and whoever hears it forgets too', () => {
    const core = withMembers(['a', 'b']);
    deliver(core, addrOf('b'), 2, { type: 'dead', node: 'a', incarnation: 1, from: 'b', left: false });
    core.drain();
    expect(core.forceLeave('a', 3, true)).toBe(true);
    expect(core.member('a')).toBeUndefined();
    const outs = core.drain().concat(runTo(core, 3, 50));
    expect(memberEvents(outs)).toEqual(['leave:a', 'reap:a']);
    expect(sent(outs).some((s) => s.msg.type === 'dead' && s.msg.node === 'a' && s.msg.prune)).toBe(true);

    // A member that knows `a` as failed, or already as left, forgets it and spreads the prune once.
    for (const first of [
      { type: 'dead', node: 'a', incarnation: 1, from: 'b', left: false },
      { type: 'dead', node: 'a', incarnation: 1, from: 'a', left: true },
    ] as const) {
      const other = withMembers(['a', 'b']);
      deliver(other, addrOf('b'), 2, first);
      other.drain();
      const prune = { type: 'dead', node: 'a', incarnation: 1, from: 'me', left: true, prune: true } as const;
      deliver(other, ME, 4, prune);
      expect(other.member('a')).toBeUndefined();
      const heard = other.drain().concat(runTo(other, 4, 10_000));
      expect(memberEvents(heard).at(-1)).toBe('reap:a');
      expect(sent(heard).some((s) => s.msg.type === 'dead' && s.msg.prune)).toBe(true);
      // Heard again once its retransmits are spent: nothing left to forget, so nothing sent on,
      // and ten seconds of gossip and push/pull do not bring the member back.
      deliver(other, ME, 10_000, prune);
      const again = other.drain().concat(runTo(other, 10_000, 20_000));
      expect(sent(again).some((s) => s.msg.type === 'dead')).toBe(false);
      expect(other.member('a')).toBeUndefined();
    }
  });

  it('refutes a prune of itself like any death', () => {
    const core = withMembers(['a']);
    const before = core.member('me')?.incarnation ?? 0;
    deliver(core, addrOf('a'), 5, {
      type: 'dead',
      node: 'me',
      incarnation: before,
      from: 'a',
      left: true,
      prune: true,
    });
    expect(core.member('me')).toMatchObject({ status: 'alive' });
    expect(core.member('me')?.incarnation).toBeGreaterThan(before);
  });

  it('reaps failed members after reconnectTimeout and left ones after tombstoneTimeout', () => {
    const timings = { ...T, reconnectTimeoutMs: 10_000, tombstoneTimeoutMs: 5000 };
    const core = withMembers(['a', 'b', 'c'], timings);
    deliver(core, addrOf('b'), 100, { type: 'dead', node: 'a', incarnation: 1, from: 'b', left: false });
    deliver(core, addrOf('b'), 100, { type: 'dead', node: 'c', incarnation: 1, from: 'c', left: true });
    core.drain();
    let outs = runTo(core, 100, 5099);
    expect(memberEvents(outs)).toEqual([]);
    outs = runTo(core, 5099, 5100);
    expect(memberEvents(outs)).toEqual(['reap:c']);
    outs = runTo(core, 5100, 10_100);
    expect(memberEvents(outs)).toEqual(['reap:a']);
    expect(
      core
        .members()
        .map((m) => m.name)
        .sort(),
    ).toEqual(['b', 'me']);
  });

  it('tries to reconnect to failed members over push/pull', () => {
    const core = withMembers(['a', 'b']);
    deliver(core, addrOf('b'), 100, { type: 'dead', node: 'a', incarnation: 1, from: 'b', left: false });
    core.drain();
    const outs = runTo(core, 100, 100 + 5 * T.reconnectIntervalMs);
    const reconnects = outs.filter(
      (o) => o.type === 'stream' && o.to === addrOf('a') && decodeStream(o.data).ok,
    );
    expect(reconnects.length).toBeGreaterThan(0);
    const first = reconnects[0];
    if (first?.type !== 'stream') throw new Error('unreachable');
    // Its reply revives it, through the alive path.
    const reply = encodeStream({
      type: 'pushPull',
      join: false,
      memberLtime: 0,
      eventLtime: 0,
      queryLtime: 0,
      members: [
        {
          name: 'a',
          addr: host('a'),
          port: 8301,
          tags: { id: 'id-a', role: 'node' },
          incarnation: 2,
          status: 'alive',
        },
      ],
      events: [],
    });
    expect(core.streamReply(first.id, reply, 2000)).toBe(true);
    expect(core.member('a')?.status).toBe('alive');
  });
});

describe('gossip core: push/pull', () => {
  const state = (members: PushPullMember[], over: object = {}): Uint8Array =>
    encodeStream({
      type: 'pushPull',
      join: false,
      memberLtime: 0,
      eventLtime: 0,
      queryLtime: 0,
      members,
      events: [],
      ...over,
    });
  const pm = (name: string, incarnation: number, status: PushPullMember['status']): PushPullMember => ({
    name,
    addr: host(name),
    port: 8301,
    tags: { id: `id-${name}`, role: 'node' },
    incarnation,
    status,
  });

  it('joins with a push/pull and learns everyone from the reply', () => {
    const core = makeCore();
    core.drain();
    const [id] = core.join(['10.0.1.1:8301'], 5);
    const out = core.drain().find((o) => o.type === 'stream');
    expect(out?.type === 'stream' && out.id).toBe(id);
    if (out?.type === 'stream') {
      const d = decodeStream(out.data);
      expect(d.ok && d.value.type === 'pushPull' && d.value.join).toBe(true);
    }
    expect(core.streamReply(id as number, state([pm('a', 3, 'alive'), pm('b', 1, 'alive')]), 10)).toBe(true);
    expect(
      core
        .members()
        .map((m) => m.name)
        .sort(),
    ).toEqual(['a', 'b', 'me']);
    expect(core.streamReply(id as number, state([]), 11)).toBe(false); // answered already
    expect(core.counters['dropped.unknownStream']).toBe(1);
  });

  it('never takes second-hand death: remote failed means suspect here, remote left means left', () => {
    const core = withMembers(['a', 'b', 'c']);
    const reply = core.handleStream(
      '10.0.1.99:40000',
      state([pm('a', 1, 'failed'), pm('b', 1, 'left'), pm('c', 1, 'suspect')]),
      10,
    );
    expect(core.member('a')?.status).toBe('suspect');
    expect(core.member('b')?.status).toBe('left');
    expect(core.member('c')?.status).toBe('suspect');
    const d = decodeStream(reply as Uint8Array);
    expect(d.ok && d.value.type === 'pushPull' && d.value.members.length).toBe(4);
  });

  it('refutes its own death found in a push/pull before replying, so the reply revives it', () => {
    const core = withMembers(['a']);
    const reply = core.handleStream('10.0.1.99:40000', state([pm('me', 4, 'failed')]), 10);
    const d = decodeStream(reply as Uint8Array);
    const self =
      d.ok && d.value.type === 'pushPull' ? d.value.members.find((m) => m.name === 'me') : undefined;
    expect(self).toMatchObject({ status: 'alive', incarnation: 5 });
  });

  it('answers a TCP fallback ping addressed to it', () => {
    const core = makeCore();
    const ack = core.handleStream(
      '10.0.1.99:40000',
      encodeStream({ type: 'ping', seq: 9, node: 'me', from: 'x' }),
      1,
    );
    expect(decodeStream(ack as Uint8Array)).toEqual({ ok: true, value: { type: 'ack', seq: 9 } });
    expect(
      core.handleStream('10.0.1.99:40000', encodeStream({ type: 'ping', seq: 9, node: 'no', from: 'x' }), 1),
    ).toBeNull();
  });

  it('replays recent events from push/pull, except those from before an operator join', () => {
    const events = [{ ltime: 3, name: 'deploy', payload: new Uint8Array([1]), id: 'e1', origin: 'a' }];
    const joining = makeCore();
    const [id] = joining.join(['10.0.1.1:8301'], 1);
    joining.drain();
    joining.streamReply(id as number, state([pm('a', 1, 'alive')], { eventLtime: 4, events }), 2);
    expect(joining.drain().filter((o) => o.type === 'user')).toEqual([]);
    // An event from before the join arriving late by gossip is old news too.
    deliver(joining, addrOf('a'), 3, {
      type: 'user',
      ltime: 2,
      name: 'x',
      payload: new Uint8Array(),
      id: 'e0',
      origin: 'a',
    });
    expect(joining.drain().filter((o) => o.type === 'user')).toEqual([]);

    const member = withMembers(['a']);
    member.handleStream('10.0.1.99:40000', state([], { eventLtime: 4, events }), 5);
    const got = member.drain().filter((o) => o.type === 'user');
    expect(got).toHaveLength(1);
    member.handleStream('10.0.1.99:40000', state([], { eventLtime: 4, events }), 6);
    expect(member.drain().filter((o) => o.type === 'user')).toEqual([]);
  });
});

describe('gossip core: user events and queries', () => {
  it('fires an event once everywhere: delivered locally, broadcast, duplicates dropped', () => {
    const core = withMembers(['a']);
    const ev = core.fireEvent('deploy', new Uint8Array([7]), 'id-1', 10);
    expect(ev).toMatchObject({ name: 'deploy', id: 'id-1', origin: 'me', ltime: 0 });
    const outs = core.drain();
    expect(outs.filter((o) => o.type === 'user')).toHaveLength(1);
    const gossiped = sent(runTo(core, 10, 100)).filter((s) => s.msg.type === 'user');
    expect(gossiped.length).toBeGreaterThan(0);
    deliver(core, addrOf('a'), 101, gossiped[0]?.msg as Message);
    expect(core.drain().filter((o) => o.type === 'user')).toEqual([]);
    expect(core.counters['events.duplicate']).toBe(1);
    // Lamport: the next event is later than anything seen.
    deliver(core, addrOf('a'), 102, {
      type: 'user',
      ltime: 20,
      name: 'x',
      payload: new Uint8Array(),
      id: 'id-2',
      origin: 'a',
    });
    expect(core.fireEvent('deploy', new Uint8Array(), 'id-3', 103).ltime).toBe(21);
  });

  it('refuses an event over 512 bytes (name + payload), as Consul does', () => {
    const core = makeCore();
    expect(() => core.fireEvent('n', new Uint8Array(511), 'id', 1)).not.toThrow();
    try {
      core.fireEvent('nn', new Uint8Array(511), 'id2', 1);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConsulError);
      expect((err as ConsulError).code).toBe('BadRequest');
      expect((err as ConsulError).message).toMatch(/512/);
    }
  });

  it('drops events older than the recent window', () => {
    const core = withMembers(['a']);
    deliver(core, addrOf('a'), 1, {
      type: 'user',
      ltime: 1000,
      name: 'x',
      payload: new Uint8Array(),
      id: 'new',
      origin: 'a',
    });
    deliver(core, addrOf('a'), 2, {
      type: 'user',
      ltime: 10,
      name: 'x',
      payload: new Uint8Array(),
      id: 'old',
      origin: 'a',
    });
    expect(
      core
        .drain()
        .filter((o) => o.type === 'user')
        .map((o) => o.type === 'user' && o.event.id),
    ).toEqual(['new']);
    expect(core.counters['dropped.oldEvent']).toBe(1);
  });

  it('runs a query: delivered to itself, answered directly and via relays, one response per member', () => {
    const core = withMembers(['a', 'b', 'c']);
    const id = core.query('ping', new Uint8Array([1]), 10);
    const outs = core.drain();
    const q = outs.find((o) => o.type === 'query');
    expect(q?.type === 'query' && q.query).toMatchObject({ id, name: 'ping', origin: 'me' });
    if (q?.type === 'query') core.respond(q.query, new Uint8Array([42]), 11);
    deliver(core, addrOf('a'), 12, {
      type: 'response',
      ltime: 0,
      id,
      from: 'a',
      payload: new Uint8Array([1]),
    });
    deliver(core, addrOf('b'), 13, {
      type: 'response',
      ltime: 0,
      id,
      from: 'a',
      payload: new Uint8Array([1]),
    });
    deliver(core, addrOf('b'), 14, {
      type: 'response',
      ltime: 0,
      id: id + 1,
      from: 'b',
      payload: new Uint8Array(),
    });
    const responses = core.drain().filter((o) => o.type === 'queryResponse');
    expect(responses.map((o) => o.type === 'queryResponse' && o.from)).toEqual(['me', 'a']);
    expect(core.counters['responses.duplicate']).toBe(1);
    expect(core.counters['dropped.unknownQuery']).toBe(1);
    // After the query's timeout, responses are no longer wanted.
    runTo(core, 14, 10_000);
    deliver(core, addrOf('c'), 10_001, {
      type: 'response',
      ltime: 0,
      id,
      from: 'c',
      payload: new Uint8Array(),
    });
    expect(core.drain().filter((o) => o.type === 'queryResponse')).toEqual([]);
  });

  it("answers another member's query at the address the query named, with relays and resends", () => {
    const core = withMembers(['a', 'b', 'c']);
    deliver(core, addrOf('b'), 10, {
      type: 'query',
      ltime: 3,
      id: 5,
      name: 'ping',
      payload: new Uint8Array(),
      origin: 'a',
      addr: '10.5.5.5',
      port: 9000,
    });
    const q = core.drain().find((o) => o.type === 'query');
    if (q?.type !== 'query') throw new Error('no query output');
    core.respond(q.query, new Uint8Array([9]), 11);
    const outs = core.drain().concat(runTo(core, 11, 200));
    const direct = sent(outs).filter((s) => s.to === '10.5.5.5:9000' && s.msg.type === 'response');
    expect(direct).toHaveLength(3);
    const relays = sent(outs).filter((s) => s.msg.type === 'relay');
    expect(relays.length).toBe(2);
    for (const r of relays) expect(r.msg).toMatchObject({ addr: '10.5.5.5', port: 9000 });
    // A duplicate of the query is not delivered again.
    deliver(core, addrOf('c'), 12, {
      type: 'query',
      ltime: 3,
      id: 5,
      name: 'ping',
      payload: new Uint8Array(),
      origin: 'a',
      addr: '10.5.5.5',
      port: 9000,
    });
    expect(core.drain().filter((o) => o.type === 'query')).toEqual([]);
    // A relay asks us to forward a response: we do.
    const inner = encodeMessage({ type: 'response', ltime: 1, id: 2, from: 'x', payload: new Uint8Array() });
    deliver(core, addrOf('c'), 13, { type: 'relay', addr: '10.4.4.4', port: 1, inner });
    expect(core.drain()).toContainEqual({ type: 'send', to: '10.4.4.4:1', data: inner });
  });

  it('keeps every packet it sends within the budget, piggybacking broadcasts on pings and acks', () => {
    const core = makeCore();
    core.drain();
    const names = Array.from({ length: 120 }, (_, i) => `member-${i}`);
    for (const n of names)
      deliver(core, '10.9.9.9:8301', 1, alive(n, 1, { addr: `10.2.${names.indexOf(n)}.1` }));
    deliver(core, '10.9.9.9:8301', 2, { type: 'ping', seq: 1, node: 'me', from: 'x' });
    const outs = core.drain().concat(runTo(core, 2, 2000));
    const packets = outs.filter((o) => o.type === 'send');
    expect(packets.length).toBeGreaterThan(10);
    for (const p of packets) if (p.type === 'send') expect(p.data.length).toBeLessThanOrEqual(1371);
    const ack = sent(packets.slice(0, 1));
    expect(ack[0]?.msg.type).toBe('ack');
    expect(ack.length).toBeGreaterThan(1); // broadcasts rode along
  });
});
