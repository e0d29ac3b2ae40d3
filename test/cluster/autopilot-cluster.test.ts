// Autopilot on real server processes: health as the leader judges it (asked through a follower),
// `operator raft transfer-leader` to a chosen server, a new server entering as a non-voter and
// promoted after server_stabilization_time, and 429 once a voter is gone.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIo } from '../support/capture-io.js';
import { TestCluster, eventually, type ServerProc } from './harness.js';

interface HealthJson {
  Healthy: boolean;
  FailureTolerance: number;
  Servers: { ID: string; Name: string; Leader: boolean; Voter: boolean; Healthy: boolean }[];
}
interface PeersJson {
  Servers: { ID: string; Node: string; Leader: boolean; Voter: boolean }[];
}

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start({
    servers: 3,
    logLevel: 'info',
    extraConfig: { autopilot: { server_stabilization_time: '2s' } },
  });
  await cluster.waitForLeader();
});
afterAll(() => cluster.stop());

const health = async (a: ServerProc): Promise<{ status: number; body: HealthJson }> => {
  const r = await a.client.request('GET', '/v1/operator/autopilot/health');
  return { status: r.status, body: JSON.parse(r.body.toString()) as HealthJson };
};
const peers = (a: ServerProc): Promise<PeersJson> =>
  a.client.json<PeersJson>('GET', '/v1/operator/raft/configuration');
const cli = async (a: ServerProc, ...args: string[]): Promise<{ code: number; out: string; err: string }> => {
  const io = captureIo({ CONSUL_HTTP_ADDR: a.http });
  const code = await main(args, io);
  return { code, out: io.stdout, err: io.stderr };
};

describe('autopilot on three servers', () => {
  it('reports every server healthy, with a failure tolerance of one, through a follower', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.followers(leader)[0] as ServerProc;
    const h = await eventually(
      async () => {
        const x = await health(follower);
        return x.status === 200 && x.body.Servers.length === 3 && x.body;
      },
      15_000,
      'three healthy servers',
    );
    expect(h.Healthy).toBe(true);
    expect(h.FailureTolerance).toBe(1);
    expect(h.Servers.filter((s) => s.Leader).map((s) => s.Name)).toEqual([leader.name]);
    expect(h.Servers.every((s) => s.Voter && s.Healthy)).toBe(true);
  });

  it('operator raft transfer-leader -id hands leadership to that server', async () => {
    const leader = await cluster.waitForLeader();
    const target = cluster.followers(leader)[1] as ServerProc;
    const id = (await peers(leader)).Servers.find((s) => s.Node === target.name)?.ID as string;
    const r = await cli(
      cluster.followers(leader)[0] as ServerProc,
      'operator',
      'raft',
      'transfer-leader',
      `-id=${id}`,
    );
    expect(r).toEqual({ code: 0, out: 'Success\n', err: '' });
    expect((await cluster.waitForLeader()).name).toBe(target.name);
    const list = await cli(target, 'operator', 'raft', 'list-peers');
    expect(list.out.split('\n').find((l) => l.startsWith(target.name))).toMatch(
      /\sleader\s+true\s+3\s+\d+\s+-$/,
    );
  });

  it('adds a new server as a non-voter and promotes it after the stabilization time', async () => {
    const fresh = await cluster.add('server-4', true);
    cluster.spawn(fresh, ['-bootstrap-expect=3']);
    const leader = await cluster.waitForLeader();
    await eventually(
      async () => (await peers(leader)).Servers.find((s) => s.Node === 'server-4' && !s.Voter),
      20_000,
      'server-4 in the Raft configuration as a non-voter',
    );
    const state = await cli(leader, 'operator', 'autopilot', 'state');
    expect(state.code).toBe(0);
    expect(state.out).toMatch(/Name: +server-4\n.*\n.*\n +Status: +non-voter\n/);
    const since = Date.now();
    await eventually(
      async () => (await peers(leader)).Servers.find((s) => s.Node === 'server-4' && s.Voter),
      20_000,
      'server-4 promoted to voter',
    );
    // Not before it had been healthy for two seconds (it was a non-voter when `since` was taken).
    expect(Date.now() - since).toBeGreaterThan(1000);
    const h = await eventually(
      async () => {
        const x = await health(leader);
        return x.body.Servers.length === 4 && x.body.Healthy && x.body;
      },
      15_000,
      'four healthy voters',
    );
    expect(h.FailureTolerance).toBe(1); // four voters: a quorum of three
  });

  it('answers 429 when a voter is gone (dead-server cleanup off)', async () => {
    const leader = await cluster.waitForLeader();
    const off = await cli(leader, 'operator', 'autopilot', 'set-config', '-cleanup-dead-servers=false');
    expect(off).toEqual({ code: 0, out: 'Configuration updated!\n', err: '' });
    const victim = cluster.followers(leader)[0] as ServerProc;
    await cluster.kill9(victim);
    const h = await eventually(
      async () => {
        const x = await health(leader);
        return x.status === 429 && x.body;
      },
      15_000,
      'health to answer 429',
    );
    expect(h.Healthy).toBe(false);
    expect(h.FailureTolerance).toBe(0);
    expect(h.Servers.find((s) => s.Name === victim.name)?.Healthy).toBe(false);
    expect((await peers(leader)).Servers.some((s) => s.Node === victim.name)).toBe(true);

    // The operator removes the dead voter by hand: health is whole again.
    const id = (await peers(leader)).Servers.find((s) => s.Node === victim.name)?.ID as string;
    expect(await cli(leader, 'operator', 'raft', 'remove-peer', `-id=${id}`)).toEqual({
      code: 0,
      out: `Removed peer with id "${id}"\n`,
      err: '',
    });
    expect((await peers(leader)).Servers.some((s) => s.Node === victim.name)).toBe(false);
    const again = await cli(leader, 'operator', 'raft', 'remove-peer', `-id=${id}`);
    expect(again.code).toBe(1);
    expect(again.err).toContain('was not found in the Raft configuration');
    expect((await cli(leader, 'operator', 'raft', 'remove-peer')).code).toBe(1);
    await eventually(async () => (await health(leader)).status === 200, 15_000, 'health to answer 200');
  });
});
