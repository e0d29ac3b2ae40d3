// The watch loop's rules with a fake fetch (no sockets, no clock), and plan parsing.

import { createServer, type IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientForPlan } from '../../src/watch/runner.js';
import { backoffMs, CONSUL_BACKOFF, nextIndex, WatchLoop } from '../../src/watch/loop.js';
import { parsePlan } from '../../src/watch/plan.js';
import { deltaFor, httpFetcher, queryFor, type FetchResult } from '../../src/watch/queries.js';

/** A loop over scripted answers; records the index each query asked for and every handler call. */
function scripted(answers: (FetchResult | Error)[], type: 'key' | 'event' = 'key') {
  const asked: number[] = [];
  const fired: { index: number; value: unknown }[] = [];
  const sleeps: number[] = [];
  const errors: unknown[] = [];
  const target =
    type === 'key' ? ({ type: 'key', key: 'k' } as const) : ({ type: 'event', name: '' } as const);
  const loop = new WatchLoop({
    fetch: async (index) => {
      asked.push(index);
      const a = answers.shift();
      if (a === undefined) throw new Error('script ran out');
      if (a instanceof Error) throw a;
      return a;
    },
    delta: deltaFor(target),
    handler: (index, value) => void fired.push({ index, value }),
    onError: (err) => errors.push(err),
    sleep: async (ms) => void sleeps.push(ms),
  });
  return { loop, asked, fired, sleeps, errors };
}

describe('nextIndex (Consul’s rules for blocking clients)', () => {
  it('follows the index forward, resets to 0 when it goes backwards, never sends 0 back', () => {
    expect(nextIndex(null, 7)).toBe(7);
    expect(nextIndex(7, 9)).toBe(9);
    expect(nextIndex(9, 9)).toBe(9);
    expect(nextIndex(9, 3)).toBe(0); // backwards: start over with a plain read
    expect(nextIndex(null, 0)).toBe(1); // 0 would answer at once forever
    expect(nextIndex(5, 0)).toBe(1);
  });
});

describe('WatchLoop', () => {
  it('fires once at the start, then only when the index moves and the result changed', async () => {
    const s = scripted([
      { index: 5, value: 'a' },
      { index: 5, value: 'a' }, // the wait ran out
      { index: 6, value: 'a' }, // an idempotent write: new index, same result
      { index: 8, value: 'b' },
    ]);
    for (let i = 0; i < 4; i++) await s.loop.step();
    expect(s.asked).toEqual([0, 5, 5, 6]);
    expect(s.fired).toEqual([
      { index: 5, value: 'a' },
      { index: 8, value: 'b' },
    ]);
    expect(s.loop.index).toBe(8);
  });

  it('starts over from 0 when the index goes backwards, and fires only if the result differs', async () => {
    const s = scripted([
      { index: 10, value: 'a' },
      { index: 4, value: 'a' }, // e.g. a snapshot restore: same data, lower index
      { index: 4, value: 'a' },
      { index: 3, value: 'c' },
      { index: 12, value: 'd' },
    ]);
    for (let i = 0; i < 5; i++) await s.loop.step();
    expect(s.asked).toEqual([0, 10, 0, 4, 0]);
    expect(s.fired.map((f) => f.value)).toEqual(['a', 'c', 'd']);
  });

  it('never blocks on index 0: a 0 from the server becomes 1', async () => {
    const s = scripted([
      { index: 0, value: 'a' },
      { index: 0, value: 'a' },
      { index: 2, value: 'b' },
    ]);
    for (let i = 0; i < 3; i++) await s.loop.step();
    expect(s.asked).toEqual([0, 1, 1]);
    expect(s.fired.map((f) => f.value)).toEqual(['a', 'b']);
  });

  it('backs off as Consul does on errors (5 s × failures², capped at 180 s), keeping its cursor', async () => {
    const boom = new Error('connection refused');
    const s = scripted([
      { index: 5, value: 'a' },
      boom,
      boom,
      boom,
      boom,
      boom,
      boom,
      boom,
      { index: 7, value: 'b' },
      boom,
    ]);
    for (let i = 0; i < 10; i++) await s.loop.step();
    expect(s.sleeps).toEqual([5000, 20_000, 45_000, 80_000, 125_000, 180_000, 180_000, 5000]);
    expect(s.asked).toEqual([0, 5, 5, 5, 5, 5, 5, 5, 5, 7]);
    expect(s.fired.map((f) => f.value)).toEqual(['a', 'b']);
    expect(s.errors).toHaveLength(8);
    expect(backoffMs(100, CONSUL_BACKOFF)).toBe(180_000);
  });

  it('hands event watches only the events not seen before, and nothing for other names', async () => {
    const e = (id: string, name = 'deploy') => ({ ID: id, Name: name });
    const s = scripted(
      [
        { index: 3, value: [e('1')] },
        { index: 4, value: [e('1'), e('2')] },
        { index: 5, value: [e('1'), e('2')] }, // an event of another name moved the agent's index
        { index: 6, value: [e('2'), e('3'), e('4')] }, // the ring dropped the oldest
      ],
      'event',
    );
    for (let i = 0; i < 4; i++) await s.loop.step();
    expect(s.fired.map((f) => f.value)).toEqual([[e('1')], [e('2')], [e('3'), e('4')]]);
  });

  it('keeps going when a handler throws, and stops when asked, cancelling the query in flight', async () => {
    let calls = 0;
    const errors: unknown[] = [];
    let release: (() => void) | null = null;
    const loop = new WatchLoop({
      fetch: (index, signal) =>
        index === 0
          ? Promise.resolve({ index: 1, value: 'x' })
          : new Promise((_resolve, reject) => {
              release = () => reject(new Error('aborted'));
              signal.addEventListener('abort', () => release?.());
            }),
      delta: deltaFor({ type: 'nodes' }),
      handler: () => {
        calls++;
        throw new Error('handler broke');
      },
      onError: (err) => errors.push(err),
    });
    const done = loop.run();
    while (release === null) await new Promise((r) => setTimeout(r, 5));
    await loop.stop();
    await done;
    expect(calls).toBe(1);
    expect((errors[0] as Error).message).toBe('handler broke');
    expect(errors).toHaveLength(1); // the cancelled query is not an error
  });
});

describe('watch plans', () => {
  it("maps every type to Consul's query", () => {
    const q = (raw: Record<string, unknown>) => {
      const w = queryFor(parsePlan(raw, false).target);
      return { path: w.path, query: w.query };
    };
    expect(q({ type: 'key', key: 'a b/c' })).toEqual({ path: '/v1/kv/a%20b/c', query: {} });
    expect(q({ type: 'keyprefix', prefix: 'app/' })).toEqual({
      path: '/v1/kv/app/',
      query: { recurse: true },
    });
    expect(q({ type: 'services' }).path).toBe('/v1/catalog/services');
    expect(q({ type: 'nodes' }).path).toBe('/v1/catalog/nodes');
    expect(q({ type: 'service', service: 'web', tag: ['a', 'b'], passingonly: true })).toEqual({
      path: '/v1/health/service/web?tag=a&tag=b',
      query: { passing: true },
    });
    expect(q({ type: 'checks' }).path).toBe('/v1/health/state/any');
    expect(q({ type: 'checks', state: 'critical' }).path).toBe('/v1/health/state/critical');
    expect(q({ type: 'checks', service: 'web' }).path).toBe('/v1/health/checks/web');
    expect(q({ type: 'event', name: 'deploy' })).toEqual({
      path: '/v1/event/list',
      query: { name: 'deploy' },
    });
  });

  it('takes the generic parameters and the handlers of the config block', () => {
    const p = parsePlan(
      { type: 'key', key: 'k', datacenter: 'dc2', token: 't', stale: true, args: ['/bin/h', '-x'] },
      true,
    );
    expect(p).toMatchObject({
      datacenter: 'dc2',
      token: 't',
      stale: true,
      handler: { kind: 'args', args: ['/bin/h', '-x'] },
    });
    expect(parsePlan({ type: 'nodes', handler: 'echo hi' }, true).handler).toEqual({
      kind: 'shell',
      script: 'echo hi',
    });
    const h = parsePlan(
      {
        type: 'services',
        handler_type: 'http',
        http_handler_config: {
          path: 'https://h.example/x',
          method: 'put',
          header: { A: ['1'] },
          timeout: '2s',
          tls_skip_verify: true,
        },
      },
      true,
    ).handler;
    expect(h).toEqual({
      kind: 'http',
      config: {
        path: 'https://h.example/x',
        method: 'PUT',
        header: { A: ['1'] },
        timeoutMs: 2000,
        tlsSkipVerify: true,
      },
    });
    expect(
      parsePlan({ type: 'services', handler_type: 'http', http_handler_config: { path: 'http://h/' } }, true)
        .handler,
    ).toMatchObject({
      config: { method: 'POST', timeoutMs: 10_000, tlsSkipVerify: false },
    });
    expect(parsePlan({ type: 'key', key: 'k' }, false).handler).toBeNull();
  });

  it.each([
    [{ key: 'k', args: ['x'] }, 'Watch type must be specified'],
    [{ type: 'bogus', args: ['x'] }, 'Unsupported watch type: bogus'],
    [{ type: 'key', args: ['x'] }, 'Must specify a single key to watch'],
    [{ type: 'keyprefix', args: ['x'] }, 'Must specify a single prefix to watch'],
    [{ type: 'service', args: ['x'] }, 'Must specify a single service to watch'],
    [{ type: 'checks', service: 'a', state: 'passing', args: ['x'] }, 'Cannot specify service and state'],
    [{ type: 'checks', state: 'sad', args: ['x'] }, 'Invalid check state "sad"'],
    [{ type: 'key', key: 'k' }, 'Must define a watch handler'],
    [{ type: 'key', key: 'k', args: ['x'], handler: 'y' }, 'Only one watch handler allowed'],
    [{ type: 'key', key: 'k', args: [] }, 'Watch args must be a non-empty list of strings'],
    [{ type: 'key', key: 'k', handler_type: 'http' }, "requires 'http_handler_config'"],
    [{ type: 'key', key: 'k', handler_type: 'mail', args: ['x'] }, "Handler type 'mail' not recognized"],
    [{ type: 'key', key: 'k', handler_type: 'http', http_handler_config: {} }, "Requires 'path' to be set"],
    [
      {
        type: 'key',
        key: 'k',
        handler_type: 'http',
        http_handler_config: { path: 'http://h/', timeout: 'soon' },
      },
      'invalid timeout',
    ],
    [{ type: 'key', key: 'k', args: ['x'], prefix: 'p' }, 'Invalid parameters: prefix'],
    [{ type: 'key', key: 7, args: ['x'] }, 'Expecting key to be a string'],
    [
      { type: 'service', service: 's', passingonly: 'yes', args: ['x'] },
      'Expecting passingonly to be a boolean',
    ],
  ])('refuses %j: %s', (raw, msg) => {
    expect(() => parsePlan(raw, true)).toThrow(msg);
  });
});

describe('the HTTP side of a plan', () => {
  it('sends ?dc=, X-Consul-Token, ?stale, ?index= and repeated tags; a missing key is null', async () => {
    const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
    const srv = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      res.setHeader('X-Consul-Index', '42');
      if ((req.url ?? '').startsWith('/v1/kv/')) {
        res.statusCode = 404;
        res.end();
      } else res.end('[]');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const a = srv.address();
      const addr = `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
      const signal = new AbortController().signal;
      const svc = parsePlan(
        { type: 'service', service: 'web', tag: ['a', 'b'], datacenter: 'dc2', token: 'tok', stale: true },
        false,
      );
      expect(await httpFetcher(clientForPlan(addr, svc), svc.target)(7, signal)).toEqual({
        index: 42,
        value: [],
      });
      const key = parsePlan({ type: 'key', key: 'app/x' }, false);
      expect(await httpFetcher(clientForPlan(addr, key), key.target)(0, signal)).toEqual({
        index: 42,
        value: null,
      });
      const u = new URL(`http://h${seen[0]!.url}`);
      expect(u.pathname).toBe('/v1/health/service/web');
      expect(u.searchParams.getAll('tag')).toEqual(['a', 'b']);
      expect(u.searchParams.get('dc')).toBe('dc2');
      expect(u.searchParams.get('index')).toBe('7');
      expect(u.searchParams.has('stale')).toBe(true);
      expect(seen[0]!.headers['x-consul-token']).toBe('tok');
      expect(seen[1]!.url).toBe('/v1/kv/app/x'); // index 0: a plain read, no ?index
      expect(seen[1]!.headers['x-consul-token']).toBeUndefined();
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});
