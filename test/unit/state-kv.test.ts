import { describe, expect, it } from 'vitest';
import { StateStore } from '../../src/state/store.js';
import { Watchers, WatchSet } from '../../src/state/watch.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const text = (b: Uint8Array | null | undefined): string | null => (b ? dec.decode(b) : null);

/** A store with `keys` set at indexes 1, 2, 3, ... */
function storeWith(...keys: string[]): StateStore {
  const s = new StateStore('dc1');
  keys.forEach((k, i) => s.kvSet(i + 1, k, bytes(k), 0));
  return s;
}

/** Resolves to true if `ws` fires within the current macrotask turn, else false (and unsubscribes). */
async function firesNow(s: StateStore, ws: WatchSet, write: () => void): Promise<boolean> {
  const ac = new AbortController();
  let fired = false;
  const p = s.waitForChange(ws, ac.signal).then(
    () => (fired = true),
    () => undefined,
  );
  write();
  await new Promise((r) => setImmediate(r));
  ac.abort(new Error('done'));
  await p;
  return fired;
}

describe('KV writes (Consul kvs.go semantics)', () => {
  it('keeps CreateIndex across updates and bumps ModifyIndex', () => {
    const s = storeWith('a', 'b');
    s.kvSet(3, 'a', bytes('again'), 5);
    const r = s.kvGet('a');
    expect(r.value).toMatchObject({ Key: 'a', Flags: 5, CreateIndex: 1, ModifyIndex: 3, LockIndex: 0 });
    expect(text(r.value?.Value)).toBe('again');
    expect(r.value?.Session).toBeUndefined();
    expect(r.index).toBe(3);
  });

  it('writes nothing, and wakes nobody, when a set changes nothing', async () => {
    const s = storeWith('a');
    const ws = new WatchSet();
    s.kvGet('a', ws);
    expect(await firesNow(s, ws, () => s.kvSet(2, 'a', bytes('a'), 0))).toBe(false);
    expect(s.kvGet('a').value?.ModifyIndex).toBe(1);
    expect(s.tableIndex('kvs')).toBe(1);
    expect(s.lastIndex).toBe(2); // the Raft index was still applied
    expect(await firesNow(s, ws, () => s.kvSet(3, 'a', bytes('a'), 1))).toBe(true); // flags differ
  });

  it('stores an empty value as null and keeps its own copy of the bytes', () => {
    const s = new StateStore('dc1');
    s.kvSet(1, 'empty', new Uint8Array(0), 0);
    expect(s.kvGet('empty').value?.Value).toBeNull();
    const frame = bytes('xxhelloyy');
    s.kvSet(2, 'view', frame.subarray(2, 7), 0);
    const v = s.kvGet('view').value?.Value as Uint8Array;
    expect(text(v)).toBe('hello');
    expect(v.buffer).not.toBe(frame.buffer); // a copy, not a view into the frame
    frame.fill(0);
    expect(text(s.kvGet('view').value?.Value as Uint8Array)).toBe('hello');
    // A large frame is never kept alive by a small value copied out of it.
    const big = new Uint8Array(1 << 20).fill(1);
    s.kvSet(3, 'big', big.subarray(0, 10), 0);
    expect((s.kvGet('big').value?.Value as Uint8Array).buffer.byteLength).toBeLessThan(1 << 20);
  });

  it('CAS with index 0 creates only when the key is absent', () => {
    const s = new StateStore('dc1');
    expect(s.kvCas(1, 'k', bytes('1'), 0, 0)).toBe(true);
    expect(s.kvCas(2, 'k', bytes('2'), 0, 0)).toBe(false);
    expect(text(s.kvGet('k').value?.Value)).toBe('1');
  });

  it('CAS with an index sets only on a ModifyIndex match, and never on a missing key', () => {
    const s = storeWith('k');
    expect(s.kvCas(2, 'k', bytes('x'), 0, 7)).toBe(false);
    expect(s.kvCas(3, 'missing', bytes('x'), 0, 1)).toBe(false);
    expect(s.kvGet('missing').value).toBeNull();
    expect(s.kvCas(4, 'k', bytes('y'), 0, 1)).toBe(true);
    expect(s.kvGet('k').value).toMatchObject({ CreateIndex: 1, ModifyIndex: 4 });
  });

  it('delete answers true whether or not the key existed, and leaves a tombstone', () => {
    const s = storeWith('a', 'b');
    expect(s.kvDelete(3, 'b')).toBe(true);
    expect(s.kvDelete(4, 'never')).toBe(true);
    expect(s.kvGet('b')).toEqual({ index: 3, value: null });
    expect(s.tombstoneCount()).toBe(1); // none for a key that did not exist
    expect(s.tableIndex('tombstones')).toBe(3);
  });

  it('delete-cas: a missing key counts as deleted, a stale index fails, a match deletes', () => {
    const s = storeWith('k');
    expect(s.kvDeleteCas(2, 'k', 99)).toBe(false);
    expect(s.kvGet('k').value).not.toBeNull();
    expect(s.kvDeleteCas(3, 'gone', 5)).toBe(true);
    expect(s.kvDeleteCas(4, 'k', 1)).toBe(true);
    expect(s.kvGet('k')).toEqual({ index: 4, value: null });
  });

  it('delete-tree removes exactly the keys under the prefix', () => {
    const s = storeWith('a/1', 'a/2', 'a/b/3', 'ab', 'b');
    expect(s.kvDeleteTree(6, 'a/')).toBe(3);
    expect(s.kvList('').value.map((e) => e.Key)).toEqual(['ab', 'b']);
    expect(s.kvGet('a/b/3').index).toBe(6);
    expect(s.kvList('a/')).toEqual({ index: 6, value: [] });
    expect(s.kvDeleteTree(7, '')).toBe(2);
    expect(s.kvCount()).toBe(0);
  });
});

describe('KV reads', () => {
  it('lists a prefix in key order (a range scan, not a substring match)', () => {
    const s = storeWith('b/2', 'a', 'b/1', 'b', 'bb', 'c/b/1');
    expect(s.kvList('b').value.map((e) => e.Key)).toEqual(['b', 'b/1', 'b/2', 'bb']);
    expect(s.kvList('b/').value.map((e) => e.Key)).toEqual(['b/1', 'b/2']);
    expect(s.kvList('').value.map((e) => e.Key)).toEqual(['a', 'b', 'b/1', 'b/2', 'bb', 'c/b/1']);
    expect(s.kvList('zzz').value).toEqual([]);
  });

  it('scans prefixes that end in U+FFFF', () => {
    const s = storeWith('a\uffff', 'a\uffffz', 'a\uffff\uffff', 'b');
    expect(s.kvList('a\uffff').value.map((e) => e.Key)).toEqual(['a\uffff', 'a\uffffz', 'a\uffff\uffff']);
    expect(s.kvList('\uffff').value).toEqual([]);
  });

  it('?keys with a separator cuts after the first separator past the prefix, without repeats', () => {
    const s = storeWith('a/b', 'a/b/', 'a/b/c', 'a/b/d/e', 'a/c', 'a/d/x', 'b/z', 'a');
    expect(s.kvKeys('a/', '/', undefined).value).toEqual(['a/b', 'a/b/', 'a/c', 'a/d/']);
    expect(s.kvKeys('a/b/', '/').value).toEqual(['a/b/', 'a/b/c', 'a/b/d/']);
    expect(s.kvKeys('', '/').value).toEqual(['a', 'a/', 'b/']);
    expect(s.kvKeys('a/', '').value).toEqual(['a/b', 'a/b/', 'a/b/c', 'a/b/d/e', 'a/c', 'a/d/x']);
    expect(s.kvKeys('a/b', '/d').value).toEqual(['a/b', 'a/b/', 'a/b/c', 'a/b/d']);
    expect(s.kvKeys('a/', '/').index).toBe(s.kvList('a/').index);
  });

  it('index of a missing key: its tombstone, else the KV tables, else 1', () => {
    const empty = new StateStore('dc1');
    expect(empty.kvGet('x').index).toBe(1);
    expect(empty.kvList('x').index).toBe(1);
    expect(empty.kvKeys('', '/').index).toBe(1);
    const s = storeWith('a', 'b', 'c');
    s.kvDelete(4, 'b');
    s.kvSet(5, 'd', bytes('d'), 0);
    expect(s.kvGet('b').index).toBe(4);
    expect(s.kvGet('never').index).toBe(5);
  });

  it('a prefix index is the max ModifyIndex or tombstone under it, and never goes back', () => {
    const s = storeWith('p/a', 'p/b', 'q/x');
    expect(s.kvList('p/').index).toBe(2);
    s.kvSet(4, 'q/y', bytes('y'), 0);
    expect(s.kvList('p/').index).toBe(2); // writes elsewhere do not move it
    s.kvDelete(5, 'p/b'); // the key that carried the max
    expect(s.kvList('p/').index).toBe(5);
    expect(s.kvKeys('p/', '/').index).toBe(5);
    s.kvSet(6, 'p/b', bytes('back'), 0);
    expect(s.kvList('p/').index).toBe(6);
    s.kvDelete(7, 'p/b');
    s.kvDelete(8, 'p/a');
    expect(s.kvList('p/').index).toBe(8);
    expect(s.kvList('nothing/').index).toBe(8); // nothing under it: the table index
  });

  it('reaping tombstones never moves a prefix index back (the reaped floor)', () => {
    const s = storeWith('p/a', 'p/b', 'q/x');
    s.kvDelete(4, 'p/b');
    expect(s.kvList('p/').index).toBe(4);
    s.reapTombstones(3, 5); // nothing that old
    expect(s.tombstoneCount()).toBe(1);
    s.reapTombstones(4, 6);
    expect(s.tombstoneCount()).toBe(0);
    expect(s.kvList('p/').index).toBeGreaterThanOrEqual(4);
    expect(s.kvGet('p/b').index).toBeGreaterThanOrEqual(4);
    s.kvDelete(7, 'p/a');
    s.reapTombstones(7, 8);
    expect(s.kvList('p/').index).toBe(7);
    expect(s.kvList('p/').value).toEqual([]);
    expect(s.lastIndex).toBe(8);
  });
});

describe('KV watches', () => {
  it('a write notifies its key and every watched prefix of it, and nothing else', async () => {
    const s = storeWith('w/a/1', 'w/b');
    const key = new WatchSet();
    s.kvGet('w/a/1', key);
    const prefixes = ['', 'w', 'w/', 'w/a/', 'w/a/1', 'w/b'].map((p) => {
      const ws = new WatchSet();
      s.kvList(p, ws);
      return [p, ws] as const;
    });
    const fired: string[] = [];
    const unsubs = [
      s.watchers.subscribe(key, () => fired.push('key')),
      ...prefixes.map(([p, ws]) => s.watchers.subscribe(ws, () => fired.push(`p:${p}`))),
    ];
    s.kvSet(3, 'other', bytes('x'), 0);
    expect(fired).toEqual(['p:']);
    fired.length = 0;
    s.kvSet(4, 'w/a/1', bytes('changed'), 0);
    expect(fired.sort()).toEqual(['key', 'p:w', 'p:w/', 'p:w/a/', 'p:w/a/1'].sort());
    unsubs.forEach((u) => u());
    expect(s.watchers.size).toBe(0);
    expect(s.watchers.topicCount).toBe(0);
  });

  it('deletes and delete-trees notify like writes', async () => {
    const s = storeWith('t/a', 't/b', 'u');
    const ws = new WatchSet();
    s.kvKeys('t/', '/', ws);
    expect(await firesNow(s, ws, () => s.kvDelete(4, 'u'))).toBe(false);
    expect(await firesNow(s, ws, () => s.kvDeleteTree(5, 't/'))).toBe(true);
    const gone = new WatchSet();
    s.kvGet('t/a', gone);
    expect(await firesNow(s, gone, () => s.kvDelete(6, 't/a'))).toBe(false); // already gone
    expect(await firesNow(s, gone, () => s.kvSet(7, 't/a', bytes('new'), 0))).toBe(true);
    expect(s.watchers.size).toBe(0);
  });

  it('walks a key’s prefixes only when someone watches a prefix, and only at watched lengths', () => {
    const w = new Watchers();
    const out = new Set<string>();
    w.kvTopics('a/b/c', out);
    expect([...out]).toEqual(['k:a/b/c']);
    const ws = new WatchSet();
    ws.add('p:a/');
    ws.add('p:zz/');
    const off = w.subscribe(ws, () => undefined);
    out.clear();
    w.kvTopics('a/b/c', out);
    expect([...out].sort()).toEqual(['k:a/b/c', 'p:a/']);
    off();
    out.clear();
    w.kvTopics('a/b/c', out);
    expect([...out]).toEqual(['k:a/b/c']);
  });

  it('waitForChange settles on abort with the signal’s reason and leaves no listener', async () => {
    const s = storeWith('k');
    const ws = new WatchSet();
    s.kvGet('k', ws);
    s.kvList('', ws);
    const ac = new AbortController();
    const reason = new Error('client went away');
    const p = s.waitForChange(ws, ac.signal);
    expect(s.watchers.size).toBe(1);
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(s.watchers.size).toBe(0);
    expect(s.watchers.topicCount).toBe(0);
    await expect(s.waitForChange(ws, ac.signal)).rejects.toBe(reason); // already aborted
    expect(s.watchers.size).toBe(0);
    const q = s.waitForChange(ws);
    s.kvSet(2, 'k', bytes('new'), 0);
    await expect(q).resolves.toBeUndefined();
    expect(s.watchers.size).toBe(0);
    expect(s.watchers.topicCount).toBe(0);
  });
});
