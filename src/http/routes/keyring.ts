// /v1/operator/keyring: the gossip keys of every member of the LAN pool, and on a server of the WAN
// pool too (each member answers for its own keyring over a gossip query). GET lists, POST installs,
// PUT makes primary, DELETE removes.

import type { Context } from 'hono';
import { badRequest } from '../../core/errors.js';
import { installKey, listKeys, removeKey, useKey, type KeyringResponse } from '../../gossip/keyring-ops.js';
import type { HttpDeps } from '../app.js';
import { bodyOf, urlOf } from '../request.js';
import { readJson } from '../body.js';
import { json } from '../respond.js';

/** Consul accepts relay-factor 0..5 (how many members relay each answer); we answer directly. */
function checkRelayFactor(c: Context): void {
  const rf = urlOf(c).searchParams.get('relay-factor');
  if (rf !== null && rf !== '' && !/^[0-5]$/.test(rf))
    throw badRequest('Relay factor must be in range: [0, 5]');
}

async function keyOf(c: Context): Promise<string> {
  const body = (await readJson(await bodyOf(c, 4096))) as { Key?: unknown } | null;
  if (!body || typeof body !== 'object' || typeof body.Key !== 'string' || body.Key === '') {
    throw badRequest('Request body must be a JSON object with a Key');
  }
  return body.Key;
}

/**
 * A server runs the operation on the WAN pool too (its own keyring, serf/remote.keyring, on every
 * server of every datacenter), first, as Consul does; the WAN pool's answer says WAN: true.
 */
async function inPools(
  d: HttpDeps,
  run: (agent: HttpDeps['agent']['lan']) => Promise<KeyringResponse[]>,
): Promise<KeyringResponse[]> {
  const wan = d.agent.wanPool ? (await run(d.agent.wanPool.gossip)).map((r) => ({ ...r, WAN: true })) : [];
  return [...wan, ...(await run(d.agent.lan))];
}

export async function keyringList(c: Context, d: HttpDeps): Promise<Response> {
  checkRelayFactor(c);
  return json(c, await inPools(d, (pool) => listKeys(pool, d.agent.config.datacenter)));
}

const change =
  (op: typeof installKey) =>
  async (c: Context, d: HttpDeps): Promise<Response> => {
    checkRelayFactor(c);
    const key = await keyOf(c);
    await inPools(d, (pool) => op(pool, d.agent.config.datacenter, key));
    return new Response(null, { status: 200 });
  };

export const keyringInstall = change(installKey);
export const keyringUse = change(useKey);
export const keyringRemove = change(removeKey);
