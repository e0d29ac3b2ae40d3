// deploy/kubernetes/consulate.yaml and deploy/systemd/consulate.service checked without a cluster
// or systemd: the flags they pass go through our own CLI's parsers (config/load.ts for agents,
// gateway/config.ts for the gateway), and the objects hang together the way the API server and the
// Services need (selectors and labels, ports named by probes and Services, volumes). Running them is
// test/docker/kubernetes-manifests.test.ts and test/unit/systemd-unit.test.ts.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig, type AgentConfig } from '../../src/config/config.js';
import { AGENT_FLAGS, loadAgentConfig, parseFlags } from '../../src/config/load.js';
import { loadGatewayConfig, type GatewayConfig } from '../../src/gateway/config.js';
import {
  WORKLOAD_KINDS,
  containerArgs,
  find,
  matchLabels,
  parseManifests,
  podTemplate,
  resolvePort,
  selects,
  servicesOf,
  type Container,
  type K8sObject,
  type PodFacts,
  type Probe,
  type ServicePort,
} from '../support/kube-manifests.js';
import { execStartArgv, exampleServerConfig, unitText } from '../support/systemd-unit.js';

const YAML_PATH = join(import.meta.dirname, '../../deploy/kubernetes/consulate.yaml');
const yamlText = readFileSync(YAML_PATH, 'utf8');
const objs = parseManifests(yamlText);
const workloads = objs.filter((o) => (WORKLOAD_KINDS as readonly string[]).includes(o.kind));
const KEY = randomBytes(32).toString('base64');
const pod: PodFacts = {
  podName: 'consulate-server-1',
  podIP: '10.244.1.7',
  nodeName: 'k8s-node-1',
  hostIP: '192.168.0.11',
  namespace: 'default',
  secrets: { 'consulate-gossip/key': KEY },
};

const tmp = mkdtempSync(join(tmpdir(), 'consulate-deploy-'));
const emptyConfigDir = mkdtempSync(join(tmpdir(), 'consulate-config-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  rmSync(emptyConfigDir, { recursive: true, force: true });
});

/** Kubernetes' rule for port names (IANA service names): <= 15 of [a-z0-9-], a letter, no `--`. */
function validPortName(n: string): boolean {
  return n.length <= 15 && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(n) && /[a-z]/.test(n) && !n.includes('--');
}

/**
 * What the image's entrypoint (deploy/docker-entrypoint.sh) does with the args, then our parser of
 * that command: flags first (or `agent`) -> the agent's, after the entrypoint's defaults (its
 * -config-dir, empty in the image, is an empty directory here); `gateway` -> the gateway's. Unknown
 * flags and bad values throw.
 */
function parseContainerArgs(
  args: string[],
): { kind: 'agent'; config: AgentConfig } | { kind: 'gateway'; config: GatewayConfig } {
  if (args[0] === 'gateway') return { kind: 'gateway', config: loadGatewayConfig(args.slice(1)) };
  const agentArgs = args[0] === 'agent' ? args.slice(1) : args;
  if (!agentArgs[0]?.startsWith('-')) throw new Error(`not agent flags: ${args.join(' ')}`);
  const defaults = ['-data-dir=/consulate/data', `-config-dir=${emptyConfigDir}`, '-client=0.0.0.0'];
  const config = loadAgentConfig([...defaults, ...agentArgs]);
  validateConfig(config);
  return { kind: 'agent', config };
}

function containers(o: K8sObject): Container[] {
  return podTemplate(o).spec.containers;
}

describe('deploy/kubernetes/consulate.yaml', () => {
  it('holds the objects the docs describe', () => {
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Service/consulate-server',
      'StatefulSet/consulate-server',
      'DaemonSet/consulate-client',
      'Deployment/consulate-gateway',
      'Service/consulate-gateway',
    ]);
  });

  it("every workload's selector matches its pod template's labels", () => {
    for (const w of workloads) {
      expect(selects(matchLabels(w), podTemplate(w).labels), w.metadata.name).toBe(true);
    }
    // And no two workloads' pods are confused by one selector.
    for (const a of workloads)
      for (const b of workloads)
        if (a !== b) expect(selects(matchLabels(a), podTemplate(b).labels), a.metadata.name).toBe(false);
  });

  it('every Service selects pods, and each of its ports is one they declare, same protocol', () => {
    for (const s of objs.filter((o) => o.kind === 'Service')) {
      const selector = s.spec['selector'] as Record<string, string>;
      const selected = workloads.filter((w) => selects(selector, podTemplate(w).labels));
      expect(selected.length, s.metadata.name).toBeGreaterThan(0);
      const ports = s.spec['ports'] as ServicePort[];
      expect(new Set(ports.map((p) => p.name)).size, `${s.metadata.name}: port names`).toBe(ports.length);
      for (const p of ports) {
        expect(validPortName(p.name ?? ''), `${s.metadata.name} port name ${p.name}`).toBe(true);
        const target = p.targetPort ?? p.port;
        for (const w of selected) {
          const declared = containers(w).flatMap((c) => c.ports ?? []);
          const same = declared.some(
            (cp) =>
              (typeof target === 'number' ? cp.containerPort === target : cp.name === target) &&
              (cp.protocol ?? 'TCP') === (p.protocol ?? 'TCP'),
          );
          expect(
            same,
            `${s.metadata.name} port ${p.name} (${target}/${p.protocol ?? 'TCP'}) on ${w.metadata.name}`,
          ).toBe(true);
        }
      }
    }
  });

  it("the StatefulSet's serviceName is a headless Service of its pods, ready or not", () => {
    const sts = find(objs, 'StatefulSet', 'consulate-server');
    const svc = find(objs, 'Service', sts.spec['serviceName'] as string);
    expect(svc.spec['clusterIP']).toBe('None');
    // The servers bootstrap only once all three see each other: their names must resolve before
    // any is ready.
    expect(svc.spec['publishNotReadyAddresses']).toBe(true);
    expect(servicesOf(objs, sts)).toContain(svc);
  });

  it('container ports are named validly and uniquely; probes name ports the container has', () => {
    for (const w of workloads) {
      for (const c of containers(w)) {
        const names = (c.ports ?? []).map((p) => p.name ?? '');
        expect(new Set(names).size, `${w.metadata.name}: port names`).toBe(names.length);
        for (const n of names) expect(validPortName(n), `${w.metadata.name} port ${n}`).toBe(true);
        const probes = [c.readinessProbe, c.livenessProbe, c.startupProbe].filter(
          (p): p is Probe => p !== undefined,
        );
        expect(probes.length, `${w.metadata.name} has a probe`).toBeGreaterThan(0);
        for (const p of probes) {
          const port = p.httpGet?.port ?? p.tcpSocket?.port;
          if (port !== undefined)
            expect(resolvePort(c, port), `${w.metadata.name} probe port ${port}`).toBeDefined();
          else expect(p.exec?.command.length, `${w.metadata.name} probe`).toBeGreaterThan(0);
        }
      }
    }
  });

  it('every volumeMount names a volume or a volumeClaimTemplate', () => {
    for (const w of workloads) {
      const { spec } = podTemplate(w);
      const claims = ((w.spec['volumeClaimTemplates'] ?? []) as { metadata: { name: string } }[]).map(
        (t) => t.metadata.name,
      );
      const known = [...(spec.volumes ?? []).map((v) => v.name), ...claims];
      for (const c of spec.containers)
        for (const m of c.volumeMounts ?? []) expect(known, `${w.metadata.name} ${m.name}`).toContain(m.name);
    }
  });

  it("every container's args, expanded as kubelet does, are flags our CLI accepts", () => {
    const parsed = Object.fromEntries(
      workloads.map((w) => {
        const c = containers(w)[0] as Container;
        const args = containerArgs(c, { ...pod, podName: `${w.metadata.name}-0` });
        // A $(VAR) left over is a variable the env does not define: kubelet would pass it on as is.
        for (const a of args) expect(a, w.metadata.name).not.toMatch(/\$\(/);
        return [w.kind, parseContainerArgs(args)];
      }),
    );
    expect(parsed['StatefulSet']).toMatchObject({
      kind: 'agent',
      config: {
        server: true,
        bootstrapExpect: 3,
        datacenter: 'dc1',
        nodeName: 'consulate-server-0',
        advertiseAddr: pod.podIP,
        retryJoin: [0, 1, 2].map((i) => `consulate-server-${i}.consulate-server`),
      },
    });
    expect(parsed['DaemonSet']).toMatchObject({
      kind: 'agent',
      config: { server: false, datacenter: 'dc1', nodeName: pod.nodeName, retryJoin: ['consulate-server'] },
    });
    expect(parsed['Deployment']).toMatchObject({
      kind: 'gateway',
      config: { datacenter: 'dc1', servers: ['consulate-server:8500'] },
    });
  });

  it('with the gossip-key lines uncommented, as the header says, the servers take the key', () => {
    const uncommented = yamlText
      .split('\n')
      .map((l) => (/^\s+# .*(CONSULATE_GOSSIP_KEY|secretKeyRef)/.test(l) ? l.replace('# ', '') : l))
      .join('\n');
    expect(uncommented).not.toBe(yamlText);
    const sts = find(parseManifests(uncommented), 'StatefulSet', 'consulate-server');
    const args = containerArgs(containers(sts)[0] as Container, pod);
    expect(args).toContain(`-encrypt=${KEY}`);
    expect(parseContainerArgs(args)).toMatchObject({ kind: 'agent', config: { encrypt: KEY } });
  });

  it('the parsers used here do refuse what our CLI refuses', () => {
    expect(() => parseContainerArgs(['-server', '-retry_join=x'])).toThrow(/unknown flag/);
    expect(() => parseContainerArgs(['-server', '-bootstrap-expect=three'])).toThrow(/integer/);
    expect(() => parseContainerArgs(['gateway', '-servers=x:8500'])).toThrow(/unknown flag/);
  });
});

describe('deploy/systemd/consulate.service', () => {
  const unit = unitText();

  it('ExecStart is `consulate agent` with flags our CLI accepts', () => {
    const argv = execStartArgv(unit);
    expect(argv.slice(0, 3)).toEqual(['/usr/bin/env', 'consulate', 'agent']);
    const flags = parseFlags(argv.slice(3), AGENT_FLAGS);
    expect(flags.map((f) => f.name)).toEqual(['data-dir', 'config-dir']);
  });

  it("the comments' example server.json is accepted, loaded through ExecStart's -config-dir", () => {
    const example = exampleServerConfig(unit);
    expect(example['encrypt']).toBe('<consulate keygen>');
    writeFileSync(join(tmp, 'server.json'), JSON.stringify({ ...example, encrypt: KEY }));
    const args = execStartArgv(unit)
      .slice(3)
      .map((a) => a.replace(/^-config-dir=.*/, `-config-dir=${tmp}`));
    const c = loadAgentConfig(args);
    validateConfig(c);
    expect(c).toMatchObject({
      server: true,
      bootstrapExpect: 3,
      retryJoin: ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
      encrypt: KEY,
      dataDir: '/var/lib/consulate',
    });
  });
});
