// The directory of datacenters (server/wan-directory.ts), the flood-join decision and the WAN pool's
// tags and config (agent/wan.ts, config), with fake members: no sockets.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { floodJoinTargets, httpTagAddr, wanTags, withWanPort } from '../../src/agent/wan.js';
import { validateConfig } from '../../src/config/config.js';
import { loadAgentConfig } from '../../src/config/load.js';
import { fastTimings, wanTimings, type Member, type MemberStatus } from '../../src/gossip/types.js';
import {
  MemberDirectory,
  gatewayDirectory,
  localFirst,
  wanServerOf,
} from '../../src/server/wan-directory.js';

function server(
  node: string,
  dc: string,
  addr: string,
  status: MemberStatus = 'alive',
  extra: Record<string, string> = {},
): Member {
  return {
    name: `${node}.${dc}`,
    addr,
    port: 8302,
    tags: { role: 'consul', dc, id: `id-${node}`, port: '8300', http: `${addr}:8500`, ...extra },
    incarnation: 1,
    status,
    since: 0,
  };
}

function directory(members: Member[], now = { t: 1000 }, rank?: (dcs: string[]) => string[]) {
  const d = new MemberDirectory({
    local: 'dc1',
    members: () => members,
    now: () => now.t,
    ...(rank ? { rank } : {}),
  });
  return d;
}

describe('WAN directory', () => {
  it('groups alive servers by datacenter, local first then by name, with RPC and HTTP addresses', () => {
    const d = directory([
      server('c1', 'dc3', '10.0.3.1'),
      server('b2', 'dc2', '10.0.2.2'),
      server('b1', 'dc2', '10.0.2.1'),
      server('a1', 'dc1', '10.0.1.1'),
      // Not servers, or not usable as one: left out.
      { ...server('x', 'dc4', '10.0.4.1'), tags: { role: 'node', dc: 'dc4' } },
      { ...server('y', 'dc5', '10.0.5.1'), tags: { role: 'consul', dc: 'dc5', port: 'nope' } },
    ]);
    expect(d.datacenters()).toEqual(['dc1', 'dc2', 'dc3']);
    expect(d.servers('dc2')).toEqual([
      { name: 'b1', dc: 'dc2', id: 'id-b1', rpc: '10.0.2.1:8300', http: '10.0.2.1:8500' },
      { name: 'b2', dc: 'dc2', id: 'id-b2', rpc: '10.0.2.2:8300', http: '10.0.2.2:8500' },
    ]);
    expect(d.servers('dc9')).toEqual([]);
    expect(d.known('dc2')).toBe(true);
    expect(d.known('dc4')).toBe(false);
    expect(d.known('dc9')).toBe(false);
  });

  it('keeps a datacenter whose servers all failed (known, no alive server); drops one whose servers left', () => {
    const members = [
      server('a1', 'dc1', '10.0.1.1'),
      server('b1', 'dc2', '10.0.2.1', 'failed'),
      server('b2', 'dc2', '10.0.2.2', 'suspect'),
      server('c1', 'dc3', '10.0.3.1', 'left'),
    ];
    const d = directory(members);
    expect(d.datacenters()).toEqual(['dc1', 'dc2']);
    // A suspect server still counts as alive (Consul reports it alive too).
    expect(d.servers('dc2').map((s) => s.name)).toEqual(['b2']);
    expect(d.known('dc3')).toBe(true);
    expect(d.servers('dc3')).toEqual([]);
    members[2] = server('b2', 'dc2', '10.0.2.2', 'failed');
    d.changed();
    expect(d.datacenters()).toEqual(['dc1', 'dc2']);
    expect(d.servers('dc2')).toEqual([]);
    expect(d.known('dc2')).toBe(true);
  });

  it('always lists its own datacenter, even with no WAN pool', () => {
    const d = directory([]);
    expect(d.datacenters()).toEqual(['dc1']);
    expect(d.known('dc1')).toBe(true);
    expect(d.servers('dc1')).toEqual([]);
  });

  it('orders datacenters with the injected ranking', () => {
    const d = directory(
      [server('a1', 'dc1', '10.0.1.1'), server('b1', 'dc2', '10.0.2.1'), server('c1', 'dc3', '10.0.3.1')],
      { t: 1 },
      (dcs) => [...dcs].sort().reverse(),
    );
    expect(d.datacenters()).toEqual(['dc3', 'dc2', 'dc1']);
    d.setRank((dcs) => [...dcs].sort((a, b) => (a === 'dc2' ? -1 : b === 'dc2' ? 1 : a < b ? -1 : 1)));
    expect(d.datacenters()).toEqual(['dc2', 'dc1', 'dc3']);
    expect(localFirst('dc2')(['dc3', 'dc1', 'dc2'])).toEqual(['dc2', 'dc1', 'dc3']);
  });

  it('reads a change only after changed() (the view is rebuilt once per change)', () => {
    const members = [server('a1', 'dc1', '10.0.1.1')];
    let reads = 0;
    const d = new MemberDirectory({
      local: 'dc1',
      members: () => {
        reads++;
        return members;
      },
    });
    d.datacenters();
    d.servers('dc1');
    d.known('dc1');
    expect(reads).toBe(1);
    members.push(server('b1', 'dc2', '10.0.2.1'));
    expect(d.datacenters()).toEqual(['dc1']);
    d.changed();
    expect(d.datacenters()).toEqual(['dc1', 'dc2']);
    expect(reads).toBe(2);
  });

  it('versions: never 0, always increasing, at least the wall clock of the last change', () => {
    const now = { t: 0 };
    const d = directory([], now);
    expect(d.version()).toBe(1);
    d.changed();
    expect(d.version()).toBe(2);
    now.t = 5000;
    d.changed();
    expect(d.version()).toBe(5000);
    d.changed();
    expect(d.version()).toBe(5001);
  });

  it('waitForChange: at once when newer, on a change, after the wait, or on abort', async () => {
    const d = directory([], { t: 100 });
    const never = new AbortController().signal;
    let t0 = Date.now();
    await d.waitForChange(99, 5000, never);
    expect(Date.now() - t0).toBeLessThan(50);

    let woke = false;
    const p = d.waitForChange(d.version(), 5000, never).then(() => (woke = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(woke).toBe(false);
    d.changed();
    await p;
    expect(woke).toBe(true);

    t0 = Date.now();
    await d.waitForChange(d.version(), 60, never);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(50);

    const ac = new AbortController();
    t0 = Date.now();
    const q = d.waitForChange(d.version(), 5000, ac.signal);
    ac.abort();
    await q;
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('builds the gateway directory: each datacenter with its alive servers that have an HTTP API', () => {
    const d = directory([
      server('b1', 'dc2', '10.0.2.1'),
      server('a1', 'dc1', '10.0.1.1'),
      { ...server('a2', 'dc1', '10.0.1.2'), tags: { role: 'consul', dc: 'dc1', id: 'x', port: '8300' } },
      server('b2', 'dc2', '10.0.2.2', 'failed'),
    ]);
    expect(gatewayDirectory(d)).toEqual({
      Datacenter: 'dc1',
      Datacenters: [
        { Datacenter: 'dc1', Servers: [{ Node: 'a1', RPC: '10.0.1.1:8300', HTTP: '10.0.1.1:8500' }] },
        { Datacenter: 'dc2', Servers: [{ Node: 'b1', RPC: '10.0.2.1:8300', HTTP: '10.0.2.1:8500' }] },
      ],
    });
  });

  it('parses a WAN member: name without the .dc suffix, IPv6 RPC address in brackets', () => {
    expect(wanServerOf(server('s.with.dots', 'dc2', 'fd00::1'))).toEqual({
      name: 's.with.dots',
      dc: 'dc2',
      id: 'id-s.with.dots',
      rpc: '[fd00::1]:8300',
      http: 'fd00::1:8500',
    });
  });
});

describe('flood join', () => {
  const lan = (name: string, addr: string, status: MemberStatus, tags: Record<string, string>) => ({
    name,
    addr,
    status,
    tags,
  });
  const srv = (dc: string, wanPort?: number): Record<string, string> => ({
    role: 'consul',
    dc,
    port: '8300',
    ...(wanPort !== undefined ? { wan_join_port: String(wanPort) } : {}),
  });

  it('joins the alive servers of its own datacenter that the WAN pool lacks, at their wan_join_port', () => {
    const targets = floodJoinTargets(
      'dc1',
      's1',
      [
        lan('s1', '10.0.0.1', 'alive', srv('dc1', 8302)), // itself
        lan('s2', '10.0.0.2', 'alive', srv('dc1', 8302)), // already in the WAN pool
        lan('s3', '10.0.0.3', 'alive', srv('dc1', 9302)), // missing: join
        lan('s4', '10.0.0.4', 'failed', srv('dc1', 8302)), // not alive on the LAN
        lan('s5', '10.0.0.5', 'alive', srv('dc1')), // WAN disabled there
        lan('c1', '10.0.0.6', 'alive', { role: 'node', dc: 'dc1', wan_join_port: '8302' }), // client
        lan('x1', '10.0.0.7', 'alive', srv('dc2', 8302)), // another datacenter's server
        lan('s6', '10.0.0.8', 'alive', srv('dc1', 8302)), // failed in the WAN pool: join again
      ],
      [
        { name: 's1.dc1', status: 'alive' },
        { name: 's2.dc1', status: 'suspect' },
        { name: 's6.dc1', status: 'failed' },
        { name: 's3.dc2', status: 'alive' }, // same node name, other DC: not s3.dc1
      ],
    );
    expect(targets).toEqual(['10.0.0.3:9302', '10.0.0.8:8302']);
  });

  it('has nothing to do once every server is in the pool', () => {
    expect(
      floodJoinTargets(
        'dc1',
        's1',
        [lan('s1', '10.0.0.1', 'alive', srv('dc1', 8302)), lan('s2', '10.0.0.2', 'alive', srv('dc1', 8302))],
        [
          { name: 's1.dc1', status: 'alive' },
          { name: 's2.dc1', status: 'alive' },
        ],
      ),
    ).toEqual([]);
  });
});

describe('WAN tags and configuration', () => {
  it("announces Consul's WAN tags plus http", () => {
    expect(wanTags({ datacenter: 'dc2' }, 'node-id', 8300, '10.0.0.1:8500')).toMatchObject({
      role: 'consul',
      dc: 'dc2',
      id: 'node-id',
      port: '8300',
      vsn: '2',
      vsn_min: '2',
      vsn_max: '3',
      raft_vsn: '3',
      http: '10.0.0.1:8500',
    });
    expect(wanTags({ datacenter: 'dc2' }, 'node-id', 8300, null)['http']).toBeUndefined();
  });

  it('puts the reachable HTTP address in the tag: -client, or the advertise address for 0.0.0.0', () => {
    expect(httpTagAddr({ clientAddr: '127.0.0.1' }, '10.0.0.1', '127.0.0.1:8500')).toBe('127.0.0.1:8500');
    expect(httpTagAddr({ clientAddr: '0.0.0.0' }, '10.0.0.1', '0.0.0.0:8501')).toBe('10.0.0.1:8501');
    expect(httpTagAddr({ clientAddr: '::' }, '10.0.0.1', ':::8501')).toBe('10.0.0.1:8501');
    expect(httpTagAddr({ clientAddr: '0.0.0.0' }, '10.0.0.1', null)).toBeNull();
  });

  it('defaults WAN join addresses to port 8302', () => {
    expect(withWanPort('10.0.0.1')).toBe('10.0.0.1:8302');
    expect(withWanPort(' 10.0.0.1:9302 ')).toBe('10.0.0.1:9302');
    expect(withWanPort('consul.example')).toBe('consul.example:8302');
  });

  it('reads -join-wan, -retry-join-wan, retry_interval_wan, retry_max_wan and gossip_wan', () => {
    const dir = mkdtempSync(join(tmpdir(), 'consulate-wan-cfg-'));
    try {
      const f = join(dir, 'wan.json');
      writeFileSync(
        f,
        JSON.stringify({
          retry_join_wan: ['10.1.0.1'],
          start_join_wan: '10.1.0.2',
          retry_interval_wan: '10s',
          retry_max_wan: 3,
          reconnect_timeout_wan: '1h',
          gossip_wan: {
            probe_interval: '2s',
            probe_timeout: '1s',
            gossip_nodes: 5,
            push_pull_interval: '20s',
          },
        }),
      );
      const c = loadAgentConfig([
        '-server',
        '-node=n',
        '-data-dir=/x',
        `-config-file=${f}`,
        '-join-wan=10.1.0.3',
        '-retry-join-wan',
        '10.1.0.4:9302',
        '-retry-interval-wan=5s',
        '-retry-max-wan=7',
        '-serf-wan-port=-1',
        '-advertise-wan=203.0.113.5',
      ]);
      expect(c.advertiseAddrWan).toBe('203.0.113.5');
      expect(c.retryJoinWan).toEqual(['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4:9302']);
      expect(c.retryIntervalWanMs).toBe(5000);
      expect(c.retryMaxWan).toBe(7);
      expect(c.reconnectTimeoutWanMs).toBe(3600_000);
      expect(c.ports.serfWan).toBe(-1);
      expect(c.gossipWan).toMatchObject({
        probeIntervalMs: 2000,
        probeTimeoutMs: 1000,
        gossipNodes: 5,
        pushPullIntervalMs: 20_000,
        suspicionMult: wanTimings.suspicionMult,
      });
      // LAN timings untouched.
      expect(c.gossipLan.probeIntervalMs).toBe(1000);
      expect(validateConfig(c)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("defaults to Consul's WAN timings, 30 s between WAN joins; -dev runs the fast profile", () => {
    const c = loadAgentConfig(['-server', '-node=n', '-data-dir=/x']);
    expect(c.gossipWan).toEqual(wanTimings);
    expect(c.gossipWan.probeIntervalMs).toBe(5000);
    expect([c.retryIntervalWanMs, c.retryMaxWan, c.ports.serfWan]).toEqual([30_000, 0, 8302]);
    const dev = loadAgentConfig(['-dev', '-node=n']);
    expect(dev.gossipWan).toEqual(fastTimings);
  });

  it('checks gossip_wan like gossip_lan, and warns about WAN joins on a client', () => {
    const bad = loadAgentConfig(['-server', '-node=n', '-data-dir=/x']);
    bad.gossipWan.probeTimeoutMs = bad.gossipWan.probeIntervalMs;
    expect(() => validateConfig(bad)).toThrow(
      'gossip_wan.probe_timeout must be shorter than gossip_wan.probe_interval',
    );
    const client = loadAgentConfig(['-node=n', '-data-dir=/x', '-retry-join-wan=10.0.0.1']);
    expect(validateConfig(client)).toEqual([
      "(WAN) couldn't join: Err: Must be a server to join WAN cluster",
    ]);
  });
});
