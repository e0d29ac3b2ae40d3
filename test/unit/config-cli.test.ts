import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raftTimings, validateConfig } from '../../src/config/config.js';
import { loadAgentConfig } from '../../src/config/load.js';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/common.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { captureIo } from '../support/capture-io.js';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/consulate.js');
const dir = mkdtempSync(join(tmpdir(), 'consulate-cfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('agent configuration', () => {
  it("takes Consul's flag names in both -flag value and -flag=value forms", () => {
    const c = loadAgentConfig([
      '-server',
      '-bootstrap-expect',
      '3',
      '-retry-join=10.0.0.1',
      '-retry-join',
      '10.0.0.2:8300',
      '-datacenter=DC2',
      '-node',
      'n1',
      '-data-dir',
      '/tmp/x',
      '-http-port=9500',
      '-server-port',
      '9300',
      '-log-level=debug',
      '-log-json',
    ]);
    expect(c).toMatchObject({
      server: true,
      bootstrapExpect: 3,
      retryJoin: ['10.0.0.1', '10.0.0.2:8300'],
      datacenter: 'DC2',
      nodeName: 'n1',
      dataDir: '/tmp/x',
      logLevel: 'debug',
      logJson: true,
    });
    expect(c.ports).toMatchObject({ http: 9500, server: 9300 });
    validateConfig(c);
    expect(c.datacenter).toBe('dc2');
  });

  it('merges config files in order, then lets flags win', () => {
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    writeFileSync(
      a,
      JSON.stringify({
        server: true,
        datacenter: 'east',
        node_name: 'from-file',
        data_dir: '/d',
        ports: { http: 1111 },
        performance: { raft_multiplier: 2 },
        retry_join: ['x'],
      }),
    );
    writeFileSync(b, JSON.stringify({ ports: { http: 2222 }, start_join: ['y'] }));
    const c = loadAgentConfig([`-config-file=${a}`, `-config-file=${b}`, '-node=from-flag']);
    expect(c).toMatchObject({ datacenter: 'east', nodeName: 'from-flag', retryJoin: ['x', 'y'] });
    expect(c.ports.http).toBe(2222);
    expect(raftTimings(c)).toMatchObject({
      electionTimeoutMs: 2000,
      heartbeatIntervalMs: 200,
      leaseTimeoutMs: 1000,
    });
  });

  it('refuses unknown or invalid settings with one clear message', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ server: true, colour: 'blue' }));
    expect(() => loadAgentConfig([`-config-file=${bad}`])).toThrow('unknown config key "colour"');
    writeFileSync(bad, '{ nope');
    expect(() => loadAgentConfig([`-config-file=${bad}`])).toThrow('invalid JSON');
    expect(() => loadAgentConfig(['-bogus'])).toThrow('unknown flag: -bogus');
    expect(() => loadAgentConfig(['-bootstrap-expect', 'three'])).toThrow('expected an integer');
    expect(() => loadAgentConfig(['-data-dir'])).toThrow('flag needs an argument');
    expect(() => validateConfig(loadAgentConfig(['-server', '-node=n']))).toThrow('data_dir is required');
    expect(() =>
      validateConfig(
        loadAgentConfig(['-server', '-bootstrap', '-bootstrap-expect=3', '-data-dir=/x', '-node=n']),
      ),
    ).toThrow('mutually exclusive');
    expect(() => validateConfig(loadAgentConfig(['-bootstrap-expect=3', '-data-dir=/x', '-node=n']))).toThrow(
      'require server mode',
    );
  });

  it('takes the gossip settings: ports, join addresses, gossip_lan timings, encryption', () => {
    const f = join(dir, 'gossip.json');
    const key = Buffer.alloc(32, 7).toString('base64');
    writeFileSync(
      f,
      JSON.stringify({
        data_dir: '/d',
        encrypt: key,
        encrypt_verify_incoming: false,
        reconnect_timeout: '8h',
        ports: { serf_lan: 9301 },
        gossip_lan: { probe_interval: '2s', probe_timeout: '1s', gossip_nodes: 4, suspicion_mult: 6 },
        autopilot: { cleanup_dead_servers: false, min_quorum: 5 },
      }),
    );
    const c = loadAgentConfig([`-config-file=${f}`, '-node=n', '-join=10.0.0.1', '-serf-lan-port=9401']);
    expect(validateConfig(c)).toEqual([]);
    expect(c).toMatchObject({
      server: false, // client mode: no -server
      encrypt: key,
      encryptVerifyIncoming: false,
      encryptVerifyOutgoing: true,
      reconnectTimeoutMs: 8 * 3600_000,
      retryJoin: ['10.0.0.1'],
      autopilot: { cleanupDeadServers: false, minQuorum: 5 },
    });
    expect(c.ports.serfLan).toBe(9401);
    expect(c.gossipLan).toMatchObject({
      probeIntervalMs: 2000,
      probeTimeoutMs: 1000,
      gossipNodes: 4,
      suspicionMult: 6,
      gossipIntervalMs: 200, // Consul's LAN default where not set
    });
    // -bootstrap-expect becomes autopilot's floor unless min_quorum is set.
    const s = loadAgentConfig(['-server', '-bootstrap-expect=3', '-data-dir=/x', '-node=n']);
    validateConfig(s);
    expect(s.autopilot.minQuorum).toBe(3);
  });

  it('refuses a gossip key that is not 16, 24 or 32 bytes of base64, and impossible timings', () => {
    const bad =
      (...a: string[]): (() => void) =>
      () =>
        validateConfig(loadAgentConfig(['-node=n', '-data-dir=/x', ...a]));
    expect(bad('-encrypt=abc')).toThrow('base64 of 16, 24 or 32 bytes');
    expect(bad(`-encrypt=${Buffer.alloc(20).toString('base64')}`)).toThrow('16, 24 or 32');
    const f = join(dir, 'timing.json');
    writeFileSync(f, JSON.stringify({ gossip_lan: { probe_interval: '1s', probe_timeout: '2s' } }));
    expect(bad(`-config-file=${f}`)).toThrow('probe_timeout must be shorter');
    writeFileSync(f, JSON.stringify({ gossip_lan: { probe_nterval: '1s' } }));
    expect(bad(`-config-file=${f}`)).toThrow('unknown key "probe_nterval"');
  });

  it('exits 1 with one line on stderr for a bad flag', async () => {
    const err = await run(process.execPath, [BIN, 'agent', '-no-such-flag']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr.trim().split('\n')).toEqual([
      'Error: unknown flag: -no-such-flag',
    ]);
  });
});

describe('kv, operator and gossip commands', () => {
  let dev: DevAgent;
  let io: Io & { stdout: string; stderr: string };
  const cli = async (...args: string[]): Promise<number> => {
    io.stdout = '';
    io.stderr = '';
    return main(args, io);
  };
  beforeAll(async () => {
    dev = await startDevAgent((c) => {
      c.ports.http = 0;
    });
    io = captureIo({ CONSUL_HTTP_ADDR: dev.agent.httpAddr ?? '' }, Buffer.from('from stdin'));
  });
  afterAll(() => dev.stop());

  it('puts, gets and deletes keys like consul kv', async () => {
    expect(await cli('kv', 'put', 'cli/a', 'hello')).toBe(0);
    expect(io.stdout).toBe('Success! Data written to: cli/a\n');
    expect(await cli('kv', 'get', 'cli/a')).toBe(0);
    expect(io.stdout).toBe('hello\n');
    expect(await cli('kv', 'put', 'cli/b', '-')).toBe(0);
    expect(await cli('kv', 'get', '-recurse', 'cli/')).toBe(0);
    expect(io.stdout).toBe('cli/a:hello\ncli/b:from stdin\n');
    expect(await cli('kv', 'get', 'cli/missing')).toBe(1);
    expect(io.stderr).toBe('Error! No key exists at: cli/missing\n');
    expect(await cli('kv', 'delete', 'cli/a')).toBe(0);
    expect(io.stdout).toBe('Success! Deleted key: cli/a\n');
    expect(await cli('kv', 'delete', '-recurse', 'cli/')).toBe(0);
    expect(await cli('kv', 'get', 'cli/b')).toBe(1);
  });

  it('does -cas with -modify-index and -flags', async () => {
    await cli('kv', 'put', '-flags=5', 'cas/k', 'v1');
    expect(await cli('kv', 'get', '-detailed', 'cas/k')).toBe(0);
    expect(io.stdout).toMatch(/Flags\s+5/);
    const mi = Number(/ModifyIndex\s+(\d+)/.exec(io.stdout)![1]);
    expect(await cli('kv', 'put', '-cas', `-modify-index=${mi + 1}`, 'cas/k', 'v2')).toBe(1);
    expect(io.stderr).toBe('Error! Did not write to cas/k: CAS failed\n');
    expect(await cli('kv', 'put', '-cas', `-modify-index=${mi}`, 'cas/k', 'v2')).toBe(0);
    expect(await cli('kv', 'put', '-cas', 'cas/k', 'v3')).toBe(1);
    expect(io.stderr).toContain('-modify-index');
  });

  it('honours -http-addr over CONSUL_HTTP_ADDR and reports unreachable agents in one line', async () => {
    expect(await cli('kv', 'get', '-http-addr=127.0.0.1:1', 'x')).toBe(1);
    expect(io.stderr.trim().split('\n')).toHaveLength(1);
    expect(io.stderr).toContain('error connecting to http://127.0.0.1:1');
  });

  it('lists Raft peers in a table', async () => {
    expect(await cli('operator', 'raft', 'list-peers')).toBe(0);
    const lines = io.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^Node\s+ID\s+Address\s+State\s+Voter\s+RaftProtocol\s+Commit Index\s+Trails Leader By$/,
    );
    expect(lines[1]).toMatch(/^test-node\s+\S+\s+127\.0\.0\.1:\d+\s+leader\s+true\s+3\s+\d+\s+-$/);
  });

  it('lists members, plain and -detailed, and filters them by -status', async () => {
    expect(await cli('members')).toBe(0);
    expect(io.stdout.trim().split('\n')[1]).toMatch(/^test-node\s+127\.0\.0\.1:\d+\s+alive\s+server\s+/);
    expect(await cli('members', '-detailed')).toBe(0);
    expect(io.stdout).toMatch(/^Node\s+Address\s+Status\s+Tags\n/);
    expect(io.stdout).toContain('role=consul');
    expect(await cli('members', '-status=failed')).toBe(2); // Consul's code when nothing matches
  });

  it('fails join, force-leave and event with one line and exit 1 when they cannot be done', async () => {
    expect(await cli('join', '127.0.0.1:1')).toBe(1);
    expect(io.stderr.trim().split('\n').at(-1)).toBe('Failed to join any nodes.');
    expect(await cli('force-leave', 'nobody')).toBe(1);
    expect(io.stderr.trim().split('\n')).toHaveLength(1);
    expect(io.stderr).toContain("No node found with name 'nobody'");
    expect(await cli('event', '-tag=v1', '-name=x')).toBe(1);
    expect(io.stderr).toBe('Cannot provide tag filter without service filter.\n');
    expect(await cli('event', '-name=deploy', 'v1')).toBe(0);
    expect(io.stdout).toMatch(/^Event ID: [0-9a-f-]{36}\n$/);
  });

  it('makes gossip keys, and refuses a keyring operation without exactly one action', async () => {
    expect(await cli('keygen')).toBe(0);
    expect(Buffer.from(io.stdout.trim(), 'base64')).toHaveLength(32);
    expect(await cli('keyring')).toBe(1);
    expect(await cli('keyring', '-list', '-install=x')).toBe(1);
    expect(io.stderr).toContain('Exactly one operation');
  });

  it('rejects unknown commands and flags with exit 1', async () => {
    expect(await cli('frobnicate')).toBe(1);
    expect(await cli('kv', 'get', '-nope', 'x')).toBe(1);
    expect(io.stderr).toBe('flag provided but not defined: -nope\n');
  });
});
