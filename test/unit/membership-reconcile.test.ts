import { describe, expect, it } from 'vitest';
import { deadServersToRemove } from '../../src/server/autopilot.js';
import {
  ALIVE_OUTPUT,
  FAILED_OUTPUT,
  planMember,
  reapedNodes,
  staleNamesakes,
  type ReconcileMember,
} from '../../src/server/reconcile.js';
import { encodeCommand, type FsmCommand } from '../../src/state/commands.js';
import { Fsm } from '../../src/state/fsm.js';

function store(): { fsm: Fsm; apply: (c: FsmCommand | null) => void } {
  const fsm = new Fsm('dc1');
  let i = 0;
  return {
    fsm,
    apply: (c) => {
      if (c) fsm.apply(++i, encodeCommand(c));
    },
  };
}

const server = (status: ReconcileMember['status'], addr = '10.0.0.1'): ReconcileMember => ({
  name: 's1',
  addr,
  status,
  tags: { role: 'consul', dc: 'dc1', port: '8300', id: '11111111-2222-3333-4444-555555555555' },
});
const client = (status: ReconcileMember['status']): ReconcileMember => ({
  name: 'c1',
  addr: '10.0.0.9',
  status,
  tags: { role: 'node', dc: 'dc1', id: '99999999-2222-3333-4444-555555555555' },
});

describe('reconciling gossip membership into the catalog', () => {
  it('registers an alive server with a passing serfHealth check and the consul service', () => {
    const { fsm, apply } = store();
    apply(planMember(server('alive'), fsm.store, 'dc1'));
    const node = fsm.store.nodeInfo('s1').value;
    expect(node?.Node).toMatchObject({ Address: '10.0.0.1', ID: '11111111-2222-3333-4444-555555555555' });
    expect(node?.Services['consul']).toMatchObject({ Service: 'consul', Port: 8300 });
    const checks = fsm.store.nodeChecks('s1').value;
    expect(checks).toEqual([
      expect.objectContaining({ CheckID: 'serfHealth', Status: 'passing', Output: ALIVE_OUTPUT }),
    ]);
    // Once the catalog agrees, nothing more is written (the periodic pass is free).
    expect(planMember(server('alive'), fsm.store, 'dc1')).toBeNull();
  });

  it('turns serfHealth critical on failure, keeps the node, and passes again when it returns', () => {
    const { fsm, apply } = store();
    apply(planMember(client('alive'), fsm.store, 'dc1'));
    apply(planMember(client('failed'), fsm.store, 'dc1'));
    expect(fsm.store.nodeChecks('c1').value[0]).toMatchObject({ Status: 'critical', Output: FAILED_OUTPUT });
    expect(fsm.store.nodeInfo('c1').value).not.toBeNull();
    expect(planMember(client('failed'), fsm.store, 'dc1')).toBeNull();
    apply(planMember(client('alive'), fsm.store, 'dc1'));
    expect(fsm.store.nodeChecks('c1').value[0]).toMatchObject({ Status: 'passing' });
  });

  it('follows a server to a new address', () => {
    const { fsm, apply } = store();
    apply(planMember(server('alive'), fsm.store, 'dc1'));
    apply(planMember(server('alive', '10.0.0.2'), fsm.store, 'dc1'));
    expect(fsm.store.nodeInfo('s1').value?.Node.Address).toBe('10.0.0.2');
  });

  it('deregisters a node that left or was reaped, and ignores other datacenters', () => {
    const { fsm, apply } = store();
    apply(planMember(client('alive'), fsm.store, 'dc1'));
    apply(planMember(client('left'), fsm.store, 'dc1'));
    expect(fsm.store.nodeInfo('c1').value).toBeNull();
    apply(planMember(client('alive'), fsm.store, 'dc1'));
    apply(planMember(client('reaped'), fsm.store, 'dc1'));
    expect(fsm.store.nodeInfo('c1').value).toBeNull();
    const other = { ...client('alive'), tags: { role: 'node', dc: 'dc2' } };
    expect(planMember(other, fsm.store, 'dc1')).toBeNull();
  });

  it('finds nodes gossip forgot, but never touches nodes registered through the catalog API', () => {
    const { fsm, apply } = store();
    apply(planMember(client('alive'), fsm.store, 'dc1'));
    apply(planMember(server('alive'), fsm.store, 'dc1'));
    apply({ type: 'register', req: { Node: 'external', Address: '192.0.2.1' } });
    expect(reapedNodes(fsm.store, ['S1'], 's1')).toEqual(['c1']);
    expect(reapedNodes(fsm.store, ['c1'], 's1')).toEqual([]);
  });
});

describe('after a snapshot of another cluster is restored', () => {
  it("finds the catalog's nodes named after live members but holding another node ID", () => {
    const { fsm, apply } = store();
    // The snapshot's s1 and c1 (another cluster's agents of the same names), and a catalog-only node.
    apply(
      planMember(
        { ...server('alive'), tags: { ...server('alive').tags, id: '0a0a0a0a-2222-3333-4444-555555555555' } },
        fsm.store,
        'dc1',
      ),
    );
    apply(planMember(client('alive'), fsm.store, 'dc1'));
    apply({ type: 'register', req: { Node: 'ext', Address: '10.9.9.9' } });
    expect(staleNamesakes(fsm.store, [server('alive'), client('alive')], 'dc1')).toEqual(['s1']);
    // A failed member proves nothing, nor does one of another datacenter.
    expect(staleNamesakes(fsm.store, [server('failed')], 'dc1')).toEqual([]);
    expect(
      staleNamesakes(
        fsm.store,
        [{ ...server('alive'), tags: { ...server('alive').tags, dc: 'dc2' } }],
        'dc1',
      ),
    ).toEqual([]);
    // Once the stale node is gone, the member registers as itself.
    apply({ type: 'deregister', req: { Node: 's1' } });
    apply(planMember(server('alive'), fsm.store, 'dc1'));
    expect(fsm.store.nodeInfo('s1').value?.Node.ID).toBe(server('alive').tags['id']);
    expect(staleNamesakes(fsm.store, [server('alive'), client('alive')], 'dc1')).toEqual([]);
  });
});

describe('dead-server cleanup', () => {
  const voters = (n: number): { id: string; voter: boolean }[] =>
    Array.from({ length: n }, (_, i) => ({ id: `s${i + 1}`, voter: true }));

  it('keeps a dead server of three until a replacement joins (min_quorum = bootstrap_expect)', () => {
    expect(deadServersToRemove(voters(3), new Set(['s3']), 3, 's1')).toEqual([]);
    expect(deadServersToRemove(voters(4), new Set(['s3']), 3, 's1')).toEqual(['s3']);
  });

  it("follows Consul's rule with min_quorum 0: a minority of dead voters goes at once", () => {
    expect(deadServersToRemove(voters(3), new Set(['s3']), 0, 's1')).toEqual(['s3']);
    expect(deadServersToRemove(voters(5), new Set(['s4', 's5']), 0, 's1')).toEqual(['s4', 's5']);
  });

  it('never removes half or more of the voters, nor itself', () => {
    expect(deadServersToRemove(voters(4), new Set(['s3', 's4']), 0, 's1')).toEqual([]);
    expect(deadServersToRemove(voters(3), new Set(['s2', 's3']), 0, 's1')).toEqual([]);
    expect(deadServersToRemove(voters(3), new Set(['s1']), 0, 's1')).toEqual([]);
  });
});
