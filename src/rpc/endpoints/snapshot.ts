// Consul's Snapshot endpoint: save the state as an archive (from the leader, or any server with
// ?stale; a query endpoint, since compressing it is awaited off the event loop), and restore one.
// A restore is verified in full on the leader before anything changes, then travels through Raft
// as one command, so every server replaces its state at the same index.

import { badRequest } from '../../core/errors.js';
import { snapshotArchive, verifySnapshot } from '../../snapshot/state.js';
import { snapshotAcl } from './acl-spec.js';
import type { EndpointContext, QueryEndpoint, ReadArgs, WriteEndpoint } from './index.js';
import type { QueryMeta } from './types.js';

async function save(c: EndpointContext): Promise<{ value: Uint8Array; meta: QueryMeta }> {
  const cfg = c.raft.configuration();
  // The state is taken (synchronously) at one index; only the compression is awaited.
  const index = Math.max(1, c.store.lastIndex);
  const value = await snapshotArchive(c.store, {
    term: c.raft.term?.() ?? 0,
    servers: cfg.servers,
    configurationIndex: cfg.index,
  });
  // knownLeader, lastContact and consistency are set by the forwarder.
  return { value, meta: { index, knownLeader: false, lastContact: 0, consistency: 'leader' } };
}

async function restore(c: EndpointContext, a: { archive: unknown }): Promise<true> {
  if (!(a.archive instanceof Uint8Array) || a.archive.byteLength === 0)
    throw badRequest('Missing snapshot archive in the request body');
  const snap = await verifySnapshot(a.archive);
  // The leader re-arms its session timers and ACL built-ins when the restore applies (server.ts).
  await c.apply({ type: 'snapshotRestore', state: snap.state });
  return true;
}

export const snapshotEndpoints = {
  'Snapshot.Save': { kind: 'query', run: save, acl: snapshotAcl } satisfies QueryEndpoint<ReadArgs>,
  'Snapshot.Restore': { kind: 'write', run: restore, acl: snapshotAcl } satisfies WriteEndpoint<{
    archive: unknown;
  }>,
};
