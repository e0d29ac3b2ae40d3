// The HTTP API over TLS (ports.https), with and without verify_incoming, through node:https and
// through the CLI's client flags and CONSUL_* variables; the agent's own watches over HTTPS.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ConsulClient, clientOptionsFromEnv } from '../../src/client/client.js';
import { captureIo } from '../support/capture-io.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { makeTlsFiles, type TlsFiles } from '../support/tls-files.js';
import { parsePlan } from '../../src/watch/plan.js';

let f: TlsFiles;
let other: TlsFiles;
let open: DevAgent; // HTTPS without client certificates, HTTP too
let strict: DevAgent; // HTTPS only, verify_incoming
beforeAll(async () => {
  f = await makeTlsFiles();
  other = await makeTlsFiles();
  open = await startDevAgent((c) => {
    c.ports.http = 0;
    c.ports.https = 0;
    c.tls.defaults = { ...c.tls.defaults, caFile: f.ca, certFile: f.server.cert, keyFile: f.server.key };
  });
  strict = await startDevAgent((c) => {
    c.ports.https = 0;
    c.tls.defaults = { ...c.tls.defaults, caFile: f.ca, certFile: f.server.cert, keyFile: f.server.key };
    c.tls.https.verifyIncoming = true;
  });
});
afterAll(async () => {
  await open?.stop();
  await strict?.stop();
  for (const d of [f, other]) if (d) rmSync(d.dir, { recursive: true, force: true });
});

/** A GET over node:https (what curl --cacert/--cert/--key does); the status or the error's text. */
function get(addr: string, path: string, o: { ca?: string; cert?: string; key?: string }): Promise<string> {
  return new Promise((resolve) => {
    const req = request(`https://${addr}${path}`, {
      ...(o.ca ? { ca: readFileSync(o.ca) } : {}),
      ...(o.cert ? { cert: readFileSync(o.cert) } : {}),
      ...(o.key ? { key: readFileSync(o.key) } : {}),
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    req.on('error', (err: Error & { code?: string }) => resolve(`error ${err.code ?? ''} ${err.message}`));
    req.end();
  });
}

describe('HTTPS API', () => {
  it('serves the API over TLS beside plain HTTP', async () => {
    const addr = open.agent.httpsAddr!;
    expect(addr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await get(addr, '/v1/status/leader', { ca: f.ca })).toMatch(/^200 "127\.0\.0\.1:\d+"$/);
    const plain = await fetch(`http://${open.agent.httpAddr!}/v1/status/leader`);
    expect(plain.status).toBe(200);
    // A client that does not trust the CA refuses the agent.
    expect(await get(addr, '/v1/status/leader', {})).toMatch(
      /^error (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY)/,
    );
    expect(await get(addr, '/v1/status/leader', { ca: other.ca })).toMatch(/^error /);
  });

  it('verify_incoming: no client certificate, or one from another CA, is refused', async () => {
    const addr = strict.agent.httpsAddr!;
    expect(strict.agent.httpAddr).toBeNull();
    expect(await get(addr, '/v1/status/leader', { ca: f.ca })).toMatch(/^error /);
    expect(await get(addr, '/v1/status/leader', { ca: f.ca, ...other.client })).toMatch(/^error /);
    expect(await get(addr, '/v1/status/leader', { ca: f.ca, ...f.cli })).toMatch(/^200 /);
    expect(await get(addr, '/v1/status/leader', { ca: f.ca, ...f.client })).toMatch(/^200 /);
  });

  it('the CLI: -http-addr https://, -ca-file, -client-cert, -client-key, -tls-server-name', async () => {
    const addr = strict.agent.httpsAddr!;
    const port = addr.split(':')[1]!;
    const run = async (args: string[], env: NodeJS.ProcessEnv = {}): Promise<[number, string]> => {
      const io = captureIo(env);
      const code = await main(args, io);
      return [code, io.stdout + io.stderr];
    };
    const tlsFlags = ['-ca-file', f.ca, '-client-cert', f.cli.cert, '-client-key', f.cli.key];
    expect(await run(['kv', 'put', `-http-addr=https://${addr}`, ...tlsFlags, 'tls/a', 'one'])).toEqual([
      0,
      'Success! Data written to: tls/a\n',
    ]);
    // By name: the certificate is valid for localhost and server.dc1.consul, not for "example".
    expect(await run(['kv', 'get', `-http-addr=https://localhost:${port}`, ...tlsFlags, 'tls/a'])).toEqual([
      0,
      'one\n',
    ]);
    const [code, out] = await run([
      'kv',
      'get',
      `-http-addr=https://127.0.0.1:${port}`,
      '-tls-server-name=example',
      ...tlsFlags,
      'tls/a',
    ]);
    expect(code).toBe(1);
    expect(out).toMatch(/Error: error connecting to https:\/\/127\.0\.0\.1:\d+: .*example/);
    // Without a client certificate the agent refuses the connection.
    const [code2, out2] = await run(['kv', 'get', `-http-addr=https://${addr}`, '-ca-file', f.ca, 'tls/a']);
    expect(code2).toBe(1);
    expect(out2).toMatch(/^Error: error connecting to https:/);
    // The same settings from the environment, as Consul's CLI reads them.
    const env = {
      CONSUL_HTTP_ADDR: addr,
      CONSUL_HTTP_SSL: 'true',
      CONSUL_CACERT: f.ca,
      CONSUL_CLIENT_CERT: f.cli.cert,
      CONSUL_CLIENT_KEY: f.cli.key,
      CONSUL_TLS_SERVER_NAME: 'server.dc1.consul',
    };
    expect(await run(['kv', 'get', 'tls/a'], env)).toEqual([0, 'one\n']);
  });

  it('CONSUL_HTTP_SSL_VERIFY=false skips checking the agent (never the client certificate)', async () => {
    const o = clientOptionsFromEnv({
      CONSUL_HTTP_ADDR: `https://${open.agent.httpsAddr!}`,
      CONSUL_HTTP_SSL_VERIFY: 'false',
    });
    expect(o.tls).toEqual({ insecure: true });
    const r = await new ConsulClient(o).request('GET', '/v1/status/leader');
    expect(r.status).toBe(200);
    const s = new ConsulClient({ address: `https://${strict.agent.httpsAddr!}`, tls: { insecure: true } });
    await expect(s.request('GET', '/v1/status/leader')).rejects.toThrow(/error connecting/);
  });
});

describe("the agent's watches with HTTP disabled", () => {
  it('run over HTTPS with verify_incoming, as the agent itself', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'consulate-https-watch-'));
    const out = join(dir, 'runs');
    const watched = await startDevAgent((c) => {
      c.ports.https = 0;
      c.tls.defaults = { ...c.tls.defaults, caFile: f.ca, certFile: f.server.cert, keyFile: f.server.key };
      c.tls.https.verifyIncoming = true;
      c.watches = [
        parsePlan({ type: 'key', key: 'color', args: ['/bin/sh', '-c', `cat >> '${out}'`] }, true),
      ];
    });
    try {
      expect(watched.agent.httpAddr).toBeNull();
      const put = await watched.app.request('/v1/kv/color', { method: 'PUT', body: 'blue' });
      expect(put.status).toBe(200);
      const until = Date.now() + 15_000;
      while (!(existsSync(out) && readFileSync(out, 'utf8').includes('"Key":"color"'))) {
        if (Date.now() > until) throw new Error('the watch handler never ran');
        await new Promise((r) => setTimeout(r, 50));
      }
      const run = JSON.parse(readFileSync(out, 'utf8').trim().split('\n').pop() as string) as {
        Value: string;
      };
      expect(Buffer.from(run.Value, 'base64').toString()).toBe('blue');
    } finally {
      await watched.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
