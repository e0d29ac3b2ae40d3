// Network coordinates in gossip: the ack of a direct probe carries the responder's coordinate
// (an optional trailing field, float32 on the wire), and the prober times the round trip with the
// core's clock, moves its own coordinate and remembers the peer's.
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/rng.js';
import { distanceMs, newCoordinate, type Coordinate } from '../../src/coordinate/vivaldi.js';
import {
  MsgType,
  decodePacket,
  decodeStream,
  encodeMessage,
  encodePacket,
  encodeStream,
  type Message,
} from '../../src/gossip/codec.js';
import { GossipCore } from '../../src/gossip/core.js';
import { fastTimings, type Output } from '../../src/gossip/types.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: false });
const raw = (type: number, body: unknown): Uint8Array => {
  const b = packr.pack(body);
  const out = new Uint8Array(b.length + 1);
  out[0] = type;
  out.set(b, 1);
  return out;
};

/** Values a float32 holds exactly, so round trips compare equal. */
const exact: Coordinate = {
  Vec: [0.5, -0.25, 0.125, 0, 0.0625, -1, 2, 0.75],
  Error: 1.5,
  Adjustment: -0.125,
  Height: 0.25,
};

function decodeOne(data: Uint8Array): Message {
  const d = decodePacket(data);
  if (!d.ok) throw new Error(d.reason);
  return d.value[0] as Message;
}

describe('gossip codec: coordinates on acks', () => {
  it('round-trips an ack with and without a coordinate', () => {
    expect(decodeOne(encodeMessage({ type: 'ack', seq: 9, coord: exact }))).toEqual({
      type: 'ack',
      seq: 9,
      coord: exact,
    });
    const plain = decodeOne(encodeMessage({ type: 'ack', seq: 9 }));
    expect(plain).toEqual({ type: 'ack', seq: 9 });
    expect('coord' in plain).toBe(false);
    // The TCP fallback's ack is the same message.
    expect(decodeStream(encodeStream({ type: 'ack', seq: 3, coord: exact }))).toEqual({
      ok: true,
      value: { type: 'ack', seq: 3, coord: exact },
    });
  });

  it('keeps an 8-dimension coordinate within ~50 bytes of the packet budget (float32)', () => {
    const withCoord = encodeMessage({ type: 'ack', seq: 0xffff_ffff, coord: newCoordinate() });
    const without = encodeMessage({ type: 'ack', seq: 0xffff_ffff });
    expect(withCoord.length - without.length).toBeLessThanOrEqual(4 * 11 + 2);
    // float32: Consul's minimum height 10e-6 comes back within float32 precision.
    const back = decodeOne(withCoord);
    expect(back.type === 'ack' && back.coord?.Height).toBeCloseTo(10e-6, 12);
  });

  it('accepts an old ack of one field and rejects a malformed coordinate', () => {
    expect(decodeOne(raw(MsgType.Ack, [5]))).toEqual({ type: 'ack', seq: 5 });
    for (const bad of [
      'abc',
      7,
      new Uint8Array(13), // not whole float32s
      new Uint8Array(12), // no dimension at all
      new Uint8Array(4 * (3 + 65)), // too many dimensions
    ]) {
      expect(decodePacket(raw(MsgType.Ack, [5, bad])).ok).toBe(false);
    }
  });

  it('decodes non-finite numbers (the receiver refuses them, not the packet)', () => {
    const nan = { ...exact, Vec: [NaN, ...exact.Vec.slice(1)] };
    const m = decodeOne(encodeMessage({ type: 'ack', seq: 1, coord: nan }));
    expect(m.type === 'ack' && Number.isNaN(m.coord?.Vec[0])).toBe(true);
  });
});

// ------------------------------------------------------------------ the core

const T = fastTimings; // probe every 100 ms, timeout 50 ms
const ME = '10.0.0.1:8301';
const host = (name: string): string => `10.0.1.${name.charCodeAt(0)}`;
const addrOf = (name: string): string => `${host(name)}:8301`;

function core(): GossipCore {
  const c = new GossipCore(
    {
      name: 'me',
      addr: '10.0.0.1',
      port: 8301,
      tags: { id: 'id-me' },
      timings: T,
      packetBudget: 1371,
      recentEvents: 64,
    },
    seededRng(1),
    0,
  );
  const alive = (name: string): Message => ({
    type: 'alive',
    node: name,
    addr: host(name),
    port: 8301,
    tags: { id: `id-${name}` },
    incarnation: 1,
  });
  c.receivePacket(addrOf('a'), encodePacket([encodeMessage(alive('a')), encodeMessage(alive('b'))]), 0);
  c.drain();
  return c;
}

function sentMessages(outs: Output[]): { to: string; msg: Message }[] {
  return outs.flatMap((o) => {
    if (o.type !== 'send') return [];
    const d = decodePacket(o.data);
    if (!d.ok) throw new Error(d.reason);
    return d.value.map((msg) => ({ to: o.to, msg }));
  });
}

/** Runs the core until it pings someone directly; returns the time, target and seq. */
function nextPing(c: GossipCore, from: number): { at: number; to: string; node: string; seq: number } {
  let now = from;
  for (let i = 0; i < 1000; i++) {
    now = Math.max(now, c.nextDeadline());
    c.tick(now);
    for (const s of sentMessages(c.drain())) {
      if (s.msg.type === 'ping') return { at: now, to: s.to, node: s.msg.node, seq: s.msg.seq };
    }
  }
  throw new Error('no ping');
}

const ack = (seq: number, coord?: Coordinate): Message =>
  coord ? { type: 'ack', seq, coord } : { type: 'ack', seq };

/** A peer's coordinate 3 ms east of the origin. */
const peer: Coordinate = { Vec: [0.003, 0, 0, 0, 0, 0, 0, 0], Error: 0.25, Adjustment: 0, Height: 0.0005 };

describe('gossip core: coordinates from probes', () => {
  it('answers a direct ping with its coordinate on the ack', () => {
    const c = core();
    c.receivePacket(addrOf('a'), encodeMessage({ type: 'ping', seq: 77, node: 'me', from: 'a' }), 5);
    const acks = sentMessages(c.drain()).filter((s) => s.msg.type === 'ack');
    expect(acks).toHaveLength(1);
    const m = acks[0]!.msg;
    if (m.type !== 'ack' || !m.coord) throw new Error('ack without a coordinate');
    expect(m.coord.Vec).toEqual(c.coordinate().Vec);
    expect(m.coord.Error).toBeCloseTo(c.coordinate().Error, 6);
  });

  it('times the round trip of a direct probe and moves its coordinate toward the RTT', () => {
    const c = core();
    expect(c.coordinate()).toEqual(newCoordinate());
    expect(c.coordinateOf('a')).toBeNull();
    let now = 0;
    for (let i = 0; i < 60; i++) {
      const p = nextPing(c, now);
      // Every peer answers 4 ms after the ping left, with the same coordinate.
      now = p.at + 4;
      c.receivePacket(p.to, encodeMessage(ack(p.seq, peer)), now);
      c.drain();
    }
    expect(c.counters['coordinate.updates']).toBe(60);
    expect(c.counters['coordinate.rejected']).toBe(0);
    expect(c.coordinateOf('a')).toEqual(decodedPeer());
    expect(c.coordinateOf('me')).toEqual(c.coordinate());
    expect(c.coordinate()).not.toEqual(newCoordinate());
    // The estimate to the peer's coordinate is the measured 4 ms.
    expect(distanceMs(c.coordinate(), peer)).toBeCloseTo(4, 0);
  });

  it('ignores acks without a coordinate, late acks, and refuses bad coordinates without failing the probe', () => {
    const c = core();
    let p = nextPing(c, 0);
    c.receivePacket(p.to, encodeMessage(ack(p.seq)), p.at + 2);
    expect(c.counters['coordinate.updates']).toBe(0);

    // An ack after the probe timeout (the indirect phase) is a success but not an RTT sample.
    p = nextPing(c, p.at + 2);
    c.tick(p.at + T.probeTimeoutMs);
    c.drain();
    c.receivePacket(p.to, encodeMessage(ack(p.seq, peer)), p.at + T.probeTimeoutMs + 1);
    expect(c.counters['coordinate.updates']).toBe(0);

    p = nextPing(c, p.at + T.probeTimeoutMs + 1);
    const bad = { ...peer, Vec: [Infinity, 0, 0, 0, 0, 0, 0, 0] };
    c.receivePacket(p.to, encodeMessage(ack(p.seq, bad)), p.at + 2);
    expect(c.counters['coordinate.rejected']).toBe(1);
    expect(c.coordinate()).toEqual(newCoordinate());
    expect(c.coordinateOf(p.node)).toBeNull();
    // The probe still succeeded: nobody is suspected.
    c.drain();
    c.tick(p.at + T.probeIntervalMs);
    expect(c.members().every((m) => m.status === 'alive')).toBe(true);
    expect(c.counters['suspicions']).toBe(0);
  });

  it('forgets a member\u2019s coordinate when it is reaped', () => {
    const c = new GossipCore(
      {
        name: 'me',
        addr: '10.0.0.1',
        port: 8301,
        tags: { id: 'id-me' },
        timings: { ...T, reconnectTimeoutMs: 1000 },
        packetBudget: 1371,
        recentEvents: 64,
      },
      seededRng(1),
      0,
    );
    const a: Message = { type: 'alive', node: 'a', addr: host('a'), port: 8301, tags: {}, incarnation: 1 };
    c.receivePacket(addrOf('a'), encodeMessage(a), 0);
    c.drain();
    const p = nextPing(c, 0);
    c.receivePacket(p.to, encodeMessage(ack(p.seq, peer)), p.at + 1);
    expect(c.coordinateOf('a')).not.toBeNull();
    c.receivePacket(
      ME,
      encodeMessage({ type: 'dead', node: 'a', incarnation: 1, from: 'x', left: false }),
      10,
    );
    for (let now = 10; now <= 1200; now += 10) c.tick(now);
    expect(c.member('a')).toBeUndefined();
    expect(c.coordinateOf('a')).toBeNull();
  });
});

/** The peer's coordinate as it arrives (float32 on the wire). */
function decodedPeer(): Coordinate {
  const m = decodeOne(encodeMessage(ack(1, peer)));
  if (m.type !== 'ack' || !m.coord) throw new Error('no coordinate');
  return m.coord;
}
