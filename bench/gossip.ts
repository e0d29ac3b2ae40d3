// Gossip phase of `npm run bench`: Consulate's LAN gossip side by side with HashiCorp serf in one run.
//   1. serf (../shared/bench/anchors/serf_gossip.sh, PROFILE=lan): for each size N, N agents on
//      127.0.0.1, all joined to agent 0 at once; join_all, event_all, fail_all (medians of the runs).
//   2. Consulate, measured the same way with the same timings (Consul's LAN profile is our default:
//      probe 1 s, probe timeout 500 ms, gossip 200 ms to 3 nodes, suspicion multiplier 4): N client
//      agents (no servers), `/v1/agent/members` polled on every agent every 50 ms (the anchor's
//      resolution), user events read with blocking `/v1/event/list` queries, SIGKILL of one agent.
//      The join is sent to agents 1..N-1 at one moment through `PUT /v1/agent/join` once every agent
//      is up: the HTTP counterpart of the anchor's join RPC, so both clocks start at the join.
//   3. Idle cost of a converged pool of N (no polling while measured): CPU per agent from
//      /proc/<pid>/stat, gossip bytes per member per second from Stats.serf_lan's transport
//      counters, RSS from /proc/<pid>/status; the same CPU and RSS for N serf agents of our own.
// Environment: GOSSIP_SIZES ("5 20 50"), GOSSIP_RUNS (3), GOSSIP_IDLE_S (20), GOSSIP_BATCH (agents
// started at a time, 10), GOSSIP_POLL_MS (50; the anchor's is 50), ANCHORS (default ../shared/bench/anchors);
// for diagnosis, GOSSIP_CPU_PROF, GOSSIP_CPU_PROF_EVERY and GOSSIP_NODE_FLAGS (below).

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent as HttpAgent, request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  sleep,
  type BenchRow,
} from './common.js';

const SIZES = (process.env['GOSSIP_SIZES'] ?? '5 20 50')
  .split(/[\s,]+/)
  .filter(Boolean)
  .map(Number)
  .filter((n) => Number.isInteger(n) && n >= 2);
const RUNS = Math.max(1, Number(process.env['GOSSIP_RUNS'] ?? 3));
const IDLE_S = Math.max(1, Number(process.env['GOSSIP_IDLE_S'] ?? 20));
const BATCH = Math.max(1, Number(process.env['GOSSIP_BATCH'] ?? 10));
/** Members polling period (the anchor's resolution); other values only for diagnosis. */
const POLL_MS = Math.max(1, Number(process.env['GOSSIP_POLL_MS'] ?? 50));
const EVENTS = 3;
const LIMIT_MS = 90_000;
/** Quiet time after convergence before the idle window opens (the join's broadcasts die out). */
const SETTLE_MS = 5_000;
/**
 * Diagnosis only: GOSSIP_CPU_PROF=<dir> runs every GOSSIP_CPU_PROF_EVERY-th agent (default 5, from
 * g1) under --cpu-prof, stops them with SIGINT once the join has converged (so the profiles' last
 * seconds are the join) and ends the run there. On a loaded machine each profile holds few samples;
 * several agents' profiles together say where a join's CPU goes.
 */
const CPU_PROF_DIR = process.env['GOSSIP_CPU_PROF'] ?? '';
const CPU_PROF_EVERY = Math.max(1, Number(process.env['GOSSIP_CPU_PROF_EVERY'] ?? 5));
/** Diagnosis only: node/V8 flags for our agents (V8's are not allowed in NODE_OPTIONS). */
const NODE_FLAGS = (process.env['GOSSIP_NODE_FLAGS'] ?? '').split(/\s+/).filter(Boolean);

const now = (): number => performance.now();

// ---------------------------------------------------------------- processes we started

const children = new Set<ChildProcess>();
let anchorGroup = 0;

function killEverything(): void {
  for (const c of children) {
    try {
      if (c.pid) process.kill(c.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  children.clear();
  if (anchorGroup) {
    try {
      process.kill(-anchorGroup, 'SIGTERM'); // the script's trap kills its serf agents by pid
    } catch {
      /* already gone */
    }
    anchorGroup = 0;
  }
}

function onSignal(): void {
  killEverything();
  process.exit(130);
}

function track(c: ChildProcess): ChildProcess {
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
}

async function killAndWait(cs: ChildProcess[]): Promise<void> {
  await Promise.all(
    cs.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise((r) => c.once('exit', r));
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
      await Promise.race([gone, sleep(5000)]);
    }),
  );
}

// ---------------------------------------------------------------- /proc

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

interface IdleFigures {
  cpuMean: number;
  cpuMax: number;
  rssMedian: number;
  rssMax: number;
  /** Which agent had rssMax (g0 took every join). */
  rssMaxOf?: string;
  bytesOut: number; // per member per second
  bytesIn: number;
  note: string;
}

/** Quiet: the pool's CPU over the last second below QUIET_SHARE of a core per agent (or 30 s passed). */
const QUIET_SHARE = 0.01;
async function untilQuiet(pids: number[]): Promise<number> {
  const t0 = now();
  let prev = pids.reduce((a, p) => a + cpuSeconds(p), 0);
  while (now() - t0 < 30_000) {
    await sleep(1000);
    const cur = pids.reduce((a, p) => a + cpuSeconds(p), 0);
    if (cur - prev < QUIET_SHARE * pids.length) break;
    prev = cur;
  }
  return now() - t0;
}

/** CPU of every pid over `seconds` of wall time, as % of one core. */
async function cpuOver(pids: number[], seconds: number): Promise<number[]> {
  const c0 = pids.map(cpuSeconds);
  const t0 = now();
  await sleep(seconds * 1000);
  const c1 = pids.map(cpuSeconds);
  const wall = (now() - t0) / 1000;
  return pids.map((_, i) => (((c1[i] as number) - (c0[i] as number)) / wall) * 100);
}

// ---------------------------------------------------------------- HTTP to our agents

interface Reply {
  status: number;
  index: number;
  body: string;
}

/**
 * Keep-alive connections to the agents. A free socket is dropped after 4 s, before the agents' HTTP
 * server closes it (keep-alive timeout 5 s): a request written on a socket the server is closing
 * fails with "socket hang up".
 */
function keepAliveAgent(): HttpAgent {
  return new HttpAgent({ keepAlive: true, timeout: 4000 });
}

/** One request; a connection reset or hang-up (a stale keep-alive socket) is retried once. */
async function call(
  agent: HttpAgent,
  method: string,
  port: number,
  path: string,
  timeoutMs = 5000,
): Promise<Reply> {
  try {
    return await callOnce(agent, method, port, path, timeoutMs);
  } catch (e) {
    if (!/socket hang up|ECONNRESET/.test((e as Error).message)) throw e;
    return callOnce(agent, method, port, path, timeoutMs);
  }
}

function callOnce(
  agent: HttpAgent,
  method: string,
  port: number,
  path: string,
  timeoutMs: number,
): Promise<Reply> {
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent, timeout: timeoutMs }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () =>
        res({
          status: r.statusCode ?? 0,
          index: Number(r.headers['x-consul-index'] ?? 0),
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      r.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', rej);
    req.end();
  });
}

interface MemberJson {
  Name: string;
  Status: number;
}

interface Node {
  i: number;
  name: string;
  http: number;
  serf: number;
  dir: string;
  logFile: string;
  proc: ChildProcess | null;
  /** Run under --cpu-prof (GOSSIP_CPU_PROF). */
  profiled: boolean;
}

async function members(agent: HttpAgent, n: Node): Promise<MemberJson[]> {
  const r = await call(agent, 'GET', n.http, '/v1/agent/members', 2000);
  if (r.status !== 200) throw new Error(`members: HTTP ${r.status}`);
  return JSON.parse(r.body) as MemberJson[];
}

/** Polls members on every node every POLL_MS; per node, ms since the start when `pred` first held. */
async function pollUntil(
  agent: HttpAgent,
  nodes: Node[],
  pred: (m: MemberJson[]) => boolean,
  limitMs: number,
): Promise<Array<number | null>> {
  const t0 = now();
  const done: Array<number | null> = nodes.map(() => null);
  while (now() - t0 < limitMs && done.some((d) => d === null)) {
    const tick = now();
    await Promise.all(
      nodes.map(async (n, i) => {
        if (done[i] !== null) return;
        const m = await members(agent, n).catch(() => null);
        if (m && pred(m)) done[i] = now() - t0;
      }),
    );
    const el = now() - tick;
    if (el < POLL_MS) await sleep(POLL_MS - el);
  }
  return done;
}

// ---------------------------------------------------------------- serf anchor

interface SerfFigures {
  join: number;
  event: number;
  fail: number;
  runs: { join: number[]; event: number[]; fail: number[] };
}

async function runSerfAnchor(): Promise<Map<number, SerfFigures> | string> {
  const script = join(ANCHORS, 'serf_gossip.sh');
  if (!existsSync(script)) return `no anchor script at ${script}`;
  log(`# serf anchor: sizes ${SIZES.join(' ')}, ${RUNS} runs, PROFILE=lan ...`);
  const child = spawn('bash', [script], {
    env: { ...process.env, SIZES: SIZES.join(' '), RUNS: String(RUNS), PROFILE: 'lan' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  anchorGroup = child.pid ?? 0;
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => process.stderr.write(c));
  const timer = setTimeout(() => {
    log('# serf anchor: still running after 8 minutes; stopping it');
    killEverything();
  }, 480_000);
  const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
  clearTimeout(timer);
  anchorGroup = 0;
  const figures = new Map<number, SerfFigures>();
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const n = Number(j['n']);
    const f = figures.get(n) ?? { join: NaN, event: NaN, fail: NaN, runs: { join: [], event: [], fail: [] } };
    figures.set(n, f);
    if (j['summary']) {
      f.join = Number(j['join_all_ms']);
      f.event = Number(j['event_all_ms']);
      f.fail = Number(j['fail_all_ms']);
    } else {
      f.runs.join.push(Number(j['join_all_ms']));
      f.runs.event.push(Number(j['event_all_ms']));
      f.runs.fail.push(Number(j['fail_all_ms']));
    }
  }
  const summary = out.trim().split('\n').at(-1) ?? '';
  if (summary.startsWith('SUMMARY')) log(summary);
  if (code !== 0) log(`# serf anchor exited with ${code}; figures kept for the sizes it finished`);
  return figures;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function tcpOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      res(true);
    });
    sock.once('error', () => res(false));
  });
}

/** Starts a serf agent on fresh ports and waits until its gossip port accepts; new ports if it dies. */
async function startSerf(name: string): Promise<{ proc: ChildProcess; bind: number; rpc: number }> {
  for (let attempt = 1; ; attempt++) {
    const bind = await freePort();
    const rpc = await freePort();
    const proc = track(
      spawn(
        'serf',
        [
          'agent',
          `-node=${name}`,
          `-bind=127.0.0.1:${bind}`,
          `-rpc-addr=127.0.0.1:${rpc}`,
          '-profile=lan',
          '-log-level=err',
        ],
        { stdio: 'ignore' },
      ),
    );
    const deadline = now() + 20_000;
    while (now() < deadline && proc.exitCode === null && proc.signalCode === null) {
      if ((await tcpOpen(bind)) && (await tcpOpen(rpc))) return { proc, bind, rpc };
      await sleep(50);
    }
    await killAndWait([proc]);
    if (attempt >= 3) throw new Error(`serf agent ${name} did not start (exit ${proc.exitCode})`);
  }
}

async function serfAlive(rpc: number): Promise<number> {
  return execP('serf', ['members', `-rpc-addr=127.0.0.1:${rpc}`, '-status=alive', '-format=json'])
    .then((r) => (JSON.parse(r.stdout) as { members: unknown[] }).members.length)
    .catch(() => 0);
}

/** N serf agents of our own, joined and left idle: CPU per agent and RSS (serf has no byte counters). */
async function serfIdle(n: number): Promise<IdleFigures | string> {
  const agents: Array<{ proc: ChildProcess; bind: number; rpc: number }> = [];
  try {
    for (let b = 0; b < n; b += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, n - b) }, (_, k) => startSerf(`idle-${b + k}`));
      agents.push(...(await Promise.all(batch)));
    }
    const first = agents[0] as { rpc: number };
    const last = agents[n - 1] as { rpc: number };
    // Agent 0 joins every other one; serf join succeeds if any one answers, so it must name n-1.
    const addrs = agents.slice(1).map((a) => `127.0.0.1:${a.bind}`);
    let joinOut = '';
    for (let t = 0; t < 3; t++) {
      joinOut = await execP('serf', ['join', `-rpc-addr=127.0.0.1:${first.rpc}`, ...addrs], {
        timeout: 60_000,
      })
        .then((r) => r.stdout.trim())
        .catch((e: Error) => e.message);
      if (new RegExp(`contacting ${n - 1} nodes`).test(joinOut)) break;
    }
    const deadline = now() + 60_000;
    let counts = [0, 0];
    while (now() < deadline) {
      counts = await Promise.all([serfAlive(first.rpc), serfAlive(last.rpc)]);
      if (counts.every((c) => c === n)) break;
      await sleep(200);
    }
    if (!counts.every((c) => c === n)) {
      return `serf pool did not converge in 60 s (agent 0 / ${n - 1} list ${counts.join(' / ')} alive; join said: ${joinOut.split('\n')[0]})`;
    }
    await sleep(SETTLE_MS);
    const pids = agents.map((a) => a.proc.pid ?? 0);
    const cpu = await cpuOver(pids, IDLE_S);
    const rss = pids.map(rssMb);
    return {
      cpuMean: cpu.reduce((a, b) => a + b, 0) / cpu.length,
      cpuMax: Math.max(...cpu),
      rssMedian: median(rss),
      rssMax: Math.max(...rss),
      bytesOut: NaN,
      bytesIn: NaN,
      note: '',
    };
  } finally {
    await killAndWait(agents.map((a) => a.proc));
  }
}

// ---------------------------------------------------------------- Consulate

interface RunResult {
  join: number;
  event: number;
  fail: number;
  idle: IdleFigures | null;
  loadAfterJoin: string;
  startupMs: number;
  settleMs: number;
  joinCpuS: number;
}

function makeNodes(root: string, n: number): Node[] {
  return Array.from({ length: n }, (_, i) => {
    const dir = join(root, `g${i}`);
    mkdirSync(dir, { recursive: true });
    const profiled = i % CPU_PROF_EVERY === 1 % CPU_PROF_EVERY;
    return {
      i,
      name: `g${i}`,
      http: 0,
      serf: 0,
      dir,
      logFile: join(root, `g${i}.log`),
      proc: null,
      profiled,
    };
  });
}

/** Ports are picked right before the spawn: picked early, the kernel may hand them out meanwhile. */
async function spawnNode(n: Node): Promise<void> {
  n.http = await freePort();
  n.serf = await freePort();
  const out = createWriteStream(n.logFile, { flags: 'a' });
  const profiled = CPU_PROF_DIR !== '' && n.profiled;
  const p = spawn(
    process.execPath,
    [
      ...NODE_FLAGS,
      ...(profiled ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : []),
      BIN,
      'agent',
      `-node=${n.name}`,
      '-bind=127.0.0.1',
      '-client=127.0.0.1',
      `-http-port=${n.http}`,
      `-serf-lan-port=${n.serf}`,
      '-dns-port=-1',
      `-data-dir=${n.dir}`,
      '-log-level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  p.stdout?.pipe(out);
  p.stderr?.pipe(out);
  n.proc = track(p);
}

/** Starts a node and waits until it answers HTTP; a port taken in the meantime means new ports. */
async function startNode(agent: HttpAgent, n: Node, limitMs: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await spawnNode(n);
    const deadline = now() + limitMs;
    while (now() < deadline) {
      if (n.proc && n.proc.exitCode !== null) break;
      const ok = await members(agent, n)
        .then(() => true)
        .catch(() => false);
      if (ok) return;
      await sleep(100);
    }
    const exited = n.proc?.exitCode ?? null;
    if (exited === null) throw new Error(`${n.name} did not answer HTTP in ${limitMs} ms`);
    if (attempt < 3 && /EADDRINUSE/.test(tail(n.logFile, 3))) {
      log(`# ${n.name}: a port was taken meanwhile; again with new ports`);
      continue;
    }
    throw new Error(`${n.name} exited with ${exited}: ${tail(n.logFile, 3)}`);
  }
}

function tail(file: string, lines = 8): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Who sees what, compactly: the nodes whose view differs from `expect` members with Status 1. */
async function describe(agent: HttpAgent, nodes: Node[], ok: (m: MemberJson[]) => boolean): Promise<string> {
  const views = await Promise.all(nodes.map((n) => members(agent, n).catch((e: Error) => e)));
  const lines: string[] = [];
  let good = 0;
  nodes.forEach((n, i) => {
    const m = views[i] as MemberJson[] | Error;
    if (m instanceof Error) lines.push(`  ${n.name}: ${m.message}`);
    else if (ok(m)) good++;
    else {
      const names = new Set(m.filter((x) => x.Status === 1).map((x) => x.Name));
      const missing = nodes.filter((x) => !names.has(x.name)).map((x) => x.name);
      const other = m.filter((x) => x.Status !== 1).map((x) => `${x.Name}:${x.Status}`);
      lines.push(
        `  ${n.name} lists ${m.length} (not alive or absent: ${missing.slice(0, 10).join(' ')}${missing.length > 10 ? ' ...' : ''}${other.length ? `; statuses ${other.join(' ')}` : ''})`,
      );
    }
  });
  return [`  ${good} of ${nodes.length} agents as expected`, ...lines.slice(0, 12)].join('\n');
}

async function idleOurs(agent: HttpAgent, nodes: Node[]): Promise<IdleFigures> {
  await sleep(SETTLE_MS);
  const stats = async (): Promise<Array<Record<string, string> | null>> =>
    Promise.all(
      nodes.map((n) =>
        call(agent, 'GET', n.http, '/v1/agent/self')
          .then(
            (r) => (JSON.parse(r.body) as { Stats: { serf_lan?: Record<string, string> } }).Stats.serf_lan,
          )
          .then((s) => s ?? null)
          .catch(() => null),
      ),
    );
  const s0 = await stats();
  const t0 = now();
  const pids = nodes.map((n) => n.proc?.pid ?? 0);
  const cpu = await cpuOver(pids, IDLE_S);
  const s1 = await stats();
  const wall = (now() - t0) / 1000;
  const rss = pids.map(rssMb);
  const key = (s: Record<string, string> | null, dir: 'out' | 'in'): string | null =>
    s ? ([`transport.bytes.${dir}`, `bytes.${dir}`].find((k) => k in s) ?? null) : null;
  const bytes = (dir: 'out' | 'in'): number => {
    let sum = 0;
    for (let i = 0; i < nodes.length; i++) {
      const a = s0[i] ?? null;
      const b = s1[i] ?? null;
      const k = key(b, dir);
      if (!a || !b || !k || !(k in a)) return NaN;
      sum += Number(b[k]) - Number(a[k]);
    }
    return sum / nodes.length / wall;
  };
  const bytesOut = bytes('out');
  const bytesIn = bytes('in');
  return {
    cpuMean: cpu.reduce((a, b) => a + b, 0) / cpu.length,
    cpuMax: Math.max(...cpu),
    rssMedian: median(rss),
    rssMax: Math.max(...rss),
    bytesOut,
    bytesIn,
    note: Number.isFinite(bytesOut) ? '' : 'no transport byte counters in Stats.serf_lan',
    rssMaxOf: nodes[rss.indexOf(Math.max(...rss))]?.name ?? '',
  };
}

async function oneRun(root: string, n: number, run: number, measureIdle: boolean): Promise<RunResult> {
  const agent = keepAliveAgent();
  const nodes = makeNodes(root, n);
  try {
    // Start in batches (agent 0 first); every agent answers HTTP before the join.
    const t0 = now();
    for (let b = 0; b < n; b += BATCH) {
      await Promise.all(nodes.slice(b, b + BATCH).map((x) => startNode(agent, x, 60_000)));
    }
    const startupMs = now() - t0;
    // Node compiles and warms up for a while after it first answers; serf's Go agents are ready
    // in milliseconds. The join clock starts once the booted pool is quiet, so it times gossip
    // and not the machine finishing 50 start-ups (reported, so a slow settle is visible).
    const pids = nodes.map((x) => x.proc?.pid ?? 0);
    const settleMs = await untilQuiet(pids);
    const poolCpu = (): number => pids.reduce((a, p) => a + cpuSeconds(p), 0);
    const cpuBeforeJoin = poolCpu();

    // 1. join: agents 1..N-1 join agent 0 at one moment.
    const tJoin = now();
    const joins = nodes.slice(1).map((x) =>
      call(agent, 'PUT', x.http, `/v1/agent/join/127.0.0.1:${nodes[0]?.serf}`, 30_000).then(
        (r) => (r.status === 200 ? null : `${x.name}: HTTP ${r.status} ${r.body.trim()}`),
        (e: Error) => `${x.name}: ${e.message}`,
      ),
    );
    const allAlive = (m: MemberJson[]): boolean => m.filter((x) => x.Status === 1).length === n;
    const conv = await pollUntil(agent, nodes, allAlive, LIMIT_MS - (now() - tJoin));
    const joinErrors = (await Promise.all(joins)).filter((e): e is string => e !== null);
    if (joinErrors.length) log(`# join errors: ${joinErrors.slice(0, 5).join('; ')}`);
    if (conv.some((d) => d === null)) {
      throw new Error(
        `join did not converge in ${LIMIT_MS / 1000} s\n${await describe(agent, nodes, allAlive)}`,
      );
    }
    const joinAll = Math.max(...(conv as number[]));
    if (CPU_PROF_DIR) {
      const targets = nodes.filter((x) => x.profiled);
      const gone = targets.map((x) => new Promise((r) => x.proc?.once('exit', r)));
      for (const x of targets) x.proc?.kill('SIGINT');
      await Promise.race([Promise.all(gone), sleep(15_000)]);
      throw new Error(
        `profiled ${targets.map((x) => x.name).join(' ')} into ${CPU_PROF_DIR}; join_all ${fmt(joinAll)} ms, ended ${fmt(now() - tJoin)} ms after the join began`,
      );
    }
    // What the join cost the pool in CPU (the members polling included): on 2 cores, N agents that
    // each spend c seconds on it cannot converge in under N*c/2 seconds of wall time.
    const joinCpuS = poolCpu() - cpuBeforeJoin;
    const loadAfterJoin = loadavg();

    // Idle cost of the converged pool, nothing polling it.
    const idle = measureIdle ? await idleOurs(agent, nodes) : null;

    // 2. user events from agent 0, read with blocking queries on the others.
    const evAll: number[] = [];
    for (let e = 0; e < EVENTS; e++) {
      await sleep(500);
      const name = `bench${n}-${run}-${e}`;
      const others = nodes.slice(1);
      const idx = await Promise.all(
        others.map((x) =>
          call(agent, 'GET', x.http, `/v1/event/list?name=${name}`).then((r) => r.index || 1),
        ),
      );
      let tFire = 0;
      const arrivals = others.map(async (x, i) => {
        let index = idx[i] as number;
        const deadline = now() + 20_000;
        while (now() < deadline) {
          const r = await call(
            agent,
            'GET',
            x.http,
            `/v1/event/list?name=${name}&index=${index}&wait=20s`,
            25_000,
          ).catch(() => null);
          if (!r) {
            await sleep(POLL_MS);
            continue;
          }
          if ((JSON.parse(r.body) as Array<{ Name: string }>).some((ev) => ev.Name === name)) {
            return now() - tFire;
          }
          index = r.index || index;
        }
        return NaN;
      });
      await sleep(20); // the blocking queries are parked in the agents
      tFire = now();
      const fired = await call(agent, 'PUT', nodes[0]?.http ?? 0, `/v1/event/fire/${name}`);
      if (fired.status !== 200) throw new Error(`event fire: HTTP ${fired.status} ${fired.body}`);
      const d = await Promise.all(arrivals);
      if (d.some((x) => !Number.isFinite(x))) {
        const missing = others.filter((_, i) => !Number.isFinite(d[i] as number)).map((x) => x.name);
        throw new Error(`user event ${name} not delivered in 20 s to ${missing.join(', ')}`);
      }
      evAll.push(Math.max(...d));
    }

    // 3. failure: SIGKILL of the last agent until every survivor lists it failed (Status 4).
    await sleep(1000);
    const victim = nodes[n - 1] as Node;
    const survivors = nodes.slice(0, n - 1);
    victim.proc?.kill('SIGKILL');
    const seesFailed = (m: MemberJson[]): boolean => m.some((x) => x.Name === victim.name && x.Status === 4);
    const fail = await pollUntil(agent, survivors, seesFailed, LIMIT_MS);
    if (fail.some((d) => d === null)) {
      throw new Error(
        `failure of ${victim.name} not seen by all in ${LIMIT_MS / 1000} s\n${await describe(agent, survivors, seesFailed)}`,
      );
    }
    return {
      join: joinAll,
      event: median(evAll),
      fail: Math.max(...(fail as number[])),
      idle,
      loadAfterJoin,
      startupMs,
      settleMs,
      joinCpuS,
    };
  } finally {
    await killAndWait(nodes.map((x) => x.proc).filter((p): p is ChildProcess => p !== null));
    agent.destroy();
  }
}

// ---------------------------------------------------------------- the phase

export async function runGossip(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  if (SIZES.length === 0) return rows;
  process.on('exit', killEverything);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const tPhase = now();
  const loadBefore = loadavg();
  try {
    const haveSerf = await execP('which', ['serf'])
      .then(() => true)
      .catch(() => false);
    let serf: Map<number, SerfFigures> | null = null;
    let serfNote = '';
    if (!haveSerf) serfNote = 'serf not installed (apt-get install serf): serf side skipped';
    else {
      const r = await runSerfAnchor().catch((e: Error) => e.message);
      if (typeof r === 'string') serfNote = `serf anchor failed: ${r}`;
      else serf = r;
    }
    if (serfNote) log(`# ${serfNote}`);
    const loadAfterSerf = loadavg();

    const loads: string[] = [];
    for (const n of SIZES) {
      log(`# Consulate gossip: ${n} client agents, ${RUNS} runs (batches of ${BATCH}) ...`);
      const res: RunResult[] = [];
      const errors: string[] = [];
      let idle: IdleFigures | null = null;
      for (let run = 1; run <= RUNS; run++) {
        const root = mkdtempSync(join(tmpdir(), `consulate-bench-gossip-${n}-`));
        try {
          const r = await oneRun(root, n, run, idle === null);
          idle ??= r.idle;
          res.push(r);
          loads.push(`${n}: ${r.loadAfterJoin}`);
          log(
            `consulate n=${n} run ${run}: join_all ${fmt(r.join)} ms, event_all ${fmt(r.event)} ms, fail_all ${fmt(r.fail)} ms` +
              ` (startup of ${n} agents ${fmt(r.startupMs / 1000, 1)} s, quiet ${fmt(r.settleMs / 1000, 1)} s later; the join cost ${fmt((r.joinCpuS * 1000) / n)} ms CPU per agent; load ${r.loadAfterJoin})`,
          );
          if (r.idle) {
            log(
              `consulate n=${n} idle ${IDLE_S} s: CPU/agent mean ${fmt(r.idle.cpuMean, 2)}% max ${fmt(r.idle.cpuMax, 2)}%,` +
                ` bytes/member/s out ${fmt(r.idle.bytesOut)} in ${fmt(r.idle.bytesIn)}, RSS median ${fmt(r.idle.rssMedian)} MB max ${fmt(r.idle.rssMax)} MB (${r.idle.rssMaxOf ?? '?'})`,
            );
          }
          rmSync(root, { recursive: true, force: true });
        } catch (e) {
          const msg = (e as Error).message;
          errors.push(msg.split('\n')[0] ?? msg);
          log(`consulate n=${n} run ${run} FAILED: ${msg}`);
          log(`# data and logs (g<i>.log) kept under ${root}`);
        }
      }
      let serfIdleFig: IdleFigures | string = serfNote || 'not measured';
      if (haveSerf) {
        log(`# serf idle: ${n} agents, ${IDLE_S} s ...`);
        serfIdleFig = await serfIdle(n).catch((e: Error) => e.message);
        if (typeof serfIdleFig === 'string') log(`# serf idle n=${n}: ${serfIdleFig}`);
        else {
          log(
            `serf n=${n} idle ${IDLE_S} s: CPU/agent mean ${fmt(serfIdleFig.cpuMean, 2)}% max ${fmt(serfIdleFig.cpuMax, 2)}%, RSS median ${fmt(serfIdleFig.rssMedian)} MB`,
          );
        }
      }

      const s = serf?.get(n);
      const failed = errors.length ? ` (${errors.length} of ${RUNS} runs failed: ${errors.join('; ')})` : '';
      const timing = (what: string, key: 'join' | 'event' | 'fail'): void => {
        const xs = res.map((r) => r[key]);
        const ours = median(xs);
        const sr = s?.runs[key] ?? [];
        // serf's runs can be bimodal (a join run waiting ~60-90 s while others take ~1-2 s): say so,
        // and give the ratio against its fastest run as well.
        const fastest = Math.min(...sr);
        const bimodal = sr.length > 1 && Math.max(...sr) > 20_000 && fastest < Math.max(...sr) / 4;
        const slow = sr.filter((x) => x > 20_000).length;
        rows.push({
          what: `Gossip, ${n} members: ${what}`,
          ours: `${fmt(ours)} ms [${xs.map((x) => fmt(x)).join(', ')}]${key === 'join' ? failed : ''}`,
          anchor: s
            ? `${fmt(s[key])} ms [${sr.map((x) => fmt(x)).join(', ')}]${bimodal ? ` (${slow} of ${sr.length} serf runs over 20 s)` : ''}`
            : serfNote || 'n/a',
          ratio: `${ratio(ours, s?.[key] ?? NaN)}${bimodal ? ` (${ratio(ours, fastest)} vs serf's fastest run)` : ''}`,
          target: '<= 1.0x',
        });
      };
      timing(`join_all, every agent lists all alive (median of ${RUNS})`, 'join');
      timing('event_all, user event fired at agent 0 reaches every other agent', 'event');
      timing('fail_all, SIGKILL of one agent until every survivor lists it failed', 'fail');
      const si = typeof serfIdleFig === 'string' ? null : serfIdleFig;
      rows.push({
        what: `Gossip, ${n} members idle ${IDLE_S} s: CPU per agent, mean (max), % of one core`,
        ours: idle ? `${fmt(idle.cpuMean, 2)}% (${fmt(idle.cpuMax, 2)}%)` : 'n/a',
        anchor: si
          ? `${fmt(si.cpuMean, 2)}% (${fmt(si.cpuMax, 2)}%)`
          : typeof serfIdleFig === 'string'
            ? serfIdleFig
            : 'n/a',
        ratio: ratio(idle?.cpuMean ?? NaN, si?.cpuMean ?? NaN),
        target: '< 1%',
      });
      rows.push({
        what: `Gossip, ${n} members idle: gossip bytes per member per second, sent / received`,
        ours: idle ? idle.note || `${fmt(idle.bytesOut)} / ${fmt(idle.bytesIn)} B/s` : 'n/a',
        anchor: 'n/a (serf reports no byte counters)',
        ratio: '',
        target: '',
      });
      rows.push({
        what: `Gossip, ${n} members idle: RSS of a client agent, median (max)`,
        ours: idle ? `${fmt(idle.rssMedian)} MB (${fmt(idle.rssMax)} MB)` : 'n/a',
        anchor: si ? `${fmt(si.rssMedian)} MB (${fmt(si.rssMax)} MB) (serf agent)` : 'n/a',
        ratio: ratio(idle?.rssMedian ?? NaN, si?.rssMedian ?? NaN),
        target: '< 80 MB',
      });
    }
    const minutes = (now() - tPhase) / 60_000;
    rows.push({
      what: 'Gossip phase: load average (1/5/15 min) before; after serf; after each join of ours; at the end',
      ours: `${loadBefore}; ${loadAfterSerf}; ${loads.join(', ')}; ${loadavg()} (${fmt(minutes, 1)} min in all)`,
      anchor: '',
      ratio: '',
      target: '',
    });
  } finally {
    killEverything();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return rows;
}
