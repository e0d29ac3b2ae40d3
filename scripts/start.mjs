#!/usr/bin/env node
// npm start: the local cluster from dc-configs/ as processes on loopback (no Docker). Each agent's
// log goes to data/<dc>/<name>.log; Ctrl-C stops them all cleanly.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const bin = join(root, 'bin/consulate.js');
const procs = [];
const agents = [];

for (const dc of readdirSync(join(root, 'dc-configs')).sort()) {
  for (const file of readdirSync(join(root, 'dc-configs', dc)).sort()) {
    if (!file.endsWith('.json')) continue;
    const path = join(root, 'dc-configs', dc, file);
    const cfg = JSON.parse(readFileSync(path, 'utf8'));
    mkdirSync(join(root, 'data', dc), { recursive: true });
    const log = openSync(join(root, 'data', dc, `${cfg.node_name}.log`), 'a');
    const p = spawn(process.execPath, [bin, 'agent', `-config-file=${path}`], { cwd: root, stdio: ['ignore', log, log] });
    p.on('exit', (code, sig) => {
      if (!stopping) console.error(`${cfg.node_name} exited (${sig ?? code}); see data/${dc}/${cfg.node_name}.log`);
    });
    procs.push(p);
    agents.push({ dc, name: cfg.node_name, http: `127.0.0.1:${cfg.ports.http}` });
  }
}

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping...');
  for (const p of procs) p.kill('SIGTERM');
  setTimeout(() => process.exit(0), 5000).unref();
  Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r() : p.once('exit', r))))).then(() => process.exit(0));
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

async function leaderOf(http) {
  try {
    const r = await fetch(`http://${http}/v1/status/leader`);
    return r.ok ? await r.json() : '';
  } catch {
    return '';
  }
}

const deadline = Date.now() + 60_000;
const dcs = [...new Set(agents.map((a) => a.dc))];
for (;;) {
  const leaders = await Promise.all(dcs.map((dc) => leaderOf(agents.find((a) => a.dc === dc).http)));
  if (leaders.every(Boolean)) {
    console.log('Consulate is up.\n');
    for (const dc of dcs) {
      console.log(`  ${dc}:`);
      for (const a of agents.filter((x) => x.dc === dc)) console.log(`    ${a.name.padEnd(16)} HTTP http://${a.http}`);
    }
    console.log(`\n  Try: curl -X PUT -d hello http://${agents[0].http}/v1/kv/greeting`);
    console.log(`       curl http://${agents[1].http}/v1/kv/greeting?raw`);
    console.log(`       node bin/consulate.js operator raft list-peers -http-addr=${agents[0].http}`);
    console.log('\n  Logs: data/<dc>/<node>.log. Ctrl-C stops the cluster.');
    break;
  }
  if (Date.now() > deadline) {
    console.error('the cluster did not elect a leader within 60 s; see the logs in data/');
    stop();
    break;
  }
  await new Promise((r) => setTimeout(r, 200));
}
