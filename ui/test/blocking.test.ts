// The blocking-query loop: it sends back the index it got, starts over when the index goes
// backwards, backs off after errors, stops when aborted, and never loops on an endpoint that
// cannot block.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffMs, nextIndex, runBlocking } from '../src/blocking.js';
import type { ApiResult } from '../src/api.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('index and backoff', () => {
  it('follows the index, resets to 0 when it goes backwards or is not positive', () => {
    expect(nextIndex(0, 5)).toBe(5);
    expect(nextIndex(5, 9)).toBe(9);
    expect(nextIndex(9, 3)).toBe(0);
    expect(nextIndex(9, 0)).toBe(0);
    expect(nextIndex(9, Number.NaN)).toBe(0);
  });
  it('backs off 1 s, 2 s, 4 s ... up to 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 10].map(backoffMs)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });
});

describe('runBlocking', () => {
  it('asks again with the last index; an answer at an unchanged index is not handed on', async () => {
    const ctl = new AbortController();
    const indexes = [3, 7, 7, 9];
    const asked: number[] = [];
    const got: number[] = [];
    let n = 0;
    vi.useFakeTimers();
    const done = runBlocking<string>(
      async (index) => {
        asked.push(index);
        const i = indexes[n++];
        if (i === undefined) {
          ctl.abort();
          return { data: null, index: 0 };
        }
        return { data: `v${i}`, index: i };
      },
      (r: ApiResult<string>) => got.push(r.index),
      () => undefined,
      ctl.signal,
    );
    await vi.runAllTimersAsync();
    await done;
    expect(asked).toEqual([0, 3, 7, 7, 9]);
    expect(got).toEqual([3, 7, 9]);
  });

  it('backs off after an error and starts over at index 0', async () => {
    const ctl = new AbortController();
    const asked: [number, number][] = [];
    const errors: unknown[] = [];
    let n = 0;
    vi.useFakeTimers({ now: 0 });
    const done = runBlocking<string>(
      async (index) => {
        asked.push([index, Date.now()]);
        n++;
        if (n === 1) return { data: 'a', index: 4 };
        if (n === 2) throw new Error('down');
        if (n === 3) throw new Error('still down');
        ctl.abort();
        return { data: 'b', index: 5 };
      },
      () => undefined,
      (e) => errors.push(e),
      ctl.signal,
    );
    await vi.runAllTimersAsync();
    await done;
    expect(errors).toHaveLength(2);
    // After one failure: 1 s; after the second in a row: 2 s; always from index 0.
    expect(asked).toEqual([
      [0, 0],
      [4, 0],
      [0, 1000],
      [0, 3000],
    ]);
  });

  it('one answer only from a read without X-Consul-Index (nothing to block on)', async () => {
    const ctl = new AbortController();
    let calls = 0;
    await runBlocking<string>(
      async () => {
        calls++;
        return { data: 'x', index: 0 };
      },
      () => undefined,
      () => undefined,
      ctl.signal,
    );
    expect(calls).toBe(1);
  });
});
