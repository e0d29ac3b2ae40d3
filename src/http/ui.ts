// The web UI as static files (Consul's ui_config): `/` redirects to the UI, the UI's path serves the
// built files, and any path under it that is not a file serves index.html, so the browser app's own
// routes (/ui/dc1/services/web) load on a refresh or a pasted link. With the UI off, `/` says what
// this server is, as Consul's does. Files are read on each request: a `npm run build` while the
// agent runs is picked up, and the bundle is a few files.

import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { Context, Hono } from 'hono';
import type { AgentConfig } from '../config/config.js';
import { urlOf } from './request.js';
import { text } from './respond.js';

type UiConfig = Pick<AgentConfig, 'ui' | 'uiDir' | 'uiContentPath'>;

/**
 * dist/ui/ under the package root. This file is src/http/ui.ts (tests) or dist/http/ui.js (npm
 * start, the image's /app/dist/http/), so the root is two levels up either way.
 */
export const builtUiDir = resolve(import.meta.dirname, '../../dist/ui');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
};

export function contentTypeOf(file: string): string {
  return TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** Consul's rule: a UI directory turns the UI on even without ui_config.enabled. */
export const uiEnabled = (c: UiConfig): boolean => c.ui || Boolean(c.uiDir);

/**
 * The file a request path below the UI's path names, as segments under the UI directory, or null
 * when it could leave the directory: a `.` or `..` segment (the URL parser has already removed the
 * literal ones; these are the percent-encoded ones), or a segment that decodes to a slash,
 * backslash or NUL. Empty segments (`a//b`) are dropped.
 */
export function safeSegments(rest: string): string[] | null {
  const out: string[] = [];
  for (const raw of rest.split('/')) {
    if (raw === '') continue;
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (s === '.' || s === '..' || /[/\\\0]/.test(s)) return null;
    out.push(s);
  }
  return out;
}

interface Found {
  path: string;
  size: number;
  mtime: Date;
}

async function fileAt(path: string): Promise<Found | null> {
  try {
    const st = await stat(path);
    return st.isFile() ? { path, size: st.size, mtime: st.mtime } : null;
  } catch {
    return null;
  }
}

/**
 * index.html names its script and stylesheet under /ui/ (the default path, as built). Under another
 * content path those references are rewritten to it, as Consul writes its content path into its
 * index.html; the app then takes its routes' base from where its script was served.
 */
export function indexForPath(html: string, base: string): string {
  return base === '/ui/' ? html : html.replaceAll('"/ui/', `"${base}`);
}

async function sendFile(c: Context, f: Found, isIndex: boolean, base = '/ui/'): Promise<Response> {
  const headers: Record<string, string> = {
    'Content-Type': contentTypeOf(f.path),
    'Last-Modified': f.mtime.toUTCString(),
    // The bundle's names carry no content hash (app.js): the browser must revalidate every file, or
    // an upgraded agent would serve a page that runs an old script.
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  };
  if (isIndex) headers['X-Frame-Options'] = 'SAMEORIGIN';
  const since = c.req.header('If-Modified-Since');
  if (since && Math.floor(f.mtime.getTime() / 1000) <= Math.floor(Date.parse(since) / 1000)) {
    return new Response(null, { status: 304, headers });
  }
  const body =
    isIndex && base !== '/ui/' ? Buffer.from(indexForPath(await readFile(f.path, 'utf8'), base)) : null;
  headers['Content-Length'] = String(body ? body.length : f.size);
  if (c.req.method === 'HEAD') return new Response(null, { status: 200, headers });
  return new Response(body ?? (await readFile(f.path)), { status: 200, headers });
}

/** Mounts `/` and the UI's path on the app (before the API's catch-all 404). */
export function mountUi(app: Hono, config: UiConfig): void {
  const on = uiEnabled(config);
  const base = config.uiContentPath || '/ui/';
  const dir = resolve(config.uiDir || builtUiDir);

  app.on(['GET', 'HEAD'], '/', () => {
    if (!on) {
      return text(
        200,
        'Consul Agent: UI disabled. To enable, set ui_config.enabled=true in the agent configuration and restart.',
      );
    }
    return redirect(base);
  });
  if (!on) return;

  const bare = base.slice(0, -1);
  app.all(bare, (c) => (isRead(c) ? redirect(base) : notAllowed()));
  app.all(`${base}*`, async (c) => {
    if (!isRead(c)) return notAllowed();
    const segments = safeSegments(urlOf(c).pathname.slice(base.length));
    if (segments === null) return text(404, '404 page not found');
    if (segments.length > 0) {
      const path = join(dir, ...segments);
      // Belt and braces: whatever the segments were, the file is inside the directory.
      if (!path.startsWith(dir + sep)) return text(404, '404 page not found');
      const f = await fileAt(path);
      if (f) return sendFile(c, f, segments.length === 1 && segments[0] === 'index.html', base);
    }
    const index = await fileAt(join(dir, 'index.html'));
    if (!index) {
      return text(
        404,
        `The web UI is not built: ${join(dir, 'index.html')} is missing. Run \`npm run build\`, or point -ui-dir at a built UI.`,
      );
    }
    return sendFile(c, index, true, base);
  });
}

const isRead = (c: Context): boolean => c.req.method === 'GET' || c.req.method === 'HEAD';

const redirect = (to: string): Response => new Response(null, { status: 301, headers: { Location: to } });

const notAllowed = (): Response => text(405, 'method not allowed', { Allow: 'GET, HEAD' });
