// -docker-sync against the real Docker engine (/var/run/docker.sock or DOCKER_HOST): an in-process
// dev agent on the host, a container from node:20-bookworm-slim serving HTTP on a published port
// with SERVICE_* labels; its service shows in the catalog with the host port, the tags and a
// passing HTTP check, and leaves the catalog when the container stops. Needs Docker (SKIP_DOCKER=1
// leaves it out) and the base image (scripts/setup-docker.sh builds it offline).

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { docker, hostPort, waitFor } from './docker.js';

const BASE_IMAGE = process.env['NODE_BASE_IMAGE'] ?? 'node:20-bookworm-slim';
// Unique per run: parallel runs (and other tests' containers) never share a name or a service.
const RUN = `${process.pid}-${randomBytes(3).toString('hex')}`;
const NAME = `consulate-dsync-${RUN}`;
const SERVICE = `dsync-${RUN}`;

interface CatalogEntry {
  ServiceID: string;
  ServiceName: string;
  ServiceAddress: string;
  ServicePort: number;
  ServiceTags: string[];
  ServiceMeta: Record<string, string>;
}

describe('-docker-sync with the real Docker engine', () => {
  let dev: DevAgent;
  const get = async <T>(path: string): Promise<T> => (await (await dev.app.request(path)).json()) as T;

  beforeAll(async () => {
    dev = await startDevAgent((c) => {
      c.dockerSync.enabled = true;
      if (process.env['DOCKER_HOST']) c.dockerSync.host = process.env['DOCKER_HOST'];
    });
  }, 30_000);

  afterAll(async () => {
    await docker('rm', '-f', NAME).catch(() => undefined);
    await dev?.stop();
  }, 30_000);

  it('registers a running container’s published port with its labels, and deregisters it on stop', async () => {
    const t0 = Date.now();
    await docker(
      'run',
      '-d',
      '--init',
      '--name',
      NAME,
      '-p',
      '8080',
      '-l',
      `SERVICE_NAME=${SERVICE}`,
      '-l',
      'SERVICE_TAGS=blue,v1',
      '-l',
      'SERVICE_CHECK_HTTP=/health',
      '-l',
      'SERVICE_CHECK_INTERVAL=1s',
      '-l',
      'SERVICE_OWNER=docker-sync-test',
      BASE_IMAGE,
      'node',
      '-e',
      "require('http').createServer((q, r) => r.end(q.url === '/health' ? 'ok' : 'hello')).listen(8080)",
    );
    const port = await hostPort(NAME, '8080/tcp');
    const id = await docker('inspect', '-f', '{{.Id}}', NAME);

    const [entry] = await waitFor(
      'the service in the catalog',
      async () => {
        const list = await get<CatalogEntry[]>(`/v1/catalog/service/${SERVICE}`);
        return list.length === 1 ? list : undefined;
      },
      15_000,
      100,
    );
    const registeredMs = Date.now() - t0;
    expect(entry).toMatchObject({
      ServiceID: `test-node:${NAME}:8080`,
      ServiceName: SERVICE,
      // Published on every interface: the agent's advertise address (127.0.0.1 with -dev).
      ServiceAddress: '127.0.0.1',
      ServicePort: port,
      ServiceTags: ['blue', 'v1'],
      ServiceMeta: { 'external-source': 'docker', 'docker-container-id': id, owner: 'docker-sync-test' },
    });
    await waitFor(
      'the HTTP check passing',
      async () => (await get<unknown[]>(`/v1/health/service/${SERVICE}?passing`)).length === 1,
      15_000,
      100,
    );
    const passingMs = Date.now() - t0;

    const t1 = Date.now();
    await docker('stop', '-t', '2', NAME);
    await waitFor(
      'the service out of the catalog',
      async () => (await get<CatalogEntry[]>(`/v1/catalog/service/${SERVICE}`)).length === 0,
      15_000,
      100,
    );
    const goneMs = Date.now() - t1;
    expect(Object.keys(await get<Record<string, unknown>>('/v1/agent/services'))).not.toContain(
      `test-node:${NAME}:8080`,
    );
    console.log(
      `docker-sync: in the catalog ${registeredMs} ms after docker run, check passing at ${passingMs} ms, ` +
        `out of the catalog ${goneMs} ms after docker stop returned`,
    );
  }, 30_000);
});
