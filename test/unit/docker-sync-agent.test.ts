// -docker-sync against a fake Docker Engine API on a unix socket (test/support/fake-docker.ts): an
// in-process dev agent registers the fake's containers as services (/v1/agent/services, the
// catalog through anti-entropy, an HTTP check from a label), follows start and die events, runs on
// while the socket is absent or gone, and resyncs fully once it is back. Then the connection's
// logging: one line per state change, however many retries.

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerSync, type DockerSyncTarget } from '../../src/agent/docker/docker-sync.js';
import { DockerApi } from '../../src/agent/docker/engine-api.js';
import type { CurrentService } from '../../src/agent/docker/reconcile.js';
import type { DockerServiceDef } from '../../src/agent/docker/services.js';
import { parseServiceDefinition } from '../../src/agent/local/definitions.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { FakeDocker } from '../support/fake-docker.js';

const dir = mkdtempSync(join(tmpdir(), 'consulate-fake-docker-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function eventually<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

describe('an agent with -docker-sync and a fake Docker engine', () => {
  const fake = new FakeDocker(join(dir, 'docker.sock'));
  let dev: DevAgent;
  let health: Server;
  let healthPort = 0;
  const get = async <T>(path: string): Promise<T> => (await (await dev.app.request(path)).json()) as T;
  const agentServices = (): Promise<Record<string, { Service: string; Port: number; Tags: string[] }>> =>
    get('/v1/agent/services');
  const catalog = (name: string): Promise<Record<string, unknown>[]> => get(`/v1/catalog/service/${name}`);

  beforeAll(async () => {
    // What a container's HTTP check reaches: a real listener on the "host port".
    health = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => health.listen(0, '127.0.0.1', () => r()));
    healthPort = (health.address() as AddressInfo).port;
    // The agent starts before the fake daemon: the socket is absent at first.
    dev = await startDevAgent((c) => {
      c.dockerSync = { enabled: true, host: `unix://${fake.socketPath}`, resyncIntervalMs: 0 };
    });
  });
  afterAll(async () => {
    await dev?.stop();
    await fake.stop();
    await new Promise((r) => health.close(r));
  });

  it('runs on without the socket; once Docker answers, registers its containers and removes stale ones', async () => {
    // Left from "before a restart": a docker-marked service no container stands for.
    const stale = {
      ID: 'test-node:gone:80',
      Name: 'gone',
      Port: 80,
      Meta: { 'external-source': 'docker', 'docker-container-id': 'd'.repeat(64) },
    };
    const manual = { Name: 'manual', Port: 1 };
    for (const body of [stale, manual]) {
      const r = await dev.app.request('/v1/agent/service/register', {
        method: 'PUT',
        body: JSON.stringify(body),
      });
      expect(r.status).toBe(200);
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(dev.agent.dockerSync?.connected()).toBe(false);

    fake.add({
      id: A,
      name: 'web-1',
      image: 'registry.local/team/web:3',
      labels: { SERVICE_NAME: 'web', SERVICE_TAGS: 'blue,v3', SERVICE_REGION: 'eu1' },
      ports: { '8080/tcp': ['0.0.0.0', 32770] },
    });
    fake.add({ id: 'e'.repeat(64), name: 'exited', image: 'x', ports: { '1/tcp': ['', 1] }, running: false });
    await fake.start();

    const services = await eventually('web registered, the stale service gone', async () => {
      const s = await agentServices();
      return s['test-node:web-1:8080'] && !s['test-node:gone:80'] ? s : null;
    });
    expect(Object.keys(services).sort()).toEqual(['manual', 'test-node:web-1:8080']);
    const inCatalog = await eventually('web in the catalog', async () => {
      const list = await catalog('web');
      return list.length === 1 ? list : null;
    });
    expect(inCatalog[0]).toMatchObject({
      ServiceID: 'test-node:web-1:8080',
      ServiceName: 'web',
      ServiceAddress: '127.0.0.1',
      ServicePort: 32770,
      ServiceTags: ['blue', 'v3'],
      ServiceMeta: { 'external-source': 'docker', 'docker-container-id': A, region: 'eu1' },
    });
    await eventually(
      'the stale service out of the catalog',
      async () => (await catalog('gone')).length === 0,
    );
  });

  it('follows events: start registers (with its HTTP check), die deregisters; other services stay', async () => {
    fake.add({
      id: B,
      name: 'api-1',
      image: 'api:1',
      labels: { SERVICE_CHECK_HTTP: '/health', SERVICE_CHECK_INTERVAL: '1s' },
      ports: { '9000/tcp': ['127.0.0.1', healthPort] },
    });
    fake.emit('start', B);
    await eventually('api passing', async () => {
      const h = await get<{ Service: { ID: string }; Checks: { Status: string }[] }[]>(
        '/v1/health/service/api?passing',
      );
      return h.length === 1 && h[0]?.Service.ID === 'test-node:api-1:9000' ? h : null;
    });
    const checks =
      await get<Record<string, { ServiceID: string; Type: string; Status: string }>>('/v1/agent/checks');
    expect(checks['service:test-node:api-1:9000']).toMatchObject({ Type: 'http', Status: 'passing' });

    // Noise on the stream is skipped. Pause is not asked for: a paused container keeps its
    // services (Registrator's behaviour).
    expect(fake.lastFilters).toEqual({
      type: ['container'],
      event: ['start', 'restart', 'die', 'stop', 'destroy', 'rename'],
    });
    fake.writeRaw('{"not":"an event"}\nnot json at all\n');
    fake.emit('pause', A);
    (fake.containers.get(B) as { running: boolean }).running = false;
    fake.emit('die', B);
    await eventually('api gone', async () => !(await agentServices())['test-node:api-1:9000']);
    await eventually('api out of the catalog', async () => (await catalog('api')).length === 0);
    expect(Object.keys(await agentServices()).sort()).toEqual(['manual', 'test-node:web-1:8080']);
    expect((await get<Record<string, unknown>>('/v1/agent/checks'))['service:test-node:api-1:9000']).toBe(
      undefined,
    );
    // A destroy for a container Docker no longer knows (404) removes nothing else.
    fake.containers.delete(B);
    fake.emit('destroy', B);
    await new Promise((r) => setTimeout(r, 200));
    expect(Object.keys(await agentServices()).sort()).toEqual(['manual', 'test-node:web-1:8080']);
    expect(dev.agent.dockerSync?.connected()).toBe(true);
  });

  it('keeps the services while the socket is gone, and resyncs fully when it is back', async () => {
    const lists = fake.requests.filter((r) => r === 'GET /containers/json').length;
    const connects = dev.agent.dockerSync?.stats.connects ?? 0;
    await fake.stop();
    await eventually(
      'the agent sees the stream end',
      async () => dev.agent.dockerSync?.connected() === false,
    );
    // While it is gone: web's container goes away and another starts; no event reaches the agent.
    fake.containers.delete(A);
    fake.add({ id: C, name: 'cache-1', image: 'redis:7', ports: { '6379/tcp': ['0.0.0.0', 40000] } });
    await new Promise((r) => setTimeout(r, 300));
    expect(Object.keys(await agentServices()).sort()).toEqual(['manual', 'test-node:web-1:8080']);

    await fake.start();
    const s = await eventually('the resync after the reconnect', async () => {
      const all = await agentServices();
      return all['test-node:cache-1:6379'] && !all['test-node:web-1:8080'] ? all : null;
    });
    expect(s['test-node:cache-1:6379']).toMatchObject({ Service: 'redis', Port: 40000 });
    expect(Object.keys(s).sort()).toEqual(['manual', 'test-node:cache-1:6379']);
    expect(dev.agent.dockerSync?.stats.connects).toBe(connects + 1);
    expect(fake.requests.filter((r) => r === 'GET /containers/json').length).toBe(lists + 1);
    await eventually('the catalog follows', async () => (await catalog('redis')).length === 1);
    expect(await catalog('web')).toEqual([]);
  });
});

describe('the connection to the Docker engine', () => {
  /** A target that keeps services in a map, as the agent would. */
  function memoryTarget(): DockerSyncTarget & { ids: () => string[] } {
    const services = new Map<string, CurrentService>();
    return {
      current: () => [...services.values()],
      register: (def: DockerServiceDef) => {
        const p = parseServiceDefinition(def);
        services.set(p.service.ID, { service: p.service, checks: p.checks });
      },
      deregister: (id) => void services.delete(id),
      ids: () => [...services.keys()].sort(),
    };
  }

  function captureLogger(): { logger: Logger; lines: { level: number; msg: string }[] } {
    const lines: { level: number; msg: string }[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        cb();
      },
    });
    return { logger: pino<never>({ level: 'debug' }, stream), lines };
  }

  it('logs once per state change however many retries; a periodic resync repairs a missed event', async () => {
    const fake = new FakeDocker(join(dir, 'log.sock'));
    const target = memoryTarget();
    const { logger, lines } = captureLogger();
    const sync = new DockerSync({
      api: new DockerApi({ socketPath: fake.socketPath }),
      target,
      ctx: { nodeName: 'n', advertise: '10.0.0.1' },
      resyncIntervalMs: 1000,
      logger,
      backoff: { minMs: 20, maxMs: 80 },
    });
    sync.start();
    try {
      await new Promise((r) => setTimeout(r, 600));
      const warnings = () => lines.filter((l) => l.level === 40).map((l) => l.msg);
      const retries = lines.filter((l) => l.msg === 'Docker engine still unreachable').length;
      expect(retries).toBeGreaterThanOrEqual(4);
      expect(warnings()).toEqual(['cannot reach the Docker engine; retrying']);

      fake.add({ id: A, name: 'one', image: 'one', ports: { '80/tcp': ['', 8080] } });
      await fake.start();
      await eventually('registered', async () => target.ids().length === 1);
      expect(target.ids()).toEqual(['n:one:80']);
      // A container that starts without its event reaching us: the periodic resync finds it.
      fake.add({ id: B, name: 'two', image: 'two', ports: { '80/tcp': ['', 8081] } });
      await eventually('the periodic resync', async () => target.ids().length === 2, 3000);

      await fake.stop();
      await new Promise((r) => setTimeout(r, 400));
      expect(warnings()).toEqual([
        'cannot reach the Docker engine; retrying',
        'lost the Docker engine; its services stay registered until it is back',
      ]);
      expect(lines.filter((l) => l.msg.startsWith('connected to the Docker engine'))).toHaveLength(1);
      expect(target.ids()).toEqual(['n:one:80', 'n:two:80']);
    } finally {
      await sync.stop();
      await fake.stop();
    }
    expect(sync.connected()).toBe(false);
  });
});

describe('the Engine API client', () => {
  /** A daemon that answers every request with `handler`. */
  async function daemon(
    name: string,
    handler: (req: IncomingMessage, res: ServerResponse) => void,
  ): Promise<{ api: DockerApi; close: () => Promise<void> }> {
    const socketPath = join(dir, `${name}.sock`);
    const server = createServer(handler);
    await new Promise<void>((r) => server.listen(socketPath, () => r()));
    return {
      api: new DockerApi({ socketPath }, { timeoutMs: 300, maxBodyBytes: 1000, maxEventBytes: 500 }),
      close: async () => {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      },
    };
  }

  it('gives up on a daemon that does not answer, or answers too much, with an error', async () => {
    const silent = await daemon('silent', () => undefined);
    const t0 = Date.now();
    await expect(silent.api.runningContainers()).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(Date.now() - t0).toBeLessThan(2000);
    await silent.close();

    const slowBody = await daemon('slow-body', (_req, res) => {
      res.writeHead(200);
      res.write('[');
    });
    await expect(slowBody.api.runningContainers()).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    await slowBody.close();

    const big = await daemon('big', (_req, res) => res.end(JSON.stringify([{ Id: 'x'.repeat(5000) }])));
    await expect(big.api.runningContainers()).rejects.toMatchObject({ code: 'E2BIG' });
    await big.close();
  });

  it("reports the daemon's error message; a missing container is null, not an error", async () => {
    const d = await daemon('errors', (req, res) => {
      res.writeHead(req.url?.startsWith('/containers/json') ? 500 : 404);
      res.end(
        JSON.stringify({
          message: req.url?.startsWith('/containers/json') ? 'disk on fire' : 'No such container',
        }),
      );
    });
    await expect(d.api.runningContainers()).rejects.toThrow('GET /containers/json: 500 disk on fire');
    expect(await d.api.inspect('nope')).toBeNull();
    await d.close();
  });

  it('closes an event stream whose line grows past the limit, or that the daemon cuts', async () => {
    const d = await daemon('events', (req, res) => {
      res.writeHead(200);
      res.write(JSON.stringify({ Type: 'container', Action: 'start', Actor: { ID: 'x' } }) + '\n');
      // The first stream gets a line that never ends; the second is cut.
      if (req.url?.includes('start')) setTimeout(() => res.write('y'.repeat(2000)), 50);
      else setTimeout(() => res.destroy(), 50);
    });
    const seen: string[] = [];
    const long = await d.api.events(['start'], (e) => seen.push(e.id), new AbortController().signal);
    expect((await long.closed).message).toBe('event line too long');
    expect(seen).toEqual(['x']);
    const cut = await d.api.events(['die'], (e) => seen.push(e.id), new AbortController().signal);
    expect((await cut.closed).message).toMatch(/closed|aborted|reset/);
    // Aborting the caller's signal ends a stream too.
    const ctl = new AbortController();
    const mine = await d.api.events(['start'], () => undefined, ctl.signal);
    ctl.abort();
    expect(await mine.closed).toBeInstanceOf(Error);
    await d.close();
  });
});
