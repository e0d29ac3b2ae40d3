// -docker-sync's pure parts: container inspect data -> service definitions (Registrator's label
// conventions), the reconcile plan, DOCKER_HOST forms and the config keys. No Docker needed.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServiceDefinition } from '../../src/agent/local/definitions.js';
import { parseDockerHost, parseEvent } from '../../src/agent/docker/engine-api.js';
import { planReconcile, type CurrentService } from '../../src/agent/docker/reconcile.js';
import {
  containerServices,
  imageBaseName,
  toInspect,
  type ContainerInspect,
} from '../../src/agent/docker/services.js';
import { validateConfig } from '../../src/config/config.js';
import { loadAgentConfig } from '../../src/config/load.js';

const ID = 'a'.repeat(64);
const ctx = { nodeName: 'node1', advertise: '10.0.0.5' };

function container(
  over: {
    name?: string;
    image?: string;
    labels?: Record<string, string>;
    ports?: ContainerInspect['Ports'];
    running?: boolean;
    paused?: boolean;
    id?: string;
  } = {},
): ContainerInspect {
  return {
    Id: over.id ?? ID,
    Name: `/${over.name ?? 'web-1'}`,
    Config: { Image: over.image ?? 'registry.local:5000/team/web:1.2', Labels: over.labels ?? {} },
    State: { Running: over.running ?? true, Paused: over.paused ?? false, Restarting: false },
    Ports: over.ports ?? { '8080/tcp': [{ HostIp: '0.0.0.0', HostPort: '32768' }] },
  };
}

const map = (c: ContainerInspect) => containerServices(c, ctx);

describe('container -> services (Registrator conventions)', () => {
  it('one published port: the image base name, the advertise address for 0.0.0.0, the marks in Meta', () => {
    const { services, warnings } = map(container());
    expect(warnings).toEqual([]);
    expect(services).toEqual([
      {
        ID: 'node1:web-1:8080',
        Name: 'web',
        Tags: [],
        Address: '10.0.0.5',
        Port: 32768,
        Meta: { 'external-source': 'docker', 'docker-container-id': ID },
        Checks: [],
      },
    ]);
    // Every definition is one the agent API accepts.
    for (const s of services) expect(parseServiceDefinition(s).service.ID).toBe(s.ID);
  });

  it('takes the image base name without registry, path, tag or digest', () => {
    expect(imageBaseName('redis', 'c')).toBe('redis');
    expect(imageBaseName('redis:7-alpine', 'c')).toBe('redis');
    expect(imageBaseName('docker.io/library/redis:7', 'c')).toBe('redis');
    expect(imageBaseName('registry.local:5000/team/api', 'c')).toBe('api');
    expect(imageBaseName('registry.local:5000/team/api:2@sha256:' + 'f'.repeat(64), 'c')).toBe('api');
    expect(imageBaseName('sha256:' + 'f'.repeat(64), 'c')).toBe('c');
    expect(imageBaseName('', 'c')).toBe('c');
  });

  it('several published ports: <image>-<port> each, in port order; exposed-only ports are left out', () => {
    const { services } = map(
      container({
        ports: {
          '9090/tcp': [{ HostIp: '0.0.0.0', HostPort: '40001' }],
          '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '40000' }],
          '5000/tcp': null,
          '6000/tcp': [],
        },
      }),
    );
    expect(services.map((s) => [s.ID, s.Name, s.Port])).toEqual([
      ['node1:web-1:80', 'web-80', 40000],
      ['node1:web-1:9090', 'web-9090', 40001],
    ]);
  });

  it('SERVICE_NAME names every port (no suffix); SERVICE_<port>_NAME wins for its port', () => {
    const ports = {
      '80/tcp': [{ HostIp: '', HostPort: '40000' }],
      '443/tcp': [{ HostIp: '', HostPort: '40001' }],
      '9000/tcp': [{ HostIp: '', HostPort: '40002' }],
    };
    const { services } = map(
      container({ ports, labels: { SERVICE_NAME: 'shop', SERVICE_443_NAME: 'shop-tls' } }),
    );
    expect(services.map((s) => s.Name)).toEqual(['shop', 'shop-tls', 'shop']);
    const only = map(container({ ports, labels: { SERVICE_9000_NAME: 'metrics' } })).services;
    expect(only.map((s) => s.Name)).toEqual(['web-80', 'web-443', 'metrics']);
  });

  it('tags: SERVICE_TAGS comma-separated, SERVICE_<port>_TAGS replaces them for its port', () => {
    const ports = {
      '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '40000' }],
      '81/tcp': [{ HostIp: '0.0.0.0', HostPort: '40001' }],
    };
    const { services } = map(
      container({ ports, labels: { SERVICE_TAGS: ' a, b ,,c', SERVICE_81_TAGS: 'admin' } }),
    );
    expect(services.map((s) => s.Tags)).toEqual([['a', 'b', 'c'], ['admin']]);
  });

  it('SERVICE_IGNORE skips the container, SERVICE_<port>_IGNORE one port; "false" does not ignore', () => {
    const ports = {
      '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '40000' }],
      '81/tcp': [{ HostIp: '0.0.0.0', HostPort: '40001' }],
    };
    expect(map(container({ ports, labels: { SERVICE_IGNORE: 'true' } })).services).toEqual([]);
    expect(map(container({ ports, labels: { SERVICE_IGNORE: 'yes' } })).services).toEqual([]);
    expect(map(container({ ports, labels: { SERVICE_81_IGNORE: '1' } })).services.map((s) => s.ID)).toEqual([
      'node1:web-1:80',
    ]);
    expect(map(container({ ports, labels: { SERVICE_IGNORE: 'false' } })).services).toHaveLength(2);
    // A port-specific label wins over the container-wide one.
    const back = map(container({ ports, labels: { SERVICE_IGNORE: 'true', SERVICE_80_IGNORE: 'false' } }));
    expect(back.services.map((s) => s.ID)).toEqual(['node1:web-1:80']);
  });

  it('other SERVICE_* labels become Meta with lower-cased keys; unusable keys are left out with a warning', () => {
    const ports = {
      '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '40000' }],
      '81/tcp': [{ HostIp: '0.0.0.0', HostPort: '40001' }],
    };
    const { services, warnings } = map(
      container({
        ports,
        labels: {
          SERVICE_REGION: 'eu1',
          SERVICE_81_REGION: 'eu2',
          SERVICE_OWNER_TEAM: 'core',
          'SERVICE_BAD.KEY': 'x',
          SERVICE_CONSUL_X: 'fine', // consul_x, not the reserved "consul-" prefix
          'SERVICE_CONSUL-Y': 'reserved',
          OTHER_LABEL: 'not ours',
          'com.example.label': 'not ours',
        },
      }),
    );
    expect(services[0]?.Meta).toEqual({
      region: 'eu1',
      owner_team: 'core',
      consul_x: 'fine',
      'external-source': 'docker',
      'docker-container-id': ID,
    });
    expect(services[1]?.Meta['region']).toBe('eu2');
    expect(warnings).toEqual([
      'container web-1: label key "bad.key" cannot be a service Meta key; left out',
      'container web-1: label key "consul-y" cannot be a service Meta key; left out',
    ]);
    for (const s of services) expect(() => parseServiceDefinition(s)).not.toThrow();
  });

  it('UDP ports: ":udp" ID suffix and a udp tag; the same port over TCP and UDP are two services', () => {
    const { services } = map(
      container({
        image: 'coredns/coredns:1.11',
        name: 'dns',
        labels: { SERVICE_TAGS: 'primary' },
        ports: {
          '53/udp': [{ HostIp: '0.0.0.0', HostPort: '5353' }],
          '53/tcp': [{ HostIp: '0.0.0.0', HostPort: '5353' }],
        },
      }),
    );
    expect(services.map((s) => [s.ID, s.Name, s.Tags])).toEqual([
      ['node1:dns:53', 'coredns-53', ['primary']],
      ['node1:dns:53:udp', 'coredns-53', ['primary', 'udp']],
    ]);
  });

  it('Address: a specific HostIp is kept; 0.0.0.0, :: and "" mean the advertise address; one service per port', () => {
    const one = (bindings: { HostIp: string; HostPort: string }[]) =>
      map(container({ ports: { '80/tcp': bindings } })).services;
    expect(one([{ HostIp: '127.0.0.1', HostPort: '8081' }])[0]).toMatchObject({
      Address: '127.0.0.1',
      Port: 8081,
    });
    expect(one([{ HostIp: '::', HostPort: '8082' }])[0]?.Address).toBe('10.0.0.5');
    expect(one([{ HostIp: '', HostPort: '8083' }])[0]?.Address).toBe('10.0.0.5');
    // Docker's usual pair (IPv6 first here): one service, from the IPv4 binding.
    const pair = one([
      { HostIp: '::', HostPort: '8084' },
      { HostIp: '0.0.0.0', HostPort: '8084' },
    ]);
    expect(pair).toHaveLength(1);
    expect(pair[0]?.Port).toBe(8084);
    expect(one([{ HostIp: 'fd00::7', HostPort: '8085' }])[0]?.Address).toBe('fd00::7');
    // A binding without a usable host port is not a published port.
    expect(one([{ HostIp: '0.0.0.0', HostPort: '' }])).toEqual([]);
  });

  it('nothing for a container that is not running; a paused one keeps its services', () => {
    expect(map(container({ running: false })).services).toEqual([]);
    expect(map(container({ paused: true })).services).toHaveLength(1);
    expect(map(container({ ports: {} })).services).toEqual([]);
  });

  it('check labels: SERVICE_CHECK_HTTP and SERVICE_CHECK_TCP at the service address, 10s by default', () => {
    const [http] = map(container({ labels: { SERVICE_CHECK_HTTP: '/health' } })).services;
    expect(http?.Checks).toEqual([{ HTTP: 'http://10.0.0.5:32768/health', Interval: '10s' }]);
    const [tcp] = map(
      container({
        labels: { SERVICE_CHECK_TCP: 'true', SERVICE_CHECK_INTERVAL: '3s', SERVICE_CHECK_TIMEOUT: '1s' },
      }),
    ).services;
    expect(tcp?.Checks).toEqual([{ TCP: '10.0.0.5:32768', Interval: '3s', Timeout: '1s' }]);
    const [both] = map(
      container({
        labels: {
          SERVICE_CHECK_HTTP: 'ready',
          SERVICE_CHECK_TCP: '1',
          SERVICE_CHECK_INITIAL_STATUS: 'passing',
        },
        ports: { '80/tcp': [{ HostIp: '::1', HostPort: '9000' }] },
      }),
    ).services;
    expect(both?.Checks).toEqual([
      { HTTP: 'http://[::1]:9000/ready', Interval: '10s', Status: 'passing' },
      { TCP: '[::1]:9000', Interval: '10s', Status: 'passing' },
    ]);
    // The agent API takes them as HTTP and TCP checks with Consul's default IDs.
    const parsed = parseServiceDefinition(both);
    expect(parsed.checks.map((c) => [c.CheckID, c.kind, c.IntervalMs, c.Status])).toEqual([
      ['service:node1:web-1:80:1', 'http', 10_000, 'passing'],
      ['service:node1:web-1:80:2', 'tcp', 10_000, 'passing'],
    ]);
    expect(map(container({ labels: { SERVICE_CHECK_TCP: 'false' } })).services[0]?.Checks).toEqual([]);
  });

  it('refuses unusable check labels with a warning and registers the service without them', () => {
    const bad = map(container({ labels: { SERVICE_CHECK_HTTP: '/', SERVICE_CHECK_INTERVAL: 'often' } }));
    expect(bad.services[0]?.Checks).toEqual([]);
    expect(bad.warnings).toEqual([
      'container web-1: SERVICE_CHECK_INTERVAL "often" is not a duration like "10s"; no check',
    ]);
    const script = map(container({ labels: { SERVICE_CHECK_SCRIPT: 'curl x', SERVICE_CHECK_TTL: '30s' } }));
    expect(script.services[0]?.Checks).toEqual([]);
    expect(script.warnings).toHaveLength(2);
    expect(script.services[0]?.Meta).not.toHaveProperty('check_script');
    const udp = map(
      container({
        labels: { SERVICE_CHECK_TCP: 'true' },
        ports: { '53/udp': [{ HostIp: '0.0.0.0', HostPort: '53' }] },
      }),
    );
    expect(udp.services[0]?.Checks).toEqual([]);
    expect(udp.warnings[0]).toMatch(/need a TCP port/);
    expect(map(container({ labels: { SERVICE_ID: 'x' } })).warnings[0]).toMatch(
      /SERVICE_ID is not supported/,
    );
  });

  it('reads inspect JSON defensively', () => {
    const c = toInspect({
      Id: ID,
      Name: '/x',
      Config: { Image: 'nginx', Labels: null },
      State: { Running: true },
      NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '1' }], '81/tcp': null } },
    });
    expect(c).toEqual({
      Id: ID,
      Name: '/x',
      Config: { Image: 'nginx', Labels: {} },
      State: { Running: true, Paused: false, Restarting: false },
      Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '1' }], '81/tcp': null },
    });
    expect(() => toInspect({ message: 'No such container' })).toThrow('no Id');
    expect(() => toInspect('nope')).toThrow('no Id');
  });
});

describe('reconcile plan', () => {
  const parsedOf = (c: ContainerInspect) => map(c).services.map((s) => parseServiceDefinition(s));
  const current = (c: ContainerInspect): CurrentService[] =>
    parsedOf(c).map((d) => ({ service: d.service, checks: d.checks }));
  const other = 'b'.repeat(64);
  const a = container();
  const b = container({ id: other, name: 'api-1', image: 'api', labels: { SERVICE_CHECK_HTTP: '/h' } });
  const manual: CurrentService = {
    service: parseServiceDefinition({ Name: 'hand-made', Port: 1 }).service,
    checks: [],
  };

  it('registers what is new, leaves what is the same, deregisters docker services nobody stands for', () => {
    expect(planReconcile(parsedOf(a), [])).toEqual({ register: ['node1:web-1:8080'], deregister: [] });
    expect(planReconcile(parsedOf(a), [...current(a), manual])).toEqual({ register: [], deregister: [] });
    // b stopped (or gone before a restart): its service goes; the hand-made one is never touched.
    expect(planReconcile(parsedOf(a), [...current(a), ...current(b), manual])).toEqual({
      register: [],
      deregister: ['node1:api-1:8080'],
    });
    expect(planReconcile([], [manual])).toEqual({ register: [], deregister: [] });
  });

  it('registers again when tags, port, address, meta or checks changed', () => {
    const changed = [
      container({ labels: { SERVICE_TAGS: 'x' } }),
      container({ ports: { '8080/tcp': [{ HostIp: '0.0.0.0', HostPort: '1' }] } }),
      container({ ports: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '32768' }] } }),
      container({ labels: { SERVICE_VERSION: '2' } }),
      container({ labels: { SERVICE_CHECK_TCP: 'true' } }),
      container({ labels: { SERVICE_NAME: 'www' } }),
    ];
    for (const c of changed)
      expect(planReconcile(parsedOf(c), current(a))).toEqual({
        register: ['node1:web-1:8080'],
        deregister: [],
      });
    const slower = container({
      id: other,
      name: 'api-1',
      image: 'api',
      labels: { SERVICE_CHECK_HTTP: '/h', SERVICE_CHECK_INTERVAL: '20s' },
    });
    expect(planReconcile(parsedOf(slower), current(b)).register).toEqual(['node1:api-1:8080']);
    expect(planReconcile(parsedOf(b), current(b)).register).toEqual([]);
  });

  it("one container's plan touches only that container's services", () => {
    const have = [...current(a), ...current(b), manual];
    // a's die event: a's services go, b's stay although the desired list is empty.
    expect(planReconcile([], have, ID)).toEqual({ register: [], deregister: ['node1:web-1:8080'] });
    // a container re-created under the same name (new ID): its service is replaced, not removed
    // when the old container's destroy event comes afterwards.
    const renewed = container({ id: 'c'.repeat(64) });
    expect(planReconcile(parsedOf(renewed), have, 'c'.repeat(64))).toEqual({
      register: ['node1:web-1:8080'],
      deregister: [],
    });
    const after = [...current(renewed), ...current(b)];
    expect(planReconcile([], after, ID)).toEqual({ register: [], deregister: [] });
  });
});

describe('Docker endpoint, events and configuration', () => {
  it('takes unix:///path, a bare path and tcp://host[:port]; refuses the rest', () => {
    expect(parseDockerHost('unix:///var/run/docker.sock')).toEqual({ socketPath: '/var/run/docker.sock' });
    expect(parseDockerHost('/run/user/1000/docker.sock')).toEqual({
      socketPath: '/run/user/1000/docker.sock',
    });
    expect(parseDockerHost('tcp://10.0.0.1:2376')).toEqual({ host: '10.0.0.1', port: 2376 });
    expect(parseDockerHost('tcp://docker')).toEqual({ host: 'docker', port: 2375 });
    expect(parseDockerHost('tcp://[::1]:2375')).toEqual({ host: '::1', port: 2375 });
    expect(() => parseDockerHost('unix://relative.sock')).toThrow('must be absolute');
    expect(() => parseDockerHost('ssh://me@host')).toThrow('only unix:///path and tcp://host:port');
    expect(() => parseDockerHost('npipe:////./pipe/docker_engine')).toThrow('only unix');
    expect(() => parseDockerHost('tcp://host:2375/path')).toThrow('is not tcp://host:port');
  });

  it('reads container events of current and older daemons; skips the rest', () => {
    expect(parseEvent(JSON.stringify({ Type: 'container', Action: 'start', Actor: { ID: 'x' } }))).toEqual({
      action: 'start',
      id: 'x',
    });
    expect(parseEvent(JSON.stringify({ status: 'die', id: 'y' }))).toEqual({ action: 'die', id: 'y' });
    expect(parseEvent(JSON.stringify({ Type: 'network', Action: 'connect', Actor: { ID: 'n' } }))).toBeNull();
    expect(parseEvent('{not json')).toBeNull();
    expect(parseEvent('42')).toBeNull();
  });

  it('-docker-sync, -docker-host, docker_sync {} and DOCKER_HOST; bad values refused with one line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'consulate-dsync-'));
    try {
      const load = (args: string[], env: NodeJS.ProcessEnv = {}) => {
        const c = loadAgentConfig(['-dev', '-node=n', ...args], env);
        validateConfig(c);
        return c.dockerSync;
      };
      expect(load([])).toEqual({
        enabled: false,
        host: 'unix:///var/run/docker.sock',
        resyncIntervalMs: 30_000,
      });
      expect(load(['-docker-sync'], { DOCKER_HOST: 'tcp://10.1.1.1:2375' })).toEqual({
        enabled: true,
        host: 'tcp://10.1.1.1:2375',
        resyncIntervalMs: 30_000,
      });
      expect(load(['-docker-sync', '-docker-host=unix:///x.sock'], { DOCKER_HOST: 'tcp://h' }).host).toBe(
        'unix:///x.sock',
      );
      const f = join(dir, 'd.json');
      writeFileSync(
        f,
        JSON.stringify({ docker_sync: { enabled: true, host: '/s.sock', resync_interval: '5s' } }),
      );
      expect(load([`-config-file=${f}`], { DOCKER_HOST: 'tcp://h' })).toEqual({
        enabled: true,
        host: '/s.sock',
        resyncIntervalMs: 5000,
      });
      writeFileSync(f, JSON.stringify({ docker_sync: { enabled: true, resync_interval: '0s' } }));
      expect(load([`-config-file=${f}`]).resyncIntervalMs).toBe(0);
      // A bad DOCKER_HOST matters only when -docker-sync is on.
      expect(load([], { DOCKER_HOST: 'ssh://x' }).enabled).toBe(false);
      expect(() => load(['-docker-sync'], { DOCKER_HOST: 'ssh://x' })).toThrow(
        'docker host (-docker-host, docker_sync.host, DOCKER_HOST): "ssh://x": only unix:///path and tcp://host:port are supported',
      );
      expect(() => load(['-docker-sync=maybe'])).toThrow('expected true or false');
      writeFileSync(f, JSON.stringify({ docker_sync: { enabled: true, resync_interval: '10ms' } }));
      expect(() => load([`-config-file=${f}`])).toThrow('resync_interval must be 0 (off) or at least 1s');
      writeFileSync(f, JSON.stringify({ docker_sync: { enable: true } }));
      expect(() => load([`-config-file=${f}`])).toThrow('unknown key "enable"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
