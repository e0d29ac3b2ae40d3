// Gateway phase of `npm run bench` (ONLY=gateway): the edge gateway against its anchors, in one run.
//   Service routing: GET /svc/web/... through `consulate gateway` to a bare node:http upstream
//   (~1 KB of JSON), against (a) the same upstream straight, (b) a bare Hono proxy (a minimal Hono
//   app whose one route fetches the fixed upstream), (c) a hand-written node:http proxy (the
//   ceiling of a proxy hop in Node), and (d) the gateway on the platform's fetch
//   (upstream_fetch: web) instead of its node:http one. The gateway's table is fed by a fake server
//   (bench/gateway-procs.ts) that answers the directory and the health of "web" once, then holds
//   the blocking queries, as a quiet cluster does.
//   The Consul API: GET /v1/...?dc=dc2 through the gateway against the same GET straight to a
//   server (the fake by default: it answers the same JSON on any /v1 path).
// Throughput: autocannon, GW_CONNS connections for GW_DUR s (after a 1 s warm-up), pinned to
// GW_LOAD_CPUS; the servers and the proxies are pinned to GW_SERVER_CPUS. Latency: one connection,
// closed loop, for GW_LAT_DUR s (bench/load.ts, timed with performance.now: autocannon's
// percentiles are whole milliseconds).
// Environment: GW_DUR (4), GW_LAT_DUR (2), GW_CONNS (32), GW_SERVER_CPUS (0), GW_LOAD_CPUS (1).
// A real cluster instead of the fake, for the API rows (npm start's two DCs):
//   GW_SERVER=host:port  an agent of dc1 (the gateway started here reads it; the "straight" figure
//                        asks it), GW_DC=dc2 (the dc asked through ?dc=), GW_PATH=/v1/catalog/nodes
//                        (the path asked), GW_GATEWAY=host:port (use this running gateway instead of
//                        starting one; then also for the service rows, with GW_SERVICE=web).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/cluster/harness.js';
import { BIN, execP, fmt, loadavg, log, ratio, ROOT, sleep, type BenchRow } from './common.js';
import { httpRequest, runLoad } from './load.js';

const env = (k: string, d: string): string => process.env[k] ?? d;
const DUR = Math.max(1, Number(env('GW_DUR', '4')));
const LAT_DUR = Math.max(1, Number(env('GW_LAT_DUR', '2')));
const CONNS = Math.max(1, Number(env('GW_CONNS', '32')));
const SERVER_CPUS = env('GW_SERVER_CPUS', '0');
const LOAD_CPUS = env('GW_LOAD_CPUS', '1');
const REAL_SERVER = env('GW_SERVER', '');
const REAL_DC = env('GW_DC', 'dc2');
const REAL_PATH = env('GW_PATH', '/v1/catalog/nodes');
const REAL_GATEWAY = env('GW_GATEWAY', '');
const SERVICE = env('GW_SERVICE', 'web');
const PROCS = join(ROOT, 'dist-bench/bench/gateway-procs.js');
const AUTOCANNON = join(ROOT, 'node_modules/.bin/autocannon');
const PATH = '/v1/catalog/service/web';

const pinned = (cpus: string, cmd: string, args: string[]): [string, string[]] =>
  cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];

interface Figures {
  rps: number;
  non2xx: number;
  errors: number;
  p50: number;
  p99: number;
}

async function throughput(
  url: string,
  seconds: number,
): Promise<{ rps: number; non2xx: number; errors: number }> {
  const [cmd, args] = pinned(LOAD_CPUS, process.execPath, [
    AUTOCANNON,
    '-j',
    '-c',
    String(CONNS),
    '-d',
    String(seconds),
    url,
  ]);
  const { stdout } = await execP(cmd, args, { maxBuffer: 16 << 20 });
  const r = JSON.parse(stdout) as {
    requests: { total: number };
    duration: number;
    non2xx: number;
    errors: number;
  };
  return { rps: r.requests.total / r.duration, non2xx: r.non2xx, errors: r.errors };
}

async function measure(name: string, url: string): Promise<Figures> {
  const u = new URL(url);
  await throughput(url, 1); // warm-up (JIT, connection pools), discarded
  const t = await throughput(url, DUR);
  const l = await runLoad({
    targets: [{ host: u.hostname, port: Number(u.port) }],
    connections: 1,
    durationMs: LAT_DUR * 1000,
    makeRequest: (_c, _i, tg) => httpRequest('GET', `${tg.host}:${tg.port}`, `${u.pathname}${u.search}`),
  });
  const f = { ...t, p50: l.p50, p99: l.p99 };
  log(
    `gateway bench ${name}: ${fmt(f.rps)}/s (${CONNS} conns; non2xx=${f.non2xx} errors=${f.errors}), 1 conn p50=${fmt(f.p50, 3)} ms p99=${fmt(f.p99, 3)} ms`,
  );
  return f;
}

export async function runGateway(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const procs: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'consulate-bench-gw-'));
  const before = loadavg();
  const tPhase = performance.now();
  const killAll = (): void => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  };
  const onSignal = (): void => {
    killAll();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const start = async (what: string, args: string[], readyUrl?: string): Promise<void> => {
    const [cmd, a] = pinned(SERVER_CPUS, process.execPath, args);
    const p = spawn(cmd, a, { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(p);
    const ok = new Promise<boolean>((resolve) => {
      p.stdout?.on('data', (d: Buffer) => {
        if (d.toString().includes(readyUrl ? 'listening' : 'ready')) resolve(true);
      });
      p.once('exit', () => resolve(false));
    });
    if (!(await Promise.race([ok, sleep(15_000).then(() => false)])))
      throw new Error(`${what} did not start`);
    if (readyUrl) {
      for (let i = 0; i < 150; i++) {
        const r = await fetch(readyUrl).catch(() => null);
        if (r?.ok) return;
        await sleep(100);
      }
      throw new Error(`${what} never became ready (${readyUrl})`);
    }
  };

  const gatewayProc = async (name: string, server: string, fetchKind: 'node' | 'web'): Promise<string> => {
    const port = await freePort();
    const file = join(dir, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        datacenter: 'dc1',
        ports: { http: port },
        servers: [server],
        log_level: 'warn',
        upstream_fetch: fetchKind,
      }),
    );
    await start(name, [BIN, 'gateway', `-config-file=${file}`], `http://127.0.0.1:${port}/gateway/status`);
    return `127.0.0.1:${port}`;
  };

  try {
    log(`# gateway: service routing and /v1 ?dc= through the gateway (loadavg before ${before}) ...`);
    const up = await freePort();
    const hono = await freePort();
    const nodeProxy = await freePort();
    const fake = await freePort();
    await start('upstream', [PROCS, 'upstream', String(up)]);
    await start('hono proxy', [PROCS, 'hono-proxy', String(hono), `127.0.0.1:${up}`]);
    await start('node:http proxy', [PROCS, 'node-proxy', String(nodeProxy), `127.0.0.1:${up}`]);
    await start('fake server', [PROCS, 'fake-server', String(fake), `127.0.0.1:${up}`]);
    const server = REAL_SERVER || `127.0.0.1:${fake}`;
    const gw = REAL_GATEWAY || (await gatewayProc('gateway', server, 'node'));
    const gwWeb = REAL_GATEWAY ? '' : await gatewayProc('gateway-web', server, 'web');
    const svcPath = REAL_GATEWAY ? `/svc/${SERVICE}/` : `/svc/web${PATH}`;
    // Every target must answer 200 before it is measured.
    for (const url of [
      `http://127.0.0.1:${up}${PATH}`,
      `http://127.0.0.1:${hono}${PATH}`,
      `http://${gw}${svcPath}`,
    ]) {
      const r = await fetch(url);
      if (!r.ok) throw new Error(`${url}: HTTP ${r.status}: ${await r.text()}`);
    }

    const direct = await measure('straight to the upstream', `http://127.0.0.1:${up}${PATH}`);
    const bare = await measure('bare Hono proxy', `http://127.0.0.1:${hono}${PATH}`);
    const raw = await measure('hand-written node:http proxy', `http://127.0.0.1:${nodeProxy}${PATH}`);
    const ours = await measure('gateway /svc', `http://${gw}${svcPath}`);
    const web = gwWeb ? await measure('gateway /svc, platform fetch', `http://${gwWeb}${svcPath}`) : null;
    const apiPath = REAL_SERVER
      ? `${REAL_PATH}${REAL_PATH.includes('?') ? '&' : '?'}dc=${REAL_DC}`
      : `${PATH}?dc=dc2`;
    const apiDirect = await measure('API straight to a server', `http://${server}${apiPath}`);
    const apiGw = await measure('API through the gateway', `http://${gw}${apiPath}`);

    const lat = (f: Figures): string => `${fmt(f.p50, 3)} / ${fmt(f.p99, 3)} ms`;
    const added = (a: Figures, b: Figures): string => `+${fmt(a.p50 - b.p50, 3)} ms at p50`;
    const errs = (f: Figures): string =>
      f.non2xx || f.errors ? ` (non-2xx ${f.non2xx}, errors ${f.errors})` : '';
    rows.push(
      {
        what: `Gateway service routing throughput, ${CONNS} connections (/svc/web to a bare node:http upstream, ~1 KB JSON)`,
        ours: `${fmt(ours.rps)}/s${errs(ours)}`,
        anchor: `${fmt(bare.rps)}/s (bare Hono proxy)${errs(bare)}`,
        ratio: ratio(ours.rps, bare.rps),
        target: '>= 0.5x',
      },
      {
        what: 'Gateway service routing throughput on the platform fetch (upstream_fetch: web)',
        ours: web ? `${fmt(web.rps)}/s${errs(web)}` : 'n/a',
        anchor: `${fmt(bare.rps)}/s (bare Hono proxy)`,
        ratio: ratio(web?.rps ?? NaN, bare.rps),
        target: '',
      },
      {
        what: 'Gateway service routing throughput against a hand-written node:http proxy (the ceiling of a Node proxy hop)',
        ours: `${fmt(ours.rps)}/s`,
        anchor: `${fmt(raw.rps)}/s (node:http proxy)${errs(raw)}`,
        ratio: ratio(ours.rps, raw.rps),
        target: '',
      },
      {
        what: 'Straight to the upstream, no proxy (same load)',
        ours: `${fmt(direct.rps)}/s${errs(direct)}`,
        anchor: '',
        ratio: '',
        target: '',
      },
      {
        what: 'Gateway service routing p50 / p99, 1 connection',
        ours: lat(ours),
        anchor: `straight ${lat(direct)}; node:http proxy ${lat(raw)}; bare Hono proxy ${lat(bare)}${web ? `; platform fetch ${lat(web)}` : ''}`,
        ratio: added(ours, direct),
        target: '< +1 ms at p50',
      },
      {
        what: `Consul API GET ?dc=${REAL_SERVER ? REAL_DC : 'dc2'} through the gateway vs straight to a server${REAL_SERVER ? ` (${server}, ${REAL_PATH})` : ' (fake server)'}, ${CONNS} connections`,
        ours: `${fmt(apiGw.rps)}/s${errs(apiGw)}`,
        anchor: `${fmt(apiDirect.rps)}/s (straight)${errs(apiDirect)}`,
        ratio: ratio(apiGw.rps, apiDirect.rps),
        target: '',
      },
      {
        what: 'Consul API GET ?dc= p50 / p99 through the gateway, 1 connection',
        ours: lat(apiGw),
        anchor: `straight ${lat(apiDirect)}`,
        ratio: added(apiGw, apiDirect),
        target: '< +1 ms at p50',
      },
      {
        what: `Gateway phase: load average (1/5/15 min) before; after (${DUR} s per throughput point, ${LAT_DUR} s per latency point; servers on CPU ${SERVER_CPUS || 'any'}, autocannon on CPU ${LOAD_CPUS || 'any'})`,
        ours: `${before}; ${loadavg()} (${fmt((performance.now() - tPhase) / 60_000, 1)} min in all)`,
        anchor: '',
        ratio: '',
        target: '',
      },
    );
  } catch (err) {
    log(`# gateway bench failed: ${(err as Error).message}`);
    rows.push({
      what: 'Gateway phase',
      ours: `failed: ${(err as Error).message}`,
      anchor: '',
      ratio: '',
      target: '',
    });
  } finally {
    killAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rmSync(dir, { recursive: true, force: true });
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
