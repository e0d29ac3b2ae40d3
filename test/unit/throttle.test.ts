import { describe, expect, it } from 'vitest';
import { Throttle } from '../../src/core/throttle.js';

describe('Throttle', () => {
  it('lets a key through once per interval, each key on its own', () => {
    const t = new Throttle(1000);
    expect(t.due('a', 0)).toBe(true);
    expect(t.due('a', 999)).toBe(false);
    expect(t.due('b', 999)).toBe(true);
    expect(t.due('a', 1000)).toBe(true);
  });

  it('forgets keys by prefix, and everything past maxKeys', () => {
    const t = new Throttle(1000, 2);
    expect(t.due('10.0.0.1 x', 0)).toBe(true);
    t.forget('10.0.0.1 ');
    expect(t.due('10.0.0.1 x', 1)).toBe(true);
    expect(t.due('10.0.0.2 x', 2)).toBe(true);
    // A third key clears the two remembered ones: the first is news again.
    expect(t.due('10.0.0.3 x', 3)).toBe(true);
    expect(t.due('10.0.0.1 x', 4)).toBe(true);
  });

  it('lets perInterval through per key per interval', () => {
    const t = new Throttle(1000, 10, 3);
    expect([0, 1, 2, 3].map((ms) => t.due('a', ms))).toEqual([true, true, true, false]);
    expect(t.due('b', 5)).toBe(true);
    expect(t.due('a', 999)).toBe(false);
    expect([1000, 1001, 1002, 1003].map((ms) => t.due('a', ms))).toEqual([true, true, true, false]);
  });
});
