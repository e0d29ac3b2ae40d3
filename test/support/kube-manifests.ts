// Reading deploy/kubernetes/consulate.yaml the way the API server and kubelet would, for the tests
// that check it without a cluster (test/unit/deploy-manifests.test.ts) and run it in Docker
// (test/docker/kubernetes-manifests.test.ts): the objects, their pod templates, which Services
// select which pods, and a container's environment and arguments with kubelet's `$(VAR)` expansion.

import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

export interface ContainerPort {
  containerPort: number;
  name?: string;
  protocol?: string;
  hostPort?: number;
}

export interface Probe {
  exec?: { command: string[] };
  httpGet?: { path?: string; port: number | string; scheme?: string };
  tcpSocket?: { port: number | string };
  periodSeconds?: number;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string };
  };
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: ContainerPort[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string }[];
}

export interface PodSpec {
  containers: Container[];
  securityContext?: { runAsUser?: number; runAsGroup?: number; fsGroup?: number };
  terminationGracePeriodSeconds?: number;
  volumes?: { name: string; emptyDir?: object }[];
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  // The spec's shape depends on the kind; the accessors below read what the tests need.
  spec: Record<string, unknown>;
}

export const WORKLOAD_KINDS = ['StatefulSet', 'DaemonSet', 'Deployment'] as const;

/** Every object of a multi-document YAML file; a YAML error fails the caller. */
export function loadManifests(path: string): K8sObject[] {
  return parseManifests(readFileSync(path, 'utf8'));
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text).map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`document ${i}: ${doc.errors[0]?.message}`);
    const o = doc.toJS() as K8sObject;
    if (!o?.kind || !o.metadata?.name) throw new Error(`document ${i} has no kind or metadata.name`);
    return o;
  });
}

export function find(objs: K8sObject[], kind: string, name: string): K8sObject {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in the manifests`);
  return o;
}

export function podTemplate(o: K8sObject): { labels: Record<string, string>; spec: PodSpec } {
  const t = o.spec['template'] as { metadata?: { labels?: Record<string, string> }; spec: PodSpec };
  return { labels: t.metadata?.labels ?? {}, spec: t.spec };
}

export function matchLabels(o: K8sObject): Record<string, string> {
  return (o.spec['selector'] as { matchLabels?: Record<string, string> }).matchLabels ?? {};
}

/** A label selector (equality only, as Services have) selects `labels` when all its pairs are there. */
export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const pairs = Object.entries(selector);
  return pairs.length > 0 && pairs.every(([k, v]) => labels[k] === v);
}

/** The Services whose selector picks the pods of workload `o`. */
export function servicesOf(objs: K8sObject[], o: K8sObject): K8sObject[] {
  const { labels } = podTemplate(o);
  return objs.filter(
    (s) => s.kind === 'Service' && selects((s.spec['selector'] ?? {}) as Record<string, string>, labels),
  );
}

/** What kubelet knows about a pod when it builds the container's environment (the downward API). */
export interface PodFacts {
  podName: string;
  podIP: string;
  nodeName: string;
  hostIP: string;
  namespace: string;
  /** secretKeyRef values, by "<secret>/<key>". */
  secrets?: Record<string, string>;
}

const FIELD_PATHS: Record<string, (p: PodFacts) => string> = {
  'metadata.name': (p) => p.podName,
  'metadata.namespace': (p) => p.namespace,
  'spec.nodeName': (p) => p.nodeName,
  'status.hostIP': (p) => p.hostIP,
  'status.podIP': (p) => p.podIP,
};

/**
 * Kubelet's expansion of `$(VAR)` in env values, command and args: `$(NAME)` of a defined variable
 * becomes its value, `$$` a single `$`, and a reference to an undefined variable stays as written
 * (Kubernetes does not fail on it, which is why the tests look for leftovers).
 */
export function expand(input: string, vars: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i] as string;
    const next = input[i + 1];
    if (ch !== '$' || next === undefined) {
      out += ch;
    } else if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(' && input.indexOf(')', i + 2) >= 0) {
      const close = input.indexOf(')', i + 2);
      const name = input.slice(i + 2, close);
      out += Object.hasOwn(vars, name) ? vars[name] : `$(${name})`;
      i = close;
    } else {
      out += ch;
    }
  }
  return out;
}

/** The container's environment as kubelet sets it: in order, each value expanded with the ones before. */
export function containerEnv(c: Container, pod: PodFacts): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = expand(e.value, env);
    else if (e.valueFrom?.fieldRef) {
      const get = FIELD_PATHS[e.valueFrom.fieldRef.fieldPath];
      if (!get) throw new Error(`env ${e.name}: unsupported fieldPath ${e.valueFrom.fieldRef.fieldPath}`);
      env[e.name] = get(pod);
    } else if (e.valueFrom?.secretKeyRef) {
      const { name, key } = e.valueFrom.secretKeyRef;
      const v = pod.secrets?.[`${name}/${key}`];
      if (v === undefined) throw new Error(`env ${e.name}: no secret ${name}/${key} given`);
      env[e.name] = v;
    } else {
      throw new Error(`env ${e.name}: neither value nor a supported valueFrom`);
    }
  }
  return env;
}

/** The container's args after expansion (no `command` in our manifests: the image's entrypoint runs them). */
export function containerArgs(c: Container, pod: PodFacts): string[] {
  if (c.command) throw new Error(`container ${c.name}: a command would replace the image's entrypoint`);
  const env = containerEnv(c, pod);
  return (c.args ?? []).map((a) => expand(a, env));
}

/** A probe's (or Service targetPort's) port, named or numbered, as a number of the container's. */
export function resolvePort(c: Container, port: number | string): number | undefined {
  if (typeof port === 'number') return c.ports?.some((p) => p.containerPort === port) ? port : undefined;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}
