// Servers and clients in one LAN gossip pool, as real processes on loopback: joining through one
// address, client requests routed to servers, failure detection into the catalog, restarts on new
// ports, graceful leave, user events, and gossip encryption.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeValue } from '../../src/client/client.js';
import { TestCluster, eventually, freePort, type ServerProc } from './harness.js';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/consulate.js');

interface MemberJson {
  Name: string;
  Addr: string;
  Port: number;
  Status: number;
  Tags: Record<string, string>;
}
interface CheckJson {
  Node: string;
  CheckID: string;
  Status: string;
  Output: string;
}

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

const members = (a: ServerProc): Promise<MemberJson[]> =>
  a.client.json<MemberJson[]>('GET', '/v1/agent/members');

async function statusOf(from: ServerProc, name: string): Promise<number | undefined> {
  return (await members(from)).find((m) => m.Name === name)?.Status;
}

async function serfHealth(from: ServerProc, node: string): Promise<CheckJson | undefined> {
  const checks = await from.client.json<CheckJson[]>('GET', `/v1/health/node/${node}`);
  return checks.find((c) => c.CheckID === 'serfHealth');
}

async function allAlive(c: TestCluster): Promise<void> {
  const names = c.agents
    .filter((a) => a.proc)
    .map((a) => a.name)
    .sort();
  for (const a of c.agents.filter((x) => x.proc)) {
    await eventually(
      async () => {
        const ms = await members(a);
        const alive = ms
          .filter((m) => m.Status === 1)
          .map((m) => m.Name)
          .sort();
        return JSON.stringify(alive) === JSON.stringify(names);
      },
      20_000,
      `${a.name} to see every member alive`,
    );
  }
}

describe('a LAN gossip pool of servers and clients', () => {
  it('forms through one address; clients find the servers; the catalog shows every node healthy', async () => {
    cluster = await TestCluster.start({ servers: 3, clients: 2, joinThroughFirst: true });
    await cluster.waitForLeader();
    await allAlive(cluster);
    const [c1, c2] = cluster.clients as [ServerProc, ServerProc];

    // A client knows no server address; it found them through gossip.
    expect(await c1.client.kvPut('from-a-client', 'hi')).toBe(true);
    const e = await c2.client.kvGet('from-a-client');
    expect(decodeValue(e!.Value).toString()).toBe('hi');
    expect(await c2.client.json<string>('GET', '/v1/status/leader')).toMatch(/^127\.0\.0\.1:\d+$/);

    // The leader registered every member with a passing serfHealth check; servers carry `consul`.
    for (const a of cluster.agents) {
      const chk = await eventually(async () => serfHealth(c1, a.name), 10_000, `serfHealth of ${a.name}`);
      expect(chk).toMatchObject({ Status: 'passing', Output: 'Agent alive and reachable' });
    }
    const consul = await c1.client.json<{ Node: string; ServicePort: number }[]>(
      'GET',
      '/v1/catalog/service/consul',
    );
    expect(consul.map((s) => s.Node).sort()).toEqual(['server-1', 'server-2', 'server-3']);

    // consulate members, as a Consul user types it.
    const { stdout } = await run(process.execPath, [BIN, 'members', `-http-addr=${c2.http}`]);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Node\s+Address\s+Status\s+Type\s+Build\s+Protocol\s+DC/);
    expect(lines.slice(1).filter((l) => / alive +server /.test(l))).toHaveLength(3);
    expect(lines.slice(1).filter((l) => / alive +client /.test(l))).toHaveLength(2);
  });

  it('turns serfHealth critical when a client is killed -9, and back when it returns on a new port', async () => {
    cluster = await TestCluster.start({ servers: 3, clients: 2, joinThroughFirst: true });
    await cluster.waitForLeader();
    await allAlive(cluster);
    const [c1, c2] = cluster.clients as [ServerProc, ServerProc];
    const s1 = cluster.servers[0] as ServerProc;

    await cluster.kill9(c2);
    await eventually(async () => (await statusOf(s1, c2.name)) === 4, 15_000, 'the client marked failed');
    const chk = await eventually(
      async () => {
        const x = await serfHealth(c1, c2.name);
        return x?.Status === 'critical' ? x : undefined;
      },
      15_000,
      'serfHealth critical',
    );
    expect(chk.Output).toBe('Agent not live or unreachable');
    // A failed node stays in the catalog (it may come back); only its check changed.
    expect((await c1.client.json<unknown[]>('GET', '/v1/catalog/nodes')).length).toBe(5);

    // Same node (same data dir, so same node ID) on new gossip and HTTP ports: back at once.
    c2.serfPort = await freePort();
    const t0 = Date.now();
    cluster.spawn(c2);
    await eventually(
      async () => {
        const m = (await members(s1)).find((x) => x.Name === c2.name);
        return m?.Status === 1 && m.Port === c2.serfPort;
      },
      15_000,
      'the restarted client alive at its new port',
    );
    const back = Date.now() - t0;
    await eventually(async () => (await serfHealth(c1, c2.name))?.Status === 'passing', 15_000, 'passing');
    // Start-up of a Node process included; Consul's default would wait for the old name to be reaped.
    expect(back).toBeLessThan(10_000);
  });

  it('refuses a second node (another node ID) under a live name, with one clear log line', async () => {
    cluster = await TestCluster.start({ servers: 3, clients: 1, joinThroughFirst: true });
    await allAlive(cluster);
    const s1 = cluster.servers[0] as ServerProc;
    const c1 = cluster.clients[0] as ServerProc;
    const original = (await members(s1)).find((m) => m.Name === c1.name);
    // Same name, its own data dir: a new node ID.
    const imposter = await cluster.add(c1.name, false);
    imposter.dataDir = join(cluster.root, 'imposter');
    imposter.logFile = join(cluster.root, 'imposter.log');
    cluster.spawn(imposter);
    await eventually(
      async () => readFileSync(s1.logFile, 'utf8').includes('member name conflict'),
      15_000,
      'the conflict in the log',
    );
    const now = (await members(s1)).filter((m) => m.Name === c1.name);
    expect(now).toHaveLength(1);
    expect(now[0]).toMatchObject({ Port: original?.Port, Status: 1, Tags: { id: original?.Tags['id'] } });
  });

  it('keeps serving clients when a server they use is killed -9', async () => {
    cluster = await TestCluster.start({ servers: 3, clients: 1, joinThroughFirst: true });
    await cluster.waitForLeader();
    await allAlive(cluster);
    const c1 = cluster.clients[0] as ServerProc;
    const self = await c1.client.json<{ Stats: { consul: { rpc_server: string } } }>('GET', '/v1/agent/self');
    const used = self.Stats.consul.rpc_server;
    const victim = cluster.servers.find((s) => used.endsWith(`:${s.rpcPort}`)) as ServerProc;
    expect(victim).toBeDefined();
    await cluster.kill9(victim);
    // Every request succeeds: the client moves to another server (waiting out an election if the
    // victim led), and the caller never sees the failure.
    for (let i = 0; i < 20; i++) expect(await c1.client.kvPut(`after/${i}`, `v${i}`)).toBe(true);
    const now = await c1.client.json<{ Stats: { consul: { rpc_server: string } } }>('GET', '/v1/agent/self');
    expect(now.Stats.consul.rpc_server).not.toBe(used);
    const keys = await c1.client.kvKeys('after/');
    expect(keys).toHaveLength(20);
  });

  it('replaces a dead server: autopilot removes it from Raft once a new server has joined', async () => {
    cluster = await TestCluster.start({ servers: 3, joinThroughFirst: true });
    const leader = await cluster.waitForLeader();
    const dead = cluster.servers.find((s) => s !== leader && s !== cluster!.servers[0]) as ServerProc;
    const raftNodes = async (): Promise<string[]> =>
      (
        await leader.client.json<{ Servers: { Node: string }[] }>('GET', '/v1/operator/raft/configuration')
      ).Servers.map((s) => s.Node).sort();
    await cluster.kill9(dead);
    await eventually(
      async () => (await statusOf(leader, dead.name)) === 4,
      15_000,
      'the server marked failed',
    );
    // Three voters with one dead: removing it would leave fewer than bootstrap_expect, so it stays.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await raftNodes()).toEqual(['server-1', 'server-2', 'server-3']);
    const fresh = await cluster.add('server-4', true);
    cluster.spawn(fresh, ['-bootstrap-expect=3']);
    await eventually(
      async () => {
        const nodes = await raftNodes();
        return nodes.includes('server-4') && !nodes.includes(dead.name) && nodes.length === 3;
      },
      // server-4 votes only after server_stabilization_time (10 s) of health; then the dead one goes.
      30_000,
      'server-4 in and the dead server out of the Raft configuration',
    );
    expect(await fresh.client.kvPut('after-replacement', 'ok')).toBe(true);
  });

  it('leaves gracefully (consulate leave): left, not failed, and out of the catalog', async () => {
    cluster = await TestCluster.start({ servers: 3, clients: 2, joinThroughFirst: true });
    await cluster.waitForLeader();
    await allAlive(cluster);
    const [c1, c2] = cluster.clients as [ServerProc, ServerProc];
    await eventually(async () => serfHealth(c1, c2.name), 10_000, 'registered');
    const { stdout } = await run(process.execPath, [BIN, 'leave', `-http-addr=${c2.http}`]);
    expect(stdout).toContain('Graceful leave complete');
    await new Promise<void>((r) => (c2.proc?.exitCode !== null ? r() : c2.proc.once('exit', () => r())));
    c2.proc = null;
    await eventually(async () => (await statusOf(c1, c2.name)) === 3, 10_000, 'status left');
    await eventually(
      async () => (await c1.client.request('GET', `/v1/catalog/node/${c2.name}`)).body.toString() === 'null',
      10_000,
      'the node deregistered',
    );
  });

  it('delivers a user event to every agent, where /v1/event/list shows it', async () => {
    cluster = await TestCluster.start({ servers: 3, clients: 2, joinThroughFirst: true });
    await allAlive(cluster);
    const [c1] = cluster.clients as [ServerProc];
    const { stdout } = await run(process.execPath, [
      BIN,
      'event',
      '-name=deploy',
      `-http-addr=${c1.http}`,
      'v42',
    ]);
    const id = /Event ID: (\S+)/.exec(stdout)?.[1];
    expect(id).toBeDefined();
    for (const a of cluster.agents) {
      const evs = await eventually(
        async () => {
          const l = await a.client.json<{ ID: string; Name: string; Payload: string }[]>(
            'GET',
            '/v1/event/list?name=deploy',
          );
          return l.length > 0 ? l : undefined;
        },
        10_000,
        `the event at ${a.name}`,
      );
      expect(evs).toHaveLength(1);
      expect(evs[0]).toMatchObject({
        ID: id,
        Name: 'deploy',
        Payload: Buffer.from('v42').toString('base64'),
      });
    }
  });

  it('keeps a node with the wrong gossip key out of an encrypted pool', async () => {
    const key = randomBytes(32).toString('base64');
    cluster = await TestCluster.start({
      servers: 3,
      clients: 1,
      joinThroughFirst: true,
      extraConfig: { encrypt: key },
    });
    await cluster.waitForLeader();
    await allAlive(cluster);
    const s1 = cluster.servers[0] as ServerProc;

    // Every member reports the one key in use.
    const { stdout } = await run(process.execPath, [BIN, 'keyring', '-list', `-http-addr=${s1.http}`]);
    expect(stdout).toContain(`${key} [4/4]`);

    // Rotation, as an operator does it: install a new key everywhere, use it, remove the old one.
    const next = randomBytes(32).toString('base64');
    const keyring = (...a: string[]) =>
      run(process.execPath, [BIN, 'keyring', ...a, `-http-addr=${s1.http}`]);
    await keyring(`-install=${next}`);
    await keyring(`-use=${next}`);
    await keyring(`-remove=${key}`);
    const after = (await keyring('-list')).stdout;
    expect(after).toContain(`${next} [4/4]`);
    expect(after).not.toContain(key);
    // Removing the key in use is refused, with Consul's message, and a malformed request is a 400.
    const refused = await keyring(`-remove=${next}`).catch((e: { code: number; stderr: string }) => e);
    expect((refused as { code: number }).code).toBe(1);
    expect((refused as { stderr: string }).stderr).toContain('Removing the primary key is not allowed');
    expect((await s1.client.request('POST', '/v1/operator/keyring', { body: '{}' })).status).toBe(400);
    expect((await s1.client.request('GET', '/v1/operator/keyring?relay-factor=9')).status).toBe(400);

    const intruder = await cluster.add('intruder', false);
    // Its own key, which is also no longer the pool's old one.
    cluster.spawn(intruder, [`-encrypt=${key}`]);
    await eventually(async () => (await members(intruder)).length === 1, 10_000, 'the intruder up, alone');
    // It keeps trying (retry-join), and keeps failing: nobody lets it in.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await members(s1)).map((m) => m.Name)).not.toContain('intruder');
    expect((await members(intruder)).map((m) => m.Name)).toEqual(['intruder']);
  });
});
