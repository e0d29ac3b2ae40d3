// Consul's Snapshot endpoint: save the state as an archive (from the leader, or any server with
// ?stale), and restore one. A restore is verified in full on the leader before anything changes,
// then travels through Raft as one command, so every server replaces its state at the same index.

import { badRequest } from '../../core/errors.js';
import { snapshotArchive, verifySnapshot } from '../../snapshot/state.js';
import { snapshotAcl } from './acl-spec.js';
import type { EndpointContext, ReadArgs, ReadEndpoint, WriteEndpoint } from './index.js';

function save(c: EndpointContext): { index: number; value: Uint8Array } {
  const cfg = c.raft.configuration();
  const archive = snapshotArchive(c.store, {
    term: c.raft.term?.() ?? 0,
    servers: cfg.servers,
    configurationIndex: cfg.index,
  });
  return { index: Math.max(1, c.store.lastIndex), value: archive };
}

async function restore(c: EndpointContext, a: { archive: unknown }): Promise<true> {
  if (!(a.archive instanceof Uint8Array) || a.archive.byteLength === 0)
    throw badRequest('Missing snapshot archive in the request body');
  const snap = verifySnapshot(a.archive);
  // The leader re-arms its session timers and ACL built-ins when the restore applies (server.ts).
  await c.apply({ type: 'snapshotRestore', state: snap.state });
  return true;
}

export const snapshotEndpoints = {
  'Snapshot.Save': { kind: 'read', run: save, acl: snapshotAcl } satisfies ReadEndpoint<ReadArgs>,
  'Snapshot.Restore': { kind: 'write', run: restore, acl: snapshotAcl } satisfies WriteEndpoint<{
    archive: unknown;
  }>,
};
