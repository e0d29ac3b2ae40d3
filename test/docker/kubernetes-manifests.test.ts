// deploy/kubernetes/consulate.yaml run in Docker the way kubelet would run it, for want of a
// cluster: each pod is a container of the manifest's container spec (image consulate:dev; the
// manifest's `args` after the image's entrypoint, `$(VAR)` expanded from its `env` as kubelet
// does: metadata.name -> the pod name, status.podIP -> the container's address, spec.nodeName ->
// a node name of ours; runAsUser/runAsGroup as --user; each volume as an anonymous Docker volume). Pods get fixed
// addresses on a network of our own so POD_IP is known before they start, and the DNS of the
// Services with network aliases: `consulate-server-N.consulate-server` (the StatefulSet's pods under
// its headless Service) and each Service's name on the pods it selects. Kubelet's side of the
// probes runs as kubelet would: `docker exec` of the exec command, an HTTP GET at the pod address.
// Not covered: the API server's validation and scheduling, PersistentVolumes, hostPort on a real
// node (published on 127.0.0.1 here), a ClusterIP Service's virtual IP (its name resolves to the
// pod here), one gateway replica of two. Needs Docker (SKIP_DOCKER=1 leaves it out) and
// `npm run build` first.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  containerArgs,
  containerEnv,
  find,
  loadManifests,
  podTemplate,
  resolvePort,
  servicesOf,
  type Container,
  type K8sObject,
  type PodFacts,
} from '../support/kube-manifests.js';
import { IMAGE, buildImage, docker, http, kvPut, leader, members, repoRoot, waitFor } from './docker.js';
import { join } from 'node:path';

const PREFIX = `consulate-k8s${process.pid}`;
const NETWORK = PREFIX;
const NODE_NAME = 'k8s-node-1';
const objs = loadManifests(join(repoRoot(), 'deploy/kubernetes/consulate.yaml'));
const servers = find(objs, 'StatefulSet', 'consulate-server');
const clients = find(objs, 'DaemonSet', 'consulate-client');
const gateways = find(objs, 'Deployment', 'consulate-gateway');

interface Pod {
  name: string;
  container: string;
  ip: string;
  spec: Container;
}

const pods: Pod[] = [];
let subnet = '';

/** A /24 of 10.0.0.0/8 no other network uses: random, tried again when Docker says it overlaps. */
async function createNetwork(): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const prefix = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    try {
      await docker(
        'network',
        'create',
        '--subnet',
        `${prefix}.0/24`,
        '--label',
        'org.testcontainers=true',
        NETWORK,
      );
      return prefix;
    } catch (err) {
      if (attempt >= 10 || !/overlap/i.test((err as Error).message)) throw err;
    }
  }
}

/**
 * `docker run` of a workload's pod: the first container of its template, as kubelet would start it.
 * `publish` puts hostPorts on 127.0.0.1 (a free port each, not the node's fixed one).
 */
async function runPod(o: K8sObject, name: string, ip: string, publish = false): Promise<Pod> {
  const { spec } = podTemplate(o);
  const c = spec.containers[0] as Container;
  const facts: PodFacts = { podName: name, podIP: ip, nodeName: NODE_NAME, hostIP: ip, namespace: 'default' };
  const container = `${PREFIX}-${name}`;
  const args = ['run', '-d', '--name', container, '--hostname', name, '--network', NETWORK, '--ip', ip];
  args.push('--label', 'org.testcontainers=true');
  // The Services' DNS: a StatefulSet pod is <pod>.<serviceName>; each selecting Service's name
  // resolves to its pods (headless), or here to the pod for a ClusterIP one.
  const serviceName = o.spec['serviceName'] as string | undefined;
  if (o.kind === 'StatefulSet' && serviceName) args.push('--network-alias', `${name}.${serviceName}`);
  for (const s of servicesOf(objs, o)) args.push('--network-alias', s.metadata.name);
  const sc = spec.securityContext;
  if (sc?.runAsUser !== undefined) args.push('--user', `${sc.runAsUser}:${sc.runAsGroup ?? sc.runAsUser}`);
  if (spec.terminationGracePeriodSeconds !== undefined)
    args.push('--stop-timeout', String(spec.terminationGracePeriodSeconds));
  for (const [k, v] of Object.entries(containerEnv(c, facts))) args.push('-e', `${k}=${v}`);
  // Each volume (the claim template's and the emptyDir) as an anonymous volume: kept across
  // docker stop/start as a claim is across a container restart, removed with the container (rm -v).
  for (const m of c.volumeMounts ?? []) args.push('-v', m.mountPath);
  if (publish)
    for (const p of c.ports ?? [])
      if (p.hostPort !== undefined && (p.protocol ?? 'TCP') === 'TCP')
        args.push('-p', `127.0.0.1::${p.containerPort}`);
  // Remembered before `docker run`: a container created but not started is removed too.
  const pod = { name, container, ip, spec: c };
  pods.push(pod);
  await docker(...args, IMAGE, ...containerArgs(c, facts));
  return pod;
}

/** Kubelet's exec probe: the manifest's command, exactly, in the container; true on exit 0. */
async function execProbe(pod: Pod): Promise<boolean> {
  const cmd = pod.spec.readinessProbe?.exec?.command;
  if (!cmd) throw new Error(`${pod.name}: no exec readinessProbe`);
  return docker('exec', pod.container, ...cmd).then(
    () => true,
    () => false,
  );
}

/** Kubelet's httpGet probe: GET http://<pod IP>:<port>/<path>; 200-399 passes. */
async function httpProbe(pod: Pod): Promise<{ ok: boolean; status: number; text: string }> {
  const g = pod.spec.readinessProbe?.httpGet;
  if (!g) throw new Error(`${pod.name}: no httpGet readinessProbe`);
  const port = resolvePort(pod.spec, g.port);
  if (port === undefined) throw new Error(`${pod.name}: probe port ${g.port} is not a container port`);
  const r = await http(`http://${pod.ip}:${port}${g.path ?? '/'}`, {}, 3000);
  return { ok: r.status >= 200 && r.status < 400, status: r.status, text: r.text };
}

describe('deploy/kubernetes/consulate.yaml, run as kubelet would in Docker', () => {
  beforeAll(async () => {
    await buildImage();
    subnet = await createNetwork();
  }, 120_000);

  afterAll(async () => {
    // No Ryuk: the containers with their volumes, then the network (both labelled for
    // scripts/docker-clean.sh should this never run).
    const names = pods.map((p) => p.container);
    if (names.length > 0) await docker('rm', '-f', '-v', ...names).catch(() => undefined);
    await docker('network', 'rm', NETWORK).catch(() => undefined);
  }, 60_000);

  it('3 servers, a client and a gateway: leader, members, a write, probes, a server restarted', async () => {
    const t0 = Date.now();
    const replicas = servers.spec['replicas'] as number;
    expect(replicas).toBe(3);
    // podManagementPolicy Parallel: the servers all start at once.
    expect(servers.spec['podManagementPolicy']).toBe('Parallel');
    const srv = await Promise.all(
      Array.from({ length: replicas }, (_, i) =>
        runPod(servers, `consulate-server-${i}`, `${subnet}.${10 + i}`),
      ),
    );
    const client = await runPod(clients, 'consulate-client-x7k2p', `${subnet}.20`, true);
    const gateway = await runPod(gateways, 'consulate-gateway-5d8f9-abcde', `${subnet}.30`);
    const api = `http://127.0.0.1:${(await docker('port', client.container, '8500/tcp')).split(':').pop()}`;

    // A leader, one of the three servers, the same for every agent.
    const lead = await waitFor('a leader', async () => (await leader(api)) || undefined, 45_000);
    expect(srv.map((p) => `${p.ip}:8300`)).toContain(lead);
    for (const p of srv) expect(await leader(`http://${p.ip}:8500`)).toBe(lead);
    const up = Date.now() - t0;

    // members: the three servers under their pod names and pod IPs, the client under the node's name.
    await waitFor(
      'all four members alive',
      async () => (await members(api)).filter((m) => m.Status === 1).length === 4,
      20_000,
    );
    const m = await members(api);
    expect(m.map((x) => [x.Name, x.Addr]).sort()).toEqual(
      [...srv.map((p) => [p.name, p.ip]), [NODE_NAME, client.ip]].sort(),
    );
    const out = await docker('exec', client.container, 'consulate', 'members');
    for (const p of srv)
      expect(out).toMatch(new RegExp(`^${p.name}\\s+${p.ip}:8301\\s+alive\\s+server`, 'm'));
    expect(out).toMatch(new RegExp(`^${NODE_NAME}\\s+${client.ip}:8301\\s+alive\\s+client`, 'm'));

    // A write through the client (a pod's path: the node's hostPort), read back there and at a server.
    expect(await kvPut(api, 'k8s/greeting', 'hello')).toBe(true);
    expect((await http(`${api}/v1/kv/k8s/greeting?raw&consistent`)).text).toBe('hello');
    await waitFor(
      'the write at consulate-server-2',
      async () => (await http(`http://${srv[2]?.ip}:8500/v1/kv/k8s/greeting?raw&stale`)).text === 'hello',
      5000,
    );

    // Readiness: the exec probe, exactly as the manifest has it, passes on every agent.
    for (const p of [...srv, client]) expect(await execProbe(p), p.name).toBe(true);

    // The gateway: its probe's path at its pod address, once it has read the directory; then a read
    // through it, with its Service's name as the servers' one for -server.
    const probe = await waitFor(
      'the gateway ready',
      async () => {
        const r = await httpProbe(gateway);
        if (!r.ok) throw new Error(`probe answered ${r.status}: ${r.text.slice(0, 200)}`);
        return r;
      },
      20_000,
    );
    expect(JSON.parse(probe.text)).toMatchObject({ Ready: true });
    const viaGateway = await http(`http://${gateway.ip}:8080/v1/kv/k8s/greeting?raw`);
    expect(viaGateway.text).toBe('hello');
    expect(viaGateway.headers.get('x-consulate-datacenter')).toBe('dc1');

    // docker stop + start of consulate-server-0 (the pod's container restarted; its volume kept).
    const s0 = srv[0] as Pod;
    const t1 = Date.now();
    await docker('stop', s0.container);
    const stopped = Date.now() - t1;
    await waitFor(
      'consulate-server-0 seen failed',
      async () => (await members(api)).find((x) => x.Name === s0.name)?.Status !== 1,
      30_000,
    );
    expect(await execProbe(s0)).toBe(false);
    const t2 = Date.now();
    await docker('start', s0.container);
    await waitFor(
      'consulate-server-0 alive again',
      async () => (await members(api)).find((x) => x.Name === s0.name)?.Status === 1,
      20_000,
      100,
    );
    const back = Date.now() - t2;
    await waitFor('consulate-server-0 ready again', () => execProbe(s0), 10_000);
    await waitFor('a leader with consulate-server-0 back', async () => (await leader(api)) !== '', 20_000);
    expect(await kvPut(api, 'k8s/after', 'restart')).toBe(true);
    await waitFor(
      'the later write at consulate-server-0',
      async () => (await http(`http://${s0.ip}:8500/v1/kv/k8s/after?raw&stale`)).text === 'restart',
      10_000,
    );
    console.log(
      `kubernetes manifests: 5 pods up and a leader in ${up} ms; docker stop took ${stopped} ms; consulate-server-0 alive ${back} ms after docker start`,
    );
  }, 150_000);
});
