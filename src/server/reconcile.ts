// What the leader writes to make the catalog agree with gossip (Consul's leader.go reconcile): every
// member's node registered with its serfHealth check (passing while alive, critical once failed),
// servers with the `consul` service, and nodes that left or were reaped deregistered. Pure: it reads
// the store and returns the commands to apply, or none when the catalog already agrees, so the
// periodic full pass costs nothing when nothing changed.

import type { Member } from '../gossip/types.js';
import type { FsmCommand } from '../state/commands.js';
import type { StateStore } from '../state/store.js';
import type { RegisterRequest } from '../state/types.js';

export const SERF_CHECK_ID = 'serfHealth';
export const SERF_CHECK_NAME = 'Serf Health Status';
export const ALIVE_OUTPUT = 'Agent alive and reachable';
export const FAILED_OUTPUT = 'Agent not live or unreachable';

/** A member as reconcile sees it; `reaped` is a member gossip has forgotten. */
export interface ReconcileMember {
  name: string;
  addr: string;
  status: Member['status'] | 'reaped';
  tags: Record<string, string>;
}

export function isServerOf(m: { tags: Record<string, string> }, dc: string): boolean {
  return m.tags['role'] === 'consul' && m.tags['dc'] === dc;
}

/** The command that brings one member's catalog entry in line, or null when it already is. */
export function planMember(m: ReconcileMember, store: StateStore, dc: string): FsmCommand | null {
  // Members of another datacenter's LAN never belong in this catalog.
  if (m.tags['dc'] !== undefined && m.tags['dc'] !== dc) return null;
  const node = store.nodeInfo(m.name).value;
  switch (m.status) {
    case 'alive':
    case 'suspect':
    case 'failed': {
      const alive = m.status !== 'failed';
      const status = alive ? 'passing' : 'critical';
      const output = alive ? ALIVE_OUTPUT : FAILED_OUTPUT;
      const check = store.nodeChecks(m.name).value.find((c) => c.CheckID === SERF_CHECK_ID);
      const server = isServerOf(m, dc);
      const port = Number(m.tags['port'] ?? 0);
      const id = m.tags['id'] ?? '';
      const consulService = node?.Services['consul'];
      const agrees =
        node !== null &&
        node.Node.Address === m.addr &&
        (id === '' || node.Node.ID === id) &&
        check?.Status === status &&
        (!server || (consulService !== undefined && consulService.Port === port));
      // A failed member's address and services are left as they were; only its check changes.
      if (agrees || (!alive && node !== null && check?.Status === 'critical')) return null;
      const req: RegisterRequest = {
        Node: m.name,
        Address: m.addr,
        Datacenter: dc,
        TaggedAddresses: { lan: m.addr, lan_ipv4: m.addr, wan: m.addr, wan_ipv4: m.addr },
        Check: {
          Node: m.name,
          CheckID: SERF_CHECK_ID,
          Name: SERF_CHECK_NAME,
          Status: status,
          Output: output,
          Type: '',
        },
      };
      if (id !== '') req.ID = id;
      if (node !== null) req.NodeMeta = node.Node.Meta;
      if (server && alive) req.Service = { ID: 'consul', Service: 'consul', Port: port };
      return { type: 'register', req };
    }
    case 'left':
    case 'reaped':
      return node === null ? null : { type: 'deregister', req: { Node: m.name } };
  }
}

/**
 * Nodes gossip no longer knows (reaped after reconnect_timeout, or gone while this server was not
 * the leader): those the catalog has with a serfHealth check, i.e. that gossip put there. Nodes
 * registered through the catalog API alone have no serfHealth check and are never touched.
 */
export function reapedNodes(store: StateStore, knownNames: Iterable<string>, self: string): string[] {
  // Node names are case-insensitive in the catalog.
  const known = new Set([...knownNames].map((n) => n.toLowerCase()));
  const out: string[] = [];
  for (const c of store.checksInState('any').value) {
    if (c.CheckID !== SERF_CHECK_ID || c.ServiceID !== '') continue;
    if (c.Node.toLowerCase() === self.toLowerCase() || known.has(c.Node.toLowerCase())) continue;
    out.push(c.Node);
  }
  return out;
}

/**
 * Catalog nodes named after a live member of this datacenter but holding another node ID. After a
 * snapshot of another cluster is restored, its nodes may carry the names of this cluster's agents;
 * gossip keeps live members' names unique, so those entries are stale, and the leader deregisters
 * them before reconciling (the catalog's reserved-name rule would otherwise keep the members out).
 */
export function staleNamesakes(store: StateStore, members: ReconcileMember[], dc: string): string[] {
  const out: string[] = [];
  for (const m of members) {
    if (m.status !== 'alive' && m.status !== 'suspect') continue;
    if (m.tags['dc'] !== undefined && m.tags['dc'] !== dc) continue;
    const id = m.tags['id'] ?? '';
    const node = store.nodeInfo(m.name).value?.Node;
    if (id !== '' && node && node.ID !== '' && node.ID.toLowerCase() !== id.toLowerCase())
      out.push(node.Node);
  }
  return out;
}
