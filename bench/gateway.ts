// Gateway phase of `npm run bench` (ONLY=gateway): the edge gateway in a real two-DC cluster, side
// by side with its baselines, in one run.
//   0. The cluster: dc-configs/ copied to a temp dir with every port replaced by a free one, run by
//      the real `consulate local-cluster <dir>` (npm start's code path) from a fresh working dir.
//   1. npm start time to ready: GW_START_RUNS (3) runs of `local-cluster`, unpinned as npm start
//      runs, each from fresh data dirs: from spawn to its "Consulate is up" line (and the "ready in
//      X s" it prints itself); then SIGINT, and a check that it and every process it started exit.
//   2. A fourth run, pinned to GW_SERVER_CPUS (its agents and gateways inherit the affinity), is
//      measured. Cross-DC API: GET GW_PATH?dc=dc2 (a) through dc1's gateway (which sends it to a
//      random dc2 server), (b) straight to dc1's servers (which forward it over RPC to a random
//      dc2 server), (c) straight to dc2's servers (no cross-DC hop). (b) and (c) spread each request
//      over the three servers at random, as the gateway and the RPC forwarding pick theirs, so
//      each sees the same mix of leader and followers (a follower forwards to its leader).
//   3. Service routing: a bare node:http upstream (the anchors' lib/http_server.cjs, ~1 KB of JSON)
//      registered as service "web" at dc1's client agent, asked (a) through dc1's gateway at
//      /svc/web/..., routed by its real table, (b) through a bare Hono proxy (one route that
//      fetches the fixed upstream), (c) through a hand-written node:http proxy (the ceiling of a
//      proxy hop in Node), (d) straight.
// Every target: a 1 s warm-up and a GW_DUR s throughput run at GW_CONNS connections (with the CPU
// the processes on the path spent), then GW_LAT_DUR s at one connection in a closed loop for
// p50/p99 (bench/load.ts in a process pinned to GW_LOAD_CPUS; sub-ms timing). GW_ROUNDS rounds over
// all targets, interleaved, after a warm-up round; each target's best round is reported (the machine is shared: other work
// only slows a run down). Servers, proxies and the upstream are pinned to GW_SERVER_CPUS.
// Environment: GW_DUR (4), GW_LAT_DUR (2), GW_CONNS (32), GW_ROUNDS (2), GW_SERVER_CPUS (0),
// GW_LOAD_CPUS (1), GW_START_RUNS (3), GW_PATH (/v1/catalog/nodes), GW_CONFIGS (dc-configs),
// KEEP_CLUSTER=1 (keep the temp dir with the logs).

import { spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSpecs, type ProcSpec } from '../src/cli/commands/local-cluster.js';
import { freePort } from '../test/cluster/harness.js';
import {
  ANCHORS,
  BIN,
  cpuSeconds,
  execP,
  fmt,
  loadavg,
  log,
  median,
  ratio,
  ROOT,
  sleep,
  type BenchRow,
} from './common.js';
import type { LoadResult, LoadTarget } from './load.js';

const env = (k: string, d: string): string => process.env[k] ?? d;
const DUR = Math.max(1, Number(env('GW_DUR', '4')));
const LAT_DUR = Math.max(1, Number(env('GW_LAT_DUR', '2')));
const CONNS = Math.max(1, Number(env('GW_CONNS', '32')));
const SERVER_CPUS = env('GW_SERVER_CPUS', '0');
const LOAD_CPUS = env('GW_LOAD_CPUS', '1');
const START_RUNS = Math.max(0, Number(env('GW_START_RUNS', '3')));
const ROUNDS = Math.max(1, Number(env('GW_ROUNDS', '2')));
const API_PATH = env('GW_PATH', '/v1/catalog/nodes');
const CONFIGS = join(ROOT, env('GW_CONFIGS', 'dc-configs'));
const PROCS = join(ROOT, 'dist-bench/bench/gateway-procs.js');
const ANCHOR_HTTP = join(ANCHORS, 'lib/http_server.cjs');
/** The path the anchors' bare node:http server answers (404 elsewhere). */
const UP_PATH = '/v1/catalog/service/web';

const pinned = (cpus: string, cmd: string, args: string[]): [string, string[]] =>
  cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];

const target = (hp: string): LoadTarget => {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
};

// ---------------------------------------------------------------- processes

/** Everything this phase started (by pid), killed on the way out. */
const started = new Set<number>();

function killPid(pid: number, sig: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    // A zombie (exited, not yet reaped) counts as gone.
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

function track(p: ChildProcess): ChildProcess {
  if (p.pid) started.add(p.pid);
  p.once('exit', () => p.pid && started.delete(p.pid));
  return p;
}

function killEverything(): void {
  for (const pid of started) killPid(pid);
  started.clear();
}

const onSignal = (): void => {
  killEverything();
  process.exit(130);
};

/** A server of this phase (upstream, proxies), pinned; resolves once `url` answers 200. */
async function startServer(what: string, args: string[], url: string): Promise<ChildProcess> {
  const [cmd, a] = pinned(SERVER_CPUS, process.execPath, args);
  const p = track(spawn(cmd, a, { stdio: ['ignore', 'ignore', 'inherit'] }));
  for (let i = 0; i < 150; i++) {
    if (p.exitCode !== null) break;
    const r = await fetch(url).catch(() => null);
    if (r?.ok) return p;
    await sleep(100);
  }
  throw new Error(`${what} did not answer at ${url}`);
}

// ---------------------------------------------------------------- the cluster (npm start's way)

/**
 * dc-configs/ into `dst` with every port replaced by a free one: the `ports` of each file, and the
 * same port wherever a file names it in an address (retry_join, retry_join_wan, a gateway's
 * servers). Anything else (data dirs, timings) is left as it is.
 */
export async function writeConfigs(src: string, dst: string): Promise<void> {
  const files: Array<{ dc: string; name: string; cfg: Record<string, unknown> }> = [];
  for (const dc of readdirSync(src).sort()) {
    for (const name of readdirSync(join(src, dc)).sort()) {
      if (!name.endsWith('.json')) continue;
      files.push({ dc, name, cfg: JSON.parse(readFileSync(join(src, dc, name), 'utf8')) });
    }
  }
  const map = new Map<number, number>();
  const taken = new Set<number>();
  /** A free port not handed out before (the OS may give the same free port to two asks in a row). */
  const fresh = async (): Promise<number> => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) {
        taken.add(p);
        return p;
      }
    }
  };
  for (const f of files) {
    const ports = (f.cfg['ports'] ?? {}) as Record<string, number>;
    for (const [k, v] of Object.entries(ports)) {
      if (typeof v !== 'number' || v <= 0) continue;
      if (!map.has(v)) map.set(v, await fresh());
      ports[k] = map.get(v) as number;
    }
  }
  const remap = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const m = /^(.*):(\d+)$/.exec(v);
      if (!m) return v;
      const to = map.get(Number(m[2]));
      if (to === undefined) throw new Error(`${v}: a port no config file defines`);
      return `${m[1]}:${to}`;
    }
    if (Array.isArray(v)) return v.map(remap);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'ports' ? x : remap(x)]));
    }
    return v;
  };
  for (const f of files) {
    mkdirSync(join(dst, f.dc), { recursive: true });
    writeFileSync(join(dst, f.dc, f.name), JSON.stringify(remap(f.cfg), null, 2));
  }
}

interface LocalCluster {
  proc: ChildProcess;
  /** Spawn to "Consulate is up", ms. */
  readyMs: number;
  /** What it printed itself ("ready in X s"). */
  reportedS: number;
  /** The processes it started (agents and gateways). */
  kids: number[];
  out: string;
}

/** `consulate local-cluster <configs>` run from `cwd` (its data/ goes there), optionally pinned. */
async function startLocalCluster(configs: string, cwd: string, cpus: string): Promise<LocalCluster> {
  mkdirSync(cwd, { recursive: true });
  const [cmd, a] = pinned(cpus, process.execPath, [BIN, 'local-cluster', configs]);
  const t0 = performance.now();
  // Its own process group, so a Ctrl-C can be sent as a terminal sends it: to the whole group.
  const proc = track(spawn(cmd, a, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  const up = await new Promise<number>((resolve) => {
    const timer = setTimeout(() => resolve(NaN), 90_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('Consulate is up')) {
        clearTimeout(timer);
        resolve(performance.now() - t0);
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve(NaN);
    });
  });
  if (!Number.isFinite(up)) {
    const kids = await children(proc.pid);
    proc.kill('SIGKILL');
    for (const k of kids) killPid(k);
    throw new Error(`local-cluster not up in 90 s (logs in ${cwd}/data): ${out.trim().split('\n').at(-1)}`);
  }
  const reported = Number(/ready in ([\d.]+) s/.exec(out)?.[1] ?? NaN);
  const kids = await children(proc.pid);
  for (const k of kids) started.add(k);
  return { proc, readyMs: up, reportedS: reported, kids, out };
}

async function children(pid: number | undefined): Promise<number[]> {
  if (!pid) return [];
  const { stdout } = await execP('ps', ['-o', 'pid=', '--ppid', String(pid)]).catch(() => ({ stdout: '' }));
  return stdout
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => n > 0);
}

/**
 * Ctrl-C, as a user stops npm start (SIGINT to its process group): how long until it exits (exitMs)
 * and until it and every process it started are gone (ms).
 */
async function stopLocalCluster(
  lc: LocalCluster,
): Promise<{ ms: number; exitMs: number; procs: number; leftover: number; code: number | null }> {
  const kids = lc.kids;
  const t0 = performance.now();
  const exited = new Promise<number | null>((r) =>
    lc.proc.exitCode !== null ? r(lc.proc.exitCode) : lc.proc.once('exit', (c) => r(c)),
  );
  if (lc.proc.pid) killPid(-lc.proc.pid, 'SIGINT'); // a terminal's Ctrl-C: the whole process group
  const code = await Promise.race([exited, sleep(20_000).then(() => -1)]);
  const exitMs = performance.now() - t0;
  // Its children are reparented once it exits; give them a moment to be reaped.
  let left = kids.filter(alive);
  for (let i = 0; i < 20 && left.length; i++) {
    await sleep(100);
    left = left.filter(alive);
  }
  const ms = performance.now() - t0;
  const leftover = left.length + (lc.proc.exitCode === null && lc.proc.signalCode === null ? 1 : 0);
  for (const k of left) killPid(k);
  if (lc.proc.exitCode === null) lc.proc.kill('SIGKILL');
  for (const k of kids) started.delete(k);
  return { ms, exitMs, procs: kids.length, leftover, code };
}

// ---------------------------------------------------------------- measuring

interface Figures {
  throughput: LoadResult;
  latency: LoadResult;
  /** CPU per request during the throughput run, µs, per group of processes. */
  cpu: Record<string, number>;
}

async function load(
  targets: string[],
  path: string,
  connections: number,
  seconds: number,
): Promise<LoadResult> {
  const arg = JSON.stringify({
    targets: targets.map(target),
    path,
    connections,
    durationMs: seconds * 1000,
    spread: targets.length > 1,
  });
  const [cmd, args] = pinned(LOAD_CPUS, process.execPath, [PROCS, 'load', arg]);
  const { stdout } = await execP(cmd, args, { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as LoadResult;
}

/**
 * One target: a 1 s warm-up (discarded), throughput at CONNS with the CPU each group of `cpu`
 * processes spent on it, latency at 1 connection; the load from a process pinned to LOAD_CPUS.
 */
async function measure(
  name: string,
  targets: string[],
  path: string,
  cpu: Record<string, number[]>,
): Promise<Figures> {
  await load(targets, path, CONNS, 1);
  const sample = (): Record<string, number> =>
    Object.fromEntries(Object.entries(cpu).map(([k, ps]) => [k, ps.reduce((a, p) => a + cpuSeconds(p), 0)]));
  const c0 = sample();
  const t = await load(targets, path, CONNS, DUR);
  const c1 = sample();
  const l = await load(targets, path, 1, LAT_DUR);
  const per = Object.fromEntries(
    Object.keys(cpu).map((k) => [k, (((c1[k] as number) - (c0[k] as number)) / t.requests) * 1e6]),
  );
  log(
    `gateway bench ${name}: ${fmt(t.rps)}/s (${CONNS} conns; non2xx=${t.non2xx} errors=${t.errors}), 1 conn p50=${fmt(l.p50, 3)} ms p99=${fmt(l.p99, 3)} ms (${l.requests} requests; non2xx=${l.non2xx} errors=${l.errors}); CPU per request: ${Object.entries(
      per,
    )
      .map(([k, v]) => `${k} ${fmt(v)} µs`)
      .join(', ')}`,
  );
  return { throughput: t, latency: l, cpu: per };
}

/**
 * The best of a target's rounds: the throughput run with the highest rate (and the CPU measured
 * with it), the latency run with the lowest p50 (and its p99). Other work on the machine can only
 * slow a run down, so the best round is the one it disturbed least.
 */
function best(fs: Figures[]): Figures {
  const t = fs.reduce((a, b) => (b.throughput.rps > a.throughput.rps ? b : a));
  const l = fs.reduce((a, b) => (b.latency.p50 < a.latency.p50 ? b : a));
  return { throughput: t.throughput, cpu: t.cpu, latency: l.latency };
}

/** A GET that must answer 200; its body and headers. */
async function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  const r = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}: ${(await r.text()).slice(0, 200)}`);
  return r;
}

// ---------------------------------------------------------------- the phase

export async function runGateway(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'consulate-bench-gw-'));
  const before = loadavg();
  const loads: string[] = [];
  const tPhase = performance.now();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', killEverything);
  let keep = env('KEEP_CLUSTER', '') === '1';
  const lat = (f: Figures): string => `${fmt(f.latency.p50, 3)} / ${fmt(f.latency.p99, 3)} ms`;
  const rps = (f: Figures): string => `${fmt(f.throughput.rps)}/s`;
  const errs = (f: Figures): string => {
    const n = f.throughput.non2xx + f.latency.non2xx;
    const e = f.throughput.errors + f.latency.errors;
    return n || e ? ` (non-2xx ${n}, errors ${e})` : '';
  };
  const addedMs = (a: Figures, b: Figures): string => {
    const d = a.latency.p50 - b.latency.p50;
    return `${d >= 0 ? '+' : ''}${fmt(d, 3)} ms at p50`;
  };
  try {
    const configs = join(dir, 'configs');
    await writeConfigs(CONFIGS, configs);
    const specs = readSpecs(configs);
    const of = (dc: string, kind: ProcSpec['kind']): ProcSpec[] =>
      specs.filter((s) => s.dc === dc && s.kind === kind);
    const dcs = [...new Set(specs.map((s) => s.dc))];
    const [dc1, dc2] = dcs as [string, string];
    if (dcs.length < 2) throw new Error(`${CONFIGS}: two datacenters needed, found ${dcs.join(', ')}`);
    log(
      `# gateway: ${specs.length} processes from ${CONFIGS} (${dcs.join(', ')}); loadavg before ${before} ...`,
    );

    // ------------------------------------------------ 1. npm start: time to ready, clean stop
    const starts: LocalCluster[] = [];
    const stops: Array<Awaited<ReturnType<typeof stopLocalCluster>>> = [];
    for (let i = 0; i < START_RUNS; i++) {
      const lc = await startLocalCluster(configs, join(dir, `start-${i + 1}`), '');
      const st = await stopLocalCluster(lc);
      log(
        `gateway bench local-cluster run ${i + 1}: up in ${fmt(lc.readyMs / 1000, 2)} s (it says ${fmt(lc.reportedS, 1)} s); Ctrl-C: exit code ${st.code} after ${fmt(st.exitMs / 1000, 2)} s, its ${st.procs} processes and it all gone in ${fmt(st.ms / 1000, 2)} s, ${st.leftover} left`,
      );
      starts.push(lc);
      stops.push(st);
    }
    loads.push(`after the start runs ${loadavg()}`);

    // ------------------------------------------------ 2. the measured cluster, pinned
    const lc = await startLocalCluster(configs, join(dir, 'measured'), SERVER_CPUS);
    log(`# measured cluster up in ${fmt(lc.readyMs / 1000, 1)} s (pinned to CPU ${SERVER_CPUS || 'any'})`);
    const gw = (of(dc1, 'gateway')[0] as ProcSpec).http;
    const s1 = of(dc1, 'server').map((s) => s.http);
    const s2 = of(dc2, 'server').map((s) => s.http);
    const client1 = (of(dc1, 'client')[0] as ProcSpec).http;
    const apiPath = `${API_PATH}${API_PATH.includes('?') ? '&' : '?'}dc=${dc2}`;
    // Every route must give the same answer (dc2's nodes), and the gateway's must come from dc2.
    const viaGw = await get(`http://${gw}${apiPath}`);
    if (viaGw.headers.get('x-consulate-datacenter') !== dc2) {
      throw new Error(`the gateway answered ${apiPath} from ${viaGw.headers.get('x-consulate-datacenter')}`);
    }
    const apiBody = await viaGw.text();
    const names = (b: string): string =>
      (JSON.parse(b) as Array<{ Node?: string; Key?: string }>)
        .map((n) => n.Node ?? n.Key ?? '')
        .sort()
        .join(',');
    for (const hp of [s1[0], s2[0]]) {
      const b = await (await get(`http://${hp}${apiPath}`)).text();
      if (names(b) !== names(apiBody)) throw new Error(`${hp}${apiPath}: ${names(b)} != ${names(apiBody)}`);
    }
    log(`# ${apiPath}: ${apiBody.length} B (${names(apiBody)})`);

    // The upstream, the anchors' bare node:http server, as service "web" of dc1's client agent.
    const up = await freePort();
    const upUrl = `http://127.0.0.1:${up}${UP_PATH}`;
    const anchorUp = existsSync(ANCHOR_HTTP);
    const upProc = await startServer(
      'upstream',
      anchorUp ? [ANCHOR_HTTP, 'node', String(up)] : [PROCS, 'upstream', String(up)],
      upUrl,
    );
    const reg = await fetch(`http://${client1}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ ID: 'web-bench', Name: 'web', Address: '127.0.0.1', Port: up }),
    });
    if (!reg.ok) throw new Error(`service register: HTTP ${reg.status} ${await reg.text()}`);
    const svcPath = `/svc/web${UP_PATH}`;
    let routed: Response | null = null;
    for (let i = 0; i < 100 && !routed; i++) {
      const r = await fetch(`http://${gw}${svcPath}`).catch(() => null);
      if (r?.ok && r.headers.get('x-consulate-upstream') === `127.0.0.1:${up}`) routed = r;
      else await sleep(200);
    }
    if (!routed) throw new Error(`the gateway did not route ${svcPath} to 127.0.0.1:${up} in 20 s`);
    const svcBytes = (await routed.text()).length;
    // Each port asked for only once the previous server listens: two asks in a row may get the same.
    const hono = await freePort();
    const honoProc = await startServer(
      'hono proxy',
      [PROCS, 'hono-proxy', String(hono), `127.0.0.1:${up}`],
      `http://127.0.0.1:${hono}${UP_PATH}`,
    );
    const nodeProxy = await freePort();
    const nodeProc = await startServer(
      'node:http proxy',
      [PROCS, 'node-proxy', String(nodeProxy), `127.0.0.1:${up}`],
      `http://127.0.0.1:${nodeProxy}${UP_PATH}`,
    );
    loads.push(`measured cluster up ${loadavg()}`);

    // ------------------------------------------------ measurements
    // The cluster's processes by their config file, for their CPU per request.
    const pidOf = new Map<string, number>();
    for (const pid of lc.kids) {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const file = cmdline.find((a) => a.startsWith('-config-file='))?.slice('-config-file='.length);
      if (file) pidOf.set(file, pid);
    }
    const pids = (ss: ProcSpec[]): number[] => ss.map((x) => pidOf.get(x.config) ?? 0).filter((p) => p > 0);
    const pid = (p: ChildProcess): number[] => (p.pid ? [p.pid] : []);
    const gwPids = pids(of(dc1, 'gateway'));
    const apiCpu = {
      gateway: gwPids,
      [`${dc1} servers`]: pids(of(dc1, 'server')),
      [`${dc2} servers`]: pids(of(dc2, 'server')),
    };
    const svcCpu = (proxy: number[]): Record<string, number[]> => ({ proxy, upstream: pid(upProc) });
    const plan: Array<[string, string[], string, Record<string, number[]>]> = [
      [`API straight to ${dc2}'s servers`, s2, apiPath, apiCpu],
      [`API through ${dc1}'s gateway`, [gw], apiPath, apiCpu],
      [`API straight to ${dc1}'s servers (RPC forwarding)`, s1, apiPath, apiCpu],
      ['service routing through the gateway', [gw], svcPath, svcCpu(gwPids)],
      ['service routing through a bare Hono proxy', [`127.0.0.1:${hono}`], UP_PATH, svcCpu(pid(honoProc))],
      [
        'service routing through a node:http proxy',
        [`127.0.0.1:${nodeProxy}`],
        UP_PATH,
        svcCpu(pid(nodeProc)),
      ],
      ['straight to the upstream', [`127.0.0.1:${up}`], UP_PATH, svcCpu([])],
    ];
    // ROUNDS rounds over every target; each target's best round is kept (below).
    const runs: Figures[][] = plan.map(() => []);
    // A cluster just up is still settling (catalog sync, coordinates, JIT): a warm-up round first.
    log(`# warm-up round (loadavg ${loadavg()})`);
    for (const [, ts, path] of plan) await load(ts, path, CONNS, 1);
    for (let r = 1; r <= ROUNDS; r++) {
      log(`# round ${r} of ${ROUNDS} (loadavg ${loadavg()})`);
      for (const [i, [name, ts, path, cpu]] of plan.entries()) {
        (runs[i] as Figures[]).push(await measure(`${name} [${r}]`, ts, path, cpu));
      }
    }
    const [apiDc2, apiGw, apiDc1, svcGw, svcHono, svcNode, svcDirect] = runs.map(best) as [
      Figures,
      Figures,
      Figures,
      Figures,
      Figures,
      Figures,
      Figures,
    ];
    loads.push(`after the measurements ${loadavg()}`);
    const st = await stopLocalCluster(lc);
    log(`# measured cluster stopped: code ${st.code}, ${st.procs} processes, ${st.leftover} left`);

    // ------------------------------------------------ rows
    const apiWhat = `GET ${apiPath}`;
    rows.push(
      {
        what: `Cross-DC ${apiWhat}, throughput at ${CONNS} connections: through ${dc1}'s gateway vs straight to ${dc2}'s servers`,
        ours: `${rps(apiGw)}${errs(apiGw)}`,
        anchor: `${rps(apiDc2)} (straight to ${dc2})${errs(apiDc2)}`,
        ratio: ratio(apiGw.throughput.rps, apiDc2.throughput.rps),
        target: '',
      },
      {
        what: `Cross-DC ${apiWhat}, throughput: through ${dc1}'s gateway vs straight to ${dc1}'s servers (RPC forwarding to ${dc2})`,
        ours: rps(apiGw),
        anchor: `${rps(apiDc1)} (via ${dc1}'s servers)${errs(apiDc1)}`,
        ratio: ratio(apiGw.throughput.rps, apiDc1.throughput.rps),
        target: '',
      },
      {
        what: `Cross-DC ${apiWhat}, p50 / p99 at 1 connection: through ${dc1}'s gateway (the gateway's added time vs straight to ${dc2})`,
        ours: lat(apiGw),
        anchor: `straight to ${dc2} ${lat(apiDc2)}; via ${dc1}'s servers ${lat(apiDc1)}`,
        ratio: addedMs(apiGw, apiDc2),
        target: '< +1 ms at p50',
      },
      {
        what: `Service routing throughput at ${CONNS} connections: /svc/web through ${dc1}'s gateway to a bare node:http upstream (${svcBytes} B of JSON) vs a bare Hono proxy`,
        ours: `${rps(svcGw)}${errs(svcGw)}`,
        anchor: `${rps(svcHono)} (bare Hono proxy)${errs(svcHono)}`,
        ratio: ratio(svcGw.throughput.rps, svcHono.throughput.rps),
        target: '>= 0.5x',
      },
      {
        what: 'Service routing throughput: the gateway vs a hand-written node:http proxy (the ceiling of a proxy hop in Node)',
        ours: rps(svcGw),
        anchor: `${rps(svcNode)} (node:http proxy)${errs(svcNode)}`,
        ratio: ratio(svcGw.throughput.rps, svcNode.throughput.rps),
        target: '',
      },
      {
        what: 'Straight to the upstream, no proxy (same load)',
        ours: `${rps(svcDirect)}${errs(svcDirect)}`,
        anchor: '',
        ratio: '',
        target: '',
      },
      {
        what: 'Service routing p50 / p99 at 1 connection: through the gateway (added time vs straight to the upstream)',
        ours: lat(svcGw),
        anchor: `straight ${lat(svcDirect)}; bare Hono proxy ${lat(svcHono)}; node:http proxy ${lat(svcNode)}`,
        ratio: addedMs(svcGw, svcDirect),
        target: '< +1 ms at p50',
      },
    );
    const us = (f: Figures, k: string): string => `${fmt(f.cpu[k] ?? NaN)} µs`;
    const d1 = `${dc1} servers`;
    const d2 = `${dc2} servers`;
    rows.push(
      {
        what: `Cross-DC GET: CPU per request during the throughput runs (every process on CPU ${SERVER_CPUS || 'any'}): through the gateway (gateway + ${dc2}'s servers)`,
        ours: `${us(apiGw, 'gateway')} + ${us(apiGw, d2)}`,
        anchor: `straight to ${dc2}: ${us(apiDc2, d2)}; via ${dc1}'s servers: ${us(apiDc1, d1)} + ${us(apiDc1, d2)}`,
        ratio: '',
        target: '',
      },
      {
        what: 'Service routing: CPU per request of the proxy during the throughput runs (the upstream\u2019s own in brackets)',
        ours: `gateway ${us(svcGw, 'proxy')} (${us(svcGw, 'upstream')})`,
        anchor: `bare Hono proxy ${us(svcHono, 'proxy')} (${us(svcHono, 'upstream')}); node:http proxy ${us(svcNode, 'proxy')} (${us(svcNode, 'upstream')}); upstream alone ${us(svcDirect, 'upstream')}`,
        ratio: '',
        target: '',
      },
    );
    if (START_RUNS > 0) {
      const ups = starts.map((s) => s.readyMs / 1000);
      const med = median(ups);
      const gone = stops.every((s) => s.leftover === 0 && s.code === 0);
      rows.push(
        {
          what: `npm start (\`consulate local-cluster\`, ${specs.length} processes, fresh data dirs, unpinned): spawn to "Consulate is up", median of ${START_RUNS}`,
          ours: `${fmt(med, 2)} s [${ups.map((x) => fmt(x, 2)).join(', ')}]`,
          anchor: `its own "ready in": ${starts.map((s) => fmt(s.reportedS, 1)).join(', ')} s`,
          ratio: '',
          target: '< 15 s',
        },
        {
          what: 'npm start stopped by Ctrl-C (SIGINT to its process group): it and every process it started exit',
          ours: gone
            ? `yes, ${START_RUNS} of ${START_RUNS} runs; exit code 0 after ${stops.map((s) => fmt(s.exitMs / 1000, 2)).join(', ')} s`
            : `NO: ${stops.map((s) => `exit code ${s.code}, ${s.leftover} of ${s.procs + 1} left`).join('; ')}`,
          anchor: '',
          ratio: '',
          target: 'all exit',
        },
      );
    }
    rows.push({
      what: `Gateway phase: load average (1/5/15 min) before; during (${ROUNDS} rounds, the best of each target kept; ${DUR} s per throughput point after 1 s of warm-up, ${LAT_DUR} s per latency point; servers, gateway and proxies on CPU ${SERVER_CPUS || 'any'}, the load generator on CPU ${LOAD_CPUS || 'any'})`,
      ours: `${before}; ${loads.join('; ')} (${fmt((performance.now() - tPhase) / 60_000, 1)} min in all)`,
      anchor: '',
      ratio: '',
      target: '',
    });
  } catch (err) {
    keep = true;
    log(`# gateway bench failed: ${(err as Error).message}\n# logs kept under ${dir}`);
    rows.push({
      what: 'Gateway phase',
      ours: `failed: ${(err as Error).message}`,
      anchor: '',
      ratio: '',
      target: '',
    });
  } finally {
    killEverything();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killEverything);
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

// Run alone: node dist-bench/bench/gateway.js (after npm run build and tsc -p tsconfig.bench.json).
if (process.argv[1]?.endsWith('/bench/gateway.js')) {
  const rows = await runGateway();
  process.stdout.write(
    [
      '| measure | Consulate | anchor | ratio | target |',
      '| --- | --- | --- | --- | --- |',
      ...rows.map((r) => `| ${r.what} | ${r.ours} | ${r.anchor} | ${r.ratio} | ${r.target} |`),
    ].join('\n') + '\n',
  );
  process.exit(0);
}
