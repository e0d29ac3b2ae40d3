// A fake Docker Engine API on a unix socket (node:http listen(path)): the three calls -docker-sync
// makes (GET /containers/json, GET /containers/:id/json, GET /events), containers set by the test,
// events written to every open stream, and the daemon stopped (every connection cut, the socket
// gone) and started again.

import { createServer, type Server, type ServerResponse } from 'node:http';
import { rmSync } from 'node:fs';

export interface FakeContainer {
  id: string;
  name: string;
  image: string;
  labels?: Record<string, string>;
  /** "8080/tcp" -> [host ip, host port] */
  ports: Record<string, [string, number]>;
  running?: boolean;
}

export class FakeDocker {
  readonly containers = new Map<string, FakeContainer>();
  /** Requests seen, as "GET /path" (query strings left off). */
  readonly requests: string[] = [];
  private server: Server | null = null;
  /** Open event streams, each with the actions its filters asked for (null: every action). */
  private readonly streams = new Map<ServerResponse, Set<string> | null>();
  /** The `filters` query of the last /events request, parsed. */
  lastFilters: Record<string, string[]> | null = null;

  constructor(readonly socketPath: string) {}

  get up(): boolean {
    return this.server !== null;
  }

  /** How many event streams are open now. */
  get streamCount(): number {
    return this.streams.size;
  }

  add(c: FakeContainer): void {
    this.containers.set(c.id, { running: true, ...c });
  }

  /** Writes a container event to every open stream (as Docker 20.10 does: both field sets). */
  emit(action: string, id: string): void {
    const c = this.containers.get(id);
    const line = JSON.stringify({
      status: action,
      id,
      from: c?.image ?? '',
      Type: 'container',
      Action: action,
      Actor: { ID: id, Attributes: { name: c?.name ?? '' } },
      scope: 'local',
      time: Math.floor(Date.now() / 1000),
    });
    for (const [s, actions] of this.streams) if (!actions || actions.has(action)) s.write(`${line}\n`);
  }

  /** Raw text on every open stream (garbage, partial lines). */
  writeRaw(text: string): void {
    for (const s of this.streams.keys()) s.write(text);
  }

  async start(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    const server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      this.requests.push(`${req.method} ${path}`);
      const json = (status: number, body: unknown): void => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (path === '/events') {
        const q = new URL(req.url ?? '', 'http://docker').searchParams.get('filters');
        this.lastFilters = q ? (JSON.parse(q) as Record<string, string[]>) : null;
        const actions = this.lastFilters?.['event'];
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.flushHeaders();
        this.streams.set(res, actions ? new Set(actions) : null);
        res.on('close', () => this.streams.delete(res));
        return;
      }
      if (path === '/containers/json') {
        const running = [...this.containers.values()].filter((c) => c.running);
        return json(
          200,
          running.map((c) => ({ Id: c.id, Names: [`/${c.name}`], Image: c.image, State: 'running' })),
        );
      }
      const m = /^\/containers\/([^/]+)\/json$/.exec(path);
      const c = m ? this.containers.get(decodeURIComponent(m[1] as string)) : undefined;
      if (m && !c) return json(404, { message: `No such container: ${m[1]}` });
      if (!c) return json(404, { message: 'page not found' });
      const ports: Record<string, { HostIp: string; HostPort: string }[]> = {};
      for (const [k, [ip, port]] of Object.entries(c.ports))
        ports[k] = [{ HostIp: ip, HostPort: String(port) }];
      json(200, {
        Id: c.id,
        Name: `/${c.name}`,
        Config: { Image: c.image, Labels: c.labels ?? {} },
        State: { Status: c.running ? 'running' : 'exited', Running: c.running === true, Paused: false },
        NetworkSettings: { Ports: ports },
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    this.server = server;
  }

  /** The daemon goes away: open streams are cut and the socket file is removed. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const s of this.streams.keys()) s.destroy();
    this.streams.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }
}
