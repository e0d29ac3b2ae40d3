// The coordinates table: the leader's batch command through the FSM, nodes the catalog does not
// know skipped, coordinates gone with their node, blocking-query topics and indexes, snapshots.
import { describe, expect, it } from 'vitest';
import { validateRegister } from '../../src/state/catalog-validate.js';
import { checkCommand, encodeCommand, type FsmCommand } from '../../src/state/commands.js';
import type { CoordinateEntry } from '../../src/state/coordinates.js';
import { Fsm } from '../../src/state/fsm.js';
import { WatchSet } from '../../src/state/watch.js';
import { newCoordinate, type Coordinate } from '../../src/coordinate/vivaldi.js';

const c = (x: number): Coordinate => ({ ...newCoordinate(), Vec: [x, 0, 0, 0, 0, 0, 0, 0] });
const entry = (node: string, x: number): CoordinateEntry => ({ Node: node, Segment: '', Coord: c(x) });
const reg = (node: string): FsmCommand => ({
  type: 'register',
  req: validateRegister({ Node: node, Address: '10.0.0.1' }),
});
const batch = (...updates: CoordinateEntry[]): FsmCommand => ({ type: 'coordinateBatchUpdate', updates });

class Harness {
  readonly fsm = new Fsm('dc1');
  private index = 0;
  apply(cmd: FsmCommand): unknown {
    return this.fsm.apply(++this.index, encodeCommand(cmd));
  }
  get store(): Fsm['store'] {
    return this.fsm.store;
  }
}

describe('coordinates table', () => {
  it('stores a batch for known nodes only, sorted by node, with the table index', () => {
    const h = new Harness();
    h.apply(reg('b'));
    h.apply(reg('A'));
    expect(h.store.coordinateList().value).toEqual([]);
    expect(h.store.coordinateList().index).toBe(1);
    expect(h.apply(batch(entry('b', 0.1), entry('ghost', 0.2), entry('a', 0.3)))).toBe(true);
    const list = h.store.coordinateList();
    expect(list.value.map((e) => e.Node)).toEqual(['a', 'b']);
    expect(list.index).toBe(3);
    expect(h.store.nodeCoordinates('A').value).toEqual([entry('a', 0.3)]);
    expect(h.store.coordinateOf('B')?.Vec[0]).toBe(0.1);
    expect(h.store.coordinateOf('ghost')).toBeNull();
    // A newer update replaces the node's coordinate.
    h.apply(batch(entry('b', 0.5)));
    expect(h.store.coordinateOf('b')?.Vec[0]).toBe(0.5);
    expect(h.store.nodeCoordinates('b').index).toBe(4);
    expect(h.store.nodeCoordinates('a').index).toBe(3);
  });

  it('deletes a node\u2019s coordinates with the node, and wakes its watchers', () => {
    const h = new Harness();
    h.apply(reg('a'));
    h.apply(reg('b'));
    h.apply(batch(entry('a', 0.1), entry('b', 0.2)));
    const wsList = new WatchSet();
    const wsA = new WatchSet();
    const wsB = new WatchSet();
    h.store.coordinateList(wsList);
    h.store.nodeCoordinates('a', wsA);
    h.store.nodeCoordinates('b', wsB);
    const woke: string[] = [];
    void h.store.waitForChange(wsList).then(() => woke.push('list'));
    void h.store.waitForChange(wsA).then(() => woke.push('a'));
    void h.store.waitForChange(wsB).then(() => woke.push('b'));
    h.apply({ type: 'deregister', req: { Node: 'a' } });
    return Promise.resolve().then(() => {
      expect(woke.sort()).toEqual(['a', 'list']);
      expect(h.store.coordinateList().value.map((e) => e.Node)).toEqual(['b']);
      expect(h.store.nodeCoordinates('a')).toEqual({ index: 4, value: [] });
      // A service deregistration leaves the node and its coordinate alone.
      h.apply({
        type: 'register',
        req: validateRegister({ Node: 'b', Address: '10.0.0.1', Service: { Service: 'web' } }),
      });
      h.apply({ type: 'deregister', req: { Node: 'b', ServiceID: 'web' } });
      expect(h.store.coordinateOf('b')).not.toBeNull();
    });
  });

  it('writes to one node do not wake a watcher of another node', async () => {
    const h = new Harness();
    h.apply(reg('a'));
    h.apply(reg('b'));
    const ws = new WatchSet();
    h.store.nodeCoordinates('a', ws);
    let woke = false;
    void h.store.waitForChange(ws).then(() => (woke = true));
    h.apply(batch(entry('b', 0.2)));
    await Promise.resolve();
    expect(woke).toBe(false);
    h.apply(batch(entry('a', 0.2)));
    await Promise.resolve();
    expect(woke).toBe(true);
  });

  it('survives a snapshot and restore, and loads snapshots without coordinates', () => {
    const h = new Harness();
    h.apply(reg('a'));
    h.apply(batch(entry('a', 0.25)));
    const snap = h.fsm.snapshot();
    const other = new Fsm('dc1');
    other.restore(snap);
    expect(other.store.coordinateList()).toEqual(h.store.coordinateList());
    expect(other.store.nodeCoordinates('a')).toEqual(h.store.nodeCoordinates('a'));
    const old = h.store.dump();
    delete old.coordinates;
    const third = new Fsm('dc1');
    third.store.load(old);
    expect(third.store.coordinateList().value).toEqual([]);
  });

  it('refuses malformed batch commands', () => {
    const bad: [unknown, string][] = [
      [{ type: 'coordinateBatchUpdate' }, 'updates must be a list'],
      [
        { type: 'coordinateBatchUpdate', updates: [{ Node: 1, Segment: '', Coord: c(0) }] },
        'Node and Segment',
      ],
      [
        { type: 'coordinateBatchUpdate', updates: [{ Node: 'a', Segment: '', Coord: { Vec: [NaN] } }] },
        'invalid',
      ],
    ];
    for (const [cmd, why] of bad) expect(checkCommand(cmd)).toContain(why);
    expect(checkCommand(batch(entry('a', 0)))).toBeUndefined();
  });
});
