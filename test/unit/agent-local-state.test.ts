// The agent's local state rules and the anti-entropy planner, as pure functions; persistence of API
// registrations through a restart of the local component.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCheckDefinition, type CheckDefinition } from '../../src/agent/checks/definition.js';
import type { RunnerOptions } from '../../src/agent/checks/runner.js';
import {
  aeScale,
  diffWithCatalog,
  nextFullSyncDelay,
  planSync,
  retryDelay,
  type NodeRecord,
} from '../../src/agent/local/ae-plan.js';
import { parseServiceDefinition } from '../../src/agent/local/definitions.js';
import { LocalAgent } from '../../src/agent/local/local-agent.js';
import { LocalState, aggregatedStatus, healthHttpStatus } from '../../src/agent/local/state.js';
import type { CheckEntry, LocalCheck, LocalService } from '../../src/agent/local/types.js';
import { defaultConfig } from '../../src/config/config.js';
import { applyConfigObject } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { seededRng } from '../../src/core/rng.js';
import type { HealthCheck, Node, NodeService } from '../../src/state/types.js';

const svc = (id: string, name = id, tags: string[] = []): LocalService => ({
  ID: id,
  Service: name,
  Tags: tags,
  Address: '',
  TaggedAddresses: {},
  Meta: {},
  Port: 80,
  Weights: { Passing: 1, Warning: 1 },
  EnableTagOverride: false,
});

const chk = (id: string, serviceId = '', status: LocalCheck['Status'] = 'critical'): LocalCheck => ({
  CheckID: id,
  Name: id,
  Status: status,
  Notes: '',
  Output: '',
  ServiceID: serviceId,
  ServiceName: '',
  ServiceTags: [],
  Type: 'ttl',
  Definition: {},
});

const entry = (c: LocalCheck, def: CheckDefinition | null = null): CheckEntry => ({
  check: c,
  def,
  source: 'api',
});

describe('local state', () => {
  it('keeps checks with their service: name and tags follow it, removal takes them along', () => {
    const s = new LocalState(0);
    expect(() => s.addCheck(entry(chk('c1', 'web')), 0)).toThrow('ServiceID "web" does not exist');
    s.addService(svc('web', 'web', ['a']), 'api');
    s.addCheck(entry(chk('c1', 'web')), 0);
    s.addCheck(entry(chk('node-check')), 0);
    expect(s.check('c1')?.check).toMatchObject({ ServiceName: 'web', ServiceTags: ['a'] });
    s.addService(svc('web', 'web2', ['b']), 'api');
    expect(s.check('c1')?.check).toMatchObject({ ServiceName: 'web2', ServiceTags: ['b'] });
    expect(s.removeService('web')).toEqual(['c1']);
    expect(s.removeService('web')).toBeNull();
    expect([...s.deletedServices]).toEqual(['web']);
    expect(s.checks().map((c) => c.CheckID)).toEqual(['node-check']);
    // Registering it again before the catalog forgot it cancels the deletion.
    s.addService(svc('web'), 'api');
    expect(s.deletedServices.size).toBe(0);
  });

  it('syncs status changes at once and output-only changes at most once per interval', () => {
    const s = new LocalState(300_000);
    s.addService(svc('web'), 'api');
    s.addCheck(entry(chk('c', 'web')), 0);
    const sent = s.check('c')!.check;
    s.checkSynced('c', sent, 1000);
    expect(s.checkSlot('c')?.inSync).toBe(true);
    expect(s.setStatus('c', 'critical', '', 2000)).toBe('unchanged');
    expect(s.setStatus('c', 'passing', 'ok', 2000)).toBe('changed');
    s.checkSynced('c', s.check('c')!.check, 2000);
    expect(s.setStatus('c', 'passing', 'ok again', 3000)).toBe('deferred');
    expect(s.checkSlot('c')?.inSync).toBe(true);
    expect(s.nextDeferredAt()).toBe(302_000);
    expect(s.releaseDeferred(300_000)).toBe(false);
    expect(s.releaseDeferred(302_000)).toBe(true);
    expect(s.checkSlot('c')?.inSync).toBe(false);
    // A status change does not wait, even with output pending.
    s.checkSynced('c', s.check('c')!.check, 303_000);
    expect(s.setStatus('c', 'passing', 'x', 304_000)).toBe('deferred');
    expect(s.setStatus('c', 'warning', 'x', 305_000)).toBe('changed');
    expect(s.nextDeferredAt()).toBeNull();
  });

  it('marks a record in sync only if it did not change while the request was out', () => {
    const s = new LocalState(0);
    s.addService(svc('web'), 'api');
    const sent = s.service('web')!;
    s.addService({ ...svc('web'), Port: 81 }, 'api');
    s.serviceSynced('web', sent);
    expect(s.serviceSlot('web')?.inSync).toBe(false);
    s.serviceSynced('web', s.service('web')!);
    expect(s.serviceSlot('web')?.inSync).toBe(true);
  });

  it('reaps a service whose check stays critical past deregister_critical_service_after (at least 1m)', () => {
    const s = new LocalState(0);
    s.addService(svc('web'), 'api');
    const def = parseCheckDefinition(
      { Name: 'c', TTL: '10s', DeregisterCriticalServiceAfter: '30s' },
      { serviceId: 'web' },
    );
    s.addCheck(entry(chk('c', 'web', 'passing'), def), 0);
    expect(s.servicesToReap(10_000_000, 60_000)).toEqual([]);
    s.setStatus('c', 'critical', 'TTL expired', 1000);
    expect(s.servicesToReap(40_000, 60_000)).toEqual([]);
    expect(s.servicesToReap(61_000, 60_000)).toEqual(['web']);
    s.setStatus('c', 'passing', '', 62_000);
    expect(s.servicesToReap(1_000_000, 60_000)).toEqual([]);
  });

  it('maintenance adds Consul critical checks, and the aggregated status follows Consul', () => {
    const s = new LocalState(0);
    s.addService(svc('web'), 'api');
    s.addCheck(entry(chk('ok', 'web', 'passing')), 0);
    expect(aggregatedStatus(s.checksForService('web'))).toBe('passing');
    s.addCheck(entry(chk('warn', 'web', 'warning')), 0);
    expect(aggregatedStatus(s.checksForService('web'))).toBe('warning');
    // A node-level critical check makes every service on the node critical.
    s.addCheck(entry(chk('disk', '', 'critical')), 0);
    expect(aggregatedStatus(s.checksForService('web'))).toBe('critical');
    s.removeCheck('disk');
    expect(() => s.enableServiceMaintenance('nope', '', 0)).toThrow('No service registered with ID "nope"');
    expect(s.enableServiceMaintenance('web', '', 0)).toBe(true);
    expect(s.enableServiceMaintenance('web', 'again', 0)).toBe(false);
    const m = s.check('_service_maintenance:web')!.check;
    expect(m).toMatchObject({ Status: 'critical', Name: 'Service Maintenance Mode', ServiceID: 'web' });
    expect(m.Notes).toContain('no reason was provided');
    expect(aggregatedStatus(s.checksForService('web'))).toBe('maintenance');
    expect(s.disableServiceMaintenance('web')).toBe(true);
    s.enableNodeMaintenance('patching', 0);
    expect(s.check('_node_maintenance')?.check).toMatchObject({
      Notes: 'patching',
      Status: 'critical',
      ServiceID: '',
    });
    expect(aggregatedStatus(s.checksForService('web'))).toBe('maintenance');
    expect([200, 429, 503, 503]).toEqual(
      (['passing', 'warning', 'critical', 'maintenance'] as const).map(healthHttpStatus),
    );
  });
});

describe('service definitions', () => {
  it('takes PascalCase and snake_case, defaults the ID to the name and numbers check IDs', () => {
    const d = parseServiceDefinition({
      name: 'web',
      tags: ['v1'],
      port: 8080,
      enable_tag_override: true,
      tagged_addresses: { lan: { address: '10.0.0.1', port: 80 } },
      checks: [{ ttl: '10s' }, { name: 'second', ttl: '20s' }],
    });
    expect(d.service).toMatchObject({
      ID: 'web',
      Service: 'web',
      Tags: ['v1'],
      Port: 8080,
      EnableTagOverride: true,
    });
    expect(d.service.TaggedAddresses).toEqual({ lan: { Address: '10.0.0.1', Port: 80 } });
    expect(d.checks.map((c) => [c.CheckID, c.Name, c.ServiceID])).toEqual([
      ['service:web:1', "Service 'web' check", 'web'],
      ['service:web:2', 'second', 'web'],
    ]);
    const single = parseServiceDefinition({ Name: 'db', ID: 'db1', Check: { TTL: '5s' } });
    expect(single.checks[0]?.CheckID).toBe('service:db1');
  });

  it("refuses what Consul refuses, with Consul's messages", () => {
    expect(() => parseServiceDefinition({ Port: 1 })).toThrow('Missing service name');
    expect(() => parseServiceDefinition({ Name: 'a', Address: '0.0.0.0' })).toThrow(
      'Invalid service address',
    );
    expect(() => parseServiceDefinition({ Name: 'a', Weights: { Passing: 0, Warning: 1 } })).toThrow(
      'Invalid Weights: Passing must be greater than 0',
    );
    expect(() => parseServiceDefinition({ Name: 'a', Meta: { 'consul-x': 'y' } })).toThrow(
      'Invalid Service Meta',
    );
    expect(() => parseServiceDefinition({ Name: 'a', Port: 70000 })).toThrow('Port');
    expect(() => parseServiceDefinition({ Name: 'a', Check: { TTL: 'soon' } })).toThrow('invalid duration');
    expect(() => parseServiceDefinition({ Name: 'a', bogus: 1 }, { strict: true })).toThrow(
      'unknown service definition key "bogus"',
    );
    expect(parseServiceDefinition({ Name: 'a', bogus: 1 }).service.ID).toBe('a');
  });
});

// ---------------------------------------------------------------- anti-entropy planner

const me: NodeRecord = {
  ID: '11111111-2222-3333-4444-555555555555',
  Node: 'n1',
  Address: '10.0.0.5',
  TaggedAddresses: { lan: '10.0.0.5' },
  Meta: {},
};

const catalogNode = (over: Partial<Node> = {}): Node => ({
  ID: me.ID,
  Node: 'n1',
  Address: me.Address,
  Datacenter: 'dc1',
  TaggedAddresses: me.TaggedAddresses,
  Meta: {},
  CreateIndex: 1,
  ModifyIndex: 1,
  ...over,
});

const remoteService = (s: LocalService): NodeService => ({ ...s, CreateIndex: 1, ModifyIndex: 1 });
const remoteCheck = (c: LocalCheck): HealthCheck => ({ ...c, Node: 'n1', CreateIndex: 1, ModifyIndex: 1 });

describe('anti-entropy planner', () => {
  it('finds what differs, what is missing, and what the catalog has that the agent does not', () => {
    const web = svc('web');
    const api = svc('api');
    const c1 = chk('c1', 'web', 'passing');
    const d = diffWithCatalog(
      { services: [web, api], checks: [c1], deferredChecks: new Set() },
      {
        node: catalogNode(),
        services: [
          remoteService({ ...web, Port: 9 }),
          remoteService(svc('stray')),
          remoteService(svc('consul')),
        ],
        checks: [
          remoteCheck({ ...c1, Status: 'critical' }),
          remoteCheck(chk('serfHealth', '', 'passing')),
          remoteCheck(chk('stray-check', 'stray')),
          remoteCheck(chk('old-node-check')),
        ],
      },
      me,
    );
    expect(d).toEqual({
      nodeInSync: true,
      dirtyServices: ['web', 'api'],
      dirtyChecks: ['c1'],
      // The leader owns serfHealth and the consul service; a deleted service takes its checks.
      deleteServices: ['stray'],
      deleteChecks: ['old-node-check'],
    });
  });

  it('sees a changed node record and ignores the output of a deferred check', () => {
    const c1 = { ...chk('c1', '', 'passing'), Output: 'new' };
    const remote = {
      node: catalogNode({ Address: '10.9.9.9' }),
      services: [],
      checks: [remoteCheck({ ...c1, Output: 'old' })],
    };
    const local = { services: [], checks: [c1], deferredChecks: new Set<string>() };
    expect(diffWithCatalog(local, remote, me).nodeInSync).toBe(false);
    expect(diffWithCatalog(local, remote, me).dirtyChecks).toEqual(['c1']);
    expect(diffWithCatalog({ ...local, deferredChecks: new Set(['c1']) }, remote, me).dirtyChecks).toEqual(
      [],
    );
    expect(diffWithCatalog(local, { ...remote, node: null }, me).nodeInSync).toBe(false);
  });

  it('orders a sync: node, deletions, services with their checks, other checks', () => {
    expect(
      planSync({
        nodeInSync: false,
        services: [
          { id: 'web', inSync: false },
          { id: 'db', inSync: true },
        ],
        checks: [
          { id: 'w1', serviceId: 'web', inSync: false },
          { id: 'd1', serviceId: 'db', inSync: false },
          { id: 'n1', serviceId: '', inSync: true },
        ],
        deletedServices: ['old'],
        deletedChecks: ['gone'],
      }),
    ).toEqual([
      { op: 'node' },
      { op: 'deregister-check', id: 'gone' },
      { op: 'deregister-service', id: 'old' },
      { op: 'service', id: 'web', checks: ['w1'] },
      { op: 'check', id: 'd1' },
    ]);
    expect(
      planSync({ nodeInSync: true, services: [], checks: [], deletedServices: [], deletedChecks: [] }),
    ).toEqual([]);
  });

  it("scales the interval with Consul's formula and staggers it", () => {
    expect([1, 128, 129, 256, 257, 512, 8192].map(aeScale)).toEqual([1, 1, 2, 2, 3, 3, 7]);
    const rng = seededRng(7);
    for (let i = 0; i < 50; i++) {
      const small = nextFullSyncDelay(60_000, 10, rng);
      expect(small).toBeGreaterThanOrEqual(60_000);
      expect(small).toBeLessThan(120_000);
      const big = nextFullSyncDelay(60_000, 1000, rng);
      expect(big).toBeLessThan(60_000 + 5 * 60_000);
    }
    expect(retryDelay(1, 3, rng)).toBeLessThan(1500);
    expect(retryDelay(10, 3, rng)).toBeGreaterThanOrEqual(15_000);
  });
});

// ---------------------------------------------------------------- persistence

describe('persistence of API registrations', () => {
  const dirs: string[] = [];
  const agents: LocalAgent[] = [];
  afterEach(() => {
    for (const a of agents.splice(0)) a.stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  const make = (
    dataDir: string,
    over: (c: ReturnType<typeof defaultConfig>) => void = () => undefined,
  ): LocalAgent => {
    const config = defaultConfig();
    config.dataDir = dataDir;
    config.nodeName = 'n1';
    over(config);
    const started: CheckDefinition[] = [];
    const a = new LocalAgent({
      config,
      node: () => me,
      call: () => Promise.reject(new Error('no servers in this test')),
      clusterSize: () => 1,
      rng: seededRng(1),
      logger: silentLogger(),
      startCheck: (def: CheckDefinition, _o: RunnerOptions) => {
        started.push(def);
        return { stop() {}, heartbeat() {} };
      },
    });
    agents.push(a);
    a.load();
    return a;
  };

  it('restores services, checks, maintenance and a TTL status; config registrations are not written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'consulate-local-'));
    dirs.push(dir);
    const a = make(dir, (c) => c.services.push({ name: 'from-config', port: 1 }));
    a.registerService({ Name: 'web', Port: 80, Check: { TTL: '10m' } }, false);
    a.registerCheck({ Name: 'disk', TTL: '1m', Status: 'passing' });
    a.updateTtl('service:web', 'warning', 'slow');
    a.serviceMaintenance('web', true, 'deploy');
    expect(readdirSync(join(dir, 'services'))).toHaveLength(1);
    a.stop();

    const b = make(dir);
    expect(b.state.services().map((s) => s.ID)).toEqual(['web']);
    expect(b.state.check('service:web')?.check).toMatchObject({
      Status: 'warning',
      Output: 'slow',
      ServiceName: 'web',
    });
    expect(b.state.check('disk')?.check.Status).toBe('passing');
    expect(b.state.check('_service_maintenance:web')?.check.Notes).toBe('deploy');
    b.deregisterService('web');
    b.stop();

    const c = make(dir);
    expect(c.state.services()).toEqual([]);
    expect(c.state.checks().map((x) => x.CheckID)).toEqual(['disk']);
  });

  it("keeps a config-file TTL check's status too, and lets a config definition replace an API one", () => {
    const dir = mkdtempSync(join(tmpdir(), 'consulate-local-'));
    dirs.push(dir);
    const cfg = (c: ReturnType<typeof defaultConfig>): void => {
      c.checks.push({ name: 'cfg', ttl: '10m' });
    };
    const a = make(dir, cfg);
    a.updateTtl('cfg', 'warning', 'degraded');
    a.registerService({ Name: 'both', Port: 1 }, false);
    a.stop();
    const b = make(dir, (c) => {
      cfg(c);
      c.services.push({ name: 'both', port: 2 });
    });
    expect(b.state.check('cfg')?.check).toMatchObject({ Status: 'warning', Output: 'degraded' });
    expect(b.state.service('both')?.Port).toBe(2);
    expect(readdirSync(join(dir, 'services'))).toEqual([]);
  });

  it('starts past damaged files, skipping what it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'consulate-local-'));
    dirs.push(dir);
    const a = make(dir);
    a.registerService({ Name: 'ok', Check: { TTL: '10m' } }, false);
    a.updateTtl('service:ok', 'passing', 'fine');
    a.stop();
    mkdirSync(join(dir, 'checks', 'state'), { recursive: true });
    writeFileSync(join(dir, 'services', 'garbage'), '{not json');
    writeFileSync(join(dir, 'services', 'empty'), '{}');
    writeFileSync(
      join(dir, 'checks', 'bad-def'),
      JSON.stringify({ Check: { CheckID: 'x', ServiceID: '' }, Definition: { Name: 'x', TTL: 'soon' } }),
    );
    writeFileSync(
      join(dir, 'checks', 'state', 'bogus'),
      JSON.stringify({ CheckID: 'service:ok', Status: 'bogus', Expires: 1e300 }),
    );
    const b = make(dir);
    expect(b.state.services().map((s) => s.ID)).toEqual(['ok']);
    expect(b.state.check('x')).toBeUndefined();
    expect(b.state.check('service:ok')?.check.Status).toBe('passing');
  });

  it('lets an expired TTL status go, and refuses script checks unless enabled', () => {
    const dir = mkdtempSync(join(tmpdir(), 'consulate-local-'));
    dirs.push(dir);
    let now = 1_000_000;
    const config = defaultConfig();
    config.dataDir = dir;
    const a = new LocalAgent({
      config,
      node: () => me,
      call: () => Promise.reject(new Error('none')),
      clusterSize: () => 1,
      rng: seededRng(1),
      logger: silentLogger(),
      now: () => now,
      startCheck: () => ({ stop() {}, heartbeat() {} }),
    });
    agents.push(a);
    a.load();
    a.registerCheck({ Name: 't', TTL: '10s' });
    a.updateTtl('t', 'passing', 'fine');
    expect(() => a.registerCheck({ Name: 's', Args: ['true'], Interval: '10s' })).toThrow(
      "configure 'enable_script_checks' to true",
    );
    expect(() => a.updateTtl('nope', 'passing', '')).toThrow('Unknown check ID "nope"');
    a.stop();
    now += 11_000;
    const b = make(dir);
    expect(b.state.check('t')?.check.Status).toBe('critical');
    expect(() => make(dir, (c) => c.checks.push({ Name: 's', Args: ['true'], Interval: '10s' }))).toThrow(
      "check definition 1: Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true",
    );
    expect(
      make(dir, (c) => {
        c.enableLocalScriptChecks = true;
        c.checks.push({ Name: 's', Args: ['true'], Interval: '10s' });
      }).state.check('s')?.def?.kind,
    ).toBe('script');
  });
});

describe('restored TTL status, reaping and config definitions', () => {
  const dirs: string[] = [];
  const agents: LocalAgent[] = [];
  afterEach(() => {
    for (const a of agents.splice(0)) a.stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const make = (
    dataDir: string,
    over: (c: ReturnType<typeof defaultConfig>) => void = () => undefined,
    now?: () => number,
  ): LocalAgent => {
    const config = defaultConfig();
    config.dataDir = dataDir;
    over(config);
    const a = new LocalAgent({
      config,
      node: () => me,
      call: () => Promise.reject(new Error('no servers in this test')),
      clusterSize: () => 1,
      rng: seededRng(1),
      logger: silentLogger(),
      startCheck: () => ({ stop() {}, heartbeat() {} }),
      ...(now ? { now } : {}),
    });
    agents.push(a);
    a.load();
    return a;
  };

  it('a restored TTL status lasts only what was left of its TTL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'consulate-local-'));
    dirs.push(dir);
    const a = make(dir);
    a.registerCheck({ Name: 'beat', TTL: '1500ms' });
    a.updateTtl('beat', 'passing', 'up');
    a.stop();
    const b = make(dir);
    expect(b.state.check('beat')?.check.Status).toBe('passing');
    await new Promise((r) => setTimeout(r, 2000));
    expect(b.state.check('beat')?.check).toMatchObject({ Status: 'critical', Output: 'TTL expired' });
  });

  it('deregisters a service whose check stayed critical past deregister_critical_service_after', () => {
    let now = 5_000_000;
    const a = make(
      '',
      (c) => (c.dev = true),
      () => now,
    );
    a.registerService({ Name: 'flaky', Check: { TTL: '10s', DeregisterCriticalServiceAfter: '90s' } }, false);
    a.registerService(
      { Name: 'steady', Check: { TTL: '10s', Status: 'passing', DeregisterCriticalServiceAfter: '1m' } },
      false,
    );
    now += 60_000;
    expect(a.reap(now)).toEqual([]);
    now += 31_000;
    expect(a.reap(now)).toEqual(['flaky']);
    expect(a.state.services().map((s) => s.ID)).toEqual(['steady']);
    expect(a.state.check('service:flaky')).toBeUndefined();
  });

  it('reads service and check definitions from config files, both cases', () => {
    const c = defaultConfig();
    applyConfigObject(
      c,
      {
        service: { name: 'one', port: 1, check: { ttl: '30s' } },
        services: [{ Name: 'two', Checks: [{ TTL: '1m' }, { tcp: '127.0.0.1:1', interval: '10s' }] }],
        checks: [{ name: 'disk', ttl: '1m' }],
        check: { Name: 'mem', TTL: '1m' },
        enable_local_script_checks: true,
        check_update_interval: '30s',
        node_meta: { rack: 'r1' },
      },
      'test',
    );
    expect([c.services.length, c.checks.length, c.enableLocalScriptChecks, c.checkUpdateIntervalMs]).toEqual([
      2,
      2,
      true,
      30_000,
    ]);
    expect(c.nodeMeta).toEqual({ rack: 'r1' });
    const config = { ...c, dev: true };
    const a = new LocalAgent({
      config,
      node: () => me,
      call: () => Promise.reject(new Error('none')),
      clusterSize: () => 1,
      rng: seededRng(1),
      logger: silentLogger(),
      startCheck: () => ({ stop() {}, heartbeat() {} }),
    });
    agents.push(a);
    a.load();
    expect(a.state.services().map((s) => s.ID)).toEqual(['one', 'two']);
    expect(a.state.checks().map((x) => x.CheckID)).toEqual([
      'service:one',
      'service:two:1',
      'service:two:2',
      'disk',
      'mem',
    ]);
    expect(() => applyConfigObject(defaultConfig(), { services: { name: 'x' } }, 'f')).toThrow(
      'f: services: expected a list of objects',
    );
    const bad = { ...defaultConfig(), dev: true, services: [{ name: 'x', colour: 'red' }] };
    const agent = new LocalAgent({
      config: bad,
      node: () => me,
      call: () => Promise.reject(new Error('none')),
      clusterSize: () => 1,
      rng: seededRng(1),
      logger: silentLogger(),
    });
    expect(() => agent.load()).toThrow('service definition 1: unknown service definition key "colour"');
  });
});
