// consulate rtt [-wan] node1 [node2]: the estimated round trip time between two nodes from their
// network coordinates (Consul's command/rtt), LAN by default, WAN (<node>.<dc> names) with -wan.

import type { Coordinate } from '../../coordinate/vivaldi.js';
import { distanceMs } from '../../coordinate/vivaldi.js';
import { clientFrom, flagBool, parseArgs, UsageError, type Io } from '../common.js';

interface CoordinateEntry {
  Node: string;
  Segment: string;
  Coord: Coordinate;
}

interface DatacenterMap {
  Datacenter: string;
  AreaID: string;
  Coordinates: { Node: string; Coord: Coordinate }[];
}

const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

export async function rttCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, { wan: 'bool' });
  const nodes = [...p.args];
  if (nodes.length < 1 || nodes.length > 2) throw new UsageError('One or two node names must be specified');
  const client = clientFrom(p, io);
  const wan = flagBool(p, 'wan');
  let c1: Coordinate | null = null;
  let c2: Coordinate | null = null;

  if (wan) {
    if (nodes.length < 2) {
      const self = await client.json<{ Config: { NodeName: string; Datacenter: string } }>(
        'GET',
        '/v1/agent/self',
      );
      nodes.push(`${self.Config.NodeName}.${self.Config.Datacenter}`);
    }
    const parts = nodes.map((n) => n.split('.'));
    if (parts.some((x) => x.length !== 2)) {
      io.err('Node names must be specified as <node name>.<datacenter> with -wan\n');
      return 1;
    }
    const [[node1, dc1], [node2, dc2]] = parts as [[string, string], [string, string]];
    const dcs = await client.json<DatacenterMap[]>('GET', '/v1/coordinate/datacenters');
    // Coordinates compare only within one area (Consul's rule): look for both in the same one.
    const areas = new Map<string, { a: Coordinate | null; b: Coordinate | null }>();
    for (const dc of dcs) {
      const area = areas.get(dc.AreaID) ?? { a: null, b: null };
      areas.set(dc.AreaID, area);
      for (const e of dc.Coordinates) {
        if (dc.Datacenter === dc1 && same(e.Node, node1)) area.a = e.Coord;
        if (dc.Datacenter === dc2 && same(e.Node, node2)) area.b = e.Coord;
      }
    }
    // Else the area that has the first node, so the error names the node that has no coordinate.
    const both = [...areas.values()].find((x) => x.a && x.b) ?? [...areas.values()].find((x) => x.a);
    c1 = both?.a ?? null;
    c2 = both?.b ?? null;
  } else {
    if (nodes.length < 2) {
      const self = await client.json<{ Config: { NodeName: string } }>('GET', '/v1/agent/self');
      nodes.push(self.Config.NodeName);
    }
    const entries = await client.json<CoordinateEntry[]>('GET', '/v1/coordinate/nodes');
    // Compare within a segment both nodes share (always the default one here).
    for (const e of entries) {
      if (!same(e.Node, nodes[0] as string) || c1) continue;
      const other = entries.find((x) => same(x.Node, nodes[1] as string) && x.Segment === e.Segment);
      c1 = e.Coord;
      c2 = other?.Coord ?? null;
    }
    if (!c1) c2 = entries.find((x) => same(x.Node, nodes[1] as string))?.Coord ?? null;
  }

  if (!c1) {
    io.err(`Could not find a coordinate for node "${nodes[0]}"\n`);
    return 1;
  }
  if (!c2) {
    io.err(`Could not find a coordinate for node "${nodes[1]}"\n`);
    return 1;
  }
  const ms = distanceMs(c1, c2).toFixed(3);
  io.out(`Estimated ${nodes[0]} <-> ${nodes[1]} rtt: ${ms} ms (using ${wan ? 'WAN' : 'LAN'} coordinates)\n`);
  return 0;
}
