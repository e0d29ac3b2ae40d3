// The cost of the metrics hooks on the request path, alone: an agent's metrics object fed as the
// HTTP middleware and the RPC entry points feed it, then scraped. Not a phase of `npm run bench`
// (no process, no network); run it on a quiet machine to compare with the HTTP phase's per-request
// time:  npx tsc -p tsconfig.bench.json && node dist-bench/bench/metrics-hooks.js
// Environment: CALLS (300000), SCRAPES (50).

import { AgentMetrics } from '../src/metrics/agent-metrics.js';

const CALLS = Number(process.env['CALLS'] ?? 300_000);
const SCRAPES = Number(process.env['SCRAPES'] ?? 50);
const ROUTES = ['/v1/kv/*', '/v1/catalog/service/:service', '/v1/health/service/:service', '/v1/agent/self'];

function perCall(label: string, n: number, f: (i: number) => void): void {
  for (let i = 0; i < Math.min(n, 20_000); i++) f(i); // warm up the JIT
  const t0 = performance.now();
  for (let i = 0; i < n; i++) f(i);
  const us = ((performance.now() - t0) * 1000) / n;
  console.log(`${label.padEnd(28)} ${us.toFixed(3)} µs/call`);
}

async function main(): Promise<void> {
  const m = new AgentMetrics({ prefix: 'consul', disableHostname: true, nodeName: 'bench', server: true });
  perCall('HTTP request (api.http)', CALLS, (i) => m.http('GET', ROUTES[i & 3]!, 200, (i % 50) / 10));
  perCall('endpoint call (rpc.*)', CALLS, (i) => m.rpc('KVS.Apply', (i % 50) / 10, null));
  const times: number[] = [];
  for (let i = 0; i < SCRAPES; i++) {
    const t0 = performance.now();
    await m.prometheus();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(`${'Prometheus scrape (median)'.padEnd(28)} ${times[times.length >> 1]!.toFixed(2)} ms`);
  m.stop();
}

void main();
