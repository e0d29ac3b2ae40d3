// The cross-datacenter router against a fake WAN directory and fake connections: a random alive
// server, failed servers skipped for a while (or until gossip shows them back), reads retried
// anywhere, writes only when they never left, unknown vs unreachable datacenters, and the caller's
// abort reaching the remote call.

import { describe, expect, it } from 'vitest';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { seededRng } from '../../src/core/rng.js';
import { DcRouter, type RemoteConn, type WanServer, type WanView } from '../../src/server/dc-router.js';

/** How a fake server behaves: refuses connections, drops them mid-call, answers, or blocks. */
type Behaviour = 'ok' | 'refuse' | 'drop' | 'no-leader' | 'remote-unavailable' | 'block';

interface Fake {
  wan: WanView;
  /** Alive servers per dc (edit to simulate gossip). */
  alive: Map<string, WanServer[]>;
  /** Datacenters ever seen. */
  known: Set<string>;
  behaviour: Map<string, Behaviour>;
  connects: string[];
  calls: { addr: string; method: string; args: unknown; signal: AbortSignal | undefined }[];
  now: number;
  router: DcRouter;
}

const server = (dc: string, name: string, port: number): WanServer => ({
  name,
  dc,
  id: `${name}-id`,
  rpc: `${name}.${dc}.test:${port}`,
  http: null,
});

function fake(seed = 1): Fake {
  const f: Fake = {
    alive: new Map([
      ['dc1', [server('dc1', 'a1', 8300)]],
      ['dc2', [server('dc2', 'b1', 9301), server('dc2', 'b2', 9302), server('dc2', 'b3', 9303)]],
    ]),
    known: new Set(['dc1', 'dc2', 'dc3']),
    behaviour: new Map(),
    connects: [],
    calls: [],
    now: 1_000_000,
    wan: null as unknown as WanView,
    router: null as unknown as DcRouter,
  };
  f.wan = {
    datacenters: () => [...f.known],
    servers: (dc) => [...(f.alive.get(dc) ?? [])],
    known: (dc) => f.known.has(dc),
  };
  const connect = async (addr: string): Promise<RemoteConn> => {
    f.connects.push(addr);
    const b = f.behaviour.get(addr) ?? 'ok';
    if (b === 'refuse')
      throw new ConsulError(ErrorCode.Unavailable, `rpc: cannot reach ${addr}: ECONNREFUSED`);
    let open = true;
    return {
      get isOpen() {
        return open;
      },
      call: (method, args, o) => {
        f.calls.push({ addr, method, args, signal: o.signal });
        switch (b) {
          case 'drop':
            open = false;
            return Promise.reject(new ConsulError(ErrorCode.Unavailable, 'rpc: connection closed'));
          case 'no-leader':
            return Promise.reject(new ConsulError(ErrorCode.NoLeader, 'No cluster leader'));
          case 'remote-unavailable':
            return Promise.reject(new ConsulError(ErrorCode.Unavailable, 'rpc: cannot reach its leader'));
          case 'block':
            return new Promise((_, reject) => {
              o.signal?.addEventListener('abort', () => reject(o.signal?.reason as Error), { once: true });
            });
          default:
            return Promise.resolve({ servedBy: addr, args });
        }
      },
    };
  };
  f.router = new DcRouter({
    wan: f.wan,
    connect,
    rng: seededRng(seed),
    logger: silentLogger(),
    now: () => f.now,
    failedForMs: 30_000,
  });
  return f;
}

const never = new AbortController().signal;
const served = (v: unknown): string => (v as { servedBy: string }).servedBy;

async function rejection(p: Promise<unknown>): Promise<ConsulError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ConsulError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('DcRouter', () => {
  it('sends the request, unchanged, to a random alive server of the named datacenter', async () => {
    const f = fake();
    const counts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const v = await f.router.call('dc2', 'KVS.Get', { dc: 'dc2', key: 'k' }, never, true);
      counts.set(served(v), (counts.get(served(v)) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(['b1.dc2.test:9301', 'b2.dc2.test:9302', 'b3.dc2.test:9303']);
    for (const n of counts.values()) expect(n).toBeGreaterThan(60);
    expect(f.calls[0]).toMatchObject({ method: 'KVS.Get', args: { dc: 'dc2', key: 'k' } });
  });

  it('answers an unknown datacenter with Consul’s "No path to datacenter", without dialling', async () => {
    const f = fake();
    const e = await rejection(f.router.call('dc9', 'KVS.Get', {}, never, true));
    expect([e.code, e.message]).toEqual([ErrorCode.NoDCPath, 'No path to datacenter']);
    expect(f.connects).toEqual([]);
  });

  it('answers a known datacenter with no alive server with an error naming it', async () => {
    const f = fake();
    const e = await rejection(f.router.call('dc3', 'KVS.Get', {}, never, true));
    expect(e.code).toBe(ErrorCode.DCUnavailable);
    expect(e.message).toBe('rpc error: no reachable server in datacenter "dc3"');
  });

  it('marks a server it cannot reach, tries another, and skips the marked one for a while', async () => {
    const f = fake();
    const dead = 'b2.dc2.test:9302';
    f.behaviour.set(dead, 'refuse');
    for (let i = 0; i < 30; i++) {
      const v = await f.router.call('dc2', 'KVS.Get', {}, never, true);
      expect(served(v)).not.toBe(dead);
    }
    expect(f.connects.filter((a) => a === dead)).toHaveLength(1);
    expect(f.router.skipped('dc2')).toEqual(['b2']);
    // 30 s later it is a candidate again.
    f.now += 30_001;
    for (let i = 0; i < 30; i++) await f.router.call('dc2', 'KVS.Get', {}, never, true);
    expect(f.connects.filter((a) => a === dead)).toHaveLength(2);
  });

  it('forgets a mark as soon as gossip shows the server gone and alive again', async () => {
    const f = fake();
    const b2 = f.alive.get('dc2')![1]!;
    f.behaviour.set(b2.rpc, 'refuse');
    while (f.router.skipped('dc2').length === 0) await f.router.call('dc2', 'KVS.Get', {}, never, true);
    f.behaviour.delete(b2.rpc);
    // Gossip: failed...
    f.alive.set(
      'dc2',
      f.alive.get('dc2')!.filter((s) => s !== b2),
    );
    await f.router.call('dc2', 'KVS.Get', {}, never, true);
    expect(f.router.skipped('dc2')).toEqual(['b2']);
    // ...and alive again: the next pick may choose it.
    f.alive.get('dc2')!.push(b2);
    await f.router.call('dc2', 'KVS.Get', {}, never, true);
    expect(f.router.skipped('dc2')).toEqual([]);
  });

  it('with every server marked, still tries the one marked longest ago (once per call)', async () => {
    const f = fake();
    f.alive.set('dc2', f.alive.get('dc2')!.slice(0, 2));
    for (const s of f.alive.get('dc2')!) f.behaviour.set(s.rpc, 'refuse');
    const e = await rejection(f.router.call('dc2', 'KVS.Get', {}, never, true));
    expect(e.code).toBe(ErrorCode.DCUnavailable);
    expect(e.message).toContain('no reachable server in datacenter "dc2"');
    expect(e.message).toContain('ECONNREFUSED');
    expect(f.connects).toHaveLength(2);
    // The datacenter comes back before the marks expire: found on the next call.
    f.behaviour.clear();
    f.now += 1000;
    const v = await f.router.call('dc2', 'KVS.Get', {}, never, true);
    expect(f.connects).toHaveLength(3);
    expect(served(v)).toBe(f.connects[0]);
    // A success clears that server's mark.
    expect(f.router.skipped('dc2')).toHaveLength(1);
  });

  it('retries a read on another server when the connection drops mid-request', async () => {
    const f = fake();
    for (const s of f.alive.get('dc2')!.slice(0, 2)) f.behaviour.set(s.rpc, 'drop');
    const v = await f.router.call('dc2', 'KVS.Get', {}, never, true);
    expect(served(v)).toBe('b3.dc2.test:9303');
  });

  it('retries a write only when it never left: a refused connection yes, a dropped one no', async () => {
    const f = fake();
    const [b1, b2, b3] = f.alive.get('dc2')!;
    f.behaviour.set(b1!.rpc, 'refuse');
    f.behaviour.set(b2!.rpc, 'refuse');
    expect(served(await f.router.call('dc2', 'KVS.Apply', {}, never, false))).toBe(b3!.rpc);

    const g = fake();
    for (const s of g.alive.get('dc2')!) g.behaviour.set(s.rpc, 'drop');
    const e = await rejection(g.router.call('dc2', 'KVS.Apply', { op: 'set' }, never, false));
    expect(e.code).toBe(ErrorCode.DCUnavailable);
    expect(e.message).toMatch(/lost the connection to server b\d in datacenter "dc2".*may have been applied/);
    expect(g.calls).toHaveLength(1);
    // A read in the same situation tries every server.
    const h = fake();
    for (const s of h.alive.get('dc2')!) h.behaviour.set(s.rpc, 'drop');
    expect((await rejection(h.router.call('dc2', 'KVS.Get', {}, never, true))).code).toBe(
      ErrorCode.DCUnavailable,
    );
    expect(h.calls).toHaveLength(3);
  });

  it('passes the remote datacenter’s own errors through, without marking or retrying', async () => {
    const f = fake();
    for (const s of f.alive.get('dc2')!) f.behaviour.set(s.rpc, 'no-leader');
    const e = await rejection(f.router.call('dc2', 'KVS.Get', {}, never, true));
    expect([e.code, e.message]).toEqual([ErrorCode.NoLeader, 'No cluster leader']);
    expect(f.calls).toHaveLength(1);
    expect(f.router.skipped('dc2')).toEqual([]);
    // A remote "unavailable" is re-coded: a client agent must not take it for its own server failing.
    for (const s of f.alive.get('dc2')!) f.behaviour.set(s.rpc, 'remote-unavailable');
    const u = await rejection(f.router.call('dc2', 'KVS.Get', {}, never, true));
    expect([u.code, u.message]).toEqual([ErrorCode.DCUnavailable, 'rpc: cannot reach its leader']);
  });

  it('passes the caller’s signal to the remote call: an abort cancels it and marks nobody', async () => {
    const f = fake();
    for (const s of f.alive.get('dc2')!) f.behaviour.set(s.rpc, 'block');
    const ac = new AbortController();
    const p = f.router.call('dc2', 'KVS.Get', { q: { minIndex: 7 } }, ac.signal, true);
    await new Promise((r) => setTimeout(r, 5));
    expect(f.calls).toHaveLength(1);
    expect(f.calls[0]?.signal?.aborted).toBe(false);
    expect(f.calls[0]?.args).toEqual({ q: { minIndex: 7 } });
    ac.abort(new ConsulError(ErrorCode.Timeout, 'client closed the connection'));
    const e = await rejection(p);
    expect(e.message).toBe('client closed the connection');
    expect(f.calls[0]?.signal?.aborted).toBe(true);
    expect(f.calls).toHaveLength(1);
    expect(f.router.skipped('dc2')).toEqual([]);
    // Already aborted: nothing is sent.
    await expect(f.router.call('dc2', 'KVS.Get', {}, ac.signal, true)).rejects.toThrow('client closed');
    expect(f.connects).toHaveLength(1);
  });
});
