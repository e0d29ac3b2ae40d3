import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';
import { seededRng, type Rng } from '../../src/core/rng.js';
import { silentLogger } from '../../src/core/logger.js';
import { GossipAgent, resolveJoinAddr, type GossipCoreApi } from '../../src/gossip/driver.js';
import { generateKey, Keyring, keyringPath } from '../../src/gossip/keyring.js';
import {
  KEYRING_QUERIES,
  keyringOperation,
  registerKeyringHandlers,
  runKeyringOp,
} from '../../src/gossip/keyring-ops.js';
import {
  fastTimings,
  type GossipConfig,
  type Member,
  type MemberEventType,
  type Output,
  type QueryRequest,
  type UserEvent,
} from '../../src/gossip/types.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

const agents: GossipAgent[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
});
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'consulate-gossip-driver-'));
  dirs.push(d);
  return d;
}

async function waitFor(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function config(name: string, timings = fastTimings): GossipConfig {
  return {
    name,
    addr: '127.0.0.1',
    port: 0,
    tags: { role: 'node' },
    timings,
    packetBudget: 1400 - 29,
    recentEvents: 256,
  };
}

function captureLogger(): { logger: Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

// ------------------------------------------------------------------------------------------------
// The driver on its own, with a scripted core: timer, dispatch, joins, queries, failures.

/**
 * A stand-in core. Streams: a request "join:<name>" is answered "welcome:<name>"; a reply is
 * valid when it says welcome. Packets "hello" are echoed as "hello-back". Queries are delivered
 * to the local node at once, and responses are reported as they come.
 */
class FakeCore implements GossipCoreApi {
  readonly counters: Record<string, number> = {};
  out: Output[] = [];
  ticks: number[] = [];
  packets: Array<{ from: string; text: string }> = [];
  period = Infinity;
  throwOnPacket = false;
  private next: number;
  private ids = 0;
  private readonly known = new Map<string, Member>();

  constructor(
    readonly config: GossipConfig,
    readonly rng: Rng,
    now: number,
  ) {
    this.next = now + this.period;
    this.known.set(config.name, this.asMember(config.name, config.addr, config.port));
  }

  private asMember(name: string, addr: string, port: number): Member {
    return { name, addr, port, tags: {}, incarnation: 1, status: 'alive', since: 0 };
  }

  setPeriod(ms: number, now: number): void {
    this.period = ms;
    this.next = now + ms;
  }
  join(addrs: string[]): number[] {
    return addrs.map((to) => {
      const id = ++this.ids;
      this.out.push({ type: 'stream', id, to, data: enc.encode(`join:${this.config.name}`) });
      return id;
    });
  }
  tick(now: number): void {
    this.ticks.push(now);
    this.next = now + this.period;
  }
  nextDeadline(): number {
    return this.next;
  }
  receivePacket(from: string, data: Uint8Array): void {
    if (this.throwOnPacket) throw new Error('core bug');
    const text = dec.decode(data);
    this.packets.push({ from, text });
    if (text === 'hello') this.out.push({ type: 'send', to: from, data: enc.encode('hello-back') });
  }
  handleStream(_from: string, data: Uint8Array): Uint8Array | null {
    const text = dec.decode(data);
    if (!text.startsWith('join:')) return null;
    const name = text.slice(5);
    const m = this.asMember(name, '127.0.0.1', 0);
    this.known.set(name, m);
    this.out.push({ type: 'member', event: 'join', member: m });
    return enc.encode(`welcome:${this.config.name}`);
  }
  streamReply(_id: number, reply: Uint8Array | null): boolean {
    if (!reply) return false;
    const text = dec.decode(reply);
    if (!text.startsWith('welcome:')) return false;
    const m = this.asMember(text.slice(8), '127.0.0.1', 0);
    this.known.set(m.name, m);
    this.out.push({ type: 'member', event: 'join', member: m });
    return true;
  }
  leave(): void {
    this.out.push({ type: 'log', level: 'info', msg: 'leaving' });
  }
  forceLeave(name: string): boolean {
    return this.known.has(name);
  }
  setTags(tags: Record<string, string>): void {
    const me = this.local();
    me.tags = tags;
    this.out.push({ type: 'member', event: 'update', member: me });
  }
  fireEvent(name: string, payload: Uint8Array, id: string): UserEvent {
    const e = { ltime: 1, name, payload, id, origin: this.config.name };
    this.out.push({ type: 'user', event: e });
    return e;
  }
  query(name: string, payload: Uint8Array): number {
    const id = ++this.ids;
    this.out.push({
      type: 'query',
      query: { id, ltime: 1, name, payload, origin: this.config.name },
    });
    return id;
  }
  respond(q: QueryRequest, payload: Uint8Array): void {
    this.out.push({ type: 'queryResponse', id: q.id, from: this.config.name, payload });
  }
  members(): Member[] {
    return [...this.known.values()];
  }
  member(name: string): Member | undefined {
    return this.known.get(name);
  }
  local(): Member {
    return this.known.get(this.config.name) as Member;
  }
  healthScore(): number {
    return 0;
  }
  drain(): Output[] {
    const o = this.out;
    this.out = [];
    return o;
  }
}

async function fakeAgent(
  name: string,
  opts: { logger?: Logger; keyring?: Keyring | null } = {},
): Promise<{ agent: GossipAgent; core: FakeCore; port: number }> {
  let core: FakeCore | null = null;
  const agent = new GossipAgent({
    config: config(name),
    bindAddr: '127.0.0.1',
    port: 0,
    keyring: opts.keyring ?? null,
    verifyIncoming: true,
    verifyOutgoing: true,
    keyringFile: null,
    logger: opts.logger ?? silentLogger(),
    streamTimeoutMs: 1000,
    createCore: (c, rng, now) => (core = new FakeCore(c, rng, now)),
  });
  agents.push(agent);
  const port = await agent.start();
  return { agent, core: core as unknown as FakeCore, port };
}

describe('GossipAgent with a scripted core', () => {
  it('configures the core with the port actually bound', async () => {
    const { core, port } = await fakeAgent('a');
    expect(port).toBeGreaterThan(0);
    expect(core.config.port).toBe(port);
    expect(core.config.name).toBe('a');
  });

  it('ticks at the core deadline and not at all when it has none', async () => {
    const { agent, core } = await fakeAgent('a');
    await new Promise((r) => setTimeout(r, 100));
    expect(core.ticks).toEqual([]);
    // An API call re-arms the timer at the new deadline.
    core.setPeriod(20, performance.now());
    agent.setTags({ x: '1' });
    await new Promise((r) => setTimeout(r, 210));
    // About ten ticks; fewer on a loaded machine, never more than the period allows.
    expect(core.ticks.length).toBeGreaterThanOrEqual(3);
    expect(core.ticks.length).toBeLessThanOrEqual(11);
    for (let i = 1; i < core.ticks.length; i++) {
      expect((core.ticks[i] as number) - (core.ticks[i - 1] as number)).toBeGreaterThanOrEqual(19);
    }
  });

  it('joins through the transport and reports how many addresses worked', async () => {
    const a = await fakeAgent('a');
    const b = await fakeAgent('b');
    const c = await fakeAgent('c');
    const joined: string[] = [];
    a.agent.on('member', (ev: MemberEventType, m: Member) => joined.push(`${ev}:${m.name}`));
    expect(await a.agent.join([`127.0.0.1:${b.port}`, `127.0.0.1:${c.port}`])).toBe(2);
    expect(joined.sort()).toEqual(['join:b', 'join:c']);
    expect(b.agent.members().map((m) => m.name)).toContain('a');
    expect(a.agent.stats()['transport.streams.out']).toBe(2);
  });

  it('counts partial success, and throws a Consul-like error when nothing worked', async () => {
    const a = await fakeAgent('a');
    const b = await fakeAgent('b');
    const gone = await fakeAgent('gone');
    const gonePort = gone.port;
    await gone.agent.stop();
    expect(await a.agent.join([`127.0.0.1:${b.port}`, `127.0.0.1:${gonePort}`])).toBe(1);
    let caught: unknown;
    try {
      await a.agent.join([`127.0.0.1:${gonePort}`, 'no-such-host.invalid:8301']);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConsulError);
    expect((caught as ConsulError).code).toBe(ErrorCode.Unavailable);
    const msg = (caught as ConsulError).message;
    expect(msg).toMatch(/^2 errors occurred:/);
    expect(msg).toContain(`Failed to join 127.0.0.1:${gonePort}: connect ECONNREFUSED`);
    expect(msg).toContain('Failed to join no-such-host.invalid:8301');
  });

  it('fails a join whose reply the core rejects', async () => {
    const a = await fakeAgent('a');
    const b = await fakeAgent('b');
    // b answers streams, but not with a welcome.
    b.core.handleStream = () => enc.encode('go away');
    await expect(a.agent.join([`127.0.0.1:${b.port}`])).rejects.toThrow(/invalid reply/);
  });

  it('resolves join addresses: default port, names, IPv6 refused', async () => {
    expect(await resolveJoinAddr('127.0.0.1')).toBe('127.0.0.1:8301');
    expect(await resolveJoinAddr('localhost:9000')).toBe('127.0.0.1:9000');
    await expect(resolveJoinAddr('[::1]:8301')).rejects.toThrow(/IPv6/);
    await expect(resolveJoinAddr('::1')).rejects.toThrow(/IPv6/);
    await expect(resolveJoinAddr('1.2.3.4:99999')).rejects.toThrow(/invalid port/);
    await expect(resolveJoinAddr(':8301')).rejects.toThrow(/missing host/);
  });

  it('carries packets both ways through the cores', async () => {
    const a = await fakeAgent('a');
    const b = await fakeAgent('b');
    a.core.out.push({ type: 'send', to: `127.0.0.1:${b.port}`, data: enc.encode('hello') });
    a.agent.setTags({});
    await waitFor(() => a.core.packets.length === 1);
    expect(b.core.packets).toEqual([{ from: `127.0.0.1:${a.port}`, text: 'hello' }]);
    expect(a.core.packets).toEqual([{ from: `127.0.0.1:${b.port}`, text: 'hello-back' }]);
  });

  it('survives a core that throws on input and a listener that throws', async () => {
    const { logger, lines } = captureLogger();
    const a = await fakeAgent('a', { logger });
    const b = await fakeAgent('b');
    a.core.throwOnPacket = true;
    b.core.out.push({ type: 'send', to: `127.0.0.1:${a.port}`, data: enc.encode('x') });
    b.agent.setTags({});
    await waitFor(() => a.agent.stats()['driver.coreErrors'] === 1);
    a.agent.on('user', () => {
      throw new Error('listener bug');
    });
    const e = a.agent.fireEvent('deploy', enc.encode('v2'));
    expect(e.name).toBe('deploy');
    expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.agent.stats()['driver.listenerErrors']).toBe(1);
    await a.agent.leave(50);
    expect(lines.some((l) => l.msg === 'leaving' && l.level === 30)).toBe(true);
  });

  it('answers queries with registered handlers; resolves on `expect` or at the timeout', async () => {
    const a = await fakeAgent('a');
    a.agent.onQuery('ping', async (payload, from) => enc.encode(`pong ${dec.decode(payload)} for ${from}`));
    const t0 = performance.now();
    const quick = await a.agent.query('ping', enc.encode('1'), { timeoutMs: 2000, expect: 1 });
    expect(performance.now() - t0).toBeLessThan(500);
    expect(quick.map((r) => [r.from, dec.decode(r.payload)])).toEqual([['a', 'pong 1 for a']]);
    const t1 = performance.now();
    const slow = await a.agent.query('ping', enc.encode('2'), { timeoutMs: 150, expect: 2 });
    expect(performance.now() - t1).toBeGreaterThanOrEqual(140);
    expect(slow).toHaveLength(1);
    // A query nobody handles: counted, no answer.
    expect(await a.agent.query('nobody', new Uint8Array(), { timeoutMs: 50 })).toEqual([]);
    expect(a.agent.stats()['driver.queriesUnhandled']).toBe(1);
    // A failing handler: counted, no answer, no crash.
    a.agent.onQuery('broken', () => {
      throw new Error('handler bug');
    });
    expect(await a.agent.query('broken', new Uint8Array(), { timeoutMs: 50 })).toEqual([]);
    expect(a.agent.stats()['driver.queryHandlerErrors']).toBe(1);
  });

  it('stops cleanly: pending queries resolve, calls after stop are refused, stop twice is fine', async () => {
    const a = await fakeAgent('a');
    const pending = a.agent.query('nobody', new Uint8Array(), { timeoutMs: 60_000 });
    await a.agent.stop();
    expect(await pending).toEqual([]);
    expect(() => a.agent.setTags({})).toThrow(/stopped/);
    expect(a.agent.members()).toHaveLength(1);
    await a.agent.stop();
    const unstarted = new GossipAgent({
      config: config('x'),
      bindAddr: '127.0.0.1',
      port: 0,
      keyring: null,
      verifyIncoming: true,
      verifyOutgoing: true,
      keyringFile: null,
      logger: silentLogger(),
    });
    expect(() => unstarted.local()).toThrow(/not started/);
    // A config the core refuses fails start and releases the port it bound.
    const probe = await fakeAgent('probe');
    await probe.agent.stop();
    const opts = {
      bindAddr: '127.0.0.1',
      port: probe.port,
      keyring: null,
      verifyIncoming: true,
      verifyOutgoing: true,
      keyringFile: null,
      logger: silentLogger(),
    };
    const refused = new GossipAgent({ ...opts, config: { ...config('x'), name: '' } });
    await expect(refused.start()).rejects.toThrow(/invalid gossip config/);
    const after = new GossipAgent({ ...opts, config: config('x') });
    agents.push(after);
    expect(await after.start()).toBe(probe.port);
    expect(unstarted.members()).toEqual([]);
    await unstarted.stop();
  });

  it('persists keyring changes to the keyring file it was given', async () => {
    const file = keyringPath(tmp());
    const ring = new Keyring([generateKey()]);
    const agent = new GossipAgent({
      config: config('k'),
      bindAddr: '127.0.0.1',
      port: 0,
      keyring: ring,
      verifyIncoming: true,
      verifyOutgoing: true,
      keyringFile: file,
      logger: silentLogger(),
      createCore: (c, rng, now) => new FakeCore(c, rng, now),
    });
    agents.push(agent);
    expect(existsSync(file)).toBe(true);
    const k2 = generateKey();
    agent.keyring()?.install(k2);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual([ring.primary(), k2]);
  });
});

// ------------------------------------------------------------------------------------------------
// Real agents (GossipCore + transport) on 127.0.0.1 with fastTimings.

interface Node {
  agent: GossipAgent;
  name: string;
  port: number;
  addr: string;
  dir: string;
  events: UserEvent[];
  memberEvents: string[];
}

async function realAgent(name: string, key: string | null, seed: number): Promise<Node> {
  const dir = tmp();
  const file = keyringPath(dir);
  const agent = new GossipAgent({
    config: config(name),
    bindAddr: '127.0.0.1',
    port: 0,
    keyring: key ? new Keyring([key]) : null,
    verifyIncoming: true,
    verifyOutgoing: true,
    keyringFile: key ? file : null,
    logger: silentLogger(),
    rng: seededRng(seed),
    streamTimeoutMs: 1000,
  });
  agents.push(agent);
  const port = await agent.start();
  registerKeyringHandlers(agent);
  const node: Node = { agent, name, port, addr: `127.0.0.1:${port}`, dir, events: [], memberEvents: [] };
  agent.on('user', (e) => node.events.push(e));
  agent.on('member', (ev, m) => node.memberEvents.push(`${ev}:${m.name}`));
  return node;
}

const statusOf = (n: Node, name: string): string | undefined => n.agent.member(name)?.status;
const aliveCount = (n: Node): number => n.agent.members().filter((m) => m.status === 'alive').length;

async function cluster(size: number, key: string | null): Promise<Node[]> {
  const nodes: Node[] = [];
  for (let i = 0; i < size; i++) nodes.push(await realAgent(`node-${i}`, key, 1000 + i));
  const seed = nodes[0] as Node;
  for (const n of nodes.slice(1)) expect(await n.agent.join([seed.addr])).toBe(1);
  await waitFor(() => nodes.every((n) => aliveCount(n) === size), 10_000, 'everyone alive everywhere');
  return nodes;
}

describe('GossipAgent cluster', () => {
  it('joins through one address, detects a crashed member, spreads user events', async () => {
    const key = generateKey();
    const nodes = await cluster(4, key);
    const [a, b, c, d] = nodes as [Node, Node, Node, Node];
    expect(a.agent.local().port).toBe(a.port);
    expect(
      b.agent
        .members()
        .map((m) => m.name)
        .sort(),
    ).toEqual(['node-0', 'node-1', 'node-2', 'node-3']);

    a.agent.fireEvent('deploy', enc.encode('v42'));
    await waitFor(() => nodes.every((n) => n.events.length === 1), 5000, 'event everywhere');
    for (const n of nodes) {
      expect(n.events[0]?.name).toBe('deploy');
      expect(dec.decode(n.events[0]?.payload)).toBe('v42');
      expect(n.events[0]?.origin).toBe('node-0');
    }

    // d crashes: no leave, sockets gone.
    await d.agent.stop();
    await waitFor(
      () => [a, b, c].every((n) => statusOf(n, 'node-3') === 'failed'),
      10_000,
      'node-3 failed everywhere',
    );
    expect(a.memberEvents).toContain('failed:node-3');
    // Encryption was on all along, and nothing was dropped for a wrong key.
    const stats = a.agent.stats();
    expect(stats['transport.packets.out']).toBeGreaterThan(0);
    expect(stats['transport.dropped.decrypt'] ?? 0).toBe(0);
    expect(stats['health_score']).toBeGreaterThanOrEqual(0);
  });

  it('leaves gracefully: others see it as left', async () => {
    const nodes = await cluster(3, null);
    const [a, b, c] = nodes as [Node, Node, Node];
    const t0 = performance.now();
    await c.agent.leave();
    expect(performance.now() - t0).toBeLessThan(2000);
    await c.agent.stop();
    await waitFor(
      () => [a, b].every((n) => statusOf(n, 'node-2') === 'left'),
      5000,
      'node-2 left everywhere',
    );
    expect(a.memberEvents).toContain('leave:node-2');
    expect(a.agent.forceLeave('node-2')).toBe(true);
    expect(a.agent.forceLeave('nobody')).toBe(false);
    // -prune: gone from this node's list now, not after the tombstone timeout.
    expect(a.agent.members().some((m) => m.name === 'node-2')).toBe(true);
    expect(a.agent.forceLeave('node-2', true)).toBe(true);
    expect(a.agent.members().some((m) => m.name === 'node-2')).toBe(false);
    expect(a.memberEvents).toContain('reap:node-2');
  });

  it('rotates the gossip key across the cluster with keyring operations', async () => {
    const k1 = generateKey();
    const k2 = generateKey();
    const nodes = await cluster(4, k1);
    const [a, b] = nodes as [Node, Node];

    const listed = await runKeyringOp(a.agent, 'list', null, { datacenter: 'dc1', timeoutMs: 3000 });
    expect(listed).toEqual([
      {
        WAN: false,
        Datacenter: 'dc1',
        Segment: '',
        Keys: { [k1]: 4 },
        PrimaryKeys: { [k1]: 4 },
        NumNodes: 4,
        Messages: {},
      },
    ]);

    await runKeyringOp(b.agent, 'install', k2, { datacenter: 'dc1', timeoutMs: 3000 });
    expect(
      (await runKeyringOp(a.agent, 'list', null, { datacenter: 'dc1', timeoutMs: 3000 }))[0]?.Keys,
    ).toEqual({ [k1]: 4, [k2]: 4 });
    await runKeyringOp(a.agent, 'use', k2, { datacenter: 'dc1', timeoutMs: 3000 });
    expect(
      (await runKeyringOp(a.agent, 'list', null, { datacenter: 'dc1', timeoutMs: 3000 }))[0]?.PrimaryKeys,
    ).toEqual({ [k2]: 4 });

    // The primary cannot be removed: every node refuses, and the error names them.
    let caught: unknown;
    try {
      await runKeyringOp(a.agent, 'remove', k2, { datacenter: 'dc1', timeoutMs: 3000 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConsulError);
    const msg = (caught as ConsulError).message;
    expect(msg).toContain('dc1 (LAN) error: 4/4 nodes reported failure');
    for (const n of nodes) expect(msg).toContain(`${n.name}: Removing the primary key is not allowed`);

    await runKeyringOp(a.agent, 'remove', k1, { datacenter: 'dc1', timeoutMs: 3000 });
    const after = (await runKeyringOp(b.agent, 'list', null, { datacenter: 'dc1', timeoutMs: 3000 }))[0];
    expect(after?.Keys).toEqual({ [k2]: 4 });
    expect(after?.PrimaryKeys).toEqual({ [k2]: 4 });
    // Every node persisted its ring.
    for (const n of nodes) expect(JSON.parse(readFileSync(keyringPath(n.dir), 'utf8'))).toEqual([k2]);

    // The cluster still talks, under the new key only.
    b.agent.fireEvent('after-rotation', new Uint8Array());
    await waitFor(() => nodes.every((n) => n.events.some((e) => e.name === 'after-rotation')), 5000, 'event');
    expect(nodes.every((n) => aliveCount(n) === 4)).toBe(true);

    // Invalid keys are refused before anything is asked.
    await expect(
      runKeyringOp(a.agent, 'install', 'not-base64!', { datacenter: 'dc1', timeoutMs: 3000 }),
    ).rejects.toMatchObject({
      code: ErrorCode.BadRequest,
    });
    await expect(
      runKeyringOp(a.agent, 'install', randomBytes(10).toString('base64'), {
        datacenter: 'dc1',
        timeoutMs: 3000,
      }),
    ).rejects.toThrow('key size must be 16, 24 or 32 bytes');
    // Using a key that was never installed: every node reports it, and nothing changes.
    const k3 = generateKey();
    await expect(runKeyringOp(a.agent, 'use', k3, { datacenter: 'dc1', timeoutMs: 3000 })).rejects.toThrow(
      /4\/4 nodes reported failure[^]*node-2: Requested key is not in the keyring/,
    );
    expect(a.agent.keyring()?.primary()).toBe(k2);
  });

  it('reports members that do not answer a keyring operation', async () => {
    const nodes = await cluster(3, generateKey());
    const [a, , c] = nodes as [Node, Node, Node];
    // c stays a member but no longer answers keyring queries.
    c.agent.onQuery(KEYRING_QUERIES.list, () => new Promise<Uint8Array>(() => undefined));
    const result = await keyringOperation(a.agent, 'list', null, { datacenter: 'dc1', timeoutMs: 500 });
    expect(result.error).toBe('2/3 nodes reported success');
    expect(result.responses[0]?.NumNodes).toBe(3);
    await expect(
      runKeyringOp(a.agent, 'list', null, { datacenter: 'dc1', timeoutMs: 500 }),
    ).rejects.toMatchObject({ code: ErrorCode.Unavailable });
  });

  it('says so when encryption is not enabled', async () => {
    const nodes = await cluster(2, null);
    await expect(
      runKeyringOp((nodes[0] as Node).agent, 'list', null, { datacenter: 'dc1', timeoutMs: 2000 }),
    ).rejects.toThrow('node-0: Keyring is empty (encryption not enabled)');
    await expect(
      runKeyringOp((nodes[0] as Node).agent, 'install', generateKey(), {
        datacenter: 'dc1',
        timeoutMs: 2000,
      }),
    ).rejects.toThrow('No keyring to modify (encryption not enabled)');
  });

  it('keeps out an agent with a different key', async () => {
    const nodes = await cluster(3, generateKey());
    const intruder = await realAgent('intruder', generateKey(), 99);
    let caught: unknown;
    try {
      await intruder.agent.join([(nodes[0] as Node).addr]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConsulError);
    expect((caught as ConsulError).code).toBe(ErrorCode.Unavailable);
    expect((caught as ConsulError).message).toContain(`Failed to join ${(nodes[0] as Node).addr}`);
    // Give gossip time to spread anything that might have leaked.
    await new Promise((r) => setTimeout(r, 500));
    for (const n of nodes) expect(n.agent.member('intruder')).toBeUndefined();
    expect(intruder.agent.members().map((m) => m.name)).toEqual(['intruder']);
    expect((nodes[0] as Node).agent.stats()['transport.dropped.decrypt']).toBeGreaterThan(0);
  });

  it('stays idle on the CPU: no timer spin while nothing is due', async () => {
    const nodes = await cluster(2, null);
    const before = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 500));
    const used = process.cpuUsage(before);
    // Two agents probing every 100 ms need a few ms of CPU per second, not a core.
    expect((used.user + used.system) / 1000).toBeLessThan(250);
    expect(nodes.every((n) => (n.agent.stats()['driver.lateDeadlines'] ?? 0) < 5)).toBe(true);
  });
});
