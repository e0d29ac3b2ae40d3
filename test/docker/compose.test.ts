// The repository's compose.yaml (two datacenters, 3 servers + 1 client + 1 gateway each) on the
// image deploy/Dockerfile builds, driven by testcontainers. One environment for the whole file:
// bringing ten containers up is the expensive part, and each test leaves the cluster whole again.
//
// Needs Docker with compose v2 and `npm run build` first (npm test does it); SKIP_DOCKER=1 leaves it out.

import { DockerComposeEnvironment, Wait, type StartedDockerComposeEnvironment } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { T, addresses, udp } from '../support/dns.js';
import {
  buildImage,
  docker,
  hostPort,
  http,
  ipOn,
  kvPut,
  leader,
  members,
  repoRoot,
  waitFor,
} from './docker.js';

const PROJECT = `consulatetest${process.pid}`;
const DC1 = ['dc1-server1', 'dc1-server2', 'dc1-server3'];
const ctr = (service: string): string => `${PROJECT}-${service}-1`;
const DC1_NET = `${PROJECT}_dc1`;

describe('compose.yaml: two datacenters in containers', () => {
  let env: StartedDockerComposeEnvironment | undefined;
  let dc1 = '';
  let dc2 = '';
  let gw1 = '';
  let dns1 = 0;

  /** The dc1 server container whose LAN address is the leader's, and that address. */
  async function dc1Leader(): Promise<{ name: string; ip: string }> {
    const addr = await waitFor('a dc1 leader', () => leader(dc1), 30_000);
    const ip = addr.slice(0, addr.lastIndexOf(':'));
    // A stopped container has no address: skip it rather than fail.
    for (const s of DC1) if ((await ipOn(ctr(s), DC1_NET).catch(() => '')) === ip) return { name: s, ip };
    throw new Error(`the leader ${addr} is none of ${DC1.join(', ')}`);
  }

  /** Every dc1 server alive in gossip (seen from the client) and a voter with a leader. */
  async function dc1Whole(timeoutMs: number): Promise<void> {
    await waitFor(
      'all of dc1 alive, three Raft peers and a leader',
      async () => {
        const alive = (await members(dc1)).filter((m) => m.Status === 1).map((m) => m.Name);
        if (!DC1.every((s) => alive.includes(s))) return false;
        const peers = await http(`${dc1}/v1/status/peers`);
        return (
          peers.status === 200 &&
          (JSON.parse(peers.text) as string[]).length === 3 &&
          (await leader(dc1)) !== ''
        );
      },
      timeoutMs,
    );
  }

  beforeAll(async () => {
    const t0 = Date.now();
    await buildImage();
    const built = Date.now();
    env = await new DockerComposeEnvironment(repoRoot(), ['compose.yaml', 'test/docker/compose.subnet.yaml'])
      .withProjectName(PROJECT)
      // Free host ports (the defaults are the README's, maybe in use), and dc1's subnet for the
      // partition test.
      .withEnvironment({
        DC1_HTTP_PORT: '',
        DC1_DNS_PORT: '',
        DC1_GATEWAY_PORT: '',
        DC2_HTTP_PORT: '',
        DC2_DNS_PORT: '',
        DC2_GATEWAY_PORT: '',
        TEST_DC1_SUBNET: `10.213.${process.pid % 250}.0/24`,
      })
      .withDefaultWaitStrategy(Wait.forHealthCheck())
      .withStartupTimeout(120_000)
      .up();
    const healthy = Date.now();
    dc1 = `http://127.0.0.1:${await hostPort(ctr('dc1-client'), '8500/tcp')}`;
    dc2 = `http://127.0.0.1:${await hostPort(ctr('dc2-client'), '8500/tcp')}`;
    gw1 = `http://127.0.0.1:${await hostPort(ctr('dc1-gateway'), '8080/tcp')}`;
    dns1 = await hostPort(ctr('dc1-client'), '8600/udp');
    // Both leaders, the WAN pool (dc2 known at dc1) and dc1's gateway reading dc2's directory.
    await waitFor(
      'leaders in dc1 and dc2',
      async () => (await leader(dc1)) !== '' && (await leader(dc2)) !== '',
      60_000,
    );
    await waitFor(
      'dc2 through the dc1 gateway',
      async () => (await http(`${gw1}/v1/catalog/nodes?dc=dc2`)).status === 200,
      60_000,
    );
    console.log(
      `image ${built - t0} ms; compose up (healthy) ${healthy - built} ms; leaders, WAN and gateway ${Date.now() - healthy} ms`,
    );
  }, 240_000);

  afterAll(async () => {
    await env?.down({ timeout: 5_000, removeVolumes: true });
  }, 60_000);

  it('answers web.service.dc2.consul at dc1 client DNS, and ?dc=dc2 through dc1 gateway', async () => {
    const reg = await http(`${dc2}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ Name: 'web', Address: '10.2.0.7', Port: 80 }),
    });
    expect(reg.status).toBe(200);
    await waitFor(
      'web.service.dc2.consul at dc1',
      async () => addresses(await udp(dns1, 'web.service.dc2.consul', T.A)).join() === '10.2.0.7',
      20_000,
    );
    // Not in dc1: NXDOMAIN for the local name.
    expect((await udp(dns1, 'web.service.consul', T.A)).header.rcode).toBe(3);

    const viaGw = await http(`${gw1}/v1/catalog/service/web?dc=dc2`);
    expect(viaGw.status).toBe(200);
    expect(viaGw.headers.get('x-consulate-datacenter')).toBe('dc2');
    expect((JSON.parse(viaGw.text) as { ServiceAddress: string }[]).map((s) => s.ServiceAddress)).toEqual([
      '10.2.0.7',
    ]);
    // A write into dc2 through dc1's gateway, read back at dc2's own client.
    expect(await kvPut(gw1, 'from-dc1?dc=dc2', 'hello')).toBe(true);
    expect((await http(`${dc2}/v1/kv/from-dc1?raw`)).text).toBe('hello');
  }, 60_000);

  it('docker stop of the dc1 leader: another server leads and writes go on', async () => {
    const old = await dc1Leader();
    expect(await kvPut(dc1, 'before-stop', '1')).toBe(true);
    const t0 = Date.now();
    await docker('stop', '-t', '10', ctr(old.name));
    try {
      const stopped = Date.now();
      await waitFor(
        'an acknowledged write after the stop',
        () => kvPut(dc1, 'after-stop', '2', 1000),
        30_000,
        100,
      );
      const writable = Date.now();
      const now = await dc1Leader();
      expect(now.name).not.toBe(old.name);
      expect((await http(`${dc1}/v1/kv/before-stop?raw&consistent`)).text).toBe('1');
      console.log(
        `leader ${old.name} stopped in ${stopped - t0} ms; next acknowledged write ${writable - stopped} ms later; new leader ${now.name}`,
      );
    } finally {
      // Back for the next tests, whatever happened here.
      await docker('start', ctr(old.name));
      await dc1Whole(60_000);
    }
  }, 120_000);

  it('a server stopped and started again under the same name is alive again within seconds', async () => {
    const { name: lead } = await dc1Leader();
    const name = DC1.find((s) => s !== lead) as string;
    const ipBefore = await ipOn(ctr(name), DC1_NET);
    await docker('stop', '-t', '10', ctr(name));
    // The others must first see it dead, as in the tutorials (where the old entry then blocks the
    // new one for minutes).
    await waitFor(
      `${name} failed in gossip`,
      async () => (await members(dc1)).find((m) => m.Name === name)?.Status !== 1,
      30_000,
    );
    const t0 = Date.now();
    await docker('start', ctr(name));
    await waitFor(
      `${name} alive again`,
      async () => (await members(dc1)).find((m) => m.Name === name)?.Status === 1,
      20_000,
      100,
    );
    const alive = Date.now() - t0;
    await dc1Whole(20_000);
    const whole = Date.now() - t0;
    console.log(
      `${name} restarted (${ipBefore} -> ${await ipOn(ctr(name), DC1_NET)}): alive in gossip after ${alive} ms, a voter again after ${whole} ms`,
    );
    expect(alive).toBeLessThan(15_000);
  }, 120_000);

  it('a leader cut off from its datacenter network and reconnected: no acknowledged write lost', async () => {
    const old = await dc1Leader();
    const acked: string[] = [];
    let writing = true;
    let i = 0;
    // One writer through the client agent, each write a new key; only acknowledged ones count.
    const writer = (async () => {
      while (writing) {
        const key = `partition/${String(i++).padStart(5, '0')}`;
        if (await kvPut(dc1, key, key, 4000)) acked.push(key);
      }
    })();
    await waitFor('writes before the partition', async () => acked.length >= 10, 20_000, 100);
    await docker('network', 'disconnect', DC1_NET, ctr(old.name));
    const cut = acked.length;
    const t0 = Date.now();
    await waitFor(
      'a new leader among the two others',
      async () => {
        const l = await leader(dc1);
        return l !== '' && !l.startsWith(`${old.ip}:`);
      },
      30_000,
      100,
    );
    await waitFor(
      'writes acknowledged during the partition',
      async () => acked.length >= cut + 10,
      30_000,
      100,
    );
    const during = Date.now() - t0;
    await docker('network', 'connect', '--ip', old.ip, '--alias', `${old.name}-lan`, DC1_NET, ctr(old.name));
    await dc1Whole(60_000);
    await waitFor('writes after the partition healed', async () => acked.length >= cut + 20, 30_000, 100);
    writing = false;
    await writer;

    // Every acknowledged key, with a consistent read through the client, and on the server that
    // was cut off (its own stale read, once it caught up).
    const keysOf = (text: string): Set<string> => new Set(JSON.parse(text) as string[]);
    const all = await http(`${dc1}/v1/kv/partition/?keys&consistent`);
    expect(all.status).toBe(200);
    const missing = acked.filter((k) => !keysOf(all.text).has(k));
    expect(missing).toEqual([]);
    await waitFor(
      `every acknowledged key on ${old.name}`,
      async () => {
        const out = await docker(
          'exec',
          ctr(old.name),
          'consulate',
          'kv',
          'get',
          '-stale',
          '-keys',
          'partition/',
        );
        const have = new Set(out.split('\n'));
        return acked.every((k) => have.has(k));
      },
      30_000,
      1000,
    );
    console.log(
      `partition of ${old.name}: ${acked.length} writes acknowledged of ${i}; writes resumed ${during} ms after the cut; none lost`,
    );
  }, 180_000);
});
