// Consul's Internal.KeyringOperation: a gossip keyring operation (list, install, use, remove) for
// the whole federation. Asked by an agent, the server that receives it runs the operation on the WAN
// pool (when it is in one) and then on the LAN pool of every known datacenter, its own by itself and
// each other one through a server there (`forwarded`: that datacenter's LAN pool only). So one
// `consulate keyring -install` reaches every agent of every datacenter, as Consul's does.

import { ConsulError, ErrorCode, badRequest, toConsulError } from '../../core/errors.js';
import { KEYRING_QUERIES, type KeyringOp, type KeyringResponse } from '../../gossip/keyring-ops.js';
import { keyringAcl } from './acl-spec.js';
import type { EndpointContext, LocalEndpoint } from './index.js';

export interface KeyringArgs {
  op: KeyringOp;
  key: string | null;
  /** Set on the calls to other datacenters: run on this datacenter's LAN pool only. */
  forwarded?: boolean;
  token?: string;
}

const OPS = new Set<unknown>(Object.keys(KEYRING_QUERIES));

/** The arguments as they came over RPC, checked: another server's bad frame is a 400, not a crash. */
function checked(a: KeyringArgs): KeyringArgs {
  if (!OPS.has(a?.op)) throw badRequest(`unknown keyring operation: ${String(a?.op)}`);
  if (a.key !== null && typeof a.key !== 'string') throw badRequest('keyring key must be a string');
  if (a.op !== 'list' && !a.key) throw badRequest('Key is required');
  if (a.forwarded !== undefined && typeof a.forwarded !== 'boolean') throw badRequest('bad forwarded flag');
  return a;
}

async function keyringOperation(c: EndpointContext, args: KeyringArgs): Promise<KeyringResponse[]> {
  const a = checked(args);
  const ring = c.keyring;
  if (!ring)
    throw new ConsulError(ErrorCode.Internal, 'this server has no gossip pool to run keyring operations on');
  if (a.forwarded === true) return ring.run(a.op, a.key, false);
  // The WAN pool first, as Consul does: a new key must be on every server before a LAN pool uses it.
  const wan = ring.hasWan() ? await ring.run(a.op, a.key, true) : [];
  const forward: KeyringArgs = { op: a.op, key: a.key, forwarded: true };
  if (typeof a.token === 'string' && a.token !== '') forward.token = a.token;
  // Every datacenter at once (Consul's globalRPC); the answers in the directory's order, local first.
  const lans = await Promise.all(
    c.datacenters.list().map(async (dc) => {
      if (dc === c.datacenters.local) return ring.run(a.op, a.key, false);
      try {
        return (await c.datacenters.call(
          dc,
          'Internal.KeyringOperation',
          forward,
          c.signal,
        )) as KeyringResponse[];
      } catch (err) {
        const e = toConsulError(err);
        throw new ConsulError(e.code, `${dc}: ${e.message}`);
      }
    }),
  );
  return [...wan, ...lans.flat()];
}

export const keyringEndpoints = {
  'Internal.KeyringOperation': {
    kind: 'local',
    run: keyringOperation,
    acl: keyringAcl,
  } satisfies LocalEndpoint<KeyringArgs>,
};
