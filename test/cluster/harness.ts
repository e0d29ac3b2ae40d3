// Real consulate processes on 127.0.0.1 with free ports, like Consul's sdk/testutil: start N
// servers and M clients in one gossip pool, wait for a leader, kill -9 and restart them, read their
// HTTP APIs. Gossip runs with short timings (every timer a fifth of Consul's LAN profile).

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConsulClient } from '../../src/client/client.js';

/** The repository root (this file also runs compiled, from dist-bench/, for the benchmark). */
function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json'))) dir = resolve(dir, '..');
  return dir;
}
const BIN = join(repoRoot(), 'bin/consulate.js');

/** Ports this process has handed out: the OS may offer a just-closed port again. */
const handedOut = new Set<number>();

/** A free TCP port on 127.0.0.1, never one this process handed out before. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((res, rej) => {
      const s = createServer();
      s.once('error', rej);
      s.listen(0, '127.0.0.1', () => {
        const a = s.address();
        const p = typeof a === 'object' && a ? a.port : 0;
        s.close(() => res(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export interface ServerProc {
  name: string;
  server: boolean;
  httpPort: number;
  rpcPort: number;
  serfPort: number;
  /** DNS, UDP and TCP, at 127.0.0.1. */
  dnsPort: number;
  /** WAN gossip (servers of a cluster started with `wan`); 0 when there is none. */
  wanPort: number;
  dataDir: string;
  logFile: string;
  proc: ChildProcess | null;
  client: ConsulClient;
  http: string;
}

export interface ClusterOptions {
  servers: number;
  clients?: number;
  logLevel?: string;
  extraConfig?: Record<string, unknown>;
  /** Every agent joins through the first server's address only (the first joins nobody). */
  joinThroughFirst?: boolean;
  /** The agents' datacenter (dc1). */
  datacenter?: string;
  /** Servers run a WAN gossip pool (with TEST_GOSSIP timings); without it, -serf-wan-port=-1. */
  wan?: boolean;
  /** WAN gossip addresses every server joins (-retry-join-wan). */
  retryJoinWan?: string[];
  /** Config of one agent (by name), in its own file after the common one (e.g. its certificate). */
  agentConfig?: (name: string, server: boolean) => Record<string, unknown>;
}

/** Consul's LAN gossip timings divided by five: failures show within a couple of seconds. */
export const TEST_GOSSIP = {
  probe_interval: '200ms',
  probe_timeout: '100ms',
  gossip_interval: '40ms',
  push_pull_interval: '6s',
  reconnect_interval: '2s',
  gossip_to_the_dead_time: '6s',
};

/** A `consulate gateway` process of a cluster's datacenter. */
export interface GatewayProc {
  name: string;
  datacenter: string;
  httpPort: number;
  /** host:port of its listener. */
  http: string;
  /** host:port of the agents it reads the directory from (its -server flags). */
  servers: string[];
  logFile: string;
  proc: ChildProcess | null;
}

export class TestCluster {
  readonly root: string;
  readonly agents: ServerProc[] = [];
  readonly gateways: GatewayProc[] = [];

  private logLevel = 'debug';
  private joinThroughFirst = false;
  private datacenter = 'dc1';
  private wan = false;
  private retryJoinWan: string[] = [];
  private agentConfig: ClusterOptions['agentConfig'];

  private constructor(root: string) {
    this.root = root;
  }

  static async start(o: ClusterOptions): Promise<TestCluster> {
    const c = new TestCluster(mkdtempSync(join(tmpdir(), 'consulate-cluster-')));
    c.logLevel = o.logLevel ?? 'debug';
    c.joinThroughFirst = o.joinThroughFirst ?? false;
    c.datacenter = o.datacenter ?? 'dc1';
    c.wan = o.wan ?? false;
    c.retryJoinWan = o.retryJoinWan ?? [];
    c.agentConfig = o.agentConfig;
    for (let i = 0; i < o.servers; i++) await c.add(`server-${i + 1}`, true);
    for (let i = 0; i < (o.clients ?? 0); i++) await c.add(`client-${i + 1}`, false);
    const cfg = join(c.root, 'common.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        performance: { raft_multiplier: 1 },
        gossip_lan: TEST_GOSSIP,
        ...(c.wan ? { gossip_wan: TEST_GOSSIP } : {}),
        ...(o.extraConfig ?? {}),
      }),
    );
    for (const s of c.agents) c.spawn(s);
    return c;
  }

  get servers(): ServerProc[] {
    return this.agents.filter((a) => a.server);
  }

  get clients(): ServerProc[] {
    return this.agents.filter((a) => !a.server);
  }

  /** Describes one more agent (not started: spawn() starts it). */
  async add(name: string, server: boolean): Promise<ServerProc> {
    const httpPort = await freePort();
    const a: ServerProc = {
      name,
      server,
      httpPort,
      rpcPort: server ? await freePort() : 0,
      serfPort: await freePort(),
      dnsPort: await freePort(),
      wanPort: server && this.wan ? await freePort() : 0,
      dataDir: join(this.root, name),
      logFile: join(this.root, `${name}.log`),
      proc: null,
      http: `127.0.0.1:${httpPort}`,
      client: new ConsulClient({ address: `127.0.0.1:${httpPort}`, timeoutMs: 15_000 }),
    };
    this.agents.push(a);
    return a;
  }

  /** Every agent joins through the servers' gossip ports (any one answering is enough). */
  args(s: ServerProc, extra: string[] = []): string[] {
    const targets = this.joinThroughFirst ? this.servers.slice(0, 1) : this.servers;
    const joins = targets.filter((x) => x !== s).map((x) => `127.0.0.1:${x.serfPort}`);
    return [
      'agent',
      ...(s.server
        ? ['-server', `-bootstrap-expect=${this.servers.length}`, `-server-port=${s.rpcPort}`]
        : []),
      `-node=${s.name}`,
      `-datacenter=${this.datacenter}`,
      '-bind=127.0.0.1',
      '-client=127.0.0.1',
      `-http-port=${s.httpPort}`,
      `-serf-lan-port=${s.serfPort}`,
      `-dns-port=${s.dnsPort}`,
      `-data-dir=${s.dataDir}`,
      `-config-file=${join(this.root, 'common.json')}`,
      ...(this.agentConfig ? [`-config-file=${this.agentConfigFile(s)}`] : []),
      `-log-level=${this.logLevel}`,
      ...joins.map((a) => `-retry-join=${a}`),
      ...(s.server
        ? [
            `-serf-wan-port=${s.wanPort > 0 ? s.wanPort : -1}`,
            ...this.retryJoinWan.map((a) => `-retry-join-wan=${a}`),
          ]
        : []),
      ...extra,
    ];
  }

  /** The agent's own config file (agentConfig), written when it is first needed. */
  private agentConfigFile(s: ServerProc): string {
    const file = join(this.root, `${s.name}.config.json`);
    if (!existsSync(file)) writeFileSync(file, JSON.stringify(this.agentConfig?.(s.name, s.server) ?? {}));
    return file;
  }

  spawn(s: ServerProc, extra: string[] = []): void {
    const fd = openSync(s.logFile, 'a');
    s.proc = spawn(process.execPath, [BIN, ...this.args(s, extra)], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
  }

  kill9(s: ServerProc | GatewayProc): Promise<void> {
    const p = s.proc;
    s.proc = null;
    if (!p || p.exitCode !== null) return Promise.resolve();
    return new Promise((res) => {
      p.once('exit', () => res());
      p.kill('SIGKILL');
    });
  }

  /**
   * Starts `consulate gateway` for this cluster's datacenter, reading the directory from `agents`
   * (any of this cluster's agents, clients or servers), and waits until its /gateway/status says
   * ready (the directory was read). `config` (gateway config-file keys, e.g. a short down_time)
   * goes in a config file. Stopped with the cluster, or earlier with kill9().
   */
  async startGateway(
    agents: ServerProc[],
    config: Record<string, unknown> = {},
    timeoutMs = 30_000,
  ): Promise<GatewayProc> {
    const httpPort = await freePort();
    const name = `gateway-${this.gateways.length + 1}`;
    const g: GatewayProc = {
      name,
      datacenter: this.datacenter,
      httpPort,
      http: `127.0.0.1:${httpPort}`,
      servers: agents.map((a) => a.http),
      logFile: join(this.root, `${name}.log`),
      proc: null,
    };
    this.gateways.push(g);
    const cfg = join(this.root, `${name}.json`);
    writeFileSync(cfg, JSON.stringify(config));
    const fd = openSync(g.logFile, 'a');
    g.proc = spawn(
      process.execPath,
      [
        BIN,
        'gateway',
        `-config-file=${cfg}`,
        `-datacenter=${g.datacenter}`,
        '-client=127.0.0.1',
        `-http-port=${httpPort}`,
        ...g.servers.map((a) => `-server=${a}`),
        `-log-level=${this.logLevel}`,
      ],
      { stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    const proc = g.proc;
    await eventually(
      async () => {
        if (proc.exitCode !== null)
          throw new Error(`${name} exited with ${proc.exitCode}; log in ${g.logFile}`);
        const r = await fetch(`http://${g.http}/gateway/status`, { signal: AbortSignal.timeout(5000) });
        await r.arrayBuffer();
        return r.status === 200;
      },
      timeoutMs,
      `${name} (${g.datacenter}) to be ready`,
    );
    return g;
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.agents, ...this.gateways].map(async (s) => {
        const p = s.proc;
        if (!p || p.exitCode !== null) return;
        await new Promise<void>((res) => {
          const t = setTimeout(() => p.kill('SIGKILL'), 5000);
          p.once('exit', () => {
            clearTimeout(t);
            res();
          });
          p.kill('SIGTERM');
        });
      }),
    );
    if (!process.env['KEEP_CLUSTER']) rmSync(this.root, { recursive: true, force: true });
  }

  /** Waits until every running server names the same leader; returns that server. */
  async waitForLeader(timeoutMs = 20_000): Promise<ServerProc> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const live = this.servers.filter((s) => s.proc);
      const leaders = await Promise.all(
        live.map(async (s) => {
          try {
            const r = await s.client.request('GET', '/v1/status/leader');
            return r.status === 200 ? (JSON.parse(r.body.toString()) as string) : '';
          } catch {
            return '';
          }
        }),
      );
      last = leaders.join(',');
      const l = leaders[0];
      if (l && leaders.every((x) => x === l)) {
        const leader = this.servers.find((s) => l.endsWith(`:${s.rpcPort}`));
        if (leader?.proc) return leader;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no agreed leader within ${timeoutMs}ms (last seen: ${last}); logs in ${this.root}`);
  }

  followers(leader: ServerProc): ServerProc[] {
    return this.servers.filter((s) => s !== leader && s.proc);
  }
}

export async function eventually<T>(
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
}
