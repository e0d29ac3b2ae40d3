// The few Docker Engine API calls -docker-sync makes, over node:http (a unix socket, or plain TCP):
// the running containers, one container's inspect data, and the container event stream. Every
// answer is size-limited and every call but the event stream has a timeout; failures are errors
// for the caller to retry, never a crash. Unversioned paths: the daemon answers with its own API
// version, which keeps this working from Docker 20.10 (API 1.41) on.

import { request, type IncomingMessage } from 'node:http';
import { toInspect, type ContainerInspect } from './services.js';

export type DockerEndpoint = { socketPath: string } | { host: string; port: number };

export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

/**
 * DOCKER_HOST's forms that are plain HTTP: unix:///path (or a bare absolute path) and
 * tcp://host[:port] (2375 by default). Throws with the reason for anything else (ssh://, npipe://,
 * fd://, a relative path).
 */
export function parseDockerHost(text: string): DockerEndpoint {
  const s = text.trim();
  if (s.startsWith('/')) return { socketPath: s };
  if (s.startsWith('unix://')) {
    const path = s.slice('unix://'.length);
    if (!path.startsWith('/'))
      throw new Error(`"${text}": a unix socket path must be absolute (unix:///path)`);
    return { socketPath: path };
  }
  if (s.startsWith('tcp://') || s.startsWith('http://')) {
    let url: URL;
    try {
      url = new URL(s.replace(/^tcp:/, 'http:'));
    } catch {
      throw new Error(`"${text}" is not tcp://host:port`);
    }
    if (url.hostname === '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '')
      throw new Error(`"${text}" is not tcp://host:port`);
    return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? 2375 : Number(url.port) };
  }
  throw new Error(`"${text}": only unix:///path and tcp://host:port are supported`);
}

export function describeEndpoint(e: DockerEndpoint): string {
  return 'socketPath' in e ? `unix://${e.socketPath}` : `tcp://${e.host}:${e.port}`;
}

/** A container event as -docker-sync reads it (Action and Actor.ID; older daemons: status and id). */
export interface ContainerEvent {
  action: string;
  id: string;
}

export interface DockerApiOptions {
  /** Per call (not the event stream): connect, send, and read the whole answer. */
  timeoutMs?: number;
  /** Largest answer read (a list of many containers is the largest). */
  maxBodyBytes?: number;
  /** Longest line of the event stream (one event is well under 10 KB). */
  maxEventBytes?: number;
}

/** An error with the system call's code when there is one (ENOENT, ECONNREFUSED, EACCES ...). */
export class DockerApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status = 0,
  ) {
    super(message);
  }
}

function apiError(err: unknown, path: string): DockerApiError {
  if (err instanceof DockerApiError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? e.name ?? 'ERROR';
  // Without the query string: the event filters would make every log line long.
  return new DockerApiError(`GET ${path.split('?')[0] ?? path}: ${e.message}`, code);
}

export class DockerApi {
  readonly endpoint: DockerEndpoint;
  private readonly timeoutMs: number;
  private readonly maxBody: number;
  private readonly maxEvent: number;

  constructor(endpoint: DockerEndpoint, opts: DockerApiOptions = {}) {
    this.endpoint = endpoint;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxBody = opts.maxBodyBytes ?? 16 << 20;
    this.maxEvent = opts.maxEventBytes ?? 1 << 20;
  }

  /** The IDs of the running (and paused) containers. */
  async runningContainers(signal?: AbortSignal): Promise<string[]> {
    const json = await this.getJson('/containers/json', signal);
    if (!Array.isArray(json)) throw new DockerApiError('GET /containers/json: not a list', 'EPROTO');
    return json.map((c) => (c as { Id?: unknown }).Id).filter((id): id is string => typeof id === 'string');
  }

  /** A container's inspect data; null when there is no such container (any more). */
  async inspect(id: string, signal?: AbortSignal): Promise<ContainerInspect | null> {
    try {
      return toInspect(await this.getJson(`/containers/${encodeURIComponent(id)}/json`, signal));
    } catch (err) {
      if (err instanceof DockerApiError && err.status === 404) return null;
      throw err;
    }
  }

  /**
   * Opens the stream of container events, those named in `actions` only (the daemon filters them:
   * health checks' exec events never cross the socket). Resolves once the daemon has answered (events from then on
   * reach `onEvent`), with `closed`: resolves with the reason when the stream ends for any reason
   * (the daemon went away, `signal` aborted, a line too long).
   */
  async events(
    actions: readonly string[],
    onEvent: (e: ContainerEvent) => void,
    signal: AbortSignal,
  ): Promise<{ closed: Promise<Error> }> {
    const filters = JSON.stringify({ type: ['container'], event: actions });
    const path = `/events?filters=${encodeURIComponent(filters)}`;
    const res = await this.open(path, signal, false);
    if (res.statusCode !== 200) {
      const body = await this.readBody(res, path).catch(() => '');
      throw new DockerApiError(
        `GET /events: ${res.statusCode} ${errorMessage(body)}`,
        'EHTTP',
        res.statusCode,
      );
    }
    const closed = new Promise<Error>((resolve) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line !== '') {
            const e = parseEvent(line);
            if (e) onEvent(e);
          }
        }
        if (buf.length > this.maxEvent) res.destroy(new Error('event line too long'));
      });
      res.once('end', () => resolve(new Error('the daemon closed the event stream')));
      res.on('error', (err) => resolve(err));
      res.once('close', () => resolve(new Error('the event stream was closed')));
    });
    return { closed };
  }

  private async getJson(path: string, signal?: AbortSignal): Promise<unknown> {
    const res = await this.open(path, signal, true);
    const body = await this.readBody(res, path);
    if (res.statusCode !== 200) {
      throw new DockerApiError(
        `GET ${path}: ${res.statusCode} ${errorMessage(body)}`,
        'EHTTP',
        res.statusCode ?? 0,
      );
    }
    try {
      return JSON.parse(body);
    } catch {
      throw new DockerApiError(`GET ${path}: the answer is not JSON`, 'EPROTO');
    }
  }

  /** Sends a GET; resolves with the response once its headers are in. */
  private open(path: string, signal: AbortSignal | undefined, timed: boolean): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      const where = 'socketPath' in this.endpoint ? { socketPath: this.endpoint.socketPath } : this.endpoint;
      const req = request({
        ...where,
        path,
        method: 'GET',
        headers: { Host: 'docker' },
        agent: false,
        signal,
      });
      let response: IncomingMessage | null = null;
      if (timed) {
        // Covers the whole call, the body included: the socket closes once the answer is read.
        const timer = setTimeout(() => {
          const err = new DockerApiError(`GET ${path}: no answer within ${this.timeoutMs} ms`, 'ETIMEDOUT');
          if (response) response.destroy(err);
          else req.destroy(err);
        }, this.timeoutMs);
        req.once('close', () => clearTimeout(timer));
      }
      // `on`, not `once`: a second error (a socket dying after the answer) must not go unhandled.
      req.on('error', (err) => reject(apiError(err, path)));
      req.once('response', (res) => {
        response = res;
        if (!timed) req.socket?.setKeepAlive(true, 30_000);
        resolve(res);
      });
      req.end();
    });
  }

  private readBody(res: IncomingMessage, path: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > this.maxBody) {
          res.destroy(new DockerApiError(`GET ${path}: answer larger than ${this.maxBody} bytes`, 'E2BIG'));
          return;
        }
        chunks.push(c);
      });
      res.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', (err) => reject(apiError(err, path)));
      res.once('close', () => {
        if (!res.complete) reject(new DockerApiError(`GET ${path}: the answer was cut short`, 'ECONNRESET'));
      });
    });
  }
}

/** The daemon's {"message": "..."} error body, else the body's start. */
function errorMessage(body: string): string {
  try {
    const m = (JSON.parse(body) as { message?: unknown }).message;
    if (typeof m === 'string') return m;
  } catch {
    // not JSON
  }
  return body.slice(0, 200).trim();
}

export function parseEvent(line: string): ContainerEvent | null {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null) return null;
  const type = o['Type'];
  if (type !== undefined && type !== 'container') return null;
  const action = typeof o['Action'] === 'string' ? o['Action'] : o['status'];
  const actor = o['Actor'] as { ID?: unknown } | undefined;
  const id = typeof actor?.ID === 'string' ? actor.ID : o['id'];
  if (typeof action !== 'string' || typeof id !== 'string' || id === '') return null;
  return { action, id };
}
