// Autopilot: the configuration kept in Raft (seeded from the agent's block, CAS updates, in
// snapshots), the health rules and stabilization, the HTTP endpoints in Consul's shapes with their
// ACLs, and `operator autopilot get-config|set-config|state` / `operator raft transfer-leader`.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import {
  failureTolerance,
  HealthTracker,
  isHealthy,
  stableNonvoters,
  type ServerObservation,
} from '../../src/server/autopilot.js';
import { encodeCommand } from '../../src/state/commands.js';
import { Fsm } from '../../src/state/fsm.js';
import type { AutopilotConfig } from '../../src/state/autopilot.js';
import {
  formatAutopilotState,
  formatPeers,
  type AutopilotStateJson,
} from '../../src/cli/commands/operator.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { captureIo, type CapturedIo } from '../support/capture-io.js';

const rules = { LastContactThresholdMs: 200, MaxTrailingLogs: 250, ServerStabilizationTimeMs: 10_000 };
const config: AutopilotConfig = {
  CleanupDeadServers: true,
  LastContactThresholdMs: 200,
  MaxTrailingLogs: 250,
  MinQuorum: 3,
  ServerStabilizationTimeMs: 10_000,
  RedundancyZoneTag: '',
  DisableUpgradeMigration: false,
  UpgradeVersionTag: '',
};

const obs = (id: string, over: Partial<ServerObservation> = {}): ServerObservation => ({
  id,
  name: `node-${id}`,
  address: `10.0.0.${id}:8300`,
  voter: true,
  leader: false,
  serfStatus: 'alive',
  version: '1.0.0',
  lastContactMs: 20,
  lastTerm: 5,
  lastIndex: 100,
  meta: {},
  ...over,
});

describe('health rules', () => {
  it('needs alive, recent contact, the leader term and few trailing entries', () => {
    expect(isHealthy(obs('1'), rules, 5, 100)).toBe(true);
    expect(isHealthy(obs('1', { serfStatus: 'failed' }), rules, 5, 100)).toBe(false);
    expect(isHealthy(obs('1', { lastContactMs: 201 }), rules, 5, 100)).toBe(false);
    expect(isHealthy(obs('1', { lastContactMs: -1 }), rules, 5, 100)).toBe(false);
    // One heartbeat interval of grace: the leader's measure includes the wait for the next message.
    expect(isHealthy(obs('1', { lastContactMs: 700 }), { ...rules, contactGraceMs: 500 }, 5, 100)).toBe(true);
    expect(isHealthy(obs('1', { lastContactMs: 701 }), { ...rules, contactGraceMs: 500 }, 5, 100)).toBe(
      false,
    );
    expect(isHealthy(obs('1', { leader: true, lastContactMs: -1 }), rules, 5, 100)).toBe(true);
    expect(isHealthy(obs('1', { lastTerm: 4 }), rules, 5, 100)).toBe(false);
    expect(isHealthy(obs('1', { lastIndex: 100 - 251 }), rules, 5, 100)).toBe(false);
    expect(isHealthy(obs('1', { lastIndex: 100 - 250 }), rules, 5, 100)).toBe(true);
  });

  it('keeps StableSince across passes, restarts it on a change, and promotes only stable non-voters', () => {
    const t = new HealthTracker();
    const servers = [obs('1', { leader: true }), obs('2'), obs('3', { voter: false })];
    let h = t.observe(servers, rules, 5, 100, 1_000);
    expect(h.map((s) => s.stableSince)).toEqual([1_000, 1_000, 1_000]);
    expect(stableNonvoters(h, rules, 1_000)).toEqual([]);
    h = t.observe(servers, rules, 5, 100, 10_999);
    expect(stableNonvoters(h, rules, 10_999)).toEqual([]);
    // Unhealthy for a moment: the clock starts again.
    t.observe(
      [servers[0]!, servers[1]!, obs('3', { voter: false, lastContactMs: 5000 })],
      rules,
      5,
      100,
      11_000,
    );
    h = t.observe(servers, rules, 5, 100, 12_000);
    expect(h.find((s) => s.id === '3')?.stableSince).toBe(12_000);
    expect(stableNonvoters(h, rules, 21_999)).toEqual([]);
    expect(stableNonvoters(h, rules, 22_000)).toEqual(['3']);
  });

  it('counts failure tolerance over voters only', () => {
    const t = new HealthTracker();
    const h = (list: ServerObservation[]): number => failureTolerance(t.observe(list, rules, 5, 100, 0));
    expect(h([obs('1', { leader: true })])).toBe(0);
    expect(h([obs('1', { leader: true }), obs('2'), obs('3')])).toBe(1);
    expect(h([obs('1', { leader: true }), obs('2'), obs('3', { serfStatus: 'failed' })])).toBe(0);
    expect(h([obs('1', { leader: true }), obs('2'), obs('3'), obs('4'), obs('5')])).toBe(2);
    expect(h([obs('1', { leader: true }), obs('2'), obs('3'), obs('4', { voter: false })])).toBe(1);
  });
});

describe('the configuration in Raft', () => {
  it('is set with or without CAS, keeps CreateIndex, and survives a snapshot', () => {
    const fsm = new Fsm('dc1');
    const apply = (i: number, cfg: AutopilotConfig, cas: number | null): unknown =>
      fsm.apply(i, encodeCommand({ type: 'autopilotSetConfig', config: cfg, cas }));
    expect(fsm.store.autopilotConfig()).toBeNull();
    expect(apply(5, config, 0)).toBe(true);
    expect(apply(6, { ...config, MinQuorum: 9 }, 0)).toBe(false); // a second seed changes nothing
    expect(fsm.store.autopilotConfig()).toMatchObject({ MinQuorum: 3, CreateIndex: 5, ModifyIndex: 5 });
    expect(apply(7, { ...config, MaxTrailingLogs: 10 }, 4)).toBe(false);
    expect(apply(8, { ...config, MaxTrailingLogs: 10 }, 5)).toBe(true);
    expect(apply(9, { ...config, CleanupDeadServers: false }, null)).toBe(true);
    expect(fsm.store.autopilotConfig()).toMatchObject({
      CleanupDeadServers: false,
      MaxTrailingLogs: 250,
      CreateIndex: 5,
      ModifyIndex: 9,
    });
    const copy = new Fsm('dc1');
    copy.restore(fsm.snapshot());
    expect(copy.store.autopilotConfig()).toEqual(fsm.store.autopilotConfig());
  });

  it('refuses a malformed command without stopping the log', () => {
    const fsm = new Fsm('dc1');
    const r = fsm.apply(
      3,
      encodeCommand({
        type: 'autopilotSetConfig',
        config: { ...config, MaxTrailingLogs: -1 },
        cas: null,
      }),
    );
    expect(String(r)).toMatch(/MaxTrailingLogs must be a non-negative integer/);
    expect(fsm.store.autopilotConfig()).toBeNull();
    expect(fsm.store.lastIndex).toBe(3);
  });
});

describe('formatAutopilotState', () => {
  it("prints Consul's pretty layout, servers sorted by ID", () => {
    const server = (id: string, name: string, status: string): AutopilotStateJson['Servers'][string] => ({
      ID: id,
      Name: name,
      Address: `198.18.0.${name.slice(-1)}:8300`,
      NodeStatus: 'alive',
      Version: '1.9.0',
      LastContact: status === 'leader' ? '0s' : '2ms',
      LastTerm: 3,
      LastIndex: 42,
      Healthy: true,
      Status: status,
      NodeType: 'voter',
      Meta: name === 'node1' ? { foo: 'bar' } : {},
    });
    const out = formatAutopilotState({
      Healthy: true,
      FailureTolerance: 0,
      OptimisticFailureTolerance: 0,
      Servers: { 'b-2': server('b-2', 'node2', 'voter'), 'a-1': server('a-1', 'node1', 'leader') },
      Leader: 'a-1',
      Voters: ['a-1', 'b-2'],
    });
    expect(out).toBe(
      [
        'Healthy:                      true',
        'Failure Tolerance:            0',
        'Optimistic Failure Tolerance: 0',
        'Leader:                       a-1',
        'Voters:',
        '   a-1',
        '   b-2',
        'Servers:',
        '   a-1',
        '      Name:            node1',
        '      Address:         198.18.0.1:8300',
        '      Version:         1.9.0',
        '      Status:          leader',
        '      Node Type:       voter',
        '      Node Status:     alive',
        '      Healthy:         true',
        '      Last Contact:    0s',
        '      Last Term:       3',
        '      Last Index:      42',
        '      Meta',
        '         "foo": "bar"',
        '   b-2',
        '      Name:            node2',
        '      Address:         198.18.0.2:8300',
        '      Version:         1.9.0',
        '      Status:          voter',
        '      Node Type:       voter',
        '      Node Status:     alive',
        '      Healthy:         true',
        '      Last Contact:    2ms',
        '      Last Term:       3',
        '      Last Index:      42',
        '',
      ].join('\n'),
    );
  });
});

describe('formatPeers', () => {
  it("adds Consul's Commit Index and Trails Leader By columns, or - without health", () => {
    const servers = [
      { ID: 'id-1', Node: 'n1', Address: '10.0.0.1:8300', Leader: true, Voter: true, ProtocolVersion: '3' },
      { ID: 'id-2', Node: 'n2', Address: '10.0.0.2:8300', Leader: false, Voter: true, ProtocolVersion: '3' },
      { ID: 'id-3', Node: 'n3', Address: '10.0.0.3:8300', Leader: false, Voter: false, ProtocolVersion: '3' },
    ];
    const idx = new Map([
      ['id-1', 50],
      ['id-2', 49],
      ['id-3', 40],
    ]);
    expect(formatPeers(servers, idx).split('\n')).toEqual([
      'Node  ID    Address        State     Voter  RaftProtocol  Commit Index  Trails Leader By',
      'n1    id-1  10.0.0.1:8300  leader    true   3             50            -',
      'n2    id-2  10.0.0.2:8300  follower  true   3             49            1 commit',
      'n3    id-3  10.0.0.3:8300  follower  false  3             40            10 commits',
      '',
    ]);
    expect(formatPeers(servers, null).split('\n')[2]).toBe(
      'n2    id-2  10.0.0.2:8300  follower  true   3             -             -',
    );
  });
});

describe('a dev agent', () => {
  let dev: DevAgent;
  let io: CapturedIo;
  const cli = async (...args: string[]): Promise<number> => {
    io.stdout = '';
    io.stderr = '';
    return main(args, io);
  };
  const req = (method: string, path: string, body?: unknown): Promise<Response> =>
    Promise.resolve(
      dev.app.request(path, { method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) }),
    );

  beforeAll(async () => {
    dev = await startDevAgent((c) => {
      c.ports.http = 0;
      c.autopilot.maxTrailingLogs = 77;
      c.autopilot.serverStabilizationTimeMs = 3000;
    });
    io = captureIo({ CONSUL_HTTP_ADDR: dev.agent.httpAddr ?? '' });
    const deadline = Date.now() + 10_000;
    while (!dev.agent.server?.fsm.store.autopilotConfig()) {
      if (Date.now() > deadline) throw new Error('the leader did not store the autopilot configuration');
      await new Promise((r) => setTimeout(r, 10));
    }
  });
  afterAll(() => dev.stop());

  it('serves the configuration the leader seeded from its autopilot block', async () => {
    const r = await req('GET', '/v1/operator/autopilot/configuration');
    expect(r.status).toBe(200);
    const body = (await r.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      CleanupDeadServers: true,
      LastContactThreshold: '200ms',
      MaxTrailingLogs: 77,
      MinQuorum: 0,
      ServerStabilizationTime: '3s',
      RedundancyZoneTag: '',
      DisableUpgradeMigration: false,
      UpgradeVersionTag: '',
    });
    expect(body['ModifyIndex']).toBeGreaterThan(0);
    expect(r.headers.get('X-Consul-Index')).toBe(String(body['ModifyIndex']));
  });

  it('updates it with ?cas (false on a stale index) and without', async () => {
    const cur = (await (await req('GET', '/v1/operator/autopilot/configuration')).json()) as Record<
      string,
      unknown
    >;
    const stale = Number(cur['ModifyIndex']) - 1;
    let r = await req('PUT', `/v1/operator/autopilot/configuration?cas=${stale}`, { ...cur, MinQuorum: 5 });
    expect(await r.text()).toBe('false');
    r = await req('PUT', `/v1/operator/autopilot/configuration?cas=${String(cur['ModifyIndex'])}`, {
      ...cur,
      MinQuorum: 5,
      LastContactThreshold: '1s',
    });
    expect(await r.text()).toBe('true');
    const now = (await (await req('GET', '/v1/operator/autopilot/configuration')).json()) as Record<
      string,
      unknown
    >;
    expect(now).toMatchObject({ MinQuorum: 5, LastContactThreshold: '1s', CreateIndex: cur['CreateIndex'] });
    r = await req('PUT', '/v1/operator/autopilot/configuration', { ...now, LastContactThreshold: '200ms' });
    expect(await r.text()).toBe('true');
    expect(dev.agent.server?.autopilotConfig().LastContactThresholdMs).toBe(200);
  });

  it('refuses a bad body or cas with 400', async () => {
    expect((await req('PUT', '/v1/operator/autopilot/configuration', { MaxTrailingLogs: 'x' })).status).toBe(
      400,
    );
    expect(
      (await req('PUT', '/v1/operator/autopilot/configuration', { LastContactThreshold: 'soon' })).status,
    ).toBe(400);
    expect((await req('PUT', '/v1/operator/autopilot/configuration?cas=abc', {})).status).toBe(400);
    expect((await req('PUT', '/v1/operator/autopilot/configuration', [])).status).toBe(400);
  });

  it("answers health and state in Consul's shapes", async () => {
    const h = await req('GET', '/v1/operator/autopilot/health');
    expect(h.status).toBe(200);
    const health = (await h.json()) as {
      Healthy: boolean;
      FailureTolerance: number;
      Servers: Record<string, unknown>[];
    };
    const id = dev.agent.server?.nodeId;
    expect(health).toMatchObject({ Healthy: true, FailureTolerance: 0 });
    expect(health.Servers).toHaveLength(1);
    expect(health.Servers[0]).toMatchObject({
      ID: id,
      Name: 'test-node',
      SerfStatus: 'alive',
      Leader: true,
      LastContact: '0s',
      Healthy: true,
      Voter: true,
    });
    expect(health.Servers[0]?.['StableSince']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const s = (await (await req('GET', '/v1/operator/autopilot/state')).json()) as Record<string, unknown>;
    expect(s).toMatchObject({ Healthy: true, FailureTolerance: 0, Leader: id, Voters: [id] });
    expect((s['Servers'] as Record<string, unknown>)[id as string]).toMatchObject({
      Status: 'leader',
      NodeType: 'voter',
      NodeStatus: 'alive',
      ReadReplica: false,
    });
  });

  it("operator autopilot get-config prints Consul's lines", async () => {
    expect(await cli('operator', 'autopilot', 'get-config')).toBe(0);
    expect(io.stdout).toBe(
      [
        'CleanupDeadServers = true',
        'LastContactThreshold = 200ms',
        'MaxTrailingLogs = 77',
        'MinQuorum = 5',
        'ServerStabilizationTime = 3s',
        'RedundancyZoneTag = ""',
        'DisableUpgradeMigration = false',
        'UpgradeVersionTag = ""',
        '',
      ].join('\n'),
    );
  });

  it('operator autopilot set-config changes only the flags given', async () => {
    expect(
      await cli(
        'operator',
        'autopilot',
        'set-config',
        '-cleanup-dead-servers=false',
        '-server-stabilization-time=15s',
      ),
    ).toBe(0);
    expect(io.stdout).toBe('Configuration updated!\n');
    expect(dev.agent.server?.autopilotConfig()).toMatchObject({
      CleanupDeadServers: false,
      ServerStabilizationTimeMs: 15_000,
      MaxTrailingLogs: 77,
      MinQuorum: 5,
    });
    expect(await cli('operator', 'autopilot', 'set-config', '-max-trailing-logs=lots')).toBe(1);
    expect(io.stderr).toMatch(/^invalid value "lots" for flag -max-trailing-logs/);
    expect(io.stderr.trim().split('\n')).toHaveLength(1);
    expect(await cli('operator', 'autopilot', 'set-config', '-last-contact-threshold=soon')).toBe(1);
  });

  it('operator autopilot state prints pretty or JSON', async () => {
    expect(await cli('operator', 'autopilot', 'state')).toBe(0);
    const id = dev.agent.server?.nodeId as string;
    expect(io.stdout).toMatch(new RegExp(`^Healthy:\\s+true\\nFailure Tolerance:\\s+0\\n`));
    expect(io.stdout).toContain(`Leader:                       ${id}\n`);
    expect(io.stdout).toContain('      Status:          leader\n');
    expect(await cli('operator', 'autopilot', 'state', '-format=json')).toBe(0);
    expect((JSON.parse(io.stdout) as { Leader: string }).Leader).toBe(id);
    expect(await cli('operator', 'autopilot', 'state', '-format=yaml')).toBe(1);
    expect(io.stderr).toMatch(/Invalid format "yaml"/);
  });

  it('operator raft transfer-leader fails with one line when there is no other voter', async () => {
    expect(await cli('operator', 'raft', 'transfer-leader')).toBe(1);
    expect(io.stdout).toBe('');
    expect(io.stderr).toMatch(
      /^Error transferring leadership: Unexpected response code: 400 \(.*no other voter/,
    );
    expect(io.stderr.trim().split('\n')).toHaveLength(1);
    expect(await cli('operator', 'raft', 'transfer-leader', '-id=nope')).toBe(1);
    expect(io.stderr).toMatch(/cannot find peer nope/);
  });

  it('rejects unknown subcommands with usage', async () => {
    expect(await cli('operator', 'autopilot', 'frobnicate')).toBe(1);
    expect(io.stderr).toMatch(/^Usage: consulate operator autopilot/);
  });
});

describe('ACLs on, default deny', () => {
  let dev: DevAgent;
  let root = '';
  let reader = '';
  const call = async (method: string, path: string, token?: string, body?: unknown): Promise<Response> =>
    dev.app.request(path, {
      method,
      headers: token ? { 'X-Consul-Token': token } : {},
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  beforeAll(async () => {
    dev = await startDevAgent((c) => {
      c.acl.enabled = true;
      c.acl.defaultPolicy = 'deny';
    });
    const deadline = Date.now() + 10_000;
    let b: Response | null = null;
    while (!b || b.status !== 200) {
      if (Date.now() > deadline) throw new Error('no ACL bootstrap');
      b = await call('PUT', '/v1/acl/bootstrap');
      if (b.status !== 200) await new Promise((r) => setTimeout(r, 20));
    }
    root = ((await b.json()) as { SecretID: string }).SecretID;
    const p = await call('PUT', '/v1/acl/policy', root, { Name: 'op-read', Rules: 'operator = "read"' });
    const t = await call('PUT', '/v1/acl/token', root, {
      Policies: [{ ID: ((await p.json()) as { ID: string }).ID }],
    });
    reader = ((await t.json()) as { SecretID: string }).SecretID;
    while (!dev.agent.server?.fsm.store.autopilotConfig()) await new Promise((r) => setTimeout(r, 10));
  });
  afterAll(() => dev.stop());

  it.each([
    ['GET', '/v1/operator/autopilot/configuration', 'read'],
    ['GET', '/v1/operator/autopilot/health', 'read'],
    ['GET', '/v1/operator/autopilot/state', 'read'],
    ['PUT', '/v1/operator/autopilot/configuration', 'write'],
    ['POST', '/v1/operator/raft/transfer-leader', 'write'],
  ])('%s %s needs operator:%s', async (method, path, access) => {
    const body =
      method === 'PUT'
        ? { CleanupDeadServers: true, LastContactThreshold: '200ms', MaxTrailingLogs: 250 }
        : undefined;
    const anon = await call(method, path, undefined, body);
    expect(anon.status).toBe(403);
    expect(await anon.text()).toContain(`lacks permission 'operator:${access}'`);
    const ro = await call(method, path, reader, body);
    expect(ro.status).toBe(access === 'read' ? 200 : 403);
    const mgmt = await call(method, path, root, body);
    // A lone server has nobody to hand leadership to: past the ACL check, a 400.
    expect(mgmt.status).toBe(path.endsWith('transfer-leader') ? 400 : 200);
  });
});
