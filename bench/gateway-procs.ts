// The processes the gateway benchmark (bench/gateway.ts) runs besides the gateway itself, one mode
// per process so each can be pinned to a CPU and killed by pid:
//   upstream PORT              a bare node:http server answering ~1 KB of JSON on every path (the
//                              same Consul-catalog-shaped body as ../shared/bench/anchors' server)
//   hono-proxy PORT UPSTREAM   a minimal Hono app on @hono/node-server that fetches one fixed
//                              upstream (host:port) with the platform's fetch: the anchor for the
//                              gateway's throughput
//   node-proxy PORT UPSTREAM   a hand-written node:http proxy to one fixed upstream (keep-alive pool,
//                              piped answer): the ceiling of a proxy hop in Node, for reference
//   load JSON                  one run of the load generator (bench/load.ts): JSON {targets, path,
//                              connections, durationMs, spread}; prints its LoadResult as JSON
// The servers print "ready" on stdout once they listen.

import { Agent, createServer, request, type ServerResponse } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { httpRequest, runLoad, type LoadResult, type LoadTarget } from './load.js';

const payload = Array.from({ length: 4 }, (_, i) => ({
  ID: `40e4a748-2192-161a-0510-9bf59fe950b${i}`,
  Node: `node-${i}`,
  Address: `127.0.0.${i + 1}`,
  Datacenter: 'dc1',
  TaggedAddresses: { lan: `127.0.0.${i + 1}`, wan: `127.0.0.${i + 1}` },
  ServiceID: `web-${i}`,
  ServiceName: 'web',
  ServiceTags: ['v1', 'primary'],
  ServicePort: 8080,
  CreateIndex: 100 + i,
  ModifyIndex: 200 + i,
}));

function answer(res: ServerResponse, body: string): void {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const [mode, portArg, target] = process.argv.slice(2);
const port = Number(portArg);
const ready = (): void => void process.stdout.write('ready\n');

if (mode === 'upstream') {
  createServer((_req, res) => answer(res, JSON.stringify(payload))).listen(port, '127.0.0.1', ready);
} else if (mode === 'hono-proxy') {
  const app = new Hono();
  app.get('*', (c) => fetch(`http://${target}${c.req.path}`));
  serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, ready);
} else if (mode === 'node-proxy') {
  const [host, p] = (target ?? '').split(':');
  const agent = new Agent({ keepAlive: true, maxFreeSockets: 256 });
  createServer((req, res) => {
    const up = request({ host, port: Number(p), path: req.url, method: req.method, agent }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  }).listen(port, '127.0.0.1', ready);
} else if (mode === 'load') {
  // The load generator, in a process of its own so it can be pinned away from the servers.
  const o = JSON.parse(portArg ?? '{}') as {
    targets: LoadTarget[];
    path: string;
    connections: number;
    durationMs: number;
    spread: boolean;
  };
  const r: LoadResult = await runLoad({
    targets: o.targets,
    connections: o.connections,
    durationMs: o.durationMs,
    spread: o.spread,
    makeRequest: (_c, _i, t) => httpRequest('GET', `${t.host}:${t.port}`, o.path),
  });
  process.stdout.write(`${JSON.stringify(r)}\n`);
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
