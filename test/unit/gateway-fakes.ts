// In-process fakes for the gateway's tests: a "world" of datacenters, each with fake servers (plain
// node:http) that serve the directory (contract 4) and /v1/health/service/<name> with real blocking
// semantics (an answer is held until the state changes past ?index, or ?wait runs out), plus an
// echo of every other /v1/* request; and fake service instances that say who they are.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseDuration } from '../../src/core/duration.js';

export interface Seen {
  server: string;
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

interface Waiter {
  index: number;
  wake: () => void;
}

/** A version number and the blocked requests waiting for it to pass their index. */
class Versioned {
  version = 1;
  private waiters = new Set<Waiter>();
  bump(): void {
    this.version++;
    for (const w of [...this.waiters]) if (this.version > w.index) w.wake();
  }
  /** Resolves when version > index, after waitMs, or when the request is closed. */
  wait(index: number, waitMs: number, req: IncomingMessage): Promise<void> {
    if (this.version > index) return Promise.resolve();
    return new Promise((resolve) => {
      const w: Waiter = { index, wake: done };
      const t = setTimeout(done, waitMs);
      const onClose = (): void => done();
      req.socket.once('close', onClose);
      this.waiters.add(w);
      const waiters = this.waiters;
      function done(): void {
        clearTimeout(t);
        waiters.delete(w);
        req.socket.off('close', onClose);
        resolve();
      }
    });
  }
}

export interface FakeInstance {
  id: string;
  node: string;
  address: string;
  port: number;
  status: 'passing' | 'critical';
}

export class World {
  readonly dcs = new Map<string, FakeServer[]>();
  readonly directory = new Versioned();
  /** Per dc: the version of its services' health. */
  readonly health = new Map<string, Versioned>();
  /** dc → service → instances. */
  readonly services = new Map<string, Map<string, FakeInstance[]>>();
  /** Order of the directory's Datacenters (nearest first). */
  order: string[] = [];
  /** Every health query the servers received (to check they were blocking queries). */
  readonly healthQueries: { dc: string; url: string }[] = [];

  async addDc(dc: string, servers: number): Promise<FakeServer[]> {
    const list: FakeServer[] = [];
    for (let i = 0; i < servers; i++) list.push(await FakeServer.start(this, dc, `${dc}-s${i + 1}`));
    this.dcs.set(dc, list);
    this.health.set(dc, new Versioned());
    this.services.set(dc, new Map());
    this.order.push(dc);
    this.directory.bump();
    return list;
  }

  setInstances(dc: string, service: string, instances: FakeInstance[]): void {
    this.services.get(dc)?.set(service, instances);
    this.health.get(dc)?.bump();
  }

  setStatus(dc: string, service: string, status: 'passing' | 'critical'): void {
    for (const i of this.services.get(dc)?.get(service) ?? []) i.status = status;
    this.health.get(dc)?.bump();
  }

  /** Removes a server from the directory (as the WAN pool does when it fails). */
  dropServer(s: FakeServer): void {
    const list = this.dcs.get(s.dc) ?? [];
    this.dcs.set(
      s.dc,
      list.filter((x) => x !== s),
    );
    this.directory.bump();
  }

  directoryJson(self: string): unknown {
    return {
      Datacenter: self,
      Datacenters: this.order.map((dc) => ({
        Datacenter: dc,
        Servers: (this.dcs.get(dc) ?? [])
          .filter((s) => s.alive)
          .map((s) => ({ Node: s.name, RPC: '127.0.0.1:1', HTTP: s.addr })),
      })),
    };
  }

  async close(): Promise<void> {
    for (const list of this.dcs.values()) for (const s of list) await s.close();
  }
}

function json(res: ServerResponse, status: number, body: unknown, index?: number): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...(index !== undefined ? { 'x-consul-index': String(index) } : {}),
  });
  res.end(text);
}

export class FakeServer {
  addr = '';
  alive = true;
  readonly seen: Seen[] = [];
  /** Requests to /v1/kv/block that were closed by the other side before an answer. */
  blockedClosed = 0;
  blockedOpen = 0;
  private server!: Server;

  private constructor(
    readonly world: World,
    readonly dc: string,
    readonly name: string,
  ) {}

  static async start(world: World, dc: string, name: string): Promise<FakeServer> {
    const s = new FakeServer(world, dc, name);
    s.server = createServer((req, res) => void s.handle(req, res));
    await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
    s.addr = `127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams;
    const index = Number(q.get('index') ?? 0);
    const waitMs = q.has('wait') ? (parseDuration(q.get('wait') ?? '') ?? 300_000) : 300_000;
    if (url.pathname === '/v1/internal/gateway/directory') {
      const d = this.world.directory;
      if (index > 0) await d.wait(index, waitMs, req);
      if (res.destroyed) return;
      json(res, 200, this.world.directoryJson(this.dc), d.version);
      return;
    }
    const health = /^\/v1\/health\/service\/([^/]+)$/.exec(url.pathname);
    if (health) {
      const dc = q.get('dc') ?? this.dc;
      this.world.healthQueries.push({ dc: this.dc, url: req.url ?? '' });
      if (dc !== this.dc) {
        res.writeHead(500).end(`this fake serves ${this.dc} only, asked for ${dc}`);
        return;
      }
      const v = this.world.health.get(this.dc) as Versioned;
      if (index > 0) await v.wait(index, waitMs, req);
      if (res.destroyed) return;
      const name = decodeURIComponent(health[1] as string);
      const list = this.world.services.get(this.dc)?.get(name) ?? [];
      const passing = q.has('passing');
      json(
        res,
        200,
        list
          .filter((i) => !passing || i.status === 'passing')
          .map((i) => ({
            Node: { Node: i.node, Address: '127.0.0.9', Datacenter: this.dc },
            Service: { ID: i.id, Service: name, Address: i.address, Port: i.port },
            Checks: [{ CheckID: 'serfHealth', Status: i.status }],
          })),
        v.version,
      );
      return;
    }
    this.seen.push({
      server: this.name,
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    });
    if (url.pathname === '/v1/kv/block') {
      // A blocking query that never answers: counts whether its client went away.
      this.blockedOpen++;
      res.on('close', () => {
        if (!res.writableFinished) this.blockedClosed++;
      });
      return;
    }
    if (url.pathname === '/v1/kv/slow') {
      // A blocking query that answers after its wait.
      setTimeout(() => json(res, 200, { server: this.name, slow: true }, 8), waitMs);
      return;
    }
    json(res, 200, { server: this.name, dc: this.dc, method: req.method, url: req.url }, 7);
  }

  /** Stops answering: the port refuses connections from now on. */
  async close(): Promise<void> {
    this.alive = false;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** A service instance that answers every request with its name, the path and the headers it got. */
export async function fakeInstance(
  name: string,
): Promise<{ port: number; hits: number; close: () => Promise<void>; server: Server }> {
  const state = { port: 0, hits: 0, close: async () => undefined, server: null as unknown as Server };
  const server = createServer((req, res) => {
    state.hits++;
    if (req.url === '/big') {
      // 300 KB, chunked (no Content-Length), written in pieces: an answer the gateway must stream.
      res.writeHead(200, { 'content-type': 'text/plain' });
      let n = 0;
      const more = (): void => {
        while (n < 30) {
          n++;
          if (!res.write('y'.repeat(10_000))) return void res.once('drain', more);
        }
        res.end();
      };
      more();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () =>
      json(res, 200, {
        instance: name,
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as AddressInfo).port;
  state.server = server;
  state.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return state;
}

/** A port with nothing listening on it (connections are refused). */
export async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
