// The coordinates table (Consul's state/coordinate.go): each node's LAN network coordinate, one per
// network segment (always "" here: segments are an Enterprise feature). Written in batches by the
// leader (coordinateBatchUpdate), deleted with the node.
//
// Index rules (never 0, never backwards): the list answers with the coordinates table index; one
// node answers with a per-node index bumped by every write or delete of its coordinates (kept
// after the delete, like the catalog's node index), so a blocking query on one node wakes only for
// that node (Consul uses the table index there, which wakes every watcher on every batch).

import { cmp, type StoreContext } from './context.js';
import { topic, type WatchSet } from './watch.js';
import type { Indexed } from './types.js';
import type { Coordinate } from '../coordinate/vivaldi.js';

/** Consul's structs.Coordinate: what /v1/coordinate/* lists and a batch update carries. */
export interface CoordinateEntry {
  Node: string;
  Segment: string;
  Coord: Coordinate;
}

export interface CoordinatesDump {
  entries: CoordinateEntry[];
  nodeIndex: [string, number][];
}

const nodeKey = (n: string): string => n.toLowerCase();

export class CoordinateTable {
  /** node key → segment → entry */
  private byNode = new Map<string, Map<string, CoordinateEntry>>();
  private nodeIndex = new Map<string, number>();

  constructor(private readonly ctx: StoreContext) {}

  // ---------------------------------------------------------------- writes

  /** Inserts or replaces each entry (the caller has dropped those of unknown nodes). */
  upsert(index: number, entries: CoordinateEntry[]): void {
    for (const e of entries) {
      const nk = nodeKey(e.Node);
      let bySegment = this.byNode.get(nk);
      if (!bySegment) this.byNode.set(nk, (bySegment = new Map()));
      bySegment.set(e.Segment, {
        Node: e.Node,
        Segment: e.Segment,
        Coord: {
          Vec: [...e.Coord.Vec],
          Error: e.Coord.Error,
          Adjustment: e.Coord.Adjustment,
          Height: e.Coord.Height,
        },
      });
      this.touch(index, nk);
    }
  }

  /** Every coordinate of `node` goes (its node was deregistered). */
  deleteNode(index: number, node: string): void {
    const nk = nodeKey(node);
    if (!this.byNode.delete(nk)) return;
    this.touch(index, nk);
  }

  private touch(index: number, nk: string): void {
    this.nodeIndex.set(nk, index);
    this.ctx.tables.coordinates = index;
    this.ctx.touched.add(topic.coordinates);
    this.ctx.touched.add(topic.coordinate(nk));
  }

  // ---------------------------------------------------------------- reads

  has(node: string): boolean {
    return this.byNode.has(nodeKey(node));
  }

  /** Every coordinate, by node then segment. */
  list(ws?: WatchSet): Indexed<CoordinateEntry[]> {
    ws?.add(topic.coordinates);
    const out: CoordinateEntry[] = [];
    for (const nk of [...this.byNode.keys()].sort(cmp)) out.push(...this.sorted(nk));
    return { index: this.ctx.tables.coordinates || 1, value: out };
  }

  /** One node's coordinates (one per segment); empty when it has none. */
  node(node: string, ws?: WatchSet): Indexed<CoordinateEntry[]> {
    const nk = nodeKey(node);
    ws?.add(topic.coordinate(nk));
    return { index: this.nodeIndex.get(nk) ?? (this.ctx.tables.coordinates || 1), value: this.sorted(nk) };
  }

  /** A node's coordinate in the default segment, without watching (what ?near sorts by). */
  get(node: string): CoordinateEntry | undefined {
    return this.byNode.get(nodeKey(node))?.get('');
  }

  private sorted(nk: string): CoordinateEntry[] {
    const bySegment = this.byNode.get(nk);
    if (!bySegment) return [];
    return [...bySegment.keys()].sort(cmp).map((s) => bySegment.get(s) as CoordinateEntry);
  }

  // ---------------------------------------------------------------- snapshot

  dump(): CoordinatesDump {
    const entries: CoordinateEntry[] = [];
    for (const nk of [...this.byNode.keys()].sort(cmp)) entries.push(...this.sorted(nk));
    return { entries, nodeIndex: [...this.nodeIndex].sort((a, b) => cmp(a[0], b[0])) };
  }

  load(d: CoordinatesDump | undefined): void {
    this.byNode = new Map();
    this.nodeIndex = new Map(d?.nodeIndex ?? []);
    for (const e of d?.entries ?? []) {
      const nk = nodeKey(e.Node);
      let bySegment = this.byNode.get(nk);
      if (!bySegment) this.byNode.set(nk, (bySegment = new Map()));
      bySegment.set(e.Segment, e);
    }
  }
}
