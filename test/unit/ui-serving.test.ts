// Serving the web UI (src/http/ui.ts) through the agent's Hono app, from a temporary -ui-dir: the
// redirects, files with their types, the client-side-route fallback to index.html, traversal kept
// inside the directory, HEAD, the UI turned off, and an unbuilt UI; and the flags and config keys.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig, validateConfig, type AgentConfig } from '../../src/config/config.js';
import { loadAgentConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { createApp, type HttpAgent } from '../../src/http/app.js';
import { builtUiDir, safeSegments } from '../../src/http/ui.js';
import { readSpecs } from '../../src/cli/commands/local-cluster.js';

const INDEX = '<!doctype html><title>Consulate</title><script src="/ui/app.js"></script>';

function appWith(over: Partial<AgentConfig>): Hono {
  const config = { ...defaultConfig(), nodeName: 'n1', ...over };
  const agent = { config } as unknown as HttpAgent;
  return createApp({ agent, logger: silentLogger() });
}

let root: string;
let dir: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'consulate-ui-'));
  dir = join(root, 'ui');
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(join(dir, 'index.html'), INDEX);
  writeFileSync(join(dir, 'app.js'), 'console.log("app")');
  writeFileSync(join(dir, 'app.css'), 'body{}');
  writeFileSync(join(dir, 'assets', 'logo.svg'), '<svg/>');
  writeFileSync(join(dir, 'blob.bin'), 'x');
  // A file next to the UI directory that no request may reach.
  writeFileSync(join(root, 'secret.txt'), 'secret');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the UI on', () => {
  let app: Hono;
  beforeAll(() => {
    app = appWith({ ui: true, uiDir: dir });
  });

  it('redirects / and /ui to /ui/ (301)', async () => {
    for (const path of ['/', '/ui']) {
      const r = await app.request(path);
      expect([r.status, r.headers.get('Location')]).toEqual([301, '/ui/']);
    }
  });

  it('serves index.html at /ui/ and /ui/index.html, never cached without revalidation', async () => {
    for (const path of ['/ui/', '/ui/index.html']) {
      const r = await app.request(path);
      expect(r.status).toBe(200);
      expect(r.headers.get('Content-Type')).toBe('text/html; charset=utf-8');
      expect(r.headers.get('Cache-Control')).toBe('no-cache');
      expect(await r.text()).toBe(INDEX);
    }
  });

  it('serves each file with its content type', async () => {
    const cases: [string, string, string][] = [
      ['/ui/app.js', 'text/javascript; charset=utf-8', 'console.log("app")'],
      ['/ui/app.css', 'text/css; charset=utf-8', 'body{}'],
      ['/ui/assets/logo.svg', 'image/svg+xml', '<svg/>'],
      ['/ui/blob.bin', 'application/octet-stream', 'x'],
    ];
    for (const [path, type, body] of cases) {
      const r = await app.request(path);
      expect([path, r.status, r.headers.get('Content-Type'), await r.text()]).toEqual([
        path,
        200,
        type,
        body,
      ]);
      expect(r.headers.get('Content-Length')).toBe(String(body.length));
    }
  });

  it('serves index.html for client-side routes and directories', async () => {
    for (const path of [
      '/ui/dc2/services/web',
      '/ui/dc1/kv/a/b/edit',
      '/ui/assets',
      '/ui/assets/',
      '/ui//x',
    ]) {
      const r = await app.request(path);
      expect([path, r.status, r.headers.get('Content-Type')]).toEqual([
        path,
        200,
        'text/html; charset=utf-8',
      ]);
      expect(await r.text()).toBe(INDEX);
    }
  });

  it('never leaves the directory, encoded or not (404)', async () => {
    for (const path of [
      '/ui/..%2fsecret.txt',
      '/ui/%2e%2e%2fsecret.txt',
      '/ui/assets/..%2f..%2fsecret.txt',
      '/ui/%2e%2e/secret.txt',
      '/ui/..%5csecret.txt',
      '/ui/a%00b',
      '/ui/%E0%A4%A',
    ]) {
      const r = await app.request(path);
      const body = await r.text();
      expect([path, r.status]).toEqual([path, 404]);
      expect(body).not.toContain('secret');
    }
    // Dot segments, literal or encoded, are resolved by the URL parser before routing: /ui/../x is
    // /x (the API's plain 404), /ui/%2E%2E is / (the redirect to the UI).
    const r = await app.request('http://localhost/ui/../secret.txt');
    expect(r.status).toBe(404);
    expect(await r.text()).not.toContain('secret');
    expect((await app.request('/ui/%2E%2E')).headers.get('Location')).toBe('/ui/');
  });

  it('answers HEAD with the headers and no body', async () => {
    const r = await app.request('/ui/app.js', { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.headers.get('Content-Type')).toBe('text/javascript; charset=utf-8');
    expect(r.headers.get('Content-Length')).toBe('18');
    expect(await r.text()).toBe('');
    const fallback = await app.request('/ui/dc1/nodes', { method: 'HEAD' });
    expect([fallback.status, await fallback.text()]).toEqual([200, '']);
  });

  it('answers If-Modified-Since with 304', async () => {
    const first = await app.request('/ui/app.css');
    const last = first.headers.get('Last-Modified') as string;
    expect(last).toMatch(/GMT$/);
    const again = await app.request('/ui/app.css', { headers: { 'If-Modified-Since': last } });
    expect([again.status, await again.text()]).toEqual([304, '']);
  });

  it('refuses writes under /ui/ (405) and leaves the API alone', async () => {
    const r = await app.request('/ui/app.js', { method: 'PUT', body: 'x' });
    expect([r.status, r.headers.get('Allow')]).toEqual([405, 'GET, HEAD']);
    expect((await app.request('/v1/nope')).status).toBe(404);
  });

  it('serves under another content path', async () => {
    const other = appWith({ ui: true, uiDir: dir, uiContentPath: '/console/' });
    const r = await other.request('/');
    expect([r.status, r.headers.get('Location')]).toEqual([301, '/console/']);
    expect((await other.request('/console')).headers.get('Location')).toBe('/console/');
    // index.html's /ui/ references follow the content path; the default path serves it as built.
    const rewritten = INDEX.replace('"/ui/app.js"', '"/console/app.js"');
    const page = await other.request('/console/dc1/services');
    expect(await page.text()).toBe(rewritten);
    expect(page.headers.get('Content-Length')).toBe(String(Buffer.byteLength(rewritten)));
    expect(await (await other.request('/console/index.html')).text()).toBe(rewritten);
    expect(await (await app.request('/ui/dc1/services')).text()).toBe(INDEX);
    expect((await other.request('/ui/')).status).toBe(404);
  });
});

describe('the UI off or not built', () => {
  it('off: / says what this is, /ui/ is 404', async () => {
    const app = appWith({ ui: false, uiDir: '' });
    const r = await app.request('/');
    expect(r.status).toBe(200);
    expect(await r.text()).toMatch(/^Consul Agent: UI disabled/);
    for (const path of ['/ui', '/ui/', '/ui/app.js', '/ui/dc1/services']) {
      expect([path, (await app.request(path)).status]).toEqual([path, 404]);
    }
  });

  it('a -ui-dir turns the UI on by itself (as Consul does)', async () => {
    const app = appWith({ ui: false, uiDir: dir });
    expect((await app.request('/ui/app.js')).status).toBe(200);
  });

  it('on but without index.html: 404 saying to build it', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty, { recursive: true });
    const app = appWith({ ui: true, uiDir: empty });
    for (const path of ['/ui/', '/ui/dc1/services']) {
      const r = await app.request(path);
      expect(r.status).toBe(404);
      expect(await r.text()).toContain('npm run build');
    }
  });

  it('by default serves dist/ui/ under the package root', () => {
    expect(builtUiDir).toBe(join(import.meta.dirname, '../../dist/ui'));
  });
});

describe('safeSegments', () => {
  it('splits and decodes, dropping empty segments, refusing what could escape', () => {
    expect(safeSegments('a/b%20c//d.js')).toEqual(['a', 'b c', 'd.js']);
    expect(safeSegments('')).toEqual([]);
    for (const bad of ['..', '%2e', 'a/%2E%2e/b', 'a%2fb', 'a%5cb', '%00', '%zz']) {
      expect([bad, safeSegments(bad)]).toEqual([bad, null]);
    }
  });
});

describe('UI settings', () => {
  const load = (...args: string[]): AgentConfig => {
    const c = loadAgentConfig(['-node=n1', '-data-dir=/tmp/x', ...args]);
    validateConfig(c);
    return c;
  };

  it('is off for a plain agent and on with -dev (as in Consul)', () => {
    expect(load().ui).toBe(false);
    expect(load('-dev').ui).toBe(true);
    expect(load('-ui').ui).toBe(true);
  });

  it('reads -ui-dir and -ui-content-path, normalising the path to /x/', () => {
    const c = load('-ui-dir=/srv/ui', '-ui-content-path=console');
    expect([c.uiDir, c.uiContentPath]).toEqual(['/srv/ui', '/console/']);
    expect(load('-ui-content-path=/a/b//').uiContentPath).toBe('/a/b/');
    expect(load().uiContentPath).toBe('/ui/');
  });

  it('reads ui_config.{enabled,dir,content_path} from a config file', () => {
    const file = join(root, 'ui.json');
    writeFileSync(
      file,
      JSON.stringify({ ui_config: { enabled: true, dir: '/srv/ui', content_path: '/c/' } }),
    );
    const c = load(`-config-file=${file}`);
    expect([c.ui, c.uiDir, c.uiContentPath]).toEqual([true, '/srv/ui', '/c/']);
  });

  it('refuses a content path that would hide the API', () => {
    for (const p of ['/', '/v1/', '/v1/ui']) expect(() => load(`-ui-content-path=${p}`)).toThrow(/HTTP API/);
  });

  it('npm start: each datacenter has a client agent serving the UI', () => {
    const specs = readSpecs(join(import.meta.dirname, '../../dc-configs'));
    const uis = specs.filter((s) => s.ui !== null).map((s) => [s.dc, s.ui]);
    expect(uis).toEqual([
      ['dc1', 'http://127.0.0.1:8530/ui/'],
      ['dc2', 'http://127.0.0.1:9530/ui/'],
    ]);
  });
});
