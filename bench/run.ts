// npm run bench: Consulate measured side by side with its anchors in one run on this machine.
//   1. etcd 3.4, 3 members on loopback, fsync on (../shared/bench/anchors/etcd_bench.sh)
//   2. Consulate, 3 servers on loopback, fsync on: PUT at 1/16/64 clients, GET at 64, failover x5
//   3. a bare Hono server answering ~1 KB of JSON (../shared/bench/anchors/http_bench.sh) against
//      Consulate's /v1/catalog/service/web, both pinned to CPU 0 with wrk on CPU 1
//   4. one server holding 100,000 keys of 256 bytes: RSS, and the time to restart and serve
//   5. LAN gossip against serf: join, events, failure detection, idle cost (bench/gossip.ts)
//   6. DNS against Knot and a bare dns2 server, with dnsperf (bench/dns.ts)
//   7. the edge gateway in a real two-DC cluster from dc-configs/: cross-DC ?dc= through it vs straight
//      to the servers, service routing vs a bare Hono proxy, npm start's time to ready (bench/gateway.ts)
//   8. a dev agent's reads from a clean client during 1,000 idle connections from one address and
//      junk UDP at its gossip and DNS ports, beside a bare node:http server (bench/flood.ts)
// Environment: DUR (seconds per load point, default 10), SKIP (comma list of: etcd,cluster,http,memory,gossip,dns,gateway,flood),
// ONLY (comma list of the phases to run, the others skipped: ONLY=dns), ANCHORS (default ../shared/bench/anchors).

import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { TestCluster, freePort, type ServerProc } from '../test/cluster/harness.js';
import { runDns } from './dns.js';
import { runFlood } from './flood.js';
import { runGateway } from './gateway.js';
import { runGossip } from './gossip.js';
import { httpRequest, runLoad, type LoadResult, type LoadTarget } from './load.js';

const execP = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const ANCHORS = resolve(process.env['ANCHORS'] ?? join(ROOT, '../shared/bench/anchors'));
const DUR = Number(process.env['DUR'] ?? 10);
const PHASES = ['etcd', 'cluster', 'http', 'memory', 'gossip', 'dns', 'gateway', 'flood'];
const ONLY = new Set((process.env['ONLY'] ?? '').split(',').filter(Boolean));
const SKIP = new Set([
  ...(process.env['SKIP'] ?? '').split(',').filter(Boolean),
  ...(ONLY.size ? PHASES.filter((p) => !ONLY.has(p)) : []),
]);
const VALUE = Buffer.alloc(256, 'v');
const BIN = join(ROOT, 'bin/consulate.js');

interface Row {
  what: string;
  ours: string;
  anchor: string;
  ratio: string;
  target: string;
}
const rows: Row[] = [];
const log = (s: string): void => void process.stderr.write(`${s}\n`);
const fmt = (n: number, d = 0): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

function ratio(ours: number, anchor: number): string {
  return Number.isFinite(ours) && Number.isFinite(anchor) && anchor > 0
    ? `${(ours / anchor).toFixed(2)}x`
    : 'n/a';
}

// ---------------------------------------------------------------- anchors

interface EtcdFigures {
  put: Record<number, { rps: number; p50: number; p99: number }>;
  get: Record<number, { rps: number; p50: number; p99: number }>;
  failoverMedian: number;
  client: string;
}

async function runEtcd(): Promise<EtcdFigures | null> {
  const script = join(ANCHORS, 'etcd_bench.sh');
  if (SKIP.has('etcd') || !existsSync(script)) return null;
  try {
    await execP('which', ['etcd']);
  } catch {
    log('# etcd not installed (apt-get install etcd-server etcd-client jq): skipping the anchor');
    return null;
  }
  log('# etcd anchor: 3 members, fsync on ...');
  const { stdout } = await execP('bash', [script], {
    env: {
      ...process.env,
      MEMBERS: '3',
      DUR: String(DUR),
      PUT_CONC: '1 16 64',
      GET_CONC: '64',
      FAILOVER_RUNS: '5',
      // etcd's own Go client when it can be built here (golang-etcd-server-dev), else its Node client.
      CLIENTS: existsSync('/usr/share/gocode/src/go.etcd.io/etcd/clientv3') ? 'go' : 'node',
    },
    maxBuffer: 64 << 20,
  });
  const summary = stdout.trim().split('\n').at(-1) ?? '';
  log(summary);
  const client = /\bgo_put_c1=/.test(summary) ? 'go' : 'node';
  const parse = (key: string): { rps: number; p50: number; p99: number } => {
    const m = new RegExp(`${key}=([\\d.]+)/s,p50=([\\d.]+)ms,p99=([\\d.]+)ms`).exec(summary);
    return m ? { rps: Number(m[1]), p50: Number(m[2]), p99: Number(m[3]) } : { rps: NaN, p50: NaN, p99: NaN };
  };
  const fo = /failover_first_write_ms_median=(\d+)/.exec(summary);
  return {
    client,
    put: { 1: parse(`${client}_put_c1`), 16: parse(`${client}_put_c16`), 64: parse(`${client}_put_c64`) },
    get: { 64: parse(`${client}_lget_c64`) },
    failoverMedian: fo ? Number(fo[1]) : NaN,
  };
}

// ---------------------------------------------------------------- Consulate cluster

function targetsOf(servers: ServerProc[]): LoadTarget[] {
  return servers.filter((s) => s.proc).map((s) => ({ host: '127.0.0.1', port: s.httpPort }));
}

async function putLoad(servers: ServerProc[], conns: number): Promise<LoadResult> {
  return runLoad({
    targets: targetsOf(servers),
    connections: conns,
    durationMs: DUR * 1000,
    makeRequest: (_c, _i, t) =>
      httpRequest(
        'PUT',
        `${t.host}:${t.port}`,
        `/v1/kv/k${String(Math.floor(Math.random() * 100_000)).padStart(8, '0')}`,
        VALUE,
      ),
  });
}

async function getLoad(servers: ServerProc[], conns: number): Promise<LoadResult> {
  return runLoad({
    targets: targetsOf(servers),
    connections: conns,
    durationMs: DUR * 1000,
    makeRequest: (_c, i, t) => httpRequest('GET', `${t.host}:${t.port}`, `/v1/kv/read/${i % 1000}`),
  });
}

async function failover(cluster: TestCluster): Promise<number> {
  const leader = await cluster.waitForLeader(30_000);
  await new Promise((r) => setTimeout(r, 2000));
  const survivors = cluster.servers.filter((s) => s !== leader);
  for (const s of survivors) await s.client.kvPut('failover-probe', 'warm');
  const t0 = performance.now();
  await cluster.kill9(leader);
  let first = NaN;
  let i = 0;
  const deadline = t0 + 20_000;
  await new Promise<void>((done) => {
    const tick = setInterval(() => {
      if (!Number.isNaN(first) || performance.now() > deadline) {
        clearInterval(tick);
        done();
        return;
      }
      const s = survivors[i++ % survivors.length] as ServerProc;
      fetch(`http://127.0.0.1:${s.httpPort}/v1/kv/failover-probe`, {
        method: 'PUT',
        body: 'x',
        signal: AbortSignal.timeout(1000),
      })
        .then((r) => {
          if (r.ok && Number.isNaN(first)) first = performance.now() - t0;
        })
        .catch(() => undefined);
    }, 5);
  });
  cluster.spawn(leader);
  await cluster.waitForLeader(30_000);
  return first;
}

async function runCluster(etcd: EtcdFigures | null): Promise<void> {
  if (SKIP.has('cluster')) return;
  log('# Consulate: 3 servers, fsync on ...');
  const cluster = await TestCluster.start({ servers: 3, logLevel: 'warn' });
  try {
    await cluster.waitForLeader(30_000);
    for (const c of [1, 16, 64]) {
      const r = await putLoad(cluster.servers, c);
      log(
        `consulate put c=${c}: ${fmt(r.rps)}/s p50=${fmt(r.p50, 2)}ms p99=${fmt(r.p99, 2)}ms errors=${r.errors} non2xx=${r.non2xx}`,
      );
      const e = etcd?.put[c];
      rows.push({
        what: `PUT throughput, ${c} client${c > 1 ? 's' : ''}`,
        ours: `${fmt(r.rps)}/s`,
        anchor: e ? `${fmt(e.rps)}/s` : 'n/a',
        ratio: ratio(r.rps, e?.rps ?? NaN),
        target: c === 64 ? '>= 1.0x' : '',
      });
      rows.push({
        what: `PUT p50 / p99, ${c} client${c > 1 ? 's' : ''}`,
        ours: `${fmt(r.p50, 2)} / ${fmt(r.p99, 1)} ms`,
        anchor: e ? `${fmt(e.p50, 2)} / ${fmt(e.p99, 1)} ms` : 'n/a',
        ratio: ratio(r.p50, e?.p50 ?? NaN),
        target: c === 1 ? 'p50 <= 1.0x' : '',
      });
    }
    const leader = await cluster.waitForLeader();
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => leader.client.kvPut(`read/${i + j}`, VALUE)));
    }
    const g = await getLoad(cluster.servers, 64);
    log(
      `consulate get c=64: ${fmt(g.rps)}/s p50=${fmt(g.p50, 2)}ms p99=${fmt(g.p99, 2)}ms errors=${g.errors} non2xx=${g.non2xx}`,
    );
    const eg = etcd?.get[64];
    rows.push({
      what: 'GET throughput, 64 clients (default consistency)',
      ours: `${fmt(g.rps)}/s`,
      anchor: eg ? `${fmt(eg.rps)}/s (linearizable)` : 'n/a',
      ratio: ratio(g.rps, eg?.rps ?? NaN),
      target: '',
    });
    const fo: number[] = [];
    for (let i = 0; i < 5; i++) {
      const ms = await failover(cluster);
      log(`consulate failover run ${i + 1}: ${fmt(ms)} ms`);
      fo.push(ms);
    }
    fo.sort((a, b) => a - b);
    const med = fo[2] as number;
    rows.push({
      what: 'Failover: SIGKILL of the leader to the next acknowledged write (median of 5)',
      ours: `${fmt(med)} ms [${fo.map((x) => fmt(x)).join(', ')}]`,
      anchor: etcd ? `${fmt(etcd.failoverMedian)} ms` : 'n/a',
      ratio: ratio(med, etcd?.failoverMedian ?? NaN),
      target: '<= 1.0x',
    });
  } finally {
    await cluster.stop();
  }
}

// ---------------------------------------------------------------- HTTP ceiling

async function wrk(url: string, conns: number): Promise<{ rps: number; p50: string; p99: string }> {
  const { stdout } = await execP(
    'taskset',
    ['-c', '1', 'wrk', '-t1', `-c${conns}`, `-d${DUR}s`, '--latency', url],
    { maxBuffer: 1 << 20 },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN);
  const p50 = /\s50%\s+(\S+)/.exec(stdout)?.[1] ?? 'n/a';
  const p99 = /\s99%\s+(\S+)/.exec(stdout)?.[1] ?? 'n/a';
  return { rps, p50, p99 };
}

async function runHttpCeiling(): Promise<void> {
  if (SKIP.has('http')) return;
  try {
    await execP('which', ['wrk']);
  } catch {
    log('# wrk not installed (apt-get install wrk): skipping the HTTP comparison');
    return;
  }
  log('# HTTP ceiling: bare Hono vs Consulate, 64 connections ...');
  let hono = NaN;
  const script = join(ANCHORS, 'http_bench.sh');
  if (existsSync(script)) {
    const { stdout } = await execP('bash', [script], {
      env: { ...process.env, KINDS: 'hono', CONNS: '64', DUR: String(DUR) },
      maxBuffer: 16 << 20,
    });
    const summary = stdout.trim().split('\n').at(-1) ?? '';
    log(summary);
    hono = Number(/hono:rps=(\d+)/.exec(summary)?.[1] ?? NaN);
  }
  const dir = mkdtempSync(join(tmpdir(), 'consulate-bench-http-'));
  const port = await freePort();
  const rpc = await freePort();
  const proc = spawn(
    'taskset',
    [
      '-c',
      '0',
      process.execPath,
      BIN,
      'agent',
      '-dev',
      `-http-port=${port}`,
      `-server-port=${rpc}`,
      // No DNS listener: its fixed default port (8600) may be taken, and it is not measured here.
      '-dns-port=-1',
      // Nor a WAN gossip pool (its default port 8302 may be taken too).
      '-serf-wan-port=-1',
      '-log-level=warn',
    ],
    { stdio: 'ignore' },
  );
  try {
    const base = `http://127.0.0.1:${port}`;
    for (let t = 0; t < 100; t++) {
      const ok = await fetch(`${base}/v1/status/leader`)
        .then((r) => r.ok && r.json().then((l) => l !== ''))
        .catch(() => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; i < 4; i++) {
      await fetch(`${base}/v1/catalog/register`, {
        method: 'PUT',
        body: JSON.stringify({
          Node: `node-${i}`,
          Address: `127.0.0.${i + 1}`,
          TaggedAddresses: { lan: `127.0.0.${i + 1}`, wan: `127.0.0.${i + 1}` },
          Service: { ID: `web-${i}`, Service: 'web', Tags: ['v1', 'primary'], Port: 8080 },
        }),
      });
    }
    const bytes = (await (await fetch(`${base}/v1/catalog/service/web`)).text()).length;
    await wrk(`${base}/v1/catalog/service/web`, 64); // warm-up, discarded
    const ours = await wrk(`${base}/v1/catalog/service/web`, 64);
    log(
      `consulate GET /v1/catalog/service/web (${bytes} B): ${fmt(ours.rps)}/s p50=${ours.p50} p99=${ours.p99}`,
    );
    rows.push({
      what: `GET /v1/catalog/service/web, 64 connections, one server (${bytes} B of JSON)`,
      ours: `${fmt(ours.rps)}/s`,
      anchor: `${fmt(hono)}/s (bare Hono)`,
      ratio: ratio(ours.rps, hono),
      target: '>= 0.7x',
    });
  } finally {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- memory and restart

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function runMemory(): Promise<void> {
  if (SKIP.has('memory')) return;
  log('# one server with 100,000 keys of 256 bytes ...');
  const cluster = await TestCluster.start({ servers: 1, logLevel: 'warn' });
  try {
    const s = await cluster.waitForLeader(30_000);
    let next = 0;
    await runLoad({
      targets: [{ host: '127.0.0.1', port: s.httpPort }],
      connections: 64,
      durationMs: 600_000,
      makeRequest: (_c, _i, t) => {
        const k = next++;
        return k < 100_000 ? httpRequest('PUT', `${t.host}:${t.port}`, `/v1/kv/mem/${k}`, VALUE) : null;
      },
    }).catch(() => undefined);
    const count = (await s.client.kvKeys('mem/')).length;
    const loaded = rssMb(s.proc?.pid ?? 0);
    // Steady state: a minute on, the server has snapshotted and compacted its log (as Consul does,
    // within raft_snapshot_interval) and the garbage of the load has been collected.
    await new Promise((r) => setTimeout(r, 60_000));
    const rss = rssMb(s.proc?.pid ?? 0);
    log(`consulate: right after loading: RSS ${fmt(loaded)} MB`);
    log(`consulate: ${count} keys, RSS ${fmt(rss)} MB`);
    rows.push({
      what: 'RSS of a server holding 100,000 keys of 256 B (a minute after loading; right after loading)',
      ours: `${fmt(rss)} MB (${fmt(loaded)} MB)`,
      anchor: '',
      ratio: '',
      target: '< 200 MB',
    });
    await cluster.kill9(s);
    const t0 = performance.now();
    cluster.spawn(s);
    let ready = NaN;
    while (performance.now() - t0 < 60_000) {
      const e = await s.client.kvGet('mem/99999', { stale: true }).catch(() => null);
      if (e) {
        ready = performance.now() - t0;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    log(
      `consulate: restart to serving the last key: ${fmt(ready)} ms, RSS ${fmt(rssMb(s.proc?.pid ?? 0))} MB`,
    );
    rows.push({
      what: 'Restart (kill -9, start, first read of the last key), 100,000 keys',
      ours: `${fmt(ready / 1000, 2)} s`,
      anchor: '',
      ratio: '',
      target: '< 3 s',
    });
  } finally {
    await cluster.stop();
  }
}

// ---------------------------------------------------------------- main

const etcd = await runEtcd();
await runCluster(etcd);
await runHttpCeiling();
await runMemory();
if (!SKIP.has('gossip')) rows.push(...(await runGossip()));
if (!SKIP.has('dns')) rows.push(...(await runDns()));
if (!SKIP.has('gateway')) rows.push(...(await runGateway()));
if (!SKIP.has('flood')) rows.push(...(await runFlood()));

const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const table = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${(await import('node:os')).cpus().length} CPUs, Node ${process.version}, load average at the end ${load}; anchors in the same run${etcd ? ` (etcd via its ${etcd.client} client)` : ''}. Durations ${DUR} s per point${SKIP.has('dns') && SKIP.has('gateway') && SKIP.has('flood') ? '' : ' (the DNS, gateway and flood phases: their own, in their rows)'}.`,
  '',
  '| measure | Consulate | anchor | ratio | target |',
  '| --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.what} | ${r.ours} | ${r.anchor} | ${r.ratio} | ${r.target} |`),
].join('\n');
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(ROOT, 'bench/results/latest.md'), `${table}\n`);
process.stdout.write(`\n${table}\n`);
process.exit(0);
