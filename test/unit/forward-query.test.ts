// Prepared-query execution under the read rules: with ?stale a follower answers from its own state
// (no trip to the leader); without it the follower hands the request to the leader, as for any
// read that is not stale.

import { describe, expect, it } from 'vitest';
import type { QueryResult } from '../../src/rpc/endpoints/types.js';
import { followerForwarder } from '../support/follower-forwarder.js';
import type { Forwarder } from '../../src/server/forward.js';
import { validateRegister } from '../../src/state/catalog-validate.js';
import { encodeCommand, type FsmCommand } from '../../src/state/commands.js';
import { Fsm } from '../../src/state/fsm.js';
import { decodeQuery } from '../../src/state/prepared-queries.js';

function follower(): { fwd: Forwarder; sentToLeader: string[] } {
  const fsm = new Fsm('dc1');
  let i = 0;
  const apply = (c: FsmCommand): void => {
    expect(fsm.apply(++i, encodeCommand(c))).toBe(true);
  };
  apply({
    type: 'register',
    req: validateRegister({
      Node: 'n1',
      Address: '10.0.0.1',
      Service: { ID: 'web-1', Service: 'web', Port: 80 },
      Check: { CheckID: 'c1', Name: 'c', Status: 'passing', ServiceID: 'web-1' },
    }),
  });
  apply({
    type: 'preparedQuerySet',
    query: decodeQuery({
      ID: '11111111-2222-3333-4444-555555555555',
      Name: 'webq',
      Service: { Service: 'web' },
    }),
  });
  const sentToLeader: string[] = [];
  const fwd = followerForwarder({
    store: fsm.store,
    toLeader: (method) => {
      sentToLeader.push(method);
      return Promise.resolve({ value: { from: 'leader' }, meta: {} });
    },
    context: {
      raft: { leaderId: () => 'leader-id' },
      datacenters: { local: 'dc1', list: () => ['dc1'], call: () => Promise.reject(new Error('none')) },
    },
  });
  return { fwd, sentToLeader };
}

const signal = new AbortController().signal;

describe('PreparedQuery.Execute through the forwarding guard', () => {
  it('is answered by a follower from its own state with ?stale', async () => {
    const { fwd, sentToLeader } = follower();
    const r = (await fwd.call(
      'PreparedQuery.Execute',
      { idOrName: 'webq', q: { minIndex: 0, stale: true, consistent: false } },
      signal,
    )) as QueryResult<{ Nodes: { Node: { Node: string } }[]; Datacenter: string }>;
    expect(sentToLeader).toEqual([]);
    expect(r.value.Nodes.map((n) => n.Node.Node)).toEqual(['n1']);
    expect(r.meta.consistency).toBe('stale');
    expect(r.meta.lastContact).toBe(7);
  });

  it('goes to the leader without ?stale', async () => {
    const { fwd, sentToLeader } = follower();
    const r = await fwd.call(
      'PreparedQuery.Execute',
      { idOrName: 'webq', q: { minIndex: 0, stale: false, consistent: false } },
      signal,
    );
    expect(sentToLeader).toEqual(['Forward']);
    expect(r).toEqual({ value: { from: 'leader' }, meta: {} });
  });
});
