// consulate local-cluster [DIR]: the cluster described by DIR (default dc-configs/, one folder per
// datacenter, one JSON config per agent, `gateway*.json` for a datacenter's gateway) as processes on
// this machine, no Docker. It waits until every datacenter has a leader, every server is in the WAN
// pool and every gateway sees every datacenter, showing progress; then it prints where everything
// is. Each process logs to data/<dc>/<name>.log; Ctrl-C stops them all. `npm start` runs this.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sleep } from '../../core/clock.js';
import { parseArgs, UsageError, type Io } from '../common.js';
import { progress } from '../progress.js';

export interface ProcSpec {
  dc: string;
  name: string;
  kind: 'server' | 'client' | 'gateway';
  /** host:port of its HTTP listener (the API for an agent, the proxy for a gateway). */
  http: string;
  /** host:port of its DNS interface, or null when the config turns DNS off (and for gateways). */
  dns: string | null;
  /** Whether a server has a WAN gossip port (ports.serf_wan >= 0). */
  wan: boolean;
  /** The web UI's address (http://host:port/ui/) when the config turns the UI on, else null. */
  ui: string | null;
  config: string;
}

interface AgentFile {
  node_name?: string;
  server?: boolean;
  client_addr?: string;
  bind_addr?: string;
  ports?: { http?: number; dns?: number; serf_wan?: number };
  ui?: boolean;
  ui_config?: { enabled?: boolean; dir?: string; content_path?: string };
}

/** The UI's path when the config turns the UI on (as config.ts reads it), else null. */
function uiPath(cfg: AgentFile): string | null {
  const on = cfg.ui === true || cfg.ui_config?.enabled === true || Boolean(cfg.ui_config?.dir);
  if (!on) return null;
  return `/${(cfg.ui_config?.content_path ?? 'ui').replace(/^\/+|\/+$/g, '')}/`;
}

/** Reads DIR/<dc>/*.json in name order: agents, and `gateway*.json` files for gateways. */
export function readSpecs(dir: string): ProcSpec[] {
  if (!existsSync(dir)) throw new UsageError(`no such directory: ${dir}`);
  const out: ProcSpec[] = [];
  for (const dc of readdirSync(dir).sort()) {
    const dcDir = join(dir, dc);
    for (const file of readdirSync(dcDir).sort()) {
      if (!file.endsWith('.json')) continue;
      const path = join(dcDir, file);
      let cfg: AgentFile;
      try {
        cfg = JSON.parse(readFileSync(path, 'utf8')) as AgentFile;
      } catch (err) {
        throw new UsageError(`${path}: ${(err as Error).message}`);
      }
      const host = cfg.client_addr ?? cfg.bind_addr ?? '127.0.0.1';
      const base = file.replace(/\.json$/, '');
      if (file.startsWith('gateway')) {
        out.push({
          dc,
          name: `${dc}-${base}`,
          kind: 'gateway',
          http: `${host}:${cfg.ports?.http ?? 8080}`,
          dns: null,
          wan: false,
          ui: null,
          config: path,
        });
        continue;
      }
      const dnsPort = cfg.ports?.dns ?? 8600;
      const http = `${host}:${cfg.ports?.http ?? 8500}`;
      const ui = uiPath(cfg);
      out.push({
        dc,
        name: cfg.node_name ?? base,
        kind: cfg.server ? 'server' : 'client',
        http,
        dns: dnsPort >= 0 ? `${host}:${dnsPort}` : null,
        wan: cfg.server === true && (cfg.ports?.serf_wan ?? 8302) >= 0,
        ui: ui === null ? null : `http://${http}${ui}`,
        config: path,
      });
    }
  }
  return out;
}

async function getJson(url: string): Promise<unknown> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return r.ok ? await r.json() : null;
  } catch {
    return null;
  }
}

/** What the wait loop has seen so far; `progressLine` renders it, `ready` judges it. */
export interface Readiness {
  /** Per datacenter: whether a leader is known. */
  leaders: Record<string, boolean>;
  /** Alive WAN members as the first server of each datacenter sees them. */
  wanSeen: Record<string, number>;
  wanExpected: number;
  /** Per gateway name: how many datacenters its routing table holds. */
  gateways: Record<string, number>;
  dcs: number;
}

export function ready(r: Readiness): boolean {
  return (
    Object.values(r.leaders).every(Boolean) &&
    Object.values(r.wanSeen).every((n) => n >= r.wanExpected) &&
    Object.values(r.gateways).every((n) => n >= r.dcs)
  );
}

/** How many of the things the wait needs are there (leaders, WAN servers, gateways), of how many. */
export function readyCount(r: Readiness): number {
  const wan = Object.values(r.wanSeen);
  return (
    Object.values(r.leaders).filter(Boolean).length +
    (wan.length > 0 ? Math.min(Math.min(...wan), r.wanExpected) : 0) +
    Object.values(r.gateways).filter((n) => n >= r.dcs).length
  );
}

export function readyTotal(r: Readiness): number {
  return (
    Object.keys(r.leaders).length + (r.wanExpected > 0 ? r.wanExpected : 0) + Object.keys(r.gateways).length
  );
}

export function progressLine(r: Readiness, elapsedMs: number): string {
  const parts = Object.entries(r.leaders).map(([dc, ok]) => `${dc} leader ${ok ? 'ok' : '...'}`);
  if (r.wanExpected > 0) {
    const least = Math.min(...Object.values(r.wanSeen));
    parts.push(`WAN ${Math.min(least, r.wanExpected)}/${r.wanExpected} servers`);
  }
  const gws = Object.values(r.gateways);
  if (gws.length > 0) parts.push(`gateways ${gws.filter((n) => n >= r.dcs).length}/${gws.length}`);
  return `waiting: ${parts.join(' · ')} (${(elapsedMs / 1000).toFixed(1)} s)`;
}

async function observe(specs: ProcSpec[], r: Readiness): Promise<void> {
  const dcs = Object.keys(r.leaders);
  await Promise.all([
    ...dcs.map(async (dc) => {
      const servers = specs.filter((s) => s.dc === dc && s.kind === 'server');
      const first = servers[0] ?? specs.find((s) => s.dc === dc && s.kind !== 'gateway');
      if (!first) return;
      const leader = await getJson(`http://${first.http}/v1/status/leader`);
      r.leaders[dc] = typeof leader === 'string' && leader !== '';
      if (r.wanExpected > 0 && servers[0]) {
        const wan = await getJson(`http://${servers[0].http}/v1/agent/members?wan=1`);
        r.wanSeen[dc] = Array.isArray(wan)
          ? wan.filter((m) => (m as { Status?: number }).Status === 1).length
          : 0;
      }
    }),
    ...specs
      .filter((s) => s.kind === 'gateway')
      .map(async (g) => {
        // The gateway's own status route: its routing table, with the directory of datacenters.
        const st = (await getJson(`http://${g.http}/gateway/status`)) as {
          Directory?: { Datacenters?: unknown[] };
        } | null;
        const known = st?.Directory?.Datacenters;
        r.gateways[g.name] = Array.isArray(known) ? known.length : 0;
      }),
  ]);
}

function spawnAll(specs: ProcSpec[], io: Io, stopping: () => boolean): ChildProcess[] {
  const bin = resolve(import.meta.dirname, '../../../bin/consulate.js');
  return specs.map((a) => {
    mkdirSync(join('data', a.dc), { recursive: true });
    const log = openSync(join('data', a.dc, `${a.name}.log`), 'a');
    const cmd = a.kind === 'gateway' ? 'gateway' : 'agent';
    const child = spawn(process.execPath, [bin, cmd, `-config-file=${a.config}`], {
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    child.on('exit', (code, sig) => {
      if (!stopping()) io.err(`${a.name} exited (${sig ?? code}); see data/${a.dc}/${a.name}.log\n`);
    });
    return child;
  });
}

function hostPort(hp: string): [string, string] {
  const i = hp.lastIndexOf(':');
  return [hp.slice(0, i), hp.slice(i + 1)];
}

function printSummary(specs: ProcSpec[], io: Io, elapsedMs: number): void {
  const dcs = [...new Set(specs.map((s) => s.dc))];
  io.out(
    `Consulate is up (${dcs.length} datacenter${dcs.length > 1 ? 's' : ''}, ready in ${(elapsedMs / 1000).toFixed(1)} s).\n\n`,
  );
  for (const dc of dcs) {
    io.out(`  ${dc}:\n`);
    for (const a of specs.filter((s) => s.dc === dc)) {
      const what = a.kind === 'gateway' ? 'gateway ' : 'HTTP API';
      io.out(`    ${a.name.padEnd(16)} ${what}  http://${a.http}${a.dns ? `   DNS ${a.dns}` : ''}\n`);
    }
  }
  const uis = dcs.flatMap((dc) => specs.filter((s) => s.dc === dc && s.ui).map((s) => [dc, s.ui] as const));
  if (uis.length > 0) {
    io.out('\n  Web UI:\n');
    for (const [dc, url] of uis) io.out(`    ${dc.padEnd(16)} ${url}\n`);
  }
  const inDc = (dc: string, kind: ProcSpec['kind']): ProcSpec | undefined =>
    specs.find((s) => s.dc === dc && s.kind === kind);
  const home = dcs[0] as string;
  const other = dcs[1];
  const client = inDc(home, 'client') ?? specs.find((s) => s.kind !== 'gateway');
  if (!client) return;
  const server = inDc(home, 'server') ?? client;
  io.out(`\n  Try:  curl -X PUT -d hello http://${server.http}/v1/kv/greeting\n`);
  io.out(`        curl http://${client.http}/v1/kv/greeting?raw\n`);
  io.out(`        node bin/consulate.js members -http-addr=${client.http}\n`);
  if (other) {
    io.out(`        node bin/consulate.js members -wan -http-addr=${server.http}\n`);
    io.out(`        curl 'http://${client.http}/v1/catalog/nodes?dc=${other}'\n`);
  }
  if (client.dns) {
    const [h, port] = hostPort(client.dns);
    io.out(`        dig @${h} -p ${port} consul.service${other ? `.${other}` : ''}.consul SRV\n`);
  }
  const gw = inDc(home, 'gateway');
  if (gw && other) io.out(`        curl 'http://${gw.http}/v1/catalog/services?dc=${other}'\n`);
  io.out('\n  Logs in data/<dc>/<name>.log. Ctrl-C stops the cluster.\n');
}

export async function localClusterCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, {});
  const dir = resolve(p.args[0] ?? 'dc-configs');
  const specs = readSpecs(dir);
  let stopping = false;
  const t0 = Date.now();
  const procs = spawnAll(specs, io, () => stopping);
  const running = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;
  const stopAll = async (): Promise<void> => {
    stopping = true;
    for (const c of procs) if (running(c)) c.kill('SIGTERM');
    // The grace timer is cleared once all have exited: a pending timer would keep this process (and
    // the user's terminal) waiting for the rest of the 5 s after everything has stopped.
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(procs.map((c) => new Promise((r) => (running(c) ? c.once('exit', r) : r(null))))),
      new Promise((r) => (grace = setTimeout(r, 5000))),
    ]);
    clearTimeout(grace);
    for (const c of procs) if (running(c)) c.kill('SIGKILL');
  };
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);

  const dcs = [...new Set(specs.map((s) => s.dc))];
  const r: Readiness = {
    leaders: Object.fromEntries(dcs.map((dc) => [dc, false])),
    wanSeen: {},
    wanExpected: dcs.length > 1 ? specs.filter((s) => s.wan).length : 0,
    gateways: Object.fromEntries(specs.filter((s) => s.kind === 'gateway').map((g) => [g.name, 0])),
    dcs: dcs.length,
  };
  if (r.wanExpected > 0) for (const dc of dcs) r.wanSeen[dc] = 0;
  // Redrawn in place on a terminal's stderr; nothing in a pipe (the summary below says it all).
  const shown = progress(io, 'waiting', { intervalMs: 0 });
  const deadline = t0 + 60_000;
  for (;;) {
    await observe(specs, r);
    if (ready(r)) break;
    const line = progressLine(r, Date.now() - t0);
    shown.update(readyCount(r), readyTotal(r), line.replace(/^waiting: /, ''));
    if (interrupted || Date.now() > deadline) {
      shown.done();
      io.err(
        interrupted
          ? 'interrupted; stopping\n'
          : `the cluster was not ready within 60 s (${line}); see the logs in data/\n`,
      );
      await stopAll();
      return 1;
    }
    await sleep(250);
  }
  process.removeListener('SIGINT', onSignal);
  shown.done();
  printSummary(specs, io, Date.now() - t0);
  return new Promise<number>((res) => {
    const stop = (): void => {
      io.out('\nstopping...\n');
      void stopAll().then(() => res(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
