// consulate local-cluster [DIR]: the cluster described by DIR (default dc-configs/, one folder per
// datacenter, one JSON config per agent) as processes on this machine, no Docker. Each agent logs to
// data/<dc>/<node>.log; Ctrl-C stops them all. `npm start` runs this.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sleep } from '../../core/clock.js';
import { parseArgs, UsageError, type Io } from '../common.js';

interface AgentSpec {
  dc: string;
  name: string;
  http: string;
  /** host:port of its DNS interface, or null when the config turns DNS off. */
  dns: string | null;
  config: string;
}

function readSpecs(dir: string): AgentSpec[] {
  if (!existsSync(dir)) throw new UsageError(`no such directory: ${dir}`);
  const out: AgentSpec[] = [];
  for (const dc of readdirSync(dir).sort()) {
    const dcDir = join(dir, dc);
    for (const file of readdirSync(dcDir).sort()) {
      if (!file.endsWith('.json')) continue;
      const path = join(dcDir, file);
      const cfg = JSON.parse(readFileSync(path, 'utf8')) as {
        node_name?: string;
        ports?: { http?: number; dns?: number };
        client_addr?: string;
      };
      const host = cfg.client_addr ?? '127.0.0.1';
      const dnsPort = cfg.ports?.dns ?? 8600;
      out.push({
        dc,
        name: cfg.node_name ?? file.replace(/\.json$/, ''),
        http: `${host}:${cfg.ports?.http ?? 8500}`,
        dns: dnsPort >= 0 ? `${host}:${dnsPort}` : null,
        config: path,
      });
    }
  }
  return out;
}

async function leaderOf(http: string): Promise<string> {
  try {
    const r = await fetch(`http://${http}/v1/status/leader`, { signal: AbortSignal.timeout(1000) });
    return r.ok ? ((await r.json()) as string) : '';
  } catch {
    return '';
  }
}

export async function localClusterCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, {});
  const dir = resolve(p.args[0] ?? 'dc-configs');
  const specs = readSpecs(dir);
  const bin = resolve(import.meta.dirname, '../../../bin/consulate.js');
  const procs: ChildProcess[] = [];
  let stopping = false;
  for (const a of specs) {
    mkdirSync(join('data', a.dc), { recursive: true });
    const log = openSync(join('data', a.dc, `${a.name}.log`), 'a');
    const child = spawn(process.execPath, [bin, 'agent', `-config-file=${a.config}`], {
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    child.on('exit', (code, sig) => {
      if (!stopping) io.err(`${a.name} exited (${sig ?? code}); see data/${a.dc}/${a.name}.log\n`);
    });
    procs.push(child);
  }
  const stopAll = async (): Promise<void> => {
    stopping = true;
    for (const c of procs) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.race([
      Promise.all(procs.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r))))),
      sleep(5000),
    ]);
    for (const c of procs) if (c.exitCode === null) c.kill('SIGKILL');
  };

  const dcs = [...new Set(specs.map((s) => s.dc))];
  const deadline = Date.now() + 60_000;
  for (;;) {
    const leaders = await Promise.all(
      dcs.map((dc) => leaderOf((specs.find((s) => s.dc === dc) as AgentSpec).http)),
    );
    if (leaders.every(Boolean)) break;
    if (Date.now() > deadline) {
      io.err('the cluster did not elect a leader within 60 s; see the logs in data/\n');
      await stopAll();
      return 1;
    }
    await sleep(200);
  }
  io.out('Consulate is up.\n\n');
  for (const dc of dcs) {
    io.out(`  ${dc}:\n`);
    for (const a of specs.filter((s) => s.dc === dc))
      io.out(`    ${a.name.padEnd(16)} HTTP API  http://${a.http}${a.dns ? `   DNS ${a.dns}` : ''}\n`);
  }
  const first = specs[0] as AgentSpec;
  const second = specs[1] ?? first;
  io.out(`\n  Try:  curl -X PUT -d hello http://${first.http}/v1/kv/greeting\n`);
  io.out(`        curl http://${second.http}/v1/kv/greeting?raw\n`);
  io.out(`        node bin/consulate.js members -http-addr=${first.http}\n`);
  io.out(`        node bin/consulate.js operator raft list-peers -http-addr=${first.http}\n`);
  const dns = specs.find((s) => s.dns)?.dns;
  if (dns) {
    const [h, port] = [dns.slice(0, dns.lastIndexOf(':')), dns.slice(dns.lastIndexOf(':') + 1)];
    io.out(`        dig @${h} -p ${port} consul.service.consul SRV\n`);
  }
  io.out('\n  Logs in data/<dc>/<node>.log. Ctrl-C stops the cluster.\n');
  return new Promise<number>((res) => {
    const onSignal = (): void => {
      io.out('\nstopping...\n');
      void stopAll().then(() => res(0));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}
