// Real consulate processes on 127.0.0.1 with free ports, like Consul's sdk/testutil: start N
// servers, wait for a leader, kill -9 and restart them, read their HTTP APIs.

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

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

export interface ServerProc {
  name: string;
  httpPort: number;
  rpcPort: number;
  dataDir: string;
  logFile: string;
  proc: ChildProcess | null;
  client: ConsulClient;
  http: string;
}

export interface ClusterOptions {
  servers: number;
  logLevel?: string;
  extraConfig?: Record<string, unknown>;
}

export class TestCluster {
  readonly root: string;
  readonly servers: ServerProc[] = [];

  private logLevel = 'debug';

  private constructor(root: string) {
    this.root = root;
  }

  static async start(o: ClusterOptions): Promise<TestCluster> {
    const c = new TestCluster(mkdtempSync(join(tmpdir(), 'consulate-cluster-')));
    c.logLevel = o.logLevel ?? 'debug';
    for (let i = 0; i < o.servers; i++) {
      const httpPort = await freePort();
      const rpcPort = await freePort();
      const name = `server-${i + 1}`;
      const dataDir = join(c.root, name);
      c.servers.push({
        name,
        httpPort,
        rpcPort,
        dataDir,
        logFile: join(c.root, `${name}.log`),
        proc: null,
        http: `127.0.0.1:${httpPort}`,
        client: new ConsulClient({ address: `127.0.0.1:${httpPort}`, timeoutMs: 15_000 }),
      });
    }
    const cfg = join(c.root, 'common.json');
    writeFileSync(cfg, JSON.stringify({ performance: { raft_multiplier: 1 }, ...(o.extraConfig ?? {}) }));
    for (const s of c.servers) c.spawn(s);
    return c;
  }

  args(s: ServerProc): string[] {
    const others = this.servers.filter((x) => x !== s).map((x) => `127.0.0.1:${x.rpcPort}`);
    return [
      'agent',
      '-server',
      `-bootstrap-expect=${this.servers.length}`,
      `-node=${s.name}`,
      '-bind=127.0.0.1',
      '-client=127.0.0.1',
      `-http-port=${s.httpPort}`,
      `-server-port=${s.rpcPort}`,
      `-data-dir=${s.dataDir}`,
      `-config-file=${join(this.root, 'common.json')}`,
      `-log-level=${this.logLevel}`,
      ...others.map((a) => `-retry-join=${a}`),
    ];
  }

  spawn(s: ServerProc): void {
    const fd = openSync(s.logFile, 'a');
    s.proc = spawn(process.execPath, [BIN, ...this.args(s)], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
  }

  kill9(s: ServerProc): Promise<void> {
    const p = s.proc;
    s.proc = null;
    if (!p || p.exitCode !== null) return Promise.resolve();
    return new Promise((res) => {
      p.once('exit', () => res());
      p.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.servers.map(async (s) => {
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
