// A Forwarder on a follower (not the leader, no lease), over a state store the test filled, whose
// connection to the leader is `toLeader`: how tests see what a follower serves itself and what it
// passes on.

import { silentLogger } from '../../src/core/logger.js';
import { seededRng } from '../../src/core/rng.js';
import type { RaftDriver } from '../../src/raft/driver.js';
import type { EndpointContext } from '../../src/rpc/endpoints/index.js';
import { Forwarder } from '../../src/server/forward.js';
import type { StateStore } from '../../src/state/store.js';

export function followerForwarder(o: {
  store: StateStore;
  /** What the leader answers to a call passed on (its method and the envelope sent). */
  toLeader: (method: string, envelope: unknown) => Promise<unknown>;
  /** The endpoint context beside the store (acl, raft, datacenters ...). */
  context?: Record<string, unknown>;
}): Forwarder {
  return new Forwarder({
    datacenter: 'dc1',
    driver: {
      isLeader: () => false,
      leaderId: () => 'leader-id',
      lastContactMs: () => 7,
      leaseValid: () => false,
      verifyLeader: () => Promise.reject(new Error('a follower cannot verify leadership')),
    } as unknown as RaftDriver,
    store: o.store,
    rng: seededRng(1),
    logger: silentLogger(),
    rpcHoldTimeoutMs: 50,
    leaderAddress: () => '127.0.0.1:8300',
    connect: () => Promise.resolve({ isOpen: true, call: o.toLeader }),
    context: (signal) => ({ ...o.context, store: o.store, signal }) as unknown as EndpointContext,
  });
}
