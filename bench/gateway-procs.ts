// The processes the gateway benchmark (bench/gateway.ts) runs besides the gateway itself, one mode
// per process so each can be pinned to a CPU and killed by pid:
//   upstream PORT              a bare node:http server answering ~1 KB of JSON on every path (the
//                              same Consul-catalog-shaped body as ../shared/bench/anchors' server)
//   hono-proxy PORT UPSTREAM   a minimal Hono app on @hono/node-server that fetches one fixed
//                              upstream (host:port) with the platform's fetch: the anchor for the
//                              gateway's throughput
//   node-proxy PORT UPSTREAM   a hand-written node:http proxy to one fixed upstream (keep-alive pool,
//                              piped answer): the ceiling of a proxy hop in Node, for reference
//   fake-server PORT INSTANCE  a fake Consul server: the gateway directory (its own dc "dc1" and a
//                              "dc2" at the same address), /v1/health/service/web answering one
//                              passing instance at INSTANCE (host:port) and then holding blocking
//                              queries, and the upstream's JSON for any other /v1/* path
// Each prints "ready" on stdout once it listens.

import { Agent, createServer, request, type ServerResponse } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

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

function answer(res: ServerResponse, body: string, index?: number): void {
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...(index ? { 'x-consul-index': String(index) } : {}),
  });
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
} else if (mode === 'fake-server') {
  const [host, p] = (target ?? '').split(':');
  const self = `127.0.0.1:${port}`;
  const directory = JSON.stringify({
    Datacenter: 'dc1',
    Datacenters: ['dc1', 'dc2'].map((dc) => ({
      Datacenter: dc,
      Servers: [{ Node: `${dc}-s1`, RPC: '127.0.0.1:1', HTTP: self }],
    })),
  });
  const health = JSON.stringify([
    {
      Node: { Node: 'node-1', Address: host },
      Service: { ID: 'web-1', Service: 'web', Address: host, Port: Number(p) },
      Checks: [{ CheckID: 'serfHealth', Status: 'passing' }],
    },
  ]);
  createServer((req, res) => {
    const url = req.url ?? '/';
    const blocking = /[?&]index=[1-9]/.test(url);
    // Nothing ever changes here: a blocking query is held until the gateway lets it go.
    if (url.startsWith('/v1/internal/gateway/directory'))
      return blocking ? undefined : answer(res, directory, 5);
    if (url.startsWith('/v1/health/service/')) return blocking ? undefined : answer(res, health, 9);
    answer(res, JSON.stringify(payload), 11);
  }).listen(port, '127.0.0.1', ready);
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
