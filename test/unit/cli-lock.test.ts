// consulate lock against an in-process server with a real HTTP listener: the child runs only while
// the lock is held, two runs never overlap, the child's exit code passes through, and a lost lock
// kills the child.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/common.js';
import { ConsulClient } from '../../src/client/client.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';

let dev: DevAgent;
let addr: string;
let client: ConsulClient;
let dir: string;
beforeAll(async () => {
  dev = await startDevAgent((c) => {
    c.ports.http = 0;
  });
  addr = dev.agent.httpAddr!;
  client = new ConsulClient({ address: addr, timeoutMs: 15_000 });
  dir = mkdtempSync(join(tmpdir(), 'consulate-lock-'));
  const deadline = Date.now() + 10_000;
  while (!(await client.json<{ CheckID: string }[]>('GET', '/v1/health/node/test-node')).length) {
    if (Date.now() > deadline) throw new Error('the dev node was never registered');
    await new Promise((r) => setTimeout(r, 50));
  }
});
afterAll(async () => {
  await dev.stop();
  rmSync(dir, { recursive: true, force: true });
});

function io(): Io & { errors: string[] } {
  const errors: string[] = [];
  return {
    errors,
    out: () => undefined,
    err: (s) => void errors.push(s),
    stdin: () => Promise.resolve(Buffer.alloc(0)),
    env: {},
  };
}

const lock = (prefix: string, script: string, o = io(), flags: string[] = []): Promise<number> =>
  main(['lock', `-http-addr=${addr}`, ...flags, prefix, script], o);

async function holder(key: string): Promise<string | undefined> {
  return (await client.kvGet(key))?.Session;
}

describe('consulate lock', () => {
  it('holds <prefix>/.lock while the child runs, then releases it and passes the exit code through', async () => {
    const run = lock('jobs/backup', 'sleep 1.5; exit 7');
    let seen: string | undefined;
    const deadline = Date.now() + 10_000;
    while (!seen && Date.now() < deadline) {
      seen = await holder('jobs/backup/.lock');
      if (!seen) await new Promise((r) => setTimeout(r, 25));
    }
    expect(seen).toBeDefined();
    const [s] = await client.json<{ ID: string; TTL: string; Name: string }[]>(
      'GET',
      `/v1/session/info/${seen}`,
    );
    expect(s).toMatchObject({ TTL: '15s', Name: "Consul lock for 'sleep 1.5; exit 7' at 'jobs/backup'" });
    expect(await run).toBe(7);
    expect(await holder('jobs/backup/.lock')).toBeUndefined();
    expect(await client.json('GET', `/v1/session/info/${seen}`)).toEqual([]);
  });

  it('never lets two runs hold the lock at once', async () => {
    const log = join(dir, 'log');
    const script = (n: number): string => `echo start ${n} >> ${log}; sleep 0.4; echo end ${n} >> ${log}`;
    const codes = await Promise.all([1, 2, 3].map((n) => lock('jobs/exclusive', script(n))));
    expect(codes).toEqual([0, 0, 0]);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(6);
    for (let i = 0; i < 6; i += 2) {
      const n = lines[i]!.split(' ')[1];
      expect([lines[i], lines[i + 1]]).toEqual([`start ${n}`, `end ${n}`]);
    }
  });

  it('kills the child when the lock is lost (its session destroyed)', async () => {
    const o = io();
    const started = Date.now();
    const run = lock('jobs/lost', 'sleep 30', o);
    let seen: string | undefined;
    while (!seen && Date.now() - started < 10_000) {
      seen = await holder('jobs/lost/.lock');
      if (!seen) await new Promise((r) => setTimeout(r, 25));
    }
    expect(seen).toBeDefined();
    await client.json('PUT', `/v1/session/destroy/${seen}`);
    const code = await run;
    expect(code).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(25_000);
    expect(o.errors.join('')).toContain('Lock lost');
  });

  it('runs the child without a shell with -shell=false, and cleans up when it cannot start', async () => {
    expect(
      await main(['lock', `-http-addr=${addr}`, '-shell=false', 'jobs/noshell', 'sh', '-c', 'exit 3'], io()),
    ).toBe(3);
    const o = io();
    expect(
      await main(['lock', `-http-addr=${addr}`, '-shell=false', 'jobs/noshell', '/nonexistent/cmd'], o),
    ).toBe(1);
    expect(o.errors.join('')).toContain('Error running child');
    expect(await holder('jobs/noshell/.lock')).toBeUndefined();
    const sessions = await client.json<{ Name: string }[]>('GET', '/v1/session/list');
    expect(sessions.filter((x) => x.Name.includes('jobs/noshell'))).toEqual([]);
  });

  it('gives up after -timeout when another holds the lock, and checks its arguments', async () => {
    const run = lock('jobs/busy', 'sleep 3');
    const deadline = Date.now() + 10_000;
    while (!(await holder('jobs/busy/.lock')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
    const o = io();
    expect(await lock('jobs/busy', 'true', o, ['-timeout=500ms'])).toBe(1);
    expect(o.errors.join('')).toContain('timeout during lock acquisition');
    const t = io(); // Consul's newer name for it
    expect(await lock('jobs/busy', 'true', t, ['-try=300ms'])).toBe(1);
    expect(t.errors.join('')).toContain('timeout during lock acquisition');
    expect(await main(['lock', `-http-addr=${addr}`, '-try=soon', 'p', 'true'], io())).toBe(1);
    expect(await run).toBe(0);
    const bad = io();
    expect(await main(['lock', `-http-addr=${addr}`, 'only-a-prefix'], bad)).toBe(1);
    expect(await main(['lock', `-http-addr=${addr}`, '-n=3', 'p', 'true'], bad)).toBe(1);
  });
});
