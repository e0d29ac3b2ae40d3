// /v1/operator/keyring: the gossip keys of every member of the WAN pool and of every datacenter's
// LAN pool (each member answers for its own keyring over a gossip query), as Consul's: GET lists,
// POST installs, PUT makes primary, DELETE removes, everywhere at once.

import type { Context } from 'hono';
import { badRequest } from '../../core/errors.js';
import type { KeyringOp, KeyringResponse } from '../../gossip/keyring-ops.js';
import { callEndpoint } from '../endpoint.js';
import type { HttpDeps } from '../app.js';
import { bodyOf, signalOf, urlOf } from '../request.js';
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
 * Runs the operation through a server (this agent's own, when it is one): the WAN pool, then the
 * LAN pool of every datacenter (rpc/endpoints/keyring.ts), each answer a KeyringResponse.
 */
function inPools(c: Context, d: HttpDeps, op: KeyringOp, key: string | null): Promise<KeyringResponse[]> {
  return callEndpoint(c, d, 'Internal.KeyringOperation', { op, key }, signalOf(c, false)) as Promise<
    KeyringResponse[]
  >;
}

export async function keyringList(c: Context, d: HttpDeps): Promise<Response> {
  checkRelayFactor(c);
  return json(c, await inPools(c, d, 'list', null));
}

const change =
  (op: Exclude<KeyringOp, 'list'>) =>
  async (c: Context, d: HttpDeps): Promise<Response> => {
    checkRelayFactor(c);
    // A malformed key is a 400 from the server before any pool is asked (runKeyringOp checks it).
    await inPools(c, d, op, await keyOf(c));
    return new Response(null, { status: 200 });
  };

export const keyringInstall = change('install');
export const keyringUse = change('use');
export const keyringRemove = change('remove');
