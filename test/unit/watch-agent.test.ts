// Watches against a real in-process agent over HTTP: every type fires its handler on a change and
// not on an unrelated write; the `watches` config block runs in the agent (script and HTTP
// handlers); `consulate watch` prints the JSON once without a handler and runs one with it.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulClient } from '../../src/client/client.js';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/common.js';
import { applyConfigObject } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { parsePlan } from '../../src/watch/plan.js';
import { startWatches } from '../../src/watch/runner.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { captureIo } from '../support/capture-io.js';

const BIN = resolve(import.meta.dirname, '../../bin/consulate.js');
const dir = mkdtempSync(join(tmpdir(), 'consulate-watch-'));
// Generous: a shared two-core machine may be slow to spawn handlers.
const DEADLINE_MS = 20_000;
/** How long an unrelated write gets to (wrongly) fire a handler before we look. */
const SETTLE_MS = 700;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  const end = Date.now() + DEADLINE_MS;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A script handler that appends what it got on stdin (one JSON line per run) to a file. */
const recorder = (file: string): string[] => ['/bin/sh', '-c', `cat >> '${file}'`];

function lines(file: string): unknown[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown);
}

interface Hit {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

let dev: DevAgent;
let client: ConsulClient;
let hookServer: Server;
const hits: Hit[] = [];
const cfgFile = join(dir, 'config-block.jsonl');

beforeAll(async () => {
  hookServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('end', () => {
      hits.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown,
      });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
  const addr = hookServer.address();
  const hookPort = typeof addr === 'object' && addr ? addr.port : 0;
  dev = await startDevAgent((c) => {
    c.ports.http = 0;
    // The config block, as a config file would carry it.
    applyConfigObject(
      c,
      {
        watches: [
          { type: 'keyprefix', prefix: 'cfg/', args: recorder(cfgFile) },
          {
            type: 'key',
            key: 'hook/k',
            handler_type: 'http',
            http_handler_config: {
              path: `http://127.0.0.1:${hookPort}/hook`,
              method: 'PUT',
              header: { 'X-Test': ['yes'] },
              timeout: '5s',
            },
          },
        ],
      },
      'test config',
    );
  });
  client = new ConsulClient({ address: dev.agent.httpAddr ?? '' });
});

afterAll(async () => {
  await dev.stop();
  await new Promise((r) => hookServer.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const register = (body: Record<string, unknown>): Promise<unknown> =>
  client.json('PUT', '/v1/catalog/register', { body: JSON.stringify(body) });
const fire = (name: string, payload: string): Promise<unknown> =>
  client.json('PUT', `/v1/event/fire/${name}`, { body: payload });
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/**
 * Starts one watch with a recording script handler, checks it fires once at the start, stays
 * quiet through an unrelated write, and fires exactly once more for the related one.
 */
async function firesOnlyOnChange(
  name: string,
  params: Record<string, unknown>,
  unrelated: () => Promise<unknown>,
  related: () => Promise<unknown>,
): Promise<unknown[]> {
  const file = join(dir, `${name}.jsonl`);
  const plan = parsePlan({ ...params, args: recorder(file) }, true);
  const set = startWatches([plan], { address: dev.agent.httpAddr ?? '' }, silentLogger());
  try {
    await waitFor(`${name}: the first run`, () => lines(file).length === 1);
    await unrelated();
    await sleep(SETTLE_MS);
    expect(lines(file), `${name} fired on an unrelated write`).toHaveLength(1);
    await related();
    await waitFor(`${name}: a run after the change`, () => lines(file).length >= 2);
    await sleep(SETTLE_MS / 2);
    const got = lines(file);
    expect(got).toHaveLength(2);
    return got;
  } finally {
    await set.stop();
  }
}

describe('each watch type fires on a change, not on an unrelated write', () => {
  it('key', async () => {
    const [first, second] = await firesOnlyOnChange(
      'key',
      { type: 'key', key: 'wk/a' },
      () => client.kvPut('wk/b', 'x'),
      () => client.kvPut('wk/a', 'v1'),
    );
    expect(first).toBeNull();
    expect(second).toMatchObject({ Key: 'wk/a', Value: b64('v1') });
  });

  it('keyprefix', async () => {
    const [, second] = await firesOnlyOnChange(
      'keyprefix',
      { type: 'keyprefix', prefix: 'wp/' },
      () => client.kvPut('wq/x', 'x'),
      () => client.kvPut('wp/x', 'v'),
    );
    expect(second).toEqual([expect.objectContaining({ Key: 'wp/x', Value: b64('v') })]);
  });

  it('services', async () => {
    const [first, second] = await firesOnlyOnChange(
      'services',
      { type: 'services' },
      () => client.kvPut('ws/x', 'x'),
      () => register({ Node: 'svc-node', Address: '10.0.0.5', Service: { Service: 'api', Tags: ['v1'] } }),
    );
    expect(first).not.toHaveProperty('api');
    expect(second).toMatchObject({ api: ['v1'] });
  });

  it('nodes', async () => {
    const [, second] = await firesOnlyOnChange(
      'nodes',
      { type: 'nodes' },
      () => client.kvPut('wn/x', 'x'),
      () => register({ Node: 'extra-node', Address: '10.0.0.6' }),
    );
    expect((second as { Node: string }[]).map((n) => n.Node)).toContain('extra-node');
  });

  it('service (with tag)', async () => {
    const [first, second] = await firesOnlyOnChange(
      'service',
      { type: 'service', service: 'web', tag: 'blue' },
      () => register({ Node: 'n-db', Address: '10.0.0.7', Service: { Service: 'db', Tags: ['blue'] } }),
      () => register({ Node: 'n-web', Address: '10.0.0.8', Service: { Service: 'web', Tags: ['blue'] } }),
    );
    expect(first).toEqual([]);
    expect(second).toEqual([
      expect.objectContaining({
        Node: expect.objectContaining({ Node: 'n-web' }),
        Service: expect.objectContaining({ Service: 'web' }),
      }),
    ]);
  });

  it('checks (by state)', async () => {
    const [, second] = await firesOnlyOnChange(
      'checks',
      { type: 'checks', state: 'critical' },
      () =>
        register({
          Node: 'n-chk',
          Address: '10.0.0.9',
          Check: { CheckID: 'fine', Name: 'fine', Status: 'passing' },
        }),
      () =>
        register({
          Node: 'n-chk',
          Address: '10.0.0.9',
          Check: { CheckID: 'down', Name: 'down', Status: 'critical' },
        }),
    );
    expect(second).toEqual([expect.objectContaining({ Node: 'n-chk', CheckID: 'down', Status: 'critical' })]);
  });

  it('event (handlers get only the new events)', async () => {
    const [first, second] = await firesOnlyOnChange(
      'event',
      { type: 'event', name: 'deploy' },
      () => fire('other', 'x'),
      () => fire('deploy', 'v2'),
    );
    expect(first).toEqual([]);
    expect(second).toEqual([expect.objectContaining({ Name: 'deploy', Payload: b64('v2') })]);
  });
});

describe('the watches config block in a running agent', () => {
  it('runs a script handler with the JSON on stdin', async () => {
    await waitFor('the first run', () => lines(cfgFile).length >= 1);
    expect(lines(cfgFile)[0]).toBeNull();
    await client.kvPut('cfg/one', '1');
    await waitFor('a run after the write', () => lines(cfgFile).length >= 2);
    expect(lines(cfgFile)[1]).toEqual([expect.objectContaining({ Key: 'cfg/one', Value: b64('1') })]);
  });

  it('runs an HTTP handler: method, headers, X-Consul-Index and the JSON body', async () => {
    await waitFor('the first request', () => hits.length >= 1);
    expect(hits[0]).toMatchObject({ method: 'PUT', url: '/hook', body: null });
    await client.kvPut('hook/other', 'x');
    await sleep(SETTLE_MS);
    expect(hits).toHaveLength(1);
    await client.kvPut('hook/k', 'hello');
    await waitFor('a request after the write', () => hits.length >= 2);
    const h = hits[1] as Hit;
    expect(h.headers['x-test']).toBe('yes');
    expect(h.headers['content-type']).toBe('application/json');
    expect(Number(h.headers['x-consul-index'])).toBeGreaterThan(0);
    expect(h.body).toMatchObject({ Key: 'hook/k', Value: b64('hello') });
  });
});

describe('consulate watch', () => {
  let io: Io & { stdout: string; stderr: string };
  const cli = async (...args: string[]): Promise<number> => {
    io.stdout = '';
    io.stderr = '';
    return main(args, io);
  };
  beforeAll(() => {
    io = captureIo({ CONSUL_HTTP_ADDR: dev.agent.httpAddr ?? '' });
  });

  it('prints the JSON result once and exits without a handler', async () => {
    expect(await cli('watch', '-type', 'key', '-key', 'cli/k')).toBe(0);
    expect(io.stdout).toBe('null\n');
    await client.kvPut('cli/k', 'v');
    expect(await cli('watch', '-type=key', '-key=cli/k')).toBe(0);
    expect(JSON.parse(io.stdout)).toMatchObject({ Key: 'cli/k', Value: b64('v') });
    expect(io.stdout).toContain('\n    "Key": "cli/k"'); // indented like Consul's
    expect(await cli('watch', '-type', 'nodes')).toBe(0);
    expect((JSON.parse(io.stdout) as { Node: string }[]).map((n) => n.Node)).toContain('test-node');
    expect(await cli('watch', '-type', 'service', '-service', 'nothing-here', '-passing')).toBe(0);
    expect(JSON.parse(io.stdout)).toEqual([]);
  });

  it('fails with one line and exit 1 on a bad plan or an unreachable agent', async () => {
    expect(await cli('watch')).toBe(1);
    expect(io.stderr).toBe('Watch type must be specified\n');
    expect(await cli('watch', '-type', 'weather')).toBe(1);
    expect(io.stderr).toBe('Unsupported watch type: weather\n');
    expect(await cli('watch', '-type', 'service')).toBe(1);
    expect(io.stderr).toBe('Must specify a single service to watch\n');
    expect(await cli('watch', '-type', 'key', '-key', 'k', '-http-addr', '127.0.0.1:1')).toBe(1);
    expect(io.stderr.trim().split('\n')).toHaveLength(1);
    expect(io.stderr).toMatch(/^Error querying Consul agent: /);
  });

  it('runs a handler on every change until interrupted', async () => {
    const file = join(dir, 'cli-handler.jsonl');
    const proc = spawn(
      process.execPath,
      [
        BIN,
        'watch',
        `-http-addr=${dev.agent.httpAddr}`,
        '-type=keyprefix',
        '-prefix=clih/',
        `cat >> '${file}'`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    try {
      await waitFor('the first run', () => lines(file).length === 1);
      await client.kvPut('clih/a', '1');
      await waitFor('a run after the write', () => lines(file).length === 2);
      expect(lines(file)[1]).toEqual([expect.objectContaining({ Key: 'clih/a' })]);
    } finally {
      proc.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
  });
});
