// PUT /v1/agent/reload and consulate reload: the config files are read again and what Consul
// reloads is applied (services, checks, watches, log level, node meta, the agent's ACL tokens);
// what cannot change is reported; a config with errors changes nothing.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configKeyOf, unreloadableChanges } from '../../src/agent/reload.js';
import { main } from '../../src/cli/main.js';
import { defaultConfig } from '../../src/config/config.js';
import { captureIo } from '../support/capture-io.js';
import { startLogsAgent, type LogsAgent } from '../support/logs-agent.js';

const DEADLINE_MS = 15_000;

async function waitFor(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + DEADLINE_MS;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let dir: string;
let a: LogsAgent;

async function get<T>(path: string): Promise<T> {
  const r = await fetch(`http://${a.addr}${path}`);
  expect(r.status).toBe(200);
  return (await r.json()) as T;
}

async function reload(): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://${a.addr}/v1/agent/reload`, { method: 'PUT' });
  return { status: r.status, body: await r.text() };
}

/** The config file; -dev would log at debug, these tests start from info. */
function write(obj: unknown): void {
  a.writeConfig(typeof obj === 'object' && obj !== null ? { log_level: 'info', ...obj } : obj);
}

const web = { name: 'web', port: 80 };
const api = { name: 'api', port: 81, check: { ttl: '30s' } };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reload-'));
  a = await startLogsAgent(join(dir, 'agent.json'), { log_level: 'info', services: [web] });
});

afterAll(async () => {
  await a?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('unreloadableChanges', () => {
  it('names changed settings by their config keys, never the reloadable ones', () => {
    const cur = defaultConfig();
    const next = defaultConfig();
    next.ports.dns = 8653;
    next.logLevel = 'debug';
    next.services = [{ name: 'x' }];
    next.acl.tokens.agent = 'secret';
    next.acl.tokens.initialManagement = 'other-secret';
    next.dataDir = '/elsewhere';
    expect(unreloadableChanges(cur, next)).toEqual([
      'acl.tokens.initial_management',
      'data_dir',
      'ports.dns',
    ]);
    expect(unreloadableChanges(cur, defaultConfig())).toEqual([]);
    expect(configKeyOf('ports.serfLan')).toBe('ports.serf_lan');
  });
});

describe('PUT /v1/agent/reload', () => {
  it('adds a service from the config file: agent services and the catalog', async () => {
    expect(Object.keys(await get<Record<string, unknown>>('/v1/agent/services'))).toEqual(['web']);
    write({ services: [web, api], node_meta: { rack: 'r1' } });
    const r = await reload();
    expect(r).toEqual({ status: 200, body: '' });
    const svcs = await get<Record<string, { Port: number }>>('/v1/agent/services');
    expect(Object.keys(svcs).sort()).toEqual(['api', 'web']);
    expect(svcs['api']?.Port).toBe(81);
    const checks = await get<Record<string, { ServiceID: string }>>('/v1/agent/checks');
    expect(checks['service:api']?.ServiceID).toBe('api');
    await waitFor('api in the catalog', async () => {
      const c = await get<unknown[]>('/v1/catalog/service/api');
      return c.length === 1;
    });
    await waitFor('the node meta in the catalog', async () => {
      const n = await get<{ Node: { Meta: Record<string, string> } }>('/v1/catalog/node/logs-node');
      return n.Node.Meta['rack'] === 'r1';
    });
  });

  it('removes a service no longer in the config, from the agent and the catalog', async () => {
    write({ services: [api] });
    expect((await reload()).status).toBe(200);
    expect(Object.keys(await get<Record<string, unknown>>('/v1/agent/services'))).toEqual(['api']);
    await waitFor('web gone from the catalog', async () => {
      const c = await get<unknown[]>('/v1/catalog/service/web');
      return c.length === 0;
    });
  });

  it('keeps an API registration that the config does not name', async () => {
    const r = await fetch(`http://${a.addr}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ Name: 'from-api', Port: 9 }),
    });
    expect(r.status).toBe(200);
    expect((await reload()).status).toBe(200);
    expect(Object.keys(await get<Record<string, unknown>>('/v1/agent/services')).sort()).toEqual([
      'api',
      'from-api',
    ]);
  });

  it("drops a check taken out of a service's definition; an API check on it stays", async () => {
    write({ services: [{ ...web, checks: [{ id: 'web-ttl', ttl: '30s' }] }, api] });
    expect((await reload()).status).toBe(200);
    const reg = await fetch(`http://${a.addr}/v1/agent/check/register`, {
      method: 'PUT',
      body: JSON.stringify({ ID: 'web-api-check', Name: 'x', TTL: '30s', ServiceID: 'web' }),
    });
    expect(reg.status).toBe(200);
    expect(Object.keys(await get<Record<string, unknown>>('/v1/agent/checks')).sort()).toEqual([
      'service:api',
      'web-api-check',
      'web-ttl',
    ]);
    write({ services: [web, api] });
    expect((await reload()).status).toBe(200);
    expect(Object.keys(await get<Record<string, unknown>>('/v1/agent/checks')).sort()).toEqual([
      'service:api',
      'web-api-check',
    ]);
    write({ services: [api] });
    expect((await reload()).status).toBe(200);
    expect(Object.keys(await get<Record<string, unknown>>('/v1/agent/checks'))).toEqual(['service:api']);
  });

  it('changes the log level', async () => {
    expect(a.hub.level).toBe('info');
    a.agent.logger.debug('debug-before-reload');
    write({ services: [api], log_level: 'debug' });
    expect((await reload()).status).toBe(200);
    expect(a.hub.level).toBe('debug');
    a.agent.logger.debug('debug-after-reload');
    expect(a.output.text).not.toContain('debug-before-reload');
    expect(a.output.text).toContain('debug-after-reload');
    write({ services: [api], log_level: 'info' });
    expect((await reload()).status).toBe(200);
    expect(a.hub.level).toBe('info');
  });

  it("applies the agent's ACL tokens", async () => {
    write({ services: [api], acl: { tokens: { agent: 'agent-tok', default: 'default-tok' } } });
    expect((await reload()).status).toBe(200);
    expect(a.agent.config.acl.tokens.agent).toBe('agent-tok');
    expect(a.agent.config.acl.tokens.default).toBe('default-tok');
    write({ services: [api] });
    expect((await reload()).status).toBe(200);
    expect(a.agent.config.acl.tokens.default).toBe('');
  });

  it('starts the watches of the new config', async () => {
    const out = join(dir, 'watch.jsonl');
    write({
      services: [api],
      watches: [{ type: 'key', key: 'reload/w', args: ['/bin/sh', '-c', `cat >> '${out}'`] }],
    });
    expect((await reload()).status).toBe(200);
    const put = await fetch(`http://${a.addr}/v1/kv/reload/w`, { method: 'PUT', body: 'v1' });
    expect(put.status).toBe(200);
    await waitFor(
      'the watch handler',
      () => existsSync(out) && readFileSync(out, 'utf8').includes('reload/w'),
    );
  });

  it('reports what needs a restart, and applies the rest', async () => {
    write({ services: [api, web], kv_max_value_size: 1000, datacenter: 'dc9' });
    const r = await reload();
    expect(r.status).toBe(200);
    expect(r.body).toContain('need a restart to apply: datacenter, kv_max_value_size');
    expect(Object.keys(await get<Record<string, unknown>>('/v1/agent/services')).sort()).toEqual([
      'api',
      'from-api',
      'web',
    ]);
    expect(a.agent.config.datacenter).toBe('dc1');
    expect(a.output.text).toContain('need a restart to apply: datacenter, kv_max_value_size');
  });

  it('refuses a config with errors and keeps the running one', async () => {
    write({ services: [api], log_level: 'debug' });
    expect((await reload()).status).toBe(200);
    const before = Object.keys(await get<Record<string, unknown>>('/v1/agent/services')).sort();
    const bad: [unknown, string][] = [
      [{ services: [web], log_level: 'loud' }, 'unknown log level'],
      [{ services: [web], no_such_key: 1 }, 'unknown config key "no_such_key"'],
      [{ services: [web, { port: 1 }] }, 'service definition 2: Missing service name'],
      [
        { services: [web], checks: [{ name: 'c', ttl: '10s', service_id: 'nope' }] },
        'ServiceID "nope" does not exist',
      ],
      [{ services: [web], log_rotate_max_files: -3 }, 'log_rotate_max_files'],
    ];
    for (const [cfg, why] of bad) {
      write(cfg);
      const r = await reload();
      expect(r.status).toBe(400);
      expect(r.body).toContain('Failed to reload configs');
      expect(r.body).toContain(why);
    }
    expect(Object.keys(await get<Record<string, unknown>>('/v1/agent/services')).sort()).toEqual(before);
    expect(a.hub.level).toBe('debug');
  });
});

describe('consulate reload', () => {
  it("prints Consul's line; a refused config is one stderr line and exit 1", async () => {
    write({ services: [api, web] });
    const ok = captureIo();
    expect(await main(['reload', `-http-addr=${a.addr}`], ok)).toBe(0);
    expect(ok.stdout).toBe('Configuration reload triggered\n');
    expect(ok.stderr).toBe('');
    write('not an object');
    const bad = captureIo();
    expect(await main(['reload', `-http-addr=${a.addr}`], bad)).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(
      /^Error reloading: Unexpected response code: 400 \(Failed to reload configs: .*top level must be a JSON object/,
    );
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('shows what needs a restart on stderr', async () => {
    write({ services: [api, web], kv_max_value_size: 2000 });
    const io = captureIo();
    expect(await main(['reload', `-http-addr=${a.addr}`], io)).toBe(0);
    expect(io.stderr).toContain('kv_max_value_size');
  });
});
