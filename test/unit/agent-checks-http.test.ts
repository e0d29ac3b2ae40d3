import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCheck } from '../../src/agent/checks/runner.js';
import { silentLogger } from '../../src/core/logger.js';
import { capturingLogger, def, first, results } from './agent-checks-helpers.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const seen: Seen[] = [];
let closedSlow = 0;

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    });
    switch (req.url) {
      case '/ok':
        res.end('all good');
        return;
      case '/created':
        res.writeHead(201).end();
        return;
      case '/busy':
        res.writeHead(429).end('slow down');
        return;
      case '/fail':
        res.writeHead(500).end('boom');
        return;
      case '/moved':
        res.writeHead(302, { Location: '/ok' }).end();
        return;
      case '/moved-to-fail':
        res.writeHead(301, { Location: '/fail' }).end();
        return;
      case '/keep-method':
        res.writeHead(307, { Location: '/echo' }).end();
        return;
      case '/elsewhere':
        // The same server under another host name: credentials must not follow.
        res
          .writeHead(307, { Location: `http://localhost:${(server.address() as AddressInfo).port}/echo` })
          .end();
        return;
      case '/loop':
        res.writeHead(302, { Location: '/loop' }).end();
        return;
      case '/big':
        res.end('x'.repeat(100_000));
        return;
      case '/slow':
        // Never answers: the check's deadline (or stop) must end the request.
        res.on('close', () => closedSlow++);
        return;
      default:
        res.end('echo');
    }
  });
}

let server: http.Server;
let base = '';
let tlsServer: https.Server;
let tlsBase = '';
let certDir = '';

function listen(s: http.Server | https.Server): Promise<number> {
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
}

beforeAll(async () => {
  server = http.createServer(handler);
  base = `http://127.0.0.1:${await listen(server)}`;
  // A self-signed certificate, made for this run only.
  certDir = mkdtempSync(join(tmpdir(), 'checks-tls-'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost'].concat([
      '-keyout',
      join(certDir, 'key.pem'),
      '-out',
      join(certDir, 'cert.pem'),
    ]),
    { stdio: 'ignore' },
  );
  tlsServer = https.createServer(
    { key: readFileSync(join(certDir, 'key.pem')), cert: readFileSync(join(certDir, 'cert.pem')) },
    handler,
  );
  tlsBase = `https://127.0.0.1:${await listen(tlsServer)}`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
  tlsServer.closeAllConnections();
  tlsServer.close();
  rmSync(certDir, { recursive: true, force: true });
});

const httpCheck = (path: string, extra: Record<string, unknown> = {}) =>
  def({ HTTP: `${base}${path}`, Interval: '10s', ...extra });

describe('HTTP checks', () => {
  it('is passing on 2xx, with Consul’s output', async () => {
    expect(await first(httpCheck('/ok'))).toEqual({
      status: 'passing',
      output: `HTTP GET ${base}/ok: 200 OK Output: all good`,
    });
    expect((await first(httpCheck('/created'))).status).toBe('passing');
  });

  it('is warning on 429 and critical on other codes', async () => {
    expect(await first(httpCheck('/busy'))).toEqual({
      status: 'warning',
      output: `HTTP GET ${base}/busy: 429 Too Many Requests Output: slow down`,
    });
    expect(await first(httpCheck('/fail'))).toEqual({
      status: 'critical',
      output: `HTTP GET ${base}/fail: 500 Internal Server Error Output: boom`,
    });
  });

  it('follows redirects like Consul (Go’s client), and lets the 3xx decide with DisableRedirects', async () => {
    expect(await first(httpCheck('/moved'))).toEqual({
      status: 'passing',
      output: `HTTP GET ${base}/moved: 200 OK Output: all good`,
    });
    expect((await first(httpCheck('/moved-to-fail'))).status).toBe('critical');
    expect(await first(httpCheck('/moved', { DisableRedirects: true }))).toEqual({
      status: 'critical',
      output: `HTTP GET ${base}/moved: 302 Found Output: `,
    });
    const loop = await first(httpCheck('/loop'));
    expect(loop.status).toBe('critical');
    expect(loop.output).toContain('stopped after 10 redirects');
  });

  it('sends the method, headers and body, with Consul’s User-Agent and Accept by default', async () => {
    seen.length = 0;
    await first(
      httpCheck('/echo', {
        Method: 'POST',
        Header: { 'X-Check': ['one', 'two'], Accept: ['application/json'] },
        Body: 'ping',
      }),
    );
    const req = seen.find((s) => s.url === '/echo');
    expect(req?.method).toBe('POST');
    expect(req?.body).toBe('ping');
    expect(req?.headers['x-check']).toBe('one, two');
    expect(req?.headers['accept']).toBe('application/json');
    expect(req?.headers['user-agent']).toBe('Consul Health Check');

    seen.length = 0;
    await first(httpCheck('/echo'));
    expect(seen[0]?.method).toBe('GET');
    expect(seen[0]?.headers['accept']).toBe('text/plain, text/*, */*');
  });

  it('keeps the method and body through a 307', async () => {
    seen.length = 0;
    const r = await first(httpCheck('/keep-method', { Method: 'PUT', Body: 'data' }));
    expect(r.status).toBe('passing');
    expect(seen.map((s) => [s.method, s.url, s.body])).toEqual([
      ['PUT', '/keep-method', 'data'],
      ['PUT', '/echo', 'data'],
    ]);
  });

  it('drops the body on a 302 and credentials on a redirect to another host, as Go’s client', async () => {
    seen.length = 0;
    expect((await first(httpCheck('/moved', { Method: 'POST', Body: 'data' }))).status).toBe('passing');
    expect(seen.map((s) => [s.method, s.url, s.body])).toEqual([
      ['POST', '/moved', 'data'],
      ['GET', '/ok', ''],
    ]);

    seen.length = 0;
    const auth = { Header: { Authorization: ['Bearer secret'], 'X-Keep': ['yes'] } };
    await first(httpCheck('/keep-method', auth));
    expect(seen[1]?.headers['authorization']).toBe('Bearer secret');
    seen.length = 0;
    await first(httpCheck('/elsewhere', auth));
    expect(seen.map((s) => s.url)).toEqual(['/elsewhere', '/echo']);
    expect(seen[1]?.headers['authorization']).toBeUndefined();
    expect(seen[1]?.headers['x-keep']).toBe('yes');
  });

  it('caps the body in the output at OutputMaxSize', async () => {
    const r = await first(httpCheck('/big', { OutputMaxSize: 100 }));
    expect(r.status).toBe('passing');
    expect(r.output).toBe(`HTTP GET ${base}/big: 200 OK Output: ${'x'.repeat(100)}`);
    const dflt = await first(httpCheck('/big'));
    expect(dflt.output.endsWith(`Output: ${'x'.repeat(4096)}`)).toBe(true);
  });

  it('is critical on a timeout and when nothing listens', async () => {
    const slow = await first(httpCheck('/slow', { Timeout: '300ms' }));
    expect(slow.status).toBe('critical');
    expect(slow.output).toBe(
      `Get "${base}/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
    );

    const closed = http.createServer();
    const port = await listen(closed);
    await new Promise((r) => closed.close(r));
    const refused = await first(def({ HTTP: `http://127.0.0.1:${port}/`, Interval: '10s' }));
    expect(refused).toEqual({
      status: 'critical',
      output: `Get "http://127.0.0.1:${port}/": dial tcp 127.0.0.1:${port}: connect: connection refused`,
    });

    const bad = await first(def({ HTTP: 'ftp://127.0.0.1/', Interval: '10s' }));
    expect(bad).toEqual({
      status: 'critical',
      output: 'Get "ftp://127.0.0.1/": unsupported protocol scheme "ftp"',
    });
  });

  it('honours TLSSkipVerify for a self-signed certificate', async () => {
    const verified = await first(def({ HTTP: `${tlsBase}/ok`, Interval: '10s' }));
    expect(verified.status).toBe('critical');
    expect(verified.output).toMatch(/^Get "https:\/\/127\.0\.0\.1:\d+\/ok": .*(self.signed|certificate)/);
    expect(await first(def({ HTTP: `${tlsBase}/ok`, Interval: '10s', TLSSkipVerify: true }))).toEqual({
      status: 'passing',
      output: `HTTP GET ${tlsBase}/ok: 200 OK Output: all good`,
    });
  });

  it('runs again every interval, and stop() cancels the request in flight without a result', async () => {
    const runs = await results(httpCheck('/ok', { Interval: '50ms' }), 3);
    expect(runs.map((r) => r.status)).toEqual(['passing', 'passing', 'passing']);

    const arrived = seen.filter((s) => s.url === '/slow').length;
    const before = closedSlow;
    const updates: unknown[] = [];
    const check = startCheck(httpCheck('/slow', { Timeout: '60s' }), {
      update: (r) => updates.push(r),
      logger: silentLogger(),
      allowScripts: false,
      minIntervalMs: 0,
      random: () => 0,
    });
    const deadline = Date.now() + 30_000;
    while (seen.filter((s) => s.url === '/slow').length === arrived) {
      if (Date.now() > deadline) throw new Error('the request never arrived');
      await new Promise((r) => setTimeout(r, 20));
    }
    check.stop();
    while (closedSlow === before) {
      if (Date.now() > deadline) throw new Error('stop() left the request open');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(updates).toEqual([]);
    // Nothing more comes after stop(): no result, no new request.
    await new Promise((r) => setTimeout(r, 200));
    expect(updates).toEqual([]);
    expect(seen.filter((s) => s.url === '/slow').length).toBe(arrived + 1);
  });

  it('waits a random stagger within the interval before the first run, and keeps Consul’s 1 s floor', async () => {
    const t0 = Date.now();
    const [r] = await results(httpCheck('/ok', { Interval: '2s' }), 1, { random: () => 0.99 });
    expect(r?.status).toBe('passing');
    // Timers never fire early: the lower bound is safe on a loaded machine.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);

    // Interval 10ms is raised to 1 s (MIN_INTERVAL_MS, as Consul), with a warning.
    const times: number[] = [];
    const { logger, records } = capturingLogger();
    const check = startCheck(httpCheck('/ok', { Interval: '10ms' }), {
      update: () => times.push(Date.now()),
      logger,
      allowScripts: false,
      random: () => 0,
    });
    const deadline = Date.now() + 30_000;
    while (times.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    check.stop();
    expect(records.map((r) => r.msg)).toContain('check has interval below minimum');
    expect(times.length).toBeGreaterThanOrEqual(2);
    expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(950);
  });
});
