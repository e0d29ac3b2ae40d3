// Consul's classic Docker tutorial, step by step, with our image in place of progrium/consul:
//   docker run -d --name node1 -h node1 IMAGE -server -bootstrap-expect 3
//   JOIN_IP=<node1's address>; node2 and node3: -server -join $JOIN_IP
//   node4 (a client) with 8500 and 8600 published: -join $JOIN_IP
//   consulate members, dig node1.node.consul, curl the HTTP API
//   docker stop node1: a leader remains (or is elected) and writes go on; docker start node1
// On Docker's default bridge, with addresses, as the tutorial does. Needs Docker (SKIP_DOCKER=1
// leaves it out) and `npm run build` first.

import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { T, addresses, tcp } from '../support/dns.js';
import { IMAGE, buildImage, docker, http, kvPut, leader, members, waitFor } from './docker.js';

const PREFIX = `consulate-tutorial${process.pid}`;

/** A container of the tutorial; healthy once the agent serves HTTP (the image's ready file). */
function node(name: string, args: string[], ports: number[] = []): GenericContainer {
  return new GenericContainer(IMAGE)
    .withName(`${PREFIX}-${name}`)
    .withHostname(name)
    .withCommand(args)
    .withExposedPorts(...ports)
    .withHealthCheck({
      test: ['CMD', 'test', '-f', '/tmp/consulate-ready'],
      interval: 1000,
      timeout: 3000,
      retries: 30,
      startPeriod: 0,
    })
    .withWaitStrategy(Wait.forHealthCheck())
    .withStartupTimeout(60_000);
}

describe("Consul's Docker tutorial with the consulate image", () => {
  const started: StartedTestContainer[] = [];
  let api = '';

  beforeAll(async () => {
    await buildImage();
  }, 120_000);

  afterAll(async () => {
    // No Ryuk: remove the containers and their anonymous data volumes ourselves.
    const names = ['node1', 'node2', 'node3', 'node4'].map((n) => `${PREFIX}-${n}`);
    await docker('rm', '-f', '-v', ...names).catch(() => undefined);
  }, 60_000);

  it('three servers joined through node1, a client with HTTP and DNS, node1 stopped and back', async () => {
    const t0 = Date.now();
    const node1 = await node('node1', ['-server', '-bootstrap-expect', '3']).start();
    started.push(node1);
    const joinIp = node1.getIpAddress('bridge');
    const rest = await Promise.all([
      node('node2', ['-server', '-join', joinIp]).start(),
      node('node3', ['-server', '-join', joinIp]).start(),
      node('node4', ['-join', joinIp], [8500, 8600]).start(),
    ]);
    started.push(...rest);
    const node4 = rest[2];
    api = `http://${node4.getHost()}:${node4.getMappedPort(8500)}`;
    await waitFor('a leader', async () => (await leader(api)) !== '', 30_000);
    const ready = Date.now() - t0;

    // consulate members inside a container, as the tutorial runs `consul members`.
    const m = await node4.exec(['consulate', 'members']);
    expect(m.exitCode).toBe(0);
    for (const n of ['node1', 'node2', 'node3', 'node4'])
      expect(m.output).toMatch(new RegExp(`^${n}\\s.*alive`, 'm'));

    // dig @127.0.0.1 -p 8600 node1.node.consul (over TCP here: the published port is TCP).
    const dnsPort = node4.getMappedPort(8600);
    expect(addresses(await tcp(dnsPort, 'node1.node.consul', T.A))).toEqual([joinIp]);
    await waitFor(
      'consul.service.consul: the three servers',
      async () => addresses(await tcp(dnsPort, 'consul.service.consul', T.A)).length === 3,
      20_000,
    );
    expect(await kvPut(api, 'tutorial', 'before')).toBe(true);

    // docker stop node1: whether it led or not, the other two keep (or elect) a leader.
    const t1 = Date.now();
    await docker('stop', '-t', '10', `${PREFIX}-node1`);
    await waitFor(
      'an acknowledged write without node1',
      () => kvPut(api, 'tutorial', 'after', 1000),
      30_000,
      100,
    );
    const writable = Date.now() - t1;
    expect(await leader(api)).not.toMatch(new RegExp(`^${joinIp.replace(/\./g, '\\.')}:`));

    // docker start node1: alive again within seconds, not after the tutorials' minutes.
    await waitFor(
      'node1 failed',
      async () => (await members(api)).find((x) => x.Name === 'node1')?.Status !== 1,
      30_000,
    );
    const t2 = Date.now();
    await docker('start', `${PREFIX}-node1`);
    await waitFor(
      'node1 alive again',
      async () => (await members(api)).find((x) => x.Name === 'node1')?.Status === 1,
      20_000,
      100,
    );
    const back = Date.now() - t2;
    expect(back).toBeLessThan(15_000);
    expect((await http(`${api}/v1/kv/tutorial?raw&consistent`)).text).toBe('after');
    console.log(
      `tutorial: cluster of 4 up in ${ready} ms; write ${writable} ms after docker stop node1; node1 alive ${back} ms after docker start`,
    );
  }, 180_000);
});
