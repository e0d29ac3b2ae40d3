// A dev-mode server for the UI scripts (ui-screenshots, ui-perf): one agent process on free ports,
// returned once it has a leader. The caller stops it with agent.kill().

import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** @returns {Promise<{ agent: import('node:child_process').ChildProcess, http: string }>} */
export async function startDevServer() {
  const [httpPort, dnsPort, serfPort, rpcPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const http = `127.0.0.1:${httpPort}`;
  const agent = spawn(
    process.execPath,
    [
      join(root, 'bin/consulate.js'),
      'agent',
      '-dev',
      '-node=server-1',
      '-datacenter=dc1',
      `-http-port=${httpPort}`,
      `-dns-port=${dnsPort}`,
      `-serf-lan-port=${serfPort}`,
      `-server-port=${rpcPort}`,
      '-serf-wan-port=-1',
      '-log-level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const r = await fetch(`http://${http}/v1/status/leader`);
      if (r.ok && (await r.json()) !== '') return { agent, http };
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      agent.kill('SIGTERM');
      throw new Error('the dev agent has no leader after 30 s');
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
