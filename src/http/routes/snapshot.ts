// /v1/snapshot: Consul's snapshot API. GET answers the servers' state as a gzipped tar archive
// (from the leader, or the server this agent talks to with ?stale); PUT restores one, which the
// leader verifies in full before anything changes (a damaged archive is a 400, the state untouched).

import type { Context } from 'hono';
import type { QueryResult } from '../../rpc/endpoints/types.js';
import { SNAPSHOT_MAX_BYTES } from '../../snapshot/archive.js';
import type { HttpDeps } from '../app.js';
import { callEndpoint } from '../endpoint.js';
import { metaHeaders, parseQueryOptions } from '../query.js';
import { bodyOf, signalOf, urlOf } from '../request.js';

export async function snapshotSave(c: Context, d: HttpDeps): Promise<Response> {
  const q = parseQueryOptions(urlOf(c));
  const r = (await callEndpoint(c, d, 'Snapshot.Save', { q }, signalOf(c, false))) as QueryResult<Uint8Array>;
  return new Response(r.value, {
    status: 200,
    headers: { 'Content-Type': 'application/x-gzip', ...metaHeaders(r.meta) },
  });
}

export async function snapshotRestore(c: Context, d: HttpDeps): Promise<Response> {
  const archive = await bodyOf(c, SNAPSHOT_MAX_BYTES, 'Snapshot');
  await callEndpoint(c, d, 'Snapshot.Restore', { archive }, signalOf(c, false));
  return new Response(null, { status: 200 });
}
