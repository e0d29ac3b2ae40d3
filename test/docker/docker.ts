// Helpers of the container tests: the docker CLI (the same commands a person would type: stop,
// start, network disconnect), the image build, HTTP with timeouts and polling.
//
// These tests need a Docker engine with `docker compose` v2 (scripts/setup-docker.sh sets one up,
// offline). SKIP_DOCKER=1 leaves them out of the run (vitest.config.ts); without it a missing
// engine fails them, so that CI cannot pass without running them.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

// No Ryuk (its image cannot be pulled here): every test removes what it started, and .ci/run
// removes leftovers by the org.testcontainers label.
process.env['TESTCONTAINERS_RYUK_DISABLED'] ??= 'true';

export const IMAGE = process.env['CONSULATE_IMAGE'] ?? 'consulate:dev';

export function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json'))) dir = resolve(dir, '..');
  return dir;
}

/** Runs `docker <args>`; resolves with its stdout, trimmed. */
export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 16 << 20 });
  return stdout.trim();
}

/**
 * Builds the image from the dist/ already compiled (npm test builds first; alone: npm run build).
 * Cached layers make a second build take a second or two.
 */
export async function buildImage(): Promise<void> {
  await run('bash', [join(repoRoot(), 'deploy/build-image.sh'), '--no-compile'], {
    env: { ...process.env, IMAGE },
    maxBuffer: 16 << 20,
  });
}

interface Inspect {
  Id: string;
  State: { Running: boolean };
  NetworkSettings: {
    Networks: Record<string, { IPAddress: string }>;
    Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
  };
}

export async function inspect(container: string): Promise<Inspect> {
  return (JSON.parse(await docker('inspect', container)) as Inspect[])[0] as Inspect;
}

/** The host port a container port ("8500/tcp", "8600/udp") is published on. */
export async function hostPort(container: string, port: string): Promise<number> {
  const b = (await inspect(container)).NetworkSettings.Ports[port]?.[0];
  if (!b) throw new Error(`${container}: ${port} is not published`);
  return Number(b.HostPort);
}

/** The container's address on a network (full name, e.g. "<project>_dc1", or "bridge"). */
export async function ipOn(container: string, network: string): Promise<string> {
  const n = (await inspect(container)).NetworkSettings.Networks[network];
  if (!n?.IPAddress) throw new Error(`${container} is not on ${network}`);
  return n.IPAddress;
}

export interface Reply {
  status: number;
  text: string;
  headers: Headers;
}

/** One HTTP request that never throws: a refused or timed-out request is status 0. */
export async function http(url: string, init: RequestInit = {}, timeoutMs = 5000): Promise<Reply> {
  try {
    const r = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    return { status: r.status, text: await r.text(), headers: r.headers };
  } catch (err) {
    return { status: 0, text: (err as Error).message, headers: new Headers() };
  }
}

/** Polls `check` every `everyMs` until it returns a value other than undefined/false. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface Member {
  Name: string;
  Addr: string;
  Status: number;
}

/** Gossip members as an agent sees them (Status 1 = alive). */
export async function members(httpBase: string): Promise<Member[]> {
  const r = await http(`${httpBase}/v1/agent/members`);
  if (r.status !== 200) throw new Error(`members: ${r.status} ${r.text}`);
  return JSON.parse(r.text) as Member[];
}

/** The Raft leader's RPC address as an agent reports it ('' when none). */
export async function leader(httpBase: string): Promise<string> {
  const r = await http(`${httpBase}/v1/status/leader`, {}, 3000);
  return r.status === 200 ? (JSON.parse(r.text) as string) : '';
}

/** PUT of a KV value; true only when acknowledged (200 and `true`). */
export async function kvPut(
  httpBase: string,
  key: string,
  value: string,
  timeoutMs = 5000,
): Promise<boolean> {
  const r = await http(`${httpBase}/v1/kv/${key}`, { method: 'PUT', body: value }, timeoutMs);
  return r.status === 200 && r.text.trim() === 'true';
}
