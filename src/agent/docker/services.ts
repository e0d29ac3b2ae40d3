// Which agent services a Docker container stands for (-docker-sync): pure, from the container's
// inspect data, with Registrator's conventions so that containers labelled for Registrator work
// unchanged. One service per published port (a host port binding); container labels SERVICE_<KEY>
// apply to every port of the container, SERVICE_<port>_<KEY> to one port and win over the former.
// The result is a service definition in the agent API's JSON shape: it is registered through the
// same path as PUT /v1/agent/service/register (definitions.ts validates it).

import { parseDuration } from '../../core/duration.js';

/** What -docker-sync reads from GET /containers/:id/json. */
export interface ContainerInspect {
  Id: string;
  /** "/web-1": Docker puts a slash in front. */
  Name: string;
  Config: { Image: string; Labels: Record<string, string> };
  State: { Running: boolean; Paused: boolean; Restarting: boolean };
  /** "8080/tcp" -> host bindings; null when the port is exposed but not published. */
  Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
}

/** A service definition as PUT /v1/agent/service/register takes it. */
export interface DockerServiceDef {
  ID: string;
  Name: string;
  Tags: string[];
  Address: string;
  Port: number;
  Meta: Record<string, string>;
  Checks: DockerCheckDef[];
}

export interface DockerCheckDef {
  HTTP?: string;
  TCP?: string;
  Interval: string;
  Timeout?: string;
  Status?: string;
}

export interface MapContext {
  /** The agent's node name: the first part of every service ID (Registrator used the host name). */
  nodeName: string;
  /** The agent's advertise address: the address of ports bound to every interface. */
  advertise: string;
}

export interface Mapped {
  services: DockerServiceDef[];
  /** Labels that could not be used, one line each, for the log. */
  warnings: string[];
}

/** Marks the services -docker-sync owns: it adds, changes and removes only those. */
export const EXTERNAL_SOURCE = 'docker';
export const META_SOURCE = 'external-source';
export const META_CONTAINER = 'docker-container-id';

/** Registrator's default check interval. */
export const DEFAULT_CHECK_INTERVAL = '10s';

const ANY_ADDRESS = new Set(['', '0.0.0.0', '::', '[::]']);
const META_KEY = /^[a-z0-9_-]{1,128}$/;
/** Label keys (lower-cased, port taken off) that configure the service rather than its Meta. */
const RESERVED = new Set(['name', 'tags', 'ignore', 'id']);
const CHECK_KEYS = new Set([
  'check_http',
  'check_tcp',
  'check_interval',
  'check_timeout',
  'check_initial_status',
]);
const LABEL = /^SERVICE_(?:(\d{1,5})_)?(.+)$/;

// ---------------------------------------------------------------- the inspect JSON

function record(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(record(v))) if (typeof x === 'string') out[k] = x;
  return out;
}

/**
 * The parts of an inspect answer that -docker-sync uses, checked: a daemon (or anything else on the
 * socket) that answers something else gives an error, never a half-read container.
 */
export function toInspect(json: unknown): ContainerInspect {
  const o = record(json);
  const id = o['Id'];
  if (typeof id !== 'string' || id === '') throw new Error('container inspect: no Id');
  const config = record(o['Config']);
  const state = record(o['State']);
  const ports: ContainerInspect['Ports'] = {};
  for (const [k, v] of Object.entries(record(record(o['NetworkSettings'])['Ports']))) {
    if (!Array.isArray(v)) {
      ports[k] = null;
      continue;
    }
    ports[k] = v.map((b) => {
      const r = record(b);
      return {
        HostIp: typeof r['HostIp'] === 'string' ? r['HostIp'] : '',
        HostPort: typeof r['HostPort'] === 'string' ? r['HostPort'] : '',
      };
    });
  }
  return {
    Id: id,
    Name: typeof o['Name'] === 'string' ? o['Name'] : '',
    Config: {
      Image: typeof config['Image'] === 'string' ? config['Image'] : '',
      Labels: stringMap(config['Labels']),
    },
    State: {
      Running: state['Running'] === true,
      Paused: state['Paused'] === true,
      Restarting: state['Restarting'] === true,
    },
    Ports: ports,
  };
}

// ---------------------------------------------------------------- names

/**
 * The image's base name: no registry, no path, no tag, no digest
 * ("registry:5000/team/redis:7@sha256:..." -> "redis"). An image given by ID has no name: the
 * container's name stands in.
 */
export function imageBaseName(image: string, containerName: string): string {
  const noDigest = image.split('@')[0] ?? '';
  const last = noDigest.slice(noDigest.lastIndexOf('/') + 1);
  const colon = last.indexOf(':');
  const base = colon >= 0 ? last.slice(0, colon) : last;
  if (base === '' || base === 'sha256' || /^[0-9a-f]{64}$/.test(base)) return containerName;
  return base;
}

function commaList(s: string): string[] {
  return s
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

/** A label value that turns something on: any value but "", "false" and "0". */
function truthy(v: string | undefined): boolean {
  if (v === undefined) return false;
  const s = v.trim().toLowerCase();
  return s !== '' && s !== 'false' && s !== '0';
}

// ---------------------------------------------------------------- the mapping

interface Published {
  port: number;
  proto: string;
  hostIp: string;
  hostPort: number;
}

/** One entry per container port with a usable host binding, in port order (tcp before udp). */
function publishedPorts(ports: ContainerInspect['Ports']): Published[] {
  const out: Published[] = [];
  for (const [key, bindings] of Object.entries(ports)) {
    const m = /^(\d{1,5})(?:\/([a-z]+))?$/.exec(key);
    if (!m || !bindings) continue;
    const usable = bindings
      .map((b) => ({ hostIp: b.HostIp, hostPort: /^\d{1,5}$/.test(b.HostPort) ? Number(b.HostPort) : 0 }))
      .filter((b) => b.hostPort > 0 && b.hostPort <= 65535);
    // Docker binds a port on 0.0.0.0 and :: alike: one service per container port, the IPv4 binding first.
    const pick = usable.find((b) => !b.hostIp.includes(':')) ?? usable[0];
    if (!pick) continue;
    out.push({ port: Number(m[1]), proto: m[2] ?? 'tcp', ...pick });
  }
  return out.sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
}

/** SERVICE_* labels: those for every port, and per port number. Keys lower-cased. */
function labelMetadata(labels: Record<string, string>): {
  all: Record<string, string>;
  byPort: Map<number, Record<string, string>>;
} {
  const all: Record<string, string> = {};
  const byPort = new Map<number, Record<string, string>>();
  for (const [label, value] of Object.entries(labels)) {
    const m = LABEL.exec(label);
    if (!m) continue;
    const key = (m[2] as string).toLowerCase();
    if (m[1] === undefined) {
      all[key] = value;
      continue;
    }
    const port = Number(m[1]);
    const md = byPort.get(port) ?? {};
    md[key] = value;
    byPort.set(port, md);
  }
  return { all, byPort };
}

/** "host:port" for a TCP check and the authority of an HTTP check's URL. */
function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function checks(
  md: Record<string, string>,
  svc: { address: string; port: number; proto: string },
  warn: (msg: string) => void,
): DockerCheckDef[] {
  const http = md['check_http'];
  const tcp = truthy(md['check_tcp']);
  for (const k of Object.keys(md)) {
    if (k.startsWith('check_') && !CHECK_KEYS.has(k))
      warn(`SERVICE_${k.toUpperCase()} is not supported (only CHECK_HTTP and CHECK_TCP checks)`);
  }
  if (http === undefined && !tcp) return [];
  if (svc.proto !== 'tcp') {
    warn(`port ${svc.port}/${svc.proto}: HTTP and TCP checks need a TCP port; no check`);
    return [];
  }
  const interval = md['check_interval']?.trim() || DEFAULT_CHECK_INTERVAL;
  const ms = parseDuration(interval);
  if (ms === undefined || ms <= 0) {
    warn(`SERVICE_CHECK_INTERVAL "${interval}" is not a duration like "10s"; no check`);
    return [];
  }
  const base: DockerCheckDef = { Interval: interval };
  const timeout = md['check_timeout']?.trim();
  if (timeout) {
    const t = parseDuration(timeout);
    if (t === undefined || t <= 0) {
      warn(`SERVICE_CHECK_TIMEOUT "${timeout}" is not a duration like "2s"; no check`);
      return [];
    }
    base.Timeout = timeout;
  }
  const status = md['check_initial_status']?.trim().toLowerCase();
  if (status) {
    if (status === 'passing' || status === 'warning' || status === 'critical') base.Status = status;
    else warn(`SERVICE_CHECK_INITIAL_STATUS "${status}" is not passing, warning or critical; ignored`);
  }
  const out: DockerCheckDef[] = [];
  if (http !== undefined) {
    const path = http.trim().startsWith('/') ? http.trim() : `/${http.trim()}`;
    out.push({ ...base, HTTP: `http://${hostPort(svc.address, svc.port)}${path}` });
  }
  if (tcp) out.push({ ...base, TCP: hostPort(svc.address, svc.port) });
  return out;
}

/**
 * The services a container stands for: none unless it runs (a paused container keeps its
 * services, as with Registrator: a check, if any, reports it), one per published port.
 */
export function containerServices(c: ContainerInspect, ctx: MapContext): Mapped {
  const warnings: string[] = [];
  if (!c.State.Running || c.State.Restarting) return { services: [], warnings };
  const containerName = c.Name.replace(/^\//, '') || c.Id.slice(0, 12);
  const published = publishedPorts(c.Ports);
  const { all, byPort } = labelMetadata(c.Config.Labels);
  const image = imageBaseName(c.Config.Image, containerName);
  const services: DockerServiceDef[] = [];
  for (const p of published) {
    const own = byPort.get(p.port) ?? {};
    const md = { ...all, ...own };
    if (truthy(md['ignore'])) continue;
    const warn = (msg: string): void => void warnings.push(`container ${containerName}: ${msg}`);
    if (md['id'] !== undefined) warn('SERVICE_ID is not supported: IDs are <node>:<container>:<port>');
    const name = md['name']?.trim() || (published.length > 1 ? `${image}-${p.port}` : image) || containerName;
    const tags = commaList(md['tags'] ?? '');
    // Registrator's marks of a UDP port: an ID suffix and a tag.
    if (p.proto !== 'tcp' && !tags.includes(p.proto)) tags.push(p.proto);
    const address = ANY_ADDRESS.has(p.hostIp) ? ctx.advertise : p.hostIp;
    const meta: Record<string, string> = {};
    for (const [k, v] of Object.entries(md)) {
      if (RESERVED.has(k) || k.startsWith('check_')) continue;
      if (!META_KEY.test(k) || k.startsWith('consul-')) {
        warn(`label key "${k}" cannot be a service Meta key; left out`);
        continue;
      }
      if (v.length > 512) {
        warn(`label "${k}" is longer than 512 characters; left out of Meta`);
        continue;
      }
      meta[k] = v;
    }
    meta[META_SOURCE] = EXTERNAL_SOURCE;
    meta[META_CONTAINER] = c.Id;
    if (Object.keys(meta).length > 64) {
      warn('more than 62 SERVICE_* Meta labels; the service is not registered');
      continue;
    }
    services.push({
      ID: `${ctx.nodeName}:${containerName}:${p.port}${p.proto === 'tcp' ? '' : `:${p.proto}`}`,
      Name: name,
      Tags: tags,
      Address: address,
      Port: p.hostPort,
      Meta: meta,
      Checks: checks(md, { address, port: p.hostPort, proto: p.proto }, warn),
    });
  }
  return { services, warnings: [...new Set(warnings)] };
}
