// What coordinates a gossip pool holds, for /v1/coordinate/datacenters and for ranking datacenters
// by RTT: any pool works (GossipAgent has these methods), the WAN pool of servers in particular.

import type { Member } from '../gossip/types.js';
import { rankDatacenters, type Coordinate } from './vivaldi.js';

/** A gossip pool's members and their coordinates (GossipAgent satisfies it). */
export interface CoordinatePool {
  members(): Member[];
  /** This node's coordinate in the pool. */
  coordinate(): Coordinate;
  /** A member's coordinate as last seen (this node's own for its name); null when unknown. */
  coordinateOf(name: string): Coordinate | null;
}

/** Consul's structs.DatacenterMap: one datacenter's servers and their coordinates in one area. */
export interface DatacenterMap {
  Datacenter: string;
  /** "wan" for the WAN pool (Consul's types.AreaWAN); "lan" when answered from the LAN pool. */
  AreaID: string;
  Coordinates: { Node: string; Coord: Coordinate }[];
}

/** A Consul server of some datacenter (serf tags role=consul and dc), not gone for good. */
function serverDc(m: Member): string | null {
  if (m.tags['role'] !== 'consul' || m.status === 'left') return null;
  const dc = m.tags['dc'];
  return dc ? dc : null;
}

/**
 * Every datacenter with a known server, by name, each with the coordinates of its servers that have
 * one (a datacenter whose servers have none yet is listed with an empty list, as in Consul). Node
 * names lose their ".<dc>" suffix, as Consul's Coordinate.ListDatacenters strips it.
 */
export function datacenterMaps(pool: CoordinatePool, area: 'wan' | 'lan', onlyDc?: string): DatacenterMap[] {
  const byDc = new Map<string, DatacenterMap>();
  for (const m of pool.members()) {
    const dc = serverDc(m);
    if (dc === null || (onlyDc !== undefined && dc !== onlyDc)) continue;
    let map = byDc.get(dc);
    if (!map) byDc.set(dc, (map = { Datacenter: dc, AreaID: area, Coordinates: [] }));
    const coord = pool.coordinateOf(m.name);
    if (!coord) continue;
    const suffix = `.${dc}`;
    const node = m.name.endsWith(suffix) ? m.name.slice(0, -suffix.length) : m.name;
    map.Coordinates.push({ Node: node, Coord: coord });
  }
  const out = [...byDc.values()].sort((a, b) => (a.Datacenter < b.Datacenter ? -1 : 1));
  for (const m of out) m.Coordinates.sort((a, b) => (a.Node < b.Node ? -1 : a.Node > b.Node ? 1 : 0));
  return out;
}

/**
 * The `rank` function the WAN directory takes (contract 2 of issue 6): `dcs` nearest first, by the
 * median estimated RTT from this server to each datacenter's servers in `pool`; the local one
 * first; datacenters without coordinates after the others, by name.
 */
export function datacenterRanker(pool: CoordinatePool, local: string): (dcs: string[]) => string[] {
  return (dcs) => {
    const wanted = new Set(dcs);
    const servers: { dc: string; coord: Coordinate | null }[] = [];
    for (const m of pool.members()) {
      const dc = serverDc(m);
      if (dc !== null && wanted.has(dc)) servers.push({ dc, coord: pool.coordinateOf(m.name) });
    }
    // A datacenter the caller knows with no server in the pool still gets a place (at the end).
    for (const dc of wanted) if (!servers.some((s) => s.dc === dc)) servers.push({ dc, coord: null });
    return rankDatacenters(pool.coordinate(), servers, local);
  };
}
