import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Keyring } from '../../src/gossip/keyring.js';
import { Transport, type TransportOptions } from '../../src/gossip/transport.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Node {
  t: Transport;
  port: number;
  addr: string;
  packets: Array<{ from: string; text: string }>;
  streams: Array<{ from: string; text: string }>;
}

const open: Transport[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function node(opts: Partial<TransportOptions> = {}): Promise<Node> {
  const packets: Node['packets'] = [];
  const streams: Node['streams'] = [];
  const t = new Transport({
    bindAddr: '127.0.0.1',
    port: 0,
    keyring: null,
    verifyIncoming: true,
    verifyOutgoing: true,
    onPacket: (from, data) => packets.push({ from, text: dec.decode(data) }),
    onStream: (from, data) => {
      const text = dec.decode(data);
      streams.push({ from, text });
      return enc.encode(`re: ${text}`);
    },
    ...opts,
  });
  open.push(t);
  const port = await t.start();
  return { t, port, addr: `127.0.0.1:${port}`, packets, streams };
}

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Gives in-flight datagrams time to land (for asserting that something did not arrive). */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 100));

function rawUdp(port: number, data: Uint8Array): Promise<void> {
  const s = createSocket('udp4');
  return new Promise((resolve) =>
    s.send(data, port, '127.0.0.1', () => {
      s.close();
      resolve();
    }),
  );
}

/**
 * Writes raw bytes to a TCP port (and hangs up when `end`); resolves with what came back once the
 * connection is closed.
 */
function rawTcp(port: number, data: Uint8Array, end = false): Promise<Buffer> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    const s = connect({ host: '127.0.0.1', port }, () => (end ? s.end(data) : s.write(data)));
    s.on('data', (c: Buffer) => got.push(c));
    s.on('error', () => undefined);
    s.on('close', () => resolve(Buffer.concat(got)));
  });
}

const ring = (...keys: string[]): Keyring => new Keyring(keys);
const key = (): string => randomBytes(32).toString('base64');

describe('gossip transport', () => {
  it('binds UDP and TCP on the same port', async () => {
    const a = await node();
    expect(a.port).toBeGreaterThan(0);
    expect(a.t.port).toBe(a.port);
    // The port is taken for both protocols.
    const udp = createSocket('udp4');
    const udpErr = await new Promise<Error | null>((resolve) => {
      udp.once('error', resolve);
      udp.bind(a.port, '127.0.0.1', () => resolve(null));
    });
    udp.close();
    expect(udpErr).not.toBeNull();
    const b = new Transport({ ...optsOf(), port: a.port });
    await expect(b.start()).rejects.toThrow(/Failed to start TCP listener/);
    await b.close();
  });

  it('carries packets both ways with the sender gossip address as source', async () => {
    const a = await node();
    const b = await node();
    a.t.send(b.addr, enc.encode('ping from a'));
    b.t.send(a.addr, enc.encode('ping from b'));
    await waitFor(() => a.packets.length === 1 && b.packets.length === 1);
    expect(b.packets[0]).toEqual({ from: a.addr, text: 'ping from a' });
    expect(a.packets[0]).toEqual({ from: b.addr, text: 'ping from b' });
    expect(a.t.counters['packets.out']).toBe(1);
    expect(a.t.counters['packets.in']).toBe(1);
    expect(a.t.counters['bytes.out']).toBe('ping from a'.length);
  });

  it('carries one request and one reply per stream, both ways', async () => {
    const a = await node();
    const b = await node();
    const r1 = await a.t.stream(b.addr, enc.encode('push/pull from a'), 2000);
    const r2 = await b.t.stream(a.addr, enc.encode('push/pull from b'), 2000);
    expect(dec.decode(r1 ?? new Uint8Array())).toBe('re: push/pull from a');
    expect(dec.decode(r2 ?? new Uint8Array())).toBe('re: push/pull from b');
    expect(b.streams.map((s) => s.text)).toEqual(['push/pull from a']);
    expect(b.streams[0]?.from).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(a.t.counters['streams.out']).toBe(1);
    expect(a.t.counters['streams.in']).toBe(1);
  });

  it('serves asynchronous stream handlers and large frames', async () => {
    const big = randomBytes(3 << 20);
    const a = await node();
    const b = await node({
      keyring: ring(key()),
      onStream: async (_from, data) => {
        await new Promise((r) => setTimeout(r, 20));
        return data.subarray(0, 1000);
      },
    });
    const plain = await node({ keyring: b.t.keyring, onStream: (_f, d) => d });
    const r = await plain.t.stream(b.addr, big, 5000);
    expect(Buffer.compare(Buffer.from(r ?? []), big.subarray(0, 1000))).toBe(0);
    expect(a.t.counters['streams.in']).toBeUndefined();
  });

  it('seals traffic both ways under a shared key', async () => {
    const k = key();
    const a = await node({ keyring: ring(k) });
    const b = await node({ keyring: ring(k) });
    // A node with no keyring that accepts anything sees only ciphertext.
    const spy = await node({ verifyIncoming: false });
    a.t.send(b.addr, enc.encode('secret a'));
    b.t.send(a.addr, enc.encode('secret b'));
    a.t.send(spy.addr, enc.encode('secret a'));
    await waitFor(() => a.packets.length === 1 && b.packets.length === 1 && spy.packets.length === 1);
    expect(b.packets[0]?.text).toBe('secret a');
    expect(a.packets[0]?.text).toBe('secret b');
    expect(spy.packets[0]?.text).not.toContain('secret');
    expect(a.t.counters['bytes.out']).toBe(2 * ('secret a'.length + 29));
    expect(dec.decode((await a.t.stream(b.addr, enc.encode('sync a'), 2000)) ?? new Uint8Array())).toBe(
      're: sync a',
    );
    expect(dec.decode((await b.t.stream(a.addr, enc.encode('sync b'), 2000)) ?? new Uint8Array())).toBe(
      're: sync b',
    );
    // The spy's plaintext reply is refused by a node that verifies incoming traffic.
    expect(await a.t.stream(spy.addr, enc.encode('sync spy'), 2000)).toBeNull();
    expect(spy.streams[0]?.text).not.toContain('sync spy');
    expect(a.t.counters['dropped.plaintext']).toBe(1);
  });

  it('drops and counts packets and streams under the wrong key', async () => {
    const a = await node({ keyring: ring(key()) });
    const b = await node({ keyring: ring(key()) });
    a.t.send(b.addr, enc.encode('wrong key'));
    await waitFor(() => b.t.counters['dropped.decrypt'] === 1);
    expect(await a.t.stream(b.addr, enc.encode('wrong key'), 2000)).toBeNull();
    expect(b.t.counters['dropped.decrypt']).toBe(2);
    expect(a.t.counters['streams.failed']).toBe(1);
    await settle();
    expect(b.packets).toEqual([]);
    expect(b.streams).toEqual([]);
  });

  it('drops plaintext at a node that verifies incoming, accepts it at one that does not', async () => {
    const k = key();
    const plain = await node();
    const strict = await node({ keyring: ring(k) });
    const lenient = await node({ keyring: ring(k), verifyIncoming: false });
    plain.t.send(strict.addr, enc.encode('in the clear'));
    plain.t.send(lenient.addr, enc.encode('in the clear'));
    await waitFor(() => strict.t.counters['dropped.plaintext'] === 1 && lenient.packets.length === 1);
    expect(lenient.packets[0]?.text).toBe('in the clear');
    expect(await plain.t.stream(strict.addr, enc.encode('clear stream'), 2000)).toBeNull();
    expect(strict.t.counters['dropped.plaintext']).toBe(2);
    // The lenient node still seals what it sends; a lenient receiver opens sealed traffic too.
    strict.t.send(lenient.addr, enc.encode('sealed'));
    await waitFor(() => lenient.packets.length === 2);
    expect(lenient.packets[1]?.text).toBe('sealed');
    expect(strict.packets).toEqual([]);
  });

  it('sends plaintext when outgoing verification is off (encryption rollout)', async () => {
    const k = key();
    const rollout = await node({ keyring: ring(k), verifyIncoming: false, verifyOutgoing: false });
    const plain = await node();
    rollout.t.send(plain.addr, enc.encode('not sealed yet'));
    await waitFor(() => plain.packets.length === 1);
    expect(plain.packets[0]?.text).toBe('not sealed yet');
  });

  it('applies keyring changes at once: rotation with the old key as secondary', async () => {
    const [k1, k2] = [key(), key()];
    const a = await node({ keyring: ring(k1) });
    const b = await node({ keyring: ring(k1) });
    // b installs and uses k2, keeping k1 to open what a still seals with k1.
    b.t.keyring?.install(k2);
    b.t.keyring?.use(k2);
    a.t.send(b.addr, enc.encode('old key'));
    await waitFor(() => b.packets.length === 1);
    b.t.send(a.addr, enc.encode('new key'));
    await waitFor(() => a.t.counters['dropped.decrypt'] === 1);
    a.t.keyring?.install(k2);
    b.t.send(a.addr, enc.encode('new key again'));
    await waitFor(() => a.packets.length === 1);
    expect(a.packets[0]?.text).toBe('new key again');
  });

  it('drops an oversized TCP frame and the connection', async () => {
    const a = await node({ maxFrameBytes: 1024 });
    const b = await node();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xfffffff0, 0);
    const reply = await rawTcp(a.port, header);
    expect(reply.length).toBe(0);
    expect(a.t.counters['dropped.oversize']).toBe(1);
    // A frame just over the limit from a real transport fails the stream.
    expect(await b.t.stream(a.addr, new Uint8Array(1025), 2000)).toBeNull();
    expect(a.t.counters['dropped.oversize']).toBe(2);
    expect(a.streams).toEqual([]);
    // An oversized reply is refused by the caller too.
    const big = await node({ onStream: () => new Uint8Array(2048) });
    expect(await a.t.stream(big.addr, enc.encode('x'), 2000)).toBeNull();
    expect(a.t.counters['dropped.oversize']).toBe(3);
    // Counted once, as oversize, not again as a truncated frame.
    expect(a.t.counters['dropped.truncated']).toBeUndefined();
  });

  it('drops oversized datagrams', async () => {
    const a = await node({ maxPacketBytes: 1500 });
    await rawUdp(a.port, new Uint8Array(2000));
    await waitFor(() => a.t.counters['dropped.oversize'] === 1);
    expect(a.packets).toEqual([]);
  });

  it('survives garbage on both ports, counting it, and keeps working', async () => {
    const a = await node({ keyring: ring(key()) });
    const b = await node({ keyring: a.t.keyring });
    for (let i = 0; i < 50; i++) await rawUdp(a.port, randomBytes(1 + (i % 40) * 30));
    await rawUdp(a.port, new Uint8Array(0));
    await waitFor(() => (a.t.counters['packets.in'] ?? 0) === 51);
    expect((a.t.counters['dropped.decrypt'] ?? 0) + (a.t.counters['dropped.plaintext'] ?? 0)).toBe(51);
    for (let i = 0; i < 20; i++) {
      const garbage = randomBytes(4 + i * 7);
      garbage.writeUInt32BE(i * 7, 0);
      await rawTcp(a.port, garbage);
    }
    expect((a.t.counters['dropped.decrypt'] ?? 0) + (a.t.counters['dropped.plaintext'] ?? 0)).toBe(71);
    // A short header and a connection that hangs up mid-frame.
    await rawTcp(a.port, new Uint8Array([0, 0]), true);
    await rawTcp(a.port, Buffer.from([0, 0, 0, 100, 1, 2, 3]), true);
    expect(a.t.counters['dropped.truncated']).toBe(2);
    expect(a.packets).toEqual([]);
    expect(a.streams).toEqual([]);
    b.t.send(a.addr, enc.encode('still alive'));
    await waitFor(() => a.packets.length === 1);
    expect(await b.t.stream(a.addr, enc.encode('still serving'), 2000)).not.toBeNull();
  });

  it('counts handler exceptions instead of crashing', async () => {
    const a = await node({
      onPacket: () => {
        throw new Error('boom');
      },
      onStream: () => {
        throw new Error('boom');
      },
    });
    const b = await node();
    b.t.send(a.addr, enc.encode('x'));
    await waitFor(() => a.t.counters['errors.handler'] === 1);
    expect(await b.t.stream(a.addr, enc.encode('x'), 2000)).toBeNull();
    expect(a.t.counters['errors.handler']).toBe(2);
  });

  it('fails a stream to a closed port quickly, with a reason', async () => {
    const a = await node();
    const gone = await node();
    const port = gone.port;
    await gone.t.close();
    const started = Date.now();
    let why = '';
    expect(await a.t.stream(`127.0.0.1:${port}`, enc.encode('anyone?'), 5000, (r) => (why = r))).toBeNull();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(why).toMatch(/ECONNREFUSED/);
    expect(await a.t.stream('no-port', enc.encode('x'), 5000)).toBeNull();
    a.t.send('nonsense', enc.encode('x'));
    expect(a.t.counters['errors.address']).toBe(2);
  });

  it('times out a stream whose peer never answers', async () => {
    // Accepts and never reads nor answers.
    const held: Socket[] = [];
    const silent = createServer((s) => held.push(s));
    servers.push(silent);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const a = await node();
    const started = Date.now();
    let why = '';
    expect(await a.t.stream(`127.0.0.1:${port}`, enc.encode('hello?'), 150, (r) => (why = r))).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(why).toMatch(/timeout/);
    for (const s of held) s.destroy();
  });

  it('closes idle inbound connections', async () => {
    const a = await node({ idleTimeoutMs: 100 });
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: a.port });
      s.on('error', () => undefined);
      s.on('close', () => resolve());
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(a.t.counters['dropped.idle']).toBe(1);
  });

  it('refuses inbound connections over the limit', async () => {
    const a = await node({ maxInboundConns: 1, idleTimeoutMs: 500 });
    const first = connect({ host: '127.0.0.1', port: a.port });
    first.on('error', () => undefined);
    await new Promise((r) => first.on('connect', r));
    await waitFor(() => a.t.counters['streams.in'] === 1);
    await rawTcp(a.port, new Uint8Array([0, 0, 0, 1, 7]));
    expect(a.t.counters['dropped.conns']).toBe(1);
    first.destroy();
  });

  it('close releases the port and fails streams in flight', async () => {
    const slow = await node({ onStream: () => new Promise<null>(() => undefined) });
    const a = await node();
    const pending = a.t.stream(slow.addr, enc.encode('wait'), 10_000);
    await waitFor(() => slow.streams.length === 0 && (slow.t.counters['streams.in'] ?? 0) === 1);
    await a.t.close();
    expect(await pending).toBeNull();
    a.t.send(slow.addr, enc.encode('after close'));
    expect(a.t.counters['packets.out']).toBeUndefined();
    const port = slow.port;
    await slow.t.close();
    const again = new Transport({ ...optsOf(), port });
    open.push(again);
    expect(await again.start()).toBe(port);
  });
});

function optsOf(): TransportOptions {
  return {
    bindAddr: '127.0.0.1',
    port: 0,
    keyring: null,
    verifyIncoming: true,
    verifyOutgoing: true,
    onPacket: () => undefined,
    onStream: () => null,
  };
}
