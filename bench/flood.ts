// Flood phase of `npm run bench` (ONLY=flood): does an agent under abuse still answer everyone else?
//   1. A dev agent (one server) pinned to FLOOD_SERVER_CPUS, with KV key x and a service "web".
//   2. Baseline: for FLOOD_DUR s, a clean client from another address (127.0.0.2) reads GET /v1/kv/x
//      over one keep-alive connection and asks web.service.consul (A, UDP) in parallel, each paced
//      at one request per FLOOD_INTERVAL_MS, one at a time; p50/p99 of each. A request that fails or
//      takes longer than 2 s (HTTP) / 1 s (DNS) counts at that timeout, so losses raise the p99.
//   3. Flood: bench/flood-sender.ts, pinned to FLOOD_LOAD_CPUS, opens FLOOD_CONNS (1,000) idle TCP
//      connections from 127.0.0.1 to the HTTP port (reopening each the agent closes, after
//      FLOOD_REOPEN_MS, 1 s) and sends junk
//      UDP (FLOOD_UDP_PACKETS random packets per port per burst, bursts back to back) at the gossip
//      and DNS ports; once its connections are up, the same reads for FLOOD_DUR s.
//   4. Anchor: the anchors' bare node:http server (lib/http_server.cjs, ~1 KB of JSON), pinned the
//      same way, read at /v1/catalog/service/web before and during the same 1,000 idle connections
//      (no UDP: it has no UDP port).
// Target: p99 under 100 ms during the flood. Environment: FLOOD_DUR (10), FLOOD_INTERVAL_MS (10),
// FLOOD_CONNS (1000), FLOOD_UDP_PACKETS (50000), FLOOD_REOPEN_MS (1000), FLOOD_SERVER_CPUS (0), FLOOD_LOAD_CPUS (1),
// ANCHORS (../shared/bench/anchors).

import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { Agent as HttpAgent, request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from '../test/cluster/harness.js';
import { ANCHORS, BIN, fmt, loadavg, log, ratio, ROOT, sleep, type BenchRow } from './common.js';

const env = (k: string, d: string): string => process.env[k] ?? d;
const DUR = Math.max(1, Number(env('FLOOD_DUR', '10')));
const INTERVAL_MS = Math.max(1, Number(env('FLOOD_INTERVAL_MS', '10')));
const SERVER_CPUS = env('FLOOD_SERVER_CPUS', '0');
const LOAD_CPUS = env('FLOOD_LOAD_CPUS', '1');
const SENDER = join(ROOT, 'dist-bench/bench/flood-sender.js');
const ANCHOR_HTTP = join(ANCHORS, 'lib/http_server.cjs');
const CLEAN = '127.0.0.2';
const HTTP_TIMEOUT_MS = 2000;
const DNS_TIMEOUT_MS = 1000;

const pinned = (cpus: string, cmd: string, args: string[]): [string, string[]] =>
  cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];

interface Lat {
  p50: number;
  p99: number;
  n: number;
  failed: number;
}

function summary(ms: number[], failed: number): Lat {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), n: s.length, failed };
}

const show = (l: Lat): string =>
  `${fmt(l.p50, 2)} / ${fmt(l.p99, 2)} ms${l.failed ? ` (${l.failed} of ${l.n} failed)` : ''}`;

/** Paced one-at-a-time requests for DUR s: `once` resolves with ms, or rejects (counted at `cap`). */
async function paced(once: () => Promise<number>, cap: number): Promise<Lat> {
  const ms: number[] = [];
  let failed = 0;
  const end = performance.now() + DUR * 1000;
  while (performance.now() < end) {
    const t0 = performance.now();
    try {
      ms.push(await once());
    } catch {
      failed++;
      ms.push(cap);
    }
    const wait = t0 + INTERVAL_MS - performance.now();
    if (wait > 0) await sleep(wait);
  }
  return summary(ms, failed);
}

/** GETs `path` from the clean address over one keep-alive connection. */
function httpReader(port: number, path: string): { once: () => Promise<number>; close: () => void } {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const once = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = request(
        { host: '127.0.0.1', port, path, agent, localAddress: CLEAN, timeout: HTTP_TIMEOUT_MS },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`${res.statusCode}`)),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });
  return { once, close: () => agent.destroy() };
}

/** A DNS question for `name` (type A, class IN, RD) with id `id`. */
function question(id: number, name: string): Buffer {
  const labels = name.split('.').filter(Boolean);
  const q = Buffer.alloc(12 + labels.reduce((n, l) => n + l.length + 1, 1) + 4);
  q.writeUInt16BE(id, 0);
  q.writeUInt16BE(0x0100, 2);
  q.writeUInt16BE(1, 4);
  let off = 12;
  for (const l of labels) {
    q[off++] = l.length;
    off += q.write(l, off, 'ascii');
  }
  q[off++] = 0;
  q.writeUInt16BE(1, off);
  q.writeUInt16BE(1, off + 2);
  return q;
}

/** Asks web.service.consul A from the clean address; an answer without records is a failure. */
async function dnsReader(port: number): Promise<{ once: () => Promise<number>; close: () => void }> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, CLEAN, () => r()));
  let id = 0;
  let waiting: { id: number; done: (ok: boolean) => void } | null = null;
  sock.on('message', (m) => {
    if (waiting && m.length >= 12 && m.readUInt16BE(0) === waiting.id) waiting.done(m.readUInt16BE(6) > 0);
  });
  const once = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const my = (id = (id + 1) & 0xffff);
      const timer = setTimeout(() => {
        waiting = null;
        reject(new Error('timeout'));
      }, DNS_TIMEOUT_MS);
      waiting = {
        id: my,
        done: (ok) => {
          clearTimeout(timer);
          waiting = null;
          if (ok) resolve(performance.now() - t0);
          else reject(new Error('no answer records'));
        },
      };
      sock.send(question(my, 'web.service.consul'), port, '127.0.0.1');
    });
  return { once, close: () => sock.close() };
}

interface Flood {
  proc: ChildProcess;
  stop(): Promise<Record<string, number>>;
}

/** Starts the sender; resolves once its connections are up. */
async function startFlood(httpPort: number, udpPorts: number[]): Promise<Flood> {
  const [cmd, args] = pinned(LOAD_CPUS, process.execPath, [
    SENDER,
    String(httpPort),
    ...udpPorts.map(String),
  ]);
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
  const it = lines[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.value !== 'ready') throw new Error(`flood sender: ${String(first.value)}`);
  return {
    proc,
    stop: async () => {
      proc.kill('SIGTERM');
      const last = await it.next();
      return JSON.parse(String(last.value ?? '{}')) as Record<string, number>;
    },
  };
}

async function waitHttp(port: number, path: string): Promise<void> {
  for (let t = 0; t < 200; t++) {
    const ok = await fetch(`http://127.0.0.1:${port}${path}`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing answers on ${port}${path}`);
}

async function measureAgent(http: number, dns: number): Promise<{ kv: Lat; dns: Lat }> {
  const h = httpReader(http, '/v1/kv/x');
  const d = await dnsReader(dns);
  try {
    const [kv, dn] = await Promise.all([paced(h.once, HTTP_TIMEOUT_MS), paced(d.once, DNS_TIMEOUT_MS)]);
    return { kv, dns: dn };
  } finally {
    h.close();
    d.close();
  }
}

async function runAgentFlood(): Promise<{
  base: { kv: Lat; dns: Lat };
  flood: { kv: Lat; dns: Lat };
  counts: Record<string, number>;
}> {
  const [http, dns, rpc, serf] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const [cmd, args] = pinned(SERVER_CPUS, process.execPath, [
    BIN,
    'agent',
    '-dev',
    `-http-port=${http}`,
    `-dns-port=${dns}`,
    `-server-port=${rpc}`,
    `-serf-lan-port=${serf}`,
    '-serf-wan-port=-1',
    '-log-level=warn',
  ]);
  const agent = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await waitHttp(http, '/v1/status/leader');
    for (let t = 0; t < 100; t++) {
      const leader = await fetch(`http://127.0.0.1:${http}/v1/status/leader`).then((r) => r.json());
      if (leader !== '') break;
      await sleep(100);
    }
    await fetch(`http://127.0.0.1:${http}/v1/kv/x`, { method: 'PUT', body: 'hello' });
    await fetch(`http://127.0.0.1:${http}/v1/catalog/register`, {
      method: 'PUT',
      body: JSON.stringify({
        Node: 'node-web',
        Address: '127.0.0.9',
        Service: { ID: 'web-1', Service: 'web', Port: 8080 },
      }),
    });
    await measureAgent(http, dns); // warm-up round, discarded
    log(`# flood: agent baseline (${DUR} s) ...`);
    const base = await measureAgent(http, dns);
    log(`flood baseline: kv ${show(base.kv)}, dns ${show(base.dns)}`);
    log('# flood: opening the idle connections ...');
    const f = await startFlood(http, [serf, dns]);
    log(`# flood: measuring during the flood (${DUR} s) ...`);
    const flood = await measureAgent(http, dns);
    const counts = await f.stop();
    log(`flood during: kv ${show(flood.kv)}, dns ${show(flood.dns)}; sender ${JSON.stringify(counts)}`);
    return { base, flood, counts };
  } finally {
    agent.kill('SIGKILL');
  }
}

async function runAnchorFlood(): Promise<{ base: Lat; flood: Lat } | null> {
  if (!existsSync(ANCHOR_HTTP)) {
    log(`# ${ANCHOR_HTTP} not found: no anchor`);
    return null;
  }
  const port = await freePort();
  const [cmd, args] = pinned(SERVER_CPUS, process.execPath, [ANCHOR_HTTP, 'node', String(port)]);
  const srv = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    const path = '/v1/catalog/service/web';
    await waitHttp(port, path);
    const measure = async (): Promise<Lat> => {
      const h = httpReader(port, path);
      try {
        return await paced(h.once, HTTP_TIMEOUT_MS);
      } finally {
        h.close();
      }
    };
    await measure();
    const base = await measure();
    const f = await startFlood(port, []);
    const flood = await measure();
    const counts = await f.stop();
    log(`anchor node:http: baseline ${show(base)}, during ${show(flood)}; sender ${JSON.stringify(counts)}`);
    return { base, flood };
  } finally {
    srv.kill('SIGKILL');
  }
}

export async function runFlood(): Promise<BenchRow[]> {
  log(`# flood phase, load average ${loadavg()}`);
  const a = await runAgentFlood();
  const anchor = await runAnchorFlood();
  const c = a.counts;
  const target = (l: Lat): string => `p99 < 100 ms: ${l.p99 < 100 ? 'met' : 'NOT met'}`;
  return [
    {
      what: `Flood: GET /v1/kv/x p50 / p99 from a clean client (${CLEAN}), baseline`,
      ours: show(a.base.kv),
      anchor: anchor ? `${show(anchor.base)} (bare node:http)` : 'n/a',
      ratio: ratio(a.base.kv.p99, anchor?.base.p99 ?? NaN),
      target: '',
    },
    {
      what: `Flood: the same during ${env('FLOOD_CONNS', '1000')} idle connections from 127.0.0.1 (${c['opened'] ?? 0} opened over the run, counting reopens) and ${c['udpSent'] ?? 0} junk UDP packets at the gossip and DNS ports`,
      ours: show(a.flood.kv),
      anchor: anchor ? `${show(anchor.flood)} (bare node:http, idle connections only)` : 'n/a',
      ratio: ratio(a.flood.kv.p99, anchor?.flood.p99 ?? NaN),
      target: target(a.flood.kv),
    },
    {
      what: `Flood: DNS web.service.consul A (UDP) p50 / p99 from ${CLEAN}, baseline -> during`,
      ours: `${show(a.base.dns)} -> ${show(a.flood.dns)}`,
      anchor: '',
      ratio: '',
      target: target(a.flood.dns),
    },
    {
      what: 'Flood: the idle connections the agent turned away (429, limits.http_max_conns_per_client 200) or closed idle, over the run',
      ours: `${c['refused429'] ?? 0} refused with 429, ${c['closedByServer'] ?? 0} closed in all, ${c['stillOpen'] ?? 0} open at the end`,
      anchor: '',
      ratio: '',
      target: '',
    },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await runFlood();
  for (const r of rows)
    process.stdout.write(`| ${r.what} | ${r.ours} | ${r.anchor} | ${r.ratio} | ${r.target} |\n`);
  process.exit(0);
}
