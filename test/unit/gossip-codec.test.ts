// The gossip wire format: every message round-trips, compound packets respect the budget, every
// limit is enforced, and the decoders survive anything (fast-check: random bytes, mutated valid
// packets, valid MessagePack of the wrong shape), as does a GossipCore fed the same garbage.
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/rng.js';
import {
  DEFAULT_PACKET_BUDGET,
  MAX_COMPOUND_PARTS,
  MAX_EVENT_BYTES,
  MAX_NAME_CHARS,
  MsgType,
  decodePacket,
  decodeStream,
  encodeMessage,
  encodePacket,
  encodeStream,
  packPackets,
  tagsSize,
  type Message,
  type PushPullMsg,
  type StreamMessage,
} from '../../src/gossip/codec.js';
import { GossipCore } from '../../src/gossip/core.js';
import { fastTimings } from '../../src/gossip/types.js';

const bytes = (...xs: number[]): Uint8Array => new Uint8Array(xs);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const packr = new Packr({ useRecords: false, mapsAsObjects: false });
const raw = (type: number, body: unknown): Uint8Array => {
  const b = packr.pack(body);
  const out = new Uint8Array(b.length + 1);
  out[0] = type;
  out.set(b, 1);
  return out;
};

const samples: Message[] = [
  { type: 'ping', seq: 0, node: 'a', from: 'b' },
  { type: 'ping', seq: 0xffff_ffff, node: 'nœud-ü', from: 'x'.repeat(MAX_NAME_CHARS) },
  { type: 'pingReq', seq: 7, node: 'target', addr: '10.0.0.1', port: 8301, nack: true, from: 'me' },
  { type: 'pingReq', seq: 8, node: 't', addr: '::1', port: 0, nack: false, from: 'me' },
  { type: 'ack', seq: 12345 },
  { type: 'nack', seq: 1 },
  {
    type: 'alive',
    node: 'node-1',
    addr: '192.168.1.20',
    port: 8301,
    tags: { role: 'consul', dc: 'dc1', id: '4f7cc8d3-6b0e-4c5a-9b1e-2f3a4b5c6d7e', port: '8300' },
    incarnation: 42,
  },
  { type: 'alive', node: 'n', addr: 'h', port: 65_535, tags: {}, incarnation: Number.MAX_SAFE_INTEGER },
  { type: 'suspect', node: 'n', incarnation: 3, from: 'm' },
  { type: 'dead', node: 'n', incarnation: 4, from: 'n', left: true },
  { type: 'dead', node: 'n', incarnation: 4, from: 'm', left: false },
  { type: 'dead', node: 'n', incarnation: 5, from: 'op', left: true, prune: true },
  { type: 'user', ltime: 9, name: 'deploy', payload: text('v1.2'), id: 'e-1', origin: 'n' },
  { type: 'user', ltime: 0, name: 'x', payload: new Uint8Array(MAX_EVENT_BYTES - 1), id: 'i', origin: 'o' },
  {
    type: 'query',
    ltime: 5,
    id: 0xffff_ffff,
    name: '_serf_ping',
    payload: bytes(1, 2, 3),
    origin: 'n',
    addr: '10.1.1.1',
    port: 8301,
  },
  { type: 'response', ltime: 5, id: 77, from: 'm', payload: new Uint8Array(0) },
];
const response = encodeMessage({ type: 'response', ltime: 1, id: 2, from: 'r', payload: bytes(9) });
samples.push({ type: 'relay', addr: '10.0.0.9', port: 8301, inner: response });

const pushPull: PushPullMsg = {
  type: 'pushPull',
  join: true,
  memberLtime: 3,
  eventLtime: 10,
  queryLtime: 2,
  members: [
    { name: 'a', addr: '10.0.0.1', port: 8301, tags: { id: 'ida' }, incarnation: 1, status: 'alive' },
    { name: 'b', addr: '10.0.0.2', port: 8301, tags: {}, incarnation: 5, status: 'suspect' },
    { name: 'c', addr: '10.0.0.3', port: 8301, tags: { role: 'node' }, incarnation: 2, status: 'failed' },
    { name: 'd', addr: '10.0.0.4', port: 8301, tags: {}, incarnation: 9, status: 'left' },
  ],
  events: [{ ltime: 4, name: 'deploy', payload: text('x'), id: 'e1', origin: 'a' }],
};

function decodeOne(data: Uint8Array): Message {
  const d = decodePacket(data);
  if (!d.ok) throw new Error(d.reason);
  expect(d.value).toHaveLength(1);
  return d.value[0] as Message;
}

describe('gossip codec: round trips', () => {
  it('round-trips every message type as a packet', () => {
    const types = new Set<string>();
    for (const m of samples) {
      expect(decodeOne(encodeMessage(m))).toEqual(m);
      types.add(m.type);
    }
    expect([...types].sort()).toEqual(
      [
        'ack',
        'alive',
        'dead',
        'nack',
        'ping',
        'pingReq',
        'query',
        'relay',
        'response',
        'suspect',
        'user',
      ].sort(),
    );
  });

  it('round-trips every stream message', () => {
    const frames: StreamMessage[] = [
      pushPull,
      { type: 'ping', seq: 3, node: 'a', from: 'b' },
      { type: 'ack', seq: 3 },
    ];
    for (const f of frames) {
      const d = decodeStream(encodeStream(f));
      expect(d).toEqual({ ok: true, value: f });
    }
  });

  it('keeps a "__proto__" tag as a plain tag', () => {
    const tags = JSON.parse('{"__proto__": "x", "id": "1"}') as Record<string, string>;
    const got = decodeOne(
      encodeMessage({ type: 'alive', node: 'n', addr: 'h', port: 1, tags, incarnation: 1 }),
    );
    expect(got.type === 'alive' && Object.prototype.hasOwnProperty.call(got.tags, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(got.type === 'alive' ? got.tags : null)).toBe(Object.prototype);
  });

  it('sends the usual agent tags as dictionary codes and its node ID as 16 bytes', () => {
    const tags = {
      role: 'node',
      dc: 'dc1',
      segment: '',
      id: '4f7cc8d3-6b0e-4c5a-9b1e-2f3a4b5c6d7e',
      vsn: '2',
      vsn_min: '2',
      vsn_max: '3',
      build: '0.1.0:consulate',
    };
    const alive: Message = {
      type: 'alive',
      node: 'g17',
      addr: '127.0.0.1',
      port: 34_567,
      tags,
      incarnation: 1,
    };
    const wire = encodeMessage(alive);
    expect(decodeOne(wire)).toEqual(alive);
    // Spelled out these tags take 118 bytes; coded, under half of that (serf's untagged alive: ~70).
    expect(tagsSize(tags)).toBe(118);
    expect(wire.length).toBeLessThan(72);
    // A value that only looks like a UUID (upper case) travels as it is, and comes back the same.
    const upper = { ...tags, id: tags.id.toUpperCase() };
    expect(decodeOne(encodeMessage({ ...alive, tags: upper }))).toEqual({ ...alive, tags: upper });
    // A dictionary key with a value outside the dictionary keeps its value.
    const other = { ...tags, role: 'witness', vsn: '7' };
    expect(decodeOne(encodeMessage({ ...alive, tags: other }))).toEqual({ ...alive, tags: other });
  });

  it('still reads tags spelled out as [k, v, k, v, ...]', () => {
    const got = decodeOne(raw(MsgType.Alive, ['n', 'h', 1, ['dc', 'dc1', 'role', 'node'], 3]));
    expect(got).toEqual({
      type: 'alive',
      node: 'n',
      addr: 'h',
      port: 1,
      tags: { dc: 'dc1', role: 'node' },
      incarnation: 3,
    });
  });

  it('packs many messages into compound packets within the budget, in order', () => {
    const parts = Array.from({ length: 300 }, (_, i) =>
      encodeMessage({
        type: 'alive',
        node: `member-${i}`,
        addr: `10.0.${i >> 8}.${i & 0xff}`,
        port: 8301,
        tags: { id: `id-${i}`, role: 'node', dc: 'dc1' },
        incarnation: i,
      }),
    );
    const packets = packPackets(parts, DEFAULT_PACKET_BUDGET);
    expect(packets.length).toBeGreaterThan(5);
    const out: Message[] = [];
    for (const p of packets) {
      expect(p.length).toBeLessThanOrEqual(DEFAULT_PACKET_BUDGET);
      const d = decodePacket(p);
      if (!d.ok) throw new Error(d.reason);
      expect(d.value.length).toBeLessThanOrEqual(MAX_COMPOUND_PARTS);
      out.push(...d.value);
    }
    expect(out.map((m) => (m.type === 'alive' ? m.node : '?'))).toEqual(parts.map((_, i) => `member-${i}`));
    // Tiny messages: the part limit, not the budget, splits them.
    const acks = Array.from({ length: 200 }, (_, i) => encodeMessage({ type: 'ack', seq: i }));
    for (const p of packPackets(acks)) {
      const d = decodePacket(p);
      expect(d.ok && d.value.length <= MAX_COMPOUND_PARTS).toBe(true);
    }
  });

  it('sends one message as itself, not as a compound of one', () => {
    const m = encodeMessage({ type: 'ack', seq: 1 });
    expect(encodePacket([m])).toBe(m);
    expect(() => encodePacket([])).toThrow();
  });
});

describe('gossip codec: limits and malformed input', () => {
  const rejects: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['type byte only', bytes(MsgType.Ping)],
    ['unknown type', raw(99, [1])],
    ['type zero', raw(0, [1])],
    ['push/pull as a packet', encodeStream(pushPull)],
    ['trailing bytes', new Uint8Array([...encodeMessage({ type: 'ack', seq: 1 }), 0])],
    ['truncated', encodeMessage(samples[6] as Message).subarray(0, 20)],
    ['ping with a map body', raw(MsgType.Ping, new Map([['seq', 1]]))],
    ['ping missing a field', raw(MsgType.Ping, [1, 'a'])],
    ['float seq', raw(MsgType.Ack, [1.5])],
    ['negative seq', raw(MsgType.Ack, [-1])],
    ['seq beyond 32 bits', raw(MsgType.Ack, [2 ** 32])],
    ['bigint incarnation', raw(MsgType.Suspect, ['n', 2n ** 64n - 1n, 'm'])],
    ['empty name', raw(MsgType.Suspect, ['', 1, 'm'])],
    ['name too long', raw(MsgType.Suspect, ['x'.repeat(MAX_NAME_CHARS + 1), 1, 'm'])],
    ['port out of range', raw(MsgType.Alive, ['n', 'h', 70_000, [], 1])],
    ['odd tag list', raw(MsgType.Alive, ['n', 'h', 1, ['k'], 1])],
    ['duplicate tag', raw(MsgType.Alive, ['n', 'h', 1, ['k', 'a', 'k', 'b'], 1])],
    [
      '65 tags',
      raw(MsgType.Alive, ['n', 'h', 1, Array.from({ length: 65 }, (_, i) => [`k${i}`, '']).flat(), 1]),
    ],
    [
      'tags over 512 bytes',
      raw(MsgType.Alive, ['n', 'h', 1, ['a', 'x'.repeat(300), 'b', 'y'.repeat(300)], 1]),
    ],
    ['non-string tag value', raw(MsgType.Alive, ['n', 'h', 1, ['k', 1], 1])],
    ['unknown tag code', raw(MsgType.Alive, ['n', 'h', 1, [40], 1])],
    ['tag code past the dictionary', raw(MsgType.Alive, ['n', 'h', 1, [127, 'x'], 1])],
    ['fractional tag code', raw(MsgType.Alive, ['n', 'h', 1, [0.5], 1])],
    ['known key without a value', raw(MsgType.Alive, ['n', 'h', 1, [64 + 1], 1])],
    ['UUID value of 15 bytes', raw(MsgType.Alive, ['n', 'h', 1, ['id', new Uint8Array(15)], 1])],
    ['a tag twice, coded and spelled', raw(MsgType.Alive, ['n', 'h', 1, [0, 'role', 'x'], 1])],
    ['event over 512 bytes', raw(MsgType.User, [1, 'name', new Uint8Array(MAX_EVENT_BYTES - 3), 'id', 'o'])],
    ['dead with a prune that is not a boolean', raw(MsgType.Dead, ['n', 1, 'm', true, 1])],
    ['payload not bytes', raw(MsgType.User, [1, 'name', 'text', 'id', 'o'])],
    [
      'relay of a ping',
      raw(MsgType.Relay, ['h', 1, encodeMessage({ type: 'ping', seq: 1, node: 'a', from: 'b' })]),
    ],
    ['relay of garbage', raw(MsgType.Relay, ['h', 1, bytes(MsgType.Response, 0xc1)])],
    [
      'nested compound',
      raw(MsgType.Compound, [raw(MsgType.Compound, [encodeMessage({ type: 'ack', seq: 1 })])]),
    ],
    ['empty compound', raw(MsgType.Compound, [])],
    [
      'compound of 65',
      raw(
        MsgType.Compound,
        Array.from({ length: 65 }, () => encodeMessage({ type: 'ack', seq: 1 })),
      ),
    ],
    ['compound part not bytes', raw(MsgType.Compound, [1, 2])],
    ['compound with one bad part', raw(MsgType.Compound, [encodeMessage({ type: 'ack', seq: 1 }), bytes(3)])],
    ['too large for UDP', new Uint8Array(65_508).fill(1)],
    // 60,000 nested one-element arrays: deeper than the decoder's stack.
    ['deep nesting', Uint8Array.from([MsgType.Ack, ...new Array<number>(60_000).fill(0x91), 0x90])],
  ];
  for (const [what, data] of rejects) {
    it(`rejects a packet: ${what}`, () => {
      const d = decodePacket(data);
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.reason.length).toBeGreaterThan(0);
    });
  }

  it('rejects malformed stream frames', () => {
    const pp = (over: unknown[]): Uint8Array =>
      raw(MsgType.PushPull, [true, 1, 1, 1, [], [], ...over].slice(0, 6 + over.length));
    expect(decodeStream(pp([])).ok).toBe(true);
    const bad: Uint8Array[] = [
      new Uint8Array(0),
      encodeMessage({ type: 'nack', seq: 1 }),
      raw(MsgType.PushPull, [true, 1, 1, 1, []]), // no event list
      raw(MsgType.PushPull, [true, 1, 1, 1, [['a', 'h', 1, [], 1, 9]], []]), // status code 9
      raw(MsgType.PushPull, [
        true,
        1,
        1,
        1,
        [
          ['a', 'h', 1, [], 1, 0],
          ['a', 'h', 2, [], 1, 0],
        ],
        [],
      ]), // listed twice
      raw(MsgType.PushPull, [1, 1, 1, 1, [], []]), // join not a boolean
      raw(MsgType.PushPull, [true, 1, 1, 1, [], [[1, 'n', bytes(), 'id']]]), // short event
      new Uint8Array(10 * 1024 * 1024 + 1),
    ];
    for (const b of bad) expect(decodeStream(b).ok).toBe(false);
  });

  it('measures tags in their plain form', () => {
    expect(tagsSize({})).toBe(1);
    expect(tagsSize({ a: 'b' })).toBe(1 + 2 + 2);
    expect(tagsSize({ k: 'é'.repeat(20) })).toBe(1 + 2 + 2 + 40);
  });
});

// ------------------------------------------------------------------ fuzzing

const name = fc.string({ minLength: 1, maxLength: 24, unit: 'binary' });
const u32 = fc.nat({ max: 0xffff_ffff });
const inc = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const addr = fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain());
const port = fc.nat({ max: 65_535 });
// Keys and values from the wire dictionary and UUIDs as well as anything, so the round trips cover
// every coded form.
const tags = fc.dictionary(
  fc.oneof(fc.string({ minLength: 1, maxLength: 10 }), fc.constantFrom('role', 'id', 'vsn', 'segment', 'dc')),
  fc.oneof(fc.string({ maxLength: 20 }), fc.uuid(), fc.constantFrom('node', 'consul', '', '2', '3')),
  { maxKeys: 6 },
);
const payload = fc.uint8Array({ maxLength: 200 });

const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constant('ping' as const), seq: u32, node: name, from: name }),
  fc.record({
    type: fc.constant('pingReq' as const),
    seq: u32,
    node: name,
    addr,
    port,
    nack: fc.boolean(),
    from: name,
  }),
  fc.record({ type: fc.constant('ack' as const), seq: u32 }),
  fc.record({ type: fc.constant('nack' as const), seq: u32 }),
  fc.record({ type: fc.constant('alive' as const), node: name, addr, port, tags, incarnation: inc }),
  fc.record({ type: fc.constant('suspect' as const), node: name, incarnation: inc, from: name }),
  fc.record(
    {
      type: fc.constant('dead' as const),
      node: name,
      incarnation: inc,
      from: name,
      left: fc.boolean(),
      prune: fc.constant(true),
    },
    { requiredKeys: ['type', 'node', 'incarnation', 'from', 'left'] },
  ),
  fc.record({ type: fc.constant('user' as const), ltime: inc, name, payload, id: name, origin: name }),
  fc.record({
    type: fc.constant('query' as const),
    ltime: inc,
    id: u32,
    name,
    payload,
    origin: name,
    addr,
    port,
  }),
  fc.record({ type: fc.constant('response' as const), ltime: inc, id: u32, from: name, payload }),
);

const packet = fc
  .array(message, { minLength: 1, maxLength: 5 })
  .map((ms) => encodePacket(ms.map((m) => encodeMessage(m))));

const streamFrame: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc
    .record({
      join: fc.boolean(),
      memberLtime: inc,
      eventLtime: inc,
      queryLtime: inc,
      members: fc.uniqueArray(
        fc.record({
          name,
          addr,
          port,
          tags,
          incarnation: inc,
          status: fc.constantFrom('alive' as const, 'suspect' as const, 'failed' as const, 'left' as const),
        }),
        { maxLength: 6, selector: (m) => m.name },
      ),
      events: fc.array(fc.record({ ltime: inc, name, payload, id: name, origin: name }), { maxLength: 3 }),
    })
    .map((r) => encodeStream({ type: 'pushPull', ...r })),
  fc.record({ seq: u32, node: name, from: name }).map((r) => encodeStream({ type: 'ping', ...r })),
  fc.record({ seq: u32 }).map((r) => encodeStream({ type: 'ack', ...r })),
);

/** A valid encoding damaged the ways a network or an attacker would: flips, cuts, splices. */
function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      valid,
      fc.array(
        fc.oneof(
          fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
          fc.record({ op: fc.constant('set' as const), at: fc.nat(), v: fc.nat({ max: 255 }) }),
          fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
          fc.record({
            op: fc.constant('insert' as const),
            at: fc.nat(),
            v: fc.uint8Array({ minLength: 1, maxLength: 8 }),
          }),
        ),
        { minLength: 1, maxLength: 4 },
      ),
    )
    .map(([data, ops]) => {
      let b = Uint8Array.from(data);
      for (const o of ops) {
        const at = b.length === 0 ? 0 : o.at % b.length;
        if (o.op === 'flip' && b.length > 0) b[at] = (b[at] as number) ^ (1 << o.bit);
        else if (o.op === 'set' && b.length > 0) b[at] = o.v;
        else if (o.op === 'cut') b = b.subarray(0, at);
        else if (o.op === 'insert') b = Uint8Array.from([...b.subarray(0, at), ...o.v, ...b.subarray(at)]);
      }
      return b;
    });
}

/** Valid MessagePack of arbitrary shape behind a plausible type byte. */
const wrongShape = fc
  .tuple(
    fc.oneof(fc.integer({ min: 0, max: 15 }), fc.nat({ max: 255 })),
    fc.anything({ withMap: true, withSet: true }),
  )
  .map(([type, v]) => {
    let body: Uint8Array;
    try {
      body = packr.pack(v);
    } catch {
      body = packr.pack(null);
    }
    const out = new Uint8Array(body.length + 1);
    out[0] = type;
    out.set(body, 1);
    return out;
  });

const anyBytes = fc.uint8Array({ maxLength: 1500 });

/** Decoding never throws, and anything it accepts encodes back to the same messages. */
function checkPacket(data: Uint8Array): void {
  const d = decodePacket(data);
  if (!d.ok) {
    expect(typeof d.reason).toBe('string');
    return;
  }
  const again = decodePacket(encodePacket(d.value.map(encodeMessage)));
  expect(again).toEqual(d);
}

function checkStream(data: Uint8Array): void {
  const d = decodeStream(data);
  if (!d.ok) {
    expect(typeof d.reason).toBe('string');
    return;
  }
  expect(decodeStream(encodeStream(d.value))).toEqual(d);
}

describe('gossip codec: fuzzing (50,000+ runs in all)', () => {
  it('decodes arbitrary bytes without throwing (packets and frames)', () => {
    fc.assert(
      fc.property(anyBytes, (b) => {
        checkPacket(b);
        checkStream(b);
      }),
      { numRuns: 12_000, seed: 1 },
    );
  });

  it('survives mutated valid packets and frames', () => {
    fc.assert(fc.property(mutated(packet), checkPacket), { numRuns: 10_000, seed: 2 });
    fc.assert(fc.property(mutated(streamFrame), checkStream), { numRuns: 6_000, seed: 3 });
  });

  it('rejects valid MessagePack of the wrong shape', () => {
    let accepted = 0;
    fc.assert(
      fc.property(wrongShape, (b) => {
        checkPacket(b);
        checkStream(b);
        if (decodePacket(b).ok) accepted++;
      }),
      { numRuns: 10_000, seed: 4 },
    );
    // fc.anything() almost never builds a valid message by chance.
    expect(accepted).toBeLessThan(100);
  });

  it('round-trips arbitrary valid messages', () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 5 }), (ms) => {
        const d = decodePacket(encodePacket(ms.map(encodeMessage)));
        expect(d).toEqual({ ok: true, value: ms });
      }),
      { numRuns: 3_000, seed: 5 },
    );
  });

  it('a GossipCore fed garbage never throws and keeps its invariants', () => {
    type Input = { kind: 'packet' | 'stream' | 'reply'; data: Uint8Array };
    const garbage = fc.oneof(
      anyBytes,
      mutated(packet),
      mutated(streamFrame),
      wrongShape,
      packet,
      streamFrame,
    );
    const input: fc.Arbitrary<Input> = fc.record({
      kind: fc.constantFrom('packet' as const, 'stream' as const, 'reply' as const),
      data: garbage,
    });
    let malformed = 0;
    fc.assert(
      fc.property(fc.array(input, { minLength: 1, maxLength: 6 }), fc.nat(), (inputs, seed) => {
        const core = new GossipCore(
          {
            name: 'me',
            addr: '10.0.0.1',
            port: 8301,
            tags: { id: 'my-id' },
            timings: fastTimings,
            packetBudget: DEFAULT_PACKET_BUDGET,
            recentEvents: 16,
          },
          seededRng(seed),
          0,
        );
        let now = 1;
        for (const { kind, data } of inputs) {
          const before = core.counters['dropped.malformed'] as number;
          let bad: boolean;
          if (kind === 'packet') {
            bad = !decodePacket(data).ok;
            core.receivePacket('10.0.0.9:8301', data, now);
          } else if (kind === 'stream') {
            // An ack is valid on the wire but never a request.
            const d = decodeStream(data);
            bad = !d.ok || d.value.type === 'ack';
            const reply = core.handleStream('10.0.0.9:40000', data, now);
            if (reply !== null) expect(decodeStream(reply).ok).toBe(true);
          } else {
            // The reply to a push/pull must be a push/pull.
            const d = decodeStream(data);
            bad = !d.ok || d.value.type !== 'pushPull';
            const [id] = core.join(['10.0.0.2:8301'], now);
            expect(core.streamReply(id as number, data, now)).toBe(!bad);
          }
          // Every malformed input is counted, and nothing else is counted as malformed.
          if (bad) {
            malformed++;
            expect(core.counters['dropped.malformed']).toBe(before + 1);
          }
          now += 7;
          core.tick(now);
          expect(core.nextDeadline()).toBeGreaterThan(now);
          core.drain();
        }
        const self = core.local();
        expect(self.name).toBe('me');
        expect(self.status).toBe('alive');
        expect(self.addr).toBe('10.0.0.1');
        expect(self.tags['id']).toBe('my-id');
        const names = core.members().map((m) => m.name);
        expect(new Set(names).size).toBe(names.length);
        expect(names).toContain('me');
        for (const out of core.drain()) {
          if (out.type === 'send') expect(out.data.length).toBeLessThanOrEqual(DEFAULT_PACKET_BUDGET);
        }
      }),
      { numRuns: 12_000, seed: 6 },
    );
    expect(malformed).toBeGreaterThan(10_000);
  });
});
