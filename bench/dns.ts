// DNS phase of `npm run bench`: Consulate's DNS interface side by side with two anchors in one run.
//   1. ../shared/bench/anchors/dns_bench.sh twice, SERVER=knot (a native authoritative server with a
//      Consul-shaped static zone) and SERVER=dns2 (the npm dns2 UDP server answering one fixed A
//      record: the ceiling of a Node DNS server that does no work), with dnsperf on loopback.
//   2. Consulate: one server and one client agent (DNS_SERVERS for more), every agent pinned to
//      CPU 0 like the anchor's server, dnsperf pinned to CPU 1 with the anchor's parameters. The
//      catalog holds the anchor's zone: 40 nodes, 20 services x 3 passing instances, each instance
//      on one of the nodes the anchor's SRV records name. dnsperf asks the client agent's DNS port:
//      (a) cached: the anchor's query file (40 node A, 20 service A, 20 service SRV), hot names;
//      (b) uncached: names that miss the agent's answer cache on every query (see UNCACHED below);
//      a max-QPS run for each, then a rate-limited run for p50/p99 (the anchor's 5,000 QPS for the
//      cached mix, DNS_UNCACHED_LAT_QPS for the uncached names).
// Environment: DNS_DUR (seconds of max-QPS load, the anchor's default 30), DNS_LAT_QPS (5000),
// DNS_LAT_DUR (10), DNS_OUTSTANDING (200), DNS_CLIENTS (4), DNS_SERVER_CPUS (0), DNS_LOAD_CPUS (1),
// DNS_ANCHOR_PORT (28600), DNS_ANCHORS ("knot dns2"; nsd also works), DNS_SERVERS (Consulate
// servers, 1), DNS_UNCACHED (names | writes | none, see below), DNS_UNCACHED_NAMES (40000),
// DNS_UNCACHED_LAT_QPS (1000), DNS_WRITE_MS (20), DNS_AGENT_CONFIG (JSON for the client agent's
// config file, e.g. '{"dns_config":{"only_passing":true}}'), DNS_FAKE=dns2 (plumbing test: "ours"
// is the dns2 anchor server, no Consulate), DNS_PROFILE=1 (the agents run with node --cpu-prof; the
// .cpuprofile files are kept under bench/results/), ANCHORS (../shared/bench/anchors).

import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
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
  ratio,
  ROOT,
  sleep,
  type BenchRow,
} from './common.js';

const env = (k: string, d: string): string => process.env[k] ?? d;
// The anchor's defaults, so both sides are measured with the same parameters.
const DUR = Math.max(1, Number(env('DNS_DUR', '30')));
const LAT_QPS = Math.max(0, Number(env('DNS_LAT_QPS', '5000')));
const LAT_DUR = Math.max(1, Number(env('DNS_LAT_DUR', '10')));
const OUTSTANDING = Math.max(1, Number(env('DNS_OUTSTANDING', '200')));
const CLIENTS = Math.max(1, Number(env('DNS_CLIENTS', '4')));
const SERVER_CPUS = env('DNS_SERVER_CPUS', '0');
const LOAD_CPUS = env('DNS_LOAD_CPUS', '1');
const ANCHOR_PORT = Number(env('DNS_ANCHOR_PORT', '28600'));
const ANCHOR_KINDS = env('DNS_ANCHORS', 'knot dns2')
  .split(/[\s,]+/)
  .filter(Boolean);
const N_SERVERS = Math.max(1, Number(env('DNS_SERVERS', '1')));
const FAKE = env('DNS_FAKE', '');
const PROFILE = env('DNS_PROFILE', '') === '1';
/**
 * What "uncached" means (the query file of measurement b):
 *   names  - every question names something the agent has not been asked about in this run, so no
 *            answer can come from an answer cache: DNS_UNCACHED_NAMES entries are registered besides
 *            the zone, entry i a node unode<i> running one passing instance of service usvc<i>, and
 *            the file asks about each i once, in the anchor mix's proportions (half node A, a
 *            quarter service A, a quarter service SRV). dnsperf makes one pass (-n 1), cut at
 *            DNS_DUR, over all names but the last DNS_UNCACHED_LAT_QPS x DNS_LAT_DUR, which the
 *            latency run asks. Each answer is the full lookup: parse, the catalog read (from a
 *            client agent, an RPC to a server), build, encode.
 *   writes - the cached mix while a writer re-registers a check on one of the services every
 *            DNS_WRITE_MS: each write changes that service's data, so the answers built from it are
 *            dropped and rebuilt (without an RPC of their own if the agent refreshes by blocking
 *            query, as ours does).
 *   none   - skip measurement b.
 */
const UNCACHED = env('DNS_UNCACHED', 'names');
const UNCACHED_NAMES = Math.max(100, Number(env('DNS_UNCACHED_NAMES', '40000')));
/**
 * The uncached latency run's rate: a miss costs an RPC, so 5,000 misses a second would measure a
 * queue, not a lookup. With "names" it gets its own DNS_UNCACHED_LAT_QPS x DNS_LAT_DUR names.
 */
const UNCACHED_LAT_QPS = Math.max(0, Number(env('DNS_UNCACHED_LAT_QPS', '1000')));
const WRITE_MS = Math.max(1, Number(env('DNS_WRITE_MS', '20')));

// ---------------------------------------------------------------- the zone, as the anchor writes it

/** Node i's address in the anchor's zone (127.0.i/250.i%250+1). */
const nodeAddr = (i: number): string => `127.0.${Math.floor(i / 250)}.${(i % 250) + 1}`;
/** The node instance k (1..3) of service s runs on: the node the anchor's SRV record k names. */
const instanceNode = (s: number, k: number): number => ((s * 3 + k) % 40) + 1;

/** The anchor's query file: 40 node A, then per service an A and an SRV question. */
function cachedQueries(): string {
  const q: string[] = [];
  for (let i = 1; i <= 40; i++) q.push(`node${i}.node.dc1.consul A`);
  for (let s = 1; s <= 20; s++) q.push(`svc${s}.service.consul A`, `svc${s}.service.consul SRV`);
  return `${q.join('\n')}\n`;
}

/** Entry i of UNCACHED=names: a node of its own (addresses from 127.2.0.0 on, off the zone's). */
const uAddr = (i: number): string => `127.${2 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

/** UNCACHED=names: each entry once, in a shuffled order (fixed seed), the mix's proportions. */
function uncachedQueries(): string[] {
  const idx = Array.from({ length: UNCACHED_NAMES }, (_, i) => i + 1);
  let seed = 42;
  for (let i = idx.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const j = seed % (i + 1);
    [idx[i], idx[j]] = [idx[j] as number, idx[i] as number];
  }
  return idx.map((i) =>
    i % 2 ? `unode${i}.node.dc1.consul A` : `usvc${i}.service.consul ${i % 4 ? 'A' : 'SRV'}`,
  );
}

// ---------------------------------------------------------------- dnsperf

interface Perf {
  qps: number;
  sent: number;
  completed: number;
  lost: number;
  codes: string;
  avgMs: number;
  respBytes: number;
}

const pin = (cpus: string, cmd: string, args: string[]): [string, string[]] =>
  cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];

function parsePerf(out: string): Perf {
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    codes: /Response codes:\s+(.*)/.exec(out)?.[1]?.trim() ?? 'n/a',
    avgMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    respBytes: num(/Average packet size:.*response\s+(\d+)/),
  };
}

/** The anchor's max-throughput run: -l DUR -c CLIENTS -T 1 -q OUTSTANDING -t 2, pinned to LOAD_CPUS. */
async function dnsperfMax(port: number, file: string, extra: string[] = []): Promise<Perf> {
  const [cmd, args] = pin(LOAD_CPUS, 'dnsperf', [
    ...['-m', 'udp', '-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(DUR)],
    ...['-c', String(CLIENTS), '-T', '1', '-q', String(OUTSTANDING), '-t', '2', ...extra],
  ]);
  const { stdout, stderr } = await execP(cmd, args, { maxBuffer: 16 << 20 });
  return parsePerf(stdout + stderr);
}

interface Lat {
  p50: number;
  p99: number;
  answered: number;
  other: string; // answers other than NOERROR, by code
}

/** The anchor's latency run: -Q qps -v, p50/p99 of the NOERROR answers (as the anchor computes them). */
async function dnsperfLat(
  port: number,
  file: string,
  dir: string,
  qps: number,
  extra: string[] = [],
): Promise<Lat> {
  const out = join(dir, 'lat.log');
  const fd = openSync(out, 'w');
  const [cmd, args] = pin(LOAD_CPUS, 'dnsperf', [
    ...['-m', 'udp', '-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(LAT_DUR)],
    ...['-Q', String(qps), '-c', String(CLIENTS), '-T', '1', '-v', '-t', '2', ...extra],
  ]);
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  await new Promise((r) => child.once('exit', r));
  const ms: number[] = [];
  const other = new Map<string, number>();
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    if (!line.startsWith('> ')) continue;
    const f = line.split(/\s+/);
    if (f[1] === 'NOERROR') ms.push(Number(f.at(-1)) * 1000);
    else other.set(f[1] ?? '?', (other.get(f[1] ?? '?') ?? 0) + 1);
  }
  ms.sort((a, b) => a - b);
  // The anchor's percentile: the value at index int(n*p) (1-based +1), i.e. a[floor(n*p)].
  const at = (p: number): number => ms[Math.floor(ms.length * p)] ?? NaN;
  return {
    p50: at(0.5),
    p99: at(0.99),
    answered: ms.length,
    other: [...other].map(([k, v]) => `${k} ${v}`).join(', '),
  };
}

// ---------------------------------------------------------------- anchors

interface AnchorFigures {
  kind: string;
  qps: number;
  avgMs: number;
  lost: number;
  p50: number;
  p99: number;
  codes: string;
  respBytes: number;
  summary: string;
}

async function runAnchor(kind: string): Promise<AnchorFigures | string> {
  const script = join(ANCHORS, 'dns_bench.sh');
  if (!existsSync(script)) return `no anchor script at ${script}`;
  const bin = { knot: 'knotd', nsd: 'nsd', dns2: 'node' }[kind];
  if (!bin) return `unknown anchor ${kind}`;
  const have = await execP('which', [bin])
    .then(() => true)
    .catch(() => false);
  if (!have) return `${bin} not installed (apt-get install ${kind})`;
  log(`# DNS anchor: ${kind}, ${DUR} s max QPS, then ${LAT_DUR} s at ${LAT_QPS} QPS ...`);
  try {
    const { stdout, stderr } = await execP('bash', [script], {
      env: {
        ...process.env,
        SERVER: kind,
        PORT: String(ANCHOR_PORT),
        DUR: String(DUR),
        OUTSTANDING: String(OUTSTANDING),
        CLIENTS: String(CLIENTS),
        LAT_QPS: String(LAT_QPS),
        LAT_DUR: String(LAT_DUR),
        SERVER_CPUS,
        LOAD_CPUS,
        // The dns2 anchor loads dns2 from $PERF_DIR/node_modules: the project's own copy (the version
        // our DNS interface uses) instead of an npm install into /tmp/perf.
        ...(existsSync(join(ROOT, 'node_modules/dns2')) && !process.env['PERF_DIR']
          ? { PERF_DIR: ROOT }
          : {}),
        WORK: join(tmpdir(), `consulate-bench-dns-${kind}`),
      },
      maxBuffer: 16 << 20,
    });
    const pre = stderr.split('\n').find((l) => l.startsWith('#'));
    if (pre) log(pre);
    const summary = stdout.trim().split('\n').at(-1) ?? '';
    log(summary);
    const get = (k: string): number => Number(new RegExp(`\\b${k}=([\\d.]+)`).exec(summary)?.[1] ?? NaN);
    const perf = parsePerf(stdout);
    return {
      kind,
      qps: get('max_qps'),
      avgMs: get('avg_ms'),
      lost: get('lost'),
      p50: get(`at_${LAT_QPS}qps_p50_ms`),
      p99: get('p99_ms'),
      codes: perf.codes,
      respBytes: perf.respBytes,
      summary,
    };
  } catch (e) {
    return `anchor ${kind} failed: ${((e as Error).message.split('\n')[0] ?? '').slice(0, 200)}`;
  }
}

// ---------------------------------------------------------------- our processes

const children = new Set<ChildProcess>();

function killEverything(): void {
  for (const c of children) {
    try {
      if (c.pid) process.kill(c.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  children.clear();
}

function onSignal(): void {
  killEverything();
  process.exit(130);
}

/** Spawns `node args` pinned to SERVER_CPUS (taskset execs node: the pid is node's). */
function spawnPinned(args: string[], logFile: string, extraEnv: Record<string, string> = {}): ChildProcess {
  const fd = openSync(logFile, 'a');
  const [cmd, a] = pin(SERVER_CPUS, process.execPath, args);
  const p = spawn(cmd, a, { stdio: ['ignore', fd, fd], env: { ...process.env, ...extraEnv } });
  closeSync(fd);
  children.add(p);
  p.once('exit', () => children.delete(p));
  return p;
}

async function stopGracefully(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM'); // SIGTERM, not SIGKILL: --cpu-prof writes its profile at a normal exit
  await Promise.race([gone, sleep(5000)]);
  if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

/** A port free for both UDP and TCP on 127.0.0.1 (a DNS server listens on both). */
async function freeDnsPort(): Promise<number> {
  for (;;) {
    const p = await freePort();
    const ok = await new Promise<boolean>((res) => {
      const s = createSocket('udp4');
      s.once('error', () => res(false));
      s.bind(p, '127.0.0.1', () => s.close(() => res(true)));
    });
    if (ok) return p;
  }
}

function rssMb(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function http(method: string, port: number, path: string, body?: unknown): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
}

interface Ours {
  dnsPort: number;
  client: ChildProcess;
  servers: ChildProcess[];
  serverHttp: number;
  note: string;
}

/** One Consulate server (or DNS_SERVERS) and one client agent with its DNS port, the catalog loaded. */
async function startConsulate(dir: string): Promise<Ours> {
  const servers = await Promise.all(
    Array.from({ length: N_SERVERS }, async (_, i) => ({
      name: `dns-server-${i + 1}`,
      http: await freePort(),
      rpc: await freePort(),
      serf: await freePort(),
    })),
  );
  // Servers: Raft at Consul's fast timings (raft_multiplier 1) only to elect a leader sooner; their
  // DNS is off, only the client agent's is asked.
  writeFileSync(join(dir, 'server.json'), JSON.stringify({ performance: { raft_multiplier: 1 } }));
  const clientCfg = join(dir, 'client.json');
  writeFileSync(clientCfg, env('DNS_AGENT_CONFIG', '{}'));
  const procs = servers.map((s) =>
    spawnPinned(
      [
        ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${join(dir, 'prof', s.name)}`] : []),
        BIN,
        'agent',
        '-server',
        `-bootstrap-expect=${N_SERVERS}`,
        `-node=${s.name}`,
        '-bind=127.0.0.1',
        '-client=127.0.0.1',
        `-http-port=${s.http}`,
        `-server-port=${s.rpc}`,
        `-serf-lan-port=${s.serf}`,
        // Three servers on one host: the WAN pool's fixed port (8302) would collide; not measured.
        '-serf-wan-port=-1',
        '-dns-port=-1',
        `-data-dir=${join(dir, s.name)}`,
        `-config-file=${join(dir, 'server.json')}`,
        '-log-level=warn',
        ...servers.filter((x) => x !== s).map((x) => `-retry-join=127.0.0.1:${x.serf}`),
      ],
      join(dir, `${s.name}.log`),
    ),
  );
  const first = servers[0] as (typeof servers)[number];
  const dnsPort = await freeDnsPort();
  const clientHttp = await freePort();
  const profDir = join(dir, 'prof');
  const client = spawnPinned(
    [
      ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, 'dns-client')}`] : []),
      BIN,
      'agent',
      '-node=dns-client',
      '-bind=127.0.0.1',
      '-client=127.0.0.1',
      `-http-port=${clientHttp}`,
      `-serf-lan-port=${await freePort()}`,
      `-dns-port=${dnsPort}`,
      `-data-dir=${join(dir, 'dns-client')}`,
      `-config-file=${clientCfg}`,
      '-log-level=warn',
      `-retry-join=127.0.0.1:${first.serf}`,
    ],
    join(dir, 'dns-client.log'),
  );

  // A leader, and the client agent able to read the catalog through it.
  const deadline = Date.now() + 60_000;
  const ready = async (): Promise<boolean> => {
    const l = await http('GET', first.http, '/v1/status/leader')
      .then((r) => (r.ok ? r.json() : ''))
      .catch(() => '');
    if (!l) return false;
    const r = await http('GET', clientHttp, '/v1/catalog/nodes').catch(() => null);
    return r?.ok ?? false;
  };
  while (!(await ready())) {
    if (Date.now() > deadline || client.exitCode !== null || procs.some((p) => p.exitCode !== null)) {
      throw new Error(`cluster not ready in 60 s; logs under ${dir}`);
    }
    await sleep(200);
  }

  // The anchor's zone as catalog entries. Services carry no address of their own, so an A answer
  // lists the three nodes' addresses and an SRV answer names the nodes (node<j>.node.dc1.consul), as
  // the anchor's SRV records do; the agent adds the nodes' A records as extra records, as Knot does.
  const regs: unknown[] = [];
  const hosted = new Map<number, Array<{ s: number; k: number }>>();
  for (let s = 1; s <= 20; s++) {
    for (let k = 1; k <= 3; k++) {
      const n = instanceNode(s, k);
      hosted.set(n, [...(hosted.get(n) ?? []), { s, k }]);
    }
  }
  for (let i = 1; i <= 40; i++) {
    regs.push({ Node: `node${i}`, Address: nodeAddr(i) });
    for (const { s, k } of hosted.get(i) ?? []) {
      regs.push({
        Node: `node${i}`,
        Address: nodeAddr(i),
        Service: { ID: `svc${s}-${k}`, Service: `svc${s}`, Port: 8000 + k },
        Check: {
          CheckID: `service:svc${s}-${k}`,
          Name: `svc${s} alive`,
          Status: 'passing',
          ServiceID: `svc${s}-${k}`,
        },
      });
    }
  }
  if (UNCACHED === 'names') {
    // One more than the file asks about: verify() asks about that one, leaving every name of the
    // file unasked.
    for (let i = 1; i <= UNCACHED_NAMES + 1; i++) {
      regs.push({
        Node: `unode${i}`,
        Address: uAddr(i),
        Service: { ID: `usvc${i}`, Service: `usvc${i}`, Port: 9000 },
        Check: { CheckID: `service:usvc${i}`, Name: 'alive', Status: 'passing', ServiceID: `usvc${i}` },
      });
    }
  }
  log(`# Consulate: registering ${regs.length} catalog entries ...`);
  const tReg = performance.now();
  for (let i = 0; i < regs.length; i += 64) {
    const res = await Promise.all(
      regs.slice(i, i + 64).map((b) => http('PUT', first.http, '/v1/catalog/register', b)),
    );
    const bad = res.find((r) => !r.ok);
    if (bad) throw new Error(`catalog register: HTTP ${bad.status} ${await bad.text()}`);
  }
  log(`# registered in ${fmt((performance.now() - tReg) / 1000, 1)} s`);
  return { dnsPort, client, servers: procs, serverHttp: first.http, note: '' };
}

/** The dns2 anchor's server as a stand-in for ours (DNS_FAKE=dns2): tests this phase's plumbing. */
async function startFake(dir: string): Promise<Ours> {
  const dnsPort = await freeDnsPort();
  const p = spawnPinned([join(ANCHORS, 'lib/dns2_server.cjs'), String(dnsPort)], join(dir, 'fake.log'), {
    NODE_PATH: join(ROOT, 'node_modules'),
  });
  return {
    dnsPort,
    client: p,
    servers: [],
    serverHttp: 0,
    note: 'FAKE: the dns2 anchor server stands in for Consulate',
  };
}

/**
 * Waits until the agent answers and checks that its answers have the anchor's shape: a node's A
 * record, a service's three A records, its three SRV records with ports 8001..8003 on the nodes the
 * anchor's zone names. Returns what differs ('' when all matches).
 */
async function verify(port: number): Promise<string> {
  const r = new Resolver({ timeout: 1000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const up = await r
      .resolve4('node1.node.dc1.consul')
      .then(() => true)
      .catch(() => false);
    if (up) break;
    if (Date.now() > deadline) throw new Error(`no DNS answer on 127.0.0.1:${port} in 30 s`);
    await sleep(200);
  }
  const diffs: string[] = [];
  const same = (what: string, got: string[], want: string[]): void => {
    const g = [...got].sort().join(',');
    const w = [...want].sort().join(',');
    if (g !== w) diffs.push(`${what}: got [${g}], the zone has [${w}]`);
  };
  const tryq = async <T>(what: string, f: () => Promise<T>): Promise<T | null> =>
    f().catch((e: Error) => {
      diffs.push(`${what}: ${e.message}`);
      return null;
    });
  const n7 = await tryq('node7 A', () => r.resolve4('node7.node.dc1.consul'));
  if (n7) same('node7.node.dc1.consul A', n7, [nodeAddr(7)]);
  const a = await tryq('svc5 A', () => r.resolve4('svc5.service.consul'));
  if (a)
    same(
      'svc5.service.consul A',
      a,
      [1, 2, 3].map((k) => nodeAddr(instanceNode(5, k))),
    );
  const srv = await tryq('svc5 SRV', () => r.resolveSrv('svc5.service.consul'));
  if (srv) {
    same(
      'svc5.service.consul SRV',
      srv.map((x) => `${x.port}:${x.name}`),
      [1, 2, 3].map((k) => `${8000 + k}:node${instanceNode(5, k)}.node.dc1.consul`),
    );
  }
  if (UNCACHED === 'names' && !FAKE) {
    // The entry registered last, which the query file does not ask about.
    const n = UNCACHED_NAMES + 1;
    const u = await tryq(`usvc${n} A`, () => r.resolve4(`usvc${n}.service.consul`));
    if (u) same(`usvc${n}.service.consul A`, u, [uAddr(n)]);
  }
  return diffs.join('; ');
}

/** A writer moving the catalog index: every WRITE_MS, one service instance's check is re-registered. */
function startWriter(port: number): { stop: () => Promise<number> } {
  let stopped = false;
  let writes = 0;
  const loop = (async (): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      const t0 = Date.now();
      const s = (i % 20) + 1;
      const k = (Math.floor(i / 20) % 3) + 1;
      const n = instanceNode(s, k);
      await http('PUT', port, '/v1/catalog/register', {
        Node: `node${n}`,
        Address: nodeAddr(n),
        Service: { ID: `svc${s}-${k}`, Service: `svc${s}`, Port: 8000 + k },
        Check: {
          CheckID: `service:svc${s}-${k}`,
          Name: `svc${s} alive`,
          Status: 'passing',
          ServiceID: `svc${s}-${k}`,
          Output: `write ${i}`,
        },
      })
        .then(() => writes++)
        .catch(() => undefined);
      const el = Date.now() - t0;
      if (el < WRITE_MS) await sleep(WRITE_MS - el);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return writes;
    },
  };
}

interface OursFigures {
  cached: Perf;
  cachedLat: Lat | null;
  uncached: Perf | null;
  uncachedLat: Lat | null;
  uncachedWhat: string;
  cpuCached: number;
  cpuCachedServers: number;
  cpuUncached: number;
  cpuUncachedServers: number;
  rss: number;
  verifyDiff: string;
  note: string;
}

/** CPU of the processes over `f()`, as % of one core (summed over the processes). */
async function withCpu<T>(ps: ChildProcess[], f: () => Promise<T>): Promise<[T, number]> {
  const c0 = ps.map((p) => cpuSeconds(p.pid));
  const t0 = performance.now();
  const r = await f();
  const wall = (performance.now() - t0) / 1000;
  const used = ps.reduce((sum, p, i) => sum + (cpuSeconds(p.pid) - (c0[i] as number)), 0);
  return [r, ps.length ? (used / wall) * 100 : NaN];
}

async function runOurs(dir: string): Promise<OursFigures> {
  const ours = FAKE ? await startFake(dir) : await startConsulate(dir);
  try {
    const verifyDiff = await verify(ours.dnsPort);
    if (verifyDiff) log(`# answers differ from the anchor's zone: ${verifyDiff}`);
    const cachedFile = join(dir, 'queries-cached.txt');
    writeFileSync(cachedFile, cachedQueries());

    log(`# Consulate DNS, cached mix: ${DUR} s max QPS on 127.0.0.1:${ours.dnsPort} ...`);
    const both = async <T>(f: () => Promise<T>): Promise<[T, number, number]> => {
      const [[r, c], s] = await withCpu(ours.servers, () => withCpu([ours.client], f));
      return [r, c, s];
    };
    const [cached, cpuCached, cpuCachedServers] = await both(() => dnsperfMax(ours.dnsPort, cachedFile));
    log(
      `consulate dns cached: ${fmt(cached.qps)} QPS, avg ${fmt(cached.avgMs, 3)} ms, lost ${cached.lost}, codes ${cached.codes}; agent CPU ${fmt(cpuCached)}%, servers ${fmt(cpuCachedServers)}%`,
    );
    let cachedLat: Lat | null = null;
    if (LAT_QPS > 0) {
      cachedLat = await dnsperfLat(ours.dnsPort, cachedFile, dir, LAT_QPS);
      log(
        `consulate dns cached at ${LAT_QPS} QPS: p50 ${fmt(cachedLat.p50, 3)} ms p99 ${fmt(cachedLat.p99, 3)} ms (${cachedLat.answered} NOERROR${cachedLat.other ? `; ${cachedLat.other}` : ''})`,
      );
    }

    let uncached: Perf | null = null;
    let uncachedLat: Lat | null = null;
    let cpuUncached = NaN;
    let cpuUncachedServers = NaN;
    let uncachedWhat = '';
    if (UNCACHED === 'names' || UNCACHED === 'writes') {
      let file = cachedFile;
      let latFile = cachedFile;
      let extra: string[] = [];
      let latExtra: string[] = [];
      let writer: { stop: () => Promise<number> } | null = null;
      if (UNCACHED === 'names') {
        // Disjoint slices: the latency run's names are not asked by the max run.
        const names = uncachedQueries();
        const nLat = LAT_QPS > 0 ? Math.min(UNCACHED_LAT_QPS * LAT_DUR, names.length >> 1) : 0;
        file = join(dir, 'queries-uncached.txt');
        latFile = join(dir, 'queries-uncached-lat.txt');
        writeFileSync(file, `${names.slice(0, names.length - nLat).join('\n')}\n`);
        writeFileSync(latFile, `${names.slice(names.length - nLat).join('\n')}\n`);
        extra = ['-n', '1']; // one pass: no name is asked twice
        latExtra = ['-n', '1'];
        uncachedWhat = 'each question about a node or service not asked before (1 record each)';
      } else {
        writer = FAKE ? null : startWriter(ours.serverHttp);
        uncachedWhat = `the cached mix while an instance's check is re-registered every ${WRITE_MS} ms`;
      }
      log(`# Consulate DNS, uncached: ${uncachedWhat} ...`);
      [uncached, cpuUncached, cpuUncachedServers] = await both(() => dnsperfMax(ours.dnsPort, file, extra));
      if (writer) uncachedWhat += `, ${await writer.stop()} writes`;
      if (UNCACHED === 'names') uncachedWhat += `, ${uncached.sent} of ${UNCACHED_NAMES} registered`;
      log(
        `consulate dns uncached: ${fmt(uncached.qps)} QPS over ${uncached.completed} answers, avg ${fmt(uncached.avgMs, 3)} ms, lost ${uncached.lost}, codes ${uncached.codes}; agent CPU ${fmt(cpuUncached)}%, servers ${fmt(cpuUncachedServers)}%`,
      );
      if (LAT_QPS > 0 && UNCACHED_LAT_QPS > 0) {
        let w: { stop: () => Promise<number> } | null = null;
        if (UNCACHED === 'writes') w = FAKE ? null : startWriter(ours.serverHttp);
        uncachedLat = await dnsperfLat(ours.dnsPort, latFile, dir, UNCACHED_LAT_QPS, latExtra);
        await w?.stop();
        log(
          `consulate dns uncached at ${UNCACHED_LAT_QPS} QPS: p50 ${fmt(uncachedLat.p50, 3)} ms p99 ${fmt(uncachedLat.p99, 3)} ms (${uncachedLat.answered} NOERROR${uncachedLat.other ? `; ${uncachedLat.other}` : ''})`,
        );
      }
    }
    const rss = rssMb(ours.client.pid);
    return {
      cached,
      cachedLat,
      uncached,
      uncachedLat,
      uncachedWhat,
      cpuCached,
      cpuCachedServers,
      cpuUncached,
      cpuUncachedServers,
      rss,
      verifyDiff,
      note: ours.note,
    };
  } finally {
    await stopGracefully(ours.client);
    await Promise.all(ours.servers.map(stopGracefully));
    if (PROFILE) {
      const prof = join(dir, 'prof');
      const out = join(ROOT, 'bench/results');
      mkdirSync(out, { recursive: true });
      for (const who of existsSync(prof) ? readdirSync(prof) : []) {
        for (const f of readdirSync(join(prof, who))) {
          cpSync(join(prof, who, f), join(out, `${who}-${f}`));
          log(`# CPU profile of ${who}: bench/results/${who}-${f}`);
        }
      }
    }
  }
}

// ---------------------------------------------------------------- the phase

export async function runDns(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const have = await execP('which', ['dnsperf'])
    .then(() => true)
    .catch(() => false);
  if (!have) {
    log('# dnsperf not installed (apt-get install dnsperf knot): skipping the DNS phase');
    return rows;
  }
  process.on('exit', killEverything);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const tPhase = performance.now();
  const loadBefore = loadavg();
  const dir = mkdtempSync(join(tmpdir(), 'consulate-bench-dns-'));
  let keep = false;
  try {
    const anchors = new Map<string, AnchorFigures | string>();
    const loads: string[] = [];
    for (const kind of ANCHOR_KINDS) {
      anchors.set(kind, await runAnchor(kind));
      loads.push(`after ${kind} ${loadavg()}`);
      const a = anchors.get(kind);
      if (typeof a === 'string') log(`# ${a}`);
    }
    let ours: OursFigures | string;
    try {
      ours = await runOurs(dir);
    } catch (e) {
      ours = (e as Error).message;
      keep = true;
      log(`# Consulate DNS FAILED: ${ours}\n# logs kept under ${dir}`);
    }
    loads.push(`after ours ${loadavg()}`);

    const fig = (k: string): AnchorFigures | null => {
      const a = anchors.get(k);
      return a && typeof a !== 'string' ? a : null;
    };
    const why = (k: string): string => {
      const a = anchors.get(k);
      return typeof a === 'string' ? a : 'not run (DNS_ANCHORS)';
    };
    const o = typeof ours === 'string' ? null : ours;
    const fail = typeof ours === 'string' ? `failed: ${ours.split('\n')[0]}` : 'n/a';
    const label = o?.note ? ` [${o.note}]` : '';
    const knot = fig('knot');
    const dns2 = fig('dns2');
    const nsd = fig('nsd');
    const qpsRows = (what: string, p: Perf | null): void => {
      const ours = p ? `${fmt(p.qps)} QPS` : fail;
      rows.push({
        what: `DNS max QPS, ${what}, vs Knot${label}`,
        ours,
        anchor: knot ? `${fmt(knot.qps)} QPS (Knot, 1 UDP worker, static zone)` : why('knot'),
        ratio: ratio(p?.qps ?? NaN, knot?.qps ?? NaN),
        target: '>= 0.35x',
      });
      rows.push({
        what: `DNS max QPS, ${what}, vs bare dns2${label}`,
        ours,
        anchor: dns2 ? `${fmt(dns2.qps)} QPS (dns2, one fixed A answer)` : why('dns2'),
        ratio: ratio(p?.qps ?? NaN, dns2?.qps ?? NaN),
        target: '>= 4x',
      });
      if (nsd) {
        rows.push({
          what: `DNS max QPS, ${what}, vs nsd${label}`,
          ours,
          anchor: `${fmt(nsd.qps)} QPS (nsd, 1 server)`,
          ratio: ratio(p?.qps ?? NaN, nsd.qps),
          target: '',
        });
      }
    };
    const cachedWhat = 'cached mix (the anchor\u2019s 80 questions: 40 node A, 20 service A, 20 SRV)';
    qpsRows(cachedWhat, o?.cached ?? null);
    if (o?.uncached || UNCACHED !== 'none') {
      qpsRows(`uncached (${o?.uncachedWhat || UNCACHED})`, o?.uncached ?? null);
    }
    const lat = (l: Lat | null | undefined): string =>
      l ? `${fmt(l.p50, 3)} / ${fmt(l.p99, 3)} ms${l.other ? ` (${l.other})` : ''}` : fail;
    const alat = (a: AnchorFigures | null, k: string): string =>
      a ? `${k} ${fmt(a.p50, 3)} / ${fmt(a.p99, 3)} ms` : `${k}: ${why(k.toLowerCase())}`;
    if (LAT_QPS > 0) {
      rows.push({
        what: `DNS p50 / p99 at ${LAT_QPS} QPS, cached mix${label}`,
        ours: lat(o?.cachedLat),
        anchor: `${alat(knot, 'Knot')}; ${alat(dns2, 'dns2')}`,
        ratio: ratio(o?.cachedLat?.p99 ?? NaN, knot?.p99 ?? NaN) + ' (p99 vs Knot)',
        target: 'p99 <= 5 ms',
      });
      if (o?.uncachedLat) {
        rows.push({
          what: `DNS p50 / p99 at ${UNCACHED_LAT_QPS} QPS, uncached${label}`,
          ours: lat(o.uncachedLat),
          anchor: '',
          ratio: '',
          target: '',
        });
      }
    }
    const codes = (p: Perf | null | undefined): string =>
      p ? `lost ${p.lost} of ${p.sent}; ${p.codes}; ${fmt(p.respBytes)} B answers` : 'n/a';
    rows.push({
      what: `DNS max-QPS runs: queries lost, answer codes, mean answer size (cached; uncached)${label}`,
      ours: o ? `${codes(o.cached)}; ${codes(o.uncached)}` : fail,
      anchor: [knot, dns2]
        .filter((a): a is AnchorFigures => a !== null)
        .map((a) => `${a.kind}: lost ${a.lost}; ${a.codes}; ${fmt(a.respBytes)} B`)
        .join('; '),
      ratio: '',
      target: '',
    });
    if (o) {
      rows.push({
        what: `DNS: CPU during the max-QPS runs, % of one core: client agent cached / uncached (servers cached / uncached); agent RSS`,
        ours: `${fmt(o.cpuCached)}% / ${fmt(o.cpuUncached)}% (${fmt(o.cpuCachedServers)}% / ${fmt(o.cpuUncachedServers)}%); ${fmt(o.rss)} MB`,
        anchor: '',
        ratio: '',
        target: '',
      });
      if (o.verifyDiff) {
        rows.push({
          what: 'DNS: answers that differ from the anchor zone\u2019s',
          ours: o.verifyDiff,
          anchor: '',
          ratio: '',
          target: '',
        });
      }
    }
    const minutes = (performance.now() - tPhase) / 60_000;
    rows.push({
      what: `DNS phase: load average (1/5/15 min) before; after each server (${DUR} s max QPS + ${LAT_DUR} s at ${LAT_QPS} QPS each, ${OUTSTANDING} outstanding, ${CLIENTS} clients, server on CPU ${SERVER_CPUS || 'any'}, dnsperf on CPU ${LOAD_CPUS || 'any'})`,
      ours: `${loadBefore}; ${loads.join('; ')} (${fmt(minutes, 1)} min in all)`,
      anchor: '',
      ratio: '',
      target: '',
    });
  } finally {
    killEverything();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!keep && !process.env['KEEP_CLUSTER']) rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
