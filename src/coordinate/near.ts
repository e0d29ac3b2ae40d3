// ?near=<node>: results sorted by estimated RTT from that node's LAN coordinate (Consul's
// sortNodesByDistanceFrom), done on the server inside the read endpoint. Entries whose node has no
// coordinate go last; with no coordinate for the source node, the order is left as it is.

import type { StateStore } from '../state/store.js';
import { sortByDistance, type Coordinate } from './vivaldi.js';

/** What a read endpoint that supports ?near takes: the node name ("_agent" resolved by the agent). */
export interface NearArgs {
  near?: string;
}

export function sortNear<T>(
  store: StateStore,
  near: string | undefined,
  items: T[],
  nodeOf: (item: T) => string,
): T[] {
  if (!near || items.length < 2) return items;
  const source = store.coordinateOf(near);
  if (!source) return items;
  const cache = new Map<string, Coordinate | null>();
  return sortByDistance(items, source, (item) => {
    const node = nodeOf(item).toLowerCase();
    let c = cache.get(node);
    if (c === undefined) cache.set(node, (c = store.coordinateOf(node)));
    return c;
  });
}

/** A read endpoint's result with its value sorted by ?near. */
export function withNear<T>(
  store: StateStore,
  near: string | undefined,
  r: { index: number; value: T[] },
  nodeOf: (item: T) => string,
): { index: number; value: T[] } {
  return { index: r.index, value: sortNear(store, near, r.value, nodeOf) };
}
