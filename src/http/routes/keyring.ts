// /v1/operator/keyring: the gossip keys of every member of the LAN pool (each member answers for
// its own keyring over a gossip query). GET lists, POST installs, PUT makes primary, DELETE removes.

import type { Context } from 'hono';
import { badRequest } from '../../core/errors.js';
import { installKey, listKeys, removeKey, useKey } from '../../gossip/keyring-ops.js';
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

export async function keyringList(c: Context, d: HttpDeps): Promise<Response> {
  checkRelayFactor(c);
  return json(c, await listKeys(d.agent.lan, d.agent.config.datacenter));
}

const change =
  (op: typeof installKey) =>
  async (c: Context, d: HttpDeps): Promise<Response> => {
    checkRelayFactor(c);
    await op(d.agent.lan, d.agent.config.datacenter, await keyOf(c));
    return new Response(null, { status: 200 });
  };

export const keyringInstall = change(installKey);
export const keyringUse = change(useKey);
export const keyringRemove = change(removeKey);
