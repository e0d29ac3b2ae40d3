// Internal.KeyringOperation against a fake EndpointContext: from an agent, the WAN pool first and
// then every datacenter's LAN pool (its own here, the others through a server there, with the
// caller's token); forwarded, this datacenter's LAN pool only; a datacenter that fails fails the
// operation under its name; malformed arguments from another server are a 400.
import { describe, expect, it } from 'vitest';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';
import type { KeyringOp, KeyringResponse } from '../../src/gossip/keyring-ops.js';
import type { EndpointContext } from '../../src/rpc/endpoints/index.js';
import { keyringEndpoints, type KeyringArgs } from '../../src/rpc/endpoints/keyring.js';

const ep = keyringEndpoints['Internal.KeyringOperation'];

const answer = (dc: string, wan: boolean): KeyringResponse => ({
  WAN: wan,
  Datacenter: dc,
  Segment: '',
  Keys: { k: 1 },
  PrimaryKeys: { k: 1 },
  NumNodes: 1,
  Messages: {},
});

interface Fake {
  ctx: EndpointContext;
  runs: [KeyringOp, string | null, boolean][];
  calls: { dc: string; args: unknown }[];
}

function fake(opts: { wan?: boolean; remote?: (dc: string) => Promise<unknown> } = {}): Fake {
  const runs: Fake['runs'] = [];
  const calls: Fake['calls'] = [];
  const ctx = {
    signal: new AbortController().signal,
    datacenters: {
      local: 'dc1',
      list: () => ['dc1', 'dc2', 'dc3'],
      call: (dc: string, _method: string, args: unknown) => {
        calls.push({ dc, args });
        return opts.remote ? opts.remote(dc) : Promise.resolve([answer(dc, false)]);
      },
    },
    keyring: {
      hasWan: () => opts.wan ?? true,
      run: (op: KeyringOp, key: string | null, wan: boolean) => {
        runs.push([op, key, wan]);
        return Promise.resolve([answer('dc1', wan)]);
      },
    },
  } as unknown as EndpointContext;
  return { ctx, runs, calls };
}

const run = (f: Fake, args: unknown): Promise<KeyringResponse[]> => ep.run(f.ctx, args as KeyringArgs);

describe('Internal.KeyringOperation', () => {
  it('runs on the WAN pool, then on every datacenter’s LAN pool, with the caller’s token', async () => {
    const f = fake();
    const out = await run(f, { op: 'install', key: 'abc', token: 'secret' });
    expect(out.map((r) => [r.Datacenter, r.WAN])).toEqual([
      ['dc1', true],
      ['dc1', false],
      ['dc2', false],
      ['dc3', false],
    ]);
    expect(f.runs).toEqual([
      ['install', 'abc', true],
      ['install', 'abc', false],
    ]);
    const forwarded = { op: 'install', key: 'abc', forwarded: true, token: 'secret' };
    expect(f.calls).toEqual([
      { dc: 'dc2', args: forwarded },
      { dc: 'dc3', args: forwarded },
    ]);
  });

  it('forwarded: this datacenter’s LAN pool only; a server in no WAN pool skips it', async () => {
    const f = fake();
    expect((await run(f, { op: 'list', key: null, forwarded: true })).map((r) => r.WAN)).toEqual([false]);
    expect(f.runs).toEqual([['list', null, false]]);
    expect(f.calls).toEqual([]);
    const lone = fake({ wan: false });
    await run(lone, { op: 'list', key: null });
    expect(lone.runs).toEqual([['list', null, false]]);
  });

  it('fails under the name of a datacenter that failed', async () => {
    const f = fake({
      remote: (dc) =>
        dc === 'dc3'
          ? Promise.reject(new ConsulError(ErrorCode.Internal, '1/2 nodes reported failure'))
          : Promise.resolve([answer(dc, false)]),
    });
    await expect(run(f, { op: 'use', key: 'abc' })).rejects.toThrow('dc3: 1/2 nodes reported failure');
  });

  it('refuses malformed arguments with a 400', async () => {
    for (const args of [
      null,
      { op: 'format', key: null },
      { op: 'install', key: null },
      { op: 'install', key: '' },
      { op: 'remove', key: 7 },
      { op: 'list', key: null, forwarded: 'yes' },
    ]) {
      const err = await run(fake(), args).catch((e: unknown) => e);
      expect(err, JSON.stringify(args)).toBeInstanceOf(ConsulError);
      expect((err as ConsulError).code).toBe(ErrorCode.BadRequest);
    }
  });
});
