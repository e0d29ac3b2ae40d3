// The forwarding guard's cross-datacenter path, with a fake WAN directory and fake connections: a
// request naming another dc goes there as the same method with the same args (blocking queries
// included, cancelled with the caller), writes are not repeated after a dropped connection, a
// server without a WAN pool keeps "No path to datacenter", and EndpointContext.datacenters.

import { describe, expect, it } from 'vitest';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { seededRng } from '../../src/core/rng.js';
import type { RaftDriver } from '../../src/raft/driver.js';
import type { EndpointContext } from '../../src/rpc/endpoints/index.js';
import type { RemoteConn, WanServer, WanView } from '../../src/server/dc-router.js';
import { Forwarder } from '../../src/server/forward.js';
import type { StateStore } from '../../src/state/store.js';

interface Sent {
  addr: string;
  method: string;
  args: unknown;
  signal: AbortSignal | undefined;
}

const dc2: WanServer[] = ['b1', 'b2'].map((name, i) => ({
  name,
  dc: 'dc2',
  id: name,
  rpc: `127.0.0.1:${9300 + i}`,
  http: null,
}));

function forwarder(o: { wan?: boolean; reply?: (s: Sent) => Promise<unknown> } = {}): {
  fwd: Forwarder;
  sent: Sent[];
  dialled: string[];
} {
  const sent: Sent[] = [];
  const dialled: string[] = [];
  const wan: WanView = {
    datacenters: () => ['dc1', 'dc2'],
    servers: (dc) => (dc === 'dc2' ? dc2 : []),
    known: (dc) => dc === 'dc1' || dc === 'dc2',
  };
  const fwd = new Forwarder({
    datacenter: 'dc1',
    ...(o.wan === false ? {} : { wan }),
    // The local path is not under test here: anything that reaches Raft fails loudly.
    driver: {
      isLeader: () => {
        throw new Error('local path taken');
      },
    } as unknown as RaftDriver,
    store: {} as StateStore,
    rng: seededRng(3),
    logger: silentLogger(),
    rpcHoldTimeoutMs: 100,
    leaderAddress: () => undefined,
    connect: async (addr): Promise<RemoteConn> => {
      dialled.push(addr);
      return {
        isOpen: true,
        call: (method, args, opts) => {
          const s = { addr, method, args, signal: opts.signal };
          sent.push(s);
          return o.reply ? o.reply(s) : Promise.resolve({ from: addr });
        },
      };
    },
    context: (signal) =>
      ({
        raft: { leaderAddress: () => '127.0.0.1:8300' },
        userEvents: { fire: (name: string) => ({ ID: 'ev-1', Name: name }) },
        signal,
      }) as unknown as EndpointContext,
  });
  return { fwd, sent, dialled };
}

const never = new AbortController().signal;

describe('Forwarder across datacenters', () => {
  it('sends a request naming another dc to one of its servers: same method, same args', async () => {
    const { fwd, sent } = forwarder();
    const args = { dc: 'dc2', key: 'app/x', q: { minIndex: 0, stale: false, consistent: false } };
    expect(await fwd.call('KVS.Get', args, never)).toEqual({ from: sent[0]?.addr });
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ method: 'KVS.Get', args });
    expect(dc2.map((s) => s.rpc)).toContain(sent[0]?.addr);
    // Local endpoints (Status.Leader) cross too, as in Consul; the local dc stays local.
    await fwd.call('Status.Leader', { dc: 'dc2' }, never);
    expect(sent.at(-1)?.method).toBe('Status.Leader');
    expect(await fwd.call('Status.Leader', { dc: 'dc1' }, never)).toBe('127.0.0.1:8300');
    expect(await fwd.call('Status.Leader', { dc: '' }, never)).toBe('127.0.0.1:8300');
    expect(sent).toHaveLength(2);
  });

  it('passes a blocking query through and cancels it when the caller goes away', async () => {
    const { fwd, sent } = forwarder({
      reply: (s) =>
        new Promise((_, reject) =>
          s.signal?.addEventListener('abort', () => reject(s.signal?.reason as Error), { once: true }),
        ),
    });
    const ac = new AbortController();
    const q = { minIndex: 42, maxWaitMs: 60_000, stale: false, consistent: false };
    const p = fwd.call(
      'Health.ServiceNodes',
      { dc: 'dc2', service: 'web', tags: [], passing: true, q },
      ac.signal,
    );
    await new Promise((r) => setTimeout(r, 5));
    expect((sent[0]?.args as { q: unknown }).q).toEqual(q);
    ac.abort(new ConsulError(ErrorCode.Timeout, 'client closed the connection'));
    await expect(p).rejects.toThrow('client closed the connection');
    expect(sent[0]?.signal?.aborted).toBe(true);
  });

  it('does not repeat a write whose connection dropped, but repeats a read', async () => {
    let open = true;
    const drop = (): Promise<unknown> => {
      open = false;
      return Promise.reject(new ConsulError(ErrorCode.Unavailable, 'rpc: connection closed'));
    };
    const sent: string[] = [];
    const fwd = new Forwarder({
      datacenter: 'dc1',
      wan: { datacenters: () => ['dc1', 'dc2'], servers: () => dc2, known: () => true },
      driver: {} as RaftDriver,
      store: {} as StateStore,
      rng: seededRng(5),
      logger: silentLogger(),
      rpcHoldTimeoutMs: 100,
      leaderAddress: () => undefined,
      connect: async () => {
        open = true;
        return {
          get isOpen() {
            return open;
          },
          call: (method) => {
            sent.push(method);
            return drop();
          },
        };
      },
      context: () => ({}) as EndpointContext,
    });
    const w = fwd.call(
      'KVS.Apply',
      { dc: 'dc2', op: 'set', key: 'k', value: new Uint8Array(), flags: 0 },
      never,
    );
    await expect(w).rejects.toMatchObject({ code: ErrorCode.DCUnavailable });
    expect(sent).toEqual(['KVS.Apply']);
    sent.length = 0;
    const r = fwd.call('KVS.Get', { dc: 'dc2', key: 'k', q: { minIndex: 0 } }, never);
    await expect(r).rejects.toMatchObject({ code: ErrorCode.DCUnavailable });
    expect(sent).toEqual(['KVS.Get', 'KVS.Get']);
  });

  it('fires a user event where Internal.EventFire lands: remote for another dc, here for its own', async () => {
    const { fwd, sent } = forwarder();
    const args = {
      name: 'deploy',
      payload: new Uint8Array([1]),
      filters: { node: '', service: '', tag: '' },
    };
    await fwd.call('Internal.EventFire', { ...args, dc: 'dc2' }, never);
    expect(sent[0]).toMatchObject({ method: 'Internal.EventFire', args: { ...args, dc: 'dc2' } });
    expect(await fwd.call('Internal.EventFire', args, never)).toEqual({ ID: 'ev-1', Name: 'deploy' });
    expect(sent).toHaveLength(1);
  });

  it('without a WAN pool, any other dc is "No path to datacenter"; unknown dcs too with one', async () => {
    const { fwd, dialled } = forwarder({ wan: false });
    await expect(fwd.call('KVS.Get', { dc: 'dc2', key: 'k' }, never)).rejects.toMatchObject({
      code: ErrorCode.NoDCPath,
      message: 'No path to datacenter',
    });
    const withWan = forwarder();
    await expect(withWan.fwd.call('KVS.Get', { dc: 'dc7', key: 'k' }, never)).rejects.toMatchObject({
      code: ErrorCode.NoDCPath,
    });
    expect([...dialled, ...withWan.dialled]).toEqual([]);
  });

  it('gives endpoints the datacenters, nearest first, and a way to run an endpoint in one', async () => {
    const { fwd, sent } = forwarder();
    const dcs = fwd.datacenters;
    expect(dcs.local).toBe('dc1');
    expect(dcs.list()).toEqual(['dc1', 'dc2']);
    const q = { minIndex: 0, stale: false, consistent: false };
    await dcs.call('dc2', 'Health.ServiceNodes', { service: 'web', tags: [], passing: true, q }, never);
    expect(sent[0]).toMatchObject({
      method: 'Health.ServiceNodes',
      args: { dc: 'dc2', service: 'web', tags: [], passing: true, q },
    });
    expect(await dcs.call('dc1', 'Status.Leader', {}, never)).toBe('127.0.0.1:8300');
    // Without a WAN pool only the local datacenter is known.
    expect(forwarder({ wan: false }).fwd.datacenters.list()).toEqual(['dc1']);
  });
});
